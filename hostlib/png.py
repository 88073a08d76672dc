"""PNG files from pixel rows, with zlib and struct only: the emulators' pictures (the display's
glass, a printed receipt) are written without an imaging library.

    png.encode(rows)                                  # 1-bit, on = black ink on white
    png.encode(rows, colours=((0, 0, 0), (255, 255, 255)), scale=4)   # 8-bit RGB
    png.write("receipt.png", rows)

`rows` is a list of pixel rows, each a sequence of 0 (off) and 1 (on), all the same length.
Every scanline is stored unfiltered (filter type 0): these pictures are small and mostly blank,
which zlib compresses well without PNG's predictors.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GREY = 0  # PNG colour types
_RGB = 2

Colour = tuple[int, int, int]


def encode(
    rows: Sequence[Sequence[int]],
    *,
    scale: int = 1,
    colours: tuple[Colour, Colour] | None = None,
) -> bytes:
    """The PNG of `rows`, each pixel drawn `scale` x `scale`. Without `colours` the image is
    1-bit greyscale, on pixels black (a receipt's ink); with `colours` = (on, off) RGB
    triples it is 8-bit RGB (the display's glass)."""
    if scale < 1:
        raise ValueError("scale must be 1 or more")
    width = len(rows[0]) if rows else 0
    if not width or any(len(row) != width for row in rows):
        raise ValueError("a PNG needs rows of one non-zero length")
    raw = bytearray()
    for row in rows:
        pixels = [p for p in row for _ in range(scale)]
        line = _rgb(pixels, colours) if colours else _bits(pixels)
        for _ in range(scale):
            raw.append(0)  # filter type 0: none
            raw += line
    header = struct.pack(
        ">IIBBBBB",
        width * scale,
        len(rows) * scale,
        8 if colours else 1,
        _RGB if colours else _GREY,
        0,  # compression: deflate
        0,  # filter method 0
        0,  # not interlaced
    )
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _chunk(b"IEND", b"")
    )


def write(path: str | os.PathLike, rows: Sequence[Sequence[int]], **options) -> Path:
    """Write encode(rows, **options) to `path`; returns the path."""
    path = Path(path)
    path.write_bytes(encode(rows, **options))
    return path


def _bits(pixels: list[int]) -> bytes:
    # Greyscale sample 0 is black, so an on pixel (ink) is a 0 bit; a row ends on a byte
    # boundary, padded with white.
    out = bytearray(b"\xff" * ((len(pixels) + 7) // 8))
    for x, p in enumerate(pixels):
        if p:
            out[x >> 3] &= ~(0x80 >> (x & 7)) & 0xFF
    return bytes(out)


def _rgb(pixels: list[int], colours: tuple[Colour, Colour]) -> bytes:
    on, off = bytes(colours[0]), bytes(colours[1])
    return b"".join(on if p else off for p in pixels)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
