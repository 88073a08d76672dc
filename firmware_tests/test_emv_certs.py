"""hostlib.card.certs: every structure recovered with the signer's public key (plain pow here,
and OpenSSL through `cryptography` for the keys) and read back field by field against EMV
Book 2's layouts, written out again here from the book."""

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from hostlib.card import certs
from hostlib.card.certs import CertificateError

PAN = "6212345678901234567"  # 19 digits: the longest a PBOC card has


def recover(key, signed):
    """Raw RSA public operation, independent of certs.RsaKey.recover."""
    n = key.modulus
    return pow(int.from_bytes(signed, "big"), key.exponent, n).to_bytes(len(signed), "big")


def sha1(*parts):
    return hashlib.sha1(b"".join(parts)).digest()


def test_a_named_key_is_the_same_key_every_time_and_openssl_takes_it():
    key = certs.rsa_key("issuer 621234", 1152)
    certs.rsa_key.cache_clear()
    assert certs.rsa_key("issuer 621234", 1152) == key
    assert certs.rsa_key("issuer 621235", 1152).modulus != key.modulus
    assert key.modulus.bit_length() == 1152 and key.size == 144
    assert key.exponent_bytes == b"\x03"
    # OpenSSL checks the key's parts agree (it refuses an inconsistent key) and its
    # PKCS#1 signature comes back through our raw public operation.
    signature = key.private_key().sign(b"payload", padding.PKCS1v15(), hashes.SHA1())
    block = key.recover(signature)
    assert block[:2] == b"\x00\x01" and block.endswith(sha1(b"payload"))
    assert key.recover(key.sign(block)) == block


