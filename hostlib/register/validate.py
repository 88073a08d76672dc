"""Field validation for the register, shared by the web forms and the command line: each
validator takes the fields as given (text from a form, TOML values, JSON) and gives back the
values to store and a message for each field that is wrong, for a form to show next to it.

    values, errors = clean_merchant({"contract_no": "SH-2026-0001", "fee_rate": "0.6", ...})
    errors = validate_merchant(fields)       # {} when all is well
    find_key_material(toml.loads(text))       # ["[[application]] 1: tmk"]: refuse it

The rules are the operator's and the terminal's: a MID is 15 digits, a TID 8, the name on the
slip prints in GB18030 in at most 40 bytes (hostlib.packets' own check), a fee rate is a
percentage above 0 and at most 5, a terminal price is in yuan with at most two decimals
(stored in fen).
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal, InvalidOperation

from hostlib import packets
from hostlib.register import models

_MERCHANT_TEXT = {
    # field: (required, longest)
    "contract_no": (True, 32),
    "company_name": (True, 100),
    "address": (True, 200),
    "contact": (True, 50),
    "install_location": (False, 200),
    "remarks": (False, 2000),
}
_WORK_ORDER_TEXT = {
    "place": (True, 200),
    "power_position": (False, 200),
    "line_position": (False, 200),
    "installer": (True, 32),
    "profile": (False, 64),
    "chosen_spot": (False, 100),
}
MERCHANT_FIELDS = (
    "contract_no company_name slip_name address contact phone terminal_price fee_rate "
    "install_location install_date remarks salesperson signing_date channel referrer mid"
).split()
WORK_ORDER_FIELDS = (
    "installer appointment_at place requirements_confirmed deposit_collected kind line "
    "outside_prefix power_position line_position signal_readings chosen_spot profile serial "
    "status"
).split()


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def mid(value) -> str | None:
    """The message for a MID that is not 15 digits, else None."""
    text = _text(value)
    return None if re.fullmatch(r"[0-9]{15}", text) else "must be 15 digits"


def tid(value) -> str | None:
    text = _text(value)
    return None if re.fullmatch(r"[0-9]{8}", text) else "must be 8 digits"


def slip_name(value) -> str | None:
    """The message for a merchant name the terminal could not print on its slip."""
    text = _text(value)
    if not text:
        return "required"
    try:
        raw = text.encode("gb18030")
    except UnicodeEncodeError:
        return "has characters the slip cannot print (not in GB18030)"
    if not text.isprintable():
        return "has a control character"
    # A slip printer's Chinese font holds GB18030's one- and two-byte characters (GBK);
    # the four-byte ones (emoji, rare characters) print as boxes or not at all.
    rare = "".join(c for c in text if len(c.encode("gb18030")) > 2)
    if rare:
        return "has characters a slip printer's Chinese font lacks: %s" % rare
    if len(raw) > 40:
        return "is %d bytes in GB18030; the slip takes at most 40 (20 Chinese characters)" % len(
            raw
        )
    return None


def phone(value) -> str | None:
    text = _text(value)
    digits = re.sub(r"[\s()+-]", "", text)
    if not text:
        return "required"
    if not digits.isdigit() or not 7 <= len(digits) <= 15 or text[0] not in "+(0123456789":
        return "must be a phone number: 7 to 15 digits, with spaces, - or ( ) between"
    return None


def serial(value) -> str | None:
    try:
        packets.check_serial(_text(value))
    except packets.PacketError:
        return "must be 4 to 16 of A-Z, 0-9 and - (the terminal's label)"
    return None


def username(value) -> str | None:
    text = _text(value)
    if re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,31}", text):
        return None
    return "2 to 32 of a-z, 0-9, '.', '_' and '-', beginning with a letter or digit"


def password(value) -> str | None:
    text = value if isinstance(value, str) else ""
    if len(text) < 8:
        return "at least 8 characters"
    if len(text) > 128:
        return "at most 128 characters"
    return None


def fen(value) -> tuple[int | None, str | None]:
    """A price in yuan ("299", "299.5", "299.50", 299) as fen; or the message."""
    if isinstance(value, bool):
        return None, "a price in yuan, e.g. 299.00"
    text = _text(value).replace(",", "")
    if not re.fullmatch(r"[0-9]{1,9}(\.[0-9]{1,2})?", text):
        return None, "a price in yuan, e.g. 299.00 (at most two decimals)"
    return int(Decimal(text) * 100), None


def fee_rate(value) -> tuple[Decimal | None, str | None]:
    """A fee rate in percent ("0.6", "0.60%", 0.6) as a Decimal; or the message."""
    text = _text(value).rstrip("%").strip()
    try:
        rate = Decimal(text)
    except InvalidOperation:
        return None, "a percentage, e.g. 0.60"
    if not rate.is_finite() or not Decimal(0) < rate <= Decimal(5):
        return None, "must be above 0 and at most 5 (percent)"
    if rate != rate.quantize(Decimal("0.001")):
        return None, "at most three decimals"
    return rate.quantize(Decimal("0.001")), None


def date(value) -> tuple[datetime.date | None, str | None]:
    if isinstance(value, datetime.datetime):
        return value.date(), None
    if isinstance(value, datetime.date):
        return value, None
    try:
        return datetime.date.fromisoformat(_text(value)), None
    except ValueError:
        return None, "a date, YYYY-MM-DD"


def when(value) -> tuple[datetime.datetime | None, str | None]:
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None, microsecond=0), None
    text = _text(value).replace("T", " ")
    try:
        return datetime.datetime.fromisoformat(text).replace(tzinfo=None), None
    except ValueError:
        return None, "a date and time, YYYY-MM-DD HH:MM"


def flag(value) -> tuple[bool | None, str | None]:
    if isinstance(value, bool):
        return value, None
    text = _text(value).lower()
    if text in ("1", "yes", "true", "on", "y"):
        return True, None
    if text in ("0", "no", "false", "off", "n", ""):
        return False, None
    return None, "yes or no"


def _texts(fields: dict, specs: dict, partial: bool, values: dict, errors: dict) -> None:
    """Text fields by their specs ({field: (required, longest)}) into values or errors;
    `partial`: only those given."""
    for name, (required, longest) in specs.items():
        if partial and name not in fields:
            continue
        text = _text(fields.get(name))
        if required and not text:
            errors[name] = "required"
        elif len(text) > longest:
            errors[name] = "at most %d characters" % longest
        else:
            values[name] = text


def clean_merchant(fields: dict, partial: bool = False) -> tuple[dict, dict]:
    """(values to store, {field: message}) for an application form's fields. `partial`: only
    the fields given are checked (an update). The salesperson and the referrer are returned
    as given (a username, a contract number): the service looks them up."""
    values: dict = {}
    errors: dict = {}
    for name in fields:
        if name not in MERCHANT_FIELDS:
            errors[name] = "not a field of the application form"

    def given(name: str) -> bool:
        return name in fields and _text(fields[name]) != ""

    _texts(fields, _MERCHANT_TEXT, partial, values, errors)
    if "contract_no" in values and not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9/_.-]*", values["contract_no"]
    ):
        errors["contract_no"] = "letters, digits and - / _ . only"
    for name, check in (("slip_name", slip_name), ("phone", phone)):
        if partial and name not in fields:
            continue
        message = check(fields.get(name))
        if message:
            errors[name] = message
        else:
            values[name] = _text(fields[name])
    for name, convert, required in (
        ("terminal_price", fen, True),
        ("fee_rate", fee_rate, True),
        ("signing_date", date, False),
        ("install_date", date, False),
    ):
        if partial and name not in fields:
            continue
        if not given(name):
            if required:
                errors[name] = "required"
            elif name in fields:
                values[name] = None
            continue
        value, message = convert(fields[name])
        if message:
            errors[name] = message
        else:
            values[name] = value
    if not partial or "channel" in fields:
        channel = _text(fields.get("channel"))
        if channel not in models.CHANNELS:
            errors["channel"] = "one of %s" % ", ".join(models.CHANNELS)
        else:
            values["channel"] = channel
            if channel == "referral" and not given("referrer"):
                errors["referrer"] = "a referral names the referring merchant"
            elif channel != "referral" and given("referrer"):
                errors["referrer"] = "only a referral names a referring merchant"
    if given("referrer") and "referrer" not in errors:
        values["referrer"] = _text(fields["referrer"])
    if given("salesperson"):
        values["salesperson"] = _text(fields["salesperson"])
    if given("mid"):
        message = mid(fields["mid"])
        if message:
            errors["mid"] = message
        else:
            values["mid"] = _text(fields["mid"])
    return values, errors


def validate_merchant(fields: dict, partial: bool = False) -> dict:
    """{field: message} for an application form's fields; {} when all are right."""
    return clean_merchant(fields, partial)[1]


