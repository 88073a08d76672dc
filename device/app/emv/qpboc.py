"""qPBOC, the contactless fast path (PBOC 3.0 part 12, the qVSDC way): one tap, and the card
decides in its answer to GET PROCESSING OPTIONS. The outcome speaks the contact kernel's
words (app.emv.kernel: result APPROVED, ONLINE, DECLINED, TERMINATED, a `reason` word and a
`detail` line, cvm "online_pin"/"signature"/"none"), plus TRY_ANOTHER: insert the card.

    from app.emv import qpboc, terminal

    term = terminal.TerminalData(amount, now, terminal_id=..., merchant_id=...)
    refused = qpboc.refused_amount(amount, sets)    # before the tap: "insert or swipe"?
    reader.power_up(15000)                          # the tap (drivers.pn532)
    outcome = qpboc.transact(reader, term, sets)    # reader: a card channel
    reader.power_off()
    if outcome.result == qpboc.APPROVED:          # offline: the card paid from its e-cash
        ... app.txn.offline.approve(engine, outcome): journaled, then the slip ...
    elif outcome.result == qpboc.ONLINE:
        ... 0200 with outcome.pan / track2 / psn, field 55 = outcome.field55, PIN if
            outcome.cvm == qpboc.CVM_ONLINE_PIN ...

`sets` is the terminal's IC sets (app.store.icsets.ICSets, or anything with its `aid_list()`,
`aid(aid)` and `ca_key(rid, index)`): the AIDs it accepts, their contactless limits (DF19
offline floor limit, DF20 transaction limit, DF21 CVM limit, 9F7B e-cash terminal limit, all
n12 fen) and the CA public keys fDDA needs.

The steps, and what each decides:

1. Pre-processing against the selected AID's limits: amount >= DF20 -> TRY_ANOTHER ("insert
   or swipe", before the GPO: the card spends nothing); >= DF21 -> TTQ "CVM required";
   >= DF19, 0, or above 9F7B -> TTQ "online cryptogram required" (and 9F7A = 00 above 9F7B:
   no e-cash).
2. SELECT 2PAY.SYS.DDF01 (PPSE); its BF0C entries whose AID the terminal accepts (exactly, or
   as a prefix where the AID's DF01 is 00), by priority (87; none last). No PPSE, or no
   entry -> TRY_ANOTHER. SELECT each candidate until one answers 9000.
3. GET PROCESSING OPTIONS with the PDOL's data (9F66 TTQ from step 1, 9F7A, 9F02, 9F37, 5F2A,
   9A, 9C ... from the terminal data). 6984/6985/6986 -> TRY_ANOTHER (the card wants contact).
   The answer's 9F27: AAC -> DECLINED; ARQC -> ONLINE; TC -> the offline checks.
4. READ RECORD over the AFL (not after an AAC). The card may leave the field any time: a
   CardError -> TERMINATED, reason card_removed ("tap again").
5. Offline (TC): processing restrictions (5F25 effective, 5F24 expiry: expired -> ONLINE if
   the CTQ says "online if expired", else DECLINED), then fDDA: the ICC key recovered through
   the CA key 8F names, 90 and 9F46 (app.emv.oda), the signature 9F4B checked over 9F37 ||
   9F02 || 5F2A || 9F69 (docs/cards.md). fDDA failed -> ONLINE when the CTQ (9F6C byte 1
   bit 6) says "online if ODA fails", TRY_ANOTHER when bit 5 says "switch interface", else
   DECLINED. Passed -> APPROVED.

Whatever the result, `Outcome` carries what the next step needs; nothing here writes to flash
or talks to the host. The rule it keeps: only an answer the terminal has checked whole -- a TC
with its fDDA verified and the card's dates good -- is an offline approval; anything short of
that is online, declined or an error, never approved by default.
"""

import binascii

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

from app.emv import dol, oda, tlv
from drivers.cardchannel import CardError, CardMute, CardRemoved, NoCard

