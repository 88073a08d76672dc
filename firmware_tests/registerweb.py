"""A register to try the back-office web app on: one user of each role, merchants taken
along the pipeline through the service, an install record as `poskit install` writes it.
Shared by test_register_web.py (Flask's test client) and test_register_browser.py (Chromium).
"""

from __future__ import annotations

import re
import shutil

from hostlib import install_record as records
from hostlib.register import db, service
from hostlib.register.web.app import create_app

PASSWORD = "correct-horse-9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"0" * 64

APPLICATION = {
    "contract_no": "SH-2026-0001",
    "company_name": "上海一号便利店",
    "slip_name": "一号便利店",
    "address": "上海市浦东新区某某路1号",
    "contact": "张经理",
    "phone": "021-5555-0101",
    "terminal_price": "299.00",
    "fee_rate": "0.60",
    "install_location": "收银台",
    "install_date": "",
    "channel": "cold_visit",
    "referrer": "",
    "signing_date": "2026-12-01",
    "remarks": "",
}


class Site:
    """A register with one user of each role (and a second salesperson and installer), its
    web app, and a logged-in test client for each user."""

    def __init__(self, tmp_path, template=None):
        """A new register in `tmp_path`; a copy of `template` (a register file a Site made
        before) when given: its users' password hashes are slow to make on purpose."""
        path = tmp_path / "register.db"
        self.url = "sqlite:///%s" % path
        if template is not None:
            shutil.copyfile(template, path)
        else:
            db.upgrade(self.url)
        self.register = db.open(self.url)
        if template is None:
            with self.register.transaction(None) as s:
                admin = service.add_user(s, None, "admin", "Administrator", "admin", PASSWORD)
            with self.register.transaction(admin) as s:
                for username, name, role, staff in (
                    ("sales", "Li Na", "salesperson", "S0042"),
                    ("sales2", "Zhou Qiang", "salesperson", "S0043"),
                    ("review", "Chen Jing", "reviewer", ""),
                    ("install", "Wang Li", "installer", ""),
                    ("install2", "Sun Wei", "installer", ""),
                ):
                    service.add_user(s, admin, username, name, role, PASSWORD, staff_id=staff)
        self.app = create_app(self.register, secret_key="k" * 32, testing=True)

    def user(self, username):
        with self.register.session() as s:
            user = service.get_user(s, username)
            s.expunge(user)
            return user

    def client(self, username):
        client = self.app.test_client()
        page = client.get("/login")
        response = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": token(page)},
        )
        assert response.status_code == 302, response.text
        client.token = token(client.get("/"))
        return client

    def merchant(self, username="sales", **fields):
        """A merchant applied for by `username` (a salesperson), through the service."""
        actor = self.user(username)
        with self.register.transaction(actor) as s:
            return service.create_merchant(s, actor, dict(APPLICATION, **fields)).id

    def approve(self, merchant_id, mid="898310048161234"):
        reviewer = self.user("review")
        with self.register.transaction(reviewer) as s:
            service.record_review(s, reviewer, merchant_id, "phone", "pass")
            service.record_review(s, reviewer, merchant_id, "site", "pass", findings="ok")
            service.record_review(s, reviewer, merchant_id, "submission", "", party="ICBC")
            service.record_review(s, reviewer, merchant_id, "decision", "approved")
            service.set_mid(s, reviewer, merchant_id, mid)

    def work_order(self, merchant_id, installer="install"):
        reviewer = self.user("review")
        with self.register.transaction(reviewer) as s:
            return service.create_work_order(
                s,
                reviewer,
                merchant_id,
                {
                    "installer": installer,
                    "appointment_at": "2026-12-08 10:00",
                    "place": "收银台",
                    "kind": "desktop",
                    "line": "direct",
                },
            ).id


def token(response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert found, "no CSRF token on the page"
    return found.group(1)


def post(client, path, data, **kw):
    return client.post(path, data=dict(data, csrf_token=client.token), **kw)


def install_record(serial: str, mid: str, tid: str, name: str) -> tuple[dict, str]:
    """(install.json, install.html) of a complete one-application install of terminal
    `serial`, as `poskit install` leaves them: sign-on, 0.01 sale, void, settlement."""
    slip = [
        "POSKIT 签购单 MERCHANT COPY",
        "商户名称: %s" % name,
        "商户号 MID: %s" % mid,
        "终端号 TID: %s" % tid,
        "卡号: 622202******1234",
        "消费 SALE           RMB 0.01",
    ]
    tests = [
        {
            "kind": kind,
            "approved": True,
            "stan": stan,
            "batch": 1,
            "rrn": "00000000%04d" % stan,
            "auth_code": "A%05d" % stan,
            "response_code": "00",
            "error": None,
            "message": "approved",
            "amount": 1,
            "date": "1208",
            "time": "101500",
            "slips": [slip] if kind in ("sale", "sale_void") else [],
        }
        for stan, kind in enumerate(("sign_on", "sale", "sale_void", "settlement"), 1)
    ]
    record = {
        "format": records.FORMAT,
        "status": "complete",
        "job": {
            "file": "register",
            "sha256": "",
            "reference": "WO-000001",
            "serial": serial,
            "version": 1,
        },
        "merchant": {"company": name},
        "installer": "install",
        "port": "/dev/ttyUSB0",
        "started": "2026-12-08T10:05:00+00:00",
        "finished": "2026-12-08T10:31:00+00:00",
        "terminal": {
            "serial": serial,
            "model": "poskit-esp32",
            "chip_id": "a0b1c2d3",
            "micropython": "1.29.0",
            "iccid": "",
            "pinpad_serial": "PP-20931",
        },
        "deploy": None,
        "onsite": {"line": "direct"},
        "applications": [
            {
                "index": 1,
                "name": "CUP",
                "expected": {
                    "merchant_id": mid,
                    "terminal_id": tid,
                    "merchant_name": name,
                    "bearer": "dialup",
                },
                "terminal": {"merchant_id": mid, "terminal_id": tid, "merchant_name": name},
                "tests": tests,
                "slip_check": {"ok": True},
                "screen": None,
            }
        ],
        "screen_note": None,
        "steps": [{"name": "identify", "status": "done", "at": "2026-12-08T10:06:00+00:00"}],
    }
    return record, records.render_html(record)
