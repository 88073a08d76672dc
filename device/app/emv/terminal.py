"""The terminal's own EMV data for one chip transaction (EMV 4.3 Book 3 5.4 and Annex A,
Book 4 6.3; PBOC 3.0 part 5): what the card's DOLs ask of the terminal.

    from app.emv import dol, terminal

    term = terminal.TerminalData(1234, (2026, 12, 7, 18, 55, 0), kind="sale",
                                 terminal_id="10000001", merchant_id="123456789012345",
                                 merchant_name=b"POSKIT TEST SHOP")
    term.application(aid, aid_params)   # after selection: 9F06, 9F09, floor limit (IC params)
    term.card = card                    # what the card gave: DOLs may ask for it too
    pdol_data = dol.build(card[0x9F38], term)
    term.set_tvr(terminal.SDA_FAILED)   # 95 is a bytearray the kernel sets bits in
    term.set_tsi(terminal.TSI_ODA)

`TerminalData.get(tag)` is what `dol.build` reads: the terminal's value of `tag`, else the
card's (`card`, a {tag: bytes} dict), else None. Values are bytes, except 95 (TVR) and 9B
(TSI), bytearrays kept for the whole transaction. `set(tag, value)` adds or replaces a
value (8A the host's response code, 91 issuer authentication data, 9F41 the sequence
counter, 9F66 the contactless kernel's qualifiers...).

The amounts, dates and codes are numeric (n, BCD right-aligned); the capabilities are the
terminal's, as an attended POS with a PIN pad for online PINs does it (CAPABILITIES): change
them with the constructor's arguments, not in the kernel.
"""

import binascii
import os

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

# 9F33 terminal capabilities (Book 4 Annex A2): card data input manual, magnetic stripe, IC
# with contacts (E0); CVM: enciphered PIN online, signature, no CVM required (68); security:
# SDA, DDA (C0). CDA is not offered (docs/emv.md: the kernel does not verify it), nor card
# capture (the terminal has no capture bin).
CAPABILITIES = b"\xe0\x68\xc0"
# 9F40 additional terminal capabilities (Annex A3): goods, services, inquiry (68); no cash
# deposit; numeric, alphabetic, command and function keys (F0); print and display for the
# attendant, display for the cardholder (B0); code table 1 (01).
ADDITIONAL = b"\x68\x00\xf0\xb0\x01"
TERMINAL_TYPE = b"\x22"  # 9F35: attended, offline with online capability, merchant
CHINA = b"\x01\x56"  # ISO 3166 country 156 and ISO 4217 currency 156 (yuan), n3 in 2 bytes

# 9C transaction type (ISO 8583 processing code's first two digits; PBOC part 5 Annex A).
TYPES = {
    "sale": b"\x00",
    "cash": b"\x01",
    "preauth": b"\x03",
    "refund": b"\x20",
    "balance": b"\x31",
    "ec_load": b"\x63",
}

# TVR bits (Book 3 Annex C5): the byte (1-5) times 256 plus the bit, for set_tvr / tvr_has.
ODA_NOT_PERFORMED = const(0x180)
SDA_FAILED = const(0x140)
ICC_DATA_MISSING = const(0x120)
EXCEPTION_FILE = const(0x110)
DDA_FAILED = const(0x108)
CDA_FAILED = const(0x104)
SDA_SELECTED = const(0x102)
VERSIONS_DIFFER = const(0x280)
EXPIRED = const(0x240)
NOT_YET_EFFECTIVE = const(0x220)
SERVICE_NOT_ALLOWED = const(0x210)
NEW_CARD = const(0x208)
CVM_FAILED = const(0x380)
UNRECOGNISED_CVM = const(0x340)
PIN_TRY_LIMIT = const(0x320)
PIN_PAD_MISSING = const(0x310)
PIN_NOT_ENTERED = const(0x308)
ONLINE_PIN_ENTERED = const(0x304)
OVER_FLOOR_LIMIT = const(0x480)
LOWER_OFFLINE_LIMIT = const(0x440)
UPPER_OFFLINE_LIMIT = const(0x420)
RANDOM_SELECTION = const(0x410)
MERCHANT_FORCED_ONLINE = const(0x408)
DEFAULT_TDOL = const(0x580)
ISSUER_AUTH_FAILED = const(0x540)
SCRIPT_FAILED_BEFORE = const(0x520)
SCRIPT_FAILED_AFTER = const(0x510)

# TSI bits (Book 3 Annex C6), byte 1.
TSI_ODA = const(0x180)
TSI_CVM = const(0x140)
TSI_CARD_RISK = const(0x120)
TSI_ISSUER_AUTH = const(0x110)
TSI_TERMINAL_RISK = const(0x108)
TSI_SCRIPT = const(0x104)