# Outcome.result: the contact kernel's words (app.emv.kernel), and one of the tap's own.
APPROVED = "approved"  # offline, by the card's TC
ONLINE = "online"
DECLINED = "declined"
TERMINATED = "terminated"  # stop: `reason` says why (card_removed, card_data...)
TRY_ANOTHER = "try_another"  # contactless cannot do it: insert (or swipe) the card

# Outcome.cvm, as the contact kernel names them.
CVM_NONE = "none"
CVM_ONLINE_PIN = "online_pin"
CVM_SIGNATURE = "signature"

# 9F66 terminal transaction qualifiers (PBOC part 12 Annex; the qVSDC layout).
TTQ1_QPBOC = const(0x20)
TTQ1_CONTACT = const(0x10)  # EMV contact chip supported: "insert" is a way out
TTQ1_ONLINE_PIN = const(0x04)
TTQ1_SIGNATURE = const(0x02)
TTQ2_ONLINE = const(0x80)  # online cryptogram required
TTQ2_CVM = const(0x40)  # CVM required
TTQ4_FDDA_01 = const(0x80)  # fDDA version 01 supported
# 9F6C card transaction qualifiers, byte 1.
CTQ1_ONLINE_PIN = const(0x80)
CTQ1_SIGNATURE = const(0x40)
CTQ1_ONLINE_IF_ODA_FAILS = const(0x20)
CTQ1_SWITCH_IF_ODA_FAILS = const(0x10)
CTQ1_ONLINE_IF_EXPIRED = const(0x08)
_FDDA_VERSION = const(0x01)

# 9F27 cryptogram information data, bits 8-7.
_AAC = const(0x00)
_TC = const(0x40)
_ARQC = const(0x80)

PPSE = b"2PAY.SYS.DDF01"

# The IC parameters' contactless limits (docs/iso8583.md section 13), n12 fen.
TAG_OFFLINE_LIMIT = const(0xDF19)
TAG_TRANSACTION_LIMIT = const(0xDF20)
TAG_CVM_LIMIT = const(0xDF21)
TAG_ECASH_LIMIT = const(0x9F7B)
TAG_PARTIAL = const(0xDF01)

# Field 55 of the 0200 (online) and of the offline upload (60.1 = 36), in this order: the
# cryptogram and everything it was computed over (docs/cards.md), then what the host logs.
FIELD55 = (
    0x9F26,
    0x9F27,
    0x9F10,
    0x9F37,
    0x9F36,
    0x95,
    0x9A,
    0x9C,
    0x9F02,
    0x5F2A,
    0x82,
    0x9F1A,
    0x9F03,
    0x9F33,
    0x9F35,
    0x9F1E,
    0x84,
    0x9F09,
    0x9F66,
    0x9F6C,
    0x9F5D,
)


class Outcome:
    """What a tap came to. `result`: APPROVED (offline), ONLINE, DECLINED, TRY_ANOTHER or
    TERMINATED; `reason`: why, as a word the screens look up -- approved: offline; online:
    online (the card asked), expired, fdda_failed; declined: card_declined, expired,
    not_effective, fdda_failed; try_another: over_limit, no_ppse, no_application,
    not_selected, card_asks_contact, fdda_failed; terminated: card_removed, no_card,
    card_mute, reader, card_status, card_data. `detail`: a line for the log
    ("fDDA failed (signed dynamic data hash differs)", "READ RECORD 2/1 refused (6A83)").

    Card data (None when the tap did not get that far): `aid`, `label` (the application
    label 50, else the preferred name 9F12, as bytes; b"" when the card has neither), `pan`
    (digits), `psn` (2 digits or None), `expiry` (YYMM), `track2` (57 as bytes, for the
    0200's field 35),
    `cryptogram` (9F26), `atc` (int), `balance` (fen after this tap: 9F5D, else 9F79, else
    None), `field55` (bytes: FIELD55's objects the transaction has), `cvm` (CVM_ONLINE_PIN,
    CVM_SIGNATURE or CVM_NONE), `tvr` (5 bytes: what the terminal found, e.g. DDA failed),
    `oda_failure` (OdaError.reason when fDDA failed)."""

    def __init__(self, result, reason="", detail=""):
        self.result = result
        self.reason = reason
        self.detail = detail
        self.aid = None
        self.label = b""
        self.pan = None
        self.psn = None
        self.expiry = None
        self.track2 = None
        self.cryptogram = None
        self.atc = None
        self.amount = 0
        self.balance = None
        self.field55 = b""
        self.cvm = CVM_NONE
        self.tvr = bytes(5)
        self.oda_failure = None

    def __repr__(self):
        return "<qpboc %s %s %s>" % (self.result, self.reason, self.detail)

    def end(self, result, reason, detail=""):
        self.result, self.reason, self.detail = result, reason, detail
        return self


