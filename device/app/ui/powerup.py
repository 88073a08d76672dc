"""Power-up: the self-test, the pre-business checklist, automatic sign-on (the operator's
procedure §5.3, §5.4.1; docs/menus.md, "Power-up").

    from app.ui import powerup
    powerup.run(term)          # returns when the terminal may go to its idle screen

1. Self-test (app.selftest: a known-answer test of every algorithm). A failure puts the
   terminal out of service: the failing algorithms on screen, the engine refusing every
   request (app.txn.engine.out_of_service), and power-up never returns (Ctrl-C reaches the
   REPL on a terminal that is not locked down; the admin menu is still there, FUNC). A
   terminal without its storage key is out of service the same way.
2. The checklist, one line a check, and under each failing line what to do: printer present,
   paper loaded or near its end, cover closed; the bearer ready (each bearer in use, where
   an application goes over one of its own) (dial-up: the modem answers
   and the line has a dial tone; GPRS: SIM, network registration, signal bars; Ethernet:
   link and address); the clock plausible (set by sign-on); per application: parameters,
   master key, signed on (not a fault where it signs on by itself in a moment). All well:
   each page shown for a moment. Anything wrong: shown until ENTER
   (or the idle time), then the terminal goes on: the cashier is told again where it
   matters.
3. Recovery, for every application a power cut left something to finish (docs/
   transactions.md, §6 and §7): a batch the host had settled is closed and its settlement
   slip printed; a settlement left unanswered is sent again (its slip printed when the host
   settles); a reversal, an advice is sent. Its screen (交易恢复) and result, per application;
   nothing shown where there is nothing to finish.
4. Automatic sign-on of every application whose parameter power_up_signon is on and which
   has its master key, each result on screen.

Imported once at power-up and let go afterwards (app.ui.terminal.run).
"""

from app.ui import text
from app.ui.screen import Idle

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_ALL_WELL_MS = const(2000)  # each page of the checklist when nothing is wrong
DIAL_TONE_MS = 5000  # ATX4DT; waits this long for the dial tone (a variable: tests lower it)
_SIGNED_ON_MS = const(2000)  # an automatic sign-on's result
_EARLIEST_YEAR = const(2024)  # a clock before this was never set


def run(term):
    """Self-test, checklist, automatic sign-on; see the module docstring."""
    ui = term.ui
    ui.show(text.SELF_TEST, (text.TESTING,))
    from app import selftest

    failed = selftest.run()
    selftest = None
    _forget_selftest(term)
    if term.storage_key is None:
        failed.append(text.NO_STORAGE_KEY)
    if failed:
        out_of_service(term, failed)  # never returns
    lines, ok = checks(term)
    if ok:
        # Each page for a moment (a key goes on at once).
        for top in range(0, len(lines), 3):
            ui.show(text.CHECKS, lines[top : top + 3])
            if ui.keypad.get(_ALL_WELL_MS) is not None:
                break
    else:
        try:
            ui.scroll(text.CHECKS, lines)
        except Idle:  # shown for the idle time: go on
            pass
    recover(term)
    sign_on(term)


def _forget_selftest(term):
    # The self-test runs once: its module (and SM4's, unless an application signs on with SM4
    # keys) is let go before the checklist and the sign-on, whose heap it would otherwise be.
    from app.ui import forget

    forget("app.selftest")
    for index, _ in term.applications():
        params = term.app_params(index)
        if params is not None and params["key_algorithm"] == "SM4":
            return
    forget("app.crypto.sm4")


def out_of_service(term, failed):
    """The out-of-service screen, for ever: what failed, and to call for service. The engine
    refuses every request from now on. FUNC opens the admin menu (version screen)."""
    from app.txn.engine import out_of_service as refuse

    ui = term.ui
    names = []
    for item in failed:
        names.append(ui.t(item))
    refuse(", ".join(names))
    from drivers import keypad as kp

    while True:
        ui.show(text.OUT_OF_SERVICE, (text.SELF_TEST_FAILED, ", ".join(names), text.CALL_SERVICE))
        if ui.keypad.get(ui.idle_ms) == kp.FUNC:
            from app.ui import idle

            idle.admin(term)


def _wrong(lines, *texts):
    # A check that failed: its line and what to do go on the list; False.
    lines.extend(texts)
    return False


def checks(term):
    """The checklist: ([texts, one a line], all well?)."""
    lines = []
    ok = True
    terminal = term.terminal_params()
    if terminal is None:
        ok = _wrong(lines, text.NO_TERMINAL_PARAMS, text.LOAD_PARAMS)
    ok = _printer(term, lines) and ok
    apps = term.applications()
    if terminal is not None:
        terminal = None
        # The terminal's bearer, then any other an application goes over (its own bearer).
        checked = []
        for index in [0] + [index for index, _ in apps]:
            kind = term.bearer_of(index)
            if kind not in checked:
                checked.append(kind)
                ok = _bearer(term, index, kind, lines) and ok
    ok = _clock(term, lines) and ok
    if not apps and term.terminal_params() is not None:
        ok = _wrong(lines, text.NO_APPLICATION, text.LOAD_PARAMS)
    for index, name in apps:
        ok = _application(term, index, name, lines) and ok
    return lines, ok


def _printer(term, lines):
    from drivers import escpos

    printer = term.printer()
    if printer is None:
        return _wrong(lines, text.NO_PRINTER)
    try:
        flags = printer.status()
    except OSError:  # PrinterOffline
        return _wrong(lines, text.PRINTER_NONE, text.CHECK_CABLE)
    if flags & escpos.COVER_OPEN:
        return _wrong(lines, text.COVER_OPEN, text.CLOSE_COVER)
    if flags & escpos.PAPER_OUT:
        return _wrong(lines, text.PAPER_OUT, text.LOAD_PAPER)
    if flags & escpos.PAPER_NEAR_END:
        return _wrong(lines, text.PAPER_LOW, text.HAVE_ROLL)
    lines.append(text.PRINTER_OK)
    return True


