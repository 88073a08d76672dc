"""Settlement and batch upload (spec §3.4), for app.txn.engine.Engine; imported when a batch is
settled, so its code stays off the heap the rest of the day.

0. A batch with no transactions (and no reversal pending) is settled as the parameter
   `empty_batch` says: "ask" (the default) ends the request with error "confirm_empty" until
   the cashier confirms (Request.confirmed), "refuse" ends it with "empty_batch", "send"
   settles zero totals. Checked before anything is sent.
1. The pending reversal goes first (spec §6), then the pending advice (app.txn.advice): a
   refund or completion notice whose answer was lost is journaled before the totals are
   taken; if it cannot be delivered the settlement ends with "advice_pending" and the batch
   stays open (its totals would disagree with the host's). Then the offline chip sales not
   yet uploaded (app.txn.offline: 0200, 60.1 = 36, field 55 with the TC), each journaled as
   taken when the host answers 00.
2. 0500: 11, 41, 42, 48 = the journal's totals of the batch (app.store.journal rules), 49, 60 = 00
   + the batch being closed + 201, 63 = operator.
3. 0510: field 48 carries a flag per section (domestic at 30, foreign at 61): 1 balanced,
   2 unbalanced, 3 error (section_state); a section with no transactions on either
   side is balanced whatever its flag (hosts put 0 there as well as 1). Unless both
   sections are balanced, every transaction that counts in the totals is uploaded, 8 per
   0320/201 (40-digit records: class 00, STAN, PAN, amount). Then 0320/202 with the number
   of those transactions: always (S1), or only after an upload (`batch_end` = unbalanced).
   Before the batch end, the IC details: one 0320 (60.3 203, or 205 when the totals differ)
   per chip transaction with its TC, resumed at the next request if broken off
   (app.txn.icupload).
4. The batch advances (999999 -> 000001) and the journal is cleared. The host settled the
   batch once its 0510 arrived, so this happens even if the upload breaks off (noted in the
   result): a batch the host has closed must not stay open on the terminal. The batch is
   advanced before the journal is cleared: a power cut between the two leaves old records
   that no query of the new batch sees, never new transactions in a settled batch.

A power cut must not split the batch between host and terminal, so a settlement keeps a
record, "closingN" ("trainclosingN" in training), of where it stands: batch + state.

- Saved with state 0 just before the 0500 leaves: the host may settle the batch and its
  answer be lost (a cut, a line that drops). While it stands the engine retries the
  settlement (`settle(resume=True)`) at power-up's recovery, else at the start of the next
  financial request, before the request goes; the cashier's own settlement does the same.
- Saved with state 1 as soon as the host's totals arrive, with what the settlement slip is
  made of (the terminal's totals, the host's 48, date and time, the operator): the batch is
  closed at the host. The terminal closes it too (`close`: batch advanced, journal cleared,
  record deleted). When the power is cut before the end, power-up's recovery
  (Request("recover"), app.ui.powerup) finishes the close without the line and prints the
  slip from the record; where nothing ran it (`poskit txn`), the engine's first run does the
  close, without the slip. Every step can run again.
- Deleted when the host refuses the settlement (a response code, no totals): the batch stays
  open on both sides.

The result's `settlement` says what the host said (`flags`, each section's state, its
totals), and so does the settlement slip (`receipt_lines`, app.txn.receipt.settlement_lines).
"""

import struct

from app import forget
from app.comm.frames import CommCancelled, CommError
from app.txn import messages as txnmsg
from app.txn import respcodes
from app.txn.api import EngineError

_PER_MESSAGE = 8  # 40-digit records per 0320 (spec §3.4: at most 8)
SENT = 0  # the closing record's states (module docstring)
SETTLED = 1


def _name(engine):
    return ("trainclosing%d" if engine.training else "closing%d") % engine.app


# After the batch and state of a SETTLED record: what its slip needs once the journal is
# cleared (the terminal's totals, the host's date and time, the operator), then the 0510's 48.
_SLIP = ">QIQI8s6s2s"
_SLIP_AT = 5


def mark(engine, batch, state, slip=b""):
    """Record that the settlement of `batch` is at `state` (SENT, SETTLED); `slip`: what
    the settlement slip is made of (SETTLED: _slip_data)."""
    engine._store.save(_name(engine), struct.pack(">IB", batch, state) + slip)


def _slip_data(totals, date, time, operator, field48):
    debit, debit_count, credit, credit_count = totals
    return (
        struct.pack(
            _SLIP,
            debit,
            debit_count,
            credit,
            credit_count,
            date.encode(),
            time.encode(),
            operator[:2].encode(),
        )
        + field48.encode()
    )


