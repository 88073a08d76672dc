# PIN blocks on MicroPython: published format 0 examples, fixed-fill formats 1 and 3, the
# encrypted block, and refusals that name the problem.
from binascii import unhexlify as h

from app.crypto import cipher, pinblock

K2 = h("0123456789ABCDEFFEDCBA9876543210")


def zeros(n):
    return bytes(n)


def expect_value_error(words, fn, *args):
    try:
        fn(*args)
    except ValueError as exc:
        for word in words:
            assert word in str(exc), (word, str(exc))
    else:
        raise AssertionError("no ValueError for %r" % (args,))


def test_format0_published_example():
    assert pinblock.format0("123456", "123456789012345678") == h("061253DFFEDCBA98")


def test_format0_cup_card():
    assert pinblock.format0(b"123456", b"6224242900000113") == h("061276146FFFFFEE")


def test_format0_accepts_keypad_bytearray():
    digits = bytearray(b"123456")
    assert pinblock.format0(digits, b"6224242900000113") == h("061276146FFFFFEE")


def test_encrypted_pin_block():
    block = pinblock.encrypt(cipher.new("3DES", K2), bytearray(b"123456"), b"6224242900000113")
    assert block == h("34A9CB2C1BA2AB3A")


def test_format1_with_fixed_fill():
    assert pinblock.format1(b"1234", zeros) == h("1412340000000000")


def test_format3_with_fixed_fill():
    assert pinblock.format3(b"1234", b"4111111111111111", zeros) == h("341225BBBBBBBBBB")


def test_format3_fill_is_a_to_f():
    block = pinblock.format3(b"1234", b"4111111111111111")
    clear = bytearray(block)
    pan = pinblock.pan_field(b"4111111111111111")
    for i in range(8):
        clear[i] ^= pan[i]
    fill = clear[3:]
    for b in fill:
        assert b >> 4 >= 0xA and b & 0xF >= 0xA, clear


def test_twelve_digit_pin():
    # 0C 12 34 56 78 90 12 FF xor 00 00 11 11 11 11 11 11
    assert pinblock.format0(b"123456789012", b"4111111111111111") == h("0C122547698103EE")


def test_refusals_name_the_problem():
    pan = b"6224242900000113"
    expect_value_error(["PIN", "4 to 12", "got 3"], pinblock.format0, b"123", pan)
    expect_value_error(["PIN", "4 to 12", "got 13"], pinblock.format0, b"1234567890123", pan)
    expect_value_error(["PIN", "digits only"], pinblock.format0, b"12a4", pan)
    expect_value_error(["PAN", "digits only"], pinblock.format0, b"1234", b"62242429000001X3")
    expect_value_error(["PAN", "13 to 19", "got 12"], pinblock.format0, b"1234", b"622424290000")
    tdes = cipher.new("3DES", K2)
    expect_value_error(["format", "0, 1 or 3"], pinblock.encrypt, tdes, b"1234", pan, 2)


def test_wipe():
    buf = bytearray(b"\x06\x12\x34\x56\xff\xff\xff\xff")
    pinblock.wipe(buf)
    assert buf == bytearray(8)
