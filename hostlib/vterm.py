"""The virtual terminal: the real device code on MicroPython's unix port, with a USB console.

    with VirtualTerminal("vterm/flash.img", host=("127.0.0.1", 5000)) as vt:
        print(vt.console.path)          # /dev/pts/N: `mpremote connect /dev/pts/N exec ...`
        vt.console.type(b"print(6 * 7)\\r")
        vt.console.expect(b"42", timeout=5)
        vt.printer.receipts             # what the device printed

What runs, and how it maps onto the reference terminal (an ESP32 without PSRAM):

- **Flash**: a LittleFS v2 image file (1 MB, created blank if missing), mounted by the unix
  board (`board.unix_sim.mount_flash`) at /flash; the interpreter then changes directory to
  /flash, so the flash is the current directory as "/" is on the ESP32: `mpremote fs cp x
  :main.py` and `fs ls` land there. A storage key (`storage.key` beside the image, the eFuse
  key's stand-in) is made with a new image.
- **Application**: device/ compiled to .mpy and packed into a ROMFS image, mounted at /rom
  from one buffer allocated first (on the terminal the image is memory-mapped flash), beside a
  heap left the size of the ESP32's (110 KB).
- **Boot**: as the MicroPython firmware does, `boot.py` then, in the friendly REPL only,
  `main.py` are run from the flash if present; then the REPL. The app's own boot.py/main.py
  live in the ROMFS as modules and run only if a file on the flash starts them (MicroPython
  does not look for boot files in a ROMFS).
- **Console**: see `Console`. A soft reset (Ctrl-D, `sys.exit()`) restarts the interpreter
  on the same flash and prints `MPY: soft reboot`, in the REPL mode (friendly or raw) the
  terminal was in, as the firmware does.
- **Peripherals**: host-side emulators (hostlib.emulators) on 127.0.0.1, reached by the
  device through `board.unix_sim` (`printer()`, `display()`, `keypad()`, `pinpad()`,
  `card_reader()`, `chip_reader()`, `contactless_reader()`, `modem()`, `gprs()`: the
  reference board's factories), whose links read `POSKIT_UART_<NAME>=host:port`: printer,
  display (ST7567), keypad, PIN pad, magstripe reader and the two chip card readers (TDA8029
  contact, PN532 contactless) always; the dial-up modem and the GPRS module when an acquirer
  host is given (every number dialled and every TCP connection opened reaches that host).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from hostlib import build, micropython
from hostlib.emulators import (
    GPRS_MODELS,
    CardReaderEmulator,
    DisplayEmulator,
    KeypadEmulator,
    ModemEmulator,
    PinPadEmulator,
    Pn532Emulator,
    PrinterEmulator,
    Sim800Emulator,
    Tda8029Emulator,
)
from hostlib.emulators.base import Emulator
from hostlib.errors import PoskitError
from hostlib.hostsim.seed import DEFAULT_TERMINAL
from hostlib.state import FLASH_SIZE, hold_flash, parse_size, release_flash

DEFAULT_FLASH = Path("vterm") / "flash.img"
SOFT_REBOOT = b"MPY: soft reboot\r\n"
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
_FRIENDLY_BANNER = b'Type "help()" for more information.'
# The unix port's REPL banner (its -i flag) and first prompt: removed from the console when
# the terminal restarts into the raw REPL, where the firmware prints no banner.
_BANNER = re.compile(rb'MicroPython [^\r\n]*\r?\nType "help\(\)" for more information\.\r?\n>>> ')
_BANNER_START = b"MicroPython "
# Output kept for `expect`; older output is dropped past this.
_TRANSCRIPT_LIMIT = 4 * 1024 * 1024
# Flow control on the console, as on the ESP32's USB serial: while a client reads, the
# interpreter is held back (its writes block) once this much waits beyond the kernel's own
# pseudo-terminal buffer; mpremote reads byte by byte, slower than the interpreter prints.
# When nothing has been read for _USB_STALL_S, nobody is listening: output is dropped until a
# client reads again, so an app printing to an unread console never blocks, and a client that
# connects later starts afresh (pyserial flushes the kernel's buffer when it opens the port).
_USB_BACKLOG = 4096
_USB_STALL_S = 1.0
# Boots in a row that end before any prompt appears: a boot loop (boot.py calling
# sys.exit(), say); the virtual terminal stops instead of restarting forever.
_BOOT_LOOP = 5

# Runs on every (re)start of the interpreter, as the firmware's own start-up does. Failures
# to mount the image or the flash are reported on the ready pipe ("F") and end the run: the
# host stops with the traceback rather than letting mpremote write onto the host's disk.
# From "R" on, a client's Ctrl-C is a SIGINT: it may stop boot.py (then main.py runs, as on
# the firmware) or main.py (then the REPL), never the start-up itself. sys.exit() in boot.py
# or main.py is a soft reset on the firmware; the unix port would go on to its REPL (-i), so
# the program asks the host to end it ("X").
_BOOT = """\
def _vterm_partition(path):
    # The ROMFS partition (a file beside the flash) behind vfs.rom_ioctl, as a firmware built
    # with one has it: `mpremote romfs query/deploy` work on it. 1: how many partitions;
    # 2: the partition's memory; 3: erase (offset, length); 4: write; 5: done; 6: block size.
    # Erases and writes go to the file; the copy in memory, from which the modules imported
    # at start-up (the unix board's flash driver among them) run in place, is read again at
    # the next start, which is when a new image is used on the terminal too.
    import os, sys, vfs
    part = bytearray(os.stat(path)[6])
    with open(path, "rb") as f:
        f.readinto(part)
    def save(offset, data):
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(data)
    class Vfs:
        def __getattr__(self, name):
            return getattr(vfs, name)
        def rom_ioctl(self, op, *args):
            if op == 1:
                return 1
            if not args or args[0] != 0:
                return -19
            if op == 2:
                return memoryview(part)
            if op == 3:
                offset, length = (0, args[1]) if len(args) == 2 else args[1:3]
                save(offset, b"\\xff" * min(length, len(part) - offset))
                return 4
            if op == 4:
                save(args[1], args[2])
                return 0
            if op == 5:
                return 0
            if op == 6:
                return 4096
            return -22
    sys.modules["vfs"] = Vfs()
    return part
