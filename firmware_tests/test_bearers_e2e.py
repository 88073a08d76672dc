"""End to end over each bearer the terminal's parameters select: the transaction engine on
MicroPython (ROMFS image, app.txn.link) dialling through the emulated Hayes modem, or
connecting through the emulated SIM800, or over Ethernet, to the acquirer host simulator.

- `poskit txn` on a dial-up and on a GPRS terminal (SIM800, SIM7600): a sign-on and a 0.01
  sale approved, the host's records confirming them;
- dial-up: a busy first number and the second one answering; both busy (a readable error,
  nothing sent, no reversal owed); the carrier lost after the sale went out (a reversal owed,
  delivered before the next sale);
- GPRS, with a SIM800 and with a SIM7600 fitted: the network dropping the packet context
  after the sale went out (a reversal owed; the next sale re-attaches and delivers it); no
  SIM; a backup host;
- Ethernet: the parameters' host, with no `--host`;
- only the configured bearer's modules are loaded.

Every bearer runs in the ESP32's 110 KB heap on an interpreter of its word size, as the
terminal would, and in the same budget scaled on the 64-bit one (HEAP; docs/transactions.md
§13 has the install cycle's peak over each).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from test_txn_e2e import (
    JOB,
    PIN,
    TID,
    TMK,
    TRACK,
    Terminal,
    approved,
    rows,
    sale,
    secret_file,
    txn_cli_run,
)

from hostlib import micropython
from hostlib.hostsim import HostSimulator
from hostlib.state import TerminalState
from tools.txn import bearer_emulator

# An ESP32-WROOM's 110 KB, on an interpreter of its word size; on the 64-bit port, whose
# objects are about 1.5 times an ESP32's, the same budget scaled (micropython.ESP32_HEAP_64):
# at 110K a loaded machine's slower modem answers left a SIM7600 cycle short of 1.2 KB.
HEAP = micropython.esp32_heap()
ANSWER_WAIT_MS = 10000  # longer than the time a test takes to pull the line

EXAMPLES = JOB.parent  # docs/examples: hostsim-dialup-job.toml, hostsim-gprs-job.toml
BEARERS = ("dialup", "gprs")


def init(folder: Path, job: Path) -> Path:
    state = folder / "term"
    out = txn_cli_run(
        "--state", str(state), "init", "--params", str(job), "--tmk-fd", "0", stdin=TMK + "\n"
    )
    assert out.returncode == 0, out.stderr
    return state


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict:
    """A dial-up and a GPRS terminal, set up once (parameters + TMK, not signed on)."""
    made = {}
    for bearer in BEARERS:
        job = EXAMPLES / ("hostsim-%s-job.toml" % bearer)
        made[bearer] = init(tmp_path_factory.mktemp(bearer), job)
    return made


@pytest.fixture
def host():
    with HostSimulator() as sim:
        yield sim


def copy_of(templates: dict, bearer: str, tmp_path: Path) -> Path:
    state = tmp_path / bearer
    shutil.copytree(templates[bearer], state)
    return state


class Line:
    """A terminal on its own bearer, through the emulator `poskit txn` would start."""

    def __init__(
        self,
        state: Path,
        bearer: str,
        host: HostSimulator,
        timeout_ms: int = 3000,
        module: str = "sim800",
    ):
        self.emulator, env = bearer_emulator(bearer, host.address, module)
        self.term = Terminal(state, None, timeout_ms, env=env, heap=HEAP)

    def __call__(self, kind: str, **req) -> dict:
        return self.term(kind, **req)

    def close(self) -> None:
        try:
            self.term.close()
        finally:
            self.emulator.stop()


def when(condition, then, timeout: float = 20.0) -> threading.Thread:
    """Run `then()` in a thread as soon as `condition()` holds (the line is pulled while the
    terminal waits for its answer)."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        then()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def booked(host: HostSimulator, kind: str):
    return lambda: any(t["type"] == kind for t in host.transactions(tid=TID))


