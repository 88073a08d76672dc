"""Which serial port is the terminal's USB console.

    port = find_port(args.port)      # "--port P" as given, else the one terminal plugged in

A terminal's console is its USB-UART bridge (or the ESP32-S2/S3's native USB), recognised by
its USB VID:PID as mpremote recognises a board: with exactly one plugged in, an installer
types no port at all. Two terminals (or none) cannot be guessed: the error lists what was
found and says to give `--port`.
"""

import os

from hostlib.errors import PoskitError

# USB VID:PID of the bridges an ESP32 terminal's console sits behind. A PID of None matches
# every product of that vendor (Espressif's native USB: 303a:1001 and its kin).
KNOWN_BRIDGES = (
    (0x10C4, 0xEA60, "CP210x"),
    (0x1A86, 0x7523, "CH340"),
    (0x1A86, 0x55D4, "CH9102"),
    (0x0403, 0x6001, "FTDI FT232R"),
    (0x0403, 0x6015, "FTDI FT231X"),
    (0x303A, None, "Espressif native USB"),
)


def bridge_name(vid: int | None, pid: int | None) -> str | None:
    """The name of the known ESP32 USB bridge with this VID:PID, or None."""
    for known_vid, known_pid, name in KNOWN_BRIDGES:
        if vid == known_vid and known_pid in (None, pid):
            return name
    return None


def _describe(info) -> str:
    ids = "%04x:%04x" % (info.vid, info.pid) if info.vid is not None else "no USB id"
    text = "%s (%s" % (info.device, ids)
    if info.description and info.description != "n/a":
        text += ", " + info.description
    return text + ")"


def find_port(port: str | None) -> str:
    """`port` when given (it must exist), else the one terminal console plugged in.

    Raises PoskitError naming the missing port, or listing the serial ports found when
    there is no terminal or more than one.
    """
    if port is not None:
        if not os.path.exists(port):
            raise PoskitError(f"no serial port {port}: is the terminal plugged in?")
        return port
    from serial.tools import list_ports  # pyserial: only needed when no port is given

    found = sorted(list_ports.comports(), key=lambda info: info.device)
    terminals = [info for info in found if bridge_name(info.vid, info.pid)]
    if len(terminals) == 1:
        return terminals[0].device
    if terminals:
        listed = ", ".join(_describe(info) for info in terminals)
        raise PoskitError(f"more than one terminal plugged in: {listed}; give --port")
    if found:
        listed = ", ".join(_describe(info) for info in found)
        raise PoskitError(
            f"no terminal found among the serial ports ({listed}); plug one in or give --port"
        )
    raise PoskitError("no serial port found: plug the terminal in or give --port")
