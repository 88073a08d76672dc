# Settlement and reprint on the terminal itself (app.ui.batch, from the cashier menu at the
# idle screen) against a fake board and the fake acquirer host: the batch's totals before,
# the host's verdict after, the settlement slip with its totals per type, the sign-off and
# sign-on after settlement, an empty batch, the host down, CANCEL; the reprint menu.
# mpy-heap: 512K
# (The unix port compiles the application and these fakes from source into the heap; the
# terminal's own peak, from ROMFS, is in docs/benchmarks.md.)
from fakeboard import TRACK, Board

from app.txn.engine import Card, Request
from app.ui import idle
from drivers import keypad as kp

ENTER, CANCEL = kp.ENTER, kp.CANCEL
# 消费 (sale) and 消费撤销 (sale void) as the slip prints them, GB18030
SALE_GB = b"\xcf\xfb\xb7\xd1"
VOID_GB = b"\xcf\xfb\xb7\xd1\xb3\xb7\xcf\xfa"


def with_sales(*amounts, **options):
    """A signed-on terminal with a sale of each amount in its batch (traces 2, 3...)."""
    board = Board(**options)
    term = board.terminal()
    assert term.run(1, Request("sign_on")).approved
    for fen in amounts:
        assert term.run(1, Request("sale", amount=fen, card=Card(track2=TRACK.decode()))).approved
    board.host.requests = []
    return board, term


def test_a_balanced_settlement_shows_totals_verdict_and_prints_the_slip_by_type():
    board, term = with_sales(100, 250, 300)
    assert term.run(1, Request("sale_void", original_stan=4, supervisor_password=b"123456"))
    board.host.requests = []
    board.keys.play("6", ENTER, None)  # the totals confirmed; the verdict
    board.run(idle.run, term)
    screen = board.screen
    assert ["结算", "借记 2 3.50", "贷记 0 0.00", "确认键继续"] in screen.shown
    assert ["结算", "对账平", "批次号 000001", ""] in screen.shown
    assert [mti for mti, _ in board.host.requests] == ["0500", "0320"]
    assert board.host.of("0500")[0][48].startswith("000000000350002")
    assert board.printed(b"SETTLEMENT") == 1 and board.printed(b"BATCH NO: 000001") == 1
    assert board.printed(b"MERCHANT NO: 123456789012345") == 1
    assert board.printed(b"TERMINAL NO: 12345678") == 1
    assert board.printed(b"DEBIT") == 1 and board.printed(b"2 RMB 3.50") == 1
    slips = board.slips()
    # The voided sale counts under 消费, its void under 消费撤销: 6.50 - 3.00 is the 3.50 debit.
    by_type = [line for line in slips if line.startswith(SALE_GB)]
    assert by_type == [
        SALE_GB + b" " * 12 + b"  3" + b" " * 9 + b"6.50",
        VOID_GB + b" " * 8 + b"  1" + b" " * 8 + b"-3.00",
    ], slips
    assert term.engine(1).journal.is_empty() and term.engine(1).batch == 2


def test_an_unbalanced_settlement_uploads_the_batch_and_says_so():
    board, term = with_sales(100)
    board.host.fault("unbalanced", "0500")
    board.keys.play("6", ENTER, None)
    board.run(idle.run, term)
    assert ["结算", "对账不平", "批次号 000001", "已上送 1"] in board.screen.shown
    assert [mti for mti, _ in board.host.requests] == ["0500", "0320", "0320"]
    assert board.printed(b"\xb6\xd4\xd5\xcb\xb2\xbb\xc6\xbd") == 1  # 对账不平 on the slip
    assert board.printed(b"UPLOADED") == 1


def test_an_empty_batch_is_settled_once_the_cashier_agrees():
    board, term = with_sales()
    board.keys.play("6", ENTER, CANCEL, None)  # asked, and refused
    board.run(idle.run, term)
    assert board.screen.saw("本批次无交易")
    assert board.host.requests == []
    board.keys.play("6", ENTER, ENTER, None)
    board.run(idle.run, term)
    assert board.host.of("0500")[0][48].startswith("0" * 30)
    assert board.screen.saw("对账平") and board.printed(b"SETTLEMENT") == 1


def test_cancel_at_the_totals_and_the_host_down_settle_nothing():
    board, term = with_sales(100)
    board.keys.play("6", CANCEL, None)
    board.run(idle.run, term)
    assert board.host.requests == [] and board.screen.shown[-1][0] == "CUP"
    board.host.down = True
    board.keys.play("6", ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("连接主机失败")
    assert board.slips() == [b""]
    assert term.engine(1).totals() == (100, 1, 0, 0)  # the batch is still open


def test_after_settlement_the_terminal_signs_off_and_on_where_the_application_says():
    board, term = with_sales(100, app={0x55: b"\x01", 0x56: b"\x01"})
    board.keys.play("6", ENTER, None, None, None)
    board.run(idle.run, term)
    assert [mti for mti, _ in board.host.requests] == ["0500", "0320", "0820", "0800"]
    assert ["签退", "交易成功", "", ""] in board.screen.shown
    assert ["签到", "交易成功", "", ""] in board.screen.shown
    # signed on again: the next sale goes
    assert term.run(1, Request("sale", amount=1, card=Card(track2=TRACK.decode()))).approved


def test_reprint_the_last_slip_one_by_trace_number_and_the_last_settlement():
    board, term = with_sales(100, 250)
    board.keys.play("7", "1", None)
    board.run(idle.run, term)
    assert ["重打印", "1 重打上笔", "2 按凭证号重打", "3 重打结算单"] in board.screen.shown
    assert board.printed(b"REPRINT") == 1 and board.printed(b"AMOUNT: RMB 2.50") == 1
    board.keys.play("7", "2", "2", ENTER, None)
    board.run(idle.run, term)
    assert board.printed(b"REPRINT") == 2 and board.printed(b"AMOUNT: RMB 1.00") == 1
    board.keys.play("7", "2", "99", ENTER, None)  # no such trace number
    board.run(idle.run, term)
    assert board.screen.saw("本批次无此原交易") and board.printed(b"REPRINT") == 2
    board.keys.play("7", "3", None)  # no settlement yet
    board.run(idle.run, term)
    assert board.screen.saw("无结算单")
    board.keys.play("6", ENTER, None, "7", "3", None)
    board.run(idle.run, term)
    assert board.printed(b"SETTLEMENT") == 2 and board.printed(b"REPRINT") == 3
    assert board.host.of("0800") == []  # a reprint never goes to the host


def test_a_slip_the_paper_ran_out_on_is_the_last_slip_reprinted():
    board, term = with_sales()
    board.paper.paper_lines = 0
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, ENTER, None, CANCEL, None)
    board.run(idle.run, term)
    assert board.screen.saw("可在重打印补打")
    board.paper.paper()
    board.keys.play("7", "1", None)
    board.run(idle.run, term)
    assert board.printed(b"REPRINT") == 1 and board.printed(b"VOUCHER: 000002") == 1
    assert term.store.load("slip") is None  # printed now: nothing left pending
