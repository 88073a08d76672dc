"""The default test data: one merchant with one terminal (the TMK of spec §7) and a handful of
test cards, each for one outcome. docs/hostsim.md lists them; change both together."""

from __future__ import annotations

DEFAULT_TERMINAL = {
    "tid": "12345678",
    "mid": "123456789012345",
    "name": "POSKIT TEST MERCHANT",
    "tmk": "70F2A84CCBC2AE8625CBB0F2C22AB923",  # spec §4.4/§7 (S3 MACTEST)
}

# Every PAN passes the Luhn check; amounts are in fen. Track 2 uses '=' as on the card; the
# wire carries it as the 'D' nibble.
TEST_CARDS = [
    {
        "pan": "6224242900000113",
        "expiry": "2806",
        "track2": "6224242900000113=28062013949031013",  # spec §7.1 dump
        "pin": "123456",
        "balance": 10_000_000,  # 100,000.00
        "holder": "GOOD CARD",
    },
    {
        "pan": "6224242900000121",
        "expiry": "2806",
        "track2": "6224242900000121=28062010000000000",
        "pin": "123456",
        "balance": 1_000,  # 10.00: anything above -> 51
        "holder": "LOW BALANCE",
    },
    {
        "pan": "6224242900000139",
        "expiry": "2012",
        "track2": "6224242900000139=20122010000000000",
        "pin": "123456",
        "balance": 10_000_000,
        "holder": "EXPIRED",  # Dec 2020 -> 54
    },
    {
        "pan": "6224242900000147",
        "expiry": "2806",
        "track2": "6224242900000147=28062010000000000",
        "pin": "123456",
        "balance": 10_000_000,
        "status": "blocked",  # -> 57
        "holder": "BLOCKED",
    },
    {
        "pan": "6224242900000154",
        "expiry": "2806",
        "track2": "6224242900000154=28062010000000000",
        "pin": None,  # no PIN required (a credit card signed for)
        "balance": 5_000_000,
        "holder": "NO PIN",
    },
    {
        "pan": "6224242900000162",
        "expiry": "2806",
        "track2": "6224242900000162=28062010000000000",
        "pin": "123456",
        "balance": 10_000_000,
        "txn_limit": 100_000,  # 1,000.00 per transaction -> 61 above
        "holder": "LIMIT 1000",
    },
]
