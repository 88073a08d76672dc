"""Reading a script file (`poskit txn --script`, `poskit vterm --script`) as lines of text,
with a readable refusal that names the line for anything that is not text.

    lines = read_lines(Path("day.txt"), lambda n: "day.txt:%d" % n)

A script is typed by a person: UTF-8 text, no control characters except tabs. A binary file
given by mistake (a packet, an image) is refused at its first bad line, never half run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hostlib.errors import PoskitError

# A script of a few thousand lines is long; a megabyte is a file given by mistake.
_LIMIT = 1024 * 1024


class ScriptFileError(PoskitError):
    """A script file that cannot be read as text; the message names the file and line."""


def read_lines(path: Path, where: Callable[[int], str]) -> list[str]:
    """The lines of `path` as text (line ends removed). `where(n)` names line n in messages
    ("day.txt:3", "run.vts, line 3")."""
    try:
        with open(path, "rb") as f:
            data = f.read(_LIMIT + 1)
    except OSError as exc:
        raise ScriptFileError("cannot read script %s: %s" % (path, exc.strerror)) from None
    if len(data) > _LIMIT:
        raise ScriptFileError("script %s is over %d KB: not a script?" % (path, _LIMIT // 1024))
    lines = []
    data = data.removeprefix(b"\xef\xbb\xbf")  # the byte order mark some editors write
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ScriptFileError("%s: not UTF-8 text (a binary file?)" % where(number)) from None
        line = line.removesuffix("\r")
        if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in line):
            raise ScriptFileError("%s: holds a control character (a binary file?)" % where(number))
        lines.append(line)
    if lines and not lines[-1]:
        lines.pop()  # the newline that ends the last line
    return lines
