# Fuzz target: the ISO 8583 decoder (app.txn.iso8583.unpack, subfields; field 55 read with
# app.emv.tlv) on frames mutated byte by byte (the length prefix made right again) and field by
# field (values of the right type and of the wrong one, fields dropped and added, packed again).
# Only DecodeError (TlvError for 55) may come out; a frame accepted must pack back to the same
# bytes (docs/iso8583.md §2). The field-level mutations are also the engine target's
# (fuzz_engine).
from binascii import hexlify

from fuzzlib import Oracle, below, chance, choose, digits, random_bytes, text

from app.emv.tlv import TlvError, iterate
from app.txn.iso8583 import DecodeError, Packer, subfields, unpack

EXPECTED = (DecodeError, TlvError)

# The profile (docs/iso8583.md §2): field -> (type, maximum, variable). Written out here, not
# read from the codec, so that the mutations do not share the codec's mistakes.
PROFILE = {
    2: ("n", 19, True),
    3: ("n", 6, False),
    4: ("n", 12, False),
    11: ("n", 6, False),
    12: ("n", 6, False),
    13: ("n", 4, False),
    14: ("n", 4, False),
    15: ("n", 4, False),
    22: ("n", 3, False),
    23: ("n", 3, False),
    25: ("n", 2, False),
    26: ("n", 2, False),
    32: ("n", 11, True),
    35: ("z", 37, True),
    36: ("z", 104, True),
    37: ("an", 12, False),
    38: ("an", 6, False),
    39: ("an", 2, False),
    41: ("ans", 8, False),
    42: ("ans", 15, False),
    44: ("an", 25, True),
    48: ("n", 322, True),
    49: ("an", 3, False),
    52: ("b", 8, False),
    53: ("n", 16, False),
    54: ("an", 20, True),
    55: ("b", 255, True),
    59: ("ans", 999, True),
    60: ("n", 17, True),
    61: ("n", 29, True),
    62: ("b", 512, True),
    63: ("ans", 163, True),
}
# Response codes worth trying: every approval of spec §3.6, declines, and nonsense.
CODES = ("00", "10", "11", "A2", "A4", "A5", "A6", "05", "25", "51", "55", "94", "98", "A0", "  ")
# Field 54 as hosts send it (spec: account type, amount type, currency, sign, amount).
BALANCE = "1002156C000000123456"

_packer = Packer()


def _as_value(kind, raw):
    # Binary fields take bytes; text fields str when ASCII, else bytes (which the codec
    # takes for an ans field and refuses for the others).
    if kind == "b" or max(raw, default=0) > 127:
        return raw
    return raw.decode()


def value_for(number, value=None):
    """A new value for field `number`: of its type and size, or near `value` (a digit
    changed, cut, lengthened), or in a shape the field should not have."""
    kind, maximum, variable = PROFILE[number]
    if value is not None and chance(3):
        raw = value if isinstance(value, (bytes, bytearray)) else value.encode()
        raw = bytearray(raw)
        if raw and chance(2):
            at = below(len(raw))
            raw[at] = choose(b"0123456789 AZaz=-+.CD\x7f") if kind != "b" else below(256)
        elif chance(2):
            raw[below(len(raw) + 1) :] = b""
        else:
            raw += text(1 + below(4), b"0123456789")
        return _as_value(kind, bytes(raw))
    size = 1 + below(maximum) if variable or chance(4) else maximum
    if number == 54 and chance(2):
        # The balance layout with one part spoiled.
        raw = bytearray(BALANCE.encode())
        for _ in range(1 + below(3)):
            raw[below(20)] = 0x20 + below(95)
        return bytes(raw[: 1 + below(20)] if chance(4) else raw).decode()
    if kind == "n":
        return digits(size).decode()
    if kind == "z":
        return text(size, b"0123456789=").decode()
    if kind == "b":
        return bytes(random_bytes(size))
    if kind == "an":
        return text(size).decode()
    return bytes(random_bytes(size)) if chance(4) else text(size).decode()


def mutate_fields(fields):
    """Fields of a message, changed: one to three values replaced, dropped or added, the
    response code set to another. Returns (fields, keep_mac): keep_mac False drops 64."""
    fields = dict(fields)
    keep_mac = 64 in fields
    for _ in range(1 + below(3)):
        op = below(8)
        if op == 0:
            fields[39] = choose(CODES)
        elif op == 1 and fields:
            number = choose(list(fields))
            if number != 64:
                del fields[number]
            else:
                keep_mac = False
        elif op == 2:
            keep_mac = not keep_mac
        elif op == 3:
            number = choose(list(PROFILE))
            fields[number] = value_for(number)
        else:
            numbers = [n for n in fields if n in PROFILE]
            if numbers:
                number = choose(numbers)
                fields[number] = value_for(number, fields[number])
    fields.pop(64, None)
    return fields, keep_mac


