"""GPRS driver for SIM800-class modules (AT command set, single TCP connection).

    gprs = Sim800(uart, pwrkey=pin)
    gprs.sync()                       # AT until OK (autobaud), ATE0, AT+CMEE=1
    gprs.sim_ready()                  # AT+CPIN?      -> SimMissing / SimPinRequired
    gprs.iccid()                      # AT+CCID       -> "898600..."
    rssi, ber = gprs.signal()         # AT+CSQ        -> signal_bars(rssi), signal_dbm(rssi)
    gprs.wait_registered()            # AT+CREG? / AT+CGREG? -> NotRegistered
    gprs.attach("CMNET")              # CIPSHUT, CIPMUX=0, CIPHEAD=1, CSTT, CIICR, CIFSR
    gprs.open("posp.example", 5000)   # AT+CIPSTART="TCP",... -> CONNECT OK / ConnectFailed
    gprs.send(request)                # AT+CIPSEND=n, ">", data, SEND OK / LinkDown
    n = gprs.readinto(buf)            # payload of +IPD,n: frames, copied into buf
    gprs.use_buffer(frame_buffer)     # or: receive into the caller's buffer, read in place
    n = gprs.buffered(2, 1000)        # bytes unread, once 2 are there (or at the timeout)
    view = gprs.unread(); gprs.take(2)
    gprs.close()                      # AT+CIPCLOSE
    gprs.recover()                    # watchdog: re-attach, then PWRKEY power cycle

Receive mode: non-transparent (AT+CIPMODE=0, the default) with AT+CIPHEAD=1, so every piece of
data from the host arrives as CR LF `+IPD,<n>:` followed by exactly n raw bytes. The header
gives the length, so binary ISO 8583 messages (which may hold CR, LF or "OK") are never
mistaken for result codes. Payloads are kept in one receive buffer, whatever command is in
progress when they arrive: the one a bearer lends (`use_buffer`: app.comm.gprs lends its frame
buffer and reads each frame where it arrived, with buffered(), unread() and take()), else one
of `rx_size` bytes made when the first data arrives. A second buffer beside the
bearer's would cost the terminal 1 KB of its heap (docs/board.md, "Heap").

URCs handled at any point: `+IPD` (data), `CLOSED` (the host closed: LinkDown once the buffered
data is read), `+PDP: DEACT` and SIM7600's `+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY` (the packet
context is gone: re-attach), `NORMAL POWER DOWN`, and boot chatter (`RDY`, `Call Ready`,
`SMS Ready`, `+CFUN: 1`), ignored.

SIM7600-class (LTE) modules answer the SIM, ICCID (`+ICCID:`), signal and registration
commands here the same way; drivers/sim7600.py subclasses this driver for their socket
commands (AT+NETOPEN, AT+CIPOPEN).

Named errors, all GprsError (an OSError): GprsTimeout, SimMissing, SimPinRequired,
NotRegistered, ConnectFailed, LinkDown.
"""

import time

from drivers import ipv4, shown
from drivers.at import ATChannel, deadline_in, message, ticks_left

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int


REG_NONE = const(0)  # not registered, not searching
REG_HOME = const(1)
REG_SEARCHING = const(2)
REG_DENIED = const(3)
REG_UNKNOWN = const(4)
REG_ROAMING = const(5)

_SYNC_TRY_MS = const(300)
_OFF_MS = const(1000)  # SIM800: at least 800 ms off before PWRKEY may start it again
_MAX_SEND = const(1460)  # the most one AT+CIPSEND takes in non-transparent mode
_BARS = b"\x02\x0a\x0f\x14\x19"  # CSQ rssi at which 1..5 bars begin (-109, -93, -83, -73, -63)
_IPD = b"+IPD,"


