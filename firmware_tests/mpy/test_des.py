# DES and triple DES on MicroPython: published vectors, the terminal's own key-loading cases,
# CBC, in-place operation without allocation, and the viper block loop against the portable one.
import gc
from binascii import unhexlify as h

from mptest import expect_error
from rng import Rng

from app.crypto import des
from app.crypto.des import DES

K2 = h("0123456789ABCDEFFEDCBA9876543210")
# Three distinct keys (the NIST SP 800-67 example keys).
K3 = h("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123")


def test_des_textbook_vector():
    c = DES(h("133457799BBCDFF1"))
    assert c.name == "DES" and c.block_size == 8
    assert c.encrypt(h("0123456789ABCDEF")) == h("85E813540F0AB405")
    assert c.decrypt(h("85E813540F0AB405")) == h("0123456789ABCDEF")


def test_des_nist_known_answers():
    # SP 800-17 variable-plaintext / sample-data entries
    assert DES(h("0101010101010101")).encrypt(h("95F8A5E5DD31D900")) == h("8000000000000000")
    assert DES(h("0E329232EA6D0D73")).encrypt(h("8787878787878787")) == bytes(8)
    assert DES(h("7CA110454A1A6E57")).encrypt(h("01A1D6D039776742")) == h("690F5B0D9A26939B")


def test_3des_2key_vector():
    c = DES(K2)
    assert c.name == "3DES" and c.block_size == 8
    assert c.encrypt(h("0123456789ABCDEF")) == h("1A4D672DCA6CB335")
    assert c.decrypt(h("1A4D672DCA6CB335")) == h("0123456789ABCDEF")


def test_3des_check_value():
    # KCV = E(K, 0^8); terminals compare its first 3 (or 4) bytes
    assert DES(K2).encrypt(bytes(8)) == h("08D7B4FB629D0885")


def test_working_key_decrypts_under_tmk():
    # A MAK delivered under the TMK in the sign-on response decrypts to the clear MAK.
    tmk = DES(h("70F2A84CCBC2AE8625CBB0F2C22AB923"))
    assert tmk.decrypt(h("96D605EA176B7E9E")) == h("C24A8FB57AA20123")


def test_3des_3key_vector():
    # Computed with pycryptodome: DES3(K3, ECB).encrypt(b"The quick brown fox jump").
    c = DES(K3)
    assert c.name == "3DES"
    ct = h("1CCF23869D09333ECCE21C8112256FE668D5C05DD9B6B900")
    assert c.encrypt(b"The quick brown fox jump") == ct
    assert c.decrypt(ct) == b"The quick brown fox jump"


def test_degenerate_keys_act_as_single_des():
    k1 = h("133457799BBCDFF1")
    k3 = h("0123456789ABCDEF")
    pt = h("0123456789ABCDEF")
    assert DES(k1 + k1).encrypt(pt) == DES(k1).encrypt(pt) == h("85E813540F0AB405")
    assert DES(k1 + k1 + k3).encrypt(pt) == DES(k3).encrypt(pt)
    assert DES(k1 + k3 + k3).encrypt(pt) == DES(k1).encrypt(pt)


def test_des_cbc_fips81_vector():
    c = DES(h("0123456789ABCDEF"))
    iv = h("1234567890ABCDEF")
    pt = b"Now is the time for all "
    ct = h("E5C7CDDE872BF27C43E934008C389C0F683788499A7C05F6")
    assert c.encrypt_cbc(pt, iv) == ct
    assert c.decrypt_cbc(ct, iv) == pt


def test_3des_cbc_vector():
    # Computed with pycryptodome: DES3(K2, CBC, iv).encrypt(pt)
    c = DES(K2)
    iv = h("0011223344556677")
    pt = h("0123456789ABCDEF0123456789ABCDEF0000000000000000")
    ct = h("4470B1B14C4DF919EAD242A1B77ED151FFA881DF0EC850F9")
    assert c.encrypt_cbc(pt, iv) == ct
    assert c.decrypt_cbc(ct, iv) == pt
    # the first block is E(pt ^ iv); identical plaintext blocks encrypt differently
    assert ct[:8] == c.encrypt(bytes(a ^ b for a, b in zip(pt[:8], iv)))
    assert ct[8:16] != ct[:8]


