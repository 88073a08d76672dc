"""A personalised PBOC 3.0 card (UnionPay debit/credit, contact and qPBOC contactless) that
answers C-APDUs as the chip does.

    from hostlib.card import load_card
    card = load_card("pboc-dual")
    card.atr                                   # what a contact reader gets at power-up
    card.apdu(bytes.fromhex("00A404000E315041592E5359532E444446303100"))  # FCI + 90 00
    card.reset()                               # power off and on: the session is gone,
                                               # the counters (ATC, balance, PIN tries) stay

The rule it keeps: one answer per command, never an exception. A command the card does not
understand, sends at the wrong moment or with a wrong length gets the status word a card
gives (6E00 class, 6D00 instruction, 6A86 P1 P2, 6700 length, 6985 out of sequence...), and
nothing in the card changes. What a card remembers across power-ups (its non-volatile
memory: ATC, last online ATC, offline counter, PIN try counter, e-cash balance, blocked
flags) lives in `Application`; what a power-up clears (the selected file, the transaction in
progress) lives in `_Session`.

The interface: reset() without an argument lets the first SELECT decide -- PPSE
(2PAY.SYS.DDF01) makes the session contactless (qPBOC: the GPO answers with the cryptogram),
anything else contact. reset("contact") or reset("contactless") fixes it, as a reader that
knows whether it powered the contacts or the field would.

docs/cards.md has the command sequences, the data, the decisions and the exact layouts of
the cryptogram data, 9F10 and the fDDA signature.
"""

from __future__ import annotations

import calendar
import hashlib

from hostlib.card import apdu, certs, issuer, tlv
from hostlib.card.apdu import CardStatus, Command
from hostlib.card.profiles import (
    CA_INDEX,
    ICC_KEY_BITS,
    ISSUER_KEY_BITS,
    TEST_PIN,
    AppProfile,
    CardProfile,
)

PSE = b"1PAY.SYS.DDF01"
PPSE = b"2PAY.SYS.DDF01"

# T=0, TB1 00 (no programming voltage), TC1 00 (no extra guard time), then eight historical
# bytes naming the emulator: the basic ATR of EMV Book 1 8.3.
ATR = bytes.fromhex("3B680000") + b"PKPBOC30"

COUNTRY_CHINA = bytes.fromhex("0156")
CURRENCY_CNY = bytes.fromhex("0156")

# Data object lists. The contact PDOL asks what PBOC e-cash needs; format 1 cards have none.
CONTACT_PDOL = bytes.fromhex("9F7A01 9F0206 5F2A02")
CONTACTLESS_PDOL = bytes.fromhex("9F6604 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 9F7A01")
CDOL1 = bytes.fromhex("9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 9F2103")
CDOL2 = bytes.fromhex("8A02 910A 9505 9F3704")
DDOL = bytes.fromhex("9F3704")
# The transaction log (9F4D, 9F4F): SFI 11, ten records, newest first.
LOG_SFI = 11
LOG_RECORDS = 10
LOG_FORMAT = bytes.fromhex("9A03 9F2103 9F0206 9F0306 9F1A02 5F2A02 9C01 9F3602")

# Cardholder verification method lists (8E): amounts X and Y zero, then the rules.
CVM_DEBIT = bytes.fromhex("00000000 00000000 4203 1E03 1F00")  # online PIN, signature
CVM_CREDIT = bytes.fromhex("00000000 00000000 4103 1E03 1F00")  # offline PIN, signature

AUC = bytes.fromhex("FF00")  # valid at ATMs and elsewhere, domestic and international
IAC_DEFAULT = bytes.fromhex("D84004A800")
IAC_DENIAL = bytes.fromhex("0010000000")
IAC_ONLINE = bytes.fromhex("D84004F800")
APP_VERSION = bytes.fromhex("0030")  # PBOC 3.0

# Cryptogram information data (9F27) and GENERATE AC's P1: the cryptogram type in b8-b7.
AAC, TC, ARQC = 0x00, 0x40, 0x80
CDA_REQUESTED = 0x10
CVN = 0x01
ARC_APPROVED = (b"00", b"10", b"11")
ARC_UNABLE_ONLINE = (b"Y3", b"Z3")

# CVR (9F10 bytes 4-7: 03 then these three), Visa VIS layout as PBOC uses it.
CVR1_SECOND_TC = 0x40
CVR1_SECOND_NOT_REQUESTED = 0x80
CVR1_FIRST_TC = 0x10
CVR1_FIRST_ARQC = 0x20
CVR1_ISSUER_AUTH_FAILED = 0x08
CVR1_OFFLINE_PIN_PERFORMED = 0x04
CVR1_OFFLINE_PIN_FAILED = 0x02
CVR1_UNABLE_TO_GO_ONLINE = 0x01
CVR2_LAST_ONLINE_NOT_COMPLETED = 0x80
CVR2_PIN_TRY_LIMIT_EXCEEDED = 0x40
CVR2_OFFLINE_LIMIT_EXCEEDED = 0x20
CVR2_NEW_CARD = 0x10
CVR2_ISSUER_AUTH_FAILED_LAST = 0x08
CVR2_ISSUER_AUTH_NOT_PERFORMED = 0x04
CVR2_SDA_FAILED_LAST = 0x01
CVR3_SCRIPT_FAILED = 0x08
CVR3_DDA_FAILED_LAST = 0x04
CVR3_DDA_PERFORMED = 0x02

# Terminal transaction qualifiers (9F66, qPBOC) and card transaction qualifiers (9F6C).
TTQ1_QPBOC = 0x20
TTQ1_OFFLINE_ONLY = 0x08
TTQ1_ODA_FOR_ONLINE = 0x01
TTQ2_ONLINE_REQUIRED = 0x80
CTQ1_ONLINE_PIN = 0x80
FDDA_VERSION = 0x01

