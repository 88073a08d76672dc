"""The GPRS bearer: frames over a TCP connection of a SIM800- or SIM7600-class module, behind
the five methods of app.comm.frames.

    bearer = GprsBearer(board.gprs(), "CMNET", (("posp.example", 5000), ("10.1.1.9", 5000)))
    bearer.connect()      # first time: AT, SIM, registration, APN; then the host, or its backup
    answer = bearer.exchange(frame, 30000)
    bearer.close()        # the TCP connection; the packet context stays up for the next run

The module is used through the methods drivers/sim800.py defines (sync, sim_ready,
wait_registered, attach, open, send, use_buffer, buffered, unread, take, close, recover and
the `connected` and `attached` flags), which drivers/sim7600.py keeps: either serves. Its
errors are told apart by what the module says afterwards (still connected? still
attached?) and by name (a ...Timeout), so this module imports neither driver.

While connecting every failure is ConnectFailed with the module's reason ("GPRS: no SIM card",
"GPRS: not registered (status 2)"). When the packet context has gone (+PDP: DEACT, a power
loss), the driver's watchdog step recover() runs once before the host is opened again: at the
next connect after a drop in the middle of an answer, or when opening the host finds it gone.
"""

from app.comm.frames import (
    CommCancelled,
    CommError,
    CommTimeout,
    ConnectFailed,
    FrameBearer,
    LinkDown,
)


def _timed_out(exc):
    # GprsTimeout in both drivers; by name, so that no driver module is imported for it.
    return type(exc).__name__.endswith("Timeout")


class GprsBearer(FrameBearer):
    """Frames over the GPRS module `module`'s TCP connection.

    `apn`, `user`, `password` activate the packet context; `hosts` are (host, port) pairs in
    the order they are tried (primary, then backup); `registration_ms` bounds the wait for the
    network at the first connect. The module's own options bound the rest (its connect, send
    and command timeouts: board.gprs(connect_timeout_ms=..., send_timeout_ms=...)).
    """

    def __init__(
        self, module, apn, hosts, *, user="", password="", registration_ms=60000, buffer_size=1024
    ):
        super().__init__(buffer_size)
        self._module = module
        self.apn = apn
        self.hosts = hosts
        self._user = user
        self._password = password
        self.registration_ms = registration_ms
        self._ready = False  # the module has been brought up once (SIM, network, APN)
        self.host = None  # (host, port) of the open connection

    @property
    def connected(self):
        return self.host is not None and self._module.connected

    @property
    def module(self):
        """The GPRS module (its signal() and registration() for the idle screen and the
        power-up checks, between transactions)."""
        return self._module

    def _recover(self):
        try:
            self._module.recover()
        except OSError as exc:
            raise ConnectFailed("GPRS: %s" % exc)

    def connect(self):
        """Bring the module up if needed, then open the first host that accepts.
        ConnectFailed naming what failed."""
        if self.connected:
            return
        self.close()
        self._buffer()  # the module's data goes into it from the first byte
        module = self._module
        recovered = False
        if not self._ready:
            try:
                module.sync()
                module.sim_ready()
                module.wait_registered(self.registration_ms)
                self.cancelled(False)
                module.attach(self.apn, self._user, self._password)
            except CommCancelled:
                raise
            except OSError as exc:
                raise ConnectFailed("GPRS: %s" % exc)
            self._ready = True
        elif not module.attached:
            self._recover()
            recovered = True
        failures = []
        for host, port in self.hosts:
            self.cancelled(False)
            while True:
                try:
                    module.open(host, port)
                except OSError as exc:
                    if not module.attached and not recovered:
                        self._recover()  # the context went down under us: once, same host
                        recovered = True
                        continue
                    failures.append("%s:%d: %s" % (host, port, exc))
                    break
                self.host = (host, port)
                return
        raise ConnectFailed("GPRS: " + "; ".join(failures))

    def close(self):
        """Close the TCP connection (if open); never raises."""
        if self.host is None:
            return
        self.host = None
        try:
            self._module.close()
        except OSError:
            pass

    def send(self, frame):
        """Send `frame`; LinkDown when the connection is gone, CommTimeout when the module
        does not confirm in time."""
        if not self.connected:
            raise LinkDown("not connected")
        try:
            self._module.send(frame)
        except OSError as exc:
            if _timed_out(exc):
                raise CommTimeout("GPRS: %s" % exc)
            raise LinkDown("GPRS: %s" % exc)

    # The module keeps what the host sends in the bearer's receive buffer (the engine's,
    # lent with use_buffer), and each frame is read where it arrived: one buffer, not the
    # module's beside the frame layer's (1 KB of the terminal's heap: docs/board.md, "Heap").

    def use_buffer(self, buffer):
        super().use_buffer(buffer)
        self._module.use_buffer(buffer)

    def _buffer(self):
        if self._mv is None:
            self.use_buffer(bytearray(self._size))
        return super()._buffer()

    def _arrived(self, want, have, timeout_ms):
        module = self._module
        unread = len(module.unread())
        if unread > have:
            return unread  # what is there counts before a wait (and in a LinkDown's text)
        try:
            return module.buffered(want, timeout_ms)
        except OSError as exc:
            if _timed_out(exc):
                return have
            if not module.attached:
                raise LinkDown("GPRS: the network dropped the data connection")
            if not module.connected:
                raise LinkDown("GPRS: %s" % exc)
            raise CommError("GPRS: %s" % exc)  # more data than the buffer holds

    def _received(self):
        return self._module.unread()

    def _taken(self, count):
        self._module.take(count)
