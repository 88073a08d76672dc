"""Block ciphers by algorithm name, and key check values.

The terminal's parameters name the key algorithm of each acquirer application ("DES",
"3DES", "SM4"); AES serves TR-31 version D key blocks. Every cipher object has the same
interface: block_size, name, encrypt/decrypt (ECB), encrypt_cbc/decrypt_cbc, and the
non-allocating encrypt_into/decrypt_into.
"""

DES = "DES"
TDES = "3DES"
SM4 = "SM4"
AES = "AES"
ALGORITHMS = (DES, TDES, SM4, AES)

_KEY_LENGTHS = {DES: (8,), TDES: (16, 24), SM4: (16,), AES: (16, 32)}  # cryptolib has no AES-192


def new(algorithm, key):
    """A cipher object for `algorithm` keyed with `key` (bytes)."""
    lengths = _KEY_LENGTHS.get(algorithm)
    if lengths is None:
        raise ValueError(
            "unknown key algorithm %r: expected one of %s" % (algorithm, ", ".join(ALGORITHMS))
        )
    if isinstance(key, str):
        raise TypeError("%s key must be bytes, not str" % algorithm)
    if len(key) not in lengths:
        raise ValueError(
            "%s key must be %s bytes, got %d"
            % (algorithm, " or ".join(str(n) for n in lengths), len(key))
        )
    if algorithm == SM4:
        from app.crypto.sm4 import SM4 as cls
    elif algorithm == AES:
        from app.crypto.aes import AES as cls
    else:
        from app.crypto.des import DES as cls
    return cls(key)


def kcv(algorithm, key, length=3):
    """Key check value: the first `length` bytes of E(key, 00..00), one block of zeros.

    CUP sign-on (field 62) carries 4-byte check values; key entry screens show 3 bytes.
    """
    cipher = new(algorithm, key)
    if not 1 <= length <= cipher.block_size:
        raise ValueError("check value length must be 1 to %d bytes" % cipher.block_size)
    block = bytearray(cipher.block_size)
    cipher.encrypt_into(block)
    return bytes(block[:length])
