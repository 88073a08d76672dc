"""A sale with a contactless card (docs/menus.md, "A contactless sale"): the qPBOC kernel
(app.emv.qpboc) on the contactless reader, driven from the cashier's screens.

    from app.ui import tapsale
    got = tapsale.sale(term, app, fen, title, allow_keyed, chip_first)
    # the Result of a tap (shown, slips printed); or what the prompt got instead -- a Card
    # (swiped or keyed) or INSERTED (app.ui.terminal) -- for the cashier's sale to go on

The amount is known (the card decides at its GET PROCESSING OPTIONS, which carries it). The
prompt, 请挥卡/插卡/刷卡, waits for a tap, an insert or a swipe (or the card number keyed where
the application allows), the contactless reader looked at in each of the prompt's polls,
until the idle time. No tap is offered (the prompt says 请刷卡或插卡) when the amount is at or
over the contactless transaction limit of every AID (DF20), when the terminal has no AID (no
IC download yet), or when the journal has no room for an offline sale (settle first). A tap:

- approved offline (the card's TC, fDDA verified): journaled as an offline sale (kind 36,
  app.txn.offline) with the next STAN, then the result and the slips, printed from the record
  -- e-cash, uploaded at settlement;
- online (the card's ARQC): the online PIN where the card's CVM (or the CVM limit, DF21)
  asks for it, then the 0200 through the engine (app.txn.tap: 22 = 071/072, 55, 60.4 = 6),
  the result and the slips;
- declined by the card (AAC): 卡片拒绝交易;
- the card wants contact, or the amount is over its limit: the prompt again without the tap
  (请刷卡或插卡), and the sale goes on as an insert or a swipe;
- the card left the field too early: 请重新挥卡, and the prompt again (the same amount).

Before the card is read, a pre-tap record (`tappingN`: amount, time) is written, and deleted
once the tap's end is known; one left by a power cut is told at the next tap sale
(上笔挥卡未完成, its amount and time): the card may have paid it (docs/emv.md, "A tap lost").

Imported when the application takes taps, let go afterwards with the kernel's modules
(MODULES) and the reader's driver: the idle screen and a swipe sale never carry them.
"""

from app.ui import forget, text
from app.ui.screen import Cancelled
from app.ui.terminal import TAPPED

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_MESSAGE_MS = const(3000)
_STOPPED_MS = const(5000)
# What a tap loads, let go once the sale ends (app.ui.forget).
MODULES = (
    "app.ui.tapsale",
    "app.txn.tap",
    "app.txn.chip",
    "app.txn.offline",
    "app.emv.qpboc",
    "app.emv.oda",
    "app.emv.dol",
    "app.emv.terminal",
    "app.emv.tlv",
    "app.store.icsets",
    "app.emv",
)
# The kernel's part, let go before an online tap's request (its heap peak).
_KERNEL = ("app.emv.qpboc", "app.emv.oda", "app.emv.dol", "app.store.icsets")


class _Poll:
    # read_card's `tap`: True when a payment card is in the field, activated (one
    # InListPassiveTarget at each of the prompt's polls, a few milliseconds with no card); a
    # reader that fails is not asked again this sale.
    def __init__(self, nfc):
        self.nfc = nfc

    def __call__(self):
        if self.nfc is None:
            return False
        from drivers.cardchannel import CardProtocolError, NoCard

        try:
            self.nfc.power_up(0)
            return True
        except NoCard:
            return False
        except CardProtocolError:
            return False  # a transit or access card: not a payment card, not answered
        except OSError:
            self.nfc = None
            return False


def sale(term, app, fen, title, allow_keyed=False, chip_first=False):
    """See the module docstring."""
    ui = term.ui
    engine = sets = None
    _lost(term, app, title)
    nfc = term.contactless_reader()
    if nfc is not None:
        from app.emv import qpboc
        from app.store.icsets import ICSets
        from app.txn import offline

        try:
            engine = term.engine(app)
            sets = ICSets(engine._store.root)
            if qpboc.refused_amount(fen, sets) or not offline.ready(engine):
                nfc = None
        except (OSError, ValueError):
            nfc = None
    poll = _Poll(nfc) if nfc is not None else None
    while True:
        got = term.read_card(
            title, allow_keyed=allow_keyed, chip=True, chip_first=chip_first, tap=poll
        )
        if got != TAPPED:
            return got
        from app.emv import qpboc  # imported above: a tap needs the reader and the limits

        ui.show(title, (text.TAP_HOLD,))
        term.release_chip_reader()  # a tap: no insert from here on, the kernel's heap
        _in_flight(term, app, engine, fen)
        outcome = _transact(engine, nfc, sets, fen)
        result = outcome.result
        if result == qpboc.APPROVED:
            return _offline(term, app, engine, outcome, title)
        _landed(term, app)
        if result == qpboc.ONLINE:
            engine = sets = nfc = poll = None
            return _online(term, app, outcome, fen, title)
        if result == qpboc.TERMINATED and outcome.reason in ("card_removed", "no_card"):
            ui.message(title, text.TAP_AGAIN, wait_ms=_MESSAGE_MS)
            continue
        if result == qpboc.TRY_ANOTHER:
            ui.message(title, text.INSERT_OR_SWIPE, outcome.reason, wait_ms=_MESSAGE_MS)
            poll = None  # the prompt again, without the tap
            continue
        why = text.DECLINED_BY_CARD if result == qpboc.DECLINED else text.CHIP_STOPPED
        ui.message(title, why, outcome.reason, wait_ms=_STOPPED_MS)
        raise Cancelled()


