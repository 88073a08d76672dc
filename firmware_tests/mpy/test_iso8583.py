# The CUP POS ISO 8583 codec on MicroPython: the real dumps of spec §7 decode field by field
# and pack back to the same bytes, the MAC example of §4.4 is rebuilt from its fields, every
# kind of bad frame is refused with its own reason, and packing allocates next to nothing.
import gc
from binascii import hexlify
from binascii import unhexlify as h

from mptest import expect_error

from app.crypto import cipher, mac
from app.emv import tlv as emv_tlv
from app.txn.iso8583 import (
    DecodeError,
    EncodeError,
    Packer,
    header,
    join_subfields,
    reply_tpdu,
    subfields,
    unpack,
)

# Spec §7.1 (S4): a real contactless sale with PIN, IC data and field 59, 0x01AA bytes.
S4_SALE = h(
    "01AA60000600006031003110030200702406C020C19A311662242429000001130000000000000000010004"
    "032806071000000012346224242900000113D2806201394903101331303030303031393835303130303038"
    "32343130303032000100313536D1EEF419D0AE2609260000000000000001399F260895BBE372271DDA7C9F"
    "2701809F101307010103A00000010A010000000000ED538FE49F37047F9F349E9F36020157950500000000"
    "009A031908309C01009F02060000000000015F2A02015682027C009F1A0201569F03060000000000009F33"
    "03E0E1C89F3501229F1E0831303030303031398408A0000003330101029F0902008C9F4104000004030153"
    "31323230383938363036313730383030303235383339393331333131484654313730383033303131343134"
    "323031393038333030393334333531353032303031373232424433302E3632313535352C3131342E333631"
    "39353441323630303130323032303231363030303032393032313030313537303830333036303030313133"
    "3034303830343234373239323035303848373036323830310014220000240006003846363531423236"
)
# Spec §7.2 (S5): a magstripe sale with PIN, and a reversal (39 = 98, 63 = operator "01 ").
S5_SALE = h(
    "007060000400006022000000000200302004C020C0981100000000000008880010017502100012356221"
    "550999400728D15111018546801584403130343231363935383734333530333537323232343731313536"
    "F421C8F4FFE584DC20000000000000000008220000013246394433453536"
)
S5_REVERSAL = h(
    "0053600004000060220000000004003020048002C0801300000000000100200030020302100039383130"
    "34333132353838373434343033343531313235313031353600082200070500033031203342463735343838"
)
# Spec §7.3: a real 0810 sign-on response (11,12,13,32,37,39,41,42,48,60,62). The spec quotes
# its 61-byte field 62 only in part (first 16 and last 8 bytes): the 37 bytes it leaves out are
# 0xEE here. Every other byte, the length 0x009C included, is the dump's.
REAL_SIGN_ON = h(
    "009C60000000066001010101020810003800010AC1001400001320145003110811135440313037303530"
    "3931363938393030313030313432363038383830303030353233313030303100241001426088800005231000"
    "100011000000010030006100E132C038225E555776A2E527F7B4DE" + "EE" * 37 + "1495D345E8F51C1D"
)
# Spec §7: the 60-byte field 62 of a 60.3 = 004 sign-on (TMK 70F2A84CCBC2AE8625CBB0F2C22AB923).
KEYS_62 = h(
    "4C555721128EF42B482EF01EB4BA66AF08D7B4FB96D605EA176B7E9E00000000000000000547DB3E"
    "3C16484E68C96499F51E7191F2F7040BD2B91CC5"
)
# Spec §7.4: a synthetic sign-on request and its response.
SIGN_ON_REQUEST = h(
    "003C600003000060310031000008000020000000C0001200000131323334353637383132333435363738"
    "3930313233343500110000000100400003303120"
)
SIGN_ON_RESPONSE = (
    h(
        "008D60000000036031003100000810003800010AC0001400000110301505200800010000303532303130"
        "3330313530313030313233343536373831323334353637383930313233343500110000000200400060"
    )
    + KEYS_62
)
# Spec §4.4: the MAC element block of a sale (MTI .. field 60, bit 64 set) and its MAC.
MAB = h(
    "0200302004C020C0981100000000000000005100183402100006324392260009942820D131210112"
    "0084393136363838303134303030303030303030303030303031313536ACF46E73838A82F926000000"
    "00000000000822000001"
)
MAK = h("C24A8FB57AA20123")
TPDU = h("6000030000")
HEADER = "603100310000"

