"""The terminal application for `make bench`: the heap the whole terminal needs and the time
from ENTER on a sale's amount to the request on the wire (firmware_tests/bench/terminal.py
runs on MicroPython for the times).

    peak_heap(interpreter, upto=None, script=SCRIPT)
                             smallest app heap (bytes) in which the virtual
                             terminal runs docs/examples/cashier-sale.vts to its last line,
                             no MemoryError on its console (or its first `upto` steps:
                             PHASES): power-up (the self-test,
                             the checklist, the automatic sign-on), the idle screen, a
                             cancelled sale, the amount over the maximum, a sale with its PIN
                             and both slips (paper out in the first), back to idle; against
                             the host simulator, from the ROMFS image (the frozen modules
                             of an `interpreter` built by tools/frozen.py come first), with
                             the emulators' links (a socket and a small read buffer each,
                             that an ESP32 spends nothing on); with script=DAY,
                             docs/examples/cashier-day.vts: the sale, its void, a second
                             sale and the settlement, in one power cycle; `bearer` one of
                             tools.frozen.BEARERS
    module_heap(interpreter) the heap and qstrs each module group keeps once imported from
                             the ROMFS image, in the order the terminal imports them (MODULES)
    main()                   prints the section (python firmware_tests/bench/
                             terminal_reference.py)

Every trial starts from the same state: a copy of a terminal set up by `poskit txn init`
with docs/examples/terminal-job.toml, and a fresh host simulator on the port the job names.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hostlib import build, micropython  # noqa: E402
from hostlib.hostsim import HostSimulator  # noqa: E402
from hostlib.vterm import VirtualTerminal  # noqa: E402
from hostlib.vterm_script import ScriptError, ScriptRunner, parse_file  # noqa: E402
from tools import frozen  # noqa: E402
from tools.demo import Bench  # noqa: E402

SCRIPT = ROOT / "docs" / "examples" / "cashier-sale.vts"
DAY = frozen.DAY
LABELS = {
    "ui_amount_to_wire": "ENTER on the sale's amount -> the 0200's bytes at the host, through "
    "the check and PIN screens (keys answered at once): the terminal application",
    "engine_to_wire": "Engine.run(sale) -> the 0200's bytes at the host: the engine alone",
}


# The script's phases: (what the terminal has done, the number of the script's steps that
# take it there); each phase's peak is measured by running the script that far.
PHASES = (
    ("power-up: self-test, checklist, automatic sign-on, the idle screen", 4),
    ("... then a sale cancelled at the card prompt, back to idle", 10),
    ("... then a sale with its PIN, up to the host's answer on the screen", 32),
    ("... then its two slips, paper out in the first (the whole script)", None),
)

# What the terminal imports, in its order (a row: a module and what it brings that is not
# loaded yet): board, the terminal and its screen, power-up (the self-test's modules are let
# go after it), idle, the cashier menu, the engine, the bearer, the drivers of the checks and
# the idle screen, the slips.
MODULES = (
    "board.unix_sim",
    "app.ui.terminal",
    "app.selftest",
    "app.ui.powerup",
    "drivers.escpos",
    "drivers.ethernet",
    "app.keys.slots",
    "app.txn.engine",
    "app.comm.bearers",
    "app.ui.idle",
    "drivers.cardreader",
    "app.ui.cashier",
    "app.ui.slips",
    "app.txn.receipt",
)

# Printed by the device after each import: its new modules, the heap in use (the image's
# bytearray taken off) and the qstr pool's figures.
_MEASURE = """
import gc, sys, vfs, micropython
f = open(%r, "rb")
rom = f.read()
f.close()
vfs.mount(vfs.VfsRom(rom), "/rom")
sys.path[:] = [".frozen", "/rom"]
def measure():
    gc.collect()
    print("heap", gc.mem_alloc() - len(rom))
    micropython.qstr_info()
measure()
for name in %r:
    loaded = set(sys.modules)
    __import__(name)
    print("new", " ".join(sorted(set(sys.modules) - loaded)))
    measure()
