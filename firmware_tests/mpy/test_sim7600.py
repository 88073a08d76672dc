# The SIM7600 LTE driver on MicroPython against a scripted UART: the AT conversations byte
# for byte, every failure, two-step answers, URCs in the middle of exchanges, +IPD framing,
# the watchdog without a power-down message.
# mpy-heap: 200K
# (Compiling sim800.py and sim7600.py from source with the fakes does not fit in 110 KB; the
# terminal loads them precompiled: docs/drivers.md has the import figures.)
from fakes import FakeUART, at
from mptest import expect_error

from board.unix_sim import FakePin
from drivers import sim800
from drivers.sim800 import (
    ConnectFailed,
    GprsError,
    GprsTimeout,
    LinkDown,
    NotRegistered,
    SimMissing,
    SimPinRequired,
)
from drivers.sim7600 import Sim7600

NETCLOSED = at(b"AT+NETCLOSE", b"+IP ERROR: Network is already closed", b"ERROR")
SETUP = [
    at(b'AT+CGDCONT=1,"IP","CMNET"', b"OK"),
    at(b"AT+CGAUTH=1,0", b"OK"),
    at(b"AT+CIPMODE=0", b"OK"),
    at(b"AT+CIPHEAD=1", b"OK"),
]
NETOPEN = [
    at(b"AT+NETOPEN", b"OK", b"+NETOPEN: 0"),
    at(b"AT+IPADDR", b"+IPADDR: 10.64.3.7", b"OK"),
]
ATTACH = [NETCLOSED] + SETUP + NETOPEN
OPEN_CMD = b'AT+CIPOPEN=0,"TCP","127.0.0.1",5000'
OPEN = [at(OPEN_CMD, b"OK", b"+CIPOPEN: 0,0")]
CSQ = at(b"AT+CSQ", b"+CSQ: 18,0", b"OK")


def gprs(script, **options):
    uart = FakeUART(script, chunk=options.pop("chunk", None))
    for name in ("command_timeout_ms", "connect_timeout_ms", "send_timeout_ms"):
        options.setdefault(name, 60)
    options.setdefault("attach_timeout_ms", 60)
    options.setdefault("read_timeout_ms", 60)
    options.setdefault("boot_timeout_ms", 400)
    options.setdefault("pwrkey_ms", 5)
    options.setdefault("power_down_ms", 3000)
    return Sim7600(uart, **options), uart


def opened(**options):
    g, uart = gprs(ATTACH + OPEN, **options)
    g.attach("CMNET")
    g.open("127.0.0.1", 5000)
    return g, uart


def still_in_step(g, uart):
    # The next command gets its own answer: nothing of the failed exchange was left unread.
    uart.script = [CSQ]
    assert g.signal() == (18, 0)
    assert uart.done()


# --- SIM, network: Sim800's code, a SIM7600's answers ---------------------------------------


def test_sim_and_iccid_answers():
    g, _ = gprs([at(b"AT+CPIN?", b"+CPIN: READY", b"OK")])
    assert g.sim_ready() is True
    g, _ = gprs([at(b"AT+CPIN?", b"+CME ERROR: 10")])
    expect_error(SimMissing, ["no SIM"], g.sim_ready)
    g, _ = gprs([at(b"AT+CPIN?", b"+CPIN: SIM PIN", b"OK")])
    expect_error(SimPinRequired, ["SIM PIN"], g.sim_ready)
    g, _ = gprs([at(b"AT+CCID", b"+ICCID: 89860318640220133897", b"OK")])
    assert g.iccid() == "89860318640220133897"


def test_registered_on_lte_only_through_cereg():
    # An LTE-only data SIM: no circuit or GPRS registration, registered in EPS.
    g, uart = gprs(
        [
            at(b"AT+CREG?", b"+CREG: 0,0", b"OK"),
            at(b"AT+CEREG?", b"+CEREG: 0,1", b"OK"),
            at(b"AT+CGREG?", b"+CGREG: 0,0", b"OK"),
            at(b"AT+CEREG?", b"+CEREG: 0,5", b"OK"),
        ]
    )
    assert g.wait_registered(timeout_ms=500, poll_ms=5) == sim800.REG_HOME
    assert uart.done()


