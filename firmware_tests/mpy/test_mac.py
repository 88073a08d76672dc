# MACs on MicroPython: the CUP worked example and the published vectors of each algorithm.
from binascii import unhexlify as h

from mptest import expect_error

from app.crypto import cipher, mac

# Spec §4.4: the MAC element block of a real sale (MTI .. field 63).
MAB = h(
    "0200302004C020C0981100000000000000005100183402100006324392260009942820D131210112"
    "0084393136363838303134303030303030303030303030303031313536ACF46E73838A82F926000000"
    "00000000000822000001"
)
K2 = h("0123456789ABCDEFFEDCBA9876543210")
AES_KEY = h("2B7E151628AED2A6ABF7158809CF4F3C")
# NIST SP 800-38B / RFC 4493 message
M = h(
    "6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E51"
    "30C81C46A35CE411E5FBC1191A0A52EFF69F2445DF4F9B17AD2B417BE66C3710"
)


def test_cup_mac_worked_example():
    # MAK C24A8FB57AA20123 (single DES, as CUP 3DES sign-on delivers it) -> "8A9E91B8"
    assert mac.cup_mac(cipher.new("DES", h("C24A8FB57AA20123")), MAB) == b"8A9E91B8"


def test_cup_mac_double_length_key():
    assert mac.cup_mac(cipher.new("3DES", K2), MAB) == b"84C8B241"


def test_cup_mac_sm4():
    assert mac.cup_mac(cipher.new("SM4", K2), MAB) == b"D0656CDC"


def test_cup_mac_changes_with_one_bit():
    damaged = bytearray(MAB)
    damaged[20] ^= 0x01
    assert mac.cup_mac(cipher.new("DES", h("C24A8FB57AA20123")), damaged) != b"8A9E91B8"


def test_x99_fips113_vector():
    des = cipher.new("DES", h("0123456789ABCDEF"))
    assert mac.cbc_mac(des, b"7654321 Now is the time for ") == h("F1D30F6849312CA4")


def test_x99_over_the_sale():
    assert mac.cbc_mac(cipher.new("DES", h("C24A8FB57AA20123")), MAB) == h("756FED7EEB9F572C")


def test_x919_vectors():
    assert mac.retail_mac(K2, b"Now is the time for all ") == h("A1C72E74EA3FA9B6")
    assert mac.retail_mac(K2, MAB) == h("D2E1D279C4F95777")


def test_aes_cmac_rfc4493():
    aes = cipher.new("AES", AES_KEY)
    assert mac.cmac(aes, b"") == h("BB1D6929E95937287FA37D129B756746")
    assert mac.cmac(aes, M[:16]) == h("070A16B46B4D4144F79BDD9DD04A287C")
    assert mac.cmac(aes, M[:40]) == h("DFA66747DE9AE63030CA32611497C827")
    assert mac.cmac(aes, M) == h("51F0BEBF7E3B9D92FC49741779363CFE")
    assert mac.cmac(aes, M, 8) == h("51F0BEBF7E3B9D92")


def test_tdes_cmac_sp800_38b():
    tdes = cipher.new("3DES", h("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123"))
    assert mac.cmac(tdes, b"") == h("7DB0D37DF936C550")
    assert mac.cmac(tdes, M[:16]) == h("30239CF1F52E6609")
    assert mac.cmac(tdes, M[:20]) == h("6C9F3EE4923F6BE2")
    assert mac.cmac(tdes, M[:32]) == h("99429BD0BF7904E5")


def test_hmac_sha256_rfc4231():
    assert mac.hmac_sha256(b"\x0b" * 20, b"Hi There") == h(
        "B0344C61D8DB38535CA8AFCEAF0BF12B881DC200C9833DA726E9376C2E32CFF7"
    )
    assert mac.hmac_sha256(b"Jefe", b"what do ya want for nothing?") == h(
        "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"
    )
    long_key = b"\xaa" * 131
    assert mac.hmac_sha256(
        long_key, b"Test Using Larger Than Block-Size Key - Hash Key First"
    ) == h("60E431591EE0B67F0D8A26AACBF5B77F8E0BC6213728C5140546040F0EE37F54")


def test_equal():
    assert mac.equal(b"8A9E91B8", b"8A9E91B8")
    assert not mac.equal(b"8A9E91B8", b"8A9E91B9")
    assert not mac.equal(b"8A9E91B8", b"8A9E91")


def test_bad_input():
    des = cipher.new("DES", h("C24A8FB57AA20123"))
    expect_error(ValueError, ["empty"], mac.cup_mac, des, b"")
    expect_error(TypeError, ["bytes"], mac.cup_mac, des, "0200")
    expect_error(ValueError, ["16 bytes", "got 8"], mac.retail_mac, h("0123456789ABCDEF"), MAB)
    expect_error(ValueError, ["1 to 16"], mac.cmac, cipher.new("AES", AES_KEY), M, 17)
    expect_error(TypeError, ["bytes"], mac.hmac_sha256, "key", b"data")
