"""Terminal parameters in PosManage (终端参数, procedure §3.2, §4.2): every parameter shown, and
the ones an installer sets on site edited: the clock, the bearer, the dial-up line (直线 or
分机, the outside-line prefix), and the dial-up, GPRS and Ethernet settings.

    admin_params.run(term)
    value_text(name, value)      # (zh, en) of a value as the screen and the slip show it

The menu:

    1 查看参数   every value of the terminal or of one application, a value a screen
    2 日期时间   the clock: date YYYYMMDD, then time hhmmss
    3 通讯方式   the bearer: dial-up, GPRS or Ethernet
    4 拨号参数   line type, outside-line prefix, centre numbers, TPDU, LRI header
    5 GPRS参数   APN, user, password, access number, host, port, backups, TPDU
    6 以太网参数  DHCP, IP address, netmask, gateway, DNS, host, port, backups, TPDU
    7 主备主机   which host is tried first

A value typed is checked at once by the parameter schema (app.store.schema), whose message
names the field ("ethernet.ip: 300.1.1.1 is not an IPv4 address"): the screen shows it and
the entry comes back with what was typed. Changes are kept until the installer leaves this
menu (CANCEL): then "保存修改?" lists how many; ENTER checks the whole set as a packet's would
be checked ("dialup.prefix: an extension line needs the outside-line prefix": set the prefix
first, or in the same visit) and stores it power-safely, keeping the packet version
(app.store.edits; docs/packets.md §3); CANCEL there drops them. A set that does not pass is
not stored: the menu comes back to mend it. The clock is stored at once (it is no
parameter). No key for the idle time drops unsaved changes.
"""

from app.ui import admin, admin_ui
from app.ui.screen import Cancelled, Idle
from drivers import keypad as kp

TITLE = ("终端参数", "Parameters")
_ITEMS = (
    ("查看参数", "View"),
    ("日期时间", "Date and time"),
    ("通讯方式", "Bearer"),
    ("拨号参数", "Dial-up"),
    ("GPRS参数", "GPRS"),
    ("以太网参数", "Ethernet"),
    ("主备主机", "Host select"),
)

# Editors: (parameter, label, entry). An entry is a choice tuple of (value, label) pairs,
# or (characters allowed, most characters, optional) for a typed value; a typed value of an
# int parameter is all digits. Lengths and characters only shape the entry: the schema
# decides what is right.
_YES_NO = ((True, ("是", "yes")), (False, ("否", "no")))
_DIALUP = (
    (
        "dialup.line",
        ("线路类型", "Line type"),
        (("direct", ("直线", "direct")), ("extension", ("分机", "extension"))),
    ),
    ("dialup.prefix", ("外线号码", "Outside line"), (admin_ui.DIGITS, 4, False)),
    ("dialup.phone1", ("中心号码1", "Phone 1"), (admin_ui.PHONE, 24, False)),
    ("dialup.phone2", ("中心号码2", "Phone 2"), (admin_ui.PHONE, 24, True)),
    ("dialup.tpdu", ("TPDU", "TPDU"), (admin_ui.HEX, 10, False)),
    ("dialup.lri", ("LRI报头", "LRI header"), _YES_NO),
)
_GPRS = (
    ("gprs.apn", ("接入点APN", "APN"), (admin_ui.HOST, 63, False)),
    ("gprs.user", ("用户名", "User"), (None, 32, True)),
    ("gprs.password", ("密码", "Password"), (None, 32, True)),
    ("gprs.access_number", ("接入号码", "Access number"), (admin_ui.DIAL, 16, False)),
    ("gprs.host", ("主机地址", "Host"), (admin_ui.HOST, 64, False)),
    ("gprs.port", ("主机端口", "Port"), (admin_ui.DIGITS, 5, False)),
    ("gprs.backup_host", ("备份地址", "Backup host"), (admin_ui.HOST, 64, True)),
    ("gprs.backup_port", ("备份端口", "Backup port"), (admin_ui.DIGITS, 5, True)),
    ("gprs.tpdu", ("TPDU", "TPDU"), (admin_ui.HEX, 10, False)),
)
_ETHERNET = (
    ("ethernet.dhcp", ("DHCP", "DHCP"), _YES_NO),
    ("ethernet.ip", ("本机地址", "IP address"), (admin_ui.IPV4, 15, True)),
    ("ethernet.mask", ("子网掩码", "Netmask"), (admin_ui.IPV4, 15, True)),
    ("ethernet.gateway", ("网关", "Gateway"), (admin_ui.IPV4, 15, True)),
    ("ethernet.dns", ("DNS", "DNS"), (admin_ui.IPV4, 15, True)),
    ("ethernet.host", ("主机地址", "Host"), (admin_ui.HOST, 64, False)),
    ("ethernet.port", ("主机端口", "Port"), (admin_ui.DIGITS, 5, False)),
    ("ethernet.backup_host", ("备份地址", "Backup host"), (admin_ui.HOST, 64, True)),
    ("ethernet.backup_port", ("备份端口", "Backup port"), (admin_ui.DIGITS, 5, True)),
    ("ethernet.tpdu", ("TPDU", "TPDU"), (admin_ui.HEX, 10, False)),
)
_BEARER = (
    "bearer",
    ("通讯方式", "Bearer"),
    (
        ("dialup", ("拨号", "Dial-up")),
        ("gprs", ("GPRS", "GPRS")),
        ("ethernet", ("以太网", "Ethernet")),
    ),
)
_HOST_SELECT = (
    "host_select",
    ("主备主机", "Host select"),
    (("primary", ("主机优先", "Primary first")), ("backup", ("备份优先", "Backup first"))),
)
_HIDDEN = ("operator_password", "supervisor_password", "admin_password", "gprs.password")