def test_the_test_ca_keys_and_their_check_values():
    for index, (bits, exponent) in certs.TEST_CA_KEYS.items():
        ca = certs.ca_key(index)
        assert ca.rid == bytes.fromhex("A000000333") and ca.index == index
        assert ca.key.modulus.bit_length() == bits and ca.key.exponent == exponent
        assert ca.check_value() == sha1(
            ca.rid,
            bytes([index]),
            ca.key.modulus.to_bytes(bits // 8, "big"),
            ca.key.exponent_bytes,
        )
    assert certs.ca_key(0x84).key.exponent_bytes == b"\x01\x00\x01"
    with pytest.raises(CertificateError, match="no test CA key 7F"):
        certs.ca_key(0x7F)


@pytest.mark.parametrize(
    "ca_index, issuer_bits", [(0x80, 896), (0x82, 1408), (0x83, 1984), (0x84, 1152), (0x81, 1024)]
)
def test_issuer_certificate_field_by_field(ca_index, issuer_bits):
    ca = certs.ca_key(ca_index)
    issuer = certs.rsa_key("issuer", issuer_bits, 65537 if ca_index == 0x84 else 3)
    cert = certs.issuer_certificate(
        ca, issuer, issuer_id="621234", expiry="1230", serial=b"\x12\x34\x56"
    )
    n_ca, n_i = ca.key.size, issuer.size
    assert len(cert.certificate) == n_ca
    block = recover(ca.key, cert.certificate)
    assert block[0] == 0x6A and block[1] == 0x02 and block[-1] == 0xBC
    assert block[2:6] == bytes.fromhex("621234FF")  # issuer identifier, F-padded
    assert block[6:8] == bytes.fromhex("1230")  # MMYY
    assert block[8:11] == b"\x12\x34\x56"
    assert block[11] == 0x01 and block[12] == 0x01  # SHA-1, RSA
    assert block[13] == n_i and block[14] == len(issuer.exponent_bytes)
    key_field = block[15 : n_ca - 21]
    assert len(key_field) == n_ca - 36
    modulus = issuer.modulus.to_bytes(n_i, "big")
    if n_i <= n_ca - 36:
        assert cert.remainder == b"" and 0x92 not in cert.tags
        assert key_field == modulus + b"\xbb" * (n_ca - 36 - n_i)
    else:
        assert key_field + cert.remainder == modulus and cert.tags[0x92] == cert.remainder
    assert cert.exponent == issuer.exponent_bytes == cert.tags[0x9F32]
    assert cert.tags[0x90] == cert.certificate
    assert block[n_ca - 21 : n_ca - 1] == sha1(block[1 : n_ca - 21], cert.remainder, cert.exponent)


@pytest.mark.parametrize("issuer_bits, icc_bits", [(1152, 1024), (1408, 1408), (1024, 768)])
def test_icc_certificate_field_by_field(issuer_bits, icc_bits):
    issuer = certs.rsa_key("issuer", issuer_bits)
    icc = certs.rsa_key("card", icc_bits)
    static = b"\x5a\x08\x62\x12\x34\x56\x78\x90\x12\x34\x7c\x00"
    cert = certs.icc_certificate(
        issuer, icc, pan="6212345678901234", expiry="0327", static_data=static
    )
    n_i, n_ic = issuer.size, icc.size
    block = recover(issuer, cert.certificate)
    assert len(block) == n_i
    assert block[:2] == b"\x6a\x04" and block[-1] == 0xBC
    assert block[2:12] == bytes.fromhex("6212345678901234FFFF")  # PAN, F-padded to 10 bytes
    assert block[12:14] == bytes.fromhex("0327")
    assert block[14:17] == b"\x00\x00\x01"
    assert block[17:21] == bytes([1, 1, n_ic, 1])
    key_field = block[21 : n_i - 21]
    modulus = icc.modulus.to_bytes(n_ic, "big")
    if n_ic <= n_i - 42:
        assert key_field == modulus + b"\xbb" * (n_i - 42 - n_ic) and cert.remainder == b""
    else:
        assert key_field + cert.remainder == modulus
        assert set(cert.tags) == {0x9F46, 0x9F47, 0x9F48}
    # The hash covers the static data: a DDA card's records are signed through it.
    assert block[n_i - 21 : n_i - 1] == sha1(
        block[1 : n_i - 21], cert.remainder, cert.exponent, static
    )


def test_icc_certificate_of_a_19_digit_pan():
    issuer, icc = certs.rsa_key("issuer", 1152), certs.rsa_key("card", 1024)
    cert = certs.icc_certificate(issuer, icc, pan=PAN, expiry="1230", static_data=b"")
    assert recover(issuer, cert.certificate)[2:12] == bytes.fromhex(PAN + "F")


def test_signed_static_application_data_field_by_field():
    issuer = certs.rsa_key("issuer", 1152)
    static = bytes(range(200))
    ssad = certs.signed_static_data(issuer, static, data_authentication_code=b"\xab\xcd")
    block = recover(issuer, ssad)
    n_i = issuer.size
    assert block[:5] == b"\x6a\x03\x01\xab\xcd"
    assert block[5 : n_i - 21] == b"\xbb" * (n_i - 26)
    assert block[n_i - 21 : n_i - 1] == sha1(block[1 : n_i - 21], static)
    assert block[-1] == 0xBC


def test_signed_dynamic_application_data_field_by_field():
    icc = certs.rsa_key("card", 1024)
    unpredictable = bytes.fromhex("11223344")
    sdad = certs.signed_dynamic_data(
        icc, b"\x01\x02\x03\x04\x05", terminal_dynamic_data=unpredictable
    )
    block = recover(icc, sdad)
    n_ic = icc.size
    assert block[:4] == b"\x6a\x05\x01\x06"  # format, SHA-1, ICC dynamic data length 6
    assert block[4:10] == b"\x05\x01\x02\x03\x04\x05"  # dynamic number length, number
    assert block[10 : n_ic - 21] == b"\xbb" * (n_ic - 6 - 25)
    assert block[n_ic - 21 : n_ic - 1] == sha1(block[1 : n_ic - 21], unpredictable)
    assert block[-1] == 0xBC


def test_static_data_to_authenticate():
    record_1 = bytes.fromhex("70075A056212345678")
    record_11 = bytes.fromhex("70045F240130")
    long_value = bytes(200)
    record_2 = b"\x70\x81\xc8" + long_value
    static = certs.static_data(
        [(1, record_1), (11, record_11), (2, record_2)], aip=b"\x7c\x00", tag_list=b"\x82"
    )
    # SFI 1-10: the template's value only; SFI 11-30: the whole record; then the AIP.
    assert static == record_1[2:] + record_11 + long_value + b"\x7c\x00"
    assert certs.static_data([(1, record_1)]) == record_1[2:]


@pytest.mark.parametrize(
    "records, options, message",
    [
        ([(1, b"\x77\x02\x5a\x00")], {}, "template 70"),
        ([(1, b"\x70\x05\x5a\x00")], {}, "says 5"),
        ([(31, b"\x70\x00")], {}, "SFI 31"),
        ([], {"aip": b"\x7c\x00", "tag_list": b"\x9f\x37"}, "may only hold 82"),
        ([], {"aip": b"\x7c", "tag_list": b"\x82"}, "AIP is 2 bytes"),
    ],
)
def test_static_data_refused(records, options, message):
    with pytest.raises(CertificateError, match=message):
        certs.static_data(records, **options)


def test_what_cannot_be_certified_is_refused_with_the_reason():
    ca, issuer = certs.ca_key(0x80), certs.rsa_key("issuer", 1152)
    with pytest.raises(CertificateError, match="1152-bit key cannot be certified by a 1024"):
        certs.issuer_certificate(ca, issuer, issuer_id="621234", expiry="1230")
    small = certs.rsa_key("issuer", 1024)
    for options, message in (
        ({"issuer_id": "62", "expiry": "1230"}, "3 to 8 digits"),
        ({"issuer_id": "62123456789", "expiry": "1230"}, "3 to 8 digits"),
        ({"issuer_id": "62A234", "expiry": "1230"}, "3 to 8 digits"),
        ({"issuer_id": "621234", "expiry": "1330"}, "month"),
        ({"issuer_id": "621234", "expiry": "123"}, "MMYY"),
        ({"issuer_id": "621234", "expiry": "1230", "serial": b"\x01"}, "3 bytes"),
    ):
        with pytest.raises(CertificateError, match=message):
            certs.issuer_certificate(ca, small, **options)
    with pytest.raises(CertificateError, match="PAN"):
        certs.icc_certificate(small, small, pan="62123", expiry="1230", static_data=b"")
    with pytest.raises(CertificateError, match="2 to 8 bytes"):
        certs.signed_dynamic_data(small, b"\x01", terminal_dynamic_data=b"")
    with pytest.raises(CertificateError, match="multiple of 16"):
        certs.rsa_key("x", 2048)
    with pytest.raises(CertificateError, match="exponent 5"):
        certs.rsa_key("x", 1024, 5)
