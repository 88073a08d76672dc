"""Communication tests in PosManage (通讯测试): each bearer's own check, for the installer
choosing where the terminal stands and proving the line before the first transaction
(procedure §4.1, §4.2).

    admin_comm.run(term)

    1 拨号测试   dial the centre number (phone1, with the outside-line prefix on an
                 extension) and show the modem's answer: CONNECT and its rate, BUSY,
                 NO DIALTONE, NO CARRIER, NO ANSWER, or no answer at all; then hang up
    2 GPRS信号   the SIM (ready, missing, locked) and its ICCID, then a meter refreshed
                 every second: signal bars and CSQ, registration (home, roaming,
                 searching, denied) and the operator, and the best seen so far: walk the
                 terminal round the shop and keep the spot with the most bars (2 at least)
    3 以太网     link state, IP address and gateway; ENTER brings the link up with the
                 parameters' address (or DHCP) and shows the outcome
    4 回响测试   an echo test (0820, network management 301) to the acquirer host over the
                 bearer the parameters select, through the transaction engine

Every wait is bounded: the dial by the connect timeout (parameter connect_timeout), the
GPRS module's commands by its driver's timeouts, the link by its own, the echo by the
engine's. CANCEL ends the meter and the Ethernet screen at once, and is read before a dial
starts and as soon as it ends; the modem driver has no way to stop a dial half-way, so a
dial in progress runs to its answer or its timeout. The meter stops by itself after 10
minutes.
"""

from app.ui import admin_ui
from app.ui.screen import Cancelled
from drivers import keypad as kp

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

TITLE = ("通讯测试", "Comm test")
_ITEMS = (
    ("拨号测试", "Dial test"),
    ("GPRS信号", "GPRS signal"),
    ("以太网", "Ethernet"),
    ("回响测试", "Echo test"),
)
_REFRESH_MS = const(1000)
_METER_MS = const(600000)  # the meter's own end: 10 minutes
# CSQ registration status (AT+CREG) as the screen says it.
_REGISTRATION = (
    ("未注册", "not registered"),
    ("本地网", "home"),
    ("搜索中", "searching"),
    ("被拒绝", "denied"),
    ("未知", "unknown"),
    ("漫游", "roaming"),
)


def _terminal(term):
    terminal = term.terminal_params()
    if terminal is None:
        term.ui.message(TITLE, ("无参数", "No parameters"), ("请先装载参数", "Load them first"))
        raise Cancelled()
    return terminal


def _device(term, title, factory, **options):
    # The board's device, or the screen says the terminal has none (Cancelled).
    try:
        return factory(**options)
    except OSError:
        term.ui.message(title, ("无此设备", "Not fitted"))
        raise Cancelled() from None


# --- dial-up --------------------------------------------------------------------------------


def _dial_outcome(exc):
    # (zh, en) of a dial's failure: what the installer checks next.
    from drivers import hayes

    if isinstance(exc, hayes.NoDialTone):
        return ("无拨号音 查电话线", "No dial tone")
    if isinstance(exc, hayes.ModemBusy):
        return ("线路忙", "Line busy")
    if isinstance(exc, hayes.NoAnswer):
        return ("无应答", "No answer")
    if isinstance(exc, hayes.NoCarrier):
        return ("无载波", "No carrier")
    if isinstance(exc, hayes.ModemTimeout):
        return ("超时", "Timed out")
    return ("调制解调器错误", "Modem error")


def dial_test(term):
    """Dial phone1 and show the modem's answer (see the module docstring)."""
    from drivers.hayes import dial_string

    ui = term.ui
    title = _ITEMS[0]
    terminal = _terminal(term)
    number = terminal["dialup.phone1"]
    if number is None:
        ui.message(title, ("未设拨号参数", "No dial-up set"))
        return
    prefix = terminal["dialup.prefix"] if terminal["dialup.line"] == "extension" else None
    modem = _device(term, title, term.board.modem)
    shown = dial_string(number, prefix).decode()
    ui.show(title, (("拨号中...", "Dialling..."), shown[-16:]))
    if ui.cancel_pressed():
        return
    try:
        modem.setup()
        rate = modem.dial(
            number, outside_line=prefix, timeout_ms=terminal["connect_timeout"] * 1000
        )
    except OSError as exc:  # the modem's named errors (HayesError)
        ui.message(title, _dial_outcome(exc), str(exc)[:16], shown[-16:])
        return
    try:
        modem.hangup()
    except OSError:
        pass  # the next dial's init resets the modem
    ui.message(title, ("已连接", "Connected"), "CONNECT %d" % rate, shown[-16:])


# --- GPRS -----------------------------------------------------------------------------------


