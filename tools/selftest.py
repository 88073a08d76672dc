"""`poskit selftest`: the terminal's power-up self-test, run on the virtual terminal (the
MicroPython unix port with an ESP32-sized heap), printed as a table."""

import argparse
import sys

from hostlib import micropython
from hostlib.errors import PoskitError
from hostlib.state import heap_size, parse_size

HELP = (
    "run the terminal's power-up self-test (crypto known answers, timings, heap) "
    "on the virtual terminal"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--heap",
        default=micropython.ESP32_HEAP,
        type=heap_size,
        help="MicroPython heap size, bytes or e.g. 110K, 2M (default: %(default)s, an "
        "ESP32-WROOM's)",
    )


def run(args: argparse.Namespace) -> int:
    print(
        "poskit self-test on MicroPython %s (unix port), heap %s"
        % (micropython.version(), args.heap)
    )
    result = micropython.run(
        code="from app import selftest; import sys; sys.exit(1 if selftest.main() else 0)",
        heap=parse_size(args.heap),
    )
    # The unix port prints an uncaught exception's traceback on stdout, after the table.
    table, _, traceback = result.stdout.partition("Traceback (most recent call last):")
    sys.stdout.write(table)
    if result.ok:
        return 0
    last = (traceback + result.stderr).strip().splitlines()[-1:]
    if last and last[0].startswith("MemoryError"):
        raise PoskitError(
            "the self-test ran out of memory (MemoryError) in a %s heap: the terminal "
            "needs more; an ESP32-WROOM leaves %s" % (args.heap, micropython.ESP32_HEAP)
        )
    if last:
        raise PoskitError("the self-test stopped: %s" % last[0])
    return 1  # a test failed: its row says which
