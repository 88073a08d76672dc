"""The pending reversal of one acquirer application (spec §6), kept in the record store as
"reversalN" so that a power cut never loses it.

Life cycle, driven by app.txn.engine:

1. before a reversal-triggering request leaves (sale, sale void, pre-auth, pre-auth cancel,
   completion, completion void): `save(mti, fields)` with reason 06;
2. no answer, a broken connection or an answer that fails validation: `update("98")`; an
   answer whose MAC fails: `update("A0", auth_code)`; approved but the terminal then fails
   (the journal cannot be written): `update("06", auth_code)`;
3. any valid answer to the original (even a decline): `delete()`;
4. before the next online transaction and before settlement, the engine sends what `load()`
   gives as an 0400 (`message()`), and deletes it once the host answers.

The record holds the fields of the 0400 to be, already stripped (spec §3.5: 35, 36, 52, 53,
26 and 37 removed; 38 = the auth code if one was received), as (field, length, ASCII value)
items, sealed under the device storage key with app.crypto.seal: field 2 carries a full PAN
when the card was keyed in. Payload: reason (2) + original MTI (4) + items, all sealed.

Where the record store has a journal region (app.store.logregion), the record is kept there
instead, in a log of its own (owner 0x40 | the application's index, 0xC0 | it in training):
`save` and `update` append the sealed payload, `delete` appends an empty record, and the
last record says what is pending. Each is one program of its own bytes, where a LittleFS
record took a block of its own and an erase. The log is emptied (one header write) by the
delete that finds it holding _LOG_RECORDS records. A record of the earlier layout
("reversalN" in the store) is still read, and deleted with the pending reversal.
"""

from app.crypto import seal

try:
    from micropython import const
except ImportError:  # CPython host tests
    const = lambda value: value  # noqa: E731

# Fields of the original request that the 0400 keeps (spec §3.5 and the S5 reversal dump).
_KEPT = (2, 3, 4, 11, 14, 22, 23, 25, 38, 41, 42, 49, 55, 60, 61, 63)
_LOG_OWNER = const(0x40)  # | the application's index (| 0x80 in training): the region's log
_LOG_RECORDS = const(24)  # a delete that finds this many records empties the log instead


class PendingReversal:
    """The reversal record of application `app_index` in `store`
    (app.store.records.RecordStore); `training`: the training mode's own record."""

    def __init__(self, store, app_index, storage_key, training=False):
        self._store = store
        self._name = ("trainrev%d" if training else "reversal%d") % app_index
        self._key = storage_key
        region = getattr(store, "journal_region", None)
        self._log = None
        if region is not None:
            self._log = region.journal(_LOG_OWNER | (0x80 if training else 0) | app_index)
        self._last = None  # the log's last payload once read (b"": none pending)

    def _write(self, reason, mti, fields):
        out = bytearray(reason.encode())
        out.extend(mti.encode())
        put_items(out, fields, _KEPT)
        sealed = seal.seal(self._key, out)
        if self._log is None:
            self._store.save(self._name, sealed)
            return
        self._last = None  # unknown until the append is done
        self._log.append(sealed)
        self._last = sealed

    def _sealed(self):
        # The sealed payload of the pending reversal, or None.
        log = self._log
        if log is not None:
            if self._last is None:
                last = b""
                for _, payload in log.records():
                    last = payload
                self._last = bytes(last)
            if self._last:
                return self._last
        record = self._store.load(self._name)  # the store's own, or the earlier layout's
        return record[1] if record is not None else None

    def save(self, mti, fields, reason="06"):
        """Persist the reversal of request `mti` with `fields` ({number: value}); only the
        fields a reversal keeps are stored."""
        self._write(reason, mti, fields)

    def due(self):
        """True when a reversal waits to be sent (without opening it)."""
        return self._store.load(self._name) is not None

    def load(self):
        """(reason, original MTI, {field: value}) of the pending reversal, or None."""
        sealed = self._sealed()
        if sealed is None:
            return None
        data = seal.unseal(self._key, sealed)
        return bytes(data[:2]).decode(), bytes(data[2:6]).decode(), items(data, 6)

    def update(self, reason, auth_code=None):
        """Change the reason (field 39 of the 0400) and, if one was received, set 38."""
        pending = self.load()
        if pending is None:
            return
        fields = pending[2]
        if auth_code:
            fields[38] = auth_code
        self._write(reason, pending[1], fields)

    def delete(self):
        self._store.delete(self._name)  # no flash touched once the store knows it is absent
        log = self._log
        if log is None or self._last == b"":
            return
        self._last = None
        emptied = False
        if log.count() >= _LOG_RECORDS:
            try:
                log.clear(1)  # never the block a settlement's clear needs
                emptied = True
            except OSError:
                pass  # no block to spare: the empty record says the same
        if not emptied:
            log.append(b"")  # "none pending"
        self._last = b""


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
