# The transaction engine (app.txn) on MicroPython over a RAM flash, against fakehost.FakeHost:
# a host that decodes the engine's frames with app.iso8583 and answers with real frames. The
# rules of spec §6: STAN/batch numbering and wrap, the reversal record written before the
# request leaves and its reasons (98, A0, 06), delivery before the next transaction and its
# retries, response validation, void checks, sign-on keys and clock, settlement and batch
# upload, the host's processing requirements, and what reaches the flash.
# mpy-heap: 384K
# (The unix port compiles this module, fakehost and the app modules from source into the
# heap; the engine's own peak heap, from ROMFS, is in docs/transactions.md.)
import os
import struct

from fakehost import MAK, PIK, FakeHost
from ramflash import RAMFlash, mount_fresh

from app import cipher, pinblock
from app.journal import TransactionJournal
from app.keys import KeyStore
from app.params import Params, ParamStore, hash_password, put_tlv
from app.reversal import PendingReversal
from app.store import RecordStore
from app.txn import Card, Engine, Request, next_number

MOUNT = "/txnflash"
ROOT = MOUNT + "/data"
STORAGE_KEY = b"0123456789abcdef"
TMK = bytes.fromhex("70F2A84CCBC2AE8625CBB0F2C22AB923")
TRACK = "6224242900000113=28062013949031013"
OTHER = "6224242900000121=28062010000000000"
TID, MID = "12345678", "123456789012345"

TERMINAL = (
    (0x01, b"zh"),
    (0x02, b"\x02"),
    (0x03, b"\x00"),
    (0x04, hash_password("0000", bytes(16))),
    (0x05, hash_password("123456", bytes(16))),
    (0x06, b"3DES"),
    (0x07, bytes((10,))),
    (0x08, bytes((10,))),
    (0x09, bytes((30,))),
    (0x0A, b"\x02"),  # reversal retries: 3 attempts in all
    (0x0B, b"primary"),
    (0x0C, b"ethernet"),
    (0x30, b"\x01"),
    (0x35, b"127.0.0.1"),
    (0x36, struct.pack(">H", 5000)),
    (0x39, b"6000030000"),
)
APP = (
    (0x40, b"CUP"),
    (0x41, MID.encode()),
    (0x42, TID.encode()),
    (0x43, b"POSKIT\xb2\xe2\xca\xd4"),
    (0x44, b"3DES"),
    (0x45, b"\x01"),
    (0x46, b"004"),
    (0x47, b"6031"),
    (0x48, b"310000"),
)


DEVICE = RAMFlash(512, 80)


def tlv(items):
    buf = bytearray()
    for tag, value in items:
        put_tlv(buf, tag, value)
    return bytes(buf)


def fresh(counters=None):
    """Erased flash with parameters and the TMK; returns the record store."""
    mount_fresh(DEVICE, MOUNT)
    store = RecordStore(ROOT)
    params = ParamStore(store)
    params.save(0, Params.from_tlv(tlv(TERMINAL), 0), 1)
    params.save(1, Params.from_tlv(tlv(APP), 1), 1)
    KeyStore(store, STORAGE_KEY).set_tmk(1, 1, TMK, "3DES")
    if counters is not None:
        store.save("counters1", struct.pack(">II", *counters))
    return store


def engine(store, host=None, events=None):
    return Engine(1, store, STORAGE_KEY, host or FakeHost(), events=events)


def signed_on(counters=None):
    store = fresh(counters)
    host = FakeHost()
    eng = engine(store, host)
    assert eng.run(Request("sign_on")).approved
    host.requests = []
    return store, host, eng


def sale(eng, amount=1, track=TRACK, pin=b"123456"):
    return eng.run(
        Request("sale", amount=amount, card=Card(track2=track), pin=pin and bytearray(pin))
    )


def pending(store):
    return PendingReversal(store, 1, STORAGE_KEY).load()


# --- numbering ----------------------------------------------------------------------------------


def test_next_number_wraps():
    assert next_number(1) == 2
    assert next_number(999998) == 999999
    assert next_number(999999) == 1


