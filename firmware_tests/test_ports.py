"""Port auto-detection: the one terminal console found by its USB VID:PID, or a clear error."""

import pytest
from serial.tools import list_ports, list_ports_common

from hostlib import ports
from hostlib.errors import PoskitError


def _port(device, vid=None, pid=None, description="n/a"):
    info = list_ports_common.ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.description = vid, pid, description
    return info


@pytest.fixture
def plugged(monkeypatch):
    """Sets the serial ports the host sees."""

    def plug(*infos):
        monkeypatch.setattr(list_ports, "comports", lambda: list(infos))

    return plug


def test_the_one_terminal_is_found_among_other_ports(plugged):
    plugged(
        _port("/dev/ttyS0"),
        _port("/dev/ttyACM0", 0x2341, 0x0043, "Arduino Uno"),
        _port("/dev/ttyUSB0", 0x10C4, 0xEA60, "CP2102 USB to UART Bridge Controller"),
    )
    assert ports.find_port(None) == "/dev/ttyUSB0"


@pytest.mark.parametrize(
    "vid,pid",
    [
        (0x10C4, 0xEA60),
        (0x1A86, 0x7523),
        (0x1A86, 0x55D4),
        (0x0403, 0x6001),
        (0x0403, 0x6015),
        (0x303A, 0x1001),
        (0x303A, 0x4001),
    ],
)
def test_every_known_bridge_is_a_terminal(plugged, vid, pid):
    plugged(_port("/dev/ttyUSB3", vid, pid))
    assert ports.find_port(None) == "/dev/ttyUSB3"


def test_two_terminals_are_listed_and_port_asked_for(plugged):
    plugged(_port("/dev/ttyUSB0", 0x1A86, 0x7523), _port("/dev/ttyUSB1", 0x10C4, 0xEA60))
    with pytest.raises(PoskitError) as caught:
        ports.find_port(None)
    message = str(caught.value)
    assert "/dev/ttyUSB0 (1a86:7523" in message and "/dev/ttyUSB1 (10c4:ea60" in message
    assert "--port" in message


def test_no_terminal_lists_the_ports_seen(plugged):
    plugged(_port("/dev/ttyACM0", 0x2341, 0x0043, "Arduino Uno"))
    with pytest.raises(PoskitError, match=r"no terminal found.*ttyACM0 \(2341:0043, Arduino"):
        ports.find_port(None)


def test_no_port_at_all(plugged):
    plugged()
    with pytest.raises(PoskitError, match="no serial port found.*--port"):
        ports.find_port(None)


def test_a_given_port_is_used_as_is(plugged, tmp_path):
    plugged()  # not consulted
    pty = tmp_path / "pts"
    pty.touch()
    assert ports.find_port(str(pty)) == str(pty)


def test_a_given_port_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(PoskitError, match="no serial port /nonexistent/ttyUSB9"):
        ports.find_port("/nonexistent/ttyUSB9")
