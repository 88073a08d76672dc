# A simple RAM flash for the device tests (MicroPython; the harness puts this folder on the
# path). Kept apart from mptest so tests that do not need it do not compile it.
class RAMFlash:
    """Flash in RAM for vfs.VfsLfs2 (extended block protocol): erase sets 0xFF. The simple
    one; blockdev.RAMBlockDevice adds write counters and power cuts."""

    def __init__(self, block_size=512, count=64):
        self.block_size = block_size
        self.count = count
        self.data = bytearray(block_size * count)
        self._erased = b"\xff" * block_size
        self.wipe()

    def wipe(self):
        for block in range(self.count):
            self.ioctl(6, block)

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = memoryview(self.data)[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        self.data[start : start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.count
        if op == 5:
            return self.block_size
        if op == 6:
            start = arg * self.block_size
            self.data[start : start + self.block_size] = self._erased
            return 0
        return None


def mount_fresh(device, mount):
    """Erase `device`, format it and mount it at `mount` (unmounting what was there)."""
    import vfs

    try:
        vfs.umount(mount)
    except OSError:
        pass
    device.wipe()
    vfs.VfsLfs2.mkfs(device)
    vfs.mount(vfs.VfsLfs2(device), mount)
    return device
