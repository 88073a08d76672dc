"""A password's lock-out: wrong tries counted on flash, then a wait before the next try.

    lock = Lockout(store, "adminlock")          # PosManage: 3 tries, then 10 minutes
    if lock.remaining():                        # seconds still locked, 0 when a try is allowed
        ...                                     # say how long; do not ask for the password
    if params.check_password("admin", typed):
        lock.succeeded()                        # the count starts again
    else:
        left = lock.failed()                    # tries left; 0: locked from now on

The rules (docs/menus.md, "PosManage"):
- `tries` wrong passwords in a row lock the password for `lock_s` seconds; a right one
  before that starts the count again. When the lock has run out the count starts again too.
- The count and the moment the lock began are a record of the RecordStore, written before
  the screen says "wrong password": a power cycle does not give anyone more tries.
- The time is the board's clock (time.time()), not the terminal's local time: changing the
  clock in the menu does not move the lock. An ESP32 without a clock battery restarts its
  clock at power-on; a lock whose start lies in the future of the clock (the clock went
  back) is begun again from now, so cutting the power never shortens it: a lock lasts at
  least `lock_s` of the terminal's running time.

Record payload (layout 1): failures (1 byte), lock start in board seconds (4 bytes,
big-endian; 0 when not locked).
"""

import struct
import time

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

TRIES = const(3)  # wrong passwords before the lock
LOCK_S = const(600)  # seconds locked: 10 minutes
_LAYOUT = const(1)


class Lockout:
    """The lock-out of one password, kept as record `name` of `store` (an
    app.store.records.RecordStore). `clock` has time() (the time module; tests give their
    own)."""

    def __init__(self, store, name, *, tries=TRIES, lock_s=LOCK_S, clock=time):
        self._store = store
        self._name = name
        self.tries = tries
        self.lock_s = lock_s
        self._clock = clock

    def _read(self):
        record = self._store.load(self._name)
        if record is None or record[0] != _LAYOUT or len(record[1]) != 5:
            # Missing, or a layout this firmware does not know: no failures on record. A
            # damaged record raises StoreError in load(), never reads as "no failures".
            return 0, 0
        return struct.unpack(">BI", record[1])

    def _write(self, failures, start):
        self._store.save(self._name, struct.pack(">BI", failures, start), _LAYOUT)

    def remaining(self):
        """Seconds the password stays locked; 0 when a try is allowed."""
        failures, start = self._read()
        if failures < self.tries:
            return 0
        now = int(self._clock.time())
        if now < start:
            # The clock went back (a power cycle on a board without a clock battery): the
            # lock begins again rather than end early.
            self._write(failures, now)
            return self.lock_s
        left = start + self.lock_s - now
        if left > 0:
            return left
        self._write(0, 0)  # run out: the count starts again
        return 0

    def failures(self):
        """Wrong passwords on record since the last right one (or the last lock)."""
        return self._read()[0]

    def failed(self):
        """Count a wrong password; returns the tries left before the lock (0: locked now)."""
        failures = self._read()[0] + 1
        start = int(self._clock.time()) if failures >= self.tries else 0
        self._write(failures, start)
        return max(self.tries - failures, 0)

    def succeeded(self):
        """A right password: the count starts again (no flash write when it is 0)."""
        if self._read()[0]:
            self._store.delete(self._name)
