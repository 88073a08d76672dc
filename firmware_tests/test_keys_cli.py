"""`poskit keys` and hostlib.keys: key blocks the terminal accepts, components it combines to
the same key, check values it agrees with. The device modules (app.tr31, app.keys,
app.cipher) are the other side of each format here, not a dependency of hostlib."""

import argparse
import re
import warnings

import psec.tr31
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app import cipher as device_cipher
from app import keys as device_keys
from app import tr31 as device_tr31
from app import weakkeys as device_weakkeys
from hostlib import keys
from hostlib.errors import PoskitError
from tools import keys as keys_command

warnings.filterwarnings("ignore", category=DeprecationWarning)

TMK = "70F2A84CCBC2AE8625CBB0F2C22AB923"
KBPK = "89E88CF7931444F334BD7547FC3F380C"


def poskit_keys(*argv):
    """Run `poskit keys ARGV...` as tools/cli.py will, once the command is registered."""
    parser = argparse.ArgumentParser(prog="poskit keys")
    keys_command.add_arguments(parser)
    return keys_command.run(parser.parse_args(list(argv)))


def fields(text):
    return dict(re.findall(r"^(key block|key KCV|KBPK KCV|KCV)\s+(\S+)", text, re.M))


# --- check values ---------------------------------------------------------------------------


def test_kcv_spec_values():
    assert keys.kcv("3DES", "0123456789ABCDEFFEDCBA9876543210", 4).hex().upper() == "08D7B4FB"
    assert keys.kcv("DES", "C24A8FB57AA20123", 4).hex().upper() == "0547DB3E"
    assert keys.kcv("3DES", bytes.fromhex(TMK)).hex().upper() == "47F816"


@given(
    st.sampled_from(["DES", "3DES", "SM4", "AES"]).flatmap(
        lambda name: st.tuples(
            st.just(name),
            st.sampled_from(
                {"DES": [8], "3DES": [16, 24], "SM4": [16], "AES": [16, 32]}[name]
            ).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
        )
    ),
    st.integers(1, 8),
)
def test_kcv_agrees_with_the_terminal(case, length):
    name, key = case
    assert keys.kcv(name, key, length) == device_cipher.kcv(name, key, length)


def test_kcv_of_degenerate_3des_key():
    # K1 = K2: pycryptodome's DES3 refuses it; it is a (weak) valid key on the terminal.
    key = bytes.fromhex("0123456789ABCDEF0123456789ABCDEF")
    assert keys.kcv("3DES", key) == device_cipher.kcv("3DES", key) == keys.kcv("DES", key[:8])


def test_kcv_refusals():
    with pytest.raises(keys.KeyToolError, match="3DES key must be 16 or 24 bytes, got 8"):
        keys.kcv("3DES", "0123456789ABCDEF")
    with pytest.raises(keys.KeyToolError, match="unknown key algorithm 'RC4'"):
        keys.kcv("RC4", "0123456789ABCDEF")
    with pytest.raises(PoskitError, match="key is not hex") as info:
        keys.kcv("3DES", "0123456789ABCDEFFEDCBA987654321G")
    assert "0123456789ABCDEF" not in str(info.value)


# --- components -------------------------------------------------------------------------------


def counter_rng():
    state = {"n": 0}

    def rng(n):
        state["n"] += 1
        return bytes((state["n"] * 17 + i) & 0xFF for i in range(n))

    return rng


@pytest.mark.parametrize("parts", [2, 3])
def test_components_combine_on_the_terminal(parts):
    split = keys.split_components(TMK, parts, rng=counter_rng())
    assert len(split) == parts
    assert keys.combine_components([c for c, _ in split]) == bytes.fromhex(TMK)
    key, kcvs, kcv = device_keys.combine_components([c.hex() for c, _ in split], "3DES")
    assert key == bytes.fromhex(TMK)
    assert list(kcvs) == [check.hex().upper() for _, check in split]
    assert kcv == keys.kcv("3DES", TMK).hex().upper() == "47F816"


def test_components_refusals():
    with pytest.raises(keys.KeyToolError, match="2 or 3 components"):
        keys.split_components(TMK, 4)
    with pytest.raises(keys.KeyToolError, match="SM4 key must be 16 bytes"):
        keys.split_components(TMK[:16], 2, algorithm="SM4")


