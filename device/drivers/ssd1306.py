"""SSD1306 128x64 OLED over I2C (the reference terminal's alternative display).

    display = SSD1306(i2c)          # address 0x3C; initialises, clears, switches on
    display.text(0, "Sale")
    display.show()

The board owns the bus (400 kHz; a machine.I2C built with a `timeout`, which bounds every
transfer). Each transfer is one I2C write: a control byte, then bytes. 0x00 = a stream of
commands, 0x40 = a stream of display data. show() sets the column window 0-127 and the page
window 0-7 (horizontal addressing mode, so the RAM pointer wraps page after page) and sends
the 1,024-byte frame buffer in one write with `writevto` (no copy of the buffer).

Init: the sequence of micropython-lib's ssd1306 driver, the common reference: display off,
horizontal addressing, start line 0, segment remap (A1: column 127 = SEG0), multiplex 64,
COM scan reversed (C8), display offset 0, COM pins alternative (DA 12: a 128x64 panel),
clock divide 80, pre-charge F1 (internal VCC; 22 external), VCOMH 30, contrast, A4 pixels
follow the RAM, A6 normal, charge pump on (8D 14; 10 external VCC); then the RAM cleared and
display on. micropython-lib's AD 30 (internal IREF) is left out: the SSD1306 datasheet has no
such command (it is the SSD1306B's / SH1106's).
Quirks: many "SSD1306" 1.3-inch modules are SH1106 (132 columns, no horizontal addressing):
on those the picture is shifted by 2 columns and wraps wrongly; they need their own driver.
Modules strapped to the other address answer at 0x3D.
"""

from drivers.lcd import Display, DisplayError

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

ADDRESS = const(0x3C)
_COMMANDS = const(0x00)  # control byte: command stream
_WINDOW = b"\x00\x21\x00\x7f\x22\x00\x07"  # columns 0-127, pages 0-7
_DATA = b"\x40"


class SSD1306(Display):
    """The SSD1306 driver: see the module docstring for the bus and the init sequence.

    Options (keyword-only): `addr` (0x3C or 0x3D), `contrast` 0-255, `external_vcc` for a
    panel with its own VCC supply, `rotate` for a module mounted upside down, `font`.
    """

    CONTRAST_MAX = 255

    def __init__(
        self, i2c, *, addr=ADDRESS, contrast=0xFF, external_vcc=False, rotate=False, font=None
    ):
        if not 0 <= contrast <= 255:
            raise ValueError("contrast must be 0-255")
        super().__init__(font=font)
        self._i2c = i2c
        self._addr = addr
        self._cmd = bytearray(3)
        self._cmd[0] = _COMMANDS
        self._two = memoryview(self._cmd)[:2]
        self._frame = (_DATA, self.buffer)  # writevto's vector, made once
        self._init = bytes(
            (
                _COMMANDS,
                0xAE,  # display off
                0x20,  # memory addressing mode:
                0x00,  #   horizontal
                0x40,  # start line 0
                0xA0 if rotate else 0xA1,  # segment remap
                0xA8,  # multiplex ratio:
                0x3F,  #   64 rows
                0xC0 if rotate else 0xC8,  # COM scan direction
                0xD3,  # display offset:
                0x00,  #   none
                0xDA,  # COM pins:
                0x12,  #   alternative, no left/right remap (128x64 panels)
                0xD5,  # clock divide / oscillator:
                0x80,  #   reset value
                0xD9,  # pre-charge period:
                0x22 if external_vcc else 0xF1,
                0xDB,  # VCOMH deselect level:
                0x30,  #   0.83 x VCC
                0x81,  # contrast:
                contrast,
                0xA4,  # pixels follow the RAM
                0xA6,  # normal, not inverse
                0x8D,  # charge pump:
                0x10 if external_vcc else 0x14,
            )
        )
        self.init()

    def init(self):
        """Initialise the controller, clear its RAM and switch the display on."""
        self._write(self._init)
        self.clear()
        self.show()
        self._command1(0xAF)

    def show(self):
        """Write the frame buffer (the column and page windows, then 1,024 data bytes)."""
        self._write(_WINDOW)
        try:
            acks = self._i2c.writevto(self._addr, self._frame)
        except OSError as exc:
            raise self._missing(exc)
        if acks is not None and acks < 1 + len(self.buffer):
            raise DisplayError("SSD1306 at 0x%02X refused display data" % self._addr)

    def contrast(self, value):
        """Contrast 0-255 (OLED brightness)."""
        if not 0 <= value <= 255:
            raise ValueError("contrast must be 0-255")
        self._cmd[1] = 0x81
        self._cmd[2] = value
        self._write(self._cmd)

    def power(self, on):
        """Display on or off (off: the panel is dark, RAM and settings kept)."""
        self._command1(0xAF if on else 0xAE)

    def invert(self, on):
        """The whole panel dark-on-light (A7) or normal (A6)."""
        self._command1(0xA7 if on else 0xA6)

    def _command1(self, byte):
        self._cmd[1] = byte
        self._write(self._two)

    def _write(self, data):
        try:
            acks = self._i2c.writeto(self._addr, data)
        except OSError as exc:
            raise self._missing(exc)
        # machine.I2C returns the number of bytes acknowledged (None from some ports).
        if acks is not None and acks < len(data):
            raise DisplayError("SSD1306 at 0x%02X refused a command" % self._addr)

    def _missing(self, exc):
        return DisplayError("no SSD1306 answers at 0x%02X (%s)" % (self._addr, exc))
