"""Clear the journal in PosManage (清除流水): only what settlement has already settled.

    admin_journal.run(term)

Settlement empties an application's journal itself; what this clears is what stays behind
when it cannot: the records of a batch already settled (a power cut between the batch
number's advance and the journal's emptying leaves them), and any journal of an application
that is settled. It refuses, naming the application and the reason, while any application
still has:

- a pending reversal ("有冲正未完成": the next transaction or settlement sends it);
- a pending refund or completion notice ("有通知未完成": sent again before the next
  transaction or settlement, its answer not yet journaled);
- a transaction of its current batch, voided ones included ("有未结算交易 N笔": settle
  first; the host holds them in its batch too).

Nothing is cleared unless every application passes (all or nothing), and only after ENTER
on the count of records to go. Counters (trace and batch numbers) are never reset: the host
would see a trace number again.
"""

from app.ui import admin

TITLE = ("清除流水", "Clear journal")


def _engines(term):
    # The engine of each application, without a bearer: only its journal, batch, pending
    # reversal and advice are read, nothing is sent.
    from app.txn.engine import Engine

    for index, name in term.applications():
        yield index, name, Engine(index, term.store, term.storage_key, None)


def run(term):
    ui = term.ui
    total = 0
    for index, name, engine in _engines(term):
        app = ("应用%d %s" % (index, name), "App %d %s" % (index, name))
        if engine.pending_reversal() is not None:
            ui.message(
                TITLE, app, ("有冲正未完成", "Reversal pending"), ("请先结算", "Settle first")
            )
            return
        if engine.pending_advice() is not None:
            ui.message(
                TITLE, app, ("有通知未完成", "Advice pending"), ("请先结算", "Settle first")
            )
            return
        unsettled = 0
        for _ in engine.journal.entries(engine.batch):
            unsettled += 1
        if unsettled:
            ui.message(
                TITLE,
                app,
                ("有未结算交易%d笔" % unsettled, "%d not settled" % unsettled),
                ("请先结算", "Settle first"),
            )
            return
        for _ in engine.journal.records():
            total += 1
    if not total:
        ui.message(TITLE, ("流水已空", "Journal is empty"), wait_ms=3000)
        return
    if not ui.confirm(TITLE, (("清除 %d 条记录?" % total, "Clear %d records?" % total),)):
        return
    for _, _, engine in _engines(term):
        engine.journal.clear()
    admin.changed(term)
    ui.message(TITLE, ("已清除", "Cleared"), wait_ms=3000)
