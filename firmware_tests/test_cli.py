"""The `poskit` command as an installer runs it."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hostlib import jobs
from hostlib.keystore import KeyStore

POSKIT = str(Path(sys.executable).with_name("poskit"))
JOB = Path(__file__).resolve().parents[1] / "docs" / "examples" / "job.toml"


def poskit(*args, cwd=None):
    return subprocess.run([POSKIT, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


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
    out = poskit("selftest", "--heap", "20K")
    assert out.returncode == 1
    assert out.stderr.startswith("poskit: the self-test ran out of memory (MemoryError) in a 20K")
    assert "Traceback" not in out.stdout + out.stderr


@pytest.mark.parametrize(
    "heap, says",
    [
        ("abc", "heap size 'abc' is not bytes or a size such as 110K or 2M"),
        ("0", "heap size 0 is out of range: 8K to 1024M"),
        ("1G", "heap size '1G' is not bytes"),
        ("2048M", "heap size 2048M is out of range"),
    ],
)
@pytest.mark.parametrize("command", [["selftest"], ["txn", "--state", "term", "echo"]])
def test_every_heap_option_refuses_a_heap_that_is_not_a_size(heap, says, command, tmp_path):
    out = poskit(*command[:1], "--heap", heap, *command[1:], cwd=tmp_path)
    assert out.returncode == 2
    assert "argument --heap: " + says in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


@pytest.mark.parametrize(
    "argv",
    [["params", "show", "PACKET"], ["params", "verify", "PACKET", "--no-key"], ["selftest"]],
)
def test_output_cut_short_by_its_reader_ends_quietly(tmp_path, argv):
    # `poskit ... | head -1`: the reader has gone before poskit writes.
    packet = tmp_path / "p.bin"
    packet.write_bytes(jobs.load(JOB).packets("PK-000123", bytes(32), 1)[1][1])
    argv = [str(packet) if arg == "PACKET" else arg for arg in argv]
    read, write = os.pipe()
    os.close(read)
    try:
        out = subprocess.run(
            [POSKIT, *argv], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write)
    assert out.stderr == ""
    assert out.returncode == 141


def test_ctrl_c_at_a_prompt_ends_without_a_traceback(tmp_path):
    store = KeyStore.open(tmp_path / "ks.json", "correct horse battery", create=True)
    store.save()
    proc = subprocess.Popen(
        [POSKIT, "params", "build", str(JOB), "-o", str(tmp_path / "job.bin")],
        env={"PATH": os.environ["PATH"], "POSKIT_KEYSTORE": str(tmp_path / "ks.json")},
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no terminal: the passphrase is read from the pipe
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.read(len("key store passphrase: ")) == "key store passphrase: "
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert proc.stderr.read() == "\nposkit: interrupted\n"  # the prompt's line ended
    finally:
        proc.kill()
        proc.wait()
