"""A SIM7600 LTE module whose socket commands (AT+NETOPEN, AT+CIPOPEN) open real TCP
connections.

    lte = Sim7600Emulator(csq=(18, 0)).start()
    ... device talks AT over SocketUART("127.0.0.1", lte.port) ...
    lte.sim = "NOT INSERTED"        # or "SIM PIN"; READY by default
    lte.creg = lte.cgreg = lte.cereg = 3   # registration denied
    lte.cereg = 1; lte.creg = lte.cgreg = 0   # an LTE-only data SIM: registered in EPS only
    lte.netopen_fail = True         # the next AT+NETOPEN answers +NETOPEN: 1
    lte.connect_fail = True         # the next AT+CIPOPEN answers +CIPOPEN: 0,1 (or a code: 10)
    lte.send_fail = True            # the next AT+CIPSEND reports +CIPSEND: 0,n,-1
    lte.drop_link()                 # the host side closes: +IPCLOSE: 0,1
    lte.deactivate_pdp()            # +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY
    lte.silent = True               # the module hangs: no answer to anything

Everything but the socket commands is the SIM800 model's (hostlib/emulators/sim800.py): SIM,
ICCID (answered `+ICCID: ...`), CSQ, registration (with AT+CEREG?), echo, AT+CMEE, the `hosts`
table, fault flags and `host_bytes`.

The socket service: AT+CGDCONT=1,"IP","apn" and AT+CGAUTH=1,<type>,"password","user" set the
context; AT+NETOPEN answers OK, then `+NETOPEN: 0` when registered (and the APN is the one
expected, if `apn` is given), `+NETOPEN: 1` otherwise; `+IP ERROR: Network is already opened`
and ERROR when open. AT+CIPOPEN=<link>,"TCP","host",port answers OK, then `+CIPOPEN: <link>,0`
or an error code (11 when the name does not resolve, 1 when the host refuses or cannot be
reached); `+CIPOPEN: <link>,2` then
ERROR without the network, `+IP ERROR: Connection is already created` then ERROR on a link in
use. AT+CIPSEND=<link>,n prompts `>`, takes n bytes and answers OK, `+CIPSEND: <link>,n,n`.
Host data arrives as `RECV FROM:<ip>:<port>` (AT+CIPSRIP=1, the default) and `+IPD<n>` CR LF
then the bytes (AT+CIPHEAD=1, the default); the host closing is `+IPCLOSE: <link>,1`.
AT+CIPCLOSE=<link> answers OK, `+CIPCLOSE: <link>,0` (`+CIPCLOSE: <link>,4` and ERROR when
closed); AT+NETCLOSE OK, `+NETCLOSE: 0` (`+IP ERROR: Network is already closed` and ERROR).
One link is emulated at a time; transparent mode (AT+CIPMODE=1) is not.
"""

from __future__ import annotations

import re
import socket

from hostlib.emulators.sim800 import Sim800Emulator

_CGDCONT = re.compile(r'^AT\+CGDCONT=(\d+),"IP","([^"]*)"', re.I)
_CGAUTH = re.compile(r'^AT\+CGAUTH=(\d+),(\d)(?:,"([^"]*)"(?:,"([^"]*)")?)?$', re.I)
_CIPOPEN = re.compile(r'^AT\+CIPOPEN=(\d),"TCP","([^"]*)",(\d+)$', re.I)
_CIPSEND = re.compile(r"^AT\+CIPSEND=(\d),(\d+)$", re.I)
_CIPCLOSE = re.compile(r"^AT\+CIPCLOSE=(\d)$", re.I)


