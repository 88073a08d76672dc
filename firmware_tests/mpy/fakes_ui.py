# Test doubles for the keypad and display drivers (MicroPython): a virtual clock, a key matrix
# that plays a timeline of key states, a record-keeping byte stream, and an I2C bus.
from board.simbus import I2C_WRITE, RESET_LINE, SPI_WRITE, KeyMatrix
from drivers.keypad import KEYMAP


class FakeClock:
    """ticks_ms()/sleep_ms() in virtual time: sleeping advances it at once, so a 60-second
    timeout takes no time and every scan happens at a known instant."""

    def __init__(self):
        self.now = 0

    def ticks_ms(self):
        return self.now

    def sleep_ms(self, ms):
        self.now += ms


class ScriptedMatrix(KeyMatrix):
    """A key matrix whose keys follow `timeline`: [(t_ms, mask), ...] ascending, each mask
    (bit = KEYMAP position) holding from its time on, read on `clock`."""

    def __init__(self, clock, timeline=((0, 0),)):
        super().__init__(5, 4)
        self.clock = clock
        self.timeline = list(timeline)
        self._i = 0

    def down(self):
        now = self.clock.now
        timeline = self.timeline
        i = self._i
        while i + 1 < len(timeline) and timeline[i + 1][0] <= now:
            i += 1
        self._i = i
        return timeline[i][1] if timeline[i][0] <= now else 0


def bit(code):
    """The matrix bit of the key whose code is `code` (an int or a 1-char str)."""
    if isinstance(code, str):
        code = ord(code)
    for i in range(len(KEYMAP)):
        if KEYMAP[i] == code:
            return 1 << i
    raise ValueError("no key %r" % code)


class Keys:
    """Builds a timeline for ScriptedMatrix, starting at `start` ms:

    Keys().tap("1").tap("2", hold=15).wait(500).hold("5").release("5").timeline
    """

    def __init__(self, start=0, press_ms=80, gap_ms=80):
        self.now = start
        self.mask = 0
        self.press_ms = press_ms
        self.gap_ms = gap_ms
        self.timeline = [(0, 0)]

    def _at(self, mask):
        self.mask = mask
        if self.timeline[-1][0] == self.now:
            self.timeline[-1] = (self.now, mask)
        else:
            self.timeline.append((self.now, mask))

    def tap(self, code, hold=None):
        b = bit(code)
        self._at(self.mask | b)
        self.now += self.press_ms if hold is None else hold
        self._at(self.mask & ~b)
        self.now += self.gap_ms
        return self

    def type(self, text):
        """A tap per character of `text` ('0'-'9', '.', '#')."""
        for char in text:
            self.tap(char)
        return self

    def hold(self, *codes):
        mask = self.mask
        for code in codes:
            mask |= bit(code)
        self._at(mask)
        return self

    def release(self, *codes):
        mask = self.mask
        for code in codes:
            mask &= ~bit(code)
        self._at(mask)
        return self

    def chatter(self, code, pattern):
        """Contact bounce: `pattern` alternates closed/open durations (ms), closed first."""
        b = bit(code)
        closed = True
        for ms in pattern:
            self._at(self.mask | b if closed else self.mask & ~b)
            self.now += ms
            closed = not closed
        return self

    def wait(self, ms):
        self.now += ms
        return self


class Recorder:
    """A byte stream that keeps everything written to it (the far end of board.simbus)."""

    def __init__(self):
        self.data = bytearray()

    def write(self, buf):
        self.data.extend(buf)
        return len(buf)

    def records(self):
        """The simbus records written: [(kind, tag, payload bytes)]; tag = SPI flags, I2C
        address, or the RST level (payload b"")."""
        out = []
        data = self.data
        i = 0
        while i < len(data):
            kind = data[i]
            if kind == RESET_LINE:
                out.append((kind, data[i + 1], b""))
                i += 2
            elif kind in (SPI_WRITE, I2C_WRITE):
                n = (data[i + 2] << 8) | data[i + 3]
                out.append((kind, data[i + 1], bytes(data[i + 4 : i + 4 + n])))
                i += 4 + n
            else:
                raise ValueError("bad record 0x%02x" % kind)
        return out

    def clear(self):
        self.data = bytearray()


class FakeI2C:
    """An I2C bus recording each write transaction as (addr, bytes). `present` is the set of
    addresses that acknowledge; others raise OSError(ENODEV), as the ESP32's I2C does."""

    def __init__(self, present=(0x3C,)):
        self.present = present
        self.writes = []

    def writeto(self, addr, buf, stop=True):
        if addr not in self.present:
            raise OSError(19)  # ENODEV
        self.writes.append((addr, bytes(buf)))
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        if addr not in self.present:
            raise OSError(19)
        data = bytearray()
        for buf in vector:
            data.extend(buf)
        self.writes.append((addr, bytes(data)))
        return len(data)
