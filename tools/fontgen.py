"""Generate the display's bitmap font: the subset of GNU Unifont the terminal's screens use.

    python -m tools.fontgen                 # writes device/fonts/font16.py
    python -m tools.fontgen --check         # exit 1 if font16.py is stale (or a character
                                            # used in device/ string literals is missing)

Source: GNU Unifont's `.hex` file, one line per code point, `XXXX:` then 32 hex digits (an
8x16 glyph, one byte a row) or 64 (16x16, two bytes a row), leftmost pixel in the top bit.
Debian ships it in the `unifont` package (`apt-get install unifont`, then
/usr/share/unifont/unifont.hex). Unifont is dual-licensed (since 13.0.04): GPLv2+ with the
GNU font embedding exception, or the SIL Open Font License 1.1; poskit uses it under the OFL
(device/fonts/LICENSE-unifont.txt). Only the generator needs the package: the generated module
is checked in, and tests read that.

Characters: every character of device/ui/charset.txt (lines starting with '#' are comments,
white space is ignored) plus ASCII 0x20-0x7E. A character missing from the font is an error.

The output is a MicroPython module of four bytes constants (see its header for the layout):
compiled to .mpy they stay in flash when the app runs from a ROMFS image, so the font costs
no heap; the display driver looks glyphs up by binary search over the sorted index.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

from hostlib.errors import PoskitError

HELP = "generate the display font (device/fonts/font16.py) from GNU Unifont"

ROOT = Path(__file__).resolve().parents[1]
UNIFONT_HEX = Path("/usr/share/unifont/unifont.hex")
CHARSET = ROOT / "device" / "ui" / "charset.txt"
OUTPUT = ROOT / "device" / "fonts" / "font16.py"
DEVICE = ROOT / "device"
ASCII = "".join(chr(c) for c in range(0x20, 0x7F))
_BYTES_PER_LINE = 16


class FontError(PoskitError):
    """The font source or the character list is unusable."""


def read_charset(path: Path) -> str:
    """The characters listed in a charset file, in code point order, ASCII included."""
    chars = set(ASCII)
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        chars.update(c for c in line if not c.isspace())
    for c in chars:
        if ord(c) > 0xFFFF:
            raise FontError("U+%04X %s is outside the Basic Multilingual Plane" % (ord(c), c))
        if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0:
            raise FontError("U+%04X is a control character" % ord(c))
    return "".join(sorted(chars))


def read_hex(path: Path, wanted: str) -> dict[int, str]:
    """The `.hex` glyph strings of the wanted characters, by code point."""
    want = {ord(c) for c in wanted}
    glyphs = {}
    with open(path, encoding="ascii") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            code, sep, bits = line.partition(":")
            if not sep:
                raise FontError("%s:%d: not a .hex line" % (path, number))
            cp = int(code, 16)
            if cp in want:
                if len(bits) not in (32, 64):
                    raise FontError("%s:%d: U+%04X is not 8x16 or 16x16" % (path, number, cp))
                glyphs[cp] = bits
    missing = sorted(want - set(glyphs))
    if missing:
        raise FontError(
            "not in %s: %s" % (path, " ".join("U+%04X %s" % (cp, chr(cp)) for cp in missing))
        )
    return glyphs


def vlsb(bits: str) -> bytes:
    """One `.hex` glyph as the display's page layout (framebuf MONO_VLSB): for each column
    the byte of rows 0-7 (bit 0 the top row), then for each column the byte of rows 8-15."""
    width = len(bits) // 4  # 16 rows of width/4 hex digits each
    step = width // 4
    rows = [int(bits[i * step : (i + 1) * step], 16) for i in range(16)]
    out = bytearray()
    for first_row in (0, 8):
        for x in range(width):
            shift = width - 1 - x
            byte = 0
            for r in range(8):
                if rows[first_row + r] >> shift & 1:
                    byte |= 1 << r
            out.append(byte)
    return bytes(out)


def _literal_lines(data: bytes) -> list[str]:
    return [
        '    b"%s"' % "".join("\\x%02x" % b for b in data[i : i + _BYTES_PER_LINE])
        for i in range(0, len(data), _BYTES_PER_LINE)
    ]


def _name(cp: int) -> str:
    char = chr(cp)
    if char == "\\" or char == " ":
        return "U+%04X %r" % (cp, char)
    return "U+%04X %s" % (cp, char)


def render_module(glyphs: dict[int, str], source: str) -> str:
    """The text of font16.py for these glyphs."""
    narrow = sorted(cp for cp, bits in glyphs.items() if len(bits) == 32)
    wide = sorted(cp for cp, bits in glyphs.items() if len(bits) == 64)
    if narrow[: len(ASCII)] != [ord(c) for c in ASCII]:
        raise FontError("ASCII 0x20-0x7E must all be narrow glyphs")
    header = """\
