"""`poskit keys load-components`: the key custodians enter a master key into a virtual
terminal as 2 or 3 clear components with their check values; the terminal's own code
(app.keys.slots on MicroPython) checks each, combines them, checks the combined key and stores it
in the slot the acquirer gave. The key then signs on with the acquirer host simulator; no
component and no clear key is anywhere in the flash image or the command's output."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ttyrun import TtyRun

from hostlib import keys
from hostlib.hostsim import HostSimulator
from hostlib.state import TerminalState

ROOT = Path(__file__).resolve().parents[1]
POSKIT = str(Path(sys.executable).with_name("poskit"))
HOSTSIM_JOB = ROOT / "docs" / "examples" / "hostsim-job.toml"
JOB = ROOT / "docs" / "examples" / "job.toml"  # application 2: SM4, slot 2
TMK = "70F2A84CCBC2AE8625CBB0F2C22AB923"
# TMK as 3 custodians' components (as `poskit keys components --parts 3` printed them once).
PARTS = [
    ("3BC3E7E8E63CF3796264121308D77BF9", "A9FEB5"),
    ("17863DC75FA81B23A7AED7DBF96E2C11", "1C2EF6"),
    ("5CB77263725646DCE001753A3393EECB", "4ED225"),
]
SM4_TMK = "8A7B6C5D4E3F20110F1E2D3C4B5A6978"
SM4_PARTS = [
    ("DC53CAE2D0B187E9DD0D0C472D33CEE6", "A98FCC"),
    ("5628A6BF9E8EA7F8D213217B6669A79E", "1A48D3"),
]


def poskit(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [POSKIT, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, **kwargs
    )


def flat(parts, combined):
    return [value for part in parts for value in part] + [combined]


def load_components(state: Path, *options: str, answers: list[str]):
    """`poskit keys load-components` with `answers`, one a line, on a pipe it inherits, as
    `--components-fd 3 3<answers.txt` gives them in a shell."""
    read, write = os.pipe()
    os.write(write, "".join(answer + "\n" for answer in answers).encode())
    os.close(write)
    try:
        return poskit(
            "keys",
            "load-components",
            "--state",
            str(state),
            *options,
            "--components-fd",
            str(read),
            pass_fds=(read,),
        )
    finally:
        os.close(read)


def tmk_slots(state: Path, app: int) -> list:
    out = (
        TerminalState(state)
        .run(
            "from app.keys.slots import KeyStore\n"
            "print(KeyStore(store, storage_key).tmk_slots(%d))" % app
        )
        .check()
    )
    return eval(out.stdout.strip())  # a tuple of (slot, algorithm, kcv) tuples  # noqa: S307


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A terminal with the parameters of job.toml (app 1: 3DES slot 1; app 2: SM4 slot 2)."""
    state = tmp_path_factory.mktemp("entry") / "term"
    out = poskit("txn", "--state", str(state), "init", "--params", str(JOB))
    assert out.returncode == 0, out.stderr
    return state


@pytest.fixture
def state(template, tmp_path) -> Path:
    import shutil

    copy = tmp_path / "term"
    shutil.copytree(template, copy)
    return copy


def flash_hash(state: Path) -> bytes:
    return hashlib.sha256((state / "flash.img").read_bytes()).digest()


def no_clear_key_in(state: Path, *secrets: str) -> None:
    flash = (state / "flash.img").read_bytes()
    for text in secrets:
        secret = bytes.fromhex(text)
        for i in range(len(secret) - 5):
            assert secret[i : i + 6] not in flash
        assert text.encode() not in flash and text.lower().encode() not in flash


