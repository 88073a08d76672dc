"""The terminal's decisions in a contact chip transaction, for app.emv.kernel: processing
restrictions, cardholder verification, terminal risk management and terminal action analysis
(EMV 4.3 Book 3 10.4 to 10.7; PBOC 3.0 part 5 chapter 7). Each reads the card's data
(`card`: {tag: bytes-like}) and the terminal's (`term`: app.emv.terminal.TerminalData) and
sets TVR/TSI bits in `term`; none sends a command except `velocity` (GET DATA, through
`send`).
"""

import os

from app.emv import terminal as t

# AUC (9F07) byte 1 bits (Book 3 Annex C2) a terminal that is not an ATM checks.
_AUC_DOMESTIC_CASH = 0x80
_AUC_INTERNATIONAL_CASH = 0x40
_AUC_DOMESTIC_GOODS = 0x20
_AUC_INTERNATIONAL_GOODS = 0x10
_AUC_DOMESTIC_SERVICES = 0x08
_AUC_INTERNATIONAL_SERVICES = 0x04
_AUC_NOT_ATM = 0x01

# CVM codes (Book 3 Annex C3, b6-b1 of the first byte) and the 9F33 byte 2 bit each needs.
CVM_FAIL = 0x00
CVM_OFFLINE_PIN = 0x01
CVM_ONLINE_PIN = 0x02
CVM_OFFLINE_PIN_SIGNATURE = 0x03
CVM_ENCIPHERED_OFFLINE_PIN = 0x04
CVM_ENCIPHERED_OFFLINE_PIN_SIGNATURE = 0x05
CVM_SIGNATURE = 0x1E
CVM_NONE = 0x1F
_CVM_NEEDS = {
    CVM_OFFLINE_PIN: 0x80,
    CVM_ONLINE_PIN: 0x40,
    CVM_OFFLINE_PIN_SIGNATURE: 0xA0,
    CVM_ENCIPHERED_OFFLINE_PIN: 0x10,
    CVM_ENCIPHERED_OFFLINE_PIN_SIGNATURE: 0x30,
    CVM_SIGNATURE: 0x20,
    CVM_NONE: 0x08,
}
_APPLY_NEXT = 0x40  # the CVM's b7: apply the next rule when this one fails
_UNKNOWN, _FAILED, _SUCCESSFUL = 0, 1, 2  # 9F34 byte 3


def _date(yymmdd):
    # A BCD YYMMDD as an int YYYYMMDD (years 00-49 are 20xx: Book 3 Annex A's rule); None
    # when it is not BCD.
    value = 0
    for byte in bytes(yymmdd):
        if byte >> 4 > 9 or byte & 0x0F > 9:
            return None
        value = value * 100 + (byte >> 4) * 10 + (byte & 0x0F)
    year = value // 10000
    return value + (20000000 if year < 50 else 19000000)


def bcd_number(data):
    """The number a BCD field holds (n2 percentages, n12 amounts); 0 for bad digits."""
    value = 0
    for byte in bytes(data):
        if byte >> 4 > 9 or byte & 0x0F > 9:
            return 0
        value = value * 100 + (byte >> 4) * 10 + (byte & 0x0F)
    return value


def restrictions(card, term):
    """Book 3 10.4: application versions, usage control, effective and expiry dates."""
    version = card.get(0x9F08)
    mine = term.tags.get(0x9F09)
    if version is not None and mine is not None and bytes(version) != mine:
        term.set_tvr(t.VERSIONS_DIFFER)
    auc = card.get(0x9F07)
    if auc is not None and len(auc) >= 1:
        country = card.get(0x5F28)
        domestic = country is not None and bytes(country) == term.tags[0x9F1A]
        if term.kind == "cash":
            need = _AUC_DOMESTIC_CASH if domestic else _AUC_INTERNATIONAL_CASH
        else:  # goods or services: either does (a shop's sale is goods, a hotel's services)
            need = (
                _AUC_DOMESTIC_GOODS | _AUC_DOMESTIC_SERVICES
                if domestic
                else _AUC_INTERNATIONAL_GOODS | _AUC_INTERNATIONAL_SERVICES
            )
        if not auc[0] & _AUC_NOT_ATM or not auc[0] & need:
            term.set_tvr(t.SERVICE_NOT_ALLOWED)
    today = _date(term.tags[0x9A]) or 0
    effective = card.get(0x5F25)
    if effective is not None:
        start = _date(effective)
        if start is None or today < start:
            term.set_tvr(t.NOT_YET_EFFECTIVE)
    expiry = _date(card[0x5F24])  # mandatory: the kernel checked it is there
    if expiry is None or today > expiry:
        term.set_tvr(t.EXPIRED)


