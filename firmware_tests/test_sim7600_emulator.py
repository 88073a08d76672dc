"""The real SIM7600 driver, on MicroPython, against the SIM7600 emulator over TCP, with a real
TCP host behind the emulated module (the echo and hang-up hosts of test_emulators.py).

Each test runs a device snippet on the MicroPython unix port that reaches the emulator
through board.unix_sim.SocketUART and prints one JSON object of what it saw. Everything is
bounded by timeouts; nothing asserts a time.
"""

import socket
import threading

import pytest
from test_emulators import TcpHost, device

from hostlib.emulators import Sim7600Emulator


@pytest.fixture
def echo_host():
    host = TcpHost()
    yield host
    host.close()


@pytest.fixture
def hangup_host():
    host = TcpHost(close_after_reply=True)
    yield host
    host.close()


PRELUDE = """
import json
from board.unix_sim import SocketUART
from drivers import sim800, sim7600
uart = SocketUART("127.0.0.1", %d, timeout_ms=2000)
gprs = sim7600.Sim7600(
    uart, boot_timeout_ms=3000, attach_timeout_ms=3000, connect_timeout_ms=3000,
    read_timeout_ms=3000, power_cycle_after=4, rx_size=%d,
)
out = {}
def named(fn, *args):
    try:
        return fn(*args)
    except sim800.GprsError as exc:
        return type(exc).__name__
def echo(data):
    gprs.send(data)
    buf = bytearray(len(data))
    got = 0
    while got < len(data):
        got += gprs.readinto(memoryview(buf)[got:], 3000)
    return buf == data
"""


def prelude(lte, rx_size=1024):
    return PRELUDE % (lte.port, rx_size)


def test_open_send_receive_close_with_binary_data(echo_host):
    with Sim7600Emulator(csq=(18, 0)) as lte:
        out = device(
            # The 2,048-byte echo comes back while the second piece is being sent.
            prelude(lte, rx_size=4096)
            + """
gprs.sync()
out["sim"] = gprs.sim_ready()
out["iccid"] = gprs.iccid()
rssi, ber = gprs.signal()
out["signal"] = [rssi, sim800.signal_dbm(rssi), sim800.signal_bars(rssi)]
out["registered"] = gprs.wait_registered(5000, 100)
out["ip"] = gprs.attach("CMNET", "pos01", "secret")
gprs.open("127.0.0.1", %d)
# An ISO 8583 message may hold anything: bytes that read as answers and URCs too.
request = bytes(range(256)) + b"\\r\\nOK\\r\\n+IPD3\\r\\n+IPCLOSE: 0,1\\r\\nERROR\\r\\n"
out["echoed"] = echo(request)
out["long echoed"] = echo(bytes(range(256)) * 8)  # 2,048 bytes: two sends, several +IPD
gprs.close()
out["connected"] = gprs.connected
print(json.dumps(out))
"""
            % echo_host.port
        )
        assert out == {
            "sim": True,
            "iccid": "89860318640220133897",
            "signal": [18, -77, 3],
            "registered": 1,
            "ip": "10.64.3.7",
            "echoed": True,
            "long echoed": True,
            "connected": False,
        }
        assert lte.apn_used == ("CMNET", "pos01", "secret")
        assert 'AT+CIPOPEN=0,"TCP","127.0.0.1",%d' % echo_host.port in lte.commands
        assert lte.commands[-1] == "AT+CIPCLOSE=0"
        assert not lte.tcp_connected
    tricky = b"\r\nOK\r\n+IPD3\r\n+IPCLOSE: 0,1\r\nERROR\r\n"
    assert bytes(echo_host.received) == bytes(range(256)) + tricky + bytes(range(256)) * 8


def test_connect_failures_are_named_and_recovered(echo_host):
    refused = socket.create_server(("127.0.0.1", 0))
    dead_port = refused.getsockname()[1]
    refused.close()  # nothing listens there now
    with Sim7600Emulator() as lte:
        lte.connect_fail = True
        out = device(
            prelude(lte)
            + """
gprs.sync()
gprs.attach("CMNET")
out["injected"] = named(gprs.open, "127.0.0.1", %d)
def reason(fn, *args):
    try:
        fn(*args)
    except sim800.ConnectFailed as exc:
        return str(exc)
out["refused"] = reason(gprs.open, "127.0.0.1", %d)
out["failures"] = gprs.failures
out["recover"] = gprs.recover()
gprs.open("127.0.0.1", %d)
out["after"] = [gprs.connected, gprs.failures, echo(b"\\x00\\x05hello")]
print(json.dumps(out))
"""
            % (echo_host.port, dead_port, echo_host.port)
        )
        assert lte.commands.count("AT+NETCLOSE") == 2  # attach, and the re-attach
    assert out["injected"] == "ConnectFailed"
    assert "+CIPOPEN error 1" in out["refused"]
    assert out["failures"] == 2
    assert out["recover"] == "reattach"
    assert out["after"] == [True, 0, True]


