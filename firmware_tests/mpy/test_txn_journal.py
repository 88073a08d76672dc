# The transaction journal (app.store.journal) on MicroPython over a RAM flash: record layout,
# replay (void, reversal, reversal of a void), settlement totals by the host's rules, sealed card
# numbers; and the pieces around it: receipt lines (app.txn.receipt), response-code messages
# (app.txn.respcodes), settlement formats (app.txn.messages).
# mpy-heap: 256K

from mptest import expect_error
from ramflash import RAMFlash, mount_fresh

from app.crypto.seal import SealError
from app.store.journal import (
    COMPLETION,
    COMPLETION_NOTICE,
    COMPLETION_VOID,
    PREAUTH,
    PREAUTH_CANCEL,
    REFUND,
    REVERSAL,
    SALE,
    SALE_VOID,
    TransactionJournal,
    kind_name,
    mask,
)
from app.store.params import Params
from app.store.records import RecordStore
from app.txn import messages as txnmsg
from app.txn import receipt, respcodes, settlement

MOUNT = "/jflash"
ROOT = MOUNT + "/data"
KEY = b"fedcba9876543210"
PAN = "6224242900000113"


DEVICE = RAMFlash(512, 48)


def fresh():
    mount_fresh(DEVICE, MOUNT)
    RecordStore(ROOT).save("x", b"")  # makes the data folder
    return TransactionJournal(ROOT, 1, KEY)


def add(journal, kind, stan, amount, batch=1, **kw):
    kw.setdefault("pan", PAN)
    kw.setdefault("expiry", "2806")
    return journal.append(kind, stan, batch, amount, "20250520", "103015", **kw)


def test_record_round_trip():
    journal = fresh()
    entry = add(
        journal,
        SALE,
        12,
        51,
        rrn="052010301501",
        auth_code="123456",
        entry_mode="021",
        operator="01",
    )
    assert entry.sequence == 1
    (got,) = list(journal.records())
    for e in (entry, got):
        assert (e.kind, e.stan, e.batch, e.amount) == (SALE, 12, 1, 51)
        assert (e.date, e.time, e.rrn, e.auth_code) == (
            "20250520",
            "103015",
            "052010301501",
            "123456",
        )
        assert e.response_code == "00" and e.entry_mode == "021" and e.operator == "01"
        assert e.pan_masked == "622424******0113" and e.name == "sale" and not e.reversal
    assert journal.card(got) == (PAN, "2806")
    assert DEVICE.data.find(PAN.encode()) < 0 and DEVICE.data.find(bytes.fromhex(PAN)) < 0
    other = TransactionJournal(ROOT, 1, b"another key 1234")
    expect_error(SealError, ["does not verify"], other.card, got)


def test_every_attribute_of_a_void_and_of_a_reversal():
    journal = fresh()
    void = add(
        journal,
        SALE_VOID,
        13,
        51,
        batch=7,
        rrn="052010301502",
        auth_code="654321",
        entry_mode="022",
        original_stan=12,
        original_batch=6,
        original_date="0520",
        operator="02",
    )
    reversal = add(journal, REVERSAL | SALE, 12, 51, batch=6, pan=None, reason="98")
    got_void, got_reversal = list(journal.records())
    for e in (void, got_void):
        assert (e.kind, e.name, e.reversal, e.stan, e.batch) == (
            SALE_VOID,
            "sale_void",
            False,
            13,
            7,
        )
        assert (e.original_stan, e.original_batch, e.original_date) == (12, 6, "0520")
        assert (e.entry_mode, e.operator, e.reason, e.response_code) == ("022", "02", "", "00")
        assert (e.rrn, e.auth_code, e.status) == ("052010301502", "654321", "")
    for e in (reversal, got_reversal):
        assert (e.name, e.reversal, e.reason, e.pan_masked) == ("reversal/sale", True, "98", "")
        assert (e.original_stan, e.original_date, e.rrn, e.operator) == (0, "0000", "", "")
    assert not hasattr(void, "no_such_field")  # an AttributeError, as for any object


def test_masking_and_names():
    assert mask("6224242900000113") == "622424******0113"
    assert mask("6217000000000000001") == "621700*********0001"
    assert kind_name(SALE) == "sale" and kind_name(COMPLETION_VOID) == "completion_void"
    assert kind_name(REVERSAL | SALE_VOID) == "reversal/sale_void"
    journal = fresh()
    add(journal, SALE, 1, 5, pan="6217000000000000001")
    assert journal.last().pan_masked == "621700*********0001"
    keyed = add(journal, REFUND, 2, 5, pan=None)
    assert keyed.pan_masked == "" and journal.card(keyed) is None


