"""`poskit keys`: key material for installing terminals.

    poskit keys tr31 [--usage K0 --algorithm T --mode D --version D]   # asks KBPK and key
    poskit keys components --parts 2|3 [--algorithm 3DES]              # asks the key
    poskit keys kcv --algorithm 3DES [--length 3]                      # asks the key
    poskit keys packet --serial S --app N --slot N --version N [--algorithm 3DES|--job F] -o FILE
    poskit keys load-components --state DIR --app N --slot N [--algorithm 3DES|SM4] [--parts 3]

Keys are never taken from the command line, where `ps` and the shell's history show them:
each is asked without echo, or read from a file descriptor or a file (`--key`, `--key-fd N`,
`--key-file FILE`; hostlib.secretinput). `components` is the one command that shows clear key
material, on purpose: it is what the key custodians write down, each on their own form;
`load-components` is its other end, the custodians typing their components into a terminal.
A key no terminal should hold (all zeros, a weak or semi-weak DES key, a 3DES key with two
equal parts) is refused here, before it is split, wrapped or sent.
"""

import argparse
from pathlib import Path

from hostlib import keys, packets, secretinput
from hostlib.keystore import KeyStore, default_path, passphrase_from_env_or_prompt

HELP = "make TR-31 key blocks, split keys into custodian components, compute check values"

_COMPONENTS_HELP = (
    "split a key into 2 or 3 clear components with their check values. This prints CLEAR "
    "KEY MATERIAL, for the key custodians only: run it on an offline machine, give each "
    "custodian only their own component, and clear the screen afterwards"
)

_LOAD_COMPONENTS_HELP = (
    "Enter a master key into a virtual terminal as the key custodians do: each custodian "
    "types their component and its check value (KCV), without echo; the terminal checks "
    "each before the next is asked, combines them, checks the combined key against the KCV "
    "on the custodians' form and stores it in the slot the acquirer gave. The way SM4 master "
    "keys are loaded (TR-31 has no SM4 algorithm). For unattended runs, --components-fd N "
    "reads the same answers one a line: component 1, its KCV, component 2, its KCV, ..., "
    "then the combined KCV (unless --kcv gives it). There is no file option: components "
    "belong to different people and should never sit together in one file."
)


def _key(args: argparse.Namespace, name: str, what: str, prompt: str) -> bytes:
    text = secretinput.read(args, name, what, needed=True, prompt=prompt)
    return keys.parse_hex(text or "", what)


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
    secretinput.add_option(p, "kbpk", "the key block protection key (hex)")
    secretinput.add_option(p, "key", "the key to wrap (hex)")
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
    secretinput.add_option(p, "key", "the key to split (hex)")
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
    secretinput.add_option(p, "key", "the key (hex)")
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
        "--slot",
        type=int,
        help="master key slot index the acquirer gave (default with --job: its tmk_slot)",
    )
    p.add_argument(
        "--algorithm",
        choices=("DES", "3DES", "SM4"),
        help="the application's key algorithm (default: the job's key_algorithm, else 3DES); "
        "SM4 is refused: TR-31 has no SM4, use load-components",
    )
    p.add_argument(
        "--job",
        metavar="JOB.toml",
        help="the installation job: the application's key "
        "algorithm and slot are taken from it, and must agree with --algorithm and --slot",
    )
    secretinput.add_option(
        p,
        "tmk",
        "the master key (hex)",
        ask_help="ask for the master key without echo (the default)",
    )
    p.add_argument("--version", type=int, required=True, help="key packet version (increasing)")
    p.add_argument("--keystore", default=None, help="host key store (default: as provision)")
    p.add_argument("-o", "--output", required=True, help="packet file to write")
    p.set_defaults(keys_handler=_packet)

    p = sub.add_parser(
        "load-components",
        help="enter a master key into a virtual terminal as 2 or 3 custodians' components",
        description=_LOAD_COMPONENTS_HELP,
    )
    p.add_argument("--state", required=True, help="terminal state folder (virtual terminal)")
    p.add_argument("--app", type=int, required=True, help="acquirer application index, 1-8")
    p.add_argument(
        "--slot", type=int, required=True, help="master key slot index the acquirer gave"
    )
    p.add_argument(
        "--algorithm",
        choices=("DES", "3DES", "SM4"),
        help="the key's algorithm (default: the application's key_algorithm parameter; "
        "it must agree with them)",
    )
    p.add_argument(
        "--parts", type=int, default=2, choices=(2, 3), help="number of components (default 2)"
    )
    p.add_argument(
        "--kcv",
        metavar="HEX",
        help="the combined key's check value from the custodians' "
        "form (default: asked after the components)",
    )
    p.add_argument(
        "--components-fd",
        type=int,
        metavar="N",
        help="read the components, each followed by its KCV, then the combined KCV, one a "
        "line from file descriptor N, instead of asking",
    )
    p.set_defaults(keys_handler=_load_components)


