# The card channel's APDU transport rules on MicroPython (drivers/cardchannel.py), over a reader
# that plays a card's answers: the four cases told apart (and malformed APDUs refused), the
# limits that stop a card from looping the terminal (GET RESPONSE without end, answers over 256
# bytes), 6Cxx only where there is an Le to change, and the ATR's protocol read (T=0 or T=1).
from mptest import expect_error

from drivers.cardchannel import CardChannel, CardProtocolError, apdu_case
from drivers.tda8029 import protocol


class Scripted(CardChannel):
    # A reader whose card gives the answers in `answers`, one per command; `sent` keeps what
    # the card got.
    def __init__(self, answers, t0=True):
        super().__init__(None, t0=t0)
        self.answers = list(answers)
        self.sent = []

    def _exchange(self, command, timeout_ms):
        self.sent.append(bytes(command))
        return memoryview(self.answers.pop(0))


def test_the_four_cases_and_malformed_apdus():
    assert apdu_case(b"\x00\x44\x00\x00") == 1
    assert apdu_case(b"\x00\x84\x00\x00\x08") == 2
    assert apdu_case(b"\x00\xda\x00\x00\x02\x01\x02") == 3
    assert apdu_case(b"\x00\xa4\x04\x00\x02\x3f\x00\x00") == 4
    expect_error(ValueError, ("at least 4 bytes",), apdu_case, b"\x00\xa4\x04")
    expect_error(ValueError, ("does not match its Lc",), apdu_case, b"\x00\xda\x00\x00\x03\x01")
    expect_error(ValueError, ("does not match its Lc",), apdu_case, b"\x00\xda\x00\x00\x00\x01")
    reader = Scripted([])
    expect_error(ValueError, ("does not match",), reader.transmit, b"\x00\xda\x00\x00\x05\x01")
    assert reader.sent == []  # nothing reaches the card


def test_a_card_that_never_stops_saying_61xx_is_cut_off():
    reader = Scripted([b"\x61\x01"] + [b"\xaa\x61\x01"] * 20)
    expect_error(
        CardProtocolError, ("more than 8 exchanges",), reader.transmit, b"\x00\xb2\x01\x0c\x00"
    )
    assert len(reader.sent) == 8


def test_more_than_256_bytes_through_61xx_is_refused():
    reader = Scripted([bytes(200) + b"\x61\x64", bytes(100) + b"\x90\x00"])
    expect_error(
        CardProtocolError, ("more than 256 bytes",), reader.transmit, b"\x00\xb2\x01\x0c\x00"
    )


def test_6cxx_is_followed_only_where_there_is_an_le():
    # Case 3 and case 1: 6Cxx is the card's answer, returned as it is.
    reader = Scripted([b"\x6c\x10", b"\x6c\x10"])
    data, sw = reader.transmit(b"\x00\xda\x00\x00\x01\x01")
    assert (bytes(data), sw) == (b"", 0x6C10)
    data, sw = reader.transmit(b"\x00\x44\x00\x00")
    assert (bytes(data), sw) == (b"", 0x6C10)
    assert len(reader.sent) == 2
    # GET RESPONSE answered 6Cxx: again with that Le.
    reader = Scripted([b"\x61\x10", b"\x6c\x04", b"\x01\x02\x03\x04\x90\x00"])
    data, sw = reader.transmit(b"\x00\xa4\x04\x00\x01\x3f\x00")
    assert (bytes(data), sw) == (b"\x01\x02\x03\x04", 0x9000)
    assert reader.sent[1:] == [b"\x00\xc0\x00\x00\x10", b"\x00\xc0\x00\x00\x04"]


def test_a_case_4_warning_whose_data_cannot_be_had_is_the_warning_alone():
    reader = Scripted([b"\x62\x83", b"\x6a\x82"])
    data, sw = reader.transmit(b"\x80\xe2\x00\x00\x01\xaa\x00")
    assert (bytes(data), sw) == (b"", 0x6283)
    assert reader.sent == [b"\x80\xe2\x00\x00\x01\xaa", b"\x00\xc0\x00\x00\x00"]
    # Not on T=1 (or contactless): the warning is the answer, no GET RESPONSE.
    reader = Scripted([b"\x62\x83"], t0=False)
    data, sw = reader.transmit(b"\x80\xe2\x00\x00\x01\xaa\x00")
    assert (bytes(data), sw) == (b"", 0x6283)
    assert reader.sent == [b"\x80\xe2\x00\x00\x01\xaa\x00"]


def test_a_card_answer_without_status_word_is_refused():
    reader = Scripted([b"\x90"])
    expect_error(CardProtocolError, ("no status word",), reader.transmit, b"\x00\x44\x00\x00")


def test_protocol_from_the_atr():
    assert protocol(b"\x3b\x02\x14\x50") == 0  # no TD1: T=0
    assert protocol(b"\x3b\x80\x01\x81") == 1  # TD1 = 01
    assert protocol(b"\x3b\xe0\x00\xff\x81\x31\xfe\x45") == 1  # TB1, TC1 then TD1 = 81
    assert protocol(b"\x3b\xf0\x11\x00\xff\x00") == 0  # TA1 TB1 TC1, TD1 = 00
    assert protocol(b"\x3b\x80") == 0  # TD1 announced, cut short: T=0
