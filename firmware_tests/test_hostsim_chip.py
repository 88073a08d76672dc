"""The host simulator with chip cards: field 55 made by driving an emulated PBOC card the way
a kernel does (firmware_tests/cardkernel.py), sent over TCP by test_hostsim's test terminal
(pyiso8583, not the simulator's codec), and the host's 91 fed back to the card at the second
GENERATE AC -- so "the host's answer works" means the card itself accepts it.

Covers: online sale with ARQC (good, bad, malformed 55, another card's 55), 91 the card takes,
a decline that still reaches the card, reversal of a sale the card declined, the script
result notice, the IC offline purchase upload (good, duplicate, bad TC), the IC detail upload
at settlement and the settlement totals with offline sales, and the chip faults.
"""

from __future__ import annotations

import logging

import pytest
from cardkernel import PPSE, TERMINAL, Kernel, decode, sw
from test_hostsim import MID, NOW, SPEC, TID, Terminal, _b, hostsim_cli_run

from hostlib.card import load_card
from hostlib.hostsim import FaultError, HostSimError, HostSimulator, faults

CHIP_SPEC = {**SPEC, "55": _b(255, 2)}
AMOUNT = 1234  # cardkernel.TERMINAL's 9F02: 12.34
DEBIT, CREDIT, DUAL, DECLINES = "pboc-debit", "pboc-credit", "pboc-dual", "card-declines"
# The objects a PBOC terminal sends in 55 of an online request (spec §2, the S4 dump's list).
ONLINE_TAGS = (
    "9F26 9F27 9F10 9F37 9F36 95 9A 9C 9F02 5F2A 82 9F1A 9F03 9F33 9F34 9F35 9F1E 84 9F09"
).split()
REVERSAL_TAGS = ("95", "9F1E", "9F10", "9F36", "DF31")  # spec §3.5


def tlv(pairs) -> bytes:
    out = b""
    for tag, value in pairs:
        out += bytes.fromhex(tag) + bytes([len(value)]) + value
    return out


class ChipTerminal(Terminal):
    """test_hostsim's terminal with field 55 in its codec."""

    spec = CHIP_SPEC


class Chip:
    """One card in the reader and what the kernel learnt of it."""

    def __init__(self, name, amount=AMOUNT, **terminal):
        self.card = load_card(name)
        self.amount = amount
        values = dict(TERMINAL, **terminal)
        values["9F02"] = bytes.fromhex("%012d" % amount)
        values.update({"9F33": bytes.fromhex("E0E1C8"), "9F34": bytes.fromhex("420300")})
        values.update({"9F35": b"\x22", "9F1E": b"12345678", "9F09": b"\x00\x20"})
        self.kernel = Kernel(self.card, values)
        aid = bytes.fromhex("A000000333010102" if name == CREDIT else "A000000333010101")
        self.kernel.start(aid)
        self.values = values
        self.first: dict = {}
        self.second: dict = {}

    @property
    def pan(self):
        return self.kernel.pan

    def first_ac(self, p1=0x80) -> dict:
        self.first = self.kernel.generate_ac(p1)
        return self.first

    def field55(self, answer=None, extra=None) -> str:
        """Field 55 of a request: the card's answer and the terminal data it covers."""
        values = {**self.values, **self.kernel.tags, **(answer or self.first), **(extra or {})}
        values["84"] = self.kernel.tags.get("84", bytes.fromhex("A000000333010101"))
        return tlv((tag, values[tag]) for tag in ONLINE_TAGS if tag in values).hex().upper()

    def second_ac(self, resp) -> dict:
        """Second GENERATE AC with the host's answer (CDOL2: 8A, 91, 95, 9F37); scripts in
        72 run after it, as a kernel runs them."""
        icc = decode(bytes.fromhex(resp["55"])) if "55" in resp else {}
        extra = {"8A": resp["39"].encode(), "91": icc.get("91", bytes(10))}
        for template in ("71",):
            self.run_scripts(icc.get(template))
        self.second = self.kernel.generate_ac(0x40, "8D", extra)
        self.script_sw = self.run_scripts(icc.get("72"))
        return self.second

    def run_scripts(self, template):
        if not template:
            return []
        return [sw(self.kernel.send(template["86"]))]

    def upload55(self) -> str:
        """55 of the detail upload after the second GENERATE AC: its cryptogram and the
        CDOL2 data it covers (95, 9F37 as sent with it)."""
        return self.field55(self.second)


