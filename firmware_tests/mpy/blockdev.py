# A RAM block device for vfs.VfsLfs2 that counts flash writes and can cut the power.
# MicroPython only (viper copy loop); used by test_store.py and firmware_tests/bench/storage.py.
"""RAM flash for LittleFS tests, with write counters and power cuts.

`RAMBlockDevice(block_size, block_count)` implements the extended block protocol
(`readblocks(n, buf, off)`, `writeblocks(n, buf, off)`, `ioctl(op, arg)` for ops 1-6).
LittleFS changes flash in two ways, program (`writeblocks`) and erase (`ioctl(6, n)`); both
count as a flash write for `cut(n)`, so a campaign can cut the power at every one of them.

After the cut every program and erase fails with EIO. The device returns -EIO (5) rather than
raising: MicroPython's block-device glue does not catch a Python exception, which would unwind
through the middle of LittleFS's C code (whose list of open files can hold C stack objects
during a remove or rename); with the negative errno, the documented way for a block device to
fail, LittleFS unwinds itself and the caller gets OSError(5).

`power_cycle()` is the reboot: it returns a new device object on the same flash image with the
power on, and leaves this one dead for good, so a file object of the old mount closed later
by the garbage collector cannot write to the new one.

readblocks/writeblocks/ioctl allocate nothing (LittleFS may run them from a finaliser while
the heap is locked): every attribute exists from __init__, bytes are copied by a viper loop
(a memoryview slice would allocate), and counters stay small ints.
"""

import micropython
from micropython import const

_EIO = const(-5)
_IOCTL_BLOCK_COUNT = const(4)
_IOCTL_BLOCK_SIZE = const(5)
_IOCTL_BLOCK_ERASE = const(6)


@micropython.viper
def _copy(dst, dst_off: int, src, src_off: int, n: int):
    d = ptr8(dst)  # noqa: F821 (viper built-in)
    s = ptr8(src)  # noqa: F821
    i = 0
    while i < n:
        d[dst_off + i] = s[src_off + i]
        i += 1


@micropython.viper
def _fill(dst, off: int, n: int, value: int):
    d = ptr8(dst)  # noqa: F821
    i = 0
    while i < n:
        d[off + i] = value
        i += 1


