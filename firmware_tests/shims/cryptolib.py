"""CPython stand-in for MicroPython's built-in `cryptolib`, so app.crypto.aes imports in host
tests.

Backed by pycryptodome. Only what app.crypto.aes uses: aes(key, mode[, iv]) with ECB (1) and
CBC (2), encrypt/decrypt(in[, out]), and the one-direction rule of the real module.
"""

from Crypto.Cipher import AES as _AES


class aes:  # noqa: N801 - the built-in's name
    def __init__(self, key, mode, iv=None):
        if mode == 1:
            self._c = _AES.new(bytes(key), _AES.MODE_ECB)
        elif mode == 2:
            self._c = _AES.new(bytes(key), _AES.MODE_CBC, iv=bytes(iv))
        else:
            raise ValueError("mode")
        self._direction = None

    def _run(self, direction, data, out):
        if self._direction not in (None, direction):
            raise OSError("can't encrypt & decrypt")
        self._direction = direction
        fn = self._c.encrypt if direction == "e" else self._c.decrypt
        result = fn(bytes(data))
        if out is None:
            return result
        out[:] = result
        return None

    def encrypt(self, data, out=None):
        return self._run("e", data, out)

    def decrypt(self, data, out=None):
        return self._run("d", data, out)
