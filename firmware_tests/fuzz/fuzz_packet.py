# Fuzz target: parameter and key packets (app.store.packet.verify) as the terminal checks them
# before storing anything: the golden packets mutated in their header, body TLV and bytes, then
# signed again (body length, CRC32 and HMAC-SHA256 under the test link key recomputed) so the
# checks past the MAC are reached. Only PacketError may come out of verify; a parameter set
# accepted must encode again to the same values, and each key block of a key packet accepted is
# unwrapped under the test KBPK (KeyBlockError only).
import binascii
import struct

from fuzz_params import TOKENS, mutate_items  # noqa: F401 (the packet's tokens too)
from fuzzlib import Oracle, below, chance, choose

from app.crypto import tr31
from app.crypto.mac import hmac_sha256
from app.store.packet import PacketError, verify
from app.store.params import Params

EXPECTED = (PacketError, tr31.KeyBlockError)
SERIAL = "PK-000123"
LINK_KEY = bytes(range(32))
KBPK = binascii.unhexlify("89E88CF7931444F334BD7547FC3F380C")


def sign(packet):
    """`packet` with its body length, CRC and MAC made right for its header and body."""
    if len(packet) < 29 + 36:
        return packet
    body = packet[29:-36]
    data = bytearray(packet[:29])
    struct.pack_into(">H", data, 27, len(body) & 0xFFFF)
    data.extend(body)
    data.extend(struct.pack(">I", binascii.crc32(data) & 0xFFFFFFFF))
    data.extend(hmac_sha256(LINK_KEY, data))
    return bytes(data)


SEEDS = ()


def setup(workdir, root):
    global SEEDS
    seeds = []
    for name in ("param_packet_v1.bin", "param_packet_v1_terminal.bin", "key_packet_v1.bin"):
        with open(root + "/firmware_tests/vectors/" + name, "rb") as f:
            seeds.append((0, (f.read(),)))
    SEEDS = tuple(seeds)


def mutate(variant, pieces):
    packet = bytearray(pieces[0])
    if len(packet) < 65:
        return variant, pieces
    op = below(4)
    if op == 0:
        # A header field: format, kind, application, serial, version.
        at = choose((4, 5, 6, 7, 15, 22, 23, 26))
        packet[at] = choose((0, 1, 2, 3, 8, 9, 0x7F, 0xFF))
    elif op == 1 and chance(2):
        packet[23:27] = struct.pack(">I", choose((0, 1, 2, 0xFFFFFFFF, 0x80000000)))
    else:
        packet[29:-36] = mutate_items(bytes(packet[29:-36]))
    return variant, (bytes(packet),)


def fix(variant, pieces):
    return (sign(pieces[0]),)


def run(variant, pieces):
    packet = verify(pieces[0], SERIAL, LINK_KEY, 0)
    if packet.params is not None:
        again = Params.from_tlv(packet.params.to_tlv(), packet.app_index)
        if again.items() != packet.params.items():
            raise Oracle("an accepted set encodes to another")
    for _, block, _ in packet.entries or ():
        _, key = tr31.unwrap(KBPK, block)
        for i in range(len(key)):
            key[i] = 0
