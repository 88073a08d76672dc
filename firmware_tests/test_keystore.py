"""The host key store as an installer meets it: where it is, what a damaged or misplaced one
says, and how the passphrase is asked for with and without a terminal."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostlib import keystore
from hostlib.keystore import KeyStore, KeyStoreError

POSKIT = str(Path(sys.executable).with_name("poskit"))
PASSPHRASE = "correct horse battery"
JOB = Path(__file__).resolve().parents[1] / "docs" / "examples" / "job.toml"


def test_default_path_expands_home_and_follows_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("POSKIT_KEYSTORE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keystore.default_path() == tmp_path / ".poskit" / "keystore.json"
    monkeypatch.setenv("POSKIT_KEYSTORE", "~/elsewhere/ks.json")
    assert keystore.default_path() == tmp_path / "elsewhere" / "ks.json"


@pytest.mark.parametrize(
    "content, says",
    [
        (None, "the key store {} is not a file"),
        ("[1, 2]", "{} is not a poskit key store"),
        ("not json at all", "{} is not a poskit key store (not JSON)"),
        ('{"format": "poskit-keystore-1", "salt": 5}', "wrong passphrase or damaged file"),
    ],
)
def test_a_key_store_that_is_not_one_is_named(tmp_path, content, says):
    path = tmp_path / "keystore.json"
    if content is None:
        path.mkdir()
    else:
        path.write_text(content)
    with pytest.raises(KeyStoreError) as exc:
        KeyStore.open(path, PASSPHRASE)
    assert says.format(path) in str(exc.value)


def test_the_commands_say_so_too_without_a_traceback(tmp_path):
    (tmp_path / "keystore.json").mkdir()
    out = run_poskit(
        tmp_path,
        ["params", "build", str(JOB), "-o", "job.bin", "--keystore", "keystore.json"],
        env={"POSKIT_KEYSTORE_PASSPHRASE": PASSPHRASE},
    )
    assert out.returncode == 1
    assert out.stderr == "poskit: the key store keystore.json is not a file\n"


def run_poskit(cwd, argv, env=None, input=None, shell=False):
    """poskit in its own session: no controlling terminal, as under a service or cron
    (`shell`: argv is for sh, which starts poskit)."""
    full = {"PATH": os.environ["PATH"], "HOME": str(cwd), **(env or {})}
    return subprocess.run(
        ["sh" if shell else POSKIT, *argv],
        cwd=cwd,
        env=full,
        stdin=subprocess.DEVNULL if input is None else None,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )


def make_store(path):
    store = KeyStore.open(path, PASSPHRASE, create=True)
    store.add_terminal("PK-000123")
    store.save()


@pytest.mark.parametrize("stdin", ["empty", "closed"])
def test_no_terminal_and_no_passphrase_is_a_clear_error(tmp_path, stdin):
    make_store(tmp_path / ".poskit" / "keystore.json")
    argv = ["params", "build", str(JOB), "-o", "job.bin"]
    if stdin == "empty":
        out = run_poskit(tmp_path, argv)
    else:  # started as `poskit ... <&-`
        out = run_poskit(tmp_path, ["-c", 'exec "$0" "$@" <&-', POSKIT, *argv], shell=True)
    assert out.returncode == 1
    assert out.stderr.endswith(
        "poskit: no key store passphrase: set POSKIT_KEYSTORE_PASSPHRASE or run on a terminal\n"
    )
    assert "Traceback" not in out.stderr and "Warning" not in out.stderr
    assert not (tmp_path / "job.bin").exists()


def test_a_passphrase_piped_in_opens_the_store(tmp_path):
    make_store(tmp_path / ".poskit" / "keystore.json")
    out = run_poskit(
        tmp_path, ["params", "build", str(JOB), "-o", "job.bin"], input=PASSPHRASE + "\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == "key store passphrase: \n"
    assert (tmp_path / "job.app1.bin").exists()


def test_the_store_records_when_a_terminal_was_provisioned_and_wiped(tmp_path):
    store = KeyStore.open(tmp_path / "ks.json", PASSPHRASE, create=True)
    store.add_terminal("PK-000123")
    record = store.record("PK-000123")
    assert record["provisioned"][:2] == "20" and record["wiped"] is None
    store.mark_wiped("PK-000123")
    store.save()
    again = KeyStore.open(tmp_path / "ks.json", PASSPHRASE).record("PK-000123")
    assert again["provisioned"] == record["provisioned"] and again["wiped"]
    assert json.loads((tmp_path / "ks.json").read_text())["format"] == "poskit-keystore-1"
