# Power-up and the idle screen (app.ui.powerup, app.ui.idle, app.ui.terminal.run) against a
# fake board: a failed self-test puts the terminal out of service and the engine refuses too;
# the checklist names each problem and what to do (paper, cover, printer, dial tone, SIM,
# registration, signal, Ethernet link, clock, parameters, master key, sign-on); automatic
# sign-on where the parameters say so; what the idle screen shows and where its keys lead.
# mpy-heap: 512K
# (The unix port compiles the application, the drivers and these fakes from source.)
import struct

from fakeboard import Board
from fakes import FakeUART, at

from app import selftest
from app.comm.dial import DialBearer
from app.comm.gprs import GprsBearer
from app.txn import engine as txn_engine
from app.txn.engine import Request
from app.ui import idle, powerup
from drivers import keypad as kp
from drivers.hayes import Modem
from drivers.sim800 import Sim800

ENTER, F2, FUNC = kp.ENTER, kp.F2, kp.FUNC


def lines_of(term):
    lines, ok = powerup.checks(term)
    return [term.ui.t(line) for line in lines], ok


def test_a_failed_self_test_puts_the_terminal_out_of_service_and_the_engine_refuses():
    board = Board()
    term = board.terminal()
    tests = selftest.TESTS
    selftest.TESTS = tests + (("SM4", lambda: False),)
    try:
        board.keys.play(None, None)
        board.run(powerup.run, term)
        assert board.screen.shown[-1] == ["暂停服务", "自检失败:", "SM4", "请报修"]
        result = term.run(1, Request("sign_on"))
        assert result.error == "out_of_service" and board.host.requests == []
        assert "SM4" in result.detail and "暂停服务" in result.message_zh
    finally:
        selftest.TESTS = tests
        txn_engine._out_of_service = None  # this process goes on to other tests


def test_a_terminal_without_its_storage_key_is_out_of_service():
    board = Board()
    board.storage_key = lambda: None.missing  # the board cannot give one: AttributeError
    term = board.terminal()
    board.keys.play(None)
    try:
        board.run(powerup.run, term)
        assert board.screen.shown[-1][2] == "无存储密钥"
    finally:
        txn_engine._out_of_service = None


def test_all_well_the_checklist_shows_a_moment_and_the_terminal_signs_on_by_itself():
    board = Board(app={0x54: b"\x01"})  # power_up_signon
    term = board.terminal()
    lines, ok = lines_of(term)
    assert ok, lines
    assert lines[:2] == ["打印机 正常", "以太网 已连接"]
    assert lines[2][:2] == "20" and lines[3] == "CUP 未签到"  # the date; not yet signed on
    board.keys.play(None, None)
    board.run(powerup.run, term)
    assert ["开机检查", "打印机 正常", "以太网 已连接", lines[2]] in board.screen.shown
    assert ["开机检查", "CUP 未签到", "", ""] in board.screen.shown  # each page, a moment
    assert len(board.host.of("0800")) == 1
    assert ["CUP 签到", "交易成功", "", "凭证号 000001"] in board.screen.shown
    assert lines_of(term)[0][3] == "CUP 已签到"


def test_the_self_tests_modules_are_let_go_before_the_sign_on():
    # The automatic sign-on is power-up's heap peak: the self-test's code (and SM4's, no
    # application here using it) is no longer loaded when it runs.
    import sys

    board = Board(app={0x54: b"\x01"})  # power_up_signon
    term = board.terminal()
    loaded = []
    sign_on = term.run

    def run(app, request, title=None):
        loaded.extend(name for name in ("app.selftest", "app.crypto.sm4") if name in sys.modules)
        return sign_on(app, request, title)

    term.run = run
    board.keys.play(None, None)
    try:
        board.run(powerup.run, term)
    finally:
        sys.modules["app.selftest"] = selftest  # this module's tests use the one they imported
    assert len(board.host.of("0800")) == 1 and loaded == []


