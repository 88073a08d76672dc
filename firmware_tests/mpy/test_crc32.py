"""app.crypto.crc32: binascii.crc32's CRC, kept in 4 bytes, allocating nothing on either word
size."""

import binascii
import gc
import struct

from app.crypto import crc32

DATA = bytes((i * 7 + 3) & 0xFF for i in range(600))


def packed(value):
    return struct.pack(">I", value)


def test_matches_binascii_for_every_length():
    crc = bytearray(4)
    for n in range(0, 300):
        crc32.start(crc, DATA, n)
        assert crc == packed(binascii.crc32(DATA[:n])), n
    crc32.start(crc, b"123456789")
    assert crc == b"\xcb\xf4\x39\x26"  # the CRC-32 check value


def test_pieces_extend_the_same_crc():
    crc = bytearray(4)
    view = memoryview(DATA)
    for cut in (0, 1, 127, 128, 129, 599, 600):
        crc32.start(crc, DATA, cut)
        crc32.update(crc, view[cut:])
        assert crc == packed(binascii.crc32(DATA)), cut
    crc32.start(crc, b"")
    assert crc == b"\x00\x00\x00\x00"
    crc32.update(crc, bytearray(b"123456789"), 9)
    assert crc == b"\xcb\xf4\x39\x26"


def test_refuses_a_count_past_the_data():
    crc = bytearray(4)
    for args in ((crc, DATA, 601), (bytearray(3), DATA, 1)):
        try:
            crc32.update(*args)
        except ValueError:
            pass
        else:
            raise AssertionError("no ValueError for %r" % (args[2],))


def test_allocates_nothing():
    # The point of the module: on a 32-bit port binascii.crc32 makes a heap object of three
    # CRC values in four.
    crc = bytearray(4)
    stored = memoryview(bytearray(b"\x12\x34\x56\x78"))
    gc.collect()
    before = gc.mem_alloc()
    for n in range(200):
        crc32.start(crc, DATA, n)
        crc32.update(crc, DATA)
        if crc == stored:
            break
    assert gc.mem_alloc() - before == 0
