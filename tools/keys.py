"""`poskit keys`: key material for installing terminals.

    poskit keys tr31 --kbpk HEX --key HEX --usage K0 --algorithm T --mode D [--version D]
    poskit keys components --key HEX --parts 2|3 [--algorithm 3DES]
    poskit keys kcv --algorithm 3DES --key HEX [--length 3]
    poskit keys packet --serial S --app N --slot N [--tmk HEX] --version N -o FILE

A key left off the command line is asked for without echo, which keeps it out of the shell's
history. `components` is the one command that shows clear key material, on purpose: it is
what the key custodians write down, each on their own form.
"""

import argparse
import getpass
from pathlib import Path

from hostlib import keys, packets
from hostlib.keystore import KeyStore, default_path, passphrase_from_env_or_prompt

HELP = "make TR-31 key blocks, split keys into custodian components, compute check values"

_COMPONENTS_HELP = (
    "split a key into 2 or 3 clear components with their check values. This prints CLEAR "
    "KEY MATERIAL, for the key custodians only: run it on an offline machine, give each "
    "custodian only their own component, and clear the screen afterwards"
)


def _secret(value: str | None, prompt: str) -> str:
    return value if value else getpass.getpass(prompt)


def _hex(data: bytes) -> str:
    return data.hex().upper()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    p = sub.add_parser(
        "tr31",
        help="wrap a key in a TR-31 key block (versions B, D) under a KBPK",
        description="Wrap a key in a TR-31 (ANSI X9.143) key block under a key block "
        "protection key: version D (AES KBPK) or B (TDES KBPK), the two the terminal "
        "accepts. A terminal master key is usage K0, mode of use D (or B).",
    )
    p.add_argument("--kbpk", help="key block protection key, hex (asked for if left off)")
    p.add_argument("--key", help="the key to wrap, hex (asked for if left off)")
    p.add_argument("--usage", default="K0", help="key usage (default: %(default)s)")
    p.add_argument(
        "--algorithm",
        default="T",
        choices=("T", "D", "A"),
        help="T = 3DES, D = DES, A = AES (default: %(default)s)",
    )
    p.add_argument("--mode", default="D", help="mode of use (default: %(default)s)")
    p.add_argument(
        "--version", default="D", choices=("B", "D"), help="key block version (default: D)"
    )
    p.add_argument("--key-version", default="00", help="key version number (default: 00)")
    p.add_argument("--exportability", default="N", help="E, N or S (default: N)")
    p.set_defaults(keys_handler=_tr31)

    p = sub.add_parser(
        "components",
        help="split a key into clear components for the key custodians (shows CLEAR keys)",
        description=_COMPONENTS_HELP,
    )
    p.add_argument("--key", help="the key to split, hex (asked for if left off)")
    p.add_argument("--parts", type=int, default=2, choices=(2, 3), help="number of components")
    p.add_argument(
        "--algorithm",
        default="3DES",
        choices=("DES", "3DES", "SM4"),
        help="key algorithm, for the check values (default: %(default)s)",
    )
    p.set_defaults(keys_handler=_components)

    p = sub.add_parser(
        "kcv",
        help="key check value: first bytes of the key's encryption of a zero block",
        description="Key check value: the first LENGTH bytes of E(key, zero block).",
    )
    p.add_argument("--algorithm", default="3DES", choices=keys.ALGORITHMS)
    p.add_argument("--key", help="the key, hex (asked for if left off)")
    p.add_argument("--length", type=int, default=3, help="bytes shown (default: 3)")
    p.set_defaults(keys_handler=_kcv)

    p = sub.add_parser(
        "packet",
        help="make a key packet: a master key (TMK) wrapped for one terminal's slot",
        description="Wrap a terminal master key in a TR-31 version D block under the "
        "terminal's KBPK (from the host key store) and put it in a key packet bound to the "
        "terminal's serial, authenticated with its link key. `poskit load` (or the host "
        "link) delivers it; the terminal checks the KCV it carries.",
    )
    p.add_argument("--serial", required=True, help="terminal serial (in the key store)")
    p.add_argument("--app", type=int, required=True, help="acquirer application index, 1-8")
    p.add_argument(
        "--slot", type=int, required=True, help="master key slot index the acquirer gave"
    )
    p.add_argument("--tmk", help="the master key, hex (asked for if left off)")
    p.add_argument("--version", type=int, required=True, help="key packet version (increasing)")
    p.add_argument("--keystore", default=None, help="host key store (default: as provision)")
    p.add_argument("-o", "--output", required=True, help="packet file to write")
    p.set_defaults(keys_handler=_packet)


def _tr31(args: argparse.Namespace) -> int:
    kbpk = keys.parse_hex(_secret(args.kbpk, "KBPK (hex, not echoed): "), "KBPK")
    key = keys.parse_hex(_secret(args.key, "key (hex, not echoed): "), "key")
    block = keys.tr31_wrap(
        kbpk.hex(),
        key.hex(),
        args.usage,
        args.algorithm,
        args.mode,
        version_id=args.version,
        key_version=args.key_version,
        exportability=args.exportability,
    )
    algorithm = keys.tr31_algorithm(args.algorithm, key)
    kbpk_algorithm = "AES" if args.version == "D" else "3DES"
    print("key block  %s" % block)
    print("key KCV    %s  (%s)" % (_hex(keys.kcv(algorithm, key)), algorithm))
    print("KBPK KCV   %s  (%s)" % (_hex(keys.kcv(kbpk_algorithm, kbpk)), kbpk_algorithm))
    return 0


def _components(args: argparse.Namespace) -> int:
    key = keys.parse_hex(_secret(args.key, "key (hex, not echoed): "), "key")
    parts = keys.split_components(key, args.parts, algorithm=args.algorithm)
    print("CLEAR KEY COMPONENTS: for the key custodians' eyes only")
    for number, (part, check) in enumerate(parts, 1):
        print("component %d  %s  KCV %s" % (number, _hex(part), _hex(check)))
    print("combined key KCV %s  (%s)" % (_hex(keys.kcv(args.algorithm, key)), args.algorithm))
    return 0


def _kcv(args: argparse.Namespace) -> int:
    key = keys.parse_hex(_secret(args.key, "key (hex, not echoed): "), "key")
    print("KCV %s  (%s)" % (_hex(keys.kcv(args.algorithm, key, args.length)), args.algorithm))
    return 0


def _packet(args: argparse.Namespace) -> int:
    tmk = keys.parse_hex(_secret(args.tmk, "TMK (hex, not echoed): "), "TMK")
    algorithm = "DES" if len(tmk) == 8 else "3DES"
    store = KeyStore.open(args.keystore or default_path(), passphrase_from_env_or_prompt())
    terminal = store.terminal(args.serial)
    block = keys.tr31_wrap(terminal["kbpk"].hex(), tmk.hex(), "K0", "T", "D", version_id="D")
    check = keys.kcv(algorithm, tmk)
    data = packets.build_key_packet(
        [(args.slot, block, check)], args.serial, terminal["link_key"], args.version, args.app
    )
    Path(args.output).write_bytes(data)
    print(
        "wrote %s: key packet for application %d, terminal %s, version %d, %d bytes"
        % (args.output, args.app, args.serial, args.version, len(data))
    )
    print("slot %d  %s  KCV %s" % (args.slot, algorithm, _hex(check)))
    return 0


def run(args: argparse.Namespace) -> int:
    return args.keys_handler(args)
