"""The terminal's 128x64 display at the byte level: an ST7567 LCD (SPI) or an SSD1306 OLED
(I2C) fed the bytes the real driver sends, turned into the picture on the glass.

    display = DisplayEmulator("st7567").start()      # or "ssd1306" (address 0x3C)
    ... device: EmulatedSPI(SocketUART("127.0.0.1", display.port)) (board/simbus.py) ...
    print(display.picture().text())                  # 64 lines of '#' (pixel on) and '.'
    display.picture().read_text()                    # ['请刷卡', '', 'RMB 0.01', '']
    display.picture().inverse_lines()                # [2]: the selected menu line
    display.picture().save_png("screen.png", scale=4)

The chip models (ST7567, SSD1306) can also be fed directly: `command(byte)`, `data(bytes)`,
`transfer(bytes)` for an I2C write. They follow the datasheets' command sets, addressing
and reset states, so a driver that gets a command wrong shows it: a wrong segment or COM
direction mirrors the picture, a missing power-up or charge-pump command leaves the glass
blank, RAM that is never cleared shows the power-up noise. `warnings` lists settings a real
128x64 module would show as garbage (COM pin layout, multiplex ratio, unknown commands).

Which way up: the models are modules mounted as their vendors' sample code expects. For the
ST7567 (JLX12864-class COG): segment direction A0 with COM direction C8 is upright, RAM
column x on glass column x; A1 with C0 turns the picture by 180 degrees and, as the glass
shows SEG0-127, the picture's columns are then RAM 4-131. For the SSD1306: A1 with C8 is
upright (micropython-lib's ssd1306 driver).

Reading text back (Picture.read_line/read_text): the device's text layer (drivers/lcd.py)
draws 4 lines of 16 pixels from fonts/font16.py, and the picture is read by matching those
same glyphs (hostlib/glyphs.py) at every pixel offset, so what the glass shows can be waited
for as text, whatever the alignment. It is exact for text the driver drew in full; a box (a
character the font lacks), other ink and text cut off at the edge read as '?'.

Wire format from the device (board/simbus.py): records `01 flags len(2) data` (SPI write;
flags bit 0 = DC, bit 1 = CS; written while CS is high are ignored, as the chip does),
`02 level` (RST line), `03 addr len(2) data` (an I2C write transaction).
PNG: hostlib/png.py (zlib and struct, no imaging library), RGB, optionally scaled up.
"""

from __future__ import annotations

import functools
from pathlib import Path

from hostlib import glyphs, png
from hostlib.emulators.base import Emulator

WIDTH = 128
HEIGHT = 64
LINE_HEIGHT = 16  # the device's text lines (drivers/lcd.py)
SPI_WRITE = 0x01
RESET_LINE = 0x02
I2C_WRITE = 0x03
# Glass colours: an STN LCD's dark pixels on its grey-green, an OLED's lit pixels on black.
LCD_COLOURS = ((0x1E, 0x28, 0x1E), (0xB4, 0xC8, 0xA0))
OLED_COLOURS = ((0xE6, 0xF0, 0xFF), (0x00, 0x00, 0x00))


@functools.cache
def _glyph_table() -> dict[tuple[int, tuple[int, ...]], str]:
    # (width, rows) -> character for every glyph of the display font with ink (the space is
    # left out: blank columns are read as gaps), and the box drivers/lcd.py draws in a
    # narrow or wide cell for a character the font lacks, which reads as '?'.
    table = {}
    for width in (8, 16):
        side = ((1 << (width - 2)) - 1) << 1  # columns 1 to width-2
        edges = (1 << (width - 2)) | 2  # columns 1 and width-2
        rows = (0, 0, side) + (edges,) * 10 + (side, 0, 0)
        table[(width, rows)] = "?"
    for char, (width, rows) in glyphs.font16().items():
        if any(rows):
            table[(width, rows)] = char
    return table


