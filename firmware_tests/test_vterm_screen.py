"""The virtual terminal's face (hostlib/vterm_screen.py): which keyboard key presses which
terminal key, where typed digits go while the PIN pad waits, and what the frame shows."""

import sys
from types import ModuleType, SimpleNamespace

from hostlib.emulators import DisplayEmulator
from hostlib.vterm_screen import ScreenView, braille, half_blocks, key_for


class Recorder:
    def __init__(self, waiting=False):
        self.calls = []
        self.waiting = waiting
        self.display = ("RMB 0.01", "ENTER PIN")

    def play(self, script):
        self.calls.append(("play", script))

    def queue_swipe(self, track):
        self.calls.append(("swipe", track))

    def waiting_for_pin(self):
        return self.waiting

    def type_pin(self, pin):
        self.calls.append(("pin", pin))

    def press_cancel(self):
        self.calls.append(("cancel",))

    def insert(self, card):
        self.calls.append(("insert", card))

    def tap(self, card):
        self.calls.append(("tap", card))

    def remove(self):
        self.calls.append(("remove",))


class Console:
    path = "/dev/pts/9"
    failure = None

    def __init__(self):
        self.typed = b""
        self.busy = False

    def running(self):
        return self.busy

    def type(self, data):
        self.typed += data


def terminal(waiting=False):
    display = DisplayEmulator()
    display.stop()  # never started: only its chip model is drawn
    printer = SimpleNamespace(all_lines=lambda: [SimpleNamespace(text="TOTAL RMB 0.01")])
    printer.paper_out = False
    return SimpleNamespace(
        display=display,
        keypad=Recorder(),
        card_reader=Recorder(),
        chip_reader=Recorder(),
        contactless_reader=Recorder(),
        pinpad=Recorder(waiting),
        printer=printer,
        console=Console(),
    )


def test_keyboard_keys_map_onto_the_terminal_keypad():
    assert [key_for(k) for k in ("0", "9", ".", "*", "#")] == ["0", "9", ".", ".", "#"]
    assert key_for("\r") == key_for("\n") == "ENTER"
    assert key_for("\x7f") == "CLEAR"
    assert key_for("\x1b") == "CANCEL"
    assert key_for("f") == "FUNC"
    assert [key_for(s) for s in ("\x1bOP", "\x1b[12~", "\x1bOR", "\x1b4")] == [
        "F1",
        "F2",
        "F3",
        "F4",
    ]
    assert key_for("x") is None


def test_keys_go_to_the_keypad_and_s_swipes_the_test_card():
    t = terminal()
    view = ScreenView(t, fd=0)
    for sequence in ("1", "\r", "\x1bOP", "s", "x"):
        view.handle(sequence)
    assert t.keypad.calls == [("play", "1"), ("play", "ENTER"), ("play", "F1")]
    assert t.card_reader.calls == [("swipe", "6224242900000113=28062013949031013")]
    assert view.note == "no key for 'x'"


def test_i_t_r_insert_tap_and_remove_the_test_chip_card(monkeypatch):
    t = terminal()
    view = ScreenView(t, fd=0)
    monkeypatch.setitem(sys.modules, "hostlib.card", None)  # no card emulator
    view.handle("i")
    assert "card emulator (hostlib.card)" in view.note and t.chip_reader.calls == []
    card = object()
    module = ModuleType("hostlib.card")
    module.load_card = {"pboc-debit": card}.__getitem__  # pyright: ignore[reportAttributeAccessIssue]
    monkeypatch.setitem(sys.modules, "hostlib.card", module)
    for sequence in ("i", "t", "r"):
        view.handle(sequence)
    assert t.chip_reader.calls == [("insert", card), ("remove",)]
    assert t.contactless_reader.calls == [("tap", card), ("remove",)]
    assert view.note == "card removed"


def test_c_starts_the_device_check_at_the_console_unless_something_runs():
    t = terminal()
    view = ScreenView(t, fd=0)
    t.console.busy = True
    view.handle("c")
    assert t.console.typed == b"" and "busy" in view.note
    t.console.busy = False
    view.handle("c")
    assert t.console.typed == (
        b"from board import unix_sim; from app import hwtest; hwtest.run(unix_sim)\r"
    )


def test_while_the_pin_pad_waits_digits_go_to_it_and_are_never_shown():
    t = terminal(waiting=True)
    view = ScreenView(t, fd=0)
    for sequence in "12":
        view.handle(sequence)
    view.handle("\r")  # too short: nothing sent
    assert t.pinpad.calls == []
    assert view.note == "a PIN is 4 to 12 digits"
    for sequence in "4321":
        view.handle(sequence)
    frame = view.frame()
    assert "RMB 0.01 ENTER PIN  ****" in frame
    assert "4321" not in frame
    view.handle("\r")
    view.handle("9")
    view.handle("\x1b")
    assert t.pinpad.calls == [("pin", "4321"), ("cancel",)]
    assert t.keypad.calls == []
    assert view.pin == ""


def test_the_frame_shows_the_glass_the_printer_and_the_console():
    t = terminal()
    chip = t.display.chip
    for byte in (0xA2, 0xA0, 0xC8, 0x2F, 0x81, 0x20, 0xAF):  # power up, upright, on
        chip.command(byte)
    for page in range(8):
        chip.command(0xB0 | page)
        chip.command(0x10)
        chip.command(0x00)
        chip.data(bytes(132))  # clear the power-up noise
    chip.command(0xB0)
    chip.command(0x10)
    chip.command(0x00)
    chip.data(b"\xff\xff")  # two columns of 8 dots at the top left
    assert "c starts the device check" in ScreenView(t, fd=0).frame(80)
    t.display.connections = 1  # the device has connected
    narrow = ScreenView(t, fd=0).frame(80).splitlines()
    assert narrow[0] == "┌" + "─" * 64 + "┐"
    assert narrow[1] == "│⣿" + "⠀" * 63 + "│"  # braille: 2 x 4 dots a character
    assert narrow[17] == "└" + "─" * 64 + "┘"
    wide = ScreenView(t, fd=0).frame(140).splitlines()
    assert wide[1] == "│██" + " " * 126 + "│"  # half blocks: 1 x 2 dots a character
    assert len(wide) == 1 + 32 + 1 + 5
    assert "  TOTAL RMB 0.01" in narrow
    assert narrow[-1].startswith("console: /dev/pts/9")


def test_braille_and_half_blocks_place_each_dot():
    rows = [[0] * 4 for _ in range(4)]
    rows[0][0] = rows[3][1] = 1
    # Top-left dot is dot 1 (0x01); column 1, row 3 is dot 8 (0x80): one cell, then a blank.
    assert braille(rows) == [chr(0x2800 | 0x01 | 0x80) + chr(0x2800)]
    assert half_blocks(rows) == ["▀   ", " ▄  "]
