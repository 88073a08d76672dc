"""The installer's device check (设备检测): every peripheral of the terminal answers on one
screen, so an installer sees at once that the keypad, display, card reader, printer and PIN
pad are wired and alive (DESIGN §7: the admin menu's hardware test).

    from app import hwtest
    seen = hwtest.run(board)          # board: board.esp32_ref or board.unix_sim
    seen = hwtest.run(board, display=ui.display, keypad=ui.keypad)   # from PosManage

The screen, four lines of 16 dots:

    设备检测           the title, inverse
    键 5               the last key pressed, by name
    卡 622424**0113    the last card swiped, masked; or why the swipe failed
    打印 OK            the last action: the test slip, the PIN pad's serial number

Keys: ENTER prints a test slip, F1 asks the PIN pad for its serial number, CANCEL ends the
check; every other key is only shown. The check also ends after `idle_ms` without a key or a
swipe. A peripheral the terminal does not have (the board raises OSError) shows 无 (none).

Returns what was seen, for the install record: {"keys": [names, in order], "card": masked
PAN or None, "printed": bool, "pinpad": serial or None, "errors": [texts]}. A swipe's track
is wiped as soon as its masked PAN is taken.
"""

from drivers import keypad as kp
from drivers.lcd import CENTER, LEFT

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int

_KEY_MS = const(50)  # longest wait for a key before looking at the card reader again
_NAMES = {
    kp.CLEAR: "CLEAR",
    kp.ENTER: "ENTER",
    kp.CANCEL: "CANCEL",
    kp.FUNC: "FUNC",
    kp.F1: "F1",
    kp.F2: "F2",
    kp.F3: "F3",
    kp.F4: "F4",
}
# The test slip: ASCII, and one line of GB18030 bytes (测试 设备检测), encoded on the host since
# MicroPython has no GB18030 codec.
_SLIP_TITLE = b"\xb2\xe2\xca\xd4 \xc9\xe8\xb1\xb8\xbc\xec\xb2\xe2"


def key_name(code):
    """'5', '#', 'ENTER', 'F1'... for a key code."""
    name = _NAMES.get(code)
    return name if name is not None else chr(code)


def _device(factory):
    # A part the board does not have: None, and the screen says so.
    try:
        return factory()
    except OSError:
        return None


def _print_slip(printer, keys):
    from drivers import escpos

    lines = (
        (escpos.CENTER | escpos.BOLD | escpos.DOUBLE, _SLIP_TITLE),
        (escpos.CENTER, b"POSKIT DEVICE CHECK"),
        b"KEYS: " + " ".join(keys[-8:]).encode(),
        b"PRINTER: OK",
    )
    printer.print_job(lines)


def _printer_trouble(exc):
    # What the installer does about it, in the screen's words.
    from drivers.escpos import CoverOpen, PaperOut

    if isinstance(exc, PaperOut):
        return "缺纸 请装纸"
    if isinstance(exc, CoverOpen):
        return "打印机 盖 打开"
    return "打印机 无应答"


def run(board, *, idle_ms=60000, display=None, keypad=None):
    """Run the check until CANCEL or `idle_ms` without a key or a card; see the module
    docstring. The display and the keypad are needed: the board makes them (OSError if it
    has none), unless the running terminal gives its own (`display`, `keypad`: a second
    driver on the same panel would reset it)."""
    display = display or board.display()
    keys = keypad or board.keypad()
    reader = _device(board.card_reader)
    seen = {"keys": [], "card": None, "printed": False, "pinpad": None, "errors": []}

    def show(line, text):
        display.text(line, text, align=LEFT)
        display.show()

    display.clear()
    display.text(0, "设备检测", inverse=True, align=CENTER)
    display.text(1, "键")
    display.text(2, "卡" if reader is not None else "卡 无")
    display.text(3, "ENTER打印 F1键盘")
    display.show()
    quiet = 0
    while quiet < idle_ms:
        code = keys.get(_KEY_MS)
        if reader is not None:
            try:
                track = reader.poll()
            except OSError as exc:  # BadSwipe: its reason, for the installer
                seen["errors"].append(str(exc))
                show(2, "卡 " + getattr(exc, "reason", str(exc)))  # clipped at the edge
                track = None
                quiet = 0
            if track is not None:
                seen["card"] = masked = track.masked_pan
                track.wipe()
                # 16 columns: the first six and last four digits, two stars between.
                show(2, "卡 " + masked[:6] + "**" + masked[-4:])
                quiet = 0
        if code is None:
            quiet += _KEY_MS
            continue
        quiet = 0
        name = key_name(code)
        seen["keys"].append(name)
        show(1, "键 " + name)
        if code == kp.CANCEL:
            break
        if code == kp.ENTER:
            printer = _device(board.printer)
            if printer is None:
                show(3, "打印机 无")
                continue
            try:
                _print_slip(printer, seen["keys"])
                seen["printed"] = True
                show(3, "打印 OK")
            except OSError as exc:  # PaperOut, CoverOpen, PrinterOffline
                seen["errors"].append(str(exc))
                show(3, _printer_trouble(exc))
        elif code == kp.F1:
            pad = _device(board.pinpad)
            if pad is None:
                show(3, "键盘 无")
                continue
            try:
                seen["pinpad"] = pad.serial_number()
                show(3, seen["pinpad"])
            except OSError as exc:  # PinPadError: no answer, bad frames
                seen["errors"].append(str(exc))
                show(3, "键盘 " + str(exc))
    return seen
