# mpy-heap: 384K
# The heap is raised for the test's RAM flash, not for the store: a 16-block image at the
# ESP32's 4096-byte erase size and its snapshot take 128 KB (flash, on the terminal), and the
# long campaign's 5 KB records need room beside this module compiled from source. What
# app.store.records itself allocates is checked below (test_store_allocates_little).
"""app.store.records on LittleFS v2 over a RAM block device: records, journal, and power cuts at
every flash write of a parameter save, a key save, a journal append and a journal clear."""

import binascii
import gc
import os
import struct

import blockdev
from mptest import objects

from app.store.records import Journal, RecordStore, StoreError

MOUNT = "/flash"
ROOT = MOUNT + "/data"
JOURNAL = ROOT + "/journal1.log"

PARAM_SIZE = 600
KEY_SIZE = 400
ENTRY_SIZE = 200

# Counts of the power-cut campaigns run in this process, by operation (campaign_summary()).
SUMMARY = {}


# --- helpers ------------------------------------------------------------------------------


def payload(size, seed):
    """`size` pseudo-random bytes, different for every seed."""
    out = bytearray(size)
    x = (seed * 2654435761 + 1) & 0x7FFFFFFF
    for i in range(size):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = x >> 16 & 0xFF
    return bytes(out)


def frame(data, sequence, version=1):
    """A record as docs/storage.md lays it out, built independently of app.store.records."""
    body = b"PK" + bytes((1, version)) + struct.pack(">HI", len(data), sequence) + data
    return body + struct.pack(">I", binascii.crc32(body))


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def write_file(path, data, mode="wb"):
    with open(path, mode) as f:
        f.write(data)


def damage(path, offset):
    """Flip one bit of the file at `path` (offset from the end if negative)."""
    data = bytearray(read_file(path))
    data[offset] ^= 0x10
    write_file(path, data)


def listing():
    try:
        return sorted(os.listdir(ROOT))
    except OSError:
        return []


def expect_error(kind, fn, *args):
    try:
        fn(*args)
    except kind as exc:
        return exc
    raise AssertionError("expected %s" % kind.__name__)


_BUFFERS = []
_LARGEST_IMAGE = 16 * 4096


def _buffers():
    # One flash image and one snapshot buffer for every test in the module, made while the
    # heap is still in one piece: a fresh 64 KB pair per campaign would not always find room.
    if not _BUFFERS:
        _BUFFERS.append(bytearray(_LARGEST_IMAGE))
        _BUFFERS.append(bytearray(_LARGEST_IMAGE))
    return _BUFFERS


def Flash(block_size=512, block_count=64):
    """A RAM flash with LittleFS mounted at MOUNT (blockdev.Flash), on the module's buffers."""
    image, saved = _buffers()
    return blockdev.Flash(MOUNT, block_size, block_count, image=image, saved=saved)


def with_flash(test, block_size=512, block_count=64):
    flash = Flash(block_size, block_count)
    try:
        test(flash)
    finally:
        flash.close()


# --- records ------------------------------------------------------------------------------


def test_save_load_round_trip_and_layout():
    def run(flash):
        store = RecordStore(ROOT)
        data = payload(PARAM_SIZE, 1)
        assert store.save("terminal", data, 3) == 1
        assert store.load("terminal") == (3, data)
        # On flash exactly as docs/storage.md says: magic, format, version, length, sequence,
        # payload, CRC32.
        assert read_file(ROOT + "/terminal.a") == frame(data, 1, 3)
        assert store.save("empty", b"") == 1
        assert store.load("empty") == (1, b"")
        # Another store object on the same directory reads the same records (as after boot).
        flash.reboot()
        assert RecordStore(ROOT).load("terminal") == (3, data)

    with_flash(run)


def test_never_saved_is_none():
    def run(flash):
        store = RecordStore(ROOT)
        assert store.load("app1") is None  # no directory yet
        store.save("terminal", b"x")
        assert store.load("app1") is None

    with_flash(run)


