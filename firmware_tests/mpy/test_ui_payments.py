# The cashier's void, refund, pre-authorisation family and balance inquiry on the terminal
# itself (app.ui.payments, from the cashier menu at the idle screen) against a fake board and
# the fake acquirer host: the screens at each step, what reaches the host, the slips; a wrong
# supervisor password, CANCEL at every step, an unknown trace number, the void of a voided
# and of a settled transaction, an amount over the maximum, the host down.
# mpy-heap: 512K
# (The unix port compiles the application and these fakes from source into the heap; the
# terminal's own peak, from ROMFS, is in docs/benchmarks.md.)
from fakeboard import PAN, TRACK, Board

from app.txn.engine import Card, Request
from app.ui import idle
from drivers import keypad as kp

ENTER, CANCEL = kp.ENTER, kp.CANCEL
SUPERVISOR = "123456"


def with_a_sale(**options):
    """A signed-on terminal with a sale of 1.00 (trace 000002) in its batch; the host's
    record of requests starts after it."""
    board = Board(**options)
    term = board.terminal()
    assert term.run(1, Request("sign_on")).approved
    sale = term.run(1, Request("sale", amount=100, card=Card(track2=TRACK.decode())))
    assert sale.approved and sale.stan == 2
    board.host.requests = []
    return board, term, sale


def each_sends_nothing(steps):
    """Each step's keys ("swipe": the card swiped) from the idle screen, on a terminal with
    a sale in its batch, end back at the idle screen with nothing sent."""
    for step in steps:
        board, term, _ = with_a_sale()
        for item in step:
            board.keys.play(board.swipe() if item == "swipe" else item)
        board.keys.play(None)
        board.run(idle.run, term)
        assert board.host.requests == [], step
        assert board.screen.shown[-1][0] == "CUP", step


def void_keys(board, trace="2"):
    board.keys.play("2", SUPERVISOR, ENTER, trace, ENTER)


def test_a_void_shows_the_original_and_prints_its_slips():
    board, term, sale = with_a_sale()
    void_keys(board)
    board.keys.play(ENTER, None, ENTER)  # the original confirmed; the result; tear-off
    board.run(idle.run, term)
    screen = board.screen
    assert ["撤销", "主管密码:", "******", ""] in screen.shown
    assert ["撤销", "原凭证号:", "2", ""] in screen.shown
    (shown,) = screen.screens_with("622424******0113")
    assert shown[:3] == ["撤销", "622424******0113", "RMB 1.00"]
    assert shown[3].endswith("-05-20 10:30")  # the original's date and time
    (fields,) = board.host.of("0200")
    assert fields[3] == "200000" and fields[4] == "000000000100"
    assert fields[37] == sale.rrn and fields[61].startswith("000001000002")
    assert board.printed(b"VOID") == 2 and board.printed(b"ORIG VOUCHER: 000002") == 2
    assert board.printed(b"AMOUNT: RMB -1.00") == 2
    assert board.printed(b"MERCHANT NO: 123456789012345") == 2
    assert board.printed(b"CARD NO: 622424******0113") == 2
    engine = term.engine(1)
    assert engine.find_original(2).status == "voided"


