"""Offline data authentication (device/app/emv/oda.py) against cards made by hostlib.card.certs.

The device tests (firmware_tests/mpy/test_emv_oda.py) read their cards from a block of
vectors at the end of their module, made here; `test_device_vectors_are_current` keeps that
block equal to what certs.py makes now. After a change to the cards, write it again:

    .venv/bin/python firmware_tests/test_emv_oda.py --write

Here, on CPython, the same device module meets cards of random shape (key sizes, exponents,
PANs, dates) and certificates with a byte changed anywhere: each must pass, or fail with its
named reason, never with another exception.
"""

import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hostlib.card import certs

MPY_TEST = Path(__file__).resolve().parent / "mpy" / "test_emv_oda.py"
BEGIN = "# --- vectors made by hostlib.card.certs: firmware_tests/test_emv_oda.py --write ---\n"
END = "# --- end of vectors ---\n"

PAN = "6212345678901234"
TODAY = "261207"  # the transaction date (YYMMDD) of the checks here and in the device tests
UNPREDICTABLE = bytes.fromhex("1A2B3C4D")  # 9F37, the DDOL's data; the device tests' UN
DYNAMIC_NUMBER = bytes.fromhex("0102030405060708")


def tlv(tag, value):
    """BER-TLV, written out here so the cards do not depend on the device's tlv.py."""
    tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    n = len(value)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else b"\x82" + n.to_bytes(2)
    return tag_bytes + length + value


def bcd_pan(pan):
    """The PAN as a card holds it (5A, cn): BCD padded with F."""
    return bytes.fromhex(pan + "F" * (len(pan) % 2))


def records(pan=PAN):
    """The records the AFL marks for ODA: SFI 1 record 1 (in template 70), SFI 11 record 1
    (taken whole), as a PBOC card's personalisation lays them out."""
    record_1 = tlv(
        0x70,
        tlv(0x5A, bcd_pan(pan))
        + tlv(0x5F24, bytes.fromhex("301231"))
        + tlv(0x5F25, bytes.fromhex("200101"))
        + tlv(0x5F34, b"\x01")
        + tlv(0x8C, bytes.fromhex("9F02069F03069F1A0295055F2A029A039C019F3704"))
        + tlv(0x8D, bytes.fromhex("8A029F02069F03069F1A0295055F2A029A039C019F3704"))
        + tlv(0x9F49, bytes.fromhex("9F3704")),
    )
    record_11 = tlv(0x70, tlv(0x5F28, b"\x01\x56") + tlv(0x9F07, b"\xff\x00"))
    return [(1, record_1), (11, record_11)]


AIP = b"\x7c\x00"  # SDA, DDA, cardholder verification, terminal risk management, issuer auth


def card(name, ca_index, issuer_bits, icc_bits, exponent=3):
    """One personalised card's ODA data: {vector name: bytes}."""
    ca = certs.ca_key(ca_index)
    issuer = certs.rsa_key("issuer " + name, issuer_bits, exponent)
    icc = certs.rsa_key("card " + name, icc_bits, exponent)
    static = certs.static_data(records(), aip=AIP, tag_list=b"\x82")
    out = {
        "ca_modulus": ca.key.modulus_bytes,
        "ca_exponent": ca.key.exponent_bytes,
        "ca_index": bytes([ca_index]),
        "ca_check": ca.check_value(),
    }
    issuer_cert = certs.issuer_certificate(ca, issuer, issuer_id="621234", expiry="1226")
    icc_cert = certs.icc_certificate(issuer, icc, pan=PAN, expiry="1227", static_data=static)
    for tag, value in (issuer_cert.tags | icc_cert.tags).items():
        out["%X" % tag] = value
    out["93"] = certs.signed_static_data(issuer, static)
    out["9F4B"] = certs.signed_dynamic_data(
        icc, DYNAMIC_NUMBER, terminal_dynamic_data=UNPREDICTABLE
    )
    return out, ca, issuer, icc, static


def bad_certificates(ca, issuer, icc, static):
    """Certificates each failing one check, signed properly: {vector name: bytes}."""
    out = {}
    good = certs.issuer_certificate(ca, issuer, issuer_id="621234", expiry="1226")
    block = bytearray(ca.key.recover(good.certificate))
    block[-2] ^= 0x01  # the last byte of the hash
    out["90_hash"] = ca.key.sign(bytes(block))
    block = bytearray(ca.key.recover(good.certificate))
    block[1] = 0x04  # the ICC certificate's format in an issuer certificate
    out["90_format"] = ca.key.sign(bytes(block))
    out["90_expired"] = certs.issuer_certificate(
        ca, issuer, issuer_id="621234", expiry="1126"
    ).certificate
    out["90_other_issuer"] = certs.issuer_certificate(
        ca, issuer, issuer_id="622", expiry="1226"
    ).certificate
    out["90_eight_digits"] = certs.issuer_certificate(
        ca, issuer, issuer_id="62123456", expiry="1226"
    ).certificate
    out["9F46_other_pan"] = certs.icc_certificate(
        issuer, icc, pan="6212345678901235", expiry="1227", static_data=static
    ).certificate
    out["9F46_expired"] = certs.icc_certificate(
        issuer, icc, pan=PAN, expiry="1026", static_data=static
    ).certificate
    return out