def test_stan_saved_before_each_request_and_wraps():
    store = fresh(counters=(999998, 5))
    host = FakeHost()
    seen = []

    def check(mti, fields):
        # The counters record already holds the STAN of the frame on the wire.
        stan, _ = struct.unpack(">II", store.load("counters1")[1])
        seen.append((fields.get(11), stan))

    host.on_request = check
    host.batch = 5
    eng = engine(store, host)
    assert eng.run(Request("sign_on")).stan == 999999
    assert sale(eng).stan == 1  # 999999 wraps to 000001
    assert eng.run(Request("echo")).stan is None  # echo carries no field 11
    assert seen == [("999999", 999999), ("000001", 1), (None, 1)]


def test_sign_on_adopts_host_batch_and_settlement_wraps_it():
    store = fresh()
    host = FakeHost()
    host.batch = 999999
    eng = engine(store, host)
    result = eng.run(Request("sign_on"))
    assert result.approved and result.batch == 999999 == eng.batch
    assert host.of("0800")[0][60] == "00000001004"  # 60.1 00, our batch, 60.3 = signon_mode
    assert host.of("0800")[0][63] == "01 "
    sale(eng)
    result = eng.run(Request("settlement"))
    assert result.approved and result.settlement["batch"] == 999999
    assert eng.batch == 1
    assert struct.unpack(">II", store.load("counters1")[1])[1] == 1
    # A new engine (after a reboot) reads the same numbers.
    again = engine(store, host)
    assert (again.stan, again.batch) == (eng.stan, 1)


def test_host_batch_kept_while_the_journal_has_transactions():
    store, host, eng = signed_on()
    sale(eng)
    host.batch = 7
    result = eng.run(Request("sign_on"))
    assert result.approved and eng.batch == 1
    assert "host batch 000007 kept as 000001 until settlement" in result.notes


def test_sign_on_sets_clock_and_keys():
    store = fresh()
    host = FakeHost()
    eng = engine(store, host)
    result = eng.run(Request("sign_on"))
    assert result.notes[0] == "keys PIK 08D7B4FB MAK 0547DB3E TDK D2B91CC5"
    now = eng.clock.now()
    assert now[1:3] == (5, 20) and now[3] == 10  # 0520 103015 from the host
    assert store.load("clock") is not None


def test_sign_on_bad_check_value_keeps_old_keys():
    store, host, eng = signed_on()
    before = KeyStore(store, STORAGE_KEY).kcv_table(1)
    host.fault("bad_cv", "0800")
    result = eng.run(Request("sign_on"))
    assert result.error == "key_check" and "MAK" in result.detail
    assert KeyStore(store, STORAGE_KEY).kcv_table(1) == before
    assert sale(eng).approved  # the old keys still work


# --- the request on the wire --------------------------------------------------------------------


def test_sale_fields_pin_block_and_mac():
    store, host, eng = signed_on()
    pin = bytearray(b"123456")
    result = eng.run(Request("sale", amount=51, card=Card(track2=TRACK), pin=pin))
    assert result.approved and result.response_code == "00"
    assert pin == bytearray(6)  # wiped
    f = host.of("0200")[0]
    assert sorted(f) == [3, 4, 11, 22, 25, 26, 35, 41, 42, 49, 52, 53, 60, 64]
    assert f[3] == "000000" and f[4] == "000000000051" and f[22] == "021" and f[25] == "00"
    assert f[26] == "12" and f[53] == "2600000000000000" and f[49] == "156"
    assert f[35] == TRACK and f[41] == TID and f[42] == MID and f[60] == "22000001"
    block = bytearray(f[52])
    cipher.new("3DES", PIK).decrypt_into(block)
    assert block == pinblock.format0(b"123456", b"6224242900000113")
    # Field 64 is the CUP MAC over MTI..63 with the MAK: re-pack and compare.
    from app.iso8583 import Packer
    from app.mac import cup_mac

    mak = cipher.new("DES", MAK)
    again = Packer().pack(
        "0200", f, b"\x60\x00\x03\x00\x00", "603100310000", lambda m: cup_mac(mak, m)
    )
    assert bytes(again[-8:]) == f[64]


