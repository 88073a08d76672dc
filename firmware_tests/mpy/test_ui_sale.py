# The cashier's sale and sign-on/off on the terminal itself (app.ui.idle, app.ui.cashier,
# app.ui.terminal, app.ui.slips) against a fake board and the fake acquirer host: what the
# screen says at each step, what reaches the host, what the printer prints; CANCEL at every
# step, the amount's maximum, the keypad's PIN and the PIN pad's, the host down, paper out
# in the middle of a slip.
# mpy-heap: 512K
# (The unix port compiles the application and these fakes from source into the heap; the
# terminal's own peak, from ROMFS, is in docs/benchmarks.md.)
from fakeboard import PAN, TRACK, Board
from fakehost import PIK

from app.crypto import cipher, pinblock
from app.txn.engine import Card, Request
from app.txn.reversal import PendingReversal
from app.ui import idle
from drivers import keypad as kp

ENTER, CANCEL, CLEAR = kp.ENTER, kp.CANCEL, kp.CLEAR


def signed_on(**options):
    board = Board(**options)
    term = board.terminal()
    assert term.run(1, Request("sign_on")).approved
    board.host.requests = []
    return board, term


def sale_requests(board):
    return board.host.of("0200")


def test_a_sale_swiped_at_idle_goes_through_every_screen_to_both_copies():
    board, term = signed_on()
    board.keys.play(
        board.swipe(),  # at idle: the card
        "1",  # the menu: 消费
        "100",  # 1.00 from the cents side
        ENTER,
        ENTER,  # the card and the amount, confirmed
        "123456",
        ENTER,  # the PIN on the keypad
        None,  # the result, for a moment
        ENTER,  # the tear-off prompt: the cardholder copy
    )
    board.run(idle.run, term)
    screen = board.screen
    assert ["交易", "1 消费", "2 撤销", "3 退货"] in screen.shown
    assert ["消费", "金额:", "RMB 1.00", ""] in screen.shown
    assert ["消费", "622424******0113", "RMB 1.00", "确认键继续"] in screen.shown
    assert ["消费", "RMB 1.00", "密码,无则按确认", "******"] in screen.shown
    assert ["消费", "处理中,请稍候", "发送>>", "取消键中止"] in screen.shown
    assert ["消费", "交易成功", "RMB 1.00", "凭证号 000002"] in screen.shown
    assert screen.saw("请撕下商户联")
    (fields,) = sale_requests(board)
    assert fields[4] == "000000000100" and fields[35] == TRACK.decode()
    assert fields[22] == "021"  # swiped, with a PIN
    clear = bytearray(fields[52])
    cipher.new("3DES", PIK).decrypt_into(clear)
    assert bytes(clear) == pinblock.format0(b"123456", PAN.encode())
    slips = board.slips()
    assert board.printed(b"MERCHANT COPY") == 1 and board.printed(b"CARDHOLDER COPY") == 1
    for text in (b"MERCHANT NO: 123456789012345", b"TERMINAL NO: 12345678", b"POSKIT"):
        assert board.printed(text) == 2, (text, slips)
    assert board.printed(b"CARD NO: 622424******0113 S") == 2
    assert board.printed(b"AMOUNT: RMB 1.00") == 2
    assert board.printed(b"VOUCHER: 000002") == 2
    assert board.printed(b"REF NO: 0520") == 2
    assert board.printed(b"SIGNATURE") == 1  # the merchant copy's
    assert term.store.load("slip") is None  # every copy out: nothing left to reprint


def test_cancel_at_every_step_sends_nothing_and_goes_back_to_idle():
    steps = (
        (CANCEL,),  # the cashier menu
        ("1", CANCEL),  # waiting for the card
        ("1", "swipe", "12", CANCEL),  # the amount
        ("1", "swipe", "100", ENTER, CANCEL),  # the confirm screen
        ("1", "swipe", "100", ENTER, ENTER, "12", CANCEL),  # the PIN
    )
    for step in steps:
        board, term = signed_on()
        board.keys.play(ENTER)  # idle: the cashier menu
        for item in step:
            board.keys.play(board.swipe() if item == "swipe" else item)
        board.keys.play(None)  # then idle again: nothing more
        board.run(idle.run, term)
        assert board.host.requests == [], step
        assert board.screen.shown[-1][0] == "CUP", step  # the idle screen
        assert board.slips() == [b""], step


