"""Secrets never on a command line: every `poskit` command that takes a key, a PIN, a
password or card data is started as a program, given the secret the way it asks for it (a
file descriptor not yet written, a file, its prompt on a terminal), and while it waits and
while it works the command lines of it and of every process it starts (the MicroPython
terminal) are read from /proc: no secret in any. Nor in what it prints. And with no terminal
to ask on, each prompt says which option to give instead, never a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_txn_e2e import (
    JOB,
    PIN,
    SUPERVISOR,
    TMK,
    TRACK,
    host,
    secret_file,
    state,
    template,
    txn_cli_run,
)
from ttyrun import TtyRun

from hostlib.keystore import KeyStore
from hostlib.state import TerminalState

__all__ = ["host", "state", "template"]  # fixtures from test_txn_e2e

ROOT = Path(__file__).resolve().parents[1]
POSKIT = str(Path(sys.executable).with_name("poskit"))
KBPK = "89E88CF7931444F334BD7547FC3F380C"
PASSPHRASE = "correct horse battery"
COMPONENTS = [
    ("3BC3E7E8E63CF3796264121308D77BF9", "A9FEB5"),
    ("17863DC75FA81B23A7AED7DBF96E2C11", "1C2EF6"),
    ("5CB77263725646DCE001753A3393EECB", "4ED225"),
]


def environment(**extra: str) -> dict:
    return {**os.environ, "POSKIT_KEYSTORE_PASSPHRASE": PASSPHRASE, **extra}


def family(root: int) -> list[int]:
    """`root` and every process descended from it (other tests on this machine may well
    have "123456" on their command lines; only this command's family is looked at)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, changed = {root}, True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                changed = True
    return sorted(found)


def cmdline(pid: int) -> bytes:
    try:
        return Path("/proc/%d/cmdline" % pid).read_bytes()
    except OSError:
        return b""


class Watch:
    """Reads the command lines of a process and its descendants every few milliseconds
    until stopped; `seen` is every command line read, `leaks` those holding a secret."""

    def __init__(self, pid: int, secrets: list[str]) -> None:
        self.pid = pid
        self.needles = [s.encode() for s in secrets] + [s.lower().encode() for s in secrets]
        self.seen: set[bytes] = set()
        self.leaks: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in family(self.pid):
                line = cmdline(pid)
                if line and line not in self.seen:
                    self.seen.add(line)
                    if any(needle in line for needle in self.needles):
                        self.leaks.append(line)
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def run_with_fd(argv: list[str], values: list[str], secrets: list[str]):
    """Start `poskit ARGV` (FD in ARGV stands for a pipe's read end), read its command line
    while it waits for the pipe, then write `values` one a line; returns the finished run
    after checking no command line of its family held a secret."""
    read, write = os.pipe()
    argv = [str(read) if word == "FD" else word for word in argv]
    proc = subprocess.Popen(
        [POSKIT, *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=environment(),
        pass_fds=(read,),
    )
    os.close(read)
    watch = Watch(proc.pid, secrets)
    try:
        # Waiting at its file descriptor: what `ps` shows of it now is what everyone sees.
        deadline = time.monotonic() + 30
        while b"-fd\0" not in cmdline(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # (until exec, /proc shows the parent's command line)
        line = cmdline(proc.pid)
        assert b"-fd\0" in line, line
        for secret in secrets:
            assert secret.encode() not in line
        os.write(write, "".join(value + "\n" for value in values).encode())
        os.close(write)
        write = None
        out, err = proc.communicate(timeout=300)
    finally:
        if write is not None:
            os.close(write)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        watch.stop()
    assert watch.leaks == [], watch.leaks
    for secret in secrets:
        assert not shows(secret, out + err), (secret, out, err)
    return proc.returncode, out, err, watch.seen


def shows(secret: str, text: str) -> bool:
    """True if `secret` is in `text` on its own (the test PIN 123456 is also the start of
    the test merchant's number, 123456789012345, on every slip)."""
    return re.search("(?<![0-9])%s(?![0-9])" % re.escape(secret), text, re.I) is not None


@pytest.fixture
def keystore(tmp_path) -> Path:
    path = tmp_path / "ks.json"
    store = KeyStore.open(path, PASSPHRASE, create=True)
    store.add_terminal("PK-000123")
    store.save()
    return path


def test_key_tools_take_keys_from_a_file_descriptor_never_argv(tmp_path, keystore):
    code, out, err, _ = run_with_fd(
        ["keys", "tr31", "--kbpk-fd", "FD", "--key-fd", "FD"], [KBPK, TMK], [KBPK, TMK]
    )
    assert code == 0 and "key KCV    47F816  (3DES)" in out, err
    code, out, err, _ = run_with_fd(["keys", "kcv", "--key-fd", "FD"], [TMK], [TMK])
    assert code == 0 and out == "KCV 47F816  (3DES)\n", err
    code, out, err, _ = run_with_fd(["keys", "components", "--key-fd", "FD"], [TMK], [TMK])
    assert code == 0 and "combined key KCV 47F816" in out, err
    argv = ["keys", "packet", "--serial", "PK-000123", "--app", "1", "--slot", "1"]
    argv += ["--version", "1", "--keystore", str(keystore), "-o", str(tmp_path / "k.bin")]
    code, out, err, _ = run_with_fd(argv + ["--tmk-fd", "FD"], [TMK], [TMK])
    assert code == 0 and out.endswith("slot 1  3DES  KCV 47F816\n"), err


def test_components_go_to_the_terminal_never_through_argv(tmp_path):
    folder = tmp_path / "term"
    TerminalState(folder).create()
    values = [value for pair in COMPONENTS for value in pair] + ["47F816"]
    argv = ["keys", "load-components", "--state", str(folder), "--app", "1", "--slot", "1"]
    argv += ["--algorithm", "3DES", "--parts", "3", "--components-fd", "FD"]
    code, out, err, seen = run_with_fd(argv, values, [c for c, _ in COMPONENTS] + [TMK])
    assert code == 0 and "3DES KCV 47F816 (from 3 components)" in out, err
    assert any(b"micropython" in line for line in seen)  # the terminal's process was watched


def test_txn_takes_the_tmk_card_pin_and_password_from_a_file_descriptor(state, host, tmp_path):
    fresh = tmp_path / "fresh"
    argv = ["txn", "--state", str(fresh), "init", "--params", str(JOB), "--tmk-fd", "FD"]
    code, out, err, seen = run_with_fd(argv, [TMK], [TMK])
    assert code == 0 and "master key of application 1 in slot 1: 3DES KCV 47F816" in out, err
    assert any(b"micropython" in line for line in seen)

    where = ["txn", "--state", str(state), "--host", "127.0.0.1:%d" % host.address[1]]
    signed_on = txn_cli_run(*where[1:], "sign-on")
    assert signed_on.returncode == 0, signed_on.stdout + signed_on.stderr
    argv = where + ["sale", "--amount", "0.01", "--card-fd", "FD", "--pin-fd", "FD"]
    code, out, err, seen = run_with_fd(argv, [TRACK, PIN], [TRACK, PIN])
    assert code == 0 and out.startswith("sale APPROVED 00"), out + err
    assert "622424******0113" in out
    argv = where + ["void", "--trace", "2", "--supervisor-fd", "FD"]
    code, out, err, _ = run_with_fd(argv, [SUPERVISOR], [SUPERVISOR, TRACK])
    assert code == 0 and out.startswith("sale_void APPROVED 00"), out + err


def test_prompts_on_the_terminal_show_nothing_typed(state, host, tmp_path, keystore):
    card = secret_file(tmp_path / "card.txt", TRACK)
    where = ["txn", "--state", str(state), "--host", "127.0.0.1:%d" % host.address[1]]
    with TtyRun([POSKIT, *where, "sign-on"], environment(), ROOT) as run:
        assert run.wait() == 0, run.output
    argv = [POSKIT, *where, "sale", "--amount", "0.01", "--card-file", str(card), "--pin"]
    with TtyRun(argv, environment(), ROOT) as run:
        run.expect("PIN (not echoed): ")
        assert PIN.encode() not in cmdline(run.pid) and TRACK.encode() not in cmdline(run.pid)
        run.type(PIN)
        assert run.wait() == 0, run.output
    assert "sale APPROVED 00" in run.output
    assert not shows(PIN, run.output) and not shows(TRACK, run.output)

    argv = [POSKIT, "keys", "packet", "--serial", "PK-000123", "--app", "1", "--slot", "1"]
    argv += ["--version", "1", "--keystore", str(keystore), "-o", str(tmp_path / "k.bin")]
    with TtyRun(argv, environment(), ROOT) as run:
        run.expect("TMK (hex, not echoed): ")
        run.type(TMK)
        assert run.wait() == 0, run.output
    assert TMK not in run.output and "slot 1  3DES  KCV 47F816" in run.output

    # Ctrl-D at a prompt: the end of input, said plainly.
    with TtyRun([POSKIT, "keys", "kcv"], environment(), ROOT) as run:
        run.expect("key (hex, not echoed): ")
        os.write(run.fd, b"\x04")
        assert run.wait() == 1
    assert "poskit: no key given (end of input)" in run.output
    assert "Traceback" not in run.output


@pytest.mark.parametrize(
    "command,what,option",
    [
        ("keys tr31", "KBPK", "--kbpk"),
        ("keys tr31 --kbpk-file KBPK", "key", "--key"),
        ("keys components", "key", "--key"),
        ("keys kcv --key", "key", "--key"),
        ("keys packet --serial S --app 1 --slot 1 --version 1 -o k.bin", "TMK", "--tmk"),
        ("txn --state T init --tmk", "master key", "--tmk"),
        ("txn --state T sale --amount 1 --card", "card's track 2", "--card"),
        ("txn --state T balance --pan --expiry 2806", "card number", "--pan"),
        ("txn --state T sale --amount 1 --card-file CARD --pin", "PIN", "--pin"),
        ("txn --state T void --trace 2", "supervisor password", "--supervisor"),
        (
            "txn --state T refund --rrn 1 --date 1126 --amount 1 --card-file CARD",
            "supervisor password",
            "--supervisor",
        ),
    ],
)
def test_with_no_terminal_every_prompt_says_what_to_give(tmp_path, command, what, option):
    files = {
        "T": str(tmp_path / "term"),
        "CARD": str(secret_file(tmp_path / "card.txt", TRACK)),
        "KBPK": str(secret_file(tmp_path / "kbpk.txt", KBPK)),
    }
    out = subprocess.run(
        [POSKIT, *[files.get(word, word) for word in command.split()]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=environment(),
        start_new_session=True,  # no controlling terminal, as under cron or CI
    )
    assert out.returncode == 1
    assert (
        out.stderr
        == "poskit: no terminal to ask for the %s: give %s-fd N or %s-file FILE\n"
        % (
            what,
            option,
            option,
        )
    )


def test_a_script_names_the_line_whose_secret_cannot_be_asked(tmp_path):
    secret_file(tmp_path / "card.txt", TRACK)
    script = tmp_path / "day.txt"
    script.write_text("echo\nsale --amount 1 --card-file card.txt --pin\n")
    out = subprocess.run(
        [POSKIT, "txn", "--state", str(tmp_path / "term"), "--script", str(script)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(),
        start_new_session=True,
    )
    assert out.returncode == 1
    assert out.stderr == (
        "poskit: %s:2: no terminal to ask for the PIN: give --pin-fd N or --pin-file FILE\n"
        % script
    )


def test_a_secret_file_others_can_read_gets_a_warning(tmp_path):
    loose = tmp_path / "key.txt"
    loose.write_text(TMK + "\n")

    def kcv() -> subprocess.CompletedProcess:
        return subprocess.run(
            [POSKIT, "keys", "kcv", "--key-file", str(loose)],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment(),
        )

    loose.chmod(0o644)
    out = kcv()
    assert out.returncode == 0 and out.stdout == "KCV 47F816  (3DES)\n"
    assert "poskit: warning: %s holds the key and other users can read it (chmod 600" % loose in (
        out.stderr
    )
    loose.chmod(0o600)
    assert kcv().stderr == ""
