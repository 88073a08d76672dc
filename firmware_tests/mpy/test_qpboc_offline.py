# An offline qPBOC approval in the journal (app.txn.offline, app.store.journal OFFLINE_SALE) on
# MicroPython, in the journal region over a RAM flash that cuts the power: the record, its slip,
# the batch totals, "to upload" until the host took it, and a power cut (clean and torn) at
# every flash write of the approval's append and of its upload record, at both block sizes.
# mpy-heap: 400K

from blockdev import RAMBlockDevice
from mptest import expect_error

from app.emv import qpboc
from app.store.journal import OFFLINE_SALE, SALE, TransactionJournal
from app.store.logregion import Region
from app.txn import offline, receipt

KEY = b"fedcba9876543210"
PAN = "6224242900001038"
APP = {"merchant_name": b"POSKIT TEST SHOP", "merchant_id": "123456789012345"}
APP["terminal_id"] = "10000001"
APP["name"] = "CUP"
FIELD55 = bytes.fromhex("9F260870A74F0FF3A799B99F2701409F101307010103901000000A0100000000000000")


def approval(amount=1234):
    outcome = qpboc.Outcome(qpboc.APPROVED, "offline")
    outcome.amount = amount
    outcome.pan = PAN
    outcome.psn = "01"
    outcome.expiry = "3012"
    outcome.balance = 10000 - amount
    outcome.field55 = FIELD55
    return outcome


def journal(dev):
    return TransactionJournal("/nowhere", 1, KEY, region=Region(dev))


def sale(j, stan, amount):
    j.append(SALE, stan, 1, amount, "20261207", "185500", rrn="120718550001", pan=PAN)


def test_an_offline_approval_is_a_journal_record_counted_and_to_upload():
    dev = RAMBlockDevice(4096, 8)
    j = journal(dev)
    sale(j, 1, 5000)
    entry = offline.journal_approval(j, approval(), 2, 1, "20261207", "185600", "01")
    assert entry.kind == OFFLINE_SALE and entry.name == "offline_sale"
    assert entry.response_code == "Y1" and entry.entry_mode == "072"
    assert entry.pan_masked == "622424******1038" and j.card(entry) == (PAN, "3012")
    assert offline.ic_fields(entry) == ("001", FIELD55)
    # Counted in the batch at once: a debit, as a sale.
    assert j.totals(1) == (5000 + 1234, 2, 0, 0)
    assert [e.stan for e in j.standing(1)] == [1, 2]
    assert [e.stan for e in j.to_upload(1)] == [2]
    assert j.last().stan == 2  # "reprint last" finds it
    # The host took it: an UPLOADED record, which is no transaction of its own.
    j.uploaded(entry)
    assert list(j.to_upload(1)) == []
    assert j.totals(1) == (6234, 2, 0, 0)
    assert [e.stan for e in j.entries(1)] == [1, 2]
    assert j.last().stan == 2 and j.find(2, 1).kind == OFFLINE_SALE
    # Read again after a restart, as the terminal does.
    j = journal(dev.power_cycle())
    assert [e.stan for e in j.entries(1)] == [1, 2] and list(j.to_upload(1)) == []


def test_the_slip_prints_from_the_record():
    dev = RAMBlockDevice(4096, 8)
    entry = offline.journal_approval(journal(dev), approval(), 2, 1, "20261207", "185600")
    lines = receipt.lines(entry, APP, "cardholder")
    assert b"CARD NO: 622424******1038 C" in lines
    assert b"TXN TYPE: EC SALE \xb5\xe7\xd7\xd3\xcf\xd6\xbd\xf0\xcf\xfb\xb7\xd1" in lines
    assert b"AMOUNT: RMB 12.34" in lines
    assert b"DATE/TIME: 2026/12/07 18:56:00" in lines


def test_ic_data_longer_than_a_record_keeps_is_refused_and_nothing_written():
    dev = RAMBlockDevice(4096, 8)
    j = journal(dev)
    outcome = approval()
    outcome.field55 = bytes(260)
    expect_error(ValueError, ("IC data",), offline.journal_approval, j, outcome, 2, 1, "", "")
    assert j.count() == 0


def _state(dev):
    j = journal(dev)
    found = [(e.stan, e.amount, offline.ic_fields(e)) for e in j.entries(1)]
    return found, [e.stan for e in j.to_upload(1)], j.totals(1)


