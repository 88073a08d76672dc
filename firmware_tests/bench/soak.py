"""The soak: thousands of mixed transactions through the engine on MicroPython, in the ESP32's
110 KB heap on the 32-bit build (the ESP32's word size; where it is missing, the 64-bit port
in the same budget scaled, hostlib.micropython.esp32_heap) and from the ROMFS image as
deployed, against the host simulator (hostlib.hostsim), with a settlement every so many;
after each settlement the heap in use and the terminal's totals beside the host's.

    python firmware_tests/bench/soak.py [--count 10000] [--every 1000]   # `make soak`
    soak(count, every) -> {"batches": [...], "failed": [...], "seconds": ...}
    lines(figures)      the Markdown `make bench` puts in docs/benchmarks.md

The mix, by transaction number modulo 10: sales (0-4), a balance inquiry (5), a void of the
last sale still standing (6), a refund of the last one (7), a pre-authorisation (8) and its
completion (9). Every batch must settle balanced with the host's totals equal to the
terminal's: anything else, or any transaction not approved, is a failure (exit status 1).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Run as a file, this folder comes first on the path (bench/*.py are MicroPython scripts).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

JOB = ROOT / "docs" / "examples" / "hostsim-job.toml"
TID = "12345678"  # the job's terminal_id

# The device side, after hostlib.state's prelude (board, store, storage_key): one line a
# settlement, "@BATCH batch debit debit_count credit credit_count settled heap_used heap_free",
# and "@FAIL number kind outcome" for a transaction not approved.
_DEVICE = """
import gc
from app.comm.frames import TcpBearer
from app.txn.engine import Card, Engine, Request
T = "6224242900000113=28062013949031013"
S = b"123456"
COUNT, EVERY = %d, %d
e = Engine(1, store, storage_key, TcpBearer("127.0.0.1", %d))
r = e.run(Request("sign_on"))
assert r.approved, r.message_en
sales = []  # the last two sales still standing: (STAN, RRN, MMDD, amount)
preauth = None


def pin():
    return bytearray(b"123456")


for i in range(COUNT):
    step = i %% 10
    amount = 100 + i %% 400
    if step == 5:
        r = e.run(Request("balance", card=Card(track2=T), pin=pin()))
    elif step == 6 and sales:
        r = e.run(Request("sale_void", original_stan=sales.pop()[0], supervisor_password=S))
    elif step == 7 and sales:
        sale = sales.pop()
        r = e.run(
            Request("refund", amount=sale[3], card=Card(track2=T), rrn=sale[1],
                    original_date=sale[2], supervisor_password=S)
        )
    elif step == 8:
        r = e.run(Request("preauth", amount=1000 + amount, card=Card(track2=T), pin=pin()))
        preauth = r.approved and (r.auth_code, r.date[4:], r.amount)
    elif step == 9 and preauth:
        r = e.run(Request("completion", amount=preauth[2], auth_code=preauth[0],
                          original_date=preauth[1]))
        preauth = None
    else:
        r = e.run(Request("sale", amount=amount, card=Card(track2=T), pin=pin()))
        if r.approved:
            sales = sales[-1:] + [(r.stan, r.rrn, r.date[4:], r.amount)]
    if not r.approved:
        print("@FAIL", i, r.kind, r.error or r.response_code, r.message_en)
    r = None
    if (i + 1) %% EVERY == 0 or i + 1 == COUNT:
        batch, totals = e.batch, e.totals()
        r = e.run(Request("settlement"))
        settled = r.approved and r.settlement is not None
        r = sale = preauth = None
        sales = []
        gc.collect()
        print("@BATCH", batch, *totals, int(settled), gc.mem_alloc(), gc.mem_free())
