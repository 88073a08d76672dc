# The dial-up, GPRS and Ethernet bearers (app.comm.dial, app.comm.gprs, app.comm.bearers) on
# MicroPython, over the real drivers on scripted UARTs: the bytes on the wire, each driver
# failure as the engine's named error with the driver's reason, the second number and the
# backup host, the GPRS watchdog step after a lost packet context, frames that arrive in
# pieces, and the bearer each set of terminal parameters builds.
# mpy-heap: 256K
# (The unix port compiles the drivers, the bearers and this module from source into the heap:
# sim800.py alone takes ~88 KB. The install cycle's heap over each bearer, from ROMFS, is in
# docs/transactions.md.)
from fakes import FakeUART, at
from fakes_io import FakeNic
from mptest import expect_error

from app.comm.bearers import configured
from app.comm.dial import DialBearer
from app.comm.frames import CommError, CommTimeout, ConnectFailed, LinkDown
from app.comm.gprs import GprsBearer
from app.comm.lan import EthernetBearer
from app.store.params import Params
from drivers.ethernet import EthernetLink
from drivers.hayes import Modem
from drivers.sim800 import Sim800


def frame(body):
    """A frame as the engine sends and the host answers: 2-byte length, then the message."""
    return bytes((len(body) >> 8, len(body) & 0xFF)) + body


REQUEST = frame(b"\x60\x00\x03\x00\x00\x60\x31\x00\x31\x00\x00\x02\x00 sale")
ANSWER = frame(b"\x60\x00\x00\x00\x03\x60\x31\x00\x31\x00\x00\x02\x10 approved 00")


# --- dial-up ---------------------------------------------------------------------------------

INIT = [at(b"ATZ", b"OK"), at(b"ATE0V1", b"OK"), at(b"AT&K0", b"OK")]
HANGUP = [(b"+++", b"\r\nOK\r\n"), at(b"ATH", b"OK")]


def dial(digits, *answers):
    """The modem's side of one dial (ATX4: wait for the dial tone, report BUSY)."""
    return [at(b"ATX4", b"OK"), at(b"ATDT" + digits, *answers)]


def dial_bearer(script, numbers=("95555", "95556"), chunk=None, **options):
    uart = FakeUART(script, chunk=chunk)
    modem = Modem(uart, command_timeout_ms=50, connect_timeout_ms=100, guard_ms=10)
    options.setdefault("connect_ms", 100)
    return DialBearer(modem, numbers, **options), uart


def test_dial_up_call_carries_a_frame_then_hangs_up():
    b, uart = dial_bearer(
        INIT + dial(b"0,95555", b"CONNECT 2400") + [(REQUEST, ANSWER)] + HANGUP,
        outside_line="0",
    )
    buf = bytearray(256)
    b.use_buffer(buf)  # the engine lends its packing buffer
    b.connect()
    assert b.connected and b.number == "95555"
    b.connect()  # idempotent: no second dial
    answer = b.exchange(REQUEST, 500)
    assert bytes(answer) == ANSWER and bytes(buf[: len(ANSWER)]) == ANSWER
    b.close()
    assert not b.connected and uart.done()
    assert uart.written == b"ATZ\rATE0V1\rAT&K0\rATX4\rATDT0,95555\r" + REQUEST + b"+++ATH\r"
    b.close()  # idempotent: nothing more on the wire
    assert uart.done()


def test_busy_first_number_then_the_second_answers():
    b, uart = dial_bearer(
        INIT + dial(b"95555", b"BUSY") + dial(b"95556", b"CONNECT 1200") + [(REQUEST, ANSWER)]
    )
    b.connect()
    assert b.number == "95556"
    assert bytes(b.exchange(REQUEST, 500)) == ANSWER
    assert uart.written.count(b"ATDT") == 2


