# PosManage's communication tests (app/ui/admin_comm.py): the dial test with the modem's
# answer, the GPRS meter (SIM, ICCID, bars, registration, operator, the best seen), the
# Ethernet link and the echo test through the engine; the real drivers over scripted UARTs
# (fakes.FakeUART), a network.LAN stand-in (fakes_io.FakeNic) and the fake host.
# mpy-heap: 640K
from admin_fakes import LOGIN, Terminal
from fakes import FakeUART, at
from fakes_io import FakeNic

from app.ui import admin, admin_comm
from drivers import keypad as kp
from drivers.ethernet import EthernetLink
from drivers.hayes import Modem
from drivers.sim800 import Sim800

COMM = ("3",)  # the menu item
INIT = [at(b"ATZ", b"OK"), at(b"ATE0V1", b"OK"), at(b"AT&K0", b"OK")]


def modem(term, script):
    uart = FakeUART(INIT + script)
    term.board.modem_part = Modem(uart, command_timeout_ms=50, connect_timeout_ms=100, guard_ms=5)
    return uart


def test_a_dial_that_connects_shows_its_rate_and_hangs_up():
    term = Terminal(LOGIN + COMM + ("1", None, kp.ENTER, kp.CANCEL, kp.CANCEL))
    uart = modem(
        term,
        [
            at(b"ATX4", b"OK"),
            at(b"ATDT95555", b"CONNECT 2400"),
            (b"+++", b"\r\nOK\r\n"),
            at(b"ATH", b"OK"),
        ],
    )
    admin.run(term)
    assert ["拨号测试", "已连接", "CONNECT 2400", "95555"] in term.display.shown
    assert uart.done()  # hung up: +++ then ATH


def test_an_extension_dials_its_prefix_and_the_modem_s_words_are_shown():
    from app.store.params import ParamStore

    term = Terminal(LOGIN + COMM + ("1", None, kp.ENTER, kp.CANCEL, kp.CANCEL))
    params = ParamStore(term.store)
    terminal = params.load(0)
    terminal.set("dialup.line", "extension")
    params.save(0, terminal)
    modem(term, [at(b"ATX4", b"OK"), at(b"ATDT9,95555", b"NO DIALTONE")])
    admin.run(term)
    assert ["拨号测试", "无拨号音 查电话线", "NO DIALTONE", "9,95555"] in term.display.shown
    for answer, said in ((b"BUSY", "线路忙"), (b"NO ANSWER", "无应答"), (b"NO CARRIER", "无载波")):
        term = Terminal(LOGIN + COMM + ("1", None, kp.ENTER, kp.CANCEL, kp.CANCEL), language="zh")
        modem(term, [at(b"ATX4", b"OK"), at(b"ATDT95555", answer)])
        admin.run(term)
        assert term.display.saw(said), answer


def test_a_silent_modem_times_out_slow():
    # The dial waits the connect timeout (5 s, the parameter's least), then aborts.
    from app.store.params import ParamStore

    term = Terminal(LOGIN + COMM + ("1", None, kp.ENTER, kp.CANCEL, kp.CANCEL))
    uart = modem(term, [at(b"ATX4", b"OK"), at(b"ATDT95555"), at(b"", b"NO CARRIER")])
    params = ParamStore(term.store)
    terminal = params.load(0)
    terminal.set("connect_timeout", 5)
    params.save(0, terminal)
    admin.run(term)
    assert term.display.saw("超时")
    assert uart.done()  # the dial aborted (a CR), the modem's NO CARRIER read


def test_a_board_without_a_modem_says_so():
    term = Terminal(LOGIN + COMM + ("1", kp.ENTER, kp.CANCEL, kp.CANCEL))
    admin.run(term)
    assert term.display.saw("无此设备") and "modem" in term.board.made


def test_cancel_before_the_dial_sends_nothing():
    term = Terminal(LOGIN + COMM + ("1", kp.CANCEL, kp.CANCEL, kp.CANCEL))
    uart = modem(term, [])
    admin.run(term)
    assert uart.written == b""


def gprs(term, rounds):
    script = [
        at(b"AT", b"OK"),
        at(b"ATE0", b"OK"),
        at(b"AT+CMEE=1", b"OK"),
        at(b"AT+CPIN?", b"+CPIN: READY", b"OK"),
        at(b"AT+CCID", b"89860318640220133897", b"OK"),
    ]
    first = True
    for rssi, reg in rounds:
        script.append(at(b"AT+CSQ", b"+CSQ: %d,0" % rssi, b"OK"))
        script.append(at(b"AT+CREG?", b"+CREG: 0,%d" % reg, b"OK"))
        if first:
            script.append(at(b"AT+COPS?", b'+COPS: 0,0,"CHINA MOBILE"', b"OK"))
            first = False
    uart = FakeUART(script)
    term.board.gprs_part = Sim800(uart, command_timeout_ms=60, boot_timeout_ms=400)
    return uart


