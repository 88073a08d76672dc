"""The ECB/CBC front shared by the terminal's own block ciphers (app.crypto.des, app.crypto.sm4).

A subclass computes its key schedules and calls `super().__init__(enc, crypt, dec)`, where
`crypt(buf, schedule, iv, mode)` is its module's core (mode 0 ECB, 1 CBC encrypt, 2 CBC
decrypt), working in place. `crypt` is kept as an instance attribute, so a viper function is
called as is, not bound as a method. A subclass that gives no `dec` makes it from `enc` in
its `_reversed(enc)`, at the first decryption.
"""

# Module-level tuples: a tuple display of names is built (allocated) on every call.
_BYTES_LIKE = (bytes, bytearray, memoryview)
_WRITABLE = (bytearray, memoryview)


def check_bytes(value, what):
    """len(value), or TypeError if `value` is not bytes-like."""
    if not isinstance(value, _BYTES_LIKE):
        raise TypeError("%s must be bytes, got %s" % (what, type(value).__name__))
    return len(value)


class BlockCipher:
    """encrypt/decrypt (ECB), encrypt_cbc/decrypt_cbc, and the non-allocating
    encrypt_into/decrypt_into, over a subclass's key schedule and core."""

    block_size = 8
    name = ""

    def __init__(self, enc, crypt, dec=None):
        self._enc = enc
        # The decryption schedule, made at the first decryption when not given: a PIN or MAC
        # key only ever encrypts, and one kept for the day (a 3DES one: app.keys.slots) then
        # keeps 400 bytes less of the heap.
        self._dec = dec
        self._iv = bytearray(self.block_size)  # CBC chaining block, allocated once
        self._crypt = crypt

    def _blocks(self, data):
        n = check_bytes(data, "data")
        if n % self.block_size:
            raise ValueError(
                "data length %d is not a multiple of the %d-byte block" % (n, self.block_size)
            )

    def _writable(self, buf):
        # Viper writes through any buffer, so an immutable bytes object must be refused here.
        if not isinstance(buf, _WRITABLE):
            raise TypeError(
                "buffer must be a bytearray or memoryview, got %s" % type(buf).__name__
            )
        self._blocks(buf)
        if len(buf):
            try:
                buf[0] = buf[0]
            except TypeError:
                raise TypeError("buffer is read-only") from None

    def _set_iv(self, iv):
        n = check_bytes(iv, "IV")
        if n != self.block_size:
            raise ValueError("IV must be %d bytes, got %d" % (self.block_size, n))
        self._iv[:] = iv

    def _decryption(self):
        # The decryption schedule (see __init__).
        if self._dec is None:
            self._dec = self._reversed(self._enc)
        return self._dec

    def _reversed(self, enc):
        raise NotImplementedError  # a subclass that gives no `dec` has one

    def _run(self, data, schedule, mode):
        out = bytearray(data)
        self._crypt(out, schedule, self._iv, mode)
        return bytes(out)

    def encrypt(self, data):
        """ECB-encrypt `data` (whole blocks) and return the ciphertext as bytes."""
        self._blocks(data)
        return self._run(data, self._enc, 0)

    def decrypt(self, data):
        """ECB-decrypt `data` (whole blocks) and return the plaintext as bytes."""
        self._blocks(data)
        return self._run(data, self._decryption(), 0)

    def encrypt_cbc(self, data, iv):
        """CBC-encrypt `data` (whole blocks) with a one-block `iv`; no padding."""
        self._blocks(data)
        self._set_iv(iv)
        return self._run(data, self._enc, 1)

    def decrypt_cbc(self, data, iv):
        """CBC-decrypt `data` (whole blocks) with a one-block `iv`."""
        self._blocks(data)
        self._set_iv(iv)
        return self._run(data, self._decryption(), 2)

    def encrypt_into(self, buf):
        """ECB-encrypt a writable buffer (bytearray or memoryview) in place; allocates nothing."""
        self._writable(buf)
        self._crypt(buf, self._enc, self._iv, 0)

    def decrypt_into(self, buf):
        """ECB-decrypt a writable buffer (bytearray or memoryview) in place; allocates nothing
        after the first decryption (which makes the decryption schedule)."""
        self._writable(buf)
        self._crypt(buf, self._decryption(), self._iv, 0)