# Messages, numbered from 0 by _M_* and formatted by _text(). One literal: a string literal is
# a heap object from import on (40 bytes on the 64-bit unix port, 20 on the ESP32), and these
# were 1.4 KB of the module's heap.
_M_UNEXPECTED = const(0)
_M_QUOTES = const(1)
_M_HALF_WAY = const(2)
_M_HALF_WAY_OF = const(3)
_M_NO_ANSWER = const(4)
_M_REFUSED = const(5)
_M_SILENT = const(6)
_M_NO_SIM = const(7)
_M_LOCKED = const(8)
_M_NOT_IN_ANSWER = const(9)
_M_LOCKED_CME = const(10)
_M_SIM_BUSY = const(11)
_M_NO_SIM_CME = const(12)
_M_NO_SIM_ERROR = const(13)
_M_GPRS_DENIED = const(14)
_M_DENIED = const(15)
_M_NOT_REGISTERED = const(16)
_M_APN_PASSWORD = const(17)
_M_CSTT = const(18)
_M_NOT_ACTIVATED = const(19)
_M_NO_IP = const(20)
_M_NOT_ATTACHED = const(21)
_M_CIPSTART = const(22)
_M_STUCK = const(23)
_M_REFUSED_CONNECTION = const(24)
_M_NO_CONNECT = const(25)
_M_CONNECT_FAIL = const(26)
_M_CLOSED = const(27)
_M_NO_PROMPT = const(28)
_M_CLOSED_BEFORE_SEND = const(29)
_M_SEND_FAILED = const(30)
_M_OVERFLOW = const(31)
_M_CLOSED_BY_HOST = const(32)
_M_NO_DATA = const(33)
_M_NO_PWRKEY = const(34)
_M_NO_APN = const(35)
_M_NOT_IP = const(36)
_MESSAGES = (
    "|unexpected answer %r"  # _M_UNEXPECTED
    "|%s may not hold quotes or line ends"  # _M_QUOTES
    "|data from the host stopped half-way"  # _M_HALF_WAY
    "|data from the host stopped half-way (%d of %d bytes)"  # _M_HALF_WAY_OF
    "|no answer to %s"  # _M_NO_ANSWER
    "|module refused %s: %s"  # _M_REFUSED
    "|module does not answer AT"  # _M_SILENT
    "|no SIM card"  # _M_NO_SIM
    "|SIM locked: %s"  # _M_LOCKED
    "|no %s in the answer"  # _M_NOT_IN_ANSWER
    "|SIM locked (CME %d)"  # _M_LOCKED_CME
    "|SIM busy: try again"  # _M_SIM_BUSY
    "|no SIM card (CME %d)"  # _M_NO_SIM_CME
    "|no SIM card (ERROR)"  # _M_NO_SIM_ERROR
    "|GPRS registration denied"  # _M_GPRS_DENIED
    "|network registration denied"  # _M_DENIED
    "|not registered (status %d)"  # _M_NOT_REGISTERED
    "|APN password"  # _M_APN_PASSWORD
    '|AT+CSTT="%s","%s","%s"'  # _M_CSTT
    "|APN %s not activated (%s)"  # _M_NOT_ACTIVATED
    "|no IP address from APN %s"  # _M_NO_IP
    "|packet context not active: attach() first"  # _M_NOT_ATTACHED
    '|AT+CIPSTART="TCP","%s",%d'  # _M_CIPSTART
    "|a connection is already open and does not close"  # _M_STUCK
    "|module refused the connection: %s"  # _M_REFUSED_CONNECTION
    "|no CONNECT OK within the connect timeout"  # _M_NO_CONNECT
    "|host did not accept the connection (CONNECT FAIL)"  # _M_CONNECT_FAIL
    "|connection closed"  # _M_CLOSED
    "|no send prompt"  # _M_NO_PROMPT
    "|connection closed before send"  # _M_CLOSED_BEFORE_SEND
    "|send failed (%s)"  # _M_SEND_FAILED
    "|host sent more than the receive buffer holds"  # _M_OVERFLOW
    "|connection closed by the host"  # _M_CLOSED_BY_HOST
    "|no data from the host"  # _M_NO_DATA
    "|no PWRKEY pin: cannot power-cycle the module"  # _M_NO_PWRKEY
    "|attach() was never called: no APN to recover with"  # _M_NO_APN
    "|%s answered %s: not an IP address"  # _M_NOT_IP
    "|"
)