def test_cbc_round_trips():
    rng = Rng(0x1234567)
    for n in (8, 16, 24, 8, 16, 24):
        c = DES(rng.bytes(n))
        iv = rng.bytes(8)
        for blocks in (0, 1, 2, 5):
            data = rng.bytes(8 * blocks)
            ct = c.encrypt_cbc(data, iv)
            assert len(ct) == len(data)
            assert c.decrypt_cbc(ct, iv) == data
            assert c.decrypt(c.encrypt(data)) == data


def test_iv_is_not_modified_and_calls_are_independent():
    c = DES(K2)
    iv = bytearray(h("0011223344556677"))
    pt = bytes(24)
    first = c.encrypt_cbc(pt, iv)
    assert iv == h("0011223344556677")
    assert c.encrypt_cbc(pt, iv) == first


def test_empty_input():
    c = DES(K2)
    assert c.encrypt(b"") == b""
    assert c.decrypt(b"") == b""
    assert c.encrypt_cbc(b"", bytes(8)) == b""
    c.encrypt_into(bytearray())


def test_accepts_bytes_like_keys_and_data():
    ref = DES(K2).encrypt(h("0123456789ABCDEF"))
    assert DES(bytearray(K2)).encrypt(bytearray(h("0123456789ABCDEF"))) == ref
    assert DES(memoryview(K2)).encrypt(memoryview(h("0123456789ABCDEF"))) == ref
    assert isinstance(DES(K2).encrypt(bytearray(8)), bytes)


def test_encrypt_into_in_place_on_a_slice():
    c = DES(K2)
    buf = bytearray(b"\xaa" * 4 + h("0123456789ABCDEF") * 2 + b"\xbb" * 4)
    view = memoryview(buf)[4:20]
    c.encrypt_into(view)
    assert buf[4:20] == h("1A4D672DCA6CB335") * 2
    assert buf[:4] == b"\xaa" * 4 and buf[20:] == b"\xbb" * 4
    c.decrypt_into(view)
    assert buf[4:20] == h("0123456789ABCDEF") * 2


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


def test_encrypt_into_does_not_allocate():
    for key in (K2[:8], K2, K3):
        c = DES(key)
        buf = bytearray(64)
        view = memoryview(buf)[8:40]
        assert _growth(c.encrypt_into, buf) == 0
        assert _growth(c.encrypt_into, view) == 0
        # A key that only encrypts (a PIN key, a MAC key) has no decryption schedule; the
        # first decryption makes it, and the next ones allocate nothing.
        assert c._dec is None
        c.decrypt_into(buf)
        assert _growth(c.decrypt_into, buf) == 0


