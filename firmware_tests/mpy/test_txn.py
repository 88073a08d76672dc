# The transaction engine (app.txn.engine) on MicroPython over a RAM flash, against
# fakehost.FakeHost: a host that decodes the engine's frames with app.txn.iso8583 and answers
# with real frames. The rules of spec §6: STAN/batch numbering and wrap, the reversal record
# written before the request leaves and its reasons (98, A0, 06), delivery before the next
# transaction and its retries, response validation, void checks, sign-on keys and clock,
# settlement and batch upload, the host's processing requirements, and what reaches the flash.
# mpy-heap: 384K
# (The unix port compiles this module, fakehost and the app modules from source into the
# heap; the engine's own peak heap, from ROMFS, is in docs/transactions.md.)
import os
import struct

from fakehost import F62_003, F62_004, MAK, MAK_003, PIK, FakeHost
from ramflash import RAMFlash, mount_fresh

from app.crypto import cipher, pinblock
from app.keys.slots import KeyStore
from app.store.journal import TransactionJournal
from app.store.params import Params, ParamStore, hash_password, put_tlv
from app.store.records import RecordStore
from app.txn.engine import Card, Engine, Request
from app.txn.iso8583 import Packer
from app.txn.messages import next_number
from app.txn.reversal import PendingReversal

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


def fresh(counters=None, profile=(), terminal=TERMINAL):
    """Erased flash with parameters (the application's with `profile` items added) and the
    TMK; returns the record store."""
    mount_fresh(DEVICE, MOUNT)
    store = RecordStore(ROOT)
    params = ParamStore(store)
    params.save(0, Params.from_tlv(tlv(terminal), 0), 1)
    items = dict(APP)
    items.update(profile)
    params.save(1, Params.from_tlv(tlv(sorted(items.items())), 1), 1)
    KeyStore(store, STORAGE_KEY).set_tmk(1, 1, TMK, "3DES")
    if counters is not None:
        store.save("counters1", struct.pack(">II", *counters))
    return store


def engine(store, host=None, events=None):
    return Engine(1, store, STORAGE_KEY, host or FakeHost(), events=events)


def signed_on(counters=None, profile=(), host=None, terminal=TERMINAL):
    store = fresh(counters, profile, terminal)
    host = host or FakeHost()
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
    from app.crypto.mac import cup_mac
    from app.txn.iso8583 import Packer

    mak = cipher.new("DES", MAK)
    again = Packer().pack(
        "0200", f, b"\x60\x00\x03\x00\x00", "603100310000", lambda m: cup_mac(mak, m)
    )
    assert bytes(again[-8:]) == f[64]


def test_the_pin_key_stays_open_from_one_pin_to_the_next():
    # The sign-on caches nothing; a PIN's PIK stays open after its PIN block, as the MAK does
    # (reopening it was a fifth of a sale's time); a request without a PIN (a void, a
    # settlement) lets it go, its key schedule off the heap's peaks.
    _, host, eng = signed_on()
    assert not eng.keys._ciphers
    assert sale(eng).approved
    assert sorted(eng.keys._ciphers) == [(1, "MAK"), (1, "PIK")]
    assert sale(eng).approved  # the cached PIK: the same PIN block
    first, second = host.requests[0][1][52], host.requests[1][1][52]
    assert first == second
    void = Request("sale_void", original_stan=eng.stan, supervisor_password=b"123456")
    assert eng.run(void).approved
    assert list(eng.keys._ciphers) == [(1, "MAK")]
    assert sale(eng).approved  # opened again: the same PIN block
    assert host.of("0200")[-1][52] == first
    assert eng.run(Request("settlement")).approved
    assert list(eng.keys._ciphers) == [(1, "MAK")]


def test_a_new_pin_key_from_a_sign_on_is_used_at_the_next_pin():
    _, host, eng = signed_on()
    assert sale(eng).approved  # the first PIK now cached
    new_pik = bytes(range(1, 17))
    field62 = bytearray(F62_004)
    under_tmk = bytearray(new_pik)  # the host sends the PIK encrypted under the TMK
    cipher.new("3DES", TMK).encrypt_into(under_tmk)
    check = bytearray(8)
    cipher.new("3DES", new_pik).encrypt_into(check)
    field62[:16] = under_tmk
    field62[16:20] = check[:4]
    host.field62 = bytes(field62)
    assert eng.run(Request("sign_on")).approved
    assert sale(eng).approved
    block = bytearray(host.of("0200")[-1][52])
    cipher.new("3DES", new_pik).decrypt_into(block)
    assert block == pinblock.format0(b"123456", b"6224242900000113")


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