def test_three_components_make_the_master_key_that_signs_on(tmp_path):
    state = tmp_path / "term"
    out = poskit("txn", "--state", str(state), "init", "--params", str(HOSTSIM_JOB))
    assert out.returncode == 0, out.stderr
    out = load_components(
        state, "--app", "1", "--slot", "1", "--parts", "3", answers=flat(PARTS, "47F816")
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "entering the 3DES master key of slot 1 of application 1 as 3 components",
        "component 1 KCV A9FEB5: matches",
        "component 2 KCV 1C2EF6: matches",
        "component 3 KCV 4ED225: matches",
        "stored the master key of slot 1 of application 1: 3DES KCV 47F816 (from 3 components)",
    ]
    for text, _ in PARTS:
        assert text not in out.stdout + out.stderr
    assert TMK not in out.stdout + out.stderr
    no_clear_key_in(state, TMK, *(text for text, _ in PARTS))
    # The acquirer host simulator's test terminal has this TMK: sign-on works with it.
    with HostSimulator() as host:
        out = poskit(
            "txn", "--state", str(state), "--host", "127.0.0.1:%d" % host.address[1], "sign-on"
        )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("sign_on APPROVED 00")


def test_sm4_key_takes_its_algorithm_from_the_parameters(state):
    out = load_components(state, "--app", "2", "--slot", "2", answers=flat(SM4_PARTS, "BFD2EA"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == (
        "entering the SM4 master key of slot 2 of application 2 as 2 components"
    )
    assert out.stdout.splitlines()[-1].endswith(
        "slot 2 of application 2: SM4 KCV BFD2EA (from 2 components)"
    )
    assert tmk_slots(state, 2) == ((2, "SM4", "BFD2EA"),)
    no_clear_key_in(state, SM4_TMK, *(text for text, _ in SM4_PARTS))
    # Entered again: the custodians are told the slot's key will be replaced.
    out = load_components(state, "--app", "2", "--slot", "2", answers=flat(SM4_PARTS, "BFD2EA"))
    assert "slot 2 of application 2 holds a SM4 key, KCV BFD2EA: it will be replaced" in out.stdout


def test_without_parameters_the_algorithm_is_given(tmp_path):
    state = tmp_path / "blank"
    TerminalState(state).create()
    out = load_components(state, "--app", "3", "--slot", "7", answers=flat(SM4_PARTS, "BFD2EA"))
    assert out.returncode == 1
    assert (
        "application 3 has no parameters to take its key algorithm from: give --algorithm"
        in out.stderr
    )
    out = load_components(
        state, "--app", "3", "--slot", "7", "--algorithm", "SM4", answers=flat(SM4_PARTS, "BFD2EA")
    )
    assert out.returncode == 0, out.stderr
    assert tmk_slots(state, 3) == ((7, "SM4", "BFD2EA"),)


@pytest.mark.parametrize(
    "options,answers,reason",
    [
        (
            ["--app", "2", "--slot", "2", "--algorithm", "3DES"],
            flat(SM4_PARTS, "BFD2EA"),
            "application 2's parameters use key_algorithm SM4, not 3DES",
        ),
        (
            ["--app", "2", "--slot", "2"],
            [SM4_PARTS[0][0], "A98FCD"],
            "component 1 does not match its check value: it gives KCV A98FCC, the form says "
            "A98FCD; nothing stored",
        ),
        (
            ["--app", "2", "--slot", "2"],
            [SM4_PARTS[0][0], "A98FCC", "XX" + SM4_PARTS[1][0][2:], "1A48D3"],
            "component 2 is not hex; nothing stored",
        ),
        (
            ["--app", "2", "--slot", "2"],
            [SM4_PARTS[0][0], "A98FCC", SM4_PARTS[1][0][:30], "1A48D3"],
            "component 2 is 30 hex digits, component 1 is 32; nothing stored",
        ),
        (
            ["--app", "2", "--slot", "2"],
            flat(SM4_PARTS, "BFD2EB"),
            "key check failed: TMK has KCV BFD2EA, expected BFD2EB; nothing stored",
        ),
        (
            ["--app", "2", "--slot", "2"],
            [SM4_PARTS[0][0], "A98FCC", SM4_PARTS[0][0], "A98FCC", "000000"],
            "the components combine to a key of all zeros; nothing stored",
        ),
        (
            ["--app", "2", "--slot", "2"],
            [SM4_PARTS[0][0]],
            "nothing to read for the component 1 KCV on file descriptor",
        ),
        (["--app", "9", "--slot", "2"], [], "application must be 1 to 8, got 9"),
        (["--app", "1", "--slot", "100"], [], "the key slot is 0 to 99, not 100"),
    ],
)
def test_refusals_store_nothing(state, options, answers, reason):
    before = flash_hash(state)
    out = load_components(state, *options, answers=answers)
    assert out.returncode == 1
    assert "poskit: " + reason in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert flash_hash(state) == before


def test_a_weak_combined_key_is_refused_with_the_reason(state):
    # Two components whose XOR is a 3DES key with equal halves (single DES in disguise).
    weak = bytes.fromhex(TMK[:16] * 2)
    first = bytes.fromhex(PARTS[0][0])
    second = bytes(a ^ b for a, b in zip(first, weak)).hex().upper()
    answers = [
        PARTS[0][0],
        PARTS[0][1],
        second,
        keys.kcv("3DES", second).hex().upper(),
        keys.kcv("3DES", weak).hex().upper(),
    ]
    before = flash_hash(state)
    out = load_components(state, "--app", "1", "--slot", "1", answers=answers)
    assert out.returncode == 1
    assert "key parts 1 and 2 are equal: this 3DES key is single DES, refused" in out.stderr
    assert flash_hash(state) == before


def test_custodians_at_the_terminal_type_unseen_and_may_retype_a_mistake(state):
    command = "keys load-components --state %s --app 1 --slot 1 --parts 3" % state
    with TtyRun([POSKIT, *command.split()], dict(os.environ), ROOT) as run:
        for number, (text, check) in enumerate(PARTS, 1):
            run.expect("component %d of 3 (hex, not echoed): " % number)
            if number == 2:  # a slip of the finger: the terminal says so, asks again
                run.type("2" + text[1:])  # (not a parity bit: DES would not notice)
                run.expect("component 2 KCV (not echoed): ")
                run.type(check)
                run.expect("component 2 does not match its check value")
                run.expect("type it again")
                run.expect("component 2 of 3 (hex, not echoed): ")
            run.type(text)
            run.expect("component %d KCV (not echoed): " % number)
            run.type(check)
        run.expect("combined key KCV (from the form, not echoed): ")
        run.type("47F816")
        assert run.wait() == 0, run.output
    assert "stored the master key of slot 1 of application 1: 3DES KCV 47F816" in run.output
    for text, _ in PARTS:
        assert text[1:] not in run.output
    assert tmk_slots(state, 1) == ((1, "3DES", "47F816"),)


def test_what_is_typed_ahead_of_a_prompt_is_not_shown_either():
    # Between two prompts (while the terminal checks a component) the terminal would echo
    # what a custodian types ahead; the whole entry runs with echo off.
    program = (
        "import time\n"
        "from hostlib import secretinput\n"
        "with secretinput.no_echo():\n"
        "    print('checking', flush=True)\n"
        "    time.sleep(1.5)\n"
        "print('done', flush=True)\n"
    )
    with TtyRun([sys.executable, "-c", program], dict(os.environ), ROOT) as run:
        run.expect("checking")
        run.type(PARTS[1][0])
        run.expect("done")
        assert run.wait() == 0
    assert PARTS[1][0] not in run.output


def test_with_no_terminal_to_ask_it_says_what_to_give(state):
    command = "keys load-components --state %s --app 1 --slot 1" % state
    out = poskit(*command.split(), stdin=subprocess.DEVNULL, start_new_session=True)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "poskit: no terminal to ask for the component 1 of 2: give --components-fd N"
    )
