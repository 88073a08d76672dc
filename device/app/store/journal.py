"""The transaction journal of one acquirer application: what void, refund, completion,
settlement, batch upload and reprint need, one compact binary record per event, appended to
an app.store.records.Journal (`journalN.log` under the data root) and never rewritten.

Events: an approved transaction (sale, void, refund, pre-auth, pre-auth cancel, completion,
completion notice, completion void, a contactless sale the card approved offline), and a
confirmed reversal. A void or a reversal is a new record naming the original by batch and
STAN; replaying the journal gives each transaction's state (standing, voided, reversed).
`clear()` after settlement.

An offline sale (OFFLINE_SALE, 60.1 = 36: a qPBOC tap the card approved with a TC) has no
host answer behind it yet: its record carries the IC data the host needs (the PSN and field
55 with the TC) after the sealed card, it counts in the debit totals at once, and it stays
"to upload" (`to_upload`) until an UPLOADED record names it, written once the host has
answered its 0200 (spec section 3.1, "IC offline purchase upload"). A power cut between the
host's answer and that record uploads it again: the host takes it once (same STAN).

Record payload, layout 1 (numbers in BCD, text in ASCII; 62 bytes, then the sealed card):

    0  layout (1) = 1            1  kind (1): 60.1 code (22 sale ...), 0x80 | code = reversal
    2  STAN (3)                  5  batch (3)                 8  amount in fen (6)
    14 date YYYYMMDD (4)         18 time hhmmss (3)           21 RRN (12)
    33 auth code (6)             39 response code (2)         41 field 22 as sent (2)
    43 PAN length (1), first 6 digits (3), last 4 digits (2): the masked PAN
    49 original STAN (3)         52 original batch (3)        55 original date MMDD (2)
    57 operator (2)              59 reversal reason, field 39 of the 0400 (2)
    61 n (1), then n bytes: app.crypto.seal(storage key, PAN "=" expiry YYMM), or n = 0
    then, a chip transaction only: m (1), then m bytes of IC data: an OFFLINE_SALE's the
    application label 50 (when the card gave one), 5F34 PSN, field 55's TLV; a chip or
    contactless sale's what its slip prints (app.txn.chip.SLIP_TAGS, the label first)

The field 22 bytes hold 3 digits and a 4th: 1 for a fallback swipe (the chip failed; the
request's 60.5 = 2), else 0.

The full PAN is kept only sealed under the device storage key (batch upload needs it in its
40-digit records, a void without the card in field 2); never a track, a PIN or a PIN block.

Settlement totals use the acquirer host's rules (docs/hostsim.md, spec §3.4): debit = sales,
completions and completion notices still standing (a refunded one still counts: the refund is
its own credit), credit = refunds; a voided or reversed transaction and its void count in
neither, nor do pre-authorisations.
"""

import binascii
import os

from app.crypto import seal
from app.store.records import Journal

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

# Kinds: field 60.1 of the transaction (spec §3.1).
PREAUTH = const(10)
PREAUTH_CANCEL = const(11)
COMPLETION = const(20)
COMPLETION_VOID = const(21)
SALE = const(22)
SALE_VOID = const(23)
COMPLETION_NOTICE = const(24)
REFUND = const(25)
OFFLINE_SALE = const(36)  # a contactless sale the card approved offline (IC offline purchase)
REVERSAL = const(0x80)  # | the kind reversed
UPLOADED = const(0x40)  # | OFFLINE_SALE: the host has taken the offline sale with this STAN
_MARKS = const(0xC0)  # REVERSAL | UPLOADED: a record about another, not a transaction

_VOIDS = b"\x17\x15\x0b"  # SALE_VOID, COMPLETION_VOID, PREAUTH_CANCEL (`kind in`, no heap)
# In the totals: SALE, COMPLETION, COMPLETION_NOTICE, REFUND, OFFLINE_SALE.
_COUNTED = b"\x16\x14\x18\x19\x24"
_LAYOUT = const(1)
_FIXED = const(61)  # then n and the sealed card
_KIND = const(1)
_STAN = const(2)
_BATCH = const(5)
_AMOUNT = const(8)
_DATE = const(14)
_TIME = const(18)
_RRN = const(21)
_AUTH = const(33)
_CODE = const(39)
_ENTRY = const(41)
_PAN = const(43)
_ORIG_STAN = const(49)
_ORIG_BATCH = const(52)
_ORIG_DATE = const(55)
_OPERATOR = const(57)
_REASON = const(59)
_SEALED = const(61)