def _text(number, args=None):
    return message(_MESSAGES, number, args)


class GprsError(OSError):
    """Base of the GPRS module's named errors; also a plain ERROR answer."""


class GprsTimeout(GprsError):
    """The module did not answer within the deadline."""


class SimMissing(GprsError):
    """No SIM card (or a failed one)."""


class SimPinRequired(GprsError):
    """The SIM asks for a PIN (or PUK): the terminal cannot use a locked SIM."""


class NotRegistered(GprsError):
    """The module is not registered on the network (searching, or registration denied)."""


class ConnectFailed(GprsError):
    """The APN could not be activated, or the TCP connection could not be opened."""


class LinkDown(GprsError):
    """The TCP connection or the packet context went down (CLOSED, +PDP: DEACT, SEND FAIL)."""


def signal_dbm(rssi):
    """Received signal strength in dBm for a CSQ rssi (0..31), None when unknown (99)."""
    if rssi < 0 or rssi > 31:
        return None
    return -113 + 2 * rssi


def signal_bars(rssi):
    """0..5 bars for a CSQ rssi, for the installer's placement test (99, unknown, is 0).
    2 bars (rssi >= 10, -93 dBm) is the least a terminal should be installed with."""
    if rssi < 0 or rssi > 31:
        return 0
    bars = 0
    for start in _BARS:
        if rssi >= start:
            bars += 1
    return bars


def _number(line, start):
    # Decimal digits of `line` from `start`: (value, index after them).
    value = 0
    i = start
    n = len(line)
    while i < n and 48 <= line[i] <= 57:
        value = value * 10 + line[i] - 48
        i += 1
    if i == start:
        raise GprsError(_text(_M_UNEXPECTED, line))
    return value, i


def _code(line):
    # The number after the colon of "+CME ERROR: 10" (blanks before it or none); GprsError
    # when the line has no colon or no number after it.
    at = line.find(b":")
    if at < 0:
        raise GprsError(_text(_M_UNEXPECTED, line))
    at += 1
    while at < len(line) and line[at] == 32:
        at += 1
    return _number(line, at)[0]


def _fields(line, count):
    # The first `count` integers after "+XXX: " in an answer line.
    i = line.index(b":") + 1
    out = []
    while len(out) < count:
        while i < len(line) and line[i] == 32:
            i += 1
        value, i = _number(line, i)
        out.append(value)
        i += 1  # the comma
    return out


def _alnum(text):
    # bytes.isalnum is not in MicroPython.
    for c in text:
        if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122):
            return False
    return True


def _check_quoted(value, what):
    if isinstance(value, bytes):
        value = value.decode()
    if '"' in value or "\r" in value or "\n" in value:
        raise ValueError(_text(_M_QUOTES, what))
    return value


