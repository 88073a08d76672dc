"""Offline chip approvals (a qPBOC tap the card approved with a TC): kept in the journal
before the slip prints, counted in the batch, uploaded to the host before settlement.

    from app.txn import offline

    if not offline.ready(engine): ...                    # before the tap: settle first
    entry = offline.approve(engine, outcome, operator)  # STAN, batch, clock: the engine's
    receipt.lines(entry, engine.params, "merchant")      # the slip, printed from the record
    psn, field55 = offline.ic_fields(entry)              # what the upload's 23 and 55 carry
    # at settlement (app.txn.settlement), before the 0500:
    offline.upload(engine, result)                       # one 0200 (60.1 = 36) each

The rule it keeps: an offline approval exists for the terminal once, and only once, its
journal record is on flash -- one append, which a power cut leaves whole or absent
(app.store.logregion) -- so the slip is printed from the record, never from the card's
answer, and a slip in the cardholder's hand always has its record to upload. The card's
e-cash is spent at the GPO, before: a cut between the two loses a tap the card paid, which
the issuer's e-cash clearing finds (the card's transaction log, 9F4D, holds it).
"""

from app.emv import tlv
from app.store.journal import OFFLINE_SALE
from app.txn import messages as txnmsg

# The upload's kind (spec section 3.1, "IC offline purchase upload"): 0200, processing code
# 000000, condition 00, 60.1 = 36. Not one of txnmsg's kinds: no cashier asks for it.
_UPLOAD = "offline_upload 0200 000000 00 36 U"
_ENTRY_MODE = "072"  # field 22: contactless chip, no PIN
_RECORDS_NEEDED = 4  # journal records an offline sale and its upload take, and one spare

_PSN = 0x5F34


def ic_data(outcome):
    """The IC data an offline sale's record keeps: 50 (the application label, for the slip
    only), 5F34 (the PSN), each when the card gave one, then field 55 as the card and the
    terminal made it (app.emv.qpboc.Outcome.field55)."""
    out = b""
    if getattr(outcome, "label", None):
        out = tlv.build(0x50, outcome.label)
    if outcome.psn is not None:
        out += tlv.build(_PSN, bytes((int(outcome.psn, 16),)))
    return out + outcome.field55


def ready(engine):
    """True when `engine`'s journal can keep an offline sale: ask it before the tap (the card
    pays at its GPO, before the terminal writes anything), and take no tap on False -- the
    batch is to be settled first. An offline sale's record, with its IC data, takes about
    two of the journal's ordinary records, and its upload one more."""
    if engine.batch_warning() == "settle_first":
        return False
    room = engine.journal.room()
    return room is None or room >= _RECORDS_NEEDED


def approve(engine, outcome, operator=""):
    """Journal offline approval `outcome` in `engine`'s batch with the next STAN, at the
    terminal's clock; returns its Entry (print the slip from it)."""
    now = engine.clock.now()
    date = "%04d%02d%02d" % now[:3]
    time = "%02d%02d%02d" % now[3:6]
    return journal_approval(
        engine.journal, outcome, engine._next_stan(), engine.batch, date, time, operator
    )


def journal_approval(journal, outcome, stan, batch, date, time, operator=""):
    """Append `outcome` (an APPROVED qpboc.Outcome: the card's TC) to `journal` as an offline sale
    with STAN `stan` of batch `batch` at `date` (YYYYMMDD) `time` (hhmmss); returns its
    Entry. Response code Y1 (EMV: approved offline), entry mode 07 (contactless chip)."""
    return journal.append(
        OFFLINE_SALE,
        stan,
        batch,
        outcome.amount,
        date,
        time,
        response_code="Y1",
        entry_mode=_ENTRY_MODE,
        pan=outcome.pan,
        expiry=outcome.expiry,
        operator=operator,
        ic_data=ic_data(outcome),
    )


def ic_fields(entry):
    """(PSN as 3 digits for field 23, or None; field 55 as bytes) of an offline sale."""
    data = entry.ic_data
    if len(data) >= 2 and data[0] == 0x50:  # the label: the slip's, not the host's
        data = data[2 + data[1] :]
    if len(data) >= 4 and data[0] == 0x5F and data[1] == 0x34 and data[2] == 1:
        return "%03x" % data[3], data[4:]
    return None, data


def upload(engine, result):
    """Send each offline sale of the engine's batch the host has not taken (0200, 60.1 =
    36, with 2, 14, 22, 23 and 55), and journal each one it takes (39 = 00, or 94: it had
    it already). Returns how
    many it took. A refusal is noted in `result`; the sale still counts in the totals (the
    card approved it and spent its e-cash), so the host's totals disagree and the batch
    upload (0320) carries it. A CommError or ResponseError ends the upload there (the sale
    it was sending goes again next time: the host takes a STAN once); the caller decides
    what that means for the settlement."""
    journal = engine.journal
    kind = txnmsg.Kind(_UPLOAD)
    taken = 0
    for entry in list(journal.to_upload(engine.batch)):
        card = journal.card(entry)
        psn, field55 = ic_fields(entry)
        fields = txnmsg.financial_fields(
            kind,
            entry.stan,
            entry.batch,
            engine.terminal_id,
            engine.merchant_id,
            amount=entry.amount,
            pan=card[0] if card else None,
            expiry=card[1] if card else None,
        )
        fields[22] = _ENTRY_MODE
        if psn is not None:
            fields[23] = psn
        fields[55] = field55
        engine._event("uploading", entry.stan)
        msg = engine._exchange("0200", fields, maced=True)
        code = msg.fields.get(39)
        # 94, "duplicate": the host has this card transaction already (docs/hostsim.md: the
        # same PAN, PSN and ATC under another STAN) -- it is the host's, not to send again.
        if code in ("00", "94"):
            journal.uploaded(entry)
            taken += 1
        else:
            result.notes.append("offline sale %06d refused by the host: %s" % (entry.stan, code))
    return taken
