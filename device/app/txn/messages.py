"""The messages of the transaction engine: which fields each request carries (spec §3.1, §3.2,
§3.5), how a response is validated (spec §6), and the settlement formats (spec §3.4).

Financial kinds, one line each (text: a .mpy keeps it in flash; `kind(name)` parses a line):

    name               MTI  F3     F25 60.1 flags
    sale               0200 000000 00  22   R J C A P

Flags: R reversal-triggering, J journaled, C card required (c: optional, the journal's copy
of the original's card is sent instead), A amount required, P PIN may be entered,
S supervisor password, T original found by trace number (STAN) in the current batch,
U original by auth code and date (pre-authorisation), N original by RRN and date (refund).
"""

from app import message
from app.txn import respcodes
from app.txn.iso8583 import join_subfields

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_KINDS = """balance 0200 310000 00 01 CP
sale 0200 000000 00 22 RJCAP
sale_void 0200 200000 00 23 RJcSTP
refund 0220 200000 00 25 JCASNP
preauth 0100 030000 06 10 RJCAP
preauth_cancel 0100 200000 06 11 RJcAUP
completion 0200 000000 06 20 RJcAUP
completion_notice 0220 000000 06 24 JcAUP
completion_void 0200 200000 06 21 RJcSTP"""

# Sign-on, sign-off, echo, settlement, and their 60.3 codes: the engine's own requests.
MANAGEMENT = ("sign_on", "sign_off", "echo", "settlement")
CURRENCY = "156"
PIN_CAPTURE = "12"  # field 26: the longest PIN the terminal takes (spec §5)

# Messages, numbered from 0 by _M_* and formatted by _text() (app.message: one literal, not a
# heap object per message).
_MAX_NUMBER = const(999999)  # STAN and batch wrap to 000001 after this

_M_MTI = const(0)
_M_DIFFERS = const(1)
_M_NO_CODE = const(2)
_M_BAD_MAC = const(3)
_M_NO_MAC = const(4)
_M_FIELD = const(5)
_M_PARTIAL = const(6)
_MESSAGES = (
    "|answer MTI %s to %s"  # _M_MTI
    "|field %d differs"  # _M_DIFFERS
    "|no response code"  # _M_NO_CODE
    "|answer MAC does not verify"  # _M_BAD_MAC
    "|answer has no MAC (64)"  # _M_NO_MAC
    "|field %d does not parse: %r"  # _M_FIELD
    "|partial approval of %s for a request of %s"  # _M_PARTIAL
    "|"
)


def _text(number, args=None):
    return message(_MESSAGES, number, args)


class Kind:
    """One financial transaction kind: name, mti, processing code, condition code (F25),
    type code (60.1), flags (see the module docstring)."""

    def __init__(self, line):
        self.name, self.mti, self.processing, self.condition, self.type_code, self.flags = (
            line.split()
        )

    def has(self, flag):
        return flag in self.flags


def kind(name):
    """The Kind named `name`, or None (a management request, or unknown)."""
    # Its line found in place: splitting the table made 20 strs, each looked up in
    # MicroPython's string table (app.txn.receipt says why): 324,000 instructions, now
    # 190,000 (callgrind, 64-bit unix port).
    if not name or " " in name or "\n" in name:
        return None
    key = name + " "
    at = _KINDS.find(key)
    while at > 0 and not _KINDS.startswith("\n", at - 1):
        at = _KINDS.find(key, at + 1)
    if at < 0:
        return None
    end = _KINDS.find("\n", at)
    return Kind(_KINDS[at : end if end > 0 else len(_KINDS)])


def names():
    """Every financial kind's name."""
    return tuple(line.split(" ", 1)[0] for line in _KINDS.split("\n"))


class ResponseError(Exception):
    """A response that does not count as one (spec §6): `reason` "invalid" (MTI, 3, 4, 11,
    41 or 42 differ, 39 missing, undecodable) or "mac" (MAC check failed on an approval);
    `auth_code`: field 38 if the response carried one (it goes into the reversal)."""

    def __init__(self, reason, detail, auth_code=None):
        super().__init__(detail)
        self.reason = reason
        self.auth_code = auth_code


def check_response(mti, request, msg, mac=None, settlement=False):
    """Validate response `msg` (app.txn.iso8583.Message) to request `mti` with fields `request`.

    MTI = request + 10 (0230 to an 0221); 3, 11, 41 equal; 4 equal unless 39 = 10 (partial
    approval: then at most the amount asked, and above 0); 42 equal when 39 = 00; 39 present
    (settlement: 39 or 48). With `mac` (the request was MACed), an answer that approves (any
    approval code, not only 00) or carries a balance (54), keys (62) or totals (48) must
    carry a MAC that verifies: one missing counts as a bad one. Every field the engine reads
    must parse: the balance (54), the host's date (13, MMDD) and time (12, hhmmss). Raises
    ResponseError: reason "mac" for the MAC, "invalid" for the rest.
    """
    fields = msg.fields
    code = fields.get(39)
    auth = fields.get(38)
    # A repeat (0221, ISO 8583's advice repeat) is answered as the first was: 0230.
    if msg.mti != "%04d" % (int(mti) + 10 - (mti[3] == "1")):
        raise ResponseError("invalid", _text(_M_MTI, (msg.mti, mti)), auth)
    for number in (3, 11, 41):
        if fields.get(number) != request.get(number):
            raise ResponseError("invalid", _text(_M_DIFFERS, number), auth)
    if code != "10" and fields.get(4) != request.get(4):
        raise ResponseError("invalid", _text(_M_DIFFERS, 4), auth)
    if code == "00" and fields.get(42) != request.get(42):
        raise ResponseError("invalid", _text(_M_DIFFERS, 42), auth)
    if code is None and not (settlement and 48 in fields):
        raise ResponseError("invalid", _text(_M_NO_CODE), auth)
    if mac is not None and (
        (code is not None and respcodes.approved(code))
        or 54 in fields
        or 62 in fields
        or 48 in fields
    ):
        if 64 not in fields:
            raise ResponseError("mac", _text(_M_NO_MAC), auth)
        if not msg.verify(mac):
            raise ResponseError("mac", _text(_M_BAD_MAC), auth)
    if code == "10" and 4 in fields:
        # n12: digits, by the codec. More than was asked (or nothing) is no partial approval.
        if not 0 < int(fields[4]) <= int(request.get(4) or "0"):
            raise ResponseError("invalid", _text(_M_PARTIAL, (fields[4], request.get(4))), auth)
    balance(fields)
    _check_date_time(fields, auth)