# Generated by tools/fontgen.py from device/ui/charset.txt: do not edit. Regenerate with
#     python -m tools.fontgen   (Debian package `unifont`: /usr/share/unifont/unifont.hex)
# Glyphs: %s,
# (c) Roman Czyborra, Paul Hardy and the Unifont contributors; used under the
# SIL Open Font License 1.1: see device/fonts/LICENSE-unifont.txt.
#
# Layout = the display's page layout (framebuf MONO_VLSB): a glyph is the bytes of its
# columns for rows 0-7 (bit 0 = top row), then for rows 8-15. NARROW glyphs are 8 columns
# (16 bytes), WIDE glyphs 16 columns (32 bytes); glyph i of a table starts at i * size.
# *_INDEX: the code points, 2 bytes big-endian each, ascending. NARROW begins with ASCII
# 0x20-0x7E in order, so an ASCII character's glyph is at (code - 0x20) * 16.
# %d narrow + %d wide glyphs, %d bytes of glyph data.""" % (
        source,
        len(narrow),
        len(wide),
        16 * len(narrow) + 32 * len(wide),
    )
    out = [
        header,
        "",
        "HEIGHT = 16",
        "NARROW_COUNT = %d" % len(narrow),
        "WIDE_COUNT = %d" % len(wide),
    ]
    for name, table in (("NARROW", narrow), ("WIDE", wide)):
        index = b"".join(cp.to_bytes(2, "big") for cp in table)
        out.append("%s_INDEX = (" % name)
        out.extend(_literal_lines(index))
        out.append(")")
        out.append("%s_GLYPHS = (" % name)
        for cp in table:
            out.append("    # %s" % _name(cp))
            out.extend(_literal_lines(vlsb(glyphs[cp])))
        out.append(")")
    return "\n".join(out) + "\n"


def source_name(hex_path: Path) -> str:
    """'GNU Unifont 15.0.01 (Debian unifont 1:15.0.01-2)' when the Debian package is there."""
    try:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "unifont"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        proc = None
    if proc is not None and proc.returncode == 0 and proc.stdout and hex_path == UNIFONT_HEX:
        version = proc.stdout.strip()
        upstream = version.split(":")[-1].rsplit("-", 1)[0]
        return "GNU Unifont %s (Debian unifont %s)" % (upstream, version)
    return "GNU Unifont (%s)" % hex_path.name


def generate(hex_path: Path, charset: Path, source: str | None = None) -> str:
    """The font module's text for the characters of `charset`."""
    chars = read_charset(charset)
    return render_module(read_hex(hex_path, chars), source or source_name(hex_path))


def used_characters(root: Path = DEVICE) -> set[str]:
    """Non-ASCII characters of the str literals in the device's .py files (docstrings,
    comments and the generated font excluded): what the screens may draw."""
    used = set()
    for path in sorted(root.rglob("*.py")):
        if "fonts" in path.relative_to(root).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docs
            ):
                used.update(c for c in node.value if ord(c) >= 0x80)
    return used


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hex", type=Path, default=UNIFONT_HEX, help="Unifont .hex file (%(default)s)"
    )
    parser.add_argument("--charset", type=Path, default=CHARSET, help="character list")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help="module to write")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing: fail if the module is stale or device/ uses a character "
        "the charset lacks",
    )


def run(args: argparse.Namespace) -> int:
    missing = sorted(used_characters() - set(read_charset(args.charset)))
    if missing:
        print(
            "fontgen: used in device/ but not in %s: %s" % (args.charset, "".join(missing)),
            file=sys.stderr,
        )
        if args.check:
            return 1
    if not args.hex.exists():
        raise FontError(
            "%s not found: install Debian's `unifont` package (apt-get install unifont) "
            "or pass --hex" % args.hex
        )
    text = generate(args.hex, args.charset)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print("fontgen: %s is stale: run python -m tools.fontgen" % args.output)
            return 1
        print("fontgen: %s is up to date" % args.output)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print("fontgen: wrote %s (%d bytes)" % (args.output, len(text.encode())))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fontgen", description=HELP)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except PoskitError as exc:
        print("fontgen: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
