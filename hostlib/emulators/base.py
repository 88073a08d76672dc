"""The emulator skeleton: one TCP listener on 127.0.0.1, one device connection at a time,
a byte-level state machine run by one thread.

A subclass implements `received(data)` (bytes from the device) and may implement `tick(now)`
(time-driven events: guard times, delayed results), `other_sockets()` with
`socket_readable(sock)` (a bridged host connection), `connected()` and `disconnected()`.
Every hook runs on the emulator's thread with `self.lock` held; methods a test calls to
inject faults take the same lock, so the state machine never sees a half-made change.
"""

from __future__ import annotations

import select
import socket
import threading
import time

from hostlib.errors import PoskitError

# How often the thread wakes with nothing to read: the resolution of guard times.
_TICK_S = 0.01


class EmulatorError(PoskitError):
    """An emulator could not start, or a wait on its state ran out."""


class Emulator:
    """Base class: listen, accept the device, feed its bytes to the state machine."""

    name = "emulator"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._listener = socket.create_server((host, port))
        self._listener.settimeout(_TICK_S * 5)
        self.host, self.port = self._listener.getsockname()[:2]
        self._conn: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connections = 0  # device connections accepted so far

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> Emulator:
        """Start serving on (self.host, self.port); returns self."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close every socket (bounded: 2 s)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self.lock:
            self._close_device()
            self._listener.close()
            self.closed()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    # --- to the device -------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Bytes to the device (dropped when no device is connected)."""
        with self.lock:
            if self._conn is not None:
                try:
                    self._conn.sendall(data)
                except OSError:
                    self._close_device()

    def disconnect_device(self) -> None:
        """Fault: drop the device's connection (the emulated chip loses power)."""
        with self.lock:
            self._close_device()

    def wait_for(self, predicate, timeout: float = 5.0, what: str = "condition"):
        """Wait (bounded) until `predicate()` is true, re-checked on every state change."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise EmulatorError(
                        "%s: %s did not happen in %.1f s" % (self.name, what, timeout)
                    )
                self._changed.wait(min(left, _TICK_S * 10))

    def notify(self) -> None:
        """Wake wait_for() callers (call with the lock held after a state change)."""
        self._changed.notify_all()

    # --- hooks ---------------------------------------------------------------------------

    def received(self, data: bytes) -> None:
        raise NotImplementedError

    def tick(self, now: float) -> None:
        """Time-driven events; `now` is time.monotonic()."""

    def other_sockets(self) -> list[socket.socket]:
        return []

    def socket_readable(self, sock: socket.socket) -> None:
        pass

    def connected(self) -> None:
        """A new device connection: reset per-connection state."""

    def disconnected(self) -> None:
        """The device went away."""

    def closed(self) -> None:
        """The emulator stopped: close anything else it opened."""

    # --- the thread ----------------------------------------------------------------------

    def _close_device(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None
            self.disconnected()
            self.notify()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self._conn = conn
                self.connections += 1
                self.connected()
                self.notify()
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            with self.lock:
                if self._conn is not conn:
                    return
                others = [s for s in self.other_sockets() if s.fileno() >= 0]
            try:
                readable, _, _ = select.select([conn, *others], [], [], _TICK_S)
            except (OSError, ValueError):
                readable = []
            with self.lock:
                if self._conn is not conn:
                    return
                for sock in readable:
                    if sock is conn:
                        try:
                            data = conn.recv(4096)
                        except OSError:
                            data = b""
                        if not data:
                            self._close_device()
                            return
                        self.received(data)
                    else:
                        self.socket_readable(sock)
                self.tick(time.monotonic())
                self.notify()
