"""Text on the terminal's 128x64 monochrome display: the layer the ST7567 and SSD1306 drivers
share (drivers/st7567.py, drivers/ssd1306.py add the chip's bus, init sequence and show()).

    display.clear()
    display.text(0, "消费", align=CENTER)
    display.text(1, "金额: 0.01")
    display.text(2, "1 Sale 消费", inverse=True)    # the selected menu line
    display.stars(3, 4)                             # PIN entry: only the count is shown
    display.show()

Four text lines of 16 pixels: a Chinese character is 16x16 (8 to a line), an ASCII one 8x16
(16 to a line). Text is a str (UTF-8 inside MicroPython, decoded here byte by byte) or UTF-8
bytes. Glyphs come from the generated font module (fonts/font16.py, GNU Unifont), whose
glyphs are stored in the display's own page layout: drawing one is a copy of its 16 or 32
bytes into the frame buffer, no conversion and no allocation. A character the font lacks is
drawn as an empty box (never an error): add it to device/ui/charset.txt and regenerate.

The frame buffer (1,024 bytes) is allocated once; `framebuf` is there for graphics
(`display.framebuf.rect(...)`); nothing reaches the glass before `show()`.
"""

# pyright: reportArgumentType=false
# (viper functions take ptr8 parameters, which the stubs type as int; memoryview(str) is
# MicroPython's way to reach a str's UTF-8 bytes without copying them.)

import framebuf
import sys

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

WIDTH = const(128)
HEIGHT = const(64)
LINES = const(4)  # text lines of 16 pixels
LEFT = const(0)
CENTER = const(1)
RIGHT = const(2)

_LINE_HEIGHT = const(16)
_NARROW = const(8)
_WIDE = const(16)
_ASCII_FIRST = const(0x20)
_ASCII_END = const(0x7F)
_STAR = const(0x2A)
_MP = sys.implementation.name == "micropython"


class DisplayError(OSError):
    """The display did not take a transfer (an I2C device that does not acknowledge)."""


def _blit_portable(buf, pos, glyphs, off, width, columns, invert):
    # Copy `columns` columns of a glyph `width` wide: its top page bytes to buf[pos...], its
    # bottom page bytes to the next page (WIDTH bytes further), XORed with `invert`.
    for i in range(columns):
        buf[pos + i] = glyphs[off + i] ^ invert
        buf[pos + WIDTH + i] = glyphs[off + width + i] ^ invert


if _MP:
    import micropython

    # Measured on the unix port: a full screen of Chinese (32 glyphs) renders in a fraction of
    # the portable loop's time (docs/drivers.md, Figures).
    @micropython.viper
    def _blit(buf: ptr8, pos: int, glyphs: ptr8, off: int, width: int, columns: int, invert: int):
        i = 0
        while i < columns:
            buf[pos + i] = glyphs[off + i] ^ invert
            buf[pos + 128 + i] = glyphs[off + width + i] ^ invert
            i += 1

else:
    _blit = _blit_portable


def _search(index, count, cp):
    # Binary search of a sorted index of 2-byte big-endian code points; -1 if absent.
    low = 0
    high = count - 1
    while low <= high:
        mid = (low + high) >> 1
        value = (index[2 * mid] << 8) | index[2 * mid + 1]
        if value < cp:
            low = mid + 1
        elif value > cp:
            high = mid - 1
        else:
            return mid
    return -1


def _utf8(text):
    # The UTF-8 bytes of `text` without copying them where the port allows (MicroPython's str
    # has the buffer protocol); bytes and bytearrays are taken as UTF-8 already.
    if isinstance(text, str):
        try:
            return memoryview(text)
        except TypeError:  # CPython
            return text.encode()
    return text