# --- poskit txn --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bearer, module", [("dialup", "sim800"), ("gprs", "sim800"), ("gprs", "sim7600")]
)
def test_poskit_txn_sign_on_and_sale(templates, bearer, module, host, tmp_path):
    state = copy_of(templates, bearer, tmp_path)
    where = ["--state", str(state), "--host", "127.0.0.1:%d" % host.address[1], "--heap", HEAP]
    where += ["--gprs", module]
    out = txn_cli_run(*where, "sign-on")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("sign_on APPROVED 00\n")
    assert host.terminal(TID)["signed_on"]
    card = secret_file(tmp_path / "card.txt", TRACK)
    out = txn_cli_run(
        *where, "sale", "--amount", "0.01", "--card-file", str(card), "--pin-fd", "0", stdin=PIN
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("sale APPROVED 00\n") and "  | AMOUNT: RMB 0.01" in out.stdout
    (row,) = rows(host, 2)
    assert row["type"] == "sale" and row["amount"] == 1 and row["status"] == "approved"


def test_poskit_txn_dial_up_needs_a_host(templates, tmp_path):
    state = copy_of(templates, "dialup", tmp_path)
    out = txn_cli_run("--state", str(state), "sign-on")
    assert out.returncode == 1
    assert "bearer is dial-up: give --host HOST:PORT" in out.stderr


# --- dial-up -----------------------------------------------------------------------------------


def test_dial_up_busy_first_number_then_both_busy(templates, host, tmp_path):
    line = Line(copy_of(templates, "dialup", tmp_path), "dialup", host)
    modem = line.emulator
    try:
        modem.inject_result("BUSY")
        approved(line("sign_on"))
        assert modem.dialled == ["T0,95555", "T0,95556"]

        modem.dialled.clear()
        modem.inject_result("BUSY")
        modem.inject_result("BUSY")
        messages = host.messages
        busy = sale(line)
        assert not busy["approved"] and busy["error"] == "connect", busy
        assert busy["message_en"] == "Cannot connect to the host: check the line and try again"
        assert busy["detail"] == "dial-up: 95555: BUSY; 95556: BUSY"
        assert busy["pending_reversal"] is None and busy["reversal_note"] is None
        assert modem.dialled == ["T0,95555", "T0,95556"]
        assert host.messages == messages and host.transactions(tid=TID) == []

        after = approved(sale(line))
        assert after["reversal_note"] is None and rows(host, after["stan"])[0]["amount"] == 1
    finally:
        line.close()


def test_dial_up_carrier_lost_after_the_sale_went_out_leaves_a_reversal(templates, host, tmp_path):
    line = Line(copy_of(templates, "dialup", tmp_path), "dialup", host, ANSWER_WAIT_MS)
    modem = line.emulator
    try:
        approved(line("sign_on"))
        host.set_fault("no_answer", tid=TID, txn="sale")
        when(booked(host, "sale"), modem.drop_carrier)
        lost = sale(line)
        assert not lost["approved"] and lost["error"] == "link", lost
        assert lost["detail"] == "the line dropped (NO CARRIER)"
        assert lost["pending_reversal"] == [lost["stan"], "98"]

        after = approved(sale(line))
        assert after["reversal_note"] == "reversal of %06d (reason 98) accepted" % lost["stan"]
        statuses = {r["type"]: r["status"] for r in rows(host, lost["stan"])}
        assert statuses == {"sale": "reversed", "reversal": "approved"}
    finally:
        line.close()


# --- GPRS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("module, activate", [("sim800", "AT+CIICR"), ("sim7600", "AT+NETOPEN")])
def test_gprs_context_lost_after_the_sale_went_out_is_recovered_and_reversed(
    templates, module, activate, host, tmp_path
):
    state = copy_of(templates, "gprs", tmp_path)
    line = Line(state, "gprs", host, ANSWER_WAIT_MS, module)
    gprs = line.emulator
    try:
        approved(line("sign_on"))
        host.set_fault("no_answer", tid=TID, txn="sale")
        when(booked(host, "sale"), gprs.deactivate_pdp)  # +PDP: DEACT, +CIPEVENT: ...
        lost = sale(line)
        assert not lost["approved"] and lost["error"] == "link", lost
        assert lost["detail"] == "GPRS: the network dropped the data connection"
        assert lost["pending_reversal"] == [lost["stan"], "98"]
        assert gprs.commands.count(activate) == 1

        after = approved(sale(line))  # re-attaches first (the watchdog step), once
        assert gprs.commands.count(activate) == 2
        assert after["reversal_note"] == "reversal of %06d (reason 98) accepted" % lost["stan"]
        statuses = {r["type"]: r["status"] for r in rows(host, lost["stan"])}
        assert statuses == {"sale": "reversed", "reversal": "approved"}
    finally:
        line.close()


def test_gprs_no_sim_then_backup_host(templates, host, tmp_path):
    state = copy_of(templates, "gprs", tmp_path)
    gprs, env = bearer_emulator("gprs", None)
    gprs.sim = "NOT INSERTED"
    # The primary host name leads nowhere (refused); the backup reaches the simulator.
    gprs.hosts = {"posp.example": ("127.0.0.1", 1), "backup.example": host.address}
    term = Terminal(state, None, 3000, env=env, heap=HEAP)
    try:
        no_sim = term("sign_on")
        assert no_sim["error"] == "connect" and no_sim["detail"].startswith("GPRS: no SIM card")
        gprs.sim = "READY"
        approved(term("sign_on"))
        opened = [c for c in gprs.commands if c.startswith("AT+CIPSTART")]
        assert opened == [
            'AT+CIPSTART="TCP","posp.example",5000',
            'AT+CIPSTART="TCP","backup.example",5001',
        ]
        assert host.terminal(TID)["signed_on"]
    finally:
        term.close()
        gprs.stop()


# --- Ethernet ----------------------------------------------------------------------------------


def test_ethernet_reaches_the_host_in_its_parameters(host, tmp_path):
    job = tmp_path / "job.toml"
    text = JOB.read_text()
    assert "port = 5000\n" in text
    job.write_text(text.replace("port = 5000\n", "port = %d\n" % host.address[1]))
    state = init(tmp_path, job)
    out = txn_cli_run("--state", str(state), "sign-on")  # no --host, the ESP32's heap
    assert out.returncode == 0, out.stdout + out.stderr
    assert host.terminal(TID)["signed_on"]


# --- heap: only the configured bearer ----------------------------------------------------------

_LOADED = """
import sys
from app.comm.bearers import configured
from app.store.params import ParamStore
bearer = configured(ParamStore(store).load(0), board)
names = [m for m in sys.modules if m.startswith(("app.comm.", "drivers."))]
names.remove("app.comm.bearers")
print("@LOADED", " ".join(sorted(names)))
"""


@pytest.mark.parametrize(
    "bearer, module, drivers",
    [
        ("dialup", "sim800", ["drivers.hayes"]),
        ("gprs", "sim800", ["drivers.sim800"]),
        ("gprs", "sim7600", ["drivers.sim7600", "drivers.sim800"]),  # the one builds on the other
    ],
)
def test_only_the_configured_bearer_is_loaded(templates, bearer, module, drivers, host):
    emulator, env = bearer_emulator(bearer, host.address, module)
    try:
        out = TerminalState(templates[bearer]).run(_LOADED, env=env).check()
    finally:
        emulator.stop()
    loaded = out.stdout.split("@LOADED ")[1].split()
    comm = "app.comm.dial" if bearer == "dialup" else "app.comm.gprs"
    assert loaded == sorted(["app.comm.frames", comm, "drivers.at"] + drivers)