class RAMBlockDevice:
    """Flash image in RAM: `block_size` (512 or 4096) x `block_count` bytes, erased to 0xFF.

    Counters since `reset_counters()`: `programs` (writeblocks calls), `erases`,
    `bytes_written` (programmed bytes), `writes` (programs + erases: the cut points), and
    `touched[n]`, set for each block programmed or erased.
    """

    def __init__(self, block_size=512, block_count=64, *, image=None, saved=None, erase=True):
        """`image`, and `saved` for `snapshot`, may be given: buffers of at least
        block_size x block_count bytes, which a long test reuses for every device it makes so
        that its heap does not fragment. `erase=False` keeps what `image` holds."""
        self.block_size = block_size
        self.block_count = block_count
        self.size = block_size * block_count
        if image is None:
            image = bytearray(self.size)
        if len(image) < self.size or (saved is not None and len(saved) < self.size):
            raise ValueError("image buffers must hold %d bytes" % self.size)
        if erase:
            _fill(image, 0, self.size, 0xFF)
        self.image = image
        self._saved = saved
        self.programs = 0
        self.erases = 0
        self.bytes_written = 0
        self.writes = 0
        self.cut_at = 0  # flash write number (counted in `writes`) at which power fails
        self.tear = False
        self.dead = False
        self._saved_valid = False
        self.touched = bytearray(block_count)  # 1 for each block programmed or erased

    # --- block protocol (called by LittleFS; must not allocate) -------------------------------

    def readblocks(self, block, buf, off=0):
        start = block * self.block_size + off
        if start < 0 or start + len(buf) > self.size:
            return _EIO
        _copy(buf, 0, self.image, start, len(buf))
        return 0

    def writeblocks(self, block, buf, off=None):
        if off is None:  # simple protocol: whole blocks, erased by the write itself
            off = 0
        start = block * self.block_size + off
        n = len(buf)
        if start < 0 or start + n > self.size:
            return _EIO
        if self._power_fails():
            if self.tear:
                _copy(self.image, start, buf, 0, n // 2)
            return _EIO
        _copy(self.image, start, buf, 0, n)
        self.touched[block] = 1
        self.programs += 1
        self.bytes_written += n
        return 0

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.block_count
        if op == _IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == _IOCTL_BLOCK_ERASE:
            if arg < 0 or arg >= self.block_count:
                return _EIO
            start = arg * self.block_size
            if self._power_fails():
                if self.tear:
                    _fill(self.image, start, self.block_size // 2, 0xFF)
                return _EIO
            _fill(self.image, start, self.block_size, 0xFF)
            self.touched[arg] = 1
            self.erases += 1
            return 0
        return 0  # init, deinit, sync: nothing to do in RAM

    def _power_fails(self):
        # Counts this write and says whether the power is (or just went) off.
        if self.dead:
            return True
        self.writes += 1
        if self.writes == self.cut_at:
            self.dead = True
            return True
        return False

    # --- test controls ----------------------------------------------------------------------

    def reset_counters(self):
        """Zero the counters; a pending `cut` counts from here."""
        self.programs = 0
        self.erases = 0
        self.bytes_written = 0
        self.writes = 0
        _fill(self.touched, 0, self.block_count, 0)

    def blocks_touched(self):
        """How many distinct blocks were programmed or erased since `reset_counters`."""
        return sum(self.touched)

    def cut(self, write, tear=False):
        """Cut the power at the `write`-th flash write (program or erase) from now: that write
        and every later one fail with EIO. With `tear`, the failing write first changes half
        of its bytes (programs the first half of its data, or erases half the block)."""
        self.reset_counters()
        self.cut_at = write
        self.tear = tear

    def power_cycle(self):
        """The power comes back: a new device on the same flash image (mount a new VfsLfs2 on
        it). This object stays dead, so nothing left of the old mount can write."""
        self.dead = True
        device = RAMBlockDevice(
            self.block_size, self.block_count, image=self.image, saved=self._saved, erase=False
        )
        device._saved_valid = self._saved_valid
        return device

    def snapshot(self):
        """Copy the whole image aside (into `saved`, or a buffer made on first use)."""
        if self._saved is None:
            self._saved = bytearray(self.size)
        _copy(self._saved, 0, self.image, 0, self.size)
        self._saved_valid = True

    def restore(self):
        """Put the image back as the last `snapshot` (of this device or the one it was
        power-cycled from) left it."""
        if not self._saved_valid:
            raise ValueError("no snapshot to restore")
        _copy(self.image, 0, self._saved, 0, self.size)


class Part:
    """Blocks `first`..`first + count - 1` of `flash.dev` as a block device of their own,
    following `flash` across its power cycles: a partition of the RAM flash, sharing its
    counters, cuts, snapshots and reboots. Allocates nothing (LittleFS calls it)."""

    def __init__(self, flash, first, count):
        self._flash = flash
        self.first = first
        self.count = count

    def readblocks(self, block, buf, off=0):
        return self._flash.dev.readblocks(self.first + block, buf, off)

    def writeblocks(self, block, buf, off=None):
        return self._flash.dev.writeblocks(self.first + block, buf, off)

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.count
        if op == _IOCTL_BLOCK_ERASE:
            if arg < 0 or arg >= self.count:
                return _EIO
            return self._flash.dev.ioctl(op, self.first + arg)
        return self._flash.dev.ioctl(op, arg)


class Flash:
    """LittleFS v2 on a RAMBlockDevice, mounted at `mount`: the flash of a power-cut test.

        flash = Flash("/flash", 4096, 16)
        flash.snapshot()                # the state every cut starts from
        flash.restore(); flash.dev.cut(3, tear=True); operation()   # fails at write 3
        flash.reboot()                  # the power comes back: a new device, a fresh mount

    `image` and `saved` as for RAMBlockDevice. `reboot` is a power cycle (the old device stays
    dead); `restore` is a power cycle back to the last snapshot. `log_blocks`: the last blocks
    are not LittleFS's but `log`, a Part for the journal region (app.store.logregion)."""

    def __init__(
        self, mount, block_size=512, block_count=64, *, image=None, saved=None, log_blocks=0
    ):
        import vfs

        self._vfs = vfs
        self.mount_point = mount
        self.dev = RAMBlockDevice(block_size, block_count, image=image, saved=saved)
        # LittleFS's blocks: a Part follows the device across power cycles by itself.
        self._fs = Part(self, 0, block_count - log_blocks) if log_blocks else None
        self.log = Part(self, block_count - log_blocks, log_blocks) if log_blocks else None
        vfs.VfsLfs2.mkfs(self._fs or self.dev)
        self.mounted = False
        self.mount()

    def mount(self):
        self._vfs.mount(self._vfs.VfsLfs2(self._fs or self.dev), self.mount_point)
        self.mounted = True

    def unmount(self):
        if self.mounted:
            self._vfs.umount(self.mount_point)
            self.mounted = False

    def reboot(self):
        self.unmount()
        self.dev = self.dev.power_cycle()
        self.mount()

    def snapshot(self):
        self.dev.snapshot()

    def restore(self):
        """Back to the last snapshot, as after a clean reboot."""
        self.unmount()
        self.dev = self.dev.power_cycle()
        self.dev.restore()
        self.mount()

    def close(self):
        import gc

        self.unmount()
        self.dev = None
        gc.collect()