"""


def module_heap(interpreter: str) -> list[dict]:
    """One row per MODULES entry: {name, new (modules it loaded), heap (bytes kept, the qstr
    pool's growth included), qstrs (added), pool (the qstr pool's bytes after it)}."""
    image = build.device_romfs(micropython.arch(interpreter))
    out = (
        micropython.run(code=_MEASURE % (str(image), MODULES), heap=None, interpreter=interpreter)
        .check()
        .stdout
    )
    heaps = [int(n) for n in re.findall(r"^heap (-?\d+)", out, re.M)]
    pools = [
        (int(q), int(total) - int(data))
        for q, data, total in re.findall(
            r"n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)", out
        )
    ]
    news = re.findall(r"^new (.*)$", out, re.M)
    rows = []
    for i, name in enumerate(MODULES):
        rows.append(
            {
                "name": name,
                "new": news[i].split(),
                "heap": heaps[i + 1] - heaps[i],
                "qstrs": pools[i + 1][0] - pools[i][0],
                "pool": pools[i + 1][1],
                "total": heaps[i + 1],
                "all_qstrs": pools[i + 1][0],
            }
        )
    return rows


def peak_heap(
    interpreter: str,
    upto: int | None = None,
    low: int = 32 * 1024,
    script: Path = SCRIPT,
    bearer: str = "ethernet",
    top: int = 256 * 1024,
) -> int:
    """See the module docstring; bisection from `low` to 1 KB, then the next 1 and 2 KB up
    checked (a heap cut into pieces can fail where a smaller one passed), a heap failing
    only if it fails twice. `upto`: run the script's first `upto` steps only (PHASES);
    `bearer`: the terminal's (tools.frozen.BEARERS), the demo job's Ethernet by default;
    `top`: a heap it runs in, where the bisection starts."""
    steps = parse_file(script)[:upto]
    gprs = frozen.BEARERS[bearer][1] or "sim800"  # the vterm's module where none matters
    with micropython.default(interpreter), tempfile.TemporaryDirectory() as tmp:
        job = frozen.bearer_job(bearer, Path(tmp) / "jobs")
        with Bench(Path(tmp) / "template", job) as bench:
            port = bench.port
            template = bench.state
            bench.stop()  # the trials start their own host on the same port

            def trial(heap: int) -> bool:
                # A failure is tried once more: on a loaded machine the emulated keypad can
                # lose a key press, which is not the heap's doing.
                return attempt(heap) or attempt(heap)

            def attempt(heap: int) -> bool:
                state, db = Path(tmp) / "trial", Path(tmp) / "trial.db"
                shutil.rmtree(state, ignore_errors=True)
                shutil.copytree(template, state)
                db.unlink(missing_ok=True)
                with HostSimulator(db_path=str(db), seed=True, port=port):
                    vt = VirtualTerminal(
                        state / "flash.img", host=("127.0.0.1", port), gprs=gprs, heap=heap
                    )
                    try:
                        vt.start()
                        ScriptRunner(vt, script.name, Path(tmp)).run(steps)
                        # A heap that ran out where no line of the script looks (a slip's
                        # record not saved) is too small all the same.
                        console = vt.console.output() if vt.console else b""
                        if b"MemoryError" in console:
                            print("trial %d: MemoryError on the console" % heap, file=sys.stderr)
                            return False
                        return True
                    except ScriptError as exc:
                        print("trial %d: %s" % (heap, exc), file=sys.stderr)
                        return False
                    finally:
                        vt.stop()

            high = top
            if not trial(high):
                raise RuntimeError("the terminal does not run in %d bytes" % high)
            while True:
                while high - low > 1024:
                    mid = (low + high) // 2
                    if trial(mid):
                        high = mid
                    else:
                        low = mid
                above = [size for size in (high + 1024, high + 2048) if not trial(size)]
                if not above:
                    return high
                low, high = above[-1], top


def device_rows(interpreter: str | None = None) -> dict:
    out = micropython.run(
        ROOT / "firmware_tests" / "bench" / "terminal.py",
        heap=None,
        timeout=600,
        interpreter=interpreter,
    ).check()
    rows = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[row["name"]] = row
    return rows


def phase_heaps(interpreter: str) -> list[int]:
    """The peak of each of PHASES; each bisection starts 2 KB below the phase before (a
    phase runs the one before it, so its peak is no lower)."""
    peaks, low = [], 32 * 1024
    for _, upto in PHASES:
        peaks.append(peak_heap(interpreter, upto, low))
        low = max(32 * 1024, peaks[-1] - 2048)
    return peaks


_BEARER_NAMES = {"dialup": "dial-up", "sim800": "GPRS (SIM800)", "sim7600": "4G (SIM7600)"}


def _cell(value) -> str:
    return "-" if value is None else "%d" % value


def main() -> int:
    b32 = micropython.binary32()
    builds = {64: micropython.binary(), 32: b32}
    heaps = {bits: b and phase_heaps(b) for bits, b in builds.items()}
    modules = {bits: b and module_heap(b) for bits, b in builds.items()}
    day = {}
    bearers = {}
    try:
        for bits in (32, 64):
            day["frozen", bits] = peak_heap(frozen.build(bits), script=DAY, top=160 * 1024)
        # The other bearers on the budget's build: the frozen 32-bit one.
        for bearer in list(frozen.BEARERS)[1:]:
            bearers[bearer] = peak_heap(
                frozen.build(32), script=DAY, bearer=bearer, low=48 * 1024, top=96 * 1024
            )
    except frozen.FrozenError as exc:
        print("frozen builds left out: %s" % exc, file=sys.stderr)
    rows = device_rows()
    print("## The terminal application (app/ui/, against the host simulator)")
    print()
    print(
        "Peak heap: the smallest app heap (`--heap`, bisection to 1 KB, then the next 1 and 2 "
        "KB up checked; a heap fails only if it fails twice, as a loaded machine can lose an "
        "emulated key press) in which the virtual terminal runs docs/examples/cashier-sale.vts to "
        "the end of each phase, with no MemoryError on its console: power-up (self-test, "
        "checklist, automatic sign-on), the idle "
        "screen, a cancelled sale, the amount over the maximum, a sale with its PIN and both "
        "slips, paper out in the first. The ROMFS image is not counted (nor its share of the "
        "collector's tables: on the terminal it is flash); the emulators' links are (a "
        "socket and a read buffer of 16 to 128 bytes each, for the display, keypad, printer "
        "and card reader: an ESP32's UARTs keep their buffers outside the heap). The goal: "
        "64 KB on the 32-bit port; an ESP32-WROOM leaves about 110 KB."
    )
    print()
    print("| peak heap (app heap, ROMFS image not counted) | bytes, 32-bit | 64-bit |")
    print("|---|---:|---:|")
    for i, (label, _) in enumerate(PHASES):
        print(
            "| %s | %s | %s |"
            % (label, _cell(heaps[32] and heaps[32][i]), _cell(heaps[64] and heaps[64][i]))
        )
    print()
    print(
        "The whole terminal: docs/examples/cashier-day.vts in one power cycle (power-up with "
        "its sign-on, a sale with its PIN and slips, its void, a second sale, the settlement "
        "with its slip), with the application frozen into the firmware as a production ESP32 "
        'build is (docs/board.md, "Heap"; from the ROMFS image the sale alone needs the '
        "figures above): over Ethernet on both word sizes, then over the other bearers on the "
        "32-bit build, whose figure governs. `make frozen` runs the day over every bearer in "
        "64 KB on the 32-bit build and over Ethernet in 110 KB on the 64-bit one. The goal: "
        "64 KB on the 32-bit build, and the ESP32-WROOM's 110 KB on the 64-bit one."
    )
    print()
    print("| the application | peak heap B, 32-bit | 64-bit |")
    print("|---|---:|---:|")
    print(
        "| frozen into the firmware, over Ethernet | %s | %s |"
        % (_cell(day.get(("frozen", 32))), _cell(day.get(("frozen", 64))))
    )
    for bearer, peak in bearers.items():
        print("| frozen, over %s | %d | - |" % (_BEARER_NAMES[bearer], peak))
    print()
    print(
        "Where it goes: the heap each module keeps once imported from the ROMFS image, in the "
        "order the terminal imports them (a row counts the modules it brings that were not "
        "loaded yet), and the qstrs (names and short strings) it adds. A qstr costs an entry "
        "in the qstr pool (7 bytes on the 32-bit port, 11 on the 64-bit one; the text stays "
        "in the image), and the pool grows by doubling: the row where it grows counts the "
        "whole new pool (pools of 20, 40, ... 1280 entries: a 9 KB pool on the 32-bit port "
        "for the 1261st qstr). The self-test's modules are let go after it (SM4 unless an "
        "application uses it); the qstrs stay."
    )
    print()
    print(
        "| module (and what it brings) | heap kept B, 32-bit | 64-bit | qstrs added "
        "| qstr pool B after, 32-bit | 64-bit |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    first = modules[32] or modules[64]
    for i, row in enumerate(first):
        r32 = modules[32] and modules[32][i]
        r64 = modules[64] and modules[64][i]
        brought = [n for n in row["new"] if n != row["name"] and "." in n]
        name = row["name"] + (" (+ %s)" % ", ".join(brought) if brought else "")
        print(
            "| %s | %s | %s | %d | %s | %s |"
            % (
                name,
                _cell(r32 and r32["heap"]),
                _cell(r64 and r64["heap"]),
                row["qstrs"],
                _cell(r32 and r32["pool"]),
                _cell(r64 and r64["pool"]),
            )
        )
    last32, last64 = modules[32] and modules[32][-1], modules[64] and modules[64][-1]
    print(
        "| all of them | %s | %s | %d | %s | %s |"
        % (
            _cell(last32 and last32["total"]),
            _cell(last64 and last64["total"]),
            first[-1]["all_qstrs"],
            _cell(last32 and last32["pool"]),
            _cell(last64 and last64["pool"]),
        )
    )
    print()
    print("Time on this PC (64-bit port), best of 5 sales:")
    print()
    print("| what | µs |")
    print("|---|---:|")
    for name, label in LABELS.items():
        print("| %s | %d |" % (label, rows[name]["us"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
