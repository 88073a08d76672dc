"""The cashier's payments besides the sale: void, refund, the pre-authorisation family and
balance inquiry (docs/menus.md, "Void", "Refund", "Pre-authorisation", "Balance"). The
cashier menu (app.ui.cashier) imports this module when one of them is chosen.

    from app.ui import payments
    payments.void(term, card)        # 2 撤销: supervisor, trace, the original, ENTER
    payments.refund(term, card)      # 3 退货: supervisor, card, RRN, date, amount
    payments.preauth(term, card)     # 4 预授权: the family's own menu
    payments.balance(term, card)     # 5 余额查询: card, PIN, the balance on screen

`card` is the card swiped at the idle screen, or None (the flow asks for it where it needs
one). Each flow ends back at the idle screen; CANCEL at any step before the host ends it with
nothing sent; Cancelled / Idle end it early.

- Void (sale void; completion void the same way): the supervisor password (a wrong one
  ends it, nothing sent) -> the original's trace number -> the original as the journal has
  it (card, amount, date), or why it cannot be voided: not in this batch (a settled one is
  not), already voided or reversed -> ENTER -> the card and the PIN where the application's
  pin_required asks for them -> the host -> the slips. Only the current batch, the full
  amount: the engine sends the original's amount.
- Refund: the supervisor password -> the card -> the original's reference number (RRN, 12
  digits, from its slip) -> its date (MMDD; the journal's, when this terminal made the
  sale, already there: ENTER) -> the amount (at most max_amount) -> the PIN where
  pin_required -> the host -> the slips.
- Pre-authorisation: the card -> the amount -> the PIN -> the host -> the slips. Pre-auth
  cancel, completion request and completion notice: the card (swiped or keyed: the
  pre-auth's slip has the number) -> its auth code -> the pre-auth's date (MMDD; already
  there when this terminal made it) -> the amount (a cancel's: the pre-auth's, already
  there) -> the PIN (not for the notice) -> the host -> the slips. Completion void: as the
  sale void.
- Balance: the card -> the PIN -> the host -> the balance on screen until a key. No slip.

The PIN: debit kinds (balance, pre-auth, its cancel, the completion request) ask for it as
the sale does (ENTER alone for none unless pin_required); credits and voids only where the
application's pin_required says so.
"""

from app import message
from app.ui import text
from app.ui.cashier import application, masked
from app.ui.screen import Cancelled, wipe

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

# This module's words, (Chinese, English) each, after a "|": one literal, as app/ui/text.py
# keeps its own (a tuple of pairs would be heap from import on). _w(n) gives the pair.
_PREAUTH = const(0)
_PREAUTH_CANCEL = const(1)
_COMPLETION = const(2)
_NOTICE = const(3)
_COMPLETION_VOID = const(4)
_TRACE = const(5)
_RRN = const(6)
_DATE = const(7)
_DATE_WRONG = const(8)
_AUTH_CODE = const(9)
_BALANCE_IS = const(10)
_WORDS = (
    "|预授权|Pre-auth"  # _PREAUTH
    "|预授权撤销|Preauth cancel"  # _PREAUTH_CANCEL
    "|预授权完成请求|Completion"  # _COMPLETION
    "|预授权完成通知|Compl. notice"  # _NOTICE
    "|预授权完成撤销|Compl. void"  # _COMPLETION_VOID
    "|原凭证号:|Original trace:"  # _TRACE
    "|原参考号:|Original RRN:"  # _RRN
    "|原交易日期MMDD:|Orig. date MMDD:"  # _DATE
    "|日期有误|Wrong date"  # _DATE_WRONG
    "|授权码:|Auth code:"  # _AUTH_CODE
    "|余额:|Balance:"  # _BALANCE_IS
    "|"
)

# The pre-authorisation menu: word and request kind of each item, in menu order.
_FAMILY = "preauth preauth_cancel completion completion_notice completion_void"


def _w(number):
    return message(_WORDS, 2 * number), message(_WORDS, 2 * number + 1)


# --- the flows -------------------------------------------------------------------------------


def void(term, card=None):
    """A sale void; see the module docstring."""
    _void(term, card, "sale_void", text.VOID)


def refund(term, card=None):
    """A refund; see the module docstring."""
    from app.txn.engine import Request

    title = text.REFUND
    app = application(term, title)
    password = term.supervisor(title, keep=True)
    if not password:
        return
    try:
        params = _params(term, app)
        card = _card(term, card, params, title)
        rrn = term.ui.number(title, _w(_RRN), 12, 12)
        date = _date(term, title, _original(term, app, rrn=rrn))
        fen = _amount(term, params, title)
        pin = _pin(term, app, card, fen, title, params["pin_required"])
        params = None
        request = Request(
            "refund",
            amount=fen,
            card=card,
            pin=pin,
            rrn=rrn,
            original_date=date,
            supervisor_password=password,
        )
        _finish(term, app, title, request)
    finally:
        wipe(password)


def preauth(term, card=None):
    """The pre-authorisation menu, then the one chosen; see the module docstring."""
    kinds = _FAMILY.split()
    items = []
    for i in range(len(kinds)):
        items.append(_w(_PREAUTH + i))
    choice = term.ui.menu(text.PREAUTH, items)
    if choice is None:
        raise Cancelled()
    kind = kinds[choice]
    title = items[choice]
    items = kinds = None
    if kind == "completion_void":
        _void(term, card, kind, title)
    else:
        _preauth(term, card, kind, title)


