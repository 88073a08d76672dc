"""`poskit vterm`: run the virtual terminal — the device code on the MicroPython unix port,
its flash a LittleFS image, its USB console a pseudo-terminal (mpremote works on it), its
printer, display, keypad, PIN pad, card readers (magstripe, chip, contactless), modem and GPRS
module emulated — until Ctrl-C, or through a script.

Prints what a client needs, the console last (programs wait for that line); while it runs,
vterm.json beside the flash image tells `poskit install --vterm DIR` (another process) where
to reach its card reader, keypad, PIN pad and display (hostlib/vterm_control.py):

    flash: /home/me/vterm/flash.img
    printer: 127.0.0.1:40213
    display: 127.0.0.1:40215
    ...
    console: /dev/pts/5

Then, in a text terminal and without --headless, it draws the LCD and takes the keyboard as
the keypad (hostlib/vterm_screen.py); headless, it just runs.
"""

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from hostlib import micropython, vterm, vterm_control, vterm_screen, vterm_script
from hostlib.errors import PoskitError
from hostlib.state import SizeError, heap_size, parse_size

HELP = (
    "run the virtual terminal (device code on MicroPython, flash image, emulated printer and "
    "bearers) with its console on a pseudo-terminal for mpremote, or through a script"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--state",
        metavar="DIR",
        help="terminal state folder, as every other command takes (DIR/flash.img and "
        "DIR/storage.key; made blank if DIR does not exist)",
    )
    where.add_argument(
        "--flash",
        metavar="FILE",
        help="LittleFS flash image, created blank (with a storage key beside it) if missing "
        "(default: %s)" % vterm.DEFAULT_FLASH,
    )
    parser.add_argument(
        "--host",
        metavar="HOST:PORT",
        help="acquirer host the emulated modem and GPRS module reach (every number dialled, "
        "every TCP connection); without it the terminal has no bearer",
    )
    parser.add_argument(
        "--gprs",
        choices=sorted(vterm.GPRS_MODELS),
        default="sim800",
        help="the GPRS module fitted: SIM800-class or SIM7600-class LTE (default: %(default)s)",
    )
    parser.add_argument(
        "--script",
        metavar="FILE",
        help="drive the terminal with a script (see docs/vterm.md), then exit with its status",
    )
    parser.add_argument(
        "--heap",
        type=heap_size,
        default=micropython.ESP32_HEAP,
        help="the application's heap (default %(default)s, an ESP32-WROOM's); the terminal "
        "application needs more on the 64-bit port, whose objects are larger (docs/vterm.md)",
    )
    parser.add_argument(
        "--romfs",
        metavar="SIZE",
        type=romfs_size,
        help="give the terminal a ROMFS partition of SIZE (e.g. 512K), kept in romfs.img "
        "beside the flash: `poskit deploy` and `mpremote romfs deploy` write the application "
        "image there and the terminal runs it (docs/deploy.md)",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="do not draw the LCD or read the keyboard (scripts and programs drive the "
        "terminal; implied when standard input or output is not a terminal)",
    )


class _Stop(Exception):
    """SIGTERM / SIGHUP: stop as on Ctrl-C."""


def _raise_stop(signum, frame):
    raise _Stop()


def flash_image(args: argparse.Namespace) -> Path:
    """The flash image --state or --flash names. A folder given as --flash is refused: it
    is a state folder (--state) or a mistake, and guessing could start a blank terminal
    beside the one meant."""
    if args.state is not None:
        folder = Path(args.state)
        if folder.exists() and not folder.is_dir():
            raise PoskitError("--state wants a terminal state folder; %s is a file" % folder)
        return folder / "flash.img"
    flash = Path(args.flash or vterm.DEFAULT_FLASH)
    if flash.is_dir():
        raise PoskitError(
            "--flash wants the flash image file; %s is a folder: for a terminal state "
            "folder (flash.img, storage.key) give --state %s" % (flash, flash)
        )
    return flash


def romfs_size(text: str) -> str:
    """argparse type of --romfs: a size (512K, 1M) in whole 4 KB flash blocks."""
    try:
        size = parse_size(text)
    except SizeError:
        size = 0
    if size % 4096 or not size:
        raise argparse.ArgumentTypeError(
            "ROMFS partition size %r is not a size in 4 KB blocks, such as 512K" % text
        )
    return text.strip().upper()


def run(args: argparse.Namespace) -> int:
    steps = None
    if args.script:
        path = Path(args.script)
        steps = vterm_script.parse_file(path)
    flash = flash_image(args)
    host = vterm.parse_host(args.host) if args.host else None
    terminal = vterm.VirtualTerminal(
        flash, host=host, gprs=args.gprs, heap=args.heap, romfs=args.romfs
    )
    # Signal handlers only in the main thread (tests may call run() from another).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_stop)
        signal.signal(signal.SIGHUP, _raise_stop)
    control = None
    try:
        terminal.start()
        assert terminal.console is not None
        # For `poskit install --vterm DIR`: the card reader, keypad, PIN pad and display.
        control = vterm_control.ControlServer(terminal).start()
        print("flash: %s" % terminal.flash)
        print("receipts: %s" % terminal.receipts)
        for name, address in terminal.peripherals().items():
            print("%s: %s" % (name, address))
        if host is not None:
            print("acquirer host: %s:%d (every dialled number and TCP connection)" % host)
        print("console: %s" % terminal.console.path, flush=True)
        if steps is not None:
            # The console's output so far and from now on, for the reader of the run.
            terminal.console.echo_to(sys.stdout.buffer)
            try:
                vterm_script.ScriptRunner(terminal, args.script, path.parent).run(steps)
            finally:
                terminal.console.echo_to(None)
            print("\nscript %s: all %d lines passed" % (args.script, len(steps)), flush=True)
            return 0
        if not args.headless and sys.stdin.isatty() and sys.stdout.isatty():
            vterm_screen.ScreenView(terminal).run()
            if terminal.console.failure is None:
                return 0  # Ctrl-C on the screen
        while terminal.console.failure is None:
            time.sleep(0.2)
        raise PoskitError("virtual terminal stopped: %s" % terminal.console.failure)
    except (KeyboardInterrupt, _Stop):
        return 0
    finally:
        if control is not None:
            control.stop()
        terminal.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.vterm ...`, for use before the command is in poskit's table."""
    parser = argparse.ArgumentParser(prog="poskit vterm", description=HELP)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except PoskitError as exc:
        print("poskit: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