def _condition(code, condition, x, y, card, term):
    # Book 3 10.5 / Annex C3: whether the rule's condition holds for this transaction.
    if condition == 0x00:
        return True
    if condition == 0x01:  # unattended cash
        return False
    if condition == 0x02:  # not unattended cash, not manual cash, not purchase with cashback
        return term.kind != "cash" and not bcd_number(term.tags[0x9F03])
    if condition == 0x03:  # the terminal supports the CVM
        return supported(code, term)
    if condition == 0x04:  # manual cash
        return term.kind == "cash"
    if condition == 0x05:  # purchase with cashback
        return bcd_number(term.tags[0x9F03]) > 0
    if 0x06 <= condition <= 0x09:
        # Amounts X and Y are in the application's currency: only when it is the
        # transaction's (Book 3 10.5); else the rule does not apply.
        currency = card.get(0x9F42)
        if currency is None or bytes(currency) != term.tags[0x5F2A]:
            return False
        amount = term.amount
        limit = x if condition < 0x08 else y
        return amount < limit if condition in (0x06, 0x08) else amount > limit
    return False  # a condition this terminal does not know: the rule is skipped


def supported(code, term):
    """Whether the terminal supports CVM `code` (9F33 byte 2; online PIN also needs the
    AID's online PIN capability DF18, when the parameters give it)."""
    if code == CVM_FAIL:
        return True
    need = _CVM_NEEDS.get(code)
    if need is None:
        return False
    if term.tags[0x9F33][1] & need != need:
        return False
    if code == CVM_ONLINE_PIN:
        capability = term.params.get(0xDF18)
        if capability is not None and capability[:1] != b"\x01":
            return False
    return True


def cardholder_verification(card, term, pin):
    """Book 3 10.5: the first CVM rule of the list (8E) whose condition holds and which
    succeeds. `pin()` asks the cardholder for the online PIN (True: entered, False: bypassed;
    None: no PIN pad). Returns the CVM performed: "online_pin", "signature", "none" or
    "failed"; 9F34 set in `term`."""
    term.set_tsi(t.TSI_CVM)
    cvm_list = card.get(0x8E)
    if cvm_list is None or len(cvm_list) < 10 or len(cvm_list) % 2:
        if cvm_list is None or len(cvm_list) < 10:
            term.set_tvr(t.ICC_DATA_MISSING)
        term.set(0x9F34, b"\x3f\x00\x00")
        return "none"
    cvm_list = bytes(cvm_list)
    x = int.from_bytes(cvm_list[0:4], "big")
    y = int.from_bytes(cvm_list[4:8], "big")
    last = None
    for i in range(8, len(cvm_list), 2):
        rule, condition = cvm_list[i], cvm_list[i + 1]
        code = rule & 0x3F
        if not _condition(code, condition, x, y, card, term):
            continue
        last = (rule, condition)
        done = _perform(code, term, pin)
        if done is not None:
            term.set(0x9F34, bytes((rule, condition, _SUCCESSFUL if done == "none" else _UNKNOWN)))
            return done
        if not rule & _APPLY_NEXT:
            break
    term.set_tvr(t.CVM_FAILED)
    if last is None:
        term.set(0x9F34, b"\x3f\x00\x01")  # no rule applied
    else:
        term.set(0x9F34, bytes((last[0], last[1], _FAILED)))
    return "failed"


def _perform(code, term, pin):
    # One CVM: its name when it succeeded (or its result is unknown until later), None when it
    # failed and the list may go on.
    if code == CVM_FAIL:
        return None
    if code not in _CVM_NEEDS:
        term.set_tvr(t.UNRECOGNISED_CVM)
        return None
    if not supported(code, term):
        if code in (CVM_OFFLINE_PIN, CVM_ONLINE_PIN, CVM_ENCIPHERED_OFFLINE_PIN):
            term.set_tvr(t.PIN_PAD_MISSING)
        return None
    if code == CVM_ONLINE_PIN:
        entered = None if pin is None else pin()
        if entered is None:
            term.set_tvr(t.PIN_PAD_MISSING)
            return None
        if not entered:
            term.set_tvr(t.PIN_NOT_ENTERED)
            return None
        term.set_tvr(t.ONLINE_PIN_ENTERED)
        return "online_pin"
    if code == CVM_SIGNATURE:
        return "signature"
    if code == CVM_NONE:
        return "none"
    return None  # offline PIN: this terminal's 9F33 does not offer it


