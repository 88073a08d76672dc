"""The CUP POS profile of ISO 8583 on the host side, built on pyiso8583 (spec §1, §2, §4;
docs/iso8583.md).

    frame = encode("0210", {11: "000001", 39: "00"}, tpdu=reply_tpdu(request.tpdu),
                   header=request.header, mac=lambda mab: my_cup_mac(mak, mab))
    message = decode(frame)        # Message: mti, fields, tpdu, header, processing, lri, mab

`SPEC` is a plain pyiso8583 specification of the MTI, the primary bitmap and fields 2..64
(usable with iso8583.encode/decode directly, on the bytes from the MTI on). `encode` and
`decode` add what pyiso8583 does not know: the 2-byte binary length prefix, the TPDU, the
optional 33-byte LRI dial header and the 6-byte BCD application header; they refuse a
secondary bitmap and fields outside the profile; and they give values the same shape as the
terminal's codec (device/app/txn/iso8583.py), which is written independently of this module and
tested against it:

    n    str of digits   fixed fields may be given short: they are zero-filled on the left
                         (except 22, left-aligned, exactly 3 digits)
    z    str             35, 36: digits with "=" as the separator (nibble D on the wire)
    an   str             ASCII; fixed fields may be given short: space-padded on the right
    ans  str or bytes    41, 42, 59, 63: ASCII as str, anything else (GBK text in 63) as bytes
    b    bytes           52, 55, 62, 64

pyiso8583 itself carries BCD as hex strings, counts n and z lengths in nibbles with a 0 pad on
the right (left for field 23), and its BCD length prefixes are 1 byte (LLVAR) or 2 (LLLVAR).
The conversions above are the only pre- and post-processing done here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import iso8583
import iso8583.decoder
import iso8583.encoder

from hostlib.errors import PoskitError

TPDU_SIZE = 5
LRI_SIZE = 33
HEADER_SIZE = 6
MAC_SIZE = 8

# Field number -> (type, length prefix bytes (0 fixed, 1 LLVAR, 2 LLLVAR), maximum length in
# digits for n/z, in bytes otherwise, name). Spec §2.
FIELDS: dict[int, tuple[str, int, int, str]] = {
    2: ("n", 1, 19, "PAN"),
    3: ("n", 0, 6, "Processing code"),
    4: ("n", 0, 12, "Amount (fen)"),
    11: ("n", 0, 6, "STAN"),
    12: ("n", 0, 6, "Local time hhmmss"),
    13: ("n", 0, 4, "Local date MMDD"),
    14: ("n", 0, 4, "Expiry YYMM"),
    15: ("n", 0, 4, "Settlement date MMDD"),
    22: ("nl", 0, 3, "POS entry mode (left-aligned)"),
    23: ("n", 0, 3, "Card sequence number"),
    25: ("n", 0, 2, "POS condition code"),
    26: ("n", 0, 2, "PIN capture code"),
    32: ("n", 1, 11, "Acquiring institution"),
    35: ("z", 1, 37, "Track 2"),
    36: ("z", 2, 104, "Track 3"),
    37: ("an", 0, 12, "RRN"),
    38: ("an", 0, 6, "Authorization code"),
    39: ("an", 0, 2, "Response code"),
    41: ("ans", 0, 8, "Terminal ID"),
    42: ("ans", 0, 15, "Merchant ID"),
    44: ("an", 1, 25, "Additional response data"),
    48: ("n", 2, 322, "Additional data, private"),
    49: ("an", 0, 3, "Currency code"),
    52: ("b", 0, 8, "PIN block"),
    53: ("n", 0, 16, "Security control"),
    54: ("an", 2, 20, "Additional amounts"),
    55: ("b", 2, 255, "ICC data (TLV)"),
    59: ("ans", 2, 999, "Terminal / location data"),
    60: ("n", 2, 17, "Reserved private (60.1-60.7)"),
    61: ("n", 2, 29, "Original data (61.1-61.5)"),
    62: ("b", 2, 512, "Reserved private (keys, parameters)"),
    63: ("ans", 2, 163, "Reserved private (operator, card organisation, texts)"),
    64: ("b", 0, 8, "MAC (8 ASCII hex characters)"),
}


def _spec_for(kind: str, prefix: int, maximum: int, name: str) -> dict:
    spec = {"len_enc": "bcd", "len_type": prefix, "max_len": maximum, "desc": name}
    if kind in ("n", "nl", "z"):
        # BCD counted in digits; an odd count takes a 0 pad nibble: on the left of a fixed n
        # (right-aligned), on the right of field 22 and of every variable n and z.
        spec.update(data_enc="b", len_count="nibbles")
        spec["left_pad" if kind == "n" and not prefix else "right_pad"] = "0"
    elif kind == "b":
        spec["data_enc"] = "b"
    else:
        # an is ASCII; ans is read byte for byte (latin-1) and turned into bytes below when
        # it is not ASCII, as the terminal does.
        spec["data_enc"] = "ascii" if kind == "an" else "latin-1"
    return spec


SPEC: dict[str, dict] = {
    "h": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 0, "desc": "(framing)"},
    "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2, "desc": "MTI"},
    "p": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": "Bitmap"},
    # Never present in a CUP POS message (decode refuses bit 1); pyiso8583 wants an entry.
    "1": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": "Bitmap 2"},
}
SPEC.update({str(number): _spec_for(*entry) for number, entry in FIELDS.items()})


class DecodeError(PoskitError, ValueError):
    """A frame refused. `reason` is the terminal codec's word for the same fault ("short",
    "length", "lri", "bcd", "secondary", "undefined", "too_long", "truncated", "trailing",
    "text") or "field" for another refusal of pyiso8583's; `field` the field number (0 =
    MTI) or None."""

    def __init__(self, reason: str, message: str, field: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.field = field


class EncodeError(PoskitError, ValueError):
    """A value that cannot be packed; `field` names the field (0 = MTI, None = framing)."""

    def __init__(self, message: str, field: int | None = None):
        super().__init__(message)
        self.field = field


@dataclass
class Message:
    """A decoded frame. `mab` is the MAC element block (MTI .. field 63) when field 64 is
    present."""

    mti: str
    fields: dict[int, str | bytes]
    tpdu: bytes
    header: str
    lri: bytes | None = None
    mab: bytes | None = None

    @property
    def processing(self) -> int:
        """Header digit 6: the host's processing requirement (spec §1)."""
        return int(self.header[5])


