"""DES and triple DES (EDE, 2- and 3-key), FIPS 46-3 / NIST SP 800-67.

ECB and CBC on whole blocks; padding is the caller's business (ISO 8583 MAC and PIN-block
formats each pad differently). On MicroPython the block loop is a viper function; elsewhere
(CPython host tests) the same algorithm runs as plain Python, `_crypt_portable`, which is also
kept on MicroPython so tests can compare the two.

Implementation notes. The key schedule runs once per key in plain Python and stores, for each
round, the 48-bit subkey as two 32-bit words of four 6-bit fields (even S-boxes / odd S-boxes),
so a round is two XORs, eight lookups in a combined S-box+P table and one rotation. The halves
are kept rotated right by 3 bits during the rounds (the table entries are rotated to match), which
puts every E-expansion group on a byte boundary. IP and FP are the usual sequence of masked bit
swaps; between the stages of triple DES they cancel and are skipped.
"""

import sys
from array import array

from app.crypto.blockcipher import BlockCipher, check_bytes

_MP = sys.implementation.name == "micropython"

# --- FIPS 46-3 tables -----------------------------------------------------------------------


def _table(text):
    # Decimal tables kept as text: a str constant stays in ROM (ROMFS .mpy), where a tuple
    # constant would be rebuilt in RAM, and the module keeps only the compact bytes.
    return bytes(int(field) for field in text.split())


_PC1 = _table(
    "57 49 41 33 25 17  9 "
    " 1 58 50 42 34 26 18 "
    "10  2 59 51 43 35 27 "
    "19 11  3 60 52 44 36 "
    "63 55 47 39 31 23 15 "
    " 7 62 54 46 38 30 22 "
    "14  6 61 53 45 37 29 "
    "21 13  5 28 20 12  4 "
)

_PC2 = _table(
    "14 17 11 24  1  5 "
    " 3 28 15  6 21 10 "
    "23 19 12  4 26  8 "
    "16  7 27 20 13  2 "
    "41 52 31 37 47 55 "
    "30 40 51 45 33 48 "
    "44 49 39 56 34 53 "
    "46 42 50 36 29 32 "
)

_SHIFTS = _table("1 1 2 2 2 2 2 2 1 2 2 2 2 2 2 1")
del _table


