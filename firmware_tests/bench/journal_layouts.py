# Where a journal record could go on the terminal's flash, for docs/storage.md ("The journal
# region"): the bytes programmed and the blocks erased per append of a 144-byte record, 40 in
# a row from an empty journal, on the RAM flash of the ESP32's geometry (4096-byte blocks,
# MicroPython's VfsLfs2 defaults), for four LittleFS layouts and for the journal region
# (app.store.logregion). Run by hand on MicroPython:
#   MICROPYPATH=device .venv/bin/micropython firmware_tests/bench/journal_layouts.py
import sys
import vfs

_HERE = __file__.rpartition("/")[0]
sys.path.append((_HERE + "/" if _HERE else "") + "../mpy")

from blockdev import RAMBlockDevice  # noqa: E402

from app.store.logregion import Region  # noqa: E402

RECORD = bytes(144)
COUNT = 40
MOUNT = "/layouts"


def mounted():
    dev = RAMBlockDevice(4096, 64)
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), MOUNT)
    return dev


def show(name, dev):
    print(
        "%-50s %6.0f bytes %5.2f erases per append"
        % (name, dev.bytes_written / COUNT, dev.erases / COUNT)
    )


def appended_and_closed():
    dev = mounted()
    dev.reset_counters()
    for _ in range(COUNT):
        with open(MOUNT + "/j", "ab") as f:
            f.write(RECORD)
    show("LittleFS: append, close (the file journal)", dev)
    vfs.umount(MOUNT)


def kept_open(preallocated):
    dev = mounted()
    if preallocated:
        with open(MOUNT + "/j", "wb") as f:
            f.write(b"\xff" * (len(RECORD) * COUNT))
    f = open(MOUNT + "/j", "r+b" if preallocated else "ab")
    dev.reset_counters()
    for i in range(COUNT):
        f.seek(len(RECORD) * i)
        f.write(RECORD)
        f.flush()  # the commit each record needs
    f.close()
    name = "preallocated, kept open" if preallocated else "append, kept open"
    show("LittleFS: %s, flushed each" % name, dev)
    vfs.umount(MOUNT)


def preallocated_closed():
    dev = mounted()
    with open(MOUNT + "/j", "wb") as f:
        f.write(b"\xff" * (len(RECORD) * COUNT))
    dev.reset_counters()
    for i in range(COUNT):
        with open(MOUNT + "/j", "r+b") as f:
            f.seek(len(RECORD) * i)
            f.write(RECORD)
    show("LittleFS: preallocated, written in place, close", dev)
    vfs.umount(MOUNT)


def region():
    dev = RAMBlockDevice(4096, 8)
    journal = Region(dev).journal(1)
    dev.reset_counters()
    for _ in range(COUNT):
        journal.append(RECORD[:130])  # 144 bytes framed
    show("journal region (app.store.logregion)", dev)


appended_and_closed()
kept_open(False)
preallocated_closed()
kept_open(True)
region()
