"""The chip card readers' drivers (TDA8029 contact, PN532 contactless), on MicroPython, against
their emulators over TCP, with a test card defined here.

The card stands in for hostlib.card's cards (the same four members: atr, contactless,
apdu(), reset()): a T=0 card answers a case 4 command with 61xx and a wrong Le with 6Cxx, so
what is checked is the whole path: the driver's frames, the emulator's, and the ISO 7816-4 /
EMV Book 1 transport rules in drivers/cardchannel.py, seen in the commands the card got.
Everything is bounded by timeouts; nothing asserts a time.
"""

import json
import textwrap

from hostlib import micropython
from hostlib.emulators.pn532 import ERROR_FRAME, Pn532Emulator
from hostlib.emulators.pn532 import build_frame as pn532_frame
from hostlib.emulators.tda8029 import Tda8029Emulator
from hostlib.emulators.tda8029 import build_frame as alpar_frame

HEAP = "512K"  # the drivers compile from source here

FCI = bytes.fromhex("6F108407A0000003330101A5055003504243")  # SELECT's answer (18 bytes)
CHALLENGE = bytes.fromhex("1122334455667788")
ATC = bytes.fromhex("9F36020042")
RECORD = bytes(range(256))
SELECT = bytes.fromhex("00A4040007A000000333010100")
SW_OK = b"\x90\x00"
T0_ATR = bytes.fromhex("3B021450")  # TS, T0 (no interface bytes), 2 historical bytes


class FakeCard:
    """A chip card with a handful of commands. `t0` True: as a T=0 card over contacts answers
    (case 4 gives 61xx, GET RESPONSE the data); False: whole answers, as over ISO-DEP."""

    def __init__(self, *, t0=True, contactless=True, atr=T0_ATR, **extra):
        self.t0 = t0
        self.contactless = contactless
        self.atr = atr
        self.received = []
        self.resets = 0
        self._pending = b""
        self.__dict__.update(extra)  # uid, sel_res, ats for the PN532 emulator

    def reset(self):
        self.resets += 1
        self._pending = b""

    def apdu(self, command):
        self.received.append(bytes(command))
        ins = command[1]
        body = command[5 : 5 + command[4]] if len(command) > 5 else b""
        le = command[4] if len(command) == 5 else None
        if ins == 0xC0:  # GET RESPONSE
            return self._get_response(le or 0)
        if ins == 0x44:  # case 1
            return SW_OK
        if ins == 0x84:  # GET CHALLENGE, case 2, Le 8
            return CHALLENGE + SW_OK if le == 8 else b"\x6c\x08"
        if ins == 0xCA:  # GET DATA (ATC), case 2, Le 5
            return ATC + SW_OK if le == 5 else b"\x6c\x05"
        if ins == 0xB2:  # READ RECORD: 256 bytes (Le 00)
            return RECORD + SW_OK if le == 0 else b"\x6c\x00"
        if ins == 0xDA:  # PUT DATA, case 3: the length it got, in SW2
            return bytes((0x90, len(body) & 0xFF))
        if ins == 0xA4:  # SELECT, case 4
            return self._case4(FCI)
        if ins == 0xE2:  # case 4 answered with a warning and data
            if self.t0:
                self._pending = b"\xab\xcd\xef\x01"
                return b"\x62\x83"
            return b"\xab\xcd\xef\x01\x62\x83"
        return b"\x6d\x00"

    def _case4(self, data):
        if self.t0:
            self._pending = data
            return bytes((0x61, len(data)))
        return data + SW_OK

    def _get_response(self, le):
        pending = self._pending
        if not pending:
            return b"\x69\x85"
        if le == 0 and len(pending) < 256 or le > len(pending):
            return bytes((0x6C, len(pending)))
        self._pending = pending[le:]
        if self._pending:
            return pending[:le] + bytes((0x61, len(self._pending)))
        return pending + SW_OK


def device(code, timeout=30):
    """Run a device snippet on MicroPython; it prints one JSON object, returned here."""
    run = micropython.run(code=textwrap.dedent(code), heap=HEAP, timeout=timeout).check()
    return json.loads(run.stdout.strip().splitlines()[-1])


