# The Hayes modem driver on MicroPython against a scripted UART: bytes on the wire, every
# result code, timeouts, data mode and carrier loss, hang-up.
from fakes import FakeUART, at

from drivers import hayes
from drivers.hayes import (
    Modem,
    ModemBusy,
    ModemError,
    ModemTimeout,
    NoAnswer,
    NoCarrier,
    NoDialTone,
)

INIT = [at(b"ATZ", b"OK"), at(b"ATE0V1", b"OK"), at(b"AT&K0", b"OK")]


def modem(script, **options):
    uart = FakeUART(script)
    options.setdefault("command_timeout_ms", 50)
    options.setdefault("connect_timeout_ms", 100)
    options.setdefault("guard_ms", 10)
    return Modem(uart, **options), uart


def raises(error, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except error as exc:
        return exc
    raise AssertionError("%s not raised" % error.__name__)


def connected(**options):
    m, uart = modem([at(b"ATX4", b"OK"), at(b"ATDT95555", b"CONNECT 2400")], **options)
    m.dial("95555")
    return m, uart


def test_init_string_goes_out_as_configured():
    m, uart = modem(INIT)
    m.setup()
    assert uart.written == b"ATZ\rATE0V1\rAT&K0\r"
    assert uart.done()


def test_echo_after_atz_is_skipped():
    # ATZ restores a profile with echo on: the modem echoes the command before OK.
    m, uart = modem([(b"ATZ\r", b"ATZ\r\r\nOK\r\n"), (b"ATE0V1\r", b"ATE0V1\r\r\nOK\r\n")])
    m._init = (b"ATZ", b"ATE0V1")
    m.setup()
    assert uart.done()


def test_custom_init_string():
    m, uart = modem(
        [at(b"AT&F", b"OK"), at(b"ATE0V1S7=45", b"OK")], init=(b"AT&F", b"ATE0V1S7=45")
    )
    m.setup()
    assert uart.written == b"AT&F\rATE0V1S7=45\r"


def test_command_error_and_silence_are_named():
    m, _ = modem([at(b"AT&Q9", b"ERROR")])
    raises(ModemError, m.command, b"AT&Q9")
    m, _ = modem([at(b"ATZ")])
    raises(ModemTimeout, m.command, b"ATZ")


def test_dial_strings_direct_line_and_extension():
    assert hayes.dial_string("95555") == b"95555"
    assert hayes.dial_string("95555", "0") == b"0,95555"
    assert hayes.dial_string(b"02112345678", b"9", 2) == b"9,,02112345678"
    assert hayes.dial_string("95555", "") == b"95555"  # direct line
    for bad in ("9555-5", "", "95555 "):
        raises(ValueError, hayes.dial_string, bad)
    raises(ValueError, hayes.dial_string, "95555", "0w")


def test_dial_tone_then_connect_rate():
    m, uart = modem([at(b"ATX4", b"OK"), at(b"ATDT0,95555", b"CONNECT 2400")])
    assert m.dial("95555", outside_line="0") == 2400
    assert uart.written == b"ATX4\rATDT0,95555\r"
    assert m.connected and m.rate == 2400


def test_blind_dial_uses_atx3():
    m, uart = modem([at(b"ATX3", b"OK"), at(b"ATDT9,,95555", b"CONNECT 1200/ARQ")])
    assert m.dial("95555", outside_line="9", pauses=2, blind=True) == 1200
    assert uart.written == b"ATX3\rATDT9,,95555\r"


def test_connect_rates():
    assert hayes.parse_rate(b"CONNECT 2400") == 2400
    assert hayes.parse_rate(b"CONNECT 1200/ARQ") == 1200
    assert hayes.parse_rate(b"CONNECT 2400/V42BIS") == 2400
    assert hayes.parse_rate(b"CONNECT") == 300


def test_progress_lines_during_dial_are_ignored():
    m, _ = modem(
        [at(b"ATX4", b"OK"), at(b"ATDT95555", b"RINGING", b"CARRIER 2400", b"CONNECT 2400")]
    )
    assert m.dial("95555") == 2400


def test_every_failure_result_code_has_its_error():
    cases = (
        (b"BUSY", ModemBusy),
        (b"NO CARRIER", NoCarrier),
        (b"NO DIALTONE", NoDialTone),
        (b"NO DIAL TONE", NoDialTone),
        (b"NO ANSWER", NoAnswer),
        (b"ERROR", ModemError),
    )
    for code, error in cases:
        m, uart = modem([at(b"ATX4", b"OK"), at(b"ATDT95555", code)])
        exc = raises(error, m.dial, "95555")
        assert code.decode() in str(exc)
        assert not m.connected
        assert uart.done()


def test_all_errors_are_oserrors_under_one_base():
    for error in (ModemBusy, NoCarrier, NoDialTone, NoAnswer, ModemError, ModemTimeout):
        assert issubclass(error, hayes.HayesError) and issubclass(error, OSError)


def test_dial_timeout_aborts_the_call():
    # No result code: the driver gives up at the connect timeout and aborts the dial with a
    # character (CR), which the modem answers NO CARRIER.
    m, uart = modem([at(b"ATX4", b"OK"), at(b"ATDT95555"), at(b"", b"NO CARRIER")])
    raises(ModemTimeout, m.dial, "95555")
    assert uart.written == b"ATX4\rATDT95555\r\r"
    assert not m.connected


def test_data_right_after_connect_is_not_lost():
    # The far end's first bytes can arrive in the same read as CONNECT.
    m, uart = modem([at(b"ATX4", b"OK"), (b"ATDT95555\r", b"\r\nCONNECT 2400\r\n\x00\x05hello")])
    m.dial("95555")
    buf = bytearray(7)
    assert m.read_exactly(buf) == 7
    assert buf == b"\x00\x05hello"


def test_lf_of_connect_arriving_late_is_not_data():
    m, uart = modem([at(b"ATX4", b"OK"), (b"ATDT95555\r", b"\r\nCONNECT 2400\r")])
    m.dial("95555")
    uart.feed(b"\nabc")
    buf = bytearray(8)
    n = m.readinto(buf)
    assert buf[:n] == b"abc"


def test_write_and_readinto_in_data_mode():
    m, uart = connected()
    uart.script = [(b"\x00\x03ISO", None)]
    m.write(b"\x00\x03ISO")
    assert uart.written.endswith(b"ATDT95555\r\x00\x03ISO")
    uart.feed(b"reply")
    buf = bytearray(16)
    n = m.readinto(buf)
    assert buf[:n] == b"reply"


def test_binary_data_holding_result_code_text_passes_through():
    m, uart = connected()
    payload = b"\r\nOK\r\n\r\nNO CARRIE\x00\r\nBUSY\r\n"
    uart.feed(payload + b"!")
    buf = bytearray(len(payload) + 1)
    assert m.read_exactly(buf) == len(buf)
    assert buf == payload + b"!"


def test_read_timeout_is_named():
    m, _ = connected(read_timeout_ms=30)
    raises(ModemTimeout, m.readinto, bytearray(4))
    assert m.connected  # a slow host is not a lost carrier


def test_carrier_loss_after_data():
    m, uart = connected()
    uart.feed(b"last bytes\r\nNO CARRIER\r\n")
    buf = bytearray(32)
    n = m.readinto(buf)
    assert buf[:n] == b"last bytes"
    raises(NoCarrier, m.readinto, buf)
    assert not m.connected
    raises(NoCarrier, m.write, b"x")


def test_carrier_loss_split_across_reads():
    m, uart = connected()
    uart.feed(b"abc\r\nNO CA")
    buf = bytearray(32)
    n = m.readinto(buf)
    assert buf[:n] == b"abc"  # the possible start of NO CARRIER is held back
    uart.feed(b"RRIER\r\n")
    raises(NoCarrier, m.readinto, buf)


def test_held_back_bytes_are_released_when_quiet():
    # Data that ends like the start of NO CARRIER is delivered once nothing follows it.
    m, uart = connected()
    uart.feed(b"data\r\n")
    buf = bytearray(32)
    n = m.readinto(buf)
    assert buf[:n] == b"data"
    n = m.readinto(buf)
    assert buf[:n] == b"\r\n"


def test_hangup_escapes_then_ath():
    m, uart = connected()
    uart.script = [(b"+++", b"\r\nOK\r\n"), at(b"ATH", b"OK")]
    m.hangup()
    assert uart.written.endswith(b"ATDT95555\r+++ATH\r")
    assert not m.connected and m.rate == 0
    assert uart.done()


def test_hangup_when_the_escape_gets_no_answer():
    # The modem already dropped to command mode: +++ gets nothing; ATH still goes out.
    m, uart = connected()
    uart.script = [(b"+++", None), at(b"ATH", b"OK")]
    m.hangup()
    assert uart.written.endswith(b"+++ATH\r")


def test_hangup_after_carrier_loss_sends_only_ath():
    m, uart = connected()
    uart.feed(b"\r\nNO CARRIER\r\n")
    raises(NoCarrier, m.readinto, bytearray(4))
    uart.script = [at(b"ATH", b"OK")]
    m.hangup()
    assert uart.written.endswith(b"ATDT95555\rATH\r")


def test_commands_refused_in_data_mode():
    m, _ = connected()
    raises(hayes.HayesError, m.command, b"ATI")


def test_steady_state_heap_is_small():
    import gc

    gc.collect()
    before = gc.mem_alloc()
    m, uart = connected()
    gc.collect()
    used = gc.mem_alloc() - before
    assert used < 2048, used
