"""Secrets and card data for `poskit` commands: asked without echo, read from an inherited file
descriptor or from a file; never taken from the command line, where `ps`, /proc/PID/cmdline
and the shell's history show them to anyone.

    add_option(parser, "pin", "the PIN")         # --pin, --pin-fd N, --pin-file FILE
    args = parser.parse_args()
    pin = read(args, "pin", "PIN")              # None when none of the three was given
    tmk = read(args, "tmk", "TMK", needed=True, prompt="TMK (hex, not echoed): ")

Each option X comes in three forms, one at a time:

    --X            ask on the terminal, not echoed (also what `needed=True` does without it)
    --X-fd N       read one line from file descriptor N: 0 is standard input, so
                   `pass show pos/pin | poskit ... --pin-fd 0`; or `--pin-fd 3 3<pin.txt`
    --X-file FILE  read the one line of FILE (a test card, a key for an unattended script)

The rules kept here: a value is one line of text, at most `limit` characters; it is never
echoed, printed or repeated in a message; `--X VALUE` is refused with the reason and without
the value (by then it is already in the process list: the message is there to teach); a
prompt with no terminal to ask on, or an end of input, is a PoskitError that says which
option to give instead. A file that other users may read gets a warning: a PIN written with
`echo 1234 > pin.txt` under the usual umask is readable by everyone on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import re
import stat
import sys
import termios
from pathlib import Path

from hostlib.errors import PoskitError


class _AskMarker:
    def __repr__(self) -> str:
        return "ASK"


# `--X` given without a value: ask for it.
ASK = _AskMarker()
# Longest line read for any secret: a 3-key 3DES key in hex with spaces, a track 2 (37),
# a password. Longer input is refused, not cut.
LIMIT = 128
# A secret file holds one short line; a bigger file is the wrong file, and is not read on.
_FILE_LIMIT = 4096


class SecretInputError(PoskitError):
    """A secret could not be read; the message names the option, never the value."""


class _Ask(argparse.Action):
    """`--X` alone: ask. `--X VALUE`: refused at parse time, without repeating VALUE."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values is not ASK:
            raise argparse.ArgumentError(
                self,
                "takes no value (on a command line, ps and the shell's history show it to "
                "others): leave the value off to be asked without echo, or give %s-fd N or "
                "%s-file FILE" % (option_string, option_string),
            )
        setattr(namespace, self.dest, ASK)


class _Formatter(argparse.HelpFormatter):
    """Shows `--pin` as the flag it is meant to be, not `--pin [PIN]` (it takes a value only
    to refuse it)."""

    def _format_args(self, action, default_metavar):
        if isinstance(action, _Ask):
            return ""
        return super()._format_args(action, default_metavar)

    def _format_action_invocation(self, action):
        if isinstance(action, _Ask):
            return ", ".join(action.option_strings)
        return super()._format_action_invocation(action)

    def _format_usage(self, usage, actions, groups, prefix):
        text = super()._format_usage(usage, actions, groups, prefix)
        for action in actions:
            if isinstance(action, _Ask):  # "--pin " + "" left two spaces
                text = re.sub(
                    r"(%s) (?= |\]|\)|$)" % re.escape(action.option_strings[0]), r"\1", text
                )
        return text


def _parser_of(container) -> argparse.ArgumentParser | None:
    while not isinstance(container, argparse.ArgumentParser):
        container = getattr(container, "_container", None)
        if container is None:
            return None
    return container


def _fd(text: str) -> int:
    if not text.isdigit() or int(text) > 1023:
        raise argparse.ArgumentTypeError("a file descriptor is a number (0: standard input)")
    return int(text)


def add_option(container, name: str, what: str, *, ask_help: str | None = None) -> None:
    """Add --NAME, --NAME-fd N and --NAME-file FILE for the secret `what` ("the PIN") to
    `container`: a parser, or a mutually exclusive group the caller made (the three forms
    must exclude one another: give a group when `container` is a parser shared with others).
    """
    option = "--" + name
    parser = _parser_of(container)
    if parser is not None and not issubclass(parser.formatter_class, _Formatter):
        parser.formatter_class = type(
            "SecretHelpFormatter", (_Formatter, parser.formatter_class), {}
        )
    if isinstance(container, argparse.ArgumentParser):
        container = container.add_mutually_exclusive_group()
    container.add_argument(
        option,
        nargs="?",
        const=ASK,
        action=_Ask,
        help=ask_help or "ask for %s without echo" % what,
    )
    container.add_argument(
        option + "-fd",
        type=_fd,
        metavar="N",
        help="read %s from file descriptor N (one line; 0 is standard input)" % what,
    )
    container.add_argument(
        option + "-file",
        metavar="FILE",
        help="read %s from FILE (its one line; keep it readable by you alone)" % what,
    )


def given(args: argparse.Namespace, name: str) -> bool:
    """True if any form of option `name` is on the command line."""
    dest = name.replace("-", "_")
    return any(getattr(args, dest + tail, None) is not None for tail in ("", "_fd", "_file"))


