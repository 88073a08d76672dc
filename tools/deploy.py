"""`poskit deploy`: put the terminal application (device/) onto a terminal over its USB console.

    poskit deploy                              # the one terminal plugged in
    poskit deploy --port /dev/ttyUSB0          # or /dev/pts/N of a virtual terminal
    poskit deploy --port P --firmware ESP32_GENERIC-v1.29.0.bin   # MicroPython first

hostlib/deploy.py does the work (compile for the terminal's architecture, send what
changed, verify, commit); this prints its progress (a bar on stderr when it is a terminal,
one line a file otherwise) and its figures. `--firmware` writes the MicroPython firmware
with esptool and verifies it (esptool's verify-flash) before deploying.
"""

import subprocess
import sys
import time
from pathlib import Path

from hostlib import deploy, ports
from hostlib.errors import PoskitError

HELP = "put the terminal application (device/) onto a terminal over its USB console"

# Where the ESP32's MicroPython firmware image (bootloader, partition table, application)
# starts in flash.
FIRMWARE_OFFSET = "0x1000"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--port",
        help="the terminal's serial port (default: the one ESP32 USB-UART plugged in)",
    )
    parser.add_argument(
        "--source",
        default=str(deploy.DEVICE),
        help="the application folder to deploy (default: this kit's device/)",
    )
    parser.add_argument(
        "--firmware",
        metavar="FILE",
        help="write this MicroPython firmware image with esptool first (ESP32: at 0x1000), "
        "and verify it",
    )


def _esptool(port: str, *command: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "esptool", "--port", port, *command],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        # esptool's own reason is its "A fatal error occurred: ..." line.
        lines = (proc.stderr + proc.stdout).splitlines()
        said = [line for line in lines if "fatal error" in line] or lines[-1:] or ["no output"]
        reason = said[0].split("fatal error occurred:", 1)[-1].strip()
        raise PoskitError(f"esptool {command[0]} failed on {port}: {reason}")


def write_firmware(port: str, firmware: Path) -> None:
    """Write the MicroPython firmware image at FIRMWARE_OFFSET, then verify it."""
    if not firmware.is_file():
        raise PoskitError(f"no firmware file {firmware}")
    print(f"writing {firmware} ({firmware.stat().st_size} bytes) at {FIRMWARE_OFFSET} ...")
    _esptool(port, "write-flash", FIRMWARE_OFFSET, str(firmware))
    _esptool(port, "verify-flash", FIRMWARE_OFFSET, str(firmware))
    print("firmware written and verified")
    # The chip restarts into the new firmware; its REPL needs a moment to come up.
    time.sleep(2)


class Progress:
    """The deploy's progress: a bar redrawn on stderr when it is a terminal, else a line for
    each file as it starts."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.bar = stream.isatty()
        self.path = None

    def __call__(self, done: int, total: int, path: str) -> None:
        if self.bar:
            width = 30
            filled = width * done // total if total else width
            self.stream.write(
                "\r[%s%s] %3d%% %-40.40s"
                % ("#" * filled, "." * (width - filled), 100 * done // max(total, 1), path)
            )
            if not path:
                self.stream.write("\n")
            self.stream.flush()
        elif path and path != self.path:
            print("sending %s (%d of %d bytes sent)" % (path, done, total), file=self.stream)
        self.path = path


def run(args) -> int:
    port = ports.find_port(args.port)
    if args.firmware:
        write_firmware(port, Path(args.firmware))
    figures = deploy.deploy(port, args.source, progress=Progress())
    print(
        "deployed %s build %s to %s (%s, %s): %d of %d files sent, %d bytes written to the "
        "port for %d bytes of application, %.1f s"
        % (
            args.source,
            figures["build"][:16],
            port,
            figures["arch"],
            "ROMFS image" if figures["mode"] == "romfs" else ".mpy files",
            figures["files_sent"],
            figures["files"],
            figures["bytes_sent"],
            figures["app_bytes"],
            figures["seconds"],
        )
    )
    return 0