def repack(msg, fields, keep_mac, mac=None, mti=None, header=None):
    """`msg` (an unpacked Message) with `fields` instead of its own, packed again: MACed with
    `mac` when keep_mac (a zero MAC without one), None if the codec refuses the values."""
    sign = None
    if keep_mac:
        sign = mac or (lambda mab: bytes(8))
    try:
        frame = _packer.pack(mti or msg.mti, fields, msg.tpdu, header or msg.header, sign, msg.lri)
    except ValueError:
        return None
    return bytes(frame)


def mutate_frame(frame, mac=None):
    """A frame mutated at the field level (or the header's processing digit, or the MTI);
    the frame unchanged if it does not decode."""
    try:
        msg = unpack(frame, frame[7:10] == b"LRI")
    except DecodeError:
        return frame
    header = mti = None
    if chance(8):
        header = msg.header[:5] + str(below(10)) + msg.header[6:]
    if chance(16):
        mti = choose(("0110", "0210", "0230", "0410", "0510", "0810", "0830", "0330", "9999"))
    fields, keep_mac = mutate_fields(msg.fields)
    again = repack(msg, fields, keep_mac, mac, mti, header)
    return frame if again is None else again


def fix_length(frame):
    """The 2-byte length prefix made to count what follows."""
    if len(frame) < 2:
        return frame
    n = (len(frame) - 2) & 0xFFFF
    return bytes((n >> 8, n & 0xFF)) + frame[2:]


def fix_mac(frame, mac):
    """Field 64 recomputed with `mac` over the frame's MAB, when the frame decodes and has
    one: the checks past the MAC are then reached."""
    try:
        msg = unpack(frame, frame[7:10] == b"LRI")
    except DecodeError:
        return frame
    if msg.mab is None:
        return frame
    return frame[:-8] + bytes(mac(msg.mab))


# --- seeds -------------------------------------------------------------------------------------

TPDU = b"\x60\x00\x00\x00\x03"
LRI = b"LRI\x00\x1c" + bytes(28)
HEADER = "603100310000"


def _pack(mti, fields, lri=None, mac=True):
    sign = (lambda mab: b"8A9E91B8") if mac else None
    return bytes(_packer.pack(mti, fields, TPDU, HEADER, sign, lri))


def _seeds():
    base = {3: "000000", 11: "000024", 41: "12345678", 42: "123456789012345", 49: "156"}
    sale = dict(base)
    sale.update({4: "000000000001", 12: "103015", 13: "0520", 25: "00", 37: "052010000001"})
    sale.update({38: "100001", 39: "00", 60: "22000001", 44: "0102030405 0607"})
    balance = dict(sale)
    balance.update({3: "310000", 54: BALANCE})
    request = dict(base)
    request.update({4: "000000000001", 22: "021", 25: "00", 26: "12"})
    request.update({35: "6224242900000113=28062013949031013", 52: bytes(range(8))})
    request.update({53: "2600000000000000", 60: "22000001000600", 61: "000001000002"})
    request[55] = bytes.fromhex("9F2608C2C12B098F3DA6E39F2701809F101307010103A0A802010A010000")
    request[63] = b"\xb2\xe2\xca\xd4CUP"
    signon = {11: "000001", 12: "103015", 13: "0520", 37: "052010000002", 39: "00"}
    signon.update({41: "12345678", 42: "123456789012345", 60: "00000001004", 62: bytes(60)})
    settle = {11: "000009", 39: "00", 41: "12345678", 42: "123456789012345", 60: "00000001201"}
    settle[48] = "0" * 12 + "001" + "0" * 15 + "01" + "0" * 30 + "1"
    track3 = {2: "6224242900000113", 14: "2806", 36: "99" * 30 + "=" + "1" * 20, 23: "001"}
    track3.update({15: "0520", 32: "12345678901", 59: "A2" * 20, 39: "00", 41: "12345678"})
    return (
        (0, (_pack("0210", sale),)),
        (0, (_pack("0210", balance),)),
        (0, (_pack("0200", request),)),
        (0, (_pack("0810", signon, mac=False),)),
        (0, (_pack("0510", settle, mac=False),)),
        (0, (_pack("0410", sale, LRI),)),
        (0, (_pack("0210", track3),)),
    )


SEEDS = ()


def setup(workdir, root):
    global SEEDS
    SEEDS = _seeds()


def mutate(variant, pieces):
    if chance(16):
        variant = 1 - variant  # decoded as if the terminal expected an LRI header
    return variant, (mutate_frame(pieces[0]),)


def fix(variant, pieces):
    return tuple(fix_length(p) for p in pieces)


def run(variant, pieces):
    frame = pieces[0]
    msg = unpack(frame, variant == 1 or frame[7:10] == b"LRI")
    fields = msg.fields
    for number in (60, 61):
        if number in fields:
            subfields(number, fields[number])
    if 55 in fields:
        for _ in iterate(fields[55]):
            pass
    try:
        again = bytes(_packer.pack(msg.mti, fields, msg.tpdu, msg.header, None, msg.lri))
    except ValueError as exc:
        raise Oracle("a decoded frame does not pack again: %r" % (exc,)) from None
    if again != bytes(frame):
        raise Oracle("a decoded frame packs to other bytes: %s" % hexlify(again).decode())
