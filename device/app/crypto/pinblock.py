"""ISO 9564-1 PIN blocks: format 0 (ANSI X9.8, the CUP POS format), format 1 and format 3.

PIN digits arrive from the keypad or PIN pad as a bytearray, so the caller can wipe them; the
clear PIN block is a bytearray the caller encrypts in place and then wipes (`wipe`). Nothing
here keeps, prints or logs a PIN. Random fill (formats 1 and 3) comes from `os.urandom`
unless a `fill` function (n -> n bytes) is given, which tests use to get fixed blocks.
"""

import os

_MIN_PIN = 4
_MAX_PIN = 12


def _digit_values(value, what):
    if isinstance(value, str):
        value = value.encode()
    out = bytearray(len(value))
    for i in range(len(value)):
        c = value[i]
        if not 0x30 <= c <= 0x39:
            raise ValueError("%s must contain digits only" % what)
        out[i] = c - 0x30
    return out


def _pin_field(pin, control, fill_nibble):
    digits = _digit_values(pin, "PIN")
    n = len(digits)
    if not _MIN_PIN <= n <= _MAX_PIN:
        digits[:] = bytes(n)
        raise ValueError("PIN must be %d to %d digits, got %d" % (_MIN_PIN, _MAX_PIN, n))
    block = bytearray(8)
    nibbles = 16
    for i in range(nibbles):
        if i == 0:
            v = control
        elif i == 1:
            v = n
        elif i - 2 < n:
            v = digits[i - 2]
        else:
            v = fill_nibble()
        if i & 1:
            block[i >> 1] |= v
        else:
            block[i >> 1] = v << 4
    digits[:] = bytes(n)
    return block


def pan_field(pan):
    """The 12 rightmost PAN digits excluding the check digit, as 0000 + 12 digits (8 bytes)."""
    digits = _digit_values(pan, "PAN")
    if not 13 <= len(digits) <= 19:
        raise ValueError("PAN must be 13 to 19 digits, got %d" % len(digits))
    field = bytearray(8)
    twelve = digits[len(digits) - 13 : len(digits) - 1]
    for i in range(6):
        field[2 + i] = (twelve[2 * i] << 4) | twelve[2 * i + 1]
    return field


def _xor_pan(block, pan):
    field = pan_field(pan)
    for i in range(8):
        block[i] ^= field[i]


def _random_nibble(fill, low):
    # A nibble in low..15 without bias: draw from `fill`, reject values past the span.
    span = 16 - low
    while True:
        v = fill(1)[0] & 0x0F
        if v < span:
            return low + v


def format0(pin, pan):
    """Format 0: 0 L PIN F..F xor 0000 + 12 PAN digits."""
    block = _pin_field(pin, 0, lambda: 0xF)
    _xor_pan(block, pan)
    return block


def format1(pin, fill=None):
    """Format 1: 1 L PIN + random fill 0..F (no PAN)."""
    return _pin_field(pin, 1, lambda: _random_nibble(fill or os.urandom, 0))


def format3(pin, pan, fill=None):
    """Format 3: 3 L PIN + random fill A..F, xor 0000 + 12 PAN digits."""
    block = _pin_field(pin, 3, lambda: _random_nibble(fill or os.urandom, 10))
    _xor_pan(block, pan)
    return block


def encrypt(cipher, pin, pan, fmt=0, fill=None):
    """The encrypted PIN block (field 52) under the PIN key `cipher`; the clear block is
    wiped before returning."""
    if fmt == 0:
        block = format0(pin, pan)
    elif fmt == 1:
        block = format1(pin, fill)
    elif fmt == 3:
        block = format3(pin, pan, fill)
    else:
        raise ValueError("PIN block format must be 0, 1 or 3, got %r" % (fmt,))
    out = bytearray(block)
    wipe(block)
    cipher.encrypt_into(out)
    return bytes(out)


def wipe(buf):
    """Overwrite a bytearray holding a PIN or clear PIN block."""
    for i in range(len(buf)):
        buf[i] = 0