def test_every_dial_failure_is_connect_failed_in_the_modem_s_words():
    for first, second in (
        (b"BUSY", b"NO ANSWER"),
        (b"NO CARRIER", b"BUSY"),
        (b"NO ANSWER", b"NO CARRIER"),
    ):
        b, uart = dial_bearer(INIT + dial(b"95555", first) + dial(b"95556", second))
        exc = expect_error(ConnectFailed, (), b.connect)
        assert str(exc) == "dial-up: 95555: %s; 95556: %s" % (first.decode(), second.decode())
        assert not b.connected and uart.done()
        b.close()  # no call was made: no hang-up on the wire
        assert uart.done()


def test_no_connect_in_time_aborts_the_dial_and_tries_the_next_number():
    b, uart = dial_bearer(
        INIT
        + [at(b"ATX4", b"OK"), (b"ATDT95555\r", None), (b"\r", b"\r\nNO CARRIER\r\n")]
        + dial(b"95556", b"CONNECT 2400")
    )
    b.connect()
    assert b.number == "95556" and uart.done()


def test_no_dial_tone_stops_at_the_first_number():
    b, uart = dial_bearer(INIT + dial(b"95555", b"NO DIALTONE"))
    expect_error(ConnectFailed, ("95555: NO DIALTONE", "check the phone line"), b.connect)
    assert uart.written.count(b"ATDT") == 1 and uart.done()


def test_silent_modem_is_connect_failed():
    b, _ = dial_bearer([(b"ATZ\r", None)])
    expect_error(ConnectFailed, ("modem: no answer to ATZ",), b.connect)


def test_carrier_lost_in_the_middle_of_the_answer_is_link_down():
    b, uart = dial_bearer(
        INIT
        + dial(b"95555", b"CONNECT 2400")
        + [(REQUEST, ANSWER[:9] + b"\r\nNO CARRIER\r\n"), at(b"ATH", b"OK")]
    )
    b.connect()
    expect_error(
        LinkDown,
        ("the line dropped (NO CARRIER) after 9 of %d bytes" % len(ANSWER),),
        b.exchange,
        REQUEST,
        500,
    )
    assert not b.connected
    b.close()  # the carrier is gone: ATH only, no escape
    assert uart.done() and uart.written.endswith(REQUEST + b"ATH\r")


def test_carrier_lost_before_sending_is_link_down():
    b, uart = dial_bearer(INIT + dial(b"95555", b"CONNECT 2400"))
    b.connect()
    uart.feed(b"\r\nNO CARRIER\r\n")
    expect_error(LinkDown, ("NO CARRIER",), b.receive, 100)
    expect_error(LinkDown, ("not connected",), b.send, REQUEST)


def test_silent_line_and_half_an_answer_are_timeouts():
    b, _ = dial_bearer(INIT + dial(b"95555", b"CONNECT 2400") + [(REQUEST, None)])
    b.connect()
    expect_error(CommTimeout, ("no answer",), b.exchange, REQUEST, 60)
    b, _ = dial_bearer(INIT + dial(b"95555", b"CONNECT 2400") + [(REQUEST, ANSWER[:9])])
    b.connect()
    words = ("9 of %d bytes of the answer arrived" % len(ANSWER),)
    expect_error(CommTimeout, words, b.exchange, REQUEST, 300)


def test_frames_in_pieces_and_back_to_back():
    # Three bytes a read; the host's answer twice in a row (the engine then reads the second
    # with receive()), and a message holding the start of NO CARRIER, which is data.
    odd = frame(b"\x60\x00\x00\x00\x03 \r\nNO CARR 00")
    b, _ = dial_bearer(
        INIT + dial(b"95555", b"CONNECT 2400") + [(REQUEST, ANSWER + ANSWER + odd)], chunk=3
    )
    b.connect()
    assert bytes(b.exchange(REQUEST, 1000)) == ANSWER
    assert bytes(b.receive(1000)) == ANSWER
    assert bytes(b.receive(1000)) == odd


