"""Cross-check the device's TR-31 unwrap (app.crypto.tr31) against psec.tr31.wrap/unwrap.

Random KBPKs (B: 2- and 3-key TDES; D: AES-128 and AES-256, the terminal has no AES-192),
keys of every length each version carries, usages, modes, key versions, optional blocks
(short and extended length) and masked key lengths. Then single-character damage: the device
and psec must agree on every damaged block, accepting (only case changes of hex digits can
be accepted) with the same key or refusing.
"""

import warnings

import psec.tr31
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.crypto import tr31

warnings.filterwarnings("ignore", category=DeprecationWarning)

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
USAGES = ["K0", "K1", "P0", "M3", "M1", "D0", "B0", "E0", "V2", "C0"]


@st.composite
def key_blocks(draw):
    version = draw(st.sampled_from("BD"))
    if version == "B":
        kbpk = draw(st.binary(min_size=16, max_size=16) | st.binary(min_size=24, max_size=24))
        algorithm, size = draw(st.sampled_from([("T", 16), ("T", 24), ("D", 8)]))
    else:
        kbpk = draw(st.binary(min_size=16, max_size=16) | st.binary(min_size=32, max_size=32))
        algorithm, size = draw(
            st.sampled_from([("A", 16), ("A", 24), ("A", 32), ("T", 16), ("T", 24)])
        )
    key = draw(st.binary(min_size=size, max_size=size))
    header = psec.tr31.Header(
        version,
        draw(st.sampled_from(USAGES)),
        algorithm,
        draw(st.sampled_from("BCDEGNSVX")),
        draw(st.sampled_from(["00", "12", "c1", "A9"])),
        draw(st.sampled_from("ENS")),
    )
    ids = draw(
        st.lists(
            st.text(ALNUM, min_size=2, max_size=2).filter(lambda s: s.upper() != "PB"),
            max_size=3,
            unique=True,
        )
    )
    for block_id in ids:
        header.blocks[block_id] = draw(st.text(PRINTABLE, max_size=40))
    if draw(st.integers(0, 9)) == 0:
        header.blocks["HM"] = draw(st.text(PRINTABLE, min_size=252, max_size=300))  # extended
    masked = draw(st.none() | st.integers(size, 32))
    block = psec.tr31.wrap(kbpk, header, key, masked)
    return kbpk, key, block


@given(key_blocks())
def test_unwrap_matches_psec(case):
    kbpk, key, block = case
    header, got = tr31.unwrap(kbpk, block)
    assert got == key
    reference = psec.tr31.KeyBlock(kbpk)
    assert reference.unwrap(block) == key
    ref = reference.header
    assert header.version == ref.version_id
    assert header.length == len(block)
    assert (header.usage, header.algorithm, header.mode) == (
        ref.key_usage,
        ref.algorithm,
        ref.mode_of_use,
    )
    assert (header.key_version, header.exportability) == (ref.version_num, ref.exportability)
    assert dict(header.blocks) == dict(ref.blocks.items())
    assert tr31.parse(block).raw == header.raw


def _psec_unwrap(kbpk, block):
    try:
        return psec.tr31.unwrap(kbpk, block)[1]
    except (psec.tr31.KeyBlockError, psec.tr31.HeaderError, ValueError):
        return None


def _device_unwrap(kbpk, block):
    try:
        return bytes(tr31.unwrap(kbpk, block)[1])
    except tr31.KeyBlockError:
        return None


@given(key_blocks(), st.data())
def test_damage_refused_alike(case, data):
    kbpk, key, block = case
    i = data.draw(st.integers(0, len(block) - 1))
    c = data.draw(st.sampled_from("0123456789ABCDEFKPTNXabcz-"))
    assume(c.upper() != block[i].upper())
    damaged = block[:i] + c + block[i + 1 :]
    got = _device_unwrap(kbpk, damaged)
    assert got is None or got == key
    assert got == _psec_unwrap(kbpk, damaged)


@given(key_blocks(), st.binary(min_size=16, max_size=16))
def test_wrong_kbpk_refused(case, other):
    kbpk, _, block = case
    assume(other != kbpk[:16])
    if len(kbpk) == 24:
        other = other + kbpk[16:]
    elif len(kbpk) == 32:
        other = other + kbpk[16:]
    with pytest.raises(tr31.KeyBlockError, match="MAC does not verify"):
        tr31.unwrap(other, block)


@given(key_blocks(), st.integers(1, 200))
def test_truncation_refused(case, cut):
    kbpk, _, block = case
    with pytest.raises(tr31.KeyBlockError):
        tr31.unwrap(kbpk, block[: max(0, len(block) - cut)])


@pytest.mark.parametrize("version", ["A", "C"])
def test_variant_versions_refused(version):
    block = psec.tr31.wrap(b"\x11" * 16, version + "0000K0TD00N0000", b"\x22" * 16)
    assert psec.tr31.unwrap(b"\x11" * 16, block)[1] == b"\x22" * 16
    with pytest.raises(
        tr31.KeyBlockError, match="version %s key blocks are not accepted" % version
    ):
        tr31.unwrap(b"\x11" * 16, block)


def test_aes192_kbpk_refused_with_reason():
    block = psec.tr31.wrap(b"\x11" * 24, "D0000K0TD00N0000", b"\x22" * 16)
    with pytest.raises(tr31.KeyBlockError, match="AES-192"):
        tr31.unwrap(b"\x11" * 24, block)
