"""The China UnionPay POS profile of ISO 8583:1987 (docs/iso8583.md; spec §1, §2, §4).

A frame on the wire:

    LEN(2, binary big-endian, counts what follows) TPDU(5) [LRI(33)] HEADER(6 = 12 BCD digits)
    MTI(2, BCD) BITMAP(8) fields 2..63 [field 64 = MAC(8)]

A message is an MTI ("0200") and a dict {field number: value}. Values by field type:

    n    str of digits   BCD. Fixed: right-aligned, left-padded with 0 (a shorter value is
                         zero-filled: 4="51" packs as 000000000051). Variable: left-aligned,
                         padded right with 0, length prefix = number of digits. Field 22 is
                         fixed but left-aligned ("021" -> 02 10) and takes exactly 3 digits.
    z    str             track data (35, 36): digits and "=" (the separator, nibble D), laid
                         out like variable n. A TDK-encrypted track carries hex digits, so
                         A-F are accepted too; nibble D always reads back as "=".
    an   str (ASCII)     fixed: right-padded with spaces; variable: length in bytes.
    ans  str or bytes    as an, and bytes are accepted: a response's field 63 may carry GBK
                         text. Decoding gives str when every byte is ASCII, else bytes.
    b    bytes           52, 64: exactly 8 bytes; 55, 62: variable.

Length prefixes are BCD: 1 byte for LLVAR, 2 bytes for LLLVAR. Decoded values are as on the
wire (fixed n fields keep their leading zeros, fixed text its padding), so packing a decoded
message gives back the same bytes.

The MAC (spec §4) covers the MTI to the end of field 63, with bit 64 set in the bitmap. Pack
with `mac=lambda mab: app.crypto.mac.cup_mac(mak, mab)` to have field 64 computed; an unpacked
Message holds the MAB for the caller to check (Message.verify).

Memory: a Packer builds every frame in one buffer allocated once and returns a memoryview of
it; unpack reads through a memoryview of the received bytes and copies only each field's
value. Error messages are terse on purpose: each distinct string costs heap on the terminal
(imported from ROMFS the module retains about 5.5 KB on the 64-bit unix port, 2 KB of it
qstrs; docs/iso8583.md).
"""

import binascii

from app.txn.textcopy import copy as _copy
from app.txn.textcopy import nibbles as _nibbles

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

# Field types (low 3 bits of a table entry).
_N = const(1)  # numeric BCD: fixed right-aligned, variable left-aligned
_NL = const(2)  # numeric BCD, fixed and left-aligned (field 22)
_Z = const(3)  # track data: BCD with "=" as nibble D
_AN = const(4)  # ASCII text only
_ANS = const(5)  # ASCII text, or bytes for other 8-bit text (GBK in field 63)
_B = const(6)  # binary

_TPDU = const(5)
_LRI = const(33)
_MINIMUM = const(23)  # LEN + TPDU + HEADER + MTI + BITMAP
_BYTES = (bytes, bytearray, memoryview)  # built once: a tuple in a call is built every call


def _build_table(text):
    # 3 bytes per field 0..64: type | prefix bytes << 4, then the maximum (big-endian);
    # type 0 = not in the profile.
    kinds = "n nl z an ans b".split()
    table = bytearray(65 * 3)
    words = text.split()
    for i in range(0, len(words), 4):
        at = int(words[i]) * 3
        prefix = 0 if words[i + 2] == "-" else len(words[i + 2]) - 1
        table[at] = kinds.index(words[i + 1]) + 1 | prefix << 4
        maximum = int(words[i + 3])
        table[at + 1] = maximum >> 8
        table[at + 2] = maximum & 0xFF
    return bytes(table)


