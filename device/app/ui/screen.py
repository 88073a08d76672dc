"""The terminal's screen and keypad as every flow uses them: menus with numeric shortcuts,
entry of amounts, numbers and passwords, messages and questions, and the keys meaning the
same everywhere.

    ui = Screen(board.display(), board.keypad(), language="zh")
    choice = ui.menu(text.CASHIER, (text.SALE, text.VOID, text.REFUND))   # index, or None
    fen = ui.amount(text.SALE, maximum=99999999)
    trace = ui.number(text.VOID, text.ENTER_TRACE, 1, 6)
    typed = ui.password(text.VOID, text.SUPERVISOR_PASSWORD)            # bytearray: wipe it
    if ui.confirm(text.SALE, ("622424**0113", "RMB 0.01")): ...
    ui.message(text.SALE, text.DECLINED, wait_ms=5000)
    ui.notice(text.SALE, respcodes_message_zh)                       # wrapped over 3 lines
    ui.scroll(text.CHECKS, lines)                                    # 3 lines a page, F1/F2

The keys (docs/menus.md keeps the same list for installers and trainers):

    0-9     a menu item by its number; digits in an entry
    ENTER   take the item or the value shown; go on
    CANCEL  back one step; out of an entry; a flow's question answered "no"
    CLEAR   the last digit (an amount from the cents side: 10000 -> 1000); a password or
            PIN entry is cleared whole, as PIN pads do
    F1 F2   the item above / below in a menu (the page turns with it); the page before / after
            in a list longer than the screen
    F3 F4   unused here: flows give them a meaning only on screens that say so

Every wait ends: after `idle_ms` without a key (60 s unless the parameters say otherwise)
the widget raises Idle, and the flow goes back to the idle screen, as CANCEL does (Idle is a
Cancelled). Nothing is kept of what was typed.

Texts are words of app.ui.text (numbers) or (Chinese, English) pairs, shown in the
terminal's language (`language` "zh", the default, or "en"); a plain str is shown as it is.
The screen is four lines of 16 dots: the first is the title (inverse), the other three the
content. Nothing here allocates per key
beyond the text of the line redrawn.
"""

from app.ui.text import word
from drivers import keypad as kp
from drivers.lcd import CENTER, LEFT, RIGHT

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

IDLE_MS = const(60000)  # no key for this long: back to the idle screen
_ROWS = const(3)  # content lines under the title


class Cancelled(Exception):
    """The operator pressed CANCEL: the flow ends, nothing done."""


class Idle(Cancelled):
    """No key for the idle time: the flow ends as if cancelled."""


def wipe(buf):
    """Zero a bytearray (a password, a PIN) in place."""
    kp.wipe(buf)


