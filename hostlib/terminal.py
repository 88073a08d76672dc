"""A terminal on a serial port, driven through its host-link mode (docs/link.md, "Commands").

    from hostlib.terminal import Terminal
    with Terminal.open("/dev/ttyUSB0", timeout=30) as t:    # port from hostlib.ports.find_port
        info = t.identify()
        t.provision("PK-000123", kbpk, link_key)     # refused (PoskitError) if provisioned
        challenge = t.wipe_challenge(); t.wipe(token)
        back = t.load(packet_bytes)                  # verified + applied whole, read back
        t.onsite(app=1, line="extension", prefix="9")
        result = t.txn({"app": 1, "kind": "sale", "amount": 1, "card": "reader"})
        summary = t.journal(app=1)
        slips = t.slips(count=2)
        t.reset()                                    # the terminal restarts

Opening puts the terminal into host-link mode: over the raw REPL where the terminal gives one
(Ctrl-C stops the application, the tool runs `app.hostlink.run()`), else by a RESET frame,
which a locked-down terminal takes at its idle screen. Closing leaves the mode: the terminal
goes back to its application (after a raw-REPL entry, by a soft reset, as at power-up).

Every failure is a TerminalError (a PoskitError) with one readable line: the terminal's
refusal (`reason` a word such as "crc", "serial", "version", "mac"), or the link's ("the
terminal did not acknowledge..."). A request is applied whole or not at all: its parts are
gathered on the terminal and acted on once the last has come.
"""

from __future__ import annotations

import json
import struct
import time

from hostlib.consolelink import MAX_PAYLOAD, ConsoleLink, LinkError
from hostlib.errors import PoskitError

REQUEST = 0x51
ANSWER = 0x41
PART_HEADER = 4
PART_DATA = MAX_PAYLOAD - PART_HEADER
MAX_MESSAGE = 8704  # the terminal's request buffer (app/hostlink.py)
MAX_PACKET = 8192  # a packet's largest size (docs/packets.md)
BAUD = 115200
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
# What the raw REPL runs to enter host-link mode.
ENTRY = b"from app import hostlink\nhostlink.run()\n"


