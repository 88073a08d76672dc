"""`poskit`: the installer's command. One sub-command per job; see `poskit --help`.

Each sub-command lives in its own module under tools/ with two functions:
`add_arguments(parser)` and `run(args) -> exit status`, and a one-line `HELP`.
"""

import argparse
import importlib
import sys

from hostlib import __version__
from hostlib.errors import PoskitError

# command name -> module under tools/
COMMANDS = {
    "selftest": "tools.selftest",
    "provision": "tools.provision",
    "keys": "tools.keys",
    "params": "tools.params",
    "load": "tools.load",
    "hostsim": "tools.hostsim",
    "vterm": "tools.vterm",
    "txn": "tools.txn",
    "wipe": "tools.wipe",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poskit",
        description="poskit — build, load, deploy and test poskit payment terminals.",
    )
    parser.add_argument("--version", action="version", version=f"poskit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(handler=module.run)
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
