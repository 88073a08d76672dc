"""`poskit`: the installer's command. One sub-command per job; see `poskit --help`.

Each sub-command lives in its own module under tools/ with two functions:
`add_arguments(parser)` and `run(args) -> exit status`, and a one-line `HELP`.

What every command shares is here: a command given `--state DIR` holds that terminal for its
whole run (a second command on it is told "terminal busy", naming this one); a PoskitError
is printed as one line, never as a traceback; output cut short by its reader (`| head`) or
Ctrl-C ends the command quietly.
"""

import argparse
import contextlib
import importlib
import os
import sys

from hostlib import __version__, state
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
    "deploy": "tools.deploy",
    "install": "tools.install",
    "register": "tools.register",
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
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`poskit txn ... | head`). Whatever is still buffered for it
        # goes nowhere, so the interpreter's own flush at exit does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a command ended by SIGPIPE
    except KeyboardInterrupt:
        print("poskit: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    state.command_name = "poskit " + args.command
    try:
        folder = getattr(args, "state", None)
        with state.TerminalState(folder).hold() if folder else contextlib.nullcontext():
            status = args.handler(args)
        sys.stdout.flush()  # a reader gone away is seen here, not at exit
        return status
    except PoskitError as exc:
        print(f"poskit: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