# --- cashier-facing mistakes -------------------------------------------------------------------


def counters(store):
    return struct.unpack(">II", store.load("counters1")[1])


def test_a_mistyped_card_number_is_refused_before_anything():
    store, host, eng = signed_on()
    before = counters(store)
    card = Card(pan="6224242900000114", expiry="2806")  # 0113 with its last digit wrong
    for request in (
        Request("sale", amount=100, card=card, pin=bytearray(b"123456")),
        Request("balance", card=card),
        Request("preauth", amount=100, card=card),
    ):
        result = eng.run(request)
        assert result.error == "card_number", result.error
        assert result.message_en == "Card number is wrong (check digit): key it in again"
        assert result.message_zh == "卡号有误,请重新输入"
        assert "622424..." in result.detail and "6224242900000114" not in result.detail
    assert host.requests == [] and counters(store) == before and pending(store) is None
    assert eng.journal.is_empty()
    # A swiped track is read, not typed: its number is what the card holds.
    assert sale(eng, 1, track="6224242900000114=28062010000000000").approved
    assert eng.run(Request("balance", card=Card(pan="6224242900000154", expiry="2806"))).approved


def test_55_without_a_pin_says_the_pin_is_required():
    store, host, eng = signed_on()
    host.fault("decline:55", "0200")
    result = sale(eng, pin=None)
    assert result.response_code == "55" and not result.approved and result.error is None
    assert result.message_en == "PIN required: enter the cardholder's PIN and try again"
    assert result.message_zh == "此卡须输入密码,请输入密码后重试"
    host.fault("decline:55", "0200")
    result = sale(eng)  # a PIN went: it was the wrong one
    assert result.message_en == "Wrong PIN: enter the PIN again"


def test_no_transaction_after_a_sign_off_until_a_sign_on():
    store, host, eng = signed_on()
    assert sale(eng).approved
    seen = []
    host.on_request = lambda mti, fields: seen.append(store.load("signoff1") is not None)
    off = eng.run(Request("sign_off"))
    assert off.approved and seen == [True]  # persisted before the 0820 left
    host.on_request = None
    sent = len(host.requests)
    for request in (
        Request("sale", amount=1, card=Card(track2=TRACK), pin=bytearray(b"123456")),
        Request("sale_void", original_stan=2, supervisor_password=b"123456"),
        Request("settlement"),
        Request("sign_off"),
    ):
        result = eng.run(request)
        assert result.error == "signed_off", (request.kind, result.error)
        assert result.message_en == "Signed off: sign on before the next transaction"
        assert result.message_zh == "已签退,请先签到"
    assert len(host.requests) == sent
    assert eng.run(Request("echo")).approved  # the line may still be tested
    again = engine(store, host)  # after a power cut: still signed off
    assert sale(again).error == "signed_off"
    assert again.run(Request("sign_on")).approved
    assert store.load("signoff1") is None
    assert sale(again).approved and sale(engine(store, host)).approved


def test_a_refused_sign_on_leaves_the_terminal_signed_off():
    store, host, eng = signed_on()
    assert eng.run(Request("sign_off")).approved
    host.fault("decline:97", "0800")
    assert eng.run(Request("sign_on")).response_code == "97"
    assert sale(eng).error == "signed_off"


def test_another_storage_key_is_named_and_nothing_is_sent():
    store, host, eng = signed_on()
    host.fault("no_answer", "0200")
    sale(eng, 70)  # leaves a pending reversal, sealed under the right key
    record = store.load("reversal1")
    host.requests = []
    before = counters(store)
    other = Engine(1, store, b"ffffffffffffffff", host)
    for request in (
        Request("sale", amount=1, card=Card(track2=TRACK), pin=bytearray(b"123456")),
        Request("sign_on"),
        Request("settlement"),
    ):
        result = other.run(request)
        assert result.error == "storage_key", (request.kind, result.error, result.detail)
        assert result.message_en == "Keys sealed under another storage key: nothing sent"
        assert result.message_zh == "存储密钥不符,未发送,请重装密钥"
        assert "does not verify" in result.detail
    assert host.requests == [] and counters(store) == before
    assert store.load("reversal1") == record  # kept for the right terminal
    assert "accepted" in sale(eng).reversal_note


