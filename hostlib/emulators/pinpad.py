"""An external PIN pad speaking poskit's framed protocol (docs/pinpad.md), with real keys.

    pad = PinPadEmulator(serial="PP20240001", master_keys={0: tmk}).start()
    pad.script_pin("123456")           # the next PIN entry: the cardholder types 123456
    pad.script_cancel()                # ... or presses CANCEL
    pad.script_timeout()               # ... or walks away (the pad's entry timeout)
    ... device: PinPad(SocketUART("127.0.0.1", pad.port)) ...
    pad.type_pin("1234")               # answer an entry that is waiting (keyboard, vterm)
    pad.press_cancel()

The pad holds master keys (slots, given at construction: the factory or a key loading device
puts them there) and the working keys the terminal loads under them (CMD_LOAD_KEY: the key is
decrypted with the master key, its check value E(key, 0...0)[:4] compared, and stored only if
it matches). A PIN entry builds the ISO 9564 format 0 block from the scripted PIN and the PAN
the terminal sent and returns it encrypted (DES or 3DES ECB, pycryptodome) under the working
key in the slot named. Nothing on the terminal side ever sees the PIN; the emulator keeps it
only until the block is built.

Link behaviour as in the spec: every good frame is ACKed (NAK for a bad one); a repeat (the
same frame again within 2 s: our ACK was lost) is ACKed and not executed again, its answer sent
again if it was already given; each answer is sent until ACKed, at most three times, 300 ms
apart; one answer at a time.

Faults: `nak_frames` (NAK the next n good frames), `drop_acks` (execute the next n frames but
send no ACK: the terminal must resend, the pad must not execute twice), `garble_answers` (the
next n answers go out with a broken CRC), `silent` (the pad hears nothing).
"""

from __future__ import annotations

import binascii
import time
from collections import deque
from dataclasses import dataclass

from Crypto.Cipher import DES, DES3

from hostlib.emulators.base import Emulator

