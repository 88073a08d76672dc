"""The installer's first hour on the virtual terminal (`make demo`), and a virtual terminal set
up against the acquirer host simulator and driven by a script (the end-to-end tests' runs,
firmware_tests/examplescript.py).

    python -m tools.demo --install                         # make demo: install a terminal
    python -m tools.demo                                   # the cashier's sale, scripted
    python -m tools.demo docs/examples/power-up-checks.vts --folder build/try

    with InstallBench(folder) as bench:                     # hostsim, a blank vterm running
        run = bench.install()                               # poskit install --vterm ...

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
(docs/benchmarks.md); frozen into the firmware, as a production build is, a whole day runs
in 64 KB on the 32-bit one (docs/board.md, "Heap"; `make frozen`): `terminal_heap()` gives the
ROMFS image 110K or 192K accordingly.
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
    runs): an ESP32's 110K on a 32-bit build, 192K on a 64-bit one (docs/vterm.md: PosManage's
    parameter slip, from the ROMFS image, has run out of 176K there since the journal region)."""
    return micropython.ESP32_HEAP if micropython.word_bits(interpreter) == 32 else "192K"


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
        _end(self._host)
        self._host = None


def _end(process: subprocess.Popen | None) -> None:
    """Stop `process` if it runs: SIGTERM (it cleans up), SIGKILL after 10 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# The installer's first hour: a job with two acquirer applications, the second one a terminal
# the demo adds to the host simulator with this master key (a test key).
INSTALL_JOB = EXAMPLES / "install-job.toml"
SECOND_TMK = "3B5C7A11D4E2F60819A7C3E5B2D48F61"
SECOND_TERMINAL = ["--tid", "12345679", "--mid", "123456789012346"]
_PASSPHRASE = "correct horse battery"


def install_heap(interpreter: str | None = None) -> str:
    """The heap of the install's virtual terminal: host-link mode running the cashier's sale
    over GPRS needs more than the terminal application alone (measured on the 64-bit port:
    out of memory at 176K, runs at 192K; 208K leaves a margin). The 32-bit figure is not yet
    measured: the ESP32's 110K."""
    return micropython.ESP32_HEAP if micropython.word_bits(interpreter) == 32 else "208K"


class InstallBench(Bench):
    """The host simulator (knowing both applications' terminals) and a blank virtual terminal
    running against it, in `folder` (made empty); `install()` runs `poskit install` on it:

        poskit hostsim --db FOLDER/host.db --create --seed
        poskit hostsim --db FOLDER/host.db add-terminal --tid 12345679 ... < (its TMK)
        poskit hostsim --listen 127.0.0.1:PORT --db FOLDER/host.db
        poskit vterm --state FOLDER/term --host 127.0.0.1:PORT --heap HEAP --headless
        poskit install FOLDER/install-job.toml --vterm FOLDER/term --record FOLDER/record \
            --keystore FOLDER/keystore.json --tmk-fd 0 < (the two TMKs)
    """

    def __init__(self, folder: Path, job: Path = INSTALL_JOB, heap: str | None = None) -> None:
        super().__init__(folder, job, heap or install_heap())
        self.record = self.folder / "record"
        self._vterm: subprocess.Popen | None = None

    def __enter__(self) -> InstallBench:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        try:
            self._host_db()
            self.start_host()
            self.start_vterm()
        except BaseException:
            self.stop()
            raise
        return self

    def _host_db(self) -> None:
        db = ["--db", str(self.folder / "host.db")]
        _command(_POSKIT + ["hostsim", *db, "--create", "--seed"])
        _command(
            _POSKIT
            + ["hostsim", *db, "add-terminal", *SECOND_TERMINAL]
            + ["--name", "POSKIT SECOND ACQUIRER"],
            stdin=SECOND_TMK + "\n",
        )

    def start_host(self) -> None:
        """As Bench's, on the database made above (not created and seeded again)."""
        log = open(self.folder / "hostsim.log", "w")  # noqa: SIM115 (kept open while it runs)
        self._host = subprocess.Popen(
            _POSKIT
            + ["hostsim", "--listen", "127.0.0.1:%d" % self.port]
            + ["--db", str(self.folder / "host.db")],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        _wait_for(self.folder / "hostsim.log", "listening", self._host, "the host simulator")

    def start_vterm(self) -> None:
        """`poskit vterm` on a blank flash in FOLDER/term, headless; returns once it runs."""
        log = open(self.folder / "vterm.log", "w")  # noqa: SIM115 (kept open while it runs)
        self._vterm = subprocess.Popen(
            _POSKIT
            + ["vterm", "--state", str(self.state), "--host", "127.0.0.1:%d" % self.port]
            + ["--heap", self.heap, "--headless"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        _wait_for(self.folder / "vterm.log", "console:", self._vterm, "the virtual terminal")

    def job_file(self) -> Path:
        """The job, copied into the folder with the simulator's port in place of 5000."""
        job = self.folder / self.job.name
        job.write_text(
            self.job.read_text(encoding="utf-8").replace(
                "port = 5000\n", "port = %d\n" % self.port
            ),
            encoding="utf-8",
        )
        return job

    def install(self, *extra: str, echo: bool = False, timeout: float = 600):
        """`poskit install` of the job on the virtual terminal (the CompletedProcess); the
        master keys on its standard input, the key store in the folder."""
        command = _POSKIT + ["install", str(self.job_file()), "--vterm", str(self.state)]
        command += ["--record", str(self.record), "--keystore", str(self.folder / "keystore.json")]
        command += ["--tmk-fd", "0", "--installer", "demo", *extra]
        env = dict(os.environ, POSKIT_KEYSTORE_PASSPHRASE=_PASSPHRASE)
        keys = "%s\n%s\n" % (TMK, SECOND_TMK)
        if echo:
            return subprocess.run(
                command, input=keys, text=True, timeout=timeout, cwd=ROOT, env=env
            )
        return subprocess.run(
            command, input=keys, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
        )

    def stop(self) -> None:
        _end(self._vterm)
        self._vterm = None
        super().stop()


def _command(command: list[str], stdin: str | None = None) -> None:
    out = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    if out.returncode != 0:
        raise DemoError("%s failed:\n%s%s" % (" ".join(command[1:3]), out.stdout, out.stderr))


def _wait_for(log: Path, text: str, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while text not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise DemoError("%s did not start:\n%s" % (what, log.read_text()))
        time.sleep(0.05)


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
    parser.add_argument("--folder", help="default: build/demo-sale, build/demo-install")
    parser.add_argument("--job", help="default: %s, %s" % (JOB.name, INSTALL_JOB.name))
    parser.add_argument(
        "--install",
        action="store_true",
        help="the installer's first hour: poskit install of a two-application job on a blank "
        "virtual terminal",
    )
    args = parser.parse_args(argv)
    if args.install:
        return _install_demo(
            Path(args.folder or ROOT / "build" / "demo-install"), Path(args.job or INSTALL_JOB)
        )
    args.folder = args.folder or str(ROOT / "build" / "demo-sale")
    args.job = args.job or str(JOB)
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


def _install_demo(folder: Path, job: Path) -> int:
    try:
        with InstallBench(folder, job) as bench:
            print(
                "host simulator on 127.0.0.1:%d (terminals 12345678 and 12345679), a blank "
                "virtual terminal in %s" % (bench.port, _shown(bench.state)),
                flush=True,
            )
            run = bench.install(echo=True)
            if run.returncode == 0:
                print("the install record, its report and the slips: %s" % _shown(bench.record))
            return run.returncode
    except PoskitError as exc:
        print("demo: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