# --- TR-31 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version,kbpk",
    [("D", KBPK), ("D", KBPK * 2), ("B", KBPK), ("B", KBPK + KBPK[:16])],
)
def test_tr31_wrap_loads_on_the_terminal(version, kbpk):
    block = keys.tr31_wrap(kbpk, TMK, "K0", "T", "D", version_id=version)
    header, key = device_tr31.unwrap(bytes.fromhex(kbpk), block)
    assert key == bytes.fromhex(TMK) and header.version == version
    assert (header.usage, header.algorithm, header.mode) == ("K0", "T", "D")
    assert psec.tr31.unwrap(bytes.fromhex(kbpk), block)[1] == bytes.fromhex(TMK)


def test_tr31_wrap_refusals():
    with pytest.raises(keys.KeyToolError, match="no AES-192"):
        keys.tr31_wrap(KBPK + KBPK[:16], TMK, "K0", "T", "D")
    with pytest.raises(keys.KeyToolError, match="version must be B or D"):
        keys.tr31_wrap(KBPK, TMK, "K0", "T", "D", version_id="A")
    with pytest.raises(keys.KeyToolError, match="16- or 24-byte TDES"):
        keys.tr31_wrap(KBPK * 2, TMK, "K0", "T", "D", version_id="B")
    with pytest.raises(keys.KeyToolError, match="3DES key must be 16 or 24 bytes"):
        keys.tr31_wrap(KBPK, TMK[:16], "K0", "T", "D")
    with pytest.raises(keys.KeyToolError, match="cannot build the key block"):
        keys.tr31_wrap(KBPK, TMK, "K!", "T", "D")


# --- weak keys ------------------------------------------------------------------------------

WEAK = ["0101010101010101", "FEFEFEFEFEFEFEFE", "E0E0E0E0F1F1F1F1", "1F1F1F1F0E0E0E0E"]
SEMI_WEAK = [
    "01FE01FE01FE01FE",
    "FE01FE01FE01FE01",
    "1FE01FE00EF10EF1",
    "E01FE01FF10EF10E",
    "01E001E001F101F1",
    "E001E001F101F101",
    "1FFE1FFE0EFE0EFE",
    "FE1FFE1FFE0EFE0E",
    "011F011F010E010E",
    "1F011F010E010E01",
    "E0FEE0FEF1FEF1FE",
    "FEE0FEE0FEF1FEF1",
]


def host_refusal(algorithm, key):
    try:
        keys.check_master_key(algorithm, key)
    except keys.KeyToolError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("name", WEAK + SEMI_WEAK)
def test_weak_and_semi_weak_des_keys_are_refused(name):
    kind = "weak" if name in WEAK else "semi-weak"
    key = bytes.fromhex(name)
    assert host_refusal("DES", key) == "the key is a %s DES key: refused" % kind
    # Parity bits do not make another key; in a 3DES key, any part.
    flipped = bytes([key[0] ^ 1]) + key[1:]
    assert host_refusal("DES", flipped) == "the key is a %s DES key: refused" % kind
    tmk = bytes.fromhex(TMK)
    assert host_refusal("3DES", tmk[:8] + key) == "key part 2 is a %s DES key: refused" % kind
    assert host_refusal("3DES", key + tmk[8:]) == "key part 1 is a %s DES key: refused" % kind


def test_equal_key_parts_and_zeros_are_refused():
    k1, k2 = bytes.fromhex(TMK)[:8], bytes.fromhex(TMK)[8:]
    equal = "key parts %d and %d are equal: this 3DES key is single DES, refused"
    assert host_refusal("3DES", k1 + k1) == equal % (1, 2)
    assert host_refusal("3DES", k1 + bytes(b ^ 1 for b in k1)) == equal % (1, 2)
    assert host_refusal("3DES", k1 + k2 + k2) == equal % (2, 3)
    assert host_refusal("3DES", k1 + k2 + k1) is None  # 2-key 3DES written as 3 parts
    assert host_refusal("3DES", bytes(16)) == "a key of all zeros is refused"
    assert host_refusal("SM4", k1 + k1) is None  # halves mean nothing to SM4
    assert host_refusal("SM4", bytes(16)) == "a key of all zeros is refused"


