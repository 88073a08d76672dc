# The journal region (app.store.logregion) on MicroPython over a RAM flash that counts its
# writes and cuts the power: what an append programs, records read back across blocks and
# owners, a torn record read as absent, clear in one header write, the room kept for it, and
# a power cut (clean and torn) at every flash write of appends and clears at both block sizes.
# mpy-heap: 256K

from blockdev import RAMBlockDevice
from mptest import expect_error

from app.store.logregion import Region


def payload(size, seed):
    return bytes((seed * 7 + i) & 0xFF for i in range(size))


def read(region, owner):
    return [(s, bytes(p)) for s, p in region.journal(owner).records()]


def test_an_append_programs_its_own_bytes_once():
    dev = RAMBlockDevice(4096, 8)
    journal = Region(dev).journal(1)
    dev.reset_counters()
    journal.append(payload(126, 1))  # a sale's record: 140 bytes framed
    # The block's erase and header, then the record: 16 + 144 bytes.
    assert (dev.erases, dev.programs, dev.bytes_written) == (1, 2, 160)
    dev.reset_counters()
    for i in range(20):
        journal.append(payload(126, i))
    assert dev.bytes_written == 20 * 144 and dev.erases == 0


def test_records_come_back_in_order_across_blocks_owners_and_restarts():
    dev = RAMBlockDevice(512, 16)
    region = Region(dev)
    one, two = region.journal(1), region.journal(0x81)
    written = {1: [], 0x81: []}
    for i in range(40):
        journal, owner = (one, 1) if i % 3 else (two, 0x81)
        data = payload(60 + i % 50, i)
        sequence = journal.append(data)
        written[owner].append((sequence, data))
    assert read(region, 1) == written[1] and read(Region(dev), 0x81) == written[0x81]
    assert [s for s, _ in written[1]] == list(range(1, len(written[1]) + 1))
    assert Region(dev).journal(1).count() == len(written[1])
    # The other owner's journal is untouched by a clear; sequences start again at 1.
    one.clear()
    assert read(Region(dev), 1) == [] and read(Region(dev), 0x81) == written[0x81]
    assert Region(dev).journal(1).append(b"after") == 1
    assert read(Region(dev), 1) == [(1, b"after")]


def test_a_torn_record_is_absent_and_the_next_append_follows_it():
    dev = RAMBlockDevice(4096, 4)
    journal = Region(dev).journal(2)
    journal.append(b"first sale")
    dev.cut(1, tear=True)
    expect_error(OSError, (), lambda: journal.append(payload(120, 3)))
    dev = dev.power_cycle()
    journal = Region(dev).journal(2)
    assert [bytes(p) for _, p in journal.records()] == [b"first sale"]
    assert journal.append(b"second sale") == 2
    # The torn bytes stay where they were: the append went on in a fresh block.
    assert read(Region(dev), 2) == [(1, b"first sale"), (2, b"second sale")]


def test_room_keeps_a_block_for_clear_and_a_full_region_refuses():
    dev = RAMBlockDevice(512, 4)
    region = Region(dev)
    journal = region.journal(1)
    per_block = (512 - 16) // 208
    assert journal.room() == 2 * per_block  # 4 blocks, less the clear's and a reversal's
    appended = 0
    while journal.room() > 0:
        journal.append(payload(192, appended))  # the largest record: 208 bytes padded
        appended += 1
    assert appended == 2 * per_block
    assert expect_error(OSError, (), lambda: [journal.append(b"x" * 192) for _ in range(99)])
    journal = Region(dev.power_cycle()).journal(1)
    count = journal.count()
    journal.clear()  # the block kept free takes the new epoch
    assert journal.count() == 0 and journal.room() == 2 * per_block and count > appended
    expect_error(ValueError, (), lambda: journal.append(b"x" * 600))
    expect_error(ValueError, (), lambda: region.journal(0))


# --- power cuts ---------------------------------------------------------------------------