def reply_tpdu(tpdu: bytes) -> bytes:
    """`60 dest src` -> `60 src dest`: the TPDU of the reply (spec §1)."""
    if len(tpdu) != TPDU_SIZE:
        raise ValueError("TPDU must be 5 bytes")
    return tpdu[:1] + tpdu[3:5] + tpdu[1:3]


def with_processing(header: str, requirement: int) -> str:
    """`header` (12 digits) with digit 6, the processing requirement, set to `requirement`:
    0 none, 1 parameters, 2 status upload, 3 sign on again, 4 CA keys, 5 IC parameters,
    6 application download, 7 black list, 9 contactless parameters."""
    if not 0 <= requirement <= 9:
        raise ValueError("processing requirement is one digit")
    return header[:5] + str(requirement) + header[6:]


def _to_pyiso(number: int, value: str | bytes) -> str:
    kind, prefix, maximum, _ = FIELDS[number]
    if kind == "b":
        if not isinstance(value, bytes | bytearray | memoryview):
            raise EncodeError("field %d takes bytes" % number, number)
        return bytes(value).hex().upper()
    if isinstance(value, bytes | bytearray | memoryview) and kind == "ans":
        value = bytes(value).decode("latin-1")  # any byte, as it is
    elif not isinstance(value, str):
        raise EncodeError("field %d takes str" % number, number)
    elif kind in ("an", "ans") and any(ord(c) > 127 for c in value):
        raise EncodeError("field %d: not ASCII: %r (give bytes)" % (number, value), number)
    if kind in ("n", "nl", "z"):
        allowed = "0123456789=ABCDEF" if kind == "z" else "0123456789"
        if any(c not in allowed for c in value):
            raise EncodeError("field %d: not digits: %r" % (number, value), number)
        if kind == "z":
            value = value.replace("=", "D")
        elif kind == "n" and not prefix:
            value = value.rjust(maximum, "0")
    elif not prefix:
        value = value.ljust(maximum, " ")
    return value


def _from_pyiso(number: int, value: str) -> str | bytes:
    kind = FIELDS[number][0]
    if kind == "b":
        return bytes.fromhex(value)
    if kind == "z":
        return value.replace("D", "=")
    if kind in ("n", "nl"):
        if not value.isdigit() and value:
            raise DecodeError("bcd", "field %d: not BCD: %s" % (number, value), number)
        return value
    if kind == "ans" and any(ord(c) > 127 for c in value):
        return value.encode("latin-1")
    return value


