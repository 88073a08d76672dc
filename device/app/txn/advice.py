"""The pending advice of one acquirer application: a refund or a completion notice (0220, spec
§3.1), kept in the record store as "adviceN" ("trainadvN" in training) until its answer is
journaled, so that neither a power cut nor a lost answer leaves the host with an approval the
terminal never recorded. No reversal exists for a 0220 (spec §6): the terminal sends the
advice again instead, with its original STAN and data, and the host answers a repeat as it
answered the first (docs/transactions.md §4, "Advice life cycle").

    advice = PendingAdvice(store, "advice1", storage_key)
    advice.save(fields, pan, expiry, "01")      # before the 0220 leaves
    advice.delete()                             # its answer journaled, or a definite decline
    deliver(engine, result)                     # before the next financial request/settlement

How the repeat goes is the application parameter `advice_repeat` (docs/iso8583.md §12; the
spec does not say how a CUP acquirer wants it): "0220" (absent) the same MTI again, "0221"
ISO 8583's advice repeat, answered 0230 all the same; "off" keeps nothing (a refund or notice
whose answer is lost is lost to the terminal).

The record keeps the fields of the 0220 but the card's track (35, 36), the PIN block and its
companions (52, 53, 26): no track or PIN block is ever written to flash. The card goes as 2 +
14 (the card number and expiry), and field 22 of the repeat says no PIN. It is sealed under the
storage key (field 2 is a full card number). Payload: operator (2) + (field, length, ASCII
value) items, all sealed.
"""

from app.crypto import seal
from app.txn import messages as txnmsg
from app.txn import respcodes
from app.txn.reversal import items, put_items

# The fields of the 0220 its repeat carries (the track goes as 2 + 14: module docstring).
_KEPT = (2, 3, 4, 11, 14, 22, 25, 37, 38, 41, 42, 49, 60, 61, 63)


class PendingAdvice:
    """The advice record `name` (the engine's: "adviceN", "trainadvN" in training) in `store`
    (app.store.records.RecordStore)."""

    def __init__(self, store, name, storage_key):
        self._store = store
        self.name = name
        self._key = storage_key

    def save(self, fields, pan, expiry, operator):
        """Persist the advice with `fields` ({number: value}) before it leaves; `pan` and
        `expiry` replace a swiped card's track, `operator` goes into its journal record."""
        kept = {}
        for number in _KEPT:
            kept[number] = fields.get(number)
        kept[2], kept[14] = pan, expiry
        out = bytearray((operator or "01")[:2].encode())
        put_items(out, kept, _KEPT)
        self._store.save(self.name, seal.seal(self._key, out))

    def load(self):
        """(operator, {field: value}) of the pending advice, or None."""
        record = self._store.load(self.name)
        if record is None:
            return None
        data = seal.unseal(self._key, record[1])
        return bytes(data[:2]).decode(), items(data, 2)

    def delete(self):
        self._store.delete(self.name)


def _kind_name(fields):
    return "completion notice" if fields[60][:2] == "24" else "refund"


def deliver(engine, result):
    """Send the pending advice of `engine` (app.txn.engine.Engine) again, if there is one,
    before its request: up to `reversal_retries + 1` attempts. Approved: journaled, then the
    record dropped; declined: dropped; either way noted in `result.notes`. Raises EngineError
    "advice_pending" (the request must not go; the record stays) when no attempt got a valid
    answer, CommCancelled when the cashier cancels."""
    from app.comm.frames import CommCancelled, CommError, ConnectFailed
    from app.txn.api import EngineError

    advice = PendingAdvice(engine._store, engine.advice_name, engine._storage_key)
    pending = advice.load()
    if pending is None:
        return
    operator, fields = pending
    stan = int(fields[11])
    what = _kind_name(fields)
    if engine.journal.find(stan, int(fields[60][2:8])) is not None:
        # Journaled, and the power cut before the record went: nothing to send again.
        advice.delete()
        return
    mode = engine.params["advice_repeat"] or "0220"
    if mode == "off":
        # Kept under another setting: the installer has turned repeats off since.
        advice.delete()
        result.notes.append("%s %06d not sent again (advice_repeat off): dropped" % (what, stan))
        return
    entry_mode = fields.get(22)
    if entry_mode:
        fields[22] = entry_mode[:2] + "2"  # the repeat carries no PIN block
    detail = "no valid answer"
    for _ in range(engine._retries + 1):
        engine._event("advice", stan)
        try:
            msg = engine._exchange(mode, fields, True)
        except CommCancelled:
            raise  # the record stays for the next request
        except ConnectFailed as exc:
            raise EngineError("advice_pending", str(exc))
        except (CommError, txnmsg.ResponseError) as exc:
            detail = str(exc)
            continue
        got = msg.fields
        code = got[39]
        msg = None
        if respcodes.approved(code):
            if entry_mode:
                fields[22] = entry_mode  # the journal keeps how the card was read
            journal(engine, fields, got, operator)
            result.notes.append(
                "%s %06d sent again: approved (%s), journaled; its slip can be reprinted"
                % (what, stan, code)
            )
        else:
            result.notes.append("%s %06d sent again: declined (%s)" % (what, stan, code))
        advice.delete()
        return
    raise EngineError("advice_pending", "%s %06d: %s" % (what, stan, detail))


def journal(engine, fields, got, operator):
    """The journal record of the advice with `fields`, approved by the answer's fields
    `got`; returns the Entry."""
    date, time = engine._date_time(got)
    f60 = fields[60]
    f61 = fields.get(61)
    amount = int(got[4]) if got.get(39) == "10" and 4 in got else int(fields.get(4, "0"))
    return engine.journal.append(
        int(f60[:2]),
        int(fields[11]),
        int(f60[2:8]),
        amount,
        date,
        time,
        rrn=(got.get(37) or "").strip(),
        auth_code=(got.get(38) or "").strip(),
        response_code=got[39],
        entry_mode=fields.get(22, "000"),
        pan=fields.get(2),
        expiry=fields.get(14),
        original_stan=int(f61[6:12]) if f61 else 0,
        original_batch=int(f61[:6]) if f61 else 0,
        original_date=f61[12:16] if f61 else "0000",
        operator=operator,
    )