"""


def soak(count: int, every: int, *, timeout: float = 7200.0) -> dict:
    """Run `count` transactions, settling every `every`, on a fresh terminal (`poskit txn
    init` with docs/examples/hostsim-job.toml) against a fresh host simulator. Returns
    {"batches": [{"batch", "terminal": (4 totals), "host": (4 totals), "balanced",
    "heap_used", "heap_free"}], "failed": [lines], "seconds"}."""
    from hostlib import micropython
    from hostlib.hostsim import HostSimulator
    from hostlib.state import TerminalState

    interpreter = micropython.binary32() or micropython.binary()
    with micropython.default(interpreter), tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "term"
        subprocess.run(
            [sys.executable, "-m", "tools.txn", "--state", str(state), "init"]
            + ["--params", str(JOB), "--tmk-fd", "0"],
            input=b"70F2A84CCBC2AE8625CBB0F2C22AB923\n",
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        with HostSimulator(db_path=str(Path(tmp) / "host.db"), seed=True) as host:
            code = _DEVICE % (count, every, host.address[1])
            start = time.monotonic()
            out = TerminalState(state).run(code, timeout=timeout)
            seconds = time.monotonic() - start
            if out.returncode != 0:
                raise RuntimeError("soak failed on the terminal:\n%s%s" % (out.stdout, out.stderr))
            batches, failed = [], []
            settled = {s["batch"]: s["result"] for s in host.settlements(TID)}
            for line in out.stdout.splitlines():
                words = line.split()
                if words and words[0] == "@FAIL":
                    failed.append(line[6:])
                elif words and words[0] == "@BATCH":
                    batch, *numbers = map(int, words[1:])
                    t = host.totals(TID, batch)
                    batches.append(
                        {
                            "batch": batch,
                            "terminal": tuple(numbers[:4]),
                            "host": (
                                t["debit_amount"],
                                t["debit_count"],
                                t["credit_amount"],
                                t["credit_count"],
                            ),
                            "balanced": bool(numbers[4]) and settled.get(batch) == "balanced",
                            "heap_used": numbers[5],
                            "heap_free": numbers[6],
                        }
                    )
    return {
        "batches": batches,
        "failed": failed,
        "seconds": seconds,
        "count": count,
        "every": every,
        "bits": micropython.word_bits(interpreter),
        "heap": micropython.esp32_heap(interpreter),
    }


def problems(figures: dict) -> list[str]:
    """What makes the soak fail: transactions not approved, batches not balanced or whose
    totals differ from the host's."""
    found = ["not approved: %s" % line for line in figures["failed"]]
    for b in figures["batches"]:
        if not b["balanced"] or b["terminal"] != b["host"]:
            found.append("batch %(batch)d: terminal %(terminal)s, host %(host)s" % b)
    return found


def lines(figures: dict) -> list[str]:
    """The soak's section of docs/benchmarks.md."""
    batches = figures["batches"]
    used = [b["heap_used"] for b in batches]
    out = [
        "",
        "## Soak (firmware_tests/bench/soak.py, `make soak`)",
        "",
        "%s mixed transactions (sales, voids, refunds, pre-authorisations and completions, "
        "balance inquiries) through the engine on the %d-bit MicroPython in a %s heap, "
        "from the ROMFS image, against the host simulator over TCP, settled every %s: %.0f s "
        "in all. Heap after each settlement and a collection (in use counts the ROMFS image, "
        "which the unix port holds in the heap and the ESP32 maps from flash), and the terminal's "
        "totals beside the host's for the batch (debit amount in fen / count, credit amount / "
        "count):"
        % (
            format(figures["count"], ","),
            figures.get("bits", 64),
            figures.get("heap", "110K"),
            format(figures["every"], ","),
            figures["seconds"],
        ),
        "",
        "| batch | heap in use B (image included) | heap free B | terminal totals | host totals "
        "| settled |",
        "|---:|---:|---:|---|---|---|",
    ]
    for b in batches:
        out.append(
            "| %d | %d | %d | %s | %s | %s |"
            % (
                b["batch"],
                b["heap_used"],
                b["heap_free"],
                "%d/%d %d/%d" % b["terminal"],
                "%d/%d %d/%d" % b["host"],
                "balanced" if b["balanced"] else "NOT balanced",
            )
        )
    if used:
        out += [
            "",
            "Heap in use after a settlement: %d to %d bytes (first %d, last %d); %d "
            "transactions not approved; %d of %d batches balanced with equal totals."
            % (
                min(used),
                max(used),
                used[0],
                used[-1],
                len(figures["failed"]),
                sum(1 for b in batches if b["balanced"] and b["terminal"] == b["host"]),
                len(batches),
            ),
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10000, help="transactions (10000)")
    parser.add_argument("--every", type=int, default=1000, help="a settlement every N (1000)")
    args = parser.parse_args(argv)
    figures = soak(args.count, args.every)
    print("\n".join(lines(figures)))
    found = problems(figures)
    for problem in found:
        print("soak: %s" % problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
