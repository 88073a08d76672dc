# The SIM800 GPRS driver on MicroPython against a scripted UART: the AT conversations byte
# for byte, every failure, URCs in the middle of exchanges, +IPD framing, the watchdog.
# mpy-heap: 200K
# (Compiling sim800.py from source takes ~88 KB of heap on its own; the terminal loads it
# precompiled: importing the .mpy needs ~23 KB from a file, less from ROMFS.)
from fakes import FakeUART, at

from board.unix_sim import FakePin
from drivers import sim800
from drivers.sim800 import (
    ConnectFailed,
    GprsError,
    GprsTimeout,
    LinkDown,
    NotRegistered,
    Sim800,
    SimMissing,
    SimPinRequired,
)

ATTACH = [
    at(b"AT+CIPSHUT", b"SHUT OK"),
    at(b"AT+CIPMUX=0", b"OK"),
    at(b"AT+CIPHEAD=1", b"OK"),
    at(b'AT+CSTT="CMNET","",""', b"OK"),
    at(b"AT+CIICR", b"OK"),
    at(b"AT+CIFSR", b"10.64.3.7"),
]
OPEN = [at(b'AT+CIPSTART="TCP","127.0.0.1",5000', b"OK", b"CONNECT OK")]


def gprs(script, **options):
    uart = FakeUART(script)
    for name in ("command_timeout_ms", "connect_timeout_ms", "send_timeout_ms"):
        options.setdefault(name, 60)
    options.setdefault("read_timeout_ms", 60)
    options.setdefault("boot_timeout_ms", 400)
    options.setdefault("pwrkey_ms", 5)
    options.setdefault("power_down_ms", 60)
    return Sim800(uart, **options), uart