def test_not_registered_and_denied():
    g, _ = gprs([at(b"AT+CREG?", b"+CREG: 0,3", b"OK"), at(b"AT+CEREG?", b"+CEREG: 0,3", b"OK")])
    expect_error(NotRegistered, ["denied"], g.wait_registered, 5000, 5)
    searching = [at(b"AT+CREG?", b"+CREG: 0,2", b"OK"), at(b"AT+CEREG?", b"+CEREG: 0,2", b"OK")]
    g, _ = gprs(searching * 40)
    expect_error(NotRegistered, ["status 2"], g.wait_registered, 30, 5)


# --- packet context ---------------------------------------------------------------------------


def test_attach_conversation():
    g, uart = gprs(ATTACH)
    assert g.attach("CMNET") == "10.64.3.7"
    assert uart.written == (
        b'AT+NETCLOSE\rAT+CGDCONT=1,"IP","CMNET"\rAT+CGAUTH=1,0\rAT+CIPMODE=0\r'
        b"AT+CIPHEAD=1\rAT+NETOPEN\rAT+IPADDR\r"
    )
    assert g.attached and g.ip == "10.64.3.7" and uart.done()


def test_attach_with_credentials_password_first():
    auth = at(b'AT+CGAUTH=1,1,"secret","pos01"', b"OK")
    g, uart = gprs([NETCLOSED, SETUP[0], auth] + SETUP[2:] + NETOPEN)
    g.attach("CMNET", "pos01", "secret")
    assert g.attached and uart.done()
    expect_error(ValueError, ["quotes"], g.attach, "CMNET", 'po"s', "")


def test_attach_waits_for_a_network_left_open_to_close():
    # The terminal restarted, the module did not: NETCLOSE answers OK, then the result.
    g, uart = gprs([at(b"AT+NETCLOSE", b"OK", b"+NETCLOSE: 0")] + SETUP + NETOPEN)
    g.attach("CMNET")
    assert g.attached and uart.done()
    g, uart = gprs([at(b"AT+NETCLOSE", b"OK")] + SETUP)
    expect_error(GprsTimeout, ["+NETCLOSE"], g.attach, "CMNET")
    assert len(uart.script) == len(SETUP)  # nothing sent while it is still closing


def test_netopen_failures():
    for answer in ([b"OK", b"+NETOPEN: 1"], [b"ERROR"], [b"+CME ERROR: 30"]):
        g, uart = gprs([NETCLOSED] + SETUP + [at(b"AT+NETOPEN", *answer)])
        expect_error(ConnectFailed, ["CMNET", "not activated"], g.attach, "CMNET")
        assert not g.attached
        still_in_step(g, uart)
    g, _ = gprs([NETCLOSED] + SETUP + [at(b"AT+NETOPEN", b"OK")])
    expect_error(GprsTimeout, ["+NETOPEN"], g.attach, "CMNET")
    g, _ = gprs([NETCLOSED] + SETUP + [NETOPEN[0], at(b"AT+IPADDR")])
    expect_error(GprsTimeout, ["AT+IPADDR"], g.attach, "CMNET")


def test_netopen_already_opened_is_fine():
    already = at(b"AT+NETOPEN", b"+IP ERROR: Network is already opened", b"ERROR")
    g, uart = gprs([NETCLOSED] + SETUP + [already, NETOPEN[1]])
    assert g.attach("CMNET") == "10.64.3.7"


# --- TCP open ---------------------------------------------------------------------------------


def test_open_conversation():
    g, uart = opened()
    assert g.connected and g.failures == 0
    assert uart.written.endswith(b'AT+CIPOPEN=0,"TCP","127.0.0.1",5000\r')