# kind code -> name, as the engine's requests are named.
_NAMES = (
    "10 preauth 11 preauth_cancel 20 completion 21 completion_void 22 sale 23 sale_void "
    "24 completion_notice 25 refund 36 offline_sale"
)


def stored(store):
    """Every application's journal the terminal holds, of either layout: the files
    `journalN.log` under the data root and the journals in the journal region (its owners
    under 0x40; the pending-reversal logs are 0x40 and up). What a wipe checks is settled."""
    found = [
        Journal(store.root + "/" + name)
        for name in os.listdir(store.root)
        if name.startswith("journal") and name.endswith(".log")
    ]
    region = store.journal_region
    if region is not None:
        found += [region.journal(owner) for owner in region.owners() if owner < 0x40]
    return found


def kind_name(kind):
    """The request name of a kind code ("sale" for 22); reversals get "reversal/sale", the
    record of an upload "uploaded/offline_sale"."""
    words = _NAMES.split()
    code = "%d" % (kind & ~_MARKS)
    for i in range(0, len(words), 2):
        if words[i] == code:
            prefix = "reversal/" if kind & REVERSAL else "uploaded/" if kind & UPLOADED else ""
            return prefix + words[i + 1]
    return "kind %d" % kind


def _bcd(buf, at, digits):
    buf[at : at + (len(digits) >> 1)] = binascii.unhexlify(digits)


def _put_number(buf, at, size, value):
    # `value` as `size` BCD bytes, right-aligned, with no str on the way: "%06d" % value made
    # one, which MicroPython looks up in its string table (app.txn.receipt says why). With
    # the card's number and its entry mode as bytes, a sale's append took 849,000, now 693,000
    # instructions (callgrind, 64-bit unix port). ValueError if it does not fit.
    i = at + size
    while i > at:
        i -= 1
        low = value % 10
        value //= 10
        buf[i] = (value % 10) << 4 | low
        value //= 10
    if value:
        raise ValueError("%d does not fit %d BCD bytes" % (value, size))


def _number(buf, at, size):
    # The value of `size` BCD bytes as an int, without a string on the way.
    value = 0
    for i in range(at, at + size):
        b = buf[i]
        value = value * 100 + (b >> 4) * 10 + (b & 0x0F)
    return value


def _digits(buf, at, size):
    return binascii.hexlify(buf[at : at + size]).decode()


def _text(buf, at, size):
    # Stripped before it is decoded: one str made, not two.
    return bytes(buf[at : at + size]).strip().decode()


def _padded(text, size):
    text = (text or "").encode()[:size]
    return text + b" " * (size - len(text))


def mask(pan):
    """First 6 and last 4 digits of `pan`, the rest as `*`."""
    if len(pan) <= 10:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


# Entry's numeric and text attributes, each decoded from the record when read: the name's
# position in _ATTRIBUTES (space-separated, one at each end) picks 3 bytes of _DECODE: offset,
# size, and how (0 a BCD number, 1 BCD digits as text, 2 ASCII text).
_ATTRIBUTES = (
    b" stan batch amount date time rrn auth_code response_code entry_mode original_stan"
    b" original_batch original_date operator reason "
)
_DECODE = (
    b"\x02\x03\x00"  # stan: _STAN, 3, number
    b"\x05\x03\x00"  # batch: _BATCH, 3, number
    b"\x08\x06\x00"  # amount: _AMOUNT, 6, number
    b"\x0e\x04\x01"  # date: _DATE, 4, digits
    b"\x12\x03\x01"  # time: _TIME, 3, digits
    b"\x15\x0c\x02"  # rrn: _RRN, 12, text
    b"\x21\x06\x02"  # auth_code: _AUTH, 6, text
    b"\x27\x02\x02"  # response_code: _CODE, 2, text
    b"\x29\x02\x01"  # entry_mode: _ENTRY, 2, digits (the first 3)
    b"\x31\x03\x00"  # original_stan: _ORIG_STAN, 3, number
    b"\x34\x03\x00"  # original_batch: _ORIG_BATCH, 3, number
    b"\x37\x02\x01"  # original_date: _ORIG_DATE, 2, digits
    b"\x39\x02\x02"  # operator: _OPERATOR, 2, text
    b"\x3b\x02\x02"  # reason: _REASON, 2, text
)