def encode(
    mti: str,
    fields: Mapping[int, str | bytes],
    *,
    tpdu: bytes,
    header: str,
    lri: bytes | None = None,
    mac: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """The frame of message `mti` with `fields`: LEN, TPDU, [LRI], header (12 digits), MTI,
    bitmap, fields. With `mac` (function of the MAB returning 8 bytes) field 64 is computed
    over MTI..63 with bit 64 set, replacing any in `fields`."""
    if len(tpdu) != TPDU_SIZE:
        raise EncodeError("TPDU must be 5 bytes")
    if lri is not None and len(lri) != LRI_SIZE:
        raise EncodeError("LRI header must be 33 bytes")
    if len(header) != 12 or not header.isdigit():
        raise EncodeError("header must be 12 digits")
    if len(mti) != 4 or not mti.isdigit():
        raise EncodeError("MTI must be 4 digits", 0)
    doc: dict[str, str] = {"t": mti}
    for number, value in fields.items():
        if number not in FIELDS:
            raise EncodeError("field %r is not in the CUP POS profile" % (number,), number)
        if value is not None and not (number == 64 and mac is not None):
            doc[str(number)] = _to_pyiso(number, value)
    if mac is not None:
        doc["64"] = "00" * MAC_SIZE  # a placeholder: sets bit 64 for the MAB
    try:
        body, _ = iso8583.encode(doc, SPEC)
    except iso8583.encoder.EncodeError as e:
        raise EncodeError(str(e), int(e.field) if e.field.isdigit() else None) from None
    if mac is not None:
        code = mac(bytes(body[:-MAC_SIZE]))
        if len(code) != MAC_SIZE:
            raise EncodeError("the MAC function must return 8 bytes", 64)
        body[-MAC_SIZE:] = code
    frame = tpdu + (lri or b"") + bytes.fromhex(header) + bytes(body)
    return len(frame).to_bytes(2, "big") + frame


def decode(data: bytes, *, lri: bool = False) -> Message:
    """The Message in `data` (from the 2-byte length prefix to the end); `lri`: expect the
    33-byte LRI dial header after the TPDU. Raises DecodeError."""
    data = bytes(data)
    if len(data) < 2:
        raise DecodeError("short", "frame of %d bytes" % len(data))
    declared = int.from_bytes(data[:2], "big")
    if declared != len(data) - 2:
        raise DecodeError(
            "length", "length prefix says %d bytes, %d follow" % (declared, len(data) - 2)
        )
    head = 2 + TPDU_SIZE + (LRI_SIZE if lri else 0)
    if len(data) < head + HEADER_SIZE + 2 + 8:
        raise DecodeError("short", "frame of %d bytes" % len(data))
    tpdu = data[2:7]
    lri_header = data[7:head] if lri else None
    if lri_header is not None and not lri_header.startswith(b"LRI"):
        raise DecodeError("lri", "no LRI dial header after the TPDU")
    header = data[head : head + HEADER_SIZE].hex()
    if not header.isdigit():
        raise DecodeError("bcd", "application header is not BCD: %s" % header)
    body = data[head + HEADER_SIZE :]
    if not body[:2].hex().isdigit():
        raise DecodeError("bcd", "MTI is not BCD: %s" % body[:2].hex(), 0)
    bitmap = int.from_bytes(body[2:10], "big")
    if bitmap >> 63:
        raise DecodeError("secondary", "secondary bitmap", 1)
    for number in range(2, 65):
        if bitmap >> (64 - number) & 1 and number not in FIELDS:
            # Checked first: pyiso8583 would look the field up in SPEC and fail otherwise.
            raise DecodeError("undefined", "field %d is not in the profile" % number, number)
    try:
        doc, _ = iso8583.decode(body, SPEC)
    except iso8583.decoder.DecodeError as e:
        raise _decode_error(e) from None
    fields = {int(k): _from_pyiso(int(k), v) for k, v in doc.items() if k.isdigit()}
    mab = None
    if 64 in fields:
        mab = body[: len(body) - MAC_SIZE]
    return Message(doc["t"], fields, tpdu, header, lri_header, mab)


def _decode_error(e: iso8583.decoder.DecodeError) -> DecodeError:
    # pyiso8583 says what went wrong in words; the terminal's reasons are named after them.
    field = 0 if e.field == "t" else int(e.field) if e.field.isdigit() else None
    text = e.msg
    sizes = re.match(r"Field data is (\d+) nibbles, expecting (\d+)", text)
    if text.startswith("Extra data"):
        reason, field = "trailing", None
    elif "larger than maximum" in text:
        reason = "too_long"
    elif "invalid BCD" in text:
        reason = "bcd"
    elif sizes and int(sizes[1]) > int(sizes[2]):
        reason = "bcd"  # all the nibbles are there: the odd count's pad nibble is not 0
    elif text.startswith(("Field data is", "Field length is")):
        reason = "truncated"
    elif "invalid data" in text:
        reason = "text"
    else:
        reason = "field"
    return DecodeError(reason, str(e), field)