def vectors():
    """Every vector of the device tests, {name: bytes}, names prefixed by the card."""
    out = {
        "pan": bytes.fromhex(PAN),
        "aip": AIP,
        "idn": DYNAMIC_NUMBER,
    }
    for sfi, record in records():
        out["record_%d" % sfi] = record
    # a: remainders on both certificates (1408-bit CA, issuer and 1152-bit ICC key);
    # b: a 1984-bit CA and short keys, no remainders; c: exponent 65537 throughout.
    for name, shape in (
        ("a", (0x82, 1408, 1152)),
        ("b", (0x83, 1152, 768)),
        ("c", (0x84, 1024, 1024, 65537)),
    ):
        made, ca, issuer, icc, static = card(name, *shape)
        for key, value in made.items():
            out[name + "." + key] = value
        if name == "a":
            for key, value in bad_certificates(ca, issuer, icc, static).items():
                out["a." + key] = value
    return out


def render(values):
    """The vectors as the Python block of the device test module (hex, 88 digits a line)."""
    lines = [BEGIN, "V = {\n"]
    for name, value in values.items():
        text = value.hex().upper()
        if len(text) <= 72:
            lines.append('    "%s": "%s",\n' % (name, text))
            continue
        lines.append('    "%s": (\n' % name)
        for i in range(0, len(text), 88):
            lines.append('        "%s"\n' % text[i : i + 88])
        lines.append("    ),\n")
    lines += ["}\n", END]
    return "".join(lines)


def block_of(text):
    start = text.index(BEGIN)
    return text[start : text.index(END, start) + len(END)]


def test_device_vectors_are_current():
    text = MPY_TEST.read_text()
    assert block_of(text) == render(vectors()), (
        "the device test's vectors are not what certs.py makes: "
        ".venv/bin/python firmware_tests/test_emv_oda.py --write"
    )


# -- the device module on CPython against random cards ----------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "device"))
from app.emv import oda  # noqa: E402


def terminal_ca(ca):
    return oda.CaKey(
        ca.rid, ca.index, ca.key.modulus_bytes, ca.key.exponent_bytes, ca.check_value()
    )


SIZES = st.sampled_from([(0x80, 1024, 768), (0x81, 1152, 1024), (0x82, 1408, 1408)])


@given(
    shape=SIZES,
    exponent=st.sampled_from([3, 65537]),
    pan=st.text("0123456789", min_size=12, max_size=19),
    issuer_digits=st.integers(3, 8),
    expiry=st.tuples(st.integers(1, 12), st.integers(27, 49)),  # after TODAY
)
def test_random_cards_pass_sda_and_dda(shape, exponent, pan, issuer_digits, expiry):
    ca_index, issuer_bits, icc_bits = shape
    ca = certs.ca_key(ca_index)
    issuer = certs.rsa_key("issuer", issuer_bits, exponent)
    icc = certs.rsa_key("card", icc_bits, exponent)
    mmyy = "%02d%02d" % expiry
    static_bytes = certs.static_data(records(pan), aip=AIP, tag_list=b"\x82")
    made = {0x8F: bytes([ca_index]), 0x5A: bcd_pan(pan)}
    made |= certs.issuer_certificate(ca, issuer, issuer_id=pan[:issuer_digits], expiry=mmyy).tags
    made |= certs.icc_certificate(issuer, icc, pan=pan, expiry=mmyy, static_data=static_bytes).tags
    made[0x93] = certs.signed_static_data(issuer, static_bytes)
    static = oda.static_data(records(pan), AIP, b"\x82")
    today = bytes.fromhex(TODAY)
    issuer_key = oda.issuer_key(made, [terminal_ca(ca)], ca.rid, today, oda.SDA)
    assert issuer_key.modulus == issuer.modulus_bytes
    assert oda.verify_sda(made, issuer_key, static) == b"\xda\xc1"
    icc_key = oda.icc_key(made, issuer_key, static, today)
    assert icc_key.modulus == icc.modulus_bytes and icc_key.exponent == icc.exponent_bytes
    signed = certs.signed_dynamic_data(icc, b"\x99\x98", terminal_dynamic_data=UNPREDICTABLE)
    assert oda.verify_dda(icc_key, signed, UNPREDICTABLE) == b"\x99\x98"


@given(tag=st.sampled_from([0x90, 0x92, 0x9F32, 0x9F46, 0x9F48, 0x93]), data=st.data())
def test_a_byte_changed_anywhere_fails_with_a_reason(tag, data):
    made, ca, *_ = card("a", 0x82, 1408, 1152)
    tags = {0x8F: made["ca_index"], 0x5A: bytes.fromhex(PAN)}
    tags |= {int(name, 16): value for name, value in made.items() if not name.startswith("ca")}
    value = bytearray(tags[tag])
    at = data.draw(st.integers(0, len(value) - 1))
    value[at] ^= data.draw(st.integers(1, 255))
    tags[tag] = bytes(value)
    static = oda.static_data(records(), AIP, b"\x82")
    today = bytes.fromhex(TODAY)
    try:
        issuer_key = oda.issuer_key(tags, [terminal_ca(ca)], ca.rid, today, oda.SDA)
        oda.verify_sda(tags, issuer_key, static)
        oda.icc_key(tags, issuer_key, static, today)
    except oda.OdaError as exc:
        assert exc.tvr in (oda.SDA_FAILED, oda.DDA_FAILED), exc.tvr
    else:
        raise AssertionError("a changed %X passed" % tag)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: firmware_tests/test_emv_oda.py --write")
    text = MPY_TEST.read_text()
    MPY_TEST.write_text(text.replace(block_of(text), render(vectors())))
    print("wrote", MPY_TEST)
