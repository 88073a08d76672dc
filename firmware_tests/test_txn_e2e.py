"""End to end: the terminal's transaction engine (device/app/txn/engine.py) on MicroPython, in a
virtual terminal's state folder (ROMFS image, ESP32-sized heap), against the acquirer host
simulator (hostlib.hostsim, CPython, pyiso8583) over TCP on 127.0.0.1.

- every transaction type, and `poskit txn` itself (init, one command, a script, exit codes);
- the fault matrix: each reversal-triggering type x each fault that loses or spoils the
  answer ends as spec §6 requires: the engine reports the failure, the reversal is queued
  with the right reason (98 / A0), it is delivered before the next transaction, and after
  settlement the host's totals equal the terminal's;
- duplicate answers, declines, a lost request, a reversal given up, an unbalanced settlement
  with batch upload, the host's processing requirements.

Each case runs one MicroPython process that converses with the test over app.txn.link (one
JSON request a line), so the test can read each result before choosing the next request.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hostlib.hostsim import HostSimulator
from hostlib.state import TerminalState
from tools import txn as txn_cli

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "docs" / "examples" / "hostsim-job.toml"
TMK = "70F2A84CCBC2AE8625CBB0F2C22AB923"
TID = "12345678"
TRACK = "6224242900000113=28062013949031013"
LOW_FUNDS = "6224242900000121=28062010000000000"
PIN = "123456"
SUPERVISOR = "123456"
TIMEOUT_MS = 1000  # the engine's receive timeout in these tests
LATE = 2.5  # seconds: a "late" answer comes after the terminal gave up


def secret_file(path: Path, value: str) -> Path:
    """A file holding one secret (a test card's track 2, a PIN), readable by its owner only,
    as an installer keeps one."""
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def txn_cli_run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.txn", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        input=stdin,
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A terminal set up once with `poskit txn init` (parameters + TMK, not signed on)."""
    state = tmp_path_factory.mktemp("template") / "term"
    out = txn_cli_run(
        "--state", str(state), "init", "--params", str(JOB), "--tmk-fd", "0", stdin=TMK + "\n"
    )
    assert out.returncode == 0, out.stderr
    assert "master key of application 1 in slot 1: 3DES KCV 47F816" in out.stdout
    return state


@pytest.fixture
def state(template, tmp_path) -> Path:
    copy = tmp_path / "term"
    shutil.copytree(template, copy)
    return copy


@pytest.fixture
def host():
    with HostSimulator() as sim:
        yield sim


class Terminal:
    """The device engine in one MicroPython process, spoken to over app.txn.link: plain TCP to
    127.0.0.1:`port`, or with `port` None the bearer its parameters select (`env` wires the
    emulated modem or GPRS module; `heap` replaces the ESP32's)."""

    def __init__(
        self,
        state: Path,
        port: int | None,
        timeout_ms: int = TIMEOUT_MS,
        *,
        env: dict | None = None,
        heap: str | None = None,
    ):
        options: dict = {"env": env}
        if heap is not None:
            options["heap"] = heap
        self.proc = TerminalState(state).popen(txn_cli._RUN, **options)
        self.lines: queue.Queue = queue.Queue()
        self.other: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        conf: dict = {"app": 1, "timeout_ms": timeout_ms}
        if port is not None:
            conf.update(host="127.0.0.1", port=port)
        self._write(conf)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _write(self, obj: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def __call__(self, kind: str, **req) -> dict:
        """Run one request; the result dict (app.txn.link) with `slip` (text lines) and
        `events` added."""
        req["kind"] = kind
        self._write(req)
        result: dict = {"slip": [], "events": []}
        while True:
            try:
                line = self.lines.get(timeout=60)
            except queue.Empty:
                raise AssertionError("the terminal did not answer %r" % req) from None
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError("the terminal stopped:\n" + "\n".join(self.other) + err)
            tag, _, rest = line.partition(" ")
            if tag == "@R":
                result.update(json.loads(rest))
            elif tag == "@L":
                result["slip"].append(bytes.fromhex(rest).decode("gb18030"))
            elif tag == "@E":
                result["events"].append(rest)
            elif tag == "@.":
                return result
            elif tag == "@X":
                raise AssertionError(rest)
            else:
                self.other.append(line)  # a traceback goes to stdout

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        assert self.proc.returncode == 0, self.proc.stderr.read() if self.proc.stderr else ""


@pytest.fixture
def terminal(state, host):
    term = Terminal(state, host.address[1])
    yield term
    term.close()


def approved(result: dict) -> dict:
    assert result["approved"], result
    assert result["response_code"] == "00" or result["kind"] == "reprint", result
    return result


def sale(term, amount=1, track=TRACK) -> dict:
    return term("sale", amount=amount, track2=track, pin=PIN)


def host_totals(host, batch: int) -> list:
    t = host.totals(TID, batch)
    return [t["debit_amount"], t["debit_count"], t["credit_amount"], t["credit_count"]]


def settle_balanced(term, host, confirmed=False) -> dict:
    result = approved(term("settlement", confirmed=confirmed))
    settlement = result["settlement"]
    assert settlement["balanced"], result
    assert settlement["terminal"] == host_totals(host, settlement["batch"])
    assert host.settlements(TID)[-1]["result"] == "balanced"
    return result


def rows(host, stan: int, batch: int = 1) -> list[dict]:
    return [t for t in host.transactions(tid=TID, batch=batch) if t["stan"] == stan]


# --- every transaction type ------------------------------------------------------------------


def test_every_transaction_type(terminal, host):
    term = terminal
    signon = approved(term("sign_on"))
    assert signon["stan"] == 1 and signon["batch"] == 1
    assert any(note.startswith("keys PIK ") for note in signon["notes"])
    assert host.terminal(TID)["signed_on"]

    first = approved(sale(term))
    assert (
        first["stan"] == 2 and first["amount"] == 1 and first["pan_masked"] == "622424******0113"
    )
    assert len(first["rrn"]) == 12 and len(first["auth_code"]) == 6
    assert "AMOUNT: RMB 0.01" in first["slip"] and "CARD NO: 622424******0113 S" in first["slip"]
    assert rows(host, 2)[0]["status"] == "approved"

    void = approved(term("sale_void", trace=2, supervisor=SUPERVISOR))
    assert void["original"]["stan"] == 2 and void["original"]["amount"] == 1
    assert void["amount"] == 1 and void["auth_code"] == first["auth_code"]
    assert "AMOUNT: RMB -0.01" in void["slip"] and "ORIG VOUCHER: 000002" in void["slip"]
    assert rows(host, 2)[0]["status"] == "voided"

    big = approved(sale(term, 2500))
    balance = approved(term("balance", track2=TRACK, pin=PIN))
    card = host.card("6224242900000113")
    assert balance["balance"] == card["balance"] - card["held"]
    assert balance["slip"] == []

    refund = approved(
        term(
            "refund",
            rrn=big["rrn"],
            date=big["date"][4:],
            amount=500,
            track2=TRACK,
            supervisor=SUPERVISOR,
        )
    )
    assert refund["original"]["stan"] == big["stan"]

    pre = approved(term("preauth", amount=10000, track2=TRACK, pin=PIN))
    cancel = approved(term("preauth_cancel", auth=pre["auth_code"]))
    assert cancel["amount"] == 10000 and cancel["original"]["stan"] == pre["stan"]

    pre2 = approved(term("preauth", amount=20000, track2=TRACK, pin=PIN))
    completion = approved(term("completion", auth=pre2["auth_code"], amount=21000))
    assert completion["original"]["stan"] == pre2["stan"]
    cvoid = approved(term("completion_void", trace=completion["stan"], supervisor=SUPERVISOR))
    assert cvoid["amount"] == 21000

    pre3 = approved(term("preauth", amount=5000, track2=TRACK, pin=PIN))
    approved(term("completion_notice", auth=pre3["auth_code"], amount=5000))
    approved(term("echo"))

    # Terminal totals: sale 25.00 + completion notice 50.00; refund 5.00 (void and the
    # voided completion count in neither).
    result = settle_balanced(term, host)
    assert result["settlement"]["terminal"] == [7500, 2, 500, 1]
    assert result["settlement"]["batch"] == 1
    off = approved(term("sign_off"))
    assert off["batch"] == 2  # advanced after settlement
    # Signed off: nothing goes until a sign-on.
    refused = term("sale_void", trace=big["stan"], supervisor=SUPERVISOR)
    assert refused["error"] == "signed_off" and refused["message_zh"] == "已签退,请先签到"
    approved(term("sign_on"))
    # The journal was cleared: nothing left to void.
    gone = term("sale_void", trace=big["stan"], supervisor=SUPERVISOR)
    assert gone["error"] == "not_found"


def test_void_checks_before_anything_is_sent(terminal, host):
    term = terminal
    approved(term("sign_on"))
    first = approved(sale(term, 300))
    sent = len(host.transactions(tid=TID))
    wrong = term("sale_void", trace=first["stan"], supervisor="999999")
    assert wrong["error"] == "password" and wrong["message_zh"] == "主管密码错误"
    assert term("sale_void", trace=77, supervisor=SUPERVISOR)["error"] == "not_found"
    other = term(
        "sale_void", trace=first["stan"], supervisor=SUPERVISOR, track2=LOW_FUNDS, amount=300
    )
    assert other["error"] == "card"
    partial = term("sale_void", trace=first["stan"], supervisor=SUPERVISOR, amount=100)
    assert partial["error"] == "amount"
    assert len(host.transactions(tid=TID)) == sent  # none of these reached the host
    approved(term("sale_void", trace=first["stan"], supervisor=SUPERVISOR, track2=TRACK))
    again = term("sale_void", trace=first["stan"], supervisor=SUPERVISOR)
    assert again["error"] == "not_allowed"
    settle_balanced(term, host)


def test_not_signed_on(terminal, host):
    result = sale(terminal)
    assert result["error"] == "not_signed_on" and not host.transactions(tid=TID)


# --- fault matrix ------------------------------------------------------------------------------

REVERSIBLE = ("sale", "sale_void", "preauth", "preauth_cancel", "completion", "completion_void")
# fault -> (the engine's error, the reversal reason)
FAULTS = {
    "no_answer": ("timeout", "98"),
    "late": ("timeout", "98"),
    "close": ("link", "98"),
    "partial": ("link", "98"),
    "bad_mac": ("mac", "A0"),
    "wrong_stan": ("invalid", "98"),
    "wrong_amount": ("invalid", "98"),
}


def _faulted_request(term, kind: str) -> dict:
    """Set up what `kind` needs (approved), then return the request to spoil."""
    if kind == "sale":
        return {"kind": "sale", "amount": 123, "track2": TRACK, "pin": PIN}
    if kind == "preauth":
        return {"kind": "preauth", "amount": 4000, "track2": TRACK, "pin": PIN}
    if kind == "sale_void":
        return {
            "kind": "sale_void",
            "trace": approved(sale(term, 456))["stan"],
            "supervisor": SUPERVISOR,
        }
    pre = approved(term("preauth", amount=6000, track2=TRACK, pin=PIN))
    if kind == "preauth_cancel":
        return {"kind": "preauth_cancel", "auth": pre["auth_code"]}
    completion = {"kind": "completion", "auth": pre["auth_code"], "amount": 5500}
    if kind == "completion":
        return completion
    done = approved(term(**completion))
    return {"kind": "completion_void", "trace": done["stan"], "supervisor": SUPERVISOR}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("kind", REVERSIBLE)
def test_fault_matrix(terminal, host, kind, fault):
    term = terminal
    approved(term("sign_on"))
    request = _faulted_request(term, kind)
    host.set_fault(fault, tid=TID, txn=kind, delay=LATE if fault == "late" else 0.0)
    error, reason = FAULTS[fault]

    spoiled = term(**request)
    assert not spoiled["approved"] and spoiled["response_code"] is None, spoiled
    assert spoiled["error"] == error, spoiled
    assert spoiled["pending_reversal"] == [spoiled["stan"], reason]
    assert spoiled["reversal_note"] == "reversal of %06d queued (%s)" % (spoiled["stan"], reason)
    booked = rows(host, spoiled["stan"])
    assert [r["type"] for r in booked] == [kind] and booked[0]["status"] == "approved"

    # The next transaction delivers the reversal first, on the same connection.
    after = approved(sale(term, 1))
    assert after["reversal_note"] == "reversal of %06d (reason %s) accepted" % (
        spoiled["stan"],
        reason,
    )
    assert after["pending_reversal"] is None
    events = after["events"]
    assert events.index("reversal %d" % spoiled["stan"]) < events.index("sending 0200")
    booked = {r["type"]: r for r in rows(host, spoiled["stan"])}
    assert booked[kind]["status"] == "reversed"
    assert booked["reversal"]["reason"] == reason

    # Terminal and host agree on what stands.
    settle_balanced(term, host)


# --- more faults ---------------------------------------------------------------------------------


def test_lost_request_is_reversed_as_not_found(terminal, host):
    term = terminal
    approved(term("sign_on"))
    host.set_fault("no_answer", tid=TID, txn="sale", process=False)
    spoiled = sale(term, 700)
    assert spoiled["error"] == "timeout" and spoiled["pending_reversal"] == [spoiled["stan"], "98"]
    assert rows(host, spoiled["stan"]) == []  # the host never saw it
    after = approved(sale(term))
    assert "accepted" in after["reversal_note"]
    assert [r["type"] for r in rows(host, spoiled["stan"])] == ["reversal"]
    settle_balanced(term, host)


def test_a_refund_whose_answer_is_lost_is_sent_again_and_booked_once(terminal, host):
    # The host books the refund and its answer is lost: the terminal keeps the advice and
    # sends it again (0220, its STAN) before the next sale; the host answers as the first time.
    term = terminal
    approved(term("sign_on"))
    big = approved(sale(term, 2500))
    host.set_fault("no_answer", tid=TID, txn="refund")
    lost = term(
        "refund",
        rrn=big["rrn"],
        date=big["date"][4:],
        amount=500,
        track2=TRACK,
        supervisor=SUPERVISOR,
    )
    assert lost["error"] == "timeout" and lost["pending_advice"] == [lost["stan"], "refund"]
    assert [r["status"] for r in rows(host, lost["stan"])] == ["approved"]
    after = approved(sale(term, 100))
    assert after["pending_advice"] is None
    assert any("sent again: approved" in note for note in after["notes"]), after["notes"]
    assert len(rows(host, lost["stan"])) == 1
    reprint = term("reprint", trace=lost["stan"])  # its slip, from the journal
    assert reprint["approved"] and any("REFUND" in line.upper() for line in reprint["slip"])
    result = settle_balanced(term, host)
    assert result["settlement"]["terminal"] == [2600, 2, 500, 1]


def test_duplicate_answers_are_skipped(terminal, host):
    term = terminal
    approved(term("sign_on"))
    host.set_fault("no_answer", tid=TID, txn="sale")
    spoiled = sale(term, 800)
    # The reversal's answer comes twice: the sale behind it on the same connection must
    # still get its own answer, not the copy.
    host.set_fault("duplicate", tid=TID, txn="reversal")
    after = approved(sale(term, 900))
    assert "accepted" in after["reversal_note"] and after["amount"] == 900
    assert any(e.startswith("duplicate") for e in after["events"])
    host.set_fault("duplicate", tid=TID, txn="sale")
    approved(sale(term, 1000))
    # Settlement answered twice, then the batch end on the same connection.
    host.set_fault("duplicate", tid=TID, txn="settlement")
    result = settle_balanced(term, host)
    assert result["notes"] == []
    assert result["settlement"]["terminal"] == [1900, 2, 0, 0]
    statuses = {r["type"]: r["status"] for r in rows(host, spoiled["stan"])}
    assert statuses == {"sale": "reversed", "reversal": "approved"}


@pytest.mark.parametrize("kind", ["sale", "sale_void", "preauth"])
def test_declines_leave_nothing_to_reverse(terminal, host, kind):
    term = terminal
    approved(term("sign_on"))
    request = _faulted_request(term, kind)
    host.set_fault("decline", tid=TID, txn=kind, code="51" if kind != "sale_void" else "25")
    declined = term(**request)
    assert not declined["approved"] and declined["error"] is None
    assert declined["response_code"] in ("51", "25")
    assert declined["pending_reversal"] is None and declined["slip"] == []
    if kind == "sale_void":
        # The original still stands and can be voided once the host agrees.
        approved(term(**request))
    # A declined sale or pre-authorisation leaves the batch empty: the cashier confirms.
    settle_balanced(term, host, confirmed=kind != "sale_void")


def test_insufficient_funds_message(terminal, host):
    approved(terminal("sign_on"))
    declined = sale(terminal, 5000, LOW_FUNDS)
    assert declined["response_code"] == "51"
    assert declined["message_en"] == "Insufficient funds: use another card"
    assert declined["message_zh"] == "余额不足,请换卡"


def test_reversal_given_up_then_unbalanced_settlement_uploads(terminal, host):
    term = terminal
    approved(term("sign_on"))
    kept = approved(sale(term, 111))
    host.set_fault("no_answer", tid=TID, txn="sale")
    spoiled = sale(term, 222)
    # The host never sees the reversal (lost on the way), four times.
    host.set_fault("no_answer", tid=TID, txn="reversal", count=None, process=False)
    given_up = sale(term, 333)
    assert given_up["error"] == "reversal" and given_up["stan"] is None
    assert (
        given_up["reversal_note"]
        == "reversal of %06d failed after 4 attempts: dropped" % (spoiled["stan"])
    )
    assert given_up["pending_reversal"] is None
    assert [r["type"] for r in rows(host, spoiled["stan"])] == ["sale"]
    host.clear_faults()
    # The host still holds the spoiled sale; the terminal does not: unbalanced, upload.
    result = approved(term("settlement"))
    settlement = result["settlement"]
    assert not settlement["balanced"] and settlement["uploaded"] == 1
    assert settlement["terminal"] == [111, 1, 0, 0]
    assert settlement["host"] == [111 + 222, 2, 0, 0]
    uploads = host.uploads(TID, 1)
    assert [(u["stan"], u["amount"], u["pan"], u["matched"]) for u in uploads] == [
        (kept["stan"], 111, "6224242900000113", 1)
    ]
    assert host.settlements(TID)[-1]["upload_total"] == 1
    assert result["message_en"].startswith("Settled, totals differ")


def test_host_unreachable_keeps_the_reversal(state, host):
    term = Terminal(state, host.address[1])
    try:
        approved(term("sign_on"))
        host.set_fault("close", tid=TID, txn="sale")
        spoiled = sale(term, 555)
    finally:
        term.close()
    host.stop()
    offline = Terminal(state, host.address[1])
    try:
        result = sale(offline)
        assert result["error"] == "connect" and result["message_en"].startswith("Cannot connect")
        assert result["pending_reversal"] == [spoiled["stan"], "98"]
    finally:
        offline.close()


def test_processing_requirements(terminal, host):
    term = terminal
    approved(term("sign_on"))
    old_mak = host.working_keys(TID)["mak"]
    host.set_processing_requirement(TID, "3")
    result = approved(sale(term))
    assert result["notes"] == ["host asked for sign-on: done before the next transaction"]
    assert host.working_keys(TID)["mak"] == old_mak
    result = approved(sale(term))  # signs on first, then the sale with the new keys
    assert result["notes"] == ["signed on again, as the host asked"]
    assert host.working_keys(TID)["mak"] != old_mak
    host.set_processing_requirement(TID, "1")
    result = approved(sale(term))
    assert result["notes"] == ["parameter download: 0 bytes"]
    settle_balanced(term, host)


# --- the command ---------------------------------------------------------------------------------


def test_poskit_txn_commands_and_script(state, host, tmp_path):
    where = ["--state", str(state), "--host", "127.0.0.1:%d" % host.address[1], "--timeout", "1"]
    out = txn_cli_run(*where, "sign-on")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("sign_on APPROVED 00\n")
    card = secret_file(tmp_path / "card.txt", TRACK)
    out = txn_cli_run(
        *where,
        "sale",
        "--amount",
        "0.01",
        "--card-file",
        str(card),
        "--pin-fd",
        "0",
        stdin=PIN + "\n",
    )
    assert out.returncode == 0, out.stderr
    assert "  | AMOUNT: RMB 0.01" in out.stdout and "  | TXN TYPE: SALE 消费" in out.stdout
    assert "pin" not in out.stdout.lower()
    assert TRACK not in out.stdout + out.stderr
    low = secret_file(tmp_path / "low.txt", LOW_FUNDS)
    out = txn_cli_run(
        *where,
        "sale",
        "--amount",
        "50.00",
        "--card-file",
        str(low),
        "--pin-fd",
        "0",
        stdin=PIN + "\n",
    )
    assert out.returncode == 1
    assert "sale DECLINED 51" in out.stdout and "余额不足,请换卡" in out.stdout
    # A script names its secrets' files (beside it) or reads them from a file descriptor:
    # here the PIN and the supervisor password, one a line on standard input, in order.
    script = tmp_path / "script.txt"
    script.write_text(
        "# a comment\n"
        "sale --amount 12.34 --card-file card.txt --pin-fd 0\n"
        "\n"
        "void --trace 4 --supervisor-fd 0\n"
        "reprint --trace 4 --copy cardholder\n"
        "settle\n"
    )
    out = txn_cli_run(
        *where, "--json", "--script", str(script), stdin="%s\n%s\n" % (PIN, SUPERVISOR)
    )
    assert out.returncode == 0, out.stdout + out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["kind"] for r in results] == ["sale", "sale_void", "reprint", "settlement"]
    assert results[0]["stan"] == 4 and results[1]["original"]["stan"] == 4
    assert "CARDHOLDER COPY 持卡人存根" in results[2]["receipt"]
    assert "*** REPRINT 重打印 ***" in results[2]["receipt"]
    assert results[3]["settlement"]["balanced"]


def test_poskit_txn_refuses_bad_input(state, tmp_path):
    card = secret_file(tmp_path / "card.txt", TRACK)
    for amount in ("0.001", "NaN", "inf", "1e3", "１２", "-1", "0", "1,000", "0x10", " 1", "1."):
        out = txn_cli_run(
            "--state", str(state), "sale", "--amount", amount, "--card-file", str(card)
        )
        assert out.returncode == 2, (amount, out.stderr)
        assert "amount %r" % amount in out.stderr and "Traceback" not in out.stderr
    out = txn_cli_run("--state", str(tmp_path / "none"), "sign-on")
    assert out.returncode == 1 and "not a terminal state folder" in out.stderr
    for text, reason in (
        (
            b"sale --amount 1\n",
            "bad.txt:1: one of the arguments --card --card-fd --card-file --pan",
        ),
        (b"echo\nsale --amount 1 --card-file 'card.txt\n", "bad.txt:2: no closing quotation"),
        (b"echo\n\nsale --amount 1e3 --card-file card.txt\n", "bad.txt:3: argument --amount"),
        (b"echo\nsale\x00\x01 --amount 1\n", "bad.txt:2: holds a control character"),
        (b"echo\nsign-on\n\xff\xfe\x00\x00\n", "bad.txt:3: not UTF-8 text"),
        (
            b"sale --amount 1 --card " + TRACK.encode(),
            "bad.txt:1: argument --card: takes no value",
        ),
        (b"sale --amount 1 --card-file none.txt\n", "bad.txt:1: cannot read the card"),
    ):
        script = tmp_path / "bad.txt"
        script.write_bytes(text)
        out = txn_cli_run("--state", str(state), "--script", str(script))
        assert out.returncode == 1 and reason in out.stderr, (text, out.stderr)
        assert "Traceback" not in out.stderr and TRACK not in out.stderr


def test_poskit_txn_init_provisions_and_loads_packets(tmp_path, host):
    state, keystore = tmp_path / "term", tmp_path / "ks.json"
    env = {"POSKIT_KEYSTORE_PASSPHRASE": "correct horse battery"}
    out = subprocess.run(
        [sys.executable, "-m", "tools.txn", "--state", str(state), "init"]
        + ["--params", str(JOB), "--serial", "PK-000777", "--keystore", str(keystore)]
        + ["--tmk-fd", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, **env},
        input=TMK + "\n",
    )
    assert out.returncode == 0, out.stderr
    assert "provisioned PK-000777" in out.stdout
    assert "parameters for application 1, version 1" in out.stdout
    assert "\nmaster key of application 1 in slot 1: 3DES KCV 47F816\n" in out.stdout
    assert out.stdout.rstrip().endswith("the terminal application runs at power-up")
    term = Terminal(state, host.address[1])
    try:
        approved(term("sign_on"))
        approved(sale(term))
    finally:
        term.close()