# Combined S-box + P table: for S-box s (block order S1 S3 S5 S7 S8 S2 S4 S6, the subkey words'
# layout) and 6-bit input v, entry 64 * s + v is the S-box output put through P, rotated right
# by 3 like the round halves. Its 512 32-bit words are stored as four planes of 512 bytes (the
# word's top byte first): a literal stays in flash (ROMFS .mpy), where the word array built at
# import took 2 KB of heap. firmware_tests/mpy/test_des.py rebuilds it from FIPS 46-3's S-boxes
# and P. Read a byte at a time: a bytes literal in the image has no 4-byte alignment, which
# the ESP32's 32-bit loads need.
_SP = (
    # plane 0: bits 31-24 of each word
    b"\x00\x00\x00\x40\x40\x40\x40\x00\x00\x00\x40\x00\x40\x40\x00\x40"
    b"\x40\x00\x00\x00\x00\x00\x00\x40\x40\x40\x40\x40\x00\x40\x40\x00"
    b"\x00\x40\x40\x00\x00\x00\x00\x00\x40\x00\x00\x40\x00\x40\x40\x40"
    b"\x40\x40\x00\x40\x40\x40\x40\x00\x40\x00\x00\x00\x40\x00\x00\x40"
    b"\x80\x00\x00\x80\x00\x00\x80\x00\x80\x80\x80\x00\x80\x80\x00\x80"
    b"\x00\x80\x00\x00\x00\x00\x80\x80\x80\x00\x00\x80\x80\x80\x00\x00"
    b"\x00\x00\x80\x80\x00\x00\x00\x00\x00\x80\x80\x00\x80\x00\x00\x80"
    b"\x80\x00\x00\x80\x80\x80\x00\x80\x00\x80\x80\x00\x80\x80\x80\x00"
    b"\x00\x00\x00\x04\x00\x00\x04\x00\x04\x00\x00\x04\x04\x04\x00\x04"
    b"\x00\x04\x04\x00\x04\x04\x04\x00\x04\x04\x00\x04\x00\x00\x04\x00"
    b"\x00\x04\x00\x00\x04\x00\x04\x04\x00\x04\x04\x00\x04\x00\x00\x04"
    b"\x04\x00\x04\x04\x00\x00\x04\x04\x00\x00\x04\x00\x00\x04\x00\x04"
    b"\x00\x20\x20\x00\x00\x20\x20\x00\x20\x00\x00\x20\x20\x00\x20\x20"
    b"\x00\x20\x20\x00\x20\x00\x00\x20\x00\x00\x20\x20\x00\x20\x00\x00"
    b"\x00\x00\x00\x20\x20\x20\x20\x20\x20\x00\x00\x00\x00\x20\x20\x00"
    b"\x20\x20\x20\x00\x00\x00\x20\x20\x00\x20\x00\x00\x20\x00\x00\x20"
    b"\x01\x00\x00\x01\x01\x01\x00\x01\x00\x01\x01\x00\x01\x00\x00\x00"
    b"\x01\x01\x01\x00\x00\x00\x01\x01\x00\x00\x00\x01\x01\x01\x00\x00"
    b"\x00\x00\x01\x00\x00\x01\x00\x00\x01\x00\x01\x01\x01\x01\x00\x01"
    b"\x00\x01\x00\x01\x01\x01\x01\x00\x01\x00\x00\x00\x00\x00\x01\x01"
    b"\x08\x08\x00\x00\x00\x00\x08\x08\x08\x08\x08\x08\x08\x00\x00\x08"
    b"\x00\x00\x08\x00\x08\x00\x00\x08\x00\x08\x00\x00\x00\x08\x08\x00"
    b"\x00\x00\x08\x00\x08\x08\x08\x00\x08\x08\x00\x08\x00\x00\x00\x08"
    b"\x00\x08\x00\x08\x00\x08\x08\x00\x00\x00\x08\x00\x08\x08\x08\x00"
    b"\x10\x10\x10\x00\x00\x10\x10\x10\x00\x00\x00\x10\x10\x00\x00\x10"
    b"\x10\x00\x00\x10\x00\x00\x10\x00\x10\x10\x00\x00\x00\x00\x10\x10"
    b"\x00\x10\x00\x10\x10\x00\x00\x00\x00\x00\x10\x10\x10\x10\x10\x00"
    b"\x10\x10\x10\x00\x10\x10\x00\x10\x10\x00\x00\x10\x00\x00\x00\x00"
    b"\x02\x02\x00\x02\x02\x00\x02\x00\x02\x00\x00\x02\x00\x02\x02\x00"
    b"\x00\x00\x02\x00\x00\x02\x00\x02\x02\x00\x00\x02\x00\x00\x02\x02"
    b"\x02\x00\x02\x00\x02\x00\x00\x02\x00\x02\x02\x00\x02\x02\x00\x02"
    b"\x00\x02\x00\x02\x00\x00\x02\x00\x00\x00\x02\x00\x02\x02\x00\x02"
    # plane 1: bits 23-16 of each word
    b"\x10\x00\x00\x10\x10\x00\x00\x00\x00\x10\x10\x00\x10\x10\x10\x00"
    b"\x00\x10\x10\x00\x00\x10\x10\x10\x00\x10\x10\x00\x00\x00\x00\x10"
    b"\x00\x10\x00\x10\x10\x10\x10\x00\x10\x00\x00\x10\x00\x00\x10\x00"
    b"\x10\x00\x10\x10\x10\x00\x00\x10\x00\x10\x10\x00\x00\x00\x00\x10"
    b"\x00\x80\x00\x80\x80\x00\x00\x80\x00\x80\x80\x00\x80\x00\x80\x00"
    b"\x80\x00\x80\x00\x00\x80\x80\x00\x80\x00\x00\x80\x00\x80\x00\x80"
    b"\x80\x80\x00\x00\x00\x80\x80\x00\x00\x00\x80\x80\x80\x00\x00\x80"
    b"\x80\x00\x80\x80\x00\x00\x00\x80\x80\x80\x00\x80\x00\x00\x80\x00"
    b"\x00\x20\x20\x20\x00\x00\x00\x20\x00\x00\x20\x00\x20\x20\x00\x00"
    b"\x20\x00\x00\x00\x00\x20\x20\x20\x20\x00\x00\x20\x20\x20\x20\x00"
    b"\x00\x20\x00\x20\x00\x20\x20\x00\x20\x00\x20\x20\x00\x00\x20\x20"
    b"\x20\x00\x20\x20\x20\x00\x00\x20\x00\x20\x00\x00\x00\x00\x20\x00"
    b"\x02\x42\x40\x00\x00\x40\x02\x42\x42\x02\x00\x40\x00\x40\x42\x00"
    b"\x40\x02\x02\x40\x40\x42\x42\x02\x42\x00\x00\x42\x02\x00\x40\x02"
    b"\x40\x02\x02\x40\x40\x42\x42\x00\x02\x40\x40\x02\x42\x00\x02\x42"
    b"\x00\x40\x42\x42\x02\x00\x00\x42\x00\x02\x42\x00\x40\x40\x00\x02"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x01\x00\x00\x01\x01\x00\x01\x00\x00\x01\x01\x00\x00\x01\x00\x01"
    b"\x01\x01\x00\x00\x00\x00\x01\x01\x01\x00\x00\x01\x00\x01\x01\x00"
    b"\x00\x01\x01\x01\x00\x01\x01\x00\x01\x00\x00\x01\x01\x00\x00\x00"
    b"\x00\x01\x01\x00\x01\x00\x00\x01\x01\x00\x00\x00\x00\x01\x01\x01"
    b"\x08\x00\x00\x00\x08\x08\x08\x00\x00\x08\x08\x08\x00\x00\x08\x08"
    b"\x00\x00\x08\x08\x00\x08\x00\x00\x08\x00\x00\x08\x00\x08\x08\x00"
    b"\x08\x08\x08\x08\x00\x00\x00\x08\x00\x08\x08\x00\x08\x00\x00\x00"
    b"\x08\x00\x00\x00\x08\x00\x08\x08\x00\x00\x08\x08\x00\x08\x00\x08"
    b"\x00\x04\x00\x04\x04\x00\x04\x04\x00\x04\x04\x00\x04\x00\x00\x00"
    b"\x00\x04\x00\x00\x04\x00\x00\x04\x04\x00\x04\x04\x00\x04\x04\x00"
    b"\x00\x00\x04\x04\x04\x04\x00\x00\x04\x00\x00\x00\x00\x04\x04\x04"
    b"\x04\x04\x00\x04\x00\x00\x04\x04\x00\x04\x00\x00\x04\x00\x04\x00"
    # plane 2: bits 15-8 of each word
    b"\x10\x00\x10\x10\x10\x10\x00\x10\x00\x10\x10\x00\x00\x10\x00\x00"
    b"\x00\x00\x00\x10\x10\x10\x10\x00\x10\x00\x00\x10\x00\x00\x10\x00"
    b"\x10\x10\x00\x10\x10\x00\x00\x00\x10\x10\x10\x00\x00\x00\x00\x10"
    b"\x10\x10\x10\x00\x00\x00\x10\x10\x00\x00\x00\x00\x10\x10\x00\x10"
    b"\x00\x20\x00\x20\x00\x00\x20\x00\x20\x00\x00\x20\x20\x20\x20\x00"
    b"\x00\x00\x20\x00\x20\x20\x20\x20\x00\x20\x20\x00\x00\x20\x00\x00"
    b"\x20\x00\x20\x00\x20\x20\x00\x00\x00\x20\x20\x00\x00\x00\x00\x20"
    b"\x00\x20\x00\x20\x00\x20\x20\x00\x20\x00\x00\x20\x20\x00\x20\x20"
    b"\x00\x80\x80\x00\x80\x00\x00\x80\x80\x80\x00\x80\x00\x80\x80\x00"
    b"\x00\x80\x80\x00\x00\x80\x80\x00\x80\x00\x00\x00\x80\x00\x00\x80"
    b"\x80\x00\x00\x00\x00\x80\x00\x80\x00\x00\x80\x80\x80\x00\x00\x80"
    b"\x80\x80\x00\x80\x80\x00\x80\x00\x80\x00\x00\x80\x00\x80\x80\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x01\x01\x40\x41\x00\x01\x00\x00\x40\x40\x41\x41\x41\x41\x01\x00"
    b"\x40\x00\x01\x01\x41\x40\x40\x41\x01\x00\x00\x40\x00\x01\x41\x40"
    b"\x41\x40\x41\x01\x00\x40\x01\x41\x01\x00\x00\x40\x40\x00\x40\x01"
    b"\x00\x41\x40\x00\x40\x01\x01\x00\x41\x41\x41\x01\x01\x40\x00\x41"
    b"\x08\x08\x08\x08\x00\x00\x00\x08\x00\x08\x08\x00\x08\x00\x00\x00"
    b"\x08\x00\x08\x00\x00\x08\x08\x00\x00\x00\x00\x08\x08\x08\x00\x08"
    b"\x00\x08\x00\x00\x08\x00\x08\x08\x00\x08\x00\x08\x08\x00\x08\x00"
    b"\x08\x08\x00\x00\x00\x08\x00\x00\x08\x00\x08\x08\x00\x00\x08\x08"
    b"\x02\x02\x02\x00\x02\x00\x00\x02\x00\x02\x02\x02\x00\x00\x00\x00"
    b"\x00\x02\x00\x02\x00\x00\x02\x02\x00\x00\x02\x00\x02\x02\x02\x00"
    b"\x00\x00\x02\x02\x00\x00\x00\x02\x02\x00\x00\x00\x02\x02\x02\x00"
    b"\x02\x00\x00\x02\x00\x02\x02\x00\x02\x02\x00\x02\x00\x00\x02\x02"
    b"\x00\x00\x04\x04\x00\x00\x04\x00\x04\x04\x00\x00\x00\x04\x00\x04"
    b"\x00\x00\x04\x04\x04\x04\x00\x00\x00\x00\x04\x04\x04\x04\x04\x00"
    b"\x04\x00\x00\x04\x04\x00\x04\x00\x00\x04\x00\x04\x00\x04\x04\x00"
    b"\x04\x04\x00\x00\x00\x04\x00\x04\x04\x00\x04\x00\x04\x00\x00\x04"
    # plane 3: bits 7-0 of each word
    b"\x40\x00\x00\x40\x00\x40\x00\x00\x40\x40\x40\x40\x40\x00\x00\x00"
    b"\x40\x40\x40\x40\x40\x00\x00\x40\x00\x00\x00\x00\x00\x40\x40\x00"
    b"\x00\x40\x00\x00\x40\x00\x00\x40\x00\x00\x40\x00\x40\x00\x40\x40"
    b"\x40\x00\x00\x40\x00\x40\x40\x40\x40\x40\x40\x00\x00\x40\x00\x00"
    b"\x20\x20\x00\x00\x20\x00\x20\x20\x00\x00\x00\x00\x20\x00\x00\x20"
    b"\x00\x00\x20\x20\x20\x00\x00\x20\x20\x20\x00\x20\x00\x20\x20\x00"
    b"\x20\x00\x00\x20\x00\x20\x20\x00\x20\x00\x20\x20\x00\x20\x00\x00"
    b"\x20\x00\x00\x20\x00\x20\x20\x00\x00\x20\x20\x00\x20\x00\x00\x20"
    b"\x10\x10\x00\x10\x00\x10\x00\x00\x10\x00\x10\x10\x10\x00\x10\x00"
    b"\x00\x00\x00\x00\x10\x10\x10\x10\x00\x10\x00\x00\x10\x00\x00\x10"
    b"\x00\x10\x10\x00\x00\x00\x10\x10\x10\x00\x00\x10\x10\x10\x00\x00"
    b"\x10\x10\x00\x10\x00\x00\x00\x00\x10\x10\x10\x00\x00\x00\x10\x10"
    b"\x00\x00\x80\x00\x80\x80\x80\x80\x80\x00\x00\x00\x00\x00\x00\x80"
    b"\x80\x80\x00\x80\x00\x00\x80\x00\x00\x80\x80\x80\x80\x00\x00\x80"
    b"\x00\x80\x00\x80\x80\x00\x00\x00\x00\x00\x80\x00\x80\x80\x80\x80"
    b"\x80\x00\x80\x00\x80\x00\x00\x80\x00\x80\x00\x80\x00\x80\x80\x00"
    b"\x04\x00\x00\x04\x00\x04\x04\x00\x04\x00\x04\x00\x00\x04\x00\x04"
    b"\x00\x04\x00\x04\x00\x04\x04\x00\x04\x00\x00\x04\x04\x00\x04\x00"
    b"\x04\x00\x00\x00\x04\x04\x00\x04\x00\x04\x04\x00\x04\x00\x00\x04"
    b"\x00\x04\x04\x04\x00\x00\x04\x00\x04\x00\x00\x04\x04\x04\x00\x00"
    b"\x02\x00\x00\x02\x00\x02\x02\x02\x02\x02\x00\x00\x00\x00\x02\x02"
    b"\x00\x02\x02\x00\x00\x00\x02\x00\x02\x02\x00\x00\x02\x00\x00\x02"
    b"\x00\x02\x02\x00\x02\x00\x00\x00\x00\x00\x02\x02\x02\x02\x00\x00"
    b"\x02\x00\x00\x02\x02\x02\x02\x02\x00\x00\x00\x02\x00\x02\x02\x00"
    b"\x00\x08\x08\x08\x08\x08\x00\x00\x00\x00\x00\x08\x08\x00\x08\x00"
    b"\x00\x00\x00\x00\x08\x00\x00\x08\x08\x00\x08\x08\x00\x08\x08\x08"
    b"\x08\x00\x00\x08\x08\x00\x00\x00\x08\x08\x08\x00\x00\x08\x08\x08"
    b"\x08\x08\x00\x00\x00\x00\x08\x08\x00\x08\x00\x00\x08\x00\x00\x08"
    b"\x01\x00\x00\x01\x00\x01\x01\x00\x00\x01\x00\x01\x01\x00\x00\x01"
    b"\x00\x01\x01\x00\x00\x01\x01\x01\x01\x00\x01\x00\x01\x00\x00\x00"
    b"\x00\x01\x01\x00\x01\x00\x01\x01\x00\x00\x00\x01\x01\x01\x00\x00"
    b"\x01\x00\x00\x01\x01\x00\x00\x01\x00\x01\x01\x00\x00\x00\x01\x01"
)


