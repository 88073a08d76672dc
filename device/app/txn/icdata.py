"""The IC data of the batch's approved chip transactions, kept for the IC detail upload at
settlement (spec §3.4) and for a void's reference: one record a transaction in "icN.log"
("trainicN.log" in training) beside the journal, cleared with it.

    icdata.keep(engine, stan, psn, field55)     # after the journal's record (app.txn.engine)
    for stan, batch, psn, field55 in icdata.entries(engine): ...
    icdata.forget(engine)                        # settlement, with the journal

A record: STAN n6 and batch n6 as ASCII digits, the PAN sequence number (1 byte, FF none),
then field 55 of the card's TC (app.txn.chip.UPLOAD_TAGS). No PAN and nothing secret: the
journal's sealed record has the card; this file is joined to it by STAN and batch.
"""

import os

from app.store.records import Journal


def _path(engine):
    return "%s/%s%d.log" % (engine._store.root, "trainic" if engine.training else "ic", engine.app)


def keep(engine, stan, psn, field55):
    """Append the IC data of approved transaction `stan` of the current batch."""
    payload = bytearray(("%06d%06d" % (stan, engine.batch)).encode())
    payload.append(0xFF if psn is None else psn)
    payload.extend(field55)
    Journal(_path(engine)).append(payload)


def entries(engine):
    """Iterate over (STAN, batch, PSN byte or None, field 55 bytes) in order."""
    try:
        os.stat(_path(engine))
    except OSError:
        return
    for _, payload in Journal(_path(engine)).records():
        data = bytes(payload)
        psn = data[12]
        yield int(data[:6]), int(data[6:12]), None if psn == 0xFF else psn, data[13:]


def forget(engine):
    """Remove the batch's IC data (the settlement closed the batch)."""
    try:
        os.remove(_path(engine))
    except OSError:
        pass