def _name(app):
    return "tapping%d" % app


def _in_flight(term, app, engine, fen):
    # The pre-tap record: the amount and the time of a tap about to be read, written before
    # the card can spend its e-cash (at the GPO) and deleted once the tap's end is known (its
    # journal record written, or no offline approval). Found at the next tap sale, it says a
    # tap was cut off (_lost). A flash failure leaves the tap without it.
    try:
        now = engine.clock.now()
        term.store.save(_name(app), ("%012d%04d%02d%02d%02d%02d" % ((fen,) + now[:5])).encode())
    except OSError:
        pass


def _landed(term, app):
    try:
        term.store.delete(_name(app))
    except OSError:
        pass


def _lost(term, app, title):
    # A pre-tap record left by a power cut during a tap: the card may have paid that tap
    # offline without the terminal's record of it (docs/emv.md, "A tap lost"). The cashier is
    # told its amount and time (the cardholder's balance, or the issuer's e-cash clearing,
    # settles it), then it is forgotten.
    try:
        got = term.store.load(_name(app))
    except OSError:
        return
    if got is None:
        return
    from drivers.keypad import format_amount

    data = bytes(got[1]).decode()
    when = "%s-%s %s:%s" % (data[16:18], data[18:20], data[20:22], data[22:24])
    line = "RMB " + format_amount(int(data[:12])) if data[:12].isdigit() else None
    term.ui.message(title, text.TAP_CUT, line, when, wait_ms=_STOPPED_MS * 2)
    _landed(term, app)


def _transact(engine, nfc, sets, fen):
    # One tap: the kernel on the activated card, then the field off whatever happened.
    from app.emv import qpboc
    from app.txn import chip

    try:
        return qpboc.transact(nfc, chip.terminal_data(engine, fen), sets)
    finally:
        try:
            nfc.power_off()
        except OSError:
            pass  # the reader's fault shows at the next poll


def _offline(term, app, engine, outcome, title):
    # The card approved offline: the record first, then the result and the slips from it.
    from app.txn import offline
    from app.txn.api import Result

    try:
        entry = offline.approve(engine, outcome, term.operator_no or "")
        _landed(term, app)
    except (OSError, ValueError) as exc:
        # Not journaled: the card's e-cash is spent, its log (9F4D) holds the tap for the
        # issuer's clearing; no slip without a record (docs/emv.md). The pre-tap record
        # stays: the next tap sale says this tap was cut off.
        term.ui.message(title, text.CHIP_STOPPED, str(exc)[:16], wait_ms=_STOPPED_MS)
        raise Cancelled() from None
    result = Result("sale")
    result.approved = True
    result.response_code = entry.response_code
    result.message_zh, result.message_en = text.pair(text.TAP_OFFLINE)
    result.stan, result.batch, result.amount = entry.stan, entry.batch, entry.amount
    result.pan_masked = entry.pan_masked
    result.date, result.time = entry.date, entry.time
    result.entry = entry
    result.training = engine.training
    result.receipt_lines = engine.receipt(entry.stan, "merchant", False)  # from the record
    term.show_result(title, result)
    term.print_slip(app, result)
    return result


def _online(term, app, outcome, fen, title):
    # The card's ARQC to the host through the engine, with the online PIN its CVM asks for.
    from app.emv import qpboc
    from app.txn.engine import Request
    from app.txn.tap import TapCard

    card = TapCard(outcome)
    pin = None
    # A card on the black list: no PIN asked, the engine refuses it (nothing sent), as a
    # swiped one.
    if outcome.cvm == qpboc.CVM_ONLINE_PIN and not _listed(term, app, card.pan):
        pin = term.read_pin(app, card, fen, title)
    outcome = qpboc = None
    forget(*_KERNEL)
    request = Request("sale", amount=fen, card=card, pin=pin)
    card = pin = None
    result = term.run(app, request, title)
    request = None
    term.show_result(title, result)
    if result.receipt_lines:
        term.print_slip(app, result)
    return result


def _listed(term, app, pan):
    try:
        return term.engine(app).listed(pan)
    except (OSError, ValueError):
        return False  # term.run says what is wrong
