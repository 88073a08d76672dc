"""The two sides meet: the terminal's own EMV primitives (device/app/emv: tlv, dol, oda, on
CPython here) read the emulated cards and authenticate them offline, as the chip kernel will
on the terminal. Each side was written from the EMV books on its own; where they agree, both
follow the books, and where a card is built to fail, the terminal says why."""

import pytest
from cardkernel import CREDIT_AID, DEBIT_AID, PPSE, TERMINAL, sw

from app.emv import dol, oda, tlv
from hostlib.card import certs, load_card

TODAY = bytes.fromhex("261207")  # 9A of the transactions here
TERMINAL_DATA = {int(tag, 16): value for tag, value in TERMINAL.items()}
CA_KEYS = [
    oda.CaKey(ca.rid, ca.index, ca.key.modulus_bytes, ca.key.exponent_bytes, ca.check_value())
    for ca in (certs.ca_key(index) for index in certs.TEST_CA_KEYS)
]


class Terminal:
    """The steps of a kernel with the device's modules: SELECT, GPO, READ RECORD into one
    dict of the card's data (a redundant object stops it), the ODA records kept."""

    def __init__(self, card, aid: bytes, contactless: bool = False):
        self.card = card
        self.aid = aid
        self.data: dict = {}
        self.signed: list = []
        card.reset("contactless" if contactless else "contact")
        if contactless:
            assert sw(self.send(b"\x00\xa4\x04\x00\x0e" + PPSE + b"\x00")) == "9000"
        fci = self.send(b"\x00\xa4\x04\x00" + bytes([len(aid)]) + aid + b"\x00")
        self.pdol = tlv.find(fci[:-2], 0x9F38)
        pdol_data = dol.build(self.pdol, TERMINAL_DATA) if self.pdol else b""
        answer = self.send(
            b"\x80\xa8\x00\x00"
            + bytes([len(pdol_data) + 2, 0x83, len(pdol_data)])
            + pdol_data
            + b"\x00"
        )
        assert sw(answer) == "9000"
        self.gpo = answer[:-2]
        if self.gpo[0] == 0x80:  # format 1: AIP and AFL without tags
            value = tlv.find(self.gpo, 0x80)
            self.data[0x82], self.data[0x94] = value[:2], value[2:]
        else:
            tlv.collect(self.gpo, self.data)
        afl = bytes(self.data[0x94])
        for i in range(0, len(afl), 4):
            sfi, first, last, signed = afl[i] >> 3, afl[i + 1], afl[i + 2], afl[i + 3]
            for number in range(first, last + 1):
                record = self.send(bytes([0, 0xB2, number, sfi << 3 | 4, 0]))[:-2]
                tlv.collect(record, self.data)
                if number < first + signed:
                    self.signed.append((sfi, record))

    def send(self, command: bytes) -> bytes:
        return self.card.apdu(command)

    def static(self, method):
        return oda.static_data(self.signed, self.data[0x82], self.data.get(0x9F4A), method)

    def issuer(self, method):
        return oda.issuer_key(self.data, CA_KEYS, self.aid[:5], TODAY, method)

    def icc(self, method=oda.DDA):
        return oda.icc_key(self.data, self.issuer(method), self.static(method), TODAY, method)


def test_the_terminal_verifies_sda_and_refuses_the_bad_one():
    for name in ("pboc-debit", "expired"):
        terminal = Terminal(load_card(name), DEBIT_AID)
        code = oda.verify_sda(terminal.data, terminal.issuer(oda.SDA), terminal.static(oda.SDA))
        assert code == b"\xda\xc1"
    bad = Terminal(load_card("sda-bad"), DEBIT_AID)
    with pytest.raises(oda.OdaError) as caught:
        oda.verify_sda(bad.data, bad.issuer(oda.SDA), bad.static(oda.SDA))
    assert caught.value.tvr & 0x40


def test_the_terminal_verifies_dda_and_refuses_the_bad_one():
    unpredictable = TERMINAL_DATA[0x9F37]
    for name, aid, good in (
        ("pboc-credit", CREDIT_AID, True),
        ("two-apps", CREDIT_AID, True),
        ("dda-bad", DEBIT_AID, False),
    ):
        terminal = Terminal(load_card(name), aid)
        icc = terminal.icc()
        ddol_data = dol.build(terminal.data[0x9F49], TERMINAL_DATA)
        assert ddol_data == unpredictable
        answer = terminal.send(b"\x00\x88\x00\x00\x04" + ddol_data + b"\x00")
        sdad = tlv.find(answer[:-2], 0x80)
        if good:
            assert len(oda.verify_dda(icc, sdad, ddol_data)) == 8
        else:
            with pytest.raises(oda.OdaError) as caught:
                oda.verify_dda(icc, sdad, ddol_data)
            assert caught.value.tvr & 0x08


def test_the_terminal_verifies_fdda_on_a_tap():
    terminal = Terminal(load_card("pboc-dual"), DEBIT_AID, contactless=True)
    assert bytes(terminal.data[0x9F27]) == b"\x40"  # offline e-cash TC
    terminal_data = (
        TERMINAL_DATA[0x9F37]
        + TERMINAL_DATA[0x9F02]
        + TERMINAL_DATA[0x5F2A]
        + bytes(terminal.data[0x9F69])
    )
    number = oda.verify_dda(terminal.icc(), terminal.data[0x9F4B], terminal_data)
    assert len(number) == 8


def test_the_terminal_verifies_a_cda_signature():
    terminal = Terminal(load_card("pboc-cda"), DEBIT_AID)
    icc = terminal.icc(oda.CDA)
    cdol1_data = dol.build(terminal.data[0x8C], TERMINAL_DATA)
    answer = terminal.send(b"\x80\xae\x90\x00" + bytes([len(cdol1_data)]) + cdol1_data + b"\x00")
    signature = tlv.find(answer[:-2], 0x9F4B)
    number = oda.verify_dda(icc, signature, TERMINAL_DATA[0x9F37], oda.CDA)
    assert len(number) == 8


def test_the_terminal_builds_the_dol_data_the_cards_ask_for():
    for name, aid in (("pboc-credit", CREDIT_AID), ("pboc-debit", DEBIT_AID)):
        terminal = Terminal(load_card(name), aid)
        for tag in (0x8C, 0x8D):
            assert dol.size(terminal.data[tag]) == {0x8C: 32, 0x8D: 21}[tag]
        cdol1_data = dol.build(terminal.data[0x8C], TERMINAL_DATA)
        answer = terminal.send(
            b"\x80\xae\x80\x00" + bytes([len(cdol1_data)]) + cdol1_data + b"\x00"
        )
        assert sw(answer) == "9000"
