# Test doubles for the drivers, on MicroPython: a scripted UART and a small ESC/POS printer.
# FakePin is board.unix_sim.FakePin (the virtual terminal uses it too).
import io

_POLL = 3
_POLLIN = 1
_POLLOUT = 4


class FakeUART(io.IOBase):
    """A UART whose far end follows a script.

    `script` is a list of (expected, reply): when the bytes the driver has written (since
    the previous step) equal `expected`, `reply` becomes readable (None: no answer at all;
    a callable: called, its result is the reply). A write that departs from the script
    raises AssertionError naming both. `written` keeps every byte written; `feed(data)` makes
    bytes readable at once (URCs, noise). Reads never block, like a UART with timeout=0.
    With `chunk`, a read returns at most that many bytes (a slow line: answers split
    anywhere, a CR in one read and its LF in the next).
    """

    def __init__(self, script=(), chunk=None):
        self.script = list(script)
        self.chunk = chunk
        self.written = bytearray()
        self._pending = bytearray()
        self._rx = bytearray()

    def feed(self, data):
        self._rx.extend(data)

    def done(self):
        """True when every step of the script has been played."""
        return not self.script and not self._pending

    def write(self, buf):
        data = bytes(buf)
        self.written.extend(data)
        self._pending.extend(data)
        while self.script:
            expected, reply = self.script[0]
            n = len(self._pending)
            if n < len(expected):
                if bytes(self._pending) != expected[:n]:
                    self._fail(expected)
                return len(data)
            if bytes(self._pending[: len(expected)]) != expected:
                self._fail(expected)
            self._pending = self._pending[len(expected) :]
            self.script.pop(0)
            if callable(reply):
                reply = reply()
            if reply:
                self._rx.extend(reply)
        if self._pending:
            raise AssertionError("write after the end of the script: %r" % bytes(self._pending))
        return len(data)

    def _fail(self, expected):
        raise AssertionError("wrote %r, script expected %r" % (bytes(self._pending), expected))

    def any(self):
        return len(self._rx)

    def readinto(self, buf, nbytes=-1):
        n = min(len(buf), len(self._rx))
        if nbytes >= 0:
            n = min(n, nbytes)
        if self.chunk:
            n = min(n, self.chunk)
        if not n:
            return None
        buf[0:n] = self._rx[:n]
        self._rx = self._rx[n:]
        return n

    def read(self, n=-1):
        if not self._rx:
            return None
        if n < 0:
            n = len(self._rx)
        if self.chunk:
            n = min(n, self.chunk)
        data = bytes(self._rx[:n])
        self._rx = self._rx[n:]
        return data

    def ioctl(self, request, arg):
        if request == _POLL:
            return (arg & _POLLOUT) | (arg & _POLLIN if self._rx else 0)
        return -1


def at(cmd, *answers):
    """One AT step: the command line the driver writes, and the lines the modem answers
    (each framed CR LF ... CR LF, as a modem in V1 sends them)."""
    reply = b"".join(b"\r\n" + a + b"\r\n" for a in answers)
    return (cmd + b"\r", reply or None)


class FakePrinter(io.IOBase):
    """An ESC/POS printer at the byte level, enough for the driver: it records what it
    is sent, answers DLE EOT 2 / DLE EOT 4 from its state, counts LFs as printed lines and
    runs out of paper after `paper_lines` of them. While it has no paper it holds what it
    receives (like a real printer) and prints it when paper() loads a new roll.
    `silent` makes it answer no status request (a printer switched off)."""

    def __init__(self, paper_lines=None):
        self.written = bytearray()  # every byte received, status requests included
        self.printed = bytearray()  # the bytes it has printed (processed)
        self.held = bytearray()
        self.paper_lines = paper_lines
        self.cover_open = False
        self.silent = False
        self.queries = 0
        self._rx = bytearray()

    def paper(self, lines=None):
        """Load a roll (`lines` long, None: endless) and print what was held."""
        self.paper_lines = lines
        held = self.held
        self.held = bytearray()
        self._process(held)

    def out(self):
        return self.paper_lines == 0 or self.cover_open

    def write(self, buf):
        data = bytes(buf)
        self.written.extend(data)
        rest = bytearray()
        i = 0
        while i < len(data):
            # DLE EOT n is real-time: answered at once, never held or printed.
            if data[i] == 0x10 and i + 2 < len(data) and data[i + 1] == 0x04:
                self._status(data[i + 2])
                i += 3
                continue
            rest.append(data[i])
            i += 1
        if self.out():
            self.held.extend(rest)
        else:
            self._process(rest)
        return len(data)

    def _process(self, data):
        for i, byte in enumerate(data):
            if self.out():
                self.held.extend(data[i:])
                return
            self.printed.append(byte)
            if byte == 10 and self.paper_lines is not None:
                self.paper_lines -= 1

    def _status(self, n):
        self.queries += 1
        if self.silent:
            return
        if n == 2:
            self._rx.append(0x12 | (0x04 if self.cover_open else 0) | (0x20 if self.out() else 0))
        elif n == 4:
            self._rx.append(0x12 | (0x60 if self.paper_lines == 0 else 0))
        else:
            self._rx.append(0x12)

    def any(self):
        return len(self._rx)

    def readinto(self, buf, nbytes=-1):
        n = min(len(buf), len(self._rx))
        if not n:
            return None
        buf[0:n] = self._rx[:n]
        self._rx = self._rx[n:]
        return n

    def ioctl(self, request, arg):
        if request == _POLL:
            return (arg & _POLLOUT) | (arg & _POLLIN if self._rx else 0)
        return -1
