# What a chip sale keeps (app.txn.icdata, app.txn.reversal) and the terminal's decisions of
# app.emv.checks that the card tests (firmware_tests/test_emv_kernel.py) do not reach: CVM
# list conditions, absent issuer action codes.
import binascii

from ramflash import RAMFlash, mount_fresh

from app.emv import checks, terminal
from app.store.records import RecordStore
from app.txn import icdata
from app.txn.reversal import PendingReversal

MOUNT = "/chipflash"
KEY = b"0123456789abcdef"
NOW = (2026, 12, 7, 18, 55, 0)
DEVICE = RAMFlash(512, 40)


def h(text):
    return binascii.unhexlify(text)


class FakeEngine:
    def __init__(self, store):
        self._store = store
        self._storage_key = KEY
        self.training = False
        self.app = 1
        self.batch = 7


def store():
    mount_fresh(DEVICE, MOUNT)
    return RecordStore(MOUNT + "/data")


def test_a_chip_reversal_keeps_its_field_55_as_bytes():
    pending = PendingReversal(store(), 1, KEY)
    field55 = h("9505000000800" + "09F360200 07".replace(" ", "") + "DF3105200000000A")
    pending.save("0200", {3: "000000", 11: "000123", 35: "6224=3012", 55: field55})
    reason, mti, fields = pending.load()
    assert reason == "06" and fields[55] == field55 and 35 not in fields


def test_ic_data_kept_per_transaction_sealed_and_set_aside_at_settlement():
    engine = FakeEngine(store())
    assert list(icdata.entries(engine)) == []
    icdata.keep(engine, 123, 1, h("9F2701409F36020007"), "6224242900001012", 1234, "051")
    icdata.keep(engine, 124, None, h("9F270140"), "6224242900001038", 5, "052")
    with open(icdata.path(engine), "rb") as f:
        assert b"6224242900001012" not in f.read()  # the card number is sealed
    first, second = icdata.entries(engine)
    assert (first.stan, first.batch, first.psn, first.amount) == (123, 7, 1, 1234)
    assert (first.pan, first.entry_mode, first.field55) == (
        "6224242900001012",
        "051",
        h("9F2701409F36020007"),
    )
    assert (second.stan, second.psn, second.field55) == (124, None, h("9F270140"))
    icdata.set_aside(engine)  # the batch settled: its records wait for their upload
    assert list(icdata.entries(engine)) == []
    assert [r.stan for r in icdata.entries(engine, True)] == [123, 124]
    icdata.forget(engine, True)
    assert list(icdata.entries(engine, True)) == []


def term(amount=1234, params=None, other=0):
    data = terminal.TerminalData(amount, NOW, other=other)
    data.application(h("A000000333010101"), params or {})
    return data


def test_cvm_list_amount_conditions_pick_the_rule_for_the_amount():
    # Amount X = 100.00: online PIN under X (06), signature over X (07), in yuan (0156).
    cvm = h("00002710" + "00000000" + "0206" + "1E07")
    card = {0x8E: cvm, 0x9F42: h("0156")}
    small, big = term(5000), term(20000)
    assert checks.cardholder_verification(card, small, lambda: True) == "online_pin"
    assert checks.cardholder_verification(card, big, lambda: True) == "signature"
    assert big.get(0x9F34) == h("1E0700")
    # In another currency the amount rules do not apply: no rule, CVM failed.
    other = term(5000)
    assert checks.cardholder_verification({0x8E: cvm, 0x9F42: h("0840")}, other, None) == "failed"
    assert other.tvr_has(terminal.CVM_FAILED) and other.get(0x9F34) == h("3F0001")


def test_a_failed_cvm_without_apply_next_stops_the_list():
    # Online PIN (02: no "apply next") with no PIN pad, then signature never tried.
    data = term()
    card = {0x8E: h("0000000000000000" + "0200" + "1E00")}
    assert checks.cardholder_verification(card, data, None) == "failed"
    assert data.tvr_has(terminal.PIN_PAD_MISSING) and data.get(0x9F34) == h("020001")


def test_no_cvm_list_is_icc_data_missing_and_no_cvm():
    data = term()
    assert checks.cardholder_verification({}, data, None) == "none"
    assert data.tvr_has(terminal.ICC_DATA_MISSING) and data.get(0x9F34) == h("3F0000")


def test_action_analysis_denial_first_absent_online_iac_means_online():
    params = {0xDF13: h("0010000000"), 0xDF12: h("0000000000"), 0xDF11: h("0000000000")}
    data = term(params=params)
    assert checks.action_analysis({}, data, True) == "TC"  # a clean TVR asks for nothing
    data.set_tvr(terminal.OVER_FLOOR_LIMIT)
    assert checks.action_analysis({}, data, True) == "ARQC"  # no IAC-online: all ones
    card = {0x9F0F: h("0000000000"), 0x9F0E: h("0000000000"), 0x9F0D: h("0000000000")}
    assert checks.action_analysis(card, data, True) == "TC"
    assert checks.action_analysis(card, data, False) == "ARQC"
    data.set_tvr(terminal.SERVICE_NOT_ALLOWED)  # TAC-denial 00 10: declined offline
    assert checks.action_analysis(card, data, True) == "AAC"
    assert checks.default_action(card, data) == "TC"
    assert checks.default_action({}, data) == "AAC"  # no IAC-default: all ones