def cut_campaign(block_size, block_count, operations, size):
    """Appends to two journals (one with records the other's block recycling must spare) and
    a clear after every 7: each cut at every flash write, clean and torn. After the cut the
    journals hold the old or the new records, and a retry works. Returns the cut points."""
    dev = RAMBlockDevice(block_size, block_count)
    state = {1: [], 2: []}
    points = 0
    for step in range(operations):
        owner = 1 if step % 4 else 2
        new = dict(state)
        data = payload(size + step % 40, step)
        if owner == 1 and len(state[1]) >= 7:
            new[1] = []

            def operation(dev):
                Region(dev).journal(1).clear()
        else:
            new[owner] = state[owner] + [(len(state[owner]) + 1, data)]

            def operation(dev, owner=owner, data=data):
                Region(dev).journal(owner).append(data)

        dev.snapshot()
        dev.reset_counters()
        operation(dev)
        writes = dev.writes
        for tear in (False, True):
            for n in range(1, writes + 1):
                dev.restore()
                dev.cut(n, tear)
                expect_error(OSError, (), operation, dev)
                dev = dev.power_cycle()
                where = "step %d, %d-byte blocks, cut at write %d of %d%s" % (
                    step,
                    block_size,
                    n,
                    writes,
                    " (torn)" if tear else "",
                )
                region = Region(dev)
                got = {1: read(region, 1), 2: read(region, 2)}
                assert got == state or got == new, where
                if got == state:
                    operation(dev)
                    region = Region(dev)
                    assert {1: read(region, 1), 2: read(region, 2)} == new, where + ": retry"
                points += 1
        dev.restore()
        operation(dev)
        state = new
    return points


def test_a_power_cut_at_every_write_leaves_the_old_or_the_new_journal_esp32_blocks():
    assert cut_campaign(4096, 6, 150, 100) > 150


def test_a_power_cut_at_every_write_leaves_the_old_or_the_new_journal_small_blocks():
    assert cut_campaign(512, 12, 60, 60) > 60


# --- the earlier layout -------------------------------------------------------------------

KEY = b"0123456789abcdef"
MOUNT = "/regionflash"
ROOT = MOUNT + "/data"


def _old_day(flash):
    # A journal file of the earlier layout, with two sales.
    from app.store.journal import SALE, TransactionJournal

    old = TransactionJournal(ROOT, 1, KEY)
    for stan in (1, 2):
        old.append(SALE, stan, 1, 100 * stan, "20261207", "120000", pan="6224242900000113")
    flash.snapshot()


def _journal(flash):
    from app.store.journal import TransactionJournal

    return TransactionJournal(ROOT, 1, KEY, region=Region(flash.log))


def test_a_journal_file_of_the_earlier_layout_is_kept_until_settlement_then_the_region():
    import os

    from blockdev import Flash

    from app.store.journal import SALE

    flash = Flash(MOUNT, 4096, 12, log_blocks=4)
    try:
        os.mkdir(ROOT)
        _old_day(flash)
        journal = _journal(flash)
        assert [e.stan for e in journal.records()] == [1, 2]
        assert journal.find(2, 1).amount == 200 and journal.room() is None
        journal.append(SALE, 3, 1, 300, "20261207", "120100")
        assert [e.stan for e in _journal(flash).records()] == [1, 2, 3]
        assert [bytes(p) for _, p in Region(flash.log).journal(1).records()] == []
        flash.dev.reset_counters()
        journal.clear()  # the settlement: the file emptied, removed, the region from now on
        assert "journal1.log" not in os.listdir(ROOT) and journal.count() == 0
        journal.append(SALE, 4, 2, 400, "20261207", "130000")
        assert [(e.stan, e.batch) for e in _journal(flash).records()] == [(4, 2)]
        assert _journal(flash).room() > 0
        # A power cut at any write of that settlement's clear: the old journal, or an
        # empty one in the region; either way the next sale goes to the right place.
        for tear in (False, True):
            n = 1
            while True:
                flash.restore()
                flash.dev.cut(n, tear)
                try:
                    _journal(flash).clear()
                except OSError:
                    pass
                else:
                    break
                flash.reboot()
                journal = _journal(flash)
                stans = [e.stan for e in journal.records()]
                assert stans in ([1, 2], []), (n, tear, stans)
                journal.append(SALE, 9, 1, 900, "20261207", "140000")
                assert [e.stan for e in _journal(flash).records()] == stans + [9]
                n += 1
            assert n > 2
    finally:
        flash.close()