def test_replay_and_totals():
    journal = fresh()
    add(journal, SALE, 1, 1000)
    add(journal, SALE, 2, 2000)
    add(journal, SALE, 3, 3000)
    add(journal, SALE_VOID, 4, 1000, original_stan=1, original_batch=1)
    add(journal, SALE_VOID, 5, 2000, original_stan=2, original_batch=1)
    add(journal, REVERSAL | SALE_VOID, 5, 2000, pan=None, reason="98")  # void 5 undone
    add(journal, REVERSAL | SALE, 3, 3000, pan=None, reason="A0")  # sale 3 undone
    add(journal, REFUND, 6, 500)
    add(journal, PREAUTH, 7, 9000)
    add(journal, PREAUTH_CANCEL, 8, 9000, original_stan=7, original_batch=1)
    add(journal, PREAUTH, 9, 4000)
    add(journal, COMPLETION, 10, 4100, original_stan=9, original_batch=1)
    add(journal, COMPLETION, 11, 700)
    add(journal, COMPLETION_VOID, 12, 700, original_stan=11, original_batch=1)
    add(journal, COMPLETION_NOTICE, 13, 300)
    add(journal, REVERSAL | SALE, 99, 1, pan=None)  # a reversal of a sale never journaled
    add(journal, SALE, 1, 8888, batch=2)  # another batch, same STAN
    status = {e.stan: e.status for e in journal.entries(1)}
    assert status == {
        1: "voided",
        2: "approved",
        3: "reversed",
        4: "approved",
        5: "reversed",
        6: "approved",
        7: "voided",
        8: "approved",
        9: "approved",
        10: "approved",
        11: "voided",
        12: "approved",
        13: "approved",
    }
    # debit: sale 2000 + completion 4100 + notice 300; credit: refund 500.
    assert journal.totals(1) == (6400, 3, 500, 1)
    assert [e.stan for e in journal.standing(1)] == [2, 6, 10, 13]
    assert journal.totals(2) == (8888, 1, 0, 0)
    assert journal.find(1, 1).status == "voided" and journal.find(1, 2).amount == 8888
    assert journal.find(1, 1, (COMPLETION,)) is None
    assert journal.find(42, 1) is None


def test_lookups_and_clear():
    journal = fresh()
    assert journal.is_empty() and journal.last() is None
    add(journal, SALE, 1, 100, rrn="000000000001", auth_code="111111")
    add(journal, PREAUTH, 2, 900, rrn="000000000002", auth_code="222222")
    add(journal, REVERSAL | SALE, 7, 1, pan=None, rrn="000000000001")
    assert journal.find_auth("222222").stan == 2 and journal.find_auth("111111") is None
    assert journal.find_rrn("000000000001").stan == 1  # a reversal is not a transaction
    assert journal.last().stan == 2
    journal.clear()
    assert journal.is_empty() and journal.totals(1) == (0, 0, 0, 0)
    assert add(journal, SALE, 3, 1).sequence == 1
    # Reopened (after a reboot), the journal reads the same.
    assert [e.stan for e in TransactionJournal(ROOT, 1, KEY).records()] == [3]


# --- receipts -----------------------------------------------------------------------------------

APP = Params(
    1,
    {
        "name": "CUP",
        "merchant_id": "123456789012345",
        "terminal_id": "12345678",
        # 18 x 2-byte characters, then a 4-byte one across the 32-byte edge.
        "merchant_name": b"\xc9\xcf" * 15 + b"\x81\x30\x81\x30" + b"AB",
        "key_algorithm": "3DES",
        "tmk_slot": 1,
        "signon_mode": "004",
        "header_version": "6031",
        "header_subversion": "310000",
    },
)