# Issuer script instructions (CLA 84, or 04 for PUT DATA).
INS_CARD_BLOCK = 0x16
INS_APPLICATION_UNBLOCK = 0x18
INS_APPLICATION_BLOCK = 0x1E
INS_PIN_UNBLOCK = 0x24
INS_PUT_DATA = 0xDA
INS_GET_RESPONSE = 0xC0
SCRIPT_MAC_LENGTH = 4
PUT_DATA_TAGS = (0x9F79, 0x9F77, 0x9F78, 0x9F6D)


def bcd_amount(fen: int) -> bytes:
    """An amount as n12 (6 bytes BCD), as 9F02 and 9F79 carry it."""
    return bytes.fromhex("%012d" % fen)


def amount_of(value: bytes) -> int:
    """n12 BCD -> fen; ValueError for a nibble above 9."""
    digits = value.hex()
    if not digits.isdigit():
        raise ValueError("not BCD: " + digits)
    return int(digits or "0")


def _bcd_padded(digits: str) -> bytes:
    """Digits as BCD with an F pad nibble when odd (5A, 57)."""
    return bytes.fromhex(digits + "F" * (len(digits) % 2))


def _spoil(data: bytes) -> bytes:
    """One wrong byte in the middle: a signature that no longer verifies."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x5A]) + data[middle + 1 :]


def _last_day(yymm: str) -> str:
    year, month = 2000 + int(yymm[:2]), int(yymm[2:])
    return yymm + "%02d" % calendar.monthrange(year, month)[1]


class Application:
    """One personalised payment application: its records, FCI, keys and the counters it
    keeps from one power-up to the next."""

    def __init__(self, card: CardProfile, app: AppProfile):
        self.card = card
        self.app = app
        self.keys = issuer.issuer_keys(app.pan, app.psn)
        self.icc_key = None
        # Non-volatile counters.
        self.atc = 0
        self.last_online_atc = 0
        self.offline_count = 0
        self.pin_tries = card.pin_tries
        self.blocked = False
        self.balance = card.ecash_balance
        self.ecash_limit = card.ecash_limit
        self.ecash_single_limit = card.ecash_single_limit
        self.ecash_reset_threshold = card.ecash_reset_threshold
        self.last_online_incomplete = False
        self.issuer_auth_failed_last = False
        self.sda_failed_last = False
        self.dda_failed_last = False
        self.log: list[bytes] = []  # newest first
        self._personalise()

    @property
    def aid(self) -> bytes:
        return self.app.aid

    @property
    def ecash(self) -> bool:
        return self.card.contactless and self.card.ecash_balance > 0

    @property
    def priority(self) -> bytes:
        return bytes([self.app.priority | (0x80 if self.app.confirm else 0)])

    # -- personalisation -------------------------------------------------------------------

    def _personalise(self) -> None:
        card, app = self.card, self.app
        oda = card.oda
        self.aip = bytes([0x1C | {"none": 0, "sda": 0x40, "dda": 0x20, "cda": 0x21}[oda], 0x00])
        self.track2_equivalent = _bcd_padded(
            app.pan + "D" + card.expiry + card.service_code + card.track2_discretionary
        )
        holder = tlv.encode(0x5F20, card.holder.encode("ascii", "replace")[:26])
        sfi1 = [tlv.encode(0x70, tlv.encode(0x57, self.track2_equivalent) + holder)]
        application_data = [
            (0x5A, _bcd_padded(app.pan)),
            (0x5F24, bytes.fromhex(_last_day(card.expiry))),
            (0x5F25, bytes.fromhex(card.effective + "01")),
            (0x5F28, COUNTRY_CHINA),
            (0x5F34, bytes.fromhex(app.psn)),
            (0x5F30, bytes.fromhex("0" + card.service_code)),
            (0x9F07, AUC),
            (0x9F08, APP_VERSION),
            (0x9F0D, IAC_DEFAULT),
            (0x9F0E, IAC_DENIAL),
            (0x9F0F, IAC_ONLINE),
            (0x8E, CVM_CREDIT if app.kind == "credit" else CVM_DEBIT),
            (0x8C, CDOL1),
            (0x8D, CDOL2),
            (0x9F42, CURRENCY_CNY),
            (0x9F44, b"\x02"),
        ]
        if oda in ("dda", "cda"):
            application_data.append((0x9F49, DDOL))
        if oda != "none":
            application_data.append((0x9F4A, b"\x82"))
        sfi2 = [tlv.template(0x70, application_data)]
        self.records = {1: sfi1, 2: sfi2}
        # The qPBOC GPO answer carries 57 itself, and a data object may come only once from
        # the GPO and the records (EMV Book 3 10.2): a tap's AFL leaves SFI 1 out.
        self.contactless_afl = bytes([2 << 3, 1, 1, 1 if oda != "none" else 0])
        if oda != "none":
            self.records[3] = self._oda_records(sfi2[0])
            self.contactless_afl += bytes([3 << 3, 1, len(self.records[3]), 0])
        self.afl = bytes([1 << 3, 1, 1, 0]) + self.contactless_afl

    def _oda_records(self, signed_record: bytes) -> list[bytes]:
        """SFI 3: the CA index and issuer certificate, then SSAD (SDA) or the ICC
        certificate (DDA); one large object a record, so a 1984-bit key still fits."""
        card, app = self.card, self.app
        ca = certs.ca_key(CA_INDEX)
        issuer_id = app.pan[:6]
        issuer_key = certs.rsa_key("poskit test issuer " + issuer_id, ISSUER_KEY_BITS)
        issuer_cert = certs.issuer_certificate(ca, issuer_key, issuer_id=issuer_id, expiry="1230")
        static = certs.static_data([(2, signed_record)], aip=self.aip, tag_list=b"\x82")
        issuer_tags = dict(issuer_cert.tags)
        if card.fault == "issuer-cert":
            issuer_tags[0x90] = _spoil(issuer_tags[0x90])
        first = [(0x8F, bytes([ca.index])), (0x9F32, issuer_tags[0x9F32])]
        if 0x92 in issuer_tags:
            first.append((0x92, issuer_tags[0x92]))
        records = [tlv.template(0x70, first), tlv.template(0x70, [(0x90, issuer_tags[0x90])])]
        expiry_mmyy = card.expiry[2:] + card.expiry[:2]
        if card.oda == "sda":
            ssad = certs.signed_static_data(issuer_key, static)
            if card.fault == "ssad":
                ssad = _spoil(ssad)
            records.append(tlv.template(0x70, [(0x93, ssad)]))
            return records
        self.icc_key = certs.rsa_key("poskit test card %s %s" % (app.pan, app.psn), ICC_KEY_BITS)
        icc_cert = certs.icc_certificate(
            issuer_key, self.icc_key, pan=app.pan, expiry=expiry_mmyy, static_data=static
        )
        icc_tags = dict(icc_cert.tags)
        if card.fault == "icc-cert":
            icc_tags[0x9F46] = _spoil(icc_tags[0x9F46])
        rest = [(0x9F47, icc_tags[0x9F47])]
        if 0x9F48 in icc_tags:
            rest.append((0x9F48, icc_tags[0x9F48]))
        records.append(tlv.template(0x70, rest))
        records.append(tlv.template(0x70, [(0x9F46, icc_tags[0x9F46])]))
        return records

    def pdol(self, contactless: bool) -> bytes:
        if contactless:
            return CONTACTLESS_PDOL
        return b"" if self.card.response_format == 1 else CONTACT_PDOL

    def fci(self, contactless: bool) -> bytes:
        """The answer to SELECT of this application (6F template)."""
        proprietary = [(0x50, self.app.application_label.encode()), (0x87, self.priority)]
        pdol = self.pdol(contactless)
        if pdol:
            proprietary.append((0x9F38, pdol))
        proprietary += [
            (0x5F2D, b"zhen"),
            (0x9F11, b"\x01"),
            (0x9F12, self.app.application_label.encode()),
            (0xBF0C, tlv.encode(0x9F4D, bytes([LOG_SFI, LOG_RECORDS]))),
        ]
        return tlv.template(0x6F, [(0x84, self.aid), (0xA5, tlv.encode_all(proprietary))])

    def directory_entry(self) -> bytes:
        """This application's entry (61) in the PSE's records and the PPSE's FCI."""
        return tlv.template(
            0x61,
            [
                (0x4F, self.aid),
                (0x50, self.app.application_label.encode()),
                (0x87, self.priority),
            ],
        )

    # -- data the card answers ---------------------------------------------------------

    def get_data(self, tag: int) -> bytes | None:
        values = {
            0x9F36: self.atc.to_bytes(2, "big"),
            0x9F13: self.last_online_atc.to_bytes(2, "big"),
            0x9F17: bytes([self.pin_tries]),
            0x9F4F: LOG_FORMAT,
            0x9F51: CURRENCY_CNY,
        }
        if self.ecash:
            values.update(
                {
                    0x9F79: bcd_amount(self.balance),
                    0x9F77: bcd_amount(self.ecash_limit),
                    0x9F78: bcd_amount(self.ecash_single_limit),
                    0x9F6D: bcd_amount(self.ecash_reset_threshold),
                }
            )
        return values.get(tag)

    def put_data(self, tag: int, value: bytes) -> None:
        """An issuer's PUT DATA (script): the e-cash balance and its limits."""
        if tag not in PUT_DATA_TAGS or not self.ecash:
            raise CardStatus(apdu.SW_REFERENCED_DATA_NOT_FOUND)
        if len(value) != 6:
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        try:
            amount = amount_of(value)
        except ValueError:
            raise CardStatus(apdu.SW_WRONG_DATA) from None
        if tag == 0x9F79:
            if amount > self.ecash_limit:
                raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)
            self.balance = amount
        elif tag == 0x9F77:
            self.ecash_limit = amount
        elif tag == 0x9F78:
            self.ecash_single_limit = amount
        else:
            self.ecash_reset_threshold = amount

    def ecash_covers(self, terminal: dict[int, bytes]) -> bool:
        """Whether e-cash may pay this purchase offline: the terminal supports e-cash (9F7A
        01), in yuan, a purchase (9C 00), within the balance and the single limit (9F78)."""
        try:
            amount = amount_of(terminal.get(0x9F02, bytes(6)))
        except ValueError:
            return False
        return (
            self.ecash
            and terminal.get(0x9F7A) == b"\x01"
            and terminal.get(0x5F2A) == CURRENCY_CNY
            and terminal.get(0x9C, b"\0") == b"\x00"
            and amount <= self.balance
            and amount <= self.ecash_single_limit
        )

    def add_log(self, terminal: dict[int, bytes]) -> None:
        values = dict(terminal)
        values[0x9F36] = self.atc.to_bytes(2, "big")
        record = b"".join(
            values.get(tag, bytes(length)).rjust(length, b"\0")[-length:]
            for tag, length in tlv.parse_dol(LOG_FORMAT)
        )
        self.log.insert(0, record)
        del self.log[LOG_RECORDS:]

    def dynamic_number(self, label: bytes) -> bytes:
        """8 bytes the card makes up for a signature (9F4C) or 9F69: different for every
        transaction and command, the same on every run (repeatable tests)."""
        seed = b"%s|%s|%d|" % (self.app.pan.encode(), self.app.psn.encode(), self.atc)
        return hashlib.sha256(seed + label).digest()[:8]


