"""`poskit install` end to end, as `make demo` runs it: a host simulator knowing both
applications' terminals, a blank virtual terminal (`poskit vterm`), and the install of
docs/examples/install-job.toml (two acquirer applications) over the terminal's console, the
test card swiped and its PIN typed through the vterm's emulators. The host fails the first
settlement once: the install stops there, and the same command run again settles without
provisioning, loading, signing on or selling again. The record is then checked against what
the terminal holds, asked over its console.

One run (about a minute on the development container): the slip check's failure, a changed
job and the wrong terminal are test_install.py's, fast.
"""

import json
import re
import subprocess

import pytest

from tools.demo import _POSKIT, ROOT, InstallBench

pytestmark = pytest.mark.e2e


def _host_lines(bench, kind: str, tid: str) -> list[str]:
    log = (bench.folder / "hostsim.log").read_text()
    return [line for line in log.splitlines() if " tid %s %s " % (tid, kind) in line + " "]


def test_an_install_stopped_at_settlement_goes_on_from_there_and_records_the_terminal(
    tmp_path,
):
    with InstallBench(tmp_path / "bench") as bench:
        fault = subprocess.run(
            _POSKIT
            + ["hostsim", "--db", str(bench.folder / "host.db")]
            + ["--fault", "decline:tid=12345678,mti=0500,code=96"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert fault.returncode == 0, fault.stderr

        first = bench.install()
        assert first.returncode == 1, (first.stdout[-3000:], first.stderr[-3000:])
        assert "[12/18] application 1 (CUP): settlement" in first.stdout
        assert "step 12/18, application 1 (CUP): settlement, failed: settlement 96" in first.stderr
        assert "run the same command again" in first.stderr
        assert "Traceback" not in first.stderr
        progress = json.loads((bench.record / "progress.json").read_text())
        assert "app1.void" in progress["done"] and "app1.settlement" not in progress["done"]

        second = bench.install()
        assert second.returncode == 0, (second.stdout[-3000:], second.stderr[-3000:])
        assert "11 of 18 steps were done; identify runs again" in second.stdout
        assert "[3/18]" not in second.stdout and "[9/18]" not in second.stdout
        # the host saw one sign-on and one sale of application 1: nothing done twice
        assert len(_host_lines(bench, "sign_on", "12345678")) == 1
        assert len(_host_lines(bench, "sale", "12345678")) == 1
        assert len(_host_lines(bench, "settlement", "12345678")) == 2

        # the record against the terminal itself, asked over its console
        from hostlib.terminal import Terminal
        from hostlib.vterm_control import VtermControl

        with Terminal.open(VtermControl.find(bench.state).console) as terminal:
            held = terminal.identify()
            journal = terminal.journal(app=2)

    record = json.loads((bench.record / "install.json").read_text())
    assert record["status"] == "complete"
    assert record["installer"] == "demo"
    for name in ("serial", "chip_id", "micropython", "app_build", "key_check_values", "ic_sets"):
        assert record["terminal"][name] == held[name], name
    # the CA keys and IC parameters the host simulator downloaded at the first sign-on
    assert held["ic_sets"]["capk"][0] == 5 and held["ic_sets"]["aid"][0] == 3
    assert record["terminal"]["serial"] == "PK-000777"
    assert held["iccid"] and record["terminal"]["iccid"] == held["iccid"]  # application 2's SIM
    assert any(name.startswith("app2 TMK") for name in held["key_check_values"])
    by_index = {app["index"]: app for app in held["applications"]}
    for app in record["applications"]:
        index = app["index"]
        assert app["terminal"]["merchant_id"] == by_index[index]["merchant_id"]
        assert app["terminal"]["terminal_id"] == by_index[index]["terminal_id"]
        assert app["terminal"]["params_version"] == by_index[index]["params_version"] == 1
        # each application over the bearer the job chose for it (1 Ethernet, 2 GPRS)
        assert by_index[index]["bearer"] == app["expected"]["bearer"]
        assert app["slip_check"] == {"ok": True, "problems": []}
        tests = {test["kind"]: test for test in app["tests"]}
        assert list(tests) == ["sign_on", "sale", "sale_void", "settlement"]
        assert all(test["approved"] and test["response_code"] == "00" for test in tests.values())
        sale = tests["sale"]
        assert re.fullmatch(r"[0-9]{12}", sale["rrn"])
        assert "REF NO: %s" % sale["rrn"] in sale["slips"][0]
        assert "AMOUNT: RMB 0.01" in sale["slips"][0]
        # the host booked the sale under the STAN the record holds
        tid = app["expected"]["terminal_id"]
        (line,) = _host_lines(bench, "sale", tid)
        assert "stan %06d" % sale["stan"] in line and line.endswith("-> 00")
        assert (bench.record / ("app%d-sale.png" % index)).read_bytes()[:4] == b"\x89PNG"
    # settled: application 2's batch is the next one, empty
    assert journal["transactions"] == 0 and journal["batch"] == 2
    page = (bench.record / "install.html").read_text()
    assert "COMPLETE" in page and "POSKIT第二收单" in page and "data:image/png;base64," in page
