"""`poskit load`: apply parameter and key packets to a virtual terminal, as the terminal does
when they arrive over the host link: each is verified (serial, version, CRC, MAC under the
terminal's link key) and applied, or refused with its reason and nothing changed."""

import argparse
import sys
from pathlib import Path

from hostlib.errors import PoskitError
from hostlib.state import TerminalState

HELP = "apply parameter and key packets to a virtual terminal (verified as the terminal does)"

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
    parser.add_argument("--state", required=True, help="terminal state folder (virtual terminal)")
    parser.add_argument("packets", nargs="+", help="parameter or key packet files, in order")


def run(args: argparse.Namespace) -> int:
    state = TerminalState(args.state)
    given = {}  # the path the device reads -> the name the installer gave
    for name in args.packets:
        path = Path(name).resolve()
        if not path.is_file():
            raise PoskitError("no packet file %s" % name)
        given[str(path)] = name
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