PRELUDE = """
import json, binascii
from board.unix_sim import SocketUART
from drivers import cardchannel
out = {}
def shown(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return binascii.hexlify(bytes(value)).decode().upper()
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        return [shown(value[0]), "%04X" % value[1]]
    return value
def attempt(fn, *args, **kwargs):
    try:
        return shown(fn(*args, **kwargs))
    except cardchannel.CardError as exc:
        status = getattr(exc, "status", None)
        return type(exc).__name__ + ("" if status is None else " %02X" % status)
h = binascii.unhexlify
"""


def contact(port, body, options=""):
    code = PRELUDE + (
        "from drivers import tda8029\nreader = tda8029.Tda8029(SocketUART('127.0.0.1', %d)%s)\n"
        % (port, options)
    )
    return device(code + textwrap.dedent(body) + "\nprint(json.dumps(out))\n")


def contactless(port, body, options=""):
    code = PRELUDE + (
        "from drivers import pn532\nnfc = pn532.PN532(SocketUART('127.0.0.1', %d)%s)\n"
        % (port, options)
    )
    return device(code + textwrap.dedent(body) + "\nprint(json.dumps(out))\n")


# --- contact: TDA8029 / ALPAR ---------------------------------------------------------------


def test_alpar_frames_are_the_documented_bytes():
    # docs/drivers.md: card inserted, and the refusal "card absent" to a power-up at 5 V.
    assert alpar_frame(0xA0, b"\x01") == bytes.fromhex("600001A001C0")
    assert alpar_frame(0x6E, b"\xc0", start=0xE0) == bytes.fromhex("E000016EC04F")


def test_contact_card_power_up_and_the_four_apdu_cases_with_t0_procedure_results():
    card = FakeCard()
    with Tda8029Emulator() as reader:
        reader.insert(card)
        out = contact(
            reader.port,
            """
            import time
            deadline = time.ticks_add(time.ticks_ms(), 3000)
            event = None
            while event is None and time.ticks_diff(deadline, time.ticks_ms()) > 0:
                event = reader.event()
                time.sleep_ms(10)
            out["event"] = event
            out["version"] = reader.version()
            out["present"] = reader.present()
            out["atr"] = attempt(reader.power_up, 3000)
            out["case1"] = attempt(reader.transmit, h("00440000"))
            out["case2"] = attempt(reader.transmit, h("0084000008"))
            out["case2 wrong Le"] = attempt(reader.transmit, h("80CA9F3600"))
            out["case3"] = attempt(reader.transmit, h("00DA000003010203"))
            out["case4"] = attempt(reader.transmit, h("%s"))
            out["case4 warning"] = attempt(reader.transmit, h("80E2000001AA00"))
            out["long"] = attempt(reader.transmit, h("00B2010C00"))
            reader.power_off()
            """
            % SELECT.hex(),
        )
        assert out["event"] == "inserted" and out["present"] is True
        assert out["version"].startswith("TDA8029")
        assert out["atr"] == "3B021450" and card.resets == 1
        assert out["case1"] == ["", "9000"]
        assert out["case2"] == [CHALLENGE.hex().upper(), "9000"]
        assert out["case2 wrong Le"] == [ATC.hex().upper(), "9000"]
        assert out["case3"] == ["", "9003"]
        assert out["case4"] == [FCI.hex().upper(), "9000"]
        assert out["case4 warning"] == ["ABCDEF01", "6283"]
        assert out["long"] == [RECORD.hex().upper(), "9000"]
        assert not reader.powered
        sent = [c.hex().upper() for c in card.received]
        assert sent == [
            "00440000",
            "0084000008",
            "80CA9F3600",
            "80CA9F3605",  # 6C05: again with Le 5
            "00DA000003010203",
            "00A4040007A0000003330101",  # case 4 over T=0: without its Le
            "00C0000012",  # 6112: GET RESPONSE for the 18 bytes
            "80E2000001AA",
            "00C0000000",  # 6283 on a case 4: GET RESPONSE, Le 00 ...
            "00C0000004",  # ... 6C04: again with Le 4
            "00B2010C00",
        ]


def test_t1_card_gets_case_4_with_its_le():
    card = FakeCard(t0=False, atr=bytes.fromhex("3B800181"))  # TD1 = 01: T=1
    with Tda8029Emulator() as reader:
        reader.insert(card)
        out = contact(
            reader.port,
            """
            out["atr"] = attempt(reader.power_up, 3000)
            out["select"] = attempt(reader.transmit, h("%s"))
            """
            % SELECT.hex(),
        )
    assert out["select"] == [FCI.hex().upper(), "9000"]
    assert card.received == [SELECT]


