# mpy-heap: 768K
# The heap is for the RAM flash (flowcuts.World: a 32-block image at the ESP32's 4 KB erase
# size and its snapshot, 256 KB) and the modules compiled from source.
"""The pre-send record (app.txn.reversal) through the engine, on the terminal's flash: LittleFS
and the journal region at 4 KB blocks, against a host that keeps books (fakehost.HostBook).

A sale programs its pre-send record (its pending reversal and its STAN) and its journal
record, nothing else; the journal's record ends the first, a decline ends it with an empty
record; a record a power cut left owing is reversed at power-up; a STAN kept only in a
pre-send record is never used again, in training either, nor across the wrap; and a pending
reversal of the earlier layout, on a terminal upgraded with one, still goes out."""

import struct

import flowcuts
from fakehost import PowerOff
from test_txn import STORAGE_KEY

from app.crypto import seal
from app.store.logregion import Region
from app.store.records import RecordStore
from app.txn import recovery
from app.txn.engine import Engine, Request, later
from app.txn.reversal import put_items


def _signed_on():
    world = flowcuts.World(4096)
    world.provision()
    eng = world.boot()
    assert eng.run(Request("sign_on")).approved
    # The first sale gives the log and the journal their first blocks.
    assert flowcuts._sale(eng, 100).approved
    return world, eng


def _counters():
    return struct.unpack(">II", RecordStore(flowcuts.ROOT).load("counters1")[1])


def _restart(world):
    world.flash.reboot()
    return world.boot()


def test_a_sale_programs_its_pre_send_record_and_its_journal_record_alone():
    world, eng = _signed_on()
    try:
        dev = world.flash.dev
        stan = _counters()[0]
        dev.reset_counters()
        result = flowcuts._sale(eng, 200)
        assert result.approved
        # The pre-send record, then the journal's, which ends it: no STAN record saved, no
        # end record written. Each is one program of its own bytes, padded to 16.
        record = 14 + len(result.entry._payload)
        assert (dev.programs, dev.erases) == (2, 0)
        assert dev.bytes_written <= 2 * record, (dev.bytes_written, record)
        assert _counters()[0] == stan and eng.pending_reversal() is None
        eng = _restart(world)
        assert eng.pending_reversal() is None and eng.stan == result.stan
        assert not recovery.due(eng)
        assert flowcuts._sale(eng, 300).stan == result.stan + 1
        assert world.host.book.reused == []
    finally:
        world.close()


def test_a_decline_ends_the_pre_send_record_with_an_empty_one():
    world, eng = _signed_on()
    try:
        world.host.fault("decline:51", "0200")
        dev = world.flash.dev
        dev.reset_counters()
        declined = flowcuts._sale(eng, 200)
        assert declined.response_code == "51" and eng.pending_reversal() is None
        assert dev.programs == 2 and eng.journal.count() == 1  # the first sale's alone
        eng = _restart(world)
        assert eng.pending_reversal() is None and eng.stan == declined.stan
        assert flowcuts._sale(eng, 300).stan == declined.stan + 1
        assert world.host.book.reused == []
    finally:
        world.close()


def _cut_after_the_request(world, n):
    # The sale from the snapshot, the power cut at the n-th flash write after the 0200 left
    # (the host approves it); the terminal restarted. Returns (engine, the sale's STAN).
    world.restore()
    eng = world.boot()
    dev = world.flash.dev
    left = []
    world.host.on_request = lambda mti, fields: left.append(dev.writes)
    dev.cut(1000)  # counting from here, nothing cut
    flowcuts._sale(eng, 200)
    world.host.on_request = None
    world.restore()
    eng = world.boot()
    world.flash.dev.cut(left[0] + n)
    try:
        flowcuts._sale(eng, 200)
    except (PowerOff, OSError):
        pass
    stan = eng.stan
    assert (eng.batch, stan) in world.host.book.approvals()
    return _restart(world), stan


def _reversed_at_power_up(world, eng, stan):
    assert eng.pending_reversal() == (stan, "06") and recovery.due(eng)
    world.host.requests = []
    assert eng.run(Request("recover")).approved
    mti, fields = world.host.requests[0]
    assert (mti, fields[11], fields[39]) == ("0400", "%06d" % stan, "06")
    assert eng.pending_reversal() is None and not recovery.due(eng)
    assert flowcuts.check(world) == []


def test_a_pre_send_record_a_power_cut_left_is_reversed_at_power_up():
    world, eng = _signed_on()
    try:
        world.snapshot()
        # The journal's record, the write after the request left, is not on flash.
        eng, stan = _cut_after_the_request(world, 1)
        _reversed_at_power_up(world, eng, stan)
    finally:
        world.close()


def test_the_first_journal_record_cut_at_any_of_its_writes_leaves_the_reversal_owed():
    # A terminal's first sale: its journal's first block is erased and given its header
    # before the record goes in (the journal's generation must read the same all along).
    world = flowcuts.World(4096)
    try:
        world.provision()
        eng = world.boot()
        assert eng.run(Request("sign_on")).approved
        world.snapshot()
        for n in (1, 2, 3):  # the block's erase, its header, the record
            eng, stan = _cut_after_the_request(world, n)
            _reversed_at_power_up(world, eng, stan)
    finally:
        world.close()


