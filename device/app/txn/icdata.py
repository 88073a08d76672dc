"""The IC data of the batch's approved chip transactions, kept for the IC detail upload at
settlement (app.txn.icupload; spec §3.2, §3.4): one record a transaction in "icN.log"
("trainicN.log" in training) beside the journal. At settlement the file is set aside as
"icupN.log" (`pending=True`) until the host has every record.

    icdata.keep(engine, stan, psn, field55, pan, amount, "051")  # after the journal's record
    for record in icdata.entries(engine): ...       # Record: .stan .batch .psn .field55 ...
    icdata.forget(engine, pending=True)             # the upload done

A record: STAN n6, batch n6, amount n12, entry mode n3 as ASCII digits, the PAN sequence
number (1 byte, FF none), the PAN's length and digits, then field 55 of the card's TC
(app.txn.chip.UPLOAD_TAGS), sealed under the storage key (it holds the full card number the
0320 carries in field 2: the journal is cleared before the upload may finish).
"""

import os

from app.crypto import seal
from app.store.records import Journal


def path(engine, pending=False):
    """The file of `engine`'s IC records: the open batch's, or (`pending`) the settled one's
    waiting for its upload."""
    return "%s/%s%s%d.log" % (
        engine._store.root,
        "train" if engine.training else "",
        "icup" if pending else "ic",
        engine.app,
    )


class Record:
    """One chip transaction's IC data (module docstring)."""

    def __init__(self, data):
        self.stan, self.batch = int(data[:6]), int(data[6:12])
        self.amount = int(data[12:24])
        self.entry_mode = bytes(data[24:27]).decode()
        psn = data[27]
        self.psn = None if psn == 0xFF else psn
        end = 29 + data[28]
        self.pan = bytes(data[29:end]).decode()
        self.field55 = bytes(data[end:])


def keep(engine, stan, psn, field55, pan, amount, entry_mode):
    """Append the IC data of approved transaction `stan` of the current batch."""
    payload = bytearray(("%06d%06d%012d%s" % (stan, engine.batch, amount, entry_mode)).encode())
    payload.append(0xFF if psn is None else psn)
    payload.append(len(pan))
    payload.extend(pan.encode())
    payload.extend(field55)
    Journal(path(engine)).append(seal.seal(engine._storage_key, payload))


def exists(engine, pending=False):
    try:
        os.stat(path(engine, pending))
        return True
    except OSError:
        return False


def entries(engine, pending=False):
    """Iterate over the Records, in the order they were kept."""
    if not exists(engine, pending):
        return
    for _, payload in Journal(path(engine, pending)).records():
        yield Record(seal.unseal(engine._storage_key, bytes(payload)))


def set_aside(engine):
    """Rename the open batch's file to the pending one (replacing an older one): the batch is
    settled, its records wait for their upload while the next batch keeps its own."""
    if exists(engine):
        os.rename(path(engine), path(engine, True))


def forget(engine, pending=False):
    """Remove the open batch's IC data, or (`pending`) the settled batch's."""
    try:
        os.remove(path(engine, pending))
    except OSError:
        pass