@pytest.fixture
def host():
    sim = HostSimulator(clock=lambda: NOW, idle_timeout=10).start()
    try:
        yield sim
    finally:
        sim.close()


@pytest.fixture
def term(host):
    t = ChipTerminal(host.address)
    assert t.sign_on()["39"] == "00"
    yield t
    t.close()


def chip_request(term, chip, f55, *, pc="000000", t601="22", mti="0200", pin="123456", **kw):
    """A chip request: PAN in 2, expiry 14, PSN 23, 57 as track 2, 22 = 051 (with PIN)."""
    track = chip.kernel.tags["57"].hex().upper().rstrip("F")
    cond = "06" if t601 == "10" else "00"
    f = term.financial(mti, pc, cond, t601, kw.pop("amount", chip.amount), track, pin, **kw)
    f.update({"2": chip.pan, "14": chip.kernel.tags["5F24"].hex()[:4], "23": "001"})
    f["22"] = "051" if pin else "052"
    f["55"] = f55
    return f


def chip_sale(term, chip, f55=None, **kw):
    if f55 is None:
        chip.first_ac()
        f55 = chip.field55()
    pin = "123456" if chip.pan != "6224242900001020" else None  # the credit card: no PIN
    f = chip_request(term, chip, f55, pin=kw.pop("pin", pin), **kw)
    return f, term.request(f, mac=True)


def balance(host, pan):
    return host.card(pan)["balance"]


# -- the seeded accounts --------------------------------------------------------------------


def test_every_builtin_chip_card_is_an_account(host):
    pans = {c["pan"] for c in host.store.cards()}
    from hostlib.card import profiles

    assert {a["pan"] for a in profiles.host_accounts()} <= pans
    assert host.card("6224242900001012")["pin"] == "123456"  # debit: online PIN
    assert host.card("6224242900001020")["pin"] is None  # credit: signature


# -- online authorisation -------------------------------------------------------------------


def test_good_arqc_approved_with_a_91_the_card_accepts(host, term):
    chip = Chip(DEBIT)
    before = balance(host, chip.pan)
    _, resp = chip_sale(term, chip)
    assert resp["39"] == "00" and term.mac_ok(resp)
    icc = decode(bytes.fromhex(resp["55"]))
    assert set(icc) == {"91"} and icc["91"][8:] == b"00"
    assert chip.second_ac(resp)["9F27"] == b"\x40"  # TC: the card took the ARPC
    assert balance(host, chip.pan) == before - AMOUNT
    (row,) = [t for t in host.transactions(TID) if t["type"] == "sale"]
    assert row["icc_data"] == chip.field55() and row["icc_response"] == resp["55"]
    assert row["psn"] == "01"


def test_pre_auth_and_balance_inquiry_by_chip(host, term):
    # The cryptogram covers the transaction type (9C): 03 a pre-authorisation, 31 an inquiry.
    sale_typed = Chip(DEBIT)
    sale_typed.first_ac()
    f = chip_request(term, sale_typed, sale_typed.field55(), mti="0100", pc="030000", t601="10")
    assert term.request(f, mac=True)["39"] == "30"
    chip = Chip(DEBIT, **{"9C": b"\x03"})
    chip.first_ac()
    resp = term.request(
        chip_request(term, chip, chip.field55(), mti="0100", pc="030000", t601="10"), mac=True
    )
    assert resp["39"] == "00" and "91" in decode(bytes.fromhex(resp["55"]))
    assert chip.second_ac(resp)["9F27"] == b"\x40"
    inquiry = Chip(DEBIT, amount=0, **{"9C": b"\x31"})
    inquiry.first_ac()
    f = chip_request(term, inquiry, inquiry.field55(), pc="310000", t601="01")
    del f["4"]
    resp = term.request(f, mac=True)
    assert resp["39"] == "00" and resp["54"].startswith("1002156C")
    assert inquiry.second_ac(resp)["9F27"] == b"\x40"


def test_bad_arqc_declined_without_91(host, term):
    chip = Chip(DEBIT)
    first = dict(chip.first_ac())
    first["9F26"] = bytes([first["9F26"][0] ^ 0x01]) + first["9F26"][1:]
    before = balance(host, chip.pan)
    _, resp = chip_sale(term, chip, chip.field55(first))
    assert resp["39"] == "05" and "55" not in resp
    assert balance(host, chip.pan) == before
    (row,) = [t for t in host.transactions(TID) if t["type"] == "sale"]
    assert row["status"] == "declined" and row["response_code"] == "05"
    # Without a 91 the card declines at the second GENERATE AC.
    assert chip.second_ac(resp)["9F27"] == b"\x00"