class Entry:
    """One journal record, decoded. `status` is "approved", "voided" or "reversed" when the
    entry comes from a replay (find, entries), else "" (not replayed).

    Attributes: sequence, status, kind, name, reversal, stan, batch, amount, date, time, rrn,
    auth_code, response_code, entry_mode, pan_masked, original_stan, original_batch,
    original_date, operator, reason, fallback (a swipe after the chip failed), ic_data (a
    chip transaction's, above: b"" on other kinds). The
    record is kept and each attribute decoded when read:
    decoded once into 20 attributes, an entry was a 0.9 KB object (64-bit unix port), and a
    void holds two (the original and its own) at the install cycle's heap peak.
    """

    # What __getattr__ decodes (annotations only: no class attributes, no heap).
    kind: int
    name: str
    reversal: bool
    stan: int
    batch: int
    amount: int
    date: str
    time: str
    rrn: str
    auth_code: str
    response_code: str
    entry_mode: str
    pan_masked: str
    original_stan: int
    original_batch: int
    original_date: str
    operator: str
    reason: str
    ic_data: bytes
    _sealed: bytes

    def __init__(self, payload, sequence=0):
        self._payload = payload
        self.sequence = sequence
        self.status = ""

    def __getattr__(self, name):
        p = self._payload
        if name == "kind":
            return p[_KIND]
        if name == "name":
            return kind_name(p[_KIND])
        if name == "reversal":
            return bool(p[_KIND] & REVERSAL)
        if name == "pan_masked":
            n = p[_PAN]
            if not n:
                return ""
            first, last = _digits(p, _PAN + 1, 3), _digits(p, _PAN + 4, 2)
            return first + "*" * (n - 10) + last if n > 10 else "*" * n
        if name == "fallback":  # the stripe of a chip card whose chip failed (60.5 = 2)
            return p[_ENTRY + 1] & 0x0F == 1
        if name == "_sealed":
            return bytes(p[_SEALED + 1 : _SEALED + 1 + p[_SEALED]])
        if name == "ic_data":
            at = _SEALED + 1 + p[_SEALED]
            return bytes(p[at + 1 : at + 1 + p[at]]) if at < len(p) else b""
        # The name between two spaces, found in bytes: building " name " made a str, which
        # MicroPython looks up in its string table (app.txn.receipt says why), and a str's
        # find and count walk it character by character (its str is UTF-8). A slip reads a
        # dozen attributes; auth_code took 60,000 instructions, now 22,000 (callgrind, 64-bit
        # unix port).
        key = name.encode()
        at = _ATTRIBUTES.find(key)
        while at > 0 and not (_ATTRIBUTES[at - 1] == 32 and _ATTRIBUTES[at + len(key)] == 32):
            at = _ATTRIBUTES.find(key, at + 1)
        if at <= 0:
            raise AttributeError(name)
        i = 3 * _ATTRIBUTES.count(b" ", 0, at - 1)
        offset, size, how = _DECODE[i], _DECODE[i + 1], _DECODE[i + 2]
        if how == 0:
            return _number(p, offset, size)
        if how == 2:
            return _text(p, offset, size)
        digits = _digits(p, offset, size)
        return digits[:3] if offset == _ENTRY else digits


