"""What a power cut or a broken line left an application to finish: at power-up (app.ui.powerup,
docs/menus.md "Power-up"), and, for what a chip card left for the host, before each
financial request and settlement (`deliver`); for app.txn.engine.Engine. A small module: the
modules that finish each thing are imported only when their record is there.

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

    recovery.deliver(engine, result)   # the engine, after the reversal and the advice

What a chip card leaves for the host: the script result notice (app.txn.scriptnotice) and
the IC details of a settled batch still waiting (app.txn.icupload), sent after the pending
reversal and advice; a failure is noted in the result and the request goes on.
"""

from app import forget
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


def deliver(engine, result):
    """Send what a chip card left for the host (module docstring), notes into `result`."""
    prefix = "train" if engine.training else ""
    store = engine._store
    if store.load("%snotice%d" % (prefix, engine.app)) is not None:
        from app.txn import scriptnotice

        try:
            scriptnotice.deliver(engine, result)
        finally:
            scriptnotice = None
            forget("app.txn.scriptnotice")
    if store.load("%sicup%d" % (prefix, engine.app)) is not None:
        from app.txn import icupload

        try:
            icupload.resume(engine, result)
        finally:
            icupload = None
            forget("app.txn.icupload", "app.txn.icdata")
    # Imported at every financial request, with work to do once in a while: this module goes
    # too, off the heap through the request that follows (the next one imports it again).
    forget("app.txn.recovery")
