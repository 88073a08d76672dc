"""Application selection on a contact card (EMV 4.3 Book 1 12; PBOC 3.0 part 6 11.3), for
app.emv.kernel.

    candidates = select.candidates(send, aids)   # [Candidate], priority order; [] no match
    fci = select.final(send, candidate)           # the application's FCI, or SelectionError

`send(apdu) -> (bytes data, sw)` is the kernel's card command; `aids` the terminal's list of
(AID bytes, partial match allowed) from the AID parameters (DF01 00: partial allowed).
First the Payment System Environment (1PAY.SYS.DDF01) and its directory (Book 1 12.3.2);
when the card has none, each of the terminal's AIDs is selected by name, with "next
occurrence" for a partial match (12.3.3). A blocked application (SELECT answers 62 83) is
left out; the list is ordered by the Application Priority Indicator (87: 1 first, 0 or none
last).
"""

from app.emv import tlv

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

PSE = b"1PAY.SYS.DDF01"
_MAX_CANDIDATES = const(8)  # an 8-entry list is more than any card holds (two-apps: 2)
_MAX_RECORDS = const(16)  # directory records read at most
_MAX_OCCURRENCES = const(8)  # SELECT next occurrence at most, per terminal AID
SW_OK = const(0x9000)
SW_BLOCKED = const(0x6283)  # selected file invalidated: a blocked application
SW_CARD_BLOCKED = const(0x6A81)  # function not supported: a blocked card (Book 1 12.3.2)
SW_NOT_FOUND = const(0x6A82)
SW_NO_RECORD = const(0x6A83)


class SelectionError(Exception):
    """Selection failed: `reason` is "card_blocked" (6A81 to SELECT PSE: stop, no fallback),
    "card_status" (an answer neither data nor a known refusal), or "card_data" (an FCI or
    directory that does not parse)."""

    def __init__(self, reason, detail=""):
        super().__init__(detail or reason)
        self.reason = reason


class Candidate:
    """One mutually supported application: `aid` (the card's DF name), `label` (50, text),
    `priority` (87's low nibble, 0 = none), `confirm` (87's bit 8: the cardholder must
    confirm), `terminal_aid` (the terminal's list entry it matched)."""

    def __init__(self, aid, label, priority_indicator, terminal_aid):
        self.aid = bytes(aid)
        self.label = label
        self.priority = priority_indicator & 0x0F
        self.confirm = bool(priority_indicator & 0x80)
        self.terminal_aid = terminal_aid


def _select(send, name, next_occurrence=False):
    apdu = bytearray(6 + len(name))
    apdu[0:4] = b"\x00\xa4\x04\x02" if next_occurrence else b"\x00\xa4\x04\x00"
    apdu[4] = len(name)
    apdu[5 : 5 + len(name)] = name  # Le 00 last
    return send(apdu)


def _matches(aid, terminal_aid, partial):
    # The card's `aid` matches the terminal's: exactly, or by its start when the terminal
    # allows a partial match for it (Book 1 12.3.1).
    return aid == terminal_aid or (partial and aid[: len(terminal_aid)] == terminal_aid)


def _match(aid, aids):
    # The terminal's entry the card's `aid` matches, or None.
    for terminal_aid, partial in aids:
        if _matches(aid, terminal_aid, partial):
            return terminal_aid
    return None


def _text(value):
    try:
        return bytes(value).decode()
    except UnicodeError:
        return ""


def _add(out, aid, label, indicator, terminal_aid):
    # A candidate from its directory entry or FCI: `label` (50) and `indicator` (87) as found
    # there, or None.
    if len(out) < _MAX_CANDIDATES:
        out.append(
            Candidate(
                aid,
                _text(label) if label is not None else "",
                indicator[0] if indicator is not None and len(indicator) else 0,
                terminal_aid,
            )
        )


