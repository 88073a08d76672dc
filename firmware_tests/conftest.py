"""Shared test set-up: device/ importable under CPython, hypothesis profiles, the MicroPython
builds a check runs on (`interpreter`), and the TCP stand-in hosts the bearers reach
(`echo_host`, `hangup_host`)."""

import os
import select
import socket
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from hostlib import micropython

ROOT = Path(__file__).resolve().parents[1]
# Device modules import under CPython as on the terminal (`from app.crypto import des`), so host
# tests can check them against independent libraries.
sys.path.insert(0, str(ROOT / "device"))
# Stand-ins for MicroPython built-ins (cryptolib) so every device module imports.
sys.path.insert(1, str(ROOT / "firmware_tests" / "shims"))

# The default profile keeps `make test` short (under 15 minutes on two cores: 300 cases a
# property; the cipher cross-checks keep their own 1,000); `make test-full` runs the long
# campaign.
settings.register_profile("default", max_examples=300, deadline=None)
settings.register_profile(
    "full", max_examples=20000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _own_key_store(tmp_path_factory, monkeypatch):
    """No test opens the key store of whoever runs the tests (~/.poskit/keystore.json)."""
    home = tmp_path_factory.mktemp("keystore")
    monkeypatch.setenv("POSKIT_KEYSTORE", str(home / "keystore.json"))
    monkeypatch.delenv("POSKIT_KEYSTORE_PASSPHRASE", raising=False)


@pytest.fixture(scope="session", params=[micropython.NAME_64, micropython.NAME_32])
def interpreter(request):
    """Path of each MicroPython build: a test that takes it runs once on the 64-bit port
    (`[micropython]`) and once on the 32-bit one, the ESP32's word size (`[micropython32]`);
    that run is skipped, saying how to get the build, where this machine has none."""
    path = micropython.named(request.param)  # a wrong POSKIT_MICROPYTHON32 fails the test
    if path is None:
        pytest.skip("32-bit set skipped: " + micropython.missing32())
    return path


class TcpHost:
    """A far end on 127.0.0.1 (an acquirer stand-in): echoes what each connection sends, one
    thread a connection (a modem call and a GPRS link may be up at once); with
    `close_after_reply` it hangs up after its first answer.

    `port`, `address` ("127.0.0.1:port", as `poskit vterm --host` takes it), `received`
    (every byte from every connection, in arrival order). close() stops every thread and
    closes every socket, each wait bounded; it fails if a thread outlives its wait.
    """

    POLL_S = 0.05  # how often the threads look at the stop flag
    SEND_S = 5.0  # the most one echo may wait for the far side to take it

    def __init__(self, close_after_reply=False):
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(self.POLL_S)
        self.port = self._server.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.close_after_reply = close_after_reply
        self.received = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns = []
        self._threads = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:  # the poll timeout
                continue
            conn.settimeout(self.SEND_S)
            thread = threading.Thread(target=self._echo, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _echo(self, conn):
        with conn:
            while not self._stop.is_set():
                try:
                    if not select.select([conn], [], [], self.POLL_S)[0]:
                        continue
                    data = conn.recv(4096)
                    if not data:
                        return
                    with self._lock:
                        self.received += data
                    conn.sendall(data)
                except (OSError, ValueError):  # reset, or closed by close()
                    return
                if self.close_after_reply:
                    return

    def close(self):
        self._stop.set()
        self._acceptor.join(timeout=5)  # no connection is added after this
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for thread in threads:
            thread.join(timeout=self.SEND_S + 1)  # an echo under way finishes first
        for conn in conns:
            conn.close()
        self._server.close()
        alive = [t for t in (self._acceptor, *threads) if t.is_alive()]
        assert not alive, "TCP host threads still running after close(): %r" % alive


@pytest.fixture
def echo_host():
    """A TcpHost that echoes everything; closed after the test."""
    host = TcpHost()
    yield host
    host.close()


@pytest.fixture
def hangup_host():
    """A TcpHost that hangs up after its first answer; closed after the test."""
    host = TcpHost(close_after_reply=True)
    yield host
    host.close()


@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL server for the register's tests, one per test process
    (hostlib.register.pgserver); skipped where PostgreSQL is not installed, except in CI."""
    from hostlib.register import pgserver

    if pgserver.find_bin() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not installed: %s" % pgserver.INSTALL_HINT)
        pytest.skip("PostgreSQL is not installed: %s" % pgserver.INSTALL_HINT)
    with pgserver.PgServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def register_url(request, tmp_path):
    """The URL of a new, empty register: a SQLite file, then a database on the PostgreSQL
    server (`postgres_server`); a test that takes it runs on both."""
    if request.param == "sqlite":
        return "sqlite:///%s" % (tmp_path / "register.db")
    server = request.getfixturevalue("postgres_server")
    return server.create_database("t%d_%s" % (os.getpid(), tmp_path.name.lower()[-40:]))