def risk_management(card, term, send):
    """Book 3 10.6: floor limit, random transaction selection, velocity checking."""
    term.set_tsi(t.TSI_TERMINAL_RISK)
    floor = term.floor_limit()
    amount = term.amount
    if amount >= floor:
        term.set_tvr(t.OVER_FLOOR_LIMIT)
    else:
        _random_selection(term, amount, floor)
    velocity(card, term, send)


def _random_selection(term, amount, floor):
    # Book 3 10.6.2: below the threshold, the target percentage; between threshold and floor
    # limit, a percentage rising linearly to the maximum.
    params = term.params
    threshold = params.get(0xDF15)
    threshold = int.from_bytes(threshold, "big") if threshold else 0
    target = bcd_number(params.get(0xDF17) or b"\x00")
    maximum = bcd_number(params.get(0xDF16) or b"\x00")
    if target == 0 and maximum == 0:
        return
    number = os.urandom(1)[0] % 99 + 1  # 1..99
    if amount < threshold:
        chance = target
    elif floor > threshold:
        chance = target + (maximum - target) * (amount - threshold) // (floor - threshold)
    else:
        chance = maximum
    if number <= chance:
        term.set_tvr(t.RANDOM_SELECTION)


def velocity(card, term, send):
    """Book 3 10.6.3: with the card's lower and upper consecutive offline limits (9F14, 9F23),
    the ATC and the last online ATC by GET DATA."""
    lower, upper = card.get(0x9F14), card.get(0x9F23)
    if lower is None or upper is None:
        return
    atc = _get_data(send, 0x9F36)
    last = _get_data(send, 0x9F13)
    if atc is None or last is None or atc <= last:
        term.set_tvr(t.LOWER_OFFLINE_LIMIT)
        term.set_tvr(t.UPPER_OFFLINE_LIMIT)
    else:
        if atc - last > lower[0]:
            term.set_tvr(t.LOWER_OFFLINE_LIMIT)
        if atc - last > upper[0]:
            term.set_tvr(t.UPPER_OFFLINE_LIMIT)
    if last == 0:
        term.set_tvr(t.NEW_CARD)


def _get_data(send, tag):
    data, sw = send(bytes((0x80, 0xCA, tag >> 8, tag & 0xFF, 0x00)))
    if sw != 0x9000 or len(data) != 5 or data[0] != tag >> 8 or data[1] != tag & 0xFF:
        return None
    return data[3] << 8 | data[4]


def _codes(card, term, card_tag, term_tag, absent):
    # The IAC and TAC of one kind as ints of 40 bits (absent IAC: `absent`, Book 3 10.7).
    iac = card.get(card_tag)
    tac = term.params.get(term_tag)
    iac = int.from_bytes(bytes(iac), "big") if iac is not None and len(iac) == 5 else absent
    tac = int.from_bytes(bytes(tac), "big") if tac is not None and len(tac) == 5 else 0
    return iac | tac


_ALL = 0xFFFFFFFFFF


def action_analysis(card, term, offline_allowed):
    """Book 3 10.7: the cryptogram to ask for at the first GENERATE AC: "AAC", "ARQC" or
    "TC". Denial codes first; then online ones (a terminal that may approve offline asks a
    TC when none matches, else an ARQC)."""
    tvr = int.from_bytes(bytes(term.tvr), "big")
    if tvr & _codes(card, term, 0x9F0E, 0xDF13, 0):
        return "AAC"
    if not offline_allowed or tvr & _codes(card, term, 0x9F0F, 0xDF12, _ALL):
        return "ARQC"
    return "TC"


def default_action(card, term):
    """Book 3 10.7, unable to go online: "AAC" when the TVR matches the default codes (an
    absent IAC-default counts as all ones), else "TC"."""
    tvr = int.from_bytes(bytes(term.tvr), "big")
    return "AAC" if tvr & _codes(card, term, 0x9F0D, 0xDF11, _ALL) else "TC"