def read(
    args: argparse.Namespace,
    name: str,
    what: str,
    *,
    needed: bool = False,
    prompt: str | None = None,
    limit: int = LIMIT,
    base: Path | None = None,
) -> str | None:
    """The value of secret option `name` (a string, surrounding blanks removed), from
    whichever form was given; asked for when `--NAME` came alone or, with `needed`, when
    none came. None when none came and it is not needed. `base` is the folder a relative
    --NAME-file is taken from (a script's); `prompt` what the terminal shows."""
    dest = name.replace("-", "_")
    option = "--" + name
    fd = getattr(args, dest + "_fd", None)
    file = getattr(args, dest + "_file", None)
    if fd is not None:
        return from_fd(fd, what, option, limit)
    if file is not None:
        path = Path(file)
        if base is not None and not path.is_absolute():
            path = base / path
        return from_file(path, what, option, limit)
    if getattr(args, dest, None) is ASK or needed:
        return ask(prompt or "%s (not echoed): " % what, what, option, limit)
    return None


def ask(prompt: str, what: str, option: str = "", limit: int = LIMIT, *, instead: str = "") -> str:
    """One line typed on the controlling terminal without echo. Refused when there is no
    terminal (a cron job, a pipe, CI), at the end of input (Ctrl-D) and on Ctrl-C; the
    message says to give `instead` ("--pin-fd N or --pin-file FILE" for `option` --pin)."""
    if not terminal_available():
        instead = instead or "%s-fd N or %s-file FILE" % (option, option)
        raise SecretInputError("no terminal to ask for the %s: give %s" % (what, instead))
    try:
        value = getpass.getpass(prompt)
    except EOFError:
        raise SecretInputError("no %s given (end of input)" % what) from None
    except KeyboardInterrupt:
        raise SecretInputError("%s entry cancelled" % what) from None
    return _checked(value, what, "as typed", limit)


@contextlib.contextmanager
def no_echo():
    """Keep the terminal from echoing for a whole conversation of prompts, not only while
    getpass reads: what a custodian types ahead of the next prompt (while the terminal
    checks the last value) is not shown either. Restored on the way out, whatever happens;
    nothing to do without a terminal."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        yield
        return
    try:
        saved = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
    except termios.error:
        os.close(fd)
        yield
        return
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        os.close(fd)


def terminal_available() -> bool:
    """True if this process has a controlling terminal to ask on (getpass would otherwise
    read standard input, echoing it)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def from_fd(fd: int, what: str, option: str = "", limit: int = LIMIT) -> str:
    """One line from file descriptor `fd`, read a byte at a time so that the next line stays
    there for the next secret (a script's PINs one after another, the KBPK then the key)."""
    where = "file descriptor %d" % fd
    try:
        if os.isatty(fd):
            raise SecretInputError(
                "%s is a terminal, where %s would be echoed: leave %s-fd off to be asked "
                "without echo" % (where, "the " + what, option or "the option")
            )
        data = bytearray()
        while len(data) <= limit + 1:
            byte = os.read(fd, 1)
            if not byte or byte == b"\n":
                break
            data += byte
    except OSError as exc:
        raise SecretInputError(
            "cannot read the %s from %s: %s (give it to poskit: %s-fd 3 3<FILE, or a pipe)"
            % (what, where, exc.strerror, option or "--...")
        ) from None
    if not data:
        raise SecretInputError("nothing to read for the %s on %s" % (what, where))
    return _checked(_text(data, what, where), what, "on " + where, limit)


def from_file(path: Path, what: str, option: str = "", limit: int = LIMIT) -> str:
    """The one line of file `path` (a trailing newline allowed)."""
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            data = f.read(_FILE_LIMIT + 1)
    except OSError as exc:
        raise SecretInputError(
            "cannot read the %s from %s: %s" % (what, path, exc.strerror or exc)
        ) from None
    if stat.S_ISREG(info.st_mode) and info.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        print(
            "poskit: warning: %s holds the %s and other users can read it (chmod 600 %s)"
            % (path, what, path),
            file=sys.stderr,
        )
    if len(data) > _FILE_LIMIT:
        raise SecretInputError("%s is too long for a %s file: one line expected" % (path, what))
    lines = [line for line in _text(data, what, str(path)).splitlines() if line.strip()]
    if not lines:
        raise SecretInputError("%s is empty: it should hold the %s" % (path, what))
    if len(lines) > 1:
        raise SecretInputError("%s holds %d lines: one %s a file" % (path, len(lines), what))
    return _checked(lines[0], what, "in " + str(path), limit)


def _text(data: bytes | bytearray, what: str, where: str) -> str:
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise SecretInputError("the %s %s is not text" % (what, where)) from None


def _checked(value: str, what: str, where: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise SecretInputError("the %s %s is empty" % (what, where))
    if len(value) > limit:
        raise SecretInputError("the %s %s is longer than %d characters" % (what, where, limit))
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise SecretInputError("the %s %s holds control characters" % (what, where))
    return value
