"""ST7567 128x64 COG LCD over SPI (the reference terminal's display, JLX12864-class modules).

    display = ST7567(spi, cs=cs_pin, dc=dc_pin, rst=rst_pin)     # resets and initialises
    display.text(0, "消费")
    display.show()

The board owns the bus: SPI mode 0 (or 3), MSB first, up to 20 MHz (the ST7567 takes a
50 ns clock cycle; 10 MHz is safe on a flex cable). `cs` (chip select, active low), `dc` (the
datasheet's A0: 0 = command, 1 = display data) and `rst` (active low; None when the module's
reset is tied to an RC) are Pin-like outputs: `value(v)`. The bus is write-only (serial mode
cannot read the chip back), so nothing here can notice a missing display.

Init (datasheet flow, JLX12864G vendor values): soft reset E2 (also when RST is wired: the
same state either way), bias A2 (1/9, or A3 1/7), segment direction A0, COM direction C8,
start line 40, then the power circuits one at a time with a settling wait each (2C booster,
2E regulator, 2F follower), regulation ratio 20+ratio, electronic volume 81 nn (contrast
0-63), A6 normal (not inverse), A4 pixels follow the RAM, the RAM cleared, AF display on.
Quirks: the chip has 132 columns of RAM for 128 on the glass; with the segment direction
reversed (A1, `rotate=True`, the module mounted upside down, with C0) the glass shows RAM
columns 4-131, hence the column offset of 4. Modules differ in the ratio/contrast that gives
a readable picture (vendor: ratio 3, volume 0x28): tune them on the module, not here.
"""

import time

from drivers.lcd import WIDTH, Display

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_PAGES = const(8)
_RESET_MS = const(1)  # RST low (datasheet: at least 5 us)
_RESET_WAIT_MS = const(5)  # after reset, before the first command
_POWER_WAIT_MS = const(10)  # after each power-control step (vendor code: 5 ms)
_SOFT_RESET = const(0xE2)
_DISPLAY_ON = const(0xAF)
_DISPLAY_OFF = const(0xAE)
_VOLUME = const(0x81)
_PAGE = const(0xB0)
_COLUMN_HIGH = const(0x10)


class ST7567(Display):
    """The ST7567 driver: see the module docstring for the bus and the init sequence.

    Options (keyword-only): `rst` pin or None; `contrast` 0-63 (electronic volume);
    `ratio` 0-7 (regulation resistor ratio); `bias` 9 (1/9) or 7 (1/7); `rotate` for a module
    mounted upside down; `font` (see drivers.lcd.Display).
    """

    CONTRAST_MAX = 63

    def __init__(
        self, spi, *, cs, dc, rst=None, contrast=0x28, ratio=3, bias=9, rotate=False, font=None
    ):
        if bias not in (7, 9) or not 0 <= ratio <= 7 or not 0 <= contrast <= 63:
            raise ValueError("bias must be 7 or 9, ratio 0-7, contrast 0-63")
        super().__init__(font=font)
        self._spi = spi
        self._cs = cs
        self._dc = dc
        self._rst = rst
        self._offset = 4 if rotate else 0
        # Command bytes and the eight page views are made once: show() allocates nothing.
        self._cmd = bytearray(3)
        self._one = memoryview(self._cmd)[:1]
        self._two = memoryview(self._cmd)[:2]
        view = memoryview(self.buffer)
        self._pages = tuple(view[p * WIDTH : (p + 1) * WIDTH] for p in range(_PAGES))
        self._setup = bytes(
            (
                0xA2 if bias == 9 else 0xA3,
                0xA1 if rotate else 0xA0,  # segment (column) direction
                0xC0 if rotate else 0xC8,  # COM (row) direction
                0x40,  # display start line 0
            )
        )
        self._levels = bytes((0x20 | ratio, _VOLUME, contrast, 0xA6, 0xA4))
        cs.value(1)
        self.init()

    def init(self):
        """Reset and initialise the chip, clear its RAM and switch the display on."""
        if self._rst is not None:
            self._rst.value(0)
            time.sleep_ms(_RESET_MS)
            self._rst.value(1)
        time.sleep_ms(_RESET_WAIT_MS)
        self._command1(_SOFT_RESET)
        time.sleep_ms(_RESET_WAIT_MS)
        self._command(self._setup)
        # Booster, then regulator, then follower: each needs the previous one's voltage.
        for step in (0x2C, 0x2E, 0x2F):
            self._command1(step)
            time.sleep_ms(_POWER_WAIT_MS)
        self._command(self._levels)
        self.clear()
        self.show()
        self._command1(_DISPLAY_ON)

    def show(self):
        """Write the frame buffer: 8 pages of 128 column bytes, each after its address."""
        cmd = self._cmd
        cmd[1] = _COLUMN_HIGH | (self._offset >> 4)
        cmd[2] = self._offset & 0x0F
        spi = self._spi
        dc = self._dc
        for page in range(_PAGES):
            cmd[0] = _PAGE | page
            self._cs.value(0)
            dc.value(0)
            spi.write(cmd)
            dc.value(1)
            spi.write(self._pages[page])
            self._cs.value(1)

    def contrast(self, value):
        """Electronic volume 0-63 (higher is darker)."""
        if not 0 <= value <= 63:
            raise ValueError("contrast must be 0-63")
        self._cmd[0] = _VOLUME
        self._cmd[1] = value
        self._command(self._two)

    def power(self, on):
        """Display on or off (off: blank glass, RAM and settings kept)."""
        self._command1(_DISPLAY_ON if on else _DISPLAY_OFF)

    def invert(self, on):
        """The whole glass light-on-dark (A7) or normal (A6)."""
        self._command1(0xA7 if on else 0xA6)

    def _command1(self, byte):
        self._cmd[0] = byte
        self._command(self._one)

    def _command(self, data):
        self._cs.value(0)
        self._dc.value(0)
        self._spi.write(data)
        self._cs.value(1)
