"""The host side of the console link's framing (docs/link.md): whole packets to and from a
terminal over its console, each checked, acknowledged and sent again until it is.

    port = serial.Serial("/dev/ttyUSB0", 115200, timeout=0.01)   # or any pyserial-like stream
    link = ConsoleLink(port)
    link.start()                 # RESET: a new session, sequences start over
    link.send(b"...")            # returns once the terminal has acknowledged it
    payload = link.receive(2.0)  # bytes of one whole payload, or None after 2 s

The stream needs `write(data)` and `read(size)`, which returns what has come (b"" when its
own short timeout passes), as pyserial's Serial does. The device half is
device/app/comm/consolelink.py; the two share the format in docs/link.md, not code, and this
side checks with `binascii.crc32`, the device with its own CRC-32, so each checks the other.
Failures are LinkError (a PoskitError), with the reason in words.
"""

from __future__ import annotations

import binascii
import struct
import time

from hostlib.errors import PoskitError

MAGIC = b"PL"
DATA = 0x01
RESET = 0x02
ACK = 0x06
NAK = 0x15
HEADER = 6
CRC = 4
MAX_PAYLOAD = 1024


class LinkError(PoskitError):
    """The terminal did not acknowledge a frame after every try, or a packet is too long."""


def frame(kind: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame, as docs/link.md lays it out."""
    head = MAGIC + struct.pack(">BBH", kind, seq & 0xFF, len(payload)) + payload
    return head + struct.pack(">I", binascii.crc32(head))


class ConsoleLink:
    """See the module docstring; timeouts in seconds."""

    def __init__(
        self,
        stream,
        *,
        max_payload: int = MAX_PAYLOAD,
        ack_timeout: float = 0.5,
        frame_timeout: float = 0.1,
        tries: int = 5,
    ):
        self._stream = stream
        self._max = max_payload
        self._ack_timeout = ack_timeout
        self._frame_timeout = frame_timeout
        self._tries = tries
        self._rx = bytearray()
        self._last_byte = time.monotonic()
        self._inbox: list[bytes] = []
        self._send_seq = 0
        self._last_seq = -1
        self.retransmissions = 0

    def start(self) -> None:
        """Begin a session (RESET, acknowledged)."""
        self._deliver(RESET, b"")

    def send(self, payload: bytes) -> None:
        """Send `payload` as one DATA frame; return once it is acknowledged."""
        self._deliver(DATA, bytes(payload))

    def receive(self, timeout: float) -> bytes | None:
        """One whole payload, or None when none has come within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self._inbox:
            got = self._next_frame(deadline)
            if got is None:
                return None
            kind, seq, payload = got
            if kind in (DATA, RESET):
                self._accept(kind, seq, payload)
        return self._inbox.pop(0)

    def _deliver(self, kind: int, payload: bytes) -> None:
        if len(payload) > self._max:
            raise LinkError("packet of %d bytes, the link carries %d" % (len(payload), self._max))
        seq = self._send_seq
        data = frame(kind, seq, payload)
        for attempt in range(self._tries):
            if attempt:
                self.retransmissions += 1
            self._write(data)
            deadline = time.monotonic() + self._ack_timeout
            while True:
                got = self._next_frame(deadline)
                if got is None:
                    break
                got_kind, got_seq, got_payload = got
                if got_kind == ACK and got_seq == seq:
                    self._send_seq = (seq + 1) & 0xFF
                    return
                if got_kind == NAK:
                    break
                if got_kind in (DATA, RESET):
                    self._accept(got_kind, got_seq, got_payload)
        raise LinkError(
            "the terminal did not acknowledge after %d tries (is it in host-link mode?)"
            % self._tries
        )

    def _accept(self, kind: int, seq: int, payload: bytes) -> None:
        if kind == RESET:
            self._last_seq = seq
        elif seq != self._last_seq:
            self._inbox.append(payload)
            self._last_seq = seq
        self._write(frame(ACK, seq))

    def _next_frame(self, deadline: float) -> tuple[int, int, bytes] | None:
        rx = self._rx
        while True:
            start = rx.find(MAGIC[:1])
            if start < 0:
                del rx[:]
            elif start:
                del rx[:start]
            if len(rx) >= 2 and rx[1] != MAGIC[1]:
                del rx[:1]
                continue
            need = HEADER
            if len(rx) >= HEADER:
                kind, seq, length = struct.unpack_from(">BBH", rx, 2)
                if length > self._max:
                    del rx[:1]
                    continue
                need = HEADER + length + CRC
                if len(rx) >= need:
                    body = bytes(rx[: need - CRC])
                    if struct.pack(">I", binascii.crc32(body)) == rx[need - CRC : need]:
                        del rx[:need]
                        return kind, seq, body[HEADER:]
                    del rx[:1]
                    self._write(frame(NAK, self._last_seq))
                    continue
            now = time.monotonic()
            data = self._stream.read(need - len(rx))
            if data:
                rx += data
                self._last_byte = now
            elif rx and now - self._last_byte > self._frame_timeout:
                del rx[:1]
                self._last_byte = now
            elif now >= deadline:
                return None

    def _write(self, data: bytes) -> None:
        self._stream.write(data)
