# A chip card's life after the sale (MicroPython, against fakehost.FakeHost): the IC detail
# upload at settlement (app.txn.icupload: 0320, 60.3 203/205, one per chip transaction with
# its TC), resumed after a broken line without sending again what the host took, given up
# after its attempts; the script result notice (app.txn.scriptnotice: 0620, 60.3 951), kept
# until answered. The chip transactions are magnetic-stripe sales with the IC record a chip
# sale keeps (app.txn.chip.keep): the kernel and its card are firmware_tests/test_chip_sale.py's.
# mpy-heap: 384K
import struct

from test_txn import sale, signed_on

from app.txn import icdata, icupload, scriptnotice
from app.txn.engine import Request

PAN = "6224242900000113"


def tc(atc):
    # Field 55 of a TC as the card gives it: 9F26, 9F27 = 40, 9F36 the ATC.
    return b"\x9f\x26\x08" + bytes(8) + b"\x9f\x27\x01\x40\x9f\x36\x02" + struct.pack(">H", atc)


def chip_sales(eng, *amounts):
    # Each a sale with the IC record a chip sale keeps; returns their STANs.
    stans = []
    for n, amount in enumerate(amounts):
        result = sale(eng, amount)
        assert result.approved
        icdata.keep(eng, result.stan, 1, tc(n + 7), PAN, amount, "051")
        stans.append(result.stan)
    return stans


def ic_details(host):
    return [f for f in host.of("0320") if f[60][8:] in ("203", "205")]


def test_settlement_uploads_each_chip_transaction_with_its_tc_before_the_batch_end():
    store, host, eng = signed_on()
    stans = chip_sales(eng, 500, 700)
    assert sale(eng, 300).approved  # a swiped sale has no IC detail
    host.requests = []
    result = eng.run(Request("settlement"))
    assert result.approved and result.settlement["ic_uploaded"] == 2
    mtis = [(mti, f[60][8:]) for mti, f in host.requests]
    assert mtis == [("0500", "201"), ("0320", "203"), ("0320", "203"), ("0320", "202")]
    first, second = ic_details(host)
    assert first[2] == PAN and first[4] == "000000000500" and first[22] == "051"
    assert first[23] == "001" and first[55] == tc(7) and first[60] == "00000001203"
    assert 64 not in first and second[55] == tc(8) and second[4] == "000000000700"
    assert first[11] != second[11] and int(first[11]) > stans[-1]  # a STAN each
    assert host.of("0320")[-1][48] == "0003"  # the batch end counts the transactions
    # The records went with the batch: nothing waits, nothing goes before the next sale.
    assert not icdata.exists(eng) and not icdata.exists(eng, True)
    assert icupload.pending(eng) is None
    host.requests = []
    assert sale(eng, 1).approved and [m for m, _ in host.requests] == ["0200"]


def test_unbalanced_totals_upload_the_magstripe_records_then_the_ic_details_as_205():
    store, host, eng = signed_on()
    chip_sales(eng, 500)
    host.requests = []
    host.fault("unbalanced", "0500")
    result = eng.run(Request("settlement"))
    assert result.settlement["uploaded"] == 1 and result.settlement["ic_uploaded"] == 1
    assert [f[60][8:] for f in host.of("0320")] == ["201", "205", "202"]


def test_a_broken_line_leaves_the_rest_for_the_next_request_without_repeating_what_went():
    store, host, eng = signed_on()
    chip_sales(eng, 500, 700, 900)
    host.requests = []
    host.on_request = lambda mti, f: (
        host.fault("no_answer") if mti == "0320" and f[55] == tc(8) else None
    )
    result = eng.run(Request("settlement"))
    assert result.approved and eng.batch == 2  # the batch is closed all the same
    assert "batch upload incomplete" in " ".join(result.notes)
    assert [f[55] for f in ic_details(host)] == [tc(7), tc(8)]
    assert icupload.pending(eng) == (1, 3, 1, 1)  # batch 1, 203, one taken, one session
    host.requests, host.on_request = [], None
    result = sale(eng, 1)
    assert result.approved
    # The second and third of batch 1 (not the first, which the host took), then the sale.
    sent = [(mti, f.get(55), f[60][2:8]) for mti, f in host.requests]
    assert sent[:2] == [("0320", tc(8), "000001"), ("0320", tc(9), "000001")]
    assert sent[2][0] == "0200" and sent[2][2] == "000002"
    assert "IC details of the last batch: 2 uploaded" in result.notes
    assert icupload.pending(eng) is None and not icdata.exists(eng, True)


