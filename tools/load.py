"""`poskit load`: apply parameter and key packets to a terminal: over its serial port (`--port`,
the host link: the terminal verifies and applies each, and its read-back is checked), or to
a virtual terminal's state folder (`--state`, the same device code run on MicroPython). Each
is verified (serial, version, CRC, MAC under the terminal's link key) and applied, or
refused with its reason and nothing changed."""

import argparse
import sys
from pathlib import Path

from hostlib.errors import PoskitError
from hostlib.state import TerminalState

HELP = "apply parameter and key packets to a terminal (verified and applied whole by it)"

# Device side: packet paths arrive on stdin, one per line; one outcome line per packet.
_LOAD = """
import sys
from app.store import packet
from app.keys.identity import Identity
from app.keys.slots import KeyStore
from app.store.params import ParamStore
identity = Identity(store, storage_key)
serial = identity.serial()
if serial is None:
    print("REFUSED - terminal is not provisioned (poskit provision first)")
    sys.exit(0)
versions = packet.Versions(store)
for line in sys.stdin:
    path = line.strip()
    if not path:
        continue
    with open(path, "rb") as f:
        data = f.read()
    try:
        p = packet.verify(data, serial, identity.link_key(), versions)
        where = "application %d" % p.app_index if p.app_index else "terminal"
        if p.kind == packet.PARAMETERS:
            packet.apply_parameters(p, ParamStore(store), versions)
            print("APPLIED", path, "parameters for %s, version %d" % (where, p.version))
        else:
            keys = KeyStore(store, storage_key)
            loaded = packet.apply_keys(p, keys, identity.kbpk(), versions)
            slots = ", ".join("slot %d %s KCV %s" % row for row in loaded)
            print("APPLIED", path, "keys for %s, version %d: %s" % (where, p.version, slots))
    except ValueError as exc:
        print("REFUSED", path, exc)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tools.provision import add_target

    add_target(parser, "terminal state folder (virtual terminal)")
    parser.add_argument("packets", nargs="+", help="parameter or key packet files, in order")


def outcome(back: dict) -> str:
    """What a terminal's read-back says, in the words `poskit load` prints."""
    where = "application %d" % back["app"] if back["app"] else "terminal"
    if back["kind"] == "parameters":
        return "parameters for %s, version %d" % (where, back["version"])
    slots = ", ".join("slot %d %s KCV %s" % tuple(row) for row in back.get("loaded") or ())
    return "keys for %s, version %d: %s" % (where, back["version"], slots)


def _run_port(args: argparse.Namespace, given: dict) -> int:
    """Each packet sent over the host link, applied whole or refused with the terminal's
    reason; the read-back checked against the packet (hostlib.terminal)."""
    from hostlib.terminal import TerminalError, connect

    refused = 0
    with connect(args.port) as term:
        for path, name in given.items():
            try:
                back = term.load(Path(path).read_bytes())
            except TerminalError as exc:
                if exc.reason is None:
                    raise  # the link, not the packet: stop here
                refused += 1
                print("refused %s %s" % (name, exc.detail), file=sys.stderr)
                continue
            print("applied %s %s" % (name, outcome(back)))
    return 1 if refused else 0


def run(args: argparse.Namespace) -> int:
    given = {}  # the path the device reads -> the name the installer gave
    for name in args.packets:
        path = Path(name).resolve()
        if not path.is_file():
            raise PoskitError("no packet file %s" % name)
        given[str(path)] = name
    if not args.state:
        return _run_port(args, given)
    state = TerminalState(args.state)
    out = state.run(_LOAD, stdin="\n".join(given) + "\n").check()
    refused = 0
    for line in out.stdout.splitlines():
        word, _, rest = line.partition(" ")
        path, _, outcome = rest.partition(" ")
        if word == "APPLIED":
            print("applied %s %s" % (given.get(path, path), outcome))
        elif word == "REFUSED":
            refused += 1
            print("refused %s %s" % (given.get(path, path), outcome), file=sys.stderr)
    return 1 if refused else 0
