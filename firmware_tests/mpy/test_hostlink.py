# Host-link mode's command layer on MicroPython: requests gathered from their parts and acted
# on only when whole, answers split into parts, and every command on a fake terminal
# (identify, provision, load with its read-back, refusals that change nothing, the on-site
# settings, a sale started by the host through the cashier's own card and PIN steps, the
# journal, the slips, wipe, leave).
# mpy-heap: 512K
# (The fake board's RAM flash lives in the heap here; on the terminal it is flash.)
import binascii
import json
import struct

from fakeboard import TRACK, Board
from mptest import expect_error

from app import hostcmd, hostlink
from app.comm import console
from app.crypto.mac import hmac_sha256
from app.keys.identity import wipe_token
from app.txn.engine import Request
from drivers import keypad as kp

VECTORS = __file__.rsplit("/", 2)[0] + "/vectors/"
SERIAL = "PK-000123"
LINK_KEY = bytes(range(32))
ENTER = kp.ENTER


def read(name):
    with open(VECTORS + name, "rb") as f:
        return f.read()


def message(request, attachment=b""):
    data = json.dumps(request).encode()
    return struct.pack(">H", len(data)) + data + attachment


def parts(number, data, size=hostlink.PART_DATA):
    count = max(1, (len(data) + size - 1) // size)
    out = []
    for i in range(count):
        out.append(bytes((hostlink.REQUEST, number, i, count)) + data[i * size : (i + 1) * size])
    return out


class FakeLink:
    """A ConsoleLink stand-in: what the host sent, in order; what the terminal sent back."""

    def __init__(self, payloads=()):
        self.inbox = list(payloads)
        self.sent = []
        self.started = 0

    def start(self):
        self.started += 1

    def receive(self, timeout_ms):
        return memoryview(bytearray(self.inbox.pop(0))) if self.inbox else None

    def send(self, payload):
        self.sent.append(bytes(payload))

    def answers(self):
        """{number: answer dict} from the parts sent."""
        out = {}
        data = {}
        for payload in self.sent:
            assert payload[0] == hostlink.ANSWER
            number, part, count = payload[1], payload[2], payload[3]
            data[number] = data.get(number, b"") + payload[4:]
            if part + 1 == count:
                out[number] = json.loads(data.pop(number))
        return out


def provisioned(**options):
    board = Board(**options)
    term = board.terminal()
    commands = hostcmd.Commands(term)
    answer = commands.handle(
        {"cmd": "provision", "serial": SERIAL, "kbpk_length": 16},
        memoryview(bytearray(bytes(16) + LINK_KEY)),
    )
    assert answer["ok"], answer
    return board, term, commands


def test_a_request_in_parts_is_acted_on_once_whole_and_a_long_answer_comes_in_parts():
    board = Board()
    term = board.terminal()
    packet = read("param_packet_v1.bin")
    # Provision, then a load split over several parts (a 100-byte part size for the test).
    keys = bytes(16) + LINK_KEY
    data = message({"cmd": "provision", "serial": SERIAL, "kbpk_length": 16}, keys)
    load = message({"cmd": "load"}, packet)
    link = FakeLink(
        parts(1, data)
        + parts(2, load, 100)
        + parts(3, message({"cmd": "slips", "count": 1}))
        + parts(4, message({"cmd": "leave"}))
    )
    assert len(parts(2, load, 100)) > 1
    messages = hostlink.Messages(link)
    got = messages.receive(10)
    assert got[0] == 1 and got[1]["cmd"] == "provision" and bytes(got[2]) == keys
    got = messages.receive(10)
    assert got[0] == 2 and got[1] == {"cmd": "load"} and bytes(got[2]) == packet
    # The whole session through serve(): answers numbered as their requests.
    link = FakeLink(
        parts(1, data)
        + parts(2, load)
        + parts(3, message({"cmd": "identify"}))
        + parts(4, message({"cmd": "leave"}))
    )
    assert hostlink.serve(term, link) == "leave"
    assert link.started == 1
    answers = link.answers()
    assert answers[1]["ok"] and answers[1]["serial"] == SERIAL
    assert answers[2]["ok"] and answers[2]["version"] == 3, answers[2]
    assert answers[3]["serial"] == SERIAL and answers[4] == {"ok": True}
    assert board.screen.saw("主机连接")
    # An answer longer than a part goes in parts, each at most 1,024 bytes with its header.
    messages = hostlink.Messages(FakeLink())
    messages.answer(9, {"text": "x" * 3000})
    sent = messages.link.sent
    assert len(sent) == 3 and max(len(p) for p in sent) == 1024
    assert [p[2] for p in sent] == [0, 1, 2] and {p[3] for p in sent} == {3}
    assert json.loads(b"".join(p[4:] for p in sent)) == {"text": "x" * 3000}


def test_a_part_out_of_order_drops_the_request_and_nothing_is_applied():
    board, term, commands = provisioned()
    load = message({"cmd": "load"}, read("param_packet_v1.bin"))
    first, second = parts(5, load, 60)[:2]
    third = parts(5, load, 60)[2]
    # The second part lost: the third is out of order; the request is refused, not applied.
    link = FakeLink([first, third] + parts(6, message({"cmd": "identify"})))
    messages = hostlink.Messages(link)
    assert messages.receive(10) == (5, None, "incomplete")
    number, request, _ = messages.receive(10)
    assert number == 6 and request == {"cmd": "identify"}
    assert commands.identify()["applications"][0]["params_version"] == 1
    # A request whose parts stop coming is dropped when the next one starts.
    link = FakeLink([first, second] + parts(7, message({"cmd": "identify"})))
    messages = hostlink.Messages(link)
    number, request, _ = messages.receive(10)
    assert number == 7 and request == {"cmd": "identify"}
    # Not JSON, not an object: refused with the reason.
    messages = hostlink.Messages(FakeLink(parts(8, b"\x00\x03abc") + parts(9, message([1]))))
    assert messages.receive(10) == (8, None, "format")
    assert messages.receive(10) == (9, None, "format")
    assert hostcmd.refused("incomplete")["error"].startswith("the request arrived incomplete")


def test_identify_on_a_blank_and_a_provisioned_terminal():
    board = Board()
    term = board.terminal()
    info = hostcmd.Commands(term).handle({"cmd": "identify"}, b"")
    assert info["ok"] and info["serial"] is None and info["lockdown"] is False
    assert info["micropython"].count(".") == 2 and len(info["app_build"]) >= 8
    assert info["chip_id"].startswith("VT") and info["bearer"] == "ethernet"
    (app,) = info["applications"]
    assert app["index"] == 1 and app["name"] == "CUP" and app["terminal_id"] == "12345678"
    assert app["merchant_name"] == {
        "gb18030": binascii.hexlify(b"POSKIT\xb2\xe2\xca\xd4").decode()
    }
    assert info["key_check_values"] == {
        "app1 TMK 01 3DES": info["key_check_values"]["app1 TMK 01 3DES"]
    }
    assert len(info["key_check_values"]["app1 TMK 01 3DES"]) == 6
    board, term, commands = provisioned()
    info = commands.handle({"cmd": "identify"}, b"")
    assert info["serial"] == SERIAL
    from app.crypto import cipher

    kcv = binascii.hexlify(cipher.kcv("AES", bytes(16), 3)).decode().upper()
    assert info["key_check_values"]["KBPK"] == kcv
    link = binascii.hexlify(hmac_sha256(LINK_KEY, b"check")[:3]).decode().upper()
    assert info["key_check_values"]["link key"] == link
    # No key leaves: neither the link key nor the KBPK is anywhere in the answer.
    text = json.dumps(info)
    assert binascii.hexlify(LINK_KEY).decode() not in text.lower()


def test_provision_twice_is_refused_and_the_keys_sent_are_wiped():
    board, term, commands = provisioned()
    keys = bytearray(bytes(range(16)) + bytes(32))
    answer = commands.handle(
        {"cmd": "provision", "serial": "PK-999", "kbpk_length": 16}, memoryview(keys)
    )
    assert not answer["ok"] and "already provisioned as PK-000123" in answer["error"]
    assert keys == bytearray(48)  # wiped after use, refused or not
    answer = commands.handle({"cmd": "provision", "serial": "X", "kbpk_length": 16}, b"\x00" * 3)
    assert not answer["ok"] and "the keys are 3 bytes" in answer["error"]


def test_load_applies_whole_reads_back_and_refuses_a_tampered_or_foreign_packet():
    board, term, commands = provisioned()
    data = read("param_packet_v1.bin")
    tampered = bytearray(data)
    tampered[40] ^= 0x01
    answer = commands.handle({"cmd": "load"}, memoryview(tampered))
    assert not answer["ok"] and answer["reason"] == "crc", answer
    # For another terminal: its serial in the header (CRC and MAC made good).
    other = bytearray(data[:-36])
    other[7:23] = b"PK-000999" + bytes(7)
    other.extend(struct.pack(">I", binascii.crc32(other) & 0xFFFFFFFF))
    other.extend(hmac_sha256(LINK_KEY, other))
    answer = commands.handle({"cmd": "load"}, memoryview(other))
    assert not answer["ok"] and answer["reason"] == "serial", answer
    assert commands.identify()["applications"][0]["params_version"] == 1
    answer = commands.handle({"cmd": "load"}, memoryview(bytearray(data)))
    assert answer["ok"] and answer["kind"] == "parameters" and answer["app"] == 1
    assert answer["version"] == 3 and answer["stored_version"] == 3 and answer["values"] > 5
    again = commands.handle({"cmd": "load"}, memoryview(bytearray(data)))
    assert not again["ok"] and again["reason"] == "version"
    assert commands.identify()["applications"][0]["params_version"] == 3


def test_onsite_settings_are_checked_kept_and_read_back():
    dialup = {0x10: b"", 0x11: b"direct", 0x12: b"95559", 0x14: b"6000030000", 0x15: b"\x00"}
    board, term, commands = provisioned(terminal=dialup)  # a dial-up line as a fallback
    answer = commands.handle({"cmd": "onsite", "line": "extension", "prefix": ""}, b"")
    assert not answer["ok"] and "outside-line prefix" in answer["error"], answer
    assert term.terminal_params()["dialup.line"] != "extension"
    answer = commands.handle({"cmd": "onsite", "line": "extension", "prefix": "9"}, b"")
    assert answer == {"ok": True, "line": "extension", "prefix": "9"}
    from app.store import edits

    assert edits.edited(term.store, 0) == ["dialup.line", "dialup.prefix"]
    answer = commands.handle({"cmd": "onsite", "line": "direct", "prefix": ""}, b"")
    assert answer["line"] == "direct" and answer["prefix"] == ""


def test_a_sale_from_the_host_goes_through_the_cashiers_card_and_pin_steps():
    board, term, commands = provisioned()
    board.keys.play(None)  # the sign-on's result screen, for a moment
    answer = commands.handle({"cmd": "txn", "request": {"kind": "sign_on"}}, b"")
    assert answer["ok"] and answer["approved"], answer
    board.keys.play(
        board.swipe(),  # the card on the terminal's reader
        ENTER,  # the card number and amount, confirmed
        "123456",
        ENTER,  # the PIN on the keypad
        None,  # the result, for a moment
        ENTER,  # the tear-off prompt: the cardholder copy
    )
    request = {"kind": "sale", "amount": 1, "card": "reader", "app": 1}
    answer = commands.handle({"cmd": "txn", "request": request}, b"")
    assert answer["ok"] and answer["approved"] and answer["amount"] == 1, answer
    assert ["消费", "622424******0113", "RMB 0.01", "确认键继续"] in board.screen.shown
    assert board.screen.saw("密码,无则按确认")
    merchant, cardholder = answer["slips"]
    merchant = [binascii.unhexlify(line) for line in merchant]
    assert b"MERCHANT COPY" in b"".join(merchant)
    assert b"CARDHOLDER COPY" in b"".join(binascii.unhexlify(x) for x in cardholder)
    (fields,) = board.host.of("0200")
    assert fields[35] == TRACK.decode() and fields[22] == "021"
    # Nothing secret in the answer: no full track, no PIN.
    text = json.dumps(answer)
    assert TRACK.decode() not in text and "123456" not in text.replace("123456789012345", "")
    summary = commands.handle({"cmd": "journal", "app": 1}, b"")
    assert summary["ok"] and summary["transactions"] == 1 and summary["debit"] == [1, 1]
    assert summary["last"]["card"] == "622424******0113"
    slips = commands.handle({"cmd": "slips", "app": 1, "count": 2}, b"")
    (slip,) = slips["slips"]
    assert b"REPRINT" in b"".join(binascii.unhexlify(x) for x in slip).upper()
    # Cancelled at the terminal: the host is told, nothing sent.
    board.host.requests = []
    board.keys.play(kp.CANCEL)
    answer = commands.handle({"cmd": "txn", "request": request}, b"")
    assert not answer["ok"] and "cancelled" in answer["error"]
    assert board.host.of("0200") == []
    answer = commands.handle({"cmd": "txn", "request": dict(request, kind="refund")}, b"")
    assert not answer["ok"] and "for a sale" in answer["error"]


def test_wipe_needs_the_token_of_the_challenge():
    board, term, commands = provisioned()
    answer = commands.handle({"cmd": "wipe", "token": "00" * 16}, b"")
    assert not answer["ok"] and "challenge first" in answer["error"]
    challenge = commands.handle({"cmd": "wipe_challenge"}, b"")["challenge"]
    token = wipe_token(LINK_KEY, SERIAL, binascii.unhexlify(challenge))
    answer = commands.handle({"cmd": "wipe", "token": binascii.hexlify(token).decode()}, b"")
    assert answer["ok"] and answer["serial"] == SERIAL and "wiped" in answer["wiped"]
    assert commands.identify()["serial"] is None
    assert Request  # the engine's request type is what txn builds


def test_unknown_command_is_refused():
    board = Board()
    answer = hostcmd.Commands(board.terminal()).handle({"cmd": "format"}, b"")
    assert answer == {"ok": False, "reason": "command", "error": "no such command: format"}
    expect_error(KeyError, [], {}.__getitem__, "x")


class FakeConsole:
    """The console's bytes as they arrive, a few at a time."""

    def __init__(self, data, step=3):
        self.data = bytes(data)
        self.step = step

    def ready(self):
        return bool(self.data)

    def readinto(self, buf):
        n = min(len(buf), self.step, len(self.data))
        buf[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


RESET0 = bytes.fromhex("504c02000000" + "8a46d497")  # docs/link.md: a RESET, sequence 0


def test_the_idle_screen_hears_a_reset_frame_among_other_bytes():
    # Typed keys, a Ctrl-C, a frame's start that breaks off, then the RESET: found whole.
    watch = console.Watch(FakeConsole(b"\r\x03PL\x02\x00" + b"abcPPL" + RESET0 + b"more"))
    found = None
    for _ in range(20):
        found = watch.poll() or found
    assert found == RESET0
    # A RESET with one bit flipped is not one; a DATA frame is not one either.
    damaged = bytearray(RESET0)
    damaged[8] ^= 1
    data = bytes.fromhex("504c010100056865 6c6c6fec915f13".replace(" ", ""))
    watch = console.Watch(FakeConsole(bytes(damaged) + data, step=64))
    for _ in range(5):
        assert watch.poll() is None


def test_the_mode_ends_when_the_host_falls_silent_or_cancel_is_pressed():
    board = Board()
    term = board.terminal()
    board.keys.play(*([None] * 10))
    assert hostlink.serve(term, FakeLink(), quiet_ms=600) == "quiet"
    assert board.screen.saw("等待主机...")
    board.keys.play(None, kp.CANCEL)
    assert hostlink.serve(term, FakeLink(), quiet_ms=60000) == "cancel"
    # A request in between starts the count again; leave ends it at once.
    board.keys.play(*([None] * 10))
    link = FakeLink(parts(1, message({"cmd": "identify"})))
    assert hostlink.serve(term, link, quiet_ms=400) == "quiet"
    assert link.answers()[1]["ok"]