class _Stop(Exception):
    # A step ends the transaction with `outcome`.
    def __init__(self, result, reason, detail=""):
        super().__init__(detail or reason)
        self.outcome = Outcome(result, reason, detail)


def amount_of(value):
    """An n12 / n6-byte BCD amount as int fen (ValueError on a nibble above 9)."""
    total = 0
    for byte in value:
        high, low = byte >> 4, byte & 0x0F
        if high > 9 or low > 9:
            raise ValueError("amount not BCD")
        total = total * 100 + high * 10 + low
    return total


def _limit(params, tag):
    # The limit `tag` of the AID's parameters in fen, None when the acquirer sets none.
    value = params.get(tag) if params else None
    if value is None:
        return None
    try:
        return amount_of(value)
    except ValueError:
        return 0  # a limit that does not read: the strictest, not none at all


def qualifiers(amount, params):
    """(TTQ 9F66, e-cash indicator 9F7A, refused) for `amount` fen under the AID's
    contactless limits `params` ({tag: bytes}): step 1 of the module. `refused`: the
    amount is at or over the contactless transaction limit (DF20)."""
    ttq = bytearray((TTQ1_QPBOC | TTQ1_CONTACT | TTQ1_ONLINE_PIN | TTQ1_SIGNATURE, 0, 0, 0))
    ttq[3] = TTQ4_FDDA_01
    limit = _limit(params, TAG_TRANSACTION_LIMIT)
    refused = limit is not None and amount >= limit
    limit = _limit(params, TAG_CVM_LIMIT)
    if limit is not None and amount >= limit:
        ttq[1] |= TTQ2_CVM
    ecash = _limit(params, TAG_ECASH_LIMIT)
    ecash_allowed = ecash is None or amount <= ecash
    limit = _limit(params, TAG_OFFLINE_LIMIT)
    if amount == 0 or not ecash_allowed or (limit is not None and amount >= limit):
        ttq[1] |= TTQ2_ONLINE
    return bytes(ttq), b"\x01" if ecash_allowed else b"\x00", refused


def refused_amount(amount, sets):
    """True when `amount` is at or over the contactless transaction limit of every AID the
    terminal accepts: ask for the card inserted or swiped without waiting for a tap."""
    for aid in sets.aid_list():
        if not qualifiers(amount, sets.aid(aid))[2]:
            return False
    return True


def _ok(sw):
    return sw == 0x9000


def _send(channel, apdu):
    # (a copy of the data, sw): the channel's view is overwritten by the next command.
    data, sw = channel.transmit(apdu)
    return bytes(data), sw


def _select(channel, name):
    apdu = bytearray(6 + len(name))
    apdu[0:4] = b"\x00\xa4\x04\x00"
    apdu[4] = len(name)
    apdu[5 : 5 + len(name)] = name
    return _send(channel, apdu)