def test_receipt_lines():
    journal = fresh()
    void = add(
        journal,
        SALE_VOID,
        5,
        12345,
        rrn="052010301502",
        auth_code="654321",
        entry_mode="021",
        operator="01",
        original_stan=4,
        original_batch=1,
    )
    lines = receipt.lines(void, APP, "merchant")
    for line in lines:
        assert len(line) <= receipt.WIDTH, line
    assert lines[:3] == [
        b"POS \xc7\xa9\xb9\xba\xb5\xa5 SALES SLIP",
        b"MERCHANT COPY \xc9\xcc\xbb\xa7\xb4\xe6\xb8\xf9",
        b"-" * 32,
    ]
    # The name is wrapped between characters: 30 bytes, then the 4-byte one and "AB".
    assert lines[4] == b"\xc9\xcf" * 15 and lines[5] == b"\x81\x30\x81\x30AB"
    assert b"TXN TYPE: VOID \xcf\xfb\xb7\xd1\xb3\xb7\xcf\xfa" in lines
    assert b"AMOUNT: RMB -123.45" in lines and b"ORIG VOUCHER: 000004" in lines
    assert b"AUTH NO: 654321" in lines and b"REF NO: 052010301502" in lines
    assert b"DATE/TIME: 2025/05/20 10:30:15" in lines
    assert b"CARD NO: 622424******0113 S" in lines
    assert lines[-5].startswith(b"SIGNATURE")
    holder = receipt.lines(void, APP, "cardholder", reprint=True)
    assert holder[1] == b"CARDHOLDER COPY \xb3\xd6\xbf\xa8\xc8\xcb\xb4\xe6\xb8\xf9"
    assert holder[-1] == b"*** REPRINT \xd6\xd8\xb4\xf2\xd3\xa1 ***"


def test_settlement_slip_says_what_the_host_said():
    settlement = {
        "batch": 7,
        "balanced": True,
        "flags": "10",
        "domestic": "balanced",
        "foreign": "balanced",
        "terminal": (23700, 3, 500, 1),
        "host": (23700, 3, 500, 1),
        "uploaded": 0,
    }
    lines = receipt.settlement_lines(settlement, APP, "20250520", "103015", "01")
    for line in lines:
        assert len(line) <= receipt.WIDTH, line
    assert lines[0] == b"POS \xbd\xe1\xcb\xe3\xb5\xa5 SETTLEMENT"  # 结算单
    assert b"BATCH NO: 000007" in lines and b"DATE/TIME: 2025/05/20 10:30:15" in lines
    assert b"TERMINAL NO: 12345678 OPER: 01" in lines
    assert b"DEBIT \xbd\xe8\xbc\xc7: 3 RMB 237.00" in lines  # 借记
    assert b"CREDIT \xb4\xfb\xbc\xc7: 1 RMB 5.00" in lines  # 贷记
    assert b"DOMESTIC \xc4\xda\xbf\xa8 (1): BALANCED" in lines  # 内卡
    assert b"FOREIGN \xcd\xe2\xbf\xa8 (0): BALANCED" in lines  # 外卡: 0, nothing there
    assert lines[-2] == b"\xb6\xd4\xd5\xcb\xc6\xbd"  # 对账平
    settlement.update(balanced=False, flags="3 ", domestic="error", uploaded=4)
    lines = receipt.settlement_lines(settlement, APP, "20250520", "103015", "01")
    assert b"DOMESTIC \xc4\xda\xbf\xa8 (3): ERROR" in lines
    assert b"UPLOADED \xc9\xcf\xcb\xcd: 4" in lines  # 上送
    assert lines[-2] == b"\xb6\xd4\xd5\xcb\xb3\xf6\xb4\xed"  # 对账出错
    settlement.update(flags="21", domestic="unbalanced")
    lines = receipt.settlement_lines(settlement, APP, "20250520", "103015", "01")
    assert lines[-2] == b"\xb6\xd4\xd5\xcb\xb2\xbb\xc6\xbd"  # 对账不平


def test_wrap():
    assert receipt.wrap(b"A" * 40) == [b"A" * 32, b"A" * 8]
    assert receipt.wrap(b"A" + b"\xc9\xcf" * 16) == [b"A" + b"\xc9\xcf" * 15, b"\xc9\xcf"]
    assert receipt.wrap(b"") == [b""]
    assert receipt.amount_text(1) == "0.01" and receipt.amount_text(1000000) == "10000.00"


# --- response codes ---------------------------------------------------------------------------

# Every code of spec §3.6.
SPEC_CODES = (
    "00 10 11 A2 A4 A5 A6 01 03 04 34 41 43 05 12 13 14 15 22 25 30 38 75 40 51 54 55 57 58 61 "
    "64 65 68 77 90 91 92 94 96 97 98 99 A0 A1 A3 A7"
)


