"""The bearer interface the transaction engine talks through, the frame reading every bearer
shares, and the TCP bearer.

A bearer carries whole ISO 8583 frames (spec §1): a 2-byte big-endian length, then that many
bytes. The engine only ever calls:

    bearer.connect()                      # idempotent: nothing to do when already connected
    frame = bearer.exchange(request, timeout_ms)   # send one frame, read one whole frame
    frame = bearer.receive(timeout_ms)    # read one more frame (a duplicate was dropped)
    bearer.close()                        # idempotent
    bearer.use_buffer(buffer)             # optional: receive into the engine's pack buffer
    bearer.watch(cancel)                  # optional: CANCEL ends the waits (below)

`exchange` and `receive` return a memoryview of the bearer's receive buffer, from the length
prefix to the end of the frame, valid until the next receive (app.txn.iso8583.unpack reads it and
copies the values it keeps). Every wait is bounded and ends in a named error, all CommError
(an OSError):

    ConnectFailed   no connection: host unknown, refused, or no answer within connect_ms
                    (dial-up: busy, no answer, no dial tone; GPRS: no SIM, not registered)
    CommTimeout     no whole frame within timeout_ms (nothing, or part of one)
    LinkDown        the connection closed or broke: before an answer, or in the middle of one
    CommCancelled   the cashier pressed CANCEL (`bearer.watch`, below): `sent` says whether
                    the request had left (then it is treated as no answer: reversal 98)
    CommError       anything else (a frame longer than the receive buffer)

CANCEL: `bearer.watch(cancel)` gives a bearer a function that returns True once the cashier
has pressed CANCEL (the UI's app.ui.screen.cancel_pressed); `watch(None)` takes it away.
The waits look at it every `_POLL_MS` (100 ms): the wait for the host's answer, and the
dial-up bearer's wait for CONNECT; the others between connection attempts (a TCP or GPRS
connect in progress runs to its own timeout, connect_timeout).

After any of them the engine closes the bearer: a late answer must never be read as the
answer to the next request. FrameBearer reads frames for every bearer, whatever pieces the
line delivers them in; TcpBearer runs on MicroPython's `socket` (the unix port, and the ESP32
over Ethernet or Wi-Fi). The dial-up, GPRS and Ethernet bearers, and the choice among them
from the terminal's parameters, are in app.comm.bearers.
"""

import errno
import socket
import time

from app import message

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_PREFIX = const(2)
_POLL_MS = const(100)  # how often a wait looks at `cancel`
# A socket read that hits its timeout: EAGAIN on the unix port (SO_RCVTIMEO), ETIMEDOUT on
# the ESP32's lwIP.
_TIMED_OUT = (errno.EAGAIN, errno.ETIMEDOUT)


# Messages, numbered from 0 by _M_* and formatted by _text() (app.message: one literal, not a
# heap object per message).
_M_PART_ARRIVED = const(0)
_M_AFTER_PART = const(1)
_M_NOT_CONNECTED = const(2)
_M_TOO_LONG = const(3)
_M_RESOLVE = const(4)
_M_CONNECT = const(5)
_M_SEND_SLOW = const(6)
_M_SEND_FAILED = const(7)
_M_RECEIVE_FAILED = const(8)
_M_CLOSED = const(9)
_M_CANCELLED = const(10)
_MESSAGES = (
    "|%d of %d bytes of the answer arrived"  # _M_PART_ARRIVED
    "|%s after %d of %d bytes of the answer"  # _M_AFTER_PART
    "|not connected"  # _M_NOT_CONNECTED
    "|answer of %d bytes exceeds the %d-byte buffer"  # _M_TOO_LONG
    "|cannot resolve %s"  # _M_RESOLVE
    "|cannot connect to %s:%d (%s)"  # _M_CONNECT
    "|send not finished in %d ms"  # _M_SEND_SLOW
    "|send failed (%s)"  # _M_SEND_FAILED
    "|receive failed (%s)"  # _M_RECEIVE_FAILED
    "|connection closed by the host"  # _M_CLOSED
    "|cancelled at the terminal"  # _M_CANCELLED
    "|"
)


def _text(number, args=None):
    return message(_MESSAGES, number, args)


class CommError(OSError):
    """A bearer failure; the subclasses say which."""


class CommTimeout(CommError):
    """No whole frame arrived within the time allowed."""


class ConnectFailed(CommError):
    """The connection could not be made."""


class LinkDown(CommError):
    """The connection closed or broke."""


class CommCancelled(CommError):
    """The cashier pressed CANCEL while the terminal dialled or waited for the host. `sent`:
    the request had left (True), or the connection was still being made (False)."""

    def __init__(self, sent):
        super().__init__(_text(_M_CANCELLED))
        self.sent = sent


def _code(exc):
    return exc.args[0] if exc.args else 0


