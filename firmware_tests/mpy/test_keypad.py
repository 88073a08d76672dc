# The keypad driver on MicroPython, against a key matrix at the Pin level played on a virtual
# clock: which key codes come out of bounce, glitches, held keys, chords and ghosts; the ring
# buffer; PIN entry (what the caller's buffer holds, what the display is told, what is left
# behind) and amount entry from the cents side.
import gc

from fakes_ui import FakeClock, Keys, ScriptedMatrix, bit
from mptest import expect_error

from board.simbus import KeyMatrix
from drivers import keypad as kp
from drivers.keypad import (
    CANCEL,
    CLEAR,
    ENTER,
    F1,
    EntryCancelled,
    EntryTimeout,
    Keypad,
    format_amount,
)


def make(keys=None, **options):
    clock = FakeClock()
    matrix = ScriptedMatrix(clock, keys.timeline if keys is not None else ((0, 0),))
    return Keypad(matrix.drive, matrix.sense, clock=clock, **options), matrix, clock


def codes(pad, limit=100, timeout_ms=2000):
    # Every code until the keypad has been quiet for timeout_ms.
    out = []
    while len(out) < limit:
        code = pad.get(timeout_ms)
        if code is None:
            return out
        out.append(code)
    return out


def test_a_tap_gives_one_code():
    pad, _, _ = make(Keys().tap("5"))
    assert codes(pad) == [ord("5")]


def test_every_key_of_the_reference_keypad():
    keys = Keys()
    for code in kp.KEYMAP:
        keys.tap(code)
    pad, _, _ = make(keys)
    assert bytes(codes(pad)) == kp.KEYMAP
    assert kp.KEYMAP[0:4] == b"147."  # column 0 of the keypad, rows 0-3
    assert kp.KEYMAP[16:20] == bytes((F1, kp.F2, kp.F3, kp.F4))  # column 4


def test_chatter_shorter_than_the_debounce_is_ignored():
    keys = Keys()
    keys.tap("1", hold=15)  # a glitch: seen by at most 2 scans of 10 ms
    keys.wait(100)
    keys.chatter("2", (2, 3, 2, 2, 3, 4, 1, 2))  # bounce, then open again: never a key
    keys.wait(100)
    keys.chatter("3", (2, 3, 2, 2)).hold("3").wait(80)  # bounce, then held: one key
    keys.chatter("3", (0, 2, 3, 1)).release("3").wait(100)  # bounce on release too
    keys.tap("4", hold=35)  # 35 ms: counted (3 scans)
    pad, _, _ = make(keys)
    assert codes(pad) == [ord("3"), ord("4")]


def test_a_held_key_gives_exactly_one_code():
    keys = Keys().hold("7").wait(3000).release("7").wait(50).tap("8")
    pad, _, _ = make(keys)
    assert codes(pad, timeout_ms=5000) == [ord("7"), ord("8")]


def test_a_key_pressed_while_others_are_held_is_reported():
    # Fast typing: 1 is still down when 2 goes down, and 2 when 3 does (rollover).
    keys = Keys().hold("1").wait(50).hold("2").wait(50).release("1").wait(50).release("2")
    keys.wait(50).hold("1").wait(50).hold("2").wait(50).hold("3").wait(50)
    keys.release("1", "2", "3")
    pad, _, _ = make(keys)
    assert codes(pad) == [ord("1"), ord("2"), ord("1"), ord("2"), ord("3")]


def test_two_keys_pressed_at_once_are_ignored_until_released():
    keys = Keys().hold("1", "2").wait(100).release("1").wait(100).release("2").wait(50)
    keys.tap("9")
    pad, _, _ = make(keys)
    assert codes(pad) == [ord("9")]


def test_a_ghost_key_is_never_reported():
    # 1 and 2 share row 0; 4 shares column 0 with 1. With 1, 2 and 4 down, 5 (row 1, column
    # 1) reads down too, through 2-1-4: the matrix has no diodes.
    matrix = KeyMatrix()
    matrix.pressed = bit("1") | bit("2") | bit("4")
    pad = Keypad(matrix.drive, matrix.sense)
    assert pad._read() == bit("1") | bit("2") | bit("4") | bit("5")
    keys = Keys().hold("1").wait(50).hold("2").wait(50).hold("4").wait(200)
    keys.release("1", "2", "4").wait(50).tap("5")
    pad, _, _ = make(keys)
    # 1, then 2 beside it; 4 comes with its ghost 5: both ignored until released.
    assert codes(pad) == [ord("1"), ord("2"), ord("5")]


def test_full_ring_buffer_drops_the_newest_keys():
    keys = Keys().type("123456")
    pad, _, clock = make(keys, buffer_size=4)
    while clock.now < keys.now + 100:  # scan through the script without taking any key
        pad.poll()
        clock.sleep_ms(1)
    assert pad.any() == 4
    assert pad.overflows == 2
    assert codes(pad) == [ord("1"), ord("2"), ord("3"), ord("4")]


def test_scanning_and_taking_keys_allocate_nothing():
    keys = Keys().type("1234567890" * 3)
    pad, _, _ = make(keys)
    got = 1 if pad.get(2000) else 0  # the first call sets up nothing lasting either
    gc.collect()
    before = gc.mem_alloc()
    while pad.get(2000) is not None:
        got += 1
    after = gc.mem_alloc()
    assert got == 30
    assert after == before, after - before


def test_get_without_a_key_waits_for_its_timeout_and_returns_none():
    pad, _, clock = make()
    assert pad.get(5000) is None
    assert clock.now >= 5000
    assert pad.get() is None  # timeout 0: one look


