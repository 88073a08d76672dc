"""The installer's bench flow on a virtual terminal: provision, build the job's parameter
packets, make a key packet for the acquirer's master key, load them all; then the refusals a
terminal must make, and no clear key left in the flash image."""

import subprocess
import sys
from pathlib import Path

import pytest

from hostlib.keystore import KeyStore
from hostlib.state import TerminalState

ROOT = Path(__file__).resolve().parents[1]
POSKIT = str(Path(sys.executable).with_name("poskit"))
PASSPHRASE = "correct horse battery"
TMK = "70F2A84CCBC2AE8625CBB0F2C22AB923"


def poskit(*args):
    env = {"POSKIT_KEYSTORE_PASSPHRASE": PASSPHRASE, "PATH": "/usr/bin:/bin"}
    return subprocess.run([POSKIT, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def terminal(tmp_path):
    state, keystore = tmp_path / "term", tmp_path / "ks.json"
    out = poskit(
        "provision", "--serial", "PK-000123", "--state", str(state), "--keystore", str(keystore)
    )
    assert out.returncode == 0, out.stderr
    return tmp_path, state, keystore


def build_job(tmp_path, keystore, version=1, serial="PK-000123"):
    out = poskit(
        "params",
        "build",
        str(ROOT / "docs" / "examples" / "job.toml"),
        "-o",
        str(tmp_path / "p.bin"),
        "--serial",
        serial,
        "--keystore",
        str(keystore),
        "--version",
        str(version),
    )
    assert out.returncode == 0, out.stderr
    return [tmp_path / "p.bin", tmp_path / "p.app1.bin", tmp_path / "p.app2.bin"]


def secret_file(path, value):
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def key_packet(tmp_path, keystore, version=1, slot=3):
    path = tmp_path / ("k%d.bin" % version)
    out = poskit(
        "keys",
        "packet",
        "--serial",
        "PK-000123",
        "--app",
        "1",
        "--slot",
        str(slot),
        "--tmk-file",
        str(secret_file(tmp_path / "tmk.txt", TMK)),
        "--version",
        str(version),
        "-o",
        str(path),
        "--keystore",
        str(keystore),
    )
    assert out.returncode == 0, out.stderr
    return path


def load(state, *paths):
    return poskit("load", "--state", str(state), *map(str, paths))


def test_parameters_and_master_key_load(terminal):
    tmp_path, state, keystore = terminal
    packets = build_job(tmp_path, keystore) + [key_packet(tmp_path, keystore)]
    out = load(state, *packets)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "parameters for terminal, version 1" in lines[0]
    assert "parameters for application 1, version 1" in lines[1]
    assert "parameters for application 2, version 1" in lines[2]
    assert lines[3].endswith("keys for application 1, version 1: slot 3 3DES KCV 47F816")
    flash = (state / "flash.img").read_bytes()
    tmk = bytes.fromhex(TMK)
    keys = KeyStore.open(keystore, PASSPHRASE).terminal("PK-000123")
    for secret in (tmk, keys["kbpk"], keys["link_key"]):
        for i in range(0, len(secret) - 5, 4):
            assert secret[i : i + 6] not in flash


def test_replayed_packet_is_refused(terminal):
    tmp_path, state, keystore = terminal
    packets = build_job(tmp_path, keystore)
    assert load(state, *packets).returncode == 0
    out = load(state, packets[1])
    assert out.returncode == 1
    assert "packet version 1 is not newer than installed version 1" in out.stderr


def test_another_terminals_packet_is_refused(terminal):
    tmp_path, state, keystore = terminal
    other = tmp_path / "other"
    assert (
        poskit(
            "provision",
            "--serial",
            "PK-000999",
            "--state",
            str(other),
            "--keystore",
            str(keystore),
        ).returncode
        == 0
    )
    packets = build_job(tmp_path, keystore, serial="PK-000999")
    out = load(state, packets[0])
    assert out.returncode == 1
    assert "PK-000999" in out.stderr


def test_changed_byte_is_refused_and_nothing_changes(terminal):
    tmp_path, state, keystore = terminal
    packet = build_job(tmp_path, keystore)[1]
    data = bytearray(packet.read_bytes())
    data[40] ^= 0x01
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(bytes(data))
    before = (state / "flash.img").read_bytes()
    out = load(state, damaged)
    assert out.returncode == 1
    assert "refused" in out.stderr
    assert (state / "flash.img").read_bytes() == before
    # the good packet of the same version still loads afterwards
    assert load(state, packet).returncode == 0


def test_unprovisioned_terminal_refuses(tmp_path, terminal):
    _, _, keystore = terminal
    blank = TerminalState(tmp_path / "blank")
    blank.create()
    packet = build_job(tmp_path, keystore)[0]
    out = load(blank.folder, packet)
    assert out.returncode == 1
    assert "not provisioned" in out.stderr
