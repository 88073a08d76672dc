"""Command and response APDUs (ISO/IEC 7816-4, short length fields) as a card reads them.

    from hostlib.card.apdu import Command, CardStatus, response
    command = Command.parse(bytes.fromhex("00A404000E315041592E5359532E444446303100"))
    command.ins, command.data, command.le      # 0xA4, b"1PAY.SYS.DDF01", 256
    raise CardStatus(SW_WRONG_LENGTH)          # the card answers 67 00
    response(fci)                              # fci + 90 00

A command that cannot be parsed at all (shorter than four bytes, a length byte that does not
match what follows, an extended length) is answered 67 00, as a card's transport layer
would; the application only ever sees well-formed commands. `CardStatus` is how the
application refuses one: it carries the status word, never a message, because SW1 SW2 is all
a card can say.
"""

from __future__ import annotations

from dataclasses import dataclass

# The status words this card answers, by name (ISO 7816-4 and EMV Book 3 6.3.5).
SW_OK = 0x9000
SW_SELECTED_FILE_INVALIDATED = 0x6283  # SELECT of a blocked application
SW_VERIFY_FAILED = 0x6300  # issuer authentication failed (EXTERNAL AUTHENTICATE)
SW_PIN_TRIES_LEFT = 0x63C0  # + the number of tries left
SW_MEMORY_FAILURE = 0x6581
SW_WRONG_LENGTH = 0x6700
SW_SECURITY_NOT_SATISFIED = 0x6982  # a script command's MAC is wrong
SW_PIN_BLOCKED = 0x6983
SW_REFERENCE_DATA_INVALIDATED = 0x6984
SW_CONDITIONS_NOT_SATISFIED = 0x6985  # out of sequence: GENERATE AC before GPO...
SW_WRONG_DATA = 0x6A80
SW_FUNCTION_NOT_SUPPORTED = 0x6A81  # card blocked
SW_FILE_NOT_FOUND = 0x6A82
SW_RECORD_NOT_FOUND = 0x6A83
SW_WRONG_P1P2 = 0x6A86
SW_REFERENCED_DATA_NOT_FOUND = 0x6A88  # GET DATA of a tag the card does not hold
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_NO_PRECISE_DIAGNOSIS = 0x6F00


class CardStatus(Exception):
    """Raised inside the card application to answer a bare status word."""

    def __init__(self, sw: int):
        super().__init__("%04X" % sw)
        self.sw = sw


@dataclass(frozen=True)
class Command:
    """One C-APDU. `le` is None when the command has no Le byte (case 1 and 3), else 1..256
    (Le 00 means 256)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    @classmethod
    def parse(cls, raw: bytes) -> Command:
        """Cases 1 to 4, short lengths only; anything else raises CardStatus(67 00)."""
        raw = bytes(raw)
        if len(raw) < 4:
            raise CardStatus(SW_WRONG_LENGTH)
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:  # case 1
            return cls(cla, ins, p1, p2)
        if len(body) == 1:  # case 2: Le only
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        lc = body[0]
        if lc == 0:  # an extended length, which this card does not support
            raise CardStatus(SW_WRONG_LENGTH)
        if len(body) == 1 + lc:  # case 3
            return cls(cla, ins, p1, p2, body[1:])
        if len(body) == 2 + lc:  # case 4
            return cls(cla, ins, p1, p2, body[1 : 1 + lc], body[-1] or 256)
        raise CardStatus(SW_WRONG_LENGTH)

    def to_bytes(self) -> bytes:
        """The command on the wire (what a kernel sends)."""
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le & 0xFF])
        return out


def response(data: bytes = b"", sw: int = SW_OK) -> bytes:
    """An R-APDU: data then SW1 SW2."""
    return bytes(data) + sw.to_bytes(2, "big")


def status(rapdu: bytes) -> int:
    """The status word of an R-APDU (its last two bytes)."""
    if len(rapdu) < 2:
        raise ValueError("an R-APDU has at least two bytes (SW1 SW2), got %d" % len(rapdu))
    return int.from_bytes(rapdu[-2:], "big")
