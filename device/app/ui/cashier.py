"""The cashier menu and its flows: sale, sign-on and sign-off here; void, refund, the pre-auth
family and balance in app.ui.payments, settlement and reprint in app.ui.batch (docs/menus.md,
"Cashier menu").

    from app.ui import cashier
    cashier.run(term)                  # the menu (ENTER at idle)
    cashier.run(term, card=card)       # a card swiped at idle: the menu, the card read
    cashier.run(term, choice=0)        # a digit at idle: that item at once

    1 消费 Sale       swipe (or key the card where allowed), amount, confirm, PIN, slip;
                      or a chip card inserted (app.ui.chipsale); where the application
                      takes taps (contactless): amount first, then tap, insert or swipe
                      (app.ui.tapsale)
    2 撤销 Void       3 退货 Refund     4 预授权 Pre-auth   5 余额查询 Balance
    6 结算 Settlement 7 重打印 Reprint  8 签到 Sign on      9 签退 Sign off

The sale, as the operator's procedure trains it (§5.4): the card (swiped at idle, or now;
keyed card number and expiry where the application's manual_entry allows) -> the amount
typed from the cents side (1 = 0.01, 10000 = 100.00; at most the application's max_amount)
-> the card number (first 6 / last 4) and the amount shown, ENTER -> the PIN (the external
PIN pad when the terminal has one, else the keypad; ENTER alone for no PIN unless the
application's pin_required) -> the host -> the result -> the slips. CANCEL at any step ends
the sale, nothing sent; CANCEL while dialling or waiting for the host ends the attempt (a
reversal follows if the request had left).

Each flow returns to the idle screen; Cancelled / Idle end it early.
"""

from app.ui import forget, text
from app.ui.screen import Cancelled

ITEMS = (
    text.SALE,
    text.VOID,
    text.REFUND,
    text.PREAUTH,
    text.BALANCE,
    text.SETTLEMENT,
    text.REPRINT,
    text.SIGN_ON,
    text.SIGN_OFF,
)
# Items built in other modules: index -> (module, function). Each is called as
# function(term, card) and imported when chosen.
_ELSEWHERE = {
    1: ("payments", "void"),
    2: ("payments", "refund"),
    3: ("payments", "preauth"),
    4: ("payments", "balance"),
    5: ("batch", "settle"),
    6: ("batch", "reprint"),
}


def run(term, card=None, choice=None):
    """The cashier menu (or item `choice`, 0-based, at once); one flow, then back. A card
    inserted into the chip reader at idle (`card` INSERTED) is a sale at once."""
    if isinstance(card, str):  # app.ui.terminal.INSERTED
        choice = 0
    if choice is None or not 0 <= choice < len(ITEMS):
        choice = term.ui.menu(text.CASHIER, ITEMS)
        if choice is None:
            return
    if choice == 0:
        sale(term, card)
    elif choice == 7:
        sign_on(term)
    elif choice == 8:
        sign_off(term)
    else:
        _elsewhere(term, choice, card)


def _elsewhere(term, choice, card):
    module, name = _ELSEWHERE[choice]
    try:
        flows = __import__("app.ui." + module, None, None, (name,))
    except ImportError as exc:
        if module not in str(exc):
            raise
        term.ui.message(ITEMS[choice], text.NOT_AVAILABLE, wait_ms=3000)
        return
    try:
        getattr(flows, name)(term, card)
    finally:
        # Used a few times a day: its code goes off the heap until the next time.
        flows = None
        forget("app.ui." + module)


def application(term, title):
    """The application a transaction goes to: the only one, or the one the cashier picks
    from the menu of their names. Cancelled if there is none (the screen says so) or the
    cashier cancels."""
    apps = term.applications()
    if not apps:
        term.ui.message(title, text.NO_APPLICATION, wait_ms=3000)
        raise Cancelled()
    if len(apps) == 1:
        return apps[0][0]
    names = []
    for _, name in apps[:10]:
        names.append(name)
    choice = term.ui.menu(text.APPLICATION, names)
    if choice is None:
        raise Cancelled()
    return apps[choice][0]


def masked(pan):
    """The card number as the confirm screen shows it: first 6, last 4, stars between, at
    most 16 characters (one screen line)."""
    return pan[:6] + "*" * (min(len(pan), 16) - 10) + pan[-4:]