def test_open_error_codes_are_named():
    for code, words in ((1, "network failure"), (10, "timeout"), (11, "DNS"), (99, "?")):
        g, uart = gprs(ATTACH + [at(OPEN_CMD, b"OK", b"+CIPOPEN: 0,%d" % code)])
        g.attach("CMNET")
        exc = expect_error(ConnectFailed, [words, "error %d" % code], g.open, "127.0.0.1", 5000)
        assert not g.connected and g.failures == 1, exc
        still_in_step(g, uart)


def test_open_refused_at_once_network_not_opened():
    # Result line then ERROR: the context is gone, the next open asks for attach().
    g, uart = gprs(ATTACH + [at(OPEN_CMD, b"+CIPOPEN: 0,2", b"ERROR")])
    g.attach("CMNET")
    expect_error(ConnectFailed, ["network not opened"], g.open, "127.0.0.1", 5000)
    assert not g.attached
    expect_error(LinkDown, ["attach"], g.open, "127.0.0.1", 5000)
    still_in_step(g, uart)


def test_open_on_a_link_left_open_closes_and_retries():
    g, uart = gprs(
        ATTACH
        + [
            at(OPEN_CMD, b"+IP ERROR: Connection is already created", b"ERROR"),
            at(b"AT+CIPCLOSE=0", b"OK", b"+CIPCLOSE: 0,0"),
        ]
        + OPEN
    )
    g.attach("CMNET")
    g.open("127.0.0.1", 5000)
    assert g.connected and uart.done()


def test_open_timeout_and_plain_error():
    g, _ = gprs(ATTACH + [at(OPEN_CMD, b"OK")])
    expect_error(LinkDown, ["attach"], g.open, "127.0.0.1", 5000)
    g.attach("CMNET")
    expect_error(GprsTimeout, ["+CIPOPEN"], g.open, "127.0.0.1", 5000)
    assert g.failures == 1 and not g.connected
    g, uart = gprs(ATTACH + [at(OPEN_CMD, b"+IP ERROR: Invalid parameter", b"ERROR")])
    g.attach("CMNET")
    expect_error(ConnectFailed, ["Invalid parameter"], g.open, "127.0.0.1", 5000)
    still_in_step(g, uart)


# --- send -------------------------------------------------------------------------------------


def test_send_conversation_bytes():
    g, uart = opened()
    data = b"\x00\x04\r\nOK"
    uart.script = [(b"AT+CIPSEND=0,6\r", b"\r\n>"), (data, b"\r\nOK\r\n\r\n+CIPSEND: 0,6,6\r\n")]
    assert g.send(data) == 6
    assert uart.written.endswith(b"AT+CIPSEND=0,6\r" + data) and uart.done()


def test_large_send_is_split_into_1460_byte_pieces():
    g, uart = opened()
    data = bytes(range(256)) * 8
    uart.script = [
        (b"AT+CIPSEND=0,1460\r", b"\r\n> "),
        (data[:1460], b"\r\nOK\r\n\r\n+CIPSEND: 0,1460,1460\r\n"),
        (b"AT+CIPSEND=0,588\r", b"\r\n> "),
        (data[1460:], b"\r\nOK\r\n\r\n+CIPSEND: 0,588,588\r\n"),
    ]
    assert g.send(data) == 2048 and uart.done()


def test_send_refused_before_the_prompt():
    g, uart = opened()
    uart.script = [at(b"AT+CIPSEND=0,2", b"+CIPERROR: 4", b"ERROR")]
    expect_error(LinkDown, ["+CIPERROR: 4"], g.send, b"hi")
    assert not g.connected and g.failures == 1
    expect_error(LinkDown, ["closed"], g.send, b"hi")  # nothing more goes out
    still_in_step(g, uart)


def test_send_failures_after_the_data():
    answers = (
        b"\r\nOK\r\n\r\n+CIPSEND: 0,2,-1\r\n",  # disconnected
        b"\r\nOK\r\n\r\n+CIPSEND: 0,2,1\r\n",  # short: the link is not usable
        b"\r\n+CIPERROR: 2\r\n\r\nERROR\r\n",
    )
    for answer in answers:
        g, uart = opened()
        uart.script = [(b"AT+CIPSEND=0,2\r", b"\r\n>"), (b"hi", answer)]
        expect_error(LinkDown, [], g.send, b"hi")
        assert not g.connected
        still_in_step(g, uart)