def test_every_spec_code_has_a_message():
    for code in SPEC_CODES.split():
        en, zh = respcodes.message(code)
        assert en and zh and "(code" not in en, code
        assert len(zh.encode()) >= 6, code  # Chinese text, not a copy of the English
    assert respcodes.message("A0") == (
        "MAC check failed at the host: sign on again",
        "MAC校验错,请重新签到",
    )
    assert respcodes.message("Z9") == (
        "Declined (code Z9): call the acquirer",
        "交易失败(Z9),请联系收单行",
    )
    for code in ("00", "10", "11", "A2", "A4", "A5", "A6"):
        assert respcodes.approved(code)
    for code in ("01", "05", "51", "A0", "98"):
        assert not respcodes.approved(code)


def test_terminal_outcomes_have_messages():
    names = (
        "timeout link connect invalid mac reversal reversal_pending not_signed_on key_check "
        "password not_found not_allowed amount card input storage unbalanced balanced declined "
        "flash storage_key no_tmk signed_off card_number pin_required confirm_empty "
        "empty_batch settle_error"
    )
    for name in names.split():
        en, zh = respcodes.terminal(name)
        assert not en.startswith("Failed ("), name
    assert respcodes.terminal("timeout")[1] == "主机无应答,将自动冲正"


# --- settlement formats ---------------------------------------------------------------------


def test_settlement_formats():
    field = txnmsg.totals_field(123456, 7, 500, 1001)
    assert field == "000000123456007000000000500001" + "0" + "0" * 31
    assert len(field) == 62
    answer = "000000123456007000000000500001" + "2" + "0" * 30 + "1"
    assert settlement.parse_totals(answer) == ((123456, 7, 500, 1), "2", (0, 0, 0, 0), "1")
    assert settlement.parse_totals(answer[:31]) == ((123456, 7, 500, 1), "2", None, None)


def test_settlement_flags_read_as_the_host_meant_them():
    # Spec §3.4: 1 balanced, 2 unbalanced, 3 error. A section with no transactions is
    # balanced whatever else it carries: the acquirer host that put 0 in the foreign flag of
    # an all-domestic batch was answering "nothing to reconcile", not "totals differ".
    state = settlement.section_state
    assert [state(flag, False) for flag in "1230 "] == [
        "balanced",
        "unbalanced",
        "error",
        "unknown",
        "unknown",
    ]
    assert [state(flag, True) for flag in "12309 "] == [
        "balanced",
        "unbalanced",
        "error",
        "balanced",
        "balanced",
        "balanced",
    ]
    assert state(None, True) == "balanced" and state(None, False) == "unknown"
    record = txnmsg.upload_record(42, "6217000000000000001", 999)
    assert record == "00" + "000042" + "0" + "6217000000000000001" + "000000000999"
    assert len(record) == 40


def test_kind_table():
    assert txnmsg.names() == (
        "balance",
        "sale",
        "sale_void",
        "refund",
        "preauth",
        "preauth_cancel",
        "completion",
        "completion_notice",
        "completion_void",
    )
    rows = {}
    for name in txnmsg.names():
        k = txnmsg.kind(name)
        rows[name] = (k.mti, k.processing, k.condition, k.type_code, k.has("R"))
    # Spec §3.1.
    assert rows == {
        "balance": ("0200", "310000", "00", "01", False),
        "sale": ("0200", "000000", "00", "22", True),
        "sale_void": ("0200", "200000", "00", "23", True),
        "refund": ("0220", "200000", "00", "25", False),
        "preauth": ("0100", "030000", "06", "10", True),
        "preauth_cancel": ("0100", "200000", "06", "11", True),
        "completion": ("0200", "000000", "06", "20", True),
        "completion_notice": ("0220", "000000", "06", "24", False),
        "completion_void": ("0200", "200000", "06", "21", True),
    }
    assert txnmsg.kind("sign_on") is None


def test_long_kind_names_take_two_lines():
    journal = fresh()
    entry = add(journal, COMPLETION_VOID, 9, 100, original_stan=8, original_batch=1)
    lines = receipt.lines(entry, APP, "merchant")
    at = lines.index(b"TXN TYPE: COMPLETE VOID")
    assert lines[at + 1] == b" " * 10 + b"\xd4\xa4\xca\xda\xc8\xa8\xcd\xea\xb3\xc9\xb3\xb7\xcf\xfa"
    for line in lines:
        assert len(line) <= receipt.WIDTH
