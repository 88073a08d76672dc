"""The real GPRS drivers, on MicroPython, against the GPRS module emulators over TCP, with a real
TCP host behind the emulated module (`echo_host`, `hangup_host` of conftest.py).

What both modules must do alike is written once and run for each model: the SIM800
(Sim800Emulator, drivers.sim800.Sim800) and the SIM7600 (Sim7600Emulator,
drivers.sim7600.Sim7600). What one model alone has follows, named for it.

Each test runs a device snippet on the MicroPython unix port that reaches the emulator
through board.unix_sim.SocketUART and prints one JSON object of what it saw. Everything is
bounded by timeouts; nothing asserts a time.
"""

import socket
import threading
from dataclasses import dataclass

import pytest
from test_emulators import device

from hostlib.emulators import Sim800Emulator, Sim7600Emulator


@dataclass(frozen=True)
class Model:
    """One GPRS module: its emulator, its driver, and the AT commands that differ."""

    emulator: type
    module: str  # drivers.<module>
    driver: str  # the driver class in it
    registration: tuple  # the emulator's registration states a test sets
    open_command: str  # % port
    close_command: str
    shut_command: str  # once in attach(), again in each re-attach
    refused: str  # in ConnectFailed's message when the host refuses
    attach_without_sim: str  # what attach() raises when the SIM is missing or locked


SIM800 = Model(
    emulator=Sim800Emulator,
    module="sim800",
    driver="Sim800",
    registration=("creg",),  # CREG alone denied (CGREG registered) is enough to give up
    open_command='AT+CIPSTART="TCP","127.0.0.1",%d',
    close_command="AT+CIPCLOSE",
    shut_command="AT+CIPSHUT",
    refused="(CONNECT FAIL)",
    attach_without_sim="GprsError",  # AT+CSTT answers ERROR, passed on as it is
)
SIM7600 = Model(
    emulator=Sim7600Emulator,
    module="sim7600",
    driver="Sim7600",
    registration=("creg", "cgreg", "cereg"),  # registered in any one is registered
    open_command='AT+CIPOPEN=0,"TCP","127.0.0.1",%d',
    close_command="AT+CIPCLOSE=0",
    shut_command="AT+NETCLOSE",
    refused="(+CIPOPEN error 1: network failure)",
    attach_without_sim="ConnectFailed",  # AT+NETOPEN answers ERROR: not activated
)


@pytest.fixture(params=[SIM800, SIM7600], ids=["sim800", "sim7600"])
def model(request):
    return request.param


PRELUDE = """
import json
from board.unix_sim import SocketUART
from drivers import sim800
from drivers.%s import %s as Driver
uart = SocketUART("127.0.0.1", %d, timeout_ms=2000)
gprs = Driver(
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


def prelude(model, emulator, rx_size=1024):
    return PRELUDE % (model.module, model.driver, emulator.port, rx_size)


def online(model, emulator, port):
    """The prelude, then the link up: sync, attach to CMNET, open 127.0.0.1:port."""
    return prelude(model, emulator) + (
        'gprs.sync()\ngprs.attach("CMNET")\ngprs.open("127.0.0.1", %d)\n' % port
    )


# --- both models ------------------------------------------------------------------------------

# Bytes an ISO 8583 message may hold that read as either module's answers and URCs.
TRICKY = b"\r\nOK\r\nCLOSED\r\n+IPD,3:\r\n+IPD3\r\n+IPCLOSE: 0,1\r\nERROR\r\n"


def test_open_send_receive_close_with_binary_data(model, echo_host):
    with model.emulator(csq=(18, 0)) as gsm:
        out = device(
            # The 2,048-byte echo comes back while the second piece is being sent.
            prelude(model, gsm, rx_size=4096)
            + """
gprs.sync()
out["sim"] = gprs.sim_ready()
out["iccid"] = gprs.iccid()
rssi, ber = gprs.signal()
out["signal"] = [rssi, sim800.signal_dbm(rssi), sim800.signal_bars(rssi)]
out["registered"] = gprs.wait_registered(5000, 100)
out["ip"] = gprs.attach("CMNET", "pos01", "secret")
gprs.open("127.0.0.1", %d)
out["echoed"] = echo(bytes(range(256)) + %r)
out["long echoed"] = echo(bytes(range(256)) * 8)  # 2,048 bytes: two sends, several +IPD
gprs.close()
out["connected"] = gprs.connected
print(json.dumps(out))
"""
            % (echo_host.port, TRICKY)
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
        assert gsm.apn_used == ("CMNET", "pos01", "secret")
        assert model.open_command % echo_host.port in gsm.commands
        assert gsm.commands[-1] == model.close_command
        assert not gsm.tcp_connected
    assert bytes(echo_host.received) == bytes(range(256)) + TRICKY + bytes(range(256)) * 8


def test_connect_failures_are_named_and_recovered(model, echo_host):
    refused = socket.create_server(("127.0.0.1", 0))
    dead_port = refused.getsockname()[1]
    refused.close()  # nothing listens there now
    with model.emulator() as gsm:
        gsm.connect_fail = True
        out = device(
            prelude(model, gsm)
            + """
