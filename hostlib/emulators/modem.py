"""A Hayes dial-up modem (V.22bis class) that "dials" TCP: ATD maps the number to host:port.

    modem = ModemEmulator({"95555": ("127.0.0.1", 5000)}, guard_s=0.05).start()
    ... device dials 95555 over SocketUART("127.0.0.1", modem.port) ...
    modem.inject_result("BUSY")        # the next dial answers BUSY
    modem.drop_carrier()               # the line drops: NO CARRIER to the device

Command mode: characters are echoed while echo is on (E1, the power-on and ATZ default),
a line ends with CR, and `AT` commands answer OK / ERROR (verbal, or numeric after V0).
Supported: E V Q X Z H O I L M, &F &K &C &D &W, S registers (S7 connect wait, S12 escape guard
time in 1/50 s), extended `+...` (accepted), D (dial; T/P, `,` pauses, W, @, ;, !).

Dialling: the digits after the last pause are looked up in `numbers` (or the whole digit
string); a number not there reaches `default` if it is given (the virtual terminal routes
every call to the acquirer host). With `outside_line` set the emulator is a PBX extension:
a dial string that does not start with that prefix and a pause reaches nobody (BUSY). With
`dial_tone=False` the line has no dial tone the modem recognises: ATX4 dialling answers NO
DIALTONE, blind dialling (ATX3) works; `ATX4DT;` (the ";": back to command mode, nothing
dialled) answers OK with a dial tone and NO DIALTONE without. An unknown number, or a host
that refuses the connection, answers NO CARRIER; a known one opens a TCP connection and
answers CONNECT <rate>, then bytes are bridged both ways.
Any byte from the device while the dial is in progress aborts it (NO CARRIER).

Data mode: `+++` preceded and followed by `guard_s` of silence (S12, 1 s by default) returns
to command mode with OK and the call up (ATH hangs up, ATO resumes). The host closing its
end, or drop_carrier(), sends NO CARRIER and returns to command mode.
"""

from __future__ import annotations

import socket
import time

from hostlib.emulators.base import Emulator

_NUMERIC = {
    "OK": 0,
    "CONNECT": 1,
    "RING": 2,
    "NO CARRIER": 3,
    "ERROR": 4,
    "NO DIALTONE": 6,
    "BUSY": 7,
    "NO ANSWER": 8,
}
RESULTS = ("BUSY", "NO CARRIER", "NO DIALTONE", "NO ANSWER", "ERROR")
SILENT = "SILENT"  # inject: the dial never completes (the device times out and aborts)


