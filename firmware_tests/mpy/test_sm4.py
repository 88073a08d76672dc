# SM4 on MicroPython: GB/T 32907 Appendix A vectors, CBC, in-place operation without
# allocation, and the viper block loop and key schedule against the portable ones.
import gc
from array import array
from binascii import unhexlify as h

from mptest import expect_error, objects
from rng import Rng

from app.crypto import sm4
from app.crypto.sm4 import SM4

KEY = h("0123456789ABCDEFFEDCBA9876543210")


def _iterate(n):
    # Encrypt the block n times with the same key, feeding each output back in.
    c = SM4(KEY)
    buf = bytearray(KEY)
    for _ in range(n):
        c.encrypt_into(buf)
    return bytes(buf)


def test_sm4_standard_vector():
    # GB/T 32907-2016 Appendix A, example 1: key = plaintext
    c = SM4(KEY)
    assert c.name == "SM4" and c.block_size == 16
    assert c.encrypt(KEY) == h("681EDF34D206965E86B3E94F536E4246")
    assert c.decrypt(h("681EDF34D206965E86B3E94F536E4246")) == KEY


def test_sm4_ten_thousand_iterations():
    # Value computed with gmssl (and the portable path under CPython).
    assert _iterate(10000) == h("2D8BFC27381C68ECB316320EE72BA074")


def test_sm4_million_slow():
    # GB/T 32907-2016 Appendix A, example 2
    assert _iterate(1000000) == h("595298C7C6FD271F0402F804C33D3F66")


def test_sm4_decrypt_inverts_iteration():
    c = SM4(KEY)
    buf = bytearray(h("2D8BFC27381C68ECB316320EE72BA074"))
    for _ in range(10000):
        c.decrypt_into(buf)
    assert buf == KEY


def test_sm4_multi_block_ecb_is_blockwise():
    c = SM4(KEY)
    data = KEY + bytes(16) + KEY
    ct = c.encrypt(data)
    assert ct[:16] == ct[32:] == h("681EDF34D206965E86B3E94F536E4246")
    assert ct[16:32] == c.encrypt(bytes(16))
    assert c.decrypt(ct) == data


def test_sm4_cbc_vector():
    # Computed with gmssl: CryptSM4.crypt_cbc(iv, pt), its trailing padding block dropped.
    c = SM4(KEY)
    iv = h("000102030405060708090A0B0C0D0E0F")
    pt = KEY + KEY + bytes(16)
    ct = h(
        "A9A268883A336315BAC0C9C9FF350AB1"
        "B236A4A85616D4AABF0A83555C7D4115"
        "D8E9C1CBFD5D4313681DA4E6EE51137C"
    )
    assert c.encrypt_cbc(pt, iv) == ct
    assert c.decrypt_cbc(ct, iv) == pt
    assert ct[:16] == c.encrypt(bytes(a ^ b for a, b in zip(pt[:16], iv)))


def test_sm4_cbc_round_trips():
    rng = Rng(0xBADC0DE)
    for _ in range(6):
        c = SM4(rng.bytes(16))
        iv = rng.bytes(16)
        for blocks in (0, 1, 2, 4):
            data = rng.bytes(16 * blocks)
            ct = c.encrypt_cbc(data, iv)
            assert len(ct) == len(data)
            assert c.decrypt_cbc(ct, iv) == data
            assert c.decrypt(c.encrypt(data)) == data


def test_sm4_iv_is_not_modified():
    c = SM4(KEY)
    iv = bytearray(16)
    first = c.encrypt_cbc(bytes(32), iv)
    assert iv == bytes(16)
    assert c.encrypt_cbc(bytes(32), iv) == first


def test_sm4_empty_and_bytes_like():
    c = SM4(bytearray(KEY))
    assert c.encrypt(b"") == b"" and c.decrypt_cbc(b"", bytes(16)) == b""
    assert SM4(memoryview(KEY)).encrypt(memoryview(KEY)) == c.encrypt(KEY)
    assert isinstance(c.encrypt(bytearray(16)), bytes)