def test_answer_longer_than_the_buffer_is_refused():
    b, _ = dial_bearer(INIT + dial(b"95555", b"CONNECT 2400") + [(REQUEST, ANSWER)])
    b.use_buffer(bytearray(16))
    b.connect()
    words = ("answer of %d bytes exceeds the 16-byte buffer" % (len(ANSWER) - 2),)
    expect_error(CommError, words, b.exchange, REQUEST, 500)


# --- GPRS ------------------------------------------------------------------------------------

ATTACH = [
    at(b"AT+CIPSHUT", b"SHUT OK"),
    at(b"AT+CIPMUX=0", b"OK"),
    at(b"AT+CIPHEAD=1", b"OK"),
    at(b'AT+CSTT="CMNET","",""', b"OK"),
    at(b"AT+CIICR", b"OK"),
    at(b"AT+CIFSR", b"10.64.3.7"),
]
SYNC = [(b"AT\r", b"\r\nOK\r\n"), at(b"ATE0", b"OK"), at(b"AT+CMEE=1", b"OK")]
SIM_READY = [at(b"AT+CPIN?", b"+CPIN: READY", b"OK")]
REGISTERED = [at(b"AT+CREG?", b"+CREG: 0,1", b"OK"), at(b"AT+CGREG?", b"+CGREG: 0,1", b"OK")]
BRING_UP = SYNC + SIM_READY + REGISTERED + ATTACH
PRIMARY = ("posp.example", 5000)
BACKUP = ("10.1.1.9", 6000)


def cipstart(host, *answers):
    return at(b'AT+CIPSTART="TCP","%s",%d' % (host[0].encode(), host[1]), *answers)


def ipd(data):
    return b"\r\n+IPD,%d:" % len(data) + data


def sent(request, *pieces):
    """The module's side of AT+CIPSEND of `request`, the host's answer in +IPD `pieces`."""
    return [
        (b"AT+CIPSEND=%d\r" % len(request), b"\r\n> "),
        (request, b"\r\nSEND OK\r\n" + b"".join(ipd(p) for p in pieces)),
    ]


def gprs_bearer(script, hosts=(PRIMARY, BACKUP), chunk=None, **options):
    uart = FakeUART(script, chunk=chunk)
    module = Sim800(
        uart,
        command_timeout_ms=60,
        connect_timeout_ms=60,
        send_timeout_ms=60,
        read_timeout_ms=60,
        boot_timeout_ms=400,
    )
    options.setdefault("registration_ms", 100)
    return GprsBearer(module, "CMNET", hosts, **options), uart


def test_gprs_first_connect_brings_the_module_up_then_carries_a_frame():
    b, uart = gprs_bearer(
        BRING_UP
        + [cipstart(PRIMARY, b"OK", b"CONNECT OK")]
        + sent(REQUEST, ANSWER)
        + [at(b"AT+CIPCLOSE", b"CLOSE OK"), cipstart(PRIMARY, b"OK", b"CONNECT OK")]
    )
    b.connect()
    assert b.connected and b.host == PRIMARY
    assert bytes(b.exchange(REQUEST, 500)) == ANSWER
    b.close()
    assert not b.connected
    # The next run opens the host again on the context that is still up: no AT, no APN.
    before = len(uart.written)
    b.connect()
    assert uart.written[before:] == b'AT+CIPSTART="TCP","posp.example",5000\r'
    assert uart.done()


def test_gprs_no_sim_then_the_sim_is_put_in():
    locked, _ = gprs_bearer(SYNC + [at(b"AT+CPIN?", b"+CPIN: SIM PIN", b"OK")])
    expect_error(ConnectFailed, ("GPRS: SIM locked",), locked.connect)
    b, uart = gprs_bearer(SYNC + [at(b"AT+CPIN?", b"+CPIN: NOT INSERTED", b"OK")])
    expect_error(ConnectFailed, ("GPRS: no SIM card",), b.connect)
    # The next connect starts from the beginning again.
    uart.script = BRING_UP + [cipstart(PRIMARY, b"OK", b"CONNECT OK")]
    b.connect()
    assert b.connected and uart.done()


