"""Cross-check the terminal's sign-on key loading (app.keys.slots) against field 62 blocks built
independently with pycryptodome (DES/3DES) and gmssl (SM4) from the layouts of spec §3.3:
random master and working keys in every mode, and random check value damage, which must be
refused naming exactly the damaged keys while the previous keys stay in use."""

from Crypto.Cipher import DES
from gmssl.sm4 import SM4_ENCRYPT, CryptSM4
from hypothesis import assume, given
from hypothesis import strategies as st

from app.keys import slots as keys
from hostlib import keys as host_keys


class MemoryStore:
    """The RecordStore contract (save/load/delete) in a dict; app.store.records has its own
    tests."""

    def __init__(self):
        self.records = {}
        self.saves = 0

    def save(self, name, payload, version=1):
        self.saves += 1
        self.records[name] = (version, bytes(payload))

    def load(self, name):
        return self.records.get(name)

    def delete(self, name):
        self.records.pop(name, None)


def encrypt(algorithm, key, data):
    if algorithm == "SM4":
        sm4 = CryptSM4(SM4_ENCRYPT, padding_mode=3)
        sm4.set_key(key, SM4_ENCRYPT)
        return bytes(sm4.crypt_ecb(data))
    if len(key) == 8:
        return DES.new(key, DES.MODE_ECB).encrypt(data)
    return b"".join(
        # EDE by hand: DES3 refuses keys with equal halves, which the terminal accepts.
        DES.new(key[:8], DES.MODE_ECB).encrypt(
            DES.new(key[8:16], DES.MODE_ECB).decrypt(
                DES.new(key[:8], DES.MODE_ECB).encrypt(data[i : i + 8])
            )
        )
        for i in range(0, len(data), 8)
    )


def check_value(algorithm, key):
    return encrypt(algorithm, key, bytes(16 if algorithm == "SM4" else 8))[:4]


# mode -> TMK algorithm, working key algorithm, (usage, key length) in field order
MODES = {
    "001": ("3DES", "DES", [("PIK", 8), ("MAK", 8)]),
    "003": ("3DES", "3DES", [("PIK", 16), ("MAK", 16)]),
    "004": ("3DES", None, [("PIK", 16), ("MAK", 8), ("TDK", 16)]),
    "SM4": ("SM4", "SM4", [("PIK", 16), ("MAK", 16), ("TDK", 16)]),
}


def build_field62(mode, tmk, working):
    """Field 62 as spec §3.3 lays it out; the 004 MAK is 8 bytes then 8 zero bytes."""
    tmk_algorithm = MODES[mode][0]
    out = b""
    for usage, key in working:
        algorithm = "SM4" if mode == "SM4" else ("DES" if len(key) == 8 else "3DES")
        encrypted = encrypt(tmk_algorithm, tmk, key)
        if mode == "004" and usage == "MAK":
            encrypted += bytes(8)
        out += encrypted + check_value(algorithm, key)
    return out


def acceptable_tmk(key):
    """Not a key the terminal refuses as a master key (all zeros, weak DES parts, equal
    halves: hostlib.keys.check_master_key, which test_keys_cli checks against app.keys.slots)."""
    try:
        host_keys.check_master_key("3DES", key)
    except host_keys.KeyToolError:
        return False
    return True


@st.composite
def sign_ons(draw):
    mode = draw(st.sampled_from(sorted(MODES)))
    tmk = draw(st.binary(min_size=16, max_size=16).filter(acceptable_tmk))
    working = [(usage, draw(st.binary(min_size=n, max_size=n))) for usage, n in MODES[mode][2]]
    return mode, tmk, working


@given(sign_ons())
def test_working_keys_load_as_built(case):
    mode, tmk, working = case
    store = keys.KeyStore(MemoryStore(), bytes(range(16)))
    store.set_tmk(1, 1, tmk, MODES[mode][0])
    field62 = build_field62(mode, tmk, working)
    got = store.load_working_keys(1, 1, field62, mode)
    expected = []
    for usage, key in working:
        algorithm = "SM4" if mode == "SM4" else ("DES" if len(key) == 8 else "3DES")
        expected.append((usage, check_value(algorithm, key).hex().upper()))
        block = bytes(range(16 if algorithm == "SM4" else 8))
        assert store.cipher(1, usage).encrypt(block) == encrypt(algorithm, key, block)
    assert list(got) == expected


@given(sign_ons(), st.sets(st.integers(0, 2), min_size=1))
def test_damaged_check_values_refused_by_name(case, damaged):
    mode, tmk, working = case
    damaged = sorted(i for i in damaged if i < len(working))
    assume(damaged)
    records = MemoryStore()
    store = keys.KeyStore(records, bytes(range(16)))
    store.set_tmk(1, 1, tmk, MODES[mode][0])
    good = build_field62(mode, tmk, working)
    store.load_working_keys(1, 1, good, mode)
    before = dict(records.records)
    field62 = bytearray(good)
    step = len(good) // len(working)
    for i in damaged:
        field62[step * i + step - 1] ^= 0x5A  # last byte of that key's check value
    try:
        store.load_working_keys(1, 1, bytes(field62), mode)
    except keys.KeyCheckError as exc:
        names = ", ".join(working[i][0] for i in damaged)
        assert str(exc) == "key check failed: " + names
    else:
        raise AssertionError("damaged check values accepted")
    assert records.records == before
    usage, key = working[0]
    algorithm = "SM4" if mode == "SM4" else ("DES" if len(key) == 8 else "3DES")
    block = bytes(16 if algorithm == "SM4" else 8)
    assert store.cipher(1, usage).encrypt(block) == encrypt(algorithm, key, block)
