# The batch capacity (docs/transactions.md, "Batch capacity"): the engine warns as the journal
# nears the parameter batch_capacity, refuses new financial transactions with "settle first"
# before anything is sent while room stays for the reversals and the settlement, and refuses
# the same while the flash is nearly full: it never sends what it could not journal.
# mpy-heap: 384K
# (test_txn's helpers are compiled from source into the heap with it.)
import os
import struct

from test_txn import ROOT, TRACK, Card, Request, engine, sale, signed_on

from app.store import records
from app.store.records import free_blocks
from app.txn import respcodes


def capacity(records):
    return ((0x58, struct.pack(">H", records)),)


def test_capacity_warns_then_refuses_before_sending_and_keeps_room_for_the_reversal():
    store, host, eng = signed_on(profile=capacity(30))
    assert eng.journal.count() == 0 and eng.batch_warning() is None
    for _ in range(26):
        result = sale(eng)
        assert result.approved and eng.batch_warning() is None
    result = sale(eng)  # the 27th record: 90%
    assert result.approved and eng.batch_warning() == "batch_near"
    # The 28th times out: its reversal waits, and the next sale still goes, the reversal's
    # record first, in the room kept for it.
    host.fault("no_answer", "0200")
    result = sale(eng)
    assert result.error == "timeout" and eng.pending_reversal() is not None
    assert eng.journal.count() == 27 and eng.batch_warning() == "batch_near"
    result = sale(eng)
    assert result.approved and "accepted" in result.reversal_note
    assert eng.journal.count() == 29
    assert eng.batch_warning() == "settle_first"
    # Refused before anything leaves.
    sent = len(host.requests)
    stan = eng.stan
    for request in (
        Request("sale", amount=1, card=Card(track2=TRACK)),
        Request("sale_void", original_stan=stan, supervisor_password=b"123456"),
    ):
        result = eng.run(request)
        assert not result.approved and result.error == "settle_first"
        assert "settle first" in result.message_en and "29 records" in result.detail
    assert len(host.requests) == sent and eng.stan == stan
    assert respcodes.terminal("batch_near")[0] == "Batch nearly full: settle soon"
    # The settlement goes, and empties the journal.
    result = eng.run(Request("settlement"))
    assert result.approved, result.message_en
    assert eng.journal.count() == 0 and eng.batch_warning() is None
    assert sale(eng).approved


def test_default_capacity_is_2000_records():
    store, host, eng = signed_on()
    counted = eng.journal._journal  # its count as 1,799 and more records would make it
    counted._next = 1800
    assert eng.batch_warning() is None
    counted._next = 1801
    assert eng.batch_warning() == "batch_near"
    counted._next = 1998
    assert eng.batch_warning() == "batch_near"  # 1,997 + this one + 2 kept: 2,000
    counted._next = 1999
    assert eng.batch_warning() == "settle_first"
    result = sale(eng)
    assert result.error == "settle_first" and "1998 records" in result.detail
    assert host.requests == []


def fill(path, leave):
    # Flash written by something else than the engine, until fewer than `leave` blocks are free.
    piece = bytes(512)
    with open(path, "wb") as f:
        while free_blocks(ROOT)[0] >= leave:
            f.write(piece)
            f.flush()


def test_flash_nearly_full_refuses_before_sending():
    store, host, eng = signed_on()
    assert sale(eng).approved
    filler = ROOT + "/filler"
    fill(filler, 4)
    # The terminal makes its engine again after anything else wrote to flash (a parameter or
    # key packet, another application's engine), which counts the free blocks afresh.
    eng = engine(store, host)
    sent = len(host.requests)
    result = sale(eng)
    assert result.error == "settle_first" and "1 records" in result.detail
    assert eng.batch_warning() == "settle_first"
    assert len(host.requests) == sent
    os.remove(filler)
    assert sale(eng).approved and eng.batch_warning() is None


def sell_until_refused(eng, host, most):
    # Sales until one is not approved: (how many were, the refused one's result).
    approved = 0
    while True:
        result = sale(eng)
        if not result.approved:
            return approved, result
        approved += 1
        assert approved < most
        host.requests = []  # the fake host's copies: not the terminal's heap


def test_the_journal_filling_the_flash_is_refused_in_time_without_counting_every_request():
    # Between counts of the free blocks (statvfs walks the whole filesystem), the engine keeps
    # a bound by its own growth: counted once, then again only near the reserve, and it still
    # refuses before sending once the journal's own records leave fewer than 4 blocks.
    store, host, eng = signed_on()
    fill(ROOT + "/filler", 40)
    eng = engine(store, host)
    counts = []
    real = records.free_blocks

    def counted(path):
        counts.append(1)
        return real(path)

    records.free_blocks = counted
    try:
        approved, result = sell_until_refused(eng, host, 400)
    finally:
        records.free_blocks = real
    assert result.error == "settle_first" and eng.batch_warning() == "settle_first"
    assert eng.journal.count() == approved  # every approval journaled
    assert free_blocks(ROOT)[0] >= 4 - 1  # the reserve kept (one block: the last one's slack)
    assert len(counts) < approved // 2  # not at each request
    result = eng.run(Request("settlement"))
    assert result.approved, result.message_en
    assert sale(eng).approved


def test_a_full_journal_region_is_refused_before_sending_and_settles():
    # The journal in a region of its own (app.store.logregion): the region's room, less the
    # block kept for the clear at settlement, decides the refusal, before anything is sent.
    from ramflash import RAMFlash

    from app.store.logregion import Region

    store, host, eng = signed_on()
    store.journal_region = Region(RAMFlash(512, 6))  # room for a handful of records
    eng = engine(store, host)
    approved, result = sell_until_refused(eng, host, 20)
    assert approved >= 4 and result.error == "settle_first"
    assert eng.batch_warning() == "settle_first"
    assert sale(eng).error == "settle_first" and host.requests == []  # nothing sent
    assert eng.journal.count() == approved  # every approval journaled
    result = eng.run(Request("settlement"))
    assert result.approved, result.message_en
    assert eng.journal.count() == 0 and eng.batch_warning() is None
    assert sale(eng).approved
    assert [e.amount for e in engine(store, host).journal.records()] == [1]
