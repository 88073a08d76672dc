"""app.emv.tlv on CPython against pyemv's BER-TLV codec, an independent implementation: random
trees of EMV templates and data objects encoded by pyemv read back the same through parse,
find and collect, and tlv.build encodes them to pyemv's bytes."""

from hypothesis import given
from hypothesis import strategies as st
from pyemv import tlv as pyemv_tlv

from app.emv import tlv

PRIMITIVE = (0x50, 0x57, 0x5A, 0x82, 0x87, 0x8C, 0x90, 0x94, 0x5F24, 0x9F02, 0x9F38, 0x9F4B)
PRIMITIVE += (0xDF8101, 0x9F7A)
CONSTRUCTED = (0x6F, 0xA5, 0x70, 0x77, 0xBF0C, 0x61, 0xE1)


def name(tag):
    return "%X" % tag if tag > 0xFF else "%02X" % tag


values = st.binary(max_size=300)
trees = st.recursive(
    st.dictionaries(st.sampled_from(PRIMITIVE), values, min_size=1, max_size=4),
    lambda children: st.dictionaries(
        st.sampled_from(CONSTRUCTED), children, min_size=1, max_size=3
    ).flatmap(
        lambda templates: st.dictionaries(st.sampled_from(PRIMITIVE), values, max_size=2).map(
            lambda primitives: {**primitives, **templates}
        )
    ),
    max_leaves=8,
)


def encode(tree):
    """The tree by this module's build."""
    out = b""
    for tag, value in tree.items():
        out += tlv.build(tag, encode(value) if isinstance(value, dict) else value)
    return out


def as_pyemv(tree):
    return {
        name(tag): as_pyemv(value) if isinstance(value, dict) else value
        for tag, value in tree.items()
    }


def read_back(data):
    """The tree tlv.parse reads, levels below read through iterate."""
    return {
        tag: read_back(value) if tlv.constructed(tag) else bytes(value)
        for tag, value in tlv.iterate(data)
    }


def primitives(tree, into):
    for tag, value in tree.items():
        if isinstance(value, dict):
            primitives(value, into)
        else:
            into.setdefault(tag, []).append(value)
    return into


@given(trees)
def test_pyemv_encoding_reads_back_and_build_matches_it(tree):
    data = pyemv_tlv.encode(as_pyemv(tree))
    assert encode(tree) == data
    assert read_back(data) == tree
    assert pyemv_tlv.decode(encode(tree)) == as_pyemv(tree)
    found = primitives(tree, {})
    for tag, occurrences in found.items():
        # find: depth first, so the first occurrence in the encoding's order.
        assert bytes(tlv.find(data, tag)) == occurrences[0]
    if all(len(v) == 1 for v in found.values()):
        assert {t: bytes(v) for t, v in tlv.collect(data, {}).items()} == {
            t: v[0] for t, v in found.items()
        }
    else:
        try:
            tlv.collect(data, {})
        except tlv.TlvError as exc:
            assert exc.reason == tlv.TlvError.DUPLICATE
        else:
            raise AssertionError("a repeated tag collected")
