# The magstripe reader driver on MicroPython: a swipe parsed into track 2 fields, every kind of
# bad swipe by name, swipes in pieces and back to back, the raw track wiped, and the manual
# entry checks (Luhn, expiry against a date).
import time

from fakes import FakeUART
from mptest import expect_error

from drivers import cardreader
from drivers.cardreader import (
    BadSwipe,
    CardExpired,
    CardReader,
    InvalidExpiry,
    InvalidPan,
    SwipeTimeout,
    Track2,
    check_expiry,
    check_pan,
    luhn_valid,
)

TRACK = b"6224242900000113=28062013949031013"


def lrc(chars):
    # ISO 7811: XOR of the 4 data bits of every character from the start to the end sentinel.
    x = 0
    for c in chars:
        x ^= c & 0x0F
    return bytes([0x30 | x])


def swipe(track=TRACK, start=b";", end=b"?", check=None, trailer=b"\r\n"):
    body = start + track + end
    return body + (check if check is not None else lrc(body)) + trailer


def reader(**options):
    uart = FakeUART()
    options.setdefault("char_timeout_ms", 30)
    return CardReader(uart, **options), uart


def bad(r, reason):
    exc = expect_error(BadSwipe, [reason], r.read, 200)
    assert exc.reason == reason, exc.reason
    return exc


def test_swipe_gives_track_two_fields():
    r, uart = reader()
    uart.feed(swipe())
    track = r.read(200)
    assert track.pan == "6224242900000113"
    assert track.expiry == "2806"
    assert track.service_code == "201"
    assert bytes(track.discretionary) == b"3949031013"
    assert track.data == bytearray(TRACK)
    assert track.has_chip()


def test_lrc_of_the_test_card():
    # ";" (B) ^ digits ^ "=" (D) ^ "?" (F), low nibbles, as ASCII 0x30 | x.
    assert swipe()[-3:-2] == lrc(b";" + TRACK + b"?")


def test_raw_buffer_wiped_after_parse_and_track_wipe():
    r, uart = reader()
    uart.feed(swipe())
    track = r.read(200)
    assert r._raw == bytearray(len(r._raw))  # the raw swipe is gone from the reader
    track.wipe()
    assert track.data == bytearray(len(TRACK))
    assert repr(track) == "<Track2 wiped>"


def test_repr_masks_the_pan():
    track = Track2(bytearray(TRACK))
    assert repr(track) == "<Track2 622424******0113>"
    assert "3949031013" not in repr(track)
    assert track.masked_pan == "622424******0113"


def test_swipe_in_pieces_and_two_swipes_back_to_back():
    r, uart = reader()
    data = swipe()
    uart.feed(data[:10])
    assert r.poll() is None
    uart.feed(data[10:])
    assert r.poll().pan == "6224242900000113"
    other = b"4761739001010119=25122011143804400000"
    uart.feed(swipe(other, trailer=b"") + swipe())
    assert r.poll().pan == "4761739001010119"
    assert r.poll().pan == "6224242900000113"
    assert r.poll() is None


def test_no_start_sentinel():
    r, uart = reader()
    uart.feed(swipe(start=b""))
    bad(r, cardreader.NO_START)


def test_lrc_mismatch():
    r, uart = reader()
    good = swipe()[-3]
    uart.feed(swipe(check=bytes([good ^ 0x01])))
    bad(r, cardreader.LRC)


def test_character_outside_the_track_two_set():
    r, uart = reader()
    uart.feed(swipe(TRACK[:5] + b"*" + TRACK[6:]))  # a parity error the reader marked
    bad(r, cardreader.CHARACTER)
    uart.feed(swipe(TRACK[:5] + b":" + TRACK[6:]))  # a control character of the 5-bit set
    bad(r, cardreader.CHARACTER)