def test_sign_on_without_a_master_key_sends_nothing():
    store = fresh()
    from app.keys.slots import KeyStore as Keys

    Keys(store, STORAGE_KEY).erase(1)
    host = FakeHost()
    result = engine(store, host).run(Request("sign_on"))
    assert result.error == "no_tmk" and "no master key in slot 1" in result.detail
    assert host.requests == []


# --- settlement: empty batches, the host's flags, the batch end --------------------------------


def test_empty_batch_asks_by_default():
    store, host, eng = signed_on()
    result = eng.run(Request("settlement"))
    assert result.error == "confirm_empty" and not result.approved
    assert result.message_en == "No transactions in this batch: settle with zero totals?"
    assert result.message_zh == "本批次无交易,是否结算?"
    assert host.requests == [] and eng.batch == 1
    result = eng.run(Request("settlement", confirmed=True))
    assert result.approved and result.settlement["terminal"] == (0, 0, 0, 0)
    assert host.of("0500")[0][48] == "0" * 62 and eng.batch == 2


def test_empty_batch_refused_or_sent_as_the_parameters_say():
    store, host, eng = signed_on(profile=((0x4F, b"refuse"),))
    result = eng.run(Request("settlement", confirmed=True))
    assert result.error == "empty_batch" and host.requests == []
    assert result.message_en == "No transactions in this batch: nothing to settle"
    store, host, eng = signed_on(profile=((0x4F, b"send"),))
    result = eng.run(Request("settlement"))
    assert result.approved and [m for m, _ in host.requests] == ["0500", "0320"]
    # A pending reversal is a transaction of the batch: not empty.
    store, host, eng = signed_on(profile=((0x4F, b"refuse"),))
    host.fault("no_answer", "0200")
    sale(eng)
    assert eng.journal.is_empty() and eng.run(Request("settlement")).approved


def test_a_0_in_the_foreign_flag_of_a_domestic_batch_is_balanced():
    # The acquirer host that put 0 in the foreign flag of an all-domestic batch: the
    # terminal used to report totals differ and upload the batch at every settlement.
    store, host, eng = signed_on()
    assert sale(eng, 500).approved
    host.fault("flags:10", "0500")
    result = eng.run(Request("settlement"))
    assert result.approved and result.settlement["balanced"], result.settlement
    assert result.settlement["flags"] == "10"
    assert (result.settlement["domestic"], result.settlement["foreign"]) == ("balanced",) * 2
    assert result.settlement["uploaded"] == 0
    assert [m for m, _ in host.requests[-2:]] == ["0500", "0320"]
    assert host.of("0320")[0][60][8:] == "202"  # the batch end only
    assert result.message_en == "Settled, totals agree with the host"
    lines = result.receipt_lines
    assert lines[0] == b"POS \xbd\xe1\xcb\xe3\xb5\xa5 SETTLEMENT"
    assert b"FOREIGN \xcd\xe2\xbf\xa8 (0): BALANCED" in lines
    assert b"DEBIT \xbd\xe8\xbc\xc7: 1 RMB 5.00" in lines


def test_flag_3_is_a_totals_error_and_uploads():
    store, host, eng = signed_on()
    assert sale(eng, 500).approved
    host.fault("flags:31", "0500")
    result = eng.run(Request("settlement"))
    assert result.approved and not result.settlement["balanced"]
    assert result.settlement["domestic"] == "error" and result.settlement["uploaded"] == 1
    assert result.message_zh == "结算完成,对账出错,请联系收单行"
    assert b"DOMESTIC \xc4\xda\xbf\xa8 (3): ERROR" in result.receipt_lines
    # An unknown flag where there are transactions is not taken for balanced.
    assert sale(eng, 500).approved
    host.fault("flags:01", "0500")
    result = eng.run(Request("settlement"))
    assert result.settlement["domestic"] == "unknown" and result.settlement["uploaded"] == 1