def test_an_upload_the_host_keeps_refusing_is_dropped_after_its_attempts():
    store, host, eng = signed_on()  # reversal_retries 2: three sessions in all
    chip_sales(eng, 500)
    host.fault("decline:30", "0320", count=10)
    result = eng.run(Request("settlement"))
    assert result.approved and icupload.pending(eng) == (1, 3, 0, 1)
    for _ in range(2):
        assert sale(eng, 1).approved  # each tries once; the sale goes all the same
    assert icupload.pending(eng) == (1, 3, 0, 3)
    host.requests = []
    result = sale(eng, 1)
    assert result.approved and host.of("0320") == []
    assert "not uploaded after 3 attempts, dropped" in " ".join(result.notes)
    assert icupload.pending(eng) is None and not icdata.exists(eng, True)


def test_the_next_settlement_sends_what_the_last_left_before_its_own():
    store, host, eng = signed_on()
    chip_sales(eng, 500)
    host.fault("no_answer", "0320")
    eng.run(Request("settlement"))
    host.requests = []
    assert eng.run(Request("settlement", confirmed=True)).approved
    mtis = [(mti, f[60][2:8], f[60][8:]) for mti, f in host.requests]
    assert mtis[0] == ("0320", "000001", "203") and mtis[1][0] == "0500"


class _Term:
    def __init__(self):
        self.tags = {}

    def set(self, tag, value):
        self.tags[tag] = value


class _Kernel:
    # What the script result notice reads of the contact kernel (app.emv.kernel.Kernel)
    # after a second GENERATE AC that ran one issuer script.
    def __init__(self):
        self.scripts = bytearray(b"\x20\x00\x00\x00\x01")
        self.term = _Term()

    def field55(self, tags):
        out = bytearray()
        for tag in tags:
            value = self.term.tags.get(tag)
            if value is not None:
                out.extend(struct.pack(">HB", tag, len(value)) + value)
        return bytes(out)


class _Card:
    pan, expiry = PAN, "3012"

    def __init__(self):
        self.kernel = _Kernel()


def notice_after(eng, result):
    """Keep the script result notice of sale `result` as a chip sale whose issuer script ran
    does (also flowcuts.py's)."""
    fields = {2: PAN, 3: "000000", 4: "000000000500", 11: "%06d" % result.stan, 22: "051"}
    fields.update({23: "001", 25: "00", 41: eng.terminal_id, 42: eng.merchant_id, 49: "156"})
    fields[60] = "22%06d" % result.batch
    return scriptnotice.keep(eng, fields, _Card(), {13: "1207"}, result)


def test_a_script_result_notice_waits_until_the_host_answers_it():
    store, host, eng = signed_on()
    result = sale(eng, 500)
    assert notice_after(eng, result)
    assert PAN.encode() not in store.load("notice1")[1]  # sealed
    host.down = True
    scriptnotice.deliver(eng, result)
    assert "script result notice of %06d kept" % result.stan in " ".join(result.notes)
    host.down = False
    host.requests = []
    after = sale(eng, 1)
    assert after.approved and [m for m, _ in host.requests] == ["0620", "0200"]
    notice = host.of("0620")[0]
    assert notice[60] == "00000001951" and notice[61] == "000001%06d1207" % result.stan
    assert notice[55] == b"\xdf\x31\x05\x20\x00\x00\x00\x01" and 64 in notice
    assert notice[2] == PAN and notice[4] == "000000000500" and notice[3] == "000000"
    assert int(notice[11]) == result.stan + 1  # its own STAN, kept from the start
    assert scriptnotice.load(eng) is None
    host.requests = []
    assert sale(eng, 1).approved and [m for m, _ in host.requests] == ["0200"]


def test_a_notice_sent_again_keeps_its_stan_and_a_refusal_ends_it():
    store, host, eng = signed_on()
    result = sale(eng, 500)
    notice_after(eng, result)
    host.fault("no_answer", "0620", count=3)  # every attempt of this request
    scriptnotice.deliver(eng, result)
    first = [f[11] for f in host.of("0620")]
    assert len(first) == 3 and len(set(first)) == 1
    host.fault("decline:12", "0620")
    settled = eng.run(Request("settlement"))
    assert settled.approved and host.of("0620")[-1][11] == first[0]
    assert "refused (12)" in " ".join(settled.notes) and scriptnotice.load(eng) is None
