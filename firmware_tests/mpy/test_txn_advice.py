# The pending advice (app.txn.advice, docs/transactions.md §4): a refund or completion notice
# (0220) whose answer is lost is kept on flash and sent again with its STAN before the next
# financial request and before settlement, until its answer is journaled, once; the parameter
# advice_repeat says how (0220 again, 0221, or off: today's loss, said plainly). Against
# fakehost's HostBook, a host that answers a repeat as it answered the first.
# mpy-heap: 384K
# (test_txn's helpers are compiled from source into the heap with it.)
from fakehost import FakeHost, HostBook
from test_txn import OTHER, TRACK, Card, Request, sale, signed_on

from app.comm.frames import LinkDown


def repeat(mode):
    return ((0x59, mode),)


def booked(profile=()):
    host = FakeHost()
    host.book = HostBook()
    store, host, eng = signed_on(profile=profile, host=host)
    first = sale(eng, 500)
    assert first.approved
    host.requests = []
    return store, host, eng, first


def refund(eng, first, amount=100):
    return eng.run(
        Request(
            "refund",
            amount=amount,
            card=Card(track2=TRACK),
            pin=bytearray(b"123456"),
            rrn=first.rrn,
            original_date=first.date[4:],
            supervisor_password=b"123456",
        )
    )


def lost_refund(eng, host, first):
    # The host approves the refund and its answer never arrives.
    host.fault("no_answer", "0220")
    result = refund(eng, first)
    assert result.error == "timeout" and not result.approved
    assert "refund %06d kept: sent again" % result.stan in result.notes[0]
    assert eng.pending_advice() == (result.stan, "refund")
    assert eng.journal.find(result.stan, 1) is None
    return result


def test_a_refund_whose_answer_is_lost_is_sent_again_and_journaled_once():
    store, host, eng, first = booked()
    lost = lost_refund(eng, host, first)
    assert eng.totals() != host.book.totals(1)  # the host has the refund, the terminal not yet
    sent = host.of("0220")[0]
    result = sale(eng, 300)
    assert result.approved
    assert [m for m, _ in host.requests[1:]] == ["0220", "0200"]
    again = host.of("0220")[1]
    # Its STAN and data again; the card as number and expiry (no track, no PIN block on flash).
    for number in (3, 4, 11, 25, 37, 41, 42, 49, 60, 61, 63):
        assert again[number] == sent[number], number
    assert 35 not in again and 52 not in again and 26 not in again
    assert again[2] == TRACK[:16] and again[14] == "2806" and again[22] == "022"
    assert sent[22] == "021" and 35 in sent and 52 in sent
    # Journaled once, with the host's first answer (its RRN), then the record dropped.
    entry = eng.journal.find(lost.stan, 1)
    assert entry is not None and entry.kind == 25 and entry.amount == 100
    assert entry.rrn == host.book.advices[(1, lost.stan)][2] and entry.entry_mode == "021"
    assert len([e for e in eng.journal.records() if e.stan == lost.stan]) == 1
    assert "refund %06d sent again: approved (00), journaled" % lost.stan in result.notes[0]
    assert eng.pending_advice() is None and host.book.repeats == 1 and not host.book.reused
    assert eng.totals() == host.book.totals(1) == (800, 2, 100, 1)
    # Its slip: a reprint by its trace number.
    lines = eng.receipt(lost.stan)
    assert lines is not None and any(b"REFUND" in line.upper() for line in lines)
    # Nothing more is sent again.
    assert sale(eng, 1).approved and len(host.of("0220")) == 2


def test_0221_repeats_as_the_iso_advice_repeat_and_takes_the_0230():
    store, host, eng, first = booked(repeat(b"0221"))
    lost = lost_refund(eng, host, first)
    assert host.of("0220")[0][11] == "%06d" % lost.stan
    result = sale(eng, 300)
    assert result.approved, (result.error, result.detail)
    assert [m for m, _ in host.requests[1:]] == ["0221", "0200"]
    assert host.of("0221")[0][11] == "%06d" % lost.stan
    assert eng.journal.find(lost.stan, 1) is not None and host.book.repeats == 1
    assert eng.totals() == host.book.totals(1) and not host.book.reused


def test_a_completion_notice_whose_answer_is_lost_is_sent_again():
    store, host, eng, first = booked()
    pre = eng.run(Request("preauth", amount=800, card=Card(track2=OTHER)))
    host.fault("no_answer", "0220")
    notice = eng.run(Request("completion_notice", amount=800, auth_code=pre.auth_code))
    assert notice.error == "timeout" and eng.pending_advice() == (notice.stan, "completion_notice")
    result = eng.run(Request("settlement"))
    # Sent again before the totals are taken: the settlement balances.
    assert result.approved and result.settlement["balanced"], result.notes
    assert [m for m, _ in host.requests[-3:]] == ["0220", "0500", "0320"]
    assert "completion notice %06d sent again: approved" % notice.stan in result.notes[0]
    assert result.settlement["terminal"] == (1300, 2, 0, 0)