def _tr31(args: argparse.Namespace) -> int:
    kbpk = _key(args, "kbpk", "KBPK", "KBPK (hex, not echoed): ")
    key = _key(args, "key", "key", "key (hex, not echoed): ")
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
    key = _key(args, "key", "key", "key (hex, not echoed): ")
    parts = keys.split_components(key, args.parts, algorithm=args.algorithm)
    print("CLEAR KEY COMPONENTS: for the key custodians' eyes only")
    for number, (part, check) in enumerate(parts, 1):
        print("component %d  %s  KCV %s" % (number, _hex(part), _hex(check)))
    print("combined key KCV %s  (%s)" % (_hex(keys.kcv(args.algorithm, key)), args.algorithm))
    return 0


def _kcv(args: argparse.Namespace) -> int:
    key = _key(args, "key", "key", "key (hex, not echoed): ")
    print("KCV %s  (%s)" % (_hex(keys.kcv(args.algorithm, key, args.length)), args.algorithm))
    return 0


def _packet_target(args: argparse.Namespace) -> tuple[str, int]:
    """(algorithm, slot) of the master key a packet carries, from the options and the job;
    refused before any key is typed if they disagree, or if no key packet can carry it."""
    algorithm, slot = args.algorithm, args.slot
    if args.job:
        from hostlib import jobs

        job = jobs.load(args.job)
        values = job.applications.get(args.app)
        if values is None:
            raise keys.KeyToolError(
                "%s has no application %d (it has %s)"
                % (args.job, args.app, ", ".join(str(i) for i in sorted(job.applications)))
            )
        if algorithm is not None and algorithm != values["key_algorithm"]:
            raise keys.KeyToolError(
                "application %d of %s uses key_algorithm %s, not %s"
                % (args.app, args.job, values["key_algorithm"], algorithm)
            )
        algorithm = values["key_algorithm"]
        if slot is None:
            slot = values["tmk_slot"]
        elif slot != values["tmk_slot"]:
            print(
                "note: application %d signs on with the key in slot %d (tmk_slot in %s); "
                "this packet fills slot %d" % (args.app, values["tmk_slot"], args.job, slot)
            )
    if slot is None:
        raise keys.KeyToolError("give --slot (the index the acquirer gave), or --job")
    algorithm = algorithm or "3DES"
    if algorithm == "SM4":
        raise keys.KeyToolError(
            "an SM4 master key cannot go in a key packet: TR-31 has no algorithm code for "
            "SM4, and a 3DES key block would be the wrong key. Load it as the custodians' "
            "clear components: poskit keys load-components --algorithm SM4 (docs/keys.md)"
        )
    return algorithm, slot


def _packet(args: argparse.Namespace) -> int:
    algorithm, slot = _packet_target(args)
    tmk = _key(args, "tmk", "TMK", "TMK (hex, not echoed): ")
    keys.check_master_key(algorithm, tmk)
    store = KeyStore.open(args.keystore or default_path(), passphrase_from_env_or_prompt())
    terminal = store.terminal(args.serial)
    letter = "D" if algorithm == "DES" else "T"
    block = keys.tr31_wrap(terminal["kbpk"].hex(), tmk.hex(), "K0", letter, "D", version_id="D")
    check = keys.kcv(algorithm, tmk)
    data = packets.build_key_packet(
        [(slot, block, check)], args.serial, terminal["link_key"], args.version, args.app
    )
    Path(args.output).write_bytes(data)
    print(
        "wrote %s: key packet for application %d, terminal %s, version %d, %d bytes"
        % (args.output, args.app, args.serial, args.version, len(data))
    )
    print("slot %d  %s  KCV %s" % (slot, algorithm, _hex(check)))
    return 0


def _load_components(args: argparse.Namespace) -> int:
    from hostlib.keyentry import ComponentEntry, LinesFrom, Prompts
    from hostlib.state import TerminalState

    entry = ComponentEntry(
        TerminalState(args.state),
        app=args.app,
        slot=args.slot,
        algorithm=args.algorithm,
        parts=args.parts,
        kcv=args.kcv,
    )
    entry.run(Prompts() if args.components_fd is None else LinesFrom(args.components_fd))
    return 0


def run(args: argparse.Namespace) -> int:
    return args.keys_handler(args)