def clean_work_order(fields: dict, partial: bool = False) -> tuple[dict, dict]:
    """(values, {field: message}) for a work order's fields. The installer, the profile and
    the terminal are returned as given (username, profile name, serial): the service looks
    them up. A desktop terminal has its line (an extension its outside-line number); a mobile
    one its signal readings ({spot, csq} with CSQ 0 to 31) and the spot chosen among them."""
    values: dict = {}
    errors: dict = {}
    for name in fields:
        if name not in WORK_ORDER_FIELDS:
            errors[name] = "not a field of a work order"

    def wanted(name: str) -> bool:
        return not partial or name in fields

    if wanted("appointment_at"):
        value, message = when(fields.get("appointment_at"))
        if message:
            errors["appointment_at"] = message
        else:
            values["appointment_at"] = value
    _texts(fields, _WORK_ORDER_TEXT, partial, values, errors)
    for name in ("requirements_confirmed", "deposit_collected"):
        if wanted(name):
            value, message = flag(fields.get(name))
            if message:
                errors[name] = message
            else:
                values[name] = value
    if "serial" in fields and _text(fields["serial"]):
        message = serial(fields["serial"])
        if message:
            errors["serial"] = message
        else:
            values["serial"] = _text(fields["serial"])
    if "status" in fields:
        status = _text(fields["status"])
        if status not in ("open", "cancelled"):
            errors["status"] = "open or cancelled (an install marks it installed)"
        else:
            values["status"] = status
    if wanted("kind"):
        kind = _text(fields.get("kind"))
        if kind not in models.WORK_ORDER_KINDS:
            errors["kind"] = "desktop or mobile"
        else:
            values["kind"] = kind
    if "line" in fields:
        line = _text(fields["line"]) or None
        if line not in (None,) + models.LINES:
            errors["line"] = "direct or extension"
        else:
            values["line"] = line
    if "outside_prefix" in fields:
        prefix = _text(fields["outside_prefix"])
        if prefix and not re.fullmatch(r"[0-9,]{1,16}", prefix):
            errors["outside_prefix"] = "digits (commas for pauses)"
        else:
            values["outside_prefix"] = prefix
    if "signal_readings" in fields:
        readings, message = signal_readings(fields["signal_readings"])
        if message:
            errors["signal_readings"] = message
        else:
            values["signal_readings"] = readings
    return values, errors