PACKER = Packer()


def pack(mti, fields, tpdu=TPDU, head=HEADER, mac_fn=None, lri=None):
    return bytes(PACKER.pack(mti, fields, tpdu, head, mac_fn, lri))


def roundtrip(frame, lri=False):
    message = unpack(frame, lri)
    again = pack(message.mti, message.fields, message.tpdu, message.header, None, message.lri)
    assert again == frame, (hexlify(again), hexlify(frame))
    return message


def test_s4_sale_decodes_every_field():
    m = roundtrip(S4_SALE)
    assert (m.tpdu, m.header, m.processing, m.mti) == (h("6000060000"), "603100311003", 0, "0200")
    f = m.fields
    assert sorted(f) == [
        2,
        3,
        4,
        11,
        14,
        22,
        23,
        25,
        26,
        35,
        41,
        42,
        48,
        49,
        52,
        53,
        55,
        59,
        60,
        64,
    ]
    assert f[2] == "6224242900000113"
    assert (f[3], f[4], f[11], f[14]) == ("000000", "000000000001", "000403", "2806")
    assert (f[22], f[23], f[25], f[26]) == ("071", "000", "00", "12")  # 22 from 07 10
    assert f[35] == "6224242900000113=28062013949031013"
    assert (f[41], f[42], f[48], f[49]) == ("10000019", "850100082410002", "0", "156")
    assert f[52] == h("D1EEF419D0AE2609")
    assert f[53] == "2600000000000000"
    assert len(f[55]) == 139 and f[55][:3] == b"\x9f\x26\x08"
    assert len(f[59]) == 153 and f[59].startswith("1220898606") and f[59].endswith("H7062801")
    assert f[60] == "22000024000600"
    assert subfields(60, f[60]) == ("22", "000024", "000", "6", "0", "0", None)
    assert f[64] == b"8F651B26"
    assert bytes(m.mab) == S4_SALE[13:-8]
    # 55 as the chip code reads and writes it (app.emv.tlv)
    tlv = {tag: bytes(value) for tag, value in emv_tlv.iterate(f[55])}
    assert len(tlv) == 19
    assert tlv[0x9F26] == h("95BBE372271DDA7C")
    assert tlv[0x9F10] == h("07010103A00000010A010000000000ED538FE4")
    assert tlv[0x9F02] == h("000000000001") and tlv[0x5F2A] == h("0156")
    assert tlv[0x84] == h("A000000333010102") and tlv[0x9F41] == h("00000403")
    # The tags in the dump's order build the same 139 bytes.
    order = (0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82)
    order += (0x9F1A, 0x9F03, 0x9F33, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41)
    assert b"".join(emv_tlv.build(tag, tlv[tag]) for tag in order) == f[55]


def test_s5_sale_and_reversal():
    sale = roundtrip(S5_SALE)
    assert (sale.header, sale.mti, sale.tpdu) == ("602200000000", "0200", h("6000040000"))
    f = sale.fields
    assert (f[3], f[4], f[11], f[22], f[25], f[26]) == (
        "000000",
        "000000088800",
        "100175",
        "021",
        "00",
        "12",
    )
    assert f[35] == "6221550999400728=151110185468015844"  # 35 digits, pad 0
    assert (f[41], f[42], f[49]) == ("10421695", "874350357222471", "156")
    assert (f[52], f[53]) == (h("F421C8F4FFE584DC"), "2000000000000000")
    assert (f[60], f[64]) == ("22000001", b"2F9D3E56")
    assert subfields(60, f[60]) == ("22", "000001", None, None, None, None, None)
    reversal = roundtrip(S5_REVERSAL)
    f = reversal.fields
    assert reversal.mti == "0400"
    assert sorted(f) == [3, 4, 11, 22, 25, 39, 41, 42, 49, 60, 63, 64]
    assert (f[4], f[11], f[39], f[60], f[63], f[64]) == (
        "000001002000",
        "300203",
        "98",
        "22000705",
        "01 ",
        b"3BF75488",
    )


