"""The downloads the host asks for at sign-on: its CA public keys (header processing
requirement 4), its IC application parameters (5), its card black list (7) and its
contactless parameters (9), spec §1, §3.2; docs/iso8583.md §13.

    from app.txn import icdownload
    icdownload.run(engine, 4, result)     # result.notes: "CA keys: 5 loaded, check 1A2B3C4D"

One download is three steps, as management messages with no STAN (no field 11, the counter
untouched: spec §3.2):

    query    0820 60.3 372 (AIDs: 382)  62 = "1" + NN, entries received so far (2 digits)
             answer 62 = control + TLV entries: 9F06 RID, 9F22 index, DF05 expiry (AIDs: 9F06)
             control "2": more to come, ask again; "1" (or "0", none): the list is complete
    download 0800 60.3 370 (380)  62 = 9F06 05 RID 9F22 01 index (AIDs: 9F06 len AID)
             answer 62 = "1" + the entry's TLV; anything else: the host has no such entry
    end      0800 60.3 371 (381)  no 62; sent once the new set is on flash

The black list (7) is pages of entries, no query (spec §3.2 gives 390 and 391 only):

    download 0800 60.3 390  62 = "1" + NNN, entries received so far (3 digits)
             answer 62 = control ("2" more, "1" the last page, "0" none) + entries, each
             LL + LL digits (blacklist_layout prefix) or LL + 2 x LL digits (range)
    end      0800 60.3 391  no 62

The contactless parameters (9) are one entry (the spec names no message: the codes are the
parameter contactless_codes, "394,395" when absent):

    download 0800 60.3 394  no 62; answer 62 = "1" + TLV: DF19, DF20, DF21, 9F7B (n12 each);
                            "0": the host has none (an empty set: the AIDs' own limits)
    end      0800 60.3 395  no 62

What it guarantees: every CA key's check value (DF03) is verified, every black list entry
and contactless limit is checked (a bad one is refused by name), SHA-1 over RID, index,
modulus and exponent (EMV Book 2, §11.2.2), and every answer must name the entry asked
for; a refused entry, an answer missing, a broken line or a power cut leave the old set
(app.store.icsets writes the new one an entry at a time and puts it in place at once) and
send no end message, so the host asks again at the next sign-on. The end message goes after
the new set is in place: a power cut between them costs one more download, never a set the
host believes the terminal has and it lacks. Failures are raised as EngineError, which the
engine notes on the sign-on's result (the sign-on itself stays approved).

Imported only while a download runs (app.txn.engine), with app.store.icsets (and
app.store.blacklist for a black list).
"""

import hashlib

from app import message
from app.comm.frames import CommError
from app.store.icsets import (
    AID,
    BLACKLIST,
    CAPK,
    CONTACTLESS,
    CONTACTLESS_TAGS,
    MAX_ENTRIES,
    TAG_AID,
    TAG_CHECK,
    TAG_EXPONENT,
    TAG_INDEX,
    TAG_MODULUS,
    ICSets,
    TlvError,
    items,
    tlv,
)
from app.txn.api import EngineError
from app.txn.messages import ResponseError

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_MORE = const(0x32)  # "2" in the control byte of a query's answer
_FOUND = const(0x31)  # "1" before a downloaded entry

_M_REFUSED = const(0)
_M_NO_LIST = const(1)
_M_TOO_MANY = const(2)
_M_NOT_SENT = const(3)
_M_OTHER = const(4)
_M_CHECK = const(5)
_M_MISSING = const(6)
_M_DAMAGED = const(7)
_M_LOADED = const(8)
_M_FLASH = const(9)
_M_END = const(10)
_M_BAD_ENTRY = const(11)
_M_BAD_LIMIT = const(12)
_MESSAGES = (
    "|%s: the host answered %s to %s, the old set kept"  # _M_REFUSED
    "|%s: the host's list (62) is missing or damaged, the old set kept"  # _M_NO_LIST
    "|%s: the host lists more than %d, the old set kept"  # _M_TOO_MANY
    "|%s %s: the host does not send it, the old set kept"  # _M_NOT_SENT
    "|%s %s: the host sent another entry, the old set kept"  # _M_OTHER
    "|%s %s: check value (DF03) does not match: refused, the old set kept"  # _M_CHECK
    "|%s %s: %s is missing, the old set kept"  # _M_MISSING
    "|%s %s: the entry does not parse (%s), the old set kept"  # _M_DAMAGED
    "|%s: %d loaded, check %s"  # _M_LOADED
    "|%s: flash: %s, the old set kept"  # _M_FLASH
    "|%s: loaded, but the end message failed (%s): the host asks again"  # _M_END
    "|%s: entry %d (%s) refused: %s; the old list kept"  # _M_BAD_ENTRY
    "|%s: %X is not an amount of 12 digits, the old set kept"  # _M_BAD_LIMIT
    "|"
)