def test_gprs_not_registered():
    b, _ = gprs_bearer(SYNC + SIM_READY + [at(b"AT+CREG?", b"+CREG: 0,3", b"OK")])
    expect_error(ConnectFailed, ("GPRS: network registration denied",), b.connect)
    searching = [at(b"AT+CREG?", b"+CREG: 0,2", b"OK")] * 3
    b, _ = gprs_bearer(SYNC + SIM_READY + searching, registration_ms=30)
    expect_error(ConnectFailed, ("GPRS: not registered (status 2)",), b.connect)


def test_gprs_silent_module_and_refused_apn():
    b, _ = gprs_bearer([(b"AT\r", None)] * 10)
    expect_error(ConnectFailed, ("GPRS: module does not answer AT",), b.connect)
    b, _ = gprs_bearer(SYNC + SIM_READY + REGISTERED + ATTACH[:4] + [at(b"AT+CIICR", b"ERROR")])
    expect_error(ConnectFailed, ("GPRS: APN CMNET not activated",), b.connect)


def test_gprs_primary_host_refuses_backup_host_used():
    b, uart = gprs_bearer(
        BRING_UP
        + [cipstart(PRIMARY, b"OK", b"CONNECT FAIL"), cipstart(BACKUP, b"OK", b"CONNECT OK")]
        + sent(REQUEST, ANSWER)
    )
    b.connect()
    assert b.host == BACKUP
    assert bytes(b.exchange(REQUEST, 500)) == ANSWER
    assert uart.done()


def test_gprs_both_hosts_refuse():
    b, _ = gprs_bearer(
        BRING_UP
        + [cipstart(PRIMARY, b"OK", b"CONNECT FAIL"), cipstart(BACKUP, b"OK", b"CONNECT FAIL")]
    )
    exc = expect_error(ConnectFailed, (), b.connect)
    assert str(exc).startswith("GPRS: posp.example:5000: host did not accept")
    assert "; 10.1.1.9:6000: host did not accept" in str(exc)
    assert not b.connected


def test_gprs_host_closes_in_the_middle_of_the_answer():
    b, uart = gprs_bearer(
        BRING_UP
        + [cipstart(PRIMARY, b"OK", b"CONNECT OK")]
        + [(b"AT+CIPSEND=%d\r" % len(REQUEST), b"\r\n> ")]
        + [(REQUEST, b"\r\nSEND OK\r\n" + ipd(ANSWER[:9]) + b"\r\nCLOSED\r\n")]
    )
    b.connect()
    words = ("GPRS: connection closed by the host after 9 of %d bytes" % len(ANSWER),)
    expect_error(LinkDown, words, b.exchange, REQUEST, 500)
    assert not b.connected
    b.close()  # closed already: no AT+CIPCLOSE
    assert uart.done()
    uart.script = [cipstart(PRIMARY, b"OK", b"CONNECT OK")]  # the context is still up
    b.connect()
    assert b.connected and uart.done()


def test_gprs_context_lost_in_the_middle_of_the_answer_is_recovered_at_the_next_connect():
    b, uart = gprs_bearer(
        BRING_UP
        + [cipstart(PRIMARY, b"OK", b"CONNECT OK")]
        + [(b"AT+CIPSEND=%d\r" % len(REQUEST), b"\r\n> ")]
        + [(REQUEST, b"\r\nSEND OK\r\n" + ipd(ANSWER[:9]) + b"\r\n+PDP: DEACT\r\n")]
    )
    b.connect()
    words = ("GPRS: the network dropped the data connection after 9 of",)
    expect_error(LinkDown, words, b.exchange, REQUEST, 500)
    b.close()
    # Once: the watchdog's re-attach, then the host.
    uart.script = ATTACH + [cipstart(PRIMARY, b"OK", b"CONNECT OK")] + sent(REQUEST, ANSWER)
    b.connect()
    assert bytes(b.exchange(REQUEST, 500)) == ANSWER
    assert uart.done()


