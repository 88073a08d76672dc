"""`make cuts`: cut the power at every flash write of every transaction flow, and write the
figures.

Each flow (a sale, a void, a refund, the pre-auth family, a pending reversal's delivery, a
sign-on's key storage, a settlement with and without batch upload) runs on MicroPython (the
64-bit unix port, device/ from source) over a RAM flash with LittleFS, against the device
tests' fake host keeping books, once to count its flash writes and then once per write with
the power cut there, clean and torn, at 4096- and 512-byte erase blocks. So are the installer's
parameter and key packets, provisioning and wipe. After each cut the
terminal restarts and must recover: firmware_tests/mpy/flowcuts.py says what is checked.

    python -m tools.cuts                      # every flow, both block sizes; prints the figures
    python -m tools.cuts --write              # and writes the "Power cuts" section of
                                              # docs/benchmarks.md (`make bench` keeps it)
    python -m tools.cuts --block 512 refund   # one flow, one block size, every lost cut shown

`make test` runs a sample (firmware_tests/mpy/test_txn_cuts.py).
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hostlib import micropython
from tools import fuzz

ROOT = Path(__file__).resolve().parents[1]
MPY_TESTS = ROOT / "firmware_tests" / "mpy"
SECTION = "## Power cuts"
BLOCKS = (4096, 512)
# The flows, in the order of flowcuts.FLOWS, with what each does.
FLOWS = {
    "sale": "a sale with PIN",
    "sale void": "a void of a sale of the batch",
    "refund": "a refund (0220) of a sale by RRN",
    "pre-auth": "a pre-authorisation",
    "pre-auth cancel": "the cancel of a pre-authorisation",
    "completion": "a completion of a pre-authorisation",
    "completion void": "a void of a completion",
    "completion notice": "a completion notice (0220)",
    "reversal delivery": "a sale with a reversal pending, sent first",
    "sign-on": "a sign-on: the working keys stored",
    "ic download": "a sign-on with the host's new CA keys and IC parameters downloaded",
    "list downloads": "a sign-on with the host's new black list and contactless parameters",
    "settlement": "a settlement, balanced",
    "settlement with upload": "a settlement the host finds unbalanced: batch upload",
    "offline sale": "a contactless sale the card approved offline, journaled",
    "settlement with offline upload": "a settlement uploading an offline sale (0200, 60.1 36)",
    "settlement with IC details": "a settlement uploading two chip sales' TCs (0320, 60.3 203)",
    "script notice": "a sale with a chip sale's script result notice (0620) sent first",
    "parameter packet": "a parameter packet applied (verify, save, version)",
    "key packet": "a key packet applied: a master key from TR-31 (working keys dropped)",
    "provision": "the identity stored (serial, KBPK, link key)",
    "wipe": "a wipe: journal, keys, identity",
}
# The RAM flash and its snapshot (256 KB), the harness compiled from source, and every flow in
# one process.
HEAP = "1M"

_PROGRAM = """
import json, flowcuts
for flow in %r:
    f = flowcuts.campaign(flow, %d)
    f["problems"] = [[n, tear, p] for n, tear, p in f["problems"]]
    f["flow"] = flow
    print(json.dumps(f))
"""


def run_block(block: int, flows: list[str]) -> list[dict]:
    """Every cut point of `flows` at `block`-byte erase blocks: one dict of figures a flow."""
    done = micropython.run(
        code=_PROGRAM % (tuple(flows), block), path=[MPY_TESTS], heap=HEAP, timeout=3600
    )
    if not done.ok:
        raise SystemExit(
            "MicroPython failed at %d-byte blocks:\n%s" % (block, done.stdout + done.stderr)
        )
    figures = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for f in figures:
        f["block"] = block
    return figures


def render(figures: list[dict], wall_s: float) -> str:
    """The "Power cuts" section of docs/benchmarks.md."""
    by = {(f["flow"], f["block"]): f for f in figures}
    lines = [
        SECTION,
        "",
        "Written by `make cuts` (tools/cuts.py), which `make bench` leaves as it is. Each flow "
        "runs on MicroPython %s (unix port, 64-bit) over a RAM flash with LittleFS v2, against "
        "the device tests' fake host keeping books, after a sign-on and a small day (two "
        "sales, two pre-authorisations, a completion); then again with the power cut at each "
        "of its flash writes (a program or an erase), clean and torn (that write half done). "
        "After each cut the terminal restarts and must show: every approval the host gave in "
        "a batch it has not settled journaled, reversing, or a refund or notice the "
        "terminal keeps to send again (its pending advice); the next sale approved; its "
        "totals the host's; a settlement then balanced; no STAN reused "
        "(firmware_tests/mpy/flowcuts.py). *Writes*: the flow's flash writes uncut; *cut "
        "points*: writes x 2 (clean and torn); *lost*: cut points after which any of that "
        "failed. A parameter or key packet, a provisioning or a wipe must also leave the old "
        "or the new state, and apply again when it did not finish; after a key packet or a "
        "wipe the terminal has no working keys, so the sale and settlement are not tried "
        "(it signs on first)." % micropython.version(),
        "",
        "| flow | what | writes 4 KB | cut points | recovered | lost | writes 512 B "
        "| cut points | recovered | lost |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for flow, what in FLOWS.items():
        cells = []
        for block in BLOCKS:
            f = by.get((flow, block))
            cells += (
                ["-"] * 4
                if f is None
                else [str(f[k]) for k in ("writes", "points", "recovered", "lost")]
            )
        if cells != ["-"] * 8:
            lines.append("| %s | %s | %s |" % (flow, what, " | ".join(cells)))
    lost = [f for f in figures if f["lost"]]
    lines += [
        "",
        "%d cut points in all, %d lost, in %.0f s of wall time (%s)."
        % (
            sum(f["points"] for f in figures),
            sum(f["lost"] for f in figures),
            wall_s,
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        ),
    ]
    if lost:
        lines += [
            "",
            "What the lost cut points showed (the first of each flow; why, and what it "
            "needs: docs/transactions.md §14):",
            "",
        ]
        for f in lost:
            n, tear, problems = f["problems"][0]
            lines.append(
                "- %s, %d-byte blocks, write %d%s: %s"
                % (f["flow"], f["block"], n, " (torn)" if tear else "", "; ".join(problems))
            )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.cuts", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("flows", nargs="*", help="flows (default: all): " + ", ".join(FLOWS))
    parser.add_argument("--block", type=int, choices=BLOCKS, action="append", help="block size")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    flows = args.flows or list(FLOWS)
    unknown = [f for f in flows if f not in FLOWS]
    if unknown:
        parser.error("no flow named %s" % ", ".join(map(repr, unknown)))
    blocks = args.block or list(BLOCKS)
    start = time.monotonic()
    with ThreadPoolExecutor(len(blocks)) as pool:
        figures = [f for part in pool.map(lambda b: run_block(b, flows), blocks) for f in part]
    wall = time.monotonic() - start
    for f in figures:
        print(
            "%s, %d-byte blocks: %d writes, %d cut points, %d recovered, %d lost"
            % (f["flow"], f["block"], f["writes"], f["points"], f["recovered"], f["lost"])
        )
        for n, tear, problems in f["problems"]:
            print("  cut at write %d%s: %s" % (n, " (torn)" if tear else "", "; ".join(problems)))
    if args.write:
        fuzz.write_section(render(figures, wall), heading=SECTION)
        print("wrote the Power cuts section of %s" % fuzz.BENCHMARKS.relative_to(ROOT))
    return 1 if any(f["lost"] for f in figures) and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
