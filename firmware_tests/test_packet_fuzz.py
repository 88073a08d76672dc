"""Fuzzing the terminal's packet and parameter parsers (app.store.packet.verify,
app.store.params.Params.from_tlv) under CPython with hypothesis: mutated golden packets, random TLV
bodies signed with a good CRC and MAC (so the parser itself is reached, not just the MAC
check), and raw bytes. Only PacketError / ParamError may come out; anything accepted must
survive re-encoding. The number of inputs tried is printed (pytest -s) and checked."""

import binascii
import hashlib
import hmac
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.store.packet import PacketError, verify
from app.store.params import ParamError, Params

VECTORS = Path(__file__).resolve().parent / "vectors"
SEEDS = [
    (VECTORS / name).read_bytes()
    for name in ("param_packet_v1.bin", "param_packet_v1_terminal.bin", "key_packet_v1.bin")
]
SERIAL = "PK-000123"
LINK_KEY = bytes(range(32))
TRIED = {}


def sign(header, body):
    data = bytearray(header[:29])
    struct.pack_into(">H", data, 27, len(body) & 0xFFFF)
    data += body
    data += struct.pack(">I", binascii.crc32(data))
    return bytes(data + hmac.new(LINK_KEY, data, hashlib.sha256).digest())


def check_packet(data, counter):
    TRIED[counter] = TRIED.get(counter, 0) + 1
    try:
        packet = verify(data, SERIAL, LINK_KEY, 0)
    except PacketError:
        return None
    if packet.params is not None:
        again = Params.from_tlv(packet.params.to_tlv(), packet.app_index)
        assert again.items() == packet.params.items()
    else:
        assert packet.entries
    return packet


def check_body(body, app_index, counter):
    TRIED[counter] = TRIED.get(counter, 0) + 1
    try:
        params = Params.from_tlv(body, app_index)
    except ParamError:
        return
    assert Params.from_tlv(params.to_tlv(), app_index).items() == params.items()


@st.composite
def damaged(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 3))
        if op == 0:
            i = draw(st.integers(0, len(data) * 8 - 1))
            data[i // 8] ^= 1 << (i % 8)
        elif op == 1:
            data = data[: draw(st.integers(0, len(data)))]
        elif op == 2:
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            at = draw(st.integers(0, len(data) - 1))
            del data[at : at + draw(st.integers(1, 8))]
        if not data:
            break
    return bytes(data)


TAGS = st.one_of(
    st.sampled_from([0x01, 0x02, 0x03, 0x04, 0x0C, 0x24, 0x25, 0x31, 0x40, 0x41, 0x43, 0x45]),
    st.sampled_from([0x46, 0x49, 0x5A, 0x7F, 0x80, 0x81, 0xF0]),
    st.integers(0, 255),
)


@st.composite
def tlv_item(draw):
    tag = draw(TAGS)
    value = draw(st.binary(max_size=60) | st.text("0123456789.", max_size=20).map(str.encode))
    length = len(value)
    form = draw(st.integers(0, 9))
    if form == 0:  # the 2-byte form for a short value: refused as non-canonical
        head = bytes([tag, 0x80, length])
    elif form == 1:  # a lying length
        head = bytes([tag, draw(st.integers(0, 255))])
    elif length < 0x80:
        head = bytes([tag, length])
    else:
        head = bytes([tag, 0x80 | length >> 8, length & 0xFF])
    return head + value


@st.composite
def resigned(draw):
    seed = draw(st.sampled_from(SEEDS))
    header = bytearray(seed[:29])
    body = bytearray(seed[29:-36])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 3))
        if op == 0 and body:  # flip bits inside the body
            i = draw(st.integers(0, len(body) * 8 - 1))
            body[i // 8] ^= 1 << (i % 8)
        elif op == 1:  # splice in random TLV items
            at = draw(st.integers(0, len(body)))
            body[at:at] = draw(tlv_item())
        elif op == 2:  # cut the body anywhere
            body = body[: draw(st.integers(0, len(body)))]
        else:  # header fields: kind, application, version
            header[draw(st.integers(5, 6))] = draw(st.integers(0, 10))
            struct.pack_into(">I", header, 23, draw(st.integers(0, 2**32 - 1)))
    return sign(header, bytes(body))


# A fuzz campaign, cheap per input: 1,000 inputs a target in `make test` (more with the full
# profile), whatever the default profile's count for properties.
FUZZ = settings(max_examples=max(1000, settings().max_examples), deadline=None)


@FUZZ
@given(damaged())
def _damaged_packets(data):
    check_packet(data, "damaged")


@FUZZ
@given(resigned())
def _resigned_packets(data):
    check_packet(data, "resigned")


@FUZZ
@given(st.lists(tlv_item(), max_size=12).map(b"".join), st.integers(0, 9))
def _random_bodies(body, app_index):
    check_body(body, app_index, "bodies")  # index 9 is out of range: a ParamError too


@FUZZ
@given(st.binary(max_size=400))
def _raw_bytes(data):
    check_packet(data, "raw packets")
    check_body(data, 1, "raw bodies")


def report(name, minimum):
    print("\nfuzz %s: %d inputs, nothing but PacketError/ParamError" % (name, TRIED[name]))
    assert TRIED[name] >= minimum


def test_damaged_packets_are_refused_cleanly():
    _damaged_packets()
    report("damaged", 500)


def test_resigned_packets_reach_the_parsers():
    _resigned_packets()
    report("resigned", 500)


def test_random_tlv_bodies():
    _random_bodies()
    report("bodies", 500)


def test_raw_bytes():
    _raw_bytes()
    report("raw packets", 500)


@pytest.mark.slow
def test_large_seeded_campaign():
    # 200,000 deterministic mutations without hypothesis's bookkeeping: volume, not shrinking.
    rng = random.Random(20240815)
    accepted = 0
    for i in range(200_000):
        seed = SEEDS[i % 3]
        body = bytearray(seed[29:-36])
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(body) + 1)
            if rng.random() < 0.5 and body:
                body[min(at, len(body) - 1)] ^= 1 << rng.randrange(8)
            else:
                body[at:at] = bytes([rng.randrange(256), rng.randrange(40)]) + rng.randbytes(
                    rng.randrange(40)
                )
        if check_packet(sign(seed, bytes(body)), "seeded") is not None:
            accepted += 1
    print("\nfuzz seeded: %d inputs, %d accepted" % (TRIED["seeded"], accepted))