def test_a_wrong_supervisor_password_sends_nothing():
    board, term, _ = with_a_sale()
    board.keys.play("2", "9999", ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("密码错误")
    assert not board.screen.saw("原凭证号")
    assert board.host.requests == []


def test_cancel_at_every_step_of_a_void_sends_nothing():
    steps = (
        ("2", CANCEL),  # the supervisor password
        ("2", SUPERVISOR, ENTER, CANCEL),  # the trace number
        ("2", SUPERVISOR, ENTER, "2", ENTER, CANCEL),  # the original shown
    )
    for step in steps:
        board, term, _ = with_a_sale()
        board.keys.play(*step)
        board.keys.play(None)
        board.run(idle.run, term)
        assert board.host.requests == [], step
        assert board.screen.shown[-1][0] == "CUP", step  # back at the idle screen
        assert term.engine(1).find_original(2).status == "approved", step


def test_an_unknown_trace_number_is_refused_on_screen():
    board, term, _ = with_a_sale()
    void_keys(board, "99")
    board.keys.play(None)
    board.run(idle.run, term)
    assert board.screen.saw("本批次无此原交易")
    assert board.host.requests == []


def test_a_voided_sale_cannot_be_voided_again():
    board, term, _ = with_a_sale()
    void_keys(board)
    board.keys.play(ENTER, None, ENTER)
    board.run(idle.run, term)
    assert len(board.host.of("0200")) == 1
    void_keys(board)
    board.keys.play(None)
    board.run(idle.run, term)
    assert board.screen.saw("原交易已撤销")
    assert len(board.host.of("0200")) == 1  # nothing more sent


def test_a_settled_sale_cannot_be_voided():
    board, term, _ = with_a_sale()
    assert term.run(1, Request("settlement")).approved
    board.host.requests = []
    void_keys(board)
    board.keys.play(None)
    board.run(idle.run, term)
    assert board.screen.saw("本批次无此原交易")
    assert board.host.requests == []


def test_a_void_with_the_host_down_says_so_and_keeps_the_sale():
    board, term, _ = with_a_sale()
    board.host.down = True
    void_keys(board)
    board.keys.play(ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("连接主机失败")
    assert board.slips() == [b""]
    assert term.engine(1).find_original(2).status == "approved"


def test_a_void_asks_the_card_and_pin_where_the_application_requires_a_pin():
    board, term, _ = with_a_sale(app={0x53: b"\x01"})  # pin_required
    void_keys(board)
    board.keys.play(ENTER, board.swipe(), "123456", ENTER, None, ENTER)
    board.run(idle.run, term)
    assert board.screen.saw("请刷卡") and board.screen.saw("请输入密码:")
    (fields,) = board.host.of("0200")
    assert 52 in fields and fields[35] == TRACK.decode()


def test_a_refund_by_the_original_reference_number_and_date():
    board, term, sale = with_a_sale()
    board.keys.play("3", SUPERVISOR, ENTER, board.swipe())
    board.keys.play(sale.rrn, ENTER, ENTER)  # the sale's date, from the journal
    board.keys.play("50", ENTER, None, ENTER)
    board.run(idle.run, term)
    screen = board.screen
    assert ["退货", "原参考号:", sale.rrn, ""] in screen.shown
    assert ["退货", "原交易日期MMDD:", "0520", ""] in screen.shown
    (fields,) = board.host.of("0220")
    assert fields[37] == sale.rrn and fields[4] == "000000000050"
    assert fields[61] == "000001000002" + "0520"  # the original, found in the journal
    assert board.printed(b"REFUND") == 2 and board.printed(b"AMOUNT: RMB -0.50") == 2
    # a sale this terminal did not make: its date typed, checked as a date
    board.keys.play("3", SUPERVISOR, ENTER, board.swipe(), "120700000042", ENTER)
    board.keys.play("1332", ENTER, None, "1206", ENTER, "50", ENTER, None, ENTER)
    board.run(idle.run, term)
    assert board.screen.saw("日期有误")
    fields = board.host.of("0220")[1]
    assert fields[37] == "120700000042" and fields[61] == "000000000000" + "1206"


def test_a_refund_over_the_maximum_is_refused_on_screen_and_cancel_sends_nothing():
    board, term, sale = with_a_sale(app={0x51: b"50"})  # max_amount 50 yuan
    board.keys.play("3", SUPERVISOR, ENTER, board.swipe(), sale.rrn, ENTER, "0520", ENTER)
    board.keys.play("10000", ENTER, None, CANCEL, None)
    board.run(idle.run, term)
    assert board.screen.saw("金额超限") and board.screen.saw("最大 50.00")
    assert board.host.requests == []
    board.keys.play("3", "1111", ENTER, None)  # a wrong supervisor password
    board.run(idle.run, term)
    assert board.screen.saw("密码错误") and board.host.requests == []


def test_cancel_at_every_step_of_a_refund_and_a_balance_inquiry_sends_nothing():
    steps = (
        ("3", CANCEL),  # the supervisor password
        ("3", SUPERVISOR, ENTER, CANCEL),  # the card
        ("3", SUPERVISOR, ENTER, "swipe", "1207", CANCEL),  # the reference number
        ("3", SUPERVISOR, ENTER, "swipe", "120700000002", ENTER, CANCEL),  # the date
        ("3", SUPERVISOR, ENTER, "swipe", "120700000002", ENTER, "0520", ENTER, CANCEL),
        ("5", CANCEL),  # the card
        ("5", "swipe", "12", CANCEL),  # the PIN
    )
    each_sends_nothing(steps)


def test_the_pre_authorisation_menu_and_a_pre_authorisation():
    board, term, _ = with_a_sale()
    board.keys.play("4")
    board.keys.play("1", board.swipe(), "20000", ENTER, ENTER, None, ENTER)
    board.run(idle.run, term)
    assert ["预授权", "1 预授权", "2 预授权撤销", "3 预授权完成请求"] in board.screen.shown
    (fields,) = board.host.of("0100")
    assert fields[3] == "030000" and fields[25] == "06" and fields[4] == "000000020000"
    assert board.printed(b"PRE-AUTH") == 2 and board.printed(b"AUTH NO:") == 2


def preauthorised():
    board, term, _ = with_a_sale()
    result = term.run(1, Request("preauth", amount=20000, card=Card(track2=TRACK.decode())))
    assert result.approved
    board.host.requests = []
    return board, term, result


def test_a_pre_auth_cancel_with_the_card_keyed_its_date_and_auth_code():
    board, term, pre = preauthorised()
    board.keys.play("4", "2", PAN, ENTER, "2806", ENTER)  # keyed, though manual_entry is off
    # the auth code; the date and the amount are the journal's pre-auth's: ENTER, ENTER
    board.keys.play(pre.auth_code, ENTER, ENTER, ENTER, ENTER, None, ENTER)
    board.run(idle.run, term)
    assert ["预授权撤销", "原交易日期MMDD:", "0520", ""] in board.screen.shown
    assert ["预授权撤销", "金额:", "RMB 200.00", ""] in board.screen.shown
    (fields,) = board.host.of("0100")
    assert fields[3] == "200000" and fields[38] == pre.auth_code
    assert fields[2] == PAN and fields[22] == "012"
    assert board.printed(b"PRE-AUTH VOID") == 2


def test_a_completion_request_and_a_completion_notice():
    board, term, pre = preauthorised()
    board.keys.play("4", "3", board.swipe(), pre.auth_code, ENTER, ENTER)
    board.keys.play("15000", ENTER, ENTER, None, ENTER)
    board.run(idle.run, term)
    (fields,) = board.host.of("0200")
    assert fields[3] == "000000" and fields[25] == "06" and fields[38] == pre.auth_code
    assert board.printed(b"AUTH COMPLETE") == 2
    board.keys.play("4", "4", board.swipe(), pre.auth_code, ENTER, ENTER)
    board.keys.play("5000", ENTER, None, ENTER)  # no PIN for a notice
    board.run(idle.run, term)
    (fields,) = board.host.of("0220")
    assert fields[4] == "000000005000" and 52 not in fields


def test_a_completion_void_by_trace_number():
    board, term, pre = preauthorised()
    completion = term.run(
        1, Request("completion", amount=20000, auth_code=pre.auth_code, original_date="0520")
    )
    assert completion.approved
    board.host.requests = []
    board.keys.play("4", "5", SUPERVISOR, ENTER, str(completion.stan), ENTER, ENTER, None, ENTER)
    board.run(idle.run, term)
    assert board.screen.saw("预授权完成撤销") and board.screen.saw("RMB 200.00")
    (fields,) = board.host.of("0200")
    assert fields[3] == "200000" and fields[25] == "06"
    assert board.printed(b"COMPLETE VOID") == 2
    # the sale (trace 2) is no completion: not found as one
    board.keys.play("4", "5", SUPERVISOR, ENTER, "2", ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("本批次无此原交易")


def test_cancel_in_the_pre_authorisation_family_sends_nothing():
    steps = (
        ("4", CANCEL),  # its menu
        ("4", "1", CANCEL),  # the card
        ("4", "2", "swipe", CANCEL),  # the auth code
        ("4", "2", "swipe", "123456", ENTER, CANCEL),  # the date
        ("4", "3", "swipe", "123456", ENTER, "0520", ENTER, CANCEL),  # the amount
        ("4", "1", "swipe", "100", ENTER, CANCEL),  # the PIN
    )
    each_sends_nothing(steps)


def test_a_balance_inquiry_shows_the_balance_and_prints_nothing():
    board, term, _ = with_a_sale()
    board.keys.play(board.swipe(), "5", "123456", ENTER, None)
    board.run(idle.run, term)
    assert ["余额查询", "余额:", "RMB 1234.56", "确认键继续"] in board.screen.shown
    (fields,) = board.host.of("0200")
    assert fields[3] == "310000" and 52 in fields
    assert board.slips() == [b""]


def test_a_balance_inquiry_declined_or_with_the_host_down_says_so():
    board, term, _ = with_a_sale()
    board.host.fault("decline:55", "0200")
    board.keys.play("5", board.swipe(), ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("此卡须输入密码")  # no PIN entered, and this card needs one
    board.host.down = True
    board.keys.play("5", board.swipe(), ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("连接主机失败")
    assert board.slips() == [b""]