def test_cryptogram_fail_code_is_the_profiles(host, term):
    host.set_profile(TID, cryptogram_fail_code="A7")
    chip = Chip(DEBIT)
    chip.first_ac()
    _, resp = chip_sale(term, chip, chip.field55(extra={"9F37": b"\0\0\0\1"}))
    assert resp["39"] == "A7"  # the unpredictable number is covered by the ARQC


@pytest.mark.parametrize(
    "f55,code",
    [
        ("9F2608AABBCC", "30"),  # a length running past the data
        ("9F", "30"),  # a tag cut short
        ("", "30"),  # nothing in it
        ("9F2701809F360200015A0862242429000010129F", "30"),  # TLV, but no 9F26/82/9F10
        ("5A0862242429000010209F2701809F3602000182025C00", "14"),  # another card's 5A
    ],
)
def test_field55_that_cannot_be_checked(host, term, f55, code):
    chip = Chip(DEBIT)
    chip.first_ac()
    before = balance(host, chip.pan)
    if f55 == "":
        f = chip_request(term, chip, "00")
        f["55"] = ""
    else:
        f = chip_request(term, chip, f55)
    resp = term.request(f, mac=True)
    assert resp["t"] == "0210" and resp["39"] == code and "55" not in resp
    assert balance(host, chip.pan) == before


def test_ic_entry_without_field55_and_amount_not_the_cards(host, term):
    chip = Chip(DEBIT)
    chip.first_ac()
    f = chip_request(term, chip, chip.field55())
    del f["55"]
    assert term.request(f, mac=True)["39"] == "30"
    # Field 4 other than the 9F02 the card signed.
    f = chip_request(term, chip, chip.field55(), amount=AMOUNT + 1)
    assert term.request(f, mac=True)["39"] == "30"


def test_a_decline_reaches_the_card_as_one(host, term):
    """51 after a good ARQC: 91 carries ARC 51, the card answers AAC."""
    host.set_card("6224242900001012", balance=100)
    chip = Chip(DEBIT)
    _, resp = chip_sale(term, chip)
    assert resp["39"] == "51"
    assert decode(bytes.fromhex(resp["55"]))["91"][8:] == b"51"
    assert chip.second_ac(resp)["9F27"] == b"\x00"


# -- reversal and script notice -------------------------------------------------------------


def test_reversal_of_a_chip_sale_the_card_declined(host, term):
    chip = Chip(DECLINES)
    before = balance(host, chip.pan)
    f, resp = chip_sale(term, chip)
    assert resp["39"] == "00"
    assert chip.second_ac(resp)["9F27"] == b"\x00"  # this card declines whatever the host said
    values = {**chip.values, **chip.second}
    values["DF31"] = bytes(5)
    f = {k: v for k, v in f.items() if k not in ("35", "52", "53", "26", "37", "64")}
    f["55"] = tlv((t, values[t]) for t in REVERSAL_TAGS).hex().upper()
    f["t"], f["39"] = "0400", "06"
    rev = term.request(f, mac=True)
    assert rev["t"] == "0410" and rev["39"] == "00" and term.mac_ok(rev)
    assert balance(host, chip.pan) == before
    sale, reversal = [t for t in host.transactions(TID) if t["type"] in ("sale", "reversal")]
    assert sale["status"] == "reversed"
    assert reversal["reason"] == "06" and reversal["icc_data"] == f["55"]


def test_reversal_with_malformed_55_is_a_format_error(host, term):
    chip = Chip(DEBIT)
    f, resp = chip_sale(term, chip)
    f = {k: v for k, v in f.items() if k not in ("35", "52", "53", "26", "64")}
    f.update({"t": "0400", "39": "06", "55": "9F1008AA"})
    assert term.request(f, mac=True)["39"] == "30"
    assert [t["status"] for t in host.transactions(TID) if t["type"] == "sale"] == ["approved"]