class _Session:
    """What one power-up (or one field) holds: the selection and the transaction."""

    def __init__(self, interface: str | None):
        self.interface = interface  # None until a SELECT decides, "contact", "contactless"
        self.selected: object = None  # PSE, PPSE, an Application, or None
        self.last_match: Application | None = None  # for SELECT next occurrence
        self.transaction: _Transaction | None = None
        self.pending = b""  # T=0: the data of the last answer, for GET RESPONSE


class _Transaction:
    """A transaction from GET PROCESSING OPTIONS on."""

    def __init__(self, app: Application, terminal: dict[int, bytes], contactless: bool):
        self.app = app
        self.contactless = contactless
        self.terminal = terminal  # terminal data by tag: PDOL, then CDOL1, CDOL2
        self.dol_data: list[bytes] = []  # PDOL, CDOL1, CDOL2 data as sent (the CDA hash)
        self.stage = "processing"  # "online" after an ARQC, "done" after TC/AAC
        self.arqc = b""
        self.cvr = bytearray(3)
        self.issuer_auth: bool | None = None  # None: not performed
        self.external_auth_done = False
        self.scripts = 0
        self.cda = False  # this GENERATE AC asked for a CDA signature (and the card has CDA)
        self.ecash_amount: bytes | None = None  # contact e-cash: a TC for it is paid offline
        self.script_failed = False