def test_real_sign_on_response():
    m = roundtrip(REAL_SIGN_ON)
    assert (m.mti, m.header, m.tpdu, m.mab) == ("0810", "600101010102", h("6000000006"), None)
    f = m.fields
    assert sorted(f) == [11, 12, 13, 32, 37, 39, 41, 42, 48, 60, 62]
    assert (f[11], f[12], f[13], f[32]) == ("000013", "201450", "0311", "11135440")
    assert (f[37], f[39], f[41], f[42]) == ("107050916989", "00", "10014260", "888000052310001")
    assert f[48] == "100142608880000523100010"
    assert f[60] == "00000001003"  # 11 digits, padded to 6 bytes
    assert subfields(60, f[60]) == ("00", "000001", "003", None, None, None, None)
    assert len(f[62]) == 61 and f[62][:8] == h("00E132C038225E55")


def test_synthetic_sign_on_request_and_response():
    request = {
        11: "000001",
        41: "12345678",
        42: "123456789012345",
        60: join_subfields(60, "00", 1, "004"),
        63: "01 ",
    }
    assert pack("0800", request, TPDU, header("31", 0, "310000")) == SIGN_ON_REQUEST
    m = roundtrip(SIGN_ON_REQUEST)
    assert m.fields == request
    response = {
        11: "000001",
        12: "103015",
        13: "0520",
        32: "00010000",
        37: "052010301501",
        39: "00",
        41: "12345678",
        42: "123456789012345",
        60: "00000002004",
        62: KEYS_62,
    }
    assert pack("0810", response, reply_tpdu(TPDU)) == SIGN_ON_RESPONSE
    m = roundtrip(SIGN_ON_RESPONSE)
    assert m.fields == response and m.tpdu == h("6000000003")
    assert subfields(60, m.fields[60])[1] == "000002"  # the host's batch number
    # The MAK in the key block decrypts under the TMK to the MAK of §4.4, check value 0547DB3E.
    tmk = cipher.new("3DES", h("70F2A84CCBC2AE8625CBB0F2C22AB923"))
    assert tmk.decrypt(m.fields[62][20:28]) == MAK
    assert cipher.kcv("DES", MAK, 4) == m.fields[62][36:40]


SPEC_SALE = {
    3: "000000",
    4: "51",  # zero-filled to 000000000051
    11: "001834",
    22: "021",
    25: "00",
    26: "06",
    35: "4392260009942820=131210112008439",
    41: "16688014",
    42: "000000000000001",
    49: "156",
    52: h("ACF46E73838A82F9"),
    53: "2600000000000000",
    60: "22000001",
}


def test_mab_and_mac_of_the_spec_example():
    seen = []

    def code(mab):
        seen.append(bytes(mab))
        return mac.cup_mac(cipher.new("DES", MAK), mab)

    frame = pack("0200", SPEC_SALE, TPDU, HEADER, code)
    assert seen == [MAB]
    assert frame[-8:] == b"8A9E91B8"
    assert frame[13:-8] == MAB
    assert frame[:2] == bytes((0, len(frame) - 2))
    m = unpack(frame)
    assert bytes(m.mab) == MAB and m.fields[64] == b"8A9E91B8"
    assert m.verify(lambda mab: mac.cup_mac(cipher.new("DES", MAK), mab))


def test_pack_with_mac_then_verify():
    mak = cipher.new("DES", MAK)
    other = cipher.new("DES", h("0123456789ABCDEF"))
    response = dict(SPEC_SALE)
    response.update({12: "103015", 13: "0520", 37: "052010301501", 38: "123456", 39: "00"})
    frame = bytearray(
        pack("0210", response, reply_tpdu(TPDU), "603100310000", lambda m: mac.cup_mac(mak, m))
    )
    m = unpack(frame)
    assert m.verify(lambda mab: mac.cup_mac(mak, mab))
    assert not m.verify(lambda mab: mac.cup_mac(other, mab))
    # One bit changed in field 41 ("16688014" -> "06688014"): same layout, MAC fails.
    at = frame.find(b"16688014")
    frame[at] ^= 0x01
    m = unpack(frame)
    assert m.fields[41] == "06688014"
    assert not m.verify(lambda mab: mac.cup_mac(mak, mab))
    # A MAC function replaces a field 64 already in the fields (a reversal re-MACs a copy).
    stale = dict(response)
    stale[64] = b"00000000"
    again = pack("0210", stale, reply_tpdu(TPDU), HEADER, lambda m: mac.cup_mac(mak, m))
    assert unpack(again).verify(lambda mab: mac.cup_mac(mak, mab))
    # No field 64: nothing to verify.
    assert not unpack(pack("0210", response)).verify(lambda mab: mac.cup_mac(mak, mab))