def _schedule(key, offset, ks, pos):
    # Subkeys of the single-DES key at key[offset:offset + 8], in encryption order, written to
    # ks[pos:pos + 32].
    # Round r is two words: even S-box fields (S1 S3 S5 S7) and odd ones (S8 S2 S4 S6), each
    # field a byte holding 6 bits. All values stay below 2**30 (small ints on the ESP32).
    c = 0
    d = 0
    for i in range(56):
        p = _PC1[i] - 1
        bit = (key[offset + (p >> 3)] >> (7 - (p & 7))) & 1
        if i < 28:
            c = (c << 1) | bit
        else:
            d = (d << 1) | bit
    for r in range(16):
        s = _SHIFTS[r]
        c = ((c << s) | (c >> (28 - s))) & 0x0FFFFFFF
        d = ((d << s) | (d >> (28 - s))) & 0x0FFFFFFF
        even = 0
        odd = 0
        for j in range(8):
            g = 0
            for i in range(6 * j, 6 * j + 6):
                p = _PC2[i]
                if p <= 28:
                    g = (g << 1) | ((c >> (28 - p)) & 1)
                else:
                    g = (g << 1) | ((d >> (56 - p)) & 1)
            if j & 1:
                odd |= g << (24 - 8 * (((j + 1) >> 1) & 3))
            else:
                even |= g << (24 - 8 * (j >> 1))
        ks[pos + 2 * r] = even
        ks[pos + 2 * r + 1] = odd


