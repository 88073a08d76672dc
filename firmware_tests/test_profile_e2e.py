"""End to end: the acquirer profile (docs/iso8583.md §12) and the cashier's mistakes, the
terminal's engine on MicroPython (ROMFS image, 110 KB heap) against the host simulator over
TCP, as test_txn_e2e.py runs them.

- each profile value other than the default, set on both sides (the terminal's job file,
  the simulator's terminal profile): sign-on, sale with PIN, settlement, all approved;
- the same value on one side only: a clear refusal (a named error or the host's response
  code), never a crash, and the terminal still works afterwards;
- the settlement flags of a host that puts 0 where there is nothing; the batch end; an empty
  batch asked about, refused or sent; a mistyped card number; a PIN card without its PIN; a
  flash image whose keys do not open with the storage key given; the LRI header over the
  emulated dial-up modem.
"""

from __future__ import annotations

import shutil
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
    host_totals,
    sale,
    secret_file,
    txn_cli_run,
)

from hostlib.hostsim import HostSimulator

DIALUP_JOB = JOB.parent / "hostsim-dialup-job.toml"
LAYOUT_61 = "PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4"  # spec §7.3's acquirer, 60.3 = 003

# name -> (lines added to the job's [[application]], the simulator's profile for it)
PROFILES = {
    "signon_layout": (
        'signon_mode = "003"\nsignon_layout = "%s"' % LAYOUT_61,
        {"signon_layout": LAYOUT_61},
    ),
    "field60_length": (
        'field60_length = 14\nfield60_capability = "600"',
        {"field60_length": 14},
    ),
    "pin_capture_code": ('pin_capture_code = "06"', {"field26": "06"}),
    "mac_x9.19": ('signon_mode = "003"\nmac_method = "x9.19"', {"mac_method": "x9.19"}),
    "mac_x9.19-hex": (
        'signon_mode = "003"\nmac_method = "x9.19-hex"',
        {"mac_method": "x9.19-hex"},
    ),
    "lri": ("", {"lri": True}),  # a dial-up terminal with dialup.lri = true
}


def job_text(app_lines: str = "", dialup_lri: bool = False) -> str:
    text = (DIALUP_JOB if dialup_lri else JOB).read_text()
    if dialup_lri:
        text = text.replace('tpdu = "6000030000"\n', 'tpdu = "6000030000"\nlri = true\n', 1)
    for line in app_lines.splitlines():
        name = line.split(" = ")[0]
        if name + " = " in text.split("[[application]]")[1]:
            start = text.index(name + " = ", text.index("[[application]]"))
            end = text.index("\n", start)
            text = text[:start] + line + text[end:]
        else:
            text = text.rstrip("\n") + "\n" + line + "\n"
    return text


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """Terminals set up once per profile in this module: (app lines, dial-up LRI) -> state."""
    return {"folder": tmp_path_factory.mktemp("profiles")}


@pytest.fixture
def terminal_state(made, tmp_path):
    def make(app_lines: str = "", dialup_lri: bool = False) -> Path:
        """A copy of a state folder set up with `poskit txn init` from the hostsim job plus
        `app_lines` (set up once per profile)."""
        key = (app_lines, dialup_lri)
        if key not in made:
            folder = made["folder"] / ("term%d" % len(made))
            folder.mkdir()
            job = folder / "job.toml"
            job.write_text(job_text(app_lines, dialup_lri))
            state = folder / "term"
            out = txn_cli_run(
                "--state", str(state), "init", "--params", str(job), "--tmk-fd", "0",
                stdin=TMK + "\n",
            )  # fmt: skip
            assert out.returncode == 0, out.stderr
            made[key] = state
        copy = tmp_path / "term"
        shutil.copytree(made[key], copy)
        return copy

    return make


@pytest.fixture
def host():
    with HostSimulator() as sim:
        yield sim


def run_terminal(state: Path, host: HostSimulator) -> Terminal:
    return Terminal(state, host.address[1])


def cli_sale(where: list, amount: str, *, track=TRACK, pan=None, pin=PIN):
    """`poskit txn ... sale` as an installer runs it: the card from a file beside the state
    folder (a track, or a keyed number with its expiry), the PIN on standard input."""
    folder = Path(where[1]).parent
    if pan is None:
        card = ["--card-file", str(secret_file(folder / "card.txt", track))]
    else:
        card = ["--pan-file", str(secret_file(folder / "pan.txt", pan)), "--expiry", "2806"]
    pin_args = ["--pin-fd", "0"] if pin is not None else []
    stdin = pin + "\n" if pin is not None else None
    return txn_cli_run(*where, "sale", "--amount", amount, *card, *pin_args, stdin=stdin)