def test_viper_matches_portable():
    assert des._crypt is not des._crypt_portable, "the viper path is in use on MicroPython"
    rng = Rng(0xC0FFEE)
    for i in range(300):
        c = DES(rng.bytes((8, 16, 24)[i % 3]))
        mode = (i // 3) % 3
        schedule = c._decryption() if mode == 2 else c._enc
        data = bytearray(rng.bytes(8 * (1 + i % 3)))
        iv = bytearray(rng.bytes(8))
        fast, slow = bytearray(data), bytearray(data)
        iv_fast, iv_slow = bytearray(iv), bytearray(iv)
        des._crypt(fast, schedule, iv_fast, mode)
        des._crypt_portable(slow, schedule, iv_slow, mode)
        assert fast == slow and iv_fast == iv_slow, (i, mode)
        assert fast != data


def test_bad_input_errors():
    expect_error(ValueError, ["DES key", "8, 16 or 24", "got 5"], DES, b"12345")
    expect_error(ValueError, ["got 0"], DES, b"")
    expect_error(TypeError, ["bytes", "str"], DES, "0123456789ABCDEF")
    expect_error(TypeError, ["bytes", "NoneType"], DES, None)
    c = DES(K2)
    expect_error(ValueError, ["data length 13", "multiple", "8-byte"], c.encrypt, bytes(13))
    expect_error(ValueError, ["data length 7"], c.decrypt, bytes(7))
    expect_error(TypeError, ["data", "bytes", "str"], c.encrypt, "abcdefgh")
    expect_error(ValueError, ["IV must be 8 bytes, got 7"], c.encrypt_cbc, bytes(8), bytes(7))
    expect_error(ValueError, ["IV must be 8 bytes, got 16"], c.decrypt_cbc, bytes(8), bytes(16))
    expect_error(ValueError, ["data length 12"], c.encrypt_cbc, bytes(12), bytes(8))
    expect_error(TypeError, ["bytearray", "bytes"], c.encrypt_into, bytes(8))
    expect_error(TypeError, ["read-only"], c.decrypt_into, memoryview(bytes(8)))
    expect_error(ValueError, ["data length 9", "8-byte"], c.encrypt_into, bytearray(9))


def test_raw_key_not_stored():
    c = DES(K3)
    for name in dir(c):
        value = getattr(c, name)
        if isinstance(value, (bytes, bytearray)):
            assert K3[:8] not in value and K3[8:16] not in value, name


# --- the S-box + P table, rebuilt from the standard ---------------------------------------------

# S-boxes S1..S8, each 4 rows of 16 entries, one hex digit per entry (FIPS 46-3).
_SBOX = (
    b"E4D12FB83A6C5907"
    b"0F74E2D1A6CB9538"
    b"41E8D62BFC973A50"
    b"FC8249175B3EA06D"
    b"F18E6B34972DC05A"
    b"3D47F28EC01A69B5"
    b"0E7BA4D158C6932F"
    b"D8A13F42B67C05E9"
    b"A09E63F51DC7B428"
    b"D709346A285ECBF1"
    b"D6498F30B12C5AE7"
    b"1AD069874FE3B52C"
    b"7DE3069A1285BC4F"
    b"D8B56F03472C1AE9"
    b"A690CB7DF13E5284"
    b"3F06A1D8945BC72E"
    b"2C417AB6853FD0E9"
    b"EB2C47D150FA3986"
    b"421BAD78F9C5630E"
    b"B8C71E2D6F09A453"
    b"C1AF92680D34E75B"
    b"AF427C9561DE0B38"
    b"9EF528C3704A1DB6"
    b"432C95FABE17608D"
    b"4B2EF08D3C975A61"
    b"D0B7491AE35C2F86"
    b"14BDC37EAF680592"
    b"6BD814A7950FE23C"
    b"D2846FB1A93E50C7"
    b"1FD8A374C56B0E92"
    b"7B419CE206ADF358"
    b"21E74A8DFC90356B"
)

# P, the round function's permutation (FIPS 46-3).
_P = tuple(
    int(n)
    for n in (
        "16  7 20 21 29 12 28 17 "
        " 1 15 23 26  5 18 31 10 "
        " 2  8 24 14 32 27  3  9 "
        "19 13 30  6 22 11  4 25 "
    ).split()
)


def fips_sp_planes():
    # app.crypto.des._SP from FIPS 46-3's S-boxes and P: 8 blocks of 64 words (block order S1 S3 S5
    # S7, S8 S2 S4 S6), each the S-box output through P, rotated right by 3 like the round halves;
    # stored as four byte planes, the words' top bytes first.
    p_bit = [0] * 33  # p_bit[k]: P output word for pre-P bit k (1 = MSB), rotated right by 3
    for i in range(32):
        w = 1 << (31 - i)
        p_bit[_P[i]] = ((w >> 3) | (w << 29)) & 0xFFFFFFFF
    sp = [0] * 512
    for s in range(8):
        if s & 1:
            base = (4 + (((s + 1) >> 1) & 3)) << 6
        else:
            base = (s >> 1) << 6
        for v in range(64):
            c = _SBOX[(s << 6) | (((v >> 4) & 2) | (v & 1)) << 4 | ((v >> 1) & 15)]
            nibble = c - 48 if c < 65 else c - 55
            w = 0
            for q in range(4):
                if nibble & (8 >> q):
                    w |= p_bit[4 * s + 1 + q]
            sp[base | v] = w
    return bytes((w >> (24 - 8 * plane)) & 255 for plane in range(4) for w in sp)


def test_sp_table_is_fips_46_3():
    assert des._SP == fips_sp_planes()
