"""The console link's framing: whole packets over the console UART, each checked, acknowledged
and sent again until it is (docs/link.md, byte by byte).

    link = ConsoleLink(uart)            # a UART-like stream: write(buf), readinto(buf)
    link.start()                        # RESET: a new session, sequences start over
    link.send(b"...")                   # returns once the other side has acknowledged it
    payload = link.receive(2000)        # memoryview of one whole payload, or None

The rule the module keeps: a payload is handed over whole, after its CRC-32 has checked, or
not at all; one that arrives twice (its acknowledgement was lost) is acknowledged again and
not handed over twice. `send` waits `ack_timeout_ms` for the acknowledgement, sends again on
silence or a NAK, and raises LinkError after `tries` sendings. A frame that stops half-way is
dropped after `frame_timeout_ms` of silence, and the bytes after its first are searched for
the next frame, so lost, doubled or damaged bytes cost a retransmission, never a wrong packet.

Why CRC-32 (app.crypto.crc32): it is already the check of every record and packet on flash,
allocation-free on the ESP32, and it catches every burst of up to 32 bits in a frame of up to
1 KB; a CRC-16 would add a second implementation for a weaker check.

Memory: the receive buffer, the last frame sent (kept for a retransmission), one received
payload waiting for `receive` and a control frame are allocated once, in __init__
(2 x (max_payload + 10) + max_payload + 10 bytes). `receive` returns a view of the waiting
payload, valid until the next call on the link. Stop-and-wait: one frame in flight each way.
"""

import time

from app.crypto import crc32

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

MAGIC = b"PL"
DATA = const(0x01)
RESET = const(0x02)
ACK = const(0x06)
NAK = const(0x15)
HEADER = const(6)  # magic (2), type, sequence, length (2, big-endian)
CRC = const(4)
MAX_PAYLOAD = const(1024)
_POLL_MS = const(2)


class LinkError(OSError):
    """The other side did not acknowledge a frame after every try, or a payload is too long."""