class FrameBearer:
    """What every bearer shares: the receive buffer, and reading one whole frame from a byte
    stream that hands it over in pieces of any size.

    A subclass provides `connected`, connect(), close(), send(frame) and the one read
    primitive `_readinto(view, timeout_ms)`: put what has arrived (at least one byte, at most
    len(view)) into `view` and return the count, or 0 if nothing came within `timeout_ms`;
    raise LinkDown when the link is gone. The receive buffer (`buffer_size`, allocated on
    first use, or the one `use_buffer` lends) bounds the longest frame accepted.
    """

    def __init__(self, buffer_size=1024):
        self._size = buffer_size
        self._mv = None
        self.cancel = None  # a function: True once CANCEL was pressed (module docstring)

    def watch(self, cancel):
        """From now on look at `cancel()` (True once the cashier pressed CANCEL) in the
        waits; None stops it (the module docstring says which waits)."""
        self.cancel = cancel

    def cancelled(self, sent):
        """Raise CommCancelled(sent) if `cancel` says CANCEL was pressed; the bearers call it
        between connection attempts and in their waits."""
        cancel = self.cancel
        if cancel is not None and cancel():
            raise CommCancelled(sent)

    @property
    def connected(self):
        """True while a connection (call, socket) is open."""
        raise NotImplementedError

    def send(self, frame):
        raise NotImplementedError

    def _readinto(self, view, timeout_ms):
        raise NotImplementedError

    def use_buffer(self, buffer):
        """Receive into `buffer` (a bytearray) instead of a buffer of our own: the engine
        lends its packing buffer, since a request is sent whole before its answer is read."""
        self._mv = memoryview(buffer)

    def _buffer(self):
        # The receive buffer (a memoryview), made at the first receive unless one was lent.
        mv = self._mv
        if mv is None:
            mv = self._mv = memoryview(bytearray(self._size))
        return mv

    def _arrived(self, want, have, timeout_ms):
        # How many of the frame's first `want` bytes are in the receive buffer (`have` were),
        # after waiting at most `timeout_ms` for more; LinkDown when the link is gone. A
        # bearer that keeps the line's data itself reads the frame where it lies instead:
        # _arrived, _received and _taken (app.comm.gprs).
        return have + self._readinto(self._buffer()[have:want], timeout_ms)

    def _received(self):
        # The receive buffer from the frame's first byte.
        return self._buffer()

    def _taken(self, count):
        # The frame's `count` bytes are handed to the engine.
        pass

    def _read(self, want, have, deadline, total):
        # The buffer from the frame's start, once its first `want` bytes are there (`have`
        # were), before `deadline`: CommTimeout or LinkDown otherwise, saying how much of the
        # answer (`total` bytes expected) had arrived.
        watch = self.cancel is not None
        while have < want:
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                if have:
                    raise CommTimeout(_text(_M_PART_ARRIVED, (have, total)))
                raise CommTimeout("no answer")
            if watch and left > _POLL_MS:
                left = _POLL_MS  # short waits, so that CANCEL is seen between them
            try:
                more = self._arrived(want, have, left)
            except LinkDown as exc:
                if have:
                    raise LinkDown(_text(_M_AFTER_PART, (exc, have, total)))
                raise
            if watch and more == have:
                self.cancelled(True)
            have = more
        return self._received()

    def receive(self, timeout_ms):
        """One whole frame (memoryview from its length prefix on), within `timeout_ms`."""
        if not self.connected:
            raise LinkDown(_text(_M_NOT_CONNECTED))
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        mv = self._read(_PREFIX, 0, deadline, _PREFIX)
        total = _PREFIX + (mv[0] << 8 | mv[1])
        if total > len(self._buffer()):
            raise CommError(_text(_M_TOO_LONG, (total - _PREFIX, len(self._buffer()))))
        mv = self._read(total, _PREFIX, deadline, total)[:total]
        self._taken(total)
        return mv

    def exchange(self, frame, timeout_ms):
        """Send `frame`, then read one whole frame within `timeout_ms`."""
        self.send(frame)
        return self.receive(timeout_ms)


class TcpBearer(FrameBearer):
    """Frames over one TCP connection to `host`:`port`.

    `connect_ms` bounds the connection set-up, `io_ms` each send; a receive is bounded by
    the timeout the engine passes.
    """

    def __init__(self, host, port, *, connect_ms=30000, io_ms=30000, buffer_size=1024):
        super().__init__(buffer_size)
        self.host = host
        self.port = port
        self.connect_ms = connect_ms
        self.io_ms = io_ms
        self._sock = None

    @property
    def connected(self):
        return self._sock is not None

    def connect(self):
        """Open the connection if it is not open. ConnectFailed on any failure."""
        if self._sock is not None:
            return
        try:
            address = socket.getaddrinfo(self.host, self.port)[0][-1]
        except OSError:
            raise ConnectFailed(_text(_M_RESOLVE, self.host))
        sock = socket.socket()
        try:
            sock.settimeout(self.connect_ms / 1000)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            raise ConnectFailed(_text(_M_CONNECT, (self.host, self.port, _code(exc))))
        self._sock = sock

    def close(self):
        """Close the connection (if open); never raises."""
        sock = self._sock
        self._sock = None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def send(self, frame):
        """Send the whole `frame` within io_ms; LinkDown if the connection breaks."""
        sock = self._sock
        if sock is None:
            raise LinkDown(_text(_M_NOT_CONNECTED))
        view = memoryview(frame)
        sent = 0
        deadline = time.ticks_add(time.ticks_ms(), self.io_ms)
        while sent < len(view):
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                raise CommTimeout(_text(_M_SEND_SLOW, self.io_ms))
            try:
                sock.settimeout(left / 1000)
                n = sock.write(view[sent:])
            except OSError as exc:
                if _code(exc) in _TIMED_OUT:
                    continue
                raise LinkDown(_text(_M_SEND_FAILED, _code(exc)))
            if n:
                sent += n

    def _readinto(self, view, timeout_ms):
        sock = self._sock
        if sock is None:
            raise LinkDown(_text(_M_NOT_CONNECTED))
        try:
            sock.settimeout(timeout_ms / 1000)
            n = sock.readinto(view)
        except OSError as exc:
            if _code(exc) in _TIMED_OUT:
                return 0
            raise LinkDown(_text(_M_RECEIVE_FAILED, _code(exc)))
        if n is None:
            return 0
        if not n:
            raise LinkDown(_text(_M_CLOSED))
        return n
