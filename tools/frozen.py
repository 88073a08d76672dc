"""The terminal application frozen into the MicroPython firmware, on the unix port: what a
production ESP32 build does (docs/board.md, "The production firmware"), on a PC, so its heap
can be measured and checked on both word sizes.

    python -m tools.frozen            # make frozen: build both, then run a day on each
    python -m tools.frozen --build    # build only; prints the two interpreters' paths

    interpreters()                    # {32: path, 64: path} of builds up to date, or {}

The builds come from the MicroPython source beside the 32-bit interpreter
(../shared/micropython32/micropython-src.tgz, or $POSKIT_MICROPYTHON_SRC naming a .tgz of
the same layout) with device/'s packages frozen in (`FROZEN_MANIFEST`): build/frozen/
micropython32 (`-m32`, static: the ESP32's word size) and build/frozen/micropython64. A build
is redone only when device/ or the source changed (build/frozen/*.stamp); each takes about
two minutes on two cores, and the 32-bit one needs gcc's 32-bit libraries (gcc-multilib).

The check runs docs/examples/cashier-day.vts -- power-up with its sign-on, a sale with its
PIN and slips, its void, a second sale, the settlement with its slip, all in one power
cycle -- against the host simulator, in the heaps the terminal is budgeted (CHECK_HEAPS):
over each bearer (Ethernet, dial-up, SIM800, SIM7600: docs/examples/terminal-job.toml with
its bearer swapped, BEARERS) in 64 KB on the 32-bit build, the ESP32's word size, whose
figure governs; and over Ethernet in 110 KB on the 64-bit build (an ESP32-WROOM's 110 KB,
on a build whose objects are larger: the other bearers' 64-bit figures scale, about 1.8
times the 32-bit ones).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from hostlib import micropython
from hostlib.errors import PoskitError

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "frozen"
SOURCE_VARIABLE = "POSKIT_MICROPYTHON_SRC"
DEFAULT_SOURCE = ROOT.parent / "shared" / "micropython32" / "micropython-src.tgz"
DAY = ROOT / "docs" / "examples" / "cashier-day.vts"
JOB = ROOT / "docs" / "examples" / "terminal-job.toml"
# The heap each day is checked in, by word size and bearer: the application's budget, 64 KB
# on the ESP32's word size (GOAL), whose figure governs, over every bearer; on the 64-bit
# port, over Ethernet, an ESP32-WROOM's 110 KB. docs/board.md, "Heap", has the peaks.
GOAL = "64K"
CHECK_HEAPS = {
    (32, "ethernet"): GOAL,
    (32, "dialup"): GOAL,
    (32, "sim800"): GOAL,
    (32, "sim7600"): GOAL,
    (64, "ethernet"): "110K",
}

# device/'s packages, frozen as the production manifest freezes them (asyncio as the port's
# own manifest does).
_MANIFEST = """include("$(MPY_DIR)/extmod/asyncio")
package("app", base_path=%(device)r)
package("board", base_path=%(device)r)
package("drivers", base_path=%(device)r)
package("fonts", base_path=%(device)r)
"""

# The options of ../shared/micropython32's build (its README): axTLS, no btree, no ffi.
_OPTIONS = [
    "VARIANT=standard",
    "MICROPY_PY_BTREE=0",
    "MICROPY_PY_FFI=0",
    "MICROPY_PY_SSL=1",
    "MICROPY_SSL_AXTLS=1",
    "MICROPY_SSL_MBEDTLS=0",
]
_WORD = {
    32: [
        "MPY_CROSS_FLAGS=-march=x86",
        "CFLAGS_EXTRA=-m32 -Wno-error",
        "LDFLAGS_EXTRA=-m32 -static",
    ],
    64: ["MPY_CROSS_FLAGS=-march=x64", "CFLAGS_EXTRA=-Wno-error"],
}


# The bearer of JOB, and what each bearer's job has in its place (the dial-up and GPRS
# settings of docs/examples/hostsim-dialup-job.toml and hostsim-gprs-job.toml); a bearer:
# (its job's text for it, the GPRS module fitted).
_ETHERNET = """bearer = "ethernet"

[terminal.ethernet]
dhcp = true
host = "127.0.0.1"
port = 5000
"""
_DIALUP = """bearer = "dialup"

[terminal.dialup]
prefix = "0"
line = "extension"
phone1 = "95555"
phone2 = "95556"
"""
_GPRS = """bearer = "gprs"

