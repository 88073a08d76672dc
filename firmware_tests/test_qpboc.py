"""qPBOC (device/app/emv/qpboc.py) on MicroPython, through the PN532 driver, against the PN532
emulator holding the test cards of hostlib.card: the bytes the card got, what it did with its
e-cash, and the outcome the terminal reached. The cryptograms of field 55 are checked with the
test issuer's keys (hostlib.card.issuer), as the acquirer's host checks them.
"""

import json
import textwrap

import pyemv
import pytest

from hostlib import micropython
from hostlib.card import issuer, load_card
from hostlib.emulators.pn532 import Pn532Emulator
from hostlib.hostsim import chip, icsets

HEAP = "512K"  # app.emv compiles from source here
DUAL_PAN = "6224242900001038"
# The host simulator's IC parameters (docs/iso8583.md section 13), in fen: offline floor
# limit DF19 500.00, transaction limit DF20 5,000.00, CVM limit DF21 1,000.00, e-cash 9F7B
# 1,000.00.

DEVICE = """
import json, binascii
from board.unix_sim import SocketUART
from drivers import pn532
from app.emv import qpboc, terminal
from app.store.icsets import AID, CAPK, ICSets
h = binascii.unhexlify

# The IC sets as the terminal keeps them after its IC download at sign-on.
sets = ICSets("@ROOT@")
for kind, entries in ((CAPK, "@CAPKS@"), (AID, "@AIDS@")):
    writer = sets.writer(kind)
    for entry in entries.split():
        writer.add(h(entry))
    writer.commit("20261207185000")

nfc = pn532.PN532(SocketUART("127.0.0.1", @PORT@))
term = terminal.TerminalData(@AMOUNT@, (2026, 12, 7, 18, 55, 0), terminal_id="10000001",
                             merchant_id="123456789012345")
out = {"refused": qpboc.refused_amount(@AMOUNT@, sets)}
try:
    nfc.power_up(3000)
    outcome = qpboc.transact(nfc, term, sets)
finally:
    nfc.power_off()
for name in ("result", "reason", "detail", "pan", "psn", "expiry", "amount", "balance",
             "atc", "cvm", "oda_failure"):
    out[name] = getattr(outcome, name)
for name in ("field55", "cryptogram", "track2", "tvr"):
    value = getattr(outcome, name)
    out[name] = None if value is None else binascii.hexlify(value).decode().upper()
print(json.dumps(out))
"""


def tap(card, amount, root, *, limits=None, during=None, downloaded=True):
    """Tap `card` for a sale of `amount` fen, the terminal holding the host simulator's IC
    sets (its AIDs' parameters changed by `limits`, {tag: fen}) in folder `root`; returns
    (the outcome as a dict, the APDUs the card got). `downloaded` False: no AID set."""
    parameters = {tag: bytes.fromhex("%012d" % fen) for tag, fen in (limits or {}).items()}
    aids = [icsets.aid_entry(bytes.fromhex(aid), parameters) for aid in icsets.DEFAULT_AIDS]
    if not downloaded:
        aids = []
    values = {
        "ROOT": str(root),
        "CAPKS": " ".join(e.tlv.hex() for e in icsets.default_capks()),
        "AIDS": " ".join(e.tlv.hex() for e in aids),
        "AMOUNT": str(amount),
    }
    code = textwrap.dedent(DEVICE)
    for name, value in values.items():
        code = code.replace("@%s@" % name, value)
    with Pn532Emulator(awake=True) as nfc:
        nfc.tap(card)
        if during is not None:
            during(nfc)
        run = micropython.run(code=code.replace("@PORT@", str(nfc.port)), heap=HEAP, timeout=60)
        run.check()
        commands = [command for command, _ in nfc.exchanges]
    return json.loads(run.stdout.strip().splitlines()[-1]), commands


def tags55(field55: str) -> dict[int, bytes]:
    """Field 55 read by pyemv's decoder (not the terminal's), keyed by tag number."""
    return {int(tag, 16): value for tag, value in pyemv.tlv.decode(bytes.fromhex(field55)).items()}


def ins(commands):
    return [c[1] for c in commands]


def balance(card) -> int:
    return card.applications[0].balance


def test_tap_within_the_e_cash_balance_is_approved_offline_with_fdda_verified(tmp_path):
    card = load_card("pboc-dual")
    out, commands = tap(card, 1234, tmp_path)
    assert out["result"] == "approved" and out["reason"] == "offline", out["detail"]
    assert out["pan"] == DUAL_PAN and out["psn"] == "01" and out["expiry"] == "3012"
    assert out["balance"] == 10000 - 1234 == balance(card)
    assert out["oda_failure"] is None and out["cvm"] == "none"
    assert not out["refused"]
    # PPSE, SELECT, GPO, then the AFL's records (10010101 18010N00: SFI 2 and SFI 3).
    assert commands[0] == bytes.fromhex("00A404000E") + b"2PAY.SYS.DDF01" + b"\x00"
    assert ins(commands)[:3] == [0xA4, 0xA4, 0xA8] and set(ins(commands)[3:]) == {0xB2}
    tags = tags55(out["field55"])
    assert tags[0x9F27] == b"\x40"  # a TC
    assert tags[0x9F02] == bytes.fromhex("000000001234") and tags[0x5F2A] == b"\x01\x56"
    assert issuer.check_cryptogram(DUAL_PAN, "01", tags)  # what the upload takes to the host
    # ... and what the acquirer simulator makes of it (its IC offline purchase upload check).
    field55 = chip.parse(out["field55"])
    assert chip.cryptogram_type(field55) == "TC" and chip.check(DUAL_PAN, "01", field55) == ""
    assert tags[0x9F5D] == bytes.fromhex("000000008766")
    # The reader's qualifiers in the GPO: qPBOC, contact, online PIN, signature; nothing
    # required under the offline floor limit.
    gpo = commands[2]
    assert gpo[7:11] == bytes.fromhex("36000080")


