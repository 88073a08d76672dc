"""Drivers: one file per chip or protocol; they take ready bus objects and never import app/."""


def message(table, number, args=None):
    """Message `number` (from 0) of `table`, formatted with `args` (a value or a tuple).

    The drivers keep their messages in one literal each, every message after a "|": each
    string literal of a module is an object on the heap from import on (40 bytes on the 64-bit
    unix port, 20 on the ESP32), and the drivers' messages were about 80 of them.
    app.message is its twin for the application: drivers never import app/.
    """
    start = 0
    for _ in range(number + 1):
        start = table.index("|", start) + 1
    text = table[start : table.index("|", start)]
    return text if args is None else text % args


def shown(data):
    """Bytes a device sent, as text for a message: printable ASCII as it is, every other
    byte as \\xNN. Never raises: MicroPython's bytes.decode raises UnicodeError on bytes that
    are not UTF-8, and a line garbled on the wire must still be named."""
    return repr(bytes(data))[2:-1]


def ipv4(text):
    """True when `text` (bytes) is a dotted-quad IPv4 address: 4 numbers of 1 to 3 digits,
    each at most 255."""
    parts = text.split(b".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not 1 <= len(part) <= 3:
            return False
        value = 0
        for c in part:
            if not 48 <= c <= 57:
                return False
            value = value * 10 + c - 48
        if value > 255:
            return False
    return True