def candidates(send, aids):
    """The candidate list (Book 1 12.3): [Candidate] in priority order. SelectionError for a
    blocked card; a card with neither PSE nor any listed AID gives []."""
    try:
        out = _from_pse(send, aids)
    except tlv.TlvError:
        out = None  # a PSE that does not parse: the list of AIDs instead (Book 1 12.3.2)
    if out is None:
        out = _from_list(send, aids)
    # A stable sort: priority 1..15 first in order, 0 (none) last; equal ones as found.
    keyed = [((c.priority or 16) * 64 + i, c) for i, c in enumerate(out)]
    keyed.sort(key=lambda pair: pair[0])
    return [c for _, c in keyed]


def _from_pse(send, aids):
    # Book 1 12.3.2: SELECT PSE, READ RECORD of its directory SFI (88) until 6A83; each
    # record's 61 entries (ADF entries: 4F, 50, 87). None: no PSE, use the list of AIDs.
    data, sw = _select(send, PSE)
    if sw == SW_CARD_BLOCKED:
        raise SelectionError("card_blocked", "SELECT PSE: 6A81")
    if sw != SW_OK:
        return None
    sfi = tlv.find(data, 0x88)
    if sfi is None or len(sfi) != 1 or not 1 <= sfi[0] <= 10:
        return None
    sfi = sfi[0]
    out = []
    for number in range(1, _MAX_RECORDS + 1):
        data, sw = send(bytes((0x00, 0xB2, number, sfi << 3 | 4, 0x00)))
        if sw == SW_NO_RECORD:
            break
        if sw != SW_OK:
            return None if number == 1 else out
        record = tlv.parse(data)
        if not record or record[0][0] != 0x70:
            raise tlv.TlvError(tlv.TlvError.PAST_END, 0)
        for tag, entry in tlv.iterate(record[0][1]):
            if tag != 0x61:
                continue  # a DDF (9D) entry: PBOC directories hold none we follow
            aid = tlv.find(entry, 0x4F)
            if aid is None:
                continue
            aid = bytes(aid)
            terminal_aid = _match(aid, aids)
            if terminal_aid is None:
                continue
            _add(out, aid, tlv.find(entry, 0x50), tlv.find(entry, 0x87), terminal_aid)
    return out


def _from_list(send, aids):
    # Book 1 12.3.3: each terminal AID selected by name; a partial match asks the next
    # occurrence until the card says 6A82; a blocked application (6283) is left out.
    out = []
    for terminal_aid, partial in aids:
        next_occurrence = False
        for _ in range(_MAX_OCCURRENCES):
            data, sw = _select(send, terminal_aid, next_occurrence)
            if sw == SW_CARD_BLOCKED and not out and not next_occurrence:
                raise SelectionError("card_blocked", "SELECT: 6A81")
            if sw not in (SW_OK, SW_BLOCKED):
                break
            label = indicator = None
            try:
                name = tlv.find(data, 0x84)
                label = tlv.find(data, 0x50)
                indicator = tlv.find(data, 0x87)
            except tlv.TlvError:
                name = None
            if name is None:
                break
            name = bytes(name)
            if sw == SW_OK and _matches(name, terminal_aid, partial):
                _add(out, name, label, indicator, terminal_aid)
            if not partial:
                break
            next_occurrence = True
    return out


def final(send, candidate):
    """SELECT `candidate` (Book 1 12.4): its FCI's A5 as {tag: bytes} (9F38 PDOL, 50 label,
    5F2D languages, 9F11, 9F12) or None when the card refuses it (the kernel drops it and
    offers the rest)."""
    data, sw = _select(send, candidate.aid)
    if sw != SW_OK:
        return None
    fci = {}
    try:
        name = tlv.find(data, 0x84)
        a5 = tlv.find(data, 0xA5)
        if name is None or bytes(name) != candidate.aid or a5 is None:
            return None
        for tag, value in tlv.iterate(a5):
            if not tlv.constructed(tag):
                fci[tag] = bytes(value)
    except tlv.TlvError:
        return None
    return fci
