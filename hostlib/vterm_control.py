"""A running virtual terminal's card reader, keypad, PIN pad and display, reached from another
process: what `poskit install --vterm DIR` uses to swipe the test card and type its PIN, as
the installer does by hand on a real terminal.

    # poskit vterm --state DIR  writes DIR/vterm.json while it runs (removed when it stops)
    control = VtermControl.find("DIR")       # VtermError if no virtual terminal runs there
    control.console                          # /dev/pts/N, its USB console
    control.do("swipe")                      # one line of the vterm script language
    control.do("insert pboc-debit")          # a chip card in the contact reader; "remove"
    control.do("keys 1 2 3 4 5 6 ENTER")     # (docs/vterm.md), run on the terminal now
    control.screen()                         # the text lines the LCD shows
    control.screen_png()                     # the LCD as a PNG (bytes)

The rule kept: only a process of the same user reaches it. The address file is readable by
its owner alone and holds a random token; the server, on 127.0.0.1, answers nothing to a
connection that does not present it. Why a server of its own: the emulators serve the
device (one connection each, the terminal's); the person at the terminal acts on them from
the host side, which lives in the vterm's process.

Protocol: one JSON object a line each way. {"token": T, "op": "line", "line": "swipe"} ->
{"ok": true} or {"error": "..."}; {"token": T, "op": "screen"} -> {"ok": true, "text":
[...], "png": "<base64>"}.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import threading
from pathlib import Path

from hostlib.errors import PoskitError
from hostlib.vterm import VtermError

ADDRESS_FILE = "vterm.json"
_LINE_LIMIT = 64 * 1024


class ControlServer:
    """Serves `terminal` (a started hostlib.vterm.VirtualTerminal) to other local processes;
    `start()` writes the address file beside the flash image, `stop()` removes it."""

    def __init__(self, terminal) -> None:
        from hostlib import vterm_script

        self.terminal = terminal
        self.path = Path(terminal.flash).parent / ADDRESS_FILE
        self._token = secrets.token_hex(16)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One runner: `timeout` lines and the raw REPL's state carry from line to line.
        self._runner = vterm_script.ScriptRunner(terminal, "control", None)
        self._busy = threading.Lock()

    def start(self) -> ControlServer:
        console = self.terminal.console
        info = {
            "pid": os.getpid(),
            "console": console.path if console is not None else None,
            "control": "127.0.0.1:%d" % self._listener.getsockname()[1],
            "token": self._token,
            "peripherals": self.terminal.peripherals(),
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        os.replace(tmp, self.path)
        self._thread = threading.Thread(target=self._serve, name="vterm-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._listener.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as stream:
            for raw in stream:
                if len(raw) > _LINE_LIMIT:
                    return
                try:
                    request = json.loads(raw)
                except ValueError:
                    return
                if not isinstance(request, dict) or not secrets.compare_digest(
                    str(request.get("token", "")), self._token
                ):
                    return  # not the owner's process: no answer at all
                answer = self._answer(request)
                stream.write(json.dumps(answer).encode() + b"\n")
                stream.flush()

    def _answer(self, request: dict) -> dict:
        from hostlib import vterm_script

        op = request.get("op")
        try:
            if op == "line":
                steps = vterm_script.parse(str(request.get("line", "")), "control")
                try:
                    with self._busy:
                        self._runner.run(steps)
                except PoskitError:
                    if request.get("secret"):  # the line holds a PIN: not in the message
                        return {"error": "the PIN could not be typed on the terminal"}
                    raise
                return {"ok": True}
            if op == "screen":
                display = self.terminal.display
                if display is None:
                    return {"error": "the virtual terminal has no display"}
                picture = display.picture()
                return {
                    "ok": True,
                    "text": picture.read_text(),
                    "png": base64.b64encode(picture.png(scale=4)).decode(),
                }
        except PoskitError as exc:
            return {"error": str(exc)}
        return {"error": "unknown request %r" % op}


class VtermControl:
    """The client: see the module docstring."""

    def __init__(self, info: dict, where: Path) -> None:
        self.console: str = info["console"]
        self.peripherals: dict = info.get("peripherals", {})
        self._where = where
        self._token = info["token"]
        host, _, port = info["control"].rpartition(":")
        self._address = (host, int(port))
        self._lock = threading.Lock()

    @classmethod
    def find(cls, folder: str | os.PathLike) -> VtermControl:
        """The virtual terminal running on state folder `folder` (its vterm.json)."""
        path = Path(folder) / ADDRESS_FILE
        try:
            info = json.loads(path.read_text())
            pid = int(info["pid"])
            info["console"], info["control"], info["token"]  # noqa: B018 (all present)
        except FileNotFoundError:
            raise VtermError(
                "no virtual terminal runs on %s (start it: poskit vterm --state %s)"
                % (folder, folder)
            ) from None
        except (OSError, ValueError, KeyError, TypeError):
            raise VtermError("%s is not a virtual terminal's address file" % path) from None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise VtermError(
                "the virtual terminal of %s has stopped (process %d is gone): start it again"
                % (folder, pid)
            ) from None
        except PermissionError:
            pass
        return cls(info, path)

    def do(self, line: str, timeout: float = 120, *, secret: bool = False) -> None:
        """Run one line of the vterm script language on the terminal (it waits as the line
        says: `screen-check` until the screen shows its text, `keys` until played). With
        `secret` (a PIN typed on the keypad) a failure's message leaves the line out."""
        self._ask({"op": "line", "line": line, "secret": secret}, timeout)

    def screen(self) -> list[str]:
        """The text lines the LCD shows now, read back off the glass."""
        return self._ask({"op": "screen"}, 10)["text"]

    def screen_png(self) -> bytes:
        """The LCD now, as a PNG, 4 screen pixels a pixel."""
        return base64.b64decode(self._ask({"op": "screen"}, 10)["png"])

    def _ask(self, request: dict, timeout: float) -> dict:
        request = dict(request, token=self._token)
        with self._lock:
            try:
                with socket.create_connection(self._address, timeout=timeout) as conn:
                    conn.sendall(json.dumps(request).encode() + b"\n")
                    data = b""
                    while not data.endswith(b"\n"):
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
            except OSError as exc:
                raise VtermError(
                    "cannot reach the virtual terminal (%s): %s" % (self._where, exc)
                ) from None
        try:
            answer = json.loads(data)
        except ValueError:
            raise VtermError("the virtual terminal did not answer (%s)" % self._where) from None
        if "error" in answer:
            raise VtermError(answer["error"])
        return answer