def test_the_amount_above_the_application_maximum_is_refused_on_screen():
    board, term = signed_on(app={0x51: b"50"})  # max_amount: 50 yuan
    board.keys.play(board.swipe(), "1", "10000", ENTER, ENTER, "5000", ENTER, ENTER, ENTER)
    board.run(idle.run, term)
    assert ["消费", "金额超限", "最大 50.00", ""] in board.screen.shown
    assert sale_requests(board)[0][4] == "000000005000"


def test_no_pin_is_enter_alone_unless_the_application_requires_one():
    board, term = signed_on()
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, ENTER, ENTER)
    board.run(idle.run, term)
    (fields,) = sale_requests(board)
    assert 52 not in fields and fields[22] == "022"
    assert ["消费", "RMB 1.00", "密码,无则按确认", ""] in board.screen.shown

    board, term = signed_on(app={0x53: b"\x01"})  # pin_required
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, ENTER, "1234", ENTER, ENTER)
    board.run(idle.run, term)
    (fields,) = sale_requests(board)
    assert 52 in fields  # ENTER alone was not taken
    assert ["消费", "RMB 1.00", "请输入密码:", ""] in board.screen.shown


def test_the_pin_on_the_external_pin_pad_with_the_key_sign_on_loaded_into_it():
    board, term = signed_on(terminal={0x03: b"\x01"})
    assert board.pad.loads == [(1, 0, "3DES")]  # the PIK of field 62, under master slot 0
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, None, ENTER)
    board.run(idle.run, term)
    assert board.pad.entries == [(PAN, b"RMB 1.00", 1)]
    assert ["消费", "RMB 1.00", "请持卡人输入密码", "取消键中止"] in board.screen.shown
    (fields,) = sale_requests(board)
    clear = bytearray(fields[52])
    cipher.new("3DES", PIK).decrypt_into(clear)
    assert bytes(clear) == pinblock.format0(b"123456", PAN.encode())
    assert not board.screen.saw("请输入密码")  # the keypad took no PIN


def test_a_pin_pad_that_refused_the_key_is_said_at_sign_on_and_at_the_pin():
    from drivers.pinpad import PinPadCancelled, PinPadKeyError

    def refuse(*args, **options):
        raise PinPadKeyError("PIN pad refused the key: check value does not match")

    board = Board(terminal={0x03: b"\x01"})
    term = board.terminal()
    board.pad.load_key = refuse
    board.keys.play("8", "01", ENTER, "0000", ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("密码键盘无密钥")
    board.host.requests = []
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("密码键盘无密钥") and sale_requests(board) == []
    # the cardholder pressing CANCEL on the pad ends the sale, nothing sent
    board.pad.keys[1] = PIK
    board.pad.error = PinPadCancelled("PIN entry cancelled by the cardholder")
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, None)
    board.run(idle.run, term)
    assert sale_requests(board) == []


def test_host_down_says_so_prints_nothing_and_leaves_no_reversal():
    board, term = signed_on()
    board.host.down = True
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("连接主机失败")
    assert board.slips() == [b""]
    assert PendingReversal(term.store, 1, term.storage_key).load() is None


def test_a_decline_is_explained_and_prints_no_slip():
    board, term = signed_on()
    board.host.fault("decline:51", "0200")
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, ENTER, None)
    board.run(idle.run, term)
    assert ["消费", "余额不足,请换卡", "", ""] in board.screen.shown
    assert board.slips() == [b""]


def test_a_card_on_the_black_list_is_refused_on_screen_and_nothing_is_sent():
    from fakehost import black_entries

    board, term = signed_on()
    board.host.blacklist = black_entries(PAN[:6])
    board.host.fault("processing:7", "0800")
    assert term.run(1, Request("sign_on")).approved
    board.host.requests = []
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, None)
    board.run(idle.run, term)
    assert ["消费", "拒绝名单中的卡,", "请换卡", ""] in board.screen.shown
    assert not board.screen.saw("密码")  # no PIN asked for it
    assert board.host.requests == [] and board.slips() == [b""]


