"""A str's characters into a frame buffer, for the ISO 8583 codec (app.txn.iso8583): the digits
of an n or z field as BCD nibbles, the text of an an or ans field as its bytes.

    end = nibbles(buf, pos, "000000", 6, 0, False)   # the next position, or -1: a bad digit
    end = copy(buf, pos, "12345678", 8)               # the next position, or -1: not ASCII

On MicroPython they are viper code reading the str's own bytes: iterating a str makes a
one-character str of each, which MicroPython looks up in its string table, and str.encode()
makes a copy. Packing a sale's 0200 took 1,820,000 instructions, now 26,000
(firmware_tests/bench/txn.py's 0200 under callgrind, 64-bit unix port), and allocates
nothing. A module of its own: its
native code, compiled from source (the device tests), needs a block of heap that the codec's
own compilation would not leave.
"""

# pyright: reportArgumentType=false, reportIndexIssue=false, reportRedeclaration=false
# (the viper functions take ptr8 parameters, which the stubs type as int: a str or buffer passed
# to one is correct MicroPython that the checker cannot express; each function is defined once
# for the interpreter in use, viper or portable.)

import sys

if sys.implementation.name == "micropython":
    import micropython

    # Defined once for the build in use: each function defined is a heap object kept.
    @micropython.viper
    def nibbles(buf: ptr8, pos: int, text: ptr8, n: int, half: int, track: int) -> int:
        high = 0
        i = 0
        while i < n:
            b = text[i]
            c = b - 48
            if c < 0 or c > 9:
                c = b - 55
                if b == 61:
                    c = 13
                if track == 0 or c < 10 or c > 15:
                    return -1
            if half:
                buf[pos] = high | c
                pos += 1
                half = 0
            else:
                high = c << 4
                half = 1
            i += 1
        if half:
            buf[pos] = high
            pos += 1
        return pos

    @micropython.viper
    def copy(buf: ptr8, pos: int, text: ptr8, n: int) -> int:
        i = 0
        while i < n:
            b = text[i]
            if b > 127:
                return -1
            buf[pos + i] = b
            i += 1
        return pos + n

else:  # CPython (host tests): the same, reading str.encode()

    def nibbles(buf, pos, text, n, half, track):
        # The digits of `text` (its first `n` bytes) as nibbles from buf[pos] on, after a
        # pending zero high nibble when `half`; "=" is nibble D and A-F are taken when
        # `track`. The next position, or -1 at a character it refuses.
        high = 0
        for b in text.encode()[:n]:
            c = b - 48
            if c < 0 or c > 9:
                c = 13 if b == 61 else b - 55
                if not track or c < 10 or c > 15:
                    return -1
            if half:
                buf[pos] = high | c
                pos += 1
                half = 0
            else:
                high = c << 4
                half = 1
        if half:
            buf[pos] = high
            pos += 1
        return pos

    def copy(buf, pos, text, n):
        # The first `n` bytes of str `text` into buf[pos:]; -1 if one is not ASCII.
        data = text.encode()[:n]
        if n and max(data) > 127:
            return -1
        buf[pos : pos + n] = data
        return pos + n
