"""The terminal's clock: local time as the acquirer host last set it (spec §3.3: the terminal
sets its clock from fields 12/13 of the sign-on response).

The clock is the board's time plus an offset in seconds. `set` computes the offset from the
host's MMDD and hhmmss (the year is the board's, or the one next to it across New Year) and
keeps it in the record store ("clock", 4 bytes), so it survives a restart. An offset rather
than setting the time: MicroPython's unix port (the virtual terminal) cannot set the system
clock, and on the ESP32 `machine.RTC` keeps running from the same base, so one mechanism
serves both; the ESP32 board may still write the RTC at boot from `now()`.
"""

import struct
import time

_RECORD = "clock"
_SLACK = 2  # seconds: a smaller change is not worth a flash write


class Clock:
    """Local time: `now()` -> (year, month, day, hour, minute, second)."""

    def __init__(self, store=None):
        self._store = store
        self.offset = 0
        if store is not None:
            record = store.load(_RECORD)
            if record is not None and len(record[1]) == 4:
                self.offset = struct.unpack(">i", record[1])[0]

    def time(self):
        """Seconds since the board's epoch, corrected."""
        return int(time.time()) + self.offset

    def now(self):
        return tuple(time.localtime(self.time())[:6])

    def set(self, mmdd, hhmmss):
        """Set the clock from a host's date MMDD and time hhmmss (digit strings). Returns the
        change in seconds. ValueError if they are not a date and a time."""
        month, day = int(mmdd[:2]), int(mmdd[2:4])
        hour, minute, second = int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:6])
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60):
            raise ValueError("host date/time %s %s is not valid" % (mmdd, hhmmss))
        now = time.localtime(self.time())
        year = now[0]
        # Across New Year the host's date can be in the next or the previous year.
        if month == 1 and now[1] == 12:
            year += 1
        elif month == 12 and now[1] == 1:
            year -= 1
        target = time.mktime((year, month, day, hour, minute, second, 0, 0, -1))
        return self._move(int(target) - self.time())

    def set_local(self, year, month, day, hour, minute, second):
        """Set the clock to a whole local date and time (the installer's, in PosManage).
        Returns the change in seconds. ValueError if it is no such date or time (30 Feb), or
        the year is outside 2000-2099."""
        wanted = (year, month, day, hour, minute, second)
        if not 2000 <= year <= 2099:
            raise ValueError("year %d is outside 2000-2099" % year)
        target = int(time.mktime(wanted + (0, 0, -1)))
        if tuple(time.localtime(target)[:6]) != wanted:  # mktime rolls 30 Feb on to March
            raise ValueError("%04d-%02d-%02d %02d:%02d:%02d is not a date and time" % wanted)
        return self._move(target - self.time())

    def _move(self, change):
        if -_SLACK <= change <= _SLACK:
            return change
        self.offset += change
        if self._store is not None:
            self._store.save(_RECORD, struct.pack(">i", self.offset))
        return change
