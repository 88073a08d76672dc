"""Offline chip approvals (a qPBOC tap the card approved with a TC): kept in the journal
before the slip prints, counted in the batch, uploaded to the host before settlement.

    from app.txn import offline

    entry = offline.journal_approval(journal, outcome, stan, batch, date, time, operator)
    receipt.slip_lines(entry, params, "merchant")      # the slip, printed from the record
    psn, field55 = offline.ic_fields(entry)            # what the upload's 23 and 55 carry

The rule it keeps: an offline approval exists for the terminal once, and only once, its
journal record is on flash -- one append, which a power cut leaves whole or absent
(app.store.logregion) -- so the slip is printed from the record, never from the card's
answer, and a slip in the cardholder's hand always has its record to upload. The card's
e-cash is spent at the GPO, before: a cut between the two loses a tap the card paid, which
the issuer's e-cash clearing finds (the card's transaction log, 9F4D, holds it).
"""

from app.emv import tlv
from app.store.journal import OFFLINE_SALE

_PSN = 0x5F34


def ic_data(outcome):
    """The IC data an offline sale's record keeps: 5F34 (the PSN, when the card gave one)
    then field 55 as the card and the terminal made it (app.emv.qpboc.Outcome.field55)."""
    out = b""
    if outcome.psn is not None:
        out = tlv.build(_PSN, bytes((int(outcome.psn, 16),)))
    return out + outcome.field55


def journal_approval(journal, outcome, stan, batch, date, time, operator=""):
    """Append `outcome` (an OFFLINE_APPROVED qpboc.Outcome) to `journal` as an offline sale
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
        entry_mode="072",
        pan=outcome.pan,
        expiry=outcome.expiry,
        operator=operator,
        ic_data=ic_data(outcome),
    )


def ic_fields(entry):
    """(PSN as 3 digits for field 23, or None; field 55 as bytes) of an offline sale."""
    data = entry.ic_data
    if len(data) >= 4 and data[0] == 0x5F and data[1] == 0x34 and data[2] == 1:
        return "%03x" % data[3], data[4:]
    return None, data
