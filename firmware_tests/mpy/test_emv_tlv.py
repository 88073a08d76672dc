# BER-TLV (app.emv.tlv) and DOL data (app.emv.dol) on MicroPython: what cards answer to SELECT,
# GET PROCESSING OPTIONS and READ RECORD read back; padding skipped; each malformed input
# refused with its own TlvError reason; values are views of the answer, not copies; the data of
# a PDOL and a CDOL1 laid out as EMV Book 3 5.4 says.
import binascii
import gc

from mptest import objects

from app.emv import dol, tlv
from app.emv.dol import DolError
from app.emv.tlv import TlvError


def h(text):
    return binascii.unhexlify(text.replace(" ", ""))


# SELECT of a PBOC debit application: FCI 6F with the DF name, the proprietary template A5 and
# its issuer discretionary data BF0C.
FCI = h(
    "6F 34 84 08 A000000333010101 A5 28 50 0A 50424F43204465626974 87 01 01"
    " 9F38 09 9F7A019F02065F2A02 5F2D 02 7A68 BF0C 05 9F4D 02 0B0A"
)
# SELECT PPSE: two directory entries (61) under BF0C.
PPSE = h(
    "6F 2F 84 0E 325041592E5359532E4444463031 A5 1D BF0C 1A"
    " 61 0C 4F 07 A0000003330101 87 01 01 61 0A 4F 05 A000000333 87 01 02"
)
RECORD = h("70 10 5A 08 6212345678901234 5F24 03 301231")


def refused(reason, fn, *args):
    try:
        fn(*args)
    except TlvError as exc:
        assert exc.reason == reason, (exc.reason, reason)
        return exc
    raise AssertionError("accepted; expected " + reason)


def test_select_answer_read_to_the_bottom():
    assert [tag for tag, _ in tlv.parse(FCI)] == [0x6F]
    assert bytes(tlv.find(FCI, 0x84)) == h("A000000333010101")
    assert bytes(tlv.find(FCI, 0x50)) == b"PBOC Debit"
    assert bytes(tlv.find(FCI, 0x9F38)) == h("9F7A019F02065F2A02")
    assert bytes(tlv.find(FCI, 0x9F4D)) == h("0B0A")
    assert tlv.find(FCI, 0x9F4E) is None
    assert [tag for tag, _ in tlv.iterate(tlv.find(FCI, 0xA5))] == [
        0x50,
        0x87,
        0x9F38,
        0x5F2D,
        0xBF0C,
    ]


def test_each_directory_entry_of_the_ppse():
    entries = [v for tag, v in tlv.iterate(tlv.find(PPSE, 0xBF0C)) if tag == 0x61]
    assert [bytes(tlv.find(e, 0x4F)) for e in entries] == [h("A0000003330101"), h("A000000333")]
    assert [bytes(tlv.find(e, 0x87)) for e in entries] == [b"\x01", b"\x02"]


def test_processing_options_in_both_formats():
    # Format 1: 80 is primitive; its value is the AIP and the AFL, fixed fields.
    ((tag, value),) = tlv.parse(h("80 06 7C00 08010100"))
    assert tag == 0x80 and bytes(value) == h("7C00 08010100")
    card = tlv.collect(h("77 0A 82 02 7C00 94 04 08010100"), {})
    assert bytes(card[0x82]) == h("7C00") and bytes(card[0x94]) == h("08010100")


def test_records_collected_and_a_repeated_tag_refused():
    card = tlv.collect(RECORD, {})
    assert sorted(card) == [0x5A, 0x5F24]
    assert bytes(card[0x5F24]) == h("301231")
    # The same PAN in a second record: the transaction must stop (Book 3 10.2).
    exc = refused(TlvError.DUPLICATE, tlv.collect, h("70 04 5A 02 6212"), card)
    assert exc.offset == 4


def test_padding_before_between_after_and_inside():
    padded = h("00 FF 70 0B 00 5A 02 6212 FF FF 9F08 01 02 00 00 FF 71 00 00")
    assert [tag for tag, _ in tlv.parse(padded)] == [0x70, 0x71]
    card = tlv.collect(padded, {})
    assert bytes(card[0x5A]) == h("6212") and bytes(card[0x9F08]) == b"\x02"


def test_long_tags_and_lengths():
    value = bytes(range(200))
    data = tlv.build(0xDF8101, value) + tlv.build(0x9F4B, bytes(300)) + tlv.build(0x5A, b"")
    assert data[:5] == h("DF8101 81 C8")
    assert data[205:210] == h("9F4B 82 012C")
    items = tlv.parse(data)
    assert [(t, len(v)) for t, v in items] == [(0xDF8101, 200), (0x9F4B, 300), (0x5A, 0)]
    assert bytes(items[0][1]) == value
    # Lengths need not be in their shortest form.
    assert bytes(tlv.find(h("5A 81 02 6212"), 0x5A)) == h("6212")
    assert tlv.constructed(0xBF0C) and tlv.constructed(0x70) and not tlv.constructed(0x9F38)


