"""What a test card is: its applications, dates, offline data authentication and behaviour
switches; the built-in cards by name; card files (TOML) for a card of one's own.

    from hostlib.card import profiles
    profile = profiles.builtin("pboc-dual")        # a CardProfile
    profile = profiles.read_card_file("my.toml")   # CardFileError says what is wrong
    for name, description in profiles.list_cards(): ...

A profile is data only; `hostlib.card.pboc.Card` makes a working card of it. No profile and
no card file holds a key or a PIN: the card's symmetric keys come from the test issuer
(`hostlib.card.issuer`) by PAN and PSN, its RSA keys from certs.rsa_key by name, and the
offline PIN of every emulated card is the test PIN TEST_PIN, the host simulator's own.

A card file, every key but `pan` optional (docs/cards.md has the whole list):

    description = "my test card"
    pan = "6224242900001012"
    psn = "01"
    kind = "debit"            # or "credit"; several applications: [[application]] tables
    expiry = "3012"           # YYMM
    oda = "dda"               # "sda", "dda" or "none"
    contactless = true
    ecash_balance = "100.00"  # yuan: the e-cash a contactless tap may spend offline

    [behaviour]
    second_ac = "issuer"      # or "decline": AAC at the second GENERATE AC whatever the host
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from hostlib.errors import PoskitError

TEST_PIN = "123456"  # the offline PIN of every emulated card; the host simulator's test PIN

DEBIT_AID = bytes.fromhex("A000000333010101")
CREDIT_AID = bytes.fromhex("A000000333010102")
KINDS = {"debit": DEBIT_AID, "credit": CREDIT_AID}
ODA_METHODS = ("none", "sda", "dda", "cda")
CHIP_STATES = {
    "ok": "answers as a working chip",
    "mute": "no answer to reset (an empty ATR), every APDU 6F00",
    "6f00": "a normal ATR, then 6F00 to every APDU",
}
SECOND_AC = {
    "issuer": "the card follows the issuer: TC when the host approved and the ARPC checks",
    "decline": "AAC at the second GENERATE AC whatever the host said",
}
FAULTS = {
    "none": "every signature is good",
    "ssad": "the Signed Static Application Data (93) has a wrong byte: SDA fails",
    "sdad": "every Signed Dynamic Application Data (9F4B) has a wrong byte: DDA/fDDA fail",
    "icc-cert": "the ICC public key certificate (9F46) has a wrong byte: DDA fails",
    "issuer-cert": "the issuer public key certificate (90) has a wrong byte: SDA and DDA fail",
}

# The test CA key (certs.TEST_CA_KEYS) the built-in cards' issuer certificates hang from, and
# the key lengths: an issuer key shorter than the CA's, an ICC key shorter than the issuer's,
# as the schemes require.
CA_INDEX = 0x82
ISSUER_KEY_BITS = 1152
ICC_KEY_BITS = 1024


class CardFileError(PoskitError):
    """A card file that cannot be read or does not describe a card; the message names the
    file and the key."""


@dataclass(frozen=True)
class AppProfile:
    """One payment application on the card."""

    kind: str  # "debit" or "credit"
    pan: str
    psn: str = "01"
    label: str = ""  # 50; empty: "PBOC DEBIT" / "PBOC CREDIT"
    priority: int = 1  # 87, 1 (highest) to 15
    confirm: bool = False  # 87's b8: ask the cardholder before using it

    @property
    def aid(self) -> bytes:
        return KINDS[self.kind]

    @property
    def application_label(self) -> str:
        return self.label or "PBOC " + self.kind.upper()


@dataclass(frozen=True)
class CardProfile:
    """A whole card. Amounts are in fen (0.01 yuan)."""

    name: str
    description: str
    apps: tuple[AppProfile, ...]
    expiry: str = "3012"  # YYMM
    effective: str = "2101"  # YYMM
    holder: str = "POSKIT TEST CARD"
    oda: str = "dda"
    contactless: bool = False
    ecash_balance: int = 0  # 9F79; e-cash (qPBOC offline) only when above 0
    ecash_limit: int = 100_000  # 9F77: the most the e-cash balance may be loaded to
    ecash_single_limit: int = 100_000  # 9F78: the most one offline tap may spend
    ecash_reset_threshold: int = 1_000  # 9F6D
    offline_limit: int = 0  # TCs the card gives in a row at the first GENERATE AC
    response_format: int = 2  # GPO and GENERATE AC answers: 1 (tag 80) or 2 (tag 77)
    pin_tries: int = 3  # 9F17's start and reset value
    chip: str = "ok"
    second_ac: str = "issuer"
    fault: str = "none"
    track2_discretionary: str = "0000000000"  # after the service code 201

    def __post_init__(self):
        check_profile(self)

    @property
    def service_code(self) -> str:
        return "201"  # 2: an IC card (a swipe should ask for the chip); 0 1: no restrictions

    @property
    def track2(self) -> str:
        """Track 2 of the card's magnetic stripe (its first application's account), as a
        reader sends it: PAN = YYMM service code discretionary."""
        return "%s=%s%s%s" % (
            self.apps[0].pan,
            self.expiry,
            self.service_code,
            self.track2_discretionary,
        )


def luhn_ok(pan: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(pan)):
        digit = int(char)
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _yymm(value: str, what: str) -> None:
    if len(value) != 4 or not value.isdigit() or not 1 <= int(value[2:]) <= 12:
        raise ValueError("%s %r: YYMM, four digits with a month 01 to 12" % (what, value))


def check_profile(profile: CardProfile) -> None:
    """Raise ValueError with a readable reason when the profile cannot be a card."""
    if not profile.apps:
        raise ValueError("a card needs at least one application")
    seen = set()
    for app in profile.apps:
        if app.kind not in KINDS:
            raise ValueError("application kind %r: one of %s" % (app.kind, ", ".join(KINDS)))
        if app.kind in seen:
            raise ValueError("two %s applications on one card (their AIDs would clash)" % app.kind)
        seen.add(app.kind)
        if not app.pan.isdigit() or not 12 <= len(app.pan) <= 19:
            raise ValueError("PAN %r: 12 to 19 digits" % app.pan)
        if not luhn_ok(app.pan):
            raise ValueError("PAN %s fails the Luhn check (its last digit is wrong)" % app.pan)
        if len(app.psn) != 2 or not app.psn.isdigit():
            raise ValueError("PAN sequence number %r: two digits" % app.psn)
        if not 1 <= app.priority <= 15:
            raise ValueError("priority %r: 1 (highest) to 15" % app.priority)
        if len(app.application_label) > 16 or not app.application_label.isascii():
            raise ValueError("label %r: at most 16 ASCII characters" % app.application_label)
    _yymm(profile.expiry, "expiry")
    _yymm(profile.effective, "effective date")
    if profile.oda not in ODA_METHODS:
        raise ValueError("oda %r: one of %s" % (profile.oda, ", ".join(ODA_METHODS)))
    if profile.chip not in CHIP_STATES:
        raise ValueError("chip %r: one of %s" % (profile.chip, ", ".join(CHIP_STATES)))
    if profile.second_ac not in SECOND_AC:
        raise ValueError("second_ac %r: one of %s" % (profile.second_ac, ", ".join(SECOND_AC)))
    if profile.fault not in FAULTS:
        raise ValueError("fault %r: one of %s" % (profile.fault, ", ".join(FAULTS)))
    if profile.response_format not in (1, 2):
        raise ValueError("response_format %r: 1 or 2" % profile.response_format)
    if profile.contactless and profile.oda not in ("dda", "cda"):
        raise ValueError('a contactless (qPBOC) card signs with fDDA: oda = "dda" or "cda"')
    if profile.oda == "cda" and profile.response_format != 2:
        raise ValueError("a CDA card answers GENERATE AC in format 2 (response_format = 2)")
    for what in ("ecash_balance", "ecash_limit", "ecash_single_limit", "ecash_reset_threshold"):
        if not 0 <= getattr(profile, what) <= 999_999_999_999:
            raise ValueError("%s: 0 to 9,999,999,999.99 yuan" % what)
    if profile.ecash_balance and not profile.contactless:
        raise ValueError("ecash_balance: e-cash is spent by contactless taps; set contactless")
    if profile.ecash_balance > profile.ecash_limit:
        raise ValueError("ecash_balance is above ecash_limit (9F77)")
    if not 0 <= profile.offline_limit <= 255:
        raise ValueError("offline_limit: 0 to 255 transactions")
    if not 1 <= profile.pin_tries <= 15:
        raise ValueError("pin_tries: 1 to 15")
    if not (profile.track2_discretionary.isdigit() or profile.track2_discretionary == ""):
        raise ValueError("track2_discretionary: digits only")
    if len(profile.track2) > 37:
        raise ValueError("track 2 would be longer than 37 characters")


def _debit(pan: str, **options) -> tuple[AppProfile, ...]:
    return (AppProfile("debit", pan, **options),)


def _credit(pan: str, **options) -> tuple[AppProfile, ...]:
    return (AppProfile("credit", pan, **options),)


# The built-in cards. Each PAN is its own (Luhn-valid, test BIN 622424) so a host log says
# which card it saw; host_accounts() gives the host simulator their accounts.
BUILTIN = {
    card.name: card
    for card in (
        CardProfile(
            "pboc-debit",
            "contact debit card, SDA, online PIN, answers in format 1 (no PDOL)",
            _debit("6224242900001012"),
            oda="sda",
            response_format=1,
        ),
        CardProfile(
            "pboc-credit",
            "contact credit card, DDA, signature, up to 3 offline TCs in a row",
            _credit("6224242900001020"),
            oda="dda",
            offline_limit=3,
        ),
        CardProfile(
            "pboc-cda",
            "contact debit card with CDA: the cryptogram signed in the GENERATE AC answer",
            _debit("6224242900001111"),
            oda="cda",
        ),
        CardProfile(
            "pboc-dual",
            "contact + contactless (qPBOC) debit card, DDA/fDDA, e-cash balance 100.00",
            _debit("6224242900001038"),
            oda="dda",
            contactless=True,
            ecash_balance=10_000,
        ),
        CardProfile(
            "sda-bad",
            "contact debit card whose Signed Static Application Data has a wrong byte",
            _debit("6224242900001046"),
            oda="sda",
            fault="ssad",
        ),
        CardProfile(
            "dda-bad",
            "contact debit card whose DDA signature (9F4B) has a wrong byte",
            _debit("6224242900001053"),
            oda="dda",
            fault="sdad",
        ),
        CardProfile(
            "expired",
            "contact debit card, SDA, that expired in December 2020 (5F24 201231)",
            _debit("6224242900001061"),
            # SDA: a DDA card's ICC certificate would expire with it and fail DDA too, where
            # this card is for the terminal's own expiry check.
            oda="sda",
            expiry="2012",
            effective="1501",
        ),
        CardProfile(
            "two-apps",
            "contact card with a debit (priority 1) and a credit (priority 2) application",
            (
                AppProfile("debit", "6224242900001079", priority=1),
                AppProfile("credit", "6224242900001087", priority=2),
            ),
        ),
        CardProfile(
            "chip-dead",
            "a chip that does not answer (no ATR, 6F00): fall back to the stripe, code 201",
            _debit("6224242900001095"),
            chip="mute",
        ),
        CardProfile(
            "card-declines",
            "contact debit card that answers AAC at the second GENERATE AC after approval",
            _debit("6224242900001103"),
            second_ac="decline",
        ),
    )
}


def builtin(name: str) -> CardProfile:
    """A built-in card by name; an unknown name raises CardFileError listing the names."""
    try:
        return BUILTIN[name]
    except KeyError:
        raise CardFileError(
            "no built-in card %r (there are %s; or give a card file's path)"
            % (name, ", ".join(BUILTIN))
        ) from None


def list_cards() -> list[tuple[str, str]]:
    """(name, one-line description) of every built-in card."""
    return [(card.name, card.description) for card in BUILTIN.values()]


def host_accounts() -> list[dict]:
    """The host simulator's accounts for the built-in cards' applications, in its seed's
    shape (hostlib/hostsim/seed.py): every one good for 100,000.00, online PIN TEST_PIN for
    debit, none for credit; the expired card's account expired with it."""
    accounts = []
    for card in BUILTIN.values():
        for app in card.apps:
            accounts.append(
                {
                    "pan": app.pan,
                    "expiry": card.expiry,
                    "track2": "%s=%s%s%s"
                    % (app.pan, card.expiry, card.service_code, card.track2_discretionary),
                    "pin": TEST_PIN if app.kind == "debit" else None,
                    "balance": 10_000_000,
                    "holder": ("CHIP " + card.name).upper(),
                }
            )
    return accounts