[terminal.gprs]
apn = "CMNET"
host = "posp.example"
port = 5000
"""
BEARERS = {
    "ethernet": (_ETHERNET, None),
    "dialup": (_DIALUP, None),
    "sim800": (_GPRS, "sim800"),
    "sim7600": (_GPRS, "sim7600"),
}


def bearer_job(bearer: str, folder: Path) -> Path:
    """JOB with `bearer` in place of its Ethernet, written into `folder`."""
    text = JOB.read_text()
    if _ETHERNET not in text:
        raise FrozenError("%s no longer has the Ethernet section this tool swaps" % JOB)
    folder.mkdir(parents=True, exist_ok=True)
    job = folder / ("day-%s.toml" % bearer)
    job.write_text(text.replace(_ETHERNET, BEARERS[bearer][0]))
    return job


class FrozenError(PoskitError):
    """The source is missing or a build failed; the message says which and how to go on."""


def source() -> Path:
    named = os.environ.get(SOURCE_VARIABLE)
    path = Path(named) if named else DEFAULT_SOURCE
    if not path.is_file():
        raise FrozenError(
            "no MicroPython source at %s (set %s to a .tgz laid out as "
            "../shared/micropython32/micropython-src.tgz: its README says what it holds)"
            % (path, SOURCE_VARIABLE)
        )
    return path


def binary_path(bits: int) -> Path:
    return OUT / ("micropython%d" % bits)


def _fingerprint(src: Path, bits: int) -> str:
    """What a build depends on: the source archive, the options, every file of device/."""
    digest = hashlib.sha256()
    stat = src.stat()
    digest.update(("%s %d %d\n" % (src, stat.st_size, stat.st_mtime_ns)).encode())
    digest.update(repr((_OPTIONS, _WORD[bits], _MANIFEST)).encode())
    for path in sorted((ROOT / "device").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _stamp(bits: int) -> Path:
    return OUT / ("micropython%d.stamp" % bits)


def interpreters() -> dict[int, str]:
    """The frozen builds that exist and match device/ as it is now, by word size."""
    try:
        src = source()
    except FrozenError:
        return {}
    found = {}
    for bits in (32, 64):
        stamp = _stamp(bits)
        if binary_path(bits).is_file() and stamp.is_file():
            if stamp.read_text().strip() == _fingerprint(src, bits):
                found[bits] = str(binary_path(bits))
    return found


def _run(command: list[str], cwd: Path, log: Path) -> None:
    with open(log, "a") as out:
        out.write("$ %s\n" % " ".join(command))
        out.flush()
        done = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text().splitlines()[-15:]
        raise FrozenError(
            "`%s` failed in %s (whole log: %s):\n%s"
            % (" ".join(command), cwd, log, "\n".join(tail))
        )


def build(bits: int) -> str:
    """Build (when out of date) the unix port of `bits` with device/ frozen; its path."""
    src = source()
    fingerprint = _fingerprint(src, bits)
    if interpreters().get(bits):
        return str(binary_path(bits))
    OUT.mkdir(parents=True, exist_ok=True)
    tree = OUT / "src"
    unpacked = OUT / "src.stamp"
    mark = "%s %d" % (src, src.stat().st_mtime_ns)
    if not unpacked.is_file() or unpacked.read_text() != mark:
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir()
        with tarfile.open(src) as archive:
            archive.extractall(tree, filter="data")
        unpacked.write_text(mark)
    log = OUT / ("build%d.log" % bits)
    log.write_text("")
    jobs = "-j%d" % (os.cpu_count() or 1)
    _run(["make", jobs, "-C", "mpy-cross"], tree, log)
    manifest = OUT / "poskit.manifest.py"
    manifest.write_text(_MANIFEST % {"device": str(ROOT / "device")})
    port = tree / "ports" / "unix"
    build_dir = "build-frozen%d" % bits
    command = ["make", jobs, "BUILD=%s" % build_dir, "FROZEN_MANIFEST=%s" % manifest]
    _run(command + _OPTIONS + _WORD[bits], port, log)
    # Copied beside it, then renamed over it: a terminal still running the old one keeps it.
    fresh = binary_path(bits).with_suffix(".new")
    shutil.copyfile(port / build_dir / "micropython", fresh)
    fresh.chmod(0o755)
    fresh.replace(binary_path(bits))
    got = micropython.word_bits(str(binary_path(bits)))
    if got != bits:
        raise FrozenError("%s is a %d-bit build, not %d-bit" % (binary_path(bits), got, bits))
    _stamp(bits).write_text(fingerprint + "\n")
    return str(binary_path(bits))


def check(bits: int, interpreter: str, bearer: str) -> bool:
    """Run the day (DAY) over `bearer` on `interpreter` in CHECK_HEAPS[bits, bearer]; True
    if every line held and the terminal never ran out of heap (a MemoryError on its console:
    a slip's record not saved can leave every line of the script holding)."""
    from tools.demo import Bench

    heap = CHECK_HEAPS[bits, bearer]
    folder = OUT / ("day%d-%s" % (bits, bearer))
    job = bearer_job(bearer, OUT / "jobs")
    with micropython.default(interpreter), Bench(folder, job, heap=heap) as bench:
        run = bench.vterm(DAY, gprs=BEARERS[bearer][1])
    last = (run.stdout.strip().splitlines() or ["(no output)"])[-1]
    ran_out = "MemoryError" in run.stdout
    if ran_out:
        last += "; but the terminal ran out of heap (MemoryError on its console)"
    print("%d-bit, frozen, %s heap, %s: %s" % (bits, heap, bearer, last))
    if run.returncode != 0 or ran_out:
        print(run.stdout[-3000:], file=sys.stderr)
    return run.returncode == 0 and not ran_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.frozen", description=__doc__)
    parser.add_argument("--build", action="store_true", help="build only, no check")
    args = parser.parse_args(argv)
    try:
        built = {bits: build(bits) for bits in (32, 64)}
    except FrozenError as exc:
        print("tools.frozen: %s" % exc, file=sys.stderr)
        return 1
    for bits, path in built.items():
        print("%d-bit, frozen: %s" % (bits, os.path.relpath(path)))
    if args.build:
        return 0
    results = [check(bits, built[bits], bearer) for bits, bearer in CHECK_HEAPS]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
