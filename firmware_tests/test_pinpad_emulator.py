"""The PIN pad and card reader drivers, on MicroPython, against their emulators over TCP.

The PIN block the device gets back is checked here with independent code: decrypted with
pycryptodome under the PIN key and decoded with psec, it must give the PIN the emulated
cardholder typed, for the PAN the terminal sent. Everything is bounded by timeouts; nothing
asserts a time.
"""

import json
import textwrap
from concurrent.futures import ThreadPoolExecutor

import psec.pinblock
from Crypto.Cipher import DES3

from hostlib import micropython
from hostlib.emulators.cardreader import CardReaderEmulator
from hostlib.emulators.pinpad import PinPadEmulator, build_frame, crc16, pin_block_format0

# The drivers compile from source here (the terminal loads them precompiled).
HEAP = "512K"

TMK = bytes.fromhex("70F2A84CCBC2AE8625CBB0F2C22AB923")
PIK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
PAN = "6224242900000113"
ENC_PIK = DES3.new(TMK, DES3.MODE_ECB).encrypt(PIK)
KCV = DES3.new(PIK, DES3.MODE_ECB).encrypt(bytes(8))[:4]


def device(code, timeout=30):
    """Run a device snippet on MicroPython; it prints one JSON object, returned here."""
    run = micropython.run(code=textwrap.dedent(code), heap=HEAP, timeout=timeout).check()
    return json.loads(run.stdout.strip().splitlines()[-1])


PAD_PRELUDE = """
import json, binascii
from board.unix_sim import SocketUART
from drivers import pinpad
pad = pinpad.PinPad(SocketUART("127.0.0.1", %d), ack_timeout_ms=300, answer_timeout_ms=2000)
ENC_PIK = binascii.unhexlify(%r)
KCV = binascii.unhexlify(%r)
PAN = %r
out = {}
def attempt(fn, *args, **kwargs):
    try:
        value = fn(*args, **kwargs)
    except pinpad.PinPadError as exc:
        extra = " terminal" if getattr(exc, "by_terminal", False) else ""
        return type(exc).__name__ + extra
    return binascii.hexlify(value).decode() if isinstance(value, bytes) else value
"""


def prelude(port):
    return PAD_PRELUDE % (port, ENC_PIK.hex(), KCV.hex(), PAN)


def decode(block_hex):
    clear = DES3.new(PIK, DES3.MODE_ECB).decrypt(bytes.fromhex(block_hex))
    return psec.pinblock.decode_pinblock_iso_0(clear, PAN)


def test_emulator_frames_match_the_spec():
    assert crc16(b"123456789") == 0x29B1
    assert build_frame(1, 0x49) == bytes.fromhex("0202014903D9AF")  # docs/pinpad.md
    # The emulator's format 0 block against the published example (spec §5).
    block = pin_block_format0("123456", "123456789012345678")
    assert block.hex().upper() == "061253DFFEDCBA98"


def test_load_the_pin_key_then_a_pin_block_that_decrypts_to_the_pin():
    with PinPadEmulator(serial="PP20240001", master_keys={0: TMK}) as pad:
        pad.script_pin("123456")
        pad.script_pin("8765")
        out = device(
            prelude(pad.port)
            + """
out["serial"] = pad.serial_number()
out["load"] = attempt(pad.load_key, ENC_PIK, KCV, slot=1, master_slot=0)
out["block"] = attempt(pad.enter_pin, PAN, b"RMB 0.01", prompt=b"ENTER PIN", slot=1)
out["block2"] = attempt(pad.enter_pin, PAN, b"RMB 100.00", slot=1, max_length=6)
print(json.dumps(out))
"""
        )
        assert out["serial"] == "PP20240001"
        assert out["load"] is None
        assert pad.working_keys[1] == PIK and pad.key_loads == [(1, True)]
        assert decode(out["block"]) == "123456"
        assert decode(out["block2"]) == "8765"
        # The PAN and the two lines the pad showed came from the terminal's request.
        first = pad.entries[0]
        assert (first.pan, first.amount, first.prompt, first.outcome) == (
            PAN,
            "RMB 0.01",
            "ENTER PIN",
            "pin",
        )
        assert [cmd for _, cmd in pad.executed] == [0x49, 0x4B, 0x50, 0x50]