def test_two_slots_alternate():
    def run(flash):
        store = RecordStore(ROOT)
        first, second, third = payload(100, 1), payload(100, 2), payload(100, 3)
        assert store.save("keys", first) == 1
        assert listing() == ["keys.a"]
        assert store.save("keys", second) == 2
        assert listing() == ["keys.a", "keys.b"]
        assert read_file(ROOT + "/keys.a") == frame(first, 1)
        # The third save replaces the older copy (a) and leaves the newer one (b) alone.
        assert store.save("keys", third) == 3
        assert read_file(ROOT + "/keys.a") == frame(third, 3)
        assert read_file(ROOT + "/keys.b") == frame(second, 2)
        assert store.load("keys") == (1, third)
        assert store.save("keys", first) == 4
        assert read_file(ROOT + "/keys.b") == frame(first, 4)
        assert listing() == ["keys.a", "keys.b"]

    with_flash(run)


def test_higher_sequence_wins_in_either_slot():
    def run(flash):
        store = RecordStore(ROOT)
        old, new = payload(50, 1), payload(50, 2)
        os.mkdir(ROOT)
        for seq_a, seq_b, winner in ((7, 6, old), (6, 7, new), (0xFFFFFFFF, 0, new)):
            # Sequences count modulo 2**32: 0 follows 0xFFFFFFFF.
            write_file(ROOT + "/app1.a", frame(old, seq_a))
            write_file(ROOT + "/app1.b", frame(new, seq_b))
            assert store.load("app1") == (1, winner), (seq_a, seq_b)
        assert store.save("app1", b"next") == 1  # 0 + 1, into the older slot (a)
        assert read_file(ROOT + "/app1.a") == frame(b"next", 1)

    with_flash(run)


def test_damaged_newest_copy_gives_the_previous_good_copy():
    def run(flash):
        store = RecordStore(ROOT)
        good, newest = payload(PARAM_SIZE, 1), payload(PARAM_SIZE, 2)
        # Each way a copy can be damaged: payload bit, CRC bit, magic, length field, cut short,
        # trailing garbage, empty file, unknown format version.
        damages = (
            lambda p: damage(p, 300),
            lambda p: damage(p, -1),
            lambda p: damage(p, 0),
            lambda p: damage(p, 5),
            lambda p: write_file(p, read_file(p)[:-3]),
            lambda p: write_file(p, b"\0", "ab"),
            lambda p: write_file(p, b""),
            lambda p: damage(p, 2),
        )
        for spoil in damages:
            for name in listing():
                os.remove(ROOT + "/" + name)
            # A new store, as after a reboot: a store remembers what its last save found,
            # and nothing but the store writes its folder on the terminal.
            store = RecordStore(ROOT)
            store.save("terminal", good)
            store.save("terminal", newest)
            spoil(ROOT + "/terminal.b")
            assert store.load("terminal") == (1, good)
            # The next save goes over the damaged copy, never over the good one.
            third = payload(PARAM_SIZE, 3)
            store.save("terminal", third)
            assert read_file(ROOT + "/terminal.a") == frame(good, 1)
            assert store.load("terminal") == (1, third)

    with_flash(run)


def test_every_copy_damaged_raises_storeerror():
    def run(flash):
        store = RecordStore(ROOT)
        store.save("keys", payload(KEY_SIZE, 1))
        damage(ROOT + "/keys.a", 20)  # the only copy
        exc = expect_error(StoreError, store.load, "keys")
        assert str(exc) == "record 'keys' is damaged in every copy", str(exc)
        assert isinstance(exc, OSError)
        store.save("keys", payload(KEY_SIZE, 2))
        store.save("keys", payload(KEY_SIZE, 3))
        damage(ROOT + "/keys.a", -2)
        damage(ROOT + "/keys.b", 40)
        exc = expect_error(StoreError, store.load, "keys")
        assert "damaged in every copy" in str(exc)
        # Saving over a record damaged in every copy is allowed (re-provisioning).
        store.save("keys", b"fresh")
        assert store.load("keys") == (1, b"fresh")

    with_flash(run)


