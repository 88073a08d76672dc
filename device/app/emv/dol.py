"""The data a card's data object list asks for (EMV 4.3 Book 3 5.4).

    from app.emv import dol

    data = dol.build(card[0x9F38], terminal)   # PDOL: the data of GET PROCESSING OPTIONS' 83
    data = dol.build(card[0x8C], terminal)     # CDOL1, CDOL2 (8D), DDOL (9F49) the same way
    for tag, length in dol.entries(card[0x8C]): ...

A DOL is a list of tag + length pairs (no values). `terminal` is a dict {tag: bytes-like} of
what the terminal knows (amount 9F02, unpredictable number 9F37, TVR 95... and what it read
from the card); each entry takes exactly the length the card asked for:

- a tag the terminal does not have, or a constructed one, is that many 00 bytes;
- a value longer than asked is cut: a numeric (n) value loses its leftmost bytes, any other
  its rightmost;
- a value shorter than asked is padded: numeric with 00 on the left, compressed numeric
  (cn: the PAN 5A) with FF on the right, any other with 00 on the right.

Which tags are numeric is the table below (Book 3 Annex A, PBOC 3.0 part 5 Annex A).
Malformed DOLs raise DolError (never IndexError).
"""

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

from app.emv import tlv

# A command's data field is at most 255 bytes; a DOL asking for more is refused, not sent.
_MAX_DATA = const(255)

# Format n (BCD, right-aligned): amounts, currency and country codes, dates, counters.
_NUMERIC = (
    0x9F01,  # acquirer identifier
    0x9F02,  # amount, authorised
    0x9F03,  # amount, other
    0x9F1A,  # terminal country code
    0x5F2A,  # transaction currency code
    0x5F36,  # transaction currency exponent
    0x9A,  # transaction date YYMMDD
    0x9F21,  # transaction time HHMMSS
    0x9C,  # transaction type
    0x9F41,  # transaction sequence counter
    0x9F15,  # merchant category code
    0x9F35,  # terminal type
    0x9F3C,  # transaction reference currency code
    0x9F3D,  # transaction reference currency exponent
    0x9F11,  # issuer code table index
    0x5F24,  # application expiration date
    0x5F25,  # application effective date
    0x5F28,  # issuer country code
    0x5F30,  # service code
    0x5F34,  # PAN sequence number
    0x9F42,  # application currency code
    0x9F44,  # application currency exponent
    0x9F3B,  # application reference currency
    0x9F43,  # application reference currency exponent
    0x9F51,  # PBOC: application currency code
    0x9F5D,  # PBOC: available offline spending amount
    0x9F6D,  # PBOC: electronic cash reset threshold
    0x9F77,  # PBOC: electronic cash balance limit
    0x9F78,  # PBOC: electronic cash single transaction limit
    0x9F79,  # PBOC: electronic cash balance
    0x9F7B,  # PBOC: electronic cash terminal transaction limit
)
# Format cn (BCD, left-aligned, F-padded).
_COMPRESSED = (0x5A, 0x9F20)


class DolError(Exception):
    """A DOL that cannot be served: `reason` is TRUNCATED (an entry cut short, or bad tag)
    or TOO_LONG (it asks for more than a command carries)."""

    TRUNCATED = "DOL entry truncated"
    TOO_LONG = "DOL data over 255 bytes"

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def entries(dol):
    """(tag, length) of each entry of `dol`, in order."""
    view = memoryview(dol)
    end = len(view)
    pos = 0
    while pos < end:
        try:
            tag, pos = tlv.read_tag(view, pos, end)
        except tlv.TlvError:
            raise DolError(DolError.TRUNCATED) from None
        if pos >= end:
            raise DolError(DolError.TRUNCATED)
        length = view[pos]
        pos += 1
        yield tag, length


def size(dol):
    """The number of bytes `build` gives for `dol`."""
    total = 0
    for _, length in entries(dol):
        total += length
    return total


def build(dol, terminal):
    """The concatenated data `dol` asks for, from `terminal` ({tag: bytes-like}), as bytes."""
    total = size(dol)
    if total > _MAX_DATA:
        raise DolError(DolError.TOO_LONG)
    out = bytearray(total)  # zero-filled: absent and constructed tags stay so
    pos = 0
    for tag, length in entries(dol):
        value = terminal.get(tag)
        if value is not None and not tlv.constructed(tag):
            _place(out, pos, length, tag, value)
        pos += length
    return bytes(out)


def _place(out, pos, length, tag, value):
    have = len(value)
    if tag in _NUMERIC:
        # Right-aligned: cut on the left, pad on the left with the zeros already there.
        if have >= length:
            out[pos : pos + length] = value[have - length :]
        else:
            out[pos + length - have : pos + length] = value
        return
    if have >= length:
        out[pos : pos + length] = value[:length]
        return
    out[pos : pos + have] = value
    if tag in _COMPRESSED:
        for i in range(pos + have, pos + length):
            out[i] = 0xFF
