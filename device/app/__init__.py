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