def balance(fields):
    """The balance in field 54 of an answer, in fen (negative: a debit balance), None when
    there is none. Spec §2: account type n2, amount type n2, currency n3, C or D, amount n12;
    anything else raises ResponseError("invalid") (int() alone would also take blanks, a sign
    or underscores)."""
    value = fields.get(54)
    if value is None:
        return None
    if (
        len(value) != 20
        or not value[:7].isdigit()
        or value[7] not in ("C", "D")
        or not value[8:].isdigit()
    ):
        raise ResponseError("invalid", _text(_M_FIELD, (54, value)), fields.get(38))
    amount = int(value[8:])
    return -amount if value[7] == "D" else amount


def _check_date_time(fields, auth):
    # 13 MMDD and 12 hhmmss are n fields (digits, exact size: the codec checks that); what
    # they say must be a date and a time of day, as the journal and the slip take them.
    mmdd = fields.get(13)
    if mmdd is not None and not (1 <= int(mmdd[:2]) <= 12 and 1 <= int(mmdd[2:]) <= 31):
        raise ResponseError("invalid", _text(_M_FIELD, (13, mmdd)), auth)
    hhmmss = fields.get(12)
    if hhmmss is not None and not (
        int(hhmmss[:2]) < 24 and int(hhmmss[2:4]) < 60 and int(hhmmss[4:]) < 60
    ):
        raise ResponseError("invalid", _text(_M_FIELD, (12, hhmmss)), auth)


def next_number(number):
    """The STAN or batch after `number`: 000001..999999, then 000001 again (spec §6)."""
    return 1 if number >= _MAX_NUMBER else number + 1


def management_fields(stan, batch, code, terminal_id, merchant_id, operator=None):
    """0800/0820 fields (spec §3.2): 11 (when `stan`), 41, 42, 60 = 00 + batch + `code`, and
    63 = the operator (sign-on)."""
    fields = {
        41: terminal_id,
        42: merchant_id,
        60: join_subfields(60, "00", batch, code),
    }
    if stan:
        fields[11] = "%06d" % stan
    if operator:
        fields[63] = operator
    return fields


def financial_fields(
    k,
    stan,
    batch,
    terminal_id,
    merchant_id,
    *,
    amount=None,
    card=None,
    pan=None,
    expiry=None,
    pin_block=None,
    security=None,
    rrn=None,
    auth_code=None,
    original=None,
    field60=None,
    pin_capture=None,
):
    """The fields of a financial request of Kind `k` (spec §3.1, §3.5).

    `card` (app.txn.engine.Card) is sent as track 2 (35) when swiped, as 2 + 14 when keyed; without
    a card, `pan`/`expiry` (the journal's copy of the original's card) are sent as 2 + 14.
    `original` = (batch, STAN, MMDD) of the original for 61. `pin_block` and `security`
    (53) when a PIN was entered (then 26 too: `pin_capture`, default 12). `field60`: the
    digits after 60.1 + 60.2 (60.3-60.6, for a 14-digit field 60), or None (8 digits).
    """
    pin = pin_block is not None
    fields = {
        3: k.processing,
        11: "%06d" % stan,
        25: k.condition,
        41: terminal_id,
        42: merchant_id,
        49: CURRENCY,
        60: join_subfields(60, k.type_code, batch) + (field60 or ""),
    }
    if amount is not None:
        fields[4] = "%012d" % amount
    if card is not None:
        if card.track2:
            fields[35] = card.track2
        else:
            fields[2] = card.pan
            if card.expiry:
                fields[14] = card.expiry
        fields[22] = card.entry + ("1" if pin else "2")
    elif pan:
        fields[2] = pan
        if expiry:
            fields[14] = expiry
        fields[22] = "01" + ("1" if pin else "2")
    if pin:
        fields[26] = pin_capture or PIN_CAPTURE
        fields[52] = pin_block
        fields[53] = security
    if rrn:
        fields[37] = rrn
    if auth_code:
        fields[38] = auth_code
    if original is not None:
        fields[61] = join_subfields(61, original[0], original[1], original[2])
    if k.name == "refund":
        fields[63] = "CUP"
    return fields


# --- settlement (spec §3.4) --------------------------------------------------------------------


def totals_field(debit, debit_count, credit, credit_count):
    """Field 48 of the 0500: domestic debit amount n12 + count n3 + credit amount n12 + count
    n3 + flag 0, then 31 zero digits for foreign cards (this terminal takes domestic cards)."""
    return "%012d%03d%012d%03d0" % (debit, debit_count % 1000, credit, credit_count % 1000) + (
        "0" * 31
    )


def upload_record(stan, pan, amount):
    """One 40-digit batch-upload record (0320/201 field 48): card class 00 (domestic), the
    STAN n6, the PAN right-aligned in n20, the amount n12."""
    return "00%06d%s%012d" % (stan, "0" * (20 - len(pan)) + pan, amount)