def test_only_the_mak_stays_open_between_requests():
    # The sign-on caches nothing; a PIN's PIK is let go once the PIN block is made (its key
    # schedule is 1.1 KB of heap), the MAK that every financial request needs is kept.
    _, host, eng = signed_on()
    assert not eng.keys._ciphers
    assert sale(eng).approved
    assert list(eng.keys._ciphers) == [(1, "MAK")]
    assert sale(eng).approved  # the PIK reopens from flash: the same PIN block
    first, second = host.requests[0][1][52], host.requests[1][1][52]
    assert first == second and list(eng.keys._ciphers) == [(1, "MAK")]


def test_keyed_card_without_pin_and_balance():
    store, host, eng = signed_on()
    card = Card(pan="6224242900000154", expiry="2806")
    result = eng.run(Request("balance", card=card))
    assert result.approved and result.balance == 123456 and result.amount is None
    f = host.of("0200")[0]
    assert f[2] == "6224242900000154" and f[14] == "2806" and f[22] == "012"
    assert 4 not in f and 52 not in f and 26 not in f and 53 not in f
    assert f[3] == "310000" and f[60] == "01000001"
    assert result.receipt_lines is None  # nothing journaled, nothing to print


def test_receipt_of_a_sale():
    store, host, eng = signed_on()
    result = sale(eng, 1234)
    lines = result.receipt_lines
    assert lines[0] == b"POS \xc7\xa9\xb9\xba\xb5\xa5 SALES SLIP"
    assert b"MERCHANT NO: " + MID.encode() in lines
    assert b"TERMINAL NO: 12345678 OPER: 01" in lines
    assert b"CARD NO: 622424******0113 S" in lines
    assert b"AMOUNT: RMB 12.34" in lines
    assert b"BATCH NO: 000001 VOUCHER: 000002" in lines
    assert b"DATE/TIME: " in lines[13]
    for line in lines:
        assert len(line) <= 32
    reprint = eng.receipt(result.stan, "cardholder")
    assert b"*** REPRINT \xd6\xd8\xb4\xf2\xd3\xa1 ***" in reprint
    assert not any(line.startswith(b"SIGNATURE") for line in reprint)


# --- reversal -----------------------------------------------------------------------------------


def test_reversal_record_is_written_before_the_request_leaves():
    store, host, eng = signed_on()
    seen = []

    def check(mti, fields):
        if mti == "0200":
            seen.append(pending(store))

    host.on_request = check
    host.fault("no_answer", "0200")
    result = sale(eng, 77)
    reason, mti, fields = seen[0]
    assert (
        reason == "06" and mti == "0200" and fields[11] == "000002" and fields[4] == "000000000077"
    )
    for removed in (35, 52, 53, 26, 37, 64):
        assert removed not in fields
    assert not result.approved and result.error == "timeout" and result.response_code is None
    assert pending(store)[0] == "98"
    assert eng.pending_reversal() == (2, "98")
    assert result.reversal_note == "reversal of 000002 queued (98)"


def test_pending_reversal_goes_first_with_the_original_fields():
    store, host, eng = signed_on()
    host.fault("close", "0200")
    failed = sale(eng, 77)
    assert failed.error == "link"
    original = host.of("0200")[0]
    host.requests = []
    events = []
    eng._events = lambda name, value: events.append((name, value))
    result = sale(eng, 5)
    assert result.approved and result.reversal_note == "reversal of 000002 (reason 98) accepted"
    assert [m for m, _ in host.requests] == ["0400", "0200"]
    rev = host.of("0400")[0]
    assert sorted(rev) == [3, 4, 11, 22, 25, 39, 41, 42, 49, 60, 64]  # spec §7.2's reversal
    for n in (3, 4, 11, 22, 25, 41, 42, 49, 60):
        assert rev[n] == original[n]
    assert rev[39] == "98" and rev[64] != original[64]
    assert result.stan == 3  # the reversal reused STAN 2
    assert pending(store) is None
    assert events.index(("reversal", 2)) < events.index(("sending", "0200"))
    # The confirmed reversal is in the journal, and counts in no total.
    assert eng.totals() == (5, 1, 0, 0)