def sale(term, card=None, amount=None, app=None):
    """A sale; see the module docstring. The host link starts one with its `amount` (fen)
    and application `app` given: the card, the confirmation, the PIN and the slips are the
    cashier's steps as ever. Returns the engine's Result."""
    from app.txn.engine import Card, Request
    from app.ui.terminal import wants_chip
    from drivers.keypad import format_amount

    ui = term.ui
    title = text.SALE
    if app is None:
        app = application(term, title)
    params = term.app_params(app)
    if params is None:
        raise Cancelled()
    manual = params["manual_entry"]
    limit = params["max_amount"]
    first = bool(params["chip_first"]) and term.chip_reader() is not None
    tap = bool(params["contactless"])
    params = None
    if first and card is not None and not isinstance(card, str) and wants_chip(card):
        # A chip card swiped at idle: its chip first (the application's chip_first).
        ui.message(title, text.CHIP_CARD, wait_ms=3000)
        card = None
    fen = None
    if card is None and tap:
        # A tap needs the amount first (the card decides at once): amount, then the card.
        fen = amount or ui.amount(title, maximum=int(limit) * 100 if limit else None)
        card = _tap(term, app, fen, title, bool(manual), first)
        if not isinstance(card, (Card, str)):
            return card  # the tap's Result, shown and printed
    if card is None:
        card = term.read_card(title, allow_keyed=bool(manual), chip=True, chip_first=first)
    if not isinstance(card, str):
        # A swipe's or a keyed card's sale: the chip reader's driver is not carried to its
        # heap peak (the slips).
        term.release_chip_reader()
    fen = fen or amount or ui.amount(title, maximum=int(limit) * 100 if limit else None)
    if isinstance(card, str):  # INSERTED: the chip, or the stripe after it failed
        card = _chip(term, app, fen, title)
        if not isinstance(card, Card):
            return card  # the online sale's Result, shown and printed
    amount = "RMB " + format_amount(fen)
    if not ui.confirm(title, (masked(card.pan), amount, text.ENTER_TO_CONFIRM)):
        raise Cancelled()
    try:  # a card on the black list: no PIN asked, the engine refuses it (nothing sent)
        listed = term.engine(app).listed(card.pan)
    except (OSError, ValueError):
        listed = False  # term.run says what is wrong
    pin = None if listed else term.read_pin(app, card, fen, title)
    result = term.run(app, Request("sale", amount=fen, card=card, pin=pin), title)
    if card.fallback:
        forget("app.txn.chip")  # the engine's, for the fallback's fields
    card = pin = None
    term.show_result(title, result)
    if result.receipt_lines:
        term.print_slip(app, result)
    return result


def _tap(term, app, fen, title, manual, first):
    # The card prompt with the tap (app.ui.tapsale), its modules let go after it: the tap's
    # Result, or the Card / INSERTED the prompt got instead.
    from app.ui import tapsale

    modules = tapsale.MODULES
    try:
        return tapsale.sale(term, app, fen, title, manual, first)
    finally:
        tapsale = None
        forget(*modules)
        term.release_contactless()


def _chip(term, app, fen, title):
    # The chip sale (app.ui.chipsale), its modules let go after it: the engine's Result, or
    # the fallback swipe's Card.
    from app.ui import chipsale

    modules = chipsale.MODULES
    try:
        return chipsale.sale(term, app, fen, title)
    finally:
        chipsale = None
        forget(*modules)
        term.release_chip_reader()


def sign_on(term):
    """Sign-on of one application with the operator's number and password: working keys
    (and the PIN pad's PIN key), the clock, the batch number."""
    from app.txn.engine import Request

    ui = term.ui
    title = text.SIGN_ON
    app = application(term, title)
    number = ui.number(title, text.OPERATOR_NUMBER, 2, 2)
    if not term.operator(title):
        return
    term.operator_no = number
    result = term.run(app, Request("sign_on"), title)
    if result.approved and term.pad_keys.get(app) is False:
        ui.message(title, text.APPROVED, text.PINPAD_NO_KEY, text.CALL_FOR_SERVICE, wait_ms=5000)
        return
    term.show_result(title, result)


def sign_off(term):
    """Sign-off of one application, after ENTER on its name: no transaction until the next
    sign-on."""
    from app.txn.engine import Request

    ui = term.ui
    title = text.SIGN_OFF
    app = application(term, title)
    name = ""
    for index, label in term.applications():
        if index == app:
            name = label
    if not ui.confirm(title, (name, text.ENTER_TO_CONFIRM)):
        raise Cancelled()
    result = term.run(app, Request("sign_off"), title)
    term.show_result(title, result)
