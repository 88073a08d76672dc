"""`poskit install` with the register: `--work-order N` installs the job the register composes
and writes the record back (the terminal, its applications, the slips, the work order marked
installed); a job file run with `--db` is checked against the register first. The refusals
come before anything reaches a terminal (no terminal is running for them); the whole install
runs on the virtual terminal against the host simulator (e2e, about half a minute)."""

import json
import os
import subprocess

import pytest
from registerbench import (
    PASSWORD,
    PROFILE,
    application,
    approve,
    open_with_users,
    ready_to_install,
)
from sqlalchemy import text

from hostlib.register import service as sv
from tools import cli
from tools.demo import _POSKIT, ROOT, TMK, InstallBench

# The host simulator's seeded terminal (docs/hostsim.md): its MID and TID.
MID, TID = "123456789012345", "12345678"


def ready(url: str, port: int = 5000) -> int:
    """A register at `url` with an approved merchant and a work order for wang.li to install
    PK-000777 with the simulator's terminal as application 1; the work order's id."""
    register, people = open_with_users(url)
    sales = people["sales"]
    with register.transaction(sales) as s:
        merchant_id = sv.create_merchant(s, sales, application()).id
    approve(register, people, merchant_id)
    order_id = ready_to_install(
        register,
        people,
        merchant_id,
        mid=MID,
        tid=TID,
        slip_name="POSKIT测试商户",
        profile=PROFILE.replace("port = 5000", "port = %d" % port),
    )
    register.close()
    return order_id


def poskit(*args: str, stdin: str = "", timeout: float = 120):
    env = dict(
        os.environ,
        POSKIT_REGISTER_PASSWORD=PASSWORD,
        POSKIT_KEYSTORE_PASSPHRASE="correct horse battery",
    )
    env.pop("POSKIT_REGISTER", None)
    return subprocess.run(
        _POSKIT + list(args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture
def poskit_here(monkeypatch, capsys):
    """poskit(*argv) in this process (no second of start-up each): a CompletedProcess-like
    result with returncode, stdout, stderr."""
    monkeypatch.setenv("POSKIT_REGISTER_PASSWORD", PASSWORD)
    monkeypatch.delenv("POSKIT_REGISTER", raising=False)

    def run(*argv: str):
        status = cli.main(list(argv))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(argv, status, out.out, out.err)

    return run


def test_a_work_order_not_to_install_is_refused_before_the_terminal(tmp_path, poskit_here):
    poskit = poskit_here
    url = "sqlite:///%s" % (tmp_path / "register.db")
    order_id = ready(url)
    missing = str(tmp_path / "no-terminal")
    common = ["--db", url, "--user", "wang.li", "--vterm", missing, "--tmk-fd", "0"]
    common += ["--record", str(tmp_path / "record")]

    from hostlib.register import db

    engine = db.engine_for(url)
    with engine.begin() as connection:  # a merchant no longer approved (edited by hand)
        connection.execute(text("UPDATE merchants SET stage = 'declined'"))
    out = poskit("install", "--work-order", str(order_id), *common)
    assert out.returncode == 1
    assert out.stderr == (
        "poskit: merchant 1 (上海某某商贸有限公司) is at stage declined, not approved: it "
        "gets no terminal\n"
    )
    with engine.begin() as connection:
        connection.execute(text("UPDATE merchants SET stage = 'work_order'"))
        connection.execute(text("UPDATE work_orders SET status = 'cancelled'"))
    out = poskit("install", "--work-order", str(order_id), *common)
    assert out.stderr == "poskit: work order 1 is cancelled: there is nothing to install\n"
    out = poskit("install", "--work-order", "7", *common)
    assert out.stderr == "poskit: no work order 7 in the register\n"
    out = poskit("install", "--work-order", str(order_id), *common[:2], *common[4:])
    assert "give --user NAME" in out.stderr
    engine.dispose()


def test_a_job_file_that_disagrees_with_the_register_is_refused(tmp_path, poskit_here):
    poskit = poskit_here
    url = "sqlite:///%s" % (tmp_path / "register.db")
    order_id = ready(url)
    job = tmp_path / "job.toml"
    composed = poskit("register", "job", str(order_id), "--db", url, "--user", "wang.li")
    assert composed.returncode == 0, composed.stderr
    common = ["--db", url, "--vterm", str(tmp_path / "no-terminal"), "--tmk-fd", "0"]
    job.write_text(composed.stdout.replace('"%s"' % TID, '"12345670"'), encoding="utf-8")
    out = poskit("install", str(job), *common)
    assert out.returncode == 1
    assert out.stderr == (
        "poskit: job.toml: application 1's TID is '12345670', the register's '12345678' "
        "(terminal PK-000777, merchant SH-2026-0001)\n"
    )
    # the register's own job passes the check and goes on to the terminal (none here)
    job.write_text(composed.stdout, encoding="utf-8")
    out = poskit("install", str(job), *common)
    assert "register" not in out.stderr and "no-terminal" in out.stderr


@pytest.mark.e2e
def test_install_of_a_work_order_on_the_virtual_terminal_is_written_back(tmp_path):
    with InstallBench(tmp_path / "bench") as bench:
        url = "sqlite:///%s" % (bench.folder / "register.db")
        order_id = ready(url, bench.port)
        run = poskit(
            "install", "--work-order", str(order_id), "--db", url, "--user", "wang.li",
            "--vterm", str(bench.state), "--record", str(bench.record),
            "--keystore", str(bench.folder / "keystore.json"), "--tmk-fd", "0",
            stdin=TMK + "\n", timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    assert "extension line, outside-line prefix 9" in run.stdout  # the work order's line
    assert "the register has it: work order 1, install 1 passed, terminal PK-000777" in run.stdout
    record = json.loads((bench.record / "install.json").read_text())
    assert record["job"]["reference"] == "WO-000001" and record["installer"] == "wang.li"

    from hostlib.register import db

    register = db.open(url)
    with register.session() as s:
        installer = sv.get_user(s, "wang.li")
        order = sv.get_work_order(s, installer, order_id)
        assert order.status == "installed" and order.merchant.stage == "installed"
        terminal = sv.get_terminal(s, installer, "PK-000777")
        assert terminal.model and terminal.model == record["terminal"]["model"]
        assert [(a.app_index, a.mid, a.tid, a.slip_name) for a in terminal.apps] == [
            (1, MID, TID, "POSKIT测试商户")
        ]
        (install,) = terminal.installs
        assert json.loads(install.record_json)["status"] == "complete"
        assert "REF NO:" in install.slips and "COMPLETE" in install.record_html
    register.close()
