"""BER-TLV as EMV cards speak it (EMV 4.3 Book 3 Annex B; PBOC 3.0 part 5).

    from app.emv import tlv

    fci = tlv.parse(response)               # [(0x6F, <memoryview>)]; the whole tree checked
    pdol = tlv.find(response, 0x9F38)       # first 9F38 at any depth, or None
    for tag, value in tlv.iterate(tlv.find(response, 0xBF0C)):
        if tag == 0x61: ...                 # each directory entry of a PSE/PPSE
    card = tlv.collect(record, {})          # every primitive of a READ RECORD answer, by tag
    data = tlv.build(0x83, pdol_data)       # 83 len data: the GET PROCESSING OPTIONS data

Tags are ints with their bytes in order (0x5A, 0x9F38, 0xBF0C, 0xDF8101); up to 3 bytes.
Lengths take 1 to 3 bytes (short form, 81 xx, 82 xxxx). A tag whose first byte has bit 6
set is constructed (6F, A5, 70, 77, BF0C, 61...): its value is more TLV, which parse, find,
collect and iterate over it check too. 80 (response format 1 of GET PROCESSING OPTIONS and
GENERATE AC) is primitive by its tag: its value is fixed fields, not TLV. Bytes 00 and FF
before, between and after objects are padding (Book 3 Annex B, ISO/IEC 7816-4) and skipped.

Every malformed input raises TlvError with a `reason` (its class attributes) and the
`offset` where reading stopped -- never IndexError or ValueError. Values are memoryviews
into the caller's buffer, not copies: keep the buffer, or bytes(value) what outlives it.
"""

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_MAX_DEPTH = const(8)  # EMV nests 4 deep (6F A5 BF0C 61); deeper is an attack or garbage


class TlvError(Exception):
    """Malformed BER-TLV. `reason` is one of the class attributes below; `offset` is the
    position in the buffer where it was found."""

    TAG_TRUNCATED = "tag truncated"
    TAG_TOO_LONG = "tag longer than 3 bytes"
    LENGTH_TRUNCATED = "length truncated"
    LENGTH_FORM = "length neither short nor 81/82"
    PAST_END = "value past the end"
    TOO_DEEP = "nested too deep"
    DUPLICATE = "tag repeated"

    def __init__(self, reason, offset=0):
        super().__init__("%s at %d" % (reason, offset))
        self.reason = reason
        self.offset = offset


def read_tag(view, pos, end):
    """(tag, position after it) of the tag at `view[pos]`, which must end before `end`."""
    if pos >= end:
        raise TlvError(TlvError.TAG_TRUNCATED, pos)
    tag = view[pos]
    pos += 1
    if tag & 0x1F == 0x1F:  # more tag bytes follow, each with b8 set but the last
        while True:
            if pos >= end:
                raise TlvError(TlvError.TAG_TRUNCATED, pos)
            byte = view[pos]
            pos += 1
            tag = tag << 8 | byte
            if not byte & 0x80:
                break
            if tag > 0xFFFF:
                raise TlvError(TlvError.TAG_TOO_LONG, pos)
    return tag, pos


def read(view, pos, end):
    """(tag, value start, value end) of the object at `view[pos]`, which must lie before
    `end`. No padding is skipped here: `items` does that."""
    tag, pos = read_tag(view, pos, end)
    if pos >= end:
        raise TlvError(TlvError.LENGTH_TRUNCATED, pos)
    length = view[pos]
    pos += 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2:
            raise TlvError(TlvError.LENGTH_FORM, pos - 1)
        if pos + count > end:
            raise TlvError(TlvError.LENGTH_TRUNCATED, pos)
        length = view[pos]
        if count == 2:
            length = length << 8 | view[pos + 1]
        pos += count
    if pos + length > end:
        raise TlvError(TlvError.PAST_END, pos)
    return tag, pos, pos + length


