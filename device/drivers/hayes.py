"""Dial-up modem driver: Hayes AT command set, V.22bis / V.22 fast-connect class modems.

    modem = Modem(uart, init=(b"ATZ", b"ATE0V1", b"AT&K0"))
    modem.setup()                                   # init string, each command answered OK
    rate = modem.dial("95555", outside_line="0")    # ATX4, ATDT0,95555 -> CONNECT 2400
    modem.write(request)                            # data mode: a byte stream
    n = modem.readinto(buf, timeout_ms=30000)
    modem.hangup()                                  # guard, +++, guard, ATH

Result codes (verbal, V1) map to named errors: BUSY -> ModemBusy, NO CARRIER -> NoCarrier,
NO DIALTONE / NO DIAL TONE -> NoDialTone, NO ANSWER -> NoAnswer, ERROR -> ModemError; silence
past a deadline -> ModemTimeout. All derive from HayesError (an OSError).

Dial strings: a terminal on a PBX extension (分机) dials an outside-line prefix, then a pause
(`,` = S8 seconds, 2 s by default), then the number: `ATDT0,95555`. A direct line dials the
number alone. `blind=True` selects ATX3 (dial without waiting for a dial tone: PBXs whose dial
tone the modem does not recognise), otherwise ATX4 (wait for dial tone, report BUSY and
NO DIALTONE).

Carrier loss: in data mode the modem reports `NO CARRIER` in the byte stream (CR LF NO CARRIER
CR LF) and drops to command mode. readinto() watches for that sequence, holding back a
possible beginning of it until the next bytes (or a short quiet time) show it is data.
"""

import time

from drivers import shown
from drivers.at import ATChannel, deadline_in, message, ticks_left

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int


DEFAULT_INIT = (b"ATZ", b"ATE0V1", b"AT&K0")

_NO_CARRIER_SEQ = b"\r\nNO CARRIER\r\n"
# Held-back bytes that could start NO CARRIER are released after this much quiet: the modem
# sends its 14 bytes in one burst at the DTE rate (15 ms at 9600 bit/s).
_HOLD_MS = const(100)
_ABORT_MS = const(500)
_ABORT_POLL_MS = const(100)  # dial(abort=...): how often abort() is asked
_DIAL_CHARS = b"0123456789*#,"

# Messages, numbered from 0 by _M_* and formatted by _text() (drivers.at.message: one literal,
# not a heap object per message).
_M_EMPTY = const(0)
_M_DIAL_CHARS = const(1)
_M_DATA_MODE = const(2)
_M_NO_ANSWER = const(3)
_M_REFUSED = const(4)
_M_NO_CONNECT = const(5)
_M_NOT_CONNECTED = const(6)
_M_CARRIER_LOST = const(7)
_M_NO_DATA = const(8)
_M_ABORTED = const(9)
_MESSAGES = (
    "|empty phone number"  # _M_EMPTY
    "|phone number may hold only 0-9 * # ,"  # _M_DIAL_CHARS
    "|modem is in data mode: hang up first"  # _M_DATA_MODE
    "|no answer to %s"  # _M_NO_ANSWER
    "|modem refused %s"  # _M_REFUSED
    "|no CONNECT within the connect timeout"  # _M_NO_CONNECT
    "|not connected"  # _M_NOT_CONNECTED
    "|carrier lost"  # _M_CARRIER_LOST
    "|no data from the far end"  # _M_NO_DATA
    "|dial aborted"  # _M_ABORTED
    "|"
)


def _text(number, args=None):
    return message(_MESSAGES, number, args)


class HayesError(OSError):
    """Base of the dial-up modem's named errors."""


class ModemTimeout(HayesError):
    """The modem did not answer (or the dial did not complete) within the deadline."""


class ModemError(HayesError):
    """The modem answered ERROR (a command it does not accept)."""


class ModemBusy(HayesError):
    """BUSY: the called number is busy."""


class NoCarrier(HayesError):
    """NO CARRIER: no modem answered the call, or the carrier was lost while connected."""


class NoDialTone(HayesError):
    """NO DIALTONE: no dial tone on the line (cable, PBX needing blind dial)."""


class DialAborted(HayesError):
    """dial(abort=...) saw its abort function turn true: the dial was given up."""


class NoAnswer(HayesError):
    """NO ANSWER: the called line did not answer."""


