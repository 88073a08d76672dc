"""The pending reversal of one acquirer application (spec §6): the pre-send record, written
before a reversal-triggering request leaves, so that a power cut never loses an approval the
host may have given.

    reversal = PendingReversal(store, 1, storage_key, journal=engine.journal)
    reversal.save("0200", fields)            # before the request leaves: reason 06
    reversal.update("98")                    # no valid answer (A0 + auth code: a bad MAC)
    reversal.committed()                     # approved and journaled: nothing left owed
    reversal.end()                           # a decline, never sent, or the 0400 delivered
    reason, mti, fields = reversal.load()    # what is owed, or None

Life cycle, driven by app.txn.engine:

1. before a reversal-triggering request leaves (sale, sale void, pre-auth, pre-auth cancel,
   completion, completion void): `save(mti, fields)` with reason 06;
2. no answer, a broken connection or an answer that fails validation: `update("98")`; an
   answer whose MAC fails: `update("A0", auth_code)`; approved but the terminal then fails
   (the journal cannot be written): `update("06", auth_code)`;
3. an approval journaled: `committed()`; a decline, an answer that owes nothing, a request
   that never left: `end()`;
4. before the next online transaction and before settlement, the engine sends what `load()`
   gives as an 0400, and `end()`s it once the host answers.

The record holds the fields of the 0400 to be, already stripped (spec §3.5: 35, 36, 52, 53,
26 and 37 removed; 38 = the auth code if one was received), as (field, length, ASCII value)
items. Payload version 2 (the record's frame says which):

    0  flags (1): 1 = the items are sealed    1  STAN (3, BCD): field 11
    4  the journal's generation (4) and record count (4) as the request left (big-endian;
       zeros in the record store, where the record is deleted instead)
    12 reason (2) + original MTI (4) + the items but 11; sealed (app.crypto.seal, under the
       storage key) when the request carried a card number (field 2: a keyed card, or a void
       sent with the journal's copy of it). A swiped card's request carries no card number
       once its track is stripped: its record is in clear, as the journal's amounts are.

Where the record store has a journal region (app.store.logregion), the record is kept there,
in a log of its own (owner 0x40 | the application's index, 0xC0 | it in training); each
write is one program of its own bytes. The log's last record says what is pending:

- a pre-send record whose journal still has the generation and count it noted: the request
  is owed a reversal. Once the journal holds one more record (the approval's, or the
  reversal's once the host took it) or a settlement cleared it, that record ended it:
  an approval writes nothing more (`committed`);
- an empty record (`end`): nothing pending.

The log is also where a financial request's STAN is kept (`keeps_stan`; not in training,
whose engine saves the counters for every request): its newest pre-send record's STAN
(`stan()`) is the last one used when it is later than the counters' (app.txn.engine). The
engine empties the log (`full`, `empty`: one header write) every _LOG_RECORDS records, after
saving its STAN into the counters. Without a journal region the record is "reversalN"
("trainrevN") in the record store, deleted by `committed` and `end`, and the engine saves
the STAN before every request. A record of the earlier layout (payload version 1: reason,
MTI and every item sealed, in the log or as "reversalN" in the store) is still read, sent
and ended the same way.
"""

import binascii
import struct

from app.crypto import seal

try:
    from micropython import const
except ImportError:  # CPython host tests
    const = lambda value: value  # noqa: E731

# Fields of the original request that the 0400 keeps (spec §3.5 and the S5 reversal dump);
# the STAN (11) has its own place in the record; 55 is a chip request's reversal subset.
_KEPT = (2, 3, 4, 14, 22, 23, 25, 38, 41, 42, 49, 55, 60, 61, 63)
_EARLIER = const(1)  # payload version of the earlier layout (all sealed), and of an empty one
_PRESEND = const(2)  # payload version of the pre-send record (module docstring)
_SEALED = const(1)  # flags: the items are sealed
_HEAD = const(12)  # flags, STAN, the journal's generation and count
_LOG_OWNER = const(0x40)  # | the application's index (| 0x80 in training): the region's log
_LOG_RECORDS = const(24)  # the log is emptied before a record that would make more


