# Fuzz target: parameter TLV bodies (app.store.params.Params.from_tlv), terminal and
# application sets, mutated byte by byte and item by item (values of every shape, tags
# changed, items dropped, repeated and added, the lengths right). Only ParamError may come
# out; a set accepted must encode to a body that decodes to the same values. The item-level
# mutations are also the packet target's (fuzz_packet).
from fuzzlib import Oracle, below, chance, choose, digits, random_bytes, text

from app.store.params import ParamError, Params, put_tlv, walk

EXPECTED = (ParamError,)
TOKENS = (b"\x00", b"\x80", b"\x81\x00", b"\xff\xff", b"0.0.0.0", b"255.255.255.255")

# Values parameters take, and values near them: choices, addresses, host names, TPDUs.
SHAPES = (
    b"3DES",
    b"DES",
    b"SM4",
    b"004",
    b"001",
    b"003",
    b"006",
    b"dialup",
    b"gprs",
    b"ethernet",
    b"primary",
    b"backup",
    b"extension",
    b"direct",
    b"cup",
    b"x9.19",
    b"x9.19-hex",
    b"ask",
    b"refuse",
    b"send",
    b"always",
    b"unbalanced",
    b"14",
    b"8",
    b"12",
    b"06",
    b"200",
    b"192.168.1.50",
    b"255.255.255.0",
    b"192.168.1.1",
    b"10.0.0.0",
    b"posp.example",
    b"-bad-.example",
    b"6000030000",
    b"60000300",
    b"CMNET",
    b"PAD1 PIK16 CV4 MAK16 CV4",
    b"\xc9\xcf\xba\xa3",
    b"\x81\x30\x81\x30",
    b"\x01",
    b"\x00\x00",
    b"\x13\x88",
)


def items(body):
    """The (tag, value) items of a body, or None when it does not walk."""
    try:
        return [(tag, bytes(value)) for tag, _, value in walk(body)]
    except ParamError:
        return None


def encode(pairs):
    buf = bytearray()
    for tag, value in pairs:
        put_tlv(buf, tag, value[:4000])
    return bytes(buf)


def new_value(value):
    op = below(6)
    if op == 0:
        return choose(SHAPES)
    if op == 1:
        return digits(below(20))
    if op == 2:
        return text(below(40))
    if op == 3:
        return bytes(random_bytes(below(6)))
    if op == 4 and value:
        raw = bytearray(value)
        raw[below(len(raw))] = choose(b"0123456789.-: \x00\x7f\x80\xff")
        return bytes(raw)
    return value + choose(SHAPES) if chance(2) else value[: below(len(value) + 1)]


def mutate_items(body):
    """A body with one to three items changed; the body unchanged if it does not walk."""
    pairs = items(body)
    if pairs is None:
        return body
    for _ in range(1 + below(3)):
        n = len(pairs)
        op = below(7)
        i = below(n)
        if op <= 2 and n:
            tag, value = pairs[i]
            pairs[i] = (tag, new_value(value))
        elif op == 3 and n:
            pairs[i] = (below(256) or 1, pairs[i][1])
        elif op == 4 and n:
            pairs.pop(i)
        elif op == 5 and n:
            pairs.insert(below(n + 1), pairs[i])
        else:
            pairs.insert(below(n + 1), (1 + below(255), new_value(b"")))
    return encode(pairs)


def packet_body(packet):
    """(TLV body, application index) of a parameter packet (docs/packets.md)."""
    length = packet[27] << 8 | packet[28]
    return packet[29 : 29 + length], packet[6]


SEEDS = ()


def setup(workdir, root):
    global SEEDS
    seeds = []
    for name in ("param_packet_v1.bin", "param_packet_v1_terminal.bin"):
        with open(root + "/firmware_tests/vectors/" + name, "rb") as f:
            body, app_index = packet_body(f.read())
        seeds.append((app_index, (body,)))
    SEEDS = tuple(seeds)


def mutate(variant, pieces):
    if chance(16):
        variant = below(10)  # a set read as another application's (or out of range)
    return variant, (mutate_items(pieces[0]),)


def run(variant, pieces):
    if variant > 8:
        try:
            Params.from_tlv(pieces[0], variant)
        except ValueError:
            return  # an application index out of range: the caller's mistake, refused
        raise Oracle("application %d accepted" % variant)
    params = Params.from_tlv(pieces[0], variant)
    again = Params.from_tlv(params.to_tlv(), variant)
    if again.items() != params.items():
        raise Oracle("an accepted set encodes to another: %r" % (again.items(),))