class Sim800:
    """A SIM800-class GPRS module on a UART-like bus; `pwrkey` a Pin-like output (optional).

    Options (keyword-only): `pwrkey_active` the level that presses PWRKEY (0 when the pin
    drives PWRKEY directly, 1 through an inverting transistor), `pwrkey_ms` how long it is held
    (1.2 s: SIM800 needs at least 1 s), `boot_timeout_ms` for the module to answer AT after
    power-on, `command_timeout_ms`, `attach_timeout_ms` (AT+CIICR: up to 85 s),
    `connect_timeout_ms` (AT+CIPSTART: up to 75 s), `send_timeout_ms`, `read_timeout_ms`,
    `power_down_ms` (wait for NORMAL POWER DOWN), `power_cycle_after` (consecutive failures
    before recover() power-cycles instead of re-attaching), `rx_size` (the receive buffer
    made when none was lent: use_buffer).
    """

    _frame_prefix = _IPD  # the receive header the line reader stops at (its payload follows)
    _off_ms = _OFF_MS

    def __init__(
        self,
        uart,
        *,
        pwrkey=None,
        pwrkey_active=0,
        pwrkey_ms=1200,
        boot_timeout_ms=10000,
        command_timeout_ms=2000,
        attach_timeout_ms=85000,
        connect_timeout_ms=75000,
        send_timeout_ms=10000,
        read_timeout_ms=30000,
        power_down_ms=3000,
        power_cycle_after=2,
        rx_size=1024,
    ):
        self._channel = ATChannel(uart, buffer_size=256, frame_prefix=self._frame_prefix)
        self._pwrkey = pwrkey
        self._pwrkey_active = pwrkey_active
        self._pwrkey_ms = pwrkey_ms
        if pwrkey is not None:
            pwrkey.value(1 - pwrkey_active)  # released
        self._boot_timeout = boot_timeout_ms
        self._command_timeout = command_timeout_ms
        self._attach_timeout = attach_timeout_ms
        self._connect_timeout = connect_timeout_ms
        self._send_timeout = send_timeout_ms
        self._read_timeout = read_timeout_ms
        self._power_down_ms = power_down_ms
        self._power_cycle_after = power_cycle_after
        self._rx_size = rx_size
        self._rx_mv = None  # the receive buffer: lent (use_buffer), or made at the first data
        self._rx_start = 0
        self._rx_end = 0
        self._overflow = False
        self._apn = None
        self.connected = False  # a TCP connection is open
        self.attached = False  # the packet context is active (we have an IP address)
        self.powered_down = False
        self.failures = 0  # consecutive failed opens/sends, for recover()
        self.ip = None

    # --- lines and URCs ------------------------------------------------------------------

    def _poll(self, deadline, prompt=False):
        # One line: None at the deadline, b"" after a URC was handled, else the line.
        line = self._channel.readline(max(ticks_left(deadline), 0), prompt=prompt)
        if line is None:
            return None
        if self._urc(line, deadline):
            return b""
        return line

    def _urc(self, line, deadline):
        if line.startswith(_IPD):
            self._payload(line, deadline)
            return True
        if line == b"CLOSED" or line.startswith(b"+IPCLOSE"):
            self.connected = False
            return True
        if line.startswith(b"+PDP: DEACT") or line.startswith(b"+CIPEVENT"):
            self.connected = False
            self.attached = False
            return True
        if line.endswith(b"POWER DOWN"):
            self.connected = False
            self.attached = False
            self.powered_down = True
            return True
        if (
            line == b"RDY"
            or line == b"Call Ready"
            or line == b"SMS Ready"
            or line == b"RING"
            or line.startswith(b"+CFUN:")
            or line.startswith(b"UNDER-VOLTAGE WARN")
            or line.startswith(b"OVER-VOLTAGE WARN")
        ):
            return True
        return False

    def _payload(self, header, deadline):
        # b"+IPD,12:" then 12 raw bytes, which may still be arriving.
        n, _ = _number(header, len(_IPD))
        self._store(n, deadline)

    def _store(self, n, deadline):
        # The next n bytes of the stream are host data: into the receive buffer.
        mv = self._rx_mv
        if mv is None:
            mv = self._rx_mv = memoryview(bytearray(self._rx_size))
        if self._rx_start == self._rx_end:
            self._rx_start = self._rx_end = 0
        elif len(mv) - self._rx_end < n:
            count = self._rx_end - self._rx_start
            mv[0:count] = mv[self._rx_start : self._rx_end]
            self._rx_start = 0
            self._rx_end = count
        fits = min(n, len(mv) - self._rx_end)
        wait = max(ticks_left(deadline), self._command_timeout)
        got = self._channel.read_exactly(mv[self._rx_end : self._rx_end + fits], wait)
        self._rx_end += got
        if got < fits:
            raise GprsTimeout(_text(_M_HALF_WAY_OF, (got, n)))
        if fits < n:
            self._overflow = True
            self._drop(n - fits, deadline_in(wait))

    def _drop(self, n, deadline):
        channel = self._channel
        while n:
            if channel.pending():
                n -= channel.skip(n)
            elif not channel.fill():
                if ticks_left(deadline) <= 0:
                    raise GprsTimeout(_text(_M_HALF_WAY))
                time.sleep_ms(1)

    def _exchange(self, cmd, timeout_ms=None, final=b"OK"):
        # Send a command; collect lines until `final` or an error. Returns (lines, last line).
        self._channel.command(cmd)
        deadline = deadline_in(timeout_ms or self._command_timeout)
        lines = []
        while True:
            line = self._poll(deadline)
            if line is None:
                raise GprsTimeout(_text(_M_NO_ANSWER, shown(cmd)))
            if not line or line == cmd:
                continue  # a URC, or our echo (ATE1 until sync() turns it off)
            if line == final or line == b"ERROR" or line.startswith(b"+CME ERROR"):
                return lines, line
            lines.append(line)

    def command(self, cmd, timeout_ms=None, final=b"OK"):
        """Send one command (bytes, no CR) and wait for `final`; returns the other lines.
        Raises GprsError on ERROR / +CME ERROR and GprsTimeout without an answer."""
        lines, last = self._exchange(cmd, timeout_ms, final)
        if last != final:
            raise GprsError(_text(_M_REFUSED, (shown(cmd), shown(last))))
        return lines

    # --- module, SIM, network ------------------------------------------------------------

    def sync(self, timeout_ms=None):
        """Send AT until the module answers OK (this also sets its baud rate when it
        autobauds), then turn echo off and numeric +CME errors on."""
        deadline = deadline_in(timeout_ms or self._boot_timeout)
        while not self._answers(min(_SYNC_TRY_MS, max(ticks_left(deadline), 1))):
            if ticks_left(deadline) <= 0:
                raise GprsTimeout(_text(_M_SILENT))
        self.powered_down = False
        self.command(b"ATE0")
        self.command(b"AT+CMEE=1")

    def _answers(self, timeout_ms=_SYNC_TRY_MS):
        # One AT: True when OK came back within timeout_ms.
        self._channel.command(b"AT")
        attempt = deadline_in(timeout_ms)
        line = self._poll(attempt)
        while line is not None and line != b"OK":
            line = self._poll(attempt)
        return line == b"OK"

    def sim_ready(self):
        """Check the SIM (AT+CPIN?): returns True when ready; raises SimMissing or
        SimPinRequired."""
        lines, last = self._exchange(b"AT+CPIN?")
        if last == b"OK":
            for line in lines:
                if line.startswith(b"+CPIN:"):
                    state = line[6:].strip()
                    if state == b"READY":
                        return True
                    if state == b"NOT INSERTED":
                        raise SimMissing(_text(_M_NO_SIM))
                    raise SimPinRequired(_text(_M_LOCKED, shown(state)))
            raise GprsError(_text(_M_NOT_IN_ANSWER, "+CPIN"))
        if last.startswith(b"+CME ERROR"):
            code = _code(last)
            if code in (11, 12, 17, 18):  # SIM PIN, SIM PUK, SIM PIN2, SIM PUK2
                raise SimPinRequired(_text(_M_LOCKED_CME, code))
            if code == 14:
                raise GprsError(_text(_M_SIM_BUSY))
            raise SimMissing(_text(_M_NO_SIM_CME, code))  # 10 not inserted, 13/15 failed
        raise SimMissing(_text(_M_NO_SIM_ERROR))

    def iccid(self):
        """The SIM's ICCID (AT+CCID; SIM7600 answers +ICCID:), as a str."""
        for line in self.command(b"AT+CCID"):
            if line.startswith(b"+"):
                at = line.find(b":")
                if at < 0:
                    continue  # not "+ICCID: ...": some other line
                line = line[at + 1 :].strip()
            if 18 <= len(line) <= 22 and _alnum(line):
                return line.decode()
        raise GprsError(_text(_M_NOT_IN_ANSWER, "ICCID"))

    def signal(self):
        """(rssi, ber) from AT+CSQ: rssi 0..31 or 99 (unknown); see signal_bars/dbm."""
        for line in self.command(b"AT+CSQ"):
            if line.startswith(b"+CSQ:"):
                rssi, ber = _fields(line, 2)
                return rssi, ber
        raise GprsError(_text(_M_NOT_IN_ANSWER, "+CSQ"))

    def registration(self, gprs=False):
        """Network registration status (REG_*): AT+CREG?, or AT+CGREG? with `gprs`."""
        if gprs:
            return self._registration(b"AT+CGREG?", b"+CGREG:")
        return self._registration(b"AT+CREG?", b"+CREG:")

    def _registration(self, cmd, prefix):
        for line in self.command(cmd):
            if line.startswith(prefix):
                return _fields(line, 2)[1]
        raise GprsError(_text(_M_NOT_IN_ANSWER, prefix.decode()))

    def wait_registered(self, timeout_ms=60000, poll_ms=1000):
        """Wait until registered (home or roaming) on the network and for GPRS; returns the
        status. Raises NotRegistered at once when denied, or at the deadline."""
        deadline = deadline_in(timeout_ms)
        while True:
            status = self.registration()
            if status in (REG_HOME, REG_ROAMING):
                gprs = self.registration(gprs=True)
                if gprs in (REG_HOME, REG_ROAMING):
                    return status
                if gprs == REG_DENIED:
                    raise NotRegistered(_text(_M_GPRS_DENIED))
            elif status == REG_DENIED:
                raise NotRegistered(_text(_M_DENIED))
            left = ticks_left(deadline)
            if left <= 0:
                raise NotRegistered(_text(_M_NOT_REGISTERED, status))
            time.sleep_ms(min(poll_ms, left))

    # --- packet context and TCP ----------------------------------------------------------

    def attach(self, apn, user="", password=""):
        """Bring up the packet context on `apn`; returns the module's IP address (str).

        AT+CIPSHUT first: the SIM800 accepts AT+CSTT only in state IP INITIAL and answers
        ERROR anywhere else, so a re-attach must start from a shut stack.
        """
        apn = _check_quoted(apn, "APN")
        user = _check_quoted(user, "APN user")
        password = _check_quoted(password, _text(_M_APN_PASSWORD))
        self._apn = (apn, user, password)
        self.shut()
        self.command(b"AT+CIPMUX=0")
        self.command(b"AT+CIPHEAD=1")
        self.command(_text(_M_CSTT, (apn, user, password)).encode())
        _, last = self._exchange(b"AT+CIICR", self._attach_timeout)
        if last != b"OK":
            raise ConnectFailed(_text(_M_NOT_ACTIVATED, (apn, shown(last))))
        # Quirk: AT+CIFSR answers the bare IP address, with no OK after it.
        self._channel.command(b"AT+CIFSR")
        deadline = deadline_in(self._command_timeout)
        while True:
            line = self._poll(deadline)
            if line is None:
                raise GprsTimeout(_text(_M_NO_ANSWER, "AT+CIFSR"))
            if line == b"ERROR" or line.startswith(b"+CME ERROR"):
                raise ConnectFailed(_text(_M_NO_IP, apn))
            if line and 48 <= line[0] <= 57:
                if not ipv4(line):
                    raise ConnectFailed(_text(_M_NOT_IP, ("AT+CIFSR", shown(line))))
                self.ip = line.decode()
                self.attached = True
                return self.ip

    def open(self, host, port, timeout_ms=None):
        """Open the TCP connection to host:port (AT+CIPSTART). Raises ConnectFailed
        (CONNECT FAIL, or refused), GprsTimeout, LinkDown when not attached. A stale
        connection (ALREADY CONNECT) is closed and the open tried once more."""
        if not self.attached:
            raise LinkDown(_text(_M_NOT_ATTACHED))
        host = _check_quoted(host, "host")
        cmd = _text(_M_CIPSTART, (host, port)).encode()
        for _ in range(2):
            self._rx_start = self._rx_end = 0
            self._overflow = False
            if not self._start(cmd, timeout_ms or self._connect_timeout):
                self._exchange(b"AT+CIPCLOSE", None, b"CLOSE OK")
                continue
            self.connected = True
            self.failures = 0
            return
        self.failures += 1
        raise ConnectFailed(_text(_M_STUCK))

    def _start(self, cmd, timeout_ms):
        # True on CONNECT OK, False on ALREADY CONNECT; raises otherwise.
        self._channel.command(cmd)
        deadline = deadline_in(timeout_ms)
        refused = None
        while True:
            line = self._poll(deadline)
            if line is None:
                if refused is not None:
                    self.failures += 1
                    raise ConnectFailed(_text(_M_REFUSED_CONNECTION, shown(refused)))
                self.failures += 1
                raise GprsTimeout(_text(_M_NO_CONNECT))
            if line == b"CONNECT OK":
                return True
            if line == b"ALREADY CONNECT":
                return False
            if line == b"CONNECT FAIL":
                self.failures += 1
                raise ConnectFailed(_text(_M_CONNECT_FAIL))
            if line == b"ERROR" or line.startswith(b"+CME ERROR"):
                # ALREADY CONNECT may follow the ERROR: give it a moment.
                refused = line
                deadline = deadline_in(min(_SYNC_TRY_MS, max(ticks_left(deadline), 0)))
            # OK, STATE: ..., echo: progress.

    def send(self, data):
        """Send all of `data` on the open connection (pieces of at most 1460 bytes).
        Raises LinkDown (closed, SEND FAIL) or GprsTimeout."""
        view = memoryview(data)
        sent = 0
        while sent < len(data):
            n = min(len(data) - sent, _MAX_SEND)
            self._send_piece(view[sent : sent + n])
            sent += n
        return sent

    def _send_piece(self, piece):
        if not self.connected:
            raise LinkDown(_text(_M_CLOSED))
        channel = self._channel
        channel.command(b"AT+CIPSEND=%d" % len(piece))
        deadline = deadline_in(self._send_timeout)
        while True:
            line = self._poll(deadline, prompt=True)
            if line is None:
                self.failures += 1
                raise GprsTimeout(_text(_M_NO_PROMPT))
            if line == b">":
                break
            if not self.connected or line == b"ERROR" or line.startswith(b"+CME ERROR"):
                self.connected = False
                self.failures += 1
                raise LinkDown(_text(_M_CLOSED_BEFORE_SEND))
        channel.write(piece)
        while True:
            line = self._poll(deadline)
            if line is None:
                self.failures += 1
                raise GprsTimeout("no SEND OK")
            if line == b"SEND OK":
                return
            if line == b"SEND FAIL" or line == b"ERROR" or not self.connected:
                self.connected = False
                self.failures += 1
                raise LinkDown(_text(_M_SEND_FAILED, shown(line) or "CLOSED"))

    def use_buffer(self, buffer):
        """Keep the host's data in `buffer` (a bytearray) from now on, instead of a buffer of
        the driver's own; what was received and not read is dropped. Its length bounds the
        data held unread (more is dropped, and reading then raises GprsError)."""
        self._rx_mv = memoryview(buffer)
        self._rx_start = self._rx_end = 0
        self._overflow = False

    def readinto(self, buf, timeout_ms=None):
        """Copy received data into `buf`; returns the count (>= 1) as soon as some is there.
        Raises LinkDown once the host closed and everything it sent has been read, and
        GprsTimeout when nothing arrived in time."""
        n = self.buffered(1, timeout_ms or self._read_timeout)
        if not n:
            raise GprsTimeout(_text(_M_NO_DATA))
        if n > len(buf):
            n = len(buf)
        buf[0:n] = self.unread()[:n]
        self._rx_start += n
        return n

    def buffered(self, count, timeout_ms):
        """The number of received bytes not yet read, as soon as there are `count`, or at
        the end of `timeout_ms` (fewer, maybe 0). Raises LinkDown once the host closed with
        fewer than `count` unread, GprsError when data was dropped (more than the buffer
        holds) and fewer than `count` are unread."""
        deadline = deadline_in(timeout_ms)
        while True:
            n = self._rx_end - self._rx_start
            if n >= count:
                return n
            if self._overflow:
                self._overflow = False
                raise GprsError(_text(_M_OVERFLOW))
            if not self.connected:
                raise LinkDown(_text(_M_CLOSED_BY_HOST))
            if self._poll(deadline) is None:
                return n

    def unread(self):
        """The received bytes not yet read, in place: a memoryview of the receive buffer,
        valid until the next call that reads the UART (any command, buffered())."""
        mv = self._rx_mv
        if mv is None:
            return memoryview(b"")
        return mv[self._rx_start : self._rx_end]

    def take(self, count):
        """Mark the first `count` unread bytes (at most buffered()) as read."""
        self._rx_start += count

    def close(self):
        """Close the TCP connection (AT+CIPCLOSE); quiet if it is already closed."""
        if self.connected:
            self._exchange(b"AT+CIPCLOSE", None, b"CLOSE OK")  # ERROR: it closed already
        self.connected = False
        self._rx_start = self._rx_end = 0

    def shut(self):
        """Deactivate the packet context (AT+CIPSHUT -> SHUT OK)."""
        self.command(b"AT+CIPSHUT", 65000 if self.attached else None, b"SHUT OK")
        self.connected = False
        self.attached = False
        self.ip = None

    # --- watchdog ------------------------------------------------------------------------

    def _pulse(self):
        pin = self._pwrkey
        if pin is None:
            raise GprsError(_text(_M_NO_PWRKEY))
        pin.value(self._pwrkey_active)
        time.sleep_ms(self._pwrkey_ms)
        pin.value(1 - self._pwrkey_active)

    def power_cycle(self):
        """Restart the module with PWRKEY: press (module says NORMAL POWER DOWN), wait,
        press again, then sync(). A module that was already off starts on the first press."""
        self.connected = False
        self.attached = False
        self.powered_down = False
        self._pulse()
        down = self._went_down(deadline_in(self._power_down_ms))
        if down:
            time.sleep_ms(self._off_ms)
            self._pulse()
        self._channel.discard()
        try:
            self.sync()
        except GprsTimeout:
            if down:
                raise
            # It was on but said nothing: the first press switched it off; start it.
            self._pulse()
            self.sync()

    def _went_down(self, deadline):
        # After a press: True once the module says it is powering down, False when it says
        # nothing (it was off, and the press is starting it).
        while not self.powered_down and self._poll(deadline) is not None:
            pass
        return self.powered_down

    def recover(self):
        """Watchdog step after a failed session; returns what was done.

        While fewer than `power_cycle_after` consecutive failures: re-attach (CIPSHUT and
        APN set-up again) -> "reattach". Otherwise, or when re-attaching fails: power-cycle
        through PWRKEY, check the SIM and registration, attach -> "power_cycle".
        """
        if self._apn is None:
            raise ValueError(_text(_M_NO_APN))
        if self.failures < self._power_cycle_after:
            try:
                self.attach(*self._apn)
                return "reattach"
            except GprsError:
                pass
        self.power_cycle()
        self.sim_ready()
        self.wait_registered()
        self.attach(*self._apn)
        self.failures = 0
        return "power_cycle"