def value_text(name, value):
    """A value as the screen shows it, a (zh, en) pair: password hashes and the APN
    password never in clear, yes/no, the GB18030 merchant name by its size (the screen's
    font has no GB18030), absent as "-"."""
    if value is None:
        return "-"
    if name in _HIDDEN:
        return ("(已设)", "(set)") if value else "-"
    if value is True:
        return ("是", "yes")
    if value is False:
        return ("否", "no")
    if isinstance(value, int):
        return "%d" % value
    if isinstance(value, (bytes, bytearray)):
        return ("GB18030 %d字节" % len(value), "GB18030, %d bytes" % len(value))
    return value


# --- view -----------------------------------------------------------------------------------


def view(term):
    """Every value of the terminal's or one application's parameters, one a screen: its
    name, then its value (over the lines it needs; F2 goes on through a long one). F2 or
    ENTER the next, F1 the one before, CANCEL back."""
    ui = term.ui
    scopes = [(0, ("终端", "Terminal"))]
    for index, name in term.applications():
        scopes.append((index, ("应用%d %s" % (index, name), "App %d %s" % (index, name))))
    if len(scopes) > 10:
        scopes = scopes[:10]
    choice = ui.menu(("查看参数", "View"), [label for _, label in scopes])
    if choice is None:
        return
    index, label = scopes[choice]
    params = term.terminal_params() if index == 0 else term.params.load(index)
    if params is None:
        ui.message(label, ("无参数", "No parameters"))
        return
    items = params.items()
    field = 0
    part = 0  # the page of a value longer than one screen
    while True:
        name, value = items[field]
        lines = admin_ui.wrap(name) + admin_ui.wrap(ui.t(value_text(name, value)))
        parts = (len(lines) + 2) // 3
        ui.show("%s %d/%d" % (ui.t(label), field + 1, len(items)), lines[3 * part : 3 * part + 3])
        code = ui.key()
        if code == kp.CANCEL:
            return
        if code == kp.F1:
            if part:
                part -= 1
            else:
                field = (field - 1) % len(items)
        elif code == kp.F2 or code == kp.ENTER:
            if part + 1 < parts:
                part += 1
            else:
                field = (field + 1) % len(items)
                part = 0


# --- edit -----------------------------------------------------------------------------------


def _choose(ui, title, entry, current):
    # A choice of `entry` ((value, label) pairs); the cursor on the value set now.
    start = 0
    for i in range(len(entry)):
        if entry[i][0] == current:
            start = i
    choice = ui.menu(title, [label for _, label in entry], start)
    if choice is None:
        raise Cancelled()
    return entry[choice][0]


