"""LTE driver for SIM7600-class modules: the SIM800 driver with the LTE socket commands.

    gprs = Sim7600(uart, pwrkey=pin)
    gprs.sync(); gprs.sim_ready(); gprs.iccid(); gprs.signal()   # as Sim800
    gprs.wait_registered()            # AT+CREG?, AT+CGREG? (then AT+CEREG? on LTE)
    gprs.attach("CMNET")              # NETCLOSE, CGDCONT, CGAUTH, CIPMODE=0, CIPHEAD=1,
                                      # NETOPEN -> +NETOPEN: 0, IPADDR
    gprs.open("posp.example", 5000)   # AT+CIPOPEN=0,"TCP",... -> +CIPOPEN: 0,0 / ConnectFailed
    gprs.send(request)                # AT+CIPSEND=0,n, ">", data, OK, +CIPSEND: 0,n,n
    n = gprs.readinto(buf)            # payload of +IPD<n> frames
    gprs.close()                      # AT+CIPCLOSE=0 -> +CIPCLOSE: 0,0
    gprs.recover()                    # watchdog: re-attach, then PWRKEY power cycle

Same public API, options and named errors as drivers.sim800.Sim800 (this is a subclass): a
bearer wraps either. The SIM, ICCID, signal and registration commands (with AT+CEREG? added
for LTE), the receive buffer, readinto() and the watchdog are Sim800's; what differs is below.

Socket commands answer in two steps: OK at once, then the result line when the network has
answered (`+NETOPEN: <err>`, `+CIPOPEN: 0,<err>`, `+CIPCLOSE: 0,<err>`, `+NETCLOSE: <err>`,
0 is success). A command refused at once answers the result line or `+IP ERROR: <text>`
first, then ERROR, so an exchange waits for both the final code and the result line: a lone
ERROR left unread would be taken for the answer to the next command.

Receive mode: AT+CIPMODE=0 (non-transparent) and AT+CIPHEAD=1, AT+CIPRXGET left in its
automatic default: every piece of data from the host arrives as CR LF `+IPD<n>` CR LF followed
by exactly n raw bytes (a `RECV FROM:<ip>:<port>` line before it, shown by default, is
skipped). The length comes first, so binary ISO 8583 messages holding CR, LF or "OK" are never
read as result codes. Payloads go into Sim800's receive buffer, whatever command is running.

URCs: `+IPCLOSE: 0,<reason>` (the host closed, or a send timed out: LinkDown once the
buffered data is read), `+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY` (the packet context is gone:
re-attach), and the boot chatter `SMS DONE`, `PB DONE`, ignored, with Sim800's.

Power: a running SIM7600 needs PWRKEY held at least 2.5 s to switch off and prints no power-
down message: after the press it is taken as off once it stops answering AT.
"""

import time

from drivers import ipv4, shown
from drivers.at import deadline_in, message, ticks_left
from drivers.sim800 import (
    REG_HOME,
    REG_ROAMING,
    ConnectFailed,
    GprsTimeout,
    LinkDown,
    Sim800,
    _check_quoted,
    _number,
)

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int

_LF = const(10)
_MINUS = const(45)
_PROBE_MS = const(300)  # between AT probes while waiting for the module to switch off

# +CIPOPEN <err> 1..11, for the installer's screen (one literal: a tuple of strings would
# cost an object each on the heap).
_OPEN_ERRORS = (
    "|network failure|network not opened|wrong parameter|operation not supported"
    "|socket not created|socket not bound|server listening|busy|sockets opened|timeout"
    "|DNS lookup failed"
)