def recover(engine, record, result=None):
    """At the start, with the closing record's payload: close a batch the host settled (its
    settlement slip into `result` when one is given: power-up prints it), or have the
    settlement sent again (engine.settle_due)."""
    if len(record) < _SLIP_AT:
        engine._store.delete(_name(engine))  # not a closing record
        return
    batch, state = struct.unpack_from(">IB", record)
    if state != SETTLED:
        engine.settle_due = batch
        return
    balanced = True  # the IC details' 60.3 (203) when the host's verdict does not read
    if len(record) > _SLIP_AT + struct.calcsize(_SLIP):
        debit, debit_count, credit, credit_count, date, time, operator = struct.unpack_from(
            _SLIP, record, _SLIP_AT
        )
        try:
            host_said = parse_totals(bytes(record[_SLIP_AT + struct.calcsize(_SLIP) :]).decode())
        except ValueError:  # totals that do not read: the batch is closed all the same
            host_said = None
        if host_said is not None:
            totals = (debit, debit_count, credit, credit_count)
            reading = _reading(batch, totals, host_said)
            balanced = reading["balanced"]
            if result is not None:
                result.date, result.time = date.decode(), time.decode()
                result.settlement = reading
                _conclude(engine, result, operator.decode())
        if result is not None:
            result.batch = batch
            result.notes.append("batch %06d: settled at the host, closed at power-up" % batch)
    close(engine, batch, balanced, result)


def resume(engine, result, operator):
    """The settlement of the engine's batch was sent and its answer never came (a power cut, a
    line that failed): the host may have closed the batch. Sent again before the request of
    `result`, which then goes into the next batch; EngineError, CommError... if it fails."""
    batch = engine.settle_due
    settled = type(result)("settlement")
    settle(engine, settled, operator, resume=True)
    result.notes.append(
        "batch %06d: its settlement, unanswered, was sent again first: %s"
        % (batch, settled.message_en)
    )
    if settled.reversal_note:
        result.reversal_note = settled.reversal_note


def close(engine, batch, balanced=True, result=None):
    """Close `batch` on the terminal, the host having settled it (`balanced`: its totals
    agreed): the batch number advances (not in training), the journal is cleared, the chip
    transactions' IC records are set aside for their upload (app.txn.icupload), the closing
    record goes, in that order. Run again after a power cut at any point, it finishes what is
    left and changes nothing else."""
    if not engine.training and engine.batch == batch:
        engine._save_counters(engine.stan, txnmsg.next_number(batch))
    engine.journal.clear()
    from app.txn import icupload

    icupload.set_aside(engine, batch, balanced, result)
    icupload = None
    forget("app.txn.icupload", "app.txn.icdata")
    engine._store.delete(_name(engine))
    engine.settle_due = None
    engine.free_bound = -1  # the journal's blocks are free again: counted at the next check


def parse_totals(field48):
    """(domestic totals (debit, count, credit, count), domestic flag, foreign totals or None,
    foreign flag) from the 48 of an 0510; a flag is a digit, or None if absent."""
    domestic = _totals(field48, 0)
    foreign = _totals(field48, 31) if len(field48) >= 61 else None
    return (
        domestic,
        field48[30] if len(field48) > 30 else None,
        foreign,
        field48[61] if len(field48) > 61 else None,
    )


def _totals(field48, at):
    return (
        int(field48[at : at + 12]),
        int(field48[at + 12 : at + 15]),
        int(field48[at + 15 : at + 27]),
        int(field48[at + 27 : at + 30]),
    )


def section_state(flag, empty):
    """What the host said of one section of the totals (spec §3.4: flag 1 balanced, 2
    unbalanced, 3 error): "balanced", "unbalanced", "error", or "unknown" for any other
    value. A section with no transactions (`empty`: none on either side) is balanced
    whatever its flag: hosts put 0 or a space there as often as 1."""
    if flag == "1" or empty and flag not in ("2", "3"):
        return "balanced"
    if flag == "2":
        return "unbalanced"
    return "error" if flag == "3" else "unknown"


def _upload(engine, batch, result):
    # Returns the number of records uploaded; stops at the first failure (noted).
    journal = engine.journal
    records = []
    sent = 0

    def flush():
        stan = engine._next_stan()
        fields = txnmsg.management_fields(
            stan, batch, "201", engine.terminal_id, engine.merchant_id
        )
        fields[48] = "%02d" % len(records) + "".join(records)
        engine._event("uploading", sent + len(records))
        msg = engine._exchange("0320", fields)
        if msg.fields.get(39) != "00":
            raise txnmsg.ResponseError("invalid", "batch upload answered %s" % msg.fields[39])

    for entry in journal.standing(batch):
        card = journal.card(entry)
        records.append(txnmsg.upload_record(entry.stan, card[0] if card else "", entry.amount))
        if len(records) == _PER_MESSAGE:
            flush()
            sent += len(records)
            records = []
    if records:
        flush()
        sent += len(records)
    return sent