def _text(number, args=None):
    return message(_MESSAGES, number, args)


def _hex(data):
    return "".join("%02X" % b for b in data)


def _label(kind):
    if kind == CAPK:
        return "CA keys"
    if kind == AID:
        return "IC parameters"
    return "Black list" if kind == BLACKLIST else "Contactless parameters"


def _codes(engine, kind):
    # (download, end) 60.3 codes of set `kind` (4, 5: the query's is the download's + 2).
    if kind == CONTACTLESS:
        codes = engine.params["contactless_codes"] or "394,395"
        return codes[:3], codes[4:]
    return {CAPK: ("370", "371"), AID: ("380", "381"), BLACKLIST: ("390", "391")}[kind]


def _ask(engine, mti, code, data, kind):
    # One management exchange without a STAN; an answer other than 00 ends the download.
    fields = engine._management_fields(0, code)
    if data is not None:
        fields[62] = data
    msg = engine._exchange(mti, fields)
    answer = msg.fields.get(39)
    if answer != "00":
        raise EngineError("invalid", _text(_M_REFUSED, (_label(kind), answer, code)))
    return msg.fields.get(62)


def _query(engine, kind):
    # The host's list: [(RID, index)] of CA keys, or [(AID, None)].
    listed = []
    code = "372" if kind == CAPK else "382"
    while True:
        data = _ask(engine, "0820", code, b"1%02d" % len(listed), kind)
        if not data:
            raise EngineError("invalid", _text(_M_NO_LIST, _label(kind)))
        try:
            entry = None
            for tag, value in items(memoryview(data)[1:]):
                if tag == TAG_AID:
                    entry = [bytes(value), None]
                    listed.append(entry)
                elif tag == TAG_INDEX and entry is not None and len(value) == 1:
                    entry[1] = value[0]
        except TlvError:
            raise EngineError("invalid", _text(_M_NO_LIST, _label(kind)))
        if len(listed) > MAX_ENTRIES:
            raise EngineError("invalid", _text(_M_TOO_MANY, (_label(kind), MAX_ENTRIES)))
        if data[0] != _MORE:
            return listed
        if entry is None:  # "more" with nothing in this answer: it would never end
            raise EngineError("invalid", _text(_M_NO_LIST, _label(kind)))


def _name(kind, wanted):
    return _hex(wanted[0]) + ("" if wanted[1] is None else " %02X" % wanted[1])


def _fetch(engine, code, request, kind, name, none_ok=False):
    # One entry the host sends as "1" + its TLV: (the TLV, {tag: value}); (b"", {}) for "0"
    # where `none_ok`; EngineError naming the entry otherwise.
    label = _label(kind)
    data = _ask(engine, "0800", code, request, kind)
    if none_ok and data and len(data) == 1 and data[0] == 0x30:
        return b"", {}
    if not data or data[0] != _FOUND:
        raise EngineError("invalid", _text(_M_NOT_SENT, (label, name)))
    entry = bytes(memoryview(data)[1:])
    try:
        return entry, tlv(entry)
    except TlvError as exc:
        raise EngineError("invalid", _text(_M_DAMAGED, (label, name, exc)))


def _download(engine, kind, wanted):
    # One entry's TLV as the host sent it, checked.
    aid, index = wanted
    label, name = _label(kind), _name(kind, wanted)
    code = "370" if kind == CAPK else "380"
    request = b"\x9f\x06" + bytes((len(aid),)) + aid
    if kind == CAPK:
        request += b"\x9f\x22\x01" + bytes((index,))
    entry, fields = _fetch(engine, code, request, kind, name)
    got_index = fields.get(TAG_INDEX)
    if fields.get(TAG_AID) != aid or (kind == CAPK and got_index != bytes((index,))):
        raise EngineError("invalid", _text(_M_OTHER, (label, name)))
    if kind == CAPK:
        for tag in (TAG_MODULUS, TAG_EXPONENT, TAG_CHECK):
            if tag not in fields:
                raise EngineError("invalid", _text(_M_MISSING, (label, name, "%X" % tag)))
        check = ca_check_value(aid, index, fields[TAG_MODULUS], fields[TAG_EXPONENT])
        if check != fields[TAG_CHECK]:
            raise EngineError("key_check", _text(_M_CHECK, (label, name)))
    return entry


