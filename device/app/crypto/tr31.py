"""TR-31 (ANSI X9.143) key blocks: unwrap versions B and D.

A key block is printable ASCII: a 16-character header, optional blocks, the encrypted key data
in hex and the MAC in hex. Version B protects it with a TDES key block protection key (KBPK),
version D with an AES KBPK (AES-128 or AES-256: MicroPython's cryptolib has no AES-192). Both
use the key derivation binding method of X9.143 / TR-31:2010:

- KBEK (encryption) and KBAK (authentication) keys are derived from the KBPK with CMAC over
  8 bytes of derivation data: counter, usage (0000 encryption / 0001 MAC), separator 00,
  algorithm (B: 0000 2-key / 0001 3-key TDES; D: 0002 AES-128 / 0004 AES-256), key length in
  bits; one CMAC block per counter value until the key is long enough;
- the clear key data is 2 bytes of key length in bits, the key, and padding to the block;
- MAC = CMAC(KBAK, header || clear key data), 8 bytes (B) or 16 bytes (D);
- the key data is encrypted with KBEK in CBC mode, IV = the MAC.

Versions A and C (the variant binding method, deprecated since 2010) are refused, as are the
numeric proprietary versions. The caller decides what the key may become: `unwrap` checks
that the block is well formed and authentic, and reports its header, nothing more.
"""

from app import unhex
from app.crypto import cipher
from app.crypto.mac import cmac, equal

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731


# Key blocks for terminal keys are a few hundred characters; the cap keeps a hostile length
# from taking the heap (a block is copied a few times while it is checked).
_MAX_LENGTH = const(1024)
_HEADER = const(16)

# algorithm letter -> key lengths the block may carry (bytes). 'D' is the DES family as some
# HSMs label double-length keys with it; other letters are not checked here.
_KEY_LENGTHS = {"T": (16, 24), "D": (8, 16, 24), "A": (16, 24, 32)}


class KeyBlockError(ValueError):
    """A key block that is malformed, unsupported or not authentic; the message says which."""


class Header:
    """The header of a key block, as parsed.

    Attributes (str unless noted): version ('B' or 'D'), length (int, characters in the whole
    block), usage ('K0', 'P0', ...), algorithm ('T', 'D', 'A', ...), mode ('B', 'D', 'E',
    'N', ...), key_version ('00' = not versioned; 'c…' = a key component), exportability
    ('E', 'N', 'S'), count (int, optional blocks as the header states, pad block included),
    blocks (tuple of (id, data) pairs, pad block left out) and raw (the header bytes, which
    the MAC covers).
    """

    def __init__(self, raw, blocks):
        text = raw[:_HEADER].decode()
        self.raw = raw
        self.version = text[0]
        self.length = int(text[1:5])
        self.usage = text[5:7]
        self.algorithm = text[7]
        self.mode = text[8]
        self.key_version = text[9:11]
        self.exportability = text[11]
        self.count = int(text[12:14])
        self.blocks = blocks

    def block(self, block_id):
        """The data of optional block `block_id` ('KS', 'KC', ...), or None."""
        for found, data in self.blocks:
            if found == block_id:
                return data
        return None


def _digits(field):
    for c in field:
        if not 0x30 <= c <= 0x39:
            return False
    return len(field) > 0


def _alphanumeric(field):
    for c in field:
        if not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A):
            return False
    return True


def _printable(field):
    for c in field:
        if not 0x20 <= c <= 0x7E:
            return False
    return True


def _hex_value(field, what):
    # int(x, 16) would also take spaces, signs and underscores: check the characters first.
    for c in field:
        if not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x46 or 0x61 <= c <= 0x66):
            raise KeyBlockError("%s is not hex: %r" % (what, bytes(field)))
    return int(bytes(field), 16)


def _need(block, end):
    if end > len(block):
        raise KeyBlockError("key block truncated inside its header")


def _optional_blocks(block, count):
    # Each optional block: ID (2), length (2 hex, counting ID and length), data. Length 00
    # means an extended length follows: 2 hex digits giving the length of the length in bytes,
    # then that length (which counts everything from the ID on).
    pos = _HEADER
    blocks = []
    for _ in range(count):
        _need(block, pos + 4)
        block_id = block[pos : pos + 2]
        if not _alphanumeric(block_id):
            raise KeyBlockError("optional block ID %r is not alphanumeric" % bytes(block_id))
        name = bytes(block_id).decode()
        size = _hex_value(block[pos + 2 : pos + 4], "length of optional block " + name)
        start = pos + 4
        if size == 0:
            _need(block, start + 2)
            digits = 2 * _hex_value(block[start : start + 2], "length of length of " + name)
            if not digits:
                raise KeyBlockError("optional block %s has a zero length of length" % name)
            _need(block, start + 2 + digits)
            size = _hex_value(block[start + 2 : start + 2 + digits], "length of " + name)
            start += 2 + digits
        end = pos + size
        if end < start:
            raise KeyBlockError("optional block %s is shorter than its own header" % name)
        _need(block, end)
        data = block[start:end]
        if not _printable(data):
            raise KeyBlockError("optional block %s holds non-printable characters" % name)
        if name != "PB":
            blocks.append((name, bytes(data).decode()))
        pos = end
    return pos, tuple(blocks)