def test_batch_end_only_after_an_upload():
    store, host, eng = signed_on(profile=((0x50, b"unbalanced"),))
    assert sale(eng, 500).approved
    assert eng.run(Request("settlement")).settlement["balanced"]
    assert host.of("0320") == [] and eng.batch == 2
    assert sale(eng, 500).approved
    host.fault("unbalanced", "0500")
    assert eng.run(Request("settlement")).settlement["uploaded"] == 1
    assert [u[60][8:] for u in host.of("0320")] == ["201", "202"]


# --- the acquirer profile ------------------------------------------------------------------------


def test_field_60_of_14_digits_and_field_26():
    profile = ((0x4B, b"14"), (0x4C, b"601"), (0x4D, b"06"))
    store, host, eng = signed_on(profile=profile)
    host.fault("no_answer", "0200")
    sale(eng, 51)
    f = host.of("0200")[0]
    assert f[60] == "22000001000601" and f[26] == "06"
    assert sale(eng).approved
    assert host.of("0400")[0][60] == "22000001000601"  # the reversal keeps the original's
    assert host.of("0200")[1][60] == "22000001000601"
    store, host, eng = signed_on(profile=((0x4B, b"14"),))
    assert sale(eng).approved and host.of("0200")[0][60] == "22000001000200"
    assert eng.run(Request("echo")).approved
    assert host.of("0820")[0][60] == "00000001301"  # management messages stay 11 digits


def test_x9_19_mac_both_ways():
    for method in (b"x9.19", b"x9.19-hex"):
        host = FakeHost()
        host.field62, host.mak, host.mac_method = F62_003, MAK_003, method.decode()
        profile = ((0x46, b"003"), (0x4E, method))
        store, host, eng = signed_on(profile=profile, host=host)
        assert sale(eng, 51).approved  # the answer's MAC checked the same way
        f = host.of("0200")[0]
        again = Packer().pack("0200", f, b"\x60\x00\x03\x00\x00", "603100310000", host.mac)
        assert bytes(again[-8:]) == f[64]
        if method == b"x9.19-hex":
            assert f[64] == f[64].upper() and bytes.fromhex(f[64].decode())
        # The CUP MAC from this host: the answer's MAC fails, reversed with A0.
        host.mac_method = "cup"
        result = sale(eng, 52)
        assert result.error == "mac" and pending(store)[0] == "A0"


def test_a_described_field_62_layout():
    # Spec §7.3's acquirer: 60.3 003 answered with 61 bytes.
    host = FakeHost()
    host.field62 = b"\x01" + F62_003 + F62_004[40:60]
    host.mak = MAK_003
    store, host, eng = signed_on(
        profile=((0x46, b"003"), (0x4A, b"PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4")), host=host
    )
    result = eng.run(Request("sign_on"))
    assert result.notes[0] == "keys PIK 08D7B4FB MAK A0D0F5B7 TDK D2B91CC5"
    assert sale(eng).approved
    # Without the description the same answer is refused by name, the old keys kept.
    store = fresh(profile=((0x46, b"003"),))
    result = engine(store, host).run(Request("sign_on"))
    assert result.error == "key_check" and "must be 40 bytes" in result.detail
    assert result.detail.endswith("got 61")


DIALUP = TERMINAL[:11] + (
    (0x0C, b"dialup"),
    (0x10, b""),
    (0x11, b"direct"),
    (0x12, b"95555"),
    (0x14, b"6000030000"),
    (0x15, b"\x01"),
)