# Spec §2: field, type, length prefix (- fixed, LL 1-byte BCD, LLL 2-byte BCD), maximum
# length (digits for n and z, bytes otherwise). Field 59 has no maximum in the spec (its
# layout is acquirer-specific): 999 is the LLLVAR prefix's own limit. The text is read once;
# the module keeps the 195-byte table.
_FIELDS = _build_table(
    """
     2 n LL 19    3 n - 6    4 n - 12    11 n - 6    12 n - 6    13 n - 4    14 n - 4
    15 n - 4     22 nl - 3   23 n - 3    25 n - 2    26 n - 2    32 n LL 11  35 z LL 37
    36 z LLL 104 37 an - 12  38 an - 6   39 an - 2   41 ans - 8  42 ans - 15 44 an LL 25
    48 n LLL 322 49 an - 3   52 b - 8    53 n - 16   54 an LLL 20            55 b LLL 255
    59 ans LLL 999           60 n LLL 17 61 n LLL 29 62 b LLL 512            63 ans LLL 163
    64 b - 8
    """
)
del _build_table

# Where each subfield of fields 60 and 61 ends, in digits (spec §2).
_ENDS_60 = b"\x02\x08\x0b\x0c\x0d\x0e\x11"  # 60.1 n2 .2 n6 .3 n3 .4 n1 .5 n1 .6 n1 .7 n3
_ENDS_61 = b"\x06\x0c\x10\x12\x1d"  # 61.1 n6 .2 n6 .3 n4 .4 n2 .5 n11

# Messages, numbered from 0 by _M_* and formatted by _text(): one literal, not a heap object
# per message (as app.message; the codec imports nothing of the application).
_M_TPDU = const(0)
_M_HEADER = const(1)
_M_DIGIT = const(2)
_M_NEEDS = const(3)
_M_NEEDS_BYTES = const(4)
_M_LENGTH = const(5)
_M_FULL = const(6)
_M_PROFILE = const(7)
_M_MTI = const(8)
_M_FOLLOW = const(9)
_M_SUBFIELDS = const(10)
_M_TOO_MANY = const(11)
_M_SUBFIELD = const(12)
_MESSAGES = (
    "|TPDU must be 5 bytes"  # _M_TPDU
    "|header not 12 digits"  # _M_HEADER
    "|bad digit %r"  # _M_DIGIT
    "|needs %d bytes"  # _M_NEEDS
    "|needs bytes"  # _M_NEEDS_BYTES
    "|length %d, maximum %d"  # _M_LENGTH
    "|buffer full"  # _M_FULL
    "|not in the profile"  # _M_PROFILE
    "|MTI not 4 digits"  # _M_MTI
    "|%d, %d follow"  # _M_FOLLOW
    "|subfields of 60 and 61 only"  # _M_SUBFIELDS
    "|too many subfields"  # _M_TOO_MANY
    "|subfield %d not %d digits"  # _M_SUBFIELD
    "|"
)


def _text(number, args=None):
    start = 0
    for _ in range(number + 1):
        start = _MESSAGES.index("|", start) + 1
    text = _MESSAGES[start : _MESSAGES.index("|", start)]
    return text if args is None else text % args


def _where(field):
    return "frame" if field is None else "field %s" % field


class DecodeError(ValueError):
    """A frame from the wire refused.

    `reason`: "short" (too short for the fixed parts), "length" (the length prefix disagrees
    with the data), "lri" (no LRI header where one is expected), "bcd" (a nibble above 9 in
    the header, MTI, a length prefix or a numeric field, or a pad nibble not 0),
    "secondary" (bit 1: a secondary bitmap), "undefined" (the bitmap names a field the
    profile lacks), "too_long" (a length prefix above the field's maximum), "truncated" (a
    field runs past the end), "trailing" (bytes after the last field), "text" (a byte above
    0x7F in an an field), "subfield" (field 60/61 not a whole number of subfields).
    `field`: the field number (0 = MTI), or None for the framing and header.
    """

    def __init__(self, reason, field=None, detail=""):
        super().__init__("%s: %s %s" % (_where(field), reason, detail))
        self.reason = reason
        self.field = field


class EncodeError(ValueError):
    """A value that cannot be packed. `field`: the field number (0 = MTI), or None for the
    TPDU, header and LRI."""

    def __init__(self, field, detail):
        super().__init__("%s: %s" % (_where(field), detail))
        self.field = field


def reply_tpdu(tpdu):
    """The TPDU of a reply to `tpdu` (5 bytes): `60 dest src` -> `60 src dest` (spec §1)."""
    if len(tpdu) != _TPDU:
        raise ValueError(_text(_M_TPDU))
    return bytes((tpdu[0], tpdu[3], tpdu[4], tpdu[1], tpdu[2]))


