"""A terminal state folder: a virtual terminal's flash and storage key, kept on the host.

    DIR/flash.img     LittleFS v2 image: the terminal's flash (parameters, keys, counters)
    DIR/journal.img   the journal region: transaction journals and the pending reversal
                      (made by the terminal at its first start, docs/storage.md)
    DIR/storage.key   16 bytes: the device storage key (on an ESP32 it never leaves the chip)

`poskit provision --state DIR`, `poskit txn --state DIR` and the tests run the real device
code on MicroPython against such a folder, precompiled (.mpy) and in an ESP32-sized heap, as
a terminal runs it; the folder persists between runs like a terminal's flash.
"""

import argparse
import contextlib
import fcntl
import os
import secrets
import time
from pathlib import Path

from hostlib import build, micropython
from hostlib.errors import PoskitError

FLASH_SIZE = 1024 * 1024  # 1 MB of the ESP32's 4 MB flash is the LittleFS partition
STORAGE_KEY_SIZE = 16
_BLOCK = 4096
# Heaps a run may be given: below 8K not even the interpreter starts; the unix port takes
# no more than 1024M (and an ESP32 with PSRAM gives 4M at most).
MIN_HEAP = 8 * 1024
MAX_HEAP = 1024 * 1024 * 1024

# The command this process runs, named in another command's "terminal busy" (the CLI sets it).
command_name = "poskit"

# Code that every run starts with: the application image (ROMFS) mounted and on the path
# instead of device/, the flash mounted, the record store opened, the storage key read.
# The image is read into one buffer allocated first, beside a heap left the size of an
# ESP32-WROOM's; on the terminal the image is memory-mapped flash.
_ROM = """\
import gc, os, sys, vfs
_rom = bytearray(os.stat(%r)[6])
with open(%r, "rb") as _f:
    _f.readinto(_rom)
vfs.mount(vfs.VfsRom(_rom), "/rom")
sys.path[:] = [".frozen", "/rom"]
del _f
gc.collect()
"""
# A flash or a storage key the board cannot use ends the run with _UNUSABLE and one line
# saying why, which run() turns into a StateError (not a MicroPython traceback).
_UNUSABLE = 3
PRELUDE = (
    """\
from board import unix_sim as board
from app.store import logregion
try:
    board.mount_flash()
    storage_key = board.storage_key()
    journal_region = logregion.for_board(board)
except OSError as _exc:
    print("POSKIT-UNUSABLE", _exc)
    sys.exit(%d)
from app.store.records import RecordStore
store = RecordStore(board.DATA_ROOT)
store.recover()
store.journal_region = journal_region
"""
    % _UNUSABLE
)


class StateError(PoskitError):
    """The state folder is missing, incomplete or unusable."""


class SizeError(StateError, ValueError):
    """A heap size that is not one."""


class TerminalBusy(StateError):
    """Another command has the terminal's flash."""


