"""A command run as a person runs it: on a terminal of its own (a pseudo-terminal that is its
controlling terminal, so getpass asks there), with what it prints read back and answers
typed once its prompt shows. Every wait is bounded.

    with TtyRun([POSKIT, "txn", ...], env) as run:
        run.expect("PIN (not echoed): ")
        run.type("749163")
        assert run.wait() == 0
        assert "749163" not in run.output
"""

from __future__ import annotations

import os
import pty
import select
import signal
import time
from pathlib import Path


class TtyRun:
    def __init__(self, argv: list[str], env: dict, cwd: Path | None = None) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: session leader, the pty its controlling terminal
            try:
                if cwd is not None:
                    os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.raw = b""
        self._cursor = 0
        self.status: int | None = None

    @property
    def output(self) -> str:
        """Everything the command wrote on its terminal so far (what the person saw)."""
        return self.raw.decode("utf-8", "replace")

    def _pump(self, seconds: float) -> bool | None:
        """Read what comes within `seconds`: True if something came, None if nothing,
        False once the terminal is closed."""
        ready, _, _ = select.select([self.fd], [], [], seconds)
        if not ready:
            return None
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the command has ended and the pty is closed
            return False
        self.raw += chunk
        return bool(chunk)

    def expect(self, text: str, timeout: float = 60.0) -> None:
        """Wait until `text` shows after what the last expect found."""
        deadline = time.monotonic() + timeout
        while (found := self.raw.find(text.encode(), self._cursor)) < 0:
            if time.monotonic() > deadline or self._pump(0.1) is False:
                raise AssertionError(
                    "%r did not show; the terminal shows:\n%s" % (text, self.output)
                )
        self._cursor = found + len(text.encode())

    def type(self, text: str) -> None:
        """Type `text` and Enter, as at a keyboard."""
        os.write(self.fd, text.encode() + b"\r")

    def wait(self, timeout: float = 300.0) -> int:
        """The exit status, once the command ends (its output all read)."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            self._pump(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                self.status = -9
                raise AssertionError("the command did not end; it shows:\n%s" % self.output)
        while self._pump(0.1):  # what it wrote last
            pass
        return self.status

    def __enter__(self) -> TtyRun:
        return self

    def __exit__(self, *exc) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)