def candidates(ppse, sets):
    """[(priority, AID, params)] of the PPSE's BF0C entries the terminal accepts, in the
    order to try: by priority (87's low nibble, 1 first; none or 0 last), then as listed."""
    found = []
    directory = tlv.find(ppse, 0xBF0C)
    if directory is None:
        return found
    accepted = sets.aid_list()
    position = 0
    for tag, entry in tlv.iterate(directory):
        if tag != 0x61:
            continue
        aid = tlv.find(entry, 0x4F)
        if aid is None:
            continue
        aid = bytes(aid)
        for terminal_aid in accepted:
            if not aid.startswith(terminal_aid):
                continue
            params = sets.aid(terminal_aid) or {}
            # A longer AID on the card matches when the acquirer allows partial names (DF01).
            if aid != terminal_aid and bytes(params.get(TAG_PARTIAL, b"\x00")) != b"\x00":
                continue
            priority = tlv.find(entry, 0x87)
            rank = priority[0] & 0x0F if priority is not None and len(priority) else 0
            found.append(((rank or 16) * 256 + position, aid, params))
            position += 1
            break
    found.sort(key=lambda item: item[0])
    return found


def transact(channel, term, sets, today=None):
    """Run one tap on `channel` (a powered-up card channel) for the terminal data `term`
    (app.emv.terminal.TerminalData) with the IC sets `sets`; returns an Outcome. Never
    raises for anything the card or the reader does."""
    try:
        return _transact(channel, term, sets, today or bytes(term.get(0x9A)))
    except _Stop as stop:
        return stop.outcome
    except CardError as exc:
        return Outcome(TERMINATED, _card_error(exc), "%s: %s" % (type(exc).__name__, exc))
    except (tlv.TlvError, dol.DolError) as exc:
        return Outcome(TERMINATED, "card_data", "card data malformed: %s" % exc.args[0])


def _card_error(exc):
    # The reason of a reader's error: tap again (removed, none), or the reader's fault.
    if isinstance(exc, CardRemoved):
        return "card_removed"
    if isinstance(exc, NoCard):
        return "no_card"
    if isinstance(exc, CardMute):
        return "card_mute"
    return "reader"


