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
