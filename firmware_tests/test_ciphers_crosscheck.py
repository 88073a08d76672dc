"""Cross-check the device ciphers (app.crypto.des, app.crypto.sm4) against independent libraries.

Runs under CPython, where the modules use their portable pure-Python block loop. The viper
block loop cannot run here, so it is also checked by executing its source with emulated viper
machine words: 32-bit signed (the ESP32) and 64-bit (the unix port, where the real viper code
is tested by firmware_tests/mpy/).

Example counts: max(1000, the hypothesis profile's max_examples), or POSKIT_CIPHER_EXAMPLES.
"""

import ast
import os
import sys
from pathlib import Path

import pytest
from Crypto.Cipher import DES as RefDES
from Crypto.Cipher import DES3 as RefDES3
from gmssl.sm4 import SM4_DECRYPT, SM4_ENCRYPT, CryptSM4
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1] / "device"))

from app.crypto import (
    des,
    sm4,  # noqa: E402
)
from app.crypto.des import DES  # noqa: E402
from app.crypto.sm4 import SM4  # noqa: E402


def _examples(default):
    env = os.environ.get("POSKIT_CIPHER_EXAMPLES")
    if env:
        return int(env)
    return max(default, settings().max_examples)


EXAMPLES = _examples(1000)
# The emulated viper loop is ~100x slower than the portable one; fewer, multi-block examples.
EMULATED_EXAMPLES = max(1, EXAMPLES // 2)

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def blocks(size, max_blocks=4):
    return st.integers(0, max_blocks).flatmap(
        lambda n: st.binary(min_size=n * size, max_size=n * size)
    )


def _strip_parity(key8):
    return bytes(b & 0xFE for b in key8)


def _degenerate(key):
    """pycryptodome refuses 3DES keys where K1 == K2 or K2 == K3 (parity bits ignored)."""
    parts = [_strip_parity(key[i : i + 8]) for i in range(0, len(key), 8)]
    if len(parts) == 2:
        return parts[0] == parts[1]
    return parts[0] == parts[1] or parts[1] == parts[2]


def _ref_des(key, mode, iv=None):
    kw = {} if iv is None else {"iv": iv}
    if len(key) == 8:
        return RefDES.new(key, mode, **kw)
    return RefDES3.new(key, mode, **kw)


# --- DES / 3DES vs pycryptodome ---------------------------------------------------------------


@fuzz
@given(key=st.binary(min_size=8, max_size=8), data=blocks(8))
def test_des_ecb_matches_pycryptodome(key, data):
    ours = DES(key)
    assert ours.name == "DES"
    assert ours.encrypt(data) == _ref_des(key, RefDES.MODE_ECB).encrypt(data)
    assert ours.decrypt(data) == _ref_des(key, RefDES.MODE_ECB).decrypt(data)


@fuzz
@given(key=st.binary(min_size=8, max_size=8), data=blocks(8), iv=st.binary(min_size=8, max_size=8))
def test_des_cbc_matches_pycryptodome(key, data, iv):
    ours = DES(key)
    assert ours.encrypt_cbc(data, iv) == _ref_des(key, RefDES.MODE_CBC, iv).encrypt(data)
    assert ours.decrypt_cbc(data, iv) == _ref_des(key, RefDES.MODE_CBC, iv).decrypt(data)


@fuzz
@given(
    key=st.sampled_from([16, 24]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    data=blocks(8),
)
def test_3des_ecb_matches_pycryptodome(key, data):
    assume(not _degenerate(key))
    ours = DES(key)
    assert ours.name == "3DES"
    assert ours.encrypt(data) == _ref_des(key, RefDES3.MODE_ECB).encrypt(data)
    assert ours.decrypt(data) == _ref_des(key, RefDES3.MODE_ECB).decrypt(data)


@fuzz
@given(
    key=st.sampled_from([16, 24]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    data=blocks(8),
    iv=st.binary(min_size=8, max_size=8),
)
def test_3des_cbc_matches_pycryptodome(key, data, iv):
    assume(not _degenerate(key))
    ours = DES(key)
    assert ours.encrypt_cbc(data, iv) == _ref_des(key, RefDES3.MODE_CBC, iv).encrypt(data)
    assert ours.decrypt_cbc(data, iv) == _ref_des(key, RefDES3.MODE_CBC, iv).decrypt(data)


@fuzz
@given(
    k1=st.binary(min_size=8, max_size=8),
    k3=st.binary(min_size=8, max_size=8),
    data=blocks(8),
    iv=st.binary(min_size=8, max_size=8),
)
def test_degenerate_3des_is_single_des(k1, k3, data, iv):
    # EDE with K1 == K2 collapses to E(K3); with K2 == K3 to E(K1). pycryptodome refuses such
    # keys, but a terminal must still process them (test keys, some legacy TMKs).
    cases = ((k1 + k1, k1), (k1 + k1 + k3, k3), (k1 + k3 + k3, k1))
    for key, single in cases:
        ours = DES(key)
        ref = _ref_des(single, RefDES.MODE_ECB)
        assert ours.encrypt(data) == ref.encrypt(data)
        assert ours.decrypt(data) == ref.decrypt(data)
        assert ours.encrypt_cbc(data, iv) == _ref_des(single, RefDES.MODE_CBC, iv).encrypt(data)


# --- SM4 vs gmssl -----------------------------------------------------------------------------

_NO_PADDING = 3  # gmssl pads ECB only for PKCS7 (0) and ZERO (1); anything else leaves it alone


def _gmssl_ecb(key, data, mode):
    c = CryptSM4(mode=mode, padding_mode=_NO_PADDING)
    c.set_key(key, mode)
    return c.crypt_ecb(data) if data else b""


def _gmssl_cbc_encrypt(key, data, iv):
    # gmssl's CBC always appends a PKCS7 block; the first len(data) bytes are plain CBC.
    c = CryptSM4()
    c.set_key(key, SM4_ENCRYPT)
    return c.crypt_cbc(iv, data)[: len(data)]


def _gmssl_cbc_decrypt(key, data, iv):
    # gmssl's CBC decryption strips PKCS7 padding, so build CBC from its raw ECB decryption.
    plain = bytearray(_gmssl_ecb(key, data, SM4_DECRYPT))
    chain = iv + data[:-16] if data else b""
    for i in range(len(plain)):
        plain[i] ^= chain[i]
    return bytes(plain)


@fuzz
@given(key=st.binary(min_size=16, max_size=16), data=blocks(16, 3))
def test_sm4_ecb_matches_gmssl(key, data):
    ours = SM4(key)
    assert ours.name == "SM4"
    assert ours.encrypt(data) == _gmssl_ecb(key, data, SM4_ENCRYPT)
    assert ours.decrypt(data) == _gmssl_ecb(key, data, SM4_DECRYPT)


@fuzz
@given(
    key=st.binary(min_size=16, max_size=16),
    data=blocks(16, 3),
    iv=st.binary(min_size=16, max_size=16),
)
def test_sm4_cbc_matches_gmssl(key, data, iv):
    ours = SM4(key)
    assert ours.encrypt_cbc(data, iv) == _gmssl_cbc_encrypt(key, data, iv)
    assert ours.decrypt_cbc(data, iv) == _gmssl_cbc_decrypt(key, data, iv)


# --- in-place API -----------------------------------------------------------------------------


@fuzz
@given(
    which=st.sampled_from([8, 16, 24, "sm4"]),
    seed=st.binary(min_size=24, max_size=24),
    data=st.binary(min_size=0, max_size=80),
    offset=st.integers(0, 7),
)
def test_into_matches_encrypt_on_memoryview_slices(which, seed, data, offset):
    cipher = SM4(seed[:16]) if which == "sm4" else DES(seed[:which])
    bs = cipher.block_size
    n = len(data) // bs * bs
    buf = bytearray(b"\xa5" * offset + data[:n] + b"\x5a" * 3)
    view = memoryview(buf)[offset : offset + n]
    cipher.encrypt_into(view)
    assert bytes(view) == cipher.encrypt(data[:n])
    assert buf[:offset] == b"\xa5" * offset and buf[offset + n :] == b"\x5a" * 3
    cipher.decrypt_into(view)
    assert bytes(view) == data[:n]


# --- the viper source, run with emulated machine words ----------------------------------------


class _Word:
    """A viper `int`: a machine word of `bits` bits, two's complement, arithmetic >>."""

    __slots__ = ("v", "bits")

    def __init__(self, v, bits):
        mask = (1 << bits) - 1
        v &= mask
        self.v = v - (1 << bits) if v >> (bits - 1) else v
        self.bits = bits

    def _o(self, other):
        return other.v if isinstance(other, _Word) else other

    def __xor__(self, o):
        return _Word(self.v ^ self._o(o), self.bits)

    def __or__(self, o):
        return _Word(self.v | self._o(o), self.bits)

    def __and__(self, o):
        return _Word(self.v & self._o(o), self.bits)

    def __add__(self, o):
        return _Word(self.v + self._o(o), self.bits)

    def __sub__(self, o):
        return _Word(self.v - self._o(o), self.bits)

    def __lshift__(self, o):
        return _Word(self.v << self._o(o), self.bits)

    def __rshift__(self, o):
        return _Word(self.v >> self._o(o), self.bits)

    __rxor__ = __xor__
    __ror__ = __or__
    __rand__ = __and__
    __radd__ = __add__

    def __rsub__(self, o):
        return _Word(o - self.v, self.bits)

    def __rlshift__(self, o):
        return _Word(o << self.v, self.bits)

    def __rrshift__(self, o):
        return _Word(o >> self.v, self.bits)

    def __lt__(self, o):
        return self.v < self._o(o)

    def __le__(self, o):
        return self.v <= self._o(o)

    def __gt__(self, o):
        return self.v > self._o(o)

    def __ge__(self, o):
        return self.v >= self._o(o)

    def __eq__(self, o):
        return self.v == self._o(o)

    def __hash__(self):
        return hash(self.v)

    def __bool__(self):
        return self.v != 0

    def __index__(self):
        return self.v


def _viper_namespace(module, bits):
    def to_int(x):
        return _Word(x.v if isinstance(x, _Word) else x, bits)

    class Ptr8:
        def __init__(self, obj):
            self.b = obj

        def __getitem__(self, i):
            return _Word(self.b[i.__index__()], bits)

        def __setitem__(self, i, value):
            self.b[i.__index__()] = int(value.__index__()) & 0xFF

    class Ptr32:
        # array('I'): a ptr32 load gives the word as a signed machine int
        def __init__(self, obj):
            self.a = obj

        def __getitem__(self, i):
            return _Word(self.a[i.__index__()], bits)

        def __setitem__(self, i, value):
            self.a[i.__index__()] = value.__index__() & 0xFFFFFFFF

    ns = dict(vars(module))
    ns.update(ptr8=Ptr8, ptr32=Ptr32, int=to_int)
    return ns


def _emulated_viper(module, bits):
    """Compile the module's viper `_crypt` (which CPython never defines) with emulated words."""
    tree = ast.parse(Path(module.__file__).read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "_MP":
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "_crypt":
                    assert [ast.unparse(d) for d in fn.decorator_list] == ["micropython.viper"]
                    fn.decorator_list = []
                    for arg in fn.args.args:
                        arg.annotation = None
                    ns = _viper_namespace(module, bits)
                    exec(compile(ast.Module([fn], []), module.__file__, "exec"), ns)
                    return ns["_crypt"]
    raise AssertionError("no viper _crypt in %s" % module.__file__)


VIPER_DES = {bits: _emulated_viper(des, bits) for bits in (32, 64)}
VIPER_SM4 = {bits: _emulated_viper(sm4, bits) for bits in (32, 64)}


@settings(max_examples=EMULATED_EXAMPLES, deadline=None)
@given(
    bits=st.sampled_from([32, 64]),
    key=st.sampled_from([8, 16, 24]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    data=blocks(8, 2),
    iv=st.binary(min_size=8, max_size=8),
    mode=st.sampled_from([0, 1, 2]),
)
def test_des_viper_source_matches_portable(bits, key, data, iv, mode):
    cipher = DES(key)
    ks = cipher._decryption() if mode == 2 else cipher._enc
    a, b = bytearray(data), bytearray(data)
    iv_a, iv_b = bytearray(iv), bytearray(iv)
    VIPER_DES[bits](a, ks, iv_a, mode)
    des._crypt_portable(b, ks, iv_b, mode)
    assert (a, iv_a) == (b, iv_b)


@settings(max_examples=EMULATED_EXAMPLES, deadline=None)
@given(
    bits=st.sampled_from([32, 64]),
    key=st.binary(min_size=16, max_size=16),
    data=blocks(16, 2),
    iv=st.binary(min_size=16, max_size=16),
    mode=st.sampled_from([0, 1, 2]),
)
def test_sm4_viper_source_matches_portable(bits, key, data, iv, mode):
    cipher = SM4(key)
    ks = cipher._decryption() if mode == 2 else cipher._enc
    a, b = bytearray(data), bytearray(data)
    iv_a, iv_b = bytearray(iv), bytearray(iv)
    VIPER_SM4[bits](a, ks, iv_a, mode)
    sm4._crypt_portable(b, ks, iv_b, mode)
    assert (a, iv_a) == (b, iv_b)


def test_emulated_words_behave_like_a_32_bit_target():
    # The emulation itself: the 0xFFFFFFFF mask built as the viper code does is -1 on 32 bits,
    # a left shift drops high bits and >> is arithmetic.
    w = _Word(0xFFFF, 32)
    assert ((w << 16) | 0xFFFF).v == -1
    assert (_Word(0x80000000, 32) >> 4).v == -0x08000000
    assert (_Word(0x12345678, 32) << 8).v == 0x34567800
    assert ((_Word(0xFFFF, 64) << 16) | 0xFFFF).v == 0xFFFFFFFF


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, exc, words",
    [
        (lambda: DES(b"12345"), ValueError, ["8, 16 or 24", "got 5"]),
        (lambda: DES(bytes(32)), ValueError, ["8, 16 or 24", "got 32"]),
        (lambda: DES("12345678"), TypeError, ["bytes", "str"]),
        (lambda: SM4(bytes(15)), ValueError, ["16 bytes", "got 15"]),
        (lambda: SM4("0123456789abcdef"), TypeError, ["bytes", "str"]),
        (lambda: DES(bytes(8)).encrypt(bytes(13)), ValueError, ["13", "multiple", "8-byte"]),
        (lambda: SM4(bytes(16)).decrypt(bytes(17)), ValueError, ["17", "multiple", "16-byte"]),
        (lambda: DES(bytes(16)).encrypt_cbc(bytes(8), bytes(7)), ValueError, ["IV", "8", "7"]),
        (lambda: SM4(bytes(16)).decrypt_cbc(bytes(16), bytes(8)), ValueError, ["IV", "16", "8"]),
        (lambda: DES(bytes(8)).encrypt_into(bytes(8)), TypeError, ["bytearray", "bytes"]),
        (lambda: DES(bytes(8)).encrypt_into(memoryview(bytes(8))), TypeError, ["read-only"]),
        (lambda: SM4(bytes(16)).encrypt_into(bytearray(15)), ValueError, ["15", "16-byte"]),
        (lambda: DES(bytes(8)).encrypt(8), TypeError, ["data", "bytes", "int"]),
    ],
)
def test_bad_input_is_refused_with_a_readable_message(make, exc, words):
    with pytest.raises(exc) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_raw_key_is_not_kept():
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    for cipher in (DES(key), SM4(key), DES(key[:8])):
        for value in vars(cipher).values():
            if isinstance(value, (bytes, bytearray)):
                assert key[:8] not in value
