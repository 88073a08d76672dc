"""`poskit hostsim`: run the acquirer host simulator (a CUP POSP) for terminals to test
against, or change the faults / show the state of a simulator database.

    poskit hostsim --listen 127.0.0.1:5000 [--db FILE] [--seed] [--fault KIND[:opts]]...
    poskit hostsim --db FILE --fault decline:code=51,mti=0200   # switch a fault on a running
    poskit hostsim --db FILE --show                             # simulator, or look at it

One log line per message: MTI, processing code, STAN, terminal, type, amount, masked PAN,
response code. PIN blocks, tracks and keys are never printed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from hostlib.hostsim import FAULT_KINDS, HostSimError, HostSimulator, faults, mask_pan

HELP = "run the acquirer host simulator (CUP POSP on TCP) with test cards and switchable faults"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "faults (KIND[:tid=,mti=,txn=,count=N|always,delay=S,code=XX,process=0]):\n"
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
        help="SQLite state file (default: in memory, seeded, gone at exit)",
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


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise HostSimError(f"--listen wants HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _show(sim: HostSimulator) -> None:
    for t in sim.store.terminals():
        keys = sim.working_keys(t["tid"])
        print(
            f"terminal {t['tid']} merchant {t['mid']} {t['merchant_name']!r} {t['key_alg']} TMK, "
            f"batch {t['batch']:06d}, "
            + (f"signed on ({keys['mode']})" if keys else "not signed on")
        )
    for c in sim.store.cards():
        print(
            f"card {mask_pan(c['pan'])} exp {c['expiry']} {c['status']:7} "
            f"balance {c['balance'] / 100:,.2f} held {c['held'] / 100:,.2f} "
            f"PIN {'yes' if c['pin'] else 'no'}  {c['holder']}"
        )
    for f in sim.faults():
        print(
            f"fault #{f['id']} {f['kind']} tid={f['tid'] or '*'} mti={f['mti'] or '*'} "
            f"txn={f['txn'] or '*'} "
            f"left={'always' if f['remaining'] is None else f['remaining']}"
        )
    for t in sim.transactions()[-20:]:
        print(
            f"txn {t['date']} {t['time']} {t['tid']} batch {t['batch']:06d} "
            f"stan {t['stan']:06d} {t['type']:17} {t['amount'] / 100:>10,.2f} "
            f"{mask_pan(t['pan'])} {t['response_code']} {t['status']} rrn {t['rrn'] or '-'}"
        )
    for s in sim.settlements():
        print(f"settlement {s['tid']} batch {s['batch']:06d} {s['result']} at {s['at']}")


def run(args: argparse.Namespace) -> int:
    memory = args.db == ":memory:"
    configure_only = args.listen is None and (args.fault or args.clear_faults or args.show)
    if configure_only and memory:
        raise HostSimError("--fault/--clear-faults/--show without --listen need --db FILE")
    specs = [faults.parse_spec(s) for s in args.fault]
    host, port = _address(args.listen or "127.0.0.1:5000")
    sim = HostSimulator(
        args.db, host=host, port=port, seed=memory or args.seed, idle_timeout=args.idle_timeout
    )
    try:
        if args.clear_faults:
            sim.clear_faults()
        for spec in specs:
            fid = sim.set_fault(**spec)
            print(f"fault #{fid} {spec['kind']} on")
        if configure_only:
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
