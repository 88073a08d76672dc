"""A contactless reader (NXP PN532 on its HSU UART) and the cards held to it.

    nfc = Pn532Emulator().start()
    ... device: drivers.pn532.PN532(SocketUART("127.0.0.1", nfc.port)) ...
    nfc.tap(card)              # a card (.contactless True) in the field until remove()
    nfc.tap(card, seconds=2)   # ... or for 2 s
    nfc.remove()
    nfc.lose_during_next_exchange()   # faults, each for the next command
    nfc.corrupt_next_answer()         # the next answer frame's DCS is wrong (once)
    nfc.max_chunk = 16                # answers in MI-chained pieces of 16 bytes
    nfc.noise = True                  # the line carries noise, no frames (wrong baud rate)

The frames of the PN532 user manual (docs/drivers.md, drivers/pn532.py): 00 00 FF LEN LCS TFI
DATA DCS 00, ACK 00 00 FF 00 FF 00, NACK 00 00 FF FF 00 00 (the terminal asks for the last
answer again), the error frame 00 00 FF 01 FF 7F 81 00 for a command frame with a wrong
checksum. The PN532 starts asleep: until a 0x55 comes (the HSU wake-up), it ignores the line.

The card: `card.contactless` must be true for it to answer (a contact-only card in the field
is not seen). Its anticollision data come from optional attributes `uid`, `sens_res`,
`sel_res` and `ats`, with those of a typical dual-interface payment card by default. An APDU
(InDataExchange, its pieces joined) goes to `card.apdu()` as it came; the answer goes back
as it is, in pieces of `max_chunk` bytes with the MI bit where it does not fit one frame.
"""

from __future__ import annotations

import time

from hostlib.emulators.base import Emulator

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"
FIRMWARE = bytes((0x32, 0x01, 0x06, 0x07))  # PN532 v1.6, ISO 14443 A + B + 18092
DEFAULT_UID = bytes.fromhex("08A1B2C3")  # a random UID (first byte 08), as bank cards send
DEFAULT_SENS_RES = bytes.fromhex("0004")
DEFAULT_SEL_RES = 0x20  # ISO 14443-4 compliant
DEFAULT_ATS = bytes.fromhex("0578807002")  # TL T0 TA TB TC: FSCI 8 (256 bytes)
STATUS_TIMEOUT = 0x01
MI = 0x40


def checksum(data: bytes) -> int:
    """The byte that makes `data` + it sum to 0 (mod 256): LCS and DCS."""
    return -sum(data) & 0xFF


def build_frame(data: bytes, tfi: int = 0xD5) -> bytes:
    """A normal information frame holding TFI + `data` (≤ 254 bytes)."""
    body = bytes((tfi,)) + data
    if len(body) > 255:
        raise ValueError("normal frame of %d bytes" % len(body))
    return (
        b"\x00\x00\xff"
        + bytes((len(body), checksum(bytes((len(body),)))))
        + body
        + bytes((checksum(body), 0))
    )