def test_recover_removes_stray_temporary_files():
    def run(flash):
        store = RecordStore(ROOT)
        assert store.recover() == 0  # no directory yet
        data = payload(PARAM_SIZE, 1)
        store.save("terminal", data)
        write_file(ROOT + "/terminal.b.tmp", data[:100])
        write_file(ROOT + "/journal1.log.tmp", b"PK")
        write_file(ROOT + "/keys.a.tmp", b"")
        assert store.recover() == 3
        assert listing() == ["terminal.a"]
        assert store.load("terminal") == (1, data)
        assert store.load("keys") is None  # a stray .tmp alone is not a saved record
        assert store.recover() == 0

    with_flash(run)


def test_a_save_is_one_flash_commit():
    # The older slot rewritten in place: LittleFS commits a file's new contents at close, so a
    # save of a small record (it lives in the directory's metadata) programs flash once, and
    # only the first save of a name looks at its slots.
    def run(flash):
        store = RecordStore(ROOT)
        store.save("counters1", b"12345678")
        store.save("counters1", b"12345679")  # both slots exist from here
        flash.dev.reset_counters()
        for i in range(10):
            store.save("counters1", b"%08d" % i)
        assert flash.dev.programs <= 12, flash.dev.programs  # 10, and a compaction's 2 spare
        assert listing() == ["counters1.a", "counters1.b"]
        assert RecordStore(ROOT).load("counters1") == (1, b"00000009")

    with_flash(run, 4096, 16)


def test_records_of_the_earlier_layout_are_read_and_replaced():
    # A terminal upgraded from the layout that wrote `slot.tmp` and renamed it over the slot:
    # the copies are framed the same way, so they read as they are; the newest is kept, the
    # older replaced, and a .tmp a cut left behind is not a copy (recover removes it at boot).
    def run(flash):
        os.mkdir(ROOT)
        for slot, seq in (("a", 41), ("b", 42)):
            write_file(ROOT + "/keys.%s.tmp" % slot, frame(b"copy %d" % seq, seq, 2))
            os.rename(ROOT + "/keys.%s.tmp" % slot, ROOT + "/keys.%s" % slot)
        write_file(ROOT + "/keys.a.tmp", frame(b"cut short", 43)[:9])
        store = RecordStore(ROOT)
        assert store.load("keys") == (2, b"copy 42")
        assert store.save("keys", b"copy 43") == 43
        assert read_file(ROOT + "/keys.a") == frame(b"copy 43", 43)
        assert read_file(ROOT + "/keys.b") == frame(b"copy 42", 42, 2)
        assert store.recover() == 1
        assert listing() == ["keys.a", "keys.b"]

    with_flash(run)


def test_power_cut_in_a_first_save_leaves_no_record():
    # A slot's first save is two commits, the file's creation then its contents: a cut between
    # them leaves an empty file, which reads as no copy, never as a damaged record.
    def run(flash):
        flash.snapshot()
        store = RecordStore(ROOT)
        flash.dev.reset_counters()
        store.save("identity", b"first")
        writes = flash.dev.writes
        seen_empty = False
        for tear in (False, True):
            for n in range(1, writes + 1):
                flash.restore()
                flash.dev.cut(n, tear)
                expect_error(OSError, RecordStore(ROOT).save, "identity", b"first")
                flash.reboot()
                seen_empty = seen_empty or listing() == ["identity.a"]
                store = RecordStore(ROOT)
                assert store.load("identity") in (None, (1, b"first")), (n, tear)
                store.save("identity", b"again")
                assert RecordStore(ROOT).load("identity")[1] == b"again", (n, tear)
        assert seen_empty

    with_flash(run, 4096, 16)


