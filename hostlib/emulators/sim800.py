"""A SIM800 GPRS module whose TCP socket commands open real TCP connections.

    gprs = Sim800Emulator(csq=(18, 0)).start()
    ... device talks AT over SocketUART("127.0.0.1", gprs.port) ...
    gprs.sim = "NOT INSERTED"       # or "SIM PIN"; READY by default
    gprs.creg = 3                   # registration denied (also cgreg)
    gprs.operator = "CHINA UNICOM"  # the network AT+COPS? names
    gprs.connect_fail = True        # the next AT+CIPSTART answers CONNECT FAIL
    gprs.drop_link()                # the host side closes: CLOSED
    gprs.deactivate_pdp()           # the network drops the context: +PDP: DEACT
    gprs.silent = True              # the module hangs: no answer to anything

The IP stack follows the SIM800 states (IP INITIAL -> CSTT -> IP START -> CIICR ->
IP GPRSACT -> CIFSR -> IP STATUS -> CIPSTART -> CONNECT OK), and refuses commands out of order
with ERROR as the module does (AT+CSTT outside IP INITIAL is the one drivers trip on).
`hosts` maps a host name in AT+CIPSTART to a real (host, port); other names reach `default`
if it is given (the virtual terminal routes every connection to the acquirer host), else are
used as they are (127.0.0.1 in tests). Data from the host arrives as `+IPD,<n>:` frames after
AT+CIPHEAD=1, raw otherwise. Echo is on until ATE0, as at power-on. Errors follow AT+CMEE
(0: ERROR, 1: +CME ERROR: <n>, 2: +CME ERROR: <text>).

The SIM, signal and registration commands, echo, errors and the host connection are shared
with the SIM7600 model (hostlib/emulators/sim7600.py), which overrides `_model_command` and
the `_host_data`, `_host_gone`, `_pdp_lost` and `_send_result` hooks for its socket commands.
"""

from __future__ import annotations

import re
import socket

from hostlib.emulators.base import Emulator

_CIPSTART = re.compile(r'^AT\+CIPSTART="(TCP|UDP)","([^"]*)",\s*"?(\d+)"?$', re.I)
_CSTT = re.compile(r'^AT\+CSTT="([^"]*)"(?:,"([^"]*)")?(?:,"([^"]*)")?$', re.I)
_CIPSEND = re.compile(r"^AT\+CIPSEND=(\d+)$", re.I)
_CME_TEXT = {10: "SIM not inserted", 11: "SIM PIN required", 13: "SIM failure"}