def test_send_timeouts():
    g, uart = opened()
    uart.script = [(b"AT+CIPSEND=0,2\r", None)]
    expect_error(GprsTimeout, ["prompt"], g.send, b"hi")
    g, uart = opened()
    uart.script = [(b"AT+CIPSEND=0,2\r", b"\r\n>"), (b"hi", b"\r\nOK\r\n")]
    expect_error(GprsTimeout, ["+CIPSEND"], g.send, b"hi")
    assert g.failures == 1


def test_link_closing_during_send_still_feeds_the_prompt():
    # +IPCLOSE arrives while the module already gives the prompt: it takes the n bytes as
    # data whatever happens, so the driver sends them and reads the verdict.
    g, uart = opened()
    uart.script = [
        (b"AT+CIPSEND=0,4\r", b"\r\n+IPCLOSE: 0,1\r\n\r\n>"),
        (b"ping", b"\r\nOK\r\n\r\n+CIPSEND: 0,4,-1\r\n"),
    ]
    expect_error(LinkDown, ["-1 of 4"], g.send, b"ping")
    assert uart.written.endswith(b"ping")
    still_in_step(g, uart)


def test_host_closing_after_taking_the_data_is_not_a_send_failure():
    # The reply and the close overtake the +CIPSEND report: the host has the request.
    g, uart = opened()
    uart.script = [
        (b"AT+CIPSEND=0,3\r", b"\r\n>"),
        (b"req", b"\r\nOK\r\n\r\n+IPD5\r\nreply\r\n+IPCLOSE: 0,1\r\n\r\n+CIPSEND: 0,3,3\r\n"),
    ]
    assert g.send(b"req") == 3
    buf = bytearray(8)
    n = g.readinto(buf)
    assert buf[:n] == b"reply"
    expect_error(LinkDown, ["closed"], g.readinto, buf)


# --- receive ----------------------------------------------------------------------------------


def test_receive_binary_payload_that_looks_like_answers():
    g, uart = opened()
    payload = b"\x00\x1e\r\nOK\r\n+IPD3\r\n+IPCLOSE: 0,1\r\nERROR\r\n"
    uart.feed(b"\r\nRECV FROM:127.0.0.1:5000\r\n+IPD%d\r\n" % len(payload) + payload)
    buf = bytearray(64)
    n = g.readinto(buf)
    assert buf[:n] == payload
    assert g.connected
    still_in_step(g, uart)


def test_byte_at_a_time_line_splits_cr_from_lf():
    # Every read returns one byte: the header's LF comes after its CR was taken as the
    # line end; it must not become the first byte of data.
    g, uart = opened(chunk=1)
    uart.feed(b"\r\n+IPD4\r\n\n\r\x00A\r\n+IPD1\r\nB")
    buf = bytearray(8)
    got = 0
    while got < 5:
        got += g.readinto(memoryview(buf)[got:])
    assert buf[:got] == b"\n\r\x00AB"


def test_data_arriving_in_the_middle_of_a_command_is_kept():
    g, uart = opened()
    uart.script = [(b"AT+CSQ\r", b"\r\n+IPD4\r\n\x01\x02\r\n\r\n+CSQ: 20,0\r\n\r\nOK\r\n")]
    assert g.signal() == (20, 0)
    buf = bytearray(8)
    n = g.readinto(buf)
    assert buf[:n] == b"\x01\x02\r\n"


def test_peer_close_mid_answer_reads_the_data_then_link_down():
    g, uart = opened()
    uart.feed(b"\r\n+IPD5\r\nhello\r\n+IPCLOSE: 0,1\r\n")
    buf = bytearray(3)
    assert g.readinto(buf) == 3 and buf == b"hel"
    assert g.readinto(buf) == 2 and buf[:2] == b"lo"
    expect_error(LinkDown, ["closed"], g.readinto, buf)
    expect_error(LinkDown, ["closed"], g.send, b"x")