def _blacklist(engine, writer):
    # The host's pages of entries, each checked and written as it comes (app.store.blacklist).
    from app.store import blacklist

    label = _label(BLACKLIST)
    layout = engine.params["blacklist_layout"] or "prefix"
    per_digit = 2 if layout == "range" else 1
    while True:
        data = _ask(engine, "0800", "390", b"1%03d" % writer.count, BLACKLIST)
        if not data:
            raise EngineError("invalid", _text(_M_NO_LIST, label))
        pos, end, before = 1, len(data), writer.count
        while pos < end:
            head = bytes(data[pos : pos + 2])
            size = int(head) if len(head) == 2 and head.isdigit() else 0
            piece = bytes(data[pos : pos + 2 + size * per_digit] if size else data[pos:end])
            try:
                blacklist.entry(piece, layout)
            except ValueError as exc:
                shown = piece[:24].decode("ascii", "replace") if piece else ""
                args = (label, writer.count + 1, shown, exc)
                raise EngineError("invalid", _text(_M_BAD_ENTRY, args))
            if writer.count >= writer.limit:
                raise EngineError("invalid", _text(_M_TOO_MANY, (label, writer.limit)))
            writer.add(piece)
            pos += len(piece)
        if data[0] != _MORE:
            return
        if writer.count == before:  # "more" with nothing in this answer: it would never end
            raise EngineError("invalid", _text(_M_NO_LIST, label))


def _contactless(engine, writer, code):
    # One entry of limits, each an amount of 12 digits (BCD); "0": none, an empty set.
    label = _label(CONTACTLESS)
    entry, fields = _fetch(engine, code, None, CONTACTLESS, code, True)
    if not entry:
        return
    found = False
    for tag in CONTACTLESS_TAGS:
        value = fields.get(tag)
        if value is None:
            continue
        found = True
        if len(value) != 6 or any(b >> 4 > 9 or b & 0x0F > 9 for b in value):
            raise EngineError("invalid", _text(_M_BAD_LIMIT, (label, tag)))
    if not found:
        raise EngineError("invalid", _text(_M_MISSING, (label, code, "DF19/DF20/DF21")))
    writer.add(entry)


def run(engine, kind, result):
    """Download set `kind` (4 CA keys, 5 IC parameters, 7 black list, 9 contactless
    parameters) from the engine's host and put it in place of the terminal's; note the
    outcome on `result`. EngineError (the old set kept) or CommError / ResponseError (from
    the engine's exchange) when it cannot."""
    label = _label(kind)
    download, end = _codes(engine, kind)
    listed = _query(engine, kind) if kind in (CAPK, AID) else ()
    writer = None
    try:
        try:
            writer = ICSets(engine._store.root).writer(kind)
            if kind == BLACKLIST:
                _blacklist(engine, writer)
            elif kind == CONTACTLESS:
                _contactless(engine, writer, download)
            for wanted in listed:
                writer.add(_download(engine, kind, wanted))
            count = writer.count
            check = writer.commit("%04d%02d%02d%02d%02d%02d" % engine.clock.now())
            writer = None
        except OSError as exc:
            raise EngineError("flash", _text(_M_FLASH, (label, exc)))
    finally:
        if writer is not None:
            writer.discard()
    result.notes.append(_text(_M_LOADED, (label, count, check)))
    try:
        _ask(engine, "0800", end, None, kind)
    except (CommError, ResponseError, EngineError) as exc:  # the host asks again
        result.notes.append(_text(_M_END, (label, exc)))


def ca_check_value(rid, index, modulus, exponent):
    """DF03 of a CA key: SHA-1 over RID, index, modulus and exponent (20 bytes)."""
    digest = hashlib.sha1(rid)
    digest.update(bytes((index,)))
    digest.update(modulus)
    digest.update(exponent)
    return digest.digest()
