"""The terminal application: what the terminal runs from power-up on, and the Terminal every
screen and flow works with.

    from app.ui import terminal
    terminal.run(board)        # device/main.py: power-up, then the idle screen, for ever

    term = Terminal(board)     # what a flow gets: def run(term, ...)
    card = term.read_card(text.SALE, allow_keyed=True)
    pin = term.read_pin(1, card, 100)
    result = term.run(1, Request("sale", amount=100, card=card, pin=pin))
    term.show_result(text.SALE, result)
    term.print_slip(1, result)

What a flow finds on the Terminal (docs/menus.md, "For flow writers", says the same):

    board              the board module (board.unix_sim, board.esp32_ref, a test board)
    ui                 the Screen (app.ui.screen): display and keypad
    store              the RecordStore on the terminal's flash
    storage_key        the device storage key (bytes), None when the board has none
    params             ParamStore(store); terminal_params(): the terminal's Params (None if
                       not loaded); app_params(app); applications(): [(index, name)]
    operator_no        the operator number ("01".."99") signed on, sent with every request
    engine(app)        the transaction engine of application `app`, built on first use
    make_bearer(app)   the bearer of application `app`'s requests: its own (parameter
                       bearer), else the terminal's (app 0, the default), made once; the
                       terminal's is `bearer`, `bearer_kind` names it; bearer_of(app) the kind
    run(app, request)  engine.run with the send/receive indicator on the screen and CANCEL
                       watched while dialling and waiting; the operator, training mode, the
                       PIN pad's key after a sign-on and the sign-off/sign-on after a
                       settlement (parameters) are seen to; returns the Result
    show_result(title, result)   the result screen: what the cashier is told, what to do
    print_slip(app, result)      the slips: merchant copy, tear-off, cardholder copy
    read_card(title, allow_keyed, chip, chip_first)   a Card from a swipe, or keyed
                       in where `allow_keyed` (give the application's manual_entry); with
                       `chip`, INSERTED for a card in the chip reader (and with
                       `chip_first`, a chip card's swipe refused); Cancelled / Idle
    read_pin(app, card, amount)  the PIN: digits (bytearray), a PinBlock (the PIN pad) or
                       None (no PIN: ENTER alone where the application allows it)
    supervisor(title) / operator(title)   ask and check a password (False after a wrong
                       one, the screen saying so); supervisor(title, keep=True) returns
                       the typed password for a request that carries it (voids, refunds)
    training           training mode (kept on flash; setting it persists it)
    printer(), card_reader(), chip_reader(), pinpad()   the devices, or None when the
                       board has none; the card readers' drivers are let go before a
                       flow's heap peak (release_card_reader, release_chip_reader)
    chip_inserted()    a card came into the chip reader (only its line watched till then)
    changed()          parameters or keys changed (an admin edit): forget what was read
    receipt_copies     the parameter receipt_copies (1-3), read at the start and by changed()

Only one engine lives at a time (the last application used): an engine holds a 1 KB
packing buffer and its keys, and the terminal's heap is about 110 KB. Idle, power-up and
the flows are imported when first needed and the rarely used ones let go afterwards.
"""

import gc

from app.store import logregion
from app.store.params import ParamStore
from app.store.records import RecordStore
from app.ui import forget, text
from app.ui.screen import Cancelled, Idle, Screen, wipe
from drivers import keypad as kp

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_POLL_MS = const(50)  # a wait for a key also looks at the card reader this often
_APPROVED_MS = const(2000)  # an approval's screen, before the slip prints
_FAILED_MS = const(15000)  # a refusal's screen, unless a key is pressed first
_TRAINING = "training"  # the record that says the terminal is in training mode

# Power-up stopped by an error: what the out-of-service screen says.
_OUT_OF_MEMORY = ("内存不足", "Out of memory")
_PROGRAM_ERROR = ("程序错误", "Program error")


