"""`poskit`: the installer's command. One sub-command per job; see `poskit --help`."""

import argparse
import sys

from hostlib import __version__
from hostlib.errors import PoskitError


def _cmd_selftest(args: argparse.Namespace) -> int:
    from tools import selftest

    return selftest.run(args)


# name -> (help, handler, add-arguments)
COMMANDS = {
    "selftest": (
        "run the terminal's power-up self-test (crypto known answers and timings) "
        "on the virtual terminal",
        _cmd_selftest,
        lambda p: p.add_argument(
            "--heap", default="110K", help="MicroPython heap size (default: 110K, an ESP32-WROOM)"
        ),
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poskit",
        description="poskit — build, load, deploy and test poskit payment terminals.",
    )
    parser.add_argument("--version", action="version", version=f"poskit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, handler, add_args) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except PoskitError as exc:
        print(f"poskit: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