def operator_name(module):
    """The network operator's name from AT+COPS? (`+COPS: 0,0,"CHINA MOBILE"`), or "-"
    when the module does not say."""
    try:
        lines = module.command(b"AT+COPS?")
    except OSError:
        return "-"
    for line in lines:
        if line.startswith(b"+COPS:"):
            start = line.find(b'"')
            end = line.find(b'"', start + 1)
            if 0 <= start < end:
                return bytes(line[start + 1 : end]).decode()
    return "-"


def bars(count):
    """Five cells, `count` of them full: "###--"."""
    return "#" * count + "-" * (5 - count)


def gprs_meter(term):
    """The SIM and its ICCID, then the signal meter until CANCEL or ENTER (see the module
    docstring). Returns (best bars, best CSQ) for the record."""
    from drivers.sim800 import SimMissing, SimPinRequired, signal_bars

    ui = term.ui
    title = _ITEMS[1]
    module = _device(term, title, term.board.gprs)
    ui.show(title, (("正在连接模块", "Waking module"),))
    try:
        module.sync()
        module.sim_ready()
        iccid = module.iccid()
    except SimMissing:
        ui.message(title, ("SIM卡未插入", "No SIM card"))
        return None
    except SimPinRequired:
        ui.message(title, ("SIM卡已锁", "SIM locked"))
        return None
    except OSError as exc:
        ui.message(title, ("模块无应答", "Module silent"), str(exc)[:16])
        return None
    code = ui.message(title, "ICCID", iccid[:16], iccid[16:], wait_ms=3000)
    if code == kp.CANCEL:
        return None
    best = (0, 0)
    name = "-"
    waited = 0
    while waited < _METER_MS:
        try:
            rssi = module.signal()[0]
            registered = module.registration()
            if waited % 10000 == 0 or name == "-":
                name = operator_name(module)
        except OSError as exc:
            ui.show(title, (("模块无应答", "Module silent"), str(exc)[:16]))
            rssi, registered = 99, 4
        count = signal_bars(rssi)
        if count > best[0] or (count == best[0] and rssi != 99 and rssi > best[1]):
            best = (count, rssi)
        state = _REGISTRATION[registered] if 0 <= registered < 6 else _REGISTRATION[4]
        ui.show(
            title,
            (
                "%s %s %s" % (ui.t(("信号", "Sig")), bars(count), "--" if rssi == 99 else rssi),
                "%s %s" % (ui.t(state), name),
                "%s %s %d" % (ui.t(("最佳", "Best")), bars(best[0]), best[1]),
            ),
        )
        code = ui.keypad.get(_REFRESH_MS)
        if code == kp.CANCEL or code == kp.ENTER:
            break
        waited += _REFRESH_MS
    return best


# --- Ethernet -------------------------------------------------------------------------------

_LINK = (("链路断开", "Link down"), ("无IP地址", "No address"), ("已连接", "Link up"))


def ethernet(term):
    """Link state, address and gateway; ENTER brings the link up with the parameters'
    address (DHCP when they say so); CANCEL back."""
    ui = term.ui
    title = _ITEMS[2]
    terminal = _terminal(term)
    link = _device(term, title, term.board.lan)
    while True:
        status = link.status()
        address = link.address() if status == 2 else None
        lines = [_LINK[status]]
        if address is not None:
            lines.append(address[0])
            lines.append("GW " + address[2])
        else:
            lines.append(("ENTER 连接", "ENTER: bring up"))
        ui.show(title, lines)
        code = ui.key()
        if code == kp.CANCEL:
            return
        if code != kp.ENTER:
            continue
        config = None
        if not terminal["ethernet.dhcp"] and terminal["ethernet.ip"]:
            gateway = terminal["ethernet.gateway"]
            dns = terminal["ethernet.dns"] or gateway
            config = (terminal["ethernet.ip"], terminal["ethernet.mask"], gateway, dns)
        ui.show(title, (("连接中...", "Bringing up..."),))
        try:
            link.up(config)
        except OSError as exc:  # LinkDown, NoAddress: their words say which
            admin_ui.pages(ui, title, admin_ui.wrap(str(exc)))


# --- echo -----------------------------------------------------------------------------------


def echo(term):
    """An echo test (0820/301) to the host of an application, over the terminal's bearer;
    the standard result screen says how it went."""
    from app.txn.api import Request

    ui = term.ui
    title = _ITEMS[3]
    apps = term.applications()
    if not apps:
        ui.message(title, ("无应用", "No application"), ("请先装载参数", "Load them first"))
        return
    index = apps[0][0]
    if len(apps) > 1:
        choice = ui.menu(title, ["%d %s" % app for app in apps[:10]])
        if choice is None:
            return
        index = apps[choice][0]
    result = term.run(index, Request("echo"))
    term.show_result(title, result)


def run(term):
    tests = (dial_test, gprs_meter, ethernet, echo)
    admin_ui.menu_loop(term.ui, TITLE, _ITEMS, lambda choice: tests[choice](term))