def _halted(term, exc, what):
    """Out of service for ever after `exc` escaped power-up: `what` and the error's first
    words on the screen (the console has the traceback), until the power is cycled. Ctrl-C
    still ends it where the terminal is not locked down."""
    import sys

    sys.print_exception(exc)
    reason = str(exc)[:16]
    exc = None
    gc.collect()  # what the failed import or flow held is garbage now
    ui = term.ui
    while True:
        ui.show(text.OUT_OF_SERVICE, (what, reason, text.CALL_SERVICE))
        ui.keypad.get(ui.idle_ms)


# The screen title of each request kind (the engine's names) that has no flow of its own.
_TITLES = {
    "sale": text.SALE,
    "sale_void": text.VOID,
    "refund": text.REFUND,
    "balance": text.BALANCE,
    "settlement": text.SETTLEMENT,
    "sign_on": text.SIGN_ON,
    "sign_off": text.SIGN_OFF,
}


def run(board):
    """Power the terminal up on `board` and run it: the self-test, the power-up checks and
    automatic sign-on (app.ui.powerup), then the idle screen (app.ui.idle), for ever.
    KeyboardInterrupt (Ctrl-C on the console) ends it, unless the terminal is locked down
    (parameter `lockdown`: Ctrl-C is then an ordinary character)."""
    term = Terminal(board)
    term.watch_console = True  # the idle screen takes a host's RESET frame (app.hostlink)
    terminal = term.terminal_params()
    if terminal is not None and terminal["lockdown"]:
        import micropython

        micropython.kbd_intr(-1)
    terminal = None
    try:
        from app.ui import powerup

        powerup.run(term)
    except MemoryError as exc:
        # The application does not fit this heap (a build that is not the production one, or
        # a leak): said on the glass, where a cashier sees it, not only on the console.
        _halted(term, exc, _OUT_OF_MEMORY)
    except Exception as exc:  # a bug: the terminal stops where its screen says so
        _halted(term, exc, _PROGRAM_ERROR)
    powerup = None
    # Power-up's code runs once: its module is let go (it let the self-test's go already).
    forget("app.ui.powerup")
    gc.collect()
    from app.ui import idle

    idle.run(term)