# Result code -> exception, in the order they are tested (prefix match on the line).
_FAILURES = (
    (b"BUSY", ModemBusy),
    (b"NO CARRIER", NoCarrier),
    (b"NO DIALTONE", NoDialTone),
    (b"NO DIAL TONE", NoDialTone),
    (b"NO ANSWER", NoAnswer),
    (b"ERROR", ModemError),
)


def _as_bytes(value):
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


def dial_string(number, outside_line=None, pauses=1):
    """The digits the modem dials: `outside_line` + `pauses` commas + `number`, or `number`
    alone for a direct line. Raises ValueError on a character a modem would not dial."""
    number = _as_bytes(number)
    if not number:
        raise ValueError(_text(_M_EMPTY))
    prefix = _as_bytes(outside_line) if outside_line else b""
    for c in number + prefix:
        if c not in _DIAL_CHARS:
            raise ValueError(_text(_M_DIAL_CHARS))
    if prefix:
        return prefix + b"," * pauses + number
    return number


def parse_rate(line):
    """The rate in a CONNECT line: b"CONNECT 2400/ARQ" -> 2400; a bare CONNECT means 300."""
    i = 7
    n = len(line)
    while i < n and line[i] == 32:
        i += 1
    rate = 0
    while i < n and 48 <= line[i] <= 57:
        rate = rate * 10 + line[i] - 48
        i += 1
    return rate or 300


