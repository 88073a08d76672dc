"""The two MicroPython builds the device code is checked on (hostlib.micropython): the 64-bit
port make installs, and the 32-bit one, the ESP32's word size, found beside the repository or
named by POSKIT_MICROPYTHON32. A machine without the 32-bit build skips its tests and says
how to get it; a variable that names the wrong thing fails instead of skipping quietly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostlib import micropython

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_default_32(monkeypatch, tmp_path):
    """A machine without ../shared/micropython32 and without the variable."""
    monkeypatch.delenv(micropython.VARIABLE_32, raising=False)
    monkeypatch.setattr(micropython, "DEFAULT_32", tmp_path / "shared" / "micropython")


def test_without_the_32_bit_build_it_is_none_and_the_skip_says_how_to_get_it(no_default_32):
    assert micropython.binary32() is None
    assert micropython.named(micropython.NAME_32) is None
    reason = micropython.missing32()
    assert "no 32-bit MicroPython" in reason
    assert micropython.VARIABLE_32 in reason and "Two interpreters" in reason
    readme = (ROOT / "README.md").read_text()
    assert "## Two interpreters" in readme and "gcc-multilib" in readme


def test_a_variable_naming_nothing_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv(micropython.VARIABLE_32, str(tmp_path / "nothing"))
    with pytest.raises(micropython.MicroPythonError, match="not an executable file"):
        micropython.binary32()


def test_a_variable_naming_a_64_bit_build_is_an_error(monkeypatch):
    monkeypatch.setenv(micropython.VARIABLE_32, micropython.binary())
    with pytest.raises(micropython.MicroPythonError, match="64-bit MicroPython, not a 32-bit"):
        micropython.binary32()


def test_the_32_bit_build_has_the_esp32s_word_and_small_ints(interpreter):
    # What the 64-bit port hides: an int at or above 2**30 is a heap object on 32 bits.
    code = (
        "import gc, sys\n"
        "def doubled(x):\n"
        "    gc.collect()\n"
        "    before = gc.mem_alloc()\n"
        "    y = x + x\n"
        "    return gc.mem_alloc() - before\n"
        "print(sys.implementation._mpy >> 10, doubled(1 << 29))\n"
    )
    arch, allocated = micropython.run(code=code, interpreter=interpreter).check().stdout.split()
    if micropython.word_bits(interpreter) == 32:
        assert (arch, micropython.arch(interpreter)) == ("1", "x86")
        assert int(allocated) > 0
    else:
        assert (arch, micropython.arch(interpreter)) == ("2", "x64")
        assert int(allocated) == 0


def test_the_default_interpreter_follows_the_variable(interpreter):
    before = os.environ.get(micropython.DEFAULT_VARIABLE)
    with micropython.default(interpreter):
        assert micropython.binary() == interpreter
        # and so do the programs started meanwhile (the bench's terminal runs)
        out = subprocess.run(
            [sys.executable, "-c", "from hostlib import micropython; print(micropython.binary())"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        assert out.stdout.strip() == interpreter
    assert os.environ.get(micropython.DEFAULT_VARIABLE) == before


def test_a_machine_without_it_runs_the_64_bit_set_and_says_what_was_skipped(tmp_path):
    # pytest as make runs it, on a machine where ../shared/micropython32 is not there.
    (tmp_path / "no_shared_build.py").write_text(
        "from pathlib import Path\n"
        "from hostlib import micropython\n"
        "micropython.DEFAULT_32 = Path(%r)\n" % str(tmp_path / "shared" / "micropython")
    )
    env = {k: v for k, v in os.environ.items() if k != micropython.VARIABLE_32}
    env["PYTHONPATH"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no_shared_build", "-p", "no:cacheprovider"]
        + ["firmware_tests/mpy/test_harness.py"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout
    summary = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(summary) == 1, proc.stdout
    assert "32-bit set skipped" in summary[0] and "Two interpreters" in summary[0]
    assert "4 passed, 4 skipped" in proc.stdout