class Display:
    """The frame buffer and the text layer. Subclasses implement show(), contrast(), power().

    `font` is a module laid out like fonts/font16.py (None: that one).
    """

    CONTRAST_MAX = 255

    def __init__(self, *, font=None):
        if font is None:
            from fonts import font16 as font
        if font.HEIGHT != _LINE_HEIGHT:
            raise ValueError("the text layer needs a 16-pixel font")
        self.buffer = bytearray(WIDTH * HEIGHT // 8)
        self.framebuf = framebuf.FrameBuffer(self.buffer, WIDTH, HEIGHT, framebuf.MONO_VLSB)
        self._narrow_index = font.NARROW_INDEX
        self._narrow = font.NARROW_GLYPHS
        self._narrow_count = font.NARROW_COUNT
        self._wide_index = font.WIDE_INDEX
        self._wide = font.WIDE_GLYPHS
        self._wide_count = font.WIDE_COUNT
        self._next = 0  # where the character _decode() read ends

    # --- the chip's part -----------------------------------------------------------------

    def show(self):
        """Write the frame buffer to the display."""
        raise NotImplementedError

    def contrast(self, value):
        """Set the contrast, 0..CONTRAST_MAX (the chip's own scale)."""
        raise NotImplementedError

    def power(self, on):
        """Display on (True) or off (False: the glass is blank, the RAM kept)."""
        raise NotImplementedError

    # --- text ----------------------------------------------------------------------------

    def clear(self):
        """Blank the frame buffer (show() puts it on the glass)."""
        self.framebuf.fill(0)

    def text(self, line, text, inverse=False, align=LEFT, clear=True):
        """Draw `text` (str, or UTF-8 bytes) on text line `line` (0-3); returns its width in
        pixels. The line is blanked first (`clear=False` keeps what is there, to put a
        right-aligned value beside a label). `inverse` draws light on dark: the selected
        line of a menu. What does not fit in 128 pixels is cut off."""
        if not 0 <= line < LINES:
            raise ValueError("text line must be 0-3")
        data = _utf8(text)
        return self._draw(line, data, 0, len(data), inverse, align, clear)

    def stars(self, line, count, align=CENTER, inverse=False):
        """`count` asterisks on `line`: the PIN-entry echo, drawn without building a str."""
        if not 0 <= line < LINES:
            raise ValueError("text line must be 0-3")
        invert = 0xFF if inverse else 0
        self.framebuf.fill_rect(0, line * _LINE_HEIGHT, WIDTH, _LINE_HEIGHT, 1 if inverse else 0)
        width = count * _NARROW
        x = self._start(width, align)
        page = line * 2
        for _ in range(count):
            if x >= WIDTH:
                break
            x += self._put(x, page, _STAR, invert)
        return width

    def paragraph(self, first, text, inverse=False):
        """Draw `text` over lines `first`..3, wrapped to the width: Chinese breaks between any
        two characters, English at the last space that fits, and "\\n" ends a line. Returns
        the number of lines used; text past the last line is dropped."""
        if not 0 <= first < LINES:
            raise ValueError("text line must be 0-3")
        data = _utf8(text)
        n = len(data)
        line = first
        start = 0
        while line < LINES and start < n:
            x = 0
            i = start
            space = -1
            end = n
            resume = n
            while i < n:
                cp = self._decode(data, i, n)
                after = self._next
                if cp == 10:
                    end = i
                    resume = after
                    break
                advance = self._advance(cp)
                if x + advance > WIDTH:
                    if cp == 32:
                        end = i
                        resume = after
                    elif cp < 0x80 and space > start:
                        end = space
                        resume = space + 1
                    else:
                        end = i
                        resume = i
                    break
                if cp == 32:
                    space = i
                x += advance
                i = after
            self._draw(line, data, start, end, inverse, LEFT, True)
            line += 1
            start = resume
        return line - first

    def width(self, text):
        """Width in pixels of `text` as text() draws it."""
        data = _utf8(text)
        return self._measure(data, 0, len(data))

    # --- internals -----------------------------------------------------------------------

    def _start(self, width, align):
        if width >= WIDTH or align == LEFT:
            return 0
        if align == CENTER:
            return (WIDTH - width) >> 1
        return WIDTH - width

    def _draw(self, line, data, start, end, inverse, align, clear):
        invert = 0xFF if inverse else 0
        y = line * _LINE_HEIGHT
        if clear:
            self.framebuf.fill_rect(0, y, WIDTH, _LINE_HEIGHT, 1 if inverse else 0)
        # Left-aligned text (the usual case) is laid out in one pass; the others are measured
        # first, which costs as much again.
        x0 = 0 if align == LEFT else self._start(self._measure(data, start, end), align)
        x = x0
        page = line * 2
        i = start
        while i < end:
            cp = self._decode(data, i, end)
            i = self._next
            if x < WIDTH:
                x += self._put(x, page, cp, invert)
            else:
                x += self._advance(cp)
        return x - x0

    def _measure(self, data, start, end):
        width = 0
        i = start
        while i < end:
            width += self._advance(self._decode(data, i, end))
            i = self._next
        return width

    def _decode(self, data, i, end):
        # The code point of the UTF-8 sequence at data[i]; self._next = where it ends.
        # A malformed or truncated sequence reads as U+FFFD (drawn as a box).
        b = data[i]
        if b < 0x80:
            self._next = i + 1
            return b
        if 0xE0 <= b < 0xF0 and i + 2 < end:
            b1 = data[i + 1]
            b2 = data[i + 2]
            if b1 & 0xC0 == 0x80 and b2 & 0xC0 == 0x80:
                self._next = i + 3
                return ((b & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F)
        elif 0xC0 <= b < 0xE0 and i + 1 < end:
            b1 = data[i + 1]
            if b1 & 0xC0 == 0x80:
                self._next = i + 2
                return ((b & 0x1F) << 6) | (b1 & 0x3F)
        # A continuation byte out of place, a 4-byte sequence (outside the BMP: not in the
        # font), or a sequence cut short: one box, then on at the next byte that can start a
        # character.
        i += 1
        while i < end and data[i] & 0xC0 == 0x80:
            i += 1
        self._next = i
        return 0xFFFD

    def _find(self, cp):
        # Glyph number * 2 + 1 for a wide glyph, * 2 for a narrow one; -1 if the font lacks
        # it. The generator puts ASCII 0x20-0x7E first, in order, in the narrow table.
        if _ASCII_FIRST <= cp < _ASCII_END:
            return (cp - _ASCII_FIRST) << 1
        if cp < 0x80:
            return -1
        i = _search(self._narrow_index, self._narrow_count, cp)
        if i >= 0:
            return i << 1
        i = _search(self._wide_index, self._wide_count, cp)
        if i >= 0:
            return (i << 1) | 1
        return -1

    def _advance(self, cp):
        found = self._find(cp)
        if found < 0:
            return _NARROW if cp < 0x80 else _WIDE  # the replacement box
        return _WIDE if found & 1 else _NARROW

    def _put(self, x, page, cp, invert):
        # Draw one character with its top-left corner at (x, page * 8); returns its advance.
        found = self._find(cp)
        if found < 0:
            width = _NARROW if cp < 0x80 else _WIDE
            y = page * 8
            self.framebuf.fill_rect(x, y, width, _LINE_HEIGHT, 1 if invert else 0)
            self.framebuf.rect(x + 1, y + 2, width - 2, _LINE_HEIGHT - 4, 0 if invert else 1)
            return width
        if found & 1:
            width = _WIDE
            glyphs = self._wide
        else:
            width = _NARROW
            glyphs = self._narrow
        columns = WIDTH - x
        if columns > width:
            columns = width
        offset = (found >> 1) * width * 2
        _blit(self.buffer, page * WIDTH + x, glyphs, offset, width, columns, invert)
        return width