def test_too_long_then_the_next_swipe_reads():
    r, uart = reader()
    uart.feed(b";" + b"1" * 60 + b"?0")
    bad(r, cardreader.TOO_LONG)
    uart.feed(swipe())  # the rest of the long one is dropped through its "?" and LRC
    assert r.read(200).pan == "6224242900000113"
    uart.feed(b";" + b"2" * 45)  # too long and cut short: dropped until the line is quiet
    bad(r, cardreader.TOO_LONG)
    assert r.poll() is None
    time.sleep_ms(60)
    assert r.poll() is None
    uart.feed(swipe())
    assert r.read(200).pan == "6224242900000113"


def test_swipe_that_stops_is_incomplete():
    r, uart = reader()
    uart.feed(swipe()[:20])
    bad(r, cardreader.NO_END)


def test_not_a_payment_card_track():
    r, uart = reader()
    uart.feed(swipe(b"6224242900000113"))  # no separator
    bad(r, cardreader.FORMAT)
    uart.feed(swipe(b"6224242900000113=2806"))  # no service code
    bad(r, cardreader.FORMAT)
    uart.feed(swipe(b"622424=28062013949031013"))  # PAN too short
    bad(r, cardreader.FORMAT)
    uart.feed(swipe(b"6224242900000113=2806=2013949"))  # two separators
    bad(r, cardreader.FORMAT)


def test_check_digit_wrong():
    r, uart = reader()
    uart.feed(swipe(b"6224242900000114=28062013949031013"))
    bad(r, cardreader.CHECK_DIGIT)


def test_no_swipe_is_a_timeout():
    r, uart = reader()
    expect_error(SwipeTimeout, ["no card"], r.read, 20)


def test_flush_drops_a_pending_swipe():
    r, uart = reader()
    uart.feed(swipe())
    r.flush()
    assert r.poll() is None


def test_luhn():
    assert luhn_valid("6224242900000113")
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("41111111111x1111")
    assert not luhn_valid("")


def test_manual_pan():
    assert check_pan("6224242900000113") == "6224242900000113"
    assert check_pan(b"4111111111111111") == "4111111111111111"
    expect_error(InvalidPan, ["check digit"], check_pan, "6224242900000114")
    expect_error(InvalidPan, ["13 to 19", "12"], check_pan, "411111111111")
    expect_error(InvalidPan, ["digits only"], check_pan, "4111-1111-1111-1111")


def test_manual_entry_of_bytes_that_are_not_text():
    # A keypad hands bytes: one that is not UTF-8 is a wrong entry, not a UnicodeError.
    expect_error(InvalidPan, ["digits only"], check_pan, b"4111\xff111111111111")
    expect_error(InvalidPan, ["digits only"], check_pan, bytearray(b"\x80" * 16))
    expect_error(InvalidExpiry, ["YYMM"], check_expiry, b"28\xff6", (2025, 6))
    expect_error(InvalidExpiry, ["YYMM"], check_expiry, bytearray(b"\xc3\xa9\xc3\xa9"), (2025, 6))


def test_manual_expiry_against_today():
    assert check_expiry("2806", (2025, 6)) == "2806"
    assert check_expiry("2506", (2025, 6)) == "2506"  # valid to the end of its month
    expect_error(CardExpired, ["expired", "05/25"], check_expiry, "2505", (2025, 6))
    expect_error(CardExpired, ["expired"], check_expiry, "2412", (2025, 1))
    expect_error(InvalidExpiry, ["month"], check_expiry, "2813", (2025, 6))
    expect_error(InvalidExpiry, ["month"], check_expiry, "2800", (2025, 6))
    expect_error(InvalidExpiry, ["YYMM"], check_expiry, "286", (2025, 6))
    expect_error(InvalidExpiry, ["YYMM"], check_expiry, "28a6", (2025, 6))
    # ValueError for callers that catch the general case.
    expect_error(ValueError, ["expired"], check_expiry, "2001", (2025, 6))


def test_steady_state_heap_is_small():
    import gc

    uart = FakeUART()
    gc.collect()
    before = gc.mem_alloc()
    CardReader(uart)
    gc.collect()
    used = gc.mem_alloc() - before
    assert used < 512, used