def test_field_layouts():
    def body(fields):
        return pack("0200", fields)[23:]  # after LEN TPDU HEADER MTI BITMAP

    assert body({22: "021"}) == h("0210")  # left-aligned
    assert body({22: "051"}) == h("0510")
    assert body({23: "123"}) == h("0123")  # right-aligned
    assert body({4: "51"}) == h("000000000051")
    assert body({2: "6224242900000113"}) == h("166224242900000113")  # LLVAR: 1 BCD byte
    assert body({2: "123456789012345"}) == h("151234567890123450")  # odd: right pad 0
    assert body({60: "22000001"}) == h("000822000001")  # LLLVAR: 2 BCD bytes
    assert body({60: "00000001004"}) == h("0011000000010040")  # odd: right pad 0
    assert body({35: "1234=5678"}) == h("091234D56780")
    assert body({49: "156"}) == b"156"
    assert body({41: "1234"}) == b"1234    "  # fixed text: space-padded
    assert body({63: b"CUP\xb7\xa2"}) == h("0005") + b"CUP\xb7\xa2"  # GBK bytes in ans
    assert body({55: bytes(139)}) == h("0139") + bytes(139)
    assert body({2: ""}) == h("00")
    assert pack("0200", {3: "000000", 11: "000001"})[15:23] == h("2020000000000000")
    assert unpack(pack("0200", {63: b"CUP\xb7\xa2"})).fields[63] == b"CUP\xb7\xa2"
    assert unpack(pack("0200", {63: "CUP"})).fields[63] == "CUP"
    assert unpack(pack("0200", {35: "12=AB"})).fields[35] == "12=AB"  # encrypted track hex


def test_header_tpdu_and_lri():
    assert reply_tpdu(h("6000030000")) == h("6000000003")
    assert header() == "603100000000"
    assert header("22", 1, "311003") == "602210311003"
    assert unpack(SIGN_ON_RESPONSE).processing == 0
    frame = bytearray(SIGN_ON_RESPONSE)
    frame[9] = 0x04  # header digits 5-6: terminal status 0, processing requirement 4 (CAPK)
    m = unpack(frame)
    assert (m.header, m.processing) == ("603104310000", 4)
    lri = b"LRI\x00\x1c" + b"\x01" * 8 + b"\x02" * 8 + h("580009490006000000220030")
    frame = pack("0800", {11: "000001"}, TPDU, HEADER, None, lri)
    assert frame[7:40] == lri and frame[:2] == bytes((0, len(frame) - 2))
    m = unpack(frame, True)
    assert (m.lri, m.header, m.fields) == (lri, HEADER, {11: "000001"})
    assert roundtrip(frame, True).lri == lri
    assert expect_decode_error("lri", None, SIGN_ON_REQUEST, True)
    assert expect_decode_error("bcd", None, frame)  # "LRI" read as a header


def test_subfields():
    assert join_subfields(60, "22", "000024", "000", "6", "0", "0") == "22000024000600"
    assert join_subfields(60, "23", 7, "000", 5, 0, 1, 48) == "23000007000501048"
    assert subfields(60, "23000007000501048") == ("23", "000007", "000", "5", "0", "1", "048")
    assert subfields(60, "00000001004") == ("00", "000001", "004", None, None, None, None)
    assert join_subfields(61, 24, 403, "0830") == "0000240004030830"
    assert subfields(61, "000024000403") == ("000024", "000403", None, None, None)
    full = "00002400040308300100010000000"
    assert subfields(61, full) == ("000024", "000403", "0830", "01", "00010000000")
    assert join_subfields(61, *subfields(61, full)) == full
    for value in ("2", "220000", "220000010", "220000240006000"):
        assert expect_decode_error("subfield", 60, subfields, 60, value)
    e = expect_error(EncodeError, ["60", "subfield 2"], join_subfields, 60, "22", "24")
    assert e.field == 60
    expect_error(EncodeError, ["61"], join_subfields, 61, "1", "2", "3", "4", "5", "6")
    expect_error(EncodeError, ["subfield 1"], join_subfields, 60, "2x")
    expect_error(ValueError, ["60 and 61"], subfields, 62, "00")


