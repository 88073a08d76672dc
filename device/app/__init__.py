"""The terminal application: storage, keys, crypto, ISO 8583, transactions, UI.

Importing it sets the terminal's heap policy: a collection after every 4 KB allocated
(`gc.threshold`), unless the program has set a threshold of its own (-1 is none). Collected
only when the heap is full (MicroPython's default), the application's long-lived objects (its
modules as they load, cached ciphers, results) are allocated among a whole heap of garbage,
and once that is collected the free space between them is in pieces too small for the next
1.2 KB LittleFS file object: the install cycle needed 15-20 KB more heap than it holds.
Collected every 4 KB, they are allocated low and the free space stays in one piece
(docs/transactions.md §13: the figures with and without). Set here, on the first import of
the package, so that the modules' own objects are packed too.
"""

import binascii
import gc

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

_COLLECT_EVERY = const(4096)  # bytes; 2 KB measured no better, 16 KB 3-5 KB worse

_threshold = getattr(gc, "threshold", None)  # MicroPython's; CPython has none
if _threshold is not None and _threshold() < 0:
    _threshold(_COLLECT_EVERY)
del _threshold


def message(table, number, args=None):
    """Message `number` (from 0) of `table`, formatted with `args` (a value or a tuple).

    A module keeps its messages in one literal, every message after a "|": each string
    literal of a module is an object on the heap from import on (40 bytes on the 64-bit unix
    port, 20 on the ESP32), a literal of them all is one.
    """
    start = 0
    for _ in range(number + 1):
        start = table.index("|", start) + 1
    text = table[start : table.index("|", start)]
    return text if args is None else text % args


def unhex(text):
    """The bytes of hex `text` (str or bytes-like): ValueError unless it is an even number of
    hex digits and nothing else.

    MicroPython's binascii.unhexlify skips whitespace between digit pairs where CPython's
    refuses it, so "0A 0B" would read as 2 bytes and "0A0B  " as 2 from 6 characters: every
    check of a length made on the text would then be wrong. Outside data (key blocks, typed
    keys and check values) is read through this.
    """
    data = binascii.unhexlify(text)
    if 2 * len(data) != len(text):
        raise ValueError("non-hex digit")
    return data


def forget(*names):
    """Let modules go (from sys.modules and from their package): a module used once (power-
    up's, a PosManage screen's, a settlement's upload) is heap the terminal needs for
    transactions. The next import loads it again."""
    import sys

    for name in names:
        if sys.modules.pop(name, None) is None:
            continue
        package, _, leaf = name.rpartition(".")
        parent = sys.modules.get(package)
        if parent is not None and hasattr(parent, leaf):
            delattr(parent, leaf)