def test_pin_digits_go_only_into_the_callers_buffer():
    keys = Keys(start=100).type("1234").tap(ENTER)
    pad, _, _ = make(keys)
    digits = bytearray(12)
    shown = []
    n = pad.read_pin(digits, show=shown.append)
    assert n == 4
    assert digits[:4] == b"1234" and digits[4:] == bytes(8)
    assert shown == [0, 1, 2, 3, 4, 4]  # the display is told counts, never digits
    assert pad._ring == bytearray(len(pad._ring))  # the driver keeps no copy


def test_pin_enter_is_refused_outside_the_length_bounds():
    keys = Keys(start=100).type("12").tap(ENTER).type("3456789").tap(ENTER)
    pad, _, _ = make(keys)
    digits = bytearray(12)
    n = pad.read_pin(digits, min_digits=4, max_digits=6)
    assert n == 6
    assert digits[:n] == b"123456"  # 12, ENTER refused; 3456, then 7 8 9 ignored past 6


def test_pin_clear_wipes_every_digit_or_only_the_last():
    keys = Keys(start=100).type("12").tap(CLEAR).type("5678").tap(ENTER)
    pad, _, _ = make(keys)
    digits = bytearray(12)
    assert pad.read_pin(digits) == 4
    assert digits[:4] == b"5678"
    keys = Keys(start=100).type("1234").tap(CLEAR).type("5").tap(ENTER)
    pad, _, _ = make(keys)
    digits = bytearray(12)
    assert pad.read_pin(digits, clear_all=False) == 4
    assert digits[:4] == b"1235"


def test_pin_cancel_wipes_the_buffer():
    keys = Keys(start=100).type("987").tap(CANCEL)
    pad, _, _ = make(keys)
    digits = bytearray(b"XXXXXXXXXXXX")
    expect_error(EntryCancelled, ["cancelled"], pad.read_pin, digits)
    assert digits == bytearray(12)
    assert pad._ring == bytearray(len(pad._ring))


def test_pin_timeout_wipes_the_buffer():
    keys = Keys(start=100).type("98")
    pad, _, clock = make(keys)
    digits = bytearray(12)
    expect_error(EntryTimeout, ["30000"], pad.read_pin, digits, timeout_ms=30000)
    assert digits == bytearray(12)
    assert clock.now >= 30000  # counted from the last key


def test_pin_type_ahead_is_not_taken_as_digits():
    keys = Keys().type("99").wait(200).type("1357").tap(ENTER)
    pad, _, clock = make(keys)
    while clock.now < 300:  # the two 9s are typed before the prompt
        pad.poll()
        clock.sleep_ms(1)
    assert pad.any() == 2
    digits = bytearray(12)
    assert pad.read_pin(digits) == 4
    assert digits[:4] == b"1357"


def test_pin_bypass_only_when_allowed():
    keys = Keys(start=100).tap(ENTER).type("2468").tap(ENTER)
    pad, _, _ = make(keys)
    digits = bytearray(12)
    assert pad.read_pin(digits) == 4  # the first ENTER (no digits) is refused
    pad, _, _ = make(Keys(start=100).tap(ENTER))
    assert pad.read_pin(digits, allow_empty=True) == 0


def test_pin_ignores_keys_that_are_not_digits():
    keys = Keys(start=100).type("1.2#3").tap(F1).type("4").tap(ENTER)
    pad, _, _ = make(keys)
    digits = bytearray(12)
    assert pad.read_pin(digits) == 4
    assert digits[:4] == b"1234"


def test_amount_enters_from_the_cents_side():
    for typed, fen in (("1", 1), ("10000", 10000), ("0005", 5), ("123456", 123456)):
        pad, _, _ = make(Keys(start=100).type(typed).tap(ENTER))
        assert pad.read_amount() == fen, typed
    assert format_amount(1) == "0.01"
    assert format_amount(10000) == "100.00"
    assert format_amount(123456) == "1234.56"


def test_amount_clear_is_a_backspace_and_enter_needs_an_amount():
    keys = Keys(start=100).tap(ENTER).type("10000").tap(CLEAR).tap(CLEAR).type("5").tap(ENTER)
    pad, _, _ = make(keys)
    shown = []
    assert pad.read_amount(show=lambda fen: shown.append(format_amount(fen))) == 1005
    assert shown[:7] == ["0.00", "0.00", "0.01", "0.10", "1.00", "10.00", "100.00"]
    assert shown[-3:] == ["1.00", "10.05", "10.05"]


def test_amount_takes_at_most_ten_digits():
    pad, _, _ = make(Keys(start=100).type("123456789012").tap(ENTER))
    assert pad.read_amount() == 1234567890  # 12,345,678.90


def test_amount_cancel_and_timeout():
    pad, _, _ = make(Keys(start=100).type("5").tap(CANCEL))
    expect_error(EntryCancelled, ["cancelled"], pad.read_amount)
    pad, _, _ = make(Keys(start=100).type("5"))
    expect_error(EntryTimeout, [], pad.read_amount, timeout_ms=1000)


def test_asyncio_scanner_task_and_get_async():
    import asyncio

    matrix = KeyMatrix()
    pad = Keypad(matrix.drive, matrix.sense)  # real time: scans every 10 ms

    async def main():
        task = asyncio.create_task(pad.scanner())
        assert await pad.get_async(50) is None
        matrix.press(2)  # the '7' key
        code = await pad.get_async(2000)
        matrix.release(2)
        task.cancel()
        return code

    assert asyncio.run(main()) == ord("7")


def test_bad_configuration_is_refused():
    matrix = KeyMatrix()
    expect_error(ValueError, ["keymap"], Keypad, matrix.drive, matrix.sense, b"123")
    expect_error(ValueError, ["min_digits"], kp.PinEntry, bytearray(4), max_digits=12)
