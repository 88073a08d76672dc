"""AT command channel: the line discipline the Hayes modem and the SIM800 drivers share.

The channel owns one receive buffer (allocated once) over a UART-like bus: any object with
`write(buf)`, `readinto(buf)` and `any()` with machine.UART semantics. It splits what arrives
into lines, and leaves everything it has not handed out as a line in the buffer, so the bytes
that follow `CONNECT 2400` (dial-up data) or a `+IPD,n:` header (SIM800 payload) are read as
data, never lost to the line reader.

Quirks it absorbs:
- result codes come as CR LF text CR LF (V1), but a modem set to S3=13/S4=0 ends them with CR
  alone: CR and LF both end a line, empty lines are skipped;
- the SIM800 send prompt `> ` has no line end at all (`readline(prompt=True)`);
- the SIM800 receive header `+IPD,12:` is followed by the payload with no line end
  (`frame_prefix`);
- a line longer than the buffer is noise (a baud mismatch, or binary data while the driver
  thinks the modem is in command mode): it is dropped, not allowed to wedge the reader.

No method waits without a deadline (`time.ticks_ms`); on a deadline the channel returns None or
a short count and the driver raises its own named error.
"""

import time

from drivers import message  # noqa: F401 (drivers.at.message: the AT drivers import it here)

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int


_CR = const(13)
_LF = const(10)
_PROMPT = const(62)  # ">"
_SPACE = const(32)
_COLON = const(58)


def ticks_left(deadline):
    """Milliseconds until `deadline` (a time.ticks_ms value); <= 0 once it has passed."""
    return time.ticks_diff(deadline, time.ticks_ms())


def deadline_in(timeout_ms):
    return time.ticks_add(time.ticks_ms(), timeout_ms)


