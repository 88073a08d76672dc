"""The terminal's glyphs on the host: the display font (device/fonts/font16.py, a GNU Unifont
subset), and GNU Unifont itself for characters outside the subset when it is installed.

    width, rows = glyphs.glyph("消")      # 16, 16 ints: bit width-1 is the leftmost pixel
    glyphs.glyph("\\U0001f4b3")            # None: in no font (draw a box, report it)
    glyphs.font16()                        # {char: (width, rows)}: exactly what the device draws
    Font(fallback=None).glyph(char)        # the subset only, as on a machine without Unifont

A glyph is (width, rows): width 8 (narrow) or 16 (wide), 16 row ints with the leftmost pixel in
bit width-1, the `.hex` convention. The emulators draw receipts with these and read text back
off the emulated display by matching them, so both see the pixels the terminal's own font has.

font16.py is plain Python (four bytes constants, laid out as the display's pages: see its
header); it is loaded from its file, not imported as `fonts.font16`, so the host does not need
device/ on its path. The full font is Debian's `unifont` package (/usr/share/unifont/
unifont.hex, the file tools/fontgen.py builds the subset from); without it, characters outside
the subset have no glyph.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FONT16 = ROOT / "device" / "fonts" / "font16.py"
UNIFONT_HEX = Path("/usr/share/unifont/unifont.hex")
HEIGHT = 16

Glyph = tuple[int, tuple[int, ...]]


def load_font16(path: str | Path = FONT16) -> dict[str, Glyph]:
    """The glyphs of a module laid out like device/fonts/font16.py, by character."""
    spec = importlib.util.spec_from_file_location("_poskit_font16", path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load the font module %s" % path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.HEIGHT != HEIGHT:
        raise ValueError("%s: not a 16-pixel font" % path)
    glyphs = {}
    for width, index, data in (
        (8, module.NARROW_INDEX, module.NARROW_GLYPHS),
        (16, module.WIDE_INDEX, module.WIDE_GLYPHS),
    ):
        size = 2 * width  # bytes a glyph: a top and a bottom page of `width` columns
        for i in range(0, len(index), 2):
            char = chr(int.from_bytes(index[i : i + 2], "big"))
            glyphs[char] = (width, _from_pages(data[i // 2 * size :][:size], width))
    return glyphs


def _from_pages(data: bytes, width: int) -> tuple[int, ...]:
    # Page layout (framebuf MONO_VLSB): column bytes of rows 0-7 (bit 0 the top row), then
    # those of rows 8-15.
    rows = []
    for y in range(HEIGHT):
        page, bit = divmod(y, 8)
        value = 0
        for x in range(width):
            value = (value << 1) | ((data[page * width + x] >> bit) & 1)
        rows.append(value)
    return tuple(rows)


def parse_hex(bits: str) -> Glyph:
    """One `.hex` glyph (32 hex digits: 8x16; 64: 16x16) as (width, rows)."""
    if len(bits) not in (32, 64):
        raise ValueError("a .hex glyph is 32 or 64 hex digits")
    width = len(bits) // 4
    step = width // 4
    return width, tuple(int(bits[y * step : (y + 1) * step], 16) for y in range(HEIGHT))


class Font:
    """Glyphs by character: the subset the terminal carries, then the full `.hex` font (when
    `fallback` names a file that exists; None: the subset only)."""

    def __init__(
        self, subset: str | Path = FONT16, fallback: str | Path | None = UNIFONT_HEX
    ) -> None:
        self.subset = load_font16(subset)
        self.fallback = Path(fallback) if fallback is not None else None
        self._hex: dict[str, str] | None = None
        self._lock = threading.Lock()  # the printer emulator's thread and tests share fonts

    def glyph(self, char: str) -> Glyph | None:
        """(width, rows) of `char`, or None when no font has it."""
        found = self.subset.get(char)
        if found is not None:
            return found
        bits = self._full().get(char)
        return parse_hex(bits) if bits is not None else None

    def _full(self) -> dict[str, str]:
        # The whole .hex file is read once, on the first character outside the subset
        # (57,000 lines, a tenth of a second); the glyphs are parsed as they are asked for.
        with self._lock:
            if self._hex is None:
                self._hex = {}
                if self.fallback is not None and self.fallback.exists():
                    with open(self.fallback, encoding="ascii") as f:
                        for line in f:
                            code, sep, bits = line.strip().partition(":")
                            if sep and len(bits) in (32, 64):
                                self._hex[chr(int(code, 16))] = bits
            return self._hex


@functools.cache
def default_font() -> Font:
    """The font16 subset, with GNU Unifont behind it if installed (shared, loaded once)."""
    return Font()


def glyph(char: str) -> Glyph | None:
    """(width, rows) of `char` from default_font(), or None when no font has it."""
    return default_font().glyph(char)


def font16() -> dict[str, Glyph]:
    """Every glyph of the terminal's display font, by character."""
    return default_font().subset
