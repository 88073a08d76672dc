"""The unix simulator board: the virtual terminal on MicroPython's unix port.

Its flash is a LittleFS v2 image in a file (persistent between runs, like the ESP32's flash
partition); its storage key a file kept beside the image, standing in for the ESP32's
eFuse-protected key, so the flash image alone never opens a key. The host side
(hostlib.state) names both files in the environment: POSKIT_FLASH, POSKIT_STORAGE_KEY.
"""

import os
import vfs
from micropython import const

_BLOCK_SIZE = const(4096)
MOUNT = "/flash"
DATA_ROOT = "/flash/data"


class FileBlockDevice:
    """A block device over an image file, for vfs.VfsLfs2 (extended block protocol)."""

    def __init__(self, path, block_size=_BLOCK_SIZE):
        self._file = open(path, "r+b")
        self._file.seek(0, 2)
        self._count = self._file.tell() // block_size
        self._block_size = block_size
        self._erased = b"\xff" * block_size

    def readblocks(self, block, buf, offset=0):
        self._file.seek(block * self._block_size + offset)
        self._file.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        if offset is None:
            # Erase-and-write of whole blocks (littlefs erases through ioctl 6 first).
            offset = 0
        self._file.seek(block * self._block_size + offset)
        self._file.write(buf)
        self._file.flush()

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self._count
        if op == 5:  # block size
            return self._block_size
        if op == 6:  # erase one block: flash reads 0xFF after an erase
            self._file.seek(arg * self._block_size)
            self._file.write(self._erased)
            return 0
        return None

    def deinit(self):
        self._file.close()


def mount_flash(path=None):
    """Mount the flash image at /flash. A new image (just created by the host, never
    mounted) is formatted; an existing image that does not mount is an error, never
    silently formatted: that would lose the terminal's journal."""
    path = path or os.getenv("POSKIT_FLASH")
    if not path:
        raise OSError("POSKIT_FLASH does not name the flash image")
    device = FileBlockDevice(path)
    try:
        fs = vfs.VfsLfs2(device, progsize=256)  # reads the superblock: fails on a bad image
    except OSError:
        first = bytearray(16)
        device.readblocks(0, first)
        if first != b"\xff" * 16:
            raise OSError("flash image %s is not a LittleFS v2 filesystem" % path)
        vfs.VfsLfs2.mkfs(device, progsize=256)
        fs = vfs.VfsLfs2(device, progsize=256)
    vfs.mount(fs, MOUNT)
    try:
        os.mkdir(DATA_ROOT)
    except OSError:
        pass  # already there
    return fs


def storage_key():
    """The 16-byte device storage key, from the file named by POSKIT_STORAGE_KEY."""
    path = os.getenv("POSKIT_STORAGE_KEY")
    if not path:
        raise OSError("POSKIT_STORAGE_KEY does not name the storage key file")
    with open(path, "rb") as f:
        key = f.read()
    if len(key) != 16:
        raise OSError("storage key file must hold 16 bytes")
    return key
