# mpy-heap: 1M
# The heap is for the RAM flash (a 32-block image at the ESP32's 4 KB erase size and its
# snapshot: 256 KB) and this module, flowcuts, fakehost and test_txn compiled from source,
# with the IC download and offline sale flows: 768 KB no longer held them all.
"""Power cuts across whole transaction flows (flowcuts.py): after a cut at a flash write of a
settlement, a sale, a void... and a restart, the terminal and the host agree again, no STAN
is used twice, and the next sale goes through. `make test` runs every cut point of both
settlements and every fourth of the other flows, at 4 KB blocks, clean and torn; `make cuts`
(tools/cuts.py) runs every cut point at 4 KB and 512-byte blocks."""

import struct

import flowcuts
from fakehost import PowerOff

from app.store.records import RecordStore
from app.txn.engine import Request

# Every flow must recover from every cut point. A refund and a completion notice (0220
# advices, which no reversal undoes: spec §6) recover through the pending advice, sent again
# with its STAN after the restart (app.txn.advice). The two settlements are cut at every
# write by their own tests, and so are the IC download and the black list's and contactless
# parameters' downloads; the others at every fourth.
RECOVERING = tuple(
    flow
    for flow in flowcuts.FLOWS
    if not flow.startswith("settlement")
    and flow not in ("ic download", "list downloads", "script notice")
)


def _no_loss(flow, every=1, block_size=4096):
    figures = flowcuts.campaign(flow, block_size, every=every)
    assert figures["points"] > 0
    assert figures["lost"] == 0, flowcuts.report(flow, block_size, figures)
    print(flowcuts.report(flow, block_size, figures))


def test_settlement_recovers_from_a_cut_at_every_flash_write():
    # Before the closing record, a cut after the host's 0510 left the host with the batch
    # closed and the terminal with it open: its next sale was refused (77), voids too.
    _no_loss("settlement")


def test_settlement_with_upload_recovers_from_a_cut_at_every_flash_write():
    _no_loss("settlement with upload")


def test_settlement_with_offline_upload_recovers_from_a_cut_at_every_flash_write():
    # An offline chip sale goes to the host (0200, 60.1 36) before the 0500: a cut after the
    # host took it and before the terminal wrote so sends it again, booked once.
    _no_loss("settlement with offline upload")


def test_settlement_with_ic_details_loses_none_at_every_flash_write():
    # The IC details go after the 0510 (app.txn.icupload): set aside with a progress record,
    # which a cut leaves for the next request to finish; every detail reaches the host.
    _no_loss("settlement with IC details")


def test_a_script_notice_reaches_the_host_whatever_the_cut():
    # Kept before it goes (app.txn.scriptnotice), sent before the next sale, forgotten once
    # answered: a cut anywhere sends it again with its STAN, or has sent it.
    _no_loss("script notice")


def test_an_ic_download_leaves_the_old_or_the_new_sets_at_every_flash_write():
    # Every entry written as it comes, the set renamed into place once whole
    # (app.store.icsets): a cut anywhere leaves yesterday's sets or the new ones, and the
    # next sign-on the host asks again loads the new ones.
    _no_loss("ic download")


def test_the_black_list_and_contactless_downloads_leave_old_or_new_at_every_flash_write():
    # The same rule for the black list (7) and the contactless parameters (9): a cut anywhere
    # leaves each set yesterday's or the new one, and the next sign-on loads the new ones.
    _no_loss("list downloads")


def test_other_flows_recover_from_cuts():
    for flow in RECOVERING:
        _no_loss(flow, every=4)


def counters(store):
    return struct.unpack(">II", store.load("counters1")[1])


def _a_day():
    # The world after a day's business, and the engine as the terminal starts.
    world = flowcuts.World(4096)
    flowcuts._prepare(world, "settlement")
    world.restore()
    return world, world.boot()


def _world_after_settlement_cut(write):
    # A day, then a settlement cut at flash write `write` of its own; the flash rebooted.
    world, eng = _a_day()
    world.flash.dev.cut(write)
    try:
        eng.run(Request("settlement"))
    except PowerOff:
        pass
    world.flash.reboot()
    return world


