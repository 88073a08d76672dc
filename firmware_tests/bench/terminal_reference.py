"""The terminal application for `make bench`: the heap the whole terminal needs and the time
from ENTER on a sale's amount to the request on the wire (firmware_tests/bench/terminal.py
runs on MicroPython for the times).

    peak_heap(interpreter)   smallest app heap (bytes) in which the virtual terminal runs
                             docs/examples/cashier-sale.vts to its last line: power-up (the
                             self-test, the checklist, the automatic sign-on), the idle
                             screen, a cancelled sale, the amount over the maximum, a sale
                             with its PIN and both slips (paper out in the first), back to
                             idle; against the host simulator, from the ROMFS image, with
                             the emulators' links (about 1 KB each on the 64-bit port, 0.7 on
                             the 32-bit one, that an ESP32 spends nothing on)
    main()                   prints the section (python firmware_tests/bench/
                             terminal_reference.py)

Every trial starts from the same state: a copy of a terminal set up by `poskit txn init`
with docs/examples/terminal-job.toml, and a fresh host simulator on the port the job names.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hostlib import micropython  # noqa: E402
from hostlib.hostsim import HostSimulator  # noqa: E402
from hostlib.vterm import VirtualTerminal  # noqa: E402
from hostlib.vterm_script import ScriptError, ScriptRunner, parse_file  # noqa: E402
from tools.demo import Bench  # noqa: E402

SCRIPT = ROOT / "docs" / "examples" / "cashier-sale.vts"
LABELS = {
    "ui_amount_to_wire": "ENTER on the sale's amount -> the 0200's bytes at the host, through "
    "the check and PIN screens (keys answered at once): the terminal application",
    "engine_to_wire": "Engine.run(sale) -> the 0200's bytes at the host: the engine alone",
}


def peak_heap(interpreter: str) -> int:
    """See the module docstring; bisection to 1 KB, then the next 1 and 2 KB up checked (a
    heap cut into pieces can fail where a smaller one passed)."""
    steps = parse_file(SCRIPT)
    with micropython.default(interpreter), tempfile.TemporaryDirectory() as tmp:
        with Bench(Path(tmp) / "template") as bench:
            port = bench.port
            template = bench.state
            bench.stop()  # the trials start their own host on the same port

            def trial(heap: int) -> bool:
                state, db = Path(tmp) / "trial", Path(tmp) / "trial.db"
                shutil.rmtree(state, ignore_errors=True)
                shutil.copytree(template, state)
                db.unlink(missing_ok=True)
                with HostSimulator(db_path=str(db), seed=True, port=port):
                    vt = VirtualTerminal(state / "flash.img", host=("127.0.0.1", port), heap=heap)
                    try:
                        vt.start()
                        ScriptRunner(vt, SCRIPT.name, Path(tmp)).run(steps)
                        return True
                    except ScriptError as exc:
                        print("trial %d: %s" % (heap, exc), file=sys.stderr)
                        return False
                    finally:
                        vt.stop()

            low, high = 32 * 1024, 256 * 1024
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
                low, high = above[-1], 256 * 1024


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


def main() -> int:
    b32 = micropython.binary32()
    heaps = {64: peak_heap(micropython.binary()), 32: b32 and peak_heap(b32)}
    rows = device_rows()
    print("## The terminal application (app/ui/, against the host simulator)")
    print()
    print(
        "Peak heap: the smallest app heap (`--heap`, bisection to 1 KB, then the next 1 and 2 "
        "KB up checked) in which the virtual terminal runs docs/examples/cashier-sale.vts to "
        "its end: power-up (self-test, checklist, automatic sign-on), the idle screen, a "
        "cancelled sale, the amount over the maximum, a sale with its PIN and both slips, "
        "paper out in the first; the ROMFS image not counted; the emulators' links included "
        "(about 0.7 KB each on the 32-bit port, 1 KB on the 64-bit one, for the display, "
        "keypad, printer and card reader: an ESP32's UARTs cost nothing like it)."
    )
    print()
    print("| peak heap (app heap, ROMFS image not counted) | bytes, 32-bit | 64-bit |")
    print("|---|---:|---:|")
    print(
        "| the terminal: power-up, idle, a sale with its slips | %s | %d |"
        % ("-" if heaps[32] is None else "%d" % heaps[32], heaps[64])
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