def test_bad_mac_reverses_with_a0_and_the_auth_code():
    store, host, eng = signed_on()
    host.fault("bad_mac", "0200")
    result = sale(eng, 10)
    assert result.error == "mac"
    assert pending(store)[0] == "A0" and pending(store)[2][38] == "100002"
    assert sale(eng).approved
    rev = host.of("0400")[0]
    assert rev[39] == "A0" and rev[38] == "100002"


def test_journal_failure_after_approval_reverses_with_06():
    store, host, eng = signed_on()
    os.mkdir(ROOT + "/journal1.log")  # the journal cannot be written
    result = sale(eng, 10)
    assert not result.approved and result.error == "storage" and result.response_code == "00"
    assert pending(store)[0] == "06" and pending(store)[2][38] == "100002"
    os.rmdir(ROOT + "/journal1.log")
    assert sale(eng).approved
    assert host.of("0400")[0][39] == "06"


def test_decline_removes_the_reversal_record():
    store, host, eng = signed_on()
    host.fault("decline:51", "0200")
    result = sale(eng)
    assert result.response_code == "51" and not result.approved and result.error is None
    assert result.message_en == "Insufficient funds: use another card"
    assert pending(store) is None and eng.totals() == (0, 0, 0, 0)


def test_reversal_retried_then_dropped():
    store, host, eng = signed_on()
    host.fault("no_answer", "0200")
    stan = sale(eng).stan
    host.fault("no_answer", "0400", count=3)
    result = sale(eng, 9)
    assert result.error == "reversal" and result.stan is None
    assert result.reversal_note == "reversal of %06d failed after 3 attempts: dropped" % stan
    assert [m for m, _ in host.requests[1:]] == ["0400", "0400", "0400"]
    assert pending(store) is None
    assert sale(eng, 9).approved


def test_host_down_keeps_the_reversal():
    store, host, eng = signed_on()
    host.fault("no_answer", "0200")
    sale(eng)
    host.down = True
    result = sale(eng)
    assert result.error == "connect" and pending(store)[0] == "98"


def test_refund_and_notice_are_not_reversed():
    store, host, eng = signed_on()
    first = sale(eng, 500)
    host.fault("no_answer", "0220")
    result = eng.run(
        Request(
            "refund",
            amount=100,
            card=Card(track2=TRACK),
            rrn=first.rrn,
            original_date="0520",
            supervisor_password=b"123456",
        )
    )
    assert result.error == "timeout" and pending(store) is None


# --- response validation ------------------------------------------------------------------------


def test_every_mismatch_counts_as_no_response():
    for fault in (
        "wrong_mti",
        "wrong_3",
        "wrong_4",
        "wrong_11",
        "wrong_41",
        "wrong_42",
        "garbage",
    ):
        store, host, eng = signed_on()
        host.fault(fault, "0200")
        result = sale(eng, 30)
        assert result.error == "invalid", (fault, result.error, result.detail)
        assert pending(store)[0] == "98", fault
        assert eng.totals() == (0, 0, 0, 0)


def test_missing_mac_on_an_approval_is_a_mac_error():
    store, host, eng = signed_on()
    host.fault("no_mac", "0200")
    assert sale(eng).error == "mac" and pending(store)[0] == "A0"


def test_a_decline_may_carry_another_merchant_id():
    store, host, eng = signed_on()
    host.fault("decline:05", "0200")
    host.fault("wrong_42", "0200")
    result = sale(eng)
    assert result.response_code == "05" and result.error is None  # 42 is checked on 00 only


def test_partial_approval_takes_the_host_amount():
    store, host, eng = signed_on()
    host.fault("partial:700", "0200")
    host.fault("no_mac", "0200")
    result = sale(eng, 1000)
    assert result.approved and result.response_code == "10" and result.amount == 700
    assert eng.totals() == (700, 1, 0, 0)


def test_duplicate_answer_is_skipped():
    store, host, eng = signed_on()
    host.fault("no_answer", "0200")
    sale(eng)
    host.fault("duplicate", "0400")
    result = sale(eng, 3)
    assert result.approved and "accepted" in result.reversal_note and result.amount == 3


# --- voids and the pre-authorisation family ---------------------------------------------------