def test_delete():
    def run(flash):
        store = RecordStore(ROOT)
        store.save("keys", b"one")
        store.save("keys", b"two")
        store.save("terminal", b"kept")
        store.delete("keys")
        assert store.load("keys") is None
        assert listing() == ["terminal.a"]
        store.delete("keys")  # deleting what is not there is fine
        assert store.save("keys", b"again") == 1

    with_flash(run)


def test_bad_names_and_sizes_are_valueerrors():
    class Huge:
        # A payload's length is checked before anything is read or written.
        def __len__(self):
            return 65536

    def run(flash):
        store = RecordStore(ROOT)
        for name in ("", "app/1", "app.1", "../keys", "keys.a"):
            exc = expect_error(ValueError, store.save, name, b"x")
            assert "name" in str(exc), str(exc)
            expect_error(ValueError, store.load, name)
            expect_error(ValueError, store.delete, name)
        exc = expect_error(ValueError, store.save, "terminal", Huge())
        assert "65536" in str(exc) and "65535" in str(exc), str(exc)
        expect_error(ValueError, store.save, "terminal", b"x", 256)
        journal = Journal(JOURNAL)
        exc = expect_error(ValueError, journal.append, Huge())
        assert "65535" in str(exc)
        assert listing() == []  # nothing was written

    with_flash(run)


# --- journal ------------------------------------------------------------------------------


def test_journal_append_and_records():
    def run(flash):
        journal = Journal(JOURNAL)
        assert list(journal.records()) == []
        entries = [payload(ENTRY_SIZE, i) for i in range(5)]
        for i, entry in enumerate(entries):
            assert journal.append(entry) == i + 1
        expected = [(i + 1, entry) for i, entry in enumerate(entries)]
        assert list(journal.records()) == expected
        assert read_file(JOURNAL) == b"".join(frame(e, i + 1) for i, e in enumerate(entries))
        flash.reboot()
        journal = Journal(JOURNAL)
        assert list(journal.records()) == expected
        assert journal.append(b"sixth") == 6
        assert list(journal.records())[-1] == (6, b"sixth")
        assert journal.path == JOURNAL

    with_flash(run)


def test_journal_torn_tail_is_skipped_and_cut_off():
    def run(flash):
        entries = [payload(ENTRY_SIZE, i) for i in range(3)]
        good = b"".join(frame(e, i + 1) for i, e in enumerate(entries))
        torn_record = frame(payload(ENTRY_SIZE, 9), 4)
        tails = (
            torn_record[:5],  # part of a header
            torn_record[:120],  # header and part of the payload
            torn_record[:-1],  # all but the last CRC byte
            torn_record[:-4] + b"\0\0\0\0",  # whole length, CRC never written
            b"\xff" * 64,  # erased flash after the records
        )
        for tail in tails:
            journal = Journal(JOURNAL)
            journal.clear()
            for entry in entries:
                journal.append(entry)
            write_file(JOURNAL, tail, "ab")
            expected = [(i + 1, e) for i, e in enumerate(entries)]
            assert list(journal.records()) == expected  # stops at the torn record
            # Opening the journal (at boot) cuts the torn tail off, so the next append
            # follows the last good record instead of burying the torn bytes.
            journal = Journal(JOURNAL)
            assert read_file(JOURNAL) == good
            assert journal.append(b"next") == 4
            assert list(journal.records()) == expected + [(4, b"next")]
            assert read_file(JOURNAL) == good + frame(b"next", 4)
            assert JOURNAL[len(ROOT) + 1 :] + ".tmp" not in listing()

    with_flash(run)


def test_journal_damage_before_good_records_is_an_error():
    def run(flash):
        journal = Journal(JOURNAL)
        for i in range(4):
            journal.append(payload(ENTRY_SIZE, i))
        before = read_file(JOURNAL)
        damage(JOURNAL, (ENTRY_SIZE + 14) + 50)  # in record 2 of 4
        damaged = read_file(JOURNAL)
        exc = expect_error(StoreError, Journal, JOURNAL)
        assert "damaged at byte %d" % (ENTRY_SIZE + 14) in str(exc), str(exc)
        assert read_file(JOURNAL) == damaged  # records 3 and 4 are not cut off
        assert read_file(JOURNAL) != before

    with_flash(run)


