"""`poskit keys` and hostlib.keys: key blocks the terminal accepts, components it combines to
the same key, check values it agrees with. The device modules (app.crypto.tr31, app.keys.slots,
app.crypto.cipher) are the other side of each format here, not a dependency of hostlib."""

import argparse
import os
import re
import warnings
from pathlib import Path

import psec.tr31
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.crypto import cipher as device_cipher
from app.crypto import tr31 as device_tr31
from app.crypto import weakkeys as device_weakkeys
from app.keys import slots as device_keys
from hostlib import keys, packets, secretinput
from hostlib.errors import PoskitError
from hostlib.keystore import KeyStore
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
    # random: the host's check and the terminal's (app.keys.slots) say the same.
    key = bytes(b ^ (p & 1) for b, p in zip(b"".join(parts), parity))
    if len(parts) == 2 and parity[0] & 2:
        key = key[:8] + bytes(b ^ (p & 1) for b, p in zip(key[:8], parity[8:]))
    algorithm = "DES" if len(key) == 8 else "3DES"
    assume(any(key))
    assert host_refusal(algorithm, key) == device_weakkeys.weakness(key)


# --- the command ----------------------------------------------------------------------------


def secret(tmp_path, name, value):
    """A file holding one key, readable by its owner only."""
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


def test_command_tr31(capsys, tmp_path):
    kbpk, key = secret(tmp_path, "kbpk", KBPK), secret(tmp_path, "key", TMK)
    assert poskit_keys("tr31", "--kbpk-file", kbpk, "--key-file", key) == 0
    out = fields(capsys.readouterr().out)
    assert out["key block"].startswith("D0112K0TD00N0000")
    assert out["key KCV"] == "47F816"
    assert out["KBPK KCV"] == keys.kcv("AES", KBPK).hex().upper()
    # What the terminal makes of it: a master key with the same KCV.
    assert device_tr31.unwrap(bytes.fromhex(KBPK), out["key block"])[1] == bytes.fromhex(TMK)


def test_command_tr31_version_b_des_key(capsys, tmp_path):
    kbpk, key = secret(tmp_path, "kbpk", KBPK), secret(tmp_path, "key", "C24A8FB57AA20123")
    args = ["tr31", "--kbpk-file", kbpk, "--key-file", key, "--algorithm", "D"]
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

    monkeypatch.setattr(secretinput, "terminal_available", lambda: True)
    monkeypatch.setattr(secretinput.getpass, "getpass", fake_getpass)
    assert poskit_keys("kcv", "--algorithm", "3DES") == 0
    assert poskit_keys("kcv", "--algorithm", "3DES", "--key") == 0  # --key alone: ask too
    assert asked == ["key (hex, not echoed): "] * 2
    out = capsys.readouterr().out
    assert out.splitlines() == ["KCV 47F816  (3DES)"] * 2
    assert TMK not in out


def test_command_with_no_terminal_to_ask_says_what_to_give(monkeypatch):
    monkeypatch.setattr(secretinput, "terminal_available", lambda: False)
    with pytest.raises(PoskitError, match="no terminal to ask for the KBPK: give --kbpk-fd N"):
        poskit_keys("tr31")
    with pytest.raises(PoskitError, match="no terminal to ask for the TMK: give --tmk-fd N"):
        poskit_keys(
            "packet", "--serial", "S", "--app", "1", "--slot", "1", "--version", "1", "-o", "x.bin"
        )