@given(
    st.lists(
        st.one_of(
            st.sampled_from(WEAK + SEMI_WEAK).map(bytes.fromhex),
            st.binary(min_size=8, max_size=8),
        ),
        min_size=1,
        max_size=3,
    ),
    st.binary(min_size=24, max_size=24),
)
def test_the_terminal_refuses_the_same_keys_for_the_same_reasons(parts, parity):
    # Keys made of weak parts, random parts and repeated parts, parity bits flipped at
    # random: the host's check and the terminal's (app.keys) say the same.
    key = bytes(b ^ (p & 1) for b, p in zip(b"".join(parts), parity))
    if len(parts) == 2 and parity[0] & 2:
        key = key[:8] + bytes(b ^ (p & 1) for b, p in zip(key[:8], parity[8:]))
    algorithm = "DES" if len(key) == 8 else "3DES"
    assume(any(key))
    assert host_refusal(algorithm, key) == device_weakkeys.weakness(key)


# --- the command ----------------------------------------------------------------------------


def test_command_tr31(capsys):
    assert poskit_keys("tr31", "--kbpk", KBPK, "--key", TMK) == 0
    out = fields(capsys.readouterr().out)
    assert out["key block"].startswith("D0112K0TD00N0000")
    assert out["key KCV"] == "47F816"
    assert out["KBPK KCV"] == keys.kcv("AES", KBPK).hex().upper()
    # What the terminal makes of it: a master key with the same KCV.
    assert device_tr31.unwrap(bytes.fromhex(KBPK), out["key block"])[1] == bytes.fromhex(TMK)


def test_command_tr31_version_b_des_key(capsys):
    args = ["tr31", "--kbpk", KBPK, "--key", "C24A8FB57AA20123", "--algorithm", "D"]
    assert poskit_keys(*args, "--version", "B", "--mode", "B", "--usage", "K1") == 0
    out = fields(capsys.readouterr().out)
    assert out["key block"].startswith("B0096K1DB00N0000")
    assert out["key KCV"] == "0547DB"
    assert out["KBPK KCV"] == keys.kcv("3DES", KBPK).hex().upper()


def test_command_asks_for_a_key_left_off(capsys, monkeypatch):
    asked = []

    def fake_getpass(prompt):
        asked.append(prompt)
        return TMK

    monkeypatch.setattr(keys_command.getpass, "getpass", fake_getpass)
    assert poskit_keys("kcv", "--algorithm", "3DES") == 0
    assert asked == ["key (hex, not echoed): "]
    out = capsys.readouterr().out
    assert out.strip() == "KCV 47F816  (3DES)"
    assert TMK not in out


def test_command_components(capsys):
    assert poskit_keys("components", "--key", TMK, "--parts", "3") == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^component (\d)  ([0-9A-F]{32})  KCV ([0-9A-F]{6})$", out, re.M)
    assert [int(n) for n, _, _ in rows] == [1, 2, 3]
    assert keys.combine_components([bytes.fromhex(c) for _, c, _ in rows]) == bytes.fromhex(TMK)
    for _, component, check in rows:
        assert keys.kcv("3DES", component).hex().upper() == check
    assert "combined key KCV 47F816  (3DES)" in out
    assert "CLEAR KEY COMPONENTS" in out


def test_command_components_help_warns(capsys):
    with pytest.raises(SystemExit):
        poskit_keys("components", "--help")
    assert "CLEAR KEY MATERIAL" in capsys.readouterr().out.replace("\n", " ")


def test_command_kcv_length(capsys):
    key = "0123456789ABCDEFFEDCBA9876543210"
    assert poskit_keys("kcv", "--key", key, "--length", "4") == 0
    assert capsys.readouterr().out.strip() == "KCV 08D7B4FB  (3DES)"
    assert poskit_keys("kcv", "--algorithm", "SM4", "--key", key) == 0
    expected = device_cipher.kcv("SM4", bytes.fromhex(key)).hex().upper()
    assert capsys.readouterr().out.strip() == "KCV %s  (SM4)" % expected


def test_command_errors_are_poskit_errors():
    with pytest.raises(PoskitError, match="KBPK is not hex"):
        poskit_keys("tr31", "--kbpk", "XYZ0", "--key", TMK)
    with pytest.raises(PoskitError, match="check value length must be 1 to 8"):
        poskit_keys("kcv", "--key", TMK, "--length", "9")
