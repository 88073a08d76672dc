# CANCEL while the terminal dials or waits for the host (app.comm.frames' watch, the dial-up
# bearer's abort, app.txn.engine's rules, app.ui.terminal's indicator), on MicroPython: the
# attempt ends at once; a request that had left is reversed (98) before the next one, one
# that had not leaves nothing behind; the screen says which.
# mpy-heap: 512K
# (The unix port compiles the application, the drivers and these fakes from source.)
from fakeboard import TRACK, Board
from fakes import FakeUART, at

from app.comm.dial import DialBearer
from app.comm.frames import FrameBearer
from app.txn.engine import Card, Request
from app.txn.reversal import PendingReversal
from drivers import keypad as kp
from drivers.hayes import Modem

CANCEL = kp.CANCEL


class QuietHost(FrameBearer):
    """A host that takes every request (the fake host reads it) and never answers."""

    def __init__(self, host):
        super().__init__()
        self.host = host
        self.open = False

    @property
    def connected(self):
        return self.open

    def connect(self):
        self.cancelled(False)
        self.open = True

    def close(self):
        self.open = False

    def send(self, frame):
        self.host.connect()
        self.host.send(frame)  # seen by the host; its answer never comes
        self.host.close()

    def _readinto(self, view, timeout_ms):
        return 0


def sale():
    return Request("sale", amount=100, card=Card(track2=TRACK.decode()))


def signed_on():
    board = Board()
    term = board.terminal()
    assert term.run(1, Request("sign_on")).approved
    board.host.requests = []
    return board, term


def test_cancel_while_waiting_for_the_answer_ends_it_and_the_sale_is_reversed():
    board, term = signed_on()
    term.changed()
    term.bearer = QuietHost(board.host)
    term.bearer_kind = "ethernet"
    board.keys.play(None, None, CANCEL)  # three looks at the keypad while it waits
    result = term.run(1, sale())
    assert result.error == "cancelled_reversal" and not result.approved
    assert result.message_zh == "交易已取消,将自动冲正"
    assert ["消费", "处理中,请稍候", "发送>>", "取消键中止"] in board.screen.shown
    assert [mti for mti, _ in board.host.requests] == ["0200"]  # it had left
    reason, mti, _ = PendingReversal(term.store, 1, term.storage_key).load()
    assert (reason, mti) == ("98", "0200")
    # the next sale, over the line that answers, sends the reversal first
    term.changed()
    term.bearer = board.host
    board.host.requests = []
    assert term.run(1, sale()).approved
    assert [mti for mti, _ in board.host.requests] == ["0400", "0200"]


def test_cancel_before_the_connection_is_made_sends_and_keeps_nothing():
    board, term = signed_on()
    term.changed()
    term.bearer = QuietHost(board.host)
    term.bearer_kind = "ethernet"
    board.keys.play(CANCEL)
    result = term.run(1, sale())
    assert result.error == "cancelled" and result.message_zh == "交易已取消,未发送"
    assert board.host.requests == []
    assert PendingReversal(term.store, 1, term.storage_key).load() is None
    assert term.engine(1).stan == 1  # no trace number used


def test_cancel_while_dialling_aborts_the_dial_and_sends_nothing():
    board, term = signed_on()
    uart = FakeUART(
        [
            at(b"ATZ", b"OK"),
            at(b"ATE0V1", b"OK"),
            at(b"AT&K0", b"OK"),
            at(b"ATX4", b"OK"),
            (b"ATDT95555\r", None),  # the dial: no CONNECT yet
            (b"\r", b"\r\nNO CARRIER\r\n"),  # any character aborts it
        ]
    )
    modem = Modem(uart, command_timeout_ms=50, connect_timeout_ms=60000)
    term.changed()
    term.bearer = DialBearer(modem, ("95555",), connect_ms=60000)
    term.bearer_kind = "dialup"
    board.keys.play(None, None, CANCEL)
    result = term.run(1, sale())
    assert result.error == "cancelled" and board.host.requests == []
    assert uart.done()  # the abort reached the modem
    assert ["消费", "处理中,请稍候", "正在拨号", "取消键中止"] in board.screen.shown
    assert PendingReversal(term.store, 1, term.storage_key).load() is None
    assert not term.bearer.connected


def test_other_keys_while_waiting_are_not_a_cancel():
    board, term = signed_on()
    term.changed()
    quiet = QuietHost(board.host)
    term.bearer = quiet
    board.keys.play("1", kp.ENTER)  # then the script ends: the terminal stops (as Ctrl-C)
    try:
        term.run(1, sale())
        raise AssertionError("the wait ended without CANCEL")
    except KeyboardInterrupt:
        pass
    assert quiet.cancel is None  # the watch ends with the run, however it ends
