"""The terminal application end to end, the cashier's side: each script of docs/examples/ in
SCRIPTS runs on a fresh virtual terminal set up with `poskit txn init` (its job), against a
fresh `poskit hostsim`, through `poskit vterm --script` (examplescript.py), checking the
screens (screen-check) and the slips (print-receipt-check). test_admin_e2e.py has the
installer's and supervisor's scripts and the other whole-terminal checks.

To add a script: write it under docs/examples/ (docs/vterm.md has the commands, docs/menus.md
the screens and keys) and add a line to SCRIPTS with the job it needs, here or in
test_admin_e2e.py, whichever keeps the two files' times level (examplescript.py has each
script's). Each costs a fresh host simulator and terminal (about 3 s) plus its own run.
"""

import pytest
from examplescript import run_example

# `make test` runs these after the rest, two at a time (pyproject.toml's markers, the Makefile).
pytestmark = pytest.mark.e2e

# (script, job, serial): the cashier's scripts (examplescript.py says how they run, and
# what each costs; test_admin_e2e.py has the installer's and supervisor's).
SCRIPTS = [
    ("cashier-sale.vts", "terminal-job.toml", None),
    ("cashier-void.vts", "terminal-job.toml", None),
    ("preauth-family.vts", "terminal-job.toml", None),
    ("refund.vts", "terminal-job.toml", None),
    ("settlement.vts", "terminal-job.toml", None),
    ("cashier-day.vts", "terminal-job.toml", None),
]


@pytest.mark.parametrize("script, job, serial", SCRIPTS, ids=[row[0] for row in SCRIPTS])
def test_the_script_passes_against_the_host_simulator(script, job, serial, tmp_path):
    run_example(script, job, serial, tmp_path)