def test_a_stan_whose_request_a_power_cut_stopped_is_not_used_again():
    world, eng = _signed_on()
    try:
        before = _counters()[0]
        # The power fails between the pre-send record's write and the request's sending.
        world.host.power = lambda: False
        try:
            flowcuts._sale(eng, 200)
        except PowerOff:
            pass
        cut = eng.stan
        assert cut == before + 2 and _counters()[0] == before  # in the pre-send record alone
        world.host.power = lambda: not world.flash.dev.dead
        eng = _restart(world)
        assert eng.stan == cut and eng.pending_reversal() == (cut, "06")
        world.host.requests = []
        assert flowcuts._sale(eng, 300).stan == cut + 1
        assert [(m, f[11]) for m, f in world.host.requests] == [
            ("0400", "%06d" % cut),
            ("0200", "%06d" % (cut + 1)),
        ]
        assert flowcuts.check(world) == []
    finally:
        world.close()


def test_training_saves_its_stans_and_reads_the_sales_of_the_log():
    world, eng = _signed_on()
    try:
        sale = flowcuts._sale(eng, 200)
        assert _counters()[0] < sale.stan
        store = world.store()
        trainer = Engine(1, store, STORAGE_KEY, world.host, training=True)
        assert trainer.stan == sale.stan
        trained = flowcuts._sale(trainer, 300)
        assert trained.approved and trained.stan == sale.stan + 1
        assert _counters()[0] == trained.stan  # training saves the counters every time
        eng = _restart(world)
        assert eng.stan == trained.stan
        assert flowcuts._sale(eng, 400).stan == trained.stan + 1
    finally:
        world.close()


def test_the_later_stan_across_the_wrap():
    assert later(0, 5) == 5 and later(5, 0) == 5 and later(7, 7) == 7
    assert later(12, 15) == 15 and later(15, 12) == 15
    assert later(999998, 1) == 1 and later(1, 999998) == 1
    assert later(999999, 999999) == 999999


def test_the_log_is_emptied_once_the_counters_hold_its_stan():
    world, eng = _signed_on()
    try:
        log = eng._reversal._log
        for i in range(30):
            last = flowcuts._sale(eng, 10 + i)
            assert last.approved
            assert log.count() <= 24
        # Emptied once: the counters took the STAN the log held then.
        assert 2 < _counters()[0] < last.stan
        eng = _restart(world)
        assert eng.stan == last.stan
        assert flowcuts._sale(eng, 5).stan == last.stan + 1
        assert world.host.book.reused == []
    finally:
        world.close()


def test_a_cut_at_every_write_of_the_sale_that_empties_the_log_loses_nothing():
    world, eng = _signed_on()
    try:
        while eng._reversal._log.count() < 24:
            assert flowcuts._sale(eng, 10).approved
        world.snapshot()
        world.restore()
        eng = world.boot()
        world.flash.dev.reset_counters()
        assert flowcuts._sale(eng, 20).approved
        writes = world.flash.dev.writes
        assert writes > 4  # the counters, the log's clear, the pre-send and journal records
        for tear in (False, True):
            for n in range(1, writes + 1):
                world.restore()
                eng = world.boot()
                world.flash.dev.cut(n, tear)
                try:
                    flowcuts._sale(eng, 20)
                except (PowerOff, OSError):
                    pass
                world.flash.reboot()
                assert flowcuts.check(world) == [], (n, tear)
    finally:
        world.close()


def test_an_upgraded_terminal_sends_the_pending_reversal_of_the_earlier_layout():
    fields = {
        3: "000000",
        4: "000000000700",
        11: "000040",
        22: "021",
        25: "00",
        41: "12345678",
        42: "123456789012345",
        49: "156",
        60: "22000001",
    }
    # The earlier release's record: reason, MTI and the items, all sealed.
    earlier = bytearray(b"980200")
    put_items(earlier, fields, sorted(fields))
    earlier = seal.seal(STORAGE_KEY, earlier)
    for where in ("log", "store"):
        world, eng = _signed_on()
        try:
            # The earlier release saved the STAN before every request.
            eng._save_counters(40, eng.batch)
            store = RecordStore(flowcuts.ROOT)
            if where == "log":
                Region(world.flash.log).journal(0x41).append(earlier)
            else:
                store.save("reversal1", earlier)
            eng = _restart(world)
            assert eng.pending_reversal() == (40, "98") and recovery.due(eng), where
            world.host.requests = []
            sale = flowcuts._sale(eng, 300)
            assert sale.approved and sale.stan == 41, where
            mti, sent = world.host.requests[0]
            assert mti == "0400" and sent[39] == "98", where
            for n in fields:
                assert sent[n] == fields[n], (where, n)
            eng = _restart(world)
            assert eng.pending_reversal() is None and eng.stan == 41, where
            assert RecordStore(flowcuts.ROOT).load("reversal1") is None
        finally:
            world.close()