# Messages, numbered from 0 by _M_* and formatted by _text() (drivers.at.message: one literal,
# not a heap object per message).
_M_AFTER_HEADER = const(0)
_M_NO_ANSWER = const(1)
_M_APN_PASSWORD = const(2)
_M_CGDCONT = const(3)
_M_CGAUTH = const(4)
_M_NOT_ACTIVATED = const(5)
_M_NETOPEN = const(6)
_M_NO_IP = const(7)
_M_NOT_ATTACHED = const(8)
_M_CIPOPEN = const(9)
_M_OPEN_ERROR = const(10)
_M_NOT_ACCEPTED = const(11)
_M_STUCK = const(12)
_M_CLOSED = const(13)
_M_NO_PROMPT = const(14)
_M_CLOSED_BEFORE_SEND = const(15)
_M_NO_CIPSEND = const(16)
_M_SENT_SHORT = const(17)
_M_SEND_FAILED = const(18)
_M_STILL_ON = const(19)
_M_NOT_IP = const(20)
_MESSAGES = (
    "|data from the host stopped after its header"  # _M_AFTER_HEADER
    "|no %s answer to %s"  # _M_NO_ANSWER
    "|APN password"  # _M_APN_PASSWORD
    '|AT+CGDCONT=1,"IP","%s"'  # _M_CGDCONT
    '|AT+CGAUTH=1,1,"%s","%s"'  # _M_CGAUTH
    "|APN %s not activated (%s)"  # _M_NOT_ACTIVATED
    "|+NETOPEN: %d"  # _M_NETOPEN
    "|no IP address from APN %s"  # _M_NO_IP
    "|packet context not active: attach() first"  # _M_NOT_ATTACHED
    '|AT+CIPOPEN=0,"TCP","%s",%d'  # _M_CIPOPEN
    "|+CIPOPEN error %d: %s"  # _M_OPEN_ERROR
    "|host did not accept the connection (%s)"  # _M_NOT_ACCEPTED
    "|a connection is already open and does not close"  # _M_STUCK
    "|connection closed"  # _M_CLOSED
    "|no send prompt"  # _M_NO_PROMPT
    "|connection closed before send"  # _M_CLOSED_BEFORE_SEND
    "|no +CIPSEND"  # _M_NO_CIPSEND
    "|module sent %d of %d bytes"  # _M_SENT_SHORT
    "|send failed"  # _M_SEND_FAILED
    "|module still answers after PWRKEY"  # _M_STILL_ON
    "|AT+IPADDR answered %s: not an IP address"  # _M_NOT_IP
    "|"
)


def _text(number, args=None):
    return message(_MESSAGES, number, args)


def _last(line):
    # The last field of "+XXX: a,b,c" as an int (-1 is a value: +CIPSEND's "disconnected").
    i = len(line)
    while i and line[i - 1] not in b",: ":
        i -= 1
    if i < len(line) and line[i] == _MINUS:
        return -_number(line, i + 1)[0]
    return _number(line, i)[0]