def test_the_gprs_meter_shows_the_iccid_then_bars_registration_and_the_best():
    # Three refreshes: 18 (3 bars, home), 25 (5 bars, roaming), 9 (1 bar, searching).
    keys = LOGIN + COMM + ("2", kp.ENTER, None, None, kp.CANCEL, kp.CANCEL, kp.CANCEL)
    term = Terminal(keys)
    uart = gprs(term, ((18, 1), (25, 5), (9, 2)))
    admin.run(term)
    shown = term.display.shown
    assert ["GPRS信号", "ICCID", "8986031864022013", "3897"] in shown
    assert ["GPRS信号", "信号 ###-- 18", "本地网 CHINA MOBILE", "最佳 ###-- 18"] in shown
    assert ["GPRS信号", "信号 ##### 25", "漫游 CHINA MOBILE", "最佳 ##### 25"] in shown
    assert ["GPRS信号", "信号 #---- 9", "搜索中 CHINA MOBILE", "最佳 ##### 25"] in shown
    assert uart.done()


def test_no_sim_card_is_said_so():
    term = Terminal(LOGIN + COMM + ("2", kp.ENTER, kp.CANCEL, kp.CANCEL))
    uart = FakeUART(
        [
            at(b"AT", b"OK"),
            at(b"ATE0", b"OK"),
            at(b"AT+CMEE=1", b"OK"),
            at(b"AT+CPIN?", b"+CME ERROR: 10"),
        ]
    )
    term.board.gprs_part = Sim800(uart, command_timeout_ms=60, boot_timeout_ms=400)
    admin.run(term)
    assert term.display.saw("SIM卡未插入")


def test_the_operator_name_is_read_from_cops():
    class Module:
        def __init__(self, lines):
            self.lines = lines

        def command(self, cmd):
            if isinstance(self.lines, Exception):
                raise self.lines
            return self.lines

    assert admin_comm.operator_name(Module([b'+COPS: 0,0,"CMCC"'])) == "CMCC"
    assert admin_comm.operator_name(Module([b"+COPS: 0"])) == "-"
    assert admin_comm.operator_name(Module(OSError("ERROR"))) == "-"


def test_ethernet_link_and_bringing_it_up():
    term = Terminal(LOGIN + COMM + ("3", kp.ENTER, kp.CANCEL, kp.CANCEL, kp.CANCEL))
    nic = FakeNic(statuses=(4, 4, 5))  # down until brought up, then a DHCP lease
    term.board.lan_part = EthernetLink(nic, link_timeout_ms=50, dhcp_timeout_ms=50)
    admin.run(term)
    assert ["以太网", "链路断开", "ENTER 连接", ""] in term.display.shown
    assert ["以太网", "已连接", "10.0.0.7", "GW 10.0.0.1"] in term.display.shown
    assert ("ifconfig", "dhcp") in nic.calls  # the parameters say DHCP


def test_ethernet_that_stays_down_says_why():
    term = Terminal(
        LOGIN + COMM + ("3", kp.ENTER, kp.ENTER, kp.ENTER, kp.CANCEL, kp.CANCEL, kp.CANCEL)
    )
    term.board.lan_part = EthernetLink(FakeNic(statuses=(4,)), link_timeout_ms=20)
    admin.run(term)
    assert term.display.saw("down: check the")


def test_the_echo_test_goes_to_the_host_through_the_engine():
    term = Terminal(LOGIN + COMM + ("4", kp.ENTER, kp.CANCEL, kp.CANCEL))
    admin.run(term)
    assert [mti for mti, _ in term.host.requests] == ["0820"]
    assert term.host.requests[0][1][60][8:11] == "301"
    assert term.results[0].approved
    term = Terminal(LOGIN + COMM + ("4", kp.ENTER, kp.CANCEL, kp.CANCEL))
    term.host.down = True
    admin.run(term)
    assert not term.results[0].approved and term.results[0].error == "connect"


def test_two_applications_ask_which_one_echoes():
    term = Terminal(LOGIN + COMM + ("4", "2", kp.ENTER, kp.CANCEL, kp.CANCEL), apps=2)
    admin.run(term)
    assert ["回响测试", "1 1 CUP", "2 2 ACQ2", ""] in term.display.shown
    assert term.results[0].approved
