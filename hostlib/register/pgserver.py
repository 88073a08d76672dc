"""A throw-away PostgreSQL server: for the register's tests on PostgreSQL, and for trying
the register on PostgreSQL without setting one up (docs/register.md).

    with PgServer() as server:                       # initdb + start: a few seconds
        url = server.create_database("register")     # postgresql+psycopg://poskit@127.0.0.1:P/register
        db.upgrade(url)
    # stopped, its files gone

    python -m hostlib.register.pgserver              # one running until Ctrl-C, its URL printed

It runs Debian's PostgreSQL binaries (/usr/lib/postgresql/VERSION/bin, the newest; else
`initdb` on the PATH): `apt-get install postgresql` provides them. PostgreSQL refuses to run
as root, so when we are root it runs as the `postgres` user (through `runuser`), with its
data folder in a temporary folder of its own. It listens on a unix socket in that folder and
on a free TCP port of 127.0.0.1 only, with trust authentication: for tests, never for a
register that holds real merchants.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hostlib.register import RegisterError

INSTALL_HINT = "apt-get install postgresql"
USER = "poskit"  # the database superuser initdb makes


def find_bin() -> Path | None:
    """The folder of PostgreSQL's server binaries (initdb, pg_ctl), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")],
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PgServer:
    """One PostgreSQL server in a temporary folder; `start()`, `create_database()`,
    `stop()` (or use it as a context manager)."""

    def __init__(self) -> None:
        self.bin = find_bin()
        if self.bin is None:
            raise RegisterError("PostgreSQL's initdb is not installed: %s" % INSTALL_HINT)
        self.port = _free_port()
        self.folder: Path | None = None
        self.running = False
        # PostgreSQL will not run as root: as root, run it as the postgres user.
        self._as = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RegisterError(
                    "running as root, PostgreSQL needs the postgres user: %s" % INSTALL_HINT
                ) from None
            # runuser lives in /usr/sbin, which a non-login root shell's PATH may lack.
            runuser = shutil.which("runuser", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
            if runuser is None:
                raise RegisterError("running as root, PostgreSQL needs runuser (util-linux)")
            self._as = [runuser, "-u", "postgres", "--"]

    def _run(self, *command: str, timeout: float = 120) -> None:
        done = subprocess.run(
            self._as + [str(self.bin / command[0]), *command[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            log = self.folder / "server.log" if self.folder else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RegisterError(
                "PostgreSQL's %s failed: %s%s"
                % (command[0], (done.stderr or done.stdout).strip()[-2000:], tail)
            )

    def start(self) -> str:
        """initdb and start the server; the URL of its `postgres` database."""
        self.folder = Path(tempfile.mkdtemp(prefix="poskit-pg-"))
        if self._as:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        data = self.folder / "data"
        self._run(
            "initdb", "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-locale"
        )
        options = "-k %s -h 127.0.0.1 -p %d -F -c fsync=off" % (self.folder, self.port)
        self._run(
            "pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip
        self.running = True
        return self.url("postgres")

    def url(self, database: str) -> str:
        return "postgresql+psycopg://%s@127.0.0.1:%d/%s" % (USER, self.port, database)

    def create_database(self, name: str) -> str:
        """A new, empty database on the server; its URL."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute('CREATE DATABASE "%s"' % name.replace('"', ""))
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast: its data is thrown away) and remove its folder."""
        if self.folder is None:
            return
        if self.running:
            with contextlib.suppress(RegisterError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop")
            self.running = False
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> PgServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> int:
    try:
        with PgServer() as server:
            url = server.create_database("register")
            print("PostgreSQL on 127.0.0.1:%d, the register's database:" % server.port)
            print("    %s" % url)
            print("poskit register init --db %s   (Ctrl-C stops it; its data goes)" % url)
            sys.stdout.flush()
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    except RegisterError as exc:
        print("pgserver: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