gprs.sync()
gprs.attach("CMNET")
out["injected"] = named(gprs.open, "127.0.0.1", %d)
try:
    gprs.open("127.0.0.1", %d)
except sim800.GprsError as exc:
    out["refused"] = [type(exc).__name__, str(exc)]
out["failures"] = gprs.failures
out["recover"] = gprs.recover()
gprs.open("127.0.0.1", %d)
out["after"] = [gprs.connected, gprs.failures, echo(b"\\x00\\x05hello")]
print(json.dumps(out))
"""
            % (echo_host.port, dead_port, echo_host.port)
        )
        assert gsm.commands.count(model.shut_command) == 2  # attach, and the re-attach
        assert gsm.apn_used == ("CMNET", "", "")
    assert out["injected"] == "ConnectFailed"
    assert out["refused"][0] == "ConnectFailed"
    assert model.refused in out["refused"][1]
    assert out["failures"] == 2
    assert out["recover"] == "reattach"
    assert out["after"] == [True, 0, True]


SIM_FAULTS = """
gprs.sync()
out["sim"] = named(gprs.sim_ready)
out["registration"] = named(gprs.wait_registered, 1000, 50)
out["attach"] = named(gprs.attach, "CMNET")
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    "options, sim, registration, expected",
    # expected: sim_ready(), wait_registered(), attach(); None: the model's attach_without_sim
    [
        pytest.param({}, "NOT INSERTED", 1, ("SimMissing", 1, None), id="no-sim"),
        pytest.param(
            {}, "SIM PIN", 3, ("SimPinRequired", "NotRegistered", None), id="sim-pin-and-denied"
        ),
        pytest.param(  # the SIM's APN is another one
            {"apn": "CMIOT"}, "READY", 1, (True, 1, "ConnectFailed"), id="wrong-apn"
        ),
    ],
)
def test_sim_registration_and_packet_context_faults(model, options, sim, registration, expected):
    with model.emulator(**options) as gsm:
        gsm.sim = sim
        for state in model.registration:
            setattr(gsm, state, registration)
        out = device(prelude(model, gsm) + SIM_FAULTS)
    sim_answer, registered, attached = expected
    assert out == {
        "sim": sim_answer,
        "registration": registered,
        "attach": attached or model.attach_without_sim,
    }


def test_a_silent_module_is_a_timeout(model):
    with model.emulator() as gsm:
        gsm.silent = True
        # Two AT tries of 300 ms before giving up, rather than ten.
        short = prelude(model, gsm).replace("boot_timeout_ms=3000", "boot_timeout_ms=600")
        out = device(short + 'out["sync"] = named(gprs.sync)\nprint(json.dumps(out))')
    assert out == {"sync": "GprsTimeout"}


def test_host_hanging_up_after_the_reply(model, hangup_host):
    with model.emulator() as gsm:
        out = device(
            online(model, gsm, hangup_host.port)
            + """
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
        )
    assert out == {"reply": "last words", "after": "LinkDown", "send": "LinkDown"}


def test_link_drop_and_network_loss_during_a_session(model, echo_host):
    with model.emulator() as gsm:
        result = {}

        def run():
            result["out"] = device(
                online(model, gsm, echo_host.port)
                + """
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
                % ((echo_host.port,) * 3),
                timeout=60,
            )

        thread = threading.Thread(target=run)
        thread.start()
        try:
            gsm.wait_for(lambda: gsm.tcp_connected, timeout=30, what="the first connection")
            gsm.drop_link()
            gsm.wait_for(lambda: gsm.tcp_connected, timeout=30, what="the second connection")
            gsm.deactivate_pdp()
        finally:
            thread.join(timeout=60)
        assert not thread.is_alive()
    assert result["out"] == {
        "dropped": "LinkDown",
        "network lost": "LinkDown",
        "attached": False,
        "open": "LinkDown",
        "recover": "reattach",
        "echoed": True,
    }


def test_send_failure_is_link_down(model, echo_host):
    with model.emulator() as gsm:
        gsm.send_fail = True
        out = device(
            online(model, gsm, echo_host.port)
            + """
out["send"] = named(gprs.send, b"lost")
out["connected"] = gprs.connected
print(json.dumps(out))
"""
        )
    assert out == {"send": "LinkDown", "connected": False}
    assert echo_host.received == b""


# --- SIM7600 only -----------------------------------------------------------------------------


def test_sim7600_cipopen_error_code_reaches_the_installer_by_name():
    with Sim7600Emulator() as lte:
        lte.connect_fail = 11
        out = device(
            prelude(SIM7600, lte)
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


def test_sim7600_lte_only_sim_registers_through_cereg(echo_host):
    with Sim7600Emulator() as lte:
        lte.creg = lte.cgreg = 0
        lte.cereg = 1
        out = device(
            prelude(SIM7600, lte)
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


def test_sim7600_netopen_failure_is_connect_failed():
    with Sim7600Emulator() as lte:
        lte.netopen_fail = True
        out = device(prelude(SIM7600, lte) + SIM_FAULTS)
    assert out == {"sim": True, "registration": 1, "attach": "ConnectFailed"}