def test_journal_clear():
    def run(flash):
        journal = Journal(JOURNAL)
        journal.append(b"one")
        journal.append(b"two")
        journal.clear()
        assert list(journal.records()) == []
        assert read_file(JOURNAL) == b""
        assert journal.append(b"after") == 1
        flash.reboot()
        journal = Journal(JOURNAL)
        assert list(journal.records()) == [(1, b"after")]
        assert listing() == ["journal1.log"]

    with_flash(run)


def test_failed_append_is_cleaned_up_before_the_next():
    # A full filesystem makes an append fail part-way without a reboot; the next append must
    # start from the last good record.
    def run(flash):
        store = RecordStore(ROOT)
        store.save("filler", payload(2000, 1))
        journal = Journal(JOURNAL)
        count = 0
        while True:
            try:
                journal.append(payload(ENTRY_SIZE, count))
            except OSError:
                break
            count += 1
            assert count < 100, "the filesystem never filled up"
        store.delete("filler")
        assert journal.append(b"after") == count + 1
        records = list(Journal(JOURNAL).records())
        assert [seq for seq, _ in records] == list(range(1, count + 2))
        assert records[-1] == (count + 1, b"after")

    with_flash(run, 512, 16)


def test_journal_append_does_not_rewrite_earlier_records():
    # 60 records of 214 bytes: 12.8 KB over 26 blocks of 512 bytes. An append programs the
    # new record, a copy of the file's last, partly filled block (LittleFS copies it rather
    # than program a block twice) and a directory commit. The journal's full blocks are never
    # programmed or erased again, so an append costs the same on a long journal as on a short
    # one; a journal rewritten in full would touch all 26 blocks.
    def run(flash):
        dev = flash.dev
        journal = Journal(JOURNAL)
        worst_bytes = worst_blocks = 0
        for i in range(60):
            dev.reset_counters()
            journal.append(payload(ENTRY_SIZE, i))
            worst_bytes = max(worst_bytes, dev.bytes_written)
            worst_blocks = max(worst_blocks, dev.blocks_touched())
        size = 60 * (ENTRY_SIZE + 14)
        assert worst_bytes <= 2 * dev.block_size + ENTRY_SIZE + 14 + 256, worst_bytes
        assert worst_bytes * 8 < size
        assert worst_blocks <= 4, worst_blocks
        assert list(journal.records()) == [(i + 1, payload(ENTRY_SIZE, i)) for i in range(60)]

    with_flash(run, 512, 64)


def test_store_allocates_little():
    # On the terminal the whole install cycle shares 110 KB: the store streams records
    # through a 128-byte buffer and holds only the payload it returns or appends.
    def run(flash):
        store = RecordStore(ROOT)
        journal = Journal(JOURNAL)
        data = payload(4000, 1)
        for i in range(40):
            journal.append(payload(ENTRY_SIZE, i))
        store.save("keys", data)

        def allocated(fn, *args):
            gc.collect()
            before = gc.mem_alloc()
            fn(*args)
            return gc.mem_alloc() - before

        gc.disable()
        try:
            save = allocated(store.save, "keys", data)
            load = allocated(store.load, "keys")
            reopen = allocated(Journal, JOURNAL)
            append = allocated(journal.append, payload(ENTRY_SIZE, 99))
        finally:
            gc.enable()
        # Each open file costs about 290 bytes on the ESP32 (the object and LittleFS's
        # 128-byte cache); a save opens one (three the first time after boot: it reads both
        # slots), a load up to three. The payloads are never copied, the 8.5 KB journal is
        # checked in 128-byte pieces, a record's framing is one allocation, and no CRC or
        # sequence number becomes a heap object (on the ESP32 every int at or above 2**30 is
        # one). Measured, 32-bit / 64-bit port: save 416 / 576 (1328 / 1856 when it wrote a
        # temporary file and read both slots every time),
        # load 4000 + 1184 / + 1664, reopen 1440 / 2464, append 214 + 330 / + 426 bytes; with
        # the CRCs as ints the 32-bit figures were 2416, 5408, 9376 and 640.
        assert save < objects(1536), save
        assert load < len(data) + objects(1280), load
        assert reopen < objects(1536), reopen
        assert append < ENTRY_SIZE + 14 + objects(384), append

    with_flash(run, 512, 64)