def expect_decode_error(reason, field, fn, *args):
    """fn(*args) raises DecodeError with this reason and field (fn may be a frame: unpack it)."""
    if not callable(fn):
        args = (fn,) + args
        fn = unpack
    try:
        fn(*args)
    except DecodeError as e:
        assert (e.reason, e.field) == (reason, field), (reason, field, e.reason, e.field, str(e))
        return True
    raise AssertionError("no DecodeError %s" % reason)


def reframe(body):
    """LEN + body, with the length right."""
    return bytes((len(body) >> 8, len(body) & 0xFF)) + body


def test_every_decode_error():
    sale = S5_SALE
    body = sale[2:]
    assert expect_decode_error("short", None, b"")
    assert expect_decode_error("short", None, b"\x00")
    assert expect_decode_error("short", None, reframe(body[:20]))  # no room for the bitmap
    assert expect_decode_error("length", None, sale[:-1])  # prefix says more than there is
    assert expect_decode_error("length", None, sale + b"\x00")  # prefix says less
    assert expect_decode_error("length", None, b"\x00\x05\x60")
    bad = bytearray(sale)
    bad[13] = 0x0A  # MTI 0A00
    assert expect_decode_error("bcd", 0, bytes(bad))
    bad = bytearray(sale)
    bad[8] = 0x2F  # header
    assert expect_decode_error("bcd", None, bytes(bad))
    bad = bytearray(sale)
    bad[23] = 0x0A  # field 3 000000 -> 0A0000
    assert expect_decode_error("bcd", 3, bytes(bad))
    bad = bytearray(sale)
    bad[39] = 0x3A  # field 35 length prefix 0x35 -> 0x3A
    assert expect_decode_error("bcd", 35, bytes(bad))
    bad = bytearray(sale)
    bad[57] = 0x41  # the pad nibble of 35's 35 digits
    assert expect_decode_error("bcd", 35, bytes(bad))
    bad = bytearray(sale)
    bad[39] = 0x38  # field 35 length 38 > 37
    assert expect_decode_error("too_long", 35, bytes(bad))
    bad = bytearray(sale)
    bad[15] |= 0x80  # bit 1
    assert expect_decode_error("secondary", 1, bytes(bad))
    bad = bytearray(sale)
    bad[15] |= 0x08  # bit 5: not in the profile
    assert expect_decode_error("undefined", 5, bytes(bad))
    bad = bytearray(sale)
    bad[22] = 0x90  # bits 57 and 60 instead of 60 and 64: 57 is not in the profile
    assert expect_decode_error("undefined", 57, bytes(bad))
    assert expect_decode_error("trailing", None, reframe(body + b"\x00"))
    assert expect_decode_error("truncated", 64, reframe(body[:-1]))
    assert expect_decode_error("truncated", 60, reframe(body[:-11]))
    assert expect_decode_error("truncated", 60, reframe(body[:-13]))  # inside 60's prefix
    assert expect_decode_error("truncated", 35, reframe(body[:40]))
    text = bytearray(S5_REVERSAL)
    text[38] = 0xB9  # field 39 ("98") is an: ASCII only
    assert expect_decode_error("text", 39, bytes(text))
    # ans (63) takes any byte, as bytes.
    gbk = bytearray(S5_REVERSAL)
    gbk[74] = 0xB7  # field 63 "01 "
    assert unpack(bytes(gbk)).fields[63] == b"\xb71 "


def test_mutated_frames_raise_only_decode_error():
    # Every byte of three frames of spec §7 set to 7 values, and every truncation (length
    # prefix left as it was, and corrected): each is refused with a DecodeError or decodes to
    # a message that packs back to exactly the bytes decoded.
    tried = accepted = 0
    for frame in (S5_SALE, S5_REVERSAL, SIGN_ON_REQUEST):
        n = len(frame)
        for i in range(n):
            for value in (0x00, 0x01, 0x09, 0x10, 0x80, 0x99, 0xFF):
                data = bytearray(frame)
                data[i] = value
                tried += 1
                accepted += decode_or_refuse(data)
        for cut in range(n):
            tried += 2
            accepted += decode_or_refuse(frame[:cut])
            accepted += decode_or_refuse(reframe(frame[2:cut]) if cut > 2 else frame[:cut])
    print("mutated frames:", tried, "tried,", accepted, "accepted")
    assert tried > 2000 and accepted > 100, (tried, accepted)