def _reverse(ks, start, end):
    # The rounds of ks[start:end] in the opposite order, in place (a round is two words): the
    # subkeys of one direction become the other's. Over a whole 3DES schedule it also turns
    # E(K1) D(K2) E(K3) into D(K3) E(K2) D(K1).
    i = start
    j = end - 2
    while i < j:
        ks[i], ks[j] = ks[j], ks[i]
        ks[i + 1], ks[j + 1] = ks[j + 1], ks[i + 1]
        i += 2
        j -= 2


# --- block loop -----------------------------------------------------------------------------
# _crypt(buf, ks, iv, mode) processes buf in place, a multiple of 8 bytes. ks holds 32 words per
# DES stage (1 or 3 stages, already in the order the direction needs). mode 0 = ECB, 1 = CBC
# encrypt, 2 = CBC decrypt; for CBC, iv (8-byte bytearray) is the chaining value on entry and is
# left holding the next one.


def _f(a, b):
    # The round function's S-box + P output for the subkey-mixed halves a (even S-boxes) and b
    # (odd ones): the OR of 8 table words, built a byte plane at a time.
    i0 = (a >> 24) & 63
    i1 = 64 | ((a >> 16) & 63)
    i2 = 128 | ((a >> 8) & 63)
    i3 = 192 | (a & 63)
    i4 = 256 | ((b >> 24) & 63)
    i5 = 320 | ((b >> 16) & 63)
    i6 = 384 | ((b >> 8) & 63)
    i7 = 448 | (b & 63)
    sp = _SP
    word = 0
    for plane in range(0, 2048, 512):
        byte = sp[plane + i0] | sp[plane + i1] | sp[plane + i2] | sp[plane + i3]
        byte |= sp[plane + i4] | sp[plane + i5] | sp[plane + i6] | sp[plane + i7]
        word = word << 8 | byte
    return word


