"""qPBOC on the emulated dual-interface card: PPSE, the GPO that decides (offline e-cash TC
with fDDA, online ARQC, decline AAC), the balance afterwards; checked with independent code
(firmware_tests/cardkernel.py)."""

import pytest
from cardkernel import (
    DEBIT_AID,
    PPSE,
    PSE,
    Kernel,
    OdaError,
    decode,
    expected_ac,
    icc_public_key,
    sw,
    verify_sdad,
)

from hostlib.card import load_card


def tap(card, **terminal) -> tuple[Kernel, dict]:
    """One tap: PPSE, SELECT, GPO, READ RECORD of the AFL; the GPO's answer (77)."""
    card.reset()
    kernel = Kernel(card)
    kernel.terminal.update({tag: bytes.fromhex(value) for tag, value in terminal.items()})
    fci = decode(kernel.select(PPSE)[:-2])["6F"]
    entry = fci["A5"]["BF0C"]["61"]
    kernel.select_app(entry["4F"])
    answer = kernel.gpo()
    assert sw(answer) == "9000", answer.hex()
    fields = decode(answer[:-2])["77"]
    kernel.tags.update(fields)
    kernel.read_application_data()
    return kernel, fields


def fdda_data(kernel: Kernel, fields: dict) -> bytes:
    """docs/cards.md: the terminal data hashed with the fDDA: 9F37 9F02 5F2A 9F69."""
    terminal = kernel.terminal
    return terminal["9F37"] + terminal["9F02"] + terminal["5F2A"] + fields["9F69"]


def balance(card) -> int:
    card.reset()
    kernel = Kernel(card)
    kernel.select_app(DEBIT_AID)
    return int(decode(kernel.send("80CA9F7900")[:-2])["9F79"].hex())


def test_the_ppse_lists_the_application_and_the_fci_asks_for_the_qpboc_pdol():
    card = load_card("pboc-dual")
    assert card.contactless
    assert len(card.uid) == 4 and card.uid[0] == 0x08 and card.uid != load_card("pboc-cda").uid
    kernel = Kernel(card)
    fci = decode(kernel.select(PPSE)[:-2])["6F"]
    assert fci["84"] == PPSE
    assert fci["A5"]["BF0C"]["61"]["4F"] == DEBIT_AID
    kernel.select_app(DEBIT_AID)
    pdol = kernel.tags["9F38"].hex().upper()
    for tag in ("9F6604", "9F0206", "9F3704", "5F2A02", "9A03", "9C01", "9F7A01"):
        assert tag in pdol


def test_a_contact_only_card_has_no_ppse_and_a_tap_has_no_pse():
    assert sw(Kernel(load_card("pboc-debit")).select(PPSE)) == "6A82"
    card = load_card("pboc-dual")
    card.reset("contactless")
    assert sw(Kernel(card).select(PSE)) == "6A82"


def test_an_offline_tap_is_a_tc_signed_with_fdda_and_spends_the_e_cash():
    card = load_card("pboc-dual")
    assert balance(card) == 10000
    kernel, fields = tap(card)  # 12.34, e-cash supported, no online required
    assert fields["9F27"] == b"\x40"
    assert fields["9F5D"] == bytes.fromhex("000000008766")  # 100.00 - 12.34
    assert fields["9F26"] == expected_ac(
        kernel.pan, kernel.psn, kernel.terminal, fields["82"], fields["9F36"], fields["9F10"]
    )
    assert fields["57"] == kernel.tags["57"] and fields["9F69"][0] == 0x01
    icc_key = icc_public_key(kernel.tags, kernel.signed_records, fields["82"])
    assert len(verify_sdad(icc_key, fields["9F4B"], fdda_data(kernel, fields))) == 8
    # The signature binds the amount: another amount does not verify.
    with pytest.raises(OdaError):
        verify_sdad(icc_key, fields["9F4B"], fdda_data(kernel, dict(fields, **{"9F69": bytes(7)})))
    kernel.terminal["9F02"] = bytes.fromhex("000000000001")
    with pytest.raises(OdaError):
        verify_sdad(icc_key, fields["9F4B"], fdda_data(kernel, fields))
    assert balance(card) == 8766
    # No GENERATE AC after a qPBOC GPO: the GPO was the cryptogram.
    assert sw(kernel.send(bytes.fromhex("80AE400020") + bytes(32) + b"\0")) == "6985"


def test_the_atc_counts_taps():
    card = load_card("pboc-dual")
    first = int.from_bytes(tap(card)[1]["9F36"], "big")
    second = int.from_bytes(tap(card)[1]["9F36"], "big")
    assert second == first + 1


def test_above_the_balance_the_card_goes_online_with_an_arqc_and_keeps_the_balance():
    card = load_card("pboc-dual")
    kernel, fields = tap(card, **{"9F02": "000000020000"})  # 200.00 > 100.00
    assert fields["9F27"] == b"\x80"
    assert fields["9F6C"][0] & 0x80  # online PIN
    assert "9F4B" not in fields  # the reader did not ask for ODA on online transactions
    assert fields["9F26"] == expected_ac(
        kernel.pan, kernel.psn, kernel.terminal, fields["82"], fields["9F36"], fields["9F10"]
    )
    assert balance(card) == 10000


def test_the_reader_can_require_online_or_forbid_e_cash():
    card = load_card("pboc-dual")
    assert tap(card, **{"9F66": "26800080"})[1]["9F27"] == b"\x80"  # online cryptogram required
    assert tap(card, **{"9F7A": "00"})[1]["9F27"] == b"\x80"  # no e-cash at this terminal
    assert tap(card, **{"5F2A": "0840"})[1]["9F27"] == b"\x80"  # not in yuan
    assert balance(card) == 10000


def test_an_offline_only_reader_is_declined_when_the_card_wants_online():
    card = load_card("pboc-dual")
    fields = tap(card, **{"9F66": "28000000", "9F02": "000000020000"})[1]
    assert fields["9F27"] == b"\x00"


def test_fdda_on_an_online_tap_when_the_reader_asks():
    card = load_card("pboc-dual")
    kernel, fields = tap(card, **{"9F66": "27000080", "9F02": "000000020000"})
    assert fields["9F27"] == b"\x80"
    icc_key = icc_public_key(kernel.tags, kernel.signed_records, fields["82"])
    verify_sdad(icc_key, fields["9F4B"], fdda_data(kernel, fields))


def test_a_reader_without_qpboc_is_refused():
    card = load_card("pboc-dual")
    card.reset()
    kernel = Kernel(card, dict(Kernel(card).terminal, **{"9F66": bytes.fromhex("80000000")}))
    kernel.select(PPSE)
    kernel.select_app(DEBIT_AID)
    assert sw(kernel.gpo()) == "6985"