def test_each_problem_is_named_with_what_to_do_and_waits_for_enter():
    board = Board(tmk=False)
    board.paper.paper_lines = 0
    board.host.link.state = 0
    term = board.terminal()
    lines, ok = lines_of(term)
    assert not ok
    assert lines[:4] == ["缺纸", "  请装纸", "网线未连接", "  请插好网线"]
    assert lines[5:] == ["CUP 无主密钥", "  请装载密钥"]
    board.keys.play(F2, ENTER)  # the second page, then on
    board.run(powerup.run, term)
    assert ["开机检查", "缺纸", "  请装纸", "网线未连接"] in board.screen.shown
    assert ["开机检查", "  请插好网线", lines[4], "CUP 无主密钥"] in board.screen.shown
    assert board.host.requests == []  # no master key: no automatic sign-on either


def test_cover_printer_clock_and_sign_on_lines():
    board = Board()
    board.paper.cover_open = True
    term = board.terminal()
    term.store.save("clock", struct.pack(">i", -20 * 366 * 86400))  # 20 years slow
    lines, ok = lines_of(term)
    assert lines[:2] == ["机盖打开", "  请合上机盖"]
    assert "时钟不对" in lines and "  签到后自动校准" in lines
    assert lines[-2:] == ["CUP 未签到", "  请签到"]
    board.paper.silent = True
    board = Board()
    board.paper.silent = True
    assert lines_of(board.terminal())[0][:2] == ["打印机无应答", "  请查电源和线"]


def test_the_dial_up_line_is_checked_for_a_dial_tone():
    powerup.DIAL_TONE_MS = 100
    init = [at(b"ATZ", b"OK"), at(b"ATE0V1", b"OK"), at(b"AT&K0", b"OK")]
    for answer, expected in ((b"OK", "电话线 正常"), (b"NO DIALTONE", "无拨号音")):
        board = Board(
            terminal={
                0x0C: b"dialup",
                0x10: b"",
                0x11: b"direct",
                0x12: b"95555",
                0x14: b"6000030000",
                0x15: b"\x00",
            }
        )
        uart = FakeUART(init + [at(b"ATX4DT;", answer), at(b"ATH", b"OK")])
        term = board.terminal()
        term.bearer = DialBearer(Modem(uart, command_timeout_ms=50), ("95555",))
        term.bearer_kind = "dialup"
        lines, _ = lines_of(term)
        assert lines[1] == expected, lines
        assert uart.done()


def gprs_board(*answers):
    board = Board(
        terminal={
            0x0C: b"gprs",
            0x20: b"*99#",
            0x21: b"CMNET",
            0x24: b"127.0.0.1",
            0x25: struct.pack(">H", 5000),
            0x28: b"6000030000",
        }
    )
    script = [at(b"AT", b"OK"), at(b"ATE0", b"OK"), at(b"AT+CMEE=1", b"OK")] + list(answers)
    uart = FakeUART(script)
    module = Sim800(uart, command_timeout_ms=60, boot_timeout_ms=400)
    term = board.terminal()
    term.bearer = GprsBearer(module, "CMNET", (("127.0.0.1", 5000),))
    term.bearer_kind = "gprs"
    return term


def test_gprs_sim_registration_and_signal_bars():
    ready = at(b"AT+CPIN?", b"+CPIN: READY", b"OK")
    term = gprs_board(
        ready, at(b"AT+CREG?", b"+CREG: 0,1", b"OK"), at(b"AT+CSQ", b"+CSQ: 20,0", b"OK")
    )
    assert lines_of(term)[0][1] == "GPRS 信号 ####."
    term = gprs_board(at(b"AT+CPIN?", b"+CPIN: NOT INSERTED", b"OK"))
    assert lines_of(term)[0][1:3] == ["未插SIM卡", "  请插入SIM卡"]
    term = gprs_board(
        ready, at(b"AT+CREG?", b"+CREG: 0,2", b"OK"), at(b"AT+CSQ", b"+CSQ: 3,0", b"OK")
    )
    assert lines_of(term)[0][1:4] == ["GPRS 信号 #....", "网络未注册", "  请换位置"]


