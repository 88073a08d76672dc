# Answers the dial-up modem and the GPRS/LTE modules should never send, and the named errors
# the drivers turn them into (a byte >= 0x80 in a line, a result without the part the driver
# reads, a number out of range), through the driver and through its bearer. Each of these
# escaped as UnicodeError, ValueError or IndexError on MicroPython, past the bearers (which
# map the drivers' OSErrors) and out of the engine. Found by `make fuzz` (docs/testing.md).
# mpy-heap: 200K
# (Compiling sim800.py and sim7600.py from source takes most of it; the terminal loads them
# precompiled.)
from fakes import FakeUART, at
from mptest import expect_error

from app.comm.dial import DialBearer
from app.comm.frames import ConnectFailed as CommConnectFailed
from app.comm.gprs import GprsBearer
from drivers.hayes import Modem, ModemBusy, ModemError
from drivers.sim800 import ConnectFailed, GprsError, LinkDown, Sim800, SimMissing
from drivers.sim7600 import Sim7600

INIT = [at(b"ATZ", b"OK"), at(b"ATE0V1", b"OK"), at(b"AT&K0", b"OK")]
SYNC = [(b"AT\r", b"\r\nOK\r\n"), at(b"ATE0", b"OK"), at(b"AT+CMEE=1", b"OK")]


def modem(script):
    return Modem(FakeUART(script), command_timeout_ms=60, connect_timeout_ms=100)


def module(cls, script):
    return cls(
        FakeUART(script),
        command_timeout_ms=60,
        connect_timeout_ms=60,
        send_timeout_ms=60,
        read_timeout_ms=60,
        attach_timeout_ms=60,
        boot_timeout_ms=400,
    )


# --- dial-up --------------------------------------------------------------------------------


def test_result_code_with_a_byte_above_0x7f():
    m = modem([at(b"ATX4", b"OK"), at(b"ATDT95555", b"BUSY\xff")])
    exc = expect_error(ModemBusy, ["BUSY\\xff"], m.dial, "95555")
    assert "BUSY" in str(exc)
    m = modem([at(b"ATX4", b"OK"), at(b"ATDT95555", b"ERROR \x80\x81")])
    expect_error(ModemError, ["ERROR \\x80\\x81"], m.dial, "95555")


def test_dial_bearer_names_a_garbled_busy():
    script = (
        INIT
        + [at(b"ATX4", b"OK"), at(b"ATDT95555", b"BUSY\xff")]
        + [at(b"ATX4", b"OK"), at(b"ATDT95556", b"NO ANSWER\xfe")]
    )
    bearer = DialBearer(modem(script), ("95555", "95556"))
    expect_error(CommConnectFailed, ["95555: BUSY\\xff", "95556: NO ANSWER\\xfe"], bearer.connect)


# --- SIM800 ---------------------------------------------------------------------------------


def test_cme_error_without_its_code():
    for answer in (b"+CME ERROR", b"+CME ERROR: \x80", b"+CME ERROR: ", b"+CME ERROR:x"):
        g = module(Sim800, [at(b"AT+CPIN?", answer)])
        exc = expect_error(GprsError, ["unexpected answer"], g.sim_ready)
        assert not isinstance(exc, SimMissing), answer
    # The code without the blank after the colon is still read.
    g = module(Sim800, [at(b"AT+CPIN?", b"+CME ERROR:10")])
    expect_error(SimMissing, ["CME 10"], g.sim_ready)


def test_sim_state_and_refusals_with_bytes_above_0x7f():
    g = module(Sim800, [at(b"AT+CPIN?", b"+CPIN: SIM \xb9IN", b"OK")])
    expect_error(GprsError, ["SIM \\xb9IN"], g.sim_ready)
    g = module(Sim800, [at(b"AT+CSQ", b"+CME ERROR: \x80")])
    expect_error(GprsError, ["AT+CSQ", "\\x80"], g.signal)


def test_iccid_line_without_a_colon():
    g = module(Sim800, [at(b"AT+CCID", b"+ICCID89860318640220133897", b"OK")])
    expect_error(GprsError, ["no ICCID"], g.iccid)
    g = module(Sim800, [at(b"AT+CCID", b"+ICCID 8986\xff", b"89860318640220133897", b"OK")])
    assert g.iccid() == "89860318640220133897"


