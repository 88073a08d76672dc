# The power-up self-test passes on a healthy terminal and names a broken algorithm.
from app import selftest
from app.crypto import cipher


def test_all_known_answers_pass():
    assert selftest.run() == []


def test_a_broken_cipher_fails_the_self_test():
    real = cipher.new

    class Broken:
        block_size = 8
        name = "DES"

        def __init__(self, inner):
            self.inner = inner

        def encrypt(self, data):
            out = bytearray(self.inner.encrypt(data))
            out[0] ^= 1
            return bytes(out)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    def broken_new(algorithm, key):
        c = real(algorithm, key)
        return Broken(c) if algorithm == "DES" else c

    cipher.new = broken_new
    try:
        failed = selftest.run()
    finally:
        cipher.new = real
    assert "DES" in failed
    assert "SM4" not in failed


def test_table_reports_pass():
    assert selftest.main(repeat=1) == 0