def test_every_malformed_input_has_its_reason():
    refused(TlvError.TAG_TRUNCATED, tlv.parse, h("9F"))
    refused(TlvError.TAG_TRUNCATED, tlv.parse, h("DF 81"))
    refused(TlvError.TAG_TOO_LONG, tlv.parse, h("DF 81 81 01 00"))
    refused(TlvError.LENGTH_TRUNCATED, tlv.parse, h("5A"))
    refused(TlvError.LENGTH_TRUNCATED, tlv.parse, h("5A 82 01"))
    refused(TlvError.LENGTH_FORM, tlv.parse, h("5A 80 00"))
    refused(TlvError.LENGTH_FORM, tlv.parse, h("5A 83 00 00 01 00"))
    refused(TlvError.PAST_END, tlv.parse, h("5A 05 6212"))
    # Inside a template, even where the answer's outer length is right.
    exc = refused(TlvError.PAST_END, tlv.find, h("70 04 5A 05 6212"), 0x9F08)
    assert exc.offset == 4
    refused(TlvError.PAST_END, tlv.collect, h("6F 03 A5 02 50"), {})
    deep = h("50 01 41")
    for _ in range(9):
        deep = tlv.build(0x70, deep)
    refused(TlvError.TOO_DEEP, tlv.parse, deep)
    assert tlv.find(deep[2:], 0x50) is not None  # eight levels: what EMV needs and more


def collected(value_size):
    """(heap used by collect, the answer, its dict) for a record with a value that long."""
    inner = tlv.build(0x9F4B, bytes(value_size)) + RECORD[2:]
    answer = bytearray(tlv.build(0x70, inner))
    card = {}
    gc.collect()
    before = gc.mem_alloc()
    tlv.collect(answer, card)
    return gc.mem_alloc() - before, answer, card


def test_values_are_views_of_the_answer_not_copies():
    small, _, _ = collected(8)
    used, answer, card = collected(1000)
    first = answer.index(b"\x9f\x4b") + 5  # 9F4B 82 03E8
    answer[first] = 0x99  # the first byte of 9F4B's value, changed in the answer
    assert card[0x9F4B][0] == 0x99
    # The same heap for a value of 1,000 bytes as for one of 8: nothing is copied (a view and
    # a small tuple per object; 480 bytes in all on the 32-bit build).
    assert used - small <= objects(32), (used, small)
    assert used < objects(640), used


def test_pdol_data():
    pdol = h("9F66 04 9F02 06 9F03 06 9F1A 02 95 05 5F2A 02 9A 03 9C 01 9F37 04")
    terminal = {
        0x9F66: h("26000080"),
        0x9F02: h("000000012345"),
        0x9F1A: h("0156"),
        0x95: h("0000000000"),
        0x5F2A: h("0156"),
        0x9A: h("261207"),
        0x9C: h("00"),
        0x9F37: h("1A2B3C4D"),
    }
    assert [t for t, _ in dol.entries(pdol)] == [
        0x9F66,
        0x9F02,
        0x9F03,
        0x9F1A,
        0x95,
        0x5F2A,
        0x9A,
        0x9C,
        0x9F37,
    ]
    assert dol.size(pdol) == 33
    assert dol.build(pdol, terminal) == h(
        "26000080 000000012345 000000000000 0156 0000000000 0156 261207 00 1A2B3C4D"
    )


def test_a_length_that_differs_follows_the_format():
    terminal = {
        0x9F02: h("00000001234567"),  # numeric, 7 bytes
        0x9F03: h("1234"),  # numeric, 2 bytes
        0x9F1C: b"TERM0001",  # an: terminal identification
        0x9F4E: b"SHOP",  # ans: merchant name
        0x5A: h("6212345678901234"),  # cn: the PAN
        0x70: h("5A026212"),  # constructed: never sent
    }
    # Numeric: cut on the left, padded with 00 on the left.
    assert dol.build(h("9F02 06 9F03 04"), terminal) == h("000001234567 00001234")
    # Others: cut on the right, padded with 00 on the right; cn with FF on the right.
    assert dol.build(h("9F1C 04 9F4E 06"), terminal) == b"TERMSHOP\x00\x00"
    assert dol.build(h("5A 0A 5A 04"), terminal) == h("6212345678901234FFFF 62123456")
    # Values as tlv.collect gives them, views of the card's answer (5F24 YYMMDD is numeric).
    assert dol.build(h("5A 08 5F24 02"), tlv.collect(RECORD, {})) == h("6212345678901234 1231")
    # Absent and constructed: zeros of the length asked.
    assert dol.build(h("9F37 04 70 03"), terminal) == bytes(7)
    assert dol.build(b"", terminal) == b""


def test_a_malformed_or_oversized_dol_is_refused():
    for bad in (h("9F"), h("9F02"), h("9F02 06 9F")):
        try:
            dol.build(bad, {})
        except DolError as exc:
            assert exc.reason == DolError.TRUNCATED
        else:
            raise AssertionError("accepted")
    try:
        dol.build(h("9F02 FF 9F03 01"), {})
    except DolError as exc:
        assert exc.reason == DolError.TOO_LONG
    else:
        raise AssertionError("accepted")