def balance(term, card=None):
    """A balance inquiry; see the module docstring."""
    from app.txn.engine import Request
    from drivers.keypad import format_amount

    ui = term.ui
    title = text.BALANCE
    app = application(term, title)
    params = _params(term, app)
    card = _card(term, card, params, title)
    params = None
    pin = term.read_pin(app, card, None, title)
    result = term.run(app, Request("balance", card=card, pin=pin), title)
    card = pin = None
    if not result.approved or result.balance is None:
        term.show_result(title, result)
        return
    fen = result.balance
    amount = ("-" if fen < 0 else "") + format_amount(abs(fen))
    ui.message(title, _w(_BALANCE_IS), "RMB " + amount, text.ENTER_TO_CONFIRM)


# --- their steps -----------------------------------------------------------------------------


def _void(term, card, kind, title):
    # A sale void or a completion void: the original by its trace number, shown, confirmed.
    from app.txn.engine import Request

    ui = term.ui
    app = application(term, title)
    password = term.supervisor(title, keep=True)
    if not password:
        return
    try:
        stan = int(ui.number(title, _w(_TRACE), 1, 6))
        original = _engine(term, app, title).find_original(stan, kind)
        if original is None:
            _refuse(term, title, "not_found")  # never in this batch, or settled since
            return
        if original.status != "approved":
            _refuse(term, title, "not_allowed")
            return
        from drivers.keypad import format_amount

        date, time = original.date, original.time
        when = "%s-%s-%s %s:%s" % (date[:4], date[4:6], date[6:], time[:2], time[2:4])
        amount = "RMB " + format_amount(original.amount)
        lines = (masked(original.pan_masked), amount, when)
        original = None
        if not ui.confirm(title, lines):
            raise Cancelled()
        params = _params(term, app)
        pin = None
        if params["pin_required"]:
            # The card with its PIN, as the application asks for both.
            card = _card(term, card, params, title)
            pin = term.read_pin(app, card, None, title)
        params = None
        request = Request(
            kind, original_stan=stan, card=card, pin=pin, supervisor_password=password
        )
        _finish(term, app, title, request)
    finally:
        wipe(password)


def _preauth(term, card, kind, title):
    # A pre-authorisation, its cancel, a completion request or notice.
    from app.txn.engine import Request

    ui = term.ui
    app = application(term, title)
    params = _params(term, app)
    first = kind == "preauth"
    # A pre-auth's later steps take the card keyed in from its slip too.
    card = _card(term, card, params, title, keyed=not first)
    date = auth = None
    initial = 0
    if not first:
        auth = ui.number(title, _w(_AUTH_CODE), 6, 6)
        original = _original(term, app, auth=auth)
        date = _date(term, title, original)
        if original is not None and kind == "preauth_cancel":
            initial = original.amount  # a cancel is of the whole pre-authorisation
        original = None
    fen = _amount(term, params, title, initial)
    if kind == "completion_notice":
        pin = None  # a notice tells the host of a completion done: no cardholder there
    else:
        pin = term.read_pin(app, card, fen, title)
    params = None
    request = Request(kind, amount=fen, card=card, pin=pin, auth_code=auth, original_date=date)
    _finish(term, app, title, request)


def _finish(term, app, title, request):
    # The host, the result on screen, the slips.
    result = term.run(app, request, title)
    request.card = request.pin = None
    term.show_result(title, result)
    if result.receipt_lines:
        term.print_slip(app, result)


def _card(term, card, params, title, keyed=False):
    # The card swiped at the idle screen, or one read now (keyed in where the application's
    # manual_entry allows it, or `keyed`).
    if card is not None:
        return card
    return term.read_card(title, allow_keyed=keyed or bool(params["manual_entry"]))


def _params(term, app):
    params = term.app_params(app)
    if params is None:
        raise Cancelled()
    return params


def _engine(term, app, title):
    # The application's engine, or the screen says why there is none (and Cancelled).
    try:
        return term.engine(app)
    except (OSError, ValueError):
        _refuse(term, title, "no_parameters" if term.app_params(app) is None else "connect")
        raise Cancelled() from None


def _refuse(term, title, reason):
    # What the engine would say for `reason` (app.txn.respcodes), said before anything goes.
    from app.txn import respcodes

    english, chinese = respcodes.terminal(reason)
    term.ui.notice(title, (chinese, english), wait_ms=15000)


def _amount(term, params, title, initial=0):
    limit = params["max_amount"]
    return term.ui.amount(title, maximum=int(limit) * 100 if limit else None, initial=initial)


def _original(term, app, auth=None, rrn=None):
    # The journal's record of the original (a pre-authorisation by its auth code, a sale by
    # its reference number) when this terminal made it, or None.
    try:
        journal = term.engine(app).journal
    except (OSError, ValueError):
        return None
    return journal.find_auth(auth) if auth else journal.find_rrn(rrn)


def _date(term, title, original=None):
    # The original's date, MMDD, checked as a date of the year; the journal's when it has
    # the original (ENTER takes it).
    initial = original.date[4:] if original is not None else ""
    while True:
        date = term.ui.number(title, _w(_DATE), 4, 4, initial=initial)
        initial = ""
        month, day = int(date[:2]), int(date[2:])
        if 1 <= month <= 12 and 1 <= day <= 31:
            return date
        term.ui.message(title, _w(_DATE_WRONG), wait_ms=3000)


def _pin(term, app, card, fen, title, required):
    # A credit's PIN: only where the application requires one.
    return term.read_pin(app, card, fen, title) if required else None