# --- power cuts ---------------------------------------------------------------------------


class World:
    """What the store holds: the expected state, and the operations that change it."""

    def __init__(self, param_size, key_size, entry_size):
        self.sizes = {"param save": param_size, "key save": key_size}
        self.entry_size = entry_size
        self.terminal = None
        self.keys = None
        self.journal = ()
        self.step = 0

    def state(self):
        return (self.terminal, self.keys, self.journal)

    def operation(self, kind):
        """(function doing the operation on flash, state it leads to)."""
        self.step += 1
        if kind == "journal clear":
            new = (self.terminal, self.keys, ())
            return lambda: Journal(JOURNAL).clear(), new
        if kind == "journal append":
            entry = payload(self.entry_size, 1000 + self.step)
            new = (self.terminal, self.keys, self.journal + ((len(self.journal) + 1, entry),))
            return lambda: Journal(JOURNAL).append(entry), new
        data = payload(self.sizes[kind], self.step)
        if kind == "param save":
            version = 1 + self.step % 3
            new = ((version, data), self.keys, self.journal)
            return lambda: RecordStore(ROOT).save("terminal", data, version), new
        new = (self.terminal, (1, data), self.journal)
        return lambda: RecordStore(ROOT).save("keys", data), new

    def adopt(self, state):
        self.terminal, self.keys, self.journal = state


def read_state():
    """Boot-time recovery, then everything the store holds."""
    store = RecordStore(ROOT)
    store.recover()
    journal = Journal(JOURNAL)
    return (store.load("terminal"), store.load("keys"), tuple(journal.records()))


def _note(kind, block_size, **counts):
    key = "%s/%d" % (kind, block_size)
    entry = SUMMARY.setdefault(
        key,
        {
            "operations": 0,
            "cut_points": 0,
            "old": 0,
            "new": 0,
            "writes_max": 0,
            "bytes_total": 0,
            "bytes_max": 0,
            "programs_total": 0,
            "erases_total": 0,
        },
    )
    for name, value in counts.items():
        if name.endswith("_max"):
            entry[name] = max(entry[name], value)
        else:
            entry[name] += value


def cut_every_write(flash, world, kind):
    """Do `kind` once from the snapshot to count its flash writes, then again with the power
    cut at each of them (clean and torn): after a reboot the store must hold exactly the old
    or exactly the new state, and still work. Leaves the flash in the new state, snapshotted."""
    old = world.state()
    operation, new = world.operation(kind)
    dev_size = flash.dev.block_size
    flash.restore()
    flash.dev.reset_counters()
    operation()
    dev = flash.dev
    writes = dev.writes
    _note(
        kind,
        dev_size,
        operations=1,
        writes_max=writes,
        bytes_total=dev.bytes_written,
        bytes_max=dev.bytes_written,
        programs_total=dev.programs,
        erases_total=dev.erases,
    )
    flash.reboot()
    assert read_state() == new, "%s: wrong state after a clean run" % kind
    for tear in (False, True):
        for n in range(1, writes + 1):
            flash.restore()
            flash.dev.cut(n, tear)
            try:
                operation()
            except OSError:
                pass
            else:
                raise AssertionError("%s finished despite a power cut at write %d" % (kind, n))
            flash.reboot()
            where = "%s, %d-byte blocks, power cut at write %d of %d%s" % (
                kind,
                dev_size,
                n,
                writes,
                " (torn)" if tear else "",
            )
            try:
                state = read_state()
            except StoreError as exc:
                raise AssertionError("%s: %s" % (where, exc)) from None
            assert state == old or state == new, "%s: neither the old nor the new state" % where
            assert [name for name in listing() if name.endswith(".tmp")] == [], where
            if state == old:
                # The terminal retries after the reboot: the store must still work.
                operation()
                assert read_state() == new, "%s: retry after the cut went wrong" % where
            _note(kind, dev_size, cut_points=1, old=state == old, new=state == new)
    # Move on from the new state.
    flash.restore()
    operation()
    flash.snapshot()
    world.adopt(new)