def header(version="31", status=0, sub_version="000000"):
    """A terminal's 12-digit application header (spec §1): application type 60, software
    `version`, terminal `status` (0 normal, 1 test), processing requirement 0 (the host's
    digit), `sub_version` (6 digits)."""
    text = "60%s%d0%s" % (version, status, sub_version)
    if len(text) != 12 or not text.isdigit():
        raise EncodeError(None, _text(_M_HEADER))
    return text


class Message:
    """A decoded frame.

    mti (str), fields ({number: value}), tpdu (bytes), header (12-digit str), processing
    (int: header digit 6, the host's processing requirement: 0 none, 1 download parameters,
    2 upload status, 3 sign on again, 4 download CA keys, 5 download IC parameters,
    6 download the application, 7 download the black list, 9 contactless parameters),
    lri (33 bytes, or None), mab (memoryview of the MAC element block within the data given
    to unpack, valid while that data is; None without field 64).
    """

    def __init__(self, mti, fields, tpdu, header, lri, mab):
        self.mti = mti
        self.fields = fields
        self.tpdu = tpdu
        self.header = header
        self.processing = ord(header[5]) - 48
        self.lri = lri
        self.mab = mab

    def verify(self, mac):
        """True if field 64 is present and equals `mac(mab)`, compared in constant time."""
        if self.mab is None:
            return False
        from app.crypto.mac import equal

        return equal(mac(self.mab), self.fields[64])


# --- packing --------------------------------------------------------------------------------


def _put_nibbles(buf, pos, text, lead, kind, field):
    # `lead` zero nibbles, the characters of `text` (str), then a 0 nibble if needed to end on
    # a byte boundary. A str's first non-ASCII character starts within its first len() bytes,
    # so reading len() bytes refuses it.
    while lead > 1:
        buf[pos] = 0
        pos += 1
        lead -= 2
    end = _nibbles(buf, pos, text, len(text), lead, kind == _Z)
    if end < 0:
        raise EncodeError(field, _text(_M_DIGIT, _first_bad(text, kind)))
    return end


def _first_bad(text, kind):
    # The character _put_nibbles refused, for its message (the error path only).
    for ch in text:
        if not ("0" <= ch <= "9" or kind == _Z and (ch == "=" or "A" <= ch <= "F")):
            return ch
    return text


def _put_raw(view, pos, value, length, field):
    if not isinstance(value, _BYTES) or len(value) != length:
        raise EncodeError(field, _text(_M_NEEDS, length))
    view[pos : pos + length] = value
    return pos + length


