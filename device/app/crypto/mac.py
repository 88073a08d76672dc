"""Message authentication codes the terminal speaks.

- cup_mac: the CUP POS "ECB" MAC of spec §4.1 (8-byte block ciphers) and its SM4 form §4.3;
  the result is the 8 ASCII hex characters carried in field 64.
- cbc_mac: ANSI X9.9 / ISO 9797-1 algorithm 1 (zero padding, IV 0).
- retail_mac: ANSI X9.19 / ISO 9797-1 algorithm 3 with a double-length DES key.
- cmac: NIST SP 800-38B over AES or TDES (TR-31 key block versions D and B).
- hmac_sha256: RFC 2104 over the built-in SHA-256 (parameter and key packets).

Every function takes a cipher object from app.crypto.cipher (or a key, for retail_mac and
hmac_sha256) and bytes-like data; none keeps the data.
"""

# pyright: reportArgumentType=false
# (viper functions take ptr8 parameters, which the stubs type as int: a buffer passed to one is
# correct MicroPython that the checker cannot express.)

import binascii
import hashlib
import sys

_MP = sys.implementation.name == "micropython"


def _xor_fold_portable(acc, block, data, n):
    # acc[i % block] ^= data[i] for i < n: XOR n bytes into an accumulator of `block` bytes,
    # which is also zero padding of the last partial block.
    j = 0
    for i in range(n):
        acc[j] ^= data[i]
        j += 1
        if j == block:
            j = 0


def _xor_all_portable(buf, n, value):
    # buf[i] ^= value for i < n: an HMAC key's pads.
    for i in range(n):
        buf[i] ^= value


if _MP:
    import micropython

    # The HMAC pads by viper: the two loops of 64 in bytecode were more than half of a
    # journal record's seal (app.crypto.seal, three HMACs a record): 714,000 instructions,
    # now 327,000 (callgrind, 64-bit unix port).
    @micropython.viper
    def _xor_all(buf: ptr8, n: int, value: int):
        i = 0
        while i < n:
            buf[i] = buf[i] ^ value
            i += 1

    @micropython.viper
    def _xor_fold(acc: ptr8, block: int, data: ptr8, n: int):
        j = 0
        i = 0
        while i < n:
            acc[j] = acc[j] ^ data[i]
            j += 1
            if j == block:
                j = 0
            i += 1

else:
    _xor_fold = _xor_fold_portable
    _xor_all = _xor_all_portable


def _data(data):
    if isinstance(data, str):
        raise TypeError("MAC data must be bytes, not str")
    if not len(data):
        raise ValueError("MAC data is empty")
    return data


def cup_mac(cipher, mab):
    """CUP POS MAC over `mab` (the bytes from the MTI to the end of field 63).

    R = XOR of all blocks (zero padded); H = upper-case hex of R; E1 = E(first half of H);
    E2 = E(E1 xor second half of H); MAC = first 8 upper-case hex characters of E2.
    """
    _data(mab)
    size = cipher.block_size
    acc = bytearray(size)
    _xor_fold(acc, size, mab, len(mab))
    hexed = binascii.hexlify(acc).upper()
    block = bytearray(hexed[:size])
    cipher.encrypt_into(block)
    _xor_fold(block, size, hexed[size:], size)
    cipher.encrypt_into(block)
    return binascii.hexlify(block).upper()[:8]


def cbc_mac(cipher, data):
    """ANSI X9.9 CBC-MAC (ISO 9797-1 alg. 1, padding 1, IV 0): the whole last block.

    X9.9 proper uses single DES; take the left 4 or 8 bytes as the acquirer requires.
    """
    _data(data)
    size = cipher.block_size
    acc = bytearray(size)
    view = memoryview(data)
    for start in range(0, len(data), size):
        chunk = view[start : start + size]
        _xor_fold(acc, size, chunk, len(chunk))
        cipher.encrypt_into(acc)
    return bytes(acc)


def retail_mac(key, data):
    """ANSI X9.19 retail MAC (ISO 9797-1 alg. 3) with a 16-byte DES key K = KL || KR:
    CBC-MAC under KL, then decrypt with KR and encrypt with KL. Returns 8 bytes."""
    from app.crypto.des import DES

    if len(key) != 16:
        raise ValueError("X9.19 MAC key must be 16 bytes (double length), got %d" % len(key))
    return retail_mac_halves(DES(key[:8]), DES(key[8:16]), data)


def retail_mac_halves(left, right, data):
    """X9.19 as `retail_mac`, with the key's halves as single-DES cipher objects (the key
    store hands out ciphers, never keys; both halves the same key give X9.9)."""
    acc = bytearray(cbc_mac(left, data))
    right.decrypt_into(acc)
    left.encrypt_into(acc)
    return bytes(acc)


def _double(block, rb):
    # Multiply by x in GF(2^n): shift left one bit, reduce by Rb if the top bit fell off.
    carry = 0
    for i in range(len(block) - 1, -1, -1):
        b = block[i]
        block[i] = ((b << 1) & 0xFF) | carry
        carry = b >> 7
    if carry:
        block[-1] ^= rb


def cmac(cipher, data, length=None):
    """NIST SP 800-38B CMAC with an AES (16-byte block) or TDES (8-byte block) cipher.
    Empty data is allowed, as the standard says. Returns `length` bytes (default: a block)."""
    if isinstance(data, str):
        raise TypeError("MAC data must be bytes, not str")
    size = cipher.block_size
    rb = 0x87 if size == 16 else 0x1B
    subkey = bytearray(size)
    cipher.encrypt_into(subkey)
    _double(subkey, rb)  # K1
    n = len(data)
    complete = n and n % size == 0
    if not complete:
        _double(subkey, rb)  # K2
    last = (n - 1) // size * size if n else 0
    acc = bytearray(size)
    view = memoryview(data)
    for start in range(0, last, size):
        _xor_fold(acc, size, view[start : start + size], size)
        cipher.encrypt_into(acc)
    tail = view[last:n]
    _xor_fold(acc, size, tail, len(tail))
    if not complete:
        acc[len(tail)] ^= 0x80
    _xor_fold(acc, size, subkey, size)
    cipher.encrypt_into(acc)
    if length is None:
        return bytes(acc)
    if not 1 <= length <= size:
        raise ValueError("CMAC length must be 1 to %d bytes" % size)
    return bytes(acc[:length])


def hmac_sha256(key, data):
    """RFC 2104 HMAC with SHA-256 (MicroPython has no hmac module; hashlib is native)."""
    if isinstance(key, str) or isinstance(data, str):
        raise TypeError("HMAC key and data must be bytes, not str")
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    pad = bytearray(64)
    pad[: len(key)] = key
    _xor_all(pad, 64, 0x36)
    inner = hashlib.sha256(pad)
    inner.update(data)
    inner_digest = inner.digest()
    _xor_all(pad, 64, 0x36 ^ 0x5C)
    outer = hashlib.sha256(pad)
    outer.update(inner_digest)
    return outer.digest()


def equal(expected, received):
    """Compare two MACs in time that does not depend on where they differ."""
    if len(expected) != len(received):
        return False
    diff = 0
    for i in range(len(expected)):
        diff |= expected[i] ^ received[i]
    return diff == 0
