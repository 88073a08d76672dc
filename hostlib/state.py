"""A terminal state folder: a virtual terminal's flash and storage key, kept on the host.

    DIR/flash.img     LittleFS v2 image: the terminal's flash (parameters, keys, journal)
    DIR/storage.key   16 bytes: the device storage key (on an ESP32 it never leaves the chip)

`poskit provision --state DIR`, `poskit txn --state DIR` and the tests run the real device
code on MicroPython against such a folder; it persists between runs like a terminal's flash.
"""

import os
import secrets
from pathlib import Path

from hostlib import micropython
from hostlib.errors import PoskitError

FLASH_SIZE = 1024 * 1024  # 1 MB of the ESP32's 4 MB flash is the LittleFS partition
_BLOCK = 4096

# Code that every run starts with: mount the flash, open the record store, read the key.
PRELUDE = """\
from board import unix_sim as board
board.mount_flash()
from app.store import RecordStore
store = RecordStore(board.DATA_ROOT)
store.recover()
storage_key = board.storage_key()
"""


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

    def popen(self, code: str, *, heap=micropython.ESP32_HEAP):
        """Like run(), but with pipes for a conversation with the device code."""
        self._check()
        return micropython.popen(PRELUDE + code, heap=heap, env=self._env())

    def run(
        self, code: str, *, heap=micropython.ESP32_HEAP, timeout=120.0, stdin: str | None = None
    ) -> micropython.Run:
        """Run `code` on MicroPython with this terminal's flash mounted; names defined by
        PRELUDE (board, store, storage_key) are in scope."""
        self._check()
        return micropython.run(
            code=PRELUDE + code, heap=heap, timeout=timeout, env=self._env(), stdin=stdin
        )
