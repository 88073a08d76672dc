# Fuzz target: TR-31 key blocks (app.crypto.tr31.unwrap and parse) under four test KBPKs (version
# B with 2- and 3-key TDES, version D with AES-128 and AES-256): blocks built here with every
# header field, optional block and key length varied and wrapped properly, then mutated as
# text, with the length field and the MAC made right again (the clear key data is decrypted
# and sealed anew under the mutated header) so the checks past the MAC are reached. Only
# KeyBlockError may come out.
import binascii

from fuzzlib import below, chance, choose, random_bytes, text

from app.crypto import cipher, tr31
from app.crypto.mac import cmac

EXPECTED = (tr31.KeyBlockError,)
TOKENS = (b" ", b"  ", b"\t", b"\n", b"0", b"00", b"0000", b"ff", b"PB", b"KS", b"00", b"9999")

KBPKS = (
    ("B", binascii.unhexlify("89E88CF7931444F334BD7547FC3F380C")),
    ("B", binascii.unhexlify("0123456789ABCDEFFEDCBA9876543210F1E2D3C4B5A69788")),
    ("D", binascii.unhexlify("89E88CF7931444F334BD7547FC3F380C")),
    ("D", binascii.unhexlify("00112233445566778899AABBCCDDEEFF0123456789ABCDEFFEDCBA9876543210")),
)
_keys = []  # per KBPK: (KBEK cipher, KBAK cipher), made once


def _derive(version, kbpk):
    # X9.143 key derivation, written here apart from the terminal's: CMAC(KBPK, counter,
    # usage 0000/0001, 00, algorithm, bits), as many blocks as the key needs.
    name = cipher.TDES if version == "B" else cipher.AES
    parent = cipher.new(name, kbpk)
    n = len(kbpk)
    algorithm = (0 if n == 16 else 1) if version == "B" else (2 if n == 16 else 4)
    out = []
    for usage in (0, 1):
        key = b""
        counter = 1
        while len(key) < n:
            data = bytes((counter, 0, usage, 0, 0, algorithm, (8 * n) >> 8, (8 * n) & 0xFF))
            key += cmac(parent, data)
            counter += 1
        out.append(cipher.new(name, key[:n]))
    return out


def _cbc(c, data, iv, decrypt=False):
    size = c.block_size
    out = bytearray(data)
    previous = bytes(iv[:size])
    for at in range(0, len(out), size):
        block = bytes(out[at : at + size])
        if decrypt:
            clear = bytearray(c.decrypt(block))
            for i in range(size):
                clear[i] ^= previous[i]
            out[at : at + size] = clear
            previous = block
        else:
            mixed = bytearray(block)
            for i in range(size):
                mixed[i] ^= previous[i]
            previous = c.encrypt(bytes(mixed))
            out[at : at + size] = previous
    return bytes(out)


def seal(variant, header, clear):
    """The key block of `header` (bytes, length field included) and clear key data, its MAC
    and encryption under KBPK `variant`."""
    kbek, kbak = _keys[variant]
    size = 8 if KBPKS[variant][0] == "B" else 16
    mac = cmac(kbak, header + clear)[:size]
    encrypted = binascii.hexlify(_cbc(kbek, clear, mac)).upper()
    return header + encrypted + binascii.hexlify(mac).upper()


def _with_length(block):
    n = len(block)
    return block[:1] + (b"%04d" % n if n <= 9999 else b"9999") + block[5:]


def build(variant):
    """A block of random but well-formed make: usage, algorithm, mode, key version,
    exportability, optional blocks (extended lengths too), key and its length field."""
    version = KBPKS[variant][0]
    size = 8 if version == "B" else 16
    blocks = []
    for _ in range(below(4)):
        data = text(below(40))
        name = choose((b"KS", b"KC", b"KP", b"TS", b"HM", b"IK", b"10", b"PB"))
        if chance(4):
            blocks.append(name + b"0002%04X" % (8 + len(data)) + data)
        else:
            blocks.append(name + b"%02X" % (4 + len(data)) + data)
    optional = b"".join(blocks)
    count = len(blocks)
    pad = (-(16 + len(optional))) % size
    if pad:
        if pad >= 4 or chance(2):
            optional += b"PB%02X" % (pad + 4 + (size if pad < 4 else 0))
        fill = (-(16 + len(optional))) % size
        optional += b"0" * fill
        count += 1
    header = (
        version.encode()
        + b"0000"
        + choose((b"K0", b"K1", b"P0", b"M3", b"D0", b"B0", b"k0"))
        + choose((b"T", b"D", b"A", b"R", b"H"))
        + choose((b"B", b"D", b"E", b"N", b"X"))
        + choose((b"00", b"01", b"c1", b"99"))
        + choose((b"E", b"N", b"S"))
        + b"%02d" % count
        + b"00"
        + optional
    )
    length = choose((8, 16, 24, 32, 1 + below(40)))
    bits = 8 * length if not chance(8) else below(65536)
    clear = bytes((bits >> 8, bits & 0xFF)) + bytes(random_bytes(length))
    clear += bytes(random_bytes((-len(clear)) % size + size * below(2)))
    block = seal(variant, header, clear)
    return _with_length(block)


def fix(variant, pieces):
    """The length field made right, and the MAC sealed anew over the header as it now is,
    when the block still splits into header, hex key data and hex MAC."""
    block = _with_length(pieces[0])
    try:
        end = len(tr31.parse(block).raw)
    except tr31.KeyBlockError:
        return (block,)
    size = 8 if KBPKS[variant][0] == "B" else 16
    try:
        encrypted = binascii.unhexlify(block[end : -2 * size])
        mac = binascii.unhexlify(block[-2 * size :])
    except ValueError:
        return (block,)
    if len(encrypted) % size or len(mac) != size or b" " in block[end:]:
        return (block,)
    clear = _cbc(_keys[variant][0], encrypted, mac, decrypt=True)
    return (seal(variant, block[:end], clear),)


def mutate(variant, pieces):
    if chance(4):
        variant = below(len(KBPKS))
    block = build(variant)
    if chance(2):
        # Blanks or a line end among the hex digits, the length field counting them: a
        # MicroPython unhexlify skips them where CPython's refuses.
        at = 16 + below(len(block) - 16)
        blanks = choose((b" ", b"  ", b"\n", b" 0", b"\t\t"))
        block = _with_length(block[:at] + blanks + block[at:])
    return variant, (block,)


SEEDS = ()


def setup(workdir, root):
    global SEEDS
    for version, kbpk in KBPKS:
        _keys.append(_derive(version, kbpk))
    seeds = []
    for variant in range(len(KBPKS)):
        version = KBPKS[variant][0]
        size = 8 if version == "B" else 16
        header = version.encode() + b"0000K0TB00N0000"
        key = bytes(range(1, 17))
        clear = b"\x00\x80" + key + bytes((-(2 + len(key))) % size)
        seeds.append((variant, (_with_length(seal(variant, header, clear)),)))
        if version == "D":
            header = b"D0000K0TD00E0200KS1800604B120F9292800000PB0C00000000"
            clear = b"\x00\xc0" + bytes(range(24)) + bytes(6)
            seeds.append((variant, (_with_length(seal(variant, header, clear)),)))
    SEEDS = tuple(seeds)


def run(variant, pieces):
    block = pieces[0]
    tr31.parse(block)
    _, key = tr31.unwrap(KBPKS[variant][1], block)
    for i in range(len(key)):
        key[i] = 0