def signal_readings(value) -> tuple[list | None, str | None]:
    """Signal readings as a list of {"spot": text, "csq": 0..31}, from that list or from text
    "counter=18, back office=11"."""
    if isinstance(value, str):
        pairs = [p for p in value.split(",") if p.strip()]
        value = []
        for pair in pairs:
            spot, sep, csq = pair.rpartition("=")
            if not sep:
                return None, "spot=CSQ, separated by commas (counter=18, door=12)"
            value.append({"spot": spot.strip(), "csq": csq.strip()})
    if not isinstance(value, list):
        return None, "a list of readings, spot and CSQ"
    readings = []
    for item in value:
        if not isinstance(item, dict) or not _text(item.get("spot")):
            return None, "each reading has its spot"
        try:
            csq = int(item.get("csq"))
        except (TypeError, ValueError):
            return None, "CSQ is a number 0 to 31 (99: no signal)"
        if not (0 <= csq <= 31 or csq == 99):
            return None, "CSQ is a number 0 to 31 (99: no signal)"
        readings.append({"spot": _text(item["spot"])[:100], "csq": csq})
    return readings, None


def check_work_order_site(values: dict) -> dict:
    """What the whole work order (its values after a change) lacks for its kind of spot."""
    errors = {}
    if values.get("kind") == "desktop":
        if values.get("line") not in models.LINES:
            errors["line"] = "a desktop terminal needs its line: direct or extension"
        elif values.get("line") == "extension" and not values.get("outside_prefix"):
            errors["outside_prefix"] = "an extension needs its outside-line number"
    elif values.get("kind") == "mobile":
        spots = [r["spot"] for r in values.get("signal_readings") or ()]
        chosen = values.get("chosen_spot")
        if chosen and chosen not in spots:
            errors["chosen_spot"] = "must be one of the spots measured (%s)" % (
                ", ".join(spots) or "none yet"
            )
    return errors


