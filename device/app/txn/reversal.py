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
"""

from app.crypto import seal

# Fields of the original request that the 0400 keeps (spec §3.5 and the S5 reversal dump).
_KEPT = (2, 3, 4, 11, 14, 22, 23, 25, 38, 41, 42, 49, 60, 61, 63)


class PendingReversal:
    """The reversal record of application `app_index` in `store`
    (app.store.records.RecordStore); `training`: the training mode's own record."""

    def __init__(self, store, app_index, storage_key, training=False):
        self._store = store
        self._name = ("trainrev%d" if training else "reversal%d") % app_index
        self._key = storage_key

    def _write(self, reason, mti, fields):
        out = bytearray(reason.encode())
        out.extend(mti.encode())
        put_items(out, fields, _KEPT)
        self._store.save(self._name, seal.seal(self._key, out))

    def save(self, mti, fields, reason="06"):
        """Persist the reversal of request `mti` with `fields` ({number: value}); only the
        fields a reversal keeps are stored."""
        self._write(reason, mti, fields)

    def due(self):
        """True when a reversal waits to be sent (without opening it)."""
        return self._store.load(self._name) is not None

    def load(self):
        """(reason, original MTI, {field: value}) of the pending reversal, or None."""
        record = self._store.load(self._name)
        if record is None:
            return None
        data = seal.unseal(self._key, record[1])
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
        self._store.delete(self._name)


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
        fields[number] = bytes(data[pos + 2 : pos + 2 + length]).decode()
        pos += 2 + length
    return fields