class Card:
    """A PBOC card made from a CardProfile. See the module docstring."""

    def __init__(self, profile: CardProfile):
        self.profile = profile
        self.name = profile.name
        self.description = profile.description
        self.contactless = profile.contactless
        self.atr = b"" if profile.chip == "mute" else ATR
        self.track2 = profile.track2
        # A contactless reader's anticollision sees this: a random-ID UID (first byte 08, ISO
        # 14443-3), fixed per card so a reader log can tell two cards apart.
        self.uid = b"\x08" + hashlib.sha256(profile.track2.encode()).digest()[:3]
        self.applications = [Application(profile, app) for app in profile.apps]
        self.card_blocked = False
        self._session = _Session(None)

    def __repr__(self) -> str:
        return "<Card %s>" % self.name

    def reset(self, interface: str | None = None) -> None:
        """A new power-up (contact) or a new field (contactless): the session is cleared."""
        if interface not in (None, "contact", "contactless"):
            raise ValueError("interface: 'contact', 'contactless' or None")
        self._session = _Session(interface)

    def apdu(self, command: bytes) -> bytes:
        """One C-APDU in, one R-APDU (data + SW1 SW2) out; never raises."""
        if self.profile.chip != "ok":
            return apdu.response(sw=apdu.SW_NO_PRECISE_DIAGNOSIS)
        pending, self._session.pending = self._session.pending, b""
        try:
            parsed = Command.parse(command)
            if parsed.cla == 0x00 and parsed.ins == INS_GET_RESPONSE:
                return self._get_response(parsed, pending)
            answer = self._dispatch(parsed)
        except CardStatus as status:
            return apdu.response(sw=status.sw)
        except Exception:  # a card never throws: whatever went wrong inside, it says 6F00
            return apdu.response(sw=apdu.SW_NO_PRECISE_DIAGNOSIS)
        return self._t0(parsed, answer)

    def _t0(self, command: Command, answer: bytes) -> bytes:
        """T=0 (EMV Book 1 9.3.1): a command that came without Le (the way T=0 carries case
        4) is answered 61xx, or the warning alone, and its data kept for GET RESPONSE; one
        whose Le is short of the data is answered 6Cxx. Contactless (ISO 14443-4) and
        commands with Le 00 get the answer in one piece."""
        data, sw = answer[:-2], answer[-2:]
        if not data or self._session.interface == "contactless":
            return answer
        if command.le is not None:
            # Le 00 takes whatever there is; a smaller Le than the data is told the length.
            return answer if command.le >= len(data) else bytes([0x6C, len(data) & 0xFF])
        self._session.pending = data
        if sw == b"\x90\x00":
            return bytes([0x61, len(data) & 0xFF])
        return sw  # a warning (62xx, 63xx): the data follows on GET RESPONSE, with 90 00

    def _get_response(self, command: Command, pending: bytes) -> bytes:
        if command.p1 or command.p2:
            raise CardStatus(apdu.SW_WRONG_P1P2)
        if not pending:
            raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)
        if command.data:
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        wanted = 256 if command.le is None else command.le
        rest = pending[wanted:]
        self._session.pending = rest
        if rest:
            return pending[:wanted] + bytes([0x61, len(rest) & 0xFF])
        return apdu.response(pending)

    # -- dispatch ------------------------------------------------------------------------

    def _dispatch(self, command: Command) -> bytes:
        handlers = {
            0xA4: ((0x00,), self._select),
            0xB2: ((0x00,), self._read_record),
            0xA8: ((0x80,), self._get_processing_options),
            0xAE: ((0x80,), self._generate_ac),
            0x88: ((0x00,), self._internal_authenticate),
            0x82: ((0x00,), self._external_authenticate),
            0xCA: ((0x80,), self._get_data),
            0x20: ((0x00,), self._verify),
            INS_CARD_BLOCK: ((0x84,), self._script),
            INS_APPLICATION_UNBLOCK: ((0x84,), self._script),
            INS_APPLICATION_BLOCK: ((0x84,), self._script),
            INS_PIN_UNBLOCK: ((0x84,), self._script),
            INS_PUT_DATA: ((0x04, 0x84), self._script),
        }
        entry = handlers.get(command.ins)
        if entry is None:
            if command.cla in (0x00, 0x80, 0x84, 0x04):
                raise CardStatus(apdu.SW_INS_NOT_SUPPORTED)
            raise CardStatus(apdu.SW_CLA_NOT_SUPPORTED)
        classes, handler = entry
        if command.cla not in classes:
            raise CardStatus(apdu.SW_CLA_NOT_SUPPORTED)
        if self.card_blocked:
            raise CardStatus(apdu.SW_FUNCTION_NOT_SUPPORTED)
        return handler(command)

    def _application(self) -> Application:
        if not isinstance(self._session.selected, Application):
            raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)
        return self._session.selected

    def _transaction(self) -> _Transaction:
        transaction = self._session.transaction
        if transaction is None:
            raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)
        return transaction

    # -- SELECT, READ RECORD, GET DATA --------------------------------------------------

    def _select(self, command: Command) -> bytes:
        if command.p1 != 0x04 or command.p2 not in (0x00, 0x02):
            raise CardStatus(apdu.SW_WRONG_P1P2)
        name = command.data
        if not 5 <= len(name) <= 16:
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        session = self._session
        # A new SELECT ends whatever was selected, successful or not.
        session.selected, session.transaction = None, None
        if name in (PSE, PPSE):
            contactless = name == PPSE
            wanted = "contactless" if contactless else "contact"
            if contactless and not self.contactless:
                raise CardStatus(apdu.SW_FILE_NOT_FOUND)
            if session.interface not in (None, wanted):
                raise CardStatus(apdu.SW_FILE_NOT_FOUND)
            session.interface = wanted
            session.selected = name
            return apdu.response(self._ppse_fci() if contactless else self._pse_fci())
        matches = [app for app in self.applications if app.aid.startswith(name)]
        if command.p2 == 0x02 and session.last_match in matches:
            matches = matches[matches.index(session.last_match) + 1 :]
        if not matches:
            session.last_match = None
            raise CardStatus(apdu.SW_FILE_NOT_FOUND)
        app = matches[0]
        session.last_match = app
        session.selected = app
        if session.interface is None:
            session.interface = "contact"
        fci = app.fci(session.interface == "contactless")
        return apdu.response(fci, apdu.SW_SELECTED_FILE_INVALIDATED if app.blocked else apdu.SW_OK)

    def _pse_fci(self) -> bytes:
        proprietary = [(0x88, b"\x01"), (0x5F2D, b"zhen"), (0x9F11, b"\x01")]
        return tlv.template(0x6F, [(0x84, PSE), (0xA5, tlv.encode_all(proprietary))])

    def _ppse_fci(self) -> bytes:
        directory = b"".join(app.directory_entry() for app in self.applications)
        return tlv.template(0x6F, [(0x84, PPSE), (0xA5, tlv.encode(0xBF0C, directory))])

    def _read_record(self, command: Command) -> bytes:
        if command.data:
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        if command.p2 & 0x07 != 0x04 or command.p1 == 0:
            raise CardStatus(apdu.SW_WRONG_P1P2)
        sfi, number = command.p2 >> 3, command.p1
        selected = self._session.selected
        if selected == PSE:
            if sfi != 1:
                raise CardStatus(apdu.SW_FILE_NOT_FOUND)
            entries = [tlv.encode(0x70, app.directory_entry()) for app in self.applications]
            return self._record(entries, number)
        if not isinstance(selected, Application):
            raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)
        if sfi == LOG_SFI:
            return self._record(selected.log, number)
        if sfi not in selected.records:
            raise CardStatus(apdu.SW_FILE_NOT_FOUND)
        return self._record(selected.records[sfi], number)

    @staticmethod
    def _record(records: list[bytes], number: int) -> bytes:
        if number > len(records):
            raise CardStatus(apdu.SW_RECORD_NOT_FOUND)
        return apdu.response(records[number - 1])

    def _get_data(self, command: Command) -> bytes:
        if command.data:
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        app = self._application()
        tag = (command.p1 << 8 | command.p2) if command.p1 else command.p2
        value = app.get_data(tag)
        if value is None:
            raise CardStatus(apdu.SW_REFERENCED_DATA_NOT_FOUND)
        return apdu.response(tlv.encode(tag, value))

    # -- GET PROCESSING OPTIONS ----------------------------------------------------------

    def _get_processing_options(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            raise CardStatus(apdu.SW_WRONG_P1P2)
        app = self._application()
        if self._session.transaction is not None:
            raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)  # one GPO a selection
        data = command.data
        if len(data) < 2 or data[0] != 0x83:
            raise CardStatus(apdu.SW_WRONG_DATA)
        contactless = self._session.interface == "contactless"
        pdol = app.pdol(contactless)
        if data[1] != len(data) - 2 or data[1] != tlv.dol_length(pdol):
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        terminal = tlv.split_dol_data(pdol, data[2:])
        if app.atc >= 0xFFFF:
            raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)  # the ATC is spent: card dead
        transaction = _Transaction(app, terminal, contactless)
        transaction.dol_data.append(data[2:])
        if contactless:
            answer = self._qpboc(transaction)
        else:
            app.atc += 1
            # PBOC contact e-cash: the PDOL told the card enough to pay from the balance.
            if app.ecash_covers(terminal):
                transaction.ecash_amount = terminal[0x9F02]
            if self.profile.response_format == 1:
                answer = tlv.encode(0x80, app.aip + app.afl)
            else:
                answer = tlv.template(0x77, [(0x82, app.aip), (0x94, app.afl)])
        self._session.transaction = transaction
        return apdu.response(answer)

    # -- the first and second GENERATE AC (contact) ---------------------------------------

    def _generate_ac(self, command: Command) -> bytes:
        transaction = self._transaction()
        requested = command.p1 & 0xC0
        if requested == 0xC0 or command.p1 & 0x2F or command.p2:
            raise CardStatus(apdu.SW_WRONG_P1P2)
        if transaction.contactless or transaction.stage == "done":
            raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)
        first = transaction.stage == "processing"
        dol = CDOL1 if first else CDOL2
        if len(command.data) != tlv.dol_length(dol):
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        values = tlv.split_dol_data(dol, command.data)
        transaction.dol_data.append(command.data)
        transaction.cda = bool(command.p1 & CDA_REQUESTED) and self.profile.oda == "cda"
        if first:
            answer = self._first_ac(transaction, requested, values)
        else:
            if requested == ARQC:
                raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)
            answer = self._second_ac(transaction, requested, values)
        return apdu.response(answer)

    def _first_ac(self, transaction: _Transaction, requested: int, values: dict) -> bytes:
        app = transaction.app
        transaction.terminal.update(values)
        cvr = transaction.cvr
        self._history_bits(transaction)
        tvr = values.get(0x95, bytes(5))
        if app.blocked or requested == AAC:
            decision = AAC
        elif requested == ARQC:
            decision = ARQC
        elif tvr[0] & 0x4C:
            decision = ARQC  # offline data authentication failed: the issuer decides
        elif transaction.ecash_amount and values.get(0x9F02) == transaction.ecash_amount:
            decision = TC  # the amount the PDOL announced, paid from the e-cash balance
            app.balance -= amount_of(transaction.ecash_amount)
        elif app.offline_count >= self.profile.offline_limit:
            decision = ARQC  # offline would be the card's risk: online
            if self.profile.offline_limit:
                cvr[1] |= CVR2_OFFLINE_LIMIT_EXCEEDED
        else:
            decision = TC
        cvr[0] |= {AAC: 0, TC: CVR1_FIRST_TC, ARQC: CVR1_FIRST_ARQC}[decision]
        if decision == ARQC:
            cvr[0] |= CVR1_SECOND_NOT_REQUESTED  # until the second GENERATE AC
            transaction.stage = "online"
            app.last_online_incomplete = True
        else:
            cvr[0] |= CVR1_SECOND_NOT_REQUESTED
            transaction.stage = "done"
            if decision == TC:
                app.offline_count += 1
            self._finish(transaction)
        cryptogram = self._cryptogram(transaction)
        if decision == ARQC:
            transaction.arqc = cryptogram
        return self._ac_response(transaction, decision, cryptogram)

    def _second_ac(self, transaction: _Transaction, requested: int, values: dict) -> bytes:
        app = transaction.app
        cvr = transaction.cvr
        arc = values.get(0x8A, b"\0\0")
        issuer_data = values.get(0x91, b"")
        if not transaction.external_auth_done and issuer_data.strip(b"\0"):
            transaction.issuer_auth = self._check_arpc(transaction, issuer_data)
        transaction.terminal.update({tag: values[tag] for tag in (0x95, 0x9F37) if tag in values})
        online_approved = arc in ARC_APPROVED
        unable_online = arc in ARC_UNABLE_ONLINE
        if unable_online:
            cvr[0] |= CVR1_UNABLE_TO_GO_ONLINE
        if transaction.issuer_auth is False:
            cvr[0] |= CVR1_ISSUER_AUTH_FAILED
        if transaction.issuer_auth is None and not unable_online:
            cvr[1] |= CVR2_ISSUER_AUTH_NOT_PERFORMED
        if requested == AAC or app.blocked or self.profile.second_ac == "decline":
            decision = AAC
        elif unable_online:
            allowed = app.offline_count < self.profile.offline_limit
            decision = TC if allowed else AAC
        elif transaction.issuer_auth is False or not online_approved:
            decision = AAC
        else:
            decision = TC
        cvr[0] &= ~CVR1_SECOND_NOT_REQUESTED & 0xFF
        if decision == TC:
            cvr[0] |= CVR1_SECOND_TC
        transaction.stage = "done"
        if not unable_online:
            app.last_online_incomplete = False
            app.issuer_auth_failed_last = transaction.issuer_auth is False
            if online_approved and transaction.issuer_auth is not False:
                app.last_online_atc = app.atc
                app.offline_count = 0
        elif decision == TC:
            app.offline_count += 1
        self._finish(transaction)
        return self._ac_response(transaction, decision, self._cryptogram(transaction))

    def _history_bits(self, transaction: _Transaction) -> None:
        """The CVR bits that tell the issuer about earlier transactions and the card."""
        app, cvr = transaction.app, transaction.cvr
        if app.last_online_incomplete:
            cvr[1] |= CVR2_LAST_ONLINE_NOT_COMPLETED
        if app.pin_tries == 0:
            cvr[1] |= CVR2_PIN_TRY_LIMIT_EXCEEDED
        if app.last_online_atc == 0:
            cvr[1] |= CVR2_NEW_CARD
        if app.issuer_auth_failed_last:
            cvr[1] |= CVR2_ISSUER_AUTH_FAILED_LAST
        if app.sda_failed_last:
            cvr[1] |= CVR2_SDA_FAILED_LAST
        if app.dda_failed_last:
            cvr[2] |= CVR3_DDA_FAILED_LAST

    def _finish(self, transaction: _Transaction) -> None:
        """The transaction is over: remember what the next one must report, log it."""
        app = transaction.app
        tvr = transaction.terminal.get(0x95, bytes(5))
        app.sda_failed_last = bool(tvr[0] & 0x40)
        app.dda_failed_last = bool(tvr[0] & 0x08)
        app.add_log(transaction.terminal)

    def _cvr(self, transaction: _Transaction) -> bytes:
        cvr = bytearray(transaction.cvr)
        cvr[2] = (cvr[2] & 0x0F) | (min(transaction.scripts, 15) << 4)
        if transaction.script_failed:
            cvr[2] |= CVR3_SCRIPT_FAILED
        return b"\x03" + bytes(cvr)

    def _issuer_application_data(self, transaction: _Transaction) -> bytes:
        """9F10: 07 DKI CVN CVR(4) 00, then 0A, algorithm 01 (3DES) and 9 bytes of zeros."""
        common = bytes([issuer.KEY_INDEX, CVN]) + self._cvr(transaction) + b"\x00"
        return bytes([len(common)]) + common + b"\x0a\x01" + bytes(9)

    def _cryptogram(self, transaction: _Transaction) -> bytes:
        app = transaction.app
        atc = app.atc.to_bytes(2, "big")
        session = issuer.session_key(app.keys.ac, atc)
        data = issuer.ac_data(transaction.terminal, app.aip, atc, self._cvr(transaction))
        return issuer.cryptogram(session, data)

    def _ac_response(self, transaction: _Transaction, cid: int, cryptogram: bytes) -> bytes:
        atc = transaction.app.atc.to_bytes(2, "big")
        iad = self._issuer_application_data(transaction)
        if transaction.cda and cid != AAC:
            return self._cda_response(transaction, cid, cryptogram, atc, iad)
        if self.profile.response_format == 1:
            return tlv.encode(0x80, bytes([cid]) + atc + cryptogram + iad)
        return tlv.template(
            0x77, [(0x9F27, bytes([cid])), (0x9F36, atc), (0x9F26, cryptogram), (0x9F10, iad)]
        )

    def _cda_response(
        self, transaction: _Transaction, cid: int, cryptogram: bytes, atc: bytes, iad: bytes
    ) -> bytes:
        """EMV Book 2 6.6: the cryptogram travels inside the signature (9F4B), with the hash of
        the PDOL, CDOL1 (and CDOL2) data and of this answer's other objects."""
        app = transaction.app
        assert app.icc_key is not None  # check_profile: oda "cda" has an ICC key
        others = [(0x9F27, bytes([cid])), (0x9F36, atc), (0x9F10, iad)]
        transaction_hash = hashlib.sha1(
            b"".join(transaction.dol_data) + tlv.encode_all(others)
        ).digest()
        number = app.dynamic_number(b"cda%d" % len(transaction.dol_data))
        dynamic = bytes([len(number)]) + number + bytes([cid]) + cryptogram + transaction_hash
        signed = certs.dynamic_signature(
            app.icc_key, dynamic, transaction.terminal.get(0x9F37, bytes(4))
        )
        if self.profile.fault == "sdad":
            signed = _spoil(signed)
        return tlv.template(0x77, others[:2] + [(0x9F4B, signed)] + others[2:])

    # -- issuer authentication ------------------------------------------------------------

    def _check_arpc(self, transaction: _Transaction, issuer_data: bytes) -> bool:
        """ARPC method 1: 91 = ARPC (8) || ARC (2)."""
        if len(issuer_data) < 10 or not transaction.arqc:
            return False
        app = transaction.app
        session = issuer.session_key(app.keys.ac, app.atc.to_bytes(2, "big"))
        expected = issuer.arpc(session, transaction.arqc, issuer_data[8:10])
        return expected == issuer_data[:8]

    def _external_authenticate(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            raise CardStatus(apdu.SW_WRONG_P1P2)
        if not 8 <= len(command.data) <= 16:
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        transaction = self._transaction()
        if transaction.stage != "online" or transaction.external_auth_done:
            raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)
        transaction.external_auth_done = True
        transaction.issuer_auth = self._check_arpc(transaction, command.data)
        if not transaction.issuer_auth:
            raise CardStatus(apdu.SW_VERIFY_FAILED)
        return apdu.response()

    # -- offline data authentication ------------------------------------------------------

    def _internal_authenticate(self, command: Command) -> bytes:
        if command.p1 or command.p2:
            raise CardStatus(apdu.SW_WRONG_P1P2)
        app = self._application()
        if app.icc_key is None:
            raise CardStatus(apdu.SW_INS_NOT_SUPPORTED)  # no DDA on this card
        if not command.data:
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        number = app.dynamic_number(b"dda" + command.data)
        signed = certs.signed_dynamic_data(app.icc_key, number, terminal_dynamic_data=command.data)
        if self.profile.fault == "sdad":
            signed = _spoil(signed)
        if self._session.transaction is not None:
            self._session.transaction.cvr[2] |= CVR3_DDA_PERFORMED
        return apdu.response(tlv.encode(0x80, signed))

    # -- offline PIN --------------------------------------------------------------------

    def _verify(self, command: Command) -> bytes:
        if command.p1 != 0x00 or command.p2 != 0x80:
            raise CardStatus(apdu.SW_WRONG_P1P2)  # plaintext offline PIN only
        transaction = self._transaction()
        app = transaction.app
        block = command.data
        if len(block) != 8:
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        digits = block.hex().upper()
        count = block[0] - 0x20
        pin = digits[2 : 2 + count] if 4 <= count <= 12 else ""
        if not pin.isdigit() or len(pin) != count or digits[2 + count :] != "F" * (14 - count):
            raise CardStatus(apdu.SW_WRONG_DATA)
        if app.pin_tries == 0:
            raise CardStatus(apdu.SW_PIN_BLOCKED)
        transaction.cvr[0] |= CVR1_OFFLINE_PIN_PERFORMED
        if pin == TEST_PIN:
            app.pin_tries = self.profile.pin_tries
            transaction.cvr[0] &= ~CVR1_OFFLINE_PIN_FAILED & 0xFF
            return apdu.response()
        app.pin_tries -= 1
        transaction.cvr[0] |= CVR1_OFFLINE_PIN_FAILED
        if app.pin_tries == 0:
            transaction.cvr[1] |= CVR2_PIN_TRY_LIMIT_EXCEEDED
        return apdu.response(sw=apdu.SW_PIN_TRIES_LEFT | app.pin_tries)

    # -- issuer scripts -----------------------------------------------------------------

    def _script(self, command: Command) -> bytes:
        transaction = self._transaction()
        if not transaction.arqc:
            raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)  # scripts ride an online txn
        if len(command.data) < SCRIPT_MAC_LENGTH:
            raise CardStatus(apdu.SW_WRONG_LENGTH)
        app = transaction.app
        transaction.scripts += 1
        unmacked = command.to_bytes()[: 5 + len(command.data) - SCRIPT_MAC_LENGTH]
        mac = issuer.script_mac(
            app.keys.smi, app.atc.to_bytes(2, "big"), transaction.arqc, unmacked
        )
        if mac != command.data[-SCRIPT_MAC_LENGTH:]:
            transaction.script_failed = True
            raise CardStatus(apdu.SW_SECURITY_NOT_SATISFIED)
        value = command.data[:-SCRIPT_MAC_LENGTH]
        try:
            self._run_script(command, app, value)
        except CardStatus:
            transaction.script_failed = True
            raise
        return apdu.response()

    def _run_script(self, command: Command, app: Application, value: bytes) -> None:
        ins = command.ins
        if ins == INS_PUT_DATA:
            app.put_data(command.p1 << 8 | command.p2, value)
            return
        if command.p1 or (command.p2 and ins != INS_PIN_UNBLOCK):
            raise CardStatus(apdu.SW_WRONG_P1P2)
        if value:
            raise CardStatus(apdu.SW_WRONG_LENGTH)  # no PIN change: unblock only
        if ins == INS_APPLICATION_BLOCK:
            app.blocked = True
        elif ins == INS_APPLICATION_UNBLOCK:
            app.blocked = False
        elif ins == INS_PIN_UNBLOCK:
            app.pin_tries = self.profile.pin_tries
        elif ins == INS_CARD_BLOCK:
            self.card_blocked = True

    # -- qPBOC (contactless): the card decides in the GPO -------------------------------

    def _qpboc(self, transaction: _Transaction) -> bytes:
        app = transaction.app
        terminal = transaction.terminal
        ttq = terminal.get(0x9F66, bytes(4))
        if not ttq[0] & TTQ1_QPBOC:
            raise CardStatus(apdu.SW_CONDITIONS_NOT_SATISFIED)  # only qPBOC on this interface
        try:
            amount = amount_of(terminal.get(0x9F02, bytes(6)))
        except ValueError:
            raise CardStatus(apdu.SW_WRONG_DATA) from None
        app.atc += 1
        self._history_bits(transaction)
        offline_possible = app.ecash_covers(terminal) and not ttq[1] & TTQ2_ONLINE_REQUIRED
        if app.blocked:
            decision = AAC
        elif offline_possible:
            decision = TC
        elif ttq[0] & TTQ1_OFFLINE_ONLY:
            decision = AAC  # the reader cannot go online and the card will not go offline
        else:
            decision = ARQC
        cvr = transaction.cvr
        cvr[0] |= {AAC: 0, TC: CVR1_FIRST_TC, ARQC: CVR1_FIRST_ARQC}[decision]
        cvr[0] |= CVR1_SECOND_NOT_REQUESTED
        ctq = bytes([CTQ1_ONLINE_PIN if decision == ARQC else 0, 0x00])
        atc = app.atc.to_bytes(2, "big")
        if decision == TC:
            app.balance -= amount
            app.offline_count += 1
        transaction.stage = "done"
        cryptogram = self._cryptogram(transaction)
        if decision == ARQC:
            transaction.arqc = cryptogram
        items = [
            (0x82, app.aip),
            (0x94, app.contactless_afl),
            (0x9F36, atc),
            (0x9F27, bytes([decision])),
            (0x9F26, cryptogram),
            (0x9F10, self._issuer_application_data(transaction)),
            (0x57, app.track2_equivalent),
            (0x9F6C, ctq),
        ]
        if decision == TC or (decision == ARQC and ttq[0] & TTQ1_ODA_FOR_ONLINE):
            related = bytes([FDDA_VERSION]) + app.dynamic_number(b"9F69")[:4] + ctq
            items.append((0x9F69, related))
            items.append((0x9F4B, self._fdda(transaction, related)))
        if app.ecash:
            items.append((0x9F5D, bcd_amount(app.balance)))
        app.add_log(terminal)
        return tlv.template(0x77, items)

    def _fdda(self, transaction: _Transaction, related: bytes) -> bytes:
        """fDDA (qVSDC version 01 layout): ICC dynamic data 08 || 9F4C, the hash also over
        9F37 || 9F02 || 5F2A || 9F69."""
        app, terminal = transaction.app, transaction.terminal
        assert app.icc_key is not None  # check_profile: a contactless card is a DDA card
        terminal_data = (
            terminal.get(0x9F37, bytes(4))
            + terminal.get(0x9F02, bytes(6))
            + terminal.get(0x5F2A, bytes(2))
            + related
        )
        number = app.dynamic_number(b"fdda")
        signed = certs.signed_dynamic_data(
            app.icc_key, number, terminal_dynamic_data=terminal_data
        )
        return _spoil(signed) if self.profile.fault == "sdad" else signed