def _read(values: list[int], width: int) -> str:
    # The reading that leaves the fewest columns of ink unexplained by glyphs (then the one
    # with the fewest characters), found by dynamic programming from the right edge. A glyph
    # matches only exactly, all 16 rows and its blank columns included. No glyph of font16 is
    # another shifted sideways, but a window can hold one glyph and cut through the next ('"'
    # holds "'" and half a tick): a greedy left-to-right match would read that as "'?", the
    # fewest-unexplained reading reads '"'. test_display_emulator reads the whole font back.
    table = _glyph_table()
    ink = 0
    for value in values:
        ink |= value
    lit = [(ink >> (width - 1 - x)) & 1 for x in range(width)]
    # best[x]: (unexplained ink columns, characters, step) for columns x..width-1; a step is
    # a character and its width, or None for one column with no glyph.
    best: list[tuple[int, int, tuple[str, int] | None]] = [(0, 0, None)] * (width + 1)
    for x in range(width - 1, -1, -1):
        after = best[x + 1]
        best[x] = (after[0] + lit[x], after[1], None)
        for size in (16, 8):
            if x + size > width:
                continue
            shift = width - x - size
            mask = (1 << size) - 1
            char = table.get((size, tuple((value >> shift) & mask for value in values)))
            if char is not None:
                after = best[x + size]
                option = (after[0], after[1] + 1, (char, size))
                if option[:2] < best[x][:2]:
                    best[x] = option
    out: list[str] = []
    gap = False
    x = 0
    while x < width:
        step = best[x][2]
        if step is None and not lit[x]:
            gap = True
            x += 1
            continue
        if gap and out:
            out.append(" ")
        gap = False
        if step is not None:
            out.append(step[0])
            x += step[1]
            continue
        # Ink no glyph accounts for: one '?' for each run of it.
        out.append("?")
        while x < width and best[x][2] is None and lit[x]:
            x += 1
    return "".join(out)


def _noise(size: int, seed: int) -> bytearray:
    # Display RAM is not cleared at power-up: a fixed pseudo-random pattern stands for what
    # the chip wakes up with, so a driver that forgets to clear it shows it.
    out = bytearray(size)
    state = seed
    for i in range(size):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (state >> 16) & 0xFF
    return out