class PendingReversal:
    """The reversal record of application `app_index` in `store`
    (app.store.records.RecordStore); `training`: the training mode's own record. `journal`:
    the application's app.store.journal.TransactionJournal, whose next record ends a
    pre-send record in the log (made here when not given)."""

    def __init__(self, store, app_index, storage_key, training=False, journal=None):
        self._store = store
        self._name = ("trainrev%d" if training else "reversal%d") % app_index
        self._key = storage_key
        self._journal = journal
        region = getattr(store, "journal_region", None)
        self._log = None
        if region is not None:
            self._log = region.journal(_LOG_OWNER | (0x80 if training else 0) | app_index)
        # Whether the pre-send record is where a financial request's STAN is kept.
        self.keeps_stan = self._log is not None and not training
        self._last = None  # the log's last record once read: (payload version, payload)
        self._stan = 0  # the STAN of the log's newest pre-send record (0: none)

    # --- the log ------------------------------------------------------------------------------

    def _read(self):
        # The log's last record and its newest pre-send record's STAN, read once.
        log = self._log
        if log is None:
            return (0, b"")
        if self._last is None:
            version, last = 0, b""
            for _, payload in log.records():  # a copy each: none kept but the last
                version, last = log.version, payload
                if version == _PRESEND and len(payload) >= _HEAD:
                    self._stan = _stan(payload)
            self._last = (version, last)
        return self._last

    def _mark(self):
        # The journal as it is now: (generation, count); in the store, where a record is
        # deleted rather than ended by the journal, (0, 0).
        if self._log is None:
            return 0, 0
        if self._journal is None:
            from app.store.journal import TransactionJournal

            # The log's owner says whose: 0x40 | the application's index (| 0x80 in training).
            owner, store = self._log.owner, self._store
            app, training = owner & 0x3F, bool(owner & 0x80)
            region = store.journal_region
            self._journal = TransactionJournal(store.root, app, self._key, training, region)
        return self._journal.mark()

    def _pending(self):
        # (payload version, payload) of the record that owes a reversal, or None.
        if self._log is not None:
            version, payload = self._read()
            if version == _PRESEND:
                if struct.unpack_from(">II", payload, 4) == self._mark():
                    return self._last
                self._last = (_EARLIER, b"")  # ended by the journal: its copy let go
            elif payload:
                return self._last  # the earlier layout
        return self._store.load(self._name)  # the store's own, or the earlier layout's

    def stan(self):
        """The STAN of the log's newest pre-send record, 0 if it holds none (or there is no
        log: the engine's counters hold every STAN then)."""
        if self._log is None:
            return 0
        self._read()
        return self._stan

    def full(self):
        """True when the engine should empty the log (`empty`) before the next record: it
        holds _LOG_RECORDS records and owes nothing."""
        log = self._log
        return log is not None and log.count() >= _LOG_RECORDS and self._pending() is None

    def empty(self):
        """Empty the log in one header write, never taking the block a settlement's clear
        needs (without one to spare, the log grows on instead). The STAN its records hold
        goes with them: the engine saves it into its counters first."""
        log = self._log
        if log is None:
            return
        self._last = None
        try:
            log.clear(1)
        except OSError:
            return
        self._last = (_EARLIER, b"")

    # --- the record ---------------------------------------------------------------------------

    def _write(self, reason, mti, fields, mark):
        body = bytearray(reason.encode())
        body.extend(mti.encode())
        put_items(body, fields, _KEPT)
        out = bytearray(_HEAD)
        if fields.get(2):
            out[0] = _SEALED
            body = seal.seal(self._key, body)
        stan = fields[11]
        out[1:4] = binascii.unhexlify(stan)
        struct.pack_into(">II", out, 4, mark[0], mark[1])
        out.extend(body)
        if self._log is None:
            self._store.save(self._name, out, _PRESEND)
            return
        self._last = None  # unknown until the append is done
        self._log.append(out, _PRESEND)
        self._last = (_PRESEND, out)
        self._stan = int(stan)

    def _open(self, record):
        # (reason, original MTI, {field: value}, journal mark or None) of a record.
        version, payload = record
        if version != _PRESEND:
            data = seal.unseal(self._key, payload)  # the earlier layout
            return bytes(data[:2]).decode(), bytes(data[2:6]).decode(), items(data, 6), None
        data = payload[_HEAD:]
        if payload[0] & _SEALED:
            data = seal.unseal(self._key, data)
        fields = items(data, 6)
        fields[11] = "%06d" % _stan(payload)
        mark = struct.unpack_from(">II", payload, 4)
        return bytes(data[:2]).decode(), bytes(data[2:6]).decode(), fields, mark

    def save(self, mti, fields, reason="06"):
        """Persist the reversal of request `mti` with `fields` ({number: value}, 11 among
        them) before it leaves; only the fields a reversal keeps are stored, with the
        journal's generation and count as they are now."""
        self._write(reason, mti, fields, self._mark())

    def due(self):
        """True when a reversal waits to be sent (without opening it)."""
        return self._pending() is not None

    def load(self):
        """(reason, original MTI, {field: value}) of the pending reversal, or None."""
        record = self._pending()
        if record is None:
            return None
        return self._open(record)[:3]

    def update(self, reason, auth_code=None):
        """Change the reason (field 39 of the 0400) and, if one was received, set 38."""
        record = self._pending()
        if record is None:
            return
        _, mti, fields, mark = self._open(record)
        if auth_code:
            fields[38] = auth_code
        self._write(reason, mti, fields, mark or self._mark())

    def committed(self):
        """The request was approved and its journal record written: in the log, that record
        ended this one (nothing is written); the store's record is deleted."""
        if self._log is None:
            self._store.delete(self._name)
        else:
            self._last = (_EARLIER, b"")  # nothing pending: the record's copy let go

    def end(self):
        """Nothing is owed any more: the request was declined or never left, or its reversal
        was answered (or given up). An empty record in the log; the store's is deleted."""
        self._store.delete(self._name)  # no flash touched once the store knows it is absent
        log = self._log
        if log is None or not self._read()[1]:
            return
        self._last = None
        log.append(b"")
        self._last = (_EARLIER, b"")


def _stan(payload):
    # The STAN at bytes 1-3 of a pre-send record (BCD), as an int.
    value = 0
    for i in (1, 2, 3):
        b = payload[i]
        value = value * 100 + (b >> 4) * 10 + (b & 0x0F)
    return value


def put_items(out, fields, numbers):
    """Append to `out` the (field, length, ASCII value) item of each of `numbers` that
    `fields` ({number: str or bytes}) holds: the record layout of a reversal and of an advice
    (app.txn.advice)."""
    for number in numbers:
        value = fields.get(number)
        if value is not None:
            data = value.encode() if isinstance(value, str) else bytes(value)
            out.append(number)
            out.append(len(data))
            out.extend(data)


def items(data, pos):
    """{field: value} of the items in `data` from `pos` on (put_items' layout)."""
    fields = {}
    while pos + 2 <= len(data):
        number, length = data[pos], data[pos + 1]
        value = bytes(data[pos + 2 : pos + 2 + length])
        fields[number] = value if number == 55 else value.decode()  # 55: the chip's TLV
        pos += 2 + length
    return fields
