"""The IC script result notice (spec §3.1: 0620/0630, 60.3 951): when the issuer's scripts (71,
72 in the answer's field 55) ran on the card at the second GENERATE AC, the host is told how
each went (DF31: a result byte and the script identifier, 5 bytes a script).

    scriptnotice.keep(engine, fields, card, got)   # after the card's second GENERATE AC
    scriptnotice.deliver(engine, result)           # at once, and before later requests

The 0620: 2, 3, 4, 14, 22, 23, 25, 49 as the transaction's request; 11 a STAN of its own; 41,
42; 55 the card's result of the transaction with DF31 (NOTICE_TAGS); 60 = 00 + the batch +
951; 61 = the transaction's batch + STAN + MMDD; MACed (spec §4.5). A card that declined
after the host approved sends no notice: its reversal carries DF31 (spec §3.5).

The rule it keeps: a notice the card's scripts produced reaches the host once the line
allows, whatever the power does. It is kept in the record store as "noticeN" ("trainnoticeN"
in training; sealed: field 2 is a full card number) before it is sent, with its STAN; the
first valid answer ends it (a refusal too: noted). It is tried right after its transaction
and then at the start of every financial request and settlement until answered; a failure
never stops the request. Sent again after a cut it keeps its STAN: the host recognises the
repeat (the host simulator answers it as the first, booked once). One notice waits at a time:
a newer one replaces it, noted.
"""

from app.comm.frames import CommCancelled, CommError, ConnectFailed
from app.crypto import seal
from app.txn import messages as txnmsg
from app.txn.iso8583 import join_subfields
from app.txn.reversal import items, put_items

# Field 55 of the notice (S1's script notice): the terminal data, the card's result and DF31.
NOTICE_TAGS = (0x9F33, 0x95, 0x9F37, 0x9F1E, 0x9F10, 0x9F26, 0x9F36, 0x82, 0xDF31, 0x9F1A, 0x9A)
_KEPT = (2, 3, 4, 11, 14, 22, 23, 25, 41, 42, 49, 55, 60, 61)


def _name(engine):
    return ("trainnotice%d" if engine.training else "notice%d") % engine.app


def keep(engine, fields, card, got, result):
    """Keep the notice of chip transaction `fields` (its request) whose card (`card.kernel`)
    ran the scripts of answer `got`; nothing when no script ran."""
    k = card.kernel
    if not k.scripts:
        return False
    k.term.set(0xDF31, bytes(k.scripts))
    date, _ = engine._date_time(got)
    f60 = fields[60]
    notice = {}
    for number in (2, 3, 4, 14, 22, 23, 25, 41, 42, 49):
        notice[number] = fields.get(number)
    if notice[2] is None:
        notice[2], notice[14] = card.pan, card.expiry
    notice[55] = k.field55(NOTICE_TAGS)
    notice[60] = join_subfields(60, "00", f60[2:8], "951")
    notice[61] = join_subfields(61, f60[2:8], fields[11], date[4:])
    if engine._store.load(_name(engine)) is not None:
        result.notes.append("an older script result notice was replaced")
    notice[11] = "%06d" % engine._next_stan()
    out = bytearray()
    put_items(out, notice, _KEPT)
    engine._store.save(_name(engine), seal.seal(engine._storage_key, out))
    return True


def load(engine):
    """{field: value} of the notice waiting, or None."""
    record = engine._store.load(_name(engine))
    if record is None:
        return None
    return items(seal.unseal(engine._storage_key, record[1]), 0)


def deliver(engine, result):
    """Send the notice waiting, if any: up to `reversal_retries + 1` attempts; answered (any
    response code), the record goes. Nothing is raised but the cashier's cancel: a failure is
    noted and the notice kept."""
    fields = load(engine)
    if fields is None:
        return
    stan = int(fields[61][6:12])
    detail = "no valid answer"
    for _ in range(engine._retries + 1):
        try:
            code = engine._exchange("0620", fields, True).fields[39]
        except CommCancelled:
            raise
        except (CommError, txnmsg.ResponseError) as exc:
            detail = str(exc)
            if isinstance(exc, ConnectFailed):
                break  # no line: the next request tries again
            continue
        engine._store.delete(_name(engine))
        if code != "00":
            result.notes.append("script result notice of %06d refused (%s)" % (stan, code))
        return
    result.notes.append("script result notice of %06d kept: %s" % (stan, detail))
