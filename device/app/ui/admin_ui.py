"""Widgets the PosManage screens share: text typed on the numeric keypad (letters with FUNC),
hex typed without echo (key components), long texts wrapped to the screen and paged.

    host = text(ui, TITLE, "host:", initial="10.1.1.5", chars=HOST)
    n = text_into(ui, TITLE, "component 1", buf, lengths=(32, 48), chars=HEX, secret=True)
    pages(ui, TITLE, wrap("ethernet.ip: 300.1.1.1 is not an IPv4 address"))

Letters (docs/menus.md, "Typing letters"; docs/keys.md for key components): a key types its
digit (or the first character of its row below that the entry allows); FUNC then steps the
character just typed through the rest of that key's row, round to the start, as the letters
printed on a phone keypad run. `2 FUNC` is A, `2 FUNC FUNC` B, `3 FUNC FUNC FUNC` F:

    1 . - _ @ / :     2 A B C a b c     3 D E F d e f     4 G H I g h i
    5 J K L j k l     6 M N O m n o     7 P Q R S p q r s 8 T U V t u v
    9 W X Y Z w x y z 0 (space)         . * , #           # (alone)

Characters the entry does not allow are skipped (hex: 2 A B C and 3 D E F only; a phone
number: the . key types a comma, its pause). The steps are the same whether the screen shows
the text or stars, so a custodian types a hex component blind by counting FUNC presses.
An entry that starts from the value set now shows it: ENTER keeps it, a character key types a
new value in its place, CLEAR takes its last character back (to mend the end of an address).
CLEAR takes back the last character, ENTER takes the text once its length is allowed,
CANCEL leaves (Cancelled), and no key for the idle time is Idle; a secret is wiped from the
buffer on either. F1-F4 do nothing here.
"""

from app.ui.screen import Cancelled, Idle
from drivers import keypad as kp
from drivers.lcd import LEFT, RIGHT

# Each key's row (see the module docstring), "|" between rows, the key's own code first.
_ROWS = b"|1.-_@/:|2ABCabc|3DEFdef|4GHIghi|5JKLjkl|6MNOmno|7PQRSpqrs|8TUVtuv|9WXYZwxyz|0 |.*,#|#|"
_WIDTH = 16  # columns of the screen: an ASCII character is one, a Chinese one two

# Character classes of the entries (None: printable ASCII).
DIGITS = b"0123456789"
HEX = b"0123456789ABCDEF"
PHONE = b"0123456789,"
DIAL = b"0123456789*#"
IPV4 = b"0123456789."
HOST = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-."


def _row(code):
    # (start, end) of the row of key `code` in _ROWS, or None for a key with no row.
    at = _ROWS.find(bytes((0x7C, code)))
    if at < 0:
        return None
    return at + 1, _ROWS.index(b"|", at + 1)


def _allowed(c, chars):
    return chars.find(bytes((c,))) >= 0 if chars is not None else 0x20 <= c <= 0x7E


def _first(row, chars, after=None):
    # The first character of `row` the entry allows, after position `after` (round to the
    # start), or None.
    start, end = row
    n = end - start
    offset = 0 if after is None else after - start + 1
    for i in range(n):
        at = start + (offset + i) % n
        if _allowed(_ROWS[at], chars):
            return at
    return None


def columns(text):
    """Screen columns of `text`: 1 for ASCII, 2 for anything wider (Chinese)."""
    n = 0
    for ch in text:
        n += 1 if ord(ch) < 0x80 else 2
    return n


def wrap(text, width=_WIDTH):
    """`text` as lines of at most `width` columns, broken at spaces where one is near."""
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for ch in paragraph:
            if columns(line) + columns(ch) > width:
                space = line.rfind(" ")
                if ch == " ":
                    lines.append(line)  # a full line: the space ends it
                    line = ""
                    continue
                if space > width // 2:
                    lines.append(line[:space])
                    line = line[space + 1 :]
                else:
                    lines.append(line)
                    line = ""
                if ch == " " and not line:
                    continue
            line += ch
        lines.append(line)
    return lines