@pytest.mark.parametrize(
    "argv",
    [
        ["tr31", "--kbpk", KBPK],
        ["tr31", "--key", TMK],
        ["components", "--key", TMK],
        ["kcv", "--key", TMK],
        ["packet", "--serial", "S", "--app", "1", "--slot", "1", "--version", "1", "--tmk", TMK],
    ],
)
def test_a_key_on_the_command_line_is_refused_without_repeating_it(argv, capsys):
    with pytest.raises(SystemExit) as info:
        poskit_keys(*argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "takes no value (on a command line, ps and the shell's history show it" in err
    assert KBPK not in err and TMK not in err


def test_command_reads_keys_from_file_descriptors_in_order(capsys):
    read, write = os.pipe()
    os.write(write, ("%s\n%s\n" % (KBPK, TMK)).encode())
    os.close(write)
    try:
        assert poskit_keys("tr31", "--kbpk-fd", str(read), "--key-fd", str(read)) == 0
    finally:
        os.close(read)
    out = fields(capsys.readouterr().out)
    assert out["key KCV"] == "47F816" and out["KBPK KCV"] == keys.kcv("AES", KBPK).hex().upper()


def test_command_components(capsys, tmp_path):
    assert poskit_keys("components", "--key-file", secret(tmp_path, "k", TMK), "--parts", "3") == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^component (\d)  ([0-9A-F]{32})  KCV ([0-9A-F]{6})$", out, re.M)
    assert [int(n) for n, _, _ in rows] == [1, 2, 3]
    assert keys.combine_components([bytes.fromhex(c) for _, c, _ in rows]) == bytes.fromhex(TMK)
    for _, component, check in rows:
        assert keys.kcv("3DES", component).hex().upper() == check
    assert "combined key KCV 47F816  (3DES)" in out
    assert "CLEAR KEY COMPONENTS" in out
    assert TMK not in out


def test_command_components_help_warns(capsys):
    with pytest.raises(SystemExit):
        poskit_keys("components", "--help")
    assert "CLEAR KEY MATERIAL" in capsys.readouterr().out.replace("\n", " ")


def test_command_kcv_length(capsys, tmp_path):
    key = secret(tmp_path, "k", "0123456789ABCDEFFEDCBA9876543210")
    assert poskit_keys("kcv", "--key-file", key, "--length", "4") == 0
    assert capsys.readouterr().out.strip() == "KCV 08D7B4FB  (3DES)"
    assert poskit_keys("kcv", "--algorithm", "SM4", "--key-file", key) == 0
    expected = device_cipher.kcv("SM4", bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"))
    assert capsys.readouterr().out.strip() == "KCV %s  (SM4)" % expected.hex().upper()


def test_command_errors_are_poskit_errors(tmp_path):
    with pytest.raises(PoskitError, match="KBPK is not hex"):
        poskit_keys(
            "tr31",
            "--kbpk-file",
            secret(tmp_path, "b", "XYZ0"),
            "--key-file",
            secret(tmp_path, "k", TMK),
        )
    with pytest.raises(PoskitError, match="check value length must be 1 to 8"):
        poskit_keys("kcv", "--key-file", secret(tmp_path, "k", TMK), "--length", "9")
    with pytest.raises(PoskitError, match="k2 holds 2 lines: one key a file"):
        poskit_keys("kcv", "--key-file", secret(tmp_path, "k2", TMK + "\n" + TMK))


def test_weak_keys_are_refused_before_anything_is_made(tmp_path, capsys):
    weak = secret(tmp_path, "weak", TMK[:16] * 2)
    kbpk = secret(tmp_path, "kbpk", KBPK)
    packet = "packet --serial S --app 1 --slot 1 --version 1 -o".split()
    for argv in (
        ["tr31", "--kbpk-file", kbpk, "--key-file", weak],
        ["components", "--key-file", weak],
        [*packet, str(tmp_path / "p.bin"), "--tmk-file", weak],
    ):
        with pytest.raises(PoskitError, match="key parts 1 and 2 are equal"):
            poskit_keys(*argv)
    weak_kbpk = secret(tmp_path, "wk", KBPK[:16] * 2)
    with pytest.raises(PoskitError, match="the KBPK: key parts 1 and 2 are equal"):
        poskit_keys(
            "tr31",
            "--kbpk-file",
            weak_kbpk,
            "--key-file",
            secret(tmp_path, "k", TMK),
            "--version",
            "B",
        )
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "p.bin").exists()


# --- key packets: the application's algorithm ---------------------------------------------

JOB = Path(__file__).resolve().parents[1] / "docs" / "examples" / "job.toml"


@pytest.fixture
def keystore(tmp_path, monkeypatch):
    monkeypatch.setenv("POSKIT_KEYSTORE_PASSPHRASE", "correct horse battery")
    path = tmp_path / "ks.json"
    store = KeyStore.open(path, "correct horse battery", create=True)
    store.add_terminal("PK-000123")
    store.save()
    return str(path)


def packet(tmp_path, keystore, *options, key=TMK):
    return poskit_keys(
        "packet",
        "--serial",
        "PK-000123",
        "--app",
        *options,
        "--version",
        "1",
        "--tmk-file",
        secret(tmp_path, "tmk", key),
        "--keystore",
        keystore,
        "-o",
        str(tmp_path / "k.bin"),
    )


def carried(tmp_path, keystore):
    """(slot, TR-31 algorithm letter, clear key) of the one key a packet carries."""
    parsed = packets.parse((tmp_path / "k.bin").read_bytes())
    (entry,) = packets.decode_keys(parsed.body)
    kbpk = KeyStore.open(keystore, "correct horse battery").terminal("PK-000123")["kbpk"]
    header, key = device_tr31.unwrap(kbpk, entry.key_block)
    return entry.slot, header.algorithm, bytes(key)


def test_packet_takes_the_algorithm_and_slot_from_the_job(tmp_path, keystore, capsys):
    assert packet(tmp_path, keystore, "1", "--job", str(JOB)) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "slot 1  3DES  KCV 47F816"
    assert carried(tmp_path, keystore) == (1, "T", bytes.fromhex(TMK))


def test_packet_for_a_des_application(tmp_path, keystore, capsys):
    des = "C24A8FB57AA20123"
    assert packet(tmp_path, keystore, "1", "--slot", "4", "--algorithm", "DES", key=des) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "slot 4  DES  KCV 0547DB"
    assert carried(tmp_path, keystore) == (4, "D", bytes.fromhex(des))
    with pytest.raises(PoskitError, match="a 3DES key must be 16 or 24 bytes, got 8"):
        packet(tmp_path, keystore, "1", "--slot", "4", key=des)  # 3DES unless told


def test_packet_refuses_an_sm4_application_with_the_reason(tmp_path, keystore):
    sm4 = "8A7B6C5D4E3F20110F1E2D3C4B5A6978"
    for options in (["2", "--job", str(JOB)], ["1", "--slot", "2", "--algorithm", "SM4"]):
        with pytest.raises(PoskitError, match="TR-31 has no algorithm code for SM4") as info:
            packet(tmp_path, keystore, *options, key=sm4)
        assert "poskit keys load-components --algorithm SM4" in str(info.value)
    assert not (tmp_path / "k.bin").exists()


def test_packet_refuses_an_algorithm_the_job_contradicts(tmp_path, keystore):
    with pytest.raises(PoskitError, match="application 2 of .*job.toml uses key_algorithm SM4"):
        packet(tmp_path, keystore, "2", "--job", str(JOB), "--algorithm", "3DES")
    with pytest.raises(PoskitError, match="job.toml has no application 5"):
        packet(tmp_path, keystore, "5", "--job", str(JOB))
    assert not (tmp_path / "k.bin").exists()
