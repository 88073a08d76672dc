"""The parameter slip (打印参数): what the installer staples to the install record.

    admin_print.run(term)
    lines = slip(term)       # the slip's lines, bytes of at most 32 columns (GB18030)

The slip: a title, the application release and build hash, MicroPython's version, the
terminal serial, the date and time; then every terminal parameter, name and value, with its
packet version; then each application's (merchant number, terminal number, merchant name
as the printer's font draws it, every other value), its key packet version and every key's
check value; a signature line. Secrets are not printed: a password parameter prints as
"(set)", its hash never; keys print as check values only. A value changed on site since the
packet (app.store.edits) is marked with "*" before its name, and the slip says so.

Paper out or the cover opened mid-slip: the screen asks for paper (ENTER goes on where the
printer stopped, no line lost or doubled: the driver's resume rule; CANCEL leaves the slip
unfinished, and says so).
"""

from app.ui import admin_ui, admin_version

TITLE = ("打印参数", "Print params")
_WIDTH = 32
_RULE = b"-" * _WIDTH
_HEADING = b"\xb2\xce\xca\xfd\xb5\xa5 PARAMETERS"  # 参数单
_SIGNATURE = b"\xb0\xb2\xd7\xb0\xd4\xb1\xc7\xa9\xc3\xfb INSTALLER:"  # 安装员签名
_SECRET = ("operator_password", "supervisor_password", "admin_password", "gprs.password")


def _value(name, value):
    # A value as printed (bytes): the merchant name as its GB18030 bytes, secrets as (set).
    if value is None:
        return b"-"
    if name in _SECRET:
        return b"(set)" if value else b"-"
    if value is True or value is False:
        return b"yes" if value else b"no"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return value.encode()


def _pair(out, left, right):
    # `left` and `right` on one line when they fit, else `left` and then `right` on lines of
    # their own (right-aligned; a long value cut every 32 bytes: ASCII).
    from drivers.escpos import columns, two_columns

    if columns(left) + 1 + columns(right) <= _WIDTH:
        out.append(two_columns(left, right, _WIDTH))
        return
    out.append(left)
    if columns(right) <= _WIDTH:
        out.append(b" " * (_WIDTH - columns(right)) + right)
        return
    for i in range(0, len(right), _WIDTH):
        out.append(right[i : i + _WIDTH])


def _params(out, params, edited):
    for name, value in params.items():
        mark = b"*" if name in edited else b""
        _pair(out, mark + name.encode(), _value(name, value))


def slip(term, build_hash=None):
    """The parameter slip's lines (see the module docstring); the first is (style, bytes)
    for the printer's large type."""
    import sys

    from app.keys.identity import Identity
    from app.keys.slots import KeyStore
    from app.store import edits
    from app.store.packet import KEYS, PARAMETERS, Versions
    from app.txn.clock import Clock
    from drivers.escpos import BOLD, CENTER, DOUBLE

    store = term.store
    versions = Versions(store)
    build = build_hash or admin_version.image_hash()
    now = Clock(store).now()
    out = []
    out.append((CENTER | BOLD | DOUBLE, _HEADING))
    _pair(out, b"POSKIT", admin_version.VERSION.encode())
    _pair(out, b"BUILD", build[:24].encode())
    _pair(out, b"MICROPYTHON", (b"%d.%d.%d" % sys.implementation.version[:3]))
    serial = Identity(store, term.storage_key).serial() or "-"
    _pair(out, b"SERIAL", serial.encode())
    _pair(out, b"DATE/TIME", b"%04d-%02d-%02d %02d:%02d" % now[:5])
    any_edit = False
    terminal = term.params.load(0)
    if terminal is not None:
        out.append(_RULE)
        edited = edits.edited(store, 0)
        any_edit = any_edit or bool(edited)
        _pair(out, b"TERMINAL", b"v%d" % versions.get(PARAMETERS, 0))
        _params(out, terminal, edited)
    keys = KeyStore(store, term.storage_key)
    for index, name in term.applications():
        params = term.params.load(index)
        if params is None:
            continue
        out.append(_RULE)
        edited = edits.edited(store, index)
        any_edit = any_edit or bool(edited)
        _pair(out, b"APP %d %s" % (index, name.encode()), b"v%d" % versions.get(PARAMETERS, index))
        _params(out, params, edited)
        _pair(out, b"KEYS", b"v%d" % versions.get(KEYS, index))
        for usage, slot, algorithm, kcv in keys.kcv_table(index):
            _pair(out, b"%s %02d %s" % (usage.encode(), slot, algorithm.encode()), kcv.encode())
    out.append(_RULE)
    if any_edit:
        out.append(b"* EDITED ON SITE (not in the job)")
    out.append(_SIGNATURE)
    out.append(b"")
    out.append(b"")
    return out


def print_lines(ui, printer, lines, title=TITLE):
    """Print `lines`; paper out or an open cover asks for paper and goes on where the
    printer stopped. True when the whole slip printed, False when the operator gave up
    (CANCEL) or the printer does not answer."""
    from drivers.escpos import PrinterOffline

    start = 0
    while True:
        try:
            printer.print_job(lines, start)
            return True
        except PrinterOffline:
            ui.message(title, ("打印机无应答", "Printer silent"), wait_ms=3000)
            return False
        except OSError as exc:  # PaperOut, CoverOpen: with the line to go on from
            start = getattr(exc, "next_line", start)
            if not ui.confirm(
                title,
                (
                    ("缺纸或盖打开", "Paper out/cover"),
                    ("请装纸后", "Load paper, then"),
                    ("按确认键继续", "press ENTER"),
                ),
            ):
                return False


def run(term):
    ui = term.ui
    printer = term.printer()
    if printer is None:
        ui.message(TITLE, ("无打印机", "No printer"))
        return
    ui.show(TITLE, (("打印中...", "Printing..."),))
    lines = slip(term)
    if print_lines(ui, printer, lines):
        ui.message(TITLE, ("打印完成", "Printed"), wait_ms=2000)
    else:
        admin_ui.pages(ui, TITLE, [ui.t(("未打完", "Not finished"))])
