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

from app.blockcipher import BlockCipher, check_bytes

_MP = sys.implementation.name == "micropython"

# --- FIPS 46-3 tables -----------------------------------------------------------------------

# S-boxes S1..S8, each 4 rows of 16 entries, one hex digit per entry.
_SBOX = (
    b"E4D12FB83A6C5907"
    b"0F74E2D1A6CB9538"
    b"41E8D62BFC973A50"
    b"FC8249175B3EA06D"
    b"F18E6B34972DC05A"
    b"3D47F28EC01A69B5"
    b"0E7BA4D158C6932F"
    b"D8A13F42B67C05E9"
    b"A09E63F51DC7B428"
    b"D709346A285ECBF1"
    b"D6498F30B12C5AE7"
    b"1AD069874FE3B52C"
    b"7DE3069A1285BC4F"
    b"D8B56F03472C1AE9"
    b"A690CB7DF13E5284"
    b"3F06A1D8945BC72E"
    b"2C417AB6853FD0E9"
    b"EB2C47D150FA3986"
    b"421BAD78F9C5630E"
    b"B8C71E2D6F09A453"
    b"C1AF92680D34E75B"
    b"AF427C9561DE0B38"
    b"9EF528C3704A1DB6"
    b"432C95FABE17608D"
    b"4B2EF08D3C975A61"
    b"D0B7491AE35C2F86"
    b"14BDC37EAF680592"
    b"6BD814A7950FE23C"
    b"D2846FB1A93E50C7"
    b"1FD8A374C56B0E92"
    b"7B419CE206ADF358"
    b"21E74A8DFC90356B"
)


def _table(text):
    # Decimal tables kept as text: a str constant stays in ROM (ROMFS .mpy), where a tuple
    # constant would be rebuilt in RAM, and the module keeps only the compact bytes.
    return bytes(int(field) for field in text.split())


_P = _table(
    "16  7 20 21 29 12 28 17 "
    " 1 15 23 26  5 18 31 10 "
    " 2  8 24 14 32 27  3  9 "
    "19 13 30  6 22 11  4 25 "
)

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


def _build_sp():
    # Combined S-box + P table, 8 blocks of 64 words, rotated right by 3 like the round halves.
    # Block order follows the subkey word layout: S1 S3 S5 S7 (even word), S8 S2 S4 S6 (odd).
    # Built from the tables above rather than typed in: 2 KB of RAM, no 512 magic numbers.
    p_bit = [0] * 33  # p_bit[k]: P output word for pre-P bit k (1 = MSB), rotated right by 3
    for i in range(32):
        w = 1 << (31 - i)
        p_bit[_P[i]] = ((w >> 3) | (w << 29)) & 0xFFFFFFFF
    sp = array("I", range(512))
    for s in range(8):
        if s & 1:
            base = (4 + (((s + 1) >> 1) & 3)) << 6
        else:
            base = (s >> 1) << 6
        for v in range(64):
            c = _SBOX[(s << 6) | (((v >> 4) & 2) | (v & 1)) << 4 | ((v >> 1) & 15)]
            nibble = c - 48 if c < 65 else c - 55
            w = 0
            for q in range(4):
                if nibble & (8 >> q):
                    w |= p_bit[4 * s + 1 + q]
            sp[base | v] = w
    return sp


_SP = _build_sp()
del _build_sp, _SBOX  # only needed to build _SP


def _schedule(key, offset, fwd, fwd_pos, rev, rev_pos):
    # Subkeys of the single-DES key at key[offset:offset + 8], written in encryption order to
    # fwd[fwd_pos:fwd_pos + 32] and in decryption order to rev[rev_pos:rev_pos + 32].
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
        fwd[fwd_pos + 2 * r] = even
        fwd[fwd_pos + 2 * r + 1] = odd
        rev[rev_pos + 30 - 2 * r] = even
        rev[rev_pos + 31 - 2 * r] = odd


# --- block loop -----------------------------------------------------------------------------
# _crypt(buf, ks, iv, mode) processes buf in place, a multiple of 8 bytes. ks holds 32 words per
# DES stage (1 or 3 stages, already in the order the direction needs). mode 0 = ECB, 1 = CBC
# encrypt, 2 = CBC decrypt; for CBC, iv (8-byte bytearray) is the chaining value on entry and is
# left holding the next one.


def _crypt_portable(buf, ks, iv, mode):
    sp = _SP
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
                left ^= (
                    sp[(a >> 24) & 63]
                    | sp[64 | ((a >> 16) & 63)]
                    | sp[128 | ((a >> 8) & 63)]
                    | sp[192 | (a & 63)]
                    | sp[256 | ((b >> 24) & 63)]
                    | sp[320 | ((b >> 16) & 63)]
                    | sp[384 | ((b >> 8) & 63)]
                    | sp[448 | (b & 63)]
                )
                a = left ^ ks[k + 2]
                b = ((left >> 4) | (left << 28)) ^ ks[k + 3]
                right ^= (
                    sp[(a >> 24) & 63]
                    | sp[64 | ((a >> 16) & 63)]
                    | sp[128 | ((a >> 8) & 63)]
                    | sp[192 | (a & 63)]
                    | sp[256 | ((b >> 24) & 63)]
                    | sp[320 | ((b >> 16) & 63)]
                    | sp[384 | ((b >> 8) & 63)]
                    | sp[448 | (b & 63)]
                )
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
        sp = ptr32(_SP)
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
                left ^= (
                    sp[(a >> 24) & 63]
                    | sp[64 | ((a >> 16) & 63)]
                    | sp[128 | ((a >> 8) & 63)]
                    | sp[192 | (a & 63)]
                    | sp[256 | ((b >> 24) & 63)]
                    | sp[320 | ((b >> 16) & 63)]
                    | sp[384 | ((b >> 8) & 63)]
                    | sp[448 | (b & 63)]
                )
                a = left ^ k[j + 2]
                b = (((left >> 4) & 0x0FFFFFFF) | (left << 28)) ^ k[j + 3]
                right ^= (
                    sp[(a >> 24) & 63]
                    | sp[64 | ((a >> 16) & 63)]
                    | sp[128 | ((a >> 8) & 63)]
                    | sp[192 | (a & 63)]
                    | sp[256 | ((b >> 24) & 63)]
                    | sp[320 | ((b >> 16) & 63)]
                    | sp[384 | ((b >> 8) & 63)]
                    | sp[448 | (b & 63)]
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

    The key is scheduled once in the constructor; the raw key is not kept. A 3DES key whose
    halves are equal behaves as single DES, as the EDE construction implies.
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
        dec = array("I", range(words))
        if n == 8:
            _schedule(key, 0, enc, 0, dec, 0)
        else:
            self.name = "3DES"
            # EDE: encrypt = E(K1) D(K2) E(K3); decrypt = D(K3) E(K2) D(K1).
            _schedule(key, 0, enc, 0, dec, 64)
            _schedule(key, 8, dec, 32, enc, 32)
            if n == 24:
                _schedule(key, 16, enc, 64, dec, 0)
            else:  # 2-key: K3 = K1
                for i in range(32):
                    enc[64 + i] = enc[i]
                    dec[i] = dec[64 + i]
        super().__init__(enc, dec, _crypt)
