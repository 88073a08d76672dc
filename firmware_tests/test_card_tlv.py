"""hostlib.card.tlv and hostlib.card.apdu against pyemv's independent TLV codec and the
ISO 7816-4 cases."""

import pyemv
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostlib.card import tlv
from hostlib.card.apdu import CardStatus, Command

# Primitive tags of one, two and three bytes.
TAGS = st.one_of(
    st.sampled_from([0x4F, 0x50, 0x57, 0x5A, 0x82, 0x87, 0x8C, 0x94, 0x95, 0x9A, 0x9C]),
    st.integers(0x10, 0x7F).map(lambda low: 0x9F00 | low),
    st.integers(0x00, 0x7F).map(lambda low: 0xDF8100 | low),
)


@given(st.dictionaries(TAGS, st.binary(max_size=300), max_size=6))
def test_encode_decodes_with_pyemv_and_back(items):
    encoded = tlv.template(0x70, items.items())
    decoded = pyemv.tlv.decode(encoded)["70"]
    assert {int(tag, 16): value for tag, value in decoded.items()} == items
    assert tlv.decode(tlv.find(encoded, 0x70)) == list(items.items())
    assert pyemv.tlv.encode({"70": {"%X" % t: v for t, v in items.items()}}) == encoded


def test_lengths_and_nesting():
    assert tlv.encode_length(0x7F) == b"\x7f"
    assert tlv.encode_length(0x80) == b"\x81\x80"
    assert tlv.encode_length(0x1234) == b"\x82\x12\x34"
    nested = tlv.template(
        0x6F, [(0x84, b"A"), (0xA5, tlv.template(0xBF0C, [(0x9F4D, b"\x0b\x0a")]))]
    )
    assert tlv.find(nested, 0x9F4D) == b"\x0b\x0a"
    assert tlv.to_dict(nested) == {0x84: b"A", 0x9F4D: b"\x0b\x0a"}
    assert tlv.decode(b"\x00\x00\x5a\x01\x12\xff") == [(0x5A, b"\x12")]  # padding skipped


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x5a\x05\x12", "says 5 bytes but only 1"),
        (b"\x9f", "cut short"),
        (b"\x5a", "length is missing"),
        (b"\x5a\x85\x00\x00\x00\x00\x01", "not a definite length"),
        (b"\x5a\x82\x01", "cut short"),
    ],
)
def test_malformed_tlv_is_refused(data, message):
    with pytest.raises(tlv.TlvError, match=message):
        tlv.decode(data)


def test_dols():
    cdol = bytes.fromhex("9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 9F2103")
    assert tlv.parse_dol(cdol)[:2] == [(0x9F02, 6), (0x9F03, 6)]
    assert tlv.dol_length(cdol) == 32
    values = tlv.split_dol_data(bytes.fromhex("9F37045F2A02"), bytes.fromhex("112233440156"))
    assert values == {0x9F37: bytes.fromhex("11223344"), 0x5F2A: bytes.fromhex("0156")}
    with pytest.raises(tlv.TlvError, match="asks for 6 bytes, the data has 5"):
        tlv.split_dol_data(bytes.fromhex("9F37045F2A02"), bytes(5))


@pytest.mark.parametrize(
    "raw, parsed",
    [
        ("00A40400", (0x00, 0xA4, 0x04, 0x00, b"", None)),  # case 1
        ("00B2010C00", (0x00, 0xB2, 0x01, 0x0C, b"", 256)),  # case 2, Le 00 = 256
        ("0082000002AABB", (0x00, 0x82, 0x00, 0x00, b"\xaa\xbb", None)),  # case 3
        ("80A8000002830000", (0x80, 0xA8, 0x00, 0x00, b"\x83\x00", 256)),  # case 4
    ],
)
def test_command_cases(raw, parsed):
    command = Command.parse(bytes.fromhex(raw))
    assert (command.cla, command.ins, command.p1, command.p2, command.data, command.le) == parsed
    if parsed[5] != 256 or raw.endswith("00"):
        assert command.to_bytes() == bytes.fromhex(raw)


@pytest.mark.parametrize(
    "raw", ["00A404", "00A4040003AABB", "00A4040001AABBCCDD", "00A4040000AABB"]
)
def test_malformed_commands_are_wrong_length(raw):
    with pytest.raises(CardStatus) as caught:
        Command.parse(bytes.fromhex(raw))
    assert caught.value.sw == 0x6700
