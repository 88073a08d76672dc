"""Emulated wiring of the display and the keypad, for the virtual terminal and the device tests.

The display and keypad drivers take SPI/I2C/Pin objects; here are objects with the same
methods whose far end is a host-side emulator (hostlib/emulators/display.py, keypad.py) at
the end of a byte stream (a board.unix_sim.SocketUART, or anything with write(), and for the
keypad any()/readinto()), or, for KeyMatrix, the test itself.

    link = SocketUART(host, port)               # to DisplayEmulator
    spi = EmulatedSPI(link)
    display = ST7567(spi, cs=spi.cs, dc=spi.dc, rst=spi.rst)
    display = SSD1306(EmulatedI2C(link))

    matrix = EmulatedKeyMatrix(SocketUART(host, port))   # from KeypadEmulator
    keypad = Keypad(matrix.drive, matrix.sense)

Wire format, one record per transfer or line change (lengths big-endian):

    device -> display emulator
      0x01 flags len(2) data     SPI write; flags bit 0 = the DC (A0) line, bit 1 = CS
      0x02 level                 the RST line changed
      0x03 addr len(2) data      an I2C write transaction to 7-bit address `addr`
    keypad emulator -> device
      0x04 mask(4)               the keys now down: bit d * 4 + s (drive line d, sense line s)

An SPI bus carries its chip-select, data/command and reset lines with it (EmulatedSPI.cs, .dc,
.rst), since on the emulated board they run to the same chip. The I2C side always
acknowledges (the emulator cannot answer in time); a missing display is an ESP32-only fault.
"""

import time

SPI_WRITE = 0x01
RESET_LINE = 0x02
I2C_WRITE = 0x03
KEYS = 0x04


class LinePin:
    """A Pin-like line: value() reads it, value(v) sets it (calling `on_change(level)` when
    it changes), on()/off(), init() accepted and ignored."""

    OUT = 1
    IN = 0
    OPEN_DRAIN = 7

    def __init__(self, value=0, on_change=None):
        self._value = value
        self._on_change = on_change

    def value(self, value=None):
        if value is None:
            return self._value
        value = 1 if value else 0
        if value != self._value:
            self._value = value
            if self._on_change is not None:
                self._on_change(value)
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def init(self, *args, **kwargs):
        pass


class EmulatedSPI:
    """A write-only SPI bus whose writes go to the display emulator as records, each tagged
    with the DC and CS levels at the time of the write."""

    def __init__(self, stream):
        self._stream = stream
        self._head = bytearray(4)
        self._line = bytearray(2)
        self.cs = LinePin(1)
        self.dc = LinePin(0)
        self.rst = LinePin(1, self._reset)

    def write(self, buf):
        head = self._head
        n = len(buf)
        head[0] = SPI_WRITE
        head[1] = (1 if self.dc.value() else 0) | (2 if self.cs.value() else 0)
        head[2] = n >> 8
        head[3] = n & 0xFF
        self._stream.write(head)
        self._stream.write(buf)

    def _reset(self, level):
        self._line[0] = RESET_LINE
        self._line[1] = level
        self._stream.write(self._line)


class EmulatedI2C:
    """An I2C bus (writes only) whose transactions go to the display emulator as records."""

    def __init__(self, stream):
        self._stream = stream
        self._head = bytearray(4)

    def _header(self, addr, n):
        head = self._head
        head[0] = I2C_WRITE
        head[1] = addr
        head[2] = n >> 8
        head[3] = n & 0xFF
        self._stream.write(head)

    def writeto(self, addr, buf, stop=True):
        """One write transaction; returns the bytes acknowledged (all of them)."""
        self._header(addr, len(buf))
        self._stream.write(buf)
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        """One write transaction of several buffers, as machine.I2C.writevto."""
        n = 0
        for buf in vector:
            n += len(buf)
        self._header(addr, n)
        for buf in vector:
            self._stream.write(buf)
        return n


class _DrivePin:
    def __init__(self, matrix, line):
        self._matrix = matrix
        self._bit = 1 << line

    def value(self, value=None):
        if value is None:
            return 0 if self._matrix.low & self._bit else 1
        if value:
            self._matrix.low &= ~self._bit
        else:
            self._matrix.low |= self._bit
        return None

    def init(self, *args, **kwargs):
        pass


class _SensePin:
    def __init__(self, matrix, line):
        self._matrix = matrix
        self._line = line

    def value(self, value=None):
        return self._matrix.sense_level(self._line)

    def init(self, *args, **kwargs):
        pass


class KeyMatrix:
    """A key matrix at the Pin level, as the Keypad driver sees the real one: `drive` (open-
    drain outputs) and `sense` (inputs with pull-ups) pin lists, 5 and 4 as on the reference
    keypad. `pressed` is the set of keys down (bit d * len(sense) + s); subclasses may
    compute it in down().

    A sense line reads low when a pressed key joins it to a drive line pulled low, directly
    or through other pressed keys: like the real matrix (no diodes), three keys at the
    corners of a rectangle make the fourth corner read down too.
    """

    def __init__(self, drive=5, sense=4):
        self.drive = [_DrivePin(self, d) for d in range(drive)]
        self.sense = [_SensePin(self, s) for s in range(sense)]
        self._width = sense
        self.low = 0  # bit d: drive line d pulled low
        self.pressed = 0

    def press(self, index):
        self.pressed |= 1 << index

    def release(self, index):
        self.pressed &= ~(1 << index)

    def down(self):
        """The keys down now."""
        return self.pressed

    def sense_level(self, line):
        keys = self.down()
        if not keys or not self.low:
            return 1
        width = self._width
        drives = self.low
        senses = 0
        changed = True
        while changed:  # spread "low" through pressed keys until nothing changes
            changed = False
            bit = 1
            index = 0
            while bit <= keys:
                if keys & bit:
                    drive_bit = 1 << (index // width)
                    sense_bit = 1 << (index % width)
                    if drives & drive_bit and not senses & sense_bit:
                        senses |= sense_bit
                        changed = True
                    elif senses & sense_bit and not drives & drive_bit:
                        drives |= drive_bit
                        changed = True
                bit <<= 1
                index += 1
        return 0 if senses & (1 << line) else 1


class EmulatedKeyMatrix(KeyMatrix):
    """A KeyMatrix whose keys are pressed by the keypad emulator: `stream` delivers KEYS
    records (read at most once a millisecond, when the driver reads a sense line)."""

    def __init__(self, stream, drive=5, sense=4):
        super().__init__(drive, sense)
        self._stream = stream
        self._record = bytearray(5)
        self._view = memoryview(self._record)
        self._have = 0
        self._checked = 0

    def down(self):
        now = time.ticks_ms()
        if now != self._checked:
            self._checked = now
            self._pull()
        return self.pressed

    def _pull(self):
        while True:
            n = self._stream.readinto(self._view[self._have :])
            if not n:
                return
            self._have += n
            if self._have == 5:
                self._have = 0
                record = self._record
                if record[0] == KEYS:
                    self.pressed = (
                        (record[1] << 24) | (record[2] << 16) | (record[3] << 8) | record[4]
                    )