class ModemEmulator(Emulator):
    """See the module docstring. `numbers` maps dialled numbers to (host, port)."""

    name = "modem"

    def __init__(
        self,
        numbers: dict[str, tuple[str, int]] | None = None,
        *,
        rate: int = 2400,
        guard_s: float = 1.0,
        dial_delay_s: float = 0.0,
        dial_tone: bool = True,
        outside_line: str | None = None,
        connect_timeout_s: float = 2.0,
        default: tuple[str, int] | None = None,
        **options,
    ) -> None:
        super().__init__(**options)
        self.numbers = dict(numbers or {})
        self.default = default  # where a number not in `numbers` reaches (None: nobody)
        self.rate = rate
        self.default_guard_s = guard_s
        self.dial_delay_s = dial_delay_s
        self.dial_tone = dial_tone
        self.outside_line = outside_line
        self.connect_timeout_s = connect_timeout_s
        self.dial_results: list[str] = []
        self.dialled: list[str] = []  # every dial string, as sent
        self.commands: list[str] = []  # every command line
        self.host_bytes = bytearray()  # everything bridged device -> host
        self.escapes = 0
        self._host: socket.socket | None = None
        self._reset()

    # --- injection -----------------------------------------------------------------------

    def inject_result(self, code: str) -> None:
        """The next dial answers `code` (BUSY, NO CARRIER, NO DIALTONE, NO ANSWER, ERROR) or
        never answers (SILENT). Several calls queue results for successive dials."""
        if code not in RESULTS and code != SILENT:
            raise ValueError("unknown result code %r" % code)
        with self.lock:
            self.dial_results.append(code)

    def drop_carrier(self) -> None:
        """The line drops while connected: NO CARRIER to the device."""
        with self.lock:
            if self.mode in ("online", "online_command"):
                self._hang_up()
                self._result("NO CARRIER")
                self.notify()

    @property
    def online(self) -> bool:
        with self.lock:
            return self.mode in ("online", "online_command")

    # --- state ---------------------------------------------------------------------------

    def _reset(self) -> None:
        # Power-on / ATZ profile.
        self.mode = "command"  # command | dialing | online | online_command
        self.echo = True
        self.verbose = True
        self.quiet = False
        self.x_level = 4
        self.registers = {7: 50, 12: int(round(self.default_guard_s * 50))}
        self._line = bytearray()
        self._dial_due: float | None = None
        self._dial_action = None
        self._pluses = 0
        self._plus_time = 0.0
        self._last_data = 0.0

    @property
    def guard_s(self) -> float:
        return self.registers[12] / 50

    def connected(self) -> None:
        self._hang_up()
        self._reset()

    def disconnected(self) -> None:
        self._hang_up()

    def closed(self) -> None:
        self._hang_up()

    def _hang_up(self) -> None:
        if self._host is not None:
            try:
                self._host.close()
            except OSError:
                pass
            self._host = None
        self.mode = "command"
        self._dial_due = None

    def _result(self, code: str, rate: int | None = None) -> None:
        if self.quiet:
            return
        if self.verbose:
            text = code if rate is None else "%s %d" % (code, rate)
            self.send(b"\r\n" + text.encode() + b"\r\n")
        else:
            number = _NUMERIC[code] if rate is None else 10  # 10: CONNECT 2400
            self.send(b"%d\r" % number)

    # --- bytes from the device -----------------------------------------------------------

    def received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.mode == "online":
            self._online_bytes(data, now)
            return
        if self.mode == "dialing":
            # Any character aborts a dial in progress.
            self._dial_due = None
            self.mode = "command"
            self._result("NO CARRIER")
            return
        for i, byte in enumerate(data):
            if self.echo:
                self.send(bytes((byte,)))
            if byte == 13:
                line = self._line.decode("latin-1")
                self._line.clear()
                self._command_line(line)
                rest = data[i + 1 :].lstrip(b"\n")
                if self.mode == "dialing" and rest:
                    self.received(rest)  # typed while dialling: aborts the dial
                    return
                if self.mode == "online":
                    if rest:
                        self._online_bytes(rest, now)
                    return
            elif byte == 8:
                del self._line[-1:]
            elif byte != 10:
                self._line.append(byte)

    def _online_bytes(self, data: bytes, now: float) -> None:
        out = bytearray()
        guard = self.guard_s
        for byte in data:
            if byte == 0x2B and self._pluses < 3:  # "+"
                if (self._pluses == 0 and now - self._last_data >= guard) or (
                    self._pluses and now - self._plus_time <= guard
                ):
                    self._pluses += 1
                    self._plus_time = now
                    continue
            if self._pluses:
                out += b"+" * self._pluses  # not an escape after all: it was data
                self._pluses = 0
            out.append(byte)
            self._last_data = now
        if out:
            self.host_bytes += out
            if self._host is not None:
                try:
                    self._host.sendall(out)
                except OSError:
                    self._carrier_lost()

    def tick(self, now: float) -> None:
        if self.mode == "online" and self._pluses == 3 and now - self._plus_time >= self.guard_s:
            self._pluses = 0
            self._last_data = now
            self.mode = "online_command"
            self.escapes += 1
            self._result("OK")
        if self._dial_due is not None and now >= self._dial_due:
            self._dial_due = None
            action, self._dial_action = self._dial_action, None
            if action is not None:
                action()

    # --- the host side of a call ---------------------------------------------------------

    def other_sockets(self) -> list[socket.socket]:
        return [self._host] if self._host is not None else []

    def socket_readable(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._carrier_lost()
        elif self.mode == "online":
            self.send(data)
        # In online command mode the host's bytes are dropped (the modem has no buffer).

    def _carrier_lost(self) -> None:
        self._hang_up()
        self._result("NO CARRIER")

    # --- commands ------------------------------------------------------------------------

    def _command_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        self.commands.append(line)
        if line[:2].upper() != "AT":
            return  # noise: real modems ignore a line that does not start with AT
        body = line[2:]
        i = 0
        while i < len(body):
            c = body[i].upper()
            i += 1
            if c == " ":
                continue
            if c == "D":
                self._dial(body[i:])
                return
            if c == "+":
                break  # extended command: accepted
            if c == "&":
                if i >= len(body) or body[i].upper() not in "FKCDWV":
                    self._result("ERROR")
                    return
                letter = body[i].upper()
                i += 1
                value, i = _digits(body, i)
                if letter == "F":
                    self._reset_profile()
                continue
            if c == "S":
                number, i = _digits(body, i)
                if i < len(body) and body[i] == "=":
                    value, i = _digits(body, i + 1)
                    self.registers[number] = value
                elif i < len(body) and body[i] == "?":
                    i += 1
                    self.send(b"\r\n%03d\r\n" % self.registers.get(number, 0))
                continue
            if c not in "EVQXZHOILMA":
                self._result("ERROR")
                return
            value, i = _digits(body, i)
            if c == "E":
                self.echo = value == 1
            elif c == "V":
                self.verbose = value == 1
            elif c == "Q":
                self.quiet = value == 1
            elif c == "X":
                if value > 4:
                    self._result("ERROR")
                    return
                self.x_level = value
            elif c == "Z":
                self._hang_up()
                self._reset_profile()
            elif c == "H":
                self._hang_up()
            elif c == "O":
                if self.mode == "online_command":
                    self.mode = "online"
                    self._last_data = 0.0
                    self._result("CONNECT", self.rate)
                    return
                self._result("NO CARRIER")
                return
            elif c == "I":
                self.send(b"\r\nposkit modem emulator (V.22bis)\r\n")
            elif c == "A":
                self._result("NO CARRIER")  # nobody calls in
                return
        self._result("OK")

    def _reset_profile(self) -> None:
        self.echo = True
        self.verbose = True
        self.quiet = False
        self.x_level = 4
        self.registers = {7: 50, 12: int(round(self.default_guard_s * 50))}

    def _dial(self, dial: str) -> None:
        if self.mode != "command":
            self._result("ERROR")
            return
        dial = dial.strip()
        self.dialled.append(dial)
        body = dial[1:] if dial[:1].upper() in ("T", "P") else dial
        injected = self.dial_results.pop(0) if self.dial_results else None
        if body.rstrip().endswith(";"):
            # Off hook, dial what is given, back to command mode (the Hayes ";"): with nothing
            # to dial, the dial-tone check a terminal makes at power-up.
            tone = self.dial_tone or self.x_level not in (2, 4)
            self._result(injected or ("OK" if tone else "NO DIALTONE"))
            return
        self.mode = "dialing"
        if injected == SILENT:
            return
        if injected is not None:
            action = _deferred(self, injected)
        elif not self.dial_tone and self.x_level in (2, 4):
            action = _deferred(self, "NO DIALTONE")
        else:

            def action() -> None:
                self._answer(body)

        self._dial_action = action
        self._dial_due = time.monotonic() + self.dial_delay_s

    def _answer(self, body: str) -> None:
        if self.outside_line is not None:
            prefix = self.outside_line + ","
            if not body.startswith(prefix):
                self.mode = "command"
                self._result("BUSY")  # an internal extension that does not exist
                return
        parts = [p for p in body.replace(";", "").replace("W", ",").split(",") if p]
        number = "".join(ch for ch in (parts[-1] if parts else "") if ch.isdigit() or ch in "*#")
        whole = "".join(ch for ch in body if ch.isdigit() or ch in "*#")
        target = self.numbers.get(number) or self.numbers.get(whole) or self.default
        if target is None:
            self.mode = "command"
            self._result("NO CARRIER")
            return
        try:
            host = socket.create_connection(target, timeout=self.connect_timeout_s)
        except OSError:
            self.mode = "command"
            self._result("NO CARRIER")
            return
        host.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._host = host
        self.mode = "online"
        self._pluses = 0
        self._last_data = 0.0
        self._result("CONNECT", self.rate)


def _deferred(modem: ModemEmulator, code: str):
    def action() -> None:
        modem.mode = "command"
        modem._result(code)

    return action


def _digits(text: str, i: int) -> tuple[int, int]:
    start = i
    while i < len(text) and text[i].isdigit():
        i += 1
    return (int(text[start:i]) if i > start else 0), i
