"""CRC-32 kept in 4 bytes, never in an int: the check of every record and packet on flash.

    crc = bytearray(4)
    crc32.start(crc, header)            # crc = CRC-32 of header
    crc32.update(crc, payload)          # crc = CRC-32 of header + payload
    crc32.update(crc, buf, 100)         # ... + the first 100 bytes of buf (no slice made)
    f.write(crc)                        # as stored: big-endian
    crc == stored                       # the check, 4 bytes against 4 bytes

The same CRC as `binascii.crc32` (IEEE 802.3: reflected polynomial 0xEDB88320, initial value
and final XOR 0xFFFFFFFF), its value packed big-endian.

Why not `binascii.crc32`: on the ESP32 small ints are 31-bit, so a CRC-32 value at or above
2**30 (three in four of them) is a heap object, and so is every step of comparing or masking
it. A 4 KB record checked in 128-byte pieces made 33 of them; opening a journal of 41 records,
9 KB of garbage (32-bit MicroPython). Here the value lives in the caller's 4-byte buffer and
the loop is viper: nothing is allocated, on either word size. The loop takes a nibble a step
from a 16-word table (64 bytes of RAM, made at import), as MicroPython's own binascii does; on
the unix port it runs at about 60% of binascii's speed (docs/benchmarks.md).
"""

# pyright: reportArgumentType=false, reportIndexIssue=false
# (viper functions take ptr8/ptr32 parameters, which the stubs type as int: a buffer passed to
# one is correct MicroPython that the checker cannot express.)

import sys

if sys.implementation.name == "micropython":
    import micropython

    # Viper ints are machine words (32 bits on the ESP32, 64 on the unix port): `uint` keeps
    # the shifts logical, every value stays within 32 bits, and constants above 2**30 are built
    # at run time because mpy-cross only folds small-int constants into viper code.
    @micropython.viper
    def _fill(table: ptr32):
        poly = uint(0xEDB8) << 16 | uint(0x8320)
        i = 0
        while i < 16:
            c = uint(i)
            k = 0
            while k < 4:
                if c & 1:
                    c = (c >> 1) ^ poly
                else:
                    c = c >> 1
                k += 1
            table[i] = c
            i += 1

    _TABLE = bytearray(64)  # 16 words; a heap buffer is word-aligned, as ptr32 needs
    _fill(_TABLE)
    del _fill

    @micropython.viper
    def _update(crc: ptr8, data: ptr8, n: int, first: int):
        t = ptr32(_TABLE)
        ones = uint(0xFFFF) << 16 | uint(0xFFFF)
        c = ones
        if not first:
            c = (uint(crc[0]) << 24 | uint(crc[1]) << 16 | uint(crc[2]) << 8 | uint(crc[3])) ^ ones
        i = 0
        while i < n:
            c ^= uint(data[i])
            c = uint(t[c & 15]) ^ (c >> 4)
            c = uint(t[c & 15]) ^ (c >> 4)
            i += 1
        c ^= ones
        crc[0] = c >> 24
        crc[1] = c >> 16
        crc[2] = c >> 8
        crc[3] = c

else:  # CPython (host tests): the same CRC from binascii
    import binascii
    import struct

    def _update_portable(crc, data, n, first):
        value = 0 if first else struct.unpack_from(">I", crc)[0]
        struct.pack_into(">I", crc, 0, binascii.crc32(memoryview(data)[:n], value))

    _update = _update_portable


def _count(crc, data, n):
    # The viper loop trusts its bounds: check them here.
    size = len(data)
    if n < 0:
        n = size
    if n > size or len(crc) != 4:
        raise ValueError("CRC-32 over %d of %d bytes into %d" % (n, size, len(crc)))
    return n


def start(crc, data, n=-1):
    """Set `crc` (4 bytes, writable) to the CRC-32 of the first `n` bytes of `data` (all of it
    by default)."""
    _update(crc, data, _count(crc, data, n), 1)


def update(crc, data, n=-1):
    """Extend the CRC-32 in `crc` over the first `n` bytes of `data` (all of it by default)."""
    _update(crc, data, _count(crc, data, n), 0)
