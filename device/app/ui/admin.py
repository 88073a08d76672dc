"""PosManage (管理): the installer's menu, behind operator 01 and its password, with a lock-out.

    from app.ui import admin
    admin.run(term)             # the idle screen calls this on FUNC; returns to it

Login: the operator number (两位, PosManage's is 01; another number is refused and not
counted), then the password as stars. The password is the terminal parameter
`admin_password`, or `supervisor_password` when the parameters give PosManage none
(docs/packets.md §5.5); a terminal without parameters has no password to check, and says so
(load them with `poskit load`). Wrong passwords are counted on flash (app.store.lockout):
after 3 in a row PosManage is locked for 10 minutes, across power cycles too; a right one
starts the count again.

The menu (docs/menus.md, "PosManage", has every screen):

    1 版本信息  versions: MicroPython, application build and hash, parameters, keys, serial
    2 终端参数  view every parameter; edit the clock, the dial-up line and the bearer settings
    3 通讯测试  dial test, GPRS signal meter, Ethernet link, echo test to the host
    4 手输密钥  a master key typed as 2-3 components with their check values
    5 打印参数  the parameter slip for the install record
    6 设备检测  the device check (app.hwtest)
    7 培训模式  training mode on or off
    8 清除流水  clear the journal, only after settlement
    9 主机连接  host-link mode: the installer's tools over the console (app.hostlink)

Each screen family is its own module (app.ui.admin_*), imported when chosen and let go when
it returns, so none of it is on the heap at idle or in a sale. CANCEL on a screen comes back
to this menu, CANCEL here to the idle screen; no key for the idle time (Idle) leaves
PosManage altogether: the next visit logs in again.
"""

from app.ui import forget
from app.ui.screen import Cancelled, Idle
from drivers import keypad as kp

TITLE = ("管理", "PosManage")
OPERATOR = "01"
ITEMS = (
    ("版本信息", "Versions"),
    ("终端参数", "Parameters"),
    ("通讯测试", "Comm test"),
    ("手输密钥", "Key entry"),
    ("打印参数", "Print params"),
    ("设备检测", "Device check"),
    ("培训模式", "Training mode"),
    ("清除流水", "Clear journal"),
    ("主机连接", "Host link"),
)
# The module of each item, in order (app.ui.<name>.run(term)).
_MODULES = (
    "admin_version",
    "admin_params",
    "admin_comm",
    "admin_keys",
    "admin_print",
    None,  # the device check: app.hwtest
    "admin_training",
    "admin_journal",
    "admin_hostlink",
)
_LOCK_RECORD = "adminlock"


def changed(term):
    """After PosManage changed parameters, the clock or a key: the terminal forgets what it
    read from flash (Terminal.changed: its engine with its keys and clock, its bearer, its
    list of applications), so the next transaction uses what is stored now."""
    term.changed()


def login(term):
    """Ask for operator 01 and the PosManage password; True once it is right. False when
    CANCEL is pressed, the terminal has no parameters, or it is locked out (the screen has
    said why). Idle raises."""
    from app.store.lockout import Lockout

    ui = term.ui
    terminal = term.terminal_params()
    if terminal is None:
        ui.message(TITLE, ("无参数", "No parameters"), ("请先装载参数", "Load them first"))
        return False
    kind = "admin" if "admin_password" in terminal else "supervisor"
    lock = Lockout(term.store, _LOCK_RECORD)
    try:
        operator = ui.number(TITLE, ("操作员号:", "Operator no.:"), 2, 2)
        if operator != OPERATOR:
            ui.message(TITLE, ("操作员号错", "Wrong operator"), ("管理员为 01", "PosManage is 01"))
            return False
        while True:
            left = lock.remaining()
            if left:
                minutes = (left + 59) // 60
                ui.message(
                    TITLE,
                    ("已锁定", "Locked"),
                    ("%d 分钟后再试" % minutes, "Retry in %d min" % minutes),
                )
                return False
            typed = ui.password(TITLE, ("管理员密码:", "Password:"))
            try:
                right = terminal.check_password(kind, typed)
            finally:
                for i in range(len(typed)):
                    typed[i] = 0
            if right:
                lock.succeeded()
                return True
            tries = lock.failed()  # on flash before the screen says anything
            if tries:
                code = ui.message(
                    TITLE,
                    ("密码错误", "Wrong password"),
                    ("还可试 %d 次" % tries, "%d tries left" % tries),
                    wait_ms=3000,
                )
                if code == kp.CANCEL:
                    return False
    except Cancelled as exc:
        if isinstance(exc, Idle):
            raise
        return False
    finally:
        forget("app.store.lockout")


def run(term):
    """Log in, then the PosManage menu until CANCEL (back to the idle screen). Idle
    propagates to the caller, as from every flow."""
    try:
        if not login(term):
            return
        from app.ui import admin_ui

        admin_ui.menu_loop(term.ui, TITLE, ITEMS, lambda choice: _open(term, choice))
    finally:
        forget("app.ui.admin_ui")
        for name in _MODULES:
            if name is not None:
                forget("app.ui." + name)
        forget("app.ui.admin")


def _open(term, choice):
    name = _MODULES[choice]
    if name is None:
        from app import hwtest

        try:
            ui = term.ui
            hwtest.run(term.board, idle_ms=ui.idle_ms, display=ui.display, keypad=ui.keypad)
        finally:
            forget("app.hwtest")
        return
    screen = __import__("app.ui." + name, None, None, ("run",))
    try:
        screen.run(term)
    finally:
        forget("app.ui." + name)