class TransactionJournal:
    """The journal of application `app_index` in `root` (the record store's root), sealing
    card numbers under `storage_key`. `training`: the training journal (trainingN.log), kept
    apart so that training transactions never reach the real batch or its totals."""

    def __init__(self, root, app_index, storage_key, training=False, region=None):
        name = "training" if training else "journal"
        path = "%s/%s%d.log" % (root, name, app_index)
        self._region = None  # the journal region to move to after the next clear
        self._owner = app_index | 0x80 if training else app_index
        if region is None:
            self._journal = Journal(path)
        else:
            # A journal file is the earlier layout: it stays in use until the settlement
            # that clears it, then the journal moves to the region (clear, below). An empty
            # one (cleared, or never written) goes at once.
            self._journal = region.journal(self._owner)
            if _exists(path):
                old = Journal(path)
                if old.count():
                    self._journal, self._region = old, region
                else:
                    os.remove(path)
        self._key = storage_key
        self._kept = bytearray(0)  # _last()'s copy of the record it found, grown once

    # --- writing -----------------------------------------------------------------------------

    def append(
        self,
        kind,
        stan,
        batch,
        amount,
        date,
        time,
        *,
        rrn="",
        auth_code="",
        response_code="00",
        entry_mode="000",
        pan=None,
        expiry=None,
        original_stan=0,
        original_batch=0,
        original_date="0000",
        operator="",
        reason="",
        ic_data=None,
    ):
        """Append one event; returns its Entry. `date` is YYYYMMDD, `time` hhmmss, `pan` the
        full PAN (sealed here; only its first 6 and last 4 digits stay in clear), `ic_data`
        a chip transaction's IC data (up to 255 bytes of TLV), `entry_mode` field 22 (and
        a 4th digit 1 for a fallback swipe)."""
        buf = bytearray(_FIXED)
        buf[0] = _LAYOUT
        buf[_KIND] = kind
        _put_number(buf, _STAN, 3, stan)
        _put_number(buf, _BATCH, 3, batch)
        _put_number(buf, _AMOUNT, 6, amount)
        _bcd(buf, _DATE, date)
        _bcd(buf, _TIME, time)
        buf[_RRN : _RRN + 12] = _padded(rrn, 12)
        buf[_AUTH : _AUTH + 6] = _padded(auth_code, 6)
        buf[_CODE : _CODE + 2] = _padded(response_code, 2)
        # bytes: no str made (_put_number); a 4th digit 1: a fallback swipe
        _bcd(buf, _ENTRY, (entry_mode.encode() + b"0")[:4])
        sealed = b""
        if pan:
            buf[_PAN] = len(pan)
            card = pan.encode()
            _bcd(buf, _PAN + 1, card[:6])
            _bcd(buf, _PAN + 4, card[-4:])
            card += b"=" + (expiry or "").encode()
            sealed = seal.seal(self._key, card)
            card = None
        _put_number(buf, _ORIG_STAN, 3, original_stan)
        _put_number(buf, _ORIG_BATCH, 3, original_batch)
        _bcd(buf, _ORIG_DATE, original_date)
        buf[_OPERATOR : _OPERATOR + 2] = _padded(operator, 2)
        buf[_REASON : _REASON + 2] = _padded(reason, 2)
        buf.append(len(sealed))
        buf.extend(sealed)
        if ic_data is not None:
            if len(ic_data) > 255:
                raise ValueError("IC data of %d bytes: 255 at most" % len(ic_data))
            buf.append(len(ic_data))
            buf.extend(ic_data)
        sequence = self._journal.append(buf)
        return Entry(buf, sequence)

    def clear(self):
        """Empty the journal (after settlement). A journal of the earlier layout (a LittleFS
        file) is emptied, then removed, and the journal goes on in the region: a power cut
        between the two leaves an empty file, which the next start removes the same way."""
        self._journal.clear()
        region = self._region
        if region is not None:
            os.remove(self._journal.path)
            self._journal = region.journal(self._owner)
            self._region = None

    def room(self):
        """How many more records the journal can take for sure, or None where the flash
        filesystem's free blocks say it (a journal file: the engine counts those)."""
        room = getattr(self._journal, "room", None)
        return room() if room is not None else None

    # --- reading -----------------------------------------------------------------------------
    # Every pass reads the journal through app.store.records.Journal.records(True): one record at a
    # time in a buffer made once, copied only when it is returned. The heap a lookup needs
    # does not grow with the journal, so thousands of records before a settlement cannot
    # make one ask for a block the heap no longer has in one piece.

    def count(self):
        """How many records the journal holds (transactions and reversals), without reading
        it: what the batch capacity counts."""
        return self._journal.count()

    def records(self):
        """Every record as an Entry, oldest first, without replay (status "")."""
        for sequence, p in self._journal.records(True):
            if p[0] == _LAYOUT:
                yield Entry(bytes(p), sequence)

    def card(self, entry):
        """(PAN, expiry or None) of `entry`, unsealed; None if the entry has no card."""
        if not entry._sealed:
            return None
        text = seal.unseal(self._key, entry._sealed).decode()
        pan, _, expiry = text.partition("=")
        return pan, expiry or None

    def _replay(self, batch):
        """(reversed, voided) of `batch`: the STANs with a reversal record, and those a void
        (sale void, completion void, pre-auth cancel) cancels that was not reversed itself.
        One pass, and a second only when a void of the batch was reversed (rare: a power
        cut between the void's record and the end of its reversal record)."""
        reversed_, voided = {}, {}
        void_reversed = False
        for _, p in self._journal.records(True):
            if p[0] != _LAYOUT or _number(p, _BATCH, 3) != batch:
                continue
            kind = p[_KIND]
            if kind & REVERSAL:
                _add(reversed_, _number(p, _STAN, 3))
                void_reversed = void_reversed or (kind & 0x7F) in _VOIDS
            elif kind in _VOIDS and _number(p, _ORIG_BATCH, 3) == batch:
                _add(voided, _number(p, _ORIG_STAN, 3))
        if void_reversed:
            voided = {}
            for _, p in self._journal.records(True):
                if p[0] != _LAYOUT or p[_KIND] not in _VOIDS:
                    continue
                if _number(p, _BATCH, 3) == batch and _number(p, _ORIG_BATCH, 3) == batch:
                    if not _has(reversed_, _number(p, _STAN, 3)):
                        _add(voided, _number(p, _ORIG_STAN, 3))
        return reversed_, voided

    @staticmethod
    def _status(stan, replay):
        if _has(replay[0], stan):
            return "reversed"
        if _has(replay[1], stan):
            return "voided"
        return "approved"

    def entries(self, batch):
        """The transactions of `batch` (reversal records left out), oldest first, each with
        its `status` after replay."""
        replay = self._replay(batch)
        for sequence, p in self._journal.records(True):
            if p[0] != _LAYOUT or p[_KIND] & _MARKS or _number(p, _BATCH, 3) != batch:
                continue
            entry = Entry(bytes(p), sequence)
            entry.status = self._status(_number(p, _STAN, 3), replay)
            yield entry

    def find(self, stan, batch, kinds=None):
        """The last transaction of `batch` with `stan` (and a kind in `kinds`), with its
        status; None if there is none. One pass, whatever the journal's length: what a void
        looks up before the cashier confirms."""
        found = None
        sequence = 0
        reversed_ = False
        voids = []  # STANs of the voids of it that stand: one, or more only if some were reversed
        for at, p in self._journal.records(True):
            if p[0] != _LAYOUT or _number(p, _BATCH, 3) != batch:
                continue
            kind = p[_KIND]
            if kind & UPLOADED:
                continue
            number = _number(p, _STAN, 3)
            if kind & REVERSAL:
                # A reversal follows the record it reverses, if that was ever written.
                if number == stan:
                    reversed_ = True
                elif number in voids:
                    voids.remove(number)
            elif number == stan and (kinds is None or kind in kinds):
                found, sequence = bytes(p), at
            elif kind in _VOIDS and _number(p, _ORIG_STAN, 3) == stan:
                if _number(p, _ORIG_BATCH, 3) == batch:
                    voids.append(number)
        if found is None:
            return None
        entry = Entry(found, sequence)
        entry.status = "reversed" if reversed_ else "voided" if voids else "approved"
        return entry

    def _last(self, kind, at, size, text):
        # The last record of `kind` (None: any transaction, not a reversal) whose `size`
        # bytes of text at `at` read `text` (None: any), copied out of the scan.
        want = _padded(text, size) if text is not None else None
        kept = self._kept
        length = sequence = 0
        for number, p in self._journal.records(True):
            if p[0] != _LAYOUT:
                continue
            if kind is None:
                if p[_KIND] & _MARKS:
                    continue
            elif p[_KIND] != kind:
                continue
            if want is not None and not _equal(p, at, want):
                continue
            # Copied at once (the scan's buffer holds the next record in a moment), into a
            # buffer of the journal's: "the last of" copies many, and keeps one.
            length, sequence = len(p), number
            if length > len(kept):
                kept = self._kept = bytearray(length)
            kept[:length] = p
        return Entry(bytes(kept[:length]), sequence) if length else None

    def find_auth(self, auth_code, kind=PREAUTH):
        """The last record of `kind` with `auth_code`, any batch (status not replayed)."""
        return self._last(kind, _AUTH, 6, auth_code)

    def find_rrn(self, rrn):
        """The last record with RRN `rrn` (status not replayed), or None."""
        return self._last(None, _RRN, 12, rrn)

    def last(self):
        """The newest transaction record (not a reversal), or None: "reprint last"."""
        return self._last(None, 0, 0, None)

    def is_empty(self):
        return self._journal.count() == 0

    def mark(self):
        """(generation, count): changes with every record appended and every clear. A pending
        reversal's record notes it (app.txn.reversal): the journal's next record ends it. A
        journal file (no journal region) has generation 0 whatever it went through."""
        epoch = getattr(self._journal, "epoch", None)
        return (epoch() if epoch is not None else 0), self._journal.count()

    def standing(self, batch):
        """The transactions of `batch` that count in the settlement totals (see the module
        docstring), as Entries; `entry.kind == REFUND` is a credit."""
        replay = self._replay(batch)
        for sequence, p in self._journal.records(True):
            if p[0] != _LAYOUT or _number(p, _BATCH, 3) != batch or p[_KIND] not in _COUNTED:
                continue
            if self._status(_number(p, _STAN, 3), replay) == "approved":
                yield Entry(bytes(p), sequence)

    def to_upload(self, batch):
        """The offline sales of `batch` the host has not taken yet (no UPLOADED record names
        them), oldest first: what settlement sends (0200, 60.1 = 36) before its 0500."""
        done = {}
        for _, p in self._journal.records(True):
            if p[0] == _LAYOUT and p[_KIND] == UPLOADED | OFFLINE_SALE:
                if _number(p, _BATCH, 3) == batch:
                    _add(done, _number(p, _STAN, 3))
        for sequence, p in self._journal.records(True):
            if p[0] != _LAYOUT or p[_KIND] != OFFLINE_SALE or _number(p, _BATCH, 3) != batch:
                continue
            if not _has(done, _number(p, _STAN, 3)):
                yield Entry(bytes(p), sequence)

    def uploaded(self, entry):
        """Record that the host has taken offline sale `entry` (its 0200 answered)."""
        return self.append(
            UPLOADED | OFFLINE_SALE, entry.stan, entry.batch, entry.amount, entry.date, entry.time
        )

    def totals(self, batch):
        """(debit amount, debit count, credit amount, credit count) of `batch`, in fen."""
        replay = self._replay(batch)
        debit = debit_count = credit = credit_count = 0
        for _, p in self._journal.records(True):
            if p[0] != _LAYOUT or _number(p, _BATCH, 3) != batch:
                continue
            kind = p[_KIND]
            if kind not in _COUNTED:
                continue
            if self._status(_number(p, _STAN, 3), replay) != "approved":
                continue
            if kind == REFUND:
                credit += _number(p, _AMOUNT, 6)
                credit_count += 1
            else:
                debit += _number(p, _AMOUNT, 6)
                debit_count += 1
        return debit, debit_count, credit, credit_count


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _equal(p, at, want):
    # p[at:at + len(want)] == want, without a slice (a memoryview compares by identity).
    for i in range(len(want)):
        if p[at + i] != want[i]:
            return False
    return True


# A set of STANs (1-999999) as bits in a dict of 256-byte pieces of 2048 STANs each, made
# only for the ranges used: a batch's STANs run in sequence, so its few thousand take one or
# two pieces. A set of ints held the same as a hash table that grew in one block (11 KB for
# 1,100 voids on the ESP32), which a fragmented heap could not give.


def _add(stans, stan):
    piece = stans.get(stan >> 11)
    if piece is None:
        piece = stans[stan >> 11] = bytearray(256)
    piece[(stan & 2047) >> 3] |= 1 << (stan & 7)


def _has(stans, stan):
    piece = stans.get(stan >> 11)
    return piece is not None and piece[(stan & 2047) >> 3] & (1 << (stan & 7)) != 0