class Sim7600Emulator(Sim800Emulator):
    """See the module docstring."""

    name = "sim7600"

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.cereg = 1
        self.netopen_fail = False
        self.connect_fail: bool | int = False
        self.context_apn: str | None = None  # AT+CGDCONT
        self.auth: tuple[str, str] = ("", "")  # AT+CGAUTH (user, password)

    def _reset(self) -> None:
        super()._reset()
        self.ciphead = 1
        self.cipsrip = 1
        self.net_open = False
        self.link = 0
        self._peer: tuple[str, int] = ("", 0)

    # --- model hooks ---------------------------------------------------------------------

    def _iccid_answer(self) -> str:
        return "+ICCID: %s" % self.iccid

    def _host_data(self, data: bytes) -> None:
        if not self.ciphead:
            return self.send(data)
        head = b""
        if self.cipsrip:
            head = b"\r\nRECV FROM:%s:%d" % (self._peer[0].encode(), self._peer[1])
        self.send(head + b"\r\n+IPD%d\r\n" % len(data) + data)

    def _host_gone(self) -> None:
        self._close_host()
        self._urc("+IPCLOSE: %d,1" % self.link)

    def _pdp_lost(self) -> None:
        self._close_host()
        self.net_open = False
        self._urc("+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY")

    def _send_result(self, length: int, ok: bool) -> None:
        self._ok()
        self._urc("+CIPSEND: %d,%d,%d" % (self.link, length, length if ok else -1))

    # --- commands ------------------------------------------------------------------------

    def _registered(self) -> bool:
        return self.cgreg in (1, 5) or self.cereg in (1, 5)

    def _model_command(self, line: str, upper: str) -> None:
        if upper == "AT+CEREG?":
            self._urc("+CEREG: 0,%d" % self.cereg)
            return self._ok()
        match = _CGDCONT.match(line)
        if match:
            self.context_apn = match.group(2)
            return self._ok()
        match = _CGAUTH.match(line)
        if match:
            password, user = match.group(3) or "", match.group(4) or ""
            self.auth = (user, password) if match.group(2) != "0" else ("", "")
            return self._ok()
        if upper.startswith("AT+CIPMODE="):
            return self._ok() if upper.endswith("=0") else self._error()
        if upper.startswith("AT+CIPHEAD="):
            self.ciphead = int(upper[11:] or 0)
            return self._ok()
        if upper.startswith("AT+CIPSRIP="):
            self.cipsrip = int(upper[11:] or 0)
            return self._ok()
        if upper == "AT+NETOPEN":
            return self._netopen()
        if upper == "AT+NETOPEN?":
            self._urc("+NETOPEN: %d" % self.net_open)
            return self._ok()
        if upper == "AT+IPADDR":
            if not self.net_open:
                self._urc("+IP ERROR: Network not opened")
                return self._error()
            self._urc("+IPADDR: %s" % self.ip)
            return self._ok()
        if upper == "AT+NETCLOSE":
            if not self.net_open:
                self._urc("+IP ERROR: Network is already closed")
                return self._error()
            self._close_host()
            self.net_open = False
            self._ok()
            return self._urc("+NETCLOSE: 0")
        match = _CIPOPEN.match(line)
        if match:
            return self._cipopen(int(match.group(1)), match.group(2), int(match.group(3)))
        match = _CIPSEND.match(line)
        if match:
            length = int(match.group(2))
            if self._host is None or int(match.group(1)) != self.link or not 0 < length <= 1500:
                return self._error()
            self._send_left = length
            return self.send(b"\r\n>")
        match = _CIPCLOSE.match(line)
        if match:
            link = int(match.group(1))
            if self._host is None or link != self.link:
                self._urc("+CIPCLOSE: %d,4" % link)
                return self._error()
            self._close_host()
            self._ok()
            return self._urc("+CIPCLOSE: %d,0" % link)
        return self._error()

    def _netopen(self) -> None:
        if self.net_open:
            self._urc("+IP ERROR: Network is already opened")
            return self._error()
        if self.sim != "READY":
            return self._error()
        self._ok()
        wrong_apn = self.apn is not None and self.context_apn != self.apn
        if self.netopen_fail or wrong_apn or not self._registered():
            self.netopen_fail = False
            return self._urc("+NETOPEN: 1")
        self.apn_used = (self.context_apn or "", *self.auth)
        self.net_open = True
        self._urc("+NETOPEN: 0")

    def _cipopen(self, link: int, host: str, port: int) -> None:
        if not self.net_open:
            self._urc("+CIPOPEN: %d,2" % link)
            return self._error()
        if self._host is not None:
            self._urc("+IP ERROR: Connection is already created")
            return self._error()
        self._ok()
        target = self.route(host, port)
        if self.connect_fail:
            code = 1 if self.connect_fail is True else int(self.connect_fail)
            self.connect_fail = False
            return self._urc("+CIPOPEN: %d,%d" % (link, code))
        try:
            sock = socket.create_connection(target, timeout=self.connect_timeout_s)
        except socket.gaierror:
            return self._urc("+CIPOPEN: %d,11" % link)
        except OSError:
            return self._urc("+CIPOPEN: %d,1" % link)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._host = sock
        self.link = link
        self._peer = sock.getpeername()[:2]
        self._urc("+CIPOPEN: %d,0" % link)