class ATChannel:
    """Line reader and writer over a UART-like bus; see the module docstring."""

    def __init__(self, uart, *, buffer_size=256, frame_prefix=None):
        self.uart = uart
        self._buf = bytearray(buffer_size)
        self._mv = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._frame_prefix = frame_prefix
        self.last_tx = time.ticks_ms()  # when we last wrote: the Hayes guard time counts it
        self.last_rx = time.ticks_ms()  # when bytes last arrived
        self.lf_owed = False  # the last line ended with CR and its LF has not come yet

    # --- writing -------------------------------------------------------------------------

    def write(self, data):
        """Write all of `data` (bytes-like); the UART may take it in pieces."""
        total = len(data)
        sent = self.uart.write(data)
        if sent is None:
            sent = 0
        if sent < total:
            view = memoryview(data)
            while sent < total:
                n = self.uart.write(view[sent:])
                if n:
                    sent += n
                else:
                    time.sleep_ms(1)
        self.last_tx = time.ticks_ms()

    def command(self, cmd):
        """Send an AT command line: `cmd` then CR (two writes: no concatenated copy)."""
        self.write(cmd)
        self.write(b"\r")

    # --- reading -------------------------------------------------------------------------

    def pending(self):
        """Bytes received and not yet handed out."""
        return self._end - self._start

    def fill(self):
        """Move what the UART holds into the buffer; returns the number of bytes moved."""
        if self._start == self._end:
            self._start = self._end = 0
        n = self.uart.any()
        if not n:
            return 0
        size = len(self._buf)
        if size - self._end < n and self._start:
            # Compact: the unread bytes move to the front.
            count = self._end - self._start
            self._mv[0:count] = self._mv[self._start : self._end]
            self._start = 0
            self._end = count
        room = size - self._end
        if room <= 0:
            return 0
        if n > room:
            n = room
        got = self.uart.readinto(self._mv[self._end : self._end + n])
        if not got:
            return 0
        self._end += got
        self.last_rx = time.ticks_ms()
        return got

    def discard(self):
        """Drop everything received so far (stale replies, noise)."""
        self._start = self._end = 0
        n = self.uart.any()
        while n:
            # Never ask a real UART for more than it holds: readinto would wait for the rest.
            self.uart.readinto(self._mv[0 : min(n, len(self._buf))])
            n = self.uart.any()

    def _skip_line_ends(self):
        buf = self._buf
        while self._start < self._end and buf[self._start] in (_CR, _LF):
            self._start += 1

    def _starts_with(self, text):
        n = len(text)
        if self._end - self._start < n:
            return False
        buf = self._buf
        base = self._start
        for i in range(n):
            if buf[base + i] != text[i]:
                return False
        return True

    def _next_line(self, prompt):
        # One line out of the buffer, or None if no complete line is there yet.
        self._skip_line_ends()
        start = self._start
        end = self._end
        if start == end:
            return None
        buf = self._buf
        if prompt and buf[start] == _PROMPT:
            self._start = start + 1
            if self._start < end and buf[self._start] == _SPACE:
                self._start += 1
            return b">"
        frame = self._frame_prefix is not None and self._starts_with(self._frame_prefix)
        i = start
        while i < end:
            c = buf[i]
            if c == _CR or c == _LF:
                break
            if frame and c == _COLON:
                line = bytes(self._mv[start : i + 1])
                self._start = i + 1  # the payload stays in the buffer
                return line
            i += 1
        if i == end:
            if start == 0 and end == len(buf):
                self._start = self._end = 0  # an over-long line: noise, dropped
            return None
        line = bytes(self._mv[start:i])
        self._start = i + 1
        if buf[i] == _CR:
            # CR LF: take the LF now when it is there, else remember it is owed, so that it
            # is not read as the first byte of data after CONNECT.
            if self._start < end:
                if buf[self._start] == _LF:
                    self._start += 1
                self.lf_owed = False
            else:
                self.lf_owed = True
        else:
            self.lf_owed = False
        return line

    def readline(self, timeout_ms, *, prompt=False):
        """The next non-empty line without its CR/LF, or None if none came in `timeout_ms`.

        With `prompt`, a `>` at the start of a line is returned at once as b">" (the SIM800
        send prompt, which has no line end).
        """
        deadline = deadline_in(timeout_ms)
        while True:
            line = self._next_line(prompt)
            if line is not None:
                return line
            if not self.fill():
                if ticks_left(deadline) <= 0:
                    return None
                time.sleep_ms(1)

    def peek(self):
        """The first unread byte, or -1 when the buffer is empty."""
        if self._start == self._end:
            return -1
        return self._buf[self._start]

    def take(self, buf, limit=-1):
        """Copy buffered bytes into `buf` (at most `limit` if given); returns the count."""
        n = self._end - self._start
        if 0 <= limit < n:
            n = limit
        if n > len(buf):
            n = len(buf)
        if n:
            buf[0:n] = self._mv[self._start : self._start + n]
            self._start += n
        return n

    def skip(self, n):
        """Drop up to `n` buffered bytes; returns how many were dropped."""
        avail = self._end - self._start
        if n > avail:
            n = avail
        self._start += n
        return n

    def read_exactly(self, buf, timeout_ms):
        """Fill `buf` (a memoryview or bytearray) from the stream: buffered bytes first, then
        the UART. Returns how many bytes were read: len(buf), or fewer at the deadline."""
        want = len(buf)
        got = self.take(buf)
        if got == want:
            return got
        deadline = deadline_in(timeout_ms)
        view = memoryview(buf)
        while got < want:
            if self.fill():
                got += self.take(view[got:])
            elif ticks_left(deadline) <= 0:
                break
            else:
                time.sleep_ms(1)
        return got

    def find(self, pattern):
        """Offset (from the first unread byte) of `pattern` in the buffer, or -1.
        A plain loop: bytearray.find is not on every port."""
        buf = self._buf
        first = pattern[0]
        n = len(pattern)
        last = self._end - n
        i = self._start
        while i <= last:
            if buf[i] == first:
                j = 1
                while j < n and buf[i + j] == pattern[j]:
                    j += 1
                if j == n:
                    return i - self._start
            i += 1
        return -1

    def partial_tail(self, pattern):
        """Length of the longest end of the buffer that is a proper start of `pattern` (the
        bytes to hold back until it is known whether `pattern` follows)."""
        buf = self._buf
        n = len(pattern) - 1
        if n > self._end - self._start:
            n = self._end - self._start
        while n > 0:
            base = self._end - n
            j = 0
            while j < n and buf[base + j] == pattern[j]:
                j += 1
            if j == n:
                return n
            n -= 1
        return 0
