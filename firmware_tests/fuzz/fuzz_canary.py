# A parser with a planted bug, for the harness's own test (firmware_tests/test_fuzz.py): the
# campaign must find it, and the input it prints must make it happen again. Not a target of
# `make fuzz`.
from fuzzlib import Oracle

EXPECTED = (ValueError,)
SEEDS = ()


def setup(workdir, root):
    global SEEDS
    SEEDS = ((0, (b"\x00\x05HELLO",)),)


def fix(variant, pieces):
    data = pieces[0]
    n = max(len(data) - 2, 0) & 0xFFFF
    return (bytes((n >> 8, n & 0xFF)) + data[2:],)


def run(variant, pieces):
    data = pieces[0]
    if len(data) < 2 or data[0] << 8 | data[1] != len(data) - 2:
        raise ValueError("length")
    text = data[2:]
    if not text.startswith(b"HE"):
        raise ValueError("not a greeting")
    if b"\x00" in text:
        return {}[text]  # the planted bug: a KeyError past every check
    if text == b"HEHEHE":
        raise Oracle("laughing")
