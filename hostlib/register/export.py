"""The register for the acquirer: every merchant with its terminals and their applications
(MID, TID, the name on the slip), as CSV (one row per terminal application, a merchant
without a terminal on a row of its own) or as JSON (merchants with their terminals nested).

    text = export.csv_text(s, actor, stage="installed")
    text = export.json_text(s, actor)

Never in an export: documents' bytes, password hashes, install records (they are the
register's own, `poskit register show --work-order N`), nor anything of a key.
"""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy.orm import Session

from hostlib.register import service
from hostlib.register.models import Merchant, User

CSV_COLUMNS = (
    "contract_no company_name slip_name address contact phone mid fee_rate terminal_price "
    "channel stage signing_date install_date salesperson serial model iccid pinpad_serial "
    "app_index acquirer app_mid tid app_slip_name"
).split()


def merchants(s: Session, actor: User, stage: str | None = None) -> list[dict]:
    """Each merchant the actor may export (of `stage`, or all), as plain values."""
    service._require(actor, "export")
    return [_merchant(m) for m in reversed(service.merchants(s, actor, stage=stage))]


def _merchant(m: Merchant) -> dict:
    return {
        "contract_no": m.contract_no,
        "company_name": m.company_name,
        "slip_name": m.slip_name,
        "address": m.address,
        "contact": m.contact,
        "phone": m.phone,
        "mid": m.mid,
        "fee_rate": str(m.fee_rate),
        "terminal_price": "%d.%02d" % divmod(m.terminal_price, 100),
        "channel": m.channel,
        "referrer": m.referrer.contract_no if m.referrer else None,
        "stage": m.stage,
        "signing_date": m.signing_date.isoformat(),
        "install_date": m.install_date.isoformat() if m.install_date else None,
        "install_location": m.install_location,
        "salesperson": m.salesperson.staff_id or m.salesperson.username,
        "terminals": [
            {
                "serial": t.serial,
                "model": t.model,
                "iccid": t.iccid,
                "pinpad_serial": t.pinpad_serial,
                "installed": [
                    i.at.isoformat(sep=" ") for i in t.installs if i.outcome == "passed"
                ],
                "applications": [
                    {
                        "index": a.app_index,
                        "acquirer": a.acquirer,
                        "mid": a.mid,
                        "tid": a.tid,
                        "slip_name": a.slip_name,
                    }
                    for a in t.apps
                ],
            }
            for t in m.terminals
        ],
    }


def json_text(s: Session, actor: User, stage: str | None = None) -> str:
    return (
        json.dumps(
            {"format": "poskit-register-export/1", "merchants": merchants(s, actor, stage)},
            ensure_ascii=False,
            indent=1,
        )
        + "\n"
    )


def csv_text(s: Session, actor: User, stage: str | None = None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in merchants(s, actor, stage):
        head = [m[name] for name in CSV_COLUMNS[:14]]
        rows = []
        for t in m["terminals"]:
            unit = [t["serial"], t["model"], t["iccid"], t["pinpad_serial"]]
            for a in t["applications"]:
                rows.append(unit + [a["index"], a["acquirer"], a["mid"], a["tid"], a["slip_name"]])
            if not t["applications"]:
                rows.append(unit + [""] * 5)
        for row in rows or [[""] * 9]:
            writer.writerow(["" if v is None else v for v in head + row])
    return out.getvalue()