def test_e_cash_short_goes_online_with_field_55_and_online_pin(tmp_path):
    card = load_card("pboc-dual")
    # 150.00: under the offline floor limit, over the e-cash balance.
    out, commands = tap(card, 15000, tmp_path)
    assert out["result"] == "online" and out["reason"] == "online", out["detail"]
    assert balance(card) == 10000  # nothing spent
    tags = tags55(out["field55"])
    assert tags[0x9F27] == b"\x80"  # ARQC
    assert issuer.check_cryptogram(DUAL_PAN, "01", tags)
    assert out["cvm"] == "online_pin"
    assert out["track2"].startswith(DUAL_PAN + "D")
    assert out["pan"] == DUAL_PAN


def test_amount_at_the_contactless_transaction_limit_asks_for_insert_or_swipe(tmp_path):
    card = load_card("pboc-dual")
    out, commands = tap(card, 500000, tmp_path)
    assert out["result"] == "try_another" and out["reason"] == "over_limit"
    assert ins(commands) == [0xA4, 0xA4]  # no GET PROCESSING OPTIONS: nothing spent
    assert out["refused"]  # what the terminal can say before asking for the tap
    assert balance(card) == 10000


def test_amount_over_the_cvm_limit_asks_for_a_cvm_and_the_card_for_an_online_pin(tmp_path):
    card = load_card("pboc-dual")
    # 1,000.00: at the CVM limit (and over the offline floor limit).
    out, commands = tap(card, 100000, tmp_path)
    assert out["result"] == "online" and out["cvm"] == "online_pin"
    ttq = commands[2][7:11]
    assert ttq[1] & 0x40 and ttq[1] & 0x80  # CVM required, online cryptogram required
    # The same amount with the CVM limit above it: no CVM asked of the card.
    _, commands = tap(load_card("pboc-dual"), 100000, tmp_path, limits={0xDF21: 200000})
    assert not commands[2][8] & 0x40


def test_bad_fdda_signature_declines_as_the_card_qualifiers_say(tmp_path):
    path = tmp_path / "bad-fdda.toml"
    path.write_text(
        'pan = "6224242900001038"\ncontactless = true\necash_balance = "100.00"\n'
        '[behaviour]\nfault = "sdad"\n'
    )
    card = load_card(str(path))
    out, _ = tap(card, 1234, tmp_path)
    # The card gave a TC (and spent its e-cash) but its signature does not hold: its CTQ
    # asks neither "online if ODA fails" nor "switch interface", so the terminal declines.
    assert out["result"] == "declined"
    assert out["reason"] == "fdda_failed" and out["detail"].startswith("fDDA failed")
    assert out["oda_failure"] in (
        "signed dynamic data malformed",
        "signed dynamic data hash differs",
    )
    assert int(out["tvr"][:2], 16) & 0x08  # TVR "DDA failed"


def test_card_removed_mid_read_is_a_card_error_to_tap_again(tmp_path):
    class LeavesAfterGpo:
        # The card answers the GPO, then leaves the field during the first READ RECORD.
        def __init__(self, card, nfc_holder):
            self._card = card
            self._holder = nfc_holder
            self.contactless = True

        def __getattr__(self, name):
            return getattr(self._card, name)

        def apdu(self, command):
            answer = self._card.apdu(command)
            if command[1] == 0xA8:
                self._holder[0].lose_during_next_exchange()
            return answer

    holder = []
    card = LeavesAfterGpo(load_card("pboc-dual"), holder)
    out, commands = tap(card, 1234, tmp_path, during=holder.append)
    assert out["result"] == "terminated" and out["reason"] == "card_removed"
    assert ins(commands) == [0xA4, 0xA4, 0xA8]


@pytest.mark.parametrize("amount", [0])
def test_zero_amount_goes_online(amount, tmp_path):
    out, commands = tap(load_card("pboc-dual"), amount, tmp_path)
    assert commands[2][8] & 0x80  # online cryptogram required
    assert out["result"] == "online"


def test_a_terminal_without_the_card_s_application_asks_for_insert_or_swipe(tmp_path):
    card = load_card("pboc-dual")
    out, commands = tap(card, 1234, tmp_path, downloaded=False)
    assert out["result"] == "try_another" and out["reason"] == "no_application"
    assert ins(commands) == [0xA4] and balance(card) == 10000


def test_amount_over_the_e_cash_terminal_limit_tells_the_card_no_e_cash(tmp_path):
    card = load_card("pboc-dual")
    out, commands = tap(card, 1234, tmp_path, limits={0x9F7B: 1000})  # e-cash up to 10.00
    gpo = commands[2]
    assert gpo[-2] == 0x00  # 9F7A, the PDOL's last entry: e-cash not supported
    assert gpo[8] & 0x80  # online cryptogram required
    assert out["result"] == "online" and balance(card) == 10000


def test_an_expired_card_s_offline_approval_is_declined(tmp_path):
    path = tmp_path / "expired-dual.toml"
    path.write_text(
        'pan = "6224242900001038"\ncontactless = true\necash_balance = "100.00"\n'
        'expiry = "2011"\neffective = "1801"\n'
    )
    out, _ = tap(load_card(str(path)), 1234, tmp_path)
    # The card gave a TC; its application expired in November 2020 and its CTQ does not say
    # "online if expired": declined, before any signature is checked.
    assert out["result"] == "declined" and out["reason"] == "expired"
    assert out["oda_failure"] is None
