"""A terminal state folder: a virtual terminal's flash and storage key, kept on the host.

    DIR/flash.img     LittleFS v2 image: the terminal's flash (parameters, keys, journal)
    DIR/storage.key   16 bytes: the device storage key (on an ESP32 it never leaves the chip)

`poskit provision --state DIR`, `poskit txn --state DIR` and the tests run the real device
code on MicroPython against such a folder, precompiled (.mpy) and in an ESP32-sized heap, as
a terminal runs it; the folder persists between runs like a terminal's flash.
"""

import os
import secrets
from pathlib import Path

from hostlib import build, micropython
from hostlib.errors import PoskitError

FLASH_SIZE = 1024 * 1024  # 1 MB of the ESP32's 4 MB flash is the LittleFS partition
_BLOCK = 4096

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
PRELUDE = """\
from board import unix_sim as board
board.mount_flash()
from app.store import RecordStore
store = RecordStore(board.DATA_ROOT)
store.recover()
storage_key = board.storage_key()
"""


def parse_size(size) -> int:
    """Bytes from 110000, "110K" or "2M"."""
    if isinstance(size, int):
        return size
    text = str(size).strip().upper()
    scale = {"K": 1024, "M": 1024 * 1024}.get(text[-1:], 1)
    return int(text.rstrip("KM")) * scale


class StateError(PoskitError):
    """The state folder is missing, incomplete or unusable."""


class TerminalState:
    """One virtual terminal's persistent state."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.flash = self.folder / "flash.img"
        self.storage_key = self.folder / "storage.key"

    def exists(self) -> bool:
        return self.flash.exists() and self.storage_key.exists()

    def create(self) -> None:
        """Make a blank terminal: erased flash and a fresh random storage key."""
        if self.flash.exists() or self.storage_key.exists():
            raise StateError("%s already holds a terminal" % self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.flash, "wb") as f:
            for _ in range(FLASH_SIZE // _BLOCK):
                f.write(b"\xff" * _BLOCK)
        fd = os.open(self.storage_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(16))

    def _env(self) -> dict:
        return {"POSKIT_FLASH": str(self.flash), "POSKIT_STORAGE_KEY": str(self.storage_key)}

    def _check(self) -> None:
        if not self.exists():
            raise StateError(
                "%s is not a terminal state folder (no flash.img / storage.key)" % self.folder
            )

    def _program(self, code: str, heap) -> tuple[str, int]:
        # (full program, heap for the interpreter: the app's heap plus the image buffer)
        image = build.device_romfs(micropython.arch())
        size = image.stat().st_size
        program = _ROM % (str(image), str(image)) + PRELUDE + code
        return program, parse_size(heap) + size + 1024

    def popen(self, code: str, *, heap=micropython.ESP32_HEAP, env: dict | None = None):
        """Like run(), but with pipes for a conversation with the device code. `env` adds
        variables (POSKIT_UART_MODEM, POSKIT_UART_GPRS: where board.unix_sim finds the
        emulated modem and GPRS module)."""
        self._check()
        program, total = self._program(code, heap)
        return micropython.popen(program, heap=total, env={**self._env(), **(env or {})})

    def run(
        self,
        code: str,
        *,
        heap=micropython.ESP32_HEAP,
        timeout=120.0,
        stdin: str | None = None,
        env: dict | None = None,
    ) -> micropython.Run:
        """Run `code` on MicroPython with this terminal's flash mounted; names defined by
        PRELUDE (board, store, storage_key) are in scope. `env` adds variables, as popen()."""
        self._check()
        program, total = self._program(code, heap)
        return micropython.run(
            code=program,
            heap=total,
            timeout=timeout,
            env={**self._env(), **(env or {})},
            stdin=stdin,
        )