def test_void_rules():
    store, host, eng = signed_on()
    first = sale(eng, 250)
    original = eng.find_original(first.stan)
    assert original.amount == 250 and original.status == "approved"
    assert original.pan_masked == "622424******0113"
    sent = len(host.requests)
    for request, error in (
        (
            Request("sale_void", original_stan=first.stan, supervisor_password=b"000000"),
            "password",
        ),
        (Request("sale_void", original_stan=99, supervisor_password=b"123456"), "not_found"),
        (
            Request(
                "sale_void", original_stan=first.stan, amount=100, supervisor_password=b"123456"
            ),
            "amount",
        ),
        (
            Request(
                "sale_void",
                original_stan=first.stan,
                card=Card(track2=OTHER),
                supervisor_password=b"123456",
            ),
            "card",
        ),
    ):
        assert eng.run(request).error == error
    assert len(host.requests) == sent
    void = eng.run(Request("sale_void", original_stan=first.stan, supervisor_password=b"123456"))
    assert void.approved and void.original.stan == first.stan
    f = host.of("0200")[-1]
    assert f[3] == "200000" and f[4] == "000000000250" and f[60] == "23000001"
    assert f[61] == "0000010000020520" and f[37] == first.rrn and f[38] == first.auth_code
    assert f[2] == "6224242900000113" and f[22] == "012"  # the journal's card, keyed
    assert eng.find_original(first.stan).status == "voided"
    again = eng.run(Request("sale_void", original_stan=first.stan, supervisor_password=b"123456"))
    assert again.error == "not_allowed"
    assert eng.totals() == (0, 0, 0, 0)


def test_preauth_family_fields():
    store, host, eng = signed_on()
    pre = eng.run(
        Request("preauth", amount=10000, card=Card(track2=TRACK), pin=bytearray(b"123456"))
    )
    f = host.of("0100")[0]
    assert f[3] == "030000" and f[25] == "06" and f[60] == "10000001"
    cancel = eng.run(Request("preauth_cancel", auth_code=pre.auth_code))
    f = host.of("0100")[1]
    assert cancel.approved and f[3] == "200000" and f[4] == "000000010000"
    assert f[38] == pre.auth_code and f[61] == "0000010000020520" and f[60] == "11000001"
    done = eng.run(Request("completion", amount=5000, auth_code="654321", original_date="0519"))
    f = host.of("0200")[0]
    assert done.approved and f[60] == "20000001" and f[61] == "0000000000000519"
    assert 2 not in f and 35 not in f  # no card, and none in the journal for that auth code
    notice = eng.run(
        Request("completion_notice", amount=300, auth_code="111111", original_date="0519")
    )
    assert notice.approved and host.requests[-1][0] == "0220"
    void = eng.run(
        Request("completion_void", original_stan=done.stan, supervisor_password=b"123456")
    )
    f = host.of("0200")[-1]
    assert void.approved and f[60] == "21000001" and f[37] == done.rrn and f[38] == done.auth_code
    assert eng.totals() == (300, 1, 0, 0)


def test_missing_input_is_refused():
    store, host, eng = signed_on()
    assert eng.run(Request("sale", amount=1)).error == "input"  # no card
    assert eng.run(Request("sale", amount=0, card=Card(track2=TRACK))).error == "input"
    assert eng.run(Request("preauth_cancel", auth_code="999999")).error == "input"  # no date
    assert (
        eng.run(
            Request("refund", amount=1, card=Card(track2=TRACK), supervisor_password=b"123456")
        ).error
        == "input"
    )
    assert eng.run(Request("nonsense")).error == "input"
    assert host.requests == []


def test_not_signed_on():
    store = fresh()
    host = FakeHost()
    result = sale(engine(store, host))
    assert result.error == "not_signed_on" and host.requests == []
    assert result.message_zh == "未签到,请先签到"


# --- settlement ---------------------------------------------------------------------------------


def _day(eng):
    for amount in (100, 200, 300, 400, 500, 600, 700, 800, 900):
        assert sale(eng, amount).approved
    first = eng.journal.find(2, 1)
    refund = eng.run(
        Request(
            "refund",
            amount=50,
            card=Card(track2=TRACK),
            rrn=first.rrn,
            original_date="0520",
            supervisor_password=b"123456",
        )
    )
    assert refund.approved
    assert eng.run(Request("sale_void", original_stan=3, supervisor_password=b"123456")).approved