def test_sm4_encrypt_into_on_a_slice():
    c = SM4(KEY)
    buf = bytearray(b"\xaa" * 3 + KEY + b"\xbb" * 5)
    view = memoryview(buf)[3:19]
    c.encrypt_into(view)
    assert buf[3:19] == h("681EDF34D206965E86B3E94F536E4246")
    assert buf[:3] == b"\xaa" * 3 and buf[19:] == b"\xbb" * 5
    c.decrypt_into(view)
    assert buf[3:19] == KEY


def _growth(fn, arg):
    fn(arg)
    # No collection in between (app sets gc.threshold): it would hide what was allocated.
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(100):
        fn(arg)
    used = gc.mem_alloc() - before
    gc.enable()
    return used


def test_sm4_encrypt_into_does_not_allocate():
    c = SM4(KEY)
    buf = bytearray(64)
    assert _growth(c.encrypt_into, buf) == 0
    assert _growth(c.decrypt_into, buf) == 0
    assert _growth(c.encrypt_into, memoryview(buf)[16:48]) == 0


def test_sm4_viper_matches_portable():
    assert sm4._crypt is not sm4._crypt_portable, "the viper path is in use on MicroPython"
    rng = Rng(0x5EED)
    for i in range(300):
        c = SM4(rng.bytes(16))
        mode = i % 3
        schedule = c._decryption() if mode == 2 else c._enc
        data = bytearray(rng.bytes(16 * (1 + i % 2)))
        iv = bytearray(rng.bytes(16))
        fast, slow = bytearray(data), bytearray(data)
        iv_fast, iv_slow = bytearray(iv), bytearray(iv)
        sm4._crypt(fast, schedule, iv_fast, mode)
        sm4._crypt_portable(slow, schedule, iv_slow, mode)
        assert fast == slow and iv_fast == iv_slow, (i, mode)
        assert fast != data


def test_sm4_bad_input_errors():
    expect_error(ValueError, ["SM4 key must be 16 bytes, got 15"], SM4, bytes(15))
    expect_error(ValueError, ["got 24"], SM4, bytes(24))
    expect_error(TypeError, ["bytes", "str"], SM4, "0123456789ABCDEF")
    c = SM4(KEY)
    expect_error(ValueError, ["data length 13", "multiple", "16-byte"], c.encrypt, bytes(13))
    expect_error(ValueError, ["data length 8", "16-byte"], c.decrypt, bytes(8))
    expect_error(TypeError, ["data", "bytes", "int"], c.encrypt, 16)
    expect_error(ValueError, ["IV must be 16 bytes, got 8"], c.encrypt_cbc, bytes(16), bytes(8))
    expect_error(ValueError, ["IV must be 16 bytes, got 0"], c.decrypt_cbc, bytes(16), b"")
    expect_error(TypeError, ["bytearray", "bytes"], c.encrypt_into, bytes(16))
    expect_error(TypeError, ["read-only"], c.encrypt_into, memoryview(bytes(16)))
    expect_error(ValueError, ["data length 17"], c.decrypt_into, bytearray(17))


def test_sm4_key_schedule_viper_matches_portable():
    assert sm4._expand is not sm4._expand_portable, "the viper path is in use on MicroPython"
    rng = Rng(0x4B45)
    for i in range(200):
        key = rng.bytes(16)
        fast = (array("I", range(32)), array("I", range(32)))
        slow = (array("I", range(32)), array("I", range(32)))
        sm4._expand(key, *fast)
        sm4._expand_portable(key, *slow)
        assert list(fast[0]) == list(slow[0]) and list(fast[1]) == list(slow[1]), i


def test_sm4_key_set_up_allocates_only_its_round_keys():
    # Two 32-word round key arrays and the cipher: 480 bytes on the 32-bit port. In plain
    # Python the schedule's 32-bit words made 26 KB of heap objects there (31-bit small ints).
    SM4(KEY)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    SM4(KEY)
    used = gc.mem_alloc() - before
    gc.enable()
    assert used < objects(640), used
