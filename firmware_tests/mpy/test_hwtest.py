# The installer's device check (app/hwtest.py) against a fake board: what the screen says
# for each peripheral's answer, what the check reports, and that a card's track is wiped.
# mpy-heap: 200K  (four drivers compiled from source; the heap on the terminal is a benchmark)
from app import hwtest
from drivers import keypad as kp
from drivers.cardreader import LRC, BadSwipe, Track2
from drivers.escpos import CoverOpen, PaperOut, PrinterOffline
from drivers.pinpad import PinPadTimeout

TRACK = b"6224242900000113=28062013949031013"


class Screen:
    def __init__(self):
        self.lines = ["", "", "", ""]
        self.inverse = set()
        self.shown = 0

    def clear(self):
        self.lines = ["", "", "", ""]

    def text(self, line, text, inverse=False, align=0, clear=True):
        self.lines[line] = text
        if inverse:
            self.inverse.add(line)

    def show(self):
        self.shown += 1


class Keys:
    def __init__(self, codes):
        self.codes = list(codes)

    def get(self, timeout_ms=0):
        return self.codes.pop(0) if self.codes else None


class Reader:
    def __init__(self, events):
        self.events = list(events)  # polled in order: a Track2, an exception, or None

    def poll(self):
        event = self.events.pop(0) if self.events else None
        if isinstance(event, Exception):
            raise event
        return event


class Printer:
    def __init__(self, failures=()):
        self.failures = list(failures)
        self.jobs = []

    def print_job(self, lines):
        if self.failures:
            raise self.failures.pop(0)
        self.jobs.append(list(lines))


class Pad:
    def __init__(self, answer):
        self.answer = answer

    def serial_number(self):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Board:
    """A board with what the test fits; a part left as None raises OSError, as a board
    without it does."""

    def __init__(self, keys, reader=None, printer=None, pad=None):
        self.screen = Screen()
        self.keys = Keys(keys)
        self.reader, self.printer_part, self.pad = reader, printer, pad

    def display(self):
        return self.screen

    def keypad(self):
        return self.keys

    def _part(self, part, name):
        if part is None:
            raise OSError("no %s on this terminal" % name)
        return part

    def card_reader(self):
        return self._part(self.reader, "cardreader")

    def printer(self):
        return self._part(self.printer_part, "printer")

    def pinpad(self):
        return self._part(self.pad, "pinpad")


def test_keys_are_shown_by_name_and_cancel_ends_the_check():
    board = Board(b"5#" + bytes((kp.CLEAR, kp.FUNC, kp.F4, kp.CANCEL)), Reader(()))
    seen = hwtest.run(board)
    assert seen["keys"] == ["5", "#", "CLEAR", "FUNC", "F4", "CANCEL"]
    assert board.screen.lines[0] == "设备检测" and board.screen.inverse == {0}
    assert board.screen.lines[1] == "键 CANCEL"
    assert seen["card"] is None and not seen["printed"] and seen["pinpad"] is None


def test_parts_the_board_lacks_show_as_none():
    board = Board(bytes((kp.ENTER, kp.F1, kp.CANCEL)))
    seen = hwtest.run(board)
    assert board.screen.lines[2] == "卡 无"
    assert board.screen.lines[3] == "键盘 无"  # F1 came last: the PIN pad's line
    assert not seen["printed"] and seen["errors"] == []


def test_a_good_swipe_is_shown_masked_and_its_track_wiped():
    track = Track2(bytearray(TRACK))
    board = Board(bytes((kp.CANCEL,)), Reader((None, track)))
    board.keys.codes.insert(0, None)  # one quiet turn, so the reader is polled twice
    seen = hwtest.run(board)
    assert seen["card"] == "622424******0113"
    assert board.screen.lines[2] == "卡 622424**0113"
    assert track.data == bytearray(len(TRACK))  # wiped


def test_a_bad_swipe_says_why():
    board = Board(bytes((kp.CANCEL,)), Reader((BadSwipe(LRC),)))
    seen = hwtest.run(board)
    assert board.screen.lines[2] == "卡 LRC mismatch"
    assert seen["errors"] == ["bad swipe: LRC mismatch"] and seen["card"] is None


def test_printer_trouble_says_what_to_do_and_a_slip_prints_once_it_is_fixed():
    printer = Printer((PaperOut("paper out"), CoverOpen("printer cover open")))
    printer.failures.append(PrinterOffline("printer does not answer"))
    board = Board(bytes((kp.ENTER, kp.ENTER, kp.ENTER)), printer=printer)
    board.keys.codes.append(kp.ENTER)
    screens = []
    run_keys = board.keys.get

    def get(timeout_ms=0):
        screens.append(board.screen.lines[3])
        return run_keys(timeout_ms)

    board.keys.get = get
    seen = hwtest.run(board, idle_ms=100)
    assert screens[1:5] == ["缺纸 请装纸", "打印机 盖 打开", "打印机 无应答", "打印 OK"]
    assert seen["printed"] and len(printer.jobs) == 1
    assert seen["errors"] == ["paper out", "printer cover open", "printer does not answer"]
    assert b"KEYS: ENTER ENTER ENTER ENTER" in printer.jobs[0]


def test_the_pin_pads_serial_number_or_its_trouble():
    board = Board(bytes((kp.F1, kp.CANCEL)), pad=Pad("PP20240001"))
    assert hwtest.run(board)["pinpad"] == "PP20240001"
    assert board.screen.lines[3] == "PP20240001"
    board = Board(bytes((kp.F1, kp.CANCEL)), pad=Pad(PinPadTimeout("PIN pad does not answer")))
    seen = hwtest.run(board)
    assert seen["pinpad"] is None and seen["errors"] == ["PIN pad does not answer"]
    assert board.screen.lines[3] == "键盘 PIN pad does not answer"


def test_the_check_ends_by_itself_when_nobody_touches_the_terminal():
    board = Board(b"1")
    seen = hwtest.run(board, idle_ms=500)
    assert seen["keys"] == ["1"]