def test_ip_address_with_a_stray_byte():
    attach = [
        at(b"AT+CIPSHUT", b"SHUT OK"),
        at(b"AT+CIPMUX=0", b"OK"),
        at(b"AT+CIPHEAD=1", b"OK"),
        at(b'AT+CSTT="CMNET","",""', b"OK"),
        at(b"AT+CIICR", b"OK"),
    ]
    for answer in (b"10.64.3.\xff", b"10.64.3.7\x80", b"10.64.3.700", b"10..3.7.", b"1.2.3.4.5"):
        g = module(Sim800, attach + [at(b"AT+CIFSR", answer)])
        expect_error(ConnectFailed, ["not an IP address"], g.attach, "CMNET")
        assert not g.attached
    g = module(Sim800, attach + [at(b"AT+CIFSR", b"10.64.3.7")])
    assert g.attach("CMNET") == "10.64.3.7"


def test_refused_connection_with_bytes_above_0x7f():
    g = module(Sim800, [at(b'AT+CIPSTART="TCP","h",1', b"+CME ERROR: 3\xff")])
    g.attached = True
    expect_error(ConnectFailed, ["\\xff"], g.open, "h", 1)


def test_gprs_bearer_maps_a_garbled_answer():
    g = module(Sim800, SYNC + [at(b"AT+CPIN?", b"+CPIN: \xb9", b"OK")])
    bearer = GprsBearer(g, "CMNET", (("h", 1),))
    expect_error(CommConnectFailed, ["GPRS: SIM locked: \\xb9"], bearer.connect)
    g = module(Sim800, SYNC + [at(b"AT+CPIN?", b"+CME ERROR")])
    bearer = GprsBearer(g, "CMNET", (("h", 1),))
    expect_error(CommConnectFailed, ["GPRS: unexpected answer"], bearer.connect)


# --- SIM7600 --------------------------------------------------------------------------------


def test_cipopen_error_out_of_range():
    for code in (b"-100", b"-1", b"12", b"4294967296"):
        g = module(Sim7600, [at(b'AT+CIPOPEN=0,"TCP","h",1', b"OK", b"+CIPOPEN: 0," + code)])
        g.attached = True
        expect_error(ConnectFailed, ["+CIPOPEN error", code.decode()], g.open, "h", 1)


def test_lte_answers_with_bytes_above_0x7f():
    setup = [
        at(b"AT+NETCLOSE", b"OK", b"+NETCLOSE: 0"),
        at(b'AT+CGDCONT=1,"IP","CMNET"', b"OK"),
        at(b"AT+CGAUTH=1,0", b"OK"),
        at(b"AT+CIPMODE=0", b"OK"),
        at(b"AT+CIPHEAD=1", b"OK"),
    ]
    g = module(Sim7600, setup + [at(b"AT+NETOPEN", b"+IP ERROR: Network \xfd", b"ERROR")])
    expect_error(ConnectFailed, ["Network \\xfd"], g.attach, "CMNET")
    netopen = at(b"AT+NETOPEN", b"OK", b"+NETOPEN: 0")
    for address in (b"10.64\xce.3.7", b"", b"10.64.3"):
        g = module(Sim7600, setup + [netopen, at(b"AT+IPADDR", b"+IPADDR: " + address, b"OK")])
        expect_error(ConnectFailed, ["not an IP address"], g.attach, "CMNET")
    g = module(Sim7600, [at(b'AT+CIPOPEN=0,"TCP","h",1', b"+IP ERROR: Connection \xba", b"ERROR")])
    g.attached = True
    expect_error(ConnectFailed, ["Connection \\xba"], g.open, "h", 1)
    g = module(Sim7600, [(b"AT+CIPSEND=0,3\r", b"\r\n+CIPERROR: \xff\r\n\r\nERROR\r\n")])
    g.attached = g.connected = True
    expect_error(LinkDown, ["+CIPERROR: \\xff"], g.send, b"abc")
