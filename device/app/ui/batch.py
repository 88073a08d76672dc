"""The end of the cashier's day and the slips again: settlement and reprint (docs/menus.md,
"Settlement", "Reprint"). The cashier menu (app.ui.cashier) imports this module when one of
them is chosen.

    from app.ui import batch
    batch.settle(term, card)     # 6 结算: the batch's totals, ENTER, the host, the verdict, slip
    batch.reprint(term, card)    # 7 重打印: last slip, by trace number, last settlement

Settlement, one application at a time: its batch's totals as the terminal counts them
(debit and credit, count and amount) -> ENTER -> the host (the engine: the pending reversal,
the 0500, the batch upload when the host does not agree, the batch end) -> the host's
verdict (对账平 balanced, 对账不平 unbalanced, 对账出错 error) with the batch number and the
records uploaded -> the settlement slip (its totals per transaction type added: the journal
is cleared by the settlement, so they are counted before it) -> the sign-off and sign-on the
application's settle_signoff / settle_signon ask for (Terminal.run does them), each said on
screen. A batch with no transactions: the engine asks (empty_batch "ask") and the screen
asks the cashier.

Reprint: 1 the last transaction's slip (a slip that could not be printed, the one the
record "slip" names, is the last), 2 a slip by its trace number (this batch), 3 the last
settlement slip (kept on flash). Each marked REPRINT 重打印.
"""

from app import message
from app.ui import forget, text
from app.ui.cashier import application
from app.ui.screen import Cancelled
from drivers import keypad as kp

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_VERDICT_MS = const(15000)  # the host's verdict stays this long, unless a key is pressed
_SIGNED_MS = const(2000)  # the sign-off / sign-on after settlement, a moment each

# This module's words, (Chinese, English) each, after a "|" (as app.ui.payments keeps its).
_DEBIT = const(0)
_CREDIT = const(1)
_BALANCED = const(2)
_UNBALANCED = const(3)
_ERROR = const(4)
_BATCH = const(5)
_UPLOADED = const(6)
_LAST = const(7)
_BY_TRACE = const(8)
_LAST_SETTLEMENT = const(9)
_TRACE = const(10)
_NO_SETTLEMENT = const(11)
_FAILED = const(12)
_WORDS = (
    "|借记 |Debit "  # _DEBIT
    "|贷记 |Credit "  # _CREDIT
    "|对账平|Balanced"  # _BALANCED
    "|对账不平|Unbalanced"  # _UNBALANCED
    "|对账出错|Totals error"  # _ERROR
    "|批次号 |Batch "  # _BATCH
    "|已上送 |Uploaded "  # _UPLOADED
    "|重打上笔|Last slip"  # _LAST
    "|按凭证号重打|By trace"  # _BY_TRACE
    "|重打结算单|Settle slip"  # _LAST_SETTLEMENT
    "|凭证号:|Trace number:"  # _TRACE
    "|无结算单|No settlement"  # _NO_SETTLEMENT
    "|失败|failed"  # _FAILED
    "|"
)


def _w(number, suffix=""):
    return message(_WORDS, 2 * number) + suffix, message(_WORDS, 2 * number + 1) + suffix


def settle(term, card=None):
    """Settle one application's batch; see the module docstring."""
    from app.txn.engine import Request

    ui = term.ui
    title = text.SETTLEMENT
    app = application(term, title)
    by_type = None
    try:
        engine = term.engine(app)
    except (OSError, ValueError):
        engine = None  # term.run says why
    if engine is not None:
        debit, debit_count, credit, credit_count = engine.totals()
        lines = (_totals(_DEBIT, debit_count, debit), _totals(_CREDIT, credit_count, credit))
        if not ui.confirm(title, lines + (text.ENTER_TO_CONFIRM,)):
            raise Cancelled()
        by_type = _by_type(engine)
        engine = None
    result = term.run(app, Request("settlement"), title)
    if result.error == "confirm_empty":
        # The engine asks before an empty batch is settled (empty_batch "ask").
        if ui.notice(title, (result.message_zh, result.message_en)) != kp.ENTER:
            raise Cancelled()
        result = term.run(app, Request("settlement", confirmed=True), title)
    settled = result.settlement
    if settled is None:
        term.show_result(title, result)
        return
    if settled["balanced"]:
        verdict = _BALANCED
    else:
        verdict = _ERROR if "error" in (settled["domestic"], settled["foreign"]) else _UNBALANCED
    uploaded = None
    if settled["uploaded"]:
        uploaded = _w(_UPLOADED, str(settled["uploaded"]))
    ui.message(
        title, _w(verdict), _w(_BATCH, "%06d" % settled["batch"]), uploaded, wait_ms=_VERDICT_MS
    )
    if result.receipt_lines and by_type:
        from app.txn import receipt

        lines = result.receipt_lines
        lines[len(lines) - 1 : len(lines) - 1] = receipt.type_lines(by_type)
        # The slip's record is saved next, with the lines joined: over GPRS the day's peak.
        # The slip layout has done its work here; its code goes off the heap first.
        receipt = lines = None
        forget("app.txn.receipt")
    by_type = None
    term.print_slip(app, result)
    for note in result.notes:
        # Terminal.run's sign-off / sign-on after the settlement: "sign_on after
        # settlement: approved" (or what went wrong).
        kind, _, outcome = note.partition(" after settlement: ")
        if outcome:
            said = text.APPROVED if outcome == "approved" else _w(_FAILED)
            ui.message(
                text.SIGN_ON if kind == "sign_on" else text.SIGN_OFF, said, wait_ms=_SIGNED_MS
            )


def reprint(term, card=None):
    """The reprint menu; see the module docstring."""
    from app.ui import slips

    ui = term.ui
    title = text.REPRINT
    choice = ui.menu(title, (_w(_LAST), _w(_BY_TRACE), _w(_LAST_SETTLEMENT)))
    if choice is None:
        raise Cancelled()
    app = application(term, title)
    if choice == 2:
        if term.store.load("settle%d" % app) is None:
            ui.message(title, _w(_NO_SETTLEMENT), wait_ms=3000)
            return
        slips.reprint_settlement(term, app)
        return
    stan = None
    if choice == 1:
        stan = int(ui.number(title, _w(_TRACE), 1, 6))
    try:
        slips.reprint(term, app, stan)
    except (OSError, ValueError) as exc:  # no engine for the application: no journal
        from app.txn import respcodes

        english, chinese = respcodes.terminal(
            "connect" if isinstance(exc, OSError) else "no_parameters"
        )
        ui.notice(title, (chinese, english), wait_ms=5000)


def _totals(word, count, fen):
    from drivers.keypad import format_amount

    return _w(word, "%d %s" % (count, format_amount(fen)))


def _by_type(engine):
    # [(kind, count, fen)] of the batch's transactions the host approved (a reversed one never
    # happened), in the order the kinds first appear. A voided sale counts under 消费 and its
    # void under 消费撤销, as the slip's convention is: the lines add up to the totals.
    kinds = []
    counts = {}
    for entry in engine.journal.entries(engine.batch):
        if entry.status == "reversed":
            continue
        kind = entry.kind
        if kind not in counts:
            kinds.append(kind)
            counts[kind] = [0, 0]
        counts[kind][0] += 1
        counts[kind][1] += entry.amount
    return [(kind, counts[kind][0], counts[kind][1]) for kind in kinds]
