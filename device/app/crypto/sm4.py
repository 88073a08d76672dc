"""SM4 block cipher (GB/T 32907-2016), 128-bit key and block.

ECB and CBC on whole blocks; padding is the caller's business. On MicroPython the block loop
is a viper function; elsewhere (CPython host tests) the same algorithm runs as plain Python,
`_crypt_portable`, which is also kept on MicroPython so tests can compare the two.

Implementation notes. The round function T = L(tau(x)) is linear after the S-box, so
L(S(b) << 24) is tabulated once for each byte value (T0) together with the same word rotated
right by 8 (T1): T(x) = T0[x0] ^ T1[x1] ^ rotr16(T0[x2] ^ T1[x3]). Two 256-word tables (2 KB)
cost one rotation per round; the usual four tables would save it for 2 KB more RAM.
The key schedule runs once per key, as a viper function too: in plain Python every 32-bit
word at or above 2**30 is a heap object on the ESP32, and one key set-up made 26 KB of them
(32-bit MicroPython; 640 bytes on the 64-bit port). `_expand_portable` is kept beside it.
"""

import sys
from array import array
from binascii import unhexlify

from app.crypto.blockcipher import BlockCipher, check_bytes

_MP = sys.implementation.name == "micropython"

# GB/T 32907-2016 S-box, row by row.
_SBOX = unhexlify(
    b"d690e9fecce13db716b614c228fb2c05"
    b"2b679a762abe04c3aa44132649860699"
    b"9c4250f491ef987a33540b43edcfac62"
    b"e4b31ca9c908e89580df94fa758f3fa6"
    b"4707a7fcf37317ba83593c19e6854fa8"
    b"686b81b27164da8bf8eb0f4b70569d35"
    b"1e240e5e6358d1a225227c3b01217887"
    b"d40046579fd327524c3602e7a0c4c89e"
    b"eabf8ad240c738b5a3f7f2cef96115a1"
    b"e0ae5da49b341a55ad933230f58cb1e3"
    b"1df6e22e8266ca60c02923ab0d534e6f"
    b"d5db3745defd8e2f03ff6a726d6c5b51"
    b"8d1baf92bbddbc7f11d95c411f105ad8"
    b"0ac13188a5cd7bbd2d74d012b8e5b4b0"
    b"8969974a0c96777e65b9f109c56ec684"
    b"18f07dec3adc4d2079ee5f3ed7cb3948"
)

# System parameter FK; the fixed parameters CK are generated: byte j of CK_i is (4i + j) * 7.
_FK = (0xA3B1BAC6, 0x56AA3350, 0x677D9197, 0xB27022DC)


def _rotl(x, n):
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


def _build_t():
    # T0[b] = L(S(b) << 24) and T1[b] = T0[b] rotated right by 8, as one 512-word array.
    t = array("I", range(512))
    for b in range(256):
        w = _SBOX[b] << 24
        w ^= _rotl(w, 2) ^ _rotl(w, 10) ^ _rotl(w, 18) ^ _rotl(w, 24)
        t[b] = w
        t[256 + b] = ((w >> 8) | (w << 24)) & 0xFFFFFFFF
    return t


_T = _build_t()
del _build_t


def _expand_portable(key, enc, dec):
    # Round keys in encryption order into enc[0:32], decryption order into dec[0:32].
    sbox = _SBOX
    k0 = ((key[0] << 24) | (key[1] << 16) | (key[2] << 8) | key[3]) ^ _FK[0]
    k1 = ((key[4] << 24) | (key[5] << 16) | (key[6] << 8) | key[7]) ^ _FK[1]
    k2 = ((key[8] << 24) | (key[9] << 16) | (key[10] << 8) | key[11]) ^ _FK[2]
    k3 = ((key[12] << 24) | (key[13] << 16) | (key[14] << 8) | key[15]) ^ _FK[3]
    for i in range(32):
        c = (i * 28) & 255
        ck = (c << 24) | (((c + 7) & 255) << 16) | (((c + 14) & 255) << 8) | ((c + 21) & 255)
        x = k1 ^ k2 ^ k3 ^ ck
        x = (
            (sbox[x >> 24] << 24)
            | (sbox[(x >> 16) & 255] << 16)
            | (sbox[(x >> 8) & 255] << 8)
            | sbox[x & 255]
        )
        x = k0 ^ x ^ _rotl(x, 13) ^ _rotl(x, 23)
        enc[i] = x
        dec[31 - i] = x
        k0 = k1
        k1 = k2
        k2 = k3
        k3 = x