def _edit(term, params, editor):
    """Edit one value of `params` with `editor`; True when it changed. Cancelled leaves it
    as it was."""
    ui = term.ui
    name, label, entry = editor
    current = params[name]
    if isinstance(entry[0], tuple):  # a choice
        value = _choose(ui, label, entry, current)
        if value == current:
            return False
        params.set(name, value)  # a choice of the schema's own: nothing to refuse
        return True
    chars, most, optional = entry
    hidden = name in _HIDDEN  # typed afresh: ENTER alone keeps the value set now
    shown = "" if current is None or hidden else ("%s" % current)
    while True:
        typed = admin_ui.text(ui, label, name, initial=shown, chars=chars, max_len=most)
        if typed == shown and (not hidden or not typed):
            return False
        value = typed
        if not typed and optional:
            value = None  # removed
        elif chars is admin_ui.DIGITS and name[-4:] == "port":
            value = int(typed) if typed else None
        try:
            params.set(name, value)
            return True
        except ValueError as exc:  # ParamError: the schema's words
            admin_ui.pages(ui, ("参数错误", "Not accepted"), admin_ui.wrap(str(exc)))
            shown = typed


def _group(term, params, title, editors, changed):
    # A menu of `editors`; each value edited in turn, until CANCEL.
    def edit(choice):
        if _edit(term, params, editors[choice]):
            changed.append(editors[choice][0])

    admin_ui.menu_loop(term.ui, title, [editor[1] for editor in editors], edit)


def _clock(term):
    # The date, then the time, each starting from the clock's; stored at once.
    from app.txn.clock import Clock

    ui = term.ui
    title = ("日期时间", "Date and time")
    clock = Clock(term.store)
    now = clock.now()
    date = admin_ui.text(
        ui,
        title,
        ("日期 年月日", "Date YYYYMMDD"),
        initial="%04d%02d%02d" % now[:3],
        chars=admin_ui.DIGITS,
        min_len=8,
        max_len=8,
    )
    time = admin_ui.text(
        ui,
        title,
        ("时间 时分秒", "Time hhmmss"),
        initial="%02d%02d%02d" % now[3:6],
        chars=admin_ui.DIGITS,
        min_len=6,
        max_len=6,
    )
    try:
        clock.set_local(
            int(date[:4]),
            int(date[4:6]),
            int(date[6:]),
            int(time[:2]),
            int(time[2:4]),
            int(time[4:]),
        )
    except ValueError as exc:
        admin_ui.pages(ui, title, admin_ui.wrap(str(exc)))
        return
    admin.changed(term)
    ui.message(title, ("已设置", "Set"), "%s %s" % (date, time), wait_ms=2000)


def _save(term, params, changed):
    # Leaving the menu with changes: ask, check the whole set, store. True when done with
    # (stored or dropped), False to go back to the menu and mend the set.
    from app.store import edits

    ui = term.ui
    count = len(set(changed))
    if not ui.confirm(
        TITLE, (("保存修改?", "Save changes?"), ("%d 项" % count, "%d values" % count))
    ):
        ui.message(TITLE, ("已放弃修改", "Changes dropped"), wait_ms=2000)
        return True
    try:
        edits.save(term.store, 0, params, changed)
    except ValueError as exc:  # ParamError: the set as a whole
        admin_ui.pages(ui, ("未保存", "Not saved"), admin_ui.wrap(str(exc)))
        return False
    admin.changed(term)
    ui.message(TITLE, ("已保存", "Saved"), wait_ms=2000)
    return True


def run(term):
    ui = term.ui
    params = term.terminal_params()
    if params is None:
        ui.message(TITLE, ("无参数", "No parameters"), ("请先装载参数", "Load them first"))
        return
    # A copy to edit: what the terminal holds stays as it was until the set is stored.
    from app.store.params import Params

    params = Params.from_tlv(params.to_tlv(), 0)
    changed = []
    cursor = 0
    while True:
        choice = ui.menu(TITLE, _ITEMS, cursor)
        if choice is None:
            if not changed or _save(term, params, changed):
                return
            continue
        cursor = choice
        try:
            if choice == 0:
                view(term)
            elif choice == 1:
                _clock(term)
            elif choice == 2:
                if _edit(term, params, _BEARER):
                    changed.append("bearer")
            elif choice == 6:
                if _edit(term, params, _HOST_SELECT):
                    changed.append("host_select")
            else:
                editors = (_DIALUP, _GPRS, _ETHERNET)[choice - 3]
                _group(term, params, _ITEMS[choice], editors, changed)
        except Idle:
            raise
        except Cancelled:
            pass
