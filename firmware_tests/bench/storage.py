# Storage figures on MicroPython, for `make bench`: app.store.records on LittleFS v2 over the RAM
# block device of the device tests. Prints one JSON object per line:
#   {"name": "param_save" | "key_save" | "journal_append" | "journal_clear" | "record_load"
#            | "journal_open",
#    "block_size", "payload" (bytes of the record; of the whole journal for journal_open),
#    "ops" (operations averaged),
#    "bytes" (programmed per op, mean), "bytes_max", "programs" / "erases" / "blocks"
#    (per op, mean: program calls, block erases, distinct blocks touched), "writes_max"
#    (programs + erases, worst op), "us" (per op, best of 3 means), "heap" (bytes one op
#    allocates)}
#   {"name": "power_cut", "operation", "block_size", "cut_points", "old", "new", "corrupt": 0}
# "power_cut" rows come from test_store.campaign_summary(): every flash write of each
# operation cut (clean and torn); a corrupt, lost or unreadable state fails the run instead of
# printing, so "corrupt" is always 0 when these rows appear.
# Run by tools/bench.py (MicroPython only); needs firmware_tests/mpy on the path, which it
# adds itself when run as a file.
import gc
import json
import sys
import time
import vfs

_HERE = __file__.rpartition("/")[0]
sys.path.append((_HERE + "/" if _HERE else "") + "../mpy")

from blockdev import RAMBlockDevice  # noqa: E402

from app.store.records import Journal, RecordStore  # noqa: E402

# The code's own time: importing app turned on the terminal's heap policy (a collection
# every 4 KB, app/__init__.py), whose collections in this bench's 2 MB heap would be
# timed too. Their cost is a row of its own (txn_reference.py, the terminal's heap).
gc.threshold(-1)

MOUNT = "/benchflash"
ROOT = MOUNT + "/data"
JOURNAL = ROOT + "/journal1.log"
OPS = 30  # operations per figure: journal appends fill 0-30 records, as a day's batch does


def data(size, seed):
    return bytes((seed * 131 + i * 7) & 0xFF for i in range(size))


class Bench:
    def __init__(self, block_size, block_count):
        self.dev = RAMBlockDevice(block_size, block_count)
        vfs.VfsLfs2.mkfs(self.dev)
        vfs.mount(vfs.VfsLfs2(self.dev), MOUNT)
        self.store = RecordStore(ROOT)
        self.store.save("terminal", data(600, 0))
        self.store.save("keys", data(400, 0))
        self.journal = Journal(JOURNAL)

    def close(self):
        vfs.umount(MOUNT)

    def flash_figures(self, name, payload, fn, before_pass=None, before_op=None):
        """Flash writes and time of OPS consecutive operations `fn(i)`. `before_pass` runs
        before each pass of OPS, `before_op` before each operation: neither is counted."""
        dev = self.dev
        total = [0, 0, 0, 0]
        bytes_max = writes_max = 0
        best = None
        for attempt in range(3):
            if before_pass:
                before_pass()
            elapsed = 0
            for i in range(OPS):
                if before_op:
                    before_op()
                dev.reset_counters()
                start = time.ticks_us()
                fn(i)
                elapsed += time.ticks_diff(time.ticks_us(), start)
                if attempt == 0:
                    total[0] += dev.bytes_written
                    total[1] += dev.programs
                    total[2] += dev.erases
                    total[3] += dev.blocks_touched()
                    bytes_max = max(bytes_max, dev.bytes_written)
                    writes_max = max(writes_max, dev.writes)
            per = elapsed / OPS
            best = per if best is None or per < best else best
        if before_pass:
            before_pass()
        if before_op:
            before_op()
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        fn(0)
        heap = gc.mem_alloc() - before
        gc.enable()
        row = {
            "name": name,
            "block_size": dev.block_size,
            "payload": payload,
            "ops": OPS,
            "bytes": total[0] / OPS,
            "bytes_max": bytes_max,
            "programs": total[1] / OPS,
            "erases": total[2] / OPS,
            "blocks": total[3] / OPS,
            "writes_max": writes_max,
            "us": best,
            "heap": heap,
        }
        print(json.dumps(row))


def measure(block_size, block_count):
    bench = Bench(block_size, block_count)
    try:
        params = [data(600, i) for i in range(2)]
        keys = [data(400, i) for i in range(2)]
        entry = data(200, 1)
        store = bench.store
        journal = bench.journal
        bench.flash_figures("param_save", 600, lambda i: store.save("terminal", params[i & 1]))
        bench.flash_figures("key_save", 400, lambda i: store.save("keys", keys[i & 1]))
        # From an empty journal to OPS records, as over a day's batch.
        bench.flash_figures("journal_append", 200, lambda i: journal.append(entry), journal.clear)

        def refill():
            journal.clear()
            for _ in range(OPS):
                journal.append(entry)

        bench.flash_figures("journal_clear", 0, lambda i: journal.clear(), before_op=refill)
        bench.flash_figures("record_load", 600, lambda i: store.load("terminal"))
        # Opening a journal of OPS records: the boot-time check for a torn tail.
        bench.flash_figures("journal_open", 200 * OPS, lambda i: Journal(JOURNAL), refill)
    finally:
        bench.close()


def campaigns():
    import test_store

    for key, entry in sorted(test_store.campaign_summary().items()):
        operation, block_size = key.split("/")
        row = {
            "name": "power_cut",
            "operation": operation,
            "block_size": int(block_size),
            "cut_points": entry["cut_points"],
            "old": entry["old"],
            "new": entry["new"],
            "corrupt": 0,
        }
        print(json.dumps(row))


def main():
    which = sys.argv[1:] or ("flash", "power_cut")
    if "flash" in which:
        measure(4096, 16)  # the ESP32's erase block
        measure(512, 64)
    if "power_cut" in which:
        campaigns()


main()
