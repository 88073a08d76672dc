"""What a power cut left an application to finish, finished at power-up (app.ui.powerup,
docs/menus.md "Power-up"); for app.txn.engine.Engine, imported only when something is due,
so its code stays off the heap the rest of the day.

    if recovery.due(engine):
        result = engine.run(Request("recover"))    # Engine.run calls run() below
        if result.settlement is not None: ...      # a settlement it completed: print its slip

What is finished, in this order (docs/transactions.md §6, §7):
- a settlement (record "closingN", app.txn.settlement): a batch the host had settled is
  closed without the line, its slip put in the result from the record (Engine.run does it
  first, as at every first run); a settlement left unanswered is sent again, the pending
  reversal and advice first, as every settlement sends them;
- else the pending reversal (app.txn.reversal) and the pending advice (app.txn.advice).

The result is approved (00) once all is done; otherwise it says what failed (EngineError,
CommError... as Engine.run reports them), and what is left stays for the next request.
"""

from app.txn.api import EngineError


def due(engine):
    """True when a power cut left `engine`'s application something to finish: a settlement
    (record "closingN"), a reversal or an advice to send."""
    from app.txn.engine import _closing

    store = engine._store
    return (
        store.load(_closing(engine)) is not None
        or engine._reversal.due()
        or store.load(engine.advice_name) is not None
    )


def run(engine, result, operator):
    """Request("recover") (module docstring); the closing record was seen to at the top of
    Engine.run. Raises EngineError, CommError... as a request does."""
    advice = engine._store.load(engine.advice_name) is not None
    if engine.settle_due is not None or advice or engine._reversal.due():
        if engine._signed_off:
            raise EngineError("signed_off")
        if engine.settle_due is not None:
            engine._settle(result, operator, True, resume=True)
            return
        engine._mac_ready()
        engine._connect()
        engine._send_reversal(result)
        engine._send_advice(result)
    if result.settlement is None:
        result.code("00")
