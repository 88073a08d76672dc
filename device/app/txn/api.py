"""What the UI (and the installer's link) hands the transaction engine, and what it gets back:
Card, Request, Result; and EngineError, the engine's own refusals. Re-exported by app.txn.engine:

    from app.txn.engine import Card, Engine, Request
"""

from app.txn import respcodes


class EngineError(Exception):
    """A request the terminal ends itself; `reason` is a name of app.txn.respcodes.terminal."""

    def __init__(self, reason, detail=""):
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


class Card:
    """Card data from the reader or the keypad.

    `track2` as read ("6224...0113=2806...", `D` accepted for the separator): a swipe, entry
    mode 02; or `pan` + `expiry` (YYMM) keyed in, entry mode 01. `entry` overrides the mode
    (field 22's first two digits).
    """

    def __init__(self, track2=None, pan=None, expiry=None, entry=None):
        if track2:
            track2 = track2.upper().replace("D", "=")
            head, sep, rest = track2.partition("=")
            if not sep or not head.isdigit() or len(rest) < 4 or not rest[:4].isdigit():
                raise ValueError("track 2 is not PAN=YYMM...")
            pan = pan or head
            expiry = expiry or rest[:4]
        if not pan or not pan.isdigit() or not 13 <= len(pan) <= 19:
            raise ValueError("card number must be 13 to 19 digits")
        if expiry is not None and (len(expiry) != 4 or not expiry.isdigit()):
            raise ValueError("expiry must be YYMM")
        self.track2 = track2 or None
        self.pan = pan
        self.expiry = expiry
        self.entry = entry or ("02" if track2 else "01")
        self.fallback = False  # a swipe after the chip failed (app.txn.chip.fallback_card)


def luhn(digits):
    """Whether the last of `digits` (a card number) is the Luhn check digit of the others
    (ISO/IEC 7812-1): what catches a mistyped card number before it is sent."""
    total = 0
    for i in range(len(digits)):
        n = ord(digits[-1 - i]) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


class PinBlock:
    """A PIN block made by the external PIN pad: the 8 bytes it returned, ISO 9564 format 0
    under the PIN key the pad holds (loaded at sign-on). The clear PIN never reached the
    terminal; the engine sends the block as it is (field 52)."""

    def __init__(self, block):
        if len(block) != 8:
            raise ValueError("a PIN block is 8 bytes")
        self.block = bytes(block)


class Request:
    """What the cashier asked for. Amounts in fen (int). `pin`: the PIN digits as a
    bytearray (wiped by the engine after use), a PinBlock from the external PIN pad, or
    None. `original_stan`: the trace number of
    the original (voids); `auth_code` + `original_date` (MMDD): the pre-authorisation's
    (cancel, completions); `rrn` + `original_date`: the original's (refund).
    `supervisor_password`: typed for voids and refunds. `operator`: 2 digits. `confirmed`:
    the cashier agreed to settle a batch with no transactions (the engine asked: error
    "confirm_empty")."""

    def __init__(
        self,
        kind,
        amount=None,
        card=None,
        pin=None,
        original_stan=None,
        rrn=None,
        auth_code=None,
        original_date=None,
        supervisor_password=None,
        operator="01",
        confirmed=False,
    ):
        self.kind = kind
        self.amount = amount
        self.card = card
        self.pin = pin
        self.original_stan = original_stan
        self.rrn = rrn
        self.auth_code = auth_code
        self.original_date = original_date
        self.supervisor_password = supervisor_password
        self.operator = operator
        self.confirmed = confirmed


class Result:
    """The outcome of one request.

    approved (bool); response_code (field 39, or None when no valid answer came);
    error (None, or the name of a terminal-side outcome, app.txn.respcodes.terminal: timeout,
    link, connect, cancelled, cancelled_reversal, out_of_service, invalid, mac, reversal,
    reversal_pending, advice_pending, not_signed_on, signed_off, key_check, no_tmk,
    storage_key, password, not_found, not_allowed, amount, card, card_number, input, storage,
    flash, confirm_empty, empty_batch, settle_first, blacklisted); message_en /
    message_zh (what to tell the cashier); detail (technical text for logs, never secret);
    stan, batch, rrn, auth_code, amount, balance (fen, balance inquiry), date (YYYYMMDD),
    time (hhmmss), pan_masked, original (the journal Entry a void refers to), entry (the
    journal Entry written), reversal_note (what happened to a reversal in this run),
    notes (other events worth showing), settlement (dict, after a settlement),
    receipt_lines (merchant copy, list of bytes; Engine.receipt gives the others),
    training (True: a training transaction, marked test to the host and kept out of the
    real batch), pin_key (after a sign-on: (algorithm, the PIN key encrypted under the
    master key, its 4-byte check value) as field 62 carried it, for an external PIN pad).
    """

    def __init__(self, kind):
        self.kind = kind
        self.approved = False
        self.response_code = None
        self.error = None
        self.message_en = ""
        self.message_zh = ""
        self.detail = ""
        self.stan = None
        self.batch = None
        self.rrn = None
        self.auth_code = None
        self.amount = None
        self.balance = None
        self.date = None
        self.time = None
        self.pan_masked = None
        self.original = None
        self.entry = None
        self.reversal_note = None
        self.notes = []
        self.settlement = None
        self.receipt_lines = None
        self.training = False
        self.pin_key = None

    def code(self, code, pin_sent=True):
        self.response_code = code
        self.approved = respcodes.approved(code)
        if code == "55" and not pin_sent:
            # "Wrong PIN" would mislead: none was entered, and this card needs one.
            self.message_en, self.message_zh = respcodes.terminal("pin_required")
        else:
            self.message_en, self.message_zh = respcodes.message(code)

    def fail(self, reason, detail=""):
        self.approved = False
        self.error = reason
        self.detail = detail
        self.message_en, self.message_zh = respcodes.terminal(reason)