# --- each profile value on both sides -------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in PROFILES if n != "lri"])
def test_profile_on_both_sides(terminal_state, host, name):
    app_lines, profile = PROFILES[name]
    host.set_profile(TID, **profile)
    term = run_terminal(terminal_state(app_lines), host)
    try:
        signon = approved(term("sign_on"))
        if name == "signon_layout":
            assert len(host.working_keys(TID)["mak"]) == 32  # the 61-byte block's MAK
            assert signon["notes"][0].startswith("keys PIK ") and " TDK " in signon["notes"][0]
        first = approved(sale(term, 1234))
        approved(term("sale_void", trace=first["stan"], supervisor="123456"))
        approved(sale(term, 500))
        result = approved(term("settlement"))
        assert result["settlement"]["balanced"]
        assert result["settlement"]["terminal"] == host_totals(host, 1) == [500, 1, 0, 0]
    finally:
        term.close()


def test_lri_on_both_sides_over_the_dial_up_modem(terminal_state, host):
    # The terminal's own modem driver dials the emulated modem `poskit txn` starts, which
    # puts the call through to the simulator; every frame carries the LRI header.
    host.set_profile(TID, lri=True)
    state = terminal_state(dialup_lri=True)
    where = ["--state", str(state), "--host", "127.0.0.1:%d" % host.address[1]]
    out = txn_cli_run(*where, "sign-on")
    assert out.returncode == 0, out.stdout + out.stderr
    out = cli_sale(where, "0.01")
    assert out.returncode == 0 and "sale APPROVED 00" in out.stdout, out.stdout + out.stderr
    assert host.transactions(tid=TID)[-1]["status"] == "approved"


# --- the same value on one side only --------------------------------------------------------

# name -> (the simulator's other value, what the terminal reports: error, response code,
# words of the detail or message)
MISMATCH = {
    "signon_layout": ({}, "key_check", "00", "field 62 must be 61 bytes for key mode 003, got 40"),
    "field60_length": ({"field60_length": 8}, None, "30", "Format error"),
    "pin_capture_code": ({"field26": "12"}, None, "30", "Format error"),
    "mac_x9.19": ({}, None, "A0", "MAC check failed at the host"),
    "mac_x9.19-hex": ({}, None, "A0", "MAC check failed at the host"),
    "lri": ({"lri": False}, None, "30", "Format error"),
}


@pytest.mark.parametrize("name", list(MISMATCH))
def test_profile_on_one_side_only_is_a_clear_refusal(terminal_state, host, name):
    app_lines = PROFILES[name][0]
    other, error, code, words = MISMATCH[name]
    host.set_profile(TID, **other)
    state = terminal_state(dialup_lri=True) if name == "lri" else terminal_state(app_lines)
    term = run_terminal(state, host)
    try:
        result = term("sign_on")
        if name not in ("signon_layout", "lri"):
            assert result["approved"], result
            result = sale(term, 100)
        assert not result["approved"] and result["error"] == error, result
        assert result["response_code"] == code, result
        assert words in result["detail"] + result["message_en"], result
        assert result["pending_reversal"] is None  # a decline or nothing approved: no reversal
        assert term("echo")["kind"] == "echo"  # the terminal carries on
    finally:
        term.close()


# --- settlement -----------------------------------------------------------------------------


def test_a_host_that_puts_0_where_there_is_nothing_settles_balanced(terminal_state, host):
    # The acquirer host that answered an all-domestic batch with 0 in the foreign flag: the
    # terminal said 对账不平 and uploaded the whole batch at every settlement.
    host.set_profile(TID, settle_empty_flag="0")
    term = run_terminal(terminal_state(), host)
    try:
        approved(term("sign_on"))
        approved(sale(term, 700))
        result = approved(term("settlement"))
        settlement = result["settlement"]
        assert settlement["balanced"] and settlement["flags"] == "10", settlement
        assert settlement["uploaded"] == 0 and host.uploads(TID, 1) == []
        assert result["message_zh"] == "结算完成,对账平"
        assert "FOREIGN 外卡 (0): BALANCED" in result["slip"]
        assert "DOMESTIC 内卡 (1): BALANCED" in result["slip"]
        assert host.settlements(TID)[-1]["result"] == "balanced"
        # An empty batch: 0 in both sections, still balanced once the cashier agrees.
        asked = term("settlement")
        assert asked["error"] == "confirm_empty" and asked["stan"] is None
        result = approved(term("settlement", confirmed=True))
        assert result["settlement"]["flags"] == "00" and result["settlement"]["balanced"]
    finally:
        term.close()


def test_flag_3_and_the_batch_end_only_after_an_upload(terminal_state, host):
    term = run_terminal(terminal_state('batch_end = "unbalanced"'), host)
    try:
        approved(term("sign_on"))
        approved(sale(term, 800))
        result = approved(term("settlement"))
        assert result["settlement"]["balanced"]
        assert host.settlements(TID)[-1]["upload_total"] is None  # no 0320/202 sent
        approved(sale(term, 900))
        host.set_fault("settle_error", tid=TID)
        result = approved(term("settlement"))
        assert result["settlement"]["domestic"] == "error" and result["settlement"]["uploaded"]
        assert result["message_en"] == "Settled, host reports a totals error: details uploaded"
        assert "DOMESTIC 内卡 (3): ERROR" in result["slip"] and "对账出错" in result["slip"]
        assert host.settlements(TID)[-1]["upload_total"] == 1
    finally:
        term.close()


