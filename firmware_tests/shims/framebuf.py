"""CPython stand-in for MicroPython's built-in `framebuf`, so the display drivers import (and
draw) in host tests. Only the MONO_VLSB format the terminal's displays use, and only what
drivers/lcd.py calls: fill, pixel, fill_rect, rect, hline, vline.
"""

MONO_VLSB = 0


class FrameBuffer:
    def __init__(self, buffer, width, height, format, stride=None):  # noqa: A002 - the API's name
        if format != MONO_VLSB:
            raise ValueError("only MONO_VLSB in the CPython stand-in")
        self._buf = buffer
        self._width = width
        self._height = height

    def pixel(self, x, y, c=None):
        if not (0 <= x < self._width and 0 <= y < self._height):
            return None if c is not None else 0
        i = (y >> 3) * self._width + x
        bit = 1 << (y & 7)
        if c is None:
            return 1 if self._buf[i] & bit else 0
        if c:
            self._buf[i] |= bit
        else:
            self._buf[i] &= ~bit & 0xFF
        return None

    def fill_rect(self, x, y, w, h, c):
        for yy in range(max(y, 0), min(y + h, self._height)):
            for xx in range(max(x, 0), min(x + w, self._width)):
                self.pixel(xx, yy, c)

    def fill(self, c):
        value = 0xFF if c else 0
        for i in range(len(self._buf)):
            self._buf[i] = value

    def hline(self, x, y, w, c):
        self.fill_rect(x, y, w, 1, c)

    def vline(self, x, y, h, c):
        self.fill_rect(x, y, 1, h, c)

    def rect(self, x, y, w, h, c, f=False):
        if f:
            self.fill_rect(x, y, w, h, c)
            return
        self.hline(x, y, w, c)
        self.hline(x, y + h - 1, w, c)
        self.vline(x, y, h, c)
        self.vline(x + w - 1, y, h, c)