def _bearer(term, app, kind, lines):
    # The device of application `app`'s bearer (0: the terminal's), of `kind`, asked
    # between transactions.
    try:
        bearer = term.make_bearer(app)
    except (OSError, ValueError):  # the board has no such device
        bearer = None
    if kind == "dialup":
        return _dialup(bearer, lines)
    if kind == "gprs":
        return _gprs(bearer, lines)
    return _ethernet(bearer, lines)


def _dialup(bearer, lines):
    modem = bearer.modem if bearer is not None else None
    try:
        if modem is None:
            raise OSError("no modem")
        modem.setup()
    except OSError:
        return _wrong(lines, text.NO_MODEM, text.CALL_FOR_SERVICE)
    try:
        # Off hook, wait for the dial tone, back to command mode (the ";"), no number.
        modem.command(b"ATX4DT;", DIAL_TONE_MS)
        good = True
    except OSError:  # NO DIALTONE (the answer is not OK: the wait runs out), ERROR
        good = False
    try:
        modem.command(b"ATH")
    except OSError:
        pass
    if not good:
        return _wrong(lines, text.NO_DIAL_TONE, text.CHECK_LINE)
    lines.append(text.LINE_OK)
    return True


def _gprs(bearer, lines):
    from drivers import sim800

    module = bearer.module if bearer is not None else None
    try:
        if module is None:
            raise sim800.GprsError("no module")
        module.sync()
        module.sim_ready()
        registered = module.registration() in (sim800.REG_HOME, sim800.REG_ROAMING)
        rssi = module.signal()[0]
    except sim800.SimMissing:
        return _wrong(lines, text.NO_SIM, text.INSERT_SIM)
    except sim800.SimPinRequired:
        return _wrong(lines, text.SIM_LOCKED, text.UNLOCK_SIM)
    except OSError:
        return _wrong(lines, text.NO_MODEM, text.CALL_FOR_SERVICE)
    from app.ui.idle import bars_line

    bars = sim800.signal_bars(rssi)
    lines.append(bars_line(bars))
    if not registered:
        return _wrong(lines, text.NOT_REGISTERED, text.MOVE_TERMINAL)
    if not bars:
        return _wrong(lines, text.MOVE_TERMINAL)
    return True


def _ethernet(bearer, lines):
    from drivers import ethernet

    try:
        if bearer is None:
            raise ethernet.LinkDown("no interface")
        link = bearer.link
        if link.status() != ethernet.UP:
            link.up(bearer.config)
    except ethernet.LinkDown:
        return _wrong(lines, text.NO_LINK, text.PLUG_CABLE)
    except OSError:  # NoAddress: no DHCP server answered
        return _wrong(
            lines, text.phrase(text.ETHERNET, " ", text.LINK_DOWN), text.CALL_FOR_SERVICE
        )
    lines.append(text.phrase(text.ETHERNET, " ", text.LINK_UP))
    return True


def _clock(term, lines):
    from app.txn.clock import Clock

    now = Clock(term.store).now()
    if now[0] < _EARLIEST_YEAR:
        return _wrong(lines, text.CLOCK_BAD, text.SIGN_ON_TO_SET)
    lines.append("%04d-%02d-%02d %02d:%02d" % now[:5])
    return True


def _application(term, index, name, lines):
    # Parameters (they loaded: applications() listed it), master key, signed on.
    from app.keys.slots import KeyStore

    params = term.app_params(index)
    if params is None:  # changed on flash since applications() read it
        return False
    slot = params["tmk_slot"]
    auto = params["power_up_signon"]
    params = None
    keys = KeyStore(term.store, term.storage_key)
    try:
        keys.check_tmk(index, slot)
    except (OSError, ValueError):  # NoKeyError, KeyStoreError
        return _wrong(lines, _named(name, text.NO_KEYS), text.LOAD_KEYS)
    signed_on = False
    for row in keys.kcv_table(index):
        if row[0] == "MAK":
            signed_on = True
    if term.store.load("signoff%d" % index) is not None:
        signed_on = False
    if not signed_on:
        lines.append(_named(name, text.NOT_SIGNED_ON))
        if auto:  # it signs on in a moment, by itself
            return True
        lines.append(text.PLEASE_SIGN_ON)
        return False
    lines.append(_named(name, text.SIGNED_ON))
    return True


def _named(name, words):
    return text.phrase(name + " ", words)


def recover(term):
    """Finish what a power cut interrupted, application by application (module docstring,
    step 3): Request("recover") where the engine says something is due, its result on
    screen, the settlement slip of a settlement it completed printed."""
    for index, name in term.applications():
        try:
            due = term.engine(index).recovery_due()
        except (OSError, ValueError):  # no parameters, no bearer: the checklist said so
            continue
        if not due:
            continue
        from app.txn.engine import Request

        result = term.run(index, Request("recover"), title=text.RECOVERY)
        term.show_result(_named(name, text.RECOVERY), result, wait_ms=_SIGNED_ON_MS)
        if result.settlement is not None:
            term.print_slip(index, result)


def sign_on(term):
    """Sign on every application whose power_up_signon parameter is on (and that has its
    master key: the checklist said so when it has not); each result for a moment."""
    for index, name in term.applications():
        params = term.app_params(index)
        if params is None or not params["power_up_signon"]:
            continue
        params = None
        from app.txn.engine import Request

        result = term.run(index, Request("sign_on"))
        term.show_result(_named(name, text.SIGN_ON), result, wait_ms=_SIGNED_ON_MS)