def test_cancel_timeout_bad_kcv_and_missing_key_are_named_errors():
    with PinPadEmulator(master_keys={0: TMK}, working_keys={2: PIK}) as pad:
        pad.script_cancel()
        pad.script_timeout()
        out = device(
            prelude(pad.port)
            + """
out["no key"] = attempt(pad.enter_pin, PAN, b"RMB 0.01", slot=1)
out["cancel"] = attempt(pad.enter_pin, PAN, b"RMB 0.01", slot=2)
out["timeout"] = attempt(pad.enter_pin, PAN, b"RMB 0.01", slot=2)
out["bad kcv"] = attempt(pad.load_key, ENC_PIK, b"\\x00\\x00\\x00\\x00", slot=2)
out["no master"] = attempt(pad.load_key, ENC_PIK, KCV, slot=2, master_slot=5)
print(json.dumps(out))
"""
        )
        assert out == {
            "no key": "PinPadKeyError",
            "cancel": "PinPadCancelled",
            "timeout": "PinPadTimeout",
            "bad kcv": "PinPadKeyError",
            "no master": "PinPadKeyError",
        }
        assert pad.key_loads == [(2, False), (2, False)]
        assert pad.working_keys == {2: PIK}  # the refused key did not replace the good one
        assert [e.outcome for e in pad.entries] == ["key error", "cancelled", "timeout"]


def test_lost_acks_naks_and_garbled_answers_are_recovered_once_each():
    with PinPadEmulator(master_keys={0: TMK}, working_keys={1: PIK}) as pad:
        pad.drop_acks = 1  # the PIN request's ACK is lost: the terminal sends it again
        with ThreadPoolExecutor(1) as pool:
            run = pool.submit(
                device,
                prelude(pad.port)
                + """
out["block"] = attempt(pad.enter_pin, PAN, b"RMB 0.01", slot=1)
out["serial"] = pad.serial_number()
print(json.dumps(out))
""",
            )
            pad.wait_for(lambda: len(pad.frames) == 2, what="the PIN request sent again")
            with pad.lock:
                pad.garble_answers = 1  # the PIN block arrives garbled: NAK, sent again
                pad.nak_frames = 1  # the next request (serial number) is refused once
            pad.type_pin("2468")
            out = run.result(timeout=30)
        assert decode(out["block"]) == "2468"
        assert out["serial"] == "PP20240001"
        sent = [cmd for _, cmd, _ in pad.frames]
        assert sent.count(0x50) >= 2 and sent.count(0x49) >= 2  # each sent again
        assert [cmd for _, cmd in pad.executed] == [0x50, 0x49]  # each carried out once
        assert pad.naks_received == 1  # the device NAKed the garbled answer
        assert len(pad.entries) == 1


def test_terminal_abort_and_a_silent_pad():
    with PinPadEmulator(master_keys={0: TMK}, working_keys={1: PIK}) as pad:
        out = device(
            prelude(pad.port)
            + """
polls = [0]
def abort():
    polls[0] += 1
    return polls[0] > 50
out["abort"] = attempt(pad.enter_pin, PAN, b"RMB 0.01", slot=1, abort=abort)
print(json.dumps(out))
"""
        )
        assert out == {"abort": "PinPadCancelled terminal"}
        assert pad.entries[0].outcome == "aborted" and not pad.waiting_for_pin()
        pad.silent = True
        out = device(
            prelude(pad.port).replace("ack_timeout_ms=300", "ack_timeout_ms=100")
            + """
out["silent"] = attempt(pad.serial_number)
print(json.dumps(out))
"""
        )
        assert out == {"silent": "PinPadTimeout"}


READER_PRELUDE = """
import json
from board.unix_sim import SocketUART
from drivers import cardreader
reader = cardreader.CardReader(SocketUART("127.0.0.1", %d), char_timeout_ms=300)
out = []
for _ in range(%d):
    try:
        track = reader.read(5000)
        out.append([track.pan, track.expiry, track.service_code, repr(track)])
        track.wipe()
    except cardreader.CardReaderError as exc:
        out.append([type(exc).__name__, getattr(exc, "reason", "")])
print(json.dumps(out))
"""


def test_swipes_good_and_bad():
    with CardReaderEmulator(gap_s=0.4) as reader:
        reader.queue_swipe()
        for fault in ("lrc", "no start", "character", "no end", "too long", "check digit"):
            reader.queue_swipe(fault=fault)
        reader.queue_swipe("4761739001010119=25122011143804400000")
        out = device(READER_PRELUDE % (reader.port, 8))
        assert out == [
            ["6224242900000113", "2806", "201", "<Track2 622424******0113>"],
            ["BadSwipe", "LRC mismatch"],
            ["BadSwipe", "no start sentinel"],
            ["BadSwipe", "parity or character error"],
            ["BadSwipe", "swipe incomplete"],
            ["BadSwipe", "track too long"],
            ["BadSwipe", "card number check digit wrong"],
            ["4761739001010119", "2512", "201", "<Track2 476173******0119>"],
        ]
        assert reader.pending() == 0


def test_no_swipe_is_a_timeout():
    with CardReaderEmulator() as reader:
        out = device(
            (READER_PRELUDE % (reader.port, 1)).replace("reader.read(5000)", "reader.read(200)")
        )
        assert out == [["SwipeTimeout", ""]]
