# The transaction journal (app.store.journal) with thousands of records before a settlement, on
# the ESP32's 110 KB heap: a void's lookup, the settlement totals and the batch upload's list
# still run when the heap is cut into small pieces, and give the right answers. The journal
# lives on LittleFS in a 1 MB image file, as on the terminal (RAM could not hold it beside the
# heap cap).
import gc
import os
import random
import vfs

from app.store.journal import COMPLETION, REFUND, SALE, SALE_VOID, TransactionJournal
from app.store.records import RecordStore, free_blocks
from board.unix_sim import FileBlockDevice

MOUNT = "/jheap"
ROOT = MOUNT + "/data"
KEY = b"fedcba9876543210"
BLOCKS = 256  # 1 MB: the ESP32 partition (hostlib.state.FLASH_SIZE)


def _tmp():
    # Memory-backed where the machine has it: a few thousand appends flush the image often.
    for folder in ("/dev/shm", os.getenv("TMPDIR"), "/tmp"):
        try:
            if folder and os.stat(folder)[0] & 0x4000:
                return folder
        except OSError:
            pass
    return "."


_TMP = _tmp()


def _image():
    path = "%s/poskit-jheap-%08x.img" % (_TMP, random.getrandbits(32))
    with open(path, "wb") as f:
        erased = b"\xff" * 4096
        for _ in range(BLOCKS):
            f.write(erased)
    return path


class Flash:
    """A LittleFS filesystem in a temporary image file, mounted at MOUNT; `close()` removes it."""

    def __init__(self):
        self.path = _image()
        self.device = FileBlockDevice(self.path)
        vfs.VfsLfs2.mkfs(self.device)
        vfs.mount(vfs.VfsLfs2(self.device), MOUNT)
        RecordStore(ROOT).save("x", b"")  # makes the data folder

    def close(self):
        vfs.umount(MOUNT)
        self.device.deinit()
        os.remove(self.path)


def fill(journal, count):
    """`count` records of batch 1: sales, and from the 3rd record on every 5th a void of the
    sale before it, every 7th a refund, every 11th a completion; returns the expected totals."""
    debit = debit_count = credit = credit_count = 0
    stan = 0
    last_sale = None
    for i in range(count):
        stan += 1
        amount = 100 + i
        if i % 5 == 2 and last_sale is not None:
            original, original_amount = last_sale
            journal.append(
                SALE_VOID, stan, 1, original_amount, "20250520", "103015",
                original_stan=original, original_batch=1,
            )  # fmt: skip
            debit -= original_amount
            debit_count -= 1
            last_sale = None
            continue
        kind = REFUND if i % 7 == 3 else COMPLETION if i % 11 == 4 else SALE
        journal.append(kind, stan, 1, amount, "20250520", "103015", rrn="%012d" % stan)
        if kind == REFUND:
            credit += amount
            credit_count += 1
        else:
            debit += amount
            debit_count += 1
        if kind == SALE:
            last_sale = (stan, amount)
    return debit, debit_count, credit, credit_count


def fragmented():
    """Fill the heap with 2 KB blocks and free every other one: what is free afterwards is in
    pieces of at most about 2 KB, as after a day of transactions. Returns the blocks held."""
    gc.collect()
    blocks = []
    try:
        while True:
            blocks.append(bytearray(2000))
    except MemoryError:
        pass
    for i in range(0, len(blocks), 2):
        blocks[i] = None
    gc.collect()
    return blocks


def test_thousands_of_records_in_a_fragmented_heap():
    flash = Flash()
    try:
        journal = TransactionJournal(ROOT, 1, KEY)
        expected = fill(journal, 3001)
        assert journal.count() == 3001
        held = fragmented()
        try:
            totals = journal.totals(1)
            voided = journal.find(2, 1, (SALE,))
            standing = 0
            for _ in journal.standing(1):
                standing += 1
            last = journal.last()
            by_rrn = journal.find_rrn("%012d" % 3000)
        finally:
            held.clear()  # the heap back before the checks
        assert totals == expected
        assert standing == expected[1] + expected[3]
        assert voided.status == "voided" and voided.stan == 2
        assert journal.find(3001, 1, (SALE,)).status == "approved"
        assert last.stan == 3001
        assert by_rrn.stan == 3000
    finally:
        flash.close()


def test_free_blocks_of_a_full_flash_is_zero():
    # LittleFS counts more blocks in use than it has once it is full, and statvfs wraps.
    flash = Flash()
    try:
        free, block = free_blocks(MOUNT)
        assert block == 4096 and BLOCKS - 8 < free < BLOCKS
        chunk = b"x" * 1000
        try:
            while True:
                with open(ROOT + "/filler", "ab") as f:
                    f.write(chunk)
        except OSError:
            pass
        assert os.statvfs(MOUNT)[4] not in range(1, BLOCKS)  # wrapped (or 0)
        assert free_blocks(MOUNT) == (0, 4096)
    finally:
        flash.close()