def clean_terminal_app(fields: dict) -> tuple[dict, dict]:
    """(values, errors) for one acquirer application on a terminal."""
    values: dict = {}
    errors: dict = {}
    try:
        index = int(fields.get("app_index"))
        if not 1 <= index <= packets.MAX_APPLICATIONS:
            raise ValueError
        values["app_index"] = index
    except (TypeError, ValueError):
        errors["app_index"] = "1 to %d" % packets.MAX_APPLICATIONS
    acquirer = _text(fields.get("acquirer"))
    if not acquirer or len(acquirer) > 40:
        errors["acquirer"] = "the acquirer's name, at most 40 characters"
    else:
        values["acquirer"] = acquirer
    for name, check in (("mid", mid), ("tid", tid), ("slip_name", slip_name)):
        message = check(fields.get(name))
        if message:
            errors[name] = message
        else:
            values[name] = _text(fields.get(name))
    return values, errors


# --- key material ----------------------------------------------------------------------------

# Names under which a clear key could travel. Check values (KCV) and where a key lives (its
# slot, index, algorithm) are fine: those are what the register keeps instead.
_KEY_NAME = re.compile(
    r"(^|_)(tmk|tpk|tak|tdk|pik|mak|zmk|zpk|bdk|ipek|kbpk|kek|key|keys|secret|component)($|_)"
)
_KEY_FINE = re.compile(r"(kcv|check|slot|index|algorithm|layout|version|_mode$|_name$)")
_HEX_KEY = re.compile(r"[0-9A-Fa-f]{16}([0-9A-Fa-f]{16}){0,2}")


def find_key_material(value, where: str = "") -> list[str]:
    """Where in `value` (a parsed TOML or JSON document) something that may be a clear key
    sits: a field named for a key (tmk, kbpk, link_key, zmk...) with a value, or any 16, 32
    or 48 hex-digit string in a field not known to hold check values. Empty when none."""
    found = []
    if isinstance(value, dict):
        for name, item in value.items():
            path = "%s.%s" % (where, name) if where else str(name)
            lowered = str(name).lower()
            if (
                _KEY_NAME.search(lowered)
                and not _KEY_FINE.search(lowered)
                and item not in (None, "", [], {})
                and not isinstance(item, bool | int)
            ):
                found.append(path)
            elif not _KEY_FINE.search(lowered):
                found += find_key_material(item, path)
    elif isinstance(value, list):
        for number, item in enumerate(value, 1):
            found += find_key_material(item, "%s[%d]" % (where, number))
    elif isinstance(value, bytes | bytearray):
        found.append(where)
    elif isinstance(value, str) and _HEX_KEY.fullmatch(value.replace(" ", "")):
        found.append(where)
    return found
