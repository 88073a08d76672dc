"""The `poskit` command as an installer runs it."""

import subprocess
import sys
from pathlib import Path

POSKIT = str(Path(sys.executable).with_name("poskit"))


def poskit(*args):
    return subprocess.run([POSKIT, *args], capture_output=True, text=True, timeout=120)


def test_version():
    out = poskit("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("poskit 0.")


def test_help_lists_the_commands():
    out = poskit("--help")
    assert out.returncode == 0
    assert "selftest" in out.stdout


def test_no_command_prints_help_and_fails():
    out = poskit()
    assert out.returncode == 2
    assert "usage: poskit" in out.stdout


def test_selftest_passes_in_an_esp32_heap():
    out = poskit("selftest")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "heap 110K" in lines[0]
    for name in ("DES", "3DES-EDE2", "SM4", "AES-128", "CUP MAC (DES)", "PIN block format 0"):
        row = next(line for line in lines if line.startswith(name + " "))
        assert row.split()[len(name.split())] == "pass", row
    assert "self-test: PASS" in lines[-1]


def test_selftest_fails_visibly_when_the_heap_is_too_small():
    out = poskit("selftest", "--heap", "6K")
    assert out.returncode == 1
    assert "MemoryError" in out.stdout + out.stderr
