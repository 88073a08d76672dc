"""A PNG reader for the tests, written from the PNG specification and independent of
hostlib/png.py: what the emulators write is checked by reading it back, chunk CRCs included,
with no imaging library.

Reads what the emulators write: greyscale 1-bit and RGB 8-bit, not interlaced. The filter
types of the specification are all undone, so the reader does not depend on the writer's
choice of filter.
"""

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunks(data):
    """[(kind, payload)] of a PNG file; every chunk's CRC checked."""
    assert data[:8] == SIGNATURE, "not a PNG"
    out = []
    i = 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind, payload = data[i + 4 : i + 8], data[i + 8 : i + 8 + length]
        (crc,) = struct.unpack(">I", data[i + 8 + length : i + 12 + length])
        assert crc == zlib.crc32(kind + payload), "bad CRC in %r" % kind
        out.append((kind, payload))
        i += 12 + length
    return out


def decode(data):
    """(width, height, rows): rows of pixels, each a sample value (greyscale: 0 black, 1
    white at 1 bit) or an (r, g, b) triple."""
    parts = chunks(data)
    assert parts[0][0] == b"IHDR" and parts[-1][0] == b"IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", parts[0][1])
    assert (depth, colour) in ((1, 0), (8, 2)) and interlace == 0, (depth, colour)
    raw = zlib.decompress(b"".join(payload for kind, payload in parts if kind == b"IDAT"))
    channels = 3 if colour == 2 else 1
    stride = (width * channels * depth + 7) // 8
    step = max(channels * depth // 8, 1)  # bytes a pixel, for the filters (at least 1)
    assert len(raw) == height * (1 + stride), "IDAT size does not match the header"
    rows = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (1 + stride)]
        line = bytearray(raw[y * (1 + stride) + 1 : (y + 1) * (1 + stride)])
        for x in range(stride):
            a = line[x - step] if x >= step else 0
            b = previous[x]
            c = previous[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                near = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + near) & 0xFF
            else:
                assert kind == 0, "unknown filter type %d" % kind
        previous = line
        if colour == 2:
            rows.append([tuple(line[3 * x : 3 * x + 3]) for x in range(width)])
        else:
            rows.append([(line[x >> 3] >> (7 - (x & 7))) & 1 for x in range(width)])
    return width, height, rows


def ink(data):
    """A 1-bit receipt PNG as rows of 1 (ink, black) and 0 (paper)."""
    width, height, rows = decode(data)
    return [[1 - sample for sample in row] for row in rows]