def test_module_error_codes_reach_the_installer():
    with Sim7600Emulator() as lte:
        lte.connect_fail = 11
        out = device(
            prelude(lte)
            + """
gprs.sync()
gprs.attach("CMNET")
try:
    gprs.open("posp.example", 5000)
except sim800.ConnectFailed as exc:
    out["dns"] = str(exc)
print(json.dumps(out))
"""
        )
    assert out == {
        "dns": "host did not accept the connection (+CIPOPEN error 11: DNS lookup failed)"
    }


def test_sim_registration_and_packet_context_faults():
    script = """
gprs.sync()
out["sim"] = named(gprs.sim_ready)
out["registration"] = named(gprs.wait_registered, 1000, 50)
out["attach"] = named(gprs.attach, "CMNET")
print(json.dumps(out))
"""
    with Sim7600Emulator() as lte:
        lte.sim = "NOT INSERTED"
        out = device(prelude(lte) + script)
    assert out == {"sim": "SimMissing", "registration": 1, "attach": "ConnectFailed"}
    with Sim7600Emulator() as lte:
        lte.sim = "SIM PIN"
        lte.creg = lte.cgreg = lte.cereg = 3
        out = device(prelude(lte) + script)
    assert out == {
        "sim": "SimPinRequired",
        "registration": "NotRegistered",
        "attach": "ConnectFailed",
    }
    with Sim7600Emulator(apn="CMIOT") as lte:  # the SIM's APN is another one
        out = device(prelude(lte) + script)
    assert out == {"sim": True, "registration": 1, "attach": "ConnectFailed"}
    with Sim7600Emulator() as lte:
        lte.netopen_fail = True
        out = device(prelude(lte) + script)
    assert out == {"sim": True, "registration": 1, "attach": "ConnectFailed"}
    with Sim7600Emulator() as lte:
        lte.silent = True
        out = device(prelude(lte) + 'out["sync"] = named(gprs.sync)\nprint(json.dumps(out))')
    assert out == {"sync": "GprsTimeout"}


def test_lte_only_sim_registers_through_cereg(echo_host):
    with Sim7600Emulator() as lte:
        lte.creg = lte.cgreg = 0
        lte.cereg = 1
        out = device(
            prelude(lte)
            + """
gprs.sync()
out["registration"] = gprs.wait_registered(2000, 50)
gprs.attach("CMNET")
gprs.open("127.0.0.1", %d)
out["echoed"] = echo(b"sign-on")
print(json.dumps(out))
"""
            % echo_host.port
        )
        assert "AT+CEREG?" in lte.commands
    assert out == {"registration": 1, "echoed": True}


def test_host_hanging_up_after_the_reply(hangup_host):
    with Sim7600Emulator() as lte:
        out = device(
            prelude(lte)
            + """
gprs.sync()
gprs.attach("CMNET")
gprs.open("127.0.0.1", %d)
gprs.send(b"last words")
buf = bytearray(32)
got = 0
while got < 10:
    got += gprs.readinto(memoryview(buf)[got:], 3000)
out["reply"] = buf[:got].decode()
out["after"] = named(gprs.readinto, buf, 3000)
out["send"] = named(gprs.send, b"more")
print(json.dumps(out))
"""
            % hangup_host.port
        )
    assert out == {"reply": "last words", "after": "LinkDown", "send": "LinkDown"}


def test_link_drop_and_network_loss_during_a_session(echo_host):
    with Sim7600Emulator() as lte:
        result = {}

        def run():
            result["out"] = device(
                prelude(lte)
                + """
gprs.sync()
gprs.attach("CMNET")
gprs.open("127.0.0.1", %d)
buf = bytearray(8)
out["dropped"] = named(gprs.readinto, buf, 10000)
gprs.open("127.0.0.1", %d)
out["network lost"] = named(gprs.readinto, buf, 10000)
out["attached"] = gprs.attached
out["open"] = named(gprs.open, "127.0.0.1", %d)
out["recover"] = gprs.recover()
gprs.open("127.0.0.1", %d)
out["echoed"] = echo(b"after recovery")
print(json.dumps(out))
"""
                % ((echo_host.port,) * 4),
                timeout=60,
            )

        thread = threading.Thread(target=run)
        thread.start()
        lte.wait_for(lambda: lte.tcp_connected, timeout=30, what="the first connection")
        lte.drop_link()
        lte.wait_for(lambda: lte.tcp_connected, timeout=30, what="the second connection")
        lte.deactivate_pdp()
        thread.join(timeout=60)
    assert result["out"] == {
        "dropped": "LinkDown",
        "network lost": "LinkDown",
        "attached": False,
        "open": "LinkDown",
        "recover": "reattach",
        "echoed": True,
    }


def test_send_failure_is_link_down(echo_host):
    with Sim7600Emulator() as lte:
        lte.send_fail = True
        out = device(
            prelude(lte)
            + """
gprs.sync()
gprs.attach("CMNET")
gprs.open("127.0.0.1", %d)
out["send"] = named(gprs.send, b"lost")
out["connected"] = gprs.connected
print(json.dumps(out))
"""
            % echo_host.port
        )
    assert out == {"send": "LinkDown", "connected": False}
    assert echo_host.received == b""