def script_notice(term, sale_fields, results: bytes, code="951"):
    f = {
        "t": "0620",
        "2": sale_fields["2"],
        "3": sale_fields["3"],
        "4": sale_fields["4"],
        "11": term.next_stan(),
        "22": sale_fields["22"],
        "23": "001",
        "25": "00",
        "41": TID,
        "42": MID,
        "49": "156",
        "55": tlv([("DF31", results)]).hex().upper(),
        "60": "00%06d%s" % (term.batch, code),
        "61": sale_fields["60"][2:8] + sale_fields["11"] + NOW.strftime("%m%d"),
    }
    return term.request(f, mac=True)


def test_issuer_script_fault_and_its_result_notice(host, term):
    host.set_fault("issuer_script", script="72:block")
    chip = Chip(DEBIT)
    f, resp = chip_sale(term, chip)
    assert resp["39"] == "00"
    icc = decode(bytes.fromhex(resp["55"]))
    assert "91" in icc and "72" in icc
    assert chip.second_ac(resp)["9F27"] == b"\x40"
    assert chip.script_sw == ["9000"]
    assert sw(chip.kernel.select(bytes.fromhex("A000000333010101"))) == "6283"  # blocked
    notice = script_notice(term, f, bytes.fromhex("2000000001"))
    assert notice["t"] == "0630" and notice["39"] == "00" and term.mac_ok(notice)
    sale = next(t for t in host.transactions(TID) if t["type"] == "sale")
    assert sale["script_result"] == "2000000001"
    assert [t["orig_id"] for t in host.transactions(TID) if t["type"] == "script_notice"] == [
        sale["id"]
    ]


def test_script_notice_refusals(host, term):
    chip = Chip(DEBIT)
    f, _ = chip_sale(term, chip)
    assert script_notice(term, f, bytes.fromhex("2000000001"), code="000")["39"] == "40"
    notice = dict(f, t="0620")
    notice["55"] = tlv([("9F36", b"\0\1")]).hex()  # no results in it
    notice["60"] = "00%06d951" % term.batch
    notice["61"] = f["60"][2:8] + f["11"]
    for key in ("35", "52", "53", "26"):
        notice.pop(key)
    assert term.request(notice, mac=True)["39"] == "30"
    # An unknown original is still acknowledged: the terminal must stop sending it.
    unknown = dict(f, **{"11": "999999"})
    assert script_notice(term, unknown, bytes.fromhex("1000000001"))["39"] == "00"


def test_ecash_load_script_changes_the_cards_balance(host, term):
    host.set_fault("issuer_script", script="ecash:250.00")
    chip = Chip(DUAL)
    _, resp = chip_sale(term, chip)
    assert chip.second_ac(resp)["9F27"] == b"\x40" and chip.script_sw == ["9000"]
    balance_9f79 = chip.kernel.send("80CA9F7900")
    assert balance_9f79[:-2].hex().upper().endswith("000000025000")


# -- faults ---------------------------------------------------------------------------------


def test_bad_arpc_fault_makes_the_card_decline(host, term):
    host.set_fault("bad_arpc")
    chip = Chip(DEBIT)
    _, resp = chip_sale(term, chip)
    assert resp["39"] == "00" and term.mac_ok(resp)
    assert chip.second_ac(resp)["9F27"] == b"\x00"  # issuer authentication failed: AAC
    assert chip.second["9F10"][4] & 0x08  # CVR: issuer authentication failed


def test_no_arpc_fault_answers_without_91(host, term):
    host.set_fault("no_arpc")
    chip = Chip(DEBIT)
    _, resp = chip_sale(term, chip)
    assert resp["39"] == "00" and "55" not in resp


def test_chip_decline_fault_after_a_good_arqc(host, term):
    host.set_fault("chip_decline", code="51")
    chip = Chip(DEBIT)
    before = balance(host, chip.pan)
    _, resp = chip_sale(term, chip)
    assert resp["39"] == "51" and decode(bytes.fromhex(resp["55"]))["91"][8:] == b"51"
    assert chip.second_ac(resp)["9F27"] == b"\x00"
    assert balance(host, chip.pan) == before


def test_chip_faults_are_not_spent_on_a_magstripe_sale(host, term):
    host.set_fault("bad_arpc")
    assert term.sale(100)["39"] == "00"
    assert [f["kind"] for f in host.faults()] == ["bad_arpc"]


def test_bad_script_fault_refused(host):
    with pytest.raises(FaultError, match="issuer script"):
        host.set_fault("issuer_script", script="format_disk")
    with pytest.raises(FaultError, match="script= is for issuer_script"):
        host.set_fault("bad_arpc", script="block")


