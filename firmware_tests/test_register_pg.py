"""The register's PostgreSQL side: the throw-away server the tests start
(hostlib.register.pgserver) runs as PostgreSQL requires, answers on its unix socket and its
port, and leaves nothing behind; and a process killed in the middle of a write leaves the
register as it was, on SQLite and on PostgreSQL."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from registerbench import open_with_users
from sqlalchemy import func, select

from hostlib.register import db, pgserver
from hostlib.register.models import Audit, Merchant


def test_the_test_server_runs_as_postgres_and_leaves_nothing(postgres_server):
    folder = postgres_server.folder
    data = folder / "data"
    if os.geteuid() == 0:  # PostgreSQL refuses root: the server's files are postgres's
        assert data.stat().st_uid == pgserver.pwd.getpwnam("postgres").pw_uid
    assert list(folder.glob(".s.PGSQL.*"))  # the unix socket, in the server's own folder
    # a second server of its own, started and stopped here
    with pgserver.PgServer() as server:
        own = server.folder
        url = server.create_database("register")
        assert db.upgrade(url) == (None, db.head())
        by_socket = "postgresql+psycopg://%s@/register?host=%s&port=%d" % (
            pgserver.USER, own, server.port,
        )  # fmt: skip
        assert db.at_head(by_socket)
    assert not Path(own).exists()


_KILLED = """
import os, signal, sys
from hostlib.register import db, service
from registerbench import application
register = db.open(sys.argv[1])
with register.session() as s:
    sales = service.get_user(s, "li.na")
with register.transaction(sales) as s:
    service.create_merchant(s, sales, application())
    s.flush()  # written to the database, not committed
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_process_killed_mid_write_leaves_the_register_as_it_was(register_url):
    register, _ = open_with_users(register_url)
    run = subprocess.run(
        [sys.executable, "-c", _KILLED, register_url],
        cwd=Path(__file__).parent,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    with register.session() as s:
        assert s.scalar(select(func.count()).select_from(Merchant)) == 0
        assert (
            s.scalar(select(func.count()).select_from(Audit).where(Audit.table == "merchants"))
            == 0
        )
    register.close()


def test_without_postgresql_the_server_says_how_to_get_it(monkeypatch):
    monkeypatch.setattr(pgserver, "find_bin", lambda: None)
    with pytest.raises(pgserver.RegisterError, match="apt-get install postgresql"):
        pgserver.PgServer()
