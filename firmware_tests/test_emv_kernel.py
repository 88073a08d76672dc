"""The contact PBOC kernel (device/app/emv/kernel.py) on MicroPython, through the TDA8029
driver, against the reader's emulator holding the card emulator's built-in cards
(docs/cards.md). Each test is one transaction as a terminal makes it: the device prints what
it got at each step (one JSON line), and this side plays the cardholder (the application
choice) and the acquirer host: field 55's ARQC is checked with hostlib.card.issuer, and the
answer's ARPC (tag 91) computed by it, good or deliberately wrong.
"""

import pytest
from chipdevice import converse

from hostlib.card import certs, issuer, load_card
from hostlib.card import tlv as host_tlv
from hostlib.hostsim import icsets

RID = bytes.fromhex("A000000333")
DEBIT_AID = bytes.fromhex("A000000333010101")
CREDIT_AID = bytes.fromhex("A000000333010102")
# The acquirer's IC parameters for both AIDs: the host simulator's defaults (TACs, floor
# limit 0, so every sale goes online, default DDOL 9F37, online PIN capable).
AID_PARAMETERS = {"%X" % tag: value.hex() for tag, value in icsets.DEFAULT_AID_PARAMETERS.items()}
HEAP = "512K"  # the kernel and drivers compile from source here (the bench measures the heap)
FIELD55 = (
    "9F26 9F27 9F10 9F37 9F36 95 9A 9C 9F02 5F2A 82 9F1A 9F03 9F33 9F34 9F35 9F1E 84 9F09 9F41"
)

DEVICE = """
import sys, json, binascii
from board.unix_sim import SocketUART
from drivers import tda8029
from app.emv import kernel, oda, terminal

h = binascii.unhexlify
def x(value):
    return None if value is None else binascii.hexlify(bytes(value)).decode().upper()
def say(what):
    print("@" + json.dumps(what))
def ask(what):
    say(what)
    return json.loads(sys.stdin.readline())

cfg = json.loads(sys.stdin.readline())
reader = tda8029.Tda8029(SocketUART("127.0.0.1", cfg["port"]))
keys = {}
for index, modulus, exponent in cfg["ca"]:
    keys[index] = oda.CaKey(h(cfg["rid"]), index, h(modulus), h(exponent))
def ca_key(rid, index):
    return keys.get(index) if rid == h(cfg["rid"]) else None
params = {}
for tag, value in cfg["params"].items():
    params[int(tag, 16)] = h(value)
aids = [(h(aid), params) for aid in cfg["aids"]]
def choose(labels):
    return ask({"choose": labels})["index"]
pin = {"yes": lambda: True, "bypass": lambda: False, "none": None}[cfg["pin"]]
term = terminal.TerminalData(cfg["amount"], (2026, 12, 7, 18, 55, 0),
                             terminal_id="10000001", merchant_id="123456789012345")
term.set(0x9F41, h("00000123"))
k = kernel.Kernel(reader, term, aids, ca_key, choose=choose, pin=pin,
                  offline_allowed=cfg["offline"])
tags = [int(t, 16) for t in cfg["field55"].split()]
def state():
    return {"result": k.result, "reason": k.reason, "detail": k.detail, "tvr": x(term.tvr),
            "tsi": x(term.tsi), "cvm": k.cvm, "oda": k.oda, "aid": x(k.aid), "label": k.label,
            "oda_failure": k.oda_failure,
            "cvmr": x(term.get(0x9F34)), "field55": x(k.field55(tags)),
            "pan": k.pan() if 0x5A in k.card else None,
            "expiry": k.expiry() if 0x5F24 in k.card else None,
            "psn": k.psn(), "track2": k.track2(), "scripts": x(k.scripts)}
k.start()
if k.result == "online" and cfg["host"]:
    answer = ask(state())
    k.complete(h(answer["host55"]) if answer["host55"] else None, answer["code"])
k.finish()
say(state())
"""


def transaction(
    card,
    offline=False,
    params=None,
    host=None,
    choose=None,
    pin="yes",
    amount=1234,
    aids=(DEBIT_AID, CREDIT_AID),
    fault=None,
):
    """Run one transaction of `card` (a name or a Card); `host(state) -> (host55, code)`
    answers an ARQC, `choose(labels) -> index` the application choice. Returns the list of
    states the device printed: [first AC] or [first AC, final]."""
    ca = certs.ca_key(0x82)
    config = {
        "rid": RID.hex(),
        "ca": [[0x82, ca.key.modulus_bytes.hex(), ca.key.exponent_bytes.hex()]],
        "params": dict(AID_PARAMETERS, **(params or {})),
        "offline": offline,
        "aids": [a.hex() for a in aids],
        "pin": pin,
        "amount": amount,
        "field55": FIELD55,
        "host": host is not None,
    }

    def answer(message, states):
        if "choose" in message:
            assert choose is not None, "the kernel asked for a choice: %s" % message
            return {"index": choose(message["choose"])}
        if message["result"] == "online" and not states and host is not None:
            states.append(message)
            host55, code = host(message)
            return {"host55": host55.hex() if host55 else None, "code": code}
        return None

    card = load_card(card) if isinstance(card, str) else card
    return converse(card, DEVICE, config, HEAP, answer, fault)


