"""Running one script of docs/examples/ end to end, for the e2e test files: a fresh host
simulator and a virtual terminal set up with `poskit txn init` (the script's job), the script
through `poskit vterm --script` (tools/demo.py's Bench runs the three commands).

    from examplescript import run_example
    run_example("cashier-sale.vts", "terminal-job.toml", None, tmp_path)

`make test` runs the e2e files two at a time, a file to a worker (`--dist loadfile`, the
Makefile): the scripts are split over test_ui_e2e.py (the cashier's) and test_admin_e2e.py
(the installer's and supervisor's) so that the two workers get about as much each.
Seconds on the development container (2 shared cores), set-up included: cashier-sale 16,
power-up-checks 10, admin-versions 25 (a slip printed, a restart), admin-keys 37 (some 200
keys tapped at 80 ms each), training 19; cashier-void 38, preauth-family 54 (four
transactions, eight slips), refund 38, settlement 22 (their keys held 250 ms each; measured
with the machine's load at 4), cashier-day 32 (a sale, its void, a sale, the settlement:
`make frozen` runs it in the heap budget).
"""

import time

from tools.demo import EXAMPLES, Bench


def run_example(script, job, serial, tmp_path):
    """Run docs/examples/SCRIPT on a fresh terminal set up with docs/examples/JOB (with a
    serial, provisioned as it and its parameters loaded as packets: PosManage's version
    screen shows their versions); assert that every line of it passed."""
    # {MMDD} in a script is today's date: the host simulator's reference numbers start with
    # it (refund.vts types one, its digits held as the script's others are).
    today = time.strftime("%m%d")
    typed = [today[0] + "/250"]
    for before, digit in zip(today, today[1:]):
        typed += ["wait/150"] * (digit == before) + [digit + "/250"]
    text = (EXAMPLES / script).read_text()
    text = text.replace("keys {MMDD}", "keys " + " ".join(typed)).replace("{MMDD}", today)
    (tmp_path / script).write_text(text)
    with Bench(tmp_path / "bench", EXAMPLES / job, serial=serial) as bench:
        run = bench.vterm(tmp_path / script)
    lines = sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))
    assert run.returncode == 0, (run.stdout[-4000:], run.stderr[-4000:])
    assert "all %d lines passed" % lines in run.stdout
