# PosManage (app/ui/admin.py): the login with operator 01 and its password, the lock-out kept
# on flash, the menu and its way back, training mode and clearing the journal, on a fake
# Terminal (admin_fakes.py) over a RAM flash.
# mpy-heap: 384K
# (The unix port compiles this module, the fakes and the app modules from source into the
# heap; PosManage's own heap, from ROMFS, is in docs/benchmarks.md.)
from admin_fakes import ADMIN_PASSWORD, LOGIN, Terminal
from fakehost import FakeHost
from mptest import expect_error

from app.store.lockout import Lockout
from app.store.params import ParamStore
from app.txn.engine import Card, Request
from app.ui import admin
from app.ui.screen import Idle
from drivers import keypad as kp


class Clock:
    def __init__(self, now=1000):
        self.now = now

    def time(self):
        return self.now


def login(term):
    return admin.login(term)


# --- login ------------------------------------------------------------------------------------


def test_operator_01_and_the_admin_password_open_the_menu():
    term = Terminal(LOGIN + (kp.CANCEL,))
    admin.run(term)
    assert ["管理", "操作员号:", "01", ""] in term.display.shown
    assert term.display.saw("1 版本信息") and term.display.saw("3 通讯测试")
    assert ["管理", "管理员密码:", "********", ""] in term.display.shown  # stars only
    assert not term.display.saw(ADMIN_PASSWORD)


def test_another_operator_number_is_refused_and_not_counted():
    term = Terminal(("02", kp.ENTER, kp.ENTER))
    assert not login(term)
    assert term.display.saw("操作员号错") and term.display.saw("管理员为 01")
    assert Lockout(term.store, "adminlock").failures() == 0


def test_without_an_admin_password_the_supervisor_s_opens_it():
    term = Terminal(("01", kp.ENTER, "123456", kp.ENTER))
    params = ParamStore(term.store)
    terminal = params.load(0)
    terminal.set("admin_password", None)
    params.save(0, terminal)
    assert login(term)
    term = Terminal(("01", kp.ENTER, "123456", kp.ENTER, kp.CANCEL))
    assert not login(term)  # with its own password, the supervisor's is wrong


def test_a_terminal_without_parameters_says_so():
    term = Terminal((kp.ENTER,))
    ParamStore(term.store).delete(0)
    assert not login(term)
    assert term.display.shown[-1] == ["管理", "无参数", "请先装载参数", ""]


def test_wrong_passwords_count_down_then_lock_across_a_power_cycle():
    wrong = ("1111", kp.ENTER, None)  # None: the message's 3 s go by without a key
    term = Terminal(("01", kp.ENTER) + wrong + wrong + wrong + (kp.ENTER,))
    assert not login(term)
    assert term.display.saw("还可试 2 次") and term.display.saw("还可试 1 次")
    assert term.display.shown[-1] == ["管理", "已锁定", "10 分钟后再试", ""]
    lock = Lockout(term.store, "adminlock")
    assert lock.failures() == 3 and lock.remaining() > 590
    # The terminal restarts (the record store opened again): still locked, the right
    # password is not even asked for.
    term.keypad.add("01", kp.ENTER, ADMIN_PASSWORD, kp.ENTER, kp.ENTER)
    term.display.shown = []
    assert not login(term)
    assert not term.display.saw("管理员密码:") and term.display.saw("已锁定")


def test_a_right_password_starts_the_count_again():
    term = Terminal(("01", kp.ENTER, "1111", kp.ENTER, kp.ENTER, ADMIN_PASSWORD, kp.ENTER))
    assert login(term)
    assert Lockout(term.store, "adminlock").failures() == 0


def test_cancel_at_each_login_step_and_idle():
    for script in ((kp.CANCEL,), ("01", kp.ENTER, kp.CANCEL), ("0", kp.CANCEL)):
        term = Terminal(script)
        assert not login(term)
    term = Terminal(("01", kp.ENTER))  # then no key: Idle leaves PosManage
    expect_error(Idle, [], admin.run, term)


def test_lockout_rules():
    from admin_fakes import fresh

    store = fresh()
    clock = Clock(1000)
    lock = Lockout(store, "adminlock", clock=clock)
    assert lock.failed() == 2 and lock.failed() == 1 and lock.remaining() == 0
    assert lock.failed() == 0 and lock.remaining() == 600
    clock.now = 1599
    assert lock.remaining() == 1
    clock.now = 1600
    assert lock.remaining() == 0 and lock.failures() == 0  # run out: three tries again
    for _ in range(3):
        lock.failed()
    clock.now = 500  # the clock went back (a board without a clock battery, power cycled)
    assert lock.remaining() == 600  # the lock starts again, it does not end
    clock.now = 1099
    assert lock.remaining() == 1
    lock = Lockout(store, "adminlock", clock=clock)
    clock.now = 1100
    assert lock.remaining() == 0
    lock.failed()
    lock.succeeded()
    assert lock.failures() == 0