def test_gprs_context_lost_while_opening_is_recovered_once():
    b, uart = gprs_bearer(
        BRING_UP
        + [cipstart(PRIMARY, b"OK", b"+PDP: DEACT", b"CONNECT FAIL")]
        + ATTACH
        + [cipstart(PRIMARY, b"OK", b"CONNECT OK"), at(b"AT+CIPCLOSE", b"CLOSE OK")]
    )
    b.connect()
    assert b.host == PRIMARY
    b.close()
    assert uart.done()
    # Lost between runs, and again while opening after the recovery: one recovery only, then
    # the backup host, which cannot be opened without a context.
    uart.feed(b"\r\n+PDP: DEACT\r\n")
    before = len(uart.written)
    uart.script = (
        [cipstart(PRIMARY, b"ERROR")]
        + ATTACH
        + [cipstart(PRIMARY, b"OK", b"+PDP: DEACT", b"CONNECT FAIL")]
    )
    words = ("posp.example:5000: host did not", "10.1.1.9:6000: packet context not active")
    expect_error(ConnectFailed, words, b.connect)
    assert uart.done()
    opens = uart.written[before:].count(b"AT+CIPSTART")
    assert opens == 2 and uart.written[before:].count(b"AT+CIPSHUT") == 1


def test_gprs_no_answer_and_frames_in_pieces():
    b, _ = gprs_bearer(
        BRING_UP + [cipstart(PRIMARY, b"OK", b"CONNECT OK")] + sent(REQUEST), chunk=5
    )
    b.connect()
    expect_error(CommTimeout, ("no answer",), b.exchange, REQUEST, 100)
    # The answer in three +IPD pieces, split again by a slow line; then a second frame.
    b, _ = gprs_bearer(
        BRING_UP
        + [cipstart(PRIMARY, b"OK", b"CONNECT OK")]
        + sent(REQUEST, ANSWER[:1], ANSWER[1:7], ANSWER[7:] + ANSWER),
        chunk=5,
    )
    b.connect()
    assert bytes(b.exchange(REQUEST, 1000)) == ANSWER
    assert bytes(b.receive(1000)) == ANSWER


def test_gprs_send_failure_is_link_down():
    b, _ = gprs_bearer(
        BRING_UP
        + [cipstart(PRIMARY, b"OK", b"CONNECT OK")]
        + [(b"AT+CIPSEND=%d\r" % len(REQUEST), b"\r\n> "), (REQUEST, b"\r\nSEND FAIL\r\n")]
    )
    b.connect()
    expect_error(LinkDown, ("GPRS: send failed (SEND FAIL)",), b.exchange, REQUEST, 500)


# --- Ethernet --------------------------------------------------------------------------------


def test_ethernet_cable_out_is_connect_failed():
    link = EthernetLink(FakeNic(statuses=(1, 4)), link_timeout_ms=30, dhcp_timeout_ms=30)
    b = EthernetBearer(link, (("127.0.0.1", 5000),), connect_ms=100, io_ms=100)
    expect_error(ConnectFailed, ("Ethernet: Ethernet link down: check the cable",), b.connect)
    assert not b.connected


def test_ethernet_no_dhcp_answer_and_static_address():
    link = EthernetLink(FakeNic(statuses=(3,)), link_timeout_ms=30, dhcp_timeout_ms=30)
    b = EthernetBearer(link, (("127.0.0.1", 5000),), connect_ms=100, io_ms=100)
    expect_error(ConnectFailed, ("no IP address: no DHCP server answered",), b.connect)
    # A static address is set on the interface before the hosts are tried (none answers).
    nic = FakeNic(statuses=(3,))
    static = ("192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1")
    link = EthernetLink(nic, link_timeout_ms=30)
    b = EthernetBearer(link, (("127.0.0.1", 1), ("127.0.0.1", 2)), config=static, connect_ms=500)
    exc = expect_error(ConnectFailed, ("cannot connect to 127.0.0.1:1",), b.connect)
    assert "; cannot connect to 127.0.0.1:2" in str(exc)
    assert ("ifconfig", static) in nic.calls