def _campaign(block_size, block_count):
    dev = RAMBlockDevice(block_size, block_count)
    j = journal(dev)
    for stan in range(1, 9):  # a small day before the tap
        sale(j, stan, 100 * stan)
    day = [(s, 100 * s, (None, b"")) for s in range(1, 9)]
    before = (day, [], (3600, 8, 0, 0))
    approved = (day + [(9, 1234, ("001", FIELD55))], [9], (4834, 9, 0, 0))
    taken = (approved[0], [], approved[2])
    points = 0
    steps = (
        (
            before,
            approved,
            lambda d: offline.journal_approval(journal(d), approval(), 9, 1, "20261207", "185600"),
        ),
        (approved, taken, lambda d: journal(d).uploaded(next(journal(d).to_upload(1)))),
    )
    for old, new, operation in steps:
        dev.snapshot()
        dev.reset_counters()
        operation(dev)
        writes = dev.writes
        assert writes > 0
        for tear in (False, True):
            for n in range(1, writes + 1):
                dev.restore()
                dev.cut(n, tear)
                expect_error(OSError, (), operation, dev)
                dev = dev.power_cycle()
                got = _state(dev)
                where = "%d-byte blocks, cut at write %d of %d%s" % (
                    block_size,
                    n,
                    writes,
                    " (torn)" if tear else "",
                )
                # The old state or the new, whole: an approval half written is no approval,
                # and an upload half recorded is sent again.
                assert got == old or got == new, where
                points += 1
        dev.restore()
        operation(dev)
        assert _state(dev) == new
    return points


def test_a_power_cut_at_every_write_of_an_offline_approval_and_its_upload_esp32_blocks():
    assert _campaign(4096, 6) >= 4


def test_a_power_cut_at_every_write_of_an_offline_approval_and_its_upload_small_blocks():
    assert _campaign(512, 12) >= 4


# --- the upload at settlement ---------------------------------------------------------------


def test_settlement_uploads_the_offline_sale_before_its_totals():
    from test_txn import sale as swiped_sale
    from test_txn import signed_on

    from app.txn.engine import Request

    store, host, eng = signed_on()
    assert swiped_sale(eng, 100).approved
    assert offline.ready(eng)
    entry = offline.approve(eng, approval(1234), "01")
    assert entry.stan == eng.stan and entry.batch == eng.batch  # the next STAN, saved
    assert [e.stan for e in eng.journal.to_upload(eng.batch)] == [entry.stan]
    result = eng.run(Request("settlement"))
    assert result.approved and result.settlement["balanced"], (result.notes, host.requests)
    assert [m for m, _ in host.requests] == ["0200", "0200", "0500", "0320"]
    upload = host.requests[1][1]
    assert upload[60][:8] == "36000001" and upload[3] == "000000" and upload[25] == "00"
    assert upload[11] == "%06d" % entry.stan and upload[4] == "000000001234"
    assert upload[2] == PAN and upload[14] == "3012" and upload[22] == "072"
    assert upload[23] == "001" and bytes(upload[55]) == FIELD55 and 64 in upload
    # The offline sale counts in the 0500's debit totals.
    assert host.of("0500")[0][48][:15] == "000000001334002"


def test_an_upload_the_host_refuses_stays_to_upload_and_the_settlement_goes_on():
    from test_txn import signed_on

    from app.txn.engine import Request

    store, host, eng = signed_on()
    entry = offline.approve(eng, approval(1234))
    host.fault("decline:05", "0200")
    result = eng.run(Request("settlement"))
    assert "offline sale %06d refused by the host: 05" % entry.stan in result.notes
    assert host.of("0500")[0][48][:15] == "000000001234001"


def test_an_upload_the_host_already_has_is_taken_and_not_sent_again():
    # Its 00 was lost (or the power went before the terminal wrote it down): the host answers
    # the same STAN again 94, "duplicate", and the terminal records the sale as taken.
    from test_txn import signed_on

    from app.txn.api import Result

    store, host, eng = signed_on()
    offline.approve(eng, approval(1234))
    host.fault("decline:94", "0200")
    result = Result("settlement")
    assert offline.upload(eng, result) == 1 and result.notes == []
    assert list(eng.journal.to_upload(eng.batch)) == []
    assert offline.upload(eng, result) == 0 and len(host.of("0200")) == 1


def test_no_tap_when_the_journal_cannot_keep_an_offline_sale():
    class Engine:
        # What offline.ready reads of app.txn.engine.Engine.
        def __init__(self, warning, room):
            self.warning = warning
            self.journal = self
            self._room = room

        def batch_warning(self):
            return self.warning

        def room(self):
            return self._room

    assert offline.ready(Engine(None, 40)) and offline.ready(Engine("batch_near", None))
    assert not offline.ready(Engine("settle_first", 40))
    assert not offline.ready(Engine(None, 3))  # room for a sale, not for an offline one