class Sim7600(Sim800):
    """A SIM7600-class LTE module on a UART-like bus; `pwrkey` a Pin-like output (optional).

    Options as Sim800's, with defaults for this module: `pwrkey_ms` 3000 (at least 2.5 s
    switches it off), `boot_timeout_ms` 30000 (it boots slower than a SIM800),
    `attach_timeout_ms` 120000 (AT+NETOPEN's longest answer), `power_down_ms` 30000 (for it
    to stop answering after the press).
    """

    _frame_prefix = None  # +IPD<n> is a whole line; the payload follows its CR LF
    _off_ms = 2000  # margin: it stops answering AT before it has finished switching off

    def __init__(
        self,
        uart,
        *,
        pwrkey_ms=3000,
        boot_timeout_ms=30000,
        attach_timeout_ms=120000,
        power_down_ms=30000,
        **options,
    ):
        super().__init__(
            uart,
            pwrkey_ms=pwrkey_ms,
            boot_timeout_ms=boot_timeout_ms,
            attach_timeout_ms=attach_timeout_ms,
            power_down_ms=power_down_ms,
            **options,
        )

    # --- lines and URCs ------------------------------------------------------------------

    def _urc(self, line, deadline):
        if line.startswith(b"+IPD"):
            n, _ = _number(line, 4)
            self._frame(n, deadline)
            return True
        if line.startswith(b"RECV FROM:") or line == b"SMS DONE" or line == b"PB DONE":
            return True
        return super()._urc(line, deadline)

    def _frame(self, n, deadline):
        channel = self._channel
        if channel.lf_owed:
            # The header's LF may still be on its way: it is not the first byte of data.
            wait = deadline_in(max(ticks_left(deadline), self._command_timeout))
            while not channel.pending() and not channel.fill():
                if ticks_left(wait) <= 0:
                    raise GprsTimeout(_text(_M_AFTER_HEADER))
                time.sleep_ms(1)
            if channel.peek() == _LF:
                channel.skip(1)
            channel.lf_owed = False
        self._store(n, deadline)

    def _await(self, cmd, prefix, timeout_ms):
        # A two-step command (module docstring): returns (err, final, reason) with err the
        # last number of the `prefix` line (None without one), final OK or the error line,
        # reason the text of +IP ERROR (None without one).
        self._channel.command(cmd)
        deadline = deadline_in(timeout_ms)
        err = reason = final = None
        while True:
            line = self._poll(deadline)
            if line is None:
                raise GprsTimeout(_text(_M_NO_ANSWER, (shown(prefix), shown(cmd))))
            if line == b"OK":
                final = line
            elif line == b"ERROR" or line.startswith(b"+CME ERROR"):
                return err, line, reason
            elif line.startswith(prefix):
                err = _last(line)
            elif line.startswith(b"+IP ERROR:"):
                reason = line[10:].strip()
            if final is not None and err is not None:
                return err, final, reason

    # --- network -------------------------------------------------------------------------

    def registration(self, gprs=False):
        """Network registration status (REG_*): AT+CREG?, or AT+CGREG? with `gprs`; when
        that is not registered, AT+CEREG? (LTE): a module on an LTE cell may be registered
        in EPS only (an LTE-only data SIM), which is all the terminal needs."""
        status = super().registration(gprs)
        if status != REG_HOME and status != REG_ROAMING:
            eps = self._registration(b"AT+CEREG?", b"+CEREG:")
            if eps == REG_HOME or eps == REG_ROAMING:
                return eps
        return status

    # --- packet context and TCP ----------------------------------------------------------

    def attach(self, apn, user="", password=""):
        """Bring up the packet context on `apn` (AT+NETOPEN); returns the module's IP
        address (str). Raises ConnectFailed when the network refuses the context.

        AT+NETCLOSE first: the socket service may still be open from before a restart of
        the terminal (the module keeps running), and the APN is only read when it opens.
        """
        apn = _check_quoted(apn, "APN")
        user = _check_quoted(user, "APN user")
        password = _check_quoted(password, _text(_M_APN_PASSWORD))
        self._apn = (apn, user, password)
        self.shut()
        self.command(_text(_M_CGDCONT, apn).encode())
        if user or password:
            # SIMCom's order: password before user name; auth type 1 is PAP.
            self.command(_text(_M_CGAUTH, (password, user)).encode())
        else:
            # Clear credentials a previous APN may have left; an ERROR is tolerated here,
            # since this APN needs none.
            self._exchange(b"AT+CGAUTH=1,0")
        self.command(b"AT+CIPMODE=0")
        self.command(b"AT+CIPHEAD=1")
        err, final, reason = self._await(b"AT+NETOPEN", b"+NETOPEN:", self._attach_timeout)
        if reason:
            if not reason.endswith(b"already opened"):
                raise ConnectFailed(_text(_M_NOT_ACTIVATED, (apn, shown(reason))))
        elif final != b"OK" or err:
            why = _text(_M_NETOPEN, err) if final == b"OK" else shown(final)
            raise ConnectFailed(_text(_M_NOT_ACTIVATED, (apn, why)))
        for line in self.command(b"AT+IPADDR"):
            if line.startswith(b"+IPADDR:"):
                address = line[8:].strip()
                if not ipv4(address):
                    raise ConnectFailed(_text(_M_NOT_IP, shown(address)))
                self.ip = address.decode()
                self.attached = True
                return self.ip
        raise ConnectFailed(_text(_M_NO_IP, apn))

    def open(self, host, port, timeout_ms=None):
        """Open the TCP connection to host:port (AT+CIPOPEN on link 0). Raises
        ConnectFailed (a +CIPOPEN error, named), GprsTimeout, LinkDown when not attached.
        A link still open from before is closed and the open tried once more."""
        if not self.attached:
            raise LinkDown(_text(_M_NOT_ATTACHED))
        host = _check_quoted(host, "host")
        cmd = _text(_M_CIPOPEN, (host, port)).encode()
        for _ in range(2):
            self._rx_start = self._rx_end = 0
            self._overflow = False
            try:
                err, final, reason = self._await(
                    cmd, b"+CIPOPEN:", timeout_ms or self._connect_timeout
                )
            except GprsTimeout:
                self.failures += 1
                raise
            if final == b"OK" and err == 0:
                self.connected = True
                self.failures = 0
                return
            if reason and reason.endswith(b"already created"):
                self._await(b"AT+CIPCLOSE=0", b"+CIPCLOSE:", self._command_timeout)
                continue
            self.failures += 1
            if err == 2:
                self.attached = False  # "network not opened": attach again
            if err:
                names = _OPEN_ERRORS.split("|")
                why = _text(_M_OPEN_ERROR, (err, names[err] if 0 < err < len(names) else "?"))
            else:
                why = shown(reason) if reason else shown(final)
            raise ConnectFailed(_text(_M_NOT_ACCEPTED, why))
        self.failures += 1
        raise ConnectFailed(_text(_M_STUCK))

    def _send_piece(self, piece):
        # Every exchange is read to its end even when the link closes on the way: the
        # module answers AT+CIPSEND with ">" or ERROR whatever happened, and after ">" it
        # takes the next n bytes as data, whatever they are.
        if not self.connected:
            raise LinkDown(_text(_M_CLOSED))
        channel = self._channel
        channel.command(b"AT+CIPSEND=0,%d" % len(piece))
        deadline = deadline_in(self._send_timeout)
        why = b""
        while True:
            line = self._poll(deadline, prompt=True)
            if line is None:
                self.failures += 1
                raise GprsTimeout(_text(_M_NO_PROMPT))
            if line == b">":
                break
            if line == b"ERROR" or line.startswith(b"+CME ERROR"):
                self._send_failed(_text(_M_CLOSED_BEFORE_SEND), why or line)
            if line.startswith(b"+CIPERROR"):
                why = line  # the ERROR follows
        channel.write(piece)
        while True:
            line = self._poll(deadline)
            if line is None:
                self.failures += 1
                raise GprsTimeout(_text(_M_NO_CIPSEND))
            if line.startswith(b"+CIPSEND:"):
                sent = _last(line)
                if sent == len(piece):
                    return  # the host has it, even if it has closed since
                # -1: disconnected; fewer: the link is not usable after a short send.
                self._send_failed(_text(_M_SENT_SHORT, (sent, len(piece))), line)
            if line == b"ERROR" or line.startswith(b"+CME ERROR"):
                self._send_failed(_text(_M_SEND_FAILED), why or line)
            if line.startswith(b"+CIPERROR"):
                why = line

    def _send_failed(self, what, line):
        self.connected = False
        self.failures += 1
        raise LinkDown("%s (%s)" % (what, shown(line)))

    def close(self):
        """Close the TCP connection (AT+CIPCLOSE=0); quiet if it is already closed."""
        if self.connected:
            # +CIPCLOSE: 0,4 then ERROR: it closed already.
            self._await(b"AT+CIPCLOSE=0", b"+CIPCLOSE:", self._command_timeout)
        self.connected = False
        self._rx_start = self._rx_end = 0

    def shut(self):
        """Close the socket service and the packet context (AT+NETCLOSE); quiet when it is
        closed already (+IP ERROR: Network is already closed)."""
        # The long deadline even when we think it closed: the module may have kept it open
        # across a restart of the terminal, and closing an open one takes a while.
        self._await(b"AT+NETCLOSE", b"+NETCLOSE:", self._attach_timeout)
        self.connected = False
        self.attached = False
        self.ip = None

    # --- watchdog ------------------------------------------------------------------------

    def _went_down(self, deadline):
        # No power-down message: a module that still answers right after the press was on
        # and is switching off; it is off once it stops answering. One that does not answer
        # was off (the press starts it) or hung (power_cycle presses again if sync fails).
        if not self._answers():
            return self.powered_down
        while ticks_left(deadline) > 0:
            time.sleep_ms(_PROBE_MS)
            if not self._answers():
                return True
        raise GprsTimeout(_text(_M_STILL_ON))