def _vterm_boot(image, ready, raw, partition):
    import gc, os, sys, time, vfs
    def signal(code):
        with open("/dev/fd/%%d" %% ready, "wb") as f:
            f.write(code)
    try:
        rom = _vterm_partition(partition) if partition else None
        if rom is None or rom[:3] != b"\\xd2\\xcd\\x31":
            # No image in the partition (or none): the one built from device/.
            rom = bytearray(os.stat(image)[6])
            with open(image, "rb") as f:
                f.readinto(rom)
        vfs.mount(vfs.VfsRom(rom), "/rom")
        if partition:
            # Kept alive past an unmount (mpremote romfs deploy unmounts /rom): modules
            # imported from it run their bytecode in place, from this buffer.
            sys.modules["vfs"].image = rom
        sys.path[:] = ["", ".frozen", "/rom", "/rom/lib", "/flash/lib"]
        from board import unix_sim
        unix_sim.mount_flash()
        os.chdir(unix_sim.MOUNT)
    except Exception as exc:
        sys.print_exception(exc)
        signal(b"F")
        return
    gc.collect()
    try:
        signal(b"R")
        for name in ("boot.py",) if raw else ("boot.py", "main.py"):
            try:
                os.stat(name)
            except OSError:
                continue
            try:
                execfile(name)
            except SystemExit:
                signal(b"X")
                time.sleep(10)
            except BaseException as exc:
                sys.print_exception(exc)
    except KeyboardInterrupt:
        pass
_vterm_boot(%r, %d, %s, %r)
del _vterm_boot, _vterm_partition
"""

# Started in place of the interpreter: it makes the pseudo-terminal on its stdin its
# controlling terminal and becomes the interpreter, which is then hung up (SIGHUP) if the
# virtual terminal dies without cleaning up (SIGKILL): no stray interpreters.
# (subprocess's preexec_fn could do the ioctl, but it is unsafe with the emulator threads.)
_TAKE_TERMINAL = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


class VtermError(PoskitError):
    """The virtual terminal could not start, stopped, or a wait on its console ran out."""


def _interpreter_tty(fd: int) -> None:
    """The interpreter's terminal: raw (8-bit clean, no echo, no newline translation:
    mpremote wants `raw REPL; CTRL-B to exit\\r\\n` byte for byte) and no signal characters.
    Ctrl-C is the bridge's business (Console._interrupt): the unix port leaves SIGINT at its
    default action between two lines, so a tty-made SIGINT arriving just after a command
    ends would kill the interpreter (measured: within 6 commands at the friendly REPL)."""
    tty.setraw(fd)


def _readable(data: bytes) -> str:
    """Console bytes for a message: control characters other than CR LF TAB as ^X."""
    text = data.decode("utf-8", "replace")
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", lambda m: "^" + chr(ord(m.group()) + 64), text)


def _catches_sigint(pid: int) -> bool | None:
    """Whether the process has a SIGINT handler (the unix port has one only while it runs
    code); None if /proc cannot tell."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except (OSError, ValueError):
        pass
    return None