def _put_field(buf, view, pos, number, value):
    at = number * 3
    kind = _FIELDS[at] & 7
    prefix = _FIELDS[at] >> 4
    maximum = _FIELDS[at + 1] << 8 | _FIELDS[at + 2]
    digits = kind <= _Z
    if isinstance(value, str):
        if kind == _B:
            raise EncodeError(number, _text(_M_NEEDS_BYTES))
    elif digits or kind == _AN or not isinstance(value, _BYTES):
        raise EncodeError(number, "needs str")
    count = len(value)
    # A fixed field takes up to its size (n is zero-filled, text space-padded), but field 22
    # and the binary ones exactly their size.
    if count > maximum or not prefix and count != maximum and (kind == _NL or kind == _B):
        raise EncodeError(number, _text(_M_LENGTH, (count, maximum)))
    width = count if prefix else maximum
    if digits:
        width = (width + 1) >> 1
    if pos + prefix + width > len(buf):
        raise EncodeError(number, _text(_M_FULL))
    if prefix == 2:
        buf[pos] = count // 100
        pos += 1
    if prefix:
        buf[pos] = (count // 10 % 10) << 4 | count % 10
        pos += 1
    if digits:
        lead = 2 * width - count if kind == _N and not prefix else 0  # right-aligned n
        return _put_nibbles(buf, pos, value, lead, kind, number)
    end = pos + width
    if isinstance(value, str):
        # Read as _put_nibbles reads a str (viper: its bytes in place, no copy made).
        pos = _copy(buf, pos, value, count)  # pyright: ignore[reportArgumentType]
        if pos < 0:
            raise EncodeError(number, "not ASCII")
    else:
        view[pos : pos + count] = value
        pos += count
    while pos < end:  # fixed text: pad with spaces
        buf[pos] = 0x20
        pos += 1
    return end


class Packer:
    """Builds frames in one buffer of `size` bytes (`buffer`), allocated once.

    pack() returns a memoryview of the buffer, valid until the next pack: send it (or copy
    it) before packing again.
    """

    def __init__(self, size=1024):
        self.buffer = bytearray(size)
        self._view = memoryview(self.buffer)

    def pack(self, mti, fields, tpdu, header, mac=None, lri=None):
        """The frame of message `mti` (4 digits) with `fields` ({number: value}; a None value
        is left out), TPDU `tpdu` (5 bytes), application header `header` (12 digits, see
        header()) and, if given, the 33-byte LRI dial header `lri`.

        With `mac`, a function of the MAB returning 8 bytes (lambda mab:
        app.crypto.mac.cup_mac(mak, mab)), field 64 is computed, replacing any in `fields`;
        without it a field 64 in `fields` is packed as it is. Raises EncodeError.
        """
        buf = self.buffer
        view = self._view
        for number in fields:
            if not isinstance(number, int) or not 1 < number < 65 or not _FIELDS[number * 3]:
                raise EncodeError(number, _text(_M_PROFILE))
        pos = _put_raw(view, 2, tpdu, _TPDU, None)
        if lri is not None:
            pos = _put_raw(view, pos, lri, _LRI, None)
        if not isinstance(header, str) or len(header) != 12 or not header.isdigit():
            raise EncodeError(None, _text(_M_HEADER))
        pos = _put_nibbles(buf, pos, header, 0, _N, None)
        start = pos
        if not isinstance(mti, str) or len(mti) != 4 or not mti.isdigit():
            raise EncodeError(0, _text(_M_MTI))
        pos = _put_nibbles(buf, pos, mti, 0, _N, 0)
        bitmap = pos
        view[pos : pos + 8] = b"\x00\x00\x00\x00\x00\x00\x00\x00"
        pos += 8
        number = 2
        while number < 64:
            value = fields.get(number)
            if value is not None:
                buf[bitmap + ((number - 1) >> 3)] |= 0x80 >> ((number - 1) & 7)
                pos = _put_field(buf, view, pos, number, value)
            number += 1
        code = fields.get(64) if mac is None else None
        if mac is not None or code is not None:
            buf[bitmap + 7] |= 1
            if pos + 8 > len(buf):
                raise EncodeError(64, _text(_M_FULL))
            if mac is not None:
                code = mac(view[start:pos])
            pos = _put_raw(view, pos, code, 8, 64)
        buf[0] = (pos - 2) >> 8
        buf[1] = (pos - 2) & 0xFF
        return view[:pos]


# --- unpacking ------------------------------------------------------------------------------


def _digits(view, pos, nbytes, field):
    hexed = binascii.hexlify(view[pos : pos + nbytes])
    if nbytes and not hexed.isdigit():
        raise DecodeError("bcd", field)
    return hexed


def unpack(data, lri=False):
    """The Message in frame `data` (bytes-like, from the 2-byte length prefix to the end);
    `lri`: the frame carries the 33-byte LRI dial header. Raises DecodeError only."""
    n = len(data)
    view = memoryview(data)
    if n < 2:
        raise DecodeError("short")
    if view[0] << 8 | view[1] != n - 2:
        raise DecodeError("length", None, _text(_M_FOLLOW, (view[0] << 8 | view[1], n - 2)))
    pos = 7
    if n < _MINIMUM + (_LRI if lri else 0):
        raise DecodeError("short")
    tpdu = bytes(view[2:7])
    lri_header = None
    if lri:
        lri_header = bytes(view[7:40])
        if lri_header[:3] != b"LRI":
            raise DecodeError("lri")
        pos = 40
    head = _digits(view, pos, 6, None).decode()
    start = pos + 6
    mti = _digits(view, start, 2, 0).decode()
    bitmap = start + 2
    pos = start + 10
    if view[bitmap] & 0x80:
        raise DecodeError("secondary", 1)
    fields = {}
    mab = None
    number = 2
    while number < 65:
        if view[bitmap + ((number - 1) >> 3)] & (0x80 >> ((number - 1) & 7)):
            if number == 64:
                mab = view[start:pos]
            pos = _get_field(view, pos, n, number, fields)
        number += 1
    if pos != n:
        raise DecodeError("trailing", None, "%d bytes" % (n - pos))
    return Message(mti, fields, tpdu, head, lri_header, mab)


def _get_field(view, pos, end, number, fields):
    at = number * 3
    kind = _FIELDS[at] & 7
    prefix = _FIELDS[at] >> 4
    maximum = _FIELDS[at + 1] << 8 | _FIELDS[at + 2]
    if not kind:
        raise DecodeError("undefined", number)
    if pos + prefix > end:
        raise DecodeError("truncated", number)
    count = maximum
    if prefix:
        count = 0
        stop = pos + prefix
        while pos < stop:
            b = view[pos]
            if b > 0x99 or b & 0x0F > 9:
                raise DecodeError("bcd", number)
            count = count * 100 + (b >> 4) * 10 + (b & 0x0F)
            pos += 1
        if count > maximum:
            raise DecodeError("too_long", number, "%d > %d" % (count, maximum))
    digits = kind <= _Z
    nbytes = (count + 1) >> 1 if digits else count
    if pos + nbytes > end:
        raise DecodeError("truncated", number)
    if digits:
        if kind == _Z:
            hexed = binascii.hexlify(view[pos : pos + nbytes]).upper().replace(b"D", b"=")
        else:
            hexed = _digits(view, pos, nbytes, number)
        if count & 1:
            # The pad nibble: leading in a fixed right-aligned n, trailing otherwise.
            if kind == _N and not prefix:
                pad = hexed[0]
                hexed = hexed[1:]
            else:
                pad = hexed[count]
                hexed = hexed[:count]
            if pad != 0x30:
                raise DecodeError("bcd", number, "pad")
        value = hexed.decode()
    else:
        value = bytes(view[pos : pos + nbytes])
        if kind != _B:
            if nbytes and max(value) > 127:
                if kind == _AN:
                    raise DecodeError("text", number)
            else:
                value = value.decode()
    fields[number] = value
    return pos + nbytes


# --- fields 60 and 61 -----------------------------------------------------------------------


def _ends(field):
    if field == 60:
        return _ENDS_60
    if field == 61:
        return _ENDS_61
    raise ValueError(_text(_M_SUBFIELDS))


def subfields(field, value):
    """The subfields of field 60 or 61 as a tuple of digit strings, None for those absent:
    60: (type code n2, batch n6, network-management code n3, read capability n1,
    IC condition n1, partial-approval support n1, account type n3);
    61: (original batch n6, original STAN n6, original date MMDD n4, authorization method n2,
    authorizing institution n11). Raises DecodeError("subfield") if `value` ends inside one.
    """
    parts = []
    begin = 0
    for end in _ends(field):
        if end <= len(value):
            parts.append(value[begin:end])
            begin = end
        else:
            parts.append(None)
    if begin != len(value):
        raise DecodeError("subfield", field)
    return tuple(parts)


def join_subfields(field, *parts):
    """Field 60 or 61 from its leading subfields, in the order of subfields() (digit strings,
    or ints which are zero-filled): join_subfields(60, "22", 24, "000", "5", "0", "0") ==
    "22000024000500". Raises EncodeError for a subfield of the wrong size."""
    ends = _ends(field)
    if len(parts) > len(ends):
        raise EncodeError(field, _text(_M_TOO_MANY))
    out = []
    begin = 0
    for i in range(len(parts)):
        part = parts[i]
        width = ends[i] - begin
        begin = ends[i]
        if isinstance(part, int):
            part = "%0*d" % (width, part)
        if not isinstance(part, str) or len(part) != width or not part.isdigit():
            raise EncodeError(field, _text(_M_SUBFIELD, (i + 1, width)))
        out.append(part)
    return "".join(out)
