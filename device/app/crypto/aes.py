"""AES for the terminal, through MicroPython's built-in `cryptolib`, behind the same
interface as app.crypto.des.DES and app.crypto.sm4.SM4 (used for TR-31 version D key blocks
and AES-CMAC).
"""

import cryptolib

_ECB = 1
_CBC = 2


class AES:
    """AES-128 or AES-256 (key length selects). MicroPython's cryptolib has no AES-192."""

    block_size = 16
    name = "AES"

    def __init__(self, key):
        if isinstance(key, str):
            raise TypeError("AES key must be bytes, not str")
        if len(key) not in (16, 32):
            raise ValueError(
                "AES key must be 16 or 32 bytes (cryptolib has no AES-192), got %d" % len(key)
            )
        self._key = bytes(key)
        # A cryptolib object either encrypts or decrypts, never both: one of each, made at
        # its first use and kept. Not before: each is about 500 bytes of heap, and the CBC
        # calls (the storage seal of every journal record) use neither.
        self._enc = None
        self._dec = None

    def _encryptor(self):
        if self._enc is None:
            self._enc = cryptolib.aes(self._key, _ECB)
        return self._enc

    def _decryptor(self):
        if self._dec is None:
            self._dec = cryptolib.aes(self._key, _ECB)
        return self._dec

    def _check(self, data):
        if len(data) % 16:
            raise ValueError("data length %d is not a multiple of the 16-byte block" % len(data))

    def _check_iv(self, iv):
        if len(iv) != 16:
            raise ValueError("IV must be 16 bytes, got %d" % len(iv))

    def encrypt(self, data):
        self._check(data)
        buf = bytearray(data)
        if buf:
            self._encryptor().encrypt(buf, buf)
        return bytes(buf)

    def decrypt(self, data):
        self._check(data)
        buf = bytearray(data)
        if buf:
            self._decryptor().decrypt(buf, buf)
        return bytes(buf)

    def encrypt_into(self, buf):
        self._check(buf)
        self._encryptor().encrypt(buf, buf)

    def decrypt_into(self, buf):
        self._check(buf)
        self._decryptor().decrypt(buf, buf)

    def encrypt_cbc(self, data, iv):
        self._check(data)
        self._check_iv(iv)
        if not data:
            return b""
        return cryptolib.aes(self._key, _CBC, bytes(iv)).encrypt(bytes(data))

    def decrypt_cbc(self, data, iv):
        self._check(data)
        self._check_iv(iv)
        if not data:
            return b""
        return cryptolib.aes(self._key, _CBC, bytes(iv)).decrypt(bytes(data))