def _stopped(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as f:
            # "pid (comm) state ...": comm may hold spaces, the state follows its ')'.
            return f.read().rpartition(")")[2].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return False


class Console:
    """The terminal's USB serial port: a pseudo-terminal bridged to the interpreter's REPL.

    `path` (/dev/pts/N) is the end a client opens: mpremote, a terminal program, the host
    link. It is raw (8-bit clean, no echo). Behind the bridge, the interpreter runs on a
    pseudo-terminal of its own, so it sees a terminal as on a real console. The bridge:

    - copies bytes both ways, holding the interpreter back while a client reads slowly and
      dropping output nobody reads (see _USB_BACKLOG);
    - follows the REPL mode from the interpreter's output (`raw REPL; CTRL-B to exit` ->
      raw, the friendly banner -> friendly);
    - when the interpreter exits (Ctrl-D at the REPL, `sys.exit()`), prints
      `MPY: soft reboot` and starts it again on the same flash; if the terminal was in the raw
      REPL, the new interpreter is put back into it (Ctrl-A) and its banner is not shown, so
      the client reads `MPY: soft reboot`, boot.py's output, `raw REPL; CTRL-B to exit`, `>`
      as from the firmware. Bytes typed meanwhile are delivered to the new interpreter.
    - keeps everything the terminal printed for `expect()`; `type()` sends bytes as if typed
      by a client.

    `start_interpreter(raw, ready_fd)` returns the argv to start; the program writes b"R" to
    `ready_fd` once the flash is mounted, b"F" if it cannot start.
    """

    def __init__(
        self,
        start_interpreter: Callable[[bool, int], list[str]],
        env: dict[str, str],
    ) -> None:
        self._argv = start_interpreter
        self._env = env
        self._echo = None  # a binary file that also gets the terminal's output (echo_to)
        self._usb, client = os.openpty()
        # Raw before any client opens it: no echo of our own output back to us.
        tty.setraw(client)
        self.path = os.ttyname(client)
        # Kept open: with no client at all, reading the master end fails (EIO).
        self._client = client
        os.set_blocking(self._usb, False)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._changed = threading.Condition()
        self._transcript = bytearray()
        self._base = 0  # absolute position of _transcript[0]
        self._inbox = bytearray()  # typed through type(), under the condition's lock
        self.mode = "friendly"
        self.boots = 0  # interpreter starts that mounted the flash
        self.resets = 0  # soft resets
        self.failure: str | None = None
        self._proc: subprocess.Popen | None = None
        self._repl: int | None = None
        self._ready: int | None = None
        self._fatal = False
        self._exit_requested = False
        self._booted = False
        self._prompted = False
        self._boot_loop = 0
        self._to_repl = bytearray()
        self._to_usb = bytearray()
        self._usb_stalled: float | None = None  # since when _to_usb has waited
        self._nobody_reads = False
        self._pending = bytearray()  # typed while no interpreter takes input
        self._filter: str | None = None  # "banner", then "newline", while entering raw REPL
        self._held = bytearray()
        self._stop = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> Console:
        """Start the interpreter and the bridge."""
        self._spawn(raw=False)
        self._thread = threading.Thread(target=self._run, name="vterm-console", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the bridge and the interpreter (bounded: a few seconds), close the PTYs.
        Idempotent."""
        self._stop.set()
        if self._closed:
            return
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=3)
        self._kill()
        self._closed = True
        for fd in (self._usb, self._client, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        with self._changed:
            self._changed.notify_all()

    def wait_ready(self, timeout: float, boots: int = 1) -> None:
        """Wait until the interpreter has started `boots` times in all (flash mounted)."""
        self._wait(lambda: self.boots >= boots, timeout, "the terminal did not start")

    @property
    def pid(self) -> int | None:
        """Process id of the running interpreter."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def running(self) -> bool:
        """True while the interpreter runs code (boot.py, main.py, a command), False while
        it waits at a prompt. (It has a SIGINT handler only while it runs code.)"""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        return bool(self._booted and _catches_sigint(proc.pid))

    def echo_to(self, file) -> None:
        """Copy the terminal's output to a binary file from now on, after what it printed
        so far (a script run shows the console on stdout)."""
        with self._changed:
            self._echo = file
            self._write_echo(bytes(self._transcript))

    def _write_echo(self, data: bytes) -> None:
        if self._echo is not None and data:
            try:
                self._echo.write(data)
                self._echo.flush()
            except (OSError, ValueError):
                self._echo = None  # the reader went away: the terminal runs on

    # --- what a client sees and types ----------------------------------------------------

    def type(self, data: bytes) -> None:
        """Send bytes to the terminal as a client on the console would."""
        with self._changed:
            self._inbox += data
        os.write(self._wake_w, b"x")

    def position(self) -> int:
        """Position just past the terminal's output so far (for expect's `start`)."""
        with self._changed:
            return self._base + len(self._transcript)

    def output(self, start: int = 0) -> bytes:
        """The terminal's output from position `start` (as far back as it is kept)."""
        with self._changed:
            return bytes(self._transcript[max(0, start - self._base) :])

    def expect(
        self, pattern: bytes | re.Pattern[bytes], start: int = 0, timeout: float = 10.0
    ) -> tuple[re.Match[bytes], int]:
        """Wait until the output from position `start` holds `pattern` (bytes, or a compiled
        regular expression). Returns the match (made on the output from `start`) and the
        position just past it. VtermError, with the end of the output, past the timeout or
        if the terminal stopped."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        found: list[tuple[re.Match[bytes], int]] = []

        def seen() -> bool:
            origin = max(start, self._base)
            match = regex.search(bytes(self._transcript[origin - self._base :]))
            if match is not None:
                found.append((match, origin + match.end()))
            return match is not None

        shown = regex.pattern if isinstance(pattern, re.Pattern) else pattern
        self._wait(seen, timeout, "%r did not appear" % _readable(shown))
        return found[0]

    def pause(self, seconds: float) -> None:
        """Wait `seconds`; VtermError at once if the terminal stops meanwhile."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while self.failure is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(min(left, 0.1))
        raise VtermError("the virtual terminal stopped: %s" % self.failure)

    def wait_reset(self, resets: int, timeout: float) -> None:
        """Wait until `resets` soft resets have happened and the last one booted."""
        self._wait(
            lambda: self.resets >= resets and self.boots > resets,
            timeout,
            "no soft reset",
        )

    def _wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if self.failure is not None:
                    raise VtermError("the virtual terminal stopped: %s" % self.failure)
                if predicate():
                    return
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    tail = _readable(bytes(self._transcript[-300:]))
                    raise VtermError(
                        "%s within %.1f s; the console's last output:\n%s" % (what, timeout, tail)
                    )
                self._changed.wait(min(left, 0.1))

    # --- the bridge ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._step()
        except Exception as exc:  # a bug here must not leave a silent, dead console
            with self._changed:
                self.failure = "console bridge failed: %r" % exc
                self._changed.notify_all()

    def _step(self) -> None:
        readable = [self._usb, self._wake_r]
        writable = []
        if self._repl is not None:
            if len(self._to_usb) < _USB_BACKLOG or self._nobody_reads:
                readable.append(self._repl)
            if self._to_repl and self._filter != "banner":
                writable.append(self._repl)
        if self._ready is not None:
            readable.append(self._ready)
        if self._to_usb or self._nobody_reads:
            writable.append(self._usb)
        r, w, _ = select.select(readable, writable, [], 0.1)
        if self._wake_r in r:
            try:
                os.read(self._wake_r, 512)
            except BlockingIOError:
                pass
        with self._changed:
            typed, self._inbox = bytes(self._inbox), bytearray()
        if typed:
            self._from_client(typed)
        if self._usb in r:
            try:
                data = os.read(self._usb, 4096)
            except (BlockingIOError, OSError):
                data = b""
            if data:
                self._from_client(data)
        if self._ready is not None and self._ready in r:
            self._read_ready()
        if self._repl is not None and self._repl in r:
            try:
                data = os.read(self._repl, 4096)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""  # EIO: the interpreter closed its terminal (it exited)
            if data:
                self._from_interpreter(data)
            elif data == b"":
                self._reap()
        if self._repl is not None and self._repl in w and self._to_repl:
            try:
                n = os.write(self._repl, self._to_repl)
                del self._to_repl[:n]
            except BlockingIOError:
                pass
            except OSError:
                pass  # exiting: the rest waits for the next interpreter
        self._feed_usb(self._usb in w)

    def _feed_usb(self, writable: bool) -> None:
        """Output to the client, with the flow control described at _USB_BACKLOG."""
        if writable:
            self._nobody_reads = False  # room again: a client read (or flushed) it
        if self._nobody_reads:
            self._to_usb.clear()
            return
        if not self._to_usb:
            self._usb_stalled = None
            return
        written = 0
        if writable:
            try:
                written = os.write(self._usb, self._to_usb)
                del self._to_usb[:written]
            except (BlockingIOError, OSError):
                pass
        now = time.monotonic()
        if written or self._usb_stalled is None:
            self._usb_stalled = now
        elif now - self._usb_stalled > _USB_STALL_S:
            self._nobody_reads = True
            self._to_usb.clear()

    def _from_client(self, data: bytes) -> None:
        while data:
            head, ctrl_c, data = data.partition(b"\x03")
            self._deliver(head)
            if ctrl_c and not self._interrupt():
                self._deliver(ctrl_c)

    def _deliver(self, data: bytes) -> None:
        if self._repl is None or self._filter == "banner":
            self._pending += data
        else:
            self._to_repl += data

    def _interrupt(self) -> bool:
        """Ctrl-C while the interpreter runs code: SIGINT (KeyboardInterrupt), as the
        firmware's console interrupt does; False when it waits at a prompt (or in input()),
        where Ctrl-C is a character it reads. The interpreter is frozen (SIGSTOP) while its
        handler is looked at and the signal sent, so it cannot return to the prompt, and to
        SIGINT's default action, in between."""
        proc = self._proc
        # Before the boot program runs, the process is still the CPython launcher, whose own
        # SIGINT handler would end it.
        if proc is None or not self._booted or proc.poll() is not None:
            return False
        pid = proc.pid
        try:
            os.kill(pid, signal.SIGSTOP)
        except OSError:
            return False
        try:
            deadline = time.monotonic() + 0.5
            while not _stopped(pid) and time.monotonic() < deadline:
                time.sleep(0.0005)
            if not _stopped(pid) or not _catches_sigint(pid):
                return False
            os.kill(pid, signal.SIGINT)
            return True
        except OSError:
            return False
        finally:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass

    def _read_ready(self) -> None:
        assert self._ready is not None
        try:
            data = os.read(self._ready, 16)
        except OSError:
            data = b""
        if not data:
            os.close(self._ready)
            self._ready = None
            return
        with self._changed:
            if b"F" in data or b"X" in data:
                # F: the image or the flash does not mount (see _reap); X: sys.exit() in
                # boot.py or main.py, a soft reset.
                self._fatal = b"F" in data
                self._exit_requested = b"X" in data
                if self._proc is not None:
                    self._proc.terminate()
            if b"R" in data:
                self.boots += 1
                self._booted = True
            self._changed.notify_all()

    def _from_interpreter(self, data: bytes) -> None:
        if self._filter is not None:
            data = self._filter_banner(data)
        if data:
            self._emit(data)

    def _filter_banner(self, data: bytes) -> bytes:
        """While the new interpreter is put into the raw REPL: pass its boot output, drop its
        banner and first prompt, send Ctrl-A, drop the CR LF before the raw REPL's line."""
        self._held += data
        out = b""
        if self._filter == "banner":
            match = _BANNER.search(self._held)
            if match is None:
                start = self._held.rfind(_BANNER_START)
                keep = start if start >= 0 else max(0, len(self._held) - len(_BANNER_START))
                out, self._held = bytes(self._held[:keep]), self._held[keep:]
                return out
            out = bytes(self._held[: match.start()])
            del self._held[: match.end()]
            self._to_repl[:0] = b"\x01" + self._pending
            self._pending.clear()
            self._filter = "newline"
        if len(self._held) < 2 and b"\r\n".startswith(bytes(self._held)):
            return out
        if self._held.startswith(b"\r\n"):
            del self._held[:2]
        out += bytes(self._held)
        self._held.clear()
        self._filter = None
        return out

    def _emit(self, data: bytes) -> None:
        """Output of the terminal: to the client, the transcript, the echo."""
        if not self._nobody_reads:
            self._to_usb += data
        with self._changed:
            self._write_echo(data)
            self._transcript += data
            if len(self._transcript) > _TRANSCRIPT_LIMIT:
                cut = len(self._transcript) - _TRANSCRIPT_LIMIT
                del self._transcript[:cut]
                self._base += cut
            window = bytes(self._transcript[-(len(data) + len(_FRIENDLY_BANNER)) :])
            raw_at = window.rfind(_RAW_BANNER)
            friendly_at = window.rfind(_FRIENDLY_BANNER)
            if raw_at > friendly_at:
                self.mode = "raw"
            elif friendly_at > raw_at:
                self.mode = "friendly"
            if b">>> " in window or _RAW_BANNER in window:
                self._prompted = True
            self._changed.notify_all()

    # --- the interpreter -----------------------------------------------------------------

    def _spawn(self, raw: bool) -> None:
        repl, terminal = os.openpty()
        _interpreter_tty(terminal)
        ready_r, ready_w = os.pipe()
        try:
            argv = self._argv(raw, ready_w)
            self._proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _TAKE_TERMINAL, *argv],
                stdin=terminal,
                stdout=terminal,
                stderr=terminal,
                env=self._env,
                pass_fds=(ready_w,),
                start_new_session=True,
            )
        except OSError as exc:
            for fd in (repl, terminal, ready_r, ready_w):
                os.close(fd)
            raise VtermError("cannot start the MicroPython unix port: %s" % exc) from exc
        os.close(terminal)
        os.close(ready_w)
        os.set_blocking(repl, False)
        self._repl, self._ready = repl, ready_r
        self._fatal = False
        self._exit_requested = False
        self._booted = False
        self._prompted = False
        self._held.clear()
        self._to_repl.clear()
        if raw:
            self._filter = "banner"
        else:
            self._filter = None
            self._to_repl += self._pending
            self._pending.clear()

    def _reap(self) -> None:
        """The interpreter closed its terminal: collect it and restart it (soft reset)."""
        proc = self._proc
        assert proc is not None
        try:
            status = proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = proc.wait(timeout=3)
        if self._ready is not None:
            self._read_ready()
            if self._ready is not None:
                os.close(self._ready)
                self._ready = None
        if self._repl is not None:
            os.close(self._repl)
            self._repl = None
        self._proc = None
        if self._held:  # output still held by the banner filter
            self._emit(bytes(self._held))
            self._held.clear()
        if self._exit_requested:
            status = 0
        if self._stop.is_set():
            return
        problem = None
        if self._fatal:
            # Nothing to restart into; the traceback is the last thing the console printed.
            tail = bytes(self._transcript[-600:])
            banner = _BANNER.search(tail)  # the REPL it went on to: not part of the story
            tail = _readable(tail[: banner.start()] if banner else tail).strip()
            problem = "the terminal cannot start:\n%s" % tail
        elif not self._prompted:
            self._boot_loop += 1
            if self._boot_loop >= _BOOT_LOOP:
                problem = (
                    "boot loop: %d starts in a row ended before any prompt (last exit "
                    "status %d)" % (_BOOT_LOOP, status)
                )
        else:
            self._boot_loop = 0
        if problem is not None:
            with self._changed:
                self.failure = problem
                self._changed.notify_all()
            self._stop.set()
            return
        if status < 0:
            # Killed by a signal (Ctrl-C in the instant between two lines, or from outside):
            # on the ESP32 that is a crash and a hard reset, which starts in the friendly REPL.
            self._emit(b"\r\n[vterm: interpreter killed by signal %d; restarting]\r\n" % -status)
            raw = False
        else:
            self._emit(SOFT_REBOOT)
            raw = self.mode == "raw"
        with self._changed:
            self.resets += 1
        self._spawn(raw)

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=2)
        for fd in (self._repl, self._ready):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._repl = self._ready = None
        self._proc = None