def _split(key_block):
    # -> (header, encrypted key data, MAC), every check that needs no key done.
    if isinstance(key_block, str):
        key_block = key_block.encode()
    block = memoryview(key_block)
    n = len(block)
    if n < _HEADER:
        raise KeyBlockError("key block truncated: %d characters, the header alone is 16" % n)
    if n > _MAX_LENGTH:
        raise KeyBlockError("key block too long: %d characters (at most %d)" % (n, _MAX_LENGTH))
    version = block[0]
    if version in b"AC":
        raise KeyBlockError("version %s key blocks are not accepted" % chr(version))
    if version not in b"BD":
        raise KeyBlockError("unsupported key block version %r: expected B or D" % chr(version))
    if not _digits(block[1:5]):
        raise KeyBlockError("bad length field %r: expected 4 digits" % bytes(block[1:5]))
    stated = int(bytes(block[1:5]))
    if stated > n:
        raise KeyBlockError("key block truncated: length field says %d, got %d" % (stated, n))
    if stated != n:
        raise KeyBlockError("bad length field: says %d, the block has %d characters" % (stated, n))
    if not _alphanumeric(block[5:12]) or not _alphanumeric(block[14:16]):
        raise KeyBlockError("key block header %r is not alphanumeric" % bytes(block[:16]))
    if not _digits(block[12:14]):
        raise KeyBlockError("bad optional block count %r" % bytes(block[12:14]))
    end, blocks = _optional_blocks(block, int(bytes(block[12:14])))
    size = 8 if version == 0x42 else 16  # cipher block: TDES (B) or AES (D)
    if end % size:
        raise KeyBlockError("header of %d characters is not a multiple of %d" % (end, size))
    mac_chars = 2 * size
    body = n - end - mac_chars
    if body < 2 * size:
        raise KeyBlockError("key block truncated: no room for key data and MAC")
    if body % (2 * size):
        raise KeyBlockError("encrypted key data is not a whole number of %d-byte blocks" % size)
    try:
        encrypted = unhex(block[end : n - mac_chars])
        received = unhex(block[n - mac_chars :])
    except ValueError:
        raise KeyBlockError("key block payload is not hex") from None
    return Header(bytes(block[:end]), blocks), encrypted, received


def parse(key_block):
    """The Header of `key_block` (str or bytes) without unwrapping it: for showing what a
    block holds before asking for its KBPK. Raises KeyBlockError if it is malformed."""
    return _split(key_block)[0]


def _derive(version, kbpk):
    # -> (KBEK, KBAK) as bytearrays, X9.143 key derivation binding method.
    n = len(kbpk)
    if version == "B":
        if n not in (16, 24):
            raise KeyBlockError("a version B KBPK must be a 16- or 24-byte TDES key, got %d" % n)
        parent = cipher.new(cipher.TDES, kbpk)
        algorithm = 0 if n == 16 else 1
        step = 8
    else:
        if n == 24:
            raise KeyBlockError("AES-192 KBPKs are not supported (cryptolib has no AES-192)")
        if n not in (16, 32):
            raise KeyBlockError("a version D KBPK must be a 16- or 32-byte AES key, got %d" % n)
        parent = cipher.new(cipher.AES, kbpk)
        algorithm = 2 if n == 16 else 4
        step = 16
    bits = 8 * n
    data = bytearray(8)
    data[4] = 0
    data[5] = algorithm
    data[6] = bits >> 8
    data[7] = bits & 0xFF
    kbek = bytearray(n)
    kbak = bytearray(n)
    counter = 1
    for start in range(0, n, step):
        data[0] = counter
        take = min(step, n - start)
        data[2] = 0
        kbek[start : start + take] = cmac(parent, data)[:take]
        data[2] = 1
        kbak[start : start + take] = cmac(parent, data)[:take]
        counter += 1
    return kbek, kbak


def _wipe(buf):
    for i in range(len(buf)):
        buf[i] = 0


def unwrap(kbpk, key_block):
    """Check and decrypt `key_block` (str or bytes) under `kbpk` (bytes).

    Returns (Header, key) with the key as a bytearray the caller should wipe when done.
    Raises KeyBlockError: unsupported version (A, C, numeric), bad length field, truncated
    block, bad optional blocks, non-hex payload, a KBPK of the wrong size, a MAC that does not
    verify (wrong KBPK or altered block), or a key length field inconsistent with the block
    or the algorithm.
    """
    header, encrypted, received = _split(key_block)
    kbek, kbak = _derive(header.version, kbpk)
    name = cipher.TDES if header.version == "B" else cipher.AES
    encryptor = cipher.new(name, kbek)
    authenticator = cipher.new(name, kbak)
    _wipe(kbek)
    _wipe(kbak)
    size = encryptor.block_size
    # CBC decryption in place (IV = the MAC), so the clear key data lives in one buffer only.
    clear = bytearray(encrypted)
    encryptor.decrypt_into(clear)
    for i in range(len(clear)):
        clear[i] ^= received[i] if i < size else encrypted[i - size]
    signed = bytearray(len(header.raw) + len(clear))
    signed[: len(header.raw)] = header.raw
    signed[len(header.raw) :] = clear
    good = equal(cmac(authenticator, signed), received)
    _wipe(signed)
    if not good:
        _wipe(clear)
        raise KeyBlockError("key block MAC does not verify (wrong KBPK, or the block was altered)")
    bits = clear[0] << 8 | clear[1]
    length = bits >> 3
    if bits & 7 or not length or length > len(clear) - 2:
        _wipe(clear)
        raise KeyBlockError(
            "key length inconsistent: %d bits in a block of %d bytes" % (bits, len(clear))
        )
    allowed = _KEY_LENGTHS.get(header.algorithm)
    if allowed is not None and length not in allowed:
        _wipe(clear)
        raise KeyBlockError(
            "key length inconsistent: a %d-byte key for algorithm %s" % (length, header.algorithm)
        )
    key = clear[2 : 2 + length]
    _wipe(clear)
    return header, key