def test_contact_no_card_mute_card_and_removal_mid_command_are_named():
    card = FakeCard()
    with Tda8029Emulator() as reader:
        out = contact(
            reader.port,
            """
            out["present"] = reader.present()
            out["no card"] = attempt(reader.power_up, 3000)
            out["not powered"] = attempt(reader.transmit, h("00440000"))
            """,
        )
        assert out == {"present": False, "no card": "NoCard", "not powered": "NoCard"}
        reader.insert(card)
        reader.mute()
        out = contact(reader.port, 'out["mute"] = attempt(reader.power_up, 3000)')
        assert out == {"mute": "CardMute"}
        reader.insert(card)
        reader.remove_during_next_command()
        out = contact(
            reader.port,
            """
            out["atr"] = attempt(reader.power_up, 3000)
            out["removed"] = attempt(reader.transmit, h("%s"))
            out["present"] = reader.present()
            out["again"] = attempt(reader.transmit, h("00440000"))
            out["event"] = reader.event()
            """
            % SELECT.hex(),
        )
        assert out == {
            "atr": "3B021450",
            "removed": "CardRemoved",
            "present": False,
            "again": "NoCard",
            "event": "removed",
        }
        assert reader.exchanges == []  # the card never got the command


def test_contact_bad_lrc_and_reader_status_are_reported_and_the_line_recovers():
    card = FakeCard()
    with Tda8029Emulator() as reader:
        reader.insert(card)
        reader.corrupt_next_answer()
        out = contact(
            reader.port,
            """
            out["bad lrc"] = attempt(reader.power_up, 3000)
            out["atr"] = attempt(reader.power_up, 3000)
            out["ok"] = attempt(reader.transmit, h("00440000"))
            """,
        )
        assert out == {"bad lrc": "FrameError", "atr": "3B021450", "ok": ["", "9000"]}
        reader.refuse_next_command(0x20)
        out = contact(reader.port, 'out["status"] = attempt(reader.present)')
        assert out == {"status": "ReaderError 20"}
        # Our frame reached the reader garbled (status FF): sent again, once, by the driver.
        reader.refuse_next_command(0xFF)
        out = contact(reader.port, 'out["present"] = attempt(reader.present)')
        assert out == {"present": True}
        assert reader.commands[-2:] == [0x09, 0x09]


def test_contact_silent_reader_is_reader_timeout():
    with Tda8029Emulator() as reader:
        port = reader.port
        with reader.lock:
            reader.received = lambda data: None  # the reader hears nothing
        out = contact(port, 'out["silent"] = attempt(reader.present)', ", answer_timeout_ms=200")
    assert out == {"silent": "ReaderTimeout"}


def test_readers_on_a_line_of_noise_give_up_at_their_deadline():
    # A wrong baud rate: bytes keep coming, never a frame. The wait ends all the same.
    with Tda8029Emulator() as reader, Pn532Emulator(awake=True) as nfc_emulator:
        reader.noise = nfc_emulator.noise = True
        out = contact(reader.port, 'out["noise"] = attempt(reader.present)')
        assert out == {"noise": "FrameError"}
        out = contactless(nfc_emulator.port, 'out["noise"] = attempt(nfc.firmware_version)')
        assert out == {"noise": "FrameError"}


# --- contactless: PN532 ---------------------------------------------------------------------


def test_pn532_frames_are_the_documented_bytes():
    # UM0701-02: GetFirmwareVersion's answer, and the error frame.
    assert pn532_frame(bytes.fromhex("0332010607")) == bytes.fromhex("0000FF06FAD50332010607E800")
    assert ERROR_FRAME == bytes.fromhex("0000FF01FF7F8100")