def parse_host(text: str) -> tuple[str, int]:
    """("127.0.0.1", 5000) from "127.0.0.1:5000"."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise VtermError("host must be HOST:PORT (e.g. 127.0.0.1:5000), not %r" % text)
    return host, int(port)


def image_heap(size: int, word_bits: int) -> int:
    """Heap the unix port spends on a ROMFS image of `size` bytes, which the terminal maps from
    flash instead: the image's GC blocks (4 words each), their allocation-table and finaliser
    bits, and 1 KB for the boot program that loads it. `--heap` is the heap left beside it,
    the application's (an ESP32's figure)."""
    block = word_bits // 2
    blocks = -(-size // block) + 1  # the bytes, and the bytearray holding them
    return blocks * block + -(-blocks * 3 // 8) + 1024


class VirtualTerminal:
    """One virtual terminal: flash image, application image, emulators, console.

    `flash` names the LittleFS image (created blank, with a storage key beside it, if
    missing); `host` the acquirer host (host, port) the modem and GPRS module reach, or None
    for no bearer; `gprs` the GPRS module fitted ("sim800" or "sim7600": the emulator, and
    the driver `board.unix_sim.gprs()` builds); `heap` the application's heap (the ESP32's
    by default).
    """

    def __init__(
        self,
        flash: str | os.PathLike = DEFAULT_FLASH,
        *,
        host: tuple[str, int] | None = None,
        gprs: str = "sim800",
        heap=micropython.ESP32_HEAP,
        romfs=None,
    ) -> None:
        if gprs not in GPRS_MODELS:
            raise VtermError(
                "GPRS module must be one of %s, not %r" % (", ".join(GPRS_MODELS), gprs)
            )
        self.flash = Path(flash).resolve()
        self.storage_key = self.flash.with_name("storage.key")
        # Every slip the printer cuts, as text and as a picture of the paper.
        self.receipts = self.flash.parent / "receipts"
        self.host = host
        self.gprs_model = gprs
        self.heap = parse_size(heap)
        # A ROMFS partition of this size (bytes), kept in romfs.img beside the flash: the
        # terminal then runs the image deployed there (`poskit deploy`, `mpremote romfs
        # deploy`), and the one built from device/ only while the partition holds none.
        self.romfs_size = parse_size(romfs) if romfs else 0
        self.romfs = self.flash.with_name("romfs.img")
        self.printer: PrinterEmulator | None = None
        self.display: DisplayEmulator | None = None
        self.keypad: KeypadEmulator | None = None
        self.pinpad: PinPadEmulator | None = None
        self.card_reader: CardReaderEmulator | None = None
        self.chip_reader: Tda8029Emulator | None = None
        self.contactless_reader: Pn532Emulator | None = None
        self.modem: ModemEmulator | None = None
        self.gprs: Sim800Emulator | None = None  # a Sim7600Emulator with gprs="sim7600"
        self.console: Console | None = None
        self.image_size = 0
        self._lock: int | None = None
        self._tmp: str | None = None

    def __enter__(self) -> VirtualTerminal:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> VirtualTerminal:
        """Prepare the flash, build the application image, start the emulators and the
        interpreter; returns when the terminal has mounted its flash."""
        try:
            self._lock_flash()
            image = self._snapshot_image()
            env = self._start_emulators()
            binary = micropython.binary()
            bits = micropython.word_bits(binary)
            partition = self._prepare_partition()

            def argv(raw: bool, ready_fd: int) -> list[str]:
                # The buffers the image is read into are the terminal's flash, not its heap.
                if partition is None:
                    total_heap = self.heap + image_heap(self.image_size, bits)
                else:
                    total_heap = self.heap + image_heap(self.romfs_size, bits)
                    with open(partition, "rb") as f:
                        if f.read(3) != b"\xd2\xcd\x31":  # no ROMFS image deployed there
                            total_heap += image_heap(self.image_size, bits)
                program = _BOOT % (str(image), ready_fd, raw, partition and str(partition))
                # -i: the REPL follows the boot program (even after a SystemExit, hence
                # the boot program's "X").
                return [binary, "-X", "heapsize=%d" % total_heap, "-i", "-c", program]

            self.console = Console(argv, env)
            self.console.start()
            self.console.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the interpreter and the emulators; release the flash (idempotent)."""
        if self.console is not None:
            self.console.stop()
        for _, emulator in self._emulators():
            emulator.stop()
        self.printer = self.display = self.keypad = self.pinpad = self.card_reader = None
        self.chip_reader = self.contactless_reader = None
        self.modem = self.gprs = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
            release_flash(self.flash)

    def peripherals(self) -> dict[str, str]:
        """name -> "host:port" of each emulator the device can reach (the name is the
        one `board.unix_sim.uart(name)` takes)."""
        return {name: "%s:%d" % emulator.address for name, emulator in self._emulators()}

    def _emulators(self) -> list[tuple[str, Emulator]]:
        named = (
            ("printer", self.printer),
            ("display", self.display),
            ("keypad", self.keypad),
            ("pinpad", self.pinpad),
            ("cardreader", self.card_reader),
            ("chipreader", self.chip_reader),
            ("contactless", self.contactless_reader),
            ("modem", self.modem),
            ("gprs", self.gprs),
        )
        return [(name, emulator) for name, emulator in named if emulator is not None]

    # --- set-up --------------------------------------------------------------------------

    def _lock_flash(self) -> None:
        """Create a blank image if there is none; hold it so no second virtual terminal
        writes the same flash (two LittleFS drivers on one image corrupt it)."""
        try:
            self.flash.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VtermError(
                "cannot make the folder of %s: %s" % (self.flash, exc.strerror or exc)
            ) from None
        hold_flash(self.flash)  # TerminalBusy names the command that has it
        created = False
        try:
            try:
                fd = os.open(self.flash, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                created = True
            except FileExistsError:
                fd = os.open(self.flash, os.O_RDWR)
        except OSError as exc:
            release_flash(self.flash)
            raise VtermError(
                "cannot open the flash image %s: %s" % (self.flash, exc.strerror or exc)
            ) from None
        except BaseException:
            release_flash(self.flash)
            raise
        self._lock = fd
        if created:
            # Erased flash reads 0xFF; the board formats such an image on first mount.
            block = b"\xff" * 4096
            for _ in range(FLASH_SIZE // len(block)):
                os.write(fd, block)
            if not self.storage_key.exists():
                key = os.open(self.storage_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(key, "wb") as f:
                    f.write(os.urandom(16))
        elif os.fstat(fd).st_size < 2 * 4096:
            raise VtermError("%s is not a flash image (too small)" % self.flash)

    def _prepare_partition(self) -> Path | None:
        """The ROMFS partition's file (created erased if missing), or None without one."""
        if not self.romfs_size:
            return None
        if not self.romfs.exists():
            with open(self.romfs, "wb") as f:
                f.write(b"\xff" * self.romfs_size)
        elif self.romfs.stat().st_size != self.romfs_size:
            raise VtermError(
                "%s holds a %d-byte ROMFS partition, not %d: give that size, or remove it"
                % (self.romfs, self.romfs.stat().st_size, self.romfs_size)
            )
        return self.romfs

    def _snapshot_image(self) -> Path:
        """A private copy of the application image: the terminal's ROMFS does not change
        under it when device/ is rebuilt meanwhile."""
        source = build.device_romfs(micropython.arch())
        self._tmp = tempfile.mkdtemp(prefix="poskit-vterm-")
        image = Path(self._tmp) / "app.romfs"
        shutil.copyfile(source, image)
        self.image_size = image.stat().st_size
        return image

    def _start_emulators(self) -> dict[str, str]:
        env = dict(os.environ)
        # Only the ROMFS image is the application: device/ on the host is not on the path.
        env["MICROPYPATH"] = micropython.FROZEN
        # The unix port keeps its REPL history in $HOME/.micropython.history, written when
        # the interpreter ends (every soft reset): what an installer types at the console,
        # keys included, would land in the host user's home. The ESP32 keeps no history
        # across a reset; without HOME the port keeps none either.
        env.pop("HOME", None)
        env["POSKIT_FLASH"] = str(self.flash)
        if self.storage_key.exists():
            env["POSKIT_STORAGE_KEY"] = str(self.storage_key)
        else:
            env.pop("POSKIT_STORAGE_KEY", None)
        for name in list(env):
            if name.startswith("POSKIT_UART_") or name == "POSKIT_GPRS_MODEL":
                del env[name]
        # Each is kept the moment it starts, so stop() closes it if a later one fails.
        self.printer = PrinterEmulator(png_dir=self.receipts)
        self.printer.start()
        self.display = DisplayEmulator("st7567")
        self.display.start()
        self.keypad = KeypadEmulator()
        self.keypad.start()
        # The pad leaves the factory with the acquirer host simulator's test TMK in master
        # slot 0, so sign-on can load the PIN key under it as on a real installation.
        self.pinpad = PinPadEmulator(master_keys={0: bytes.fromhex(DEFAULT_TERMINAL["tmk"])})
        self.pinpad.start()
        self.card_reader = CardReaderEmulator()
        self.card_reader.start()
        self.chip_reader = Tda8029Emulator()
        self.chip_reader.start()
        self.contactless_reader = Pn532Emulator()
        self.contactless_reader.start()
        if self.host is not None:
            # Every number dialled and every host opened reaches the acquirer host.
            self.modem = ModemEmulator(guard_s=1.0, default=self.host)
            self.modem.start()
            self.gprs = GPRS_MODELS[self.gprs_model](default=self.host)
            env["POSKIT_GPRS_MODEL"] = self.gprs_model
            self.gprs.start()
        for name, address in self.peripherals().items():
            env["POSKIT_UART_" + name.upper()] = address
        return env