def test_empty_batch_from_the_command_line(terminal_state, host):
    state = terminal_state()
    where = ["--state", str(state), "--host", "127.0.0.1:%d" % host.address[1]]
    assert txn_cli_run(*where, "sign-on").returncode == 0
    out = txn_cli_run(*where, "settle")  # standard input is a pipe: nobody to ask
    assert out.returncode == 1
    assert out.stdout.startswith("settlement NOT SENT (confirm_empty)\n")
    assert "No transactions in this batch: settle with zero totals?" in out.stdout
    assert "not settled: nobody to ask; `settle --empty` settles it anyway" in out.stderr
    assert host.settlements(TID) == []
    out = txn_cli_run(*where, "settle", "--empty")
    assert out.returncode == 0 and "settlement APPROVED 00" in out.stdout, out.stderr
    assert "DEBIT 借记: 0 RMB 0.00" in out.stdout
    assert len(host.settlements(TID)) == 1


def test_empty_batch_refused_by_the_parameters(terminal_state, host):
    state = terminal_state('empty_batch = "refuse"')
    where = ["--state", str(state), "--host", "127.0.0.1:%d" % host.address[1]]
    assert txn_cli_run(*where, "sign-on").returncode == 0
    out = txn_cli_run(*where, "settle", "--empty")
    assert out.returncode == 1 and "settlement NOT SENT (empty_batch)" in out.stdout
    assert "nothing to settle" in out.stdout and host.settlements(TID) == []


# --- the cashier's mistakes, the storage key ---------------------------------------------------


def test_cashier_mistakes_from_the_command_line(terminal_state, host):
    state = terminal_state()
    where = ["--state", str(state), "--host", "127.0.0.1:%d" % host.address[1]]
    assert txn_cli_run(*where, "sign-on").returncode == 0
    # A keyed card number with its last digit wrong: nothing leaves, no STAN is used.
    out = cli_sale(where, "1.00", pan="6224242900000114")
    assert out.returncode == 1 and out.stdout.startswith("sale FAILED (card_number)\n")
    assert (
        "Card number is wrong (check digit): key it in again / 卡号有误,请重新输入" in out.stdout
    )
    assert host.transactions(tid=TID) == []
    # The same number keyed right goes.
    out = cli_sale(where, "1.00", pan="6224242900000113")
    assert out.returncode == 0 and "stan 000002" in out.stdout, out.stdout
    # A card that needs a PIN, none entered: the host's 55 is "PIN required".
    out = cli_sale(where, "1.00", pin=None)
    assert out.returncode == 1 and "sale DECLINED 55" in out.stdout
    assert "PIN required: enter the cardholder's PIN and try again" in out.stdout
    assert "Wrong PIN" not in out.stdout


def test_another_storage_key_is_reported_before_anything_is_sent(terminal_state, host):
    state = terminal_state()
    where = ["--state", str(state), "--host", "127.0.0.1:%d" % host.address[1]]
    assert txn_cli_run(*where, "sign-on").returncode == 0
    (state / "storage.key").write_bytes(bytes(range(16)))  # another terminal's, say
    booked = len(host.transactions(tid=TID))
    for run in (
        lambda: cli_sale(where, "0.01"),
        lambda: txn_cli_run(*where, "settle", "--empty"),
        lambda: txn_cli_run(*where, "sign-on"),
    ):
        out = run()
        assert out.returncode == 1, out.stdout + out.stderr
        assert "FAILED (storage_key)" in out.stdout, out.stdout + out.stderr
        assert "Keys sealed under another storage key: nothing sent" in out.stdout
        assert "reversal" not in out.stdout and "pending" not in out.stdout
        assert "does not verify" in out.stdout  # the detail names the key
    assert len(host.transactions(tid=TID)) == booked and host.settlements(TID) == []


def test_advice_repeat_0221_with_the_host_simulator(terminal_state, host):
    # A completion notice booked by the host, its answer lost: sent again as 0221 before the
    # settlement, answered 0230 as the first time, booked once; the batch balances.
    term = run_terminal(terminal_state('advice_repeat = "0221"'), host)
    try:
        approved(term("sign_on"))
        pre = approved(term("preauth", amount=5000, track2=TRACK, pin=PIN))
        host.set_fault("no_answer", tid=TID, txn="completion_notice")
        lost = term("completion_notice", auth=pre["auth_code"], amount=5000)
        assert lost["error"] == "timeout"
        assert lost["pending_advice"] == [lost["stan"], "completion_notice"]
        result = approved(term("settlement"))
        assert any("sent again: approved" in note for note in result["notes"]), result["notes"]
        assert result["settlement"]["balanced"]
        assert result["settlement"]["terminal"] == host_totals(host, 1) == [5000, 1, 0, 0]
        booked = [t for t in host.transactions(tid=TID, batch=1) if t["stan"] == lost["stan"]]
        assert [t["mti"] for t in booked] == ["0220"]
    finally:
        term.close()