def test_paper_out_in_the_middle_of_a_slip_asks_for_paper_and_loses_no_line():
    board, term = signed_on()
    board.paper.paper_lines = 6  # the roll ends inside the merchant copy
    board.keys.play(
        board.swipe(), "1", "100", ENTER, ENTER, ENTER, None, board.paper.paper, ENTER, None
    )
    board.run(idle.run, term)
    assert ["正在打印...", "缺纸", "装好纸按确认键", "取消键中止"] in board.screen.shown
    slips = board.slips()
    assert board.printed(b"MERCHANT COPY") == 1 and board.printed(b"CARDHOLDER COPY") == 1
    for line in slips:
        if line and not line.startswith(b"---"):
            assert slips.count(line) <= 2, (line, slips)  # once a copy, never twice
    assert board.printed(b"AMOUNT: RMB 1.00") == 2


def test_a_slip_that_could_not_print_stays_reprintable():
    from app.ui import slips

    board, term = signed_on()
    board.paper.paper_lines = 0
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, ENTER, None, CANCEL, None)
    board.run(idle.run, term)
    assert board.screen.saw("可在重打印补打")
    assert slips.pending(term) == (1, 2, 0)  # application 1, trace 2, no copy out
    assert term.store.load("slip") is not None
    board.paper.paper()
    board.keys.play(None)
    assert board.run(slips.reprint, term, 1) is True
    assert board.printed(b"REPRINT") == 1 and board.printed(b"AMOUNT: RMB 1.00") == 1
    assert slips.pending(term) is None


def test_a_card_keyed_in_where_the_application_allows_it():
    board, term = signed_on(app={0x52: b"\x01"})  # manual_entry
    board.keys.play(ENTER, "1")  # the menu, 消费
    board.keys.play("6224242900000114", ENTER)  # a digit wrong: the check digit says so
    board.keys.play(None, "6224242900000113", ENTER, "2806", ENTER)
    board.keys.play("100", ENTER, ENTER, ENTER, ENTER)
    board.run(idle.run, term)
    assert board.screen.saw("卡号有误")
    (fields,) = sale_requests(board)
    assert fields[2] == PAN and fields[14] == "2806" and fields[22] == "012"
    # where it does not, a digit at the card prompt is not a card number
    board, term = signed_on()
    board.keys.play(ENTER, "1", "6", None)
    board.run(idle.run, term)
    assert not board.screen.saw("卡号:")


def test_a_flow_reaches_the_host_without_what_only_the_idle_screen_waits_with():
    # Neither the magstripe reader's driver nor the console's ear (host-link mode's RESET
    # frame, app.comm.console) is carried into a flow's heap peak, the card swiped at idle
    # or at the sale's prompt; the idle screen has them again once the flow is over.
    import sys

    board, term = signed_on()
    term.watch_console = True  # as app.ui.terminal.run has it
    idle_only = ("drivers.cardreader", "app.comm.console")
    loaded = []
    board.host.on_request = lambda mti, fields: loaded.append(
        [name for name in idle_only if name in sys.modules]
    )
    sale = ("100", ENTER, ENTER, "123456", ENTER, None, ENTER)
    board.keys.play(board.swipe(), "1", *sale)
    board.keys.play(ENTER, "1", board.swipe(), *sale)
    board.run(idle.run, term)
    assert len(sale_requests(board)) == 2
    assert loaded == [[], []]
    assert all(name in sys.modules for name in idle_only)


def test_a_bad_swipe_is_said_and_the_next_one_read():
    board, term = signed_on()
    board.keys.play(ENTER, "1", board.reader.bad, board.swipe(), "100", ENTER, ENTER)
    board.keys.play(ENTER, ENTER)
    board.run(idle.run, term)
    assert board.screen.saw("刷卡失败,请重刷")
    assert len(sale_requests(board)) == 1


def test_sign_on_asks_the_operator_and_a_wrong_password_sends_nothing():
    board = Board()
    term = board.terminal()
    board.keys.play("8", "02", ENTER, "9999", ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("密码错误") and board.host.requests == []
    board.keys.play("8", "02", ENTER, "0000", ENTER, None)
    board.run(idle.run, term)
    (fields,) = board.host.of("0800")
    assert fields[63] == "02 "  # the operator number goes in field 63
    assert board.screen.saw("交易成功") and term.operator_no == "02"


def test_sign_off_then_a_sale_is_refused_until_the_next_sign_on():
    board, term = signed_on()
    board.keys.play("9", ENTER, None)
    board.run(idle.run, term)
    assert len(board.host.of("0820")) == 1
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, ENTER, None)
    board.run(idle.run, term)
    assert board.screen.saw("已签退,请先签到") and sale_requests(board) == []


