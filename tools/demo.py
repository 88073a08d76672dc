"""A virtual terminal set up against the acquirer host simulator and driven by a script: the
sale of `make demo`, and the end-to-end tests' runs (firmware_tests/test_ui_e2e.py).

    python -m tools.demo                                   # make demo: cashier-sale.vts
    python -m tools.demo docs/examples/power-up-checks.vts --folder build/try

    with Bench(folder) as bench:                            # hostsim started, terminal set up
        run = bench.vterm(Path("docs/examples/cashier-sale.vts"))
        run.returncode, run.stdout                          # 0: every line held

Each step is the `poskit` command an installer would type: `poskit hostsim --listen
127.0.0.1:PORT --db FOLDER/host.db --create --seed` (a free port), `poskit txn --state
FOLDER/term init --params JOB --tmk-fd 0` (the job with the simulator's port, the TMK on
standard input) and `poskit vterm --state FOLDER/term --host 127.0.0.1:PORT --heap HEAP
--script SCRIPT`. The script is copied into the folder first, so its snapshots land there.

HEAP: the terminal application with its drivers and the transaction engine, loaded from
the ROMFS image, needs about 94 KB of heap on the 32-bit MicroPython (an ESP32's word size:
the 110 KB it has) and 156 KB on the 64-bit one, whose objects are larger
(docs/benchmarks.md); frozen into the firmware, as a production build is, a whole day fits
64 KB on the 32-bit one (docs/board.md, "Heap"; `make frozen`): `terminal_heap()` gives the
ROMFS image 110K or 176K accordingly.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from hostlib import micropython
from hostlib.errors import PoskitError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
JOB = EXAMPLES / "terminal-job.toml"
SALE = EXAMPLES / "cashier-sale.vts"
# The host simulator's seeded terminal's master key (docs/hostsim.md): a test key.
TMK = "70F2A84CCBC2AE8625CBB0F2C22AB923"
_POSKIT = [str(Path(sys.executable).with_name("poskit"))]


class DemoError(PoskitError):
    """A step of the set-up failed; the message has its output."""


def terminal_heap(interpreter: str | None = None) -> str:
    """The heap the terminal application runs in on `interpreter` (default: the one poskit
    runs): an ESP32's 110K on a 32-bit build, 176K on a 64-bit one (docs/vterm.md)."""
    return micropython.ESP32_HEAP if micropython.word_bits(interpreter) == 32 else "176K"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Bench:
    """A host simulator and a terminal set up against it, in `folder` (made empty)."""

    def __init__(
        self, folder: Path, job: Path = JOB, heap: str | None = None, serial: str | None = None
    ) -> None:
        self.folder = Path(folder)
        self.job = Path(job)
        self.heap = heap or terminal_heap()
        # With a serial the terminal is provisioned as it (keys in FOLDER/keystore.json) and
        # its parameters arrive as packets with the job's version, as an installer loads them.
        self.serial = serial
        self.port = free_port()
        self.state = self.folder / "term"
        self._host: subprocess.Popen | None = None

    def __enter__(self) -> Bench:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        try:
            self.start_host()
            self.init()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start_host(self) -> None:
        """`poskit hostsim` on a free port, its log in FOLDER/hostsim.log."""
        log = open(self.folder / "hostsim.log", "w")  # noqa: SIM115 (kept open while it runs)
        self._host = subprocess.Popen(
            _POSKIT
            + ["hostsim", "--listen", "127.0.0.1:%d" % self.port]
            + ["--db", str(self.folder / "host.db"), "--create", "--seed"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while "listening" not in (self.folder / "hostsim.log").read_text():
            if self._host.poll() is not None or time.monotonic() > deadline:
                raise DemoError(
                    "the host simulator did not start:\n%s"
                    % (self.folder / "hostsim.log").read_text()
                )
            time.sleep(0.05)

    def init(self) -> None:
        """`poskit txn init` with the job, pointed at the simulator's port, and its TMK."""
        job = self.folder / self.job.name
        job.write_text(self.job.read_text().replace("port = 5000\n", "port = %d\n" % self.port))
        command = _POSKIT + ["txn", "--state", str(self.state), "init", "--params", str(job)]
        command += ["--tmk-fd", "0"]
        env = None
        if self.serial:
            command += ["--serial", self.serial, "--keystore", str(self.folder / "keystore.json")]
            env = dict(os.environ, POSKIT_KEYSTORE_PASSPHRASE="correct horse battery")
        out = subprocess.run(
            command,
            input=TMK + "\n",
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env=env,
        )
        if out.returncode != 0:
            raise DemoError("poskit txn init failed:\n%s%s" % (out.stdout, out.stderr))

    def vterm(
        self, script: Path, *, echo: bool = False, timeout: float = 300, gprs: str | None = None
    ):
        """Run `script` on the terminal (`poskit vterm --script`); the CompletedProcess.
        With `echo`, its output goes to this process's standard output as it comes; `gprs`
        the GPRS module fitted ("sim800", "sim7600"; vterm's own default without it)."""
        copy = self.folder / Path(script).name
        shutil.copyfile(script, copy)
        command = _POSKIT + ["vterm", "--state", _shown(self.state)]
        command += ["--host", "127.0.0.1:%d" % self.port, "--heap", self.heap]
        if gprs:
            command += ["--gprs", gprs]
        command += ["--script", _shown(copy)]
        if echo:
            return subprocess.run(command, timeout=timeout, cwd=ROOT)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)

    def stop(self) -> None:
        host = self._host
        self._host = None
        if host is not None and host.poll() is None:
            host.terminate()
            try:
                host.wait(timeout=10)
            except subprocess.TimeoutExpired:
                host.kill()
                host.wait(timeout=10)


def _shown(path: Path) -> str:
    # A path as the commands print it: from the repository (their working folder) if in it.
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(Path(path).resolve())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.demo",
        description="run a vterm script on a terminal set up against the host simulator",
    )
    parser.add_argument("script", nargs="?", default=str(SALE), help="default: %(default)s")
    parser.add_argument("--folder", default=str(ROOT / "build" / "demo-sale"))
    parser.add_argument("--job", default=str(JOB))
    args = parser.parse_args(argv)
    try:
        with Bench(Path(args.folder), Path(args.job)) as bench:
            print(
                "host simulator on 127.0.0.1:%d, terminal in %s"
                % (bench.port, _shown(bench.state))
            )
            sys.stdout.flush()
            run = bench.vterm(Path(args.script), echo=True)
            return run.returncode
    except PoskitError as exc:
        print("demo: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
