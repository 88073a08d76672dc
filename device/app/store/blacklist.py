"""The card black list the acquirer's host downloads at sign-on (header processing requirement
7, docs/iso8583.md §13): card numbers, prefixes or ranges the terminal must not accept.

    from app.store import blacklist
    blacklist.entry(b"06622202", "prefix")   # "622202": checked, or ValueError naming it
    blacklist.find(store.root, pan)          # "622202" or "622202-622209" when listed, or None

An entry is kept as the host sent it (app.store.icsets, set BLACKLIST): two ASCII digits LL,
then LL digits, a card number or its first digits (layout `prefix`: every card whose number
starts with them); or, in layout `range`, LL digits then LL digits more (every card whose
first LL digits lie between the two, both included). The layout is the application parameter
`blacklist_layout` (the spec gives no layout: UNCONFIRMED).

Imported only when the terminal has a list (app.txn.engine, which lets it go after the
check) or downloads one. A sale's check reads the list's file itself: app.store.icsets and
its TLV reader stay unloaded.
"""

from app.store.records import Journal

PATH = "%s/black.set"  # app.store.icsets' file of set BLACKLIST
_SUMMARY = b"="[0]  # its summary record's first byte


def entry(data, layout):
    """The text of black list entry `data` (bytes) in `layout` ("prefix" or "range"):
    "622202" or "622202-622209". ValueError, with a readable reason, unless it is one."""
    text = bytes(data).decode()  # UnicodeError is a ValueError
    if len(text) < 3 or not text.isdigit():
        raise ValueError("not 2 digits of length then digits")
    size = int(text[:2])
    if not 1 <= size <= 19:
        raise ValueError("length %d: card numbers have 1 to 19 digits" % size)
    low = text[2 : 2 + size]
    if layout != "range":
        if len(text) != 2 + size:
            raise ValueError("%d digits, the length says %d" % (len(text) - 2, size))
        return low
    high = text[2 + size :]
    if len(text) != 2 + 2 * size:
        raise ValueError("%d digits, a range of %d needs %d" % (len(text) - 2, size, 2 * size))
    if high < low:
        raise ValueError("range %s-%s ends before it starts" % (low, high))
    return low + "-" + high


def find(root, pan):
    """The black list entry of the record store in `root` card number `pan` is on ("622202",
    "622202-622209"), or None."""
    for _, data in Journal(PATH % root).records(reuse=True):
        if data[0] == _SUMMARY:
            continue
        text = bytes(data).decode()
        size = int(text[:2])
        low, high = text[2 : 2 + size], text[2 + size :]
        head = pan[:size]
        if len(head) == size and low <= head <= (high or low):
            return low + "-" + high if high else low
    return None
