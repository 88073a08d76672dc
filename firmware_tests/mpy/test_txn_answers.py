# Host answers that do not hold together, through the engine (app.txn.engine) on MicroPython:
# whatever the host sends, Engine.run returns a Result and raises nothing; a field it reads
# that does not parse makes the answer invalid (reversal 98 where one is owed), and an answer
# that approves, or carries a balance, without a valid MAC is a MAC failure (A0). Found by
# `make fuzz` (docs/testing.md): a balance (54) with a letter in its amount escaped Engine.run
# as ValueError, leaving an approved sale unjournaled; approvals other than 00 were taken
# without a MAC.
# mpy-heap: 384K
# (The helpers of test_txn, compiled from source with it.)
from test_txn import TRACK, pending, sale, signed_on

from app.store.journal import TransactionJournal
from app.txn.engine import Card, Request

BALANCE = "1002156C000000123456"


def balance(eng):
    return eng.run(Request("balance", card=Card(track2=TRACK), pin=bytearray(b"123456")))


def test_balance_that_does_not_parse_is_an_invalid_answer():
    store, host, eng = signed_on()
    for value in (
        "1002156C0000001234 X",  # a letter in the amount
        "1002156C00000012345",  # short
        "1002156X000000123456",  # neither credit nor debit
        "10A2156C000000123456",  # account and amount type not digits
        "1002156C+00000123456",  # int() would take the sign
        "1002156C0000_0123456",  # and the underscore
        "",
    ):
        host.fault("set:54=" + value, "0200")
        result = balance(eng)
        assert result.error == "invalid" and not result.approved, (value, result.error)
        assert result.balance is None
    result = balance(eng)
    assert result.approved and result.balance == 123456
    host.fault("set:54=1002156D000000000700", "0200")
    assert balance(eng).balance == -700


def test_sale_with_a_balance_that_does_not_parse_is_reversed():
    store, host, eng = signed_on()
    host.fault("set:54=1002156C0000001234 X", "0200")
    result = sale(eng, 25)
    assert result.error == "invalid" and not result.approved
    assert pending(store)[0] == "98"
    journal = TransactionJournal(store.root, 1, eng._storage_key)
    assert journal.last() is None  # nothing approved, nothing journaled
    assert sale(eng, 30).approved  # the reversal goes first, then the sale
    assert host.of("0400")[0][39] == "98"


def test_every_approval_needs_a_mac():
    store, host, eng = signed_on()
    for code in ("10", "11", "A2", "A4", "A5", "A6"):
        host.fault("decline:" + code, "0200")
        host.fault("no_mac", "0200")
        result = sale(eng, 10)
        assert result.error == "mac" and not result.approved, (code, result.error)
        assert pending(store)[0] == "A0", code
        host.fault("decline:" + code, "0200")
        result = sale(eng, 10)
        assert result.approved and result.response_code == code, (code, result.error)


def test_a_decline_carrying_a_balance_needs_a_mac():
    store, host, eng = signed_on()
    for faults in (("decline:51", "set:54=" + BALANCE, "no_mac"), ("set:54=" + BALANCE, "no_mac")):
        for fault in faults:
            host.fault(fault, "0200")
        result = balance(eng)
        assert result.error == "mac" and result.balance is None, faults
    host.fault("decline:51", "0200")
    host.fault("set:54=" + BALANCE, "0200")
    result = balance(eng)
    assert result.response_code == "51" and result.error is None


def test_a_date_or_time_that_is_not_one_is_an_invalid_answer():
    store, host, eng = signed_on()
    for fault in ("set:13=1399", "set:13=0232", "set:13=0000", "set:12=246000", "set:12=106100"):
        host.fault(fault, "0200")
        result = sale(eng, 10)
        assert result.error == "invalid", (fault, result.error)
        assert pending(store)[0] == "98"
    assert sale(eng, 10).approved


def test_a_partial_approval_for_more_than_asked_is_an_invalid_answer():
    store, host, eng = signed_on()
    for amount in (1001, 0):
        host.fault("partial:%d" % amount, "0200")
        result = sale(eng, 1000)
        assert result.error == "invalid" and not result.approved, amount
    host.fault("partial:1000", "0200")
    result = sale(eng, 1000)
    assert result.approved and result.amount == 1000
