"""The install runner's steps, progress and record, fast: on a terminal double that answers as
hostlib/terminal.py's Terminal does (the end-to-end install on the virtual terminal is
test_install_e2e.py). What an installer would notice: the steps in order, a failed step
retried without the ones before it, a slip that disagrees with the job stopped with both
values named, a changed job refused, and a record that holds what the terminal answered."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import pytest

from hostlib import install, install_record, jobs, packets
from hostlib.errors import PoskitError

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "docs" / "examples" / "install-job.toml"


def _slip(app: dict, kind: str) -> list[str]:
    return [
        "POS 签购单 SALES SLIP",
        "MERCHANT COPY 商户存根",
        "MERCHANT NAME:",
        app["merchant_name"],
        "MERCHANT NO: %s" % app["merchant_id"],
        "TERMINAL NO: %s OPER: 01" % app["terminal_id"],
        "TXN TYPE: %s" % kind,
        "AMOUNT: RMB 0.01",
    ]


class FakeTerminal:
    """Holds what a terminal holds; counts what it was asked to do."""

    def __init__(self, job) -> None:
        self.job = job
        self.serial = None
        self.params: dict[int, tuple[int, dict]] = {}
        self.kcvs: dict[str, str] = {}
        self.calls: list[str] = []
        self.fail_settlement = 0
        self.slip_override: dict | None = None
        self.stan = 0
        self.last: dict[int, dict] = {}  # application -> its journal's last transaction
        self.lose_sale_answer = 0
        self.card_letter = "S"  # how the sale's slip says its card was read (I: the chip)

    def identify(self) -> dict:
        apps = []
        for index, (version, values) in sorted(self.params.items()):
            if index:
                apps.append(
                    {
                        "index": index,
                        "name": values["name"],
                        "merchant_id": values["merchant_id"],
                        "terminal_id": values["terminal_id"],
                        "merchant_name": values["merchant_name"],
                        "params_version": version,
                        "bearer": "ethernet" if index == 1 else "gprs",
                    }
                )
        return {
            "serial": self.serial,
            "chip_id": "a4cf12345678",
            "model": "poskit-ref",
            "micropython": "1.29.0",
            "app_build": "b" * 16,
            "lockdown": False,
            "terminal_params_version": self.params.get(0, (None,))[0],
            "applications": apps,
            "key_check_values": dict(self.kcvs),
            "iccid": "89860012345678901234",
            "signal": 21,
            "pinpad_serial": None,
        }

    def provision(self, serial, kbpk, link_key) -> None:
        self.calls.append("provision")
        self.serial = serial

    def load(self, data: bytes) -> dict:
        self.calls.append("load")
        if data[:1] == b"K":  # FakeKeys' stand-in for a key packet
            index = data[1]
            self.kcvs["app%d slot %d" % (index, index)] = data[2:].decode()
            return {"kind": "keys", "app": index, "kcv": data[2:].decode()}
        packet = packets.parse(data)
        values = self.job.applications.get(packet.app_index, {})
        self.params[packet.app_index] = (packet.version, values)
        return {"kind": "parameters", "app": packet.app_index, "version": packet.version}

    def onsite(self, app, line, prefix) -> None:
        self.calls.append("onsite %d %s %s" % (app, line, prefix))

    def journal(self, app: int) -> dict:
        return {"app": app, "next_stan": self.stan + 1, "last": self.last.get(app)}

    def slips(self, count: int, app: int) -> list:
        return [_slip(self.params[app][1], "SALE") + ["REF NO: 1207%08d" % self.last[app]["stan"]]]

    def txn(self, request: dict, timeout: float | None = None) -> dict:
        kind = request["kind"]
        self.calls.append("%s %d" % (kind, request["app"]))
        self.stan += 1
        if kind == "settlement" and self.fail_settlement:
            self.fail_settlement -= 1
            return {"kind": kind, "approved": False, "response_code": "96", "stan": self.stan}
        self.last[request["app"]] = {
            "stan": self.stan,
            "kind": kind,
            "amount": request.get("amount"),
            "status": "approved",
        }
        if kind == "sale" and self.lose_sale_answer:
            self.lose_sale_answer -= 1
            raise PoskitError("/dev/ttyUSB0 did not answer within 180 s")
        values = dict(self.params[request["app"]][1])
        if self.slip_override:
            values.update(self.slip_override)
        slips = [_slip(values, kind)] if kind in ("sale", "sale_void", "settlement") else []
        if kind == "sale":
            slips[0].append("CARD NO: 622424******1020 %s" % self.card_letter)
        return {
            "kind": kind,
            "approved": True,
            "response_code": "00",
            "stan": self.stan,
            "rrn": "1207%08d" % self.stan,
            "next_stan": self.stan + 1,
            "slips": slips,
        }


class FakeKeys:
    def __init__(self) -> None:
        self.made = []

    def new_identity(self, serial):
        self.made.append(serial)
        return b"k" * 16, b"l" * 32, "KBPK KCV 000000, link key check 000000"

    def forget(self, serial):
        pass

    def link_key(self, serial):
        return b"l" * 32

    def key_packet(self, serial, index, slot, algorithm):
        return b"K" + bytes([index]) + b"ABC%03d" % index, "ABC%03d" % index


class FakeCardholder(install.Cardholder):
    picture = True

    def __init__(self, chip: str | None = None) -> None:
        super().__init__(lambda text: None, chip)
        self.presented = []

    @contextlib.contextmanager
    def present(self, what):
        self.presented.append(what)
        yield

    def screen_png(self):
        return b"\x89PNG\r\n\x1a\nfake"


def _runner(job, terminal, folder, chip=None, **options):
    @contextlib.contextmanager
    def connect():
        yield terminal

    lines: list[str] = []
    runner = install.InstallRunner(
        job,
        folder,
        connect=connect,
        keys=FakeKeys(),
        cardholder=FakeCardholder(chip),
        installer="wang.li",
        port="/dev/ttyUSB0",
        onsite={"line": "direct", "prefix": ""},
        say=lines.append,
        **options,
    )
    runner.lines = lines
    return runner


def test_a_whole_install_runs_every_step_in_order_and_writes_the_record(tmp_path):
    job = jobs.load(JOB)
    terminal = FakeTerminal(job)
    runner = _runner(job, terminal, tmp_path / "rec")
    record = runner.run()
    assert record["status"] == "complete"
    assert [s["name"] for s in record["steps"]] == install.step_names(job)
    assert all(s["status"] == "done" for s in record["steps"])
    # the procedure's order for each application, one after the other
    assert [c for c in terminal.calls if not c.startswith(("load", "onsite"))] == [
        "provision",
        "sign_on 1",
        "sale 1",
        "sale_void 1",
        "settlement 1",
        "sign_on 2",
        "sale 2",
        "sale_void 2",
        "settlement 2",
    ]
    saved = json.loads((tmp_path / "rec" / "install.json").read_text())
    assert saved["terminal"]["serial"] == job.serial
    assert saved["terminal"]["iccid"] == "89860012345678901234"
    assert saved["installer"] == "wang.li"
    app1 = install_record.application(saved, 1)
    assert [t["kind"] for t in app1["tests"]] == ["sign_on", "sale", "sale_void", "settlement"]
    assert app1["slip_check"] == {"ok": True, "problems": []}
    assert app1["terminal"]["merchant_id"] == job.applications[1]["merchant_id"]
    page = (tmp_path / "rec" / "install.html").read_text()
    assert "data:image/png;base64," in page and "http" not in page.replace("http-equiv", "")
    assert job.applications[2]["merchant_name"] in page
    assert (tmp_path / "rec" / "slips" / "app2-sale-1.txt").exists()
    assert (tmp_path / "rec" / "app1-sale.png").exists()


def test_a_failed_settlement_is_retried_without_redoing_the_steps_before(tmp_path):
    job = jobs.load(JOB)
    terminal = FakeTerminal(job)
    terminal.fail_settlement = 1
    with pytest.raises(install.InstallError) as failure:
        _runner(job, terminal, tmp_path / "rec").run()
    message = str(failure.value)
    assert "application 1 (CUP): settlement, failed: settlement 96" in message
    assert "run the same command again" in message
    saved = json.loads((tmp_path / "rec" / "install.json").read_text())
    assert saved["status"] == "incomplete"
    assert saved["steps"][-1]["name"] == "app1.settlement"
    assert saved["steps"][-1]["status"] == "failed"
    calls_before = len(terminal.calls)
    record = _runner(job, terminal, tmp_path / "rec").run()
    again = terminal.calls[calls_before:]
    assert again[0] == "settlement 1"  # no provisioning, loading, sign-on or sale again
    assert "sale 1" not in again and "provision" not in again
    assert record["status"] == "complete"
    app1 = install_record.application(record, 1)
    assert [t["kind"] for t in app1["tests"]] == ["sign_on", "sale", "sale_void", "settlement"]
    assert app1["tests"][-1]["approved"]


def test_a_slip_that_disagrees_with_the_job_stops_the_install_naming_both(tmp_path):
    job = jobs.load(JOB)
    terminal = FakeTerminal(job)
    terminal.slip_override = {"terminal_id": "99999999"}
    with pytest.raises(install.InstallError) as failure:
        _runner(job, terminal, tmp_path / "rec").run()
    message = str(failure.value)
    assert "MID, TID and merchant name on the slip, failed" in message
    assert (
        "TID (TERMINAL NO) is '99999999', the job's '%s'" % job.applications[1]["terminal_id"]
        in message
    )
    assert "sale_void 1" not in terminal.calls  # nothing after the check


def test_check_slip_names_each_field_that_disagrees():
    expected = {"merchant_id": "123456789012345", "terminal_id": "12345678", "merchant_name": "甲"}
    good = _slip(expected, "SALE")
    assert install.check_slip(good, expected) == []
    bad = _slip(dict(expected, merchant_id="123456789012346", merchant_name="乙"), "SALE")
    assert install.check_slip(bad, expected) == [
        "the slip's MID (MERCHANT NO) is '123456789012346', the job's '123456789012345'",
        "the slip's merchant name is '乙', the job's '甲'",
    ]
    missing = install.check_slip(["POS 签购单"], expected)
    assert missing[0] == "the slip has no MID (MERCHANT NO) line"


def test_a_changed_job_is_refused_on_resume(tmp_path):
    job_file = tmp_path / "job.toml"
    job_file.write_text(JOB.read_text(encoding="utf-8"), encoding="utf-8")
    job = jobs.load(job_file)
    terminal = FakeTerminal(job)
    terminal.fail_settlement = 1
    with pytest.raises(install.InstallError):
        _runner(job, terminal, tmp_path / "rec").run()
    job_file.write_text(job_file.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    with pytest.raises(install.InstallError, match="changed since the install"):
        _runner(jobs.load(job_file), terminal, tmp_path / "rec")
    record = _runner(jobs.load(job_file), terminal, tmp_path / "rec", restart=True).run()
    assert record["status"] == "complete"


def test_the_wrong_terminal_is_refused_before_anything_changes(tmp_path):
    job = jobs.load(JOB)
    terminal = FakeTerminal(job)
    terminal.serial = "PK-999999"
    with pytest.raises(install.InstallError, match="the terminal is PK-999999; the job"):
        _runner(job, terminal, tmp_path / "rec").run()
    assert terminal.calls == []


def test_a_sale_whose_answer_was_lost_is_taken_from_the_journal_not_made_again(tmp_path):
    job = jobs.load(JOB)
    terminal = FakeTerminal(job)
    terminal.lose_sale_answer = 1
    with pytest.raises(install.InstallError, match="0.01 sale, failed: .*did not answer"):
        _runner(job, terminal, tmp_path / "rec").run()
    record = _runner(job, terminal, tmp_path / "rec").run()
    assert terminal.calls.count("sale 1") == 1
    sale = install_record.application(record, 1)["tests"][1]
    assert sale["kind"] == "sale" and sale["approved"]
    assert sale["rrn"] == "1207%08d" % sale["stan"]
    assert record["status"] == "complete"


def test_a_sale_by_chip_is_recorded_as_by_chip(tmp_path):
    job = jobs.load(JOB)
    terminal = FakeTerminal(job)
    terminal.card_letter = "I"
    record = _runner(job, terminal, tmp_path / "rec", chip="pboc-debit").run()
    assert record["status"] == "complete"
    sale = install_record.application(record, 1)["tests"][1]
    assert sale["kind"] == "sale" and sale["card"] == "chip"
    steps = {s["name"]: s for s in record["steps"]}
    assert steps["app1.sale"]["note"].startswith("approved by chip, STAN ")
    assert "0.01 sale 消费, by chip" in (tmp_path / "rec" / "install.html").read_text()


def test_a_sale_asked_by_chip_that_the_terminal_read_otherwise_stops_the_install(tmp_path):
    job = jobs.load(JOB)
    terminal = FakeTerminal(job)  # the slip says S: swiped
    with pytest.raises(install.InstallError, match="read by swipe, not by chip"):
        _runner(job, terminal, tmp_path / "rec", chip="pboc-debit").run()
    assert "sale_void 1" not in terminal.calls


class FakeVterm:
    """A virtual terminal's control: its screen goes on a step each time the cardholder acts."""

    def __init__(self, screens: list[str]) -> None:
        self.screens = screens
        self.done: list[tuple[str, bool]] = []

    def screen(self) -> list[str]:
        return [self.screens[min(len(self.done), len(self.screens) - 1)]]

    def do(self, line: str, timeout: float = 120, *, secret: bool = False) -> None:
        self.done.append((line, secret))

    def screen_png(self) -> bytes:
        return b"png"


def act(screens: list[str], chip: str, steps: int) -> FakeVterm:
    # The vterm cardholder with chip card `chip` through `screens`, until it did `steps`.
    control = FakeVterm(screens)
    holder = install.VtermCardholder(
        control, lambda text: None, track2="6224242900000113=2806", pin="12", chip=chip
    )
    with holder.present("sale"):
        for _ in range(100):
            if len(control.done) == steps:
                break
            time.sleep(0.02)
    return control


def test_the_vterm_cardholder_inserts_the_chip_card_types_the_pin_and_takes_it_out():
    screens = ["请刷卡或插卡", "请输入密码,无则按确认", "交易成功 请撕下商户联", "请拔卡", "空闲"]
    control = act(screens, "pboc-debit", 4)
    assert control.done == [
        ("insert pboc-debit", False),
        ("keys 1/250 2/250 ENTER/250", True),
        ("keys ENTER/250", False),
        ("remove", False),
    ]
    # A card whose CVM asks no PIN (a signature): the PIN step passed over.
    control = act(["请刷卡或插卡", "交易成功 请撕下商户联", "请拔卡", "空闲"], "pboc-credit", 3)
    assert [line for line, _ in control.done] == ["insert pboc-credit", "keys ENTER/250", "remove"]
