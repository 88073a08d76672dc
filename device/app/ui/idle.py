"""The idle screen: what the terminal shows between transactions, and the ways out of it
(docs/menus.md, "Idle").

    from app.ui import idle
    idle.run(term)             # for ever

    ┌────────────────┐
    │     CUP/ABC    │   every installed application by name (培训 first in training mode)
    │2026-12-07 14:05│   date and time (the clock sign-on sets)
    │GPRS 信号 ###.. │   the bearer and its signal (GPRS), link (Ethernet), or 拨号;
    │                │   批次将满 请结算 / 批次已满 请结算 in its place when the batch of
    │                │   the application last used nears its capacity or has reached it
    │打印纸 正常     │   the paper: 正常, 纸将尽, 缺纸, 机盖打开, 打印机无应答
    └────────────────┘

- a card swiped: the cashier menu, the card already read (刷卡 -> 选择"消费");
- a card inserted into the chip reader: a sale with it at once (app.ui.chipsale);
- ENTER (or F1-F4): the cashier menu; a digit: that item of the cashier menu at once;
- FUNC: the admin menu (PosManage, app.ui.admin);
- a RESET frame of the console link on the console (an installer's tool: docs/link.md):
  host-link mode (app.hostlink), then back here. Bytes typed ahead during power-up are
  read at the first wait, so a RESET sent while the terminal powers up is taken too.

A flow ends back here, whether it finished, was cancelled or timed out. An error a flow did
not expect is printed on the console, said on the screen, and the terminal goes on.
The clock line is redrawn each minute, the bearer and paper lines every 30 s and after
every flow. The cashier and admin modules are imported when first opened. The card readers'
drivers are not carried into a flow's heap peak: the magstripe reader's is let go as a flow
starts (made again when the screen is back; a flow's card prompt makes it for its wait), and
while the screen waits only the chip reader's line is watched: its driver is made when the
reader says something and kept only for the chip sale a card inserted starts
(Terminal.chip_inserted).
"""

import gc
import sys
import time

from app.ui import text
from app.ui.screen import Cancelled
from app.ui.terminal import INSERTED
from drivers import keypad as kp

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_POLL_MS = const(50)  # a wait for a key also looks at the card reader this often
_CLOCK_MS = const(1000)  # how often the minute is looked at
_STATUS_MS = const(30000)  # how often paper and signal are asked
_ERROR = ("程序错误", "Program error")
_OUT_OF_MEMORY = ("内存不足", "Out of memory")
# The batch's state (Terminal.batch_warning), in the bearer line's place: a full batch
# refuses every financial transaction until it is settled (parameter batch_capacity).
_BATCH = {
    "batch_near": ("批次将满 请结算", "Batch near full"),
    "settle_first": ("批次已满 请结算", "Full: settle now"),
}


def run(term):
    """The idle screen and its dispatch, for ever (KeyboardInterrupt ends it)."""
    state = Idle(term)
    while True:
        event = state.wait()
        state.leave()  # off the heap before the flow's peak
        try:
            dispatch(term, event)
        except Cancelled:  # CANCEL, or the idle time, in a flow
            pass
        except Exception as exc:  # a bug, or the heap full: the terminal must stay usable
            sys.print_exception(exc)
            what = _OUT_OF_MEMORY if isinstance(exc, MemoryError) else _ERROR
            term.ui.message(what, str(exc)[:16], wait_ms=5000)
        event = None
        term.release_chip_reader()  # a sale's card prompt's, however the flow ended
        gc.collect()
        state.refresh()


def dispatch(term, event):
    """Open what `event` asks for: a Card (swiped), INSERTED (a chip card: the sale), a key
    code, or the bytes of a RESET frame (host-link mode)."""
    if isinstance(event, bytes):
        host_link(term, event)
        return
    if isinstance(event, int):
        if event == kp.FUNC:
            admin(term)
            return
        from app.ui import cashier

        if 0x30 <= event <= 0x39:
            cashier.run(term, choice=(event - 0x31) % 10)
        elif event == kp.ENTER or kp.F1 <= event <= kp.F4:
            cashier.run(term)
        return
    from app.ui import cashier

    cashier.run(term, card=event)


def host_link(term, first=b""):
    """Host-link mode (app.hostlink): for a host whose RESET frame `first` has come, or
    waiting for one (PosManage's 主机连接, app.ui.admin_hostlink)."""
    from app import hostlink
    from app.ui import forget

    try:
        outcome = hostlink.serve(term, first=first)
        term.changed()  # parameters or keys the host loaded
        if outcome == "reset":
            hostlink.restart()
    finally:
        hostlink = None
        forget("app.hostcmd", "app.hostlink")


def admin(term):
    """The admin menu (app.ui.admin.run), if this build has it."""
    try:
        menu = __import__("app.ui.admin", None, None, ("run",))
    except ImportError as exc:
        if "admin" not in str(exc):
            raise
        term.ui.message(text.ADMIN, text.NOT_AVAILABLE, wait_ms=3000)
        return
    menu.run(term)