def test_log_shows_chip_answers_masked(host, term, caplog):
    caplog.set_level(logging.INFO, logger="poskit.hostsim")
    host.set_fault("issuer_script", script="block")
    chip = Chip(DEBIT)
    chip.first_ac()
    f55 = chip.field55()
    chip_sale(term, chip, f55)
    text = caplog.text
    assert "icc ARQC atc 0001 verified, 91, script 72:block -> 00" in text
    assert "622424******1012" in text and chip.pan not in text
    track = chip.kernel.tags["57"].hex().upper()
    assert track[:16] not in text and f55 not in text
    assert host.working_keys(TID)["mak"] not in text


# -- offline upload and settlement ----------------------------------------------------------


def offline_upload(term, chip, f55=None, stan=None):
    if f55 is None:
        f55 = chip.field55()
    f = chip_request(term, chip, f55, t601="36", pin=None, stan=stan)
    return f, term.request(f, mac=True)


def test_offline_upload_good_duplicate_and_bad_tc(host, term):
    chip = Chip(CREDIT)
    assert chip.first_ac(0x40)["9F27"] == b"\x40"  # TC: approved offline
    before = balance(host, chip.pan)
    f, resp = offline_upload(term, chip)
    assert resp["39"] == "00" and term.mac_ok(resp) and len(resp["37"]) == 12
    assert balance(host, chip.pan) == before - AMOUNT
    # The same upload again (its answer was lost): answered as the first, booked once.
    again = term.request(f, mac=True)
    assert again["39"] == "00" and again["37"] == resp["37"]
    # The same card transaction under another STAN: refused.
    _, dup = offline_upload(term, chip)
    assert dup["39"] == "94"
    assert balance(host, chip.pan) == before - AMOUNT
    # Another offline TC with a wrong byte: refused with the cryptogram code.
    other = Chip(CREDIT)
    first = dict(other.kernel.generate_ac(0x40))
    first["9F26"] = bytes(8)
    other.first = first
    _, bad = offline_upload(term, other)
    assert bad["39"] == "05"
    # An ARQC is not an offline approval.
    arqc = Chip(DEBIT)
    arqc.first_ac()
    _, resp = offline_upload(term, arqc)
    assert resp["39"] == "30"
    assert [t["status"] for t in host.transactions(TID) if t["type"] == "ic_offline_sale"] == [
        "approved",
        "declined",
        "declined",
        "declined",
    ]


def test_settlement_totals_count_offline_sales_and_ic_detail_upload(host, term):
    online = Chip(DEBIT)
    sale_fields, resp = chip_sale(term, online)
    assert resp["39"] == "00" and online.second_ac(resp)["9F27"] == b"\x40"
    offline = Chip(CREDIT, amount=500)
    offline.first_ac(0x40)
    assert offline_upload(term, offline)[1]["39"] == "00"
    assert host.totals(TID)["debit_amount"] == AMOUNT + 500
    # The terminal that forgot its offline sale is unbalanced, and uploads the IC details.
    resp = term.settle(AMOUNT, 1)
    assert resp["48"][30] == "2" and resp["48"][:15] == "%012d002" % (AMOUNT + 500)
    f = {
        "t": "0320",
        "2": online.pan,
        "4": "%012d" % AMOUNT,
        "11": term.next_stan(),
        "22": "051",
        "23": "001",
        "41": TID,
        "42": MID,
        "55": online.upload55(),
        "60": "00%06d205" % term.batch,
    }
    assert term.request(f)["39"] == "00"
    bad = dict(f, **{"11": term.next_stan(), "55": online.field55(online.first)})
    bad["55"] = bad["55"].replace(online.first["9F26"].hex().upper(), "00" * 8)
    assert term.request(bad)["39"] == "00"
    assert term.request(dict(f, **{"55": "9F"}))["39"] == "30"
    good, wrong = host.uploads(TID, 1)
    assert (good["matched"], good["cryptogram_ok"], good["stan"]) == (
        1,
        1,
        int(sale_fields["11"]),
    )
    assert (wrong["matched"], wrong["cryptogram_ok"]) == (0, 0)


def test_settlement_balanced_with_offline_sales(host, term):
    offline = Chip(CREDIT, amount=500)
    offline.first_ac(0x40)
    assert offline_upload(term, offline)[1]["39"] == "00"
    online = Chip(DEBIT)
    assert chip_sale(term, online)[1]["39"] == "00"
    resp = term.settle(AMOUNT + 500, 2)
    assert resp["48"][30] == "1"
    assert host.settlements(TID)[0]["result"] == "balanced"


