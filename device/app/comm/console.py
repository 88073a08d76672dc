"""The console (sys.stdin / sys.stdout) as a stream, and the idle screen's ear on it for a
host's RESET frame (docs/link.md): the little of host-link mode (app.hostlink) that stays on
the heap while the terminal waits at its idle screen.

    watch = Watch()             # the idle screen: watch.poll() -> a RESET frame's bytes
    link = ConsoleLink(ConsoleStream(first))    # app.hostlink, once a host has come
"""

import sys

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_RESET_FRAME = const(10)  # a RESET frame's size: header 6, no payload, CRC 4


class ConsoleStream:
    """The console (sys.stdin / sys.stdout) as the UART-like stream ConsoleLink reads and
    writes: readinto takes what has arrived, byte by byte, without waiting; `first` is
    bytes already taken off the console (the RESET frame the idle screen saw), read first."""

    def __init__(self, first=b""):
        import select

        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._one = bytearray(1)
        self._first = first
        self._at = 0

    def ready(self):
        """Whether a byte waits (or one taken off the console before is still to read)."""
        if self._at < len(self._first):
            return True
        for _ in self._poll.ipoll(0):
            return True
        return False

    def readinto(self, buf):
        n = 0
        size = len(buf)
        first = self._first
        while n < size and self._at < len(first):
            buf[n] = first[self._at]
            self._at += 1
            n += 1
        while n < size and self.ready():
            if not self._in.readinto(self._one):
                break  # end of input: nothing more will come
            buf[n] = self._one[0]
            n += 1
        return n

    def write(self, buf):
        return self._out.write(buf)


class Watch:
    """The idle screen's ear on the console: poll() takes what has arrived (without waiting)
    and returns the 10 bytes of a RESET frame (docs/link.md) once one has come whole, else
    None. Anything else is dropped: a terminal at its idle screen takes nothing else from
    its console."""

    def __init__(self, stream=None):
        from app.crypto import crc32

        self._crc32 = crc32
        self._stream = stream or ConsoleStream()
        self._buf = bytearray(_RESET_FRAME)
        self._view = memoryview(self._buf)
        self._have = 0
        self._crc = bytearray(4)

    def poll(self):
        buf = self._buf
        while self._stream.ready():
            n = self._stream.readinto(self._view[self._have :])
            if not n:
                return None
            self._have += n
            # Keep the bytes from the first that can start a frame ("P").
            while self._have and (
                buf[0] != 0x50
                or self._have > 1
                and buf[1] != 0x4C
                or self._have > 2
                and buf[2] != 0x02
                or self._have > 5
                and (buf[4] or buf[5])
            ):
                for i in range(1, self._have):
                    buf[i - 1] = buf[i]
                self._have -= 1
            if self._have == _RESET_FRAME:
                self._crc32.start(self._crc, buf, 6)
                if self._crc == self._view[6:]:
                    self._have = 0
                    return bytes(buf)
                for i in range(1, _RESET_FRAME):
                    buf[i - 1] = buf[i]
                self._have -= 1
        return None
