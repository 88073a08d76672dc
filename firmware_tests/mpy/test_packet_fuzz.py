# Fuzzing the packet verifier on MicroPython in an ESP32-WROOM's heap (110 KB): seeded,
# deterministic mutations of the golden vectors, half of them re-signed (CRC and MAC good) so
# that the TLV and parameter parsers are reached. Only PacketError may come out; anything
# accepted must re-encode to a set that verifies again with the same values.
import binascii
import gc
import struct

from app.crypto.mac import hmac_sha256
from app.store.packet import PacketError, verify
from app.store.params import Params

VECTORS = __file__.rsplit("/", 2)[0] + "/vectors/"
SERIAL = "PK-000123"
LINK_KEY = bytes(range(32))


def read(name):
    with open(VECTORS + name, "rb") as f:
        return f.read()


SEEDS = (
    read("param_packet_v1.bin"),
    read("param_packet_v1_terminal.bin"),
    read("key_packet_v1.bin"),
)


class Random:
    """xorshift32: the same mutations on every run and every port."""

    def __init__(self, seed):
        self.state = seed or 1

    def next(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def below(self, n):
        return self.next() % n if n > 0 else 0

    def bytes(self, n):
        return bytes(self.next() & 0xFF for _ in range(n))


def sign(header, body):
    data = bytearray(header[:29])
    struct.pack_into(">H", data, 27, len(body) & 0xFFFF)
    data.extend(body)
    data.extend(struct.pack(">I", binascii.crc32(data) & 0xFFFFFFFF))
    data.extend(hmac_sha256(LINK_KEY, data))
    return data


def mutate_bytes(rng, data):
    data = bytearray(data)
    op = rng.below(6)
    if op == 0 and data:  # flip 1 to 4 bits
        for _ in range(1 + rng.below(4)):
            data[rng.below(len(data))] ^= 1 << rng.below(8)
    elif op == 1:  # truncate
        data = data[: rng.below(len(data) + 1)]
    elif op == 2:  # insert random bytes
        at = rng.below(len(data) + 1)
        data = data[:at] + rng.bytes(1 + rng.below(8)) + data[at:]
    elif op == 3 and data:  # delete a range
        at = rng.below(len(data))
        data = data[:at] + data[at + 1 + rng.below(8) :]
    elif op == 4 and data:  # set a byte to a boundary value
        data[rng.below(len(data))] = (0x00, 0x7F, 0x80, 0x81, 0xFF)[rng.below(5)]
    else:  # duplicate a slice (repeats TLV items)
        at = rng.below(len(data) + 1)
        data = data[:at] + data[at : at + rng.below(24)] + data[at:]
    return data


def random_item(rng):
    tag = (0x01, 0x02, 0x03, 0x41, 0x43, 0x45, 0x4A, 0x7E, 0x80, 0xF0, rng.below(256))[
        rng.below(11)
    ]
    length = (0, 1, 2, 10, 15, 49, 127, 128, rng.below(300))[rng.below(9)]
    value = rng.bytes(length) if rng.below(2) else b"0" * length
    if length < 0x80:
        return bytes((tag, length)) + value
    return bytes((tag, 0x80 | length >> 8, length & 0xFF)) + value


def mutate(rng, seed):
    choice = rng.below(4)
    if choice == 0:  # damage anywhere: CRC, MAC or framing must catch it
        return mutate_bytes(rng, seed)
    header = bytearray(seed[:29])
    body = seed[29:-36]
    if choice == 1:  # the body, re-signed
        body = mutate_bytes(rng, body)
    elif choice == 2:  # random TLV items spliced in, re-signed
        for _ in range(1 + rng.below(3)):
            at = rng.below(len(body) + 1)
            body = body[:at] + random_item(rng) + body[at:]
    else:  # header fields, re-signed
        header[4 + rng.below(3)] = (0, 1, 2, 3, 8, 9, 255)[rng.below(7)]
        if rng.below(2):
            struct.pack_into(">I", header, 23, rng.next())
    return sign(header, body)


def campaign(count, seed):
    rng = Random(seed)
    reasons = {}
    accepted = 0
    for i in range(count):
        data = mutate(rng, SEEDS[i % len(SEEDS)])
        try:
            packet = verify(data, SERIAL, LINK_KEY, 0)
        except PacketError as exc:
            reasons[exc.reason] = reasons.get(exc.reason, 0) + 1
            continue
        accepted += 1
        if packet.params is not None:
            again = Params.from_tlv(packet.params.to_tlv(), packet.app_index)
            assert again.items() == packet.params.items()
        else:
            assert packet.entries
        if i % 64 == 0:
            gc.collect()
    return accepted, reasons


def report(count, accepted, reasons):
    print("fuzz: %d inputs, %d accepted, refused by reason: %s" % (count, accepted, reasons))


def test_seeded_mutations_only_refuse_cleanly():
    accepted, reasons = campaign(3000, 20240815)
    report(3000, accepted, reasons)
    # The mutations reach the body parsers, not only the CRC and MAC checks.
    for reason in ("crc", "mac", "tlv", "tag", "duplicate", "value", "truncated"):
        assert reasons.get(reason, 0) > 0, (reason, reasons)


def test_seeded_mutations_long_campaign_slow():
    accepted, reasons = campaign(30000, 7)
    report(30000, accepted, reasons)