def test_the_items_of_other_flows_say_when_they_are_not_in_this_build():
    board, term = signed_on()
    board.keys.play(ENTER, "2", None)
    board.run(idle.run, term)
    try:
        __import__("app.ui.payments")
    except ImportError:
        assert board.screen.saw("暂未开通")


def test_training_mode_marks_the_header_keeps_the_real_batch_and_prints_training():
    board, term = signed_on()
    term.training = True
    assert board.terminal().training  # kept on flash
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, ENTER, ENTER, None)
    board.run(idle.run, term)
    assert board.host.headers[-1][4] == "1"  # terminal status digit: test
    assert board.printed(b"TRAINING") == 4  # top and bottom of both copies
    assert board.screen.shown[-1][0].startswith("培训")
    engine = term.engine(1)
    assert engine.journal.totals(engine.batch) == (100, 1, 0, 0)
    term.training = False
    engine = term.engine(1)
    assert engine.journal.is_empty()  # the real batch never saw it
    assert engine.run(Request("sign_on")).approved
    assert board.host.headers[-1][4] == "0"


def test_three_copies_merchant_cardholder_bank_each_after_a_tear_off():
    board, term = signed_on(terminal={0x02: b"\x03"})  # receipt_copies 3
    board.keys.play(board.swipe(), "1", "100", ENTER, ENTER, ENTER, None, ENTER, ENTER)
    board.run(idle.run, term)
    assert board.printed(b"MERCHANT COPY") == 1 and board.printed(b"CARDHOLDER COPY") == 1
    assert board.printed(b"BANK COPY") == 1 and board.printed(b"SIGNATURE") == 2
    assert len(board.screen.screens_with("请撕下商户联")) == 2


def test_a_settlement_slip_prints_once_is_kept_and_the_terminal_signs_off_and_on():
    from app.ui import slips

    board, term = signed_on(app={0x55: b"\x01", 0x56: b"\x01"})  # settle_signoff, _signon
    engine = term.engine(1)
    request = Request("sale", amount=100, card=cashier_card())
    assert term.run(1, request).approved
    board.host.requests = []
    result = term.run(1, Request("settlement"))
    assert result.approved
    assert [mti for mti, _ in board.host.requests] == ["0500", "0320", "0820", "0800"]
    assert "sign_on after settlement: approved" in result.notes
    assert engine.journal.is_empty()
    import sys

    assert "app.txn.settlement" not in sys.modules  # let go once the batch is settled
    board.keys.play(None)
    assert board.run(term.print_slip, 1, result) is True
    assert board.printed(b"SETTLEMENT") == 1 and board.printed(b"CARDHOLDER") == 0
    assert board.run(slips.reprint_settlement, term, 1) is True
    assert board.printed(b"SETTLEMENT") == 2 and board.printed(b"REPRINT") == 1


def cashier_card():
    from app.txn.engine import Card

    return Card(track2=TRACK.decode())


def test_the_idle_screen_says_when_the_batch_nears_its_capacity_and_when_it_is_full():
    # batch_capacity 30: nearly full from 90% (27 records); full once a new record would
    # leave fewer than the 2 kept for reversals (28).
    board, term = signed_on(app={0x58: b"\x00\x1e"})
    card = Card(track2=TRACK.decode())
    for _ in range(26):
        assert term.run(1, Request("sale", amount=1, card=card)).approved
    state = idle.Idle(term)
    assert board.screen.shown[-1][2] == "以太网 已连接"  # the bearer line, as usual
    assert term.run(1, Request("sale", amount=1, card=card)).approved
    state.refresh()
    assert board.screen.shown[-1][2] == "批次将满 请结算"
    assert term.run(1, Request("sale", amount=1, card=card)).approved
    state.refresh()
    assert board.screen.shown[-1][2] == "批次已满 请结算"
    refused = term.run(1, Request("sale", amount=1, card=card))
    assert not refused.approved and refused.error == "settle_first"