class Idle:
    """The idle screen's state: what it shows, and the wait for a key or a card."""

    def __init__(self, term):
        self.term = term
        self.watch = None  # the console's ear, where the terminal application owns it
        self.minute = -1
        self.status_due = 0
        self.lines = [None, None]  # bearer, paper
        self.refresh()

    def refresh(self):
        """Ask paper and bearer now and draw the whole screen. Keys and a card from before it
        are dropped: the cashier answers what the screen shows (a key pressed once it shows
        is kept)."""
        from app.txn.clock import Clock

        self.clock = Clock(self.term.store)  # sign-on may have set it
        warning = _BATCH.get(self.term.batch_warning())
        self.lines = [warning or bearer_state(self.term), paper_state(self.term)]
        self.status_due = time.ticks_add(time.ticks_ms(), _STATUS_MS)
        reader = self.term.card_reader()
        if reader is not None:
            reader.flush()
        if self.term.chip_inserted():  # a card in before now is not the cashier's answer
            self.term.release_chip_reader()
        self.term.ui.keypad.flush()
        if self.watch is None and getattr(self.term, "watch_console", False):
            from app.comm.console import Watch

            self.watch = Watch()
        self.draw()

    def leave(self):
        """A flow starts: what only this screen's wait uses goes off the heap, the console's
        ear (0.7 KB on the ESP32; refresh makes it again) and the magstripe reader, which
        the flow has its card from or needs not (a card prompt makes it again)."""
        from app.ui import forget

        self.watch = None
        forget("app.comm.console")
        self.term.release_card_reader()

    def draw(self):
        term = self.term
        ui = term.ui
        names = []
        for _, name in term.applications():
            names.append(name)
        title = "/".join(names) or ui.t(text.NO_APPLICATION)
        if term.training:
            title = ui.t(text.TRAINING) + " " + title
        now = self.clock.now()
        self.minute = now[4]
        date = "%04d-%02d-%02d %02d:%02d" % now[:5]
        ui.show(title, (date, self.lines[0], self.lines[1]))

    def wait(self):
        """The next key code, a Card swiped, or INSERTED (app.ui.terminal: a card in the
        chip reader); the screen kept up to date meanwhile."""
        from drivers.cardreader import BadSwipe

        term = self.term
        keypad = term.ui.keypad
        reader = term.card_reader()
        looked = time.ticks_ms()
        while True:
            code = keypad.get(_POLL_MS)
            if code is not None:
                return code
            if term.chip_inserted():
                return INSERTED
            if reader is not None:
                try:
                    track = reader.poll()
                except BadSwipe:
                    term.ui.message(text.SWIPE_CARD, text.SWIPE_AGAIN, wait_ms=2000)
                    self.draw()
                    track = None
                if track is not None:
                    from app.ui.terminal import card_of

                    return card_of(track)
            now = time.ticks_ms()
            if time.ticks_diff(now, looked) >= _CLOCK_MS:
                looked = now
                if self.watch is not None:
                    frame = self.watch.poll()
                    if frame is not None:
                        return frame
                if time.ticks_diff(now, self.status_due) >= 0:
                    self.refresh()
                elif self.clock.now()[4] != self.minute:
                    self.draw()


def paper_state(term):
    """The printer's state in words: paper OK, near its end, out, cover open, no printer."""
    from drivers import escpos

    printer = term.printer()
    if printer is None:
        return text.NO_PRINTER
    try:
        flags = printer.status()
    except OSError:  # PrinterOffline
        return text.PRINTER_NONE
    if flags & escpos.COVER_OPEN:
        return text.COVER_OPEN
    if flags & escpos.PAPER_OUT:
        return text.PAPER_OUT
    if flags & escpos.PAPER_NEAR_END:
        return text.PAPER_LOW
    return text.PAPER_OK


def bearer_state(term):
    """The bearer and its signal or link, in words."""
    try:
        bearer = term.make_bearer()
    except (OSError, ValueError):
        return None
    kind = term.bearer_kind
    if kind == "gprs":
        from drivers.sim800 import signal_bars

        try:
            return bars_line(signal_bars(bearer.module.signal()[0]))
        except OSError:  # the module is busy or not up yet: no figure
            return "GPRS"
    if kind == "ethernet":
        from drivers.ethernet import UP

        up = bearer.link.status() == UP
        state = text.LINK_UP if up else text.LINK_DOWN
        return text.phrase(text.ETHERNET, " ", state)
    return text.DIALUP


def bars_line(bars):
    """ "GPRS 信号 ###.." for 0..5 signal bars."""
    shown = "#" * bars + "." * (5 - bars)
    return text.phrase("GPRS ", text.SIGNAL, " " + shown)