# --- the menu ---------------------------------------------------------------------------------


def test_cancel_in_an_item_comes_back_to_the_menu_and_the_modules_go():
    import sys

    term = Terminal(LOGIN + ("7", kp.CANCEL, kp.CANCEL))
    admin.run(term)
    assert term.display.shown[-1] == ["管理", "7 培训模式", "8 清除流水", "9 主机连接"]  # at 7
    for name in ("app.ui.admin_training", "app.ui.admin_ui", "app.store.lockout", "app.ui.admin"):
        assert name not in sys.modules, name


def test_f2_moves_the_cursor_and_pages_the_menu():
    term = Terminal(LOGIN + (kp.F2, kp.F2, kp.F2, kp.CANCEL), language="en")
    admin.run(term)
    assert ["PosManage", "4 Key entry", "5 Print params", "6 Device check"] in term.display.shown


# --- training ---------------------------------------------------------------------------------


def test_training_mode_is_turned_on_and_off():
    term = Terminal(LOGIN + ("7", kp.ENTER, kp.ENTER, "7", kp.ENTER, kp.ENTER, kp.CANCEL))
    seen = []
    admin.run(term)
    assert not term.training
    for screen in term.display.shown:
        if screen[0] == "培训模式":
            seen.append(screen[1])
    assert seen == ["现为: 关", "培训模式已开", "现为: 开", "培训模式已关"]
    term = Terminal(LOGIN + ("7", kp.CANCEL, kp.CANCEL))
    admin.run(term)
    assert not term.training  # CANCEL changes nothing


# --- clearing the journal ---------------------------------------------------------------------


def sold(term, count=1):
    host = term.host
    engine = term.engine(1)
    assert engine.run(Request("sign_on")).approved
    for _ in range(count):
        track = "6224242900000113=28062013949031013"
        assert engine.run(Request("sale", amount=1, card=Card(track2=track))).approved
    host.requests = []
    return engine


def test_the_journal_is_not_cleared_before_settlement():
    term = Terminal(LOGIN + ("8", kp.ENTER, kp.CANCEL))
    sold(term, 2)
    admin.run(term)
    assert term.display.saw("有未结算交易2笔") and term.display.saw("请先结算")
    assert not term.engine(1).journal.is_empty()


def test_a_pending_reversal_refuses_it_too():
    host = FakeHost()
    term = Terminal(LOGIN + ("8", kp.ENTER, kp.CANCEL), host=host)
    engine = sold(term, 0)
    host.fault("no_answer", "0200")
    card = Card(track2="6224242900000113=28062013949031013")
    assert not engine.run(Request("sale", amount=1, card=card)).approved
    assert engine.pending_reversal() is not None
    admin.run(term)
    assert term.display.saw("有冲正未完成")


def test_a_pending_refund_advice_refuses_it_too():
    # A refund the host may have approved, its answer lost: kept to be sent again, it is a
    # transaction of the batch the journal does not hold yet.
    host = FakeHost()
    term = Terminal(LOGIN + ("8", kp.ENTER, kp.CANCEL), host=host)
    engine = sold(term, 1)
    sale = term.engine(1).journal.find(engine.stan, engine.batch)
    engine._save_counters(engine.stan, engine.batch + 1)  # the sale's batch settled
    host.fault("no_answer", "0220")
    card = Card(track2="6224242900000113=28062013949031013")
    refund = Request(
        "refund",
        amount=1,
        card=card,
        pin=bytearray(b"123456"),
        rrn=sale.rrn,
        original_date=sale.date[4:],
        supervisor_password=b"123456",
    )
    assert not engine.run(refund).approved and engine.pending_advice() is not None
    admin.run(term)
    assert term.display.saw("有通知未完成")
    assert not term.engine(1).journal.is_empty()


def test_after_settlement_the_settled_records_left_behind_are_cleared():
    term = Terminal(LOGIN + ("8", kp.ENTER, kp.ENTER, kp.CANCEL))
    engine = sold(term, 1)
    # What a power cut between the batch's advance and the journal's emptying leaves.
    engine._save_counters(engine.stan, engine.batch + 1)
    assert not engine.journal.is_empty()
    changes = term.changes
    admin.run(term)
    assert term.display.saw("清除 1 条记录?") and term.display.saw("已清除")
    assert term.engine(1).journal.is_empty() and term.changes > changes
    term = Terminal(LOGIN + ("8", kp.ENTER, kp.CANCEL))
    admin.run(term)
    assert term.display.saw("流水已空")


def test_cancel_at_the_question_clears_nothing():
    term = Terminal(LOGIN + ("8", kp.CANCEL, kp.CANCEL))
    engine = sold(term, 1)
    engine._save_counters(engine.stan, engine.batch + 1)
    admin.run(term)
    assert not term.engine(1).journal.is_empty()
