# Cipher selection by algorithm name, check values, and AES through the built-in cryptolib.
import gc
from binascii import unhexlify as h

from mptest import expect_error

from app.crypto import cipher

K2 = h("0123456789ABCDEFFEDCBA9876543210")
PT = h("00112233445566778899AABBCCDDEEFF")


def test_selects_by_name():
    assert cipher.new("DES", K2[:8]).name == "DES"
    assert cipher.new("3DES", K2).name == "3DES"
    assert cipher.new("SM4", K2).name == "SM4"
    assert cipher.new("AES", K2).name == "AES"
    assert cipher.new("SM4", K2).block_size == 16
    assert cipher.new("3DES", K2).block_size == 8


def test_check_values():
    assert cipher.kcv("3DES", K2, 4) == h("08D7B4FB")
    assert cipher.kcv("3DES", K2) == h("08D7B4")
    assert cipher.kcv("DES", h("C24A8FB57AA20123"), 4) == h("0547DB3E")
    # SM4: E(K, 0^16), first bytes (value computed with gmssl)
    assert cipher.kcv("SM4", K2, 4) == h("2677F46B")


def test_aes_fips197_vectors():
    key16 = h("000102030405060708090A0B0C0D0E0F")
    assert cipher.new("AES", key16).encrypt(PT) == h("69C4E0D86A7B0430D8CDB78070B4C55A")
    key32 = h("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
    aes = cipher.new("AES", key32)
    ct = aes.encrypt(PT)
    assert ct == h("8EA2B7CA516745BFEAFC49904B496089")
    assert aes.decrypt(ct) == PT


def test_aes_cbc_round_trip_and_chaining():
    aes = cipher.new("AES", K2)
    iv = bytes(range(16))
    data = bytes(range(64))
    ct = aes.encrypt_cbc(data, iv)
    assert aes.decrypt_cbc(ct, iv) == data
    assert ct[16:32] != aes.encrypt(data[16:32])
    assert ct[:16] == aes.encrypt(bytes(a ^ b for a, b in zip(data[:16], iv)))


def test_aes_encrypt_into_does_not_allocate():
    aes = cipher.new("AES", K2)
    buf = bytearray(PT)
    aes.decrypt_into(buf)  # each direction's cryptolib object is made at its first use
    aes.encrypt_into(buf)
    aes.encrypt_into(buf)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(100):
        aes.encrypt_into(buf)
        aes.decrypt_into(buf)
    assert gc.mem_alloc() - before == 0
    assert bytes(buf) == aes.encrypt(PT)


def test_refusals_name_the_problem():
    expect_error(ValueError, ["unknown key algorithm", "RC4"], cipher.new, "RC4", K2)
    expect_error(ValueError, ["DES key", "8 bytes", "got 16"], cipher.new, "DES", K2)
    expect_error(ValueError, ["3DES key", "16 or 24", "got 8"], cipher.new, "3DES", K2[:8])
    expect_error(ValueError, ["SM4 key", "16", "got 8"], cipher.new, "SM4", K2[:8])
    expect_error(ValueError, ["AES key", "got 15"], cipher.new, "AES", K2[:15])
    expect_error(ValueError, ["AES key", "16 or 32", "got 24"], cipher.new, "AES", bytes(24))
    expect_error(TypeError, ["bytes"], cipher.new, "3DES", "0123456789ABCDEF")
    aes = cipher.new("AES", K2)
    expect_error(ValueError, ["13", "16-byte block"], aes.encrypt, bytes(13))
    expect_error(ValueError, ["IV", "16 bytes", "got 8"], aes.encrypt_cbc, bytes(16), bytes(8))
