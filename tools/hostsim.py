"""`poskit hostsim`: run the acquirer host simulator (a CUP POSP) for terminals to test
against, or set up / change / show the state of a simulator database.

    poskit hostsim --listen 127.0.0.1:5000 [--db FILE [--create]] [--seed] [--fault SPEC]...
    poskit hostsim --db FILE --fault decline:code=51,mti=0200   # switch a fault on a running
    poskit hostsim --db FILE --show                             # simulator, or look at it
    poskit hostsim --db FILE add-terminal --tid T --mid M [--tmk-file F] [profile...]
    poskit hostsim --db FILE set-terminal --tid T [profile...]  # its acquirer profile
    poskit hostsim --db FILE add-card --pan P --expiry YYMM [--pin-file F | --no-pin] ...
    poskit hostsim --db FILE terminals | cards

A --db that does not exist is refused unless --create is given (a mistyped name would
otherwise start an empty host). A TMK or a PIN never comes on the command line: from a file,
or asked for without echo (read from standard input when that is not a terminal).

One log line per message: MTI, processing code, STAN, terminal, type, amount, masked PAN,
response code. PIN blocks, tracks and keys are never printed.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from hostlib.hostsim import (
    FAULT_KINDS,
    PROFILE_DEFAULTS,
    HostSimError,
    HostSimulator,
    check_fault,
    faults,
    icsets,
    mask_pan,
)

HELP = "run the acquirer host simulator (CUP POSP on TCP) with test cards and switchable faults"


def _profile_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group(
        "acquirer profile (docs/hostsim.md, Profiles; left off: as CUP usually does)"
    )
    group.add_argument(
        "--signon-layout",
        metavar="LAYOUT",
        help='field 62 of the sign-on answer: a 60.3 code or a layout, e.g. "PAD1 PIK16 CV4 '
        'MAK16 CV4 TDK16 CV4"; "mode": the one of 60.3',
    )
    group.add_argument(
        "--field60-length",
        choices=("8", "14", "any"),
        help="digits of field 60 a financial request must carry (any: either)",
    )
    group.add_argument(
        "--field26", choices=("12", "06", "any"), help="field 26 when a PIN is sent"
    )
    group.add_argument("--mac-method", choices=("cup", "x9.19", "x9.19-hex"))
    group.add_argument(
        "--lri",
        choices=("yes", "no", "either"),
        help="the terminal's frames carry the 33-byte LRI dial header",
    )
    group.add_argument(
        "--settle-empty-flag",
        metavar="DIGIT",
        help="the 0510 flag of a section with no transactions (default 1; some hosts 0)",
    )
    group.add_argument(
        "--cryptogram-fail-code",
        metavar="CODE",
        help="39 when a chip card's ARQC or TC does not verify (default 05)",
    )


def _subcommands(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="hostsim_command", metavar="COMMAND")
    where = argparse.ArgumentParser(add_help=False)
    # --db may also come after the command; SUPPRESS keeps one given before it.
    where.add_argument("--db", default=argparse.SUPPRESS, metavar="FILE", help=argparse.SUPPRESS)
    where.add_argument(
        "--create", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    # allow_abbrev off: "--tmk HEX" must be refused, not taken for --tmk-file.
    p = sub.add_parser(
        "add-terminal",
        parents=[where],
        allow_abbrev=False,
        help="register (or replace) a terminal: TID, MID, TMK from a file or asked for",
    )
    p.add_argument("--tid", required=True, help="terminal id, 8 characters (field 41)")
    p.add_argument("--mid", required=True, help="merchant id, 15 characters (field 42)")
    p.add_argument("--name", default="", help="merchant name")
    p.add_argument(
        "--tmk-file",
        metavar="FILE",
        help="the TMK in hex in a file (else asked for without echo)",
    )
    p.add_argument("--key-alg", choices=("DES", "3DES", "SM4"), help="default: by TMK length")
    p.add_argument("--signon-mode", choices=("001", "003", "004", "006"), help="only this one")
    p.add_argument("--batch", type=int, default=1, help="the host's batch (default 1)")
    p.add_argument("--strict-batch", action="store_true", help="answer 77 to another batch")
    _profile_options(p)
    p = sub.add_parser(
        "set-terminal", parents=[where], help="change a terminal's acquirer profile"
    )
    p.add_argument("--tid", required=True)
    _profile_options(p)
    sub.add_parser("terminals", parents=[where], help="list the terminals and their profiles")
    p = sub.add_parser(
        "add-card",
        parents=[where],
        allow_abbrev=False,
        help="add (or replace) a test card: PAN, expiry, PIN from a file or asked for",
    )
    p.add_argument("--pan", required=True, help="card number, 13 to 19 digits")
    p.add_argument("--expiry", required=True, metavar="YYMM")
    p.add_argument("--pin-file", metavar="FILE", help="the PIN in a file (else asked for)")
    p.add_argument("--no-pin", action="store_true", help="a card that needs no PIN")
    p.add_argument("--balance", default="0", help="yuan, e.g. 1000.00 (default 0)")
    p.add_argument("--limit", help="yuan per transaction (default: none)")
    p.add_argument("--status", choices=("active", "blocked", "lost", "stolen"), default="active")
    p.add_argument("--holder", default="", help="a name to recognise it by")
    p.add_argument("--track2", help="track 2 (default: PAN=YYMM201)")
    sub.add_parser("cards", parents=[where], help="list the test cards")
    p = sub.add_parser(
        "ic-sets",
        parents=[where],
        help="list the CA keys and IC parameters terminals download at sign-on, and each "
        "terminal's last download; --capk-file/--aid-file replace a set",
    )
    p.add_argument(
        "--capk-file",
        metavar="FILE",
        help="the CA key set: one entry a line, its TLV in hex (9F06 RID, 9F22 index, DF05, "
        "DF06, DF07, DF02 modulus, DF04 exponent, DF03 check value)",
    )
    p.add_argument("--aid-file", metavar="FILE", help="the AID set, likewise (9F06 AID, ...)")
    p.add_argument(
        "--blacklist-file",
        metavar="FILE",
        help="the card black list (header 7): one entry a line, a card number or its first "
        "digits, or LOW-HIGH with --blacklist-layout range; an empty file empties the list",
    )
    p.add_argument(
        "--blacklist-layout",
        choices=icsets.BLACK_LAYOUTS,
        default="prefix",
        help="how the list goes on the wire: the terminals' blacklist_layout (default prefix)",
    )
    p.add_argument(
        "--contactless",
        metavar="FLOOR,LIMIT,CVM[,ECASH]",
        help="the contactless parameters (header 9), yuan: DF19 offline floor limit, DF20 "
        "transaction limit, DF21 CVM limit, 9F7B e-cash limit; 'none' removes them",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "faults (KIND[:tid=,mti=,txn=,count=N|always,delay=S,code=XX,process=0,script=S]):\n"
        + ("\n".join(f"  {k:13} {v}" for k, v in FAULT_KINDS.items()))
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="serve on this address until Ctrl-C (default 127.0.0.1:5000 when nothing else "
        "is asked)",
    )
    parser.add_argument(
        "--db",
        default=":memory:",
        metavar="FILE",
        help="SQLite state file (default: in memory, seeded, gone at exit); it must exist "
        "unless --create is given",
    )
    parser.add_argument(
        "--create",
        action="store_true",
        help="make the --db file if it does not exist (without --listen: make it and exit)",
    )
    parser.add_argument(
        "--seed",
        action="store_true",
        help="add the default terminal and test cards where missing (always for :memory:)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="switch a fault on (repeatable); without --listen, written to --db and exit",
    )
    parser.add_argument("--clear-faults", action="store_true", help="remove every fault first")
    parser.add_argument(
        "--show", action="store_true", help="print terminals, cards, faults, last transactions"
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop by itself after this many seconds (scripts, CI)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="close a connection silent for this long (default %(default)s)",
    )
    _subcommands(parser)


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise HostSimError(f"--listen wants HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _show(sim: HostSimulator) -> None:
    for t in sim.store.terminals():
        print(_terminal_line(sim, t))
    for c in sim.store.cards():
        print(_card_line(c))
    for f in sim.faults():
        print(
            f"fault #{f['id']} {f['kind']} tid={f['tid'] or '*'} mti={f['mti'] or '*'} "
            f"txn={f['txn'] or '*'} "
            + (f"script={f['script']} " if f["script"] else "")
            + f"left={'always' if f['remaining'] is None else f['remaining']}"
        )
    for t in sim.transactions()[-20:]:
        print(
            f"txn {t['date']} {t['time']} {t['tid']} batch {t['batch']:06d} "
            f"stan {t['stan']:06d} {t['type']:17} {t['amount'] / 100:>10,.2f} "
            f"{mask_pan(t['pan'])} {t['response_code']} {t['status']} rrn {t['rrn'] or '-'}"
        )
    for s in sim.settlements():
        print(f"settlement {s['tid']} batch {s['batch']:06d} {s['result']} at {s['at']}")


def _secret(path: str | None, prompt: str, what: str) -> str:
    # A TMK or a PIN: from a file, asked for without echo, or a line of a piped stdin.
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise HostSimError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    elif sys.stdin.isatty():
        text = getpass.getpass(prompt)
    else:
        text = sys.stdin.readline()
    text = "".join(text.split())
    if not text:
        raise HostSimError(f"no {what} given")
    return text


def _fen(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise HostSimError(f"{what} {text!r} is not a number of yuan (e.g. 1000.00)") from None
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise HostSimError(f"{what} {text!r}: yuan, at least 0, at most 2 decimals")
    return int(value * 100)


def _profile(args: argparse.Namespace) -> dict:
    # The profile options given, in the simulator's terms.
    given = {}
    if args.signon_layout is not None:
        given["signon_layout"] = None if args.signon_layout == "mode" else args.signon_layout
    if args.field60_length is not None:
        given["field60_length"] = (
            None if args.field60_length == "any" else int(args.field60_length)
        )
    if args.field26 is not None:
        given["field26"] = None if args.field26 == "any" else args.field26
    if args.mac_method is not None:
        given["mac_method"] = args.mac_method
    if args.lri is not None:
        given["lri"] = {"yes": True, "no": False}.get(args.lri)
    if args.settle_empty_flag is not None:
        given["settle_empty_flag"] = args.settle_empty_flag
    if args.cryptogram_fail_code is not None:
        given["cryptogram_fail_code"] = args.cryptogram_fail_code
    return given


def _describe_profile(row: dict) -> str:
    changed = []
    for name, default in PROFILE_DEFAULTS.items():
        value = row[name]
        if name == "lri" and value is not None:
            value = bool(value)
        if value != default:
            changed.append(f"{name}={value}")
    return ", ".join(changed) or "CUP defaults"


def _terminal_line(sim: HostSimulator, t: dict) -> str:
    keys = sim.working_keys(t["tid"])
    return (
        f"terminal {t['tid']} merchant {t['mid']} {t['merchant_name']!r} {t['key_alg']} TMK, "
        f"batch {t['batch']:06d}, "
        + (f"signed on ({keys['mode']})" if keys else "not signed on")
        + f"; profile: {_describe_profile(t)}"
    )


def _card_line(c: dict) -> str:
    return (
        f"card {mask_pan(c['pan'])} exp {c['expiry']} {c['status']:7} "
        f"balance {c['balance'] / 100:,.2f} held {c['held'] / 100:,.2f} "
        f"PIN {'yes' if c['pin'] else 'no'}  {c['holder']}"
    ).rstrip()


def _command(sim: HostSimulator, args: argparse.Namespace) -> int:
    command = args.hostsim_command
    if command == "add-terminal":
        tmk = _secret(args.tmk_file, "TMK (hex, not echoed): ", "TMK")
        sim.add_terminal(
            args.tid,
            args.mid,
            tmk,
            name=args.name,
            key_alg=args.key_alg,
            signon_mode=args.signon_mode,
            batch=args.batch,
            strict_batch=args.strict_batch,
            **_profile(args),
        )
        print(_terminal_line(sim, sim.terminal(args.tid)))
    elif command == "set-terminal":
        sim.set_profile(args.tid, **_profile(args))
        print(_terminal_line(sim, sim.terminal(args.tid)))
    elif command == "terminals":
        for t in sim.store.terminals():
            print(_terminal_line(sim, t))
    elif command == "add-card":
        if args.no_pin and args.pin_file:
            raise HostSimError("--no-pin and --pin-file: one or the other")
        pin = None if args.no_pin else _secret(args.pin_file, "card PIN (not echoed): ", "PIN")
        sim.add_card(
            args.pan,
            expiry=args.expiry,
            pin=pin,
            balance=_fen(args.balance, "--balance") or 0,
            track2=args.track2,
            status=args.status,
            txn_limit=_fen(args.limit, "--limit"),
            holder=args.holder,
        )
        print(_card_line(sim.card(args.pan)))
    elif command == "ic-sets":
        _ic_sets(sim, args)
    else:  # cards
        for c in sim.store.cards():
            print(_card_line(c))
    return 0


def _ic_sets(sim: HostSimulator, args: argparse.Namespace) -> None:
    # Replace the sets given (both checked before either is written), then list.
    given = {}
    for kind, path in (("capk", args.capk_file), ("aid", args.aid_file)):
        if path is None:
            continue
        try:
            lines = Path(path).read_text().split()
        except OSError as exc:
            raise HostSimError(f"cannot read the {kind} file {path}: {exc.strerror}") from None
        given[kind] = [
            icsets.entry(kind, line, f"{path} entry {n}") for n, line in enumerate(lines, 1)
        ]
    if args.blacklist_file is not None:
        path = args.blacklist_file
        try:
            lines = Path(path).read_text().split()
        except OSError as exc:
            raise HostSimError(f"cannot read the black list {path}: {exc.strerror}") from None
        given[icsets.BLACK] = [
            icsets.black_entry(line, args.blacklist_layout, f"{path} entry {n}")
            for n, line in enumerate(lines, 1)
        ]
    if args.contactless is not None:
        given[icsets.CTLS] = _contactless(args.contactless)
    for kind, entries in given.items():
        sim.set_ic_set(kind, entries)
    for kind, label in _SET_LABELS:
        entries = sim.ic_set(kind)
        if kind == icsets.BLACK:
            label += f" ({icsets.black_layout(entries)})"
        print(f"{label}: {len(entries)}, check {sim.ic_check(kind)}")
        for entry in entries:
            print(f"  {entry.key}  {_entry_detail(kind, entry)}".rstrip())
    for t in sim.store.terminals():
        print(
            f"terminal {t['tid']}: "
            + ", ".join(
                f"{label} {t[kind + '_check'] or 'never downloaded'}"
                for kind, label in _SET_LABELS
            )
        )


_SET_LABELS = (
    (icsets.CAPK, "CA keys"),
    (icsets.AID, "IC parameters"),
    (icsets.BLACK, "black list"),
    (icsets.CTLS, "contactless parameters"),
)


def _entry_detail(kind: str, entry: icsets.Entry) -> str:
    # What `ic-sets` shows of an entry beside its key.
    if kind == icsets.BLACK:
        return ""
    fields = entry.fields
    if kind == icsets.CAPK:
        expiry = fields.get(0xDF05, b"?").decode("ascii", "replace")
        return f"{len(fields.get(0xDF02, b'')) * 8} bits, expiry {expiry}"
    if kind == icsets.AID:
        floor = int.from_bytes(fields.get(0x9F1B, bytes(4)), "big")
        return f"floor limit {floor / 100:,.2f}"
    names = ("floor", "limit", "CVM limit", "e-cash limit")
    return ", ".join(
        f"{name} {int(fields[tag].hex()) / 100:,.2f}"
        for name, tag in zip(names, icsets.CONTACTLESS_TAGS)
        if tag in fields
    )


def _contactless(text: str) -> list[icsets.Entry]:
    # --contactless FLOOR,LIMIT,CVM[,ECASH] in yuan, or "none".
    if text == "none":
        return []
    parts = text.split(",")
    if len(parts) not in (3, 4):
        raise HostSimError(f"--contactless {text!r}: FLOOR,LIMIT,CVM[,ECASH] in yuan, or none")
    fen = [_fen(part, "--contactless") or 0 for part in parts]
    return [icsets.contactless_entry(*fen)]


def run(args: argparse.Namespace) -> int:
    memory = args.db == ":memory:"
    command = getattr(args, "hostsim_command", None)
    if not memory and not args.create and not Path(args.db).exists():
        raise HostSimError(
            f"no simulator database {args.db}: check the name, or give --create to make one"
        )
    if command is not None and memory:
        raise HostSimError(f"{command} needs --db FILE: an in-memory host forgets it at exit")
    configure_only = args.listen is None and (
        args.fault or args.clear_faults or args.show or args.create
    )
    if configure_only and memory:
        raise HostSimError("--fault/--clear-faults/--show without --listen need --db FILE")
    specs = [faults.parse_spec(s) for s in args.fault]
    for spec in specs:
        check_fault(**spec)  # before the database is opened (or made): a mistake changes nothing
    host, port = _address(args.listen or "127.0.0.1:5000")
    sim = HostSimulator(
        args.db, host=host, port=port, seed=memory or args.seed, idle_timeout=args.idle_timeout
    )
    try:
        if command is not None:
            return _command(sim, args)
        if args.clear_faults:
            sim.clear_faults()
        for spec in specs:
            fid = sim.set_fault(**spec)
            print(f"fault #{fid} {spec['kind']} on")
        if configure_only:
            if args.create and not memory:
                print(
                    f"{args.db}: {len(sim.store.terminals())} terminal(s), "
                    f"{len(sim.store.cards())} card(s)"
                )
            if args.show:
                _show(sim)
            return 0
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(message)s",
            datefmt="%H:%M:%S",
            stream=sys.stdout,
        )
        if args.show:
            _show(sim)
        sim.start()
        h, p = sim.address
        n_cards = len(sim.store.cards())
        print(
            f"hostsim listening on {h}:{p} (db {args.db}, {len(sim.store.terminals())} "
            f"terminal(s), {n_cards} card(s)); Ctrl-C stops",
            flush=True,
        )
        deadline = None if args.duration is None else time.monotonic() + args.duration
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(
                    0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
                )
        except KeyboardInterrupt:
            pass
        print(f"hostsim stopped after {sim.messages} message(s)", flush=True)
        return 0
    finally:
        sim.close()