def parse_size(size) -> int:
    """Heap bytes from 110000, "110K" or "2M"; SizeError outside 8K to 1024M."""
    text = str(size).strip().upper()
    scale = {"K": 1024, "M": 1024 * 1024}.get(text[-1:], 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit():
        raise SizeError("heap size %r is not bytes or a size such as 110K or 2M" % str(size))
    value = int(digits) * scale
    if not MIN_HEAP <= value <= MAX_HEAP:
        raise SizeError("heap size %s is out of range: 8K to 1024M" % str(size).strip())
    return value


def heap_size(text: str) -> str:
    """argparse type of every --heap: the size as given, once it is one (8K to 1024M)."""
    try:
        parse_size(text)
    except SizeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip().upper()


# --- the flash lock -------------------------------------------------------------------------
#
# Two programs mounting one flash image corrupt it (two LittleFS drivers, one block device).
# Whoever mounts it holds an flock on FLASH.lock beside it; the kernel drops the lock when the
# last process holding it ends, so a killed command leaves nothing that blocks the next. The
# file says who holds it, for the "terminal busy" message. Within one process the hold is
# counted, so a command that runs another (txn init runs provision) holds it once.

_held: dict[Path, list] = {}  # flash -> [lock file descriptor or None, holds]


def _lock_path(flash: Path) -> Path:
    return flash.with_name(flash.name + ".lock")


def _lock(flash: Path) -> int:
    path = _lock_path(flash)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateError("cannot lock %s: %s: %s" % (flash, path, exc.strerror)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").split("\t")
        os.close(fd)
        if len(holder) == 3:
            who = "%s (pid %s) has had it since %s" % (holder[1], holder[0], holder[2].strip())
        else:
            who = "another program has it"
        raise TerminalBusy(
            "terminal busy: %s: %s; wait for it to finish, or stop it" % (flash, who)
        ) from None
    os.ftruncate(fd, 0)
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    os.pwrite(fd, ("%d\t%s\t%s\n" % (os.getpid(), command_name, since)).encode(), 0)
    return fd


def _take(key: Path) -> int:
    # The descriptor of the hold this process counts for `key`, locking on first use.
    entry = _held[key]
    if entry[0] is None:
        entry[0] = _lock(key)
    return entry[0]


def hold_flash(flash: str | os.PathLike) -> int:
    """Hold the flash image for this process (TerminalBusy if another has it); returns the
    lock's descriptor, which a child process that mounts the flash may inherit. Every call
    needs its release_flash()."""
    key = Path(flash).resolve()
    _held.setdefault(key, [None, 0])[1] += 1
    try:
        return _take(key)
    except BaseException:
        release_flash(key)
        raise


def release_flash(flash: str | os.PathLike) -> None:
    """Undo one hold_flash(); the last one lets the flash go."""
    key = Path(flash).resolve()
    entry = _held.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _held[key]
        if entry[0] is not None:
            os.close(entry[0])


class TerminalState:
    """One virtual terminal's persistent state.

    Every run of device code on it holds its flash (see hold_flash); `with state.hold():`
    holds it across several runs, which is how a command keeps another off the terminal
    between its steps (the CLI does it for every command given --state).
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.flash = self.folder / "flash.img"
        self.storage_key = self.folder / "storage.key"

    def exists(self) -> bool:
        return self.flash.exists() and self.storage_key.exists()

    @contextlib.contextmanager
    def hold(self):
        """Keep the terminal for this process until the block ends (TerminalBusy if another
        program has it). On a folder with no terminal yet, create() takes it."""
        key = self.flash.resolve()
        _held.setdefault(key, [None, 0])[1] += 1
        try:
            if self.flash.exists():
                _take(key)
            yield self
        finally:
            release_flash(key)

    def create(self) -> None:
        """Make a blank terminal: erased flash and a fresh random storage key."""
        if self.flash.exists() or self.storage_key.exists():
            raise StateError("%s already holds a terminal" % self.folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError("cannot create %s: %s" % (self.folder, exc.strerror)) from None
        with self.hold():
            _take(self.flash.resolve())
            with open(self.flash, "wb") as f:
                for _ in range(FLASH_SIZE // _BLOCK):
                    f.write(b"\xff" * _BLOCK)
            fd = os.open(self.storage_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(STORAGE_KEY_SIZE))

    def _env(self) -> dict:
        return {"POSKIT_FLASH": str(self.flash), "POSKIT_STORAGE_KEY": str(self.storage_key)}

    def _check(self) -> None:
        if not self.exists():
            raise StateError(
                "%s is not a terminal state folder (no flash.img / storage.key)" % self.folder
            )
        key_size = self.storage_key.stat().st_size
        if key_size != STORAGE_KEY_SIZE:
            raise StateError(
                "%s is %d bytes, a storage key is %d: the terminal's keys cannot be read "
                "without the original (restore it from the backup of this folder)"
                % (self.storage_key, key_size, STORAGE_KEY_SIZE)
            )
        flash_size = self.flash.stat().st_size
        if flash_size != FLASH_SIZE:
            raise StateError(
                "%s is %d bytes, a terminal's flash is %d: the image is %s "
                "(restore it from the backup of this folder)"
                % (
                    self.flash,
                    flash_size,
                    FLASH_SIZE,
                    "truncated" if flash_size < FLASH_SIZE else "not this terminal's",
                )
            )

    def _program(self, code: str, heap) -> tuple[str, int]:
        # (full program, heap for the interpreter: the app's heap plus the image buffer)
        image = build.device_romfs(micropython.arch())
        size = image.stat().st_size
        program = _ROM % (str(image), str(image)) + PRELUDE + code
        if heap is None:  # an ESP32's, as the interpreter's word size has it
            heap = micropython.esp32_heap()
        return program, parse_size(heap) + size + 1024

    def popen(self, code: str, *, heap=None, env: dict | None = None):
        """Like run(), but with pipes for a conversation with the device code. `env` adds
        variables (POSKIT_UART_MODEM, POSKIT_UART_GPRS: where board.unix_sim finds the
        emulated modem and GPRS module). The interpreter holds the flash until it ends."""
        self._check()
        program, total = self._program(code, heap)
        with self.hold():
            return micropython.popen(
                program,
                heap=total,
                env={**self._env(), **(env or {})},
                pass_fds=(_take(self.flash.resolve()),),
            )

    def run(
        self,
        code: str,
        *,
        heap=None,
        timeout=120.0,
        stdin: str | None = None,
        env: dict | None = None,
    ) -> micropython.Run:
        """Run `code` on MicroPython with this terminal's flash mounted; names defined by
        PRELUDE (board, store, storage_key) are in scope. `env` adds variables, as popen().
        StateError if the board cannot mount the flash or read the storage key."""
        self._check()
        program, total = self._program(code, heap)
        with self.hold():
            out = micropython.run(
                code=program,
                heap=total,
                timeout=timeout,
                env={**self._env(), **(env or {})},
                stdin=stdin,
                pass_fds=(_take(self.flash.resolve()),),
            )
        if out.returncode == _UNUSABLE and out.stdout.startswith("POSKIT-UNUSABLE "):
            reason = out.stdout.splitlines()[0][len("POSKIT-UNUSABLE ") :]
            raise StateError("terminal %s cannot start: %s" % (self.folder, reason))
        return out
