"""Weak DES keys: why a DES or 3DES key may not become a master key.

    reason = weakkeys.weakness(key)   # None, or "key part 2 is a semi-weak DES key: refused"

app.keys.slots asks before it stores a master key, whichever way the key came (entered, from
components, from a TR-31 block). Refused: a weak or semi-weak DES key (FIPS 74; NIST SP
800-67 3.3.2) in any 8-byte part, and a 3DES key whose parts 1 and 2, or 2 and 3, are equal.
A weak key makes encryption its own inverse, a semi-weak one has a twin that decrypts what it
encrypts; a 3DES key with two equal neighbouring parts is single DES under another name.
Parts 1 and 3 equal is ordinary 2-key 3DES. Parity bits (bit 0 of each byte) are ignored, as
DES ignores them: 0101010101010101 and 0000000000000000 are the same weak key.

Its own module, imported only while a key is loaded: the table and the messages stay off the
heap of a terminal that is transacting (app.keys.slots' import figure, test_import_heap.py).
"""

from app import message

# The 4 weak and 12 semi-weak keys with their parity bits cleared, 8 bytes each, weak first.
_WEAK_KEYS = (
    b"\x00\x00\x00\x00\x00\x00\x00\x00\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe"
    b"\xe0\xe0\xe0\xe0\xf0\xf0\xf0\xf0\x1e\x1e\x1e\x1e\x0e\x0e\x0e\x0e"
    b"\x00\xfe\x00\xfe\x00\xfe\x00\xfe\xfe\x00\xfe\x00\xfe\x00\xfe\x00"
    b"\x1e\xe0\x1e\xe0\x0e\xf0\x0e\xf0\xe0\x1e\xe0\x1e\xf0\x0e\xf0\x0e"
    b"\x00\xe0\x00\xe0\x00\xf0\x00\xf0\xe0\x00\xe0\x00\xf0\x00\xf0\x00"
    b"\x1e\xfe\x1e\xfe\x0e\xfe\x0e\xfe\xfe\x1e\xfe\x1e\xfe\x0e\xfe\x0e"
    b"\x00\x1e\x00\x1e\x00\x0e\x00\x0e\x1e\x00\x1e\x00\x0e\x00\x0e\x00"
    b"\xe0\xfe\xe0\xfe\xf0\xfe\xf0\xfe\xfe\xe0\xfe\xe0\xfe\xf0\xfe\xf0"
)
_WEAK = 4  # the first 4 of _WEAK_KEYS are weak, the other 12 semi-weak

_MESSAGES = (
    "|%s is a weak DES key: refused"
    "|%s is a semi-weak DES key: refused"
    "|key parts %d and %d are equal: this 3DES key is single DES, refused"
    "|"
)


def _same(key, a, b):
    # True if the 8-byte DES keys at offsets a and b of `key` differ only in parity bits.
    for i in range(8):
        if (key[a + i] ^ key[b + i]) & 0xFE:
            return False
    return True


def weakness(key):
    """Why the DES or 3DES key `key` (8, 16 or 24 bytes) may not be a master key, as a
    message that never shows the key; None if it may. Compares in place: no copy of the key
    is made."""
    parts = len(key) // 8
    for part in range(parts):
        for weak in range(len(_WEAK_KEYS) // 8):
            for i in range(8):
                if key[8 * part + i] & 0xFE != _WEAK_KEYS[8 * weak + i]:
                    break
            else:
                what = "the key" if parts == 1 else "key part %d" % (part + 1)
                return message(_MESSAGES, 0 if weak < _WEAK else 1, (what,))
    for first in (0, 1):
        if first + 1 < parts and _same(key, 8 * first, 8 * first + 8):
            return message(_MESSAGES, 2, (first + 1, first + 2))
    return None