class Pn532Emulator(Emulator):
    """See the module docstring. `awake` False: a wake-up is needed first (as after
    power-up)."""

    name = "pn532"

    def __init__(self, *, awake: bool = False, max_chunk: int = 252, **options) -> None:
        super().__init__(**options)
        self.awake = awake
        self.max_chunk = max_chunk
        self.card = None
        self.field_on = False
        self.active = False  # the card is activated (listed) and not released
        self.exchanges: list[tuple[bytes, bytes]] = []
        self.commands: list[int] = []
        self.nacks = 0
        self._rx = bytearray()
        self._until: float | None = None
        self._last = b""
        self._incoming = bytearray()  # an APDU arriving in MI pieces
        self._outgoing = b""  # the rest of an answer sent in MI pieces
        self._lose_next = False
        self._corrupt_next = False
        self.noise = False

    # --- the person at the terminal, and faults -------------------------------------------

    def tap(self, card, seconds: float | None = None) -> None:
        """Hold `card` in the field: until remove(), or for `seconds`."""
        with self.lock:
            self.card = card
            self.active = False
            self._until = None if seconds is None else time.monotonic() + seconds
            self.notify()

    def remove(self) -> None:
        """Take the card out of the field."""
        with self.lock:
            self.card = None
            self.active = False
            self._until = None
            self.notify()

    def lose_during_next_exchange(self) -> None:
        """Fault: the card leaves the field during the next InDataExchange."""
        with self.lock:
            self._lose_next = True

    def corrupt_next_answer(self) -> None:
        """Fault: the next answer frame goes out with a wrong DCS (a NACK gets it right)."""
        with self.lock:
            self._corrupt_next = True

    @property
    def in_field(self) -> bool:
        with self.lock:
            return self.card is not None

    # --- the line ----------------------------------------------------------------------

    def connected(self) -> None:
        self._rx.clear()

    def tick(self, now: float) -> None:
        if self.noise:
            self.send(b"\x5a" * 2048)  # more than the terminal reads: never a gap
        if self._until is not None and now >= self._until:
            self.card = None
            self.active = False
            self._until = None

    def received(self, data: bytes) -> None:
        if self.noise:
            return
        if not self.awake:
            at = data.find(b"\x55")
            if at < 0:
                return  # asleep: the line is not listened to
            self.awake = True
            data = data[at + 1 :]
        self._rx += data
        while True:
            start = self._rx.find(b"\x00\xff")
            if start < 0:
                # Keep a trailing 00: it may be the first byte of a start code.
                del self._rx[: max(0, len(self._rx) - 1)]
                return
            if len(self._rx) < start + 4:
                return
            length, lcs = self._rx[start + 2], self._rx[start + 3]
            if length == 0 and lcs == 0xFF:  # ACK from the terminal: abort
                del self._rx[: start + 4]
                continue
            if length == 0xFF and lcs == 0:  # NACK: the last answer again
                del self._rx[: start + 4]
                self.nacks += 1
                self.send(self._last)
                continue
            if (length + lcs) & 0xFF:
                del self._rx[: start + 2]
                self.send(ERROR_FRAME)
                continue
            end = start + 4 + length + 1
            if len(self._rx) < end:
                return
            body = bytes(self._rx[start + 4 : start + 4 + length])
            dcs = self._rx[end - 1]
            del self._rx[:end]
            if checksum(body) != dcs or not body or body[0] != 0xD4 or len(body) < 2:
                self.send(ERROR_FRAME)
                continue
            self.send(ACK)
            self.commands.append(body[1])
            answer = self._command(body[1], body[2:])
            frame = build_frame(bytes((body[1] + 1,)) + answer)
            self._last = frame
            if self._corrupt_next:
                self._corrupt_next = False
                broken = bytearray(frame)
                broken[-2] ^= 0x5A
                frame = bytes(broken)
            self.send(frame)
            self.notify()

    # --- commands ------------------------------------------------------------------------

    def _command(self, cmd: int, data: bytes) -> bytes:
        if cmd == 0x02:  # GetFirmwareVersion
            return FIRMWARE
        if cmd == 0x14:  # SAMConfiguration
            return b""
        if cmd == 0x32:  # RFConfiguration
            if data[:1] == b"\x01":
                self.field_on = bool(len(data) > 1 and data[1] & 0x01)
                if not self.field_on:
                    self.active = False
            return b""
        if cmd == 0x4A:  # InListPassiveTarget
            return self._list(data)
        if cmd == 0x40:  # InDataExchange
            return self._exchange(data)
        if cmd == 0x52:  # InRelease
            self.active = False
            return b"\x00"
        return b"\x27"  # command not acceptable

    def _list(self, data: bytes) -> bytes:
        self.field_on = True
        card = self.card
        if len(data) < 2 or data[1] != 0x00 or card is None or not card.contactless:
            self.active = False
            return b"\x00"
        card.reset()
        self.active = True
        self._incoming.clear()
        self._outgoing = b""
        uid = bytes(getattr(card, "uid", DEFAULT_UID))
        sens_res = bytes(getattr(card, "sens_res", DEFAULT_SENS_RES))
        sel_res = getattr(card, "sel_res", DEFAULT_SEL_RES)
        ats = bytes(getattr(card, "ats", DEFAULT_ATS)) if sel_res & 0x20 else b""
        return bytes((1, 1)) + sens_res + bytes((sel_res, len(uid))) + uid + ats

    def _exchange(self, data: bytes) -> bytes:
        if not data or data[0] & 0x3F != 1:
            return b"\x27"
        if self._lose_next and self.card is not None:
            self._lose_next = False
            self.card = None
        if self.card is None or not self.active:
            self.active = False
            return bytes((STATUS_TIMEOUT,))
        if self._outgoing and len(data) == 1:
            return self._piece()
        self._incoming += data[1:]
        if data[0] & MI:
            return b"\x00"
        apdu = bytes(self._incoming)
        self._incoming.clear()
        answer = bytes(self.card.apdu(apdu))
        self.exchanges.append((apdu, answer))
        self._outgoing = answer
        return self._piece()

    def _piece(self) -> bytes:
        piece, self._outgoing = self._outgoing[: self.max_chunk], self._outgoing[self.max_chunk :]
        return bytes((MI if self._outgoing else 0,)) + piece