def tags_of(field55: str) -> dict[int, bytes]:
    return dict(host_tlv.decode(bytes.fromhex(field55)))


def approving(code="00", spoil=False):
    """A host that checks the ARQC and answers `code` with its ARPC (one bit wrong: spoil)."""

    def host(state):
        tags = tags_of(state["field55"])
        assert issuer.check_cryptogram(state["pan"], "%02d" % state["psn"], tags)
        data = issuer.issuer_authentication_data(
            state["pan"], "%02d" % state["psn"], tags, code.encode()
        )
        if spoil:
            data = bytes([data[0] ^ 1]) + data[1:]
        return host_tlv.encode(0x91, data), code

    return host


def tvr(state, byte, bit):
    return bool(bytes.fromhex(state["tvr"])[byte - 1] & bit)


def test_sda_card_online_with_pin_and_the_host_approves_the_card_gives_a_tc():
    first, final = transaction("pboc-debit", host=approving())
    assert first["result"] == "online" and first["oda"] == "SDA"
    assert not tvr(first, 1, 0x40) and tvr(first, 1, 0x02)  # SDA selected, not failed
    assert first["cvm"] == "online_pin" and first["cvmr"] == "420300"
    assert tvr(first, 3, 0x04)  # online PIN entered
    assert first["pan"] == "6224242900001012" and first["expiry"] == "3012"
    assert first["psn"] == 1 and first["track2"].startswith("6224242900001012=3012201")
    tags = tags_of(first["field55"])
    assert [f"{t:X}" for t in tags] == FIELD55.split()  # every tag, in the list's order
    assert tags[0x9F27] == b"\x80" and tags[0x84] == DEBIT_AID and tags[0x9C] == b"\x00"
    assert tags[0x9F02] == bytes.fromhex("000000001234")
    assert final["result"] == "approved" and final["reason"] is None
    assert tags_of(final["field55"])[0x9F27] == b"\x40"  # TC
    assert bytes.fromhex(final["tsi"])[0] & 0xE8 == 0xE8  # ODA, CVM, card and terminal risk


def test_sda_bad_sets_sda_failed_and_still_goes_online():
    (first,) = transaction("sda-bad")
    assert first["result"] == "online" and tvr(first, 1, 0x40)


def test_dda_card_authenticates_and_signature_is_its_cvm():
    (first,) = transaction("pboc-credit", aids=(CREDIT_AID,))
    assert first["result"] == "online" and first["oda"] == "DDA"
    assert bytes.fromhex(first["tvr"])[0] == 0  # nothing failed
    # 4103 (offline PIN if supported: this terminal does not) then 1E03: signature.
    assert first["cvm"] == "signature" and first["cvmr"] == "1E0300"


def test_dda_bad_sets_dda_failed():
    (first,) = transaction("dda-bad")
    assert first["result"] == "online" and tvr(first, 1, 0x08)
    assert first["oda_failure"] == "signed dynamic data malformed"  # a wrong byte in 9F4B


def test_expired_card_sets_the_tvr_bit_and_the_host_decline_gives_an_aac():
    first, final = transaction("expired", host=lambda state: (None, "54"))
    assert first["result"] == "online" and tvr(first, 2, 0x40)
    assert final["result"] == "declined" and final["reason"] == "host_declined"
    assert tags_of(final["field55"])[0x9F27] == b"\x00"


def test_two_applications_are_offered_in_priority_order_and_the_choice_is_used():
    offered = []

    def choose(labels):
        offered.append(labels)
        return 1

    (first,) = transaction("two-apps", choose=choose)
    assert offered == [["PBOC DEBIT", "PBOC CREDIT"]]
    assert first["aid"] == CREDIT_AID.hex().upper() and first["pan"] == "6224242900001087"


def test_cardholder_cancelling_the_choice_ends_the_transaction():
    (first,) = transaction("two-apps", choose=lambda labels: None)
    assert first["result"] == "terminated" and first["reason"] == "cancelled"


def test_a_dead_chip_falls_back_to_the_stripe():
    (first,) = transaction("chip-dead")
    assert first["result"] == "fallback" and first["reason"] == "card_mute", first


def test_a_card_with_no_application_in_common_falls_back():
    (first,) = transaction("pboc-debit", aids=(bytes.fromhex("A000000004101001"),))
    assert first["result"] == "fallback" and first["reason"] == "no_application"


def test_a_wrong_arpc_makes_the_card_decline_after_the_host_approved():
    first, final = transaction("pboc-debit", host=approving(spoil=True))
    assert final["result"] == "declined" and final["reason"] == "card_declined"


def test_card_declines_after_approval_is_named_for_the_reversal():
    first, final = transaction("card-declines", host=approving())
    assert first["result"] == "online"
    assert final["result"] == "declined" and final["reason"] == "card_declined"


def test_unable_to_go_online_the_card_is_told_the_decline():
    first, final = transaction("pboc-debit", host=lambda state: (None, None))
    assert final["result"] == "declined" and final["reason"] == "unable_online"
    assert tags_of(final["field55"])[0x9F27] == b"\x00"