class TerminalError(PoskitError):
    """The terminal refused a request, or could not be reached; `reason` says which rule
    (None: not the terminal's refusal), `detail` the terminal's own words."""

    def __init__(self, message: str, reason: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.detail = detail or message


def connect(port: str | None, timeout: float = 30.0) -> Terminal:
    """The terminal on `port`, or on the one terminal plugged in when `port` is None
    (hostlib.ports.find_port), in host-link mode: `with connect(args.port) as t: ...`."""
    from hostlib.ports import find_port

    return Terminal.open(find_port(port), timeout)


def _open_port(port: str):
    import serial  # pyserial: mpremote's own dependency

    try:
        return serial.serial_for_url(port, baudrate=BAUD, timeout=0.01)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise TerminalError("cannot open %s: %s" % (port, exc)) from None


class Terminal:
    """See the module docstring. `stream`: a pyserial-like port already open."""

    def __init__(self, stream, *, timeout: float = 30.0, name: str = "the terminal"):
        self.stream = stream
        self.name = name
        self.timeout = timeout
        self.link = ConsoleLink(stream)
        self.via_repl = False
        self._number = 0
        self._open = False

    @classmethod
    def open(cls, port: str, timeout: float = 30.0, *, repl: bool = True) -> Terminal:
        """The terminal on `port` (a device path, or a pyserial URL such as
        socket://host:port), in host-link mode. `timeout`: the longest wait for an answer
        (a transaction with a card: the cashier's time too). `repl`: try the raw REPL first."""
        stream = _open_port(port)
        term = cls(stream, timeout=timeout, name=port)
        try:
            term.enter(repl=repl)
        except BaseException:
            stream.close()
            raise
        return term

    # --- entering and leaving ------------------------------------------------------------

    def _read_until(self, marker: bytes, seconds: float) -> bytes | None:
        seen = b""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            data = self.stream.read(256)
            if data:
                seen += data
                if marker in seen:
                    return seen
        return None

    def enter(self, repl: bool = True, seconds: float = 10.0) -> None:
        """Put the terminal into host-link mode (see the module docstring) and start a
        session; TerminalError when it does not answer within `seconds`."""
        if repl:
            self.stream.write(b"\r\x03\x03")
            time.sleep(0.2)
            self.stream.reset_input_buffer()
            self.stream.write(b"\r\x01")
            if self._read_until(RAW_PROMPT, 2.0) is not None:
                self.stream.write(ENTRY + b"\x04")
                if self._read_until(b"OK", 2.0) is None:
                    raise TerminalError("%s did not run host-link mode from its REPL" % self.name)
                self.via_repl = True
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.link.start()
                break
            except LinkError:
                if time.monotonic() >= deadline:
                    raise TerminalError(
                        "%s does not answer on its console: not in host-link mode, and no "
                        "REPL to start it from (a locked-down terminal takes it at its idle "
                        "screen, or from the admin menu)" % self.name
                    ) from None
        self._open = True

    def close(self) -> None:
        """Leave host-link mode (the terminal goes back to its application) and close the
        port. Idempotent; a terminal that no longer answers is left as it is."""
        if self._open:
            try:
                self.request({"cmd": "leave"}, timeout=5)
            except PoskitError:
                pass
            self._back_to_application()
        self._open = False
        try:
            self.stream.close()
        except OSError:
            pass

    def _back_to_application(self) -> None:
        # After a raw-REPL entry: the friendly REPL, then a soft reset, which starts the
        # application as at power-up (boot.py, main.py).
        if self.via_repl:
            time.sleep(0.2)
            self.stream.write(b"\x02")
            time.sleep(0.2)
            self.stream.write(b"\x04")
            self.stream.flush()

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- requests --------------------------------------------------------------------------

    def request(self, request: dict, attachment: bytes = b"", timeout: float | None = None):
        """Send `request` (a dict with "cmd") and its attachment; the terminal's answer (a
        dict), or TerminalError with its refusal."""
        data = json.dumps(request).encode()
        body = struct.pack(">H", len(data)) + data + bytes(attachment)
        if len(body) > MAX_MESSAGE:
            raise TerminalError(
                "request of %d bytes, the terminal takes at most %d" % (len(body), MAX_MESSAGE)
            )
        self._number = (self._number + 1) & 0xFF
        number = self._number
        count = max(1, -(-len(body) // PART_DATA))
        for i in range(count):
            part = body[i * PART_DATA : (i + 1) * PART_DATA]
            self.link.send(bytes((REQUEST, number, i, count)) + part)
        answer = self._answer(number, self.timeout if timeout is None else timeout)
        if not answer.get("ok"):
            raise TerminalError(
                "%s refused: %s" % (self.name, answer.get("error")),
                answer.get("reason") or "refused",
                answer.get("error"),
            )
        return answer

    def _answer(self, number: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        data = b""
        expected = 0
        while True:
            left = deadline - time.monotonic()
            payload = self.link.receive(max(0.0, left)) if left > 0 else None
            if payload is None:
                raise TerminalError("%s did not answer within %.0f s" % (self.name, timeout))
            if len(payload) < PART_HEADER or payload[0] != ANSWER or payload[1] != number:
                continue  # an answer to an earlier request the host gave up on
            part, count = payload[2], payload[3]
            if part != expected:
                raise TerminalError("%s sent an answer in parts out of order" % self.name)
            data += payload[PART_HEADER:]
            expected += 1
            if expected == count:
                try:
                    return json.loads(data)
                except ValueError:
                    raise TerminalError("%s sent an answer that is not JSON" % self.name) from None

    # --- the commands ------------------------------------------------------------------------

    def identify(self) -> dict:
        """Serial (None before provisioning), chip id, model, MicroPython version, the
        application's build, lockdown, parameter versions, the applications, the keys'
        check values (never a key), the SIM's ICCID and signal, the PIN pad's serial."""
        info = self.request({"cmd": "identify"})
        for app in info.get("applications", ()):
            app["merchant_name"] = _text(app.get("merchant_name"))
        return info

    def provision(self, serial: str, kbpk: bytes, link_key: bytes) -> dict:
        """Give a blank terminal its identity; returns its serial and check values (the
        host compares them with its own). Refused if the terminal is provisioned."""
        answer = self.request(
            {"cmd": "provision", "serial": serial, "kbpk_length": len(kbpk)},
            bytes(kbpk) + bytes(link_key),
        )
        return {k: answer[k] for k in ("serial", "kbpk_kcv", "link_check")}

    def wipe_challenge(self) -> bytes:
        """A one-time challenge for wipe()."""
        return bytes.fromhex(self.request({"cmd": "wipe_challenge"})["challenge"])

    def wipe(self, token: bytes) -> str:
        """Erase the identity, keys and (settled) journals, with the token of the last
        challenge (hostlib.identity_token.wipe_token); returns what was erased."""
        return self.request({"cmd": "wipe", "token": bytes(token).hex()})["wiped"]

    def load(self, packet: bytes) -> dict:
        """Apply a parameter or key packet, verified and applied whole by the terminal; the
        read-back: kind, app, version (and the keys' check values), checked against the
        packet's header."""
        packet = bytes(packet)
        if len(packet) > MAX_PACKET:
            raise TerminalError(
                "packet of %d bytes, the terminal takes at most %d" % (len(packet), MAX_PACKET)
            )
        answer = self.request({"cmd": "load"}, packet)
        kind = {1: "parameters", 2: "keys"}.get(packet[5]) if len(packet) > 6 else None
        version = struct.unpack_from(">I", packet, 23)[0] if len(packet) >= 27 else None
        if (answer.get("kind"), answer.get("app"), answer.get("version")) != (
            kind,
            packet[6],
            version,
        ):
            raise TerminalError(
                "%s applied the packet but reads back %s v%s of application %s, not %s v%s of "
                "application %s"
                % (
                    self.name,
                    answer.get("kind"),
                    answer.get("version"),
                    answer.get("app"),
                    kind,
                    version,
                    packet[6],
                )
            )
        answer.pop("ok", None)
        return answer

    def onsite(self, app: int = 1, line: str | None = None, prefix: str | None = None) -> dict:
        """The installer's on-site settings: the dial-up line ("direct" or "extension") and
        the outside-line prefix; returns what the terminal now holds."""
        answer = self.request({"cmd": "onsite", "app": app, "line": line, "prefix": prefix})
        return {"line": answer["line"], "prefix": answer["prefix"]}

    def txn(self, request: dict, timeout: float | None = None) -> dict:
        """One request of app/txn/link.py ({"kind": "sale", "amount": fen, ...}); with
        "card": "reader", the card is read on the terminal and the PIN entered there. The
        result fields, with "slips": a list of slips, each a list of lines (str)."""
        answer = self.request({"cmd": "txn", "request": request}, timeout=timeout)
        answer["slips"] = [_slip(lines) for lines in answer.get("slips") or ()]
        answer.pop("ok", None)
        return answer

    def journal(self, app: int = 1) -> dict:
        """The current batch of application `app`: number, totals, transactions by state,
        the last one, what waits to be sent again."""
        answer = self.request({"cmd": "journal", "app": app})
        answer.pop("ok", None)
        return answer

    def slips(self, count: int = 1, app: int = 1) -> list[list[str]]:
        """The merchant copies (marked reprint) of the last `count` transactions."""
        answer = self.request({"cmd": "slips", "app": app, "count": count})
        return [_slip(lines) for lines in answer["slips"]]

    def reset(self) -> None:
        """Restart the terminal (it answers first); the session ends."""
        self.request({"cmd": "reset"}, timeout=10)
        self._open = False
        self._back_to_application()


def _slip(lines) -> list[str]:
    return [bytes.fromhex(line).decode("gb18030", errors="replace") for line in lines]


def _text(value):
    if isinstance(value, dict) and "gb18030" in value:
        return bytes.fromhex(value["gb18030"]).decode("gb18030", errors="replace")
    return value
