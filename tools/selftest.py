"""`poskit selftest`: the terminal's power-up self-test, run on the virtual terminal (the
MicroPython unix port with an ESP32-sized heap), printed as a table."""

import argparse
import sys

from hostlib import micropython

HELP = (
    "run the terminal's power-up self-test (crypto known answers, timings, heap) "
    "on the virtual terminal"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--heap",
        default=micropython.ESP32_HEAP,
        help="MicroPython heap size (default: %(default)s, an ESP32-WROOM's)",
    )


def run(args: argparse.Namespace) -> int:
    print(
        "poskit self-test on MicroPython %s (unix port), heap %s"
        % (micropython.version(), args.heap)
    )
    result = micropython.run(
        code="from app import selftest; import sys; sys.exit(1 if selftest.main() else 0)",
        heap=args.heap,
    )
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return 0 if result.ok else 1