def campaign(block_size, block_count, steps, sizes=(PARAM_SIZE, KEY_SIZE, ENTRY_SIZE), batch=6):
    """Fill a store with a terminal record, keys and a journal, then run cut_every_write on
    `steps` operations in turn: parameter save, key save, journal append, ..., and after
    every `batch` appends a journal clear (settlement) instead."""
    flash = Flash(block_size, block_count)
    try:
        world = World(*sizes)
        for kind in ("param save", "param save", "key save", "key save") + ("journal append",) * 3:
            operation, new = world.operation(kind)
            operation()
            world.adopt(new)
        assert read_state() == world.state()
        flash.snapshot()
        kinds = ("param save", "key save", "journal append")
        for step in range(steps):
            kind = kinds[step % 3]
            if kind == "journal append" and len(world.journal) >= batch:
                kind = "journal clear"
            cut_every_write(flash, world, kind)
    finally:
        flash.close()


def _report(block_size):
    suffix = "/%d" % block_size
    for key in sorted(SUMMARY):
        if key.endswith(suffix):
            entry = SUMMARY[key]
            print(
                "cut points:", key, entry["cut_points"], "old", entry["old"], "new", entry["new"]
            )


def _esp32_blocks_campaign():
    # The terminal's geometry: 4096-byte erase blocks (esp32.Partition), MicroPython's default
    # LittleFS settings (32-byte reads and programs, 128-byte cache). Ten rounds of the three
    # operations, each against the state the others left, and settlements (journal clears).
    campaign(4096, 12, 30)


def _small_blocks_campaign():
    # 512-byte blocks: a 600-byte record spans two blocks and the directory is compacted
    # eight times as often, so more of LittleFS's paths are cut.
    campaign(512, 64, 60)


def test_power_cut_at_every_write_esp32_blocks():
    _esp32_blocks_campaign()
    _report(4096)
    for kind in ("param save", "key save", "journal append", "journal clear"):
        assert SUMMARY[kind + "/4096"]["cut_points"] > 0, kind


def test_power_cut_at_every_write_small_blocks():
    _small_blocks_campaign()
    _report(512)
    for kind in ("param save", "key save", "journal append", "journal clear"):
        assert SUMMARY[kind + "/512"]["cut_points"] > 0, kind


def test_power_cut_long_run_slow():
    # Hundreds of operations in a row: many directory compactions and, past LittleFS's
    # block_cycles (100 on MicroPython), relocations of the directory's blocks; records
    # spanning several blocks; a journal filling whole 4096-byte blocks.
    campaign(512, 64, 450)
    campaign(512, 96, 90, sizes=(3000, 5000, 600))
    campaign(4096, 16, 240, batch=40)
    _report(512)
    _report(4096)


def campaign_summary():
    """Counts of the campaigns run so far in this process, by "operation/block size"
    ("param save/4096", "key save/512", "journal append/...", "journal clear/..."): each a
    dict of cut_points tried, how many left the old and the new state (any other outcome
    fails the campaign), and the flash writes of the uninterrupted runs (operations,
    writes_max, bytes_total, bytes_max, programs_total, erases_total). Runs the default
    campaigns first, without printing, if none has run."""
    if not SUMMARY:
        _esp32_blocks_campaign()
        _small_blocks_campaign()
    return SUMMARY