class Sim800Emulator(Emulator):
    """See the module docstring."""

    name = "sim800"

    def __init__(
        self,
        *,
        hosts: dict[str, tuple[str, int]] | None = None,
        iccid: str = "89860318640220133897",
        csq: tuple[int, int] = (18, 0),
        operator: str = "CHINA MOBILE",
        apn: str | None = None,
        ip: str = "10.64.3.7",
        connect_timeout_s: float = 2.0,
        default: tuple[str, int] | None = None,
        **options,
    ) -> None:
        super().__init__(**options)
        self.hosts = dict(hosts or {})
        self.default = default  # where a host not in `hosts` goes (None: the name as given)
        self.iccid = iccid
        self.csq = csq
        self.operator = operator
        self.apn = apn  # None: any APN activates
        self.ip = ip
        self.connect_timeout_s = connect_timeout_s
        self.sim = "READY"
        self.creg = 1
        self.cgreg = 1
        self.connect_fail = False
        self.send_fail = False
        self.silent = False
        self.commands: list[str] = []
        self.host_bytes = bytearray()  # everything sent to the host
        self.apn_used: tuple[str, str, str] | None = None
        self._host: socket.socket | None = None
        self._reset()

    def _reset(self) -> None:
        self.echo = True
        self.cmee = 0
        self.ciphead = 0
        self.state = "IP INITIAL"
        self._line = bytearray()
        self._send_left = 0
        self._send_buf = bytearray()

    # --- injection -----------------------------------------------------------------------

    def drop_link(self) -> None:
        """The host side closes the TCP connection: CLOSED to the device."""
        with self.lock:
            if self._host is not None:
                self._host_gone()
                self.notify()

    def deactivate_pdp(self) -> None:
        """The network drops the packet context: +PDP: DEACT (the link goes with it)."""
        with self.lock:
            self._pdp_lost()
            self.notify()

    @property
    def tcp_connected(self) -> bool:
        with self.lock:
            return self._host is not None

    # --- plumbing ------------------------------------------------------------------------

    def connected(self) -> None:
        self._close_host()
        self._reset()

    def disconnected(self) -> None:
        self._close_host()

    def closed(self) -> None:
        self._close_host()

    def _close_host(self) -> None:
        if self._host is not None:
            try:
                self._host.close()
            except OSError:
                pass
            self._host = None

    def _urc(self, text: str) -> None:
        self.send(b"\r\n" + text.encode() + b"\r\n")

    def _ok(self) -> None:
        self._urc("OK")

    def _error(self, code: int = 100) -> None:
        if self.cmee == 1:
            self._urc("+CME ERROR: %d" % code)
        elif self.cmee == 2:
            self._urc("+CME ERROR: %s" % _CME_TEXT.get(code, "unknown"))
        else:
            self._urc("ERROR")

    def other_sockets(self) -> list[socket.socket]:
        return [self._host] if self._host is not None else []

    def socket_readable(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(1460)
        except OSError:
            data = b""
        if data:
            self._host_data(data)
        else:
            self._host_gone()

    # --- what differs between models (overridden by the SIM7600) -----------------------

    def _host_data(self, data: bytes) -> None:
        if self.ciphead:
            self.send(b"\r\n+IPD,%d:" % len(data) + data)
        else:
            self.send(data)

    def _host_gone(self) -> None:
        self._close_host()
        self.state = "TCP CLOSED"
        self._urc("CLOSED")

    def _pdp_lost(self) -> None:
        self._close_host()
        self.state = "PDP DEACT"
        self._urc("+PDP: DEACT")

    def _send_result(self, length: int, ok: bool) -> None:
        self._urc("SEND OK" if ok else "SEND FAIL")

    def _iccid_answer(self) -> str:
        return self.iccid

    # --- bytes from the device -----------------------------------------------------------

    def received(self, data: bytes) -> None:
        if self.silent:
            return
        i = 0
        while i < len(data):
            if self._send_left:
                piece = data[i : i + self._send_left]
                self._send_buf += piece
                self._send_left -= len(piece)
                i += len(piece)
                if not self._send_left:
                    self._sent()
                continue
            byte = data[i]
            i += 1
            if self.echo:
                self.send(bytes((byte,)))
            if byte == 13:
                line = self._line.decode("latin-1").strip()
                self._line.clear()
                if line:
                    self._command(line)
            elif byte != 10:
                self._line.append(byte)

    def _sent(self) -> None:
        data = bytes(self._send_buf)
        self._send_buf.clear()
        if self.send_fail or self._host is None:
            self.send_fail = False
            return self._send_result(len(data), False)
        try:
            self._host.sendall(data)
        except OSError:
            return self._send_result(len(data), False)
        self.host_bytes += data
        self._send_result(len(data), True)

    def _command(self, line: str) -> None:
        self.commands.append(line)
        upper = line.upper()
        if not upper.startswith("AT"):
            return
        if upper == "AT":
            return self._ok()
        if upper in ("ATE0", "ATE1"):
            self.echo = upper == "ATE1"
            return self._ok()
        if upper.startswith("AT+CMEE="):
            self.cmee = int(upper[8:] or 0)
            return self._ok()
        if upper == "AT+CPIN?":
            if self.sim == "NOT INSERTED":
                return self._error(10)
            self._urc("+CPIN: %s" % self.sim)
            return self._ok()
        if upper == "AT+CCID":
            if self.sim == "NOT INSERTED":
                return self._error(10)
            self._urc(self._iccid_answer())
            return self._ok()
        if upper == "AT+CSQ":
            self._urc("+CSQ: %d,%d" % self.csq)
            return self._ok()
        if upper == "AT+CREG?":
            self._urc("+CREG: 0,%d" % self.creg)
            return self._ok()
        if upper == "AT+CGREG?":
            self._urc("+CGREG: 0,%d" % self.cgreg)
            return self._ok()
        if upper == "AT+COPS?":
            if self.creg not in (1, 5):
                self._urc("+COPS: 0")  # no network: no operator named
            else:
                self._urc('+COPS: 0,0,"%s"' % self.operator)
            return self._ok()
        if upper == "AT+CGATT?":
            self._urc("+CGATT: %d" % (1 if self.cgreg in (1, 5) else 0))
            return self._ok()
        return self._model_command(line, upper)

    def _model_command(self, line: str, upper: str) -> None:
        # The SIM800's IP stack (the SIM7600 model overrides this).
        if upper == "AT+CIPSHUT":
            self._close_host()
            self.state = "IP INITIAL"
            return self._urc("SHUT OK")
        if upper.startswith("AT+CIPMUX=") or upper.startswith("AT+CIPMODE="):
            return self._ok() if upper.endswith("=0") else self._error()
        if upper.startswith("AT+CIPHEAD="):
            self.ciphead = int(upper[11:] or 0)
            return self._ok()
        if upper == "AT+CIPSTATUS":
            self._ok()
            return self._urc("STATE: %s" % self.state)
        match = _CSTT.match(line)
        if match:
            if self.state != "IP INITIAL" or self.sim != "READY":
                return self._error()
            self.apn_used = (match.group(1), match.group(2) or "", match.group(3) or "")
            self.state = "IP START"
            return self._ok()
        if upper == "AT+CIICR":
            registered = self.cgreg in (1, 5)
            wrong_apn = self.apn is not None and (self.apn_used or ("",))[0] != self.apn
            if self.state != "IP START" or not registered or wrong_apn:
                self.state = "PDP DEACT" if self.state == "IP START" else self.state
                return self._error()
            self.state = "IP GPRSACT"
            return self._ok()
        if upper == "AT+CIFSR":
            if self.state in ("IP INITIAL", "IP START", "PDP DEACT"):
                return self._error()
            if self.state == "IP GPRSACT":
                self.state = "IP STATUS"
            return self._urc(self.ip)  # quirk: no OK after the address
        match = _CIPSTART.match(line)
        if match:
            return self._cipstart(match.group(2), int(match.group(3)))
        match = _CIPSEND.match(line)
        if match:
            length = int(match.group(1))
            if self._host is None or not 0 < length <= 1460:
                return self._error()
            self._send_left = length
            return self.send(b"\r\n> ")
        if upper in ("AT+CIPCLOSE", "AT+CIPCLOSE=0", "AT+CIPCLOSE=1"):
            if self._host is None:
                return self._error()
            self._close_host()
            self.state = "TCP CLOSED"
            return self._urc("CLOSE OK")
        return self._error()

    def route(self, host: str, port: int) -> tuple[str, int]:
        """The real (host, port) a connection the device opens to `host`:`port` reaches."""
        return self.hosts.get(host) or self.default or (host, port)

    def _cipstart(self, host: str, port: int) -> None:
        if self._host is not None:
            return self._urc("ALREADY CONNECT")
        if self.state not in ("IP STATUS", "TCP CLOSED"):
            return self._error()
        self._ok()
        target = self.route(host, port)
        if self.connect_fail:
            self.connect_fail = False
            self._urc("STATE: TCP CLOSED")
            return self._urc("CONNECT FAIL")
        try:
            sock = socket.create_connection(target, timeout=self.connect_timeout_s)
        except OSError:
            self.state = "TCP CLOSED"
            self._urc("STATE: TCP CLOSED")
            return self._urc("CONNECT FAIL")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._host = sock
        self.state = "CONNECT OK"
        self._urc("CONNECT OK")