# --- block loop -----------------------------------------------------------------------------
# _crypt(buf, rk, iv, mode) processes buf in place, a multiple of 16 bytes, with the 32 round
# keys rk (encryption or decryption order). mode 0 = ECB, 1 = CBC encrypt, 2 = CBC decrypt; for
# CBC, iv (16-byte bytearray) is the chaining value on entry and is left holding the next one.


def _load(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


def _store(b, i, w):
    b[i] = w >> 24
    b[i + 1] = (w >> 16) & 255
    b[i + 2] = (w >> 8) & 255
    b[i + 3] = w & 255


def _crypt_portable(buf, rk, iv, mode):
    t = _T
    n = len(buf)
    v0 = v1 = v2 = v3 = c0 = c1 = c2 = c3 = 0
    if mode:
        v0 = _load(iv, 0)
        v1 = _load(iv, 4)
        v2 = _load(iv, 8)
        v3 = _load(iv, 12)
    i = 0
    while i < n:
        x0 = _load(buf, i)
        x1 = _load(buf, i + 4)
        x2 = _load(buf, i + 8)
        x3 = _load(buf, i + 12)
        if mode == 1:
            x0 ^= v0
            x1 ^= v1
            x2 ^= v2
            x3 ^= v3
        elif mode == 2:
            c0 = x0
            c1 = x1
            c2 = x2
            c3 = x3
        for j in range(0, 32, 4):
            a = x1 ^ x2 ^ x3 ^ rk[j]
            u = t[(a >> 8) & 255] ^ t[256 | (a & 255)]
            x0 ^= t[a >> 24] ^ t[256 | ((a >> 16) & 255)] ^ (((u >> 16) | (u << 16)) & 0xFFFFFFFF)
            a = x2 ^ x3 ^ x0 ^ rk[j + 1]
            u = t[(a >> 8) & 255] ^ t[256 | (a & 255)]
            x1 ^= t[a >> 24] ^ t[256 | ((a >> 16) & 255)] ^ (((u >> 16) | (u << 16)) & 0xFFFFFFFF)
            a = x3 ^ x0 ^ x1 ^ rk[j + 2]
            u = t[(a >> 8) & 255] ^ t[256 | (a & 255)]
            x2 ^= t[a >> 24] ^ t[256 | ((a >> 16) & 255)] ^ (((u >> 16) | (u << 16)) & 0xFFFFFFFF)
            a = x0 ^ x1 ^ x2 ^ rk[j + 3]
            u = t[(a >> 8) & 255] ^ t[256 | (a & 255)]
            x3 ^= t[a >> 24] ^ t[256 | ((a >> 16) & 255)] ^ (((u >> 16) | (u << 16)) & 0xFFFFFFFF)
        # Output is the last four words in reverse order.
        if mode == 1:
            v0 = x3
            v1 = x2
            v2 = x1
            v3 = x0
        elif mode == 2:
            x3 ^= v0
            x2 ^= v1
            x1 ^= v2
            x0 ^= v3
            v0 = c0
            v1 = c1
            v2 = c2
            v3 = c3
        _store(buf, i, x3)
        _store(buf, i + 4, x2)
        _store(buf, i + 8, x1)
        _store(buf, i + 12, x0)
        i += 16
    if mode:
        _store(iv, 0, v0)
        _store(iv, 4, v1)
        _store(iv, 8, v2)
        _store(iv, 12, v3)


if _MP:
    import micropython

    # Same algorithm as _crypt_portable. Viper ints are machine words: 32-bit signed on the
    # ESP32, 64-bit on the unix port. Right shifts are masked where their high bits survive
    # (arithmetic shift on the ESP32); the left half of the rotation is masked with `m32` (a
    # no-op on the ESP32); m32 is built at run time because mpy-cross only folds small-int
    # constants into viper code. Words stay within 32 bits on the unix port, so byte fields can
    # be taken without further masking.
    @micropython.viper
    def _crypt(buf, rk, iv, mode: int):
        p = ptr8(buf)
        k = ptr32(rk)
        v = ptr8(iv)
        t = ptr32(_T)
        n = int(len(buf))
        m32 = (int(0xFFFF) << 16) | 0xFFFF
        v0 = 0
        v1 = 0
        v2 = 0
        v3 = 0
        c0 = 0
        c1 = 0
        c2 = 0
        c3 = 0
        if mode:
            v0 = (v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]
            v1 = (v[4] << 24) | (v[5] << 16) | (v[6] << 8) | v[7]
            v2 = (v[8] << 24) | (v[9] << 16) | (v[10] << 8) | v[11]
            v3 = (v[12] << 24) | (v[13] << 16) | (v[14] << 8) | v[15]
        i = 0
        while i < n:
            x0 = (p[i] << 24) | (p[i + 1] << 16) | (p[i + 2] << 8) | p[i + 3]
            x1 = (p[i + 4] << 24) | (p[i + 5] << 16) | (p[i + 6] << 8) | p[i + 7]
            x2 = (p[i + 8] << 24) | (p[i + 9] << 16) | (p[i + 10] << 8) | p[i + 11]
            x3 = (p[i + 12] << 24) | (p[i + 13] << 16) | (p[i + 14] << 8) | p[i + 15]
            if mode == 1:
                x0 ^= v0
                x1 ^= v1
                x2 ^= v2
                x3 ^= v3
            elif mode == 2:
                c0 = x0
                c1 = x1
                c2 = x2
                c3 = x3
            j = 0
            while j < 32:
                a = x1 ^ x2 ^ x3 ^ k[j]
                u = t[(a >> 8) & 255] ^ t[256 | (a & 255)]
                x0 ^= (
                    t[(a >> 24) & 255]
                    ^ t[256 | ((a >> 16) & 255)]
                    ^ ((u >> 16) & 0xFFFF)
                    ^ ((u << 16) & m32)
                )
                a = x2 ^ x3 ^ x0 ^ k[j + 1]
                u = t[(a >> 8) & 255] ^ t[256 | (a & 255)]
                x1 ^= (
                    t[(a >> 24) & 255]
                    ^ t[256 | ((a >> 16) & 255)]
                    ^ ((u >> 16) & 0xFFFF)
                    ^ ((u << 16) & m32)
                )
                a = x3 ^ x0 ^ x1 ^ k[j + 2]
                u = t[(a >> 8) & 255] ^ t[256 | (a & 255)]
                x2 ^= (
                    t[(a >> 24) & 255]
                    ^ t[256 | ((a >> 16) & 255)]
                    ^ ((u >> 16) & 0xFFFF)
                    ^ ((u << 16) & m32)
                )
                a = x0 ^ x1 ^ x2 ^ k[j + 3]
                u = t[(a >> 8) & 255] ^ t[256 | (a & 255)]
                x3 ^= (
                    t[(a >> 24) & 255]
                    ^ t[256 | ((a >> 16) & 255)]
                    ^ ((u >> 16) & 0xFFFF)
                    ^ ((u << 16) & m32)
                )
                j += 4
            if mode == 1:
                v0 = x3
                v1 = x2
                v2 = x1
                v3 = x0
            elif mode == 2:
                x3 ^= v0
                x2 ^= v1
                x1 ^= v2
                x0 ^= v3
                v0 = c0
                v1 = c1
                v2 = c2
                v3 = c3
            p[i] = x3 >> 24
            p[i + 1] = x3 >> 16
            p[i + 2] = x3 >> 8
            p[i + 3] = x3
            p[i + 4] = x2 >> 24
            p[i + 5] = x2 >> 16
            p[i + 6] = x2 >> 8
            p[i + 7] = x2
            p[i + 8] = x1 >> 24
            p[i + 9] = x1 >> 16
            p[i + 10] = x1 >> 8
            p[i + 11] = x1
            p[i + 12] = x0 >> 24
            p[i + 13] = x0 >> 16
            p[i + 14] = x0 >> 8
            p[i + 15] = x0
            i += 16
        if mode:
            v[0] = v0 >> 24
            v[1] = v0 >> 16
            v[2] = v0 >> 8
            v[3] = v0
            v[4] = v1 >> 24
            v[5] = v1 >> 16
            v[6] = v1 >> 8
            v[7] = v1
            v[8] = v2 >> 24
            v[9] = v2 >> 16
            v[10] = v2 >> 8
            v[11] = v2
            v[12] = v3 >> 24
            v[13] = v3 >> 16
            v[14] = v3 >> 8
            v[15] = v3

    # Same algorithm as _expand_portable, under the rules of _crypt above; FK is built at run
    # time from 16-bit halves.
    @micropython.viper
    def _expand(key, enc, dec):
        kb = ptr8(key)
        e = ptr32(enc)
        d = ptr32(dec)
        s = ptr8(_SBOX)
        m32 = (int(0xFFFF) << 16) | 0xFFFF
        k0 = (kb[0] << 24) | (kb[1] << 16) | (kb[2] << 8) | kb[3]
        k1 = (kb[4] << 24) | (kb[5] << 16) | (kb[6] << 8) | kb[7]
        k2 = (kb[8] << 24) | (kb[9] << 16) | (kb[10] << 8) | kb[11]
        k3 = (kb[12] << 24) | (kb[13] << 16) | (kb[14] << 8) | kb[15]
        k0 = (k0 ^ ((int(0xA3B1) << 16) | 0xBAC6)) & m32
        k1 = (k1 ^ ((int(0x56AA) << 16) | 0x3350)) & m32
        k2 = (k2 ^ ((int(0x677D) << 16) | 0x9197)) & m32
        k3 = (k3 ^ ((int(0xB270) << 16) | 0x22DC)) & m32
        i = 0
        while i < 32:
            c = (i * 28) & 255
            ck = (c << 24) | (((c + 7) & 255) << 16) | (((c + 14) & 255) << 8) | ((c + 21) & 255)
            x = k1 ^ k2 ^ k3 ^ (ck & m32)
            x = (
                (s[(x >> 24) & 255] << 24)
                | (s[(x >> 16) & 255] << 16)
                | (s[(x >> 8) & 255] << 8)
                | s[x & 255]
            ) & m32
            x = (
                k0
                ^ x
                ^ (((x << 13) & m32) | ((x >> 19) & 0x1FFF))
                ^ (((x << 23) & m32) | ((x >> 9) & 0x7FFFFF))
            )
            e[i] = x
            d[31 - i] = x
            k0 = k1
            k1 = k2
            k2 = k3
            k3 = x
            i += 1

else:
    _crypt = _crypt_portable
    _expand = _expand_portable


# --- public API -----------------------------------------------------------------------------


class SM4(BlockCipher):
    """SM4 with a 16-byte key, ECB and CBC. The key is expanded once; the raw key is not kept."""

    block_size = 16
    name = "SM4"

    def __init__(self, key):
        n = check_bytes(key, "SM4 key")
        if n != 16:
            raise ValueError("SM4 key must be 16 bytes, got %d" % n)
        enc = array("I", range(32))
        dec = array("I", range(32))
        _expand(key, enc, dec)
        super().__init__(enc, _crypt, dec)
