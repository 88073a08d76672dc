"""The emulated PBOC cards on the contact interface, driven with the C-APDUs a kernel sends and
checked with independent code (firmware_tests/cardkernel.py: pyemv's TLV decoder and
cryptograms from the documented test seed, RSA recovery by pow)."""

import hashlib

import pytest
from cardkernel import (
    CREDIT_AID,
    DEBIT_AID,
    PSE,
    Kernel,
    OdaError,
    arpc,
    decode,
    dol_data,
    expected_ac,
    icc_public_key,
    parse_dol,
    recover,
    script_command,
    sw,
    verify_sda,
    verify_sdad,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from hostlib.card import Card, issuer, load_card, profiles

ARQC, TC, AAC = 0x80, 0x40, 0x00


def contact(name: str) -> Kernel:
    """A kernel that has selected, processed and read the card's first application."""
    kernel = Kernel(load_card(name))
    entries = kernel.directory()
    kernel.start(entries[0]["4F"])
    return kernel


def online(kernel: Kernel, arc: bytes = b"00", good_arpc: bool = True):
    """First GENERATE AC (ARQC), then the second with the host's answer."""
    first = kernel.generate_ac(ARQC)
    issuer_data = arpc(kernel.pan, kernel.psn, first["9F36"], first["9F26"], arc)
    if not good_arpc:
        issuer_data = bytes([issuer_data[0] ^ 1]) + issuer_data[1:]
    second = kernel.generate_ac(TC, "8D", {"8A": arc, "91": issuer_data + arc})
    return first, second


def test_the_pse_lists_each_application_with_label_and_priority():
    kernel = Kernel(load_card("two-apps"))
    fci = decode(kernel.select(PSE)[:-2])["6F"]
    assert fci["84"] == PSE and fci["A5"]["88"] == b"\x01"
    entries = kernel.directory()
    assert [(e["4F"], e["50"], e["87"]) for e in entries] == [
        (DEBIT_AID, b"PBOC DEBIT", b"\x01"),
        (CREDIT_AID, b"PBOC CREDIT", b"\x02"),
    ]
    # The cardholder picks the credit application: its own PAN, its own cryptograms.
    kernel.start(CREDIT_AID)
    assert kernel.pan == "6224242900001087"
    first = kernel.generate_ac(ARQC)
    assert first["9F26"] == expected_ac(
        kernel.pan, kernel.psn, kernel.terminal, kernel.tags["82"], first["9F36"], first["9F10"]
    )


def test_select_by_partial_aid_walks_the_applications_with_next_occurrence():
    kernel = Kernel(load_card("two-apps"))
    partial = bytes.fromhex("A0000003330101")
    assert decode(kernel.select(partial)[:-2])["6F"]["84"] == DEBIT_AID
    assert decode(kernel.select(partial, p2=2)[:-2])["6F"]["84"] == CREDIT_AID
    assert sw(kernel.select(partial, p2=2)) == "6A82"
    assert sw(kernel.select(bytes.fromhex("A0000000031010"))) == "6A82"  # not on this card


def test_the_application_fci_and_records_carry_what_a_kernel_needs():
    kernel = contact("pboc-credit")
    tags = kernel.tags
    assert tags["50"] == b"PBOC CREDIT" and tags["87"] == b"\x01" and tags["5F2D"] == b"zhen"
    assert tags["9F38"] == bytes.fromhex("9F7A019F02065F2A02")
    assert tags["82"] == bytes.fromhex("3C00")  # DDA, CVM, risk management, issuer auth
    assert tags["57"].hex().upper() == "6224242900001020D30122010000000000"
    assert tags["5A"].hex().upper() == "6224242900001020" and tags["5F34"] == b"\x01"
    assert tags["5F24"] == bytes.fromhex("301231") and tags["5F25"] == bytes.fromhex("210101")
    for tag in ("8C", "8D", "8E", "9F07", "9F0D", "9F0E", "9F0F", "8F", "90", "9F32", "9F46"):
        assert tag in tags, tag
    assert tags["9F49"] == bytes.fromhex("9F3704") and tags["9F4A"] == b"\x82"
    # Reading past the last record, a file that is not there.
    assert sw(kernel.read_record(2, 2)) == "6A83"
    assert sw(kernel.read_record(9, 1)) == "6A82"


def test_a_format_1_card_has_no_pdol_and_answers_gpo_and_generate_ac_with_tag_80():
    kernel = Kernel(load_card("pboc-debit"))
    kernel.select_app(DEBIT_AID)
    assert "9F38" not in kernel.tags
    answer = kernel.gpo()
    assert answer[0] == 0x80 and sw(answer) == "9000"
    assert answer[2:4] == bytes.fromhex("5C00")  # SDA, CVM, risk management, issuer auth
    assert answer[4:-2] == bytes.fromhex("08010100 10010101 18010300")
    kernel.card.reset()
    kernel.start(DEBIT_AID)
    result = kernel.generate_ac(ARQC)
    assert result["9F27"] == b"\x80" and len(result["9F10"]) == 19


def test_sda_verifies_and_the_bad_card_fails_it():
    kernel = contact("pboc-debit")
    verify_sda(kernel.tags, kernel.signed_records, kernel.tags["82"])
    bad = contact("sda-bad")
    with pytest.raises(OdaError):
        verify_sda(bad.tags, bad.signed_records, bad.tags["82"])


def test_dda_signature_verifies_through_the_certificate_chain_and_the_bad_card_fails():
    for name, good in (("pboc-credit", True), ("dda-bad", False)):
        kernel = contact(name)
        icc_key = icc_public_key(kernel.tags, kernel.signed_records, kernel.tags["82"])
        unpredictable = bytes.fromhex("DEADBEEF")
        answer = kernel.send(bytes.fromhex("0088000004") + unpredictable + b"\0")
        assert sw(answer) == "9000"
        sdad = decode(answer[:-2])["80"]
        if good:
            assert len(verify_sdad(icc_key, sdad, unpredictable)) == 8
        else:
            with pytest.raises(OdaError):
                verify_sdad(icc_key, sdad, unpredictable)


def test_cda_signs_the_cryptogram_and_the_transaction_data():
    kernel = contact("pboc-cda")
    assert kernel.tags["82"] == bytes.fromhex("3D00")  # DDA and CDA
    icc_key = icc_public_key(kernel.tags, kernel.signed_records, kernel.tags["82"])
    pdol_data = dol_data(parse_dol(kernel.tags["9F38"]), kernel.terminal)
    cdol1_data = dol_data(parse_dol(kernel.tags["8C"]), kernel.terminal)
    first = kernel.generate_ac(ARQC | 0x10)
    assert "9F26" not in first
    block = recover(*icc_key, first["9F4B"])
    dynamic = block[4 : 4 + block[3]]
    verify_sdad(icc_key, first["9F4B"], kernel.terminal["9F37"])
    number_length = dynamic[0]
    cid, cryptogram = (
        dynamic[1 + number_length : 2 + number_length],
        dynamic[2 + number_length : 10 + number_length],
    )
    assert cid == first["9F27"] == b"\x80"
    assert cryptogram == expected_ac(
        kernel.pan, kernel.psn, kernel.terminal, kernel.tags["82"], first["9F36"], first["9F10"]
    )
    others = b"".join(
        bytes.fromhex(tag) + bytes([len(first[tag])]) + first[tag]
        for tag in ("9F27", "9F36", "9F10")
    )
    assert dynamic[-20:] == hashlib.sha1(pdol_data + cdol1_data + others).digest()
    # Asked for an AAC, the card signs nothing (EMV Book 2 6.6.1).
    declined = contact("pboc-cda").generate_ac(AAC | 0x10)
    assert "9F26" in declined and "9F4B" not in declined
    # Without P1 b5 a CDA card answers as any other.
    assert "9F26" in contact("pboc-cda").generate_ac(ARQC)


def test_an_sda_card_refuses_internal_authenticate():
    kernel = contact("pboc-debit")
    assert sw(kernel.send("00880000041122334400")) == "6D00"


def test_the_arqc_is_the_issuers_and_the_atc_counts_each_transaction():
    card = load_card("pboc-dual")
    atcs = []
    for amount in ("000000001234", "000000099999"):
        kernel = Kernel(card)
        kernel.terminal["9F02"] = bytes.fromhex(amount)
        kernel.start(DEBIT_AID)
        first, second = online(kernel)
        assert first["9F27"] == b"\x80"
        for result in (first, second):
            assert result["9F26"] == expected_ac(
                kernel.pan,
                kernel.psn,
                dict(kernel.terminal),
                kernel.tags["82"],
                result["9F36"],
                result["9F10"],
            )
        assert second["9F27"] == b"\x40"  # approved by the host, ARPC good: TC
        atcs.append(int.from_bytes(first["9F36"], "big"))
        card.reset()
        assert sw(Kernel(card).send("80CA9F3600"))  # nothing selected after a reset
    assert atcs[1] == atcs[0] + 1
    kernel = Kernel(card)
    kernel.select_app(DEBIT_AID)
    atc = decode(kernel.send("80CA9F3600")[:-2])["9F36"]
    last_online = decode(kernel.send("80CA9F1300")[:-2])["9F13"]
    assert int.from_bytes(atc, "big") == atcs[1] == int.from_bytes(last_online, "big")


def test_the_host_side_helpers_check_the_arqc_and_answer_the_arpc_the_card_takes():
    kernel = contact("pboc-credit")
    first = kernel.generate_ac(ARQC)
    field55 = {int(tag, 16): value for tag, value in dict(kernel.terminal, **first).items()}
    field55[0x82] = kernel.tags["82"]
    assert issuer.check_cryptogram(kernel.pan, kernel.psn, field55)
    assert not issuer.check_cryptogram(kernel.pan, "02", field55)  # another card's keys
    issuer_data = issuer.issuer_authentication_data(kernel.pan, kernel.psn, field55, b"00")
    assert issuer_data == arpc(kernel.pan, kernel.psn, first["9F36"], first["9F26"], b"00") + b"00"
    second = kernel.generate_ac(TC, "8D", {"8A": b"00", "91": issuer_data})
    assert second["9F27"] == b"\x40"


def test_the_iad_carries_the_cvr_of_what_happened():
    kernel = contact("pboc-debit")
    first, second = online(kernel)
    # 07 DKI CVN 03 + 3 CVR bytes + 00, then 0A 01 and 9 bytes.
    assert first["9F10"][:4] == bytes.fromhex("07010103") and first["9F10"][8:10] == b"\x0a\x01"
    assert first["9F10"][4] & 0x30 == 0x20  # first AC: ARQC
    assert first["9F10"][4] & 0xC0 == 0x80  # second AC not requested yet
    assert first["9F10"][5] & 0x10  # new card: never online before
    assert second["9F10"][4] & 0xC0 == 0x40  # second AC: TC


def test_a_bad_arpc_makes_the_card_decline_and_say_so_next_time():
    card = load_card("pboc-debit")
    kernel = Kernel(card).start(DEBIT_AID)
    first, second = online(kernel, good_arpc=False)
    assert second["9F27"] == b"\x00"  # AAC
    assert second["9F10"][4] & 0x08  # issuer authentication failed
    card.reset()
    again = Kernel(card).start(DEBIT_AID)
    assert again.generate_ac(ARQC)["9F10"][5] & 0x08  # failure on the last online one


def test_the_host_declines_and_the_card_follows():
    kernel = contact("pboc-credit")
    first, second = online(kernel, arc=b"51")
    assert second["9F27"] == b"\x00"


def test_card_declines_answers_aac_after_the_host_approved():
    kernel = contact("card-declines")
    first, second = online(kernel)
    assert first["9F27"] == b"\x80" and second["9F27"] == b"\x00"
    assert second["9F26"] == expected_ac(
        kernel.pan, kernel.psn, kernel.terminal, kernel.tags["82"], second["9F36"], second["9F10"]
    )


def test_external_authenticate_checks_the_arpc_once():
    kernel = contact("pboc-credit")
    first = kernel.generate_ac(ARQC)
    good = arpc(kernel.pan, kernel.psn, first["9F36"], first["9F26"], b"00") + b"00"
    assert sw(kernel.send(bytes.fromhex("008200000A") + bytes(10))) == "6300"
    assert sw(kernel.send(bytes.fromhex("008200000A") + good)) == "6985"  # only once
    kernel = contact("pboc-credit")
    first = kernel.generate_ac(ARQC)
    good = arpc(kernel.pan, kernel.psn, first["9F36"], first["9F26"], b"00") + b"00"
    assert sw(kernel.send(bytes.fromhex("008200000A") + good)) == "9000"
    second = kernel.generate_ac(TC, "8D", {"8A": b"00", "91": bytes(10)})
    assert second["9F27"] == b"\x40"


def test_the_card_decides_offline_within_its_limit_then_goes_online():
    card = load_card("pboc-credit")  # up to 3 offline TCs in a row
    answers = []
    for _ in range(4):
        kernel = Kernel(card).start(CREDIT_AID)
        answers.append(kernel.generate_ac(TC)["9F27"])
        card.reset()
    assert answers == [b"\x40", b"\x40", b"\x40", b"\x80"]
    debit = contact("pboc-debit")  # online-only: a TC request gets an ARQC
    assert debit.generate_ac(TC)["9F27"] == b"\x80"
    asked_aac = contact("pboc-debit")
    assert asked_aac.generate_ac(AAC)["9F27"] == b"\x00"


def test_contact_e_cash_pays_a_tc_from_the_balance():
    card = load_card("pboc-dual")
    kernel = Kernel(card).start(DEBIT_AID)  # PDOL: 9F7A 01, 12.34 yuan
    result = kernel.generate_ac(TC)
    assert result["9F27"] == b"\x40"
    assert decode(kernel.send("80CA9F7900")[:-2])["9F79"] == bytes.fromhex("000000008766")
    card.reset()
    # A terminal without e-cash (9F7A 00): the debit application goes online.
    no_ecash = Kernel(card, dict(kernel.terminal, **{"9F7A": b"\x00"})).start(DEBIT_AID)
    assert no_ecash.generate_ac(TC)["9F27"] == b"\x80"
    card.reset()
    # Another amount at GENERATE AC than the PDOL announced: not e-cash either.
    changed = Kernel(card).start(DEBIT_AID)
    assert (
        changed.generate_ac(TC, extra={"9F02": bytes.fromhex("000000000001")})["9F27"] == b"\x80"
    )
    card.reset()
    assert decode(Kernel(card).start(DEBIT_AID).send("80CA9F7900")[:-2])["9F79"] == bytes.fromhex(
        "000000008766"
    )


def test_generate_ac_sequencing():
    kernel = Kernel(load_card("pboc-credit"))
    kernel.select_app(CREDIT_AID)
    cdol1_data = bytes(32)
    assert sw(kernel.send(bytes.fromhex("80AE800020") + cdol1_data + b"\0")) == "6985"  # no GPO
    kernel.processing_options()
    kernel.read_application_data()
    assert sw(kernel.send(bytes.fromhex("80AE80001F") + bytes(31) + b"\0")) == "6700"
    assert sw(kernel.send(bytes.fromhex("80AEC00020") + cdol1_data + b"\0")) == "6A86"
    first = kernel.generate_ac(ARQC)
    assert first["9F27"] == b"\x80"
    assert sw(kernel.send(bytes.fromhex("80AE800015") + bytes(21) + b"\0")) == "6985"  # ARQC 2x
    kernel.generate_ac(AAC, "8D", {"8A": b"Z3"})
    assert sw(kernel.send(bytes.fromhex("80AE400015") + bytes(21) + b"\0")) == "6985"  # a third
    assert sw(kernel.send(bytes.fromhex("80A8000002830000"))) == "6985"  # GPO again


def test_wrong_commands_get_their_status_words_and_change_nothing():
    card = load_card("pboc-credit")
    kernel = Kernel(card)
    assert sw(kernel.send("00")) == "6700"
    assert sw(kernel.send("00A4040010315041592E")) == "6700"  # Lc says more than follows
    assert sw(kernel.send("A0A404000E315041592E5359532E444446303100")) == "6E00"
    assert sw(kernel.send("80A404000E315041592E5359532E444446303100")) == "6E00"
    assert sw(kernel.send("00FF000000")) == "6D00"
    assert sw(kernel.send("00A4010C0E315041592E5359532E444446303100")) == "6A86"
    assert sw(kernel.send("00B2010C00")) == "6985"  # nothing selected
    kernel.select_app(CREDIT_AID)
    assert sw(kernel.send("00B2000C00")) == "6A86"  # record 0
    assert sw(kernel.send("00B2010800")) == "6A86"  # P2 not "SFI, record number"
    assert sw(kernel.send("80A8000003830100")) == "6700"  # PDOL data too short
    assert sw(kernel.send("80A800000A9F7A0100000000000000")) == "6A80"  # no tag 83
    assert sw(kernel.send("80CA9F9900")) == "6A88"
    assert sw(kernel.send("80CA9F3600")) == "9000"
    kernel.processing_options()
    atc = decode(kernel.send("80CA9F3600")[:-2])["9F36"]
    assert atc == b"\x00\x01"


def test_get_data_answers_the_counters():
    kernel = contact("pboc-dual")
    values = {
        tag: decode(kernel.send("80CA" + tag + "00")[:-2])[tag]
        for tag in ("9F36", "9F13", "9F17", "9F79", "9F77", "9F78", "9F6D", "9F4F")
    }
    assert values["9F36"] == b"\x00\x01" and values["9F13"] == b"\x00\x00"
    assert values["9F17"] == b"\x03"
    assert values["9F79"] == bytes.fromhex("000000010000")  # 100.00
    assert values["9F77"] == bytes.fromhex("000000100000")


def test_offline_pin_counts_down_and_blocks():
    kernel = contact("pboc-credit")

    def verify(pin: str) -> str:
        block = bytes.fromhex(("2%X" % len(pin) + pin).ljust(16, "F"))
        return sw(kernel.send(bytes.fromhex("0020008008") + block))

    assert verify("000000") == "63C2"
    assert verify("123456") == "9000"
    assert decode(kernel.send("80CA9F1700")[:-2])["9F17"] == b"\x03"
    assert [verify("111111") for _ in range(3)] == ["63C2", "63C1", "63C0"]
    assert verify("123456") == "6983"
    assert sw(kernel.send("00200080081234")) == "6700"


def test_issuer_scripts_need_a_good_mac_and_act():
    card = load_card("pboc-dual")
    kernel = Kernel(card).start(DEBIT_AID)
    first = kernel.generate_ac(ARQC)
    atc, arqc = first["9F36"], first["9F26"]
    load = script_command(
        kernel.pan, kernel.psn, atc, arqc, bytes.fromhex("04DA9F79"), bytes.fromhex("000000050000")
    )
    spoiled = load[:-1] + bytes([load[-1] ^ 1])
    assert sw(kernel.send(spoiled)) == "6982"
    assert sw(kernel.send(load)) == "9000"
    assert decode(kernel.send("80CA9F7900")[:-2])["9F79"] == bytes.fromhex("000000050000")
    block = script_command(kernel.pan, kernel.psn, atc, arqc, bytes.fromhex("841E0000"), b"")
    second = kernel.generate_ac(
        TC, "8D", {"8A": b"00", "91": arpc(kernel.pan, kernel.psn, atc, arqc, b"00") + b"00"}
    )
    assert second["9F10"][6] >> 4 == 2  # two script commands processed
    assert second["9F10"][6] & 0x08  # one of them failed
    assert sw(kernel.send(block)) == "9000"  # 72 scripts come after the second GENERATE AC
    card.reset()
    again = Kernel(card)
    assert sw(again.select(DEBIT_AID)) == "6283"  # blocked: SELECT says so
    again.start(DEBIT_AID)
    assert again.generate_ac(ARQC)["9F27"] == b"\x00"  # and it only declines


def test_scripts_outside_an_online_transaction_are_refused():
    kernel = contact("pboc-dual")
    assert sw(kernel.send("841E000004AABBCCDD")) == "6985"


def test_the_transaction_log_records_each_transaction():
    card = load_card("pboc-credit")
    kernel = Kernel(card).start(CREDIT_AID)
    kernel.generate_ac(TC)
    record = kernel.read_record(11, 1)
    assert sw(record) == "9000"
    # 9A 9F21 9F02 9F03 9F1A 5F2A 9C 9F36 (9F4F)
    assert record[:3] == bytes.fromhex("261207") and record[6:12] == bytes.fromhex("000000001234")
    assert record[-4:-2] == b"\x00\x01"
    assert sw(kernel.read_record(11, 2)) == "6A83"


def test_chip_dead_has_no_atr_and_answers_nothing_but_6f00():
    card = load_card("chip-dead")
    assert card.atr == b""
    assert sw(card.apdu(bytes.fromhex("00A404000E315041592E5359532E444446303100"))) == "6F00"
    assert card.track2 == "6224242900001095=30122010000000000"  # the stripe: service code 2xx


def test_the_expired_card_says_so_in_its_records():
    kernel = contact("expired")
    assert kernel.tags["5F24"] == bytes.fromhex("201231")
    assert kernel.tags["57"].hex().upper().startswith("6224242900001061D2012201")
    verify_sda(kernel.tags, kernel.signed_records, kernel.tags["82"])  # only the dates fail


@pytest.mark.parametrize("fault", ["icc-cert", "issuer-cert"])
def test_a_spoiled_certificate_breaks_the_chain(fault):
    profile = profiles.with_changes(profiles.builtin("pboc-credit"), fault=fault)
    kernel = Kernel(Card(profile)).start(CREDIT_AID)
    with pytest.raises(OdaError):
        icc_public_key(kernel.tags, kernel.signed_records, kernel.tags["82"])


def test_t0_case_4_commands_answer_61xx_and_give_their_data_to_get_response():
    card = load_card("pboc-debit")
    kernel = Kernel(card)
    assert kernel.send("00A404000E315041592E5359532E4444463031").hex().upper() == "6122"
    assert sw(kernel.send("00C0000010")) == "6112"  # part of it: the rest still waiting
    rest = kernel.send("00C0000012")
    assert sw(rest) == "9000" and len(rest) == 0x12 + 2
    assert sw(kernel.send("00C0000012")) == "6985"  # nothing left
    record = kernel.send("00B2010C05")  # Le too short: 6Cxx says the record's length
    assert record[0] == 0x6C
    whole = kernel.send(bytes.fromhex("00B2010C") + record[1:2])
    assert sw(whole) == "9000" and len(whole) == record[1] + 2
    # A warning comes alone; GET RESPONSE then gives the data with 90 00.
    blocked = load_card("pboc-debit")
    blocked.applications[0].blocked = True  # as an APPLICATION BLOCK script leaves it
    assert blocked.apdu(bytes.fromhex("00A4040008A000000333010101")).hex().upper() == "6283"
    fci = blocked.apdu(bytes.fromhex("00C0000000"))
    assert sw(fci) == "9000" and decode(fci[:-2])["6F"]["84"] == DEBIT_AID


def test_a_working_card_has_an_emv_atr():
    atr = load_card("pboc-debit").atr
    assert atr[0] == 0x3B and atr[1] >> 4 == 0x6 and len(atr) == 4 + (atr[1] & 0x0F)


def test_garbage_never_raises():
    card = load_card("pboc-dual")
    for command in (b"", b"\x00\xa4", bytes(300), bytes(range(256)), b"\x80\xae\x80\x00\x00"):
        answer = card.apdu(command)
        assert len(answer) == 2 and answer != b"\x90\x00"


COMMANDS = st.builds(
    lambda cla, ins, p1, p2, data, le: (
        bytes([cla, ins, p1, p2])
        + (bytes([len(data)]) + data if data else b"")
        + (bytes([le]) if le is not None else b"")
    ),
    st.sampled_from([0x00, 0x80, 0x84, 0x04, 0xA0]),
    st.sampled_from(
        [0xA4, 0xB2, 0xA8, 0xAE, 0x88, 0x82, 0xCA, 0x20, 0x1E, 0x18, 0x24, 0xDA, 0xC0]
    ),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=40),
    st.one_of(st.none(), st.integers(0, 255)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(COMMANDS, max_size=6), st.sampled_from(["pboc-credit", "pboc-dual", "pboc-cda"]))
def test_no_command_in_any_state_makes_the_card_fail_inside(commands, name):
    """6F00 is what the card says when its own code fails: no command may reach that, before
    or during a transaction, contact or contactless."""
    card = load_card(name)
    kernel = Kernel(card).start(CREDIT_AID if name == "pboc-credit" else DEBIT_AID)
    kernel.generate_ac(ARQC)
    for interface in ("contact", "contactless"):
        for command in commands:
            answer = card.apdu(command)
            assert len(answer) >= 2 and sw(answer) != "6F00", command.hex()
        card.reset(interface)
