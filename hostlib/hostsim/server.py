"""The TCP side: length-prefixed frames, one response per request, several requests per
connection (keep-alive), one thread per connection, transport faults applied here.

Everything stops by itself: connections close after `idle_timeout` seconds of silence and
stop() wakes every thread (listening socket polled, client sockets shut down).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

from hostlib.hostsim import faults, wire
from hostlib.hostsim.engine import Outcome

log = logging.getLogger("poskit.hostsim")


class Server:
    def __init__(
        self,
        handle: Callable[[bytes], Outcome],
        host: str,
        port: int,
        idle_timeout: float,
    ) -> None:
        self._handle = handle
        self._bind = (host, port)
        self._idle = idle_timeout
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.address: tuple[str, int] = (host, port)

    def start(self) -> None:
        listener = socket.create_server(self._bind, reuse_port=False)
        listener.settimeout(0.2)  # poll the stop flag; accept() is not woken by close()
        self._listener = listener
        self.address = listener.getsockname()[:2]
        thread = threading.Thread(target=self._accept_loop, name="hostsim-accept", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(self._idle)
            with self._lock:
                self._conns.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(
                    target=self._serve, args=(conn, peer), name="hostsim-conn", daemon=True
                )
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, peer: tuple) -> None:
        try:
            while not self._stop.is_set():
                try:
                    payload = wire.read_frame(conn)
                except TimeoutError:
                    log.info("%s:%s idle, closing", *peer[:2])
                    return
                except wire.WireError as exc:
                    log.warning("%s:%s %s, closing", *peer[:2], exc)
                    return
                if payload is None:
                    return
                outcome = self._handle(payload)
                log.info("%s", outcome.summary)
                if not self._answer(conn, outcome):
                    return
        except OSError:
            return  # peer reset or stop() shut the socket down
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _answer(self, conn: socket.socket, outcome: Outcome) -> bool:
        """Send the answer the faults allow; False when the connection must close."""
        kinds = {f.kind: f for f in outcome.transport}
        if faults.CLOSE in kinds:
            return False
        if faults.NO_ANSWER in kinds or outcome.payload is None:
            return True  # keep reading: the terminal decides when to give up
        late = kinds.get(faults.LATE)
        if late is not None and self._stop.wait(late.delay):
            return False
        data = len(outcome.payload).to_bytes(2, "big") + outcome.payload
        if faults.PARTIAL in kinds:
            conn.sendall(data[: len(data) // 2])
            return False
        conn.sendall(data)
        if faults.DUPLICATE in kinds:
            conn.sendall(data)
        return True