class Modem:
    """A Hayes modem on a UART-like bus (see drivers.at).

    Options (keyword-only): `init` the init commands (bytes), each must answer OK;
    `command_timeout_ms` per command (ATZ included); `connect_timeout_ms` from ATD to CONNECT;
    `guard_ms` the escape guard time (S12: 1 s on a real modem); `read_timeout_ms` the default
    wait for data; `buffer_size` of the receive buffer.
    """

    def __init__(
        self,
        uart,
        *,
        init=DEFAULT_INIT,
        command_timeout_ms=2000,
        connect_timeout_ms=60000,
        guard_ms=1000,
        read_timeout_ms=30000,
        buffer_size=256,
    ):
        self._channel = ATChannel(uart, buffer_size=buffer_size)
        self._init = init
        self._command_timeout = command_timeout_ms
        self._connect_timeout = connect_timeout_ms
        self._guard = guard_ms
        self._read_timeout = read_timeout_ms
        self._online = False
        self._lf_owed = False  # the LF ending CONNECT is still to come: not data
        self.rate = 0  # line rate of the current connection (bit/s)

    @property
    def connected(self):
        """True between CONNECT and hang-up or carrier loss."""
        return self._online

    # --- command mode --------------------------------------------------------------------

    def setup(self):
        """Send the init commands in order; each must answer OK."""
        for cmd in self._init:
            self.command(cmd)

    def command(self, cmd, timeout_ms=None):
        """Send one command (bytes, without CR) and wait for OK.

        Raises ModemError on ERROR and ModemTimeout without an answer. Lines other than the
        echo of the command are returned (a list, usually empty): ATI answers, for instance.
        """
        if self._online:
            raise HayesError(_text(_M_DATA_MODE))
        channel = self._channel
        channel.command(cmd)
        deadline = deadline_in(timeout_ms or self._command_timeout)
        lines = []
        while True:
            line = channel.readline(max(ticks_left(deadline), 0))
            if line is None:
                raise ModemTimeout(_text(_M_NO_ANSWER, shown(cmd)))
            if line == b"OK":
                return lines
            if line == b"ERROR":
                raise ModemError(_text(_M_REFUSED, shown(cmd)))
            if line == cmd or line == b"NO CARRIER":
                continue  # echo (ATE1, or ATZ restoring it); a late NO CARRIER
            lines.append(line)

    def dial(
        self, number, *, outside_line=None, pauses=1, blind=False, timeout_ms=None, abort=None
    ):
        """Dial with tone and wait for CONNECT; returns the connect rate (bit/s).

        `outside_line` is the PBX outside-line prefix for a terminal on an extension (None on
        a direct line), `pauses` the commas after it. `abort`, if given, is called while
        waiting (every 100 ms); when it returns true the dial is aborted and DialAborted
        raised (the cashier pressed CANCEL). Raises ModemBusy, NoCarrier, NoDialTone,
        NoAnswer, ModemError, or ModemTimeout (the dial is then aborted).
        """
        digits = dial_string(number, outside_line, pauses)
        self.command(b"ATX3" if blind else b"ATX4")
        channel = self._channel
        channel.discard()
        channel.write(b"ATDT")
        channel.command(digits)
        deadline = deadline_in(timeout_ms or self._connect_timeout)
        while True:
            left = max(ticks_left(deadline), 0)
            # With `abort`, short waits (a partial line stays in the channel between them).
            line = channel.readline(left if abort is None else min(left, _ABORT_POLL_MS))
            if line is None:
                if abort is not None and ticks_left(deadline) > 0:
                    if not abort():
                        continue
                    self._abort_dial()
                    raise DialAborted(_text(_M_ABORTED))
                self._abort_dial()
                raise ModemTimeout(_text(_M_NO_CONNECT))
            if line.startswith(b"CONNECT"):
                self._lf_owed = channel.lf_owed
                self.rate = parse_rate(line)
                self._online = True
                return self.rate
            for code, error in _FAILURES:
                if line.startswith(code):
                    raise error(shown(line))  # the modem's words, whatever bytes they hold
            # Anything else (echo, RINGING, CARRIER 2400, PROTOCOL: ...) is progress.

    def _abort_dial(self):
        # Any character aborts a dial in progress; the modem then says NO CARRIER (or OK).
        channel = self._channel
        channel.write(b"\r")
        deadline = deadline_in(_ABORT_MS)
        while ticks_left(deadline) > 0:
            line = channel.readline(max(ticks_left(deadline), 0))
            if line is None or line == b"OK" or line == b"NO CARRIER":
                break
        channel.discard()

    # --- data mode -----------------------------------------------------------------------

    def write(self, data):
        """Send bytes to the far end (data mode)."""
        if not self._online:
            raise NoCarrier(_text(_M_NOT_CONNECTED))
        self._channel.write(data)

    def readinto(self, buf, timeout_ms=None):
        """Read what has arrived into `buf`: returns as soon as at least one byte is there
        (the count). Raises NoCarrier when the carrier is lost (after every byte received
        before the loss has been returned) and ModemTimeout when nothing came in time."""
        if not self._online:
            raise NoCarrier(_text(_M_NOT_CONNECTED))
        channel = self._channel
        deadline = deadline_in(timeout_ms or self._read_timeout)
        while True:
            if self._lf_owed and channel.pending():
                self._lf_owed = False
                if channel.peek() == 10:
                    channel.skip(1)
                continue
            at = channel.find(_NO_CARRIER_SEQ)
            if at == 0:
                channel.skip(len(_NO_CARRIER_SEQ))
                self._online = False
                raise NoCarrier(_text(_M_CARRIER_LOST))
            if at > 0:
                return channel.take(buf, at)
            hold = channel.partial_tail(_NO_CARRIER_SEQ)
            ready = channel.pending() - hold
            if ready > 0:
                return channel.take(buf, ready)
            if hold and time.ticks_diff(time.ticks_ms(), channel.last_rx) >= _HOLD_MS:
                return channel.take(buf, hold)  # quiet: it was data after all
            if not channel.fill():
                if ticks_left(deadline) <= 0:
                    raise ModemTimeout(_text(_M_NO_DATA))
                time.sleep_ms(1)

    def read_exactly(self, buf, timeout_ms=None):
        """Fill `buf` completely (readinto until full); same errors as readinto."""
        view = memoryview(buf)
        got = 0
        deadline = deadline_in(timeout_ms or self._read_timeout)
        while got < len(buf):
            got += self.readinto(view[got:], max(ticks_left(deadline), 1))
        return got

    def hangup(self):
        """End the call: guard time, `+++`, guard time, then ATH. Safe to call when the
        carrier is already gone (then only ATH is sent)."""
        channel = self._channel
        if self._online:
            # The escape is recognised only after `guard` ms of silence from us.
            wait = self._guard - time.ticks_diff(time.ticks_ms(), channel.last_tx)
            if wait > 0:
                time.sleep_ms(wait)
            channel.discard()
            channel.write(b"+++")
            # The modem answers OK once `guard` ms of silence follow the escape; nothing is
            # sent until then. A NO CARRIER instead means the call is already over.
            deadline = deadline_in(self._guard + self._command_timeout)
            while True:
                line = channel.readline(max(ticks_left(deadline), 0))
                if line is None or line == b"OK" or line == b"NO CARRIER":
                    break
            self._online = False
        self.command(b"ATH")
        channel.discard()
        self.rate = 0