def _crypt_portable(buf, ks, iv, mode):
    n = len(buf)
    stages = len(ks) >> 5
    v0 = v1 = c0 = c1 = 0
    if mode:
        v0 = (iv[0] << 24) | (iv[1] << 16) | (iv[2] << 8) | iv[3]
        v1 = (iv[4] << 24) | (iv[5] << 16) | (iv[6] << 8) | iv[7]
    i = 0
    while i < n:
        left = (buf[i] << 24) | (buf[i + 1] << 16) | (buf[i + 2] << 8) | buf[i + 3]
        right = (buf[i + 4] << 24) | (buf[i + 5] << 16) | (buf[i + 6] << 8) | buf[i + 7]
        if mode == 1:
            left ^= v0
            right ^= v1
        elif mode == 2:
            c0 = left
            c1 = right
        # IP
        t = ((left >> 4) ^ right) & 0x0F0F0F0F
        right ^= t
        left ^= t << 4
        t = ((left >> 16) ^ right) & 0x0000FFFF
        right ^= t
        left ^= t << 16
        t = ((right >> 2) ^ left) & 0x33333333
        left ^= t
        right ^= t << 2
        t = ((right >> 8) ^ left) & 0x00FF00FF
        left ^= t
        right ^= t << 8
        t = ((left >> 1) ^ right) & 0x55555555
        right ^= t
        left ^= t << 1
        # Round form: halves rotated right by 3, so each E-expansion group sits in one byte.
        left = ((left >> 3) | (left << 29)) & 0xFFFFFFFF
        right = ((right >> 3) | (right << 29)) & 0xFFFFFFFF
        k = 0
        for _ in range(stages):
            for _ in range(8):
                a = right ^ ks[k]
                b = ((right >> 4) | (right << 28)) ^ ks[k + 1]
                left ^= _f(a, b)
                a = left ^ ks[k + 2]
                b = ((left >> 4) | (left << 28)) ^ ks[k + 3]
                right ^= _f(a, b)
                k += 4
            # Pre-output is R16 L16; it is also the next stage's input (FP then IP cancel).
            t = left
            left = right
            right = t
        left = ((left << 3) | (left >> 29)) & 0xFFFFFFFF
        right = ((right << 3) | (right >> 29)) & 0xFFFFFFFF
        # FP = IP^-1: the same swaps in reverse order
        t = ((left >> 1) ^ right) & 0x55555555
        right ^= t
        left ^= t << 1
        t = ((right >> 8) ^ left) & 0x00FF00FF
        left ^= t
        right ^= t << 8
        t = ((right >> 2) ^ left) & 0x33333333
        left ^= t
        right ^= t << 2
        t = ((left >> 16) ^ right) & 0x0000FFFF
        right ^= t
        left ^= t << 16
        t = ((left >> 4) ^ right) & 0x0F0F0F0F
        right ^= t
        left ^= t << 4
        if mode == 1:
            v0 = left
            v1 = right
        elif mode == 2:
            left ^= v0
            right ^= v1
            v0 = c0
            v1 = c1
        buf[i] = left >> 24
        buf[i + 1] = (left >> 16) & 255
        buf[i + 2] = (left >> 8) & 255
        buf[i + 3] = left & 255
        buf[i + 4] = right >> 24
        buf[i + 5] = (right >> 16) & 255
        buf[i + 6] = (right >> 8) & 255
        buf[i + 7] = right & 255
        i += 8
    if mode:
        iv[0] = v0 >> 24
        iv[1] = (v0 >> 16) & 255
        iv[2] = (v0 >> 8) & 255
        iv[3] = v0 & 255
        iv[4] = v1 >> 24
        iv[5] = (v1 >> 16) & 255
        iv[6] = (v1 >> 8) & 255
        iv[7] = v1 & 255