def _transact(channel, term, sets, today):
    ppse, sw = _select(channel, PPSE)
    if not _ok(sw):
        raise _Stop(TRY_ANOTHER, "no_ppse", "SELECT PPSE answered %04X" % sw)
    found = candidates(ppse, sets)
    if not found:
        raise _Stop(TRY_ANOTHER, "no_application", "no PPSE entry the terminal accepts")
    for _, aid, params in found:
        fci, sw = _select(channel, aid)
        if _ok(sw):
            break
    else:
        raise _Stop(TRY_ANOTHER, "not_selected", "SELECT of the application answered %04X" % sw)
    label = tlv.find(fci, 0x50) or tlv.find(fci, 0x9F12)  # for the slip
    term.application(aid, params)
    ttq, ecash, refused = qualifiers(term.amount, params)
    if refused:
        raise _Stop(TRY_ANOTHER, "over_limit", "amount at or over the contactless limit")
    term.set(0x9F66, ttq)
    term.set(0x9F7A, ecash)
    term.set(0x9F39, b"\x07")  # POS entry mode: contactless chip
    term.set(0x84, aid)
    pdol = tlv.find(fci, 0x9F38)
    data = dol.build(pdol if pdol is not None else b"", term)
    command = bytearray(7 + len(data) + 1)
    command[0:4] = b"\x80\xa8\x00\x00"
    command[4] = len(data) + 2
    command[5] = 0x83
    command[6] = len(data)
    command[7 : 7 + len(data)] = data
    answer, sw = _send(channel, command)
    if sw in (0x6984, 0x6985, 0x6986):
        raise _Stop(TRY_ANOTHER, "card_asks_contact", "GPO answered %04X" % sw)
    if not _ok(sw):
        raise _Stop(TERMINATED, "card_status", "GPO answered %04X" % sw)
    if not answer or answer[0] != 0x77:
        raise _Stop(TERMINATED, "card_data", "GPO answer not template 77")
    card = {}
    tlv.collect(answer, card)
    term.card = card
    cid = _needed(card, 0x9F27)[0] & 0xC0
    outcome = Outcome(ONLINE)
    outcome.aid = aid
    outcome.label = bytes(label) if label is not None else b""
    outcome.amount = term.amount
    if cid == _AAC:
        outcome.end(DECLINED, "card_declined", "AAC")
        _describe(outcome, card, term, ttq)
        return outcome
    records = _read_records(channel, _needed(card, 0x94), card)
    _describe(outcome, card, term, ttq)
    if cid == _ARQC:
        return outcome.end(ONLINE, "online", "ARQC")
    if cid != _TC:
        raise _Stop(TERMINATED, "card_data", "cryptogram type %02X" % cid)
    ctq = card.get(0x9F6C, b"\x00\x00")[0]
    problem = _restrictions(card, today)
    if problem:
        if problem == "expired" and ctq & CTQ1_ONLINE_IF_EXPIRED:
            return outcome.end(ONLINE, problem, "TC from an expired card: online")
        return outcome.end(DECLINED, problem, "TC from a card " + problem.replace("_", " "))
    try:
        _fdda(card, records, sets, aid, term, today)
    except oda.OdaError as exc:
        outcome.oda_failure = exc.reason
        tvr = bytearray(term.tvr)
        tvr[0] |= exc.tvr
        outcome.tvr = bytes(tvr)
        detail = "fDDA failed (%s)" % exc.reason
        if ctq & CTQ1_ONLINE_IF_ODA_FAILS:
            return outcome.end(ONLINE, "fdda_failed", detail)
        if ctq & CTQ1_SWITCH_IF_ODA_FAILS:
            return outcome.end(TRY_ANOTHER, "fdda_failed", detail)
        return outcome.end(DECLINED, "fdda_failed", detail)
    return outcome.end(APPROVED, "offline", "TC, fDDA verified")


def _needed(card, tag):
    value = card.get(tag)
    if value is None or not len(value):
        raise _Stop(TERMINATED, "card_data", "card data missing: %X" % tag)
    return value


def _read_records(channel, afl, card):
    """READ RECORD of every AFL entry into `card`; returns [(sfi, record bytes)] of the
    records the AFL marks for offline data authentication, in the order read."""
    signed = []
    if len(afl) % 4:
        raise _Stop(TERMINATED, "card_data", "AFL not a multiple of 4 bytes")
    afl = bytes(afl)
    command = bytearray(b"\x00\xb2\x00\x00\x00")
    for at in range(0, len(afl), 4):
        sfi, first, last, count = afl[at] >> 3, afl[at + 1], afl[at + 2], afl[at + 3]
        if not 1 <= sfi <= 30 or first == 0 or last < first or count > last - first + 1:
            raise _Stop(TERMINATED, "card_data", "AFL entry malformed")
        for number in range(first, last + 1):
            command[2] = number
            command[3] = sfi << 3 | 4
            record, sw = _send(channel, command)
            if not _ok(sw):
                raise _Stop(
                    TERMINATED,
                    "card_status",
                    "READ RECORD %d/%d answered %04X" % (sfi, number, sw),
                )
            if sfi <= 10 and (not record or record[0] != 0x70):
                raise _Stop(
                    TERMINATED, "card_data", "record %d/%d not template 70" % (sfi, number)
                )
            tlv.collect(record, card)
            if number < first + count:
                signed.append((sfi, record))
    return signed


def _restrictions(card, today):
    """The processing restrictions a tap checks (part 12): effective date and expiry
    (YYMMDD, compared with today's 9A): "not_effective", "expired", or "" when both pass."""
    effective = card.get(0x5F25)
    if effective is not None and _date(effective) > _date(today):
        return "not_effective"
    expiry = card.get(0x5F24)
    if expiry is None or _date(expiry) < _date(today):
        return "expired"
    return ""


