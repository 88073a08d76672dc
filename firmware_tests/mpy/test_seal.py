# Sealing secrets at rest: round trip, and every kind of damage refused.
from app.crypto import seal

KEY = bytes(range(16))


def expect_seal_error(words, blob, key=KEY):
    try:
        seal.unseal(key, blob)
    except seal.SealError as exc:
        for word in words:
            assert word in str(exc), (word, str(exc))
    else:
        raise AssertionError("damaged blob accepted")


def test_round_trip_all_lengths():
    for n in (0, 1, 15, 16, 17, 40, 100):
        secret = bytes((i * 7) & 0xFF for i in range(n))
        blob = seal.seal(KEY, secret)
        assert seal.unseal(KEY, blob) == secret
        assert len(blob) == 16 + (n // 16 + 1) * 16 + 16


def test_secret_does_not_appear_in_the_blob():
    secret = b"\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00"
    blob = seal.seal(KEY, secret)
    for i in range(len(secret) - 3):
        assert secret[i : i + 4] not in blob


def test_fresh_iv_each_time():
    assert seal.seal(KEY, b"same") != seal.seal(KEY, b"same")


def test_every_flipped_bit_is_refused():
    blob = seal.seal(KEY, b"kbpk and link key")
    for i in range(len(blob)):
        damaged = bytearray(blob)
        damaged[i] ^= 0x01
        expect_seal_error(["does not verify"], bytes(damaged))


def test_another_terminals_key_is_refused():
    blob = seal.seal(KEY, b"secret")
    expect_seal_error(["does not verify"], blob, bytes(16))


def test_truncated_blob_is_refused():
    blob = seal.seal(KEY, b"secret")
    expect_seal_error(["bad length"], blob[:-1])
    expect_seal_error(["bad length"], blob[:20])


def test_storage_key_length_checked():
    try:
        seal.seal(b"short", b"x")
    except ValueError as exc:
        assert "16 bytes" in str(exc)
    else:
        raise AssertionError("short storage key accepted")
