"""The device MAC and PIN block code (run under CPython) against independent libraries:
psec (X9.9, X9.19, PIN blocks), pycryptodome (CMAC, DES), gmssl (SM4), the standard hmac.

The CUP MAC has no library implementation; the reference below is written from the spec
text (§4.1/§4.3) on top of pycryptodome and gmssl, independently of app.crypto.mac.
"""

import binascii
import hashlib
import hmac

import psec.mac
import psec.pinblock
from Crypto.Cipher import AES, DES, DES3
from Crypto.Hash import CMAC
from gmssl.sm4 import SM4_ENCRYPT, CryptSM4
from hypothesis import assume, given
from hypothesis import strategies as st

from app.crypto import cipher, mac, pinblock

keys8 = st.binary(min_size=8, max_size=8)
keys16 = st.binary(min_size=16, max_size=16)
data = st.binary(min_size=1, max_size=300)
pins = st.text(alphabet="0123456789", min_size=4, max_size=12)
pans = st.text(alphabet="0123456789", min_size=13, max_size=19)


def _tdes_ok(key):
    try:
        DES3.adjust_key_parity(key)
    except ValueError:
        return False
    return True


def reference_cup_mac(encrypt, block, mab):
    padded = mab + bytes(-len(mab) % block)
    r = bytes(block)
    for i in range(0, len(padded), block):
        r = bytes(a ^ b for a, b in zip(r, padded[i : i + block]))
    hexed = r.hex().upper().encode()
    e1 = encrypt(hexed[:block])
    e2 = encrypt(bytes(a ^ b for a, b in zip(e1, hexed[block:])))
    return e2.hex().upper()[:8].encode()


def sm4_encrypt_block(key):
    c = CryptSM4()
    c.set_key(key, SM4_ENCRYPT)
    return lambda b: bytes(c.one_round(c.sk, list(b)))


@given(keys8, data)
def test_cup_mac_des(key, mab):
    ref = DES.new(key, DES.MODE_ECB).encrypt
    assert mac.cup_mac(cipher.new("DES", key), mab) == reference_cup_mac(ref, 8, mab)


@given(keys16, data)
def test_cup_mac_3des(key, mab):
    assume(_tdes_ok(key))
    ref = DES3.new(key, DES3.MODE_ECB).encrypt
    assert mac.cup_mac(cipher.new("3DES", key), mab) == reference_cup_mac(ref, 8, mab)


@given(keys16, data)
def test_cup_mac_sm4(key, mab):
    ref = sm4_encrypt_block(key)
    assert mac.cup_mac(cipher.new("SM4", key), mab) == reference_cup_mac(ref, 16, mab)


@given(keys8, data)
def test_x99_matches_psec(key, msg):
    expected = psec.mac.generate_cbc_mac(key, msg, padding=1)
    assert mac.cbc_mac(cipher.new("DES", key), msg) == expected


@given(keys16, data)
def test_x919_matches_psec(key, msg):
    expected = psec.mac.generate_retail_mac(key[:8], key[8:], msg, padding=1)
    assert mac.retail_mac(key, msg) == expected


@given(keys16, st.binary(max_size=200))
def test_aes_cmac_matches_pycryptodome(key, msg):
    expected = CMAC.new(key, msg, ciphermod=AES).digest()
    assert mac.cmac(cipher.new("AES", key), msg) == expected


@given(st.binary(min_size=24, max_size=24), st.binary(max_size=200))
def test_tdes_cmac_matches_pycryptodome(key, msg):
    assume(_tdes_ok(key))
    expected = CMAC.new(key, msg, ciphermod=DES3).digest()
    assert mac.cmac(cipher.new("3DES", key), msg) == expected


@given(st.binary(max_size=150), st.binary(max_size=300))
def test_hmac_matches_stdlib(key, msg):
    assert mac.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


@given(pins, pans)
def test_format0_matches_psec(pin, pan):
    assert bytes(pinblock.format0(pin, pan)) == psec.pinblock.encode_pinblock_iso_0(pin, pan)
    assert psec.pinblock.decode_pinblock_iso_0(bytes(pinblock.format0(pin, pan)), pan) == pin


@given(pins, pans)
def test_format3_decodes_with_psec(pin, pan):
    block = bytes(pinblock.format3(pin, pan))
    assert psec.pinblock.decode_pinblock_iso_3(block, pan) == pin


@given(pins, pans, keys16)
def test_encrypted_block_decrypts_to_the_pin(pin, pan, key):
    assume(_tdes_ok(key))
    enc = pinblock.encrypt(cipher.new("3DES", key), pin.encode(), pan.encode())
    clear = DES3.new(key, DES3.MODE_ECB).decrypt(enc)
    assert psec.pinblock.decode_pinblock_iso_0(clear, pan) == pin


def test_reference_reproduces_the_worked_example():
    # The spec's published CUP MAC example, through the test's own reference.
    mab = binascii.unhexlify(
        "0200302004C020C0981100000000000000005100183402100006324392260009942820D131210112"
        "0084393136363838303134303030303030303030303030303031313536ACF46E73838A82F926000000"
        "00000000000822000001"
    )
    ref = DES.new(bytes.fromhex("C24A8FB57AA20123"), DES.MODE_ECB).encrypt
    assert reference_cup_mac(ref, 8, mab) == b"8A9E91B8"