def constructed(tag):
    """True when `tag` (an int as above) is a constructed object: its value is TLV."""
    while tag > 0xFF:
        tag >>= 8
    return bool(tag & 0x20)


def skip(view, pos, end):
    """The position of the first byte at or after `pos` that is not padding (00 or FF)."""
    while pos < end and (view[pos] == 0x00 or view[pos] == 0xFF):
        pos += 1
    return pos


def items(view, start, end):
    """(tag, value start, value end) of each object of `view[start:end]`, padding skipped.
    Only this level is read: see `iterate` for the values and a check of the levels below."""
    pos = skip(view, start, end)
    while pos < end:
        tag, first, pos = read(view, pos, end)
        yield tag, first, pos
        pos = skip(view, pos, end)


# The walks below loop rather than use items(): a generator per level costs heap on every call.


def _check(view, start, end, depth):
    # Every constructed value below, read to the end: one bad byte anywhere refuses the tree.
    if depth > _MAX_DEPTH:
        raise TlvError(TlvError.TOO_DEEP, start)
    pos = skip(view, start, end)
    while pos < end:
        tag, first, pos = read(view, pos, end)
        if constructed(tag):
            _check(view, first, pos, depth + 1)
        pos = skip(view, pos, end)


def iterate(data):
    """(tag, value) of each object at the top level of `data`, values as memoryviews, after
    checking the whole of `data` (its constructed values to the bottom) is well formed."""
    view = memoryview(data)
    _check(view, 0, len(view), 0)
    for tag, first, last in items(view, 0, len(view)):
        yield tag, view[first:last]


def parse(data):
    """[(tag, value)] of the top level of `data` (see `iterate`)."""
    return list(iterate(data))


def find(data, tag):
    """The value (memoryview) of the first object `tag` in `data`, looking into constructed
    objects depth first, or None. The whole of `data` is checked first."""
    view = memoryview(data)
    _check(view, 0, len(view), 0)
    return _find(view, 0, len(view), tag)


def _find(view, start, end, wanted):
    pos = skip(view, start, end)
    while pos < end:
        tag, first, pos = read(view, pos, end)
        if tag == wanted:
            return view[first:pos]
        if constructed(tag):
            found = _find(view, first, pos, wanted)
            if found is not None:
                return found
        pos = skip(view, pos, end)
    return None


def collect(data, into):
    """Put every primitive object of `data`, at any depth, into the dict `into` ({tag:
    memoryview}) and return it. A tag already in `into` raises TlvError(DUPLICATE): a card
    giving one data object twice must stop the transaction (Book 3 10.2). For the records
    and GPO answer; a PPSE, whose entries repeat 4F and 87, is read with iterate()."""
    view = memoryview(data)
    _check(view, 0, len(view), 0)
    _collect(view, 0, len(view), into)
    return into


def _collect(view, start, end, into):
    pos = skip(view, start, end)
    while pos < end:
        tag, first, pos = read(view, pos, end)
        if constructed(tag):
            _collect(view, first, pos, into)
        elif tag in into:
            raise TlvError(TlvError.DUPLICATE, first)
        else:
            into[tag] = view[first:pos]
        pos = skip(view, pos, end)


def header(tag, length):
    """The tag and length bytes of an object of `length` value bytes (length below 65,536)."""
    if tag > 0xFFFF:
        out = bytearray((tag >> 16, (tag >> 8) & 0xFF, tag & 0xFF))
    elif tag > 0xFF:
        out = bytearray((tag >> 8, tag & 0xFF))
    else:
        out = bytearray((tag,))
    if length < 0x80:
        out.append(length)
    elif length < 0x100:
        out.append(0x81)
        out.append(length)
    else:
        out.append(0x82)
        out.append(length >> 8)
        out.append(length & 0xFF)
    return bytes(out)


def build(tag, value):
    """The object `tag` with `value` (bytes-like) as bytes."""
    return header(tag, len(value)) + bytes(value)