def pages(ui, title, lines, *, wait_ms=None):
    """Show `lines` three at a time, with "n/m" beside the title when they need more than
    one page; ENTER or F2 turns to the next page (ENTER on the last ends), F1 back, CANCEL
    ends. Returns the key that ended it (ENTER or CANCEL), or None when `wait_ms` ran out on
    the last page without a key."""
    count = (len(lines) + 2) // 3 or 1
    page = 0
    while True:
        head = title if count == 1 else "%s %d/%d" % (ui.t(title), page + 1, count)
        ui.show(head, lines[3 * page : 3 * page + 3])
        if wait_ms is not None and page == count - 1:
            code = ui.keypad.get(wait_ms)
            if code is None:
                return None
        else:
            code = ui.key()
        if code == kp.CANCEL:
            return code
        if code == kp.F1:
            page = max(page - 1, 0)
        elif code == kp.ENTER or code == kp.F2:
            if page == count - 1:
                if code == kp.ENTER:
                    return code
            else:
                page += 1


def menu_loop(ui, title, items, act):
    """The menu of `items` until CANCEL: `act(index)` for each item chosen. CANCEL inside it
    (Cancelled) comes back to this menu, at the same item; Idle goes on up, to the idle
    screen."""
    choice = 0
    while True:
        choice = ui.menu(title, items, choice)
        if choice is None:
            return
        try:
            act(choice)
        except Idle:
            raise
        except Cancelled:
            pass


def _draw(ui, title, prompt, buf, count, secret):
    ui.show(title, (prompt,))
    if secret:
        # Stars up to a line, and how many were typed: a component is 16 to 48 digits.
        ui.line(2, "*" * min(count, _WIDTH), RIGHT)
        ui.line(3, "%d" % count, RIGHT)
        return
    shown = bytes(buf[:count]).decode()
    if len(shown) > 2 * _WIDTH:
        shown = shown[-2 * _WIDTH :]  # the end, where the typing is
    if len(shown) <= _WIDTH:
        ui.line(2, shown, RIGHT)
    else:
        ui.line(2, shown[:_WIDTH], LEFT)
        ui.line(3, shown[_WIDTH:], LEFT)


def text_into(
    ui, title, prompt, buf, *, count=0, chars=None, lengths=None, min_len=0, secret=False
):
    """Let the operator type into bytearray `buf` (its length is the most that is taken),
    starting with its first `count` bytes; returns the number of characters typed (ASCII in
    buf[:n]). `lengths`: the lengths ENTER takes (a tuple), else `min_len`..len(buf).
    `secret`: stars on the screen, type-ahead dropped first, the buffer wiped on CANCEL or
    Idle. See the module docstring for the keys."""
    most = len(buf)
    keypad = ui.keypad
    fresh = count > 0  # the value set now: the first character key replaces it
    if secret:
        keypad.flush()  # keys typed before the prompt are not part of a key
    last = None  # position in _ROWS of the character just typed, for FUNC
    try:
        while True:
            _draw(ui, title, prompt, buf, count, secret)
            code = ui.key()
            if code == kp.CANCEL:
                raise Cancelled()
            if code == kp.ENTER:
                if (count in lengths) if lengths else min_len <= count:
                    return count
            elif code == kp.CLEAR:
                if count:
                    count -= 1
                    buf[count] = 0
                last = None
                fresh = False
            elif code == kp.FUNC:
                if last is not None and count:
                    start = _ROWS.rfind(b"|", 0, last) + 1
                    at = _first((start, _ROWS.index(b"|", last)), chars, last)
                    if at is not None:
                        buf[count - 1] = _ROWS[at]
                        last = at
            else:
                row = _row(code)
                if row is not None and fresh:
                    count = 0
                    fresh = False
                if row is not None and count < most:
                    at = _first(row, chars)
                    if at is not None:
                        buf[count] = _ROWS[at]
                        count += 1
                        last = at
    except Cancelled:  # Idle too
        if secret:
            kp.wipe(buf)
        raise
    finally:
        if secret:
            keypad.flush()


def text(ui, title, prompt, *, initial="", chars=None, min_len=0, max_len=64):
    """A value typed on the keypad, shown as it is typed, starting from `initial`; returns
    it as a str. See text_into."""
    buf = bytearray(max_len)
    start = initial.encode()[:max_len]
    buf[: len(start)] = start
    count = text_into(ui, title, prompt, buf, count=len(start), chars=chars, min_len=min_len)
    return bytes(buf[:count]).decode()