def test_a_record_keeps_its_payload_version_and_a_clear_makes_a_new_generation():
    region = Region(RAMBlockDevice(512, 8))
    journal = region.journal(0x41)
    assert journal.epoch() == 1
    journal.append(b"one")
    journal.append(b"two", 2)
    got = []
    for sequence, p in journal.records():
        got.append((sequence, bytes(p), journal.version))
    assert got == [(1, b"one", 1), (2, b"two", 2)] and journal.epoch() == 1
    journal.clear()
    assert journal.epoch() == 2 and journal.count() == 0


def test_a_pending_reversal_is_kept_in_the_region_and_one_of_the_earlier_layout_is_read():
    import os

    from blockdev import Flash

    from app.crypto import seal
    from app.store.journal import SALE, TransactionJournal
    from app.store.records import RecordStore
    from app.txn.reversal import PendingReversal, put_items

    fields = {3: "000000", 4: "000000000100", 11: "000012", 41: "T1"}

    def store(flash):
        store = RecordStore(ROOT)
        store.journal_region = Region(flash.log)  # as after a power-up
        return store

    def reversal(flash):
        return PendingReversal(store(flash), 1, KEY)

    def earlier():
        # The earlier layout's payload: reason, MTI and every item, all sealed.
        out = bytearray(b"980200")
        put_items(out, fields, (3, 4, 11, 41))
        return seal.seal(KEY, out)

    flash = Flash(MOUNT, 4096, 12, log_blocks=4)
    try:
        os.mkdir(ROOT)
        # The earlier layouts, in the store and in the log: read, then ended, as before.
        RecordStore(ROOT).save("reversal1", earlier())
        assert reversal(flash).load() == ("98", "0200", fields)
        reversal(flash).end()
        assert reversal(flash).load() is None and os.listdir(ROOT) == []
        Region(flash.log).journal(0x41).append(earlier())
        assert reversal(flash).load() == ("98", "0200", fields)
        reversal(flash).end()
        assert reversal(flash).load() is None
        # This release: the pre-send record saved and updated in the region alone.
        pending = reversal(flash)
        flash.dev.reset_counters()
        pending.save("0200", fields)
        pending.update("A0", "123456")
        # 58 and 66 bytes framed (the auth code added), each padded to 16.
        assert os.listdir(ROOT) == [] and flash.dev.bytes_written == 64 + 80
        updated = dict(fields)
        updated[38] = "123456"
        assert reversal(flash).load() == ("A0", "0200", updated)
        assert reversal(flash).stan() == 12
        # The journal's next record ends it: nothing more is written.
        TransactionJournal(ROOT, 1, KEY, False, Region(flash.log)).append(
            SALE, 12, 1, 100, "20261207", "120000"
        )
        assert reversal(flash).load() is None and reversal(flash).stan() == 12
        # A card number is sealed: its digits are nowhere on the flash.
        pending = reversal(flash)
        keyed = dict(fields)
        keyed[2], keyed[11] = "6224242900000113", "000013"
        pending.save("0200", keyed)
        assert flash.dev.image.find(b"6224242900000113") < 0
        assert reversal(flash).load()[2][2] == "6224242900000113"
        pending.end()
        assert reversal(flash).load() is None and reversal(flash).stan() == 13
        # The engine empties the log every 24 records: it stays in one block.
        for _ in range(30):
            if pending.full():
                pending.empty()
            pending.save("0200", fields)
            pending.end()
        assert reversal(flash).load() is None
        assert Region(flash.log).journal(0x41).count() <= 24
    finally:
        flash.close()