def bcd(number, size):
    """`number` (int >= 0) as `size` bytes of BCD, right-aligned: bcd(1234, 6) is
    00 00 00 00 12 34. ValueError when it does not fit."""
    digits = "%0*d" % (size * 2, number)
    if len(digits) != size * 2 or number < 0:
        raise ValueError("%d does not fit in %d BCD bytes" % (number, size))
    return binascii.unhexlify(digits)


def _text(value, size):
    # an (alphanumeric) fields: ASCII, space-padded to `size` (None: as long as it is).
    data = value.encode() if isinstance(value, str) else bytes(value)
    if size is not None:
        data = (data + b" " * size)[:size]
    return data


class TerminalData:
    """The terminal's EMV data of one transaction of `amount` fen at `now` (year, month,
    day, hour, minute, second: the terminal's clock), read by dol.build through `get`.

    `kind`: a key of TYPES (9C). `other`: amount, other (9F03; cashback), in fen.
    `terminal_id` (9F1C, 8 an), `merchant_id` (9F16, 15 an), `merchant_name` (9F4E, bytes,
    GB18030 as the parameters hold it), `serial` (9F1E, the IFD serial number, 8 an: the
    terminal ID when not given), `country` and `currency` (n3 as 2 bytes: 0156),
    `capabilities` (9F33), `additional` (9F40), `terminal_type` (9F35).
    """

    def __init__(
        self,
        amount,
        now,
        kind="sale",
        other=0,
        terminal_id="",
        merchant_id="",
        merchant_name=b"",
        serial=None,
        country=CHINA,
        currency=CHINA,
        capabilities=CAPABILITIES,
        additional=ADDITIONAL,
        terminal_type=TERMINAL_TYPE,
    ):
        if kind not in TYPES:
            raise ValueError("no EMV transaction type for " + kind)
        self.amount = amount
        self.kind = kind
        self.tvr = bytearray(5)
        self.tsi = bytearray(2)
        self.card = {}  # what the card gave, set by the kernel: DOLs ask for it too
        self.params = {}  # the selected AID's IC parameters (application)
        year, month, day, hour, minute, second = now[:6]
        self.tags = {
            0x9F02: bcd(amount, 6),
            0x9F03: bcd(other, 6),
            0x9F1A: bytes(country),
            0x5F2A: bytes(currency),
            0x5F36: b"\x02",  # currency exponent: fen
            0x9A: bcd((year % 100) * 10000 + month * 100 + day, 3),
            0x9F21: bcd(hour * 10000 + minute * 100 + second, 3),
            0x9C: TYPES[kind],
            0x9F33: bytes(capabilities),
            0x9F40: bytes(additional),
            0x9F35: bytes(terminal_type),
            0x9F39: b"\x05",  # POS entry mode: integrated circuit card, contact
            0x9F1C: _text(terminal_id, 8),
            0x9F16: _text(merchant_id, 15),
            0x9F1E: _text(serial if serial is not None else terminal_id, 8),
            0x9F4E: _text(merchant_name, None),
            0x9F37: os.urandom(4),
            0x95: self.tvr,
            0x9B: self.tsi,
        }

    def get(self, tag, default=None):
        """The terminal's value of `tag`, else the card's, else `default`."""
        value = self.tags.get(tag)
        if value is None:
            value = self.card.get(tag, default)
        return value

    def __getitem__(self, tag):
        value = self.get(tag)
        if value is None:
            raise KeyError(tag)
        return value

    def set(self, tag, value):
        self.tags[tag] = value

    def application(self, aid, params=None):
        """The application selected: 9F06 = `aid`; from its IC parameters `params` ({tag:
        bytes} of the AID download, or None) the application version 9F09 and the floor
        limit 9F1B (b4, fen), kept in `params` for the kernel's other steps (TACs DF11-13,
        random selection DF15-17, default DDOL DF14, online PIN DF18)."""
        self.params = params or {}
        self.tags[0x9F06] = bytes(aid)
        version = self.params.get(0x9F09)
        if version is not None:
            self.tags[0x9F09] = bytes(version)
        limit = self.params.get(0x9F1B)
        if limit is not None:
            self.tags[0x9F1B] = bytes(limit)

    def floor_limit(self):
        """The floor limit in fen (9F1B of the AID's parameters; 0 when none)."""
        limit = self.tags.get(0x9F1B)
        return int.from_bytes(limit, "big") if limit else 0

    def new_unpredictable_number(self):
        """A fresh 9F37 (each GENERATE AC after a new challenge, a retried selection)."""
        self.tags[0x9F37] = os.urandom(4)
        return self.tags[0x9F37]

    def set_tvr(self, bit):
        """Set one TVR bit (the constants above)."""
        self.tvr[(bit >> 8) - 1] |= bit & 0xFF

    def tvr_has(self, bit):
        return bool(self.tvr[(bit >> 8) - 1] & bit & 0xFF)

    def set_tsi(self, bit):
        self.tsi[(bit >> 8) - 1] |= bit & 0xFF
