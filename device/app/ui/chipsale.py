"""A sale with a chip card in the contact reader (docs/menus.md, "A sale with a chip card"):
the contact PBOC kernel (app.txn.chip, app.emv.kernel) driven from the cashier's screens.

    from app.ui import chipsale
    result = chipsale.sale(term, app, fen, title)   # the engine's Result (online), or a
                                                    # fallback Card (the chip failed, the
                                                    # stripe swiped); Cancelled otherwise

The card is in (the cashier menu's sale saw the reader's card-inserted message) and the
amount known (the card's processing options carry it). The kernel reads the card; the
cashier (or cardholder) picks the card's application from a menu of its labels when the
card has more than one (or asks for a confirmation); the card's CVM asks for the online PIN
the way a swipe does (the PIN pad, or the keypad). An ARQC goes to the host through the
engine as a ChipCard (fields 23, 55, 60.4 = 5); the host's answer back to the card (its
second GENERATE AC): a card declining after the host approved is reversed by the engine, the
screen says "卡片拒绝交易,已冲正". A chip that cannot be used (kernel outcome FALLBACK) asks for
the card out and a swipe: that swipe is marked fallback (22 = 02x, 60.5 = 2). At the end,
whatever the outcome (after the result and the slips), the card is powered off and the
screen asks for it out until the reader says it is (or the idle time passes).

Imported when a card is inserted and let go afterwards, with the kernel's modules
(MODULES): the idle screen and a swipe sale never carry them.
"""

from app.ui import forget, text
from app.ui.screen import Cancelled

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_POLL_MS = const(100)  # while asking for the card out, the reader is looked at this often
_STOPPED_MS = const(5000)  # a refusal by the card (or a stop) on the screen
# What a chip sale loads, let go once it ends (app.ui.forget).
MODULES = (
    "app.ui.chipsale",
    "app.txn.chip",
    "app.emv.kernel",
    "app.emv.checks",
    "app.emv.select",
    "app.emv.oda",
    "app.emv.dol",
    "app.emv.terminal",
    "app.emv.tlv",
    "app.store.icsets",
    "app.emv",
)


class _PanOf:
    # What Terminal.read_pin reads of a card (the PIN pad's block needs the PAN): the
    # kernel's, once its records are read (the CVM comes after them).
    def __init__(self, k):
        self.pan = k.pan()


def sale(term, app, fen, title):
    """See the module docstring. An online sale's result is shown and its slips printed
    before the card is asked out."""
    from app.emv import kernel as emv
    from app.txn import chip
    from app.txn.engine import Request

    ui = term.ui
    reader = term.chip_reader()
    try:
        engine = term.engine(app)
    except (OSError, ValueError):
        ui.message(title, text.CHIP_STOPPED, wait_ms=_STOPPED_MS)
        raise Cancelled() from None
    entered = []  # the PIN the CVM asked for: digits, a PinBlock, or None

    def choose(labels):
        return ui.menu(text.CARD_APP, labels[:10])

    def pin():
        entered.append(term.read_pin(app, _PanOf(k), fen, title))
        return entered[-1] is not None

    k = chip.kernel(engine, reader, fen, choose, pin)
    ui.show(title, (text.PLEASE_WAIT,))
    try:
        k.start()
        engine = None
        # Selection and ODA are done: their modules and the IC sets' reader are not carried
        # through the online exchange.
        forget("app.store.icsets", *emv.SELECTION_MODULES)
        if k.result == emv.ONLINE:
            pin_data = entered[-1] if entered else None
            del entered[:]  # the request has it now (the engine wipes the digits)
            request = Request("sale", amount=fen, card=chip.ChipCard(k), pin=pin_data)
            pin_data = None
            result = term.run(app, request, title)
            request = None
            term.show_result(title, result)
            if result.receipt_lines:
                term.print_slip(app, result)
            return result
        fallback = k.result == emv.FALLBACK
        if fallback:
            ui.message(title, text.CHIP_FAILED, wait_ms=_STOPPED_MS)
        elif k.reason == "blacklisted":
            _blacklisted(term, title, k.detail)
        else:
            # DECLINED (an AAC at the first GENERATE AC), TERMINATED; APPROVED never: this
            # terminal asks for an ARQC (no offline approval at the chip).
            why = text.CARD_REMOVED if k.reason == "card_removed" else text.CHIP_STOPPED
            if k.result == emv.DECLINED:
                why = text.DECLINED_BY_CARD
            ui.message(title, why, k.reason, wait_ms=_STOPPED_MS)
    finally:
        k.finish()
        k = None
        removed(term, reader, title)
    if not fallback:
        raise Cancelled()
    # The stripe of the same card, swiped now: marked as a fallback.
    card = term.read_card(title, allow_keyed=False)
    track2 = card.track2
    card = None
    return chip.fallback_card(track2)


def _blacklisted(term, title, bin_):
    # The card's number is on the acquirer's black list: the screen a swiped one gets from
    # the engine (its "blacklisted" outcome), no PIN asked, nothing sent.
    from app.txn.api import Result

    result = Result("sale")
    result.fail("blacklisted", "card %s... is on the acquirer's black list" % bin_)
    term.show_result(title, result)


def removed(term, reader, title):
    """Ask for the card out of the contact reader until the reader says it is (its card-
    removed message, or no card present), or the idle time passes."""
    ui = term.ui
    try:
        if not reader.present():
            return
    except OSError:
        return
    ui.show(title, (text.REMOVE_CARD,))
    waited = 0
    while waited < ui.idle_ms:
        if reader.event() == "removed":
            return
        ui.keypad.get(_POLL_MS)  # a key does not end the wait: the card must come out
        waited += _POLL_MS
    # The idle time: the terminal goes on (the idle screen), the card powered off.