class Picture:
    """What the glass shows: HEIGHT rows of WIDTH pixels, 1 = on (a dark LCD dot, a lit OLED
    one)."""

    def __init__(self, rows: list[list[int]], colours=LCD_COLOURS) -> None:
        self.rows = rows
        self.colours = colours

    @classmethod
    def blank(cls, colours=LCD_COLOURS) -> Picture:
        return cls([[0] * WIDTH for _ in range(HEIGHT)], colours)

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else 0

    @property
    def height(self) -> int:
        return len(self.rows)

    def pixel(self, x: int, y: int) -> int:
        return self.rows[y][x]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Picture) and self.rows == other.rows

    def crop(self, x: int, y: int, width: int, height: int) -> Picture:
        """The rectangle at (x, y), `width` x `height`."""
        return Picture([row[x : x + width] for row in self.rows[y : y + height]], self.colours)

    def line(self, n: int) -> Picture:
        """Text line n (0-3): rows 16n to 16n+15."""
        return self.crop(0, 16 * n, WIDTH, 16)

    def text(self, on: str = "#", off: str = ".") -> str:
        """One text line per pixel row."""
        return "\n".join("".join(on if p else off for p in row) for row in self.rows)

    def blocks(self) -> str:
        """Half the height: each character two pixel rows (' ', '▀', '▄', '█'), for a
        terminal."""
        chars = " ▀▄█"
        out = []
        for y in range(0, self.height, 2):
            top = self.rows[y]
            bottom = self.rows[y + 1] if y + 1 < self.height else [0] * self.width
            out.append("".join(chars[t | (b << 1)] for t, b in zip(top, bottom)))
        return "\n".join(out)

    def lit(self) -> int:
        """Pixels on."""
        return sum(map(sum, self.rows))

    # --- reading the text back -----------------------------------------------------------

    def read_line(self, n: int) -> str:
        """The text shown on text line n (rows 16n to 16n+15), read back by matching the
        terminal's own glyphs (device/fonts/font16.py) wherever they sit, so left, centred
        and right-aligned text all read. A selected (inverse) line is read as its text. Ink
        no glyph matches, such as the driver's box for a character the font lacks or text
        cut off at the edge, reads as '?'; blank runs between text read as one space."""
        if not 0 <= n < self.height // LINE_HEIGHT:
            raise ValueError("no text line %d on a %d-row picture" % (n, self.height))
        values = self._line_values(n)
        if self._inverted(values):
            full = (1 << self.width) - 1
            values = [value ^ full for value in values]
        return _read(values, self.width)

    def read_text(self) -> list[str]:
        """read_line() of every text line, top to bottom."""
        return [self.read_line(n) for n in range(self.height // LINE_HEIGHT)]

    def inverse_lines(self) -> list[int]:
        """The text lines shown light on dark (a menu's selected line)."""
        return [
            n for n in range(self.height // LINE_HEIGHT) if self._inverted(self._line_values(n))
        ]

    def _line_values(self, n: int) -> list[int]:
        # Each pixel row of the line as an int, the leftmost pixel the top bit (as glyphs.py
        # holds glyph rows), so a glyph-wide window is a shift and a mask.
        rows = self.rows[LINE_HEIGHT * n : LINE_HEIGHT * (n + 1)]
        return [int("".join("1" if p else "0" for p in row), 2) for row in rows]

    def _inverted(self, values: list[int]) -> bool:
        # The driver fills an inverse line before drawing glyphs XORed into it, and glyphs
        # are mostly blank: more than half the line lit is the fill, not ink.
        lit = sum(value.bit_count() for value in values)
        return lit * 2 > self.width * LINE_HEIGHT

    def png(self, scale: int = 1) -> bytes:
        """The picture as a PNG (RGB, 8 bits, in the glass's colours), each pixel `scale` x
        `scale`."""
        return png.encode(self.rows, scale=scale, colours=self.colours)

    def save_png(self, path, scale: int = 4) -> Path:
        return png.write(path, self.rows, scale=scale, colours=self.colours)


class ST7567:
    """The ST7567 controller of a 128x64 COG module: 65x132 RAM (page 8 is the icon row),
    page addressing, the command set of its datasheet."""

    colours = LCD_COLOURS

    def __init__(self) -> None:
        self.ram = [_noise(132, seed) for seed in range(9)]
        self.warnings: list[str] = []
        self.commands = bytearray()  # every command byte received, in order
        self.reset()

    def reset(self) -> None:
        """Hardware reset (RST low) or E2: registers to their reset values, RAM kept."""
        self.display_on = False
        self.segment_reverse = False  # A0/A1
        self.com_reverse = False  # C0/C8
        self.start_line = 0
        self.page = 0
        self.column = 0
        self.inverse = False
        self.all_on = False
        self.bias = 9
        self.power = 0  # bits: 4 booster, 2 regulator, 1 follower
        self.ratio = 4
        self.volume = 0x20
        self._argument: str | None = None

    def command(self, byte: int) -> None:
        self.commands.append(byte)
        if self._argument is not None:
            if self._argument == "volume":
                self.volume = byte & 0x3F
            self._argument = None
            return
        if byte <= 0x0F:
            self.column = (self.column & 0xF0) | byte
        elif byte <= 0x1F:
            self.column = ((byte & 0x0F) << 4) | (self.column & 0x0F)
        elif byte <= 0x27:
            self.ratio = byte & 0x07
        elif byte <= 0x2F:
            self.power = byte & 0x07
        elif 0x40 <= byte <= 0x7F:
            self.start_line = byte & 0x3F
        elif byte == 0x81:
            self._argument = "volume"
        elif byte in (0xA0, 0xA1):
            self.segment_reverse = byte == 0xA1
        elif byte in (0xA2, 0xA3):
            self.bias = 9 if byte == 0xA2 else 7
        elif byte in (0xA4, 0xA5):
            self.all_on = byte == 0xA5
        elif byte in (0xA6, 0xA7):
            self.inverse = byte == 0xA7
        elif byte in (0xAE, 0xAF):
            self.display_on = byte == 0xAF
        elif 0xB0 <= byte <= 0xB8:
            self.page = byte & 0x0F
        elif 0xC0 <= byte <= 0xCF:
            self.com_reverse = bool(byte & 0x08)
        elif byte == 0xE2:
            self.reset()
        elif byte == 0xF8:
            self._argument = "booster"
        elif byte in (0xE0, 0xEE, 0xE3):
            pass  # read-modify-write (no reads on a serial bus), NOP
        else:
            self.warnings.append("unknown ST7567 command 0x%02X" % byte)

    def data(self, data: bytes) -> None:
        for byte in data:
            if self.page < 9 and self.column < 132:
                self.ram[self.page][self.column] = byte
            self.column = min(self.column + 1, 132)  # the counter stops past column 131

    def visible(self) -> bool:
        return self.display_on and self.power == 7

    def picture(self) -> Picture:
        picture = Picture.blank(self.colours)
        if not self.visible():
            return picture
        for y in range(HEIGHT):
            com = 63 - y  # the glass's top row is COM63
            line = y if self.com_reverse else com  # display line driving this COM
            ram_row = (self.start_line + line) % 64
            page, bit = divmod(ram_row, 8)
            row = picture.rows[y]
            for x in range(WIDTH):
                column = 131 - x if self.segment_reverse else x
                on = (self.ram[page][column] >> bit) & 1
                if self.all_on:
                    on = 1
                row[x] = on ^ self.inverse
        return picture


class SSD1306:
    """The SSD1306 controller of a 128x64 OLED: 8 pages of 128 columns, page / horizontal /
    vertical addressing, the command set of its datasheet, I2C control bytes."""

    colours = OLED_COLOURS
    # Commands followed by argument bytes, and how many.
    _ARGUMENTS = {
        0x20: 1,
        0x21: 2,
        0x22: 2,
        0x26: 6,
        0x27: 6,
        0x29: 5,
        0x2A: 5,
        0x81: 1,
        0x8D: 1,
        0xA3: 2,
        0xA8: 1,
        0xAD: 1,
        0xD3: 1,
        0xD5: 1,
        0xD9: 1,
        0xDA: 1,
        0xDB: 1,
    }

    def __init__(self, address: int = 0x3C) -> None:
        self.address = address
        self.ram = [_noise(128, seed + 100) for seed in range(8)]
        self.warnings: list[str] = []
        self.commands = bytearray()
        self.ignored = 0  # transactions to another address (the real chip would not ACK)
        self.reset()

    def reset(self) -> None:
        self.display_on = False
        self.mode = 2  # page addressing
        self.column_start, self.column_end = 0, 127
        self.page_start, self.page_end = 0, 7
        self.page = 0
        self.column = 0
        self.start_line = 0
        self.offset = 0
        self.segment_remap = False
        self.com_reverse = False
        self.multiplex = 63
        self.com_pins = 0x12
        self.contrast = 0x7F
        self.inverse = False
        self.all_on = False
        self.charge_pump = False
        self._pending: list[int] = []
        self._need = 0

    def transfer(self, data: bytes) -> None:
        """One I2C write transaction addressed to this chip: control byte(s) and bytes."""
        i = 0
        while i < len(data):
            control = data[i]
            i += 1
            is_data = bool(control & 0x40)
            if control & 0x80:  # Co = 1: one byte, then another control byte
                if i < len(data):
                    (self.data if is_data else self._commands)(data[i : i + 1])
                i += 1
            else:  # Co = 0: everything after is of one kind
                (self.data if is_data else self._commands)(data[i:])
                return

    def _commands(self, data: bytes) -> None:
        for byte in data:
            self.command(byte)

    def command(self, byte: int) -> None:
        self.commands.append(byte)
        if self._need:
            self._pending.append(byte)
            self._need -= 1
            if not self._need:
                self._apply(self._pending[0], self._pending[1:])
            return
        if byte in self._ARGUMENTS:
            self._pending = [byte]
            self._need = self._ARGUMENTS[byte]
            return
        self._apply(byte, [])

    def _apply(self, byte: int, args: list[int]) -> None:
        if byte == 0x20:
            self.mode = args[0] & 0x03
        elif byte == 0x21:
            self.column_start, self.column_end = args[0] & 0x7F, args[1] & 0x7F
            self.column = self.column_start
        elif byte == 0x22:
            self.page_start, self.page_end = args[0] & 0x07, args[1] & 0x07
            self.page = self.page_start
        elif byte == 0x81:
            self.contrast = args[0]
        elif byte == 0x8D:
            self.charge_pump = bool(args[0] & 0x04)
        elif byte == 0xA8:
            self.multiplex = args[0] & 0x3F
            if self.multiplex != 63:
                self.warnings.append("multiplex ratio %d: a 64-row panel needs 63" % args[0])
        elif byte == 0xDA:
            self.com_pins = args[0]
            if args[0] & 0x30 != 0x10:
                self.warnings.append(
                    "COM pins 0x%02X: a 128x64 panel needs the alternative layout (0x12)" % args[0]
                )
        elif byte == 0xD3:
            self.offset = args[0] & 0x3F
        elif byte == 0xAD:
            self.warnings.append("0xAD is not an SSD1306 command (SSD1306B/SH1106)")
        elif byte in (0x26, 0x27, 0x29, 0x2A, 0xA3, 0xD5, 0xD9, 0xDB, 0x2E, 0x2F, 0xE3):
            pass  # scrolling (not drawn), timing and levels, NOP
        elif byte <= 0x0F:
            self.column = (self.column & 0xF0) | byte
        elif byte <= 0x1F:
            self.column = ((byte & 0x0F) << 4) | (self.column & 0x0F)
        elif 0x40 <= byte <= 0x7F:
            self.start_line = byte & 0x3F
        elif byte in (0xA0, 0xA1):
            self.segment_remap = byte == 0xA1
        elif byte in (0xA4, 0xA5):
            self.all_on = byte == 0xA5
        elif byte in (0xA6, 0xA7):
            self.inverse = byte == 0xA7
        elif byte in (0xAE, 0xAF):
            self.display_on = byte == 0xAF
        elif 0xB0 <= byte <= 0xB7:
            self.page = byte & 0x07
        elif byte in (0xC0, 0xC8):
            self.com_reverse = byte == 0xC8
        else:
            self.warnings.append("unknown SSD1306 command 0x%02X" % byte)

    def data(self, data: bytes) -> None:
        for byte in data:
            self.ram[self.page][self.column & 0x7F] = byte
            if self.mode == 0:  # horizontal: along the page, then the next page
                if self.column >= self.column_end:
                    self.column = self.column_start
                    self.page = self.page_start if self.page >= self.page_end else self.page + 1
                else:
                    self.column += 1
            elif self.mode == 1:  # vertical: down the column, then the next column
                if self.page >= self.page_end:
                    self.page = self.page_start
                    self.column = (
                        self.column_start if self.column >= self.column_end else self.column + 1
                    )
                else:
                    self.page += 1
            else:  # page mode: along the page, wrapping within it
                self.column = self.column_start if self.column >= 127 else self.column + 1

    def visible(self) -> bool:
        return self.display_on and self.charge_pump

    def picture(self) -> Picture:
        picture = Picture.blank(self.colours)
        if not self.visible():
            return picture
        for y in range(HEIGHT):
            com = 63 - y  # the panel's top row is COM63
            row_number = (63 - com) if self.com_reverse else com  # display row on this COM
            ram_row = (row_number + self.start_line + self.offset) % 64
            page, bit = divmod(ram_row, 8)
            row = picture.rows[y]
            for x in range(WIDTH):
                segment = 127 - x
                column = 127 - segment if self.segment_remap else segment
                on = (self.ram[page][column] >> bit) & 1
                if self.all_on:
                    on = 1
                row[x] = on ^ self.inverse
        return picture


class Decoder:
    """Splits the device's record stream (board/simbus.py) and drives the chip model."""

    def __init__(self, chip: ST7567 | SSD1306) -> None:
        self.chip = chip
        self._buf = bytearray()
        self.records = 0

    def feed(self, data: bytes) -> None:
        self._buf += data
        while self._buf:
            kind = self._buf[0]
            if kind == RESET_LINE:
                if len(self._buf) < 2:
                    return
                if self._buf[1] == 0:
                    self.chip.reset()
                del self._buf[:2]
            elif kind in (SPI_WRITE, I2C_WRITE):
                if len(self._buf) < 4:
                    return
                n = (self._buf[2] << 8) | self._buf[3]
                if len(self._buf) < 4 + n:
                    return
                self._record(kind, self._buf[1], bytes(self._buf[4 : 4 + n]))
                del self._buf[: 4 + n]
            else:
                raise ValueError("display link: unknown record 0x%02X" % kind)
            self.records += 1

    def _record(self, kind: int, tag: int, data: bytes) -> None:
        chip = self.chip
        if kind == SPI_WRITE:
            if not isinstance(chip, ST7567):
                return
            if tag & 0x02:  # CS high: the chip is not selected
                return
            if tag & 0x01:
                chip.data(data)
            else:
                for byte in data:
                    chip.command(byte)
        else:
            if not isinstance(chip, SSD1306):
                return
            if tag != chip.address:
                chip.ignored += 1
                return
            chip.transfer(data)


def make_chip(chip: str, address: int = 0x3C) -> ST7567 | SSD1306:
    if chip == "st7567":
        return ST7567()
    if chip == "ssd1306":
        return SSD1306(address)
    raise ValueError("chip must be 'st7567' or 'ssd1306'")


class DisplayEmulator(Emulator):
    """The display at the end of the device's link (see the module docstring)."""

    name = "display"

    def __init__(self, chip: str = "st7567", *, address: int = 0x3C, **kwargs) -> None:
        super().__init__(**kwargs)
        self.chip_name = chip
        self.i2c_address = address
        self.decoder = Decoder(make_chip(chip, address))

    @property
    def chip(self) -> ST7567 | SSD1306:
        return self.decoder.chip

    def connected(self) -> None:
        # A new connection is a terminal that has just been powered: a fresh chip.
        self.decoder = Decoder(make_chip(self.chip_name, self.i2c_address))

    def received(self, data: bytes) -> None:
        self.decoder.feed(data)

    def picture(self) -> Picture:
        """What the glass shows now."""
        with self.lock:
            return self.chip.picture()

    def wait_for_picture(self, predicate, timeout: float = 5.0) -> Picture:
        """Wait (bounded) until predicate(picture) holds; returns that picture."""
        found: list[Picture] = []

        def check():
            picture = self.chip.picture()
            if predicate(picture):
                found.append(picture)
                return True
            return False

        self.wait_for(check, timeout, "the expected picture")
        return found[0]