def test_unable_to_go_online_the_default_action_codes_decide_when_offline_is_allowed():
    # Floor limit 0: "exceeds floor limit" is set, and TAC-default D84000A800 holds it.
    first, final = transaction("pboc-debit", offline=True, host=lambda state: (None, None))
    assert tvr(first, 4, 0x80)
    assert final["result"] == "declined" and final["reason"] == "unable_online"


def test_below_the_floor_limit_a_terminal_allowed_offline_gets_a_tc_from_the_card():
    # 100.00 floor limit, no random selection: nothing in the TVR asks for online.
    below = {"9F1B": "00002710", "DF16": "00", "DF17": "00"}
    (first,) = transaction("pboc-credit", offline=True, params=below, aids=(CREDIT_AID,))
    assert first["result"] == "approved" and not tvr(first, 4, 0x80)
    assert tags_of(first["field55"])[0x9F27] == b"\x40"
    # The same card at a terminal that approves online only: an ARQC.
    (first,) = transaction("pboc-credit", params=below, aids=(CREDIT_AID,))
    assert first["result"] == "online"


def test_pin_bypassed_the_debit_card_falls_to_signature_with_the_tvr_saying_so():
    (first,) = transaction("pboc-debit", pin="bypass")
    assert first["cvm"] == "signature" and tvr(first, 3, 0x08)


@pytest.mark.parametrize("when", [2, 6])
def test_card_pulled_out_is_a_named_outcome(when):
    card = load_card("pboc-debit")
    (first,) = transaction(card, fault=lambda reader: _pull_at(reader, card, when))
    assert first["result"] == "terminated" and first["reason"] == "card_removed"


def _pull_at(reader, card, when):
    # The card leaves the slot during its `when`th command (the emulator's fault, armed by
    # the command before).
    original = card.apdu
    count = [0]

    def apdu(command):
        count[0] += 1
        if count[0] == when - 1:
            reader.remove_during_next_command()
        return original(command)

    card.apdu = apdu


def test_issuer_scripts_run_before_and_after_the_second_ac_and_their_results_are_kept():
    def host(state):
        pan, psn = state["pan"], "%02d" % state["psn"]
        tags = tags_of(state["field55"])
        keys = issuer.issuer_keys(pan, psn)
        head = bytes.fromhex("8424000004")  # PIN unblock, Lc counting the MAC
        good = head + issuer.script_mac(keys.smi, tags[0x9F36], tags[0x9F26], head)
        bad = head + bytes(4)  # a MAC the card refuses (69 82)
        before = host_tlv.template(0x71, [(0x9F18, b"\0\0\0\x01"), (0x86, bad)])
        after = host_tlv.template(0x72, [(0x9F18, b"\0\0\0\x02"), (0x86, good)])
        data = issuer.issuer_authentication_data(pan, psn, tags, b"00")
        return host_tlv.encode(0x91, data) + before + after, "00"

    first, final = transaction("pboc-debit", host=host)
    assert final["result"] == "approved"
    # 71: failed at its first command; 72: done. TVR "script failed before the final AC".
    assert final["scripts"] == "11" + "00000001" + "20" + "00000002"
    assert tvr(final, 5, 0x20) and not tvr(final, 5, 0x10)
    assert bytes.fromhex(final["tsi"])[0] & 0x04  # script processing performed


def test_a_host_field_55_that_is_not_tlv_ends_the_transaction_without_a_second_ac():
    first, final = transaction("pboc-debit", host=lambda state: (b"\x91\x0a\x01", "00"))
    assert final["result"] == "terminated" and final["reason"] == "host_data"


def _answering(card, when, answer):
    # The card answers `answer` instead of its own to the first command `when(command)` picks.
    original = card.apdu
    done = [False]

    def apdu(command):
        if not done[0] and when(command):
            done[0] = True
            return answer
        return original(command)

    card.apdu = apdu
    return card


def _record_of_sfi(sfi):
    return lambda command: command[1] == 0xB2 and command[3] == sfi << 3 | 4


@pytest.mark.parametrize(
    "when, answer, reason",
    [
        (_record_of_sfi(2), bytes.fromhex("70055A08622424" + "9000"), "card_data"),  # past end
        (_record_of_sfi(3), bytes.fromhex("7003 5F3401 01 9000".replace(" ", "")), "card_data"),
        (lambda command: command[1] == 0xA8, bytes.fromhex("6A80"), "card_status"),
        (lambda command: command[1] == 0xAE, bytes.fromhex("77039F2701"), "card_status"),
        (
            lambda command: command[1] == 0xAE,
            bytes.fromhex("770A9F2701809F360200019000"),
            "card_data",
        ),
    ],
    ids=["record past its end", "PSN given twice", "GPO refused", "no status word", "no AC"],
)
def test_bad_card_answers_end_with_a_named_outcome(when, answer, reason):
    card = _answering(load_card("pboc-debit"), when, answer)
    (first,) = transaction(card)
    assert first["result"] == "terminated" and first["reason"] == reason, first