class ConsoleLink:
    """See the module docstring."""

    def __init__(
        self,
        stream,
        *,
        max_payload=MAX_PAYLOAD,
        ack_timeout_ms=500,
        frame_timeout_ms=100,
        tries=5,
    ):
        self._stream = stream
        self._max = max_payload
        self._ack_ms = ack_timeout_ms
        self._frame_ms = frame_timeout_ms
        self._tries = tries
        size = HEADER + max_payload + CRC
        self._rx = bytearray(size)
        self._rxv = memoryview(self._rx)
        self._have = 0  # bytes in _rx
        self._last_byte = time.ticks_ms()
        self._tx = bytearray(size)
        self._txv = memoryview(self._tx)
        self._ctl = bytearray(HEADER + CRC)
        self._inbox = bytearray(max_payload)
        self._inbox_view = memoryview(self._inbox)
        self._inbox_len = -1  # -1: nothing waiting
        self._crc = bytearray(CRC)
        self._send_seq = 0
        self._last_seq = -1  # the last DATA or RESET sequence accepted; -1 none
        self.retransmissions = 0  # frames sent again (a figure for diagnostics)

    # --- sending --------------------------------------------------------------------------

    def start(self):
        """Begin a session: a RESET, acknowledged, after which the other side takes this
        side's next DATA as new whatever sequence it saw before."""
        self._deliver(RESET, b"")

    def send(self, payload):
        """Send `payload` (at most max_payload bytes) as one DATA frame and return once it is
        acknowledged; LinkError after `tries` sendings without an acknowledgement."""
        self._deliver(DATA, payload)

    def _deliver(self, kind, payload):
        n = len(payload)
        if n > self._max:
            raise LinkError("packet of %d bytes, the link carries %d" % (n, self._max))
        seq = self._send_seq
        end = _frame(self._tx, self._crc, kind, seq, payload, n)
        for attempt in range(self._tries):
            if attempt:
                self.retransmissions += 1
            self._write(self._txv[:end])
            deadline = time.ticks_add(time.ticks_ms(), self._ack_ms)
            while True:
                got = self._next_frame(deadline)
                if got < 0:
                    break  # silence: send again
                if got == ACK and self._rx[3] == seq:
                    self._consume()
                    self._send_seq = (seq + 1) & 0xFF
                    return
                if got == NAK:
                    self._consume()
                    break  # damaged on the way: send again now
                if got == DATA or got == RESET:
                    self._accept(got)  # the other side's packet, kept for receive()
                else:
                    self._consume()  # an acknowledgement of something else
        raise LinkError("no acknowledgement after %d tries" % self._tries)

    # --- receiving ------------------------------------------------------------------------

    def receive(self, timeout_ms):
        """One whole payload (a memoryview valid until the next call on the link), or None
        when none has come within `timeout_ms`."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while self._inbox_len < 0:
            got = self._next_frame(deadline)
            if got < 0:
                return None
            if got == DATA or got == RESET:
                self._accept(got)
            else:
                self._consume()  # NAK or ACK with nothing in flight
        n = self._inbox_len
        self._inbox_len = -1
        return self._inbox_view[:n]

    def _accept(self, kind):
        # A checked DATA or RESET in _rx: acknowledge it unless its payload has nowhere to go.
        seq = self._rx[3]
        if kind == RESET:
            self._last_seq = seq
        elif seq != self._last_seq:
            if self._inbox_len >= 0:
                self._consume()  # receive() has not taken the last one: no ACK, it comes again
                return
            n = self._rx[4] << 8 | self._rx[5]
            self._inbox_view[:n] = self._rxv[HEADER : HEADER + n]
            self._inbox_len = n
            self._last_seq = seq
        # else: sent again because our ACK was lost; acknowledged again, not handed over twice
        self._consume()
        self._control(ACK, seq)

    def _control(self, kind, seq):
        self._write(self._ctl[: _frame(self._ctl, self._crc, kind, seq, b"", 0)])

    # --- frames off the stream ------------------------------------------------------------

    def _next_frame(self, deadline):
        """The type of the next whole, checked frame, left at the start of _rx; -1 when the
        deadline passes first. Damaged frames are answered with a NAK and skipped."""
        rx = self._rx
        while True:
            have = self._have
            if have >= 1 and rx[0] != MAGIC[0] or have >= 2 and rx[1] != MAGIC[1]:
                self._drop(1)
                continue
            need = HEADER
            if have >= HEADER:
                length = rx[4] << 8 | rx[5]
                if length > self._max:
                    self._drop(1)  # not a frame of ours: look further on
                    continue
                need = HEADER + length + CRC
                if have >= need:
                    crc32.start(self._crc, rx, need - CRC)
                    if self._crc == self._rxv[need - CRC : need]:
                        return rx[2]
                    self._drop(1)
                    self._control(NAK, self._last_seq & 0xFF)
                    continue
            now = time.ticks_ms()
            n = self._stream.readinto(self._rxv[have:need])
            if n:
                self._have = have + n
                self._last_byte = now
            elif have and time.ticks_diff(now, self._last_byte) > self._frame_ms:
                self._drop(1)  # a frame that stopped half-way: look for one after its start
                self._last_byte = now
            elif time.ticks_diff(deadline, now) <= 0:
                return -1
            else:
                time.sleep_ms(_POLL_MS)

    def _consume(self):
        # Take the frame at the start of _rx off the buffer.
        self._drop(HEADER + (self._rx[4] << 8 | self._rx[5]) + CRC)

    def _drop(self, count):
        rx = self._rx
        left = self._have - count
        for i in range(left):  # rare and short: after a damaged frame, or a frame's tail
            rx[i] = rx[count + i]
        self._have = left

    def _write(self, frame):
        # UART writes queue the bytes; one that takes nothing for ack_timeout_ms is stuck.
        view = memoryview(frame)
        sent = 0
        deadline = time.ticks_add(time.ticks_ms(), self._ack_ms)
        while sent < len(view):
            n = self._stream.write(view[sent:])
            if n:
                sent += n
            elif time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise LinkError("the console takes no data")
            else:
                time.sleep_ms(_POLL_MS)


def _frame(buf, crc, kind, seq, payload, n):
    # Lay a frame out in `buf`; returns its length.
    buf[0] = MAGIC[0]
    buf[1] = MAGIC[1]
    buf[2] = kind
    buf[3] = seq
    buf[4] = n >> 8
    buf[5] = n & 0xFF
    buf[HEADER : HEADER + n] = payload
    crc32.start(crc, buf, HEADER + n)
    buf[HEADER + n : HEADER + n + CRC] = crc
    return HEADER + n + CRC