STX, ETX, ACK, NAK = 0x02, 0x03, 0x06, 0x15
CMD_IDENTIFY, CMD_PIN, CMD_LOAD_KEY, CMD_CANCEL = 0x49, 0x50, 0x4B, 0x43
OK, CANCELLED, TIMEOUT, KEY_ERROR, BAD_REQUEST, BUSY, ABORTED = range(7)
ALGORITHMS = {1: ("DES", 8), 2: ("3DES", 16)}
_MAX_LEN = 98
_ANSWER_TRIES = 3
_ACK_WAIT_S = 0.3
_FRAME_WAIT_S = 0.5
_REPEAT_WINDOW_S = 2.0


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (binascii.crc_hqx with init 0xFFFF)."""
    return binascii.crc_hqx(bytes(data), 0xFFFF)


def build_frame(seq: int, cmd: int, data: bytes = b"") -> bytes:
    """STX LEN SEQ CMD DATA ETX CRC16."""
    if len(data) > _MAX_LEN - 2:
        raise ValueError("frame data too long")
    body = bytes([len(data) + 2, seq & 0xFF, cmd]) + bytes(data) + bytes([ETX])
    return bytes([STX]) + body + crc16(body).to_bytes(2, "big")


def ecb(key: bytes):
    """A DES (8-byte, or 16-byte with equal halves) or 3DES ECB cipher for `key`."""
    if len(key) == 8 or (len(key) == 16 and key[:8] == key[8:]):
        return DES.new(key[:8], DES.MODE_ECB)
    return DES3.new(key, DES3.MODE_ECB)


def kcv(key: bytes, length: int = 4) -> bytes:
    """Check value: the first bytes of E(key, 0...0)."""
    return ecb(key).encrypt(bytes(8))[:length]


def pin_block_format0(pin: str, pan: str) -> bytes:
    """ISO 9564-1 format 0: (0 L PIN F...F) xor (0000 + 12 rightmost PAN digits before the
    check digit)."""
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("PIN must be 4 to 12 digits")
    pin_field = bytes.fromhex(("0%X%s" % (len(pin), pin)).ljust(16, "F"))
    pan_field = bytes.fromhex("0000" + pan[-13:-1])
    return bytes(a ^ b for a, b in zip(pin_field, pan_field, strict=True))


@dataclass
class Entry:
    """A PIN entry as the pad showed it (no PIN kept)."""

    seq: int
    slot: int
    min_length: int
    max_length: int
    timeout_s: int
    amount: str
    prompt: str
    pan: str
    deadline: float
    outcome: str = "pending"  # "pin", "cancelled", "timeout", "aborted", "key error"


def _text(data: bytes) -> str:
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class PinPadEmulator(Emulator):
    """See the module docstring."""

    name = "pinpad"

    def __init__(
        self,
        *,
        serial: str = "PP20240001",
        master_keys: dict[int, bytes] | None = None,
        working_keys: dict[int, bytes] | None = None,
        **options,
    ) -> None:
        super().__init__(**options)
        self.serial = serial
        self.master_keys = dict(master_keys or {})
        self.working_keys = dict(working_keys or {})
        self.nak_frames = 0
        self.drop_acks = 0
        self.garble_answers = 0
        self.silent = False
        self.frames: list[tuple[int, int, bytes]] = []  # good frames received: seq, cmd, data
        self.executed: list[tuple[int, int]] = []  # (seq, cmd) of commands carried out
        self.answers_sent = 0
        self.naks_sent = 0
        self.naks_received = 0
        self.key_loads: list[tuple[int, bool]] = []  # (slot, accepted)
        self.entries: list[Entry] = []
        self.display = ("", "")  # the two lines the pad shows (amount, prompt) during entry
        self._script: deque[str] = deque()
        self._rx = bytearray()
        self._rx_since = 0.0
        self._last: tuple[int, int] | None = None  # (seq, cmd) of the last command executed
        self._last_frame = b""  # that command's frame, and when it last arrived
        self._last_at = 0.0
        self._last_answer: bytes | None = None
        self._outbox: deque[bytes] = deque()
        self._sending: bytes | None = None
        self._sends = 0
        self._sent_at = 0.0
        self.entry: Entry | None = None

    # --- scripting and injection ---------------------------------------------------------

    def script_pin(self, pin: str) -> None:
        """The next PIN entry is answered with `pin` typed by the cardholder."""
        if not (pin.isdigit() and 4 <= len(pin) <= 12):
            raise ValueError("a PIN is 4 to 12 digits")
        with self.lock:
            self._script.append(pin)
            self._serve_entry()

    def script_cancel(self) -> None:
        """The cardholder presses CANCEL at the next PIN entry."""
        with self.lock:
            self._script.append("CANCEL")
            self._serve_entry()

    def script_timeout(self) -> None:
        """The cardholder enters nothing at the next PIN entry (the pad's timeout)."""
        with self.lock:
            self._script.append("TIMEOUT")
            self._serve_entry()

    def type_pin(self, pin: str) -> None:
        """Answer the PIN entry now waiting (or the next one) with `pin`."""
        self.script_pin(pin)

    def press_cancel(self) -> None:
        self.script_cancel()

    def waiting_for_pin(self) -> bool:
        with self.lock:
            return self.entry is not None

    # --- bytes from the terminal ---------------------------------------------------------

    def connected(self) -> None:
        self._rx.clear()
        self._outbox.clear()
        self._sending = None
        self._last = None
        self._last_frame = b""

    def received(self, data: bytes) -> None:
        if self.silent:
            return
        if not self._rx:
            self._rx_since = time.monotonic()
        self._rx += data
        self._parse()

    def _parse(self) -> None:
        rx = self._rx
        while rx:
            byte = rx[0]
            if byte in (ACK, NAK):
                del rx[0]
                self._link_byte(byte)
                continue
            if byte != STX:
                del rx[0]  # noise between frames
                continue
            if len(rx) < 2:
                return
            length = rx[1]
            if not 2 <= length <= _MAX_LEN:
                self._bad_frame()
                continue
            total = length + 5
            if len(rx) < total:
                return  # the rest is on its way (tick() gives up after _FRAME_WAIT_S)
            frame = bytes(rx[:total])
            del rx[:total]
            body = frame[1 : length + 3]
            if frame[length + 2] != ETX or crc16(body) != int.from_bytes(frame[-2:], "big"):
                self._bad_frame()
                continue
            self._rx_since = time.monotonic()
            self._frame(frame)

    def _bad_frame(self) -> None:
        self._rx.clear()
        self.naks_sent += 1
        self.send(bytes([NAK]))

    def _link_byte(self, byte: int) -> None:
        if self._sending is None:
            return
        if byte == ACK:
            self._sending = None
            self._next_answer()
        else:
            self.naks_received += 1
            self._send_answer(again=True)

    def _frame(self, frame: bytes) -> None:
        seq, cmd, data = frame[2], frame[3], frame[4:-3]
        self.frames.append((seq, cmd, data))
        if self.nak_frames:
            self.nak_frames -= 1
            self.naks_sent += 1
            self.send(bytes([NAK]))
            return
        if self.drop_acks:
            self.drop_acks -= 1
        else:
            self.send(bytes([ACK]))
        now = time.monotonic()
        repeat = frame == self._last_frame and now - self._last_at < _REPEAT_WINDOW_S
        self._last_at = now
        if repeat:
            # Our ACK was lost: never executed twice; the answer again if it was given.
            if self._last_answer is not None and self._sending is None:
                self._queue(self._last_answer)
            return
        self._last_frame = frame
        self._last = (seq, cmd)
        self._last_answer = None
        self.executed.append((seq, cmd))
        if cmd == CMD_CANCEL:
            if self.entry is not None:
                self._end_entry(ABORTED, "aborted")
            self._answer(seq, cmd, OK)
        elif self.entry is not None:
            self._answer(seq, cmd, BUSY)
        elif cmd == CMD_IDENTIFY:
            self._answer(seq, cmd, OK, self.serial.encode())
        elif cmd == CMD_LOAD_KEY:
            self._load_key(seq, data)
        elif cmd == CMD_PIN:
            self._start_entry(seq, data)
        else:
            self._answer(seq, cmd, BAD_REQUEST)

    # --- commands ------------------------------------------------------------------------

    def _load_key(self, seq: int, data: bytes) -> None:
        try:
            master_slot, slot, algorithm, n = data[0], data[1], data[2], data[3]
            encrypted, check = data[4 : 4 + n], data[4 + n :]
            if algorithm not in ALGORITHMS or n != ALGORITHMS[algorithm][1] or len(check) != 4:
                raise ValueError
        except (IndexError, ValueError):
            self._answer(seq, CMD_LOAD_KEY, BAD_REQUEST)
            return
        master = self.master_keys.get(master_slot)
        if master is None:
            self.key_loads.append((slot, False))
            self._answer(seq, CMD_LOAD_KEY, KEY_ERROR)
            return
        key = ecb(master).decrypt(encrypted)
        if kcv(key) != check:
            self.key_loads.append((slot, False))
            self._answer(seq, CMD_LOAD_KEY, KEY_ERROR)
            return
        self.working_keys[slot] = key
        self.key_loads.append((slot, True))
        self._answer(seq, CMD_LOAD_KEY, OK)

    def _start_entry(self, seq: int, data: bytes) -> None:
        try:
            slot, low, high, timeout_s = data[0], data[1], data[2], data[3]
            fields, i = [], 4
            for _ in range(3):
                n = data[i]
                fields.append(bytes(data[i + 1 : i + 1 + n]))
                if len(fields[-1]) != n:
                    raise IndexError
                i += 1 + n
            amount, prompt, pan = fields
            if i != len(data) or not (4 <= low <= high <= 12) or not timeout_s:
                raise ValueError
            if not (pan.isdigit() and 13 <= len(pan) <= 19):
                raise ValueError
        except (IndexError, ValueError):
            self._answer(seq, CMD_PIN, BAD_REQUEST)
            return
        if slot not in self.working_keys:
            self._answer(seq, CMD_PIN, KEY_ERROR)
            self.entries.append(
                Entry(seq, slot, low, high, timeout_s, _text(amount), _text(prompt),
                      pan.decode(), 0.0, "key error")
            )  # fmt: skip
            return
        self.entry = Entry(
            seq,
            slot,
            low,
            high,
            timeout_s,
            _text(amount),
            _text(prompt),
            pan.decode(),
            time.monotonic() + timeout_s,
        )
        self.entries.append(self.entry)
        self.display = (self.entry.amount, self.entry.prompt)
        self._serve_entry()

    def _serve_entry(self) -> None:
        entry = self.entry
        if entry is None or not self._script:
            return
        action = self._script.popleft()
        if action == "CANCEL":
            self._end_entry(CANCELLED, "cancelled")
        elif action == "TIMEOUT":
            self._end_entry(TIMEOUT, "timeout")
        elif not entry.min_length <= len(action) <= entry.max_length:
            # The pad takes no ENTER outside the limits: the cardholder gives up, it times out.
            self._end_entry(TIMEOUT, "timeout (PIN length outside the limits)")
        else:
            block = ecb(self.working_keys[entry.slot]).encrypt(
                pin_block_format0(action, entry.pan)
            )
            self._end_entry(OK, "pin", block)

    def _end_entry(self, status: int, outcome: str, block: bytes = b"") -> None:
        entry = self.entry
        assert entry is not None
        entry.outcome = outcome
        self.entry = None
        self.display = ("", "")
        self._answer(entry.seq, CMD_PIN, status, block)

    # --- answers -------------------------------------------------------------------------

    def _answer(self, seq: int, cmd: int, status: int, data: bytes = b"") -> None:
        frame = build_frame(seq, cmd, bytes([status]) + data)
        if self._last == (seq, cmd):
            self._last_answer = frame
        self._queue(frame)

    def _queue(self, frame: bytes) -> None:
        self._outbox.append(frame)
        if self._sending is None:
            self._next_answer()

    def _next_answer(self) -> None:
        if self._outbox:
            self._sending = self._outbox.popleft()
            self._sends = 0
            self._send_answer()

    def _send_answer(self, again: bool = False) -> None:
        frame = self._sending
        if frame is None:
            return
        if self._sends >= _ANSWER_TRIES:
            self._sending = None  # the terminal is gone: give up on this answer
            self._next_answer()
            return
        self._sends += 1
        self._sent_at = time.monotonic()
        self.answers_sent += 1
        if self.garble_answers:
            self.garble_answers -= 1
            frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        self.send(frame)
        self.notify()

    def tick(self, now: float) -> None:
        entry = self.entry
        if entry is not None and now >= entry.deadline:
            self._end_entry(TIMEOUT, "timeout")
        if self._sending is not None and now - self._sent_at >= _ACK_WAIT_S:
            self._send_answer(again=True)
        if self._rx and now - self._rx_since >= _FRAME_WAIT_S:
            self._bad_frame()  # a frame that never finished