def test_a_settlement_with_an_advice_it_cannot_deliver_does_not_close_the_batch():
    store, host, eng, first = booked()
    lost = lost_refund(eng, host, first)
    host.fault("no_answer", "0220", count=3)  # reversal_retries 2: three attempts
    result = eng.run(Request("settlement"))
    assert not result.approved and result.error == "advice_pending"
    assert "refund %06d" % lost.stan in result.detail
    assert result.message_en.startswith("Refund/notice unconfirmed")
    assert host.of("0500") == [] and len(host.of("0220")) == 4 and eng.batch == 1
    assert eng.pending_advice() == (lost.stan, "refund")
    # A sale waits too: it would go into totals the host does not share.
    host.fault("no_answer", "0220", count=3)
    assert sale(eng, 1).error == "advice_pending" and host.of("0200") == []
    # The line back, the settlement goes through with the refund in it.
    result = eng.run(Request("settlement"))
    assert result.approved and result.settlement["balanced"]
    assert result.settlement["terminal"] == (500, 1, 100, 1)


def test_a_repeat_the_host_declines_drops_the_advice():
    store, host, eng, first = booked()
    host.book = None  # a host that remembers nothing: it answers the repeat afresh
    lost = lost_refund(eng, host, first)
    host.fault("decline:25", "0220")
    result = sale(eng, 300)
    assert result.approved
    assert "refund %06d sent again: declined (25)" % lost.stan in result.notes[0]
    assert eng.pending_advice() is None and eng.journal.find(lost.stan, 1) is None


def test_a_declined_refund_keeps_no_advice():
    store, host, eng, first = booked()
    host.fault("decline:61", "0220")
    result = refund(eng, first)
    assert result.response_code == "61" and eng.pending_advice() is None
    assert sale(eng, 1).approved and len(host.of("0220")) == 1


def test_a_repeat_of_an_advice_the_host_never_received_is_booked_as_new():
    store, host, eng, first = booked(repeat(b"0221"))

    def lost_on_the_way(mti, fields):
        host.on_request = None
        raise LinkDown("line dropped")

    host.on_request = lost_on_the_way
    result = refund(eng, first)
    assert result.error == "link" and host.book.totals(1) == (500, 1, 0, 0)
    assert sale(eng, 300).approved
    assert [m for m, _ in host.requests[-2:]] == ["0221", "0200"]
    assert host.book.repeats == 0 and not host.book.reused
    assert eng.totals() == host.book.totals(1) == (800, 2, 100, 1)


def test_off_keeps_nothing_and_the_lost_approval_stays_lost():
    # advice_repeat off: what the terminal did before the parameter (docs/transactions.md §4).
    store, host, eng, first = booked(repeat(b"off"))
    host.fault("no_answer", "0220")
    lost = refund(eng, first)
    assert lost.error == "timeout" and lost.notes == [] and eng.pending_advice() is None
    assert sale(eng, 300).approved and len(host.of("0220")) == 1
    assert eng.journal.find(lost.stan, 1) is None
    assert eng.totals() == (800, 2, 0, 0) and host.book.totals(1) == (800, 2, 100, 1)


def test_the_advice_never_reaches_the_flash_with_a_track_or_pin_block():
    import os

    from test_txn import ROOT

    store, host, eng, first = booked()
    lost_refund(eng, host, first)
    for name in os.listdir(ROOT):
        with open(ROOT + "/" + name, "rb") as f:
            data = f.read()
        assert TRACK.encode() not in data and TRACK[:16].encode() not in data, name


def test_an_advice_already_journaled_is_not_sent_again():
    # A power cut after the journal's record and before the advice record's removal.
    from test_txn import STORAGE_KEY

    from app.txn.advice import PendingAdvice

    store, host, eng, first = booked()
    done = refund(eng, first)
    assert done.approved and eng.pending_advice() is None
    PendingAdvice(store, "advice1", STORAGE_KEY).save(host.of("0220")[0], TRACK[:16], "2806", "01")
    assert sale(eng, 1).approved and len(host.of("0220")) == 1
    assert eng.pending_advice() is None
    assert len([e for e in eng.journal.records() if e.stan == done.stan]) == 1
    assert eng.totals() == host.book.totals(1)


def test_a_pending_advice_counts_in_the_batch_capacity():
    import struct

    # batch_capacity 10: settle first from 8 records (2 kept for reversals).
    store, host, eng, first = booked(((0x58, struct.pack(">H", 10)),))
    for _ in range(6):
        assert sale(eng, 1).approved
    assert eng.journal.count() == 7 and eng.batch_warning() is None
    lost_refund(eng, host, first)
    assert eng.journal.count() == 7 and eng.batch_warning() == "settle_first"
    refused = sale(eng, 1)
    assert refused.error == "settle_first" and len(host.of("0220")) == 1
    # The settlement delivers it, journals it, and balances.
    result = eng.run(Request("settlement"))
    assert result.approved and result.settlement["balanced"]
    assert result.settlement["terminal"] == (506, 7, 100, 1)


def test_an_advice_kept_before_repeats_were_turned_off_is_dropped_and_said():
    from test_txn import APP, engine, tlv

    from app.store.params import Params, ParamStore

    store, host, eng, first = booked()
    lost = lost_refund(eng, host, first)
    items = dict(APP)
    items[0x59] = b"off"
    ParamStore(store).save(1, Params.from_tlv(tlv(sorted(items.items())), 1), 1)
    eng = engine(store, host)
    assert eng.pending_advice() == (lost.stan, "refund")
    result = sale(eng, 1)
    assert result.approved and len(host.of("0220")) == 1
    assert "refund %06d not sent again (advice_repeat off): dropped" % lost.stan in result.notes
    assert eng.pending_advice() is None
