# The screen engine (app/ui/screen.py) against a recording display and a scripted keypad: what
# each key does in a menu and an entry, what the screen shows, and that every wait ends.
from mptest import expect_error as expect

from app.ui import screen
from app.ui.screen import Cancelled, Idle, Screen
from drivers import keypad as kp


class Display:
    def __init__(self):
        self.lines = ["", "", "", ""]
        self.inverse = [False] * 4
        self.shown = []

    def clear(self):
        self.lines = ["", "", "", ""]
        self.inverse = [False] * 4

    def text(self, line, text, inverse=False, align=0, clear=True):
        self.lines[line] = text
        self.inverse[line] = inverse

    def stars(self, line, count, align=1, inverse=False):
        self.lines[line] = "*" * count

    def paragraph(self, first, text, inverse=False):
        # ASCII here: 16 characters a line
        for i in range(0, len(text), 16):
            self.lines[first + i // 16] = text[i : i + 16]
        return (len(text) + 15) // 16

    def show(self):
        self.shown.append(list(self.lines))


class Keys(kp.Keypad):
    """The keypad driver's own entry logic over a list of key codes (None: a timeout)."""

    def __init__(self, codes):
        self.codes = list(codes)
        self.waits = []

    def get(self, timeout_ms=0):
        self.waits.append(timeout_ms)
        if not self.codes:
            return None
        return self.codes.pop(0)

    def flush(self):
        pass


def keys(*items):
    out = []
    for item in items:
        if isinstance(item, str):
            out.extend(ord(c) for c in item)
        else:
            out.append(item)
    return out


def ui_with(*items, language="zh"):
    display = Display()
    return Screen(display, Keys(keys(*items)), language=language, idle_ms=1000), display


SALE = ("消费", "Sale")
ITEMS = (SALE, ("撤销", "Void"), ("退货", "Refund"), ("余额查询", "Balance"))


def test_menu_shortcut_digit_picks_its_item():
    ui, display = ui_with("3")
    assert ui.menu(("收银", "Cashier"), ITEMS) == 2
    assert display.shown[0] == ["收银", "1 消费", "2 撤销", "3 退货"]
    assert display.inverse[1]  # the cursor on the first item


def test_menu_cursor_moves_and_pages_with_f1_f2():
    ui, display = ui_with(kp.F2, kp.F2, kp.F2, kp.ENTER, language="en")
    assert ui.menu("Cashier", ITEMS) == 3
    assert display.shown[-1] == ["Cashier", "4 Balance", "", ""]  # the second page
    ui, display = ui_with(kp.F1, kp.ENTER)
    assert ui.menu("Cashier", ITEMS) == 3  # F1 from the first item wraps to the last


def test_menu_cancel_and_idle():
    ui, _ = ui_with(kp.CANCEL)
    assert ui.menu("M", ITEMS) is None
    ui, _ = ui_with()
    expect(Idle, [], ui.menu, "M", ITEMS)
    assert ui.keypad.waits == [1000]  # the idle time, not forever
    ui, _ = ui_with("9", "0", "1")  # no 9th or 10th item: ignored
    assert ui.menu("M", ITEMS) == 0


def test_amount_from_the_cents_side_and_the_maximum():
    ui, display = ui_with("10000", kp.ENTER)
    assert ui.amount(SALE) == 10000
    assert display.shown[-1][2] == "RMB 100.00"
    ui, display = ui_with("1", kp.CLEAR, "25", kp.ENTER)
    assert ui.amount(SALE) == 25
    # over the maximum: said, then typed again
    ui, display = ui_with("20000", kp.ENTER, kp.ENTER, "500", kp.ENTER)
    assert ui.amount(SALE, maximum=10000) == 500
    assert ["消费", "金额超限", "最大 100.00", ""] in display.shown
    ui, _ = ui_with("12", kp.CANCEL)
    expect(Cancelled, [], ui.amount, SALE)
    ui, _ = ui_with("12")
    expect(Idle, [], ui.amount, SALE)


def test_number_needs_its_length_and_clear_takes_a_digit_back():
    ui, display = ui_with("12", kp.ENTER, "34", kp.CLEAR, "5", kp.ENTER)
    assert ui.number(SALE, "trace", 4, 6) == "1235"  # ENTER with 2 digits is not taken
    assert display.shown[-1][2] == "1235"
    ui, _ = ui_with("1234567", kp.ENTER)
    assert ui.number(SALE, "trace", 1, 6) == "123456"  # a seventh digit is not taken
    ui, _ = ui_with(kp.CANCEL)
    expect(Cancelled, [], ui.number, SALE, "trace", 1, 6)


def test_password_is_stars_and_comes_back_as_a_bytearray():
    ui, display = ui_with("123456", kp.ENTER)
    typed = ui.password(SALE, ("主管密码", "Supervisor"))
    assert typed == bytearray(b"123456")
    assert all("123" not in line for shown in display.shown for line in shown)
    assert ["消费", "******", "", ""] not in display.shown  # stars on line 2, not the title
    assert any(shown[2] == "******" for shown in display.shown)
    screen.wipe(typed)
    assert typed == bytearray(6)
    ui, _ = ui_with("12", kp.CANCEL)
    expect(Cancelled, [], ui.password, SALE, "pw")


def test_confirm_and_message():
    ui, _ = ui_with("5", kp.ENTER)
    assert ui.confirm(SALE, ("RMB 0.01",)) is True
    ui, _ = ui_with(kp.CANCEL)
    assert ui.confirm(SALE, ("RMB 0.01",)) is False
    ui, display = ui_with()
    assert ui.message(SALE, ("交易成功", "Approved"), wait_ms=10) is None
    assert display.shown[-1] == ["消费", "交易成功", "", ""]


def test_cancel_pressed_drops_other_keys():
    ui, _ = ui_with("1", "2", kp.CANCEL, "3")
    assert ui.cancel_pressed() is True
    assert ui.cancel_pressed() is False  # the "3" after it is dropped too


def test_notice_wraps_one_text_under_the_title():
    ui, display = ui_with(language="en")
    text = ("余额不足,请换卡", "Insufficient funds: use another card")
    assert ui.notice("Sale", text, wait_ms=10) is None
    assert display.shown[-1] == ["Sale", "Insufficient fun", "ds: use another ", "card"]


def test_scroll_pages_with_f1_f2_and_ends_on_enter_cancel_or_its_time():
    lines = ["a", "b", "c", "d", "e"]
    ui, display = ui_with(kp.F2, kp.F2, kp.F1, kp.ENTER)
    assert ui.scroll("T", lines) == kp.ENTER
    assert [shown[1] for shown in display.shown] == ["a", "d", "d", "a"]  # no page past d-e
    ui, _ = ui_with(kp.CANCEL)
    assert ui.scroll("T", lines) == kp.CANCEL
    ui, _ = ui_with()
    assert ui.scroll("T", lines, wait_ms=10) is None  # a moment, then on
    ui, _ = ui_with()
    expect(Idle, [], ui.scroll, "T", lines)  # no time given: the idle time