def test_contactless_tap_online(host, term):
    """qPBOC: the ARQC comes from the GPO (PDOL data), there is no second GENERATE AC."""
    values = dict(TERMINAL, **{"9F02": bytes.fromhex("000000020000")})  # 200.00: above e-cash
    kernel = Kernel(load_card(DUAL), values)
    kernel.select(PPSE)
    kernel.select_app()
    kernel.processing_options()
    kernel.read_application_data()
    assert kernel.tags["9F27"] == b"\x80"
    tags = {**values, **kernel.tags}
    f55 = tlv((t, tags[t]) for t in ONLINE_TAGS if t in tags).hex().upper()
    tags["9F37"] = b"\xff\xff\xff\xff"  # another unpredictable number than the card's
    wrong = tlv((t, tags[t]) for t in ONLINE_TAGS if t in tags).hex().upper()
    track = kernel.tags["57"].hex().upper().rstrip("F")
    f = term.financial("0200", "000000", "00", "22", 20000, track, "123456")
    f.update({"2": kernel.pan, "22": "071", "23": "001", "55": f55})
    resp = term.request(f, mac=True)
    assert resp["39"] == "00" and "91" in decode(bytes.fromhex(resp["55"]))
    f = dict(f, **{"11": term.next_stan(), "55": wrong})
    assert term.request(f, mac=True)["39"] == "05"


def test_fault_script_from_the_command_line_and_profile_code_checked(host):
    spec = faults.parse_spec("issuer_script:script=71:ecash:10.00,count=2")
    assert spec == {"kind": "issuer_script", "script": "71:ecash:10.00", "count": 2}
    host.set_fault(**spec)
    assert host.faults()[0]["script"] == "71:ecash:10.00"
    with pytest.raises(HostSimError, match="cryptogram_fail_code"):
        host.set_profile(TID, cryptogram_fail_code="5")


def test_cli_chip_profile_and_script_fault(tmp_path):
    db = tmp_path / "host.db"
    assert hostsim_cli_run("--db", str(db), "--create", "--seed").returncode == 0
    out = hostsim_cli_run(
        "--db", str(db), "set-terminal", "--tid", TID, "--cryptogram-fail-code", "A7"
    )
    assert out.returncode == 0 and "profile: cryptogram_fail_code=A7" in out.stdout
    out = hostsim_cli_run("--db", str(db), "--fault", "issuer_script:script=71:ecash:5.00")
    assert out.returncode == 0 and out.stdout == "fault #1 issuer_script on\n"
    out = hostsim_cli_run("--db", str(db), "--fault", "issuer_script:script=erase")
    assert out.returncode == 1 and "issuer script 'erase'" in out.stderr
    shown = hostsim_cli_run("--db", str(db), "--show")
    assert "fault #1 issuer_script tid=* mti=* txn=* script=71:ecash:5.00 left=1" in shown.stdout
    assert "card 622424******1012 exp 3012 active" in shown.stdout


def test_contactless_ecash_tap_uploaded(host, term):
    """A tap paid from the e-cash balance (TC in the GPO answer) is uploaded as 60.1 = 36."""
    kernel = Kernel(load_card(DUAL), dict(TERMINAL))  # 12.34: within the e-cash balance
    kernel.select(PPSE)
    kernel.select_app()
    kernel.processing_options()
    kernel.read_application_data()
    assert kernel.tags["9F27"] == b"\x40"
    tags = {**kernel.terminal, **kernel.tags}
    f = term.financial("0200", "000000", "00", "36", AMOUNT, None, None)
    f55 = tlv((t, tags[t]) for t in ONLINE_TAGS if t in tags).hex().upper()
    f.update({"2": kernel.pan, "22": "072", "23": "001", "55": f55})
    resp = term.request(f, mac=True)
    assert resp["39"] == "00" and "55" not in resp
    assert host.totals(TID)["debit_amount"] == AMOUNT