if _MP:
    import micropython

    # Same algorithm as _crypt_portable. Viper ints are machine words: 32-bit signed on the
    # ESP32, 64-bit on the unix port. So: every right shift whose high bits survive is masked
    # (arithmetic shift on the ESP32), every left shift that must stay 32-bit is masked with
    # `m32` (a no-op on the ESP32), and masks above 2**30 are built at run time because mpy-cross
    # only folds small-int constants into viper code.
    @micropython.viper
    def _crypt(buf, ks, iv, mode: int):
        p = ptr8(buf)
        k = ptr32(ks)
        v = ptr8(iv)
        sp = ptr8(_SP)
        n = int(len(buf))
        last = int(len(ks)) - 4
        m32 = (int(0xFFFF) << 16) | 0xFFFF
        m55 = (int(0x5555) << 16) | 0x5555
        v0 = 0
        v1 = 0
        c0 = 0
        c1 = 0
        if mode:
            v0 = (v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]
            v1 = (v[4] << 24) | (v[5] << 16) | (v[6] << 8) | v[7]
        i = 0
        while i < n:
            left = (p[i] << 24) | (p[i + 1] << 16) | (p[i + 2] << 8) | p[i + 3]
            right = (p[i + 4] << 24) | (p[i + 5] << 16) | (p[i + 6] << 8) | p[i + 7]
            if mode == 1:
                left ^= v0
                right ^= v1
            elif mode == 2:
                c0 = left
                c1 = right
            t = ((left >> 4) ^ right) & 0x0F0F0F0F
            right ^= t
            left ^= t << 4
            t = ((left >> 16) ^ right) & 0x0000FFFF
            right ^= t
            left ^= t << 16
            t = ((right >> 2) ^ left) & 0x33333333
            left ^= t
            right ^= t << 2
            t = ((right >> 8) ^ left) & 0x00FF00FF
            left ^= t
            right ^= t << 8
            t = ((left >> 1) ^ right) & m55
            right ^= t
            left ^= t << 1
            left = ((left >> 3) & 0x1FFFFFFF) | ((left << 29) & m32)
            right = ((right >> 3) & 0x1FFFFFFF) | ((right << 29) & m32)
            j = 0
            while j <= last:
                # Two rounds. Only fields of a and b are read, so b needs no 32-bit mask.
                a = right ^ k[j]
                b = (((right >> 4) & 0x0FFFFFFF) | (right << 28)) ^ k[j + 1]
                i0 = (a >> 24) & 63
                i1 = 64 | ((a >> 16) & 63)
                i2 = 128 | ((a >> 8) & 63)
                i3 = 192 | (a & 63)
                i4 = 256 | ((b >> 24) & 63)
                i5 = 320 | ((b >> 16) & 63)
                i6 = 384 | ((b >> 8) & 63)
                i7 = 448 | (b & 63)
                left ^= (
                    (sp[i0] | sp[i1] | sp[i2] | sp[i3] | sp[i4] | sp[i5] | sp[i6] | sp[i7]) << 24
                    | (
                        sp[512 + i0]
                        | sp[512 + i1]
                        | sp[512 + i2]
                        | sp[512 + i3]
                        | sp[512 + i4]
                        | sp[512 + i5]
                        | sp[512 + i6]
                        | sp[512 + i7]
                    )
                    << 16
                    | (
                        sp[1024 + i0]
                        | sp[1024 + i1]
                        | sp[1024 + i2]
                        | sp[1024 + i3]
                        | sp[1024 + i4]
                        | sp[1024 + i5]
                        | sp[1024 + i6]
                        | sp[1024 + i7]
                    )
                    << 8
                    | sp[1536 + i0]
                    | sp[1536 + i1]
                    | sp[1536 + i2]
                    | sp[1536 + i3]
                    | sp[1536 + i4]
                    | sp[1536 + i5]
                    | sp[1536 + i6]
                    | sp[1536 + i7]
                )
                a = left ^ k[j + 2]
                b = (((left >> 4) & 0x0FFFFFFF) | (left << 28)) ^ k[j + 3]
                i0 = (a >> 24) & 63
                i1 = 64 | ((a >> 16) & 63)
                i2 = 128 | ((a >> 8) & 63)
                i3 = 192 | (a & 63)
                i4 = 256 | ((b >> 24) & 63)
                i5 = 320 | ((b >> 16) & 63)
                i6 = 384 | ((b >> 8) & 63)
                i7 = 448 | (b & 63)
                right ^= (
                    (sp[i0] | sp[i1] | sp[i2] | sp[i3] | sp[i4] | sp[i5] | sp[i6] | sp[i7]) << 24
                    | (
                        sp[512 + i0]
                        | sp[512 + i1]
                        | sp[512 + i2]
                        | sp[512 + i3]
                        | sp[512 + i4]
                        | sp[512 + i5]
                        | sp[512 + i6]
                        | sp[512 + i7]
                    )
                    << 16
                    | (
                        sp[1024 + i0]
                        | sp[1024 + i1]
                        | sp[1024 + i2]
                        | sp[1024 + i3]
                        | sp[1024 + i4]
                        | sp[1024 + i5]
                        | sp[1024 + i6]
                        | sp[1024 + i7]
                    )
                    << 8
                    | sp[1536 + i0]
                    | sp[1536 + i1]
                    | sp[1536 + i2]
                    | sp[1536 + i3]
                    | sp[1536 + i4]
                    | sp[1536 + i5]
                    | sp[1536 + i6]
                    | sp[1536 + i7]
                )
                j += 4
                if (j & 31) == 0:
                    t = left
                    left = right
                    right = t
            left = ((left << 3) & m32) | ((left >> 29) & 7)
            right = ((right << 3) & m32) | ((right >> 29) & 7)
            t = ((left >> 1) ^ right) & m55
            right ^= t
            left ^= t << 1
            t = ((right >> 8) ^ left) & 0x00FF00FF
            left ^= t
            right ^= t << 8
            t = ((right >> 2) ^ left) & 0x33333333
            left ^= t
            right ^= t << 2
            t = ((left >> 16) ^ right) & 0x0000FFFF
            right ^= t
            left ^= t << 16
            t = ((left >> 4) ^ right) & 0x0F0F0F0F
            right ^= t
            left ^= t << 4
            if mode == 1:
                v0 = left
                v1 = right
            elif mode == 2:
                left ^= v0
                right ^= v1
                v0 = c0
                v1 = c1
            p[i] = left >> 24
            p[i + 1] = left >> 16
            p[i + 2] = left >> 8
            p[i + 3] = left
            p[i + 4] = right >> 24
            p[i + 5] = right >> 16
            p[i + 6] = right >> 8
            p[i + 7] = right
            i += 8
        if mode:
            v[0] = v0 >> 24
            v[1] = v0 >> 16
            v[2] = v0 >> 8
            v[3] = v0
            v[4] = v1 >> 24
            v[5] = v1 >> 16
            v[6] = v1 >> 8
            v[7] = v1