def test_lri_header_on_dial_up():
    host = FakeHost()
    host.lri = True
    store, host, eng = signed_on(host=host, terminal=DIALUP)
    assert sale(eng).approved
    frames = []
    real = host.send
    host.send = lambda frame: frames.append(bytes(frame)) or real(frame)
    assert sale(eng).approved
    assert frames[0][7:12] == b"LRI\x00\x1c" and frames[0][12:40] == bytes(28)
    # A host that sends no LRI back: a clear error, and the sale reversed.
    host.send = real
    receive = host.receive

    def without_header(timeout_ms):
        frame = bytes(receive(timeout_ms))
        framed = frame[2:7] + frame[40:]
        return len(framed).to_bytes(2, "big") + framed

    host.receive = without_header
    result = sale(eng)
    assert result.error == "invalid" and pending(store)[0] == "98"
    assert result.detail == "answer has no LRI header: dialup.lri is on, the host sends none"
    # And the other way: the terminal sends none, the host's answers carry one.
    store, host, eng = signed_on(terminal=DIALUP[:-1] + ((0x15, b"\x00"),))
    real = host.receive

    def with_header(timeout_ms):
        frame = bytes(real(timeout_ms))
        framed = frame[2:7] + b"LRI\x00\x1c" + bytes(28) + frame[7:]
        return len(framed).to_bytes(2, "big") + framed

    host.receive = with_header
    result = sale(eng)
    assert result.error == "invalid"
    assert result.detail == "answer carries an LRI header: the host wants dialup.lri on"


# --- the terminal application's hooks ------------------------------------------------------


def test_out_of_service_refuses_every_request_and_sends_nothing():
    from app.txn import engine as txn_engine

    store, host, eng = signed_on()
    txn_engine.out_of_service("SM4, CUP MAC (SM4)")
    try:
        result = sale(eng)
        assert result.error == "out_of_service" and "SM4" in result.detail
        assert not result.approved and eng.run(Request("sign_on")).error == "out_of_service"
        assert host.requests == [] and pending(store) is None
    finally:
        txn_engine._out_of_service = None  # the other tests run in this process


def test_sign_on_hands_over_the_pin_key_for_an_external_pin_pad():
    store = fresh()
    result = engine(store).run(Request("sign_on"))
    # field 62 of mode 004: PIK (16, under the TMK) then its check value
    assert result.pin_key == ("3DES", F62_004[:16], F62_004[16:20])


def test_a_pin_block_from_the_pin_pad_is_sent_as_it_came():
    from app.txn.api import PinBlock

    store, host, eng = signed_on()
    block = pinblock.encrypt(cipher.new("3DES", PIK), b"4321", b"6224242900000113")
    result = eng.run(Request("sale", amount=5, card=Card(track2=TRACK), pin=PinBlock(block)))
    assert result.approved
    fields = host.of("0200")[0]
    assert fields[52] == block and fields[53] == "2600000000000000" and fields[22] == "021"


def test_training_marks_the_header_and_keeps_its_own_journal_and_batch():
    store, host, eng = signed_on()
    assert sale(eng, 300).approved  # a real sale
    batch = eng.batch
    training = Engine(1, store, STORAGE_KEY, host, training=True)
    host.fault("no_answer", "0200")
    assert (
        training.run(
            Request("sale", amount=100, card=Card(track2=TRACK), pin=bytearray(b"123456"))
        ).error
        == "timeout"
    )
    assert host.headers[-1] == "603110310000"  # digit 5: test
    assert pending(store) is None  # the training reversal is its own record
    result = sale(training, 100)
    assert result.approved and result.training
    assert host.headers[-2] == "603110310000"  # its reversal went first, marked test too
    assert training.totals() == (100, 1, 0, 0) and eng.totals() == (300, 1, 0, 0)
    settled = training.run(Request("settlement"))
    assert settled.approved and training.journal.is_empty()
    assert Engine(1, store, STORAGE_KEY, host).batch == batch  # the real batch stays open
    assert eng.totals() == (300, 1, 0, 0)
    assert sale(eng).approved and host.headers[-1] == "603100310000"


def test_a_swipe_after_the_chip_failed_is_marked_fallback_in_60_5():
    # Spec §2/§5: S1 keeps entry mode 02 and sets 60.5 = 2; 60.4 = 5, the terminal reads chips.
    from app.txn import chip

    store, host, eng = signed_on()
    card = chip.fallback_card(TRACK)
    result = eng.run(Request("sale", amount=51, card=card, pin=bytearray(b"123456")))
    assert result.approved
    f = host.of("0200")[0]
    assert f[22] == "021" and f[35] == TRACK and f[60] == "22000001000520"
    assert 55 not in f and 23 not in f and 2 not in f