def raises(error, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except error as exc:
        return exc
    raise AssertionError("%s not raised" % error.__name__)


def opened(**options):
    g, uart = gprs(ATTACH + OPEN, **options)
    g.attach("CMNET")
    g.open("127.0.0.1", 5000)
    return g, uart


def test_sync_retries_until_ok_then_echo_off():
    # A module still booting ignores the first AT (autobaud); it echoes until ATE0.
    g, uart = gprs(
        [
            (b"AT\r", None),
            (b"AT\r", b"AT\r\r\nOK\r\n"),
            at(b"ATE0", b"OK"),
            at(b"AT+CMEE=1", b"OK"),
        ]
    )
    g.sync()
    assert uart.written == b"AT\rAT\rATE0\rAT+CMEE=1\r"
    assert uart.done()


def test_sync_gives_up_with_gprs_timeout():
    g, _ = gprs([(b"AT\r", None)] * 10, boot_timeout_ms=100)
    raises(GprsTimeout, g.sync)


def test_sim_states():
    g, _ = gprs([at(b"AT+CPIN?", b"+CPIN: READY", b"OK")])
    assert g.sim_ready() is True
    cases = (
        ([b"+CPIN: NOT INSERTED", b"OK"], SimMissing),
        ([b"+CME ERROR: 10"], SimMissing),
        ([b"+CME ERROR: 13"], SimMissing),
        ([b"ERROR"], SimMissing),
        ([b"+CPIN: SIM PIN", b"OK"], SimPinRequired),
        ([b"+CPIN: SIM PUK", b"OK"], SimPinRequired),
        ([b"+CME ERROR: 11"], SimPinRequired),
    )
    for answer, error in cases:
        g, _ = gprs([at(b"AT+CPIN?", *answer)])
        raises(error, g.sim_ready)
    g, _ = gprs([at(b"AT+CPIN?")])
    raises(GprsTimeout, g.sim_ready)


def test_iccid_sim800_and_sim7600_forms():
    g, _ = gprs([at(b"AT+CCID", b"89860318640220133897", b"OK")])
    assert g.iccid() == "89860318640220133897"
    g, _ = gprs([at(b"AT+CCID", b"+ICCID: 8986031864022013389F", b"OK")])
    assert g.iccid() == "8986031864022013389F"


def test_signal_and_placement_figures():
    g, uart = gprs([at(b"AT+CSQ", b"+CSQ: 18,0", b"OK")])
    assert g.signal() == (18, 0)
    assert uart.written == b"AT+CSQ\r"
    assert sim800.signal_dbm(18) == -77
    assert sim800.signal_dbm(0) == -113 and sim800.signal_dbm(31) == -51
    assert sim800.signal_dbm(99) is None
    bars = [sim800.signal_bars(r) for r in (99, 0, 1, 2, 9, 10, 14, 15, 19, 20, 24, 25, 31)]
    assert bars == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_registration_home_roaming_and_wait():
    g, _ = gprs([at(b"AT+CREG?", b"+CREG: 0,5", b"OK")])
    assert g.registration() == sim800.REG_ROAMING
    g, uart = gprs(
        [
            at(b"AT+CREG?", b"+CREG: 0,2", b"OK"),
            at(b"AT+CREG?", b"+CREG: 0,1", b"OK"),
            at(b"AT+CGREG?", b"+CGREG: 0,1", b"OK"),
        ]
    )
    assert g.wait_registered(timeout_ms=500, poll_ms=5) == sim800.REG_HOME
    assert uart.written == b"AT+CREG?\rAT+CREG?\rAT+CGREG?\r"


def test_registration_denied_is_immediate():
    g, _ = gprs([at(b"AT+CREG?", b"+CREG: 0,3", b"OK")])
    exc = raises(NotRegistered, g.wait_registered, 5000, 5)
    assert "denied" in str(exc)


def test_registration_searching_until_deadline():
    g, _ = gprs([at(b"AT+CREG?", b'+CREG: 2,2,"1A2B","0C3D"', b"OK")] * 50)
    exc = raises(NotRegistered, g.wait_registered, 30, 5)
    assert "status 2" in str(exc)


def test_attach_conversation():
    g, uart = gprs(ATTACH)
    assert g.attach("CMNET") == "10.64.3.7"
    assert uart.written == (
        b'AT+CIPSHUT\rAT+CIPMUX=0\rAT+CIPHEAD=1\rAT+CSTT="CMNET","",""\rAT+CIICR\rAT+CIFSR\r'
    )
    assert g.attached and g.ip == "10.64.3.7"


def test_attach_with_user_and_refusals():
    script = ATTACH[:3] + [at(b'AT+CSTT="pos.apn","user","pw"', b"OK"), at(b"AT+CIICR", b"ERROR")]
    g, _ = gprs(script)
    raises(ConnectFailed, g.attach, "pos.apn", "user", "pw")
    assert not g.attached
    raises(ValueError, gprs([])[0].attach, 'bad"apn')


def test_open_connect_ok():
    g, uart = opened()
    assert g.connected
    assert uart.written.endswith(b'AT+CIPSTART="TCP","127.0.0.1",5000\r')


def test_open_connect_fail_and_state_line():
    g, _ = gprs(
        ATTACH
        + [at(b'AT+CIPSTART="TCP","127.0.0.1",5000', b"OK", b"STATE: TCP CLOSED", b"CONNECT FAIL")]
    )
    g.attach("CMNET")
    raises(ConnectFailed, g.open, "127.0.0.1", 5000)
    assert not g.connected and g.failures == 1


def test_open_already_connect_closes_and_retries():
    cmd = b'AT+CIPSTART="TCP","127.0.0.1",5000'
    g, uart = gprs(
        ATTACH
        + [
            at(cmd, b"ERROR", b"ALREADY CONNECT"),
            at(b"AT+CIPCLOSE", b"CLOSE OK"),
            at(cmd, b"OK", b"CONNECT OK"),
        ]
    )
    g.attach("CMNET")
    g.open("127.0.0.1", 5000)
    assert g.connected and uart.done()


def test_open_timeout_and_not_attached():
    g, _ = gprs(ATTACH + [at(b'AT+CIPSTART="TCP","127.0.0.1",5000', b"OK")])
    raises(LinkDown, g.open, "127.0.0.1", 5000)  # attach() first
    g.attach("CMNET")
    raises(GprsTimeout, g.open, "127.0.0.1", 5000)


def test_send_conversation_bytes():
    g, uart = opened()
    uart.script = [(b"AT+CIPSEND=6\r", b"\r\n> "), (b"\x00\x04ABCD", b"\r\nSEND OK\r\n")]
    assert g.send(b"\x00\x04ABCD") == 6
    assert uart.written.endswith(b"AT+CIPSEND=6\r\x00\x04ABCD")


def test_send_fail_and_closed_are_link_down():
    g, uart = opened()
    uart.script = [(b"AT+CIPSEND=2\r", b"\r\n> "), (b"hi", b"\r\nSEND FAIL\r\n")]
    raises(LinkDown, g.send, b"hi")
    assert not g.connected
    g, uart = opened()
    uart.script = [(b"AT+CIPSEND=2\r", b"\r\nCLOSED\r\n\r\nERROR\r\n")]
    raises(LinkDown, g.send, b"hi")
    raises(LinkDown, g.send, b"hi")  # nothing more goes out once closed
    assert uart.done()


def test_large_send_is_split_into_1460_byte_pieces():
    g, uart = opened()
    data = bytes(range(256)) * 8  # 2048 bytes
    uart.script = [
        (b"AT+CIPSEND=1460\r", b"\r\n> "),
        (data[:1460], b"\r\nSEND OK\r\n"),
        (b"AT+CIPSEND=588\r", b"\r\n> "),
        (data[1460:], b"\r\nSEND OK\r\n"),
    ]
    assert g.send(data) == 2048
    assert uart.done()


def test_receive_ipd_frames_with_binary_payload():
    g, uart = opened()
    payload = b"\x00\x0a\r\nOK\r\nCLOSED"  # looks like result codes: it is data
    uart.feed(b"\r\n+IPD,%d:" % len(payload) + payload)
    buf = bytearray(64)
    n = g.readinto(buf)
    assert buf[:n] == payload
    assert g.connected


def test_ipd_split_across_reads():
    g, uart = opened()
    uart.feed(b"\r\n+IPD,10:01234")
    buf = bytearray(64)
    # The payload's second half is late; readinto waits for it (within the deadline).
    g._channel.fill()
    uart.feed(b"56789")
    n = g.readinto(buf)
    assert buf[:n] == b"0123456789"


def test_data_arriving_during_a_command_is_kept():
    # The host's reply comes in the middle of the SEND OK exchange.
    g, uart = opened()
    uart.script = [
        (b"AT+CIPSEND=3\r", b"\r\n> "),
        (b"req", b"\r\n+IPD,5:reply\r\nSEND OK\r\n"),
    ]
    g.send(b"req")
    buf = bytearray(8)
    n = g.readinto(buf)
    assert buf[:n] == b"reply"


def test_closed_urc_after_data_reads_data_then_link_down():
    g, uart = opened()
    uart.feed(b"\r\n+IPD,4:last\r\nCLOSED\r\n")
    buf = bytearray(8)
    n = g.readinto(buf)
    assert buf[:n] == b"last"
    raises(LinkDown, g.readinto, buf)


def test_pdp_deact_urc_in_the_middle_of_an_exchange():
    g, uart = opened()
    uart.script = [at(b"AT+CSQ", b"+PDP: DEACT", b"+CSQ: 20,0", b"OK")]
    assert g.signal() == (20, 0)
    assert not g.connected and not g.attached
    raises(LinkDown, g.send, b"x")


def test_boot_chatter_is_ignored():
    g, uart = gprs([at(b"AT+CSQ", b"RDY", b"+CFUN: 1", b"Call Ready", b"+CSQ: 9,0", b"OK")])
    assert g.signal() == (9, 0)


def test_read_timeout_is_named():
    g, _ = opened()
    raises(GprsTimeout, g.readinto, bytearray(4))


def test_receive_buffer_overflow_is_reported_after_the_data():
    g, uart = gprs(ATTACH + OPEN, rx_size=8)
    g.attach("CMNET")
    g.open("127.0.0.1", 5000)
    uart.feed(b"\r\n+IPD,12:0123456789AB\r\n+IPD,2:ok")
    buf = bytearray(16)
    n = g.readinto(buf)
    assert buf[:n] == b"01234567"
    raises(GprsError, g.readinto, buf)
    n = g.readinto(buf)
    assert buf[:n] == b"ok"  # the stream is still in step


def test_close():
    g, uart = opened()
    uart.script = [at(b"AT+CIPCLOSE", b"CLOSE OK")]
    g.close()
    assert not g.connected and uart.done()
    g.close()  # already closed: nothing sent


def test_power_cycle_presses_pwrkey_twice_when_running():
    pin = FakePin(1)
    g, uart = gprs([at(b"AT", b"OK"), at(b"ATE0", b"OK"), at(b"AT+CMEE=1", b"OK")], pwrkey=pin)
    uart.feed(b"\r\nNORMAL POWER DOWN\r\n")
    g.power_cycle()
    assert pin.levels() == [1, 0, 1, 0, 1]  # released, press, release, press, release
    assert uart.done()


def test_power_cycle_inverted_pwrkey_and_module_that_was_off():
    pin = FakePin(0)
    g, uart = gprs(
        [at(b"AT", b"OK"), at(b"ATE0", b"OK"), at(b"AT+CMEE=1", b"OK")],
        pwrkey=pin,
        pwrkey_active=1,
    )
    g.power_cycle()  # no NORMAL POWER DOWN: the press started it
    assert pin.levels() == [0, 1, 0]


def test_power_cycle_without_pin():
    g, _ = gprs([])
    raises(GprsError, g.power_cycle)


def test_recover_reattaches_first_then_power_cycles():
    pin = FakePin(1)
    g, uart = gprs(ATTACH, pwrkey=pin, power_cycle_after=2)
    g.attach("CMNET")
    uart.script = [at(b'AT+CIPSTART="TCP","127.0.0.1",5000', b"OK", b"CONNECT FAIL")]
    raises(ConnectFailed, g.open, "127.0.0.1", 5000)
    uart.script = list(ATTACH)
    assert g.recover() == "reattach"
    assert pin.levels() == [1]
    uart.script = [at(b'AT+CIPSTART="TCP","127.0.0.1",5000', b"OK", b"CONNECT FAIL")]
    raises(ConnectFailed, g.open, "127.0.0.1", 5000)
    assert g.failures == 2
    uart.script = [
        (b"AT\r", b"\r\nOK\r\n"),
        at(b"ATE0", b"OK"),
        at(b"AT+CMEE=1", b"OK"),
        at(b"AT+CPIN?", b"+CPIN: READY", b"OK"),
        at(b"AT+CREG?", b"+CREG: 0,1", b"OK"),
        at(b"AT+CGREG?", b"+CGREG: 0,1", b"OK"),
    ] + ATTACH
    uart.feed(b"\r\nNORMAL POWER DOWN\r\n")
    assert g.recover() == "power_cycle"
    assert pin.levels() == [1, 0, 1, 0, 1]
    assert g.failures == 0 and g.attached and uart.done()


def test_steady_state_heap():
    import gc

    gc.collect()
    before = gc.mem_alloc()
    g, uart = opened()
    gc.collect()
    used = gc.mem_alloc() - before
    assert used < 4096, used