def test_the_idle_screen_shows_applications_clock_bearer_and_paper():
    board = Board()
    term = board.terminal()
    board.keys.play(None)
    board.run(idle.run, term)
    title, date, bearer, paper = board.screen.shown[-1]
    assert title == "CUP" and date[:2] == "20" and date[10] == " "
    assert bearer == "以太网 已连接" and paper == "打印纸 正常"
    board.paper.paper_lines = 0
    term.training = True
    board.keys.play(None)
    board.run(idle.run, term)
    assert board.screen.shown[-1][0] == "培训 CUP" and board.screen.shown[-1][3] == "缺纸"


def test_idle_keys_lead_to_the_cashier_menu_its_items_and_the_admin_menu():
    board = Board()
    term = board.terminal()
    board.keys.play(ENTER)  # the cashier menu (the script ends there)
    board.run(idle.run, term)
    assert board.screen.shown[-1][:2] == ["交易", "1 消费"]
    board.keys.play("8")  # an item at once: 8 签到
    board.run(idle.run, term)
    assert board.screen.shown[-1][:2] == ["签到", "操作员号:"]
    board.keys.play(FUNC, None)
    board.run(idle.run, term)
    try:
        __import__("app.ui.admin")
    except ImportError:
        assert board.screen.saw("暂未开通")


def test_power_up_then_idle_from_the_terminals_entry_point():
    from app.ui import terminal

    board = Board()
    board.keys.play(ENTER, None)  # the checklist (not signed on), then idle
    board.run(terminal.run, board)
    assert board.screen.shown[0][0] == "自检"
    assert board.screen.shown[-1][0] == "CUP"


def test_a_settlement_cut_after_the_host_closed_the_batch_is_finished_at_power_up():
    # The 0510 arrived (record "closing1" in state settled, with the slip's data) and the
    # power went before the terminal closed the batch: the cut is the close never running.
    from app.txn import settlement
    from app.txn.engine import Card

    class PowerCut(Exception):
        pass

    def cut(engine, batch, *rest):
        raise PowerCut()

    board = Board()
    term = board.terminal()
    assert term.run(1, Request("sign_on")).approved
    card = Card(track2="6224242900000113=28062013949031013")
    assert term.run(1, Request("sale", amount=150, card=card)).approved
    close, settlement.close = settlement.close, cut
    try:
        term.engine(1).run(Request("settlement"))
    except PowerCut:
        pass
    finally:
        settlement.close = close
    assert len(board.host.of("0500")) == 1
    before = len(board.slips())

    term = board.terminal()  # the power back: a new terminal on the same flash
    board.keys.play(None, None, None, None)
    board.run(powerup.run, term)

    assert ["CUP 交易恢复", "结算完成,对账平", "", ""] in board.screen.shown
    slip = board.slips()[before:]
    assert any(b"000001" in line for line in slip), slip  # the settled batch's number
    assert any(b"RMB 1.50" in line for line in slip), slip  # the terminal's totals
    assert len(board.host.of("0500")) == 1  # closed without the line
    engine = term.engine(1)
    assert engine.batch == 2 and engine.journal.is_empty()
    from app.txn import recovery

    assert not recovery.due(engine)


def test_a_settled_batch_whose_saved_totals_do_not_read_is_closed_without_its_slip():
    board = Board()
    term = board.terminal()
    slip = struct.pack(">QIQI8s6s2s", 100, 1, 0, 0, b"20261207", b"120000", b"01")
    term.store.save("closing1", struct.pack(">IB", 1, 1) + slip + b"not totals" * 4)
    board.keys.play(None, None, None)
    board.run(powerup.run, term)
    engine = term.engine(1)
    assert engine.batch == 2 and term.store.load("closing1") is None
    assert ["CUP 交易恢复", "交易成功", "", ""] in board.screen.shown, board.screen.shown
    assert board.host.requests == [] or all(mti == "0800" for mti, _ in board.host.requests)
