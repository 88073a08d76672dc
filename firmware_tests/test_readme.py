"""The documents as a new user meets them: the README's installer bench, run as printed in a
fresh home folder, prints what the README says it prints; every link and file the documents
cite exists.

The bench runs each `$ ` command of README.md's "An installer's bench" in bash on a pseudo
terminal (prompts behave as at a keyboard: getpass turns echo off), from the repository's
folder as after `make demo`, with HOME a new empty folder. It answers the prompts as the
installer would, and compares the output with the README's lines: a `...` line stands for
any lines, a line ending in ` ...` for the rest of that line; the home folder is shown as
/home/installer; the KBPK and link key are random, so their check values may differ.
"""

import os
import pty
import re
import select
import shlex
import signal
import time
from pathlib import Path

import pytest

from tools.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]

PASSPHRASE = "correct horse battery"
# What the installer types at each prompt: the host simulator's test TMK (docs/hostsim.md).
ANSWERS = {
    "key store passphrase: ": PASSPHRASE,
    "again: ": PASSPHRASE,
    "TMK (hex, not echoed): ": "70F2A84CCBC2AE8625CBB0F2C22AB923",
}
# Values that differ on every run: the check values of keys made at random.
RANDOM = [
    (re.compile(r"^(  KBPK      AES-128, KCV )[0-9A-F]{6}$"), r"\1XXXXXX"),
    (re.compile(r"^(  link key  HMAC-SHA256, check )[0-9A-F]{6}$"), r"\1XXXXXX"),
]


def bench_session(text: str) -> list[tuple[str, list[str]]]:
    """(command, the lines it prints) for each `$ ` line of the bench's fenced block."""
    section = text.split("### An installer's bench", 1)[1]
    block = section.split("```", 2)[1]
    session: list[tuple[str, list[str]]] = []
    for line in block.splitlines()[1:]:
        if line.startswith("$ "):
            session.append((line[2:], []))
        elif session:
            session[-1][1].append(line.rstrip())
    return [(command, _trim(lines)) for command, lines in session]


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1]:
        lines.pop()
    return lines


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line, a `...` line standing for any number of lines and a line ending in
    ` ...` for any line that starts with what comes before it."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    line = expected[0]
    same = actual[0].startswith(line[:-3]) if line.endswith(" ...") else line == actual[0]
    return same and matches(expected[1:], actual[1:])


def _normal(line: str, home: str) -> str:
    line = line.replace(home, "/home/installer").rstrip()
    for pattern, replacement in RANDOM:
        line = pattern.sub(replacement, line)
    return line


def run_on_a_terminal(command: str, env: dict, cwd: Path, timeout: float = 300) -> str:
    """`bash -c command` on a pseudo-terminal, answering ANSWERS' prompts; its output."""
    pid, master = pty.fork()
    if pid == 0:  # the child: bash with the pseudo-terminal as its controlling terminal
        os.chdir(cwd)
        os.execve("/bin/bash", ["bash", "--noprofile", "--norc", "-c", command], env)
    seen = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child has gone and the terminal closed
                    break
                if not chunk:
                    break
                seen += chunk
            text = seen.decode(errors="replace")
            for prompt, answer in ANSWERS.items():
                if text.endswith(prompt) and len(seen) > answered:
                    time.sleep(0.1)  # getpass turns echo off after writing the prompt
                    os.write(master, answer.encode() + b"\n")
                    answered = len(seen)
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("%r did not finish: %r" % (command, seen[-500:]))
    finally:
        os.waitpid(pid, 0)
        os.close(master)
    return seen.decode().replace("\r\n", "\n")


def test_the_readme_bench_runs_as_printed(tmp_path):
    session = bench_session(README.read_text(encoding="utf-8"))
    assert len(session) >= 8, "the README's bench is not where this test looks for it"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "TERM": "dumb",
        "LANG": "C.UTF-8",
    }
    # The session's shell state (the folder, exported variables) carried from command to
    # command, as in one shell; ROOT is where the installer runs `make demo`.
    cwd = ROOT
    saved = tmp_path / "shell"
    for command, expected in session:
        wrapped = "%s\nstatus=$?; pwd > %s/cwd; export -p > %s/env; exit $status" % (
            command,
            shlex.quote(str(tmp_path)),
            shlex.quote(str(tmp_path)),
        )
        if saved.exists():
            wrapped = ". %s\n%s" % (shlex.quote(str(saved)), wrapped)
        output = run_on_a_terminal(wrapped, env, cwd)
        cwd = Path((tmp_path / "cwd").read_text().strip())
        (tmp_path / "env").rename(saved)
        actual = _trim([_normal(line, str(home)) for line in output.splitlines()])
        expected = [_normal(line, str(home)) for line in expected]
        assert matches(expected, actual), "$ %s\nREADME:\n%s\n\nreal:\n%s" % (
            command,
            "\n".join(expected),
            "\n".join(actual),
        )
    # What the bench made is in the bench folder, not in the repository.
    assert cwd != ROOT and ROOT not in cwd.parents
    assert not list(ROOT.glob("*.bin")) and not (ROOT / "term1").exists()
    assert not (ROOT / "~").exists() and not (cwd / "~").exists()


# --- links and citations ---------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")
# Paths in the text (`docs/keys.md`, firmware_tests/test_x.py): each must exist.
_PATH = re.compile(
    r"(?<![\w/.-])((?:docs|device|hostlib|tools|firmware_tests)/[\w./*{},-]*[\w*}])"
)


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    found = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves(doc):
    broken = []
    for target in _LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s):, mailto:
        name, _, anchor = target.partition("#")
        path = (doc.parent / name).resolve() if name else doc
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(target + " (no such heading)")
    assert not broken, "%s: %s" % (doc.name, ", ".join(broken))


def _expand(path: str) -> list[str]:
    """`test_{pinpad,display}.py` -> each name; a `*` pattern names no one file."""
    if "*" in path:
        return []
    found = re.search(r"\{([^}]*)\}", path)
    if not found:
        return [path]
    head, tail = path[: found.start()], path[found.end() :]
    return [name for part in found.group(1).split(",") for name in _expand(head + part + tail)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_a_document_names_exists(doc):
    text = doc.read_text(encoding="utf-8")
    named = {name for path in _PATH.findall(text) for name in _expand(path)}
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert not missing, "%s names files that do not exist: %s" % (doc.name, ", ".join(missing))


def test_the_readme_lists_every_document():
    text = README.read_text(encoding="utf-8")
    listed = set(re.findall(r"\]\((docs/[\w.-]+\.md)\)", text.split("## Documents", 1)[1]))
    every = {"docs/" + doc.name for doc in DOCS if doc != README}
    assert every - listed == set(), "not in the README's Documents list"


_COMMANDS = set(COMMANDS)  # poskit's command table


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documents_name_only_commands_that_exist_or_say_they_do_not(doc):
    """`poskit WORD` is a command, or its paragraph says it is not yet built."""
    wrong = []
    for paragraph in doc.read_text(encoding="utf-8").split("\n\n"):
        for word in re.findall(r"`poskit ([a-z][a-z-]*)", paragraph):
            if word not in _COMMANDS and "not yet built" not in paragraph:
                wrong.append(word)
    assert not wrong, "%s: %s" % (doc.name, ", ".join(wrong))
