"""The IC detail upload of a settled batch (spec §3.2, §3.4): after the 0510, one 0320 per chip
transaction the batch approved online, carrying its TC (field 55), before the batch end.

    icupload.set_aside(engine, batch, balanced)   # app.txn.settlement, after the 0510
    icupload.send(engine, result)                 # then, and before later requests until done

A record: 0320, 11 (a new STAN each), 2 the PAN, 4 the amount, 22 the entry mode, 23 the PAN
sequence number, 41, 42, 55 the card's TC and the terminal data it covers (app.txn.chip
.UPLOAD_TAGS), 60 = 00 + the settled batch + 203 when the host said the totals agree, 205
when they differ (S1 and S2 name the two codes alike). No MAC (spec §4.5: the host checks
none on an 0320). Spec §3.2 lists 62 in these messages with no layout: not sent. 204 and
206 (one source: failed and offline details) are not sent: an offline sale's TC went to the
host in its own 0200 (60.1 = 36, app.txn.offline), and an approval the card refused was
reversed with its field 55 (app.txn.chip.card_declined).

The rule it keeps: the host gets every record at least once, and one it acknowledged is not
sent again -- whatever the line or the power does. At settlement the batch's IC records are
set aside ("icN.log" renamed "icupN.log", app.txn.icdata) with a progress record
("icupN", "trainicupN" in training: batch, 60.3 code, records acknowledged, sessions
begun), saved before the rename; the progress is saved after each 0330 with 39 = 00. A
session ends at the first failure (as the batch upload does: the line is gone or the host
refuses); what is left goes at the start of the next financial request or settlement, at
most `reversal_retries + 1` sessions, then is dropped with a note. A cut between the
host's answer and the progress record sends that one record again: the host keeps one
detail per card transaction (the host simulator answers it 00 and books it once,
docs/hostsim.md). A settlement whose records are still pending when the next settlement
sets its own aside drops them, noted.
"""

import struct

from app.comm.frames import CommCancelled, CommError
from app.txn import icdata
from app.txn import messages as txnmsg

_PROGRESS = ">IBHB"  # batch, 60.3's last digit (3 or 5), acknowledged, sessions


def _name(engine):
    return ("trainicup%d" if engine.training else "icup%d") % engine.app


def pending(engine):
    """(batch, code, acknowledged, sessions) of the upload waiting, or None."""
    record = engine._store.load(_name(engine))
    if record is None or len(record[1]) != struct.calcsize(_PROGRESS):
        return None
    return struct.unpack(_PROGRESS, record[1])


def _save(engine, batch, code, sent, sessions):
    engine._store.save(_name(engine), struct.pack(_PROGRESS, batch, code, sent, sessions))


def set_aside(engine, batch, balanced, result=None):
    """The IC records of settled `batch` put aside for their upload (60.3 203 if `balanced`,
    else 205). Run again after a power cut, it finishes what is left and changes nothing
    else."""
    if not icdata.exists(engine):
        return
    old = pending(engine)
    if old is None or old[0] != batch:
        if old is not None and icdata.exists(engine, True) and result is not None:
            result.notes.append("IC details of batch %06d not uploaded: dropped" % old[0])
        _save(engine, batch, 3 if balanced else 5, 0, 0)
    icdata.set_aside(engine)


def send(engine, result):
    """Send the IC records waiting (module docstring); returns how many the host took in this
    session. CommError or ResponseError end the session (the rest is kept); the caller notes
    them."""
    progress = pending(engine)
    if progress is None:
        return 0
    batch, code, sent, sessions = progress
    if not icdata.exists(engine, True):
        engine._store.delete(_name(engine))
        return 0
    if sessions > engine._retries:
        _done(engine)
        result.notes.append(
            "IC details of batch %06d: not uploaded after %d attempts, dropped" % (batch, sessions)
        )
        return 0
    _save(engine, batch, code, sent, sessions + 1)
    index = taken = 0
    for record in icdata.entries(engine, True):
        if record.batch != batch:
            continue
        index += 1
        if index <= sent:
            continue  # the host has it
        fields = txnmsg.management_fields(
            engine._next_stan(), batch, "20%d" % code, engine.terminal_id, engine.merchant_id
        )
        fields[2] = record.pan
        fields[4] = "%012d" % record.amount
        fields[22] = record.entry_mode
        if record.psn is not None:
            fields[23] = "%03X" % record.psn
        fields[55] = record.field55
        engine._event("uploading", index)
        got = engine._exchange("0320", fields).fields
        if got.get(39) != "00":
            raise txnmsg.ResponseError("invalid", "IC detail answered %s" % got.get(39))
        _save(engine, batch, code, index, sessions + 1)
        taken += 1
    _done(engine)
    return taken


def _done(engine):
    # The file first: a cut between the two leaves a progress record without a file, which
    # the next send() deletes.
    icdata.forget(engine, True)
    engine._store.delete(_name(engine))


def resume(engine, result):
    """At the start of a financial request or a settlement: the records a settlement left
    waiting, sent now; a failure is noted and the request goes on (the cashier's cancel
    ends it)."""
    try:
        taken = send(engine, result)
        if taken:
            result.notes.append("IC details of the last batch: %d uploaded" % taken)
    except CommCancelled:
        raise
    except (CommError, txnmsg.ResponseError) as exc:
        result.notes.append("IC details not all uploaded, kept: %s" % exc)