def test_settlement_balanced():
    store, host, eng = signed_on()
    _day(eng)
    result = eng.run(Request("settlement"))
    # debit: 9 sales - the voided 200 = 4300 in 8; credit: the refund, 50.
    assert result.approved and result.settlement["balanced"]
    assert result.settlement["terminal"] == (4300, 8, 50, 1)
    f = host.of("0500")[0]
    assert f[48] == "000000004300008000000000050001" + "0" * 32
    assert f[60] == "00000001201" and f[63] == "01 " and f[49] == "156" and 64 not in f
    end = host.of("0320")
    assert len(end) == 1 and end[0][60] == "00000001202" and end[0][48] == "0009"
    assert eng.batch == 2 and eng.journal.is_empty()
    assert result.message_en == "Settled, totals agree with the host"


def test_settlement_unbalanced_uploads_eight_records_a_message():
    store, host, eng = signed_on()
    _day(eng)
    host.fault("unbalanced", "0500")
    result = eng.run(Request("settlement"))
    assert result.approved and not result.settlement["balanced"]
    assert result.settlement["uploaded"] == 9
    uploads = host.of("0320")
    assert [u[60] for u in uploads] == ["00000001201", "00000001201", "00000001202"]
    assert uploads[0][48][:2] == "08" and len(uploads[0][48]) == 2 + 8 * 40
    assert uploads[1][48][:2] == "01" and uploads[2][48] == "0009"
    record = uploads[0][48][2:42]
    assert record == "00" + "000002" + "0000" + "6224242900000113" + "000000000100"
    stans = [
        int(u[48][2 + 40 * i + 2 : 2 + 40 * i + 8])
        for u in uploads[:2]
        for i in range(int(u[48][:2]))
    ]
    assert 3 not in stans  # the voided sale is not uploaded
    assert [u[11] for u in uploads] == ["000014", "000015", "000016"]
    assert result.message_zh == "结算完成,对账不平"


def test_settlement_sends_the_pending_reversal_first():
    store, host, eng = signed_on()
    sale(eng, 100)
    host.fault("no_answer", "0200")
    sale(eng, 200)
    result = eng.run(Request("settlement"))
    assert [m for m, _ in host.requests[-3:]] == ["0400", "0500", "0320"]
    assert result.settlement["terminal"] == (100, 1, 0, 0)


# --- the host's processing requirement ----------------------------------------------------------


def test_host_asks_for_sign_on_and_parameter_download():
    store, host, eng = signed_on()
    host.fault("processing:3", "0200")
    result = sale(eng)
    assert result.approved
    assert result.notes == ["host asked for sign-on: done before the next transaction"]
    assert [m for m, _ in host.requests] == ["0200"]
    result = sale(eng)
    assert result.notes == ["signed on again, as the host asked"]
    assert [m for m, _ in host.requests] == ["0200", "0800", "0200"]
    host.field62_360 = b"\x01PARAMS"
    host.fault("processing:1", "0200")
    result = sale(eng)
    assert result.notes == ["parameter download: 7 bytes"]
    download = host.requests[-1][1]
    assert download[60] == "00000001360" and 11 not in download
    assert store.load("hostparams1")[1] == b"\x01PARAMS"


# --- what reaches the flash ---------------------------------------------------------------------


def test_no_pin_track_or_clear_pan_on_flash():
    store, host, eng = signed_on()
    sale(eng, 42, pin=b"246813")
    host.fault("no_answer", "0200")
    sale(eng, 43, pin=b"246813")  # a reversal record on flash too
    image = DEVICE.data
    for secret in (
        b"246813",
        b"6224242900000113",
        bytes.fromhex("6224242900000113"),
        b"28062013949031013",
    ):
        assert image.find(secret) < 0, secret
    block = host.of("0200")[0][52]
    assert image.find(block) < 0
    journal = TransactionJournal(ROOT, 1, STORAGE_KEY)
    got = journal.card(journal.last())
    assert got == ("6224242900000113", "2806"), got