# -- card files ------------------------------------------------------------------------------

_CARD_KEYS = {
    "description": str,
    "holder": str,
    "expiry": str,
    "effective": str,
    "oda": str,
    "contactless": bool,
    "ecash_balance": str,
    "ecash_limit": str,
    "ecash_single_limit": str,
    "ecash_reset_threshold": str,
    "offline_limit": int,
    "response_format": int,
    "pin_tries": int,
    "track2_discretionary": str,
}
_APP_KEYS = {"kind": str, "pan": str, "psn": str, "label": str, "priority": int, "confirm": bool}
_BEHAVIOUR_KEYS = {"chip": str, "second_ac": str, "fault": str}
_AMOUNTS = {"ecash_balance", "ecash_limit", "ecash_single_limit", "ecash_reset_threshold"}


def _yuan(text: str, key: str) -> int:
    """'100.00' or '100' -> 10000 fen."""
    whole, dot, cents = text.strip().partition(".")
    if not whole.isdigit() or (dot and (not cents.isdigit() or len(cents) > 2)):
        raise ValueError('%s %r: an amount in yuan such as "100.00"' % (key, text))
    return int(whole) * 100 + int((cents or "0").ljust(2, "0"))


def _take(table: dict, known: dict, where: str) -> dict:
    out = {}
    for key, value in table.items():
        if key not in known:
            raise ValueError(
                "%sunknown key %r (known: %s)" % (where, key, ", ".join(sorted(known)))
            )
        wanted = known[key]
        # TOML integers are not booleans; a bool is an int to Python, so test it first.
        if isinstance(value, bool) != (wanted is bool) or not isinstance(value, wanted):
            raise ValueError("%s%s must be %s" % (where, key, _TYPE_WORDS[wanted]))
        out[key] = value
    return out