def test_pn532_wake_list_and_exchange_with_chaining_both_ways():
    card = FakeCard(t0=False)
    with Pn532Emulator() as nfc_emulator:
        nfc_emulator.tap(card)
        out = contactless(
            nfc_emulator.port,
            """
            out["firmware"] = list(nfc.wake())
            out["ats"] = attempt(nfc.power_up, 3000)
            out["uid"] = shown(nfc.uid)
            out["sak"] = nfc.sel_res
            out["select"] = attempt(nfc.transmit, h("%s"))
            out["long answer"] = attempt(nfc.transmit, h("00B2010C00"))
            out["long command"] = attempt(nfc.transmit, h("00DA0000FF" + "5A" * 255))
            out["case2 wrong Le"] = attempt(nfc.transmit, h("80CA9F3600"))
            nfc.power_off()
            """
            % SELECT.hex(),
        )
        assert out["firmware"] == [0x32, 1, 6, 7]
        assert out["ats"] == "0578807002" and out["uid"] == "08A1B2C3" and out["sak"] == 0x20
        assert out["select"] == [FCI.hex().upper(), "9000"]
        assert out["long answer"] == [RECORD.hex().upper(), "9000"]
        assert out["long command"] == ["", "90FF"]
        assert out["case2 wrong Le"] == [ATC.hex().upper(), "9000"]
        assert card.received[0] == SELECT  # ISO-DEP: case 4 goes with its Le
        assert card.received[2] == bytes.fromhex("00DA0000FF") + b"\x5a" * 255
        # 258 answer bytes: a 252-byte piece with MI, then the rest; 260 command bytes: two.
        assert nfc_emulator.commands.count(0x40) == 1 + 2 + 2 + 2
        assert not nfc_emulator.active and not nfc_emulator.field_on


def test_pn532_asleep_until_woken():
    with Pn532Emulator() as nfc_emulator:
        out = contactless(
            nfc_emulator.port,
            """
            out["asleep"] = attempt(nfc.firmware_version)
            out["woken"] = list(nfc.wake())
            """,
            ", ack_timeout_ms=200",
        )
    assert out == {"asleep": "ReaderTimeout", "woken": [0x32, 1, 6, 7]}


def test_pn532_no_target_target_lost_and_cards_it_cannot_use():
    with Pn532Emulator(awake=True) as nfc_emulator:
        out = contactless(nfc_emulator.port, 'out["none"] = attempt(nfc.power_up, 300)')
        assert out == {"none": "NoTarget"}
        nfc_emulator.tap(FakeCard(contactless=False))  # a contact-only card: not seen
        out = contactless(nfc_emulator.port, 'out["contact only"] = attempt(nfc.power_up, 300)')
        assert out == {"contact only": "NoTarget"}
        nfc_emulator.tap(FakeCard(sel_res=0x08))  # a MIFARE Classic: no ISO 14443-4
        out = contactless(nfc_emulator.port, 'out["mifare"] = attempt(nfc.power_up, 300)')
        assert out == {"mifare": "CardProtocolError"}
        card = FakeCard(t0=False)
        nfc_emulator.tap(card)
        nfc_emulator.lose_during_next_exchange()
        out = contactless(
            nfc_emulator.port,
            """
            out["ats"] = attempt(nfc.power_up, 3000)
            out["lost"] = attempt(nfc.transmit, h("00440000"))
            out["after"] = attempt(nfc.transmit, h("00440000"))
            """,
        )
        assert out == {"ats": "0578807002", "lost": "TargetLost", "after": "NoTarget"}
        assert card.received == []


def test_pn532_tap_for_a_time_then_the_card_is_gone():
    card = FakeCard(t0=False)
    with Pn532Emulator(awake=True) as nfc_emulator:
        nfc_emulator.tap(card, seconds=0.5)
        out = contactless(
            nfc_emulator.port,
            """
            import time
            out["ats"] = attempt(nfc.power_up, 3000)
            out["in field"] = attempt(nfc.transmit, h("00440000"))
            time.sleep_ms(1500)
            out["gone"] = attempt(nfc.transmit, h("00440000"))
            """,
        )
    assert out == {"ats": "0578807002", "in field": ["", "9000"], "gone": "TargetLost"}


def test_pn532_bad_checksum_is_asked_again_with_a_nack():
    card = FakeCard(t0=False)
    with Pn532Emulator(awake=True) as nfc_emulator:
        nfc_emulator.tap(card)
        nfc_emulator.corrupt_next_answer()
        out = contactless(
            nfc_emulator.port,
            """
            out["ats"] = attempt(nfc.power_up, 3000)
            out["select"] = attempt(nfc.transmit, h("%s"))
            """
            % SELECT.hex(),
        )
        assert out == {"ats": "0578807002", "select": [FCI.hex().upper(), "9000"]}
        assert nfc_emulator.nacks == 1
        assert card.received == [SELECT]  # the card was asked once