def settle(engine, result, operator, confirmed=False, resume=False):
    """Settle the engine's current batch; the outcome goes into `result`. `confirmed`: the
    cashier agreed to settle a batch with no transactions; `resume`: a settlement whose
    answer never came is sent again (no question about an empty batch: it was asked)."""
    if (
        not resume
        and engine.journal.is_empty()
        and engine.pending_reversal() is None
        and engine.pending_advice() is None
    ):
        policy = engine.params["empty_batch"] or "ask"
        if policy == "refuse":
            raise EngineError("empty_batch")
        if policy == "ask" and not confirmed:
            raise EngineError("confirm_empty")
    engine._connect()
    engine._send_reversal(result)
    # A refund or notice the host may have approved is journaled before the totals are
    # taken; one that cannot be delivered stops the settlement (advice_pending).
    engine._send_advice(result)
    from app.txn import recovery  # a script notice, the last batch's IC details

    recovery.deliver(engine, result)
    recovery = None
    _send_offline(engine, result)
    batch = engine.batch
    totals = engine.journal.totals(batch)
    stan = engine._next_stan()
    fields = txnmsg.management_fields(
        stan, batch, "201", engine.terminal_id, engine.merchant_id, operator
    )
    fields[48] = txnmsg.totals_field(*totals)
    fields[49] = txnmsg.CURRENCY
    mark(engine, batch, SENT)
    engine.settle_due = batch
    try:
        msg = engine._exchange("0500", fields, settlement=True)
    except CommCancelled as exc:
        if not exc.sent:
            engine._store.delete(_name(engine))
            engine.settle_due = None
        raise
    got = msg.fields
    result.stan, result.batch = stan, batch
    code = got.get(39)
    f48 = got.get(48)
    if f48 is None or len(f48) < 31:
        if code == "00" or code is None:
            raise txnmsg.ResponseError("invalid", "settlement answer without totals (48)")
        # Refused: the batch stays open on both sides.
        engine._store.delete(_name(engine))
        engine.settle_due = None
        result.code(code)
        return
    result.date, result.time = engine._date_time(got)
    slip = _slip_data(totals, result.date, result.time, operator, f48)
    mark(engine, batch, SETTLED, slip)
    # The 0500 and its answer are not needed for the upload and the batch end: their 1.5 KB
    # (64-bit port) would add to the settlement's heap peak.
    msg = got = fields = slip = None
    result.settlement = _reading(batch, totals, parse_totals(f48))
    f48 = None
    balanced = result.settlement["balanced"]
    count = totals[1] + totals[3]
    try:
        if not balanced:
            result.settlement["uploaded"] = _upload(engine, batch, result)
        result.settlement["ic_uploaded"] = _ic_details(engine, batch, balanced, result)
        if not balanced or engine.params["batch_end"] != "unbalanced":
            end = txnmsg.management_fields(
                engine._next_stan(), batch, "202", engine.terminal_id, engine.merchant_id
            )
            end[48] = "%04d" % (count % 10000)
            engine._exchange("0320", end)
    except (CommError, txnmsg.ResponseError) as exc:
        result.notes.append("batch upload incomplete: %s" % exc)
    # A training settlement closes the training journal only: the real batch stays.
    close(engine, batch, balanced, result)
    _conclude(engine, result, operator)


def _ic_details(engine, batch, balanced, result):
    # The batch's chip transactions, one 0320/203 (205 when the totals differ) each with its
    # TC, before the batch end (app.txn.icupload): set aside first, so that a cut or a broken
    # line leaves them to go at the next request.
    from app.txn import icdata

    if not icdata.exists(engine):
        return 0
    from app.txn import icupload

    try:
        icupload.set_aside(engine, batch, balanced, result)
        return icupload.send(engine, result)
    finally:
        icupload = icdata = None
        forget("app.txn.icupload", "app.txn.icdata")


def _send_offline(engine, result):
    # The offline chip sales the host has not taken go before the totals (spec section 3.1,
    # 60.1 = 36). One the host cannot take now still counts in the totals (the card approved
    # it): the settlement goes on and the host's answer says whether the totals agree.
    if not engine.journal.is_empty():
        from app.txn import offline

        try:
            offline.upload(engine, result)
        except (CommError, txnmsg.ResponseError) as exc:
            result.notes.append("offline sales not all uploaded: %s" % exc)
        finally:
            # Once a batch: the upload's code (and the chip TLV reader it loads) goes off the
            # heap before the 0500 and the slip.
            offline = None
            forget("app.txn.offline", "app.emv.tlv")


def _reading(batch, totals, host_said):
    # Result.settlement: the terminal's `totals` of `batch` beside what the host said of
    # them (parse_totals of its 0510's 48).
    host, domestic, host_foreign, foreign = host_said
    states = (
        section_state(domestic, not any(totals) and not any(host)),
        # This terminal takes domestic cards only: its foreign section is always empty.
        section_state(foreign, not any(host_foreign or ())),
    )
    return {
        "batch": batch,
        "balanced": states == ("balanced", "balanced"),
        "flags": (domestic or " ") + (foreign or " "),
        "domestic": states[0],
        "foreign": states[1],
        "terminal": totals,
        "host": host,
        "uploaded": 0,
    }


def _conclude(engine, result, operator):
    # A settled batch's outcome, and its slip, into `result`.
    result.code("00")
    settled = result.settlement
    if settled["balanced"]:
        outcome = "balanced"
    elif "error" in (settled["domestic"], settled["foreign"]):
        outcome = "settle_error"
    else:
        outcome = "unbalanced"
    result.message_en, result.message_zh = respcodes.terminal(outcome)
    from app.txn import receipt

    result.receipt_lines = receipt.settlement_lines(
        settled, engine.params, result.date, result.time, operator[:2]
    )