# --- the bearer from the parameters ----------------------------------------------------------


class Board:
    """The board's device factories, over scripted UARTs and a fake network interface;
    `options` keeps what each was asked for."""

    def __init__(self, script=(), nic=None):
        self.uart = FakeUART(script)
        self.nic = nic or FakeNic()
        self.options = {}

    def modem(self, **options):
        self.options["modem"] = options
        return Modem(self.uart, command_timeout_ms=50, guard_ms=10)

    def gprs(self, **options):
        self.options["gprs"] = dict(options)
        options.update(command_timeout_ms=60, boot_timeout_ms=400)
        return Sim800(self.uart, **options)

    def lan(self, **options):
        self.options["lan"] = options
        return EthernetLink(self.nic, link_timeout_ms=30, dhcp_timeout_ms=30)


def terminal(bearer, values):
    """The terminal's parameters for `bearer`, with `values` (by name) of its group."""
    common = {"bearer": bearer, "connect_timeout": 5, "send_timeout": 7}
    common["host_select"] = "primary"
    common.update(values)
    return Params(0, common)


def test_dial_up_from_parameters_extension_and_backup_number_first():
    params = terminal(
        "dialup",
        {
            "dialup.prefix": "9",
            "dialup.line": "extension",
            "dialup.phone1": "95555",
            "dialup.phone2": "02195556",
            "host_select": "backup",
        },
    )
    board = Board(INIT + dial(b"9,02195556", b"BUSY") + dial(b"9,95555", b"CONNECT 2400"))
    b = configured(params, board)
    assert b.connect_ms == 5000
    b.connect()
    assert b.number == "95555" and board.uart.done()


def test_dial_up_from_parameters_direct_line_ignores_the_prefix():
    params = terminal(
        "dialup", {"dialup.prefix": "0", "dialup.line": "direct", "dialup.phone1": "95555"}
    )
    board = Board(INIT + dial(b"95555", b"NO ANSWER"))
    b = configured(params, board)
    expect_error(ConnectFailed, ("dial-up: 95555: NO ANSWER",), b.connect)
    assert board.uart.done()


def test_gprs_from_parameters():
    params = terminal(
        "gprs",
        {
            "gprs.apn": "pos.apn",
            "gprs.user": "pos",
            "gprs.password": "secret",
            "gprs.host": "posp.example",
            "gprs.port": 5000,
            "gprs.backup_host": "10.1.1.9",
            "gprs.backup_port": 6000,
        },
    )
    attach = list(ATTACH)
    attach[3] = at(b'AT+CSTT="pos.apn","pos","secret"', b"OK")
    board = Board(
        SYNC
        + SIM_READY
        + REGISTERED
        + attach
        + [cipstart(PRIMARY, b"OK", b"CONNECT FAIL"), cipstart(BACKUP, b"OK", b"CONNECT OK")]
    )
    b = configured(params, board)
    assert board.options["gprs"] == {"connect_timeout_ms": 5000, "send_timeout_ms": 7000}
    b.connect()
    assert b.host == BACKUP and board.uart.done()


def test_ethernet_from_parameters_static_address_dns_defaults_to_the_gateway():
    params = terminal(
        "ethernet",
        {
            "ethernet.dhcp": False,
            "ethernet.ip": "192.168.1.50",
            "ethernet.mask": "255.255.255.0",
            "ethernet.gateway": "192.168.1.1",
            "ethernet.host": "127.0.0.1",
            "ethernet.port": 1,
        },
    )
    board = Board(nic=FakeNic(statuses=(3,)))
    b = configured(params, board)
    assert b.connect_ms == 5000 and b.io_ms == 7000
    expect_error(ConnectFailed, ("cannot connect to 127.0.0.1:1",), b.connect)
    static = ("192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1")
    assert ("ifconfig", static) in board.nic.calls