def test_payload_cut_short_is_a_timeout():
    g, uart = opened()
    uart.feed(b"\r\n+IPD10\r\n01234")
    expect_error(GprsTimeout, ["5 of 10"], g.readinto, bytearray(16))


def test_read_timeout_is_named():
    g, _ = opened()
    expect_error(GprsTimeout, ["no data"], g.readinto, bytearray(4))


def test_receive_buffer_overflow_keeps_the_stream_in_step():
    g, uart = opened(rx_size=8)
    uart.feed(b"\r\n+IPD12\r\n0123456789AB\r\n+IPD2\r\nok")
    buf = bytearray(16)
    n = g.readinto(buf)
    assert buf[:n] == b"01234567"
    expect_error(GprsError, ["receive buffer"], g.readinto, buf)
    n = g.readinto(buf)
    assert buf[:n] == b"ok"


# --- network lost, close, watchdog ----------------------------------------------------------


def test_network_closed_urc_in_the_middle_of_an_exchange():
    g, uart = opened()
    uart.script = [at(b"AT+CSQ", b"+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY", b"+CSQ: 20,0", b"OK")]
    assert g.signal() == (20, 0)
    assert not g.connected and not g.attached
    expect_error(LinkDown, [], g.send, b"x")
    expect_error(LinkDown, ["attach"], g.open, "127.0.0.1", 5000)
    uart.script = list(ATTACH)
    assert g.recover() == "reattach"
    assert g.attached and uart.done()


def test_close_and_already_closed():
    g, uart = opened()
    uart.script = [at(b"AT+CIPCLOSE=0", b"OK", b"+CIPCLOSE: 0,0")]
    g.close()
    assert not g.connected and uart.done()
    g.close()  # already closed here: nothing sent
    g, uart = opened()
    uart.script = [at(b"AT+CIPCLOSE=0", b"+CIPCLOSE: 0,4", b"ERROR")]  # the module had
    g.close()
    assert not g.connected
    still_in_step(g, uart)


def test_boot_chatter_is_ignored():
    g, _ = gprs([at(b"AT+CSQ", b"RDY", b"+CFUN: 1", b"SMS DONE", b"PB DONE", b"+CSQ: 9,0", b"OK")])
    assert g.signal() == (9, 0)


def test_power_cycle_of_a_running_module_waits_until_it_stops_answering():
    pin = FakePin(1)
    boot = [(b"AT\r", b"\r\nOK\r\n"), at(b"ATE0", b"OK"), at(b"AT+CMEE=1", b"OK")]
    g, uart = gprs(
        [(b"AT\r", b"\r\nOK\r\n"), (b"AT\r", b"\r\nOK\r\n"), (b"AT\r", None)] + boot,
        pwrkey=pin,
    )
    g.power_cycle()
    assert pin.levels() == [1, 0, 1, 0, 1]  # released, press (off), release, press (on)
    assert uart.done()


def test_power_cycle_of_a_module_that_was_off_presses_once():
    pin = FakePin(0)
    g, uart = gprs(
        [(b"AT\r", None), (b"AT\r", b"\r\nOK\r\n"), at(b"ATE0", b"OK"), at(b"AT+CMEE=1", b"OK")],
        pwrkey=pin,
        pwrkey_active=1,
    )
    g.power_cycle()
    assert pin.levels() == [0, 1, 0]
    assert uart.done()


def test_power_cycle_of_a_module_that_never_stops_answering():
    g, _ = gprs([(b"AT\r", b"\r\nOK\r\n")] * 20, pwrkey=FakePin(1), power_down_ms=700)
    expect_error(GprsTimeout, ["still answers"], g.power_cycle)


def test_steady_state_heap():
    import gc

    gc.collect()
    before = gc.mem_alloc()
    g, uart = opened()
    gc.collect()
    used = gc.mem_alloc() - before
    assert used < 4096, used