else:
    _crypt = _crypt_portable


# --- public API -----------------------------------------------------------------------------


class DES(BlockCipher):
    """DES (8-byte key) or triple DES EDE (16-byte 2-key or 24-byte 3-key), ECB and CBC.

    The key is scheduled once in the constructor (its decryption subkeys at the first
    decryption); the raw key is not kept. A 3DES key whose halves are equal behaves as single
    DES, as the EDE construction implies.
    """

    block_size = 8
    name = "DES"

    def __init__(self, key):
        n = check_bytes(key, "DES key")
        if n not in (8, 16, 24):
            raise ValueError("DES key must be 8, 16 or 24 bytes, got %d" % n)
        # 32 words of subkeys per stage: 128 bytes each way for DES, 384 for 3DES.
        words = 32 if n == 8 else 96
        enc = array("I", range(words))
        _schedule(key, 0, enc, 0)
        if n != 8:
            self.name = "3DES"
            # EDE: encrypt = E(K1) D(K2) E(K3); decrypt = D(K3) E(K2) D(K1).
            _schedule(key, 8, enc, 32)
            _reverse(enc, 32, 64)
            if n == 24:
                _schedule(key, 16, enc, 64)
            else:  # 2-key: K3 = K1
                for i in range(32):
                    enc[64 + i] = enc[i]
        super().__init__(enc, _crypt)

    def _reversed(self, enc):
        dec = array("I", enc)
        _reverse(dec, 0, len(dec))
        return dec