def _closing_writes():
    # The flash write that saves the closing record with the host's verdict: the first one
    # after the 0500 left.
    world, eng = _a_day()
    try:
        dev = world.flash.dev
        dev.reset_counters()
        seen = []
        world.host.on_request = lambda mti, fields: seen.append((mti, dev.writes))
        eng.run(Request("settlement"))
        return [writes for mti, writes in seen if mti == "0500"][0]
    finally:
        world.close()


def test_a_settled_batch_is_closed_at_start_before_anything_is_sent():
    # "At start": at the engine's first run, before its request is sent.
    sent = _closing_writes()
    # The first cut after the 0500 that leaves the verdict on flash and the batch open.
    for write in range(sent + 1, sent + 20):
        world = _world_after_settlement_cut(write)
        store = RecordStore(flowcuts.ROOT)
        closing = store.load("closing1")
        if closing is not None and closing[1][4] == 1 and counters(store)[1] == 1:
            break
        world.close()
    else:
        raise AssertionError("no cut left the host's verdict on flash and the batch open")
    try:
        assert 1 in world.host.book.settled and not world.journal_empty()
        world.host.requests = []
        eng = world.boot()
        result = flowcuts._sale(eng, 1)  # the close comes first, without the line
        assert result.approved and result.batch == 2 and eng.settle_due is None
        assert [m for m, _ in world.host.requests] == ["0200"]
        assert store.load("closing1") is None and eng.journal.find(result.stan, 2)
        # Idempotent: the next start changes nothing.
        before = counters(store)
        again = world.boot()
        assert again.totals() == world.host.book.totals(2)
        assert flowcuts._sale(again, 1).batch == 2 and counters(store)[1] == before[1]
    finally:
        world.close()


def test_an_unanswered_settlement_is_sent_again_before_the_next_sale():
    world, eng = _a_day()
    try:
        world.host.fault("no_answer", "0500")
        first = eng.run(Request("settlement"))
        assert first.error == "timeout" and 1 in world.host.book.settled
        assert eng.batch == 1 and eng.settle_due == 1
        again = world.boot()  # after a restart too
        result = flowcuts._sale(again, 1)
        assert result.approved and result.batch == 2, (result.error, result.detail)
        assert [m for m, _ in world.host.requests[-3:]] == ["0500", "0320", "0200"]
        assert "batch 000001: its settlement, unanswered, was sent again first" in result.notes[0]
        assert again.journal.find(result.stan, 2) is not None
        assert again.totals() == world.host.book.totals(2)
    finally:
        world.close()


def _refund_approved_then_cut():
    # A day, then a refund with the power cut at the first flash write after its 0220 left:
    # the host has approved it, the terminal has not journaled it. Returns the world rebooted
    # and the refund's STAN.
    world = flowcuts.World(4096)
    flowcuts._prepare(world, "refund")
    world.restore()
    eng = world.boot()
    dev = world.flash.dev
    sent = []

    def cut_after_it_leaves(mti, fields):
        if mti == "0220":
            sent.append(int(fields[11]))
            dev.cut(1)  # the next flash write: the journal's record

    world.host.on_request = cut_after_it_leaves
    try:
        flowcuts._run(world, eng, "refund")
    except PowerOff:
        pass
    assert dev.dead and len(sent) == 1
    world.host.on_request = None
    world.flash.reboot()
    return world, sent[0]


def test_a_refund_the_host_approved_before_a_power_cut_is_journaled_once_after_the_restart():
    world, stan = _refund_approved_then_cut()
    try:
        book = world.host.book
        assert book.txns[(1, stan)] == [25, 150, "approved"]
        eng = world.boot()
        assert eng.journal.find(stan, 1) is None and eng.pending_advice() == (stan, "refund")
        world.host.requests = []
        result = flowcuts._sale(eng, 1)
        assert result.approved, (result.error, result.detail)
        assert [m for m, _ in world.host.requests] == ["0220", "0200"]
        assert world.host.requests[0][1][11] == "%06d" % stan
        assert len([e for e in eng.journal.records() if e.stan == stan]) == 1
        assert eng.totals() == book.totals(1) and book.repeats == 1 and not book.reused
        assert eng.pending_advice() is None
        settled = eng.run(Request("settlement"))
        assert settled.approved and settled.settlement["balanced"]
    finally:
        world.close()