def decode_or_refuse(data):
    try:
        m = unpack(data)
    except DecodeError:
        return 0
    again = pack(m.mti, m.fields, m.tpdu, m.header)
    assert again == bytes(data), hexlify(data)
    return 1


def test_encode_errors():
    def refused(field, words, fields, mti="0200", tpdu=TPDU, head=HEADER, code=None, lri=None):
        e = expect_error(EncodeError, words, PACKER.pack, mti, fields, tpdu, head, code, lri)
        assert e.field == field, (e.field, field)

    refused(3, ["field 3", "bad digit"], {3: "00000A"})
    refused(3, ["field 3", "length 7"], {3: "0000000"})
    refused(2, ["field 2", "length 20"], {2: "1" * 20})
    refused(22, ["field 22", "length 2"], {22: "02"})
    refused(35, ["field 35", "bad digit"], {35: "1234=56X"})
    refused(35, ["field 35", "bad digit"], {35: "1234?56"})
    refused(52, ["field 52", "length 7"], {52: bytes(7)})
    refused(64, ["field 64", "needs 8 bytes"], {64: bytes(9)})
    refused(52, ["field 52", "needs bytes"], {52: "12345678"})
    refused(39, ["field 39", "needs str"], {39: b"00"})
    refused(4, ["field 4", "needs str"], {4: 51})
    refused(42, ["field 42", "length 16"], {42: "1" * 16})
    refused(42, ["field 42", "not ASCII"], {42: "商户"})
    refused(62, ["field 62", "length 513"], {62: bytes(513)})
    refused(1, ["field 1", "not in the profile"], {1: b""})
    refused(5, ["field 5", "not in the profile"], {5: "1"})
    refused(65, ["field 65"], {65: "1"})
    refused(0, ["MTI"], {}, mti="200")
    refused(0, ["MTI"], {}, mti="02A0")
    refused(None, ["header"], {}, head="6031003100")
    refused(None, ["5 bytes"], {}, tpdu=b"\x60\x00")
    refused(None, ["33 bytes"], {}, lri=b"LRI")
    refused(64, ["field 64", "needs 8 bytes"], {3: "000000"}, code=lambda mab: b"8A9E91B")
    small = Packer(40)
    e = expect_error(
        EncodeError, ["buffer full"], small.pack, "0200", {62: bytes(30)}, TPDU, HEADER
    )
    assert e.field == 62
    # The buffer is reused: a later pack is not disturbed by a refused one.
    assert pack("0800", {11: "000001"})[-3:] == h("000001")


def allocated(fn):
    # No collection in between (app sets gc.threshold): it would hide what was allocated.
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn()
    used = gc.mem_alloc() - before
    gc.enable()
    return used


def test_packing_a_sale_allocates_little():
    mak = cipher.new("DES", MAK)
    sale = dict(SPEC_SALE)
    sale.update({2: "4392260009942820", 14: "3112", 55: bytes(120)})

    def with_mac(mab):
        return mac.cup_mac(mak, mab)

    packer = Packer()
    first = packer.pack("0200", sale, TPDU, HEADER, with_mac)
    plain = allocated(lambda: packer.pack("0200", sale, TPDU, HEADER))
    maced = allocated(lambda: packer.pack("0200", sale, TPDU, HEADER, with_mac))
    the_mac = allocated(lambda: with_mac(MAB))
    frame = bytes(packer.pack("0200", sale, TPDU, HEADER, with_mac))
    decoded = allocated(lambda: unpack(frame))
    print(
        "pack",
        plain,
        "bytes, pack with MAC",
        maced,
        "(the MAC alone",
        the_mac,
        "), unpack",
        decoded,
    )
    # Only the returned memoryviews (and the MAC's own work) are allocated: the frame is built
    # in the Packer's buffer, which every pack reuses.
    assert plain <= 256, plain
    assert maced - the_mac <= 256, (maced, the_mac)
    assert bytes(first) == frame == bytes(packer.buffer[: len(frame)])
    # Unpacking copies each field's value once (with a hex conversion for BCD), the frame
    # never: under 4 KB for a sale with 120 bytes of IC data.
    assert decoded < 4096, decoded