class Terminal:
    """See the module docstring. ValueError never: a terminal without parameters, keys or
    storage key still starts, and its power-up checks say what is missing."""

    def __init__(self, board):
        self.board = board
        self.store = RecordStore(getattr(board, "DATA_ROOT", "/data"))
        self.store.recover()
        self.store.journal_region = logregion.for_board(board)
        self.watch_console = False  # terminal.run: the idle screen listens for a host
        try:
            self.storage_key = board.storage_key()
        except (AttributeError, OSError):
            self.storage_key = None  # power-up puts the terminal out of service
        self.params = ParamStore(self.store)
        self.operator_no = "01"
        self.bearer = None  # the last bearer asked for (make_bearer), and its kind
        self.bearer_kind = None
        self._bearers = {}  # kind -> the bearer of that kind applications go over, if not
        # the terminal's: made when first needed
        self._kind = None  # the kind of bearer of the request under way
        self._kinds = {}  # application (0: the terminal) -> the kind of its bearer
        self._engine = None
        self._engine_app = 0
        self._devices = {}
        self._apps = None
        self._title = text.PLEASE_WAIT
        self.pad_keys = {}  # application -> True once its PIN key is in the PIN pad
        self._training = self.store.load(_TRAINING) is not None
        self.receipt_copies = 1
        self.ui = Screen(board.display(), board.keypad(), language="zh")
        self._read_terminal()

    def _read_terminal(self):
        # The few terminal parameters every slip or screen needs, kept: reading the whole set
        # (about 2 KB, and a file's 1 KB buffer) as a slip starts was the sale's heap peak.
        terminal = self.terminal_params()
        if terminal is not None:
            self.ui.language = terminal["language"] or "zh"
            self.receipt_copies = terminal["receipt_copies"] or 1

    # --- parameters ------------------------------------------------------------------------

    def terminal_params(self):
        """The terminal's Params, read from flash each time (about 2 KB: not kept), or None
        when there are none (or they cannot be read)."""
        return self.app_params(0)

    def app_params(self, app):
        """Application `app`'s Params, or None."""
        try:
            return self.params.load(app)
        except (OSError, ValueError):  # StoreError, ParamError: the checks name them
            return None

    def applications(self):
        """[(index, name)] of the installed acquirer applications, in index order."""
        if self._apps is None:
            from app.store.params import MAX_APPLICATIONS

            apps = []
            for index in range(1, MAX_APPLICATIONS + 1):
                params = self.app_params(index)
                if params is not None:
                    apps.append((index, params["name"]))
            self._apps = apps
        return self._apps

    def changed(self):
        """Parameters or keys changed (an installer's edit, a packet): the engine, the bearer
        and the list of applications are made again when next needed; the language is read
        again now."""
        self._engine = None
        self.bearer = None
        self._bearers = {}
        self._kinds = {}
        self._apps = None
        self.pad_keys = {}
        self._read_terminal()
        gc.collect()

    # --- training mode ---------------------------------------------------------------------

    @property
    def training(self):
        """True in training mode: transactions marked test, kept out of the real batch,
        slips marked TRAINING (docs/menus.md)."""
        return self._training

    @training.setter
    def training(self, on):
        if on:
            self.store.save(_TRAINING, b"\x01")
        else:
            self.store.delete(_TRAINING)
        self._training = bool(on)
        self._engine = None  # the next one is made with the new mode

    # --- devices ---------------------------------------------------------------------------

    def _device(self, name):
        # The board's device `name`, made once; None when the board has none.
        if name not in self._devices:
            try:
                self._devices[name] = getattr(self.board, name)()
            except (AttributeError, OSError):
                self._devices[name] = None
        return self._devices[name]

    def printer(self):
        """The printer driver (drivers.escpos.Printer), or None."""
        return self._device("printer")

    def card_reader(self):
        """The magstripe reader, or None. Made while the idle screen or a card prompt waits,
        let go (release_card_reader) otherwise."""
        return self._device("card_reader")

    def release_card_reader(self):
        """Let the magstripe reader and its driver go (about 2 KB): a flow whose card is read,
        or that needs none, does not carry them at its heap peak. The next card_reader()
        makes them again; a swipe meanwhile waits in the reader's UART."""
        if self._devices.get("card_reader") is not None:
            del self._devices["card_reader"]
            forget("drivers.cardreader")

    def chip_reader(self):
        """The contact chip card reader (drivers.tda8029), or None. Made while the idle
        screen or a sale's card prompt waits, let go (release_chip_reader) otherwise."""
        return self._device("chip_reader")

    def chip_inserted(self):
        """True when a card came into the chip reader since it was last asked (False on a
        terminal without one); never waits. Between flows only the reader's line is looked
        at: the driver is made when the reader has said something, and let go again unless
        it says a card came in (the sale that follows uses it). The idle screen does not
        hold it: up to 1 KB of heap."""
        line = self._chip_line()
        if line is None or not line.any():
            return False
        slot = self.chip_reader()
        came = slot is not None and inserted(slot)
        if not came:
            self.release_chip_reader()
        return came

    def _chip_line(self):
        # The chip reader's UART (the board's, made once), or None on a board without one.
        if "chip_line" not in self._devices:
            try:
                self._devices["chip_line"] = self.board.uart("chipreader")
            except (AttributeError, OSError, ValueError):
                self._devices["chip_line"] = None
        return self._devices["chip_line"]

    def release_chip_reader(self):
        """Let the chip reader and its driver go: the flow about to run (a swipe sale, a
        void, a settlement) does not carry them at its heap peak. The next chip_reader()
        makes them again; a card inserted meanwhile says so then (the reader keeps its
        message, and present())."""
        if self._devices.get("chip_reader") is not None:
            del self._devices["chip_reader"]
            forget("drivers.tda8029", "drivers.cardchannel")

    def contactless_reader(self):
        """The contactless reader (drivers.pn532), awake, or None (none fitted, or it does
        not answer). Made for a sale that takes a tap, let go (release_contactless) after."""
        nfc = self._device("contactless_reader")
        if nfc is not None and not self._devices.get("nfc_awake"):
            try:
                nfc.wake()
                self._devices["nfc_awake"] = True
            except OSError:
                nfc = self._devices["contactless_reader"] = None
        return nfc

    def release_contactless(self):
        """Let the contactless reader's driver go (the next contactless_reader() makes it
        again: the PN532 stays awake)."""
        if self._devices.pop("contactless_reader", None) is not None:
            forget("drivers.pn532")

    def pinpad(self):
        """The external PIN pad, or None (none fitted, or the parameters say none)."""
        terminal = self.terminal_params()
        if terminal is None or not terminal["external_pinpad"]:
            return None
        return self._device("pinpad")

    # --- the engine ------------------------------------------------------------------------

    def engine(self, app):
        """The Engine of application `app` (made now if it is not the last one used).
        ValueError if the application has no parameters, OSError if the board cannot make
        the bearer the parameters select."""
        if self._engine is not None and self._engine_app == app:
            return self._engine
        self._engine = None
        gc.collect()
        from app.txn.engine import Engine

        self._engine = Engine(
            app,
            self.store,
            self.storage_key,
            self.make_bearer(app),
            events=self._event,
            training=self._training,
        )
        self._engine_app = app
        return self._engine

    def batch_warning(self):
        """ "batch_near" or "settle_first" (Engine.batch_warning) for the application last
        used, whose batch the last transaction grew; None otherwise, and before any
        transaction: no engine is made to ask."""
        engine = self._engine
        if engine is None:
            return None
        try:
            return engine.batch_warning()
        except (OSError, ValueError):  # no parameters or storage: the checks say so
            return None

    def bearer_of(self, app=0):
        """The kind of bearer ("dialup", "gprs", "ethernet") of application `app`'s requests
        (app.comm.bearers.chosen; 0: the terminal's). ValueError without parameters."""
        kind = self._kinds.get(app)
        if kind is None:
            terminal = self.terminal_params()
            if terminal is None:
                raise ValueError("the terminal has no parameters")
            from app.comm.bearers import chosen

            kind = self._kinds[app] = chosen(terminal, self.app_params(app) if app else None)
        return kind

    def _own_bearer(self, app):
        # The kind of application `app`'s own bearer, where it is not the terminal's; None.
        kind = self.bearer_of(app) if app else None
        return kind if kind != self.bearer_of(0) else None

    def make_bearer(self, app=0):
        """The bearer of application `app`'s requests (bearer_of; app.comm.bearers.configured),
        made once and shared by the engines: the terminal's (`bearer`, `bearer_kind` names
        it), or one of another kind an application goes over. ValueError without
        parameters, OSError when the board cannot make its device."""
        own = self._own_bearer(app)
        bearer = self.bearer if own is None else self._bearers.get(own)
        if bearer is None:
            from app.comm.bearers import configured

            terminal = self.terminal_params()
            if terminal is None:
                raise ValueError("the terminal has no parameters")
            bearer = configured(terminal, self.board, own)
            if own is None:
                self.bearer, self.bearer_kind = bearer, terminal["bearer"]
            else:
                self._bearers[own] = bearer
        return bearer

    def run(self, app, request, title=None):
        """Carry out `request` (app.txn.engine.Request) for application `app`, showing the
        indicator under `title` (default: the kind's name) and watching for CANCEL; returns
        the Result. Never raises for the host, the line, or a missing set-up."""
        from app.txn.engine import Result

        request.operator = self.operator_no
        self._title = title or _TITLES.get(request.kind, text.PLEASE_WAIT)
        try:
            engine = self.engine(app)
        except (OSError, ValueError) as exc:
            result = Result(request.kind)
            result.fail("connect" if isinstance(exc, OSError) else "no_parameters", str(exc))
            return result
        self._event("start", None)
        self.ui.keypad.flush()  # a CANCEL typed before now is not a CANCEL of this run
        gc.collect()  # the transaction's peak starts from a compacted heap
        bearer = self.make_bearer(app)
        self._kind = self._own_bearer(app) or self.bearer_kind  # for the indicator
        bearer.watch(self.ui.cancel_pressed)
        try:
            result = engine.run(request)
        finally:
            bearer.watch(None)
        if result.approved:
            if request.kind == "sign_on":
                # A download the host asked for (app.txn.icdownload) runs a sign-on in ten:
                # its modules go again.
                forget("app.txn.icdownload", "app.store.icsets", "app.store.blacklist")
                forget("app.emv.tlv")  # icsets' TLV reader
                self._load_pad_key(app, result)
            elif request.kind == "settlement":
                # Settlement's code runs once a batch, with the offline sales' upload and the
                # chip data's end (and the chip TLV reader they load): let go before the slip,
                # the sign-off and the sign-on that may follow (a sign-on is power-up's peak).
                forget("app.txn.settlement", "app.txn.offline", "app.txn.icdata", "app.emv.tlv")
                gc.collect()
                self._after_settlement(app, result)
        return result

    def _event(self, name, value):
        # The send/receive indicator: the engine's events, as they happen, on line 2.
        if name == "connecting":
            state = text.DIALLING if self._kind == "dialup" else text.CONNECTING
        elif name == "sending":
            state = text.SENDING
        elif name == "received":
            state = text.RECEIVING
        elif name == "reversal":
            state = text.REVERSING
        elif name == "signing_on":
            state = text.SIGNING_ON
        elif name == "uploading":
            state = "%s %s" % (self.ui.t(text.UPLOADING), value)
        else:
            state = None
        self.ui.show(self._title, (text.PLEASE_WAIT, state, text.CANCEL_TO_STOP))

    def _load_pad_key(self, app, result):
        # The PIN key of a sign-on into the external PIN pad, under the master key the pad
        # holds for this application (pinpad_tmk_slot): the pad checks its check value.
        pad = self.pinpad()
        if pad is None or result.pin_key is None:
            return
        from drivers.pinpad import PinPadError

        algorithm, key, check = result.pin_key
        params = self.app_params(app)
        master = (params["pinpad_tmk_slot"] or 0) if params is not None else 0
        try:
            pad.load_key(key, check, slot=app, master_slot=master, algorithm=algorithm)
            self.pad_keys[app] = True
        except (PinPadError, ValueError) as exc:
            self.pad_keys[app] = False
            result.notes.append("PIN pad: %s" % exc)

    def _after_settlement(self, app, result):
        # Sign-off, then sign-on, after a settlement, where the application says so.
        from app.txn.engine import Request

        params = self.app_params(app)
        if params is None:
            return
        off, on = params["settle_signoff"], params["settle_signon"]
        params = None
        for kind, wanted in (("sign_off", off), ("sign_on", on)):
            if not wanted:
                continue
            self._title = _TITLES[kind]
            done = self.engine(app).run(Request(kind, operator=self.operator_no))
            if kind == "sign_on" and done.approved:
                self._load_pad_key(app, done)
            state = "approved" if done.approved else done.message_en
            result.notes.append("%s after settlement: %s" % (kind, state))

    # --- what every flow shows -------------------------------------------------------------

    def show_result(self, title, result, wait_ms=None):
        """The result screen: an approval with its amount and trace number (a moment: the
        slip follows), or what the cashier is told and what to do next (until a key, or
        15 s). Returns the key pressed, or None."""
        from drivers.keypad import format_amount

        ui = self.ui
        message = (result.message_zh, result.message_en)
        if not result.approved:
            return ui.notice(title, message, wait_ms=wait_ms or _FAILED_MS)
        amount = None
        if result.amount is not None:
            amount = "RMB " + format_amount(result.amount)
        trace = None
        if result.stan:
            trace = "%s%06d" % (ui.t(text.TRACE), result.stan)
        return ui.message(title, message, amount, trace, wait_ms=wait_ms or _APPROVED_MS)

    def print_slip(self, app, result):
        """Print the slips of `result` (app.ui.slips.print_result): merchant copy, tear-off,
        cardholder copy; paper-out asks for paper and goes on. True when all were printed."""
        from app.ui import slips

        try:
            return slips.print_result(self, app, result)
        finally:
            # Off the heap until the next slip, with the slip layout the engine made it with:
            # the next transaction's record is sealed and journaled without them (a void's,
            # with the void's own screens loaded, is the day's heap peak).
            slips = None
            forget("app.ui.slips", "app.txn.receipt")

    def read_card(self, title, allow_keyed=True, chip=False, chip_first=False, tap=None):
        """Wait for a swipe (or, with `allow_keyed`, a card number keyed in: its first digit
        starts the entry); returns an app.txn.engine.Card. A bad swipe says so and waits for
        the next. With `chip`, on a terminal with a chip reader: a card inserted returns
        INSERTED; with `chip_first` too (the application's parameter), a chip card swiped is
        asked to be inserted (wants_chip). With `tap` (a function: True when a card is in
        the contactless reader's field, app.ui.tapsale), the prompt says tap as well and a
        card in the field returns TAPPED. Cancelled (CANCEL) or Idle (no key and no card
        for the idle time)."""
        from drivers.cardreader import BadSwipe

        ui = self.ui
        reader = self.card_reader()
        slot = self.chip_reader() if chip else None
        if reader is None and slot is None and not allow_keyed:
            raise Cancelled()
        hint = text.OR_KEY_CARD if allow_keyed else None
        prompt = text.SWIPE_CARD if slot is None else text.INSERT_OR_SWIPE
        if tap is not None:
            prompt = text.TAP_INSERT_SWIPE
        # Before the prompt shows: a key or a card from then on is the cashier's answer.
        if reader is not None:
            reader.flush()
        keypad = ui.keypad
        keypad.flush()
        ui.show(title, (prompt, hint))
        try:
            quiet = 0
            while quiet < ui.idle_ms:
                code = keypad.get(_POLL_MS)
                if slot is not None and inserted(slot):
                    return INSERTED
                if tap is not None and tap():
                    return TAPPED
                if reader is not None:
                    try:
                        track = reader.poll()
                    except BadSwipe:
                        ui.show(title, (text.SWIPE_AGAIN, hint))
                        quiet = 0
                        continue
                    if track is not None:
                        card = card_of(track)
                        if slot is None or not (chip_first and wants_chip(card)):
                            slot = None
                            self.release_chip_reader()  # the swipe's sale: no chip in it
                            return card
                        card = None
                        ui.message(title, text.CHIP_CARD, wait_ms=3000)
                        ui.show(title, (prompt, hint))
                        quiet = 0
                        continue
                if code is None:
                    quiet += _POLL_MS
                    continue
                quiet = 0
                if code == kp.CANCEL:
                    raise Cancelled()
                if allow_keyed and 0x30 <= code <= 0x39:
                    slot = None
                    self.release_chip_reader()
                    return self._keyed_card(title, chr(code))
            raise Idle()
        finally:
            reader = slot = None
            self.release_card_reader()  # the card is read: the flow's peak is to come

    def _keyed_card(self, title, first):
        from app.txn.clock import Clock
        from app.txn.engine import Card
        from drivers.cardreader import CardExpired, ManualEntryError, check_expiry, check_pan

        ui = self.ui
        while True:
            pan = ui.number(title, text.CARD_NUMBER, 13, 19, initial=first)
            try:
                check_pan(pan)
                break
            except ManualEntryError:
                ui.message(title, text.CARD_NUMBER_WRONG, wait_ms=3000)
                first = ""
        while True:
            expiry = ui.number(title, text.EXPIRY, 4, 4)
            try:
                check_expiry(expiry, Clock(self.store).now()[:2])
                return Card(pan=pan, expiry=expiry)
            except CardExpired:
                ui.message(title, text.CARD_EXPIRED, wait_ms=3000)
                raise Cancelled()
            except ManualEntryError:
                ui.message(title, text.EXPIRY_WRONG, wait_ms=3000)

    def read_pin(self, app, card, amount, title=None):
        """The cardholder's PIN for `card`: on the external PIN pad when the terminal has
        one (returns the pad's PinBlock), else on the keypad in PIN mode (returns the digits,
        a bytearray the engine wipes), or None: ENTER alone where the application does not
        require a PIN. Cancelled / Idle; a PIN pad without this application's key says so
        (sign on again) and is Cancelled."""
        from drivers.keypad import format_amount

        ui = self.ui
        title = title or _TITLES.get("sale")
        line = "RMB " + format_amount(amount) if amount is not None else None
        pad = self.pinpad()
        if pad is not None:
            return self._pad_pin(pad, app, card, line, title)
        params = self.app_params(app)
        required = params is not None and params["pin_required"]
        params = None
        ui.show(title, (line, text.ENTER_PIN if required else text.NO_PIN_ENTER))
        digits = bytearray(12)
        try:
            count = ui.keypad.read_pin(
                digits,
                min_digits=4,
                max_digits=12,
                timeout_ms=ui.idle_ms,
                allow_empty=not required,
                show=self._stars,
            )
        except kp.EntryTimeout:
            raise Idle() from None
        except kp.EntryCancelled:
            raise Cancelled() from None
        if not count:
            return None
        pin = digits[:count]
        wipe(digits)
        return pin

    def _stars(self, count):
        self.ui.display.stars(3, count)
        self.ui.display.show()

    def _pad_pin(self, pad, app, card, line, title):
        from app.txn.engine import PinBlock
        from drivers.pinpad import PinPadCancelled, PinPadError, PinPadKeyError, PinPadTimeout

        ui = self.ui
        ui.show(title, (line, text.PIN_ON_PAD, text.CANCEL_TO_STOP))
        try:
            block = pad.enter_pin(
                card.pan,
                (line or "").encode(),
                slot=app,
                timeout_s=min(255, ui.idle_ms // 1000),
                abort=ui.cancel_pressed,
            )
        except PinPadCancelled:
            raise Cancelled() from None
        except PinPadTimeout:
            raise Idle() from None
        except PinPadKeyError:
            ui.message(title, text.PINPAD_NO_KEY, text.PLEASE_SIGN_ON, wait_ms=5000)
            raise Cancelled() from None
        except PinPadError:
            ui.message(title, text.PINPAD_FAULT, text.CALL_FOR_SERVICE, wait_ms=5000)
            raise Cancelled() from None
        return PinBlock(block)

    def supervisor(self, title, keep=False):
        """Ask for the supervisor password and check it; False (the screen says so) when
        it is wrong. Cancelled / Idle. With `keep`, a right password is returned (a
        bytearray: the request that needs it carries it, and the caller wipes it)."""
        return self._password(title, "supervisor", text.SUPERVISOR_PASSWORD, keep)

    def operator(self, title):
        """Ask for the operator password and check it, as supervisor() does."""
        return self._password(title, "operator", text.OPERATOR_PASSWORD)

    def _password(self, title, kind, prompt, keep=False):
        typed = self.ui.password(title, prompt)
        good = False
        try:
            terminal = self.terminal_params()
            good = terminal is not None and terminal.check_password(kind, typed)
        finally:
            if not (good and keep):
                wipe(typed)
        if not good:
            self.ui.message(title, text.WRONG_PASSWORD, wait_ms=3000)
        return typed if keep and good else good


# What read_card (and the idle screen) return for a card inserted into the chip reader.
INSERTED = "inserted"
# What read_card returns for a card in the contactless reader's field.
TAPPED = "tapped"


def inserted(slot):
    """True when the chip reader `slot` said a card came in since it was last asked (its
    event(): only what waits on the line is read, nothing sent). A reader that fails to
    answer is taken as no card."""
    try:
        return slot.event() == "inserted"
    except OSError:
        return False


def wants_chip(card):
    """True when swiped `card` is a chip card (service code 2xx or 6xx, ISO 7813): where the
    application's chip_first says so (the PBOC rule), a terminal with a chip reader takes
    its chip, not its stripe, unless the chip failed first (app.ui.chipsale: the swipe that
    follows is a fallback)."""
    track2 = card.track2 or ""
    sep = track2.find("=")
    return sep >= 0 and track2[sep + 5 : sep + 6] in ("2", "6")


def card_of(track):
    """An app.txn.engine.Card from a swiped drivers.cardreader.Track2, whose buffer is wiped
    (the Card keeps the track for field 35 until the request is built)."""
    from app.txn.engine import Card

    try:
        return Card(track2=bytes(track.data).decode())
    finally:
        track.wipe()