class Screen:
    """The display and keypad together; see the module docstring."""

    def __init__(self, display, keypad, *, language="zh", idle_ms=IDLE_MS):
        self.display = display
        self.keypad = keypad
        self.idle_ms = idle_ms
        self.language = language

    # --- text ----------------------------------------------------------------------------

    @property
    def language(self):
        return "en" if self._en else "zh"

    @language.setter
    def language(self, value):
        if value not in ("zh", "en"):
            raise ValueError("language must be zh or en")
        self._en = value == "en"

    def t(self, text):
        """The str of `text`: a word of app.ui.text (a number) or a (Chinese, English) pair,
        in the terminal's language; a str as it is."""
        if isinstance(text, int):
            return word(text, self._en)
        if isinstance(text, tuple):
            return text[1] if self._en else text[0]
        return text

    # --- drawing -------------------------------------------------------------------------

    def show(self, title, lines=(), inverse=-1):
        """Draw `title` (inverse, centred) and up to three lines under it, now; no wait.
        `inverse`: the index of a line to draw inverse (a menu's cursor)."""
        display = self.display
        display.clear()
        display.text(0, self.t(title), inverse=True, align=CENTER)
        for i in range(min(len(lines), _ROWS)):
            line = lines[i]
            if line is not None:
                display.text(i + 1, self.t(line), inverse=i == inverse)
        display.show()

    def line(self, index, text, align=LEFT, inverse=False):
        """Redraw one line (0 the title .. 3) and show it: a status, a counter."""
        self.display.text(index, self.t(text), inverse=inverse, align=align)
        self.display.show()

    # --- waiting -------------------------------------------------------------------------

    def key(self, timeout_ms=None):
        """The next key code; Idle after `timeout_ms` (default the idle time) without one."""
        code = self.keypad.get(self.idle_ms if timeout_ms is None else timeout_ms)
        if code is None:
            raise Idle()
        return code

    def cancel_pressed(self):
        """True if CANCEL is among the keys pressed since the last look (other keys are
        dropped): the check a long wait (dialling, the host's answer) makes between polls."""
        while True:
            code = self.keypad.get(0)
            if code is None:
                return False
            if code == kp.CANCEL:
                return True

    # --- widgets -------------------------------------------------------------------------

    def menu(self, title, items, start=0):
        """Let the operator choose one of `items` (texts); returns its index, or None on
        CANCEL. Items are numbered from 1 (the shortcut key; a tenth is 0); F1/F2 move the
        cursor, ENTER takes it. Idle as every wait."""
        count = len(items)
        if not 0 < count <= 10:
            raise ValueError("a menu has 1 to 10 items")
        cursor = start
        while True:
            top = cursor - cursor % _ROWS
            shown = []
            for i in range(top, min(top + _ROWS, count)):
                shown.append("%d %s" % ((i + 1) % 10, self.t(items[i])))
            self.show(title, shown, inverse=cursor - top)
            code = self.key()
            if code == kp.CANCEL:
                return None
            if code == kp.ENTER:
                return cursor
            if code == kp.F1:
                cursor = (cursor - 1) % count
            elif code == kp.F2:
                cursor = (cursor + 1) % count
            elif 0x30 <= code <= 0x39:
                index = (code - 0x31) % 10  # "1" -> 0 .. "0" -> 9
                if index < count:
                    return index

    def amount(self, title, prompt=None, *, maximum=None, initial=0):
        """An amount typed from the cents side (1 = 0.01, 10000 = 100.00); returns fen.
        Above `maximum` (fen) the operator is told and types again. Cancelled / Idle."""
        prompt = prompt or ("金额:", "Amount:")
        while True:
            self.show(title, (prompt,))
            try:
                fen = self.keypad.read_amount(
                    timeout_ms=self.idle_ms,
                    show=lambda fen: self.line(2, "RMB " + kp.format_amount(fen), RIGHT),
                    initial=initial,
                )
            except kp.EntryTimeout:
                raise Idle() from None
            except kp.EntryCancelled:
                raise Cancelled() from None
            if maximum is None or fen <= maximum:
                return fen
            self.message(
                title,
                ("金额超限", "Amount too large"),
                ("最大 " + kp.format_amount(maximum), "Max " + kp.format_amount(maximum)),
                wait_ms=3000,
            )
            initial = 0

    def number(self, title, prompt, min_digits, max_digits, *, initial=""):
        """Digits typed on the keypad (a trace number, a date MMDD, an auth code); returns
        them as str once ENTER comes with `min_digits`..`max_digits` of them. CLEAR takes
        the last digit back. Cancelled / Idle."""
        typed = initial
        while True:
            self.show(title, (prompt, None))
            self.line(2, typed, RIGHT)
            code = self.key()
            if code == kp.CANCEL:
                raise Cancelled()
            if code == kp.ENTER and min_digits <= len(typed) <= max_digits:
                return typed
            if code == kp.CLEAR:
                typed = typed[:-1]
            elif 0x30 <= code <= 0x39 and len(typed) < max_digits:
                typed += chr(code)

    def password(self, title, prompt, *, min_digits=4, max_digits=12):
        """A password typed as stars; returns its digits in a new bytearray, which the
        caller wipes (wipe()) once compared. CLEAR starts it again. Cancelled / Idle."""
        digits = bytearray(max_digits)
        self.show(title, (prompt,))
        try:
            count = self.keypad.read_pin(
                digits,
                min_digits=min_digits,
                max_digits=max_digits,
                timeout_ms=self.idle_ms,
                show=lambda count: self._stars(count),
            )
        except kp.EntryTimeout:
            raise Idle() from None
        except kp.EntryCancelled:
            raise Cancelled() from None
        typed = digits[:count]
        wipe(digits)
        return typed

    def _stars(self, count):
        self.display.stars(2, count)
        self.display.show()

    def confirm(self, title, lines, *, timeout_ms=None):
        """Show `lines` and wait for ENTER (True) or CANCEL (False); other keys are
        ignored. Idle as every wait."""
        self.show(title, lines)
        while True:
            code = self.key(timeout_ms)
            if code == kp.ENTER:
                return True
            if code == kp.CANCEL:
                return False

    def message(self, title, *lines, wait_ms=None):
        """Show `lines` until a key is pressed, or for `wait_ms` when given (then no key is
        needed); returns the key, or None when the time ran out."""
        self.show(title, lines)
        code = self.keypad.get(self.idle_ms if wait_ms is None else wait_ms)
        return code

    def notice(self, title, text, *, wait_ms=None):
        """`text` (one text: a response code's message) wrapped over the three lines under
        the title; then as message(): the key, or None when `wait_ms` ran out."""
        display = self.display
        display.clear()
        display.text(0, self.t(title), inverse=True, align=CENTER)
        display.paragraph(1, self.t(text))
        display.show()
        return self.keypad.get(self.idle_ms if wait_ms is None else wait_ms)

    def scroll(self, title, lines, *, wait_ms=None):
        """Show `lines` (texts, any number) three at a time: F2 or a digit turns to the next
        page, F1 to the one before; ENTER or CANCEL ends (the key is returned), as does
        `wait_ms` without a key (None returned; Idle after the idle time if not given)."""
        count = len(lines)
        top = 0
        while True:
            self.show(title, lines[top : top + _ROWS])
            code = self.keypad.get(self.idle_ms if wait_ms is None else wait_ms)
            if code is None:
                if wait_ms is None:
                    raise Idle()
                return None
            if code == kp.ENTER or code == kp.CANCEL:
                return code
            if code == kp.F1:
                top = max(0, top - _ROWS)
            elif code == kp.F2 or 0x30 <= code <= 0x39:
                if top + _ROWS < count:
                    top += _ROWS