def _date(yymmdd):
    # YYMMDD BCD as a comparable number, years 50-99 in the 1900s (Book 3 Annex A5).
    value = amount_of(yymmdd)
    return value + (19000000 if value >= 500000 else 20000000)


def _fdda(card, records, sets, aid, term, today):
    """Check the fDDA signature 9F4B of the GPO answer; OdaError when it does not hold."""
    related = card.get(0x9F69)
    if related is None or len(related) < 1 or related[0] != _FDDA_VERSION:
        raise oda.OdaError(oda.OdaError.DATA_MISSING, oda.DDA)
    rid = aid[:5]
    index = card.get(0x8F)
    ca_keys = []
    if index is not None and len(index) == 1:
        entry = sets.ca_key(rid, index[0])
        if entry is not None:
            ca_keys.append(oda.CaKey(rid, index[0], entry[0xDF02], entry[0xDF04]))
    static = oda.static_data(records, card.get(0x82), card.get(0x9F4A), oda.DDA)
    issuer = oda.issuer_key(card, ca_keys, rid, today, oda.DDA)
    icc = oda.icc_key(card, issuer, static, today, oda.DDA)
    signed_over = (
        bytes(term.get(0x9F37))
        + bytes(term.get(0x9F02))
        + bytes(term.get(0x5F2A))
        + bytes(related)
    )
    oda.verify_dda(icc, card.get(0x9F4B), signed_over, oda.DDA)


def _describe(outcome, card, term, ttq):
    """Fill the outcome's card data and field 55 from the card's answers."""
    track2 = card.get(0x57)
    if track2 is not None:
        outcome.track2 = bytes(track2)
    pan = card.get(0x5A)
    digits = _digits(pan) if pan is not None else None
    if digits is None and track2 is not None:
        digits = binascii.hexlify(track2).decode().upper().split("D")[0]
    outcome.pan = digits
    psn = card.get(0x5F34)
    if psn is not None and len(psn):
        outcome.psn = "%02x" % psn[0]
    expiry = card.get(0x5F24)
    if expiry is not None and len(expiry) >= 2:
        outcome.expiry = binascii.hexlify(bytes(expiry[:2])).decode()
    cryptogram = card.get(0x9F26)
    if cryptogram is not None:
        outcome.cryptogram = bytes(cryptogram)
    atc = card.get(0x9F36)
    if atc is not None and len(atc) == 2:
        outcome.atc = atc[0] << 8 | atc[1]
    for tag in (0x9F5D, 0x9F79):
        balance = card.get(tag)
        if balance is not None:
            try:
                outcome.balance = amount_of(balance)
            except ValueError:
                pass
            break
    ctq = card.get(0x9F6C, b"\x00\x00")[0]
    if ctq & CTQ1_ONLINE_PIN:
        outcome.cvm = CVM_ONLINE_PIN
    elif ctq & CTQ1_SIGNATURE:
        outcome.cvm = CVM_SIGNATURE
    elif ttq[1] & TTQ2_CVM:
        # The reader required a CVM and the card named none: an online PIN when going
        # online (the PIN pad is there), else the cardholder signs.
        outcome.cvm = CVM_ONLINE_PIN if card.get(0x9F27)[0] & 0xC0 == _ARQC else CVM_SIGNATURE
    outcome.tvr = bytes(term.tvr)
    outcome.field55 = field55(card, term)


def field55(card, term):
    """Field 55 (bytes): the objects of FIELD55 the card (`card`) or the terminal (`term`)
    has, as TLV, the card's values first (9F26, 9F27... come from it)."""
    out = bytearray()
    for tag in FIELD55:
        value = card.get(tag)
        if value is None:
            value = term.get(tag)
        if value is not None:
            out += tlv.build(tag, value)
    return bytes(out)


def _digits(data):
    text = binascii.hexlify(bytes(data)).decode().upper()
    end = text.find("F")
    return text if end < 0 else text[:end]
