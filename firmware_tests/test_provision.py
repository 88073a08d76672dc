"""`poskit provision` and `poskit wipe` on a virtual terminal's state folder: the device code
runs on MicroPython against the terminal's flash image."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hostlib.keystore import KeyStore, KeyStoreError
from hostlib.state import TerminalState
from tools import provision as provision_cmd

POSKIT = str(Path(sys.executable).with_name("poskit"))
PASSPHRASE = "correct horse battery"
JOB = Path(__file__).resolve().parents[1] / "docs" / "examples" / "job.toml"


def poskit(*args, passphrase=PASSPHRASE):
    env = {"POSKIT_KEYSTORE_PASSPHRASE": passphrase, "PATH": "/usr/bin:/bin"}
    return subprocess.run([POSKIT, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def bench(tmp_path):
    return tmp_path / "term", tmp_path / "keystore.json"


def provision(bench, serial="PK-000123", *extra):
    state, keystore = bench
    return poskit(
        "provision", "--serial", serial, "--state", str(state), "--keystore", str(keystore), *extra
    )


def wipe(bench, **kw):
    state, keystore = bench
    return poskit("wipe", "--state", str(state), "--keystore", str(keystore), **kw)


def test_provision_a_fresh_terminal(bench):
    out = provision(bench)
    assert out.returncode == 0, out.stderr
    assert "provisioned PK-000123" in out.stdout
    assert "KCV" in out.stdout
    keys = KeyStore.open(bench[1], PASSPHRASE).terminal("PK-000123")
    # No clear key in the flash image, the key store file or the output.
    flash = (bench[0] / "flash.img").read_bytes()
    store_text = bench[1].read_text()
    for secret in (keys["kbpk"], keys["link_key"]):
        assert secret not in flash
        assert secret[:8] not in flash
        assert secret.hex() not in store_text.lower()
        assert secret.hex() not in (out.stdout + out.stderr).lower()
    assert b"PK-000123" in flash  # the serial is stored in clear, as on the label


def test_second_provisioning_is_refused(bench):
    assert provision(bench).returncode == 0
    again = provision(bench, "PK-999999")
    assert again.returncode == 1
    assert "already provisioned as PK-000123" in again.stderr
    assert KeyStore.open(bench[1], PASSPHRASE).serials() == ["PK-000123"]


def test_wipe_then_provision_again_with_new_keys(bench):
    assert provision(bench).returncode == 0
    first = KeyStore.open(bench[1], PASSPHRASE).terminal("PK-000123")
    out = wipe(bench)
    assert out.returncode == 0, out.stderr
    assert "wiped: identity, keys" in out.stdout
    assert provision(bench).returncode == 0
    second = KeyStore.open(bench[1], PASSPHRASE).terminal("PK-000123")
    assert second["kbpk"] != first["kbpk"]


def test_wipe_with_the_wrong_passphrase_is_refused(bench):
    assert provision(bench).returncode == 0
    out = wipe(bench, passphrase="not the passphrase")
    assert out.returncode == 1
    assert "wrong passphrase or damaged file" in out.stderr
    assert (
        "PK-000123"
        in TerminalState(bench[0])
        .run(
            "from app.keys.identity import Identity\nprint(Identity(store, storage_key).serial())"
        )
        .check()
        .stdout
    )


def test_wipe_with_another_link_key_is_refused(bench, tmp_path):
    assert provision(bench).returncode == 0
    store = KeyStore.open(bench[1], PASSPHRASE)
    store.remove_terminal("PK-000123")
    store.add_terminal("PK-000123")  # keys the terminal never saw
    store.save()
    out = wipe(bench)
    assert out.returncode == 1
    assert "wipe token does not verify" in out.stderr


def test_wipe_refused_while_a_journal_holds_transactions(bench):
    assert provision(bench).returncode == 0
    TerminalState(bench[0]).run(
        "from app.store.records import Journal\n"
        "Journal(board.DATA_ROOT + '/journal1.log').append(b'approved sale')\n"
    ).check()
    out = wipe(bench)
    assert out.returncode == 1
    assert "unsettled transactions" in out.stderr
    left = (
        TerminalState(bench[0])
        .run(
            "from app.store.records import Journal\n"
            "print(len(list(Journal(board.DATA_ROOT + '/journal1.log').records())))\n"
        )
        .check()
    )
    assert left.stdout.strip() == "1"


def test_wipe_refused_while_the_journal_region_holds_transactions(bench):
    # The journals of this release are in their own flash region (app.store.logregion).
    assert provision(bench).returncode == 0
    TerminalState(bench[0]).run(
        "store.journal_region.journal(1).append(b'approved sale')\n"
    ).check()
    out = wipe(bench)
    assert out.returncode == 1
    assert "unsettled transactions" in out.stderr
    left = TerminalState(bench[0]).run(
        "print(len(list(store.journal_region.journal(1).records())))\n"
    )
    assert left.check().stdout.strip() == "1"


def test_bad_serial_is_refused_before_any_key_is_made(bench):
    out = provision(bench, "pk 12")
    assert out.returncode == 1
    assert "serial must be 4 to 16 characters of A-Z, 0-9 and '-'" in out.stderr
    assert not bench[1].exists()


def test_terminal_refusal_takes_the_keys_back_out(bench, monkeypatch):
    # The device's own check refuses (the host's is bypassed here): the key store must not
    # keep keys the terminal never took.
    monkeypatch.setattr(provision_cmd, "check_serial", lambda serial: serial)
    monkeypatch.setenv("POSKIT_KEYSTORE_PASSPHRASE", PASSPHRASE)
    args = argparse.Namespace(
        serial="pk-1", state=str(bench[0]), keystore=str(bench[1]), derive=False
    )
    KeyStore.open(bench[1], PASSPHRASE, create=True).save()
    with pytest.raises(provision_cmd.ProvisionError, match="serial may hold only"):
        provision_cmd.run(args)
    assert KeyStore.open(bench[1], PASSPHRASE).serials() == []


def test_derived_keys_follow_from_the_base_key(bench):
    assert provision(bench, "PK-000123", "--derive").returncode == 0
    store = KeyStore.open(bench[1], PASSPHRASE)
    keys = store.terminal("PK-000123")
    assert keys["derived"]
    store.remove_terminal("PK-000123")
    assert store.add_terminal("PK-000123", derive=True)["kbpk"] == keys["kbpk"]


def test_key_store_refuses_a_changed_byte(bench):
    assert provision(bench).returncode == 0
    doc = json.loads(bench[1].read_text())
    ct = bytearray.fromhex(doc["ciphertext"])
    ct[0] ^= 1
    doc["ciphertext"] = ct.hex()
    bench[1].write_text(json.dumps(doc))
    with pytest.raises(KeyStoreError, match="wrong passphrase or damaged"):
        KeyStore.open(bench[1], PASSPHRASE)


def test_a_serial_whose_keys_a_terminal_holds_is_not_given_new_ones(bench, tmp_path):
    assert provision(bench).returncode == 0
    keys = KeyStore.open(bench[1], PASSPHRASE).terminal("PK-000123")
    provisioned = KeyStore.open(bench[1], PASSPHRASE).record("PK-000123")["provisioned"]
    second = (tmp_path / "term2", bench[1])
    out = provision(second)
    assert out.returncode == 1
    assert out.stderr.startswith(
        "poskit: PK-000123 already has keys in the key store %s, provisioned %s: "
        % (bench[1], provisioned)
    )
    assert "--replace" in out.stderr
    assert KeyStore.open(bench[1], PASSPHRASE).terminal("PK-000123") == keys
    assert not (tmp_path / "term2").exists()


def test_replace_asks_for_the_serial_before_new_keys(bench, tmp_path):
    assert provision(bench).returncode == 0
    keys = KeyStore.open(bench[1], PASSPHRASE).terminal("PK-000123")
    argv = ["provision", "--serial", "PK-000123", "--state", str(tmp_path / "term2")]
    argv += ["--keystore", str(bench[1]), "--replace"]
    env = {"POSKIT_KEYSTORE_PASSPHRASE": PASSPHRASE, "PATH": "/usr/bin:/bin"}

    def replace(answer):
        return subprocess.run(
            [POSKIT, *argv], input=answer, capture_output=True, text=True, env=env, timeout=120
        )

    out = replace("PK-000124\n")
    assert out.returncode == 1
    assert "type the serial PK-000123 to replace its keys: " in out.stdout
    assert "poskit: not confirmed: the keys of PK-000123 are unchanged" in out.stderr
    assert KeyStore.open(bench[1], PASSPHRASE).terminal("PK-000123") == keys
    out = replace("")  # no answer at all (end of input)
    assert out.returncode == 1 and "not confirmed" in out.stderr
    out = replace("PK-000123\n")
    assert out.returncode == 0, out.stderr
    assert "provisioned PK-000123" in out.stdout
    assert KeyStore.open(bench[1], PASSPHRASE).terminal("PK-000123")["kbpk"] != keys["kbpk"]


def test_every_command_finds_the_key_store_in_home(tmp_path):
    """No --keystore: provision, params build, txn init --serial and wipe all use
    ~/.poskit/keystore.json with ~ expanded, never a folder named "~" where they run."""
    home = tmp_path / "home"
    env = {"POSKIT_KEYSTORE_PASSPHRASE": PASSPHRASE, "PATH": "/usr/bin:/bin", "HOME": str(home)}

    def run(*argv):
        out = subprocess.run(
            [POSKIT, *argv], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    store = home / ".poskit" / "keystore.json"
    assert "keys generated in %s" % store in run(
        "provision", "--serial", "PK-000123", "--state", "term1"
    )
    run("params", "build", str(JOB), "-o", "job.bin", "--serial", "PK-000123")
    run("params", "verify", "job.app1.bin")
    run("txn", "--state", "term2", "init", "--params", str(JOB), "--serial", "PK-000124")
    run("wipe", "--state", "term1")
    assert KeyStore.open(store, PASSPHRASE).serials() == ["PK-000123", "PK-000124"]
    assert not (tmp_path / "~").exists()
