"""BER-TLV as EMV cards and kernels write it (EMV Book 3 Annex B), on the host side.

    from hostlib.card import tlv
    tlv.encode(0x9F36, b"\\x00\\x01")                   # b"\\x9f\\x36\\x02\\x00\\x01"
    tlv.template(0x77, [(0x82, aip), (0x94, afl)])     # a constructed object
    items = tlv.decode(response)                       # [(tag, value), ...] at the top level
    tlv.find(response, 0x9F26)                         # first 9F26 at any depth, or None
    tlv.parse_dol(bytes.fromhex("9F02069F3704"))       # [(0x9F02, 6), (0x9F37, 4)]

Tags are ints as written in hex (0x9F26, 0x5F2A, 0x82): the tag bytes themselves, so a
three-byte tag (0xDF8101) works as well as a one-byte one. Decoding is strict: a length that
runs past the data, a tag or length cut short, or a length beyond four bytes raises TlvError,
because a card emulator that tolerated a malformed object would hide a kernel's bug. The
padding EMV allows between objects (00 or FF bytes) is skipped.

This module is the host's own, written from the EMV text: it shares no code with the
terminal's TLV codec, so tests that drive a card with one and read it with the other check
both.
"""

from __future__ import annotations

from collections.abc import Iterable

from hostlib.errors import PoskitError


class TlvError(PoskitError, ValueError):
    """Bytes that are not well-formed BER-TLV."""


def tag_bytes(tag: int) -> bytes:
    """The bytes of a tag written as an int (0x9F26 -> b'\\x9f\\x26')."""
    if tag < 0:
        raise TlvError("a tag is never negative: %d" % tag)
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def is_constructed(tag: int) -> bool:
    """Whether the tag's first byte has the constructed bit (b6): 70, 77, A5, BF0C..."""
    return bool(tag_bytes(tag)[0] & 0x20)


def encode_length(length: int) -> bytes:
    """The BER length field: one byte below 128, else 81 xx / 82 xx xx..."""
    if length < 0:
        raise TlvError("a length is never negative: %d" % length)
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode(tag: int, value: bytes) -> bytes:
    """One data object: tag, length, value."""
    return tag_bytes(tag) + encode_length(len(value)) + bytes(value)


def encode_all(items: Iterable[tuple[int, bytes]]) -> bytes:
    """Data objects one after another (the value of a template)."""
    return b"".join(encode(tag, value) for tag, value in items)


def template(tag: int, items: Iterable[tuple[int, bytes]]) -> bytes:
    """A constructed object holding `items` in order."""
    return encode(tag, encode_all(items))


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    start = pos
    if pos >= len(data):
        raise TlvError("a tag is cut short at byte %d" % pos)
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:  # more tag bytes follow, each with b8 set but the last
        while True:
            if pos >= len(data):
                raise TlvError("a tag is cut short at byte %d" % start)
            pos += 1
            if not data[pos - 1] & 0x80:
                break
            if pos - start > 4:
                raise TlvError("a tag longer than four bytes at byte %d" % start)
    return int.from_bytes(data[start:pos], "big"), pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("a length is missing at byte %d" % pos)
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0 or count > 4:
        raise TlvError("length byte %02X at byte %d is not a definite length" % (first, pos - 1))
    if pos + count > len(data):
        raise TlvError("a length is cut short at byte %d" % (pos - 1))
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def decode(data: bytes) -> list[tuple[int, bytes]]:
    """The data objects at the top level of `data`, in order, as (tag, value)."""
    data = bytes(data)
    items = []
    pos = 0
    while pos < len(data):
        if data[pos] in (0x00, 0xFF):  # padding before, between or after objects
            pos += 1
            continue
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos)
        if pos + length > len(data):
            raise TlvError(
                "tag %X says %d bytes but only %d follow" % (tag, length, len(data) - pos)
            )
        items.append((tag, data[pos : pos + length]))
        pos += length
    return items


def walk(data: bytes) -> Iterable[tuple[int, bytes]]:
    """Every data object at every depth, depth first, constructed ones before their
    contents."""
    for tag, value in decode(data):
        yield tag, value
        if is_constructed(tag):
            yield from walk(value)


def find(data: bytes, tag: int) -> bytes | None:
    """The value of the first object `tag` at any depth, or None."""
    for found, value in walk(data):
        if found == tag:
            return value
    return None


def to_dict(data: bytes) -> dict[int, bytes]:
    """Every primitive object at any depth by tag (the first one wins)."""
    out: dict[int, bytes] = {}
    for tag, value in walk(data):
        if not is_constructed(tag):
            out.setdefault(tag, value)
    return out


def parse_dol(dol: bytes) -> list[tuple[int, int]]:
    """A data object list (PDOL, CDOL1, DDOL...): tags and lengths, no values."""
    dol = bytes(dol)
    out = []
    pos = 0
    while pos < len(dol):
        tag, pos = _read_tag(dol, pos)
        length, pos = _read_length(dol, pos)
        out.append((tag, length))
    return out


def dol_length(dol: bytes) -> int:
    """How many bytes the data a DOL asks for adds up to."""
    return sum(length for _, length in parse_dol(dol))


def split_dol_data(dol: bytes, data: bytes) -> dict[int, bytes]:
    """The terminal's answer to a DOL, cut into values by tag.

    `data` must be exactly as long as the DOL says (EMV Book 3 5.4: the terminal pads or
    truncates each value to the length asked); a different length raises TlvError."""
    entries = parse_dol(dol)
    if len(data) != sum(length for _, length in entries):
        raise TlvError(
            "the DOL asks for %d bytes, the data has %d"
            % (sum(length for _, length in entries), len(data))
        )
    out = {}
    pos = 0
    for tag, length in entries:
        out[tag] = bytes(data[pos : pos + length])
        pos += length
    return out