_TYPE_WORDS = {str: "a quoted string", int: "a whole number", bool: "true or false"}


def parse_card(document: dict, name: str) -> CardProfile:
    """A card file's parsed TOML -> a CardProfile (ValueError with a reason if it is wrong)."""
    document = dict(document)
    behaviour = document.pop("behaviour", {})
    apps = document.pop("application", None)
    single = {key: document.pop(key) for key in list(document) if key in _APP_KEYS}
    if not isinstance(behaviour, dict):
        raise ValueError("[behaviour] must be a table")
    card = _take(document, _CARD_KEYS, "")
    card.update(_take(behaviour, _BEHAVIOUR_KEYS, "[behaviour] "))
    for key in _AMOUNTS & card.keys():
        card[key] = _yuan(card[key], key)
    if apps is not None and single:
        raise ValueError(
            "give the application either at the top (pan = ...) or as [[application]] "
            "tables, not both"
        )
    if apps is None:
        if not single:
            raise ValueError('no pan: a card needs at least pan = "..."')
        apps = [single]
    if not isinstance(apps, list) or not all(isinstance(app, dict) for app in apps):
        raise ValueError("[[application]] must be tables")
    built = []
    for number, app in enumerate(apps, 1):
        where = "application %d: " % number if len(apps) > 1 else ""
        fields = _take(app, _APP_KEYS, where)
        if "pan" not in fields:
            raise ValueError("%sno pan" % where)
        fields.setdefault("kind", "debit")
        fields.setdefault("priority", number)
        built.append(AppProfile(**fields))
    description = card.pop("description", "card file " + name)
    return CardProfile(name, description, tuple(built), **card)


def read_card_file(path: str | Path) -> CardProfile:
    """Read a TOML card file; CardFileError names the file and what is wrong."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise CardFileError("cannot read card file %s: %s" % (path, err.strerror)) from None
    except UnicodeDecodeError:
        raise CardFileError("card file %s is not UTF-8 text" % path) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CardFileError("card file %s is not valid TOML: %s" % (path, err)) from None
    try:
        return parse_card(document, path.stem)
    except (ValueError, TypeError) as err:
        raise CardFileError("card file %s: %s" % (path, err)) from None


def with_changes(profile: CardProfile, **changes) -> CardProfile:
    """A copy of `profile` with some fields changed (tests, variants of a built-in card)."""
    return replace(profile, **changes)
