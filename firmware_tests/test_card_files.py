"""Loading cards: the built-in ones by name, a user's card file (TOML) with readable errors for a
bad one, and the accounts the host simulator needs for them."""

from pathlib import Path

import pytest
from cardkernel import CREDIT_AID, DEBIT_AID, Kernel, expected_ac, sw

from hostlib.card import CardFileError, list_cards, load_card
from hostlib.card.profiles import host_accounts, luhn_ok

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = [
    "pboc-debit",
    "pboc-credit",
    "pboc-cda",
    "pboc-dual",
    "sda-bad",
    "dda-bad",
    "expired",
    "two-apps",
    "chip-dead",
    "card-declines",
]


def test_every_built_in_card_is_listed_with_a_description_and_loads():
    listed = dict(list_cards())
    assert list(listed) == BUILTIN
    pans = set()
    for name, description in listed.items():
        assert description and "\n" not in description
        card = load_card(name)
        assert card.name == name and card.contactless == (name == "pboc-dual")
        pan = card.track2.split("=")[0]
        assert pan.startswith("622424") and luhn_ok(pan) and pan not in pans
        pans.add(pan)


def test_an_unknown_card_name_lists_the_known_ones():
    with pytest.raises(CardFileError, match="no built-in card 'pboc-gold'.*pboc-debit"):
        load_card("pboc-gold")


def write(tmp_path, text: str):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_a_card_file_makes_a_working_card(tmp_path):
    path = write(
        tmp_path,
        """
description = "the bench card"
pan = "6224242900000113"
psn = "02"
expiry = "2806"
oda = "dda"
contactless = true
ecash_balance = "20.50"

[behaviour]
second_ac = "decline"
""",
    )
    card = load_card(path)
    assert card.description == "the bench card" and card.contactless
    assert card.track2 == "6224242900000113=28062010000000000"
    kernel = Kernel(card)
    kernel.select_app(DEBIT_AID)
    assert kernel.send("80CA9F7900")[:-2].hex() == "9f7906000000002050"
    kernel.processing_options()
    kernel.read_application_data()
    assert kernel.psn == "02" and kernel.tags["5F24"] == bytes.fromhex("280630")
    first = kernel.generate_ac(0x80)
    assert first["9F26"] == expected_ac(
        kernel.pan, "02", kernel.terminal, kernel.tags["82"], first["9F36"], first["9F10"]
    )
    assert kernel.generate_ac(0x40, "8D", {"8A": b"00"})["9F27"] == b"\x00"  # decline


def test_a_card_file_with_two_applications(tmp_path):
    path = write(
        tmp_path,
        """
[[application]]
kind = "credit"
pan = "6224242900001087"

[[application]]
kind = "debit"
pan = "6224242900001079"
label = "MY DEBIT"
""",
    )
    kernel = Kernel(load_card(str(path)))
    entries = kernel.directory()
    assert [(e["4F"], e["50"], e["87"]) for e in entries] == [
        (CREDIT_AID, b"PBOC CREDIT", b"\x01"),
        (DEBIT_AID, b"MY DEBIT", b"\x02"),
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("pan = 6224242900000113", "pan must be a quoted string"),
        ('pan = "6224242900000114"', "fails the Luhn check"),
        ('pan = "62242429"', "12 to 19 digits"),
        ('pan = "6224242900000113"\noda = "xda"', "oda 'xda': one of none, sda, dda, cda"),
        ('pan = "6224242900000113"\nexpiry = "2813"', "expiry '2813': YYMM"),
        ('pan = "6224242900000113"\ncolour = "gold"', "unknown key 'colour'"),
        ('pan = "6224242900000113"\nkey = "0123"', "unknown key 'key'"),
        ('pan = "6224242900000113"\necash_balance = "1O.00"', "an amount in yuan"),
        ('pan = "6224242900000113"\ncontactless = true\noda = "sda"', "fDDA"),
        ('pan = "6224242900000113"\noda = "cda"\nresponse_format = 1', "format 2"),
        ('pan = "6224242900000113"\n[behaviour]\nchip = "broken"', "chip 'broken'"),
        ('pan = "6224242900000113"\necash_balance = "1.00"', "set contactless"),
        ('description = "no pan"', "no pan"),
        ('pan = "6224242900000113"\n[[application]]\npan = "6224242900001079"', "not both"),
        ("pan = ", "not valid TOML"),
    ],
)
def test_a_bad_card_file_says_what_is_wrong(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(CardFileError, match=message) as caught:
        load_card(path)
    assert str(path) in str(caught.value)


def test_the_documented_example_card_file_loads():
    card = load_card(ROOT / "docs" / "examples" / "card.toml")
    assert card.contactless and card.track2.startswith("6224242900000113=2806201")


def test_a_missing_card_file(tmp_path):
    with pytest.raises(CardFileError, match="cannot read card file"):
        load_card(tmp_path / "nowhere.toml")


def test_a_fresh_load_is_a_fresh_card_and_reset_keeps_the_counters():
    card = load_card("pboc-credit")
    kernel = Kernel(card)
    kernel.select_app(CREDIT_AID)
    kernel.processing_options()
    card.reset()
    kernel.select_app(CREDIT_AID)
    assert kernel.send("80CA9F3600")[:-2].hex() == "9f36020001"
    again = Kernel(load_card("pboc-credit"))
    again.select_app(CREDIT_AID)
    assert again.send("80CA9F3600")[:-2].hex() == "9f36020000"
    assert sw(again.send("80CA9F7900")) == "6A88"  # no e-cash on a contact-only card


def test_the_host_simulator_gets_an_account_for_every_application():
    accounts = {account["pan"]: account for account in host_accounts()}
    assert len(accounts) == len(BUILTIN) + 1  # two-apps has two
    for name in BUILTIN:
        track2 = load_card(name).track2
        assert accounts[track2.split("=")[0]]["track2"] == track2
    assert accounts["6224242900001061"]["expiry"] == "2012"
    assert accounts["6224242900001020"]["pin"] is None  # credit: signature