def test_an_ic_detail_or_a_script_notice_sent_again_is_kept_once(host, term):
    # A terminal whose power was cut between the host's answer and its own progress record
    # sends the same detail (or notice) again: answered 00, booked once.
    host.set_fault("issuer_script", script="72:block")
    chip = Chip(DEBIT)
    sale_fields, resp = chip_sale(term, chip)
    assert resp["39"] == "00" and chip.second_ac(resp)["9F27"] == b"\x40"
    notice = script_notice(term, sale_fields, bytes.fromhex("2000000001"))
    assert notice["39"] == "00"
    f = {
        "t": "0620",
        "2": sale_fields["2"],
        "3": "000000",
        "4": sale_fields["4"],
        "11": "%06d" % (int(term.next_stan()) - 1),  # the notice's own STAN again
        "22": "051",
        "23": "001",
        "25": "00",
        "41": TID,
        "42": MID,
        "49": "156",
        "55": tlv([("DF31", bytes.fromhex("2000000001"))]).hex().upper(),
        "60": "00%06d951" % term.batch,
        "61": sale_fields["60"][2:8] + sale_fields["11"] + NOW.strftime("%m%d"),
    }
    assert term.request(f, mac=True)["39"] == "00"
    notices = [t for t in host.transactions(TID) if t["type"] == "script_notice"]
    assert len(notices) == 1
    # The same STAN with other results is not a repeat: a STAN used twice.
    other = dict(f, **{"55": tlv([("DF31", bytes.fromhex("1100000001"))]).hex().upper()})
    assert term.request(other, mac=True)["39"] == "94"
    resp = term.settle(AMOUNT, 1)
    assert resp["48"][30] == "1"
    detail = {
        "t": "0320",
        "2": chip.pan,
        "4": "%012d" % AMOUNT,
        "22": "051",
        "23": "001",
        "41": TID,
        "42": MID,
        "55": chip.upload55(),
        "60": "00%06d203" % 1,
    }
    for _ in range(2):
        assert term.request(dict(detail, **{"11": term.next_stan()}))["39"] == "00"
    (kept,) = host.uploads(TID, 1)
    assert (kept["matched"], kept["cryptogram_ok"]) == (1, 1)


def test_chip_void_by_record_and_by_chip_checked_against_the_original(host, term):
    chip = Chip(DEBIT)
    sale_fields, sale = chip_sale(term, chip)
    assert sale["39"] == "00" and chip.second_ac(sale)["9F27"] == b"\x40"
    extra = {"37": sale["37"], "38": sale["38"], "61": sale_fields["60"][2:8] + sale_fields["11"]}

    def void(**fields):
        f = term.financial("0200", "200000", "00", "23", AMOUNT, None, None, extra=extra)
        f.update({"2": chip.pan, "14": sale_fields["14"], "22": "012"}, **fields)
        return term.request(f, mac=True)

    # By the record: 23 must be the original's PAN sequence number (another card else).
    assert void(**{"23": "002"})["39"] == "14"
    # By chip: the void's ARQC must cover 9C = 20 and verify; the answer carries 91.
    wrong = Chip(DEBIT)  # 9C 00: a sale's cryptogram
    wrong.first_ac()
    assert void(**{"22": "051", "23": "001", "55": wrong.field55()})["39"] == "30"
    again = Chip(DEBIT, **{"9C": b"\x20"})
    again.first_ac()
    resp = void(**{"22": "051", "23": "001", "55": again.field55()})
    assert resp["39"] == "00" and "91" in decode(bytes.fromhex(resp["55"]))
    assert again.second_ac(resp)["9F27"] == b"\x40"
    assert [t["status"] for t in host.transactions(TID) if t["type"] == "sale"] == ["voided"]


def test_chip_refund_arqc_checked_and_answered(host, term):
    chip = Chip(DEBIT)
    sale_fields, sale = chip_sale(term, chip)
    assert sale["39"] == "00"
    refund = Chip(DEBIT, amount=300, **{"9C": b"\x20"})
    refund.first_ac()
    extra = {"37": sale["37"], "61": "000000000000" + NOW.strftime("%m%d"), "63": "CUP"}
    f = chip_request(term, refund, refund.field55(), mti="0220", pc="200000", t601="25")
    f.update(extra)
    resp = term.request(f, mac=True)
    assert resp["39"] == "00" and "91" in decode(bytes.fromhex(resp["55"]))
    spoiled = dict(f, **{"11": term.next_stan()})
    spoiled["55"] = spoiled["55"].replace(refund.first["9F26"].hex().upper(), "00" * 8)
    assert term.request(spoiled, mac=True)["39"] == "05"  # the profile's cryptogram code
