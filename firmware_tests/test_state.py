"""A virtual terminal's state folder as commands share it: one command at a time on a flash
image ("terminal busy", naming who has it; nothing left behind by a killed command), and a
damaged folder named as such rather than a MicroPython traceback."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_vterm import Vterm

from hostlib.state import FLASH_SIZE, TerminalState

POSKIT = str(Path(sys.executable).with_name("poskit"))
PASSPHRASE = "correct horse battery"


def poskit(*args, cwd):
    env = {
        "POSKIT_KEYSTORE_PASSPHRASE": PASSPHRASE,
        "PATH": "/usr/bin:/bin",
        "POSKIT_KEYSTORE": str(Path(cwd) / "ks.json"),
    }
    return subprocess.run(
        [POSKIT, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


@pytest.fixture
def blank(tmp_path):
    state = TerminalState(tmp_path / "term")
    state.create()
    return state


def test_commands_on_a_terminal_a_vterm_runs_are_told_it_is_busy(blank, tmp_path):
    packet = tmp_path / "p.bin"
    packet.write_bytes(b"PKT1")
    vterm = Vterm("--headless", "--flash", str(blank.flash))
    try:
        held = "poskit vterm (pid %d) has had it since " % vterm.proc.pid
        for argv in (
            ["load", "--state", str(blank.folder), str(packet)],
            ["txn", "--state", str(blank.folder), "sign-on"],
            ["wipe", "--state", str(blank.folder)],
            ["provision", "--serial", "PK-000123", "--state", str(blank.folder)],
        ):
            out = poskit(*argv, cwd=tmp_path)
            assert out.returncode == 1, argv
            assert out.stderr.startswith("poskit: terminal busy: %s: %s" % (blank.flash, held))
            assert out.stderr.rstrip().endswith("wait for it to finish, or stop it")
        assert not (tmp_path / "ks.json").exists()
    finally:
        assert vterm.stop() == 0
    out = poskit("provision", "--serial", "PK-000123", "--state", str(blank.folder), cwd=tmp_path)
    assert out.returncode == 0, out.stderr


# Stands in for a command that has the terminal and is then killed (kill -9: no clean-up).
_HOLDER = """
import sys, time
from hostlib import state
state.command_name = "poskit txn"
held = state.TerminalState(sys.argv[1]).hold()
held.__enter__()
print("held", flush=True)
time.sleep(120)
"""


def test_a_killed_command_does_not_keep_the_terminal(blank, tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(blank.folder)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        argv = ["provision", "--serial", "PK-000123", "--state", str(blank.folder)]
        out = poskit(*argv, cwd=tmp_path)
        assert out.returncode == 1
        assert "poskit txn (pid %d)" % holder.pid in out.stderr
        vterm = subprocess.run(
            [POSKIT, "vterm", "--headless", "--flash", str(blank.flash)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert vterm.returncode == 1
        assert "terminal busy" in vterm.stderr and "poskit txn" in vterm.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    started = time.monotonic()
    out = poskit("provision", "--serial", "PK-000123", "--state", str(blank.folder), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 60


def test_one_command_holds_the_terminal_once_across_its_steps(blank):
    with blank.hold():
        with blank.hold():  # a command that runs another (txn init runs provision)
            assert blank.run("print('ran')").check().stdout == "ran\n"
        assert blank.run("print('again')").check().stdout == "again\n"
    # Let go: a second process may take it.
    out = subprocess.run(
        [sys.executable, "-c", _HOLDER.replace("time.sleep(120)", ""), str(blank.folder)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
    )
    assert out.stdout == "held\n", out.stderr


def test_a_short_storage_key_is_named(blank, tmp_path):
    blank.storage_key.write_bytes(os.urandom(7))
    out = poskit("wipe", "--state", str(blank.folder), cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith(
        "poskit: %s is 7 bytes, a storage key is 16: the terminal's keys cannot be read"
        % blank.storage_key
    )
    assert "Traceback" not in out.stderr


def test_a_truncated_flash_image_is_named_and_left_alone(blank, tmp_path):
    with open(blank.flash, "r+b") as f:
        f.truncate(FLASH_SIZE // 2)
    before = blank.flash.read_bytes()
    out = poskit("txn", "--state", str(blank.folder), "reprint", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith(
        "poskit: %s is %d bytes, a terminal's flash is %d: the image is truncated"
        % (blank.flash, FLASH_SIZE // 2, FLASH_SIZE)
    )
    assert blank.flash.read_bytes() == before


def test_a_flash_image_that_does_not_mount_is_named(blank, tmp_path):
    garbage = os.urandom(FLASH_SIZE)
    blank.flash.write_bytes(garbage)
    out = poskit("wipe", "--state", str(blank.folder), cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr == (
        "poskit: terminal %s cannot start: flash image %s is not a LittleFS v2 filesystem\n"
        % (blank.folder, blank.flash)
    )
    assert blank.flash.read_bytes() == garbage
