"""A 58 mm ESC/POS thermal printer: parses what the terminal sends into receipts.

    printer = PrinterEmulator(png_dir="receipts").start()
    ... device prints over SocketUART("127.0.0.1", printer.port) ...
    printer.receipts[0].text()         # the receipt as 32-column text
    printer.receipts[0].png("slip.png")    # drawn as the head prints it (also: png_dir)
    printer.missing_glyphs             # characters no font has: drawn as boxes
    printer.paper_out_after(5)         # the roll ends after 5 more lines
    printer.load_paper()               # a new roll: held data prints
    printer.open_cover(); printer.close_cover()
    printer.offline = True             # answers no status request

Understood: ESC @ (reset), ESC a n (align), ESC E n (bold), ESC ! n (print mode), GS ! n
(character size), FS & / FS . (Chinese mode: bytes >= 0x80 are GB18030), ESC d n (print and
feed), LF, GS V m [n] (cut: ends a receipt). Other control bytes are ignored. Outside Chinese
mode, bytes >= 0x80 are code page 437 (the power-on code page of most modules).

Real-time status (DLE EOT n) is answered as it arrives, even while data is held:
n=1 printer (bit 3 offline), n=2 offline cause (bit 2 cover open, bit 5 stopped for paper end),
n=3 errors (none), n=4 roll sensor (bits 2/3 near end, bits 5/6 paper end). Paper runs out
after `paper_out_after(n)` printed lines; from then on, and while the cover is open, received
bytes are held and printed when paper is loaded / the cover closed, as ESC/POS printers do.

Each cut closes a Receipt: lines with their alignment, bold and size. With `png_dir` each
receipt is also saved there as receipt-NNN.txt (32 columns) and receipt-NNN.png (numbered on
from the receipts already there), drawn as the 58 mm head prints it (no imaging library: see
`render`): 384 dots a row, a 12x24-dot cell for a single-width character and 24x24 for a
Chinese (east-asian wide) one, glyphs from the terminal's own font (hostlib/glyphs.py: the
display's Unifont subset, then GNU Unifont if installed). A character no font has is drawn
as a box and listed in `missing_glyphs`, on the receipt and on the emulator.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from hostlib import glyphs, png
from hostlib.emulators.base import Emulator

COLUMNS = 32
DOTS = 384  # the 58 mm head: 48 mm of print width at 8 dots/mm
NEAR_END_LINES = 20
# Font A of 58 mm ESC/POS modules: 12x24-dot cells (32 to a line), 24x24 for Chinese.
NARROW_CELL = 12
WIDE_CELL = 24
CELL_HEIGHT = 24
LINE_GAP = 6  # ESC 2, the default line spacing: a 30-dot pitch for 24-dot characters
MARGIN = 12  # blank dots drawn above the first line and around the cut mark
_ALIGN_NAMES = ("left", "center", "right")


@dataclass
class Line:
    """One printed line."""

    text: str
    align: str = "left"
    bold: bool = False
    width: int = 1  # character width multiple (GS !)
    height: int = 1

    def columns(self) -> int:
        """Columns the text takes (a Chinese character is two), times the width multiple."""
        return _columns(self.text) * self.width

    def render(self, columns: int = COLUMNS) -> str:
        """The line as it sits on the paper: indented by the columns its alignment leaves
        free (double-width text itself is not widened in text)."""
        room = columns - self.columns()
        if room <= 0 or self.align == "left":
            return self.text.rstrip()
        pad = room // 2 if self.align == "center" else room
        return (" " * pad + self.text).rstrip()


@dataclass
class Receipt:
    """The lines between two cuts."""

    lines: list[Line] = field(default_factory=list)
    cut: bool = False

    def texts(self) -> list[str]:
        """The text of each line, as sent (no alignment padding)."""
        return [line.text for line in self.lines]

    def text(self, columns: int = COLUMNS) -> str:
        """The receipt as plain text, one rendered line per line."""
        return "\n".join(line.render(columns) for line in self.lines)

    def png(self, path: str | os.PathLike, font: glyphs.Font | None = None) -> Path:
        """Draw the receipt to a PNG at `path` (see `render`); returns the path."""
        return png.write(path, [_pixels(row) for row in render(self, font)])

    def missing_glyphs(self, font: glyphs.Font | None = None) -> list[str]:
        """The characters no font has (drawn as boxes), each once, in order of appearance."""
        font = font or glyphs.default_font()
        missing = []
        for line in self.lines:
            for char in line.text:
                if char not in missing and font.glyph(char) is None:
                    missing.append(char)
        return missing


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in "WF"


def _columns(text: str) -> int:
    return sum(2 if _wide(ch) else 1 for ch in text)


class PrinterEmulator(Emulator):
    """See the module docstring."""

    name = "printer"

    def __init__(
        self,
        *,
        paper_lines: int | None = None,
        png_dir: str | os.PathLike | None = None,
        font: glyphs.Font | None = None,
        **options,
    ) -> None:
        super().__init__(**options)
        self.paper_lines = paper_lines  # None: an endless roll
        self.cover_is_open = False
        self.offline = False
        self.png_dir = Path(png_dir) if png_dir else None
        self.font = font  # None: glyphs.default_font()
        self.missing_glyphs: list[str] = []  # characters of any receipt no font has
        self.receipts: list[Receipt] = []
        self.current = Receipt()
        self.status_requests = 0
        self.received_bytes = 0
        self.held = bytearray()
        self._rt = bytearray()  # a DLE EOT split across reads
        self._pending = bytearray()  # a command split across reads
        self._reset_modes()
        self._runs: list[tuple[bool, bytearray]] = []
        self._line_style: tuple[int, bool, int, int] | None = None

    # --- injection -----------------------------------------------------------------------

    def paper_out_after(self, lines: int) -> None:
        """The roll ends after `lines` more printed lines (0: out now)."""
        with self.lock:
            self.paper_lines = lines
            self.notify()

    def load_paper(self, lines: int | None = None) -> None:
        """Load a roll (`lines` long; None: endless); held data prints."""
        with self.lock:
            self.paper_lines = lines
            self._release()

    def open_cover(self) -> None:
        with self.lock:
            self.cover_is_open = True
            self.notify()

    def close_cover(self) -> None:
        with self.lock:
            self.cover_is_open = False
            self._release()

    @property
    def paper_out(self) -> bool:
        return self.paper_lines == 0

    def stopped(self) -> bool:
        """True while the printer cannot print (paper end or cover open)."""
        return self.paper_out or self.cover_is_open

    def all_lines(self) -> list[Line]:
        """Every line printed so far, receipts in order, then the uncut one."""
        with self.lock:
            return [line for r in self.receipts for line in r.lines] + list(self.current.lines)

    def _release(self) -> None:
        held = bytes(self.held)
        self.held.clear()
        self._process(held)
        self.notify()

    # --- bytes from the device -----------------------------------------------------------

    def connected(self) -> None:
        self._rt.clear()

    def received(self, data: bytes) -> None:
        self.received_bytes += len(data)
        # Stage 1, as the printer's receive interrupt does: answer DLE EOT n at once.
        data = bytes(self._rt) + data
        self._rt.clear()
        rest = bytearray()
        i = 0
        while i < len(data):
            if data[i] == 0x10 and data[i + 1 : i + 2] in (b"", b"\x04"):
                if i + 2 >= len(data):
                    self._rt += data[i:]  # wait for the rest of the request
                    break
                self._status(data[i + 2])
                i += 3
                continue
            rest.append(data[i])
            i += 1
        # Stage 2: print, or hold while stopped.
        if self.stopped() or self.held:
            self.held += rest
        else:
            self._process(bytes(rest))

    def _status(self, n: int) -> None:
        self.status_requests += 1
        if self.offline:
            return
        stopped = self.stopped()
        value = 0x12
        if n == 1 and stopped:
            value |= 0x08
        elif n == 2:
            value |= (0x04 if self.cover_is_open else 0) | (0x20 if self.paper_out else 0)
        elif n == 4:
            if self.paper_out:
                value |= 0x60
            if self.paper_lines is not None and self.paper_lines <= NEAR_END_LINES:
                value |= 0x0C
        self.send(bytes((value,)))

    # --- the print engine ----------------------------------------------------------------

    def _reset_modes(self) -> None:
        self.align = 0
        self.bold = False
        self.width = 1
        self.height = 1
        self.chinese = False

    def _process(self, data: bytes) -> None:
        data = bytes(self._pending) + data
        self._pending.clear()
        i = 0
        n = len(data)
        while i < n:
            if self.stopped():
                self.held += data[i:]
                return
            b = data[i]
            need = _command_length(data, i)
            if need is None:
                self._text(b)
                i += 1
                continue
            if i + need > n:
                self._pending += data[i:]  # finish when the rest arrives
                return
            self._command(data[i : i + need])
            i += need

    def _text(self, b: int) -> None:
        if b < 0x20:
            return  # CR, and control bytes this printer ignores
        if self._line_style is None:
            self._line_style = (self.align, self.bold, self.width, self.height)
        if not self._runs or self._runs[-1][0] != self.chinese:
            self._runs.append((self.chinese, bytearray()))
        self._runs[-1][1].append(b)

    def _command(self, cmd: bytes) -> None:
        head = cmd[:2]
        if cmd == b"\n":
            self._print_line()
        elif head == b"\x1b@":
            self._runs = []
            self._line_style = None
            self._reset_modes()
        elif head == b"\x1ba":
            self.align = cmd[2] % 48 if cmd[2] >= 48 else cmd[2]
            self.align = self.align if self.align <= 2 else 0
        elif head == b"\x1bE":
            self.bold = bool(cmd[2] & 1)
        elif head == b"\x1b!":
            self.bold = bool(cmd[2] & 0x08)
            self.height = 2 if cmd[2] & 0x10 else 1
            self.width = 2 if cmd[2] & 0x20 else 1
        elif head == b"\x1d!":
            self.width = (cmd[2] >> 4) + 1
            self.height = (cmd[2] & 15) + 1
        elif head == b"\x1bd":
            if self._runs:
                self._print_line()
            for _ in range(cmd[2]):
                if self.stopped():
                    break
                self._feed_line(Line(""))
        elif head == b"\x1c&":
            self.chinese = True
        elif head == b"\x1c.":
            self.chinese = False
        elif head == b"\x1dV":
            if self._runs:
                self._print_line()
            self._cut()

    def _print_line(self) -> None:
        text = "".join(
            raw.decode("gb18030" if chinese else "cp437", errors="replace")
            for chinese, raw in self._runs
        )
        align, bold, width, height = self._line_style or (
            self.align,
            self.bold,
            self.width,
            self.height,
        )
        self._runs = []
        self._line_style = None
        self._feed_line(Line(text, _ALIGN_NAMES[align], bold, width, height))

    def _feed_line(self, line: Line) -> None:
        self.current.lines.append(line)
        if self.paper_lines is not None:
            self.paper_lines = max(0, self.paper_lines - 1)

    def _cut(self) -> None:
        receipt = self.current
        receipt.cut = True
        # Feed lines before the cut carry the last line past the blade: not receipt text.
        while receipt.lines and not receipt.lines[-1].text:
            receipt.lines.pop()
        self.receipts.append(receipt)
        self.current = Receipt()
        for char in receipt.missing_glyphs(self.font):
            if char not in self.missing_glyphs:
                self.missing_glyphs.append(char)
        if self.png_dir is not None:
            self._save(receipt)

    def _save(self, receipt: Receipt) -> None:
        # receipt-NNN.png and .txt, numbered on from the receipts already in the folder, so
        # a terminal restarted on the same folder never writes over an earlier slip.
        self.png_dir.mkdir(parents=True, exist_ok=True)
        numbers = [
            int(name.stem[8:])
            for name in self.png_dir.glob("receipt-*.png")
            if name.stem[8:].isdigit()
        ]
        stem = self.png_dir / ("receipt-%03d" % (max(numbers, default=0) + 1))
        receipt.png(stem.with_suffix(".png"), self.font)
        stem.with_suffix(".txt").write_text(receipt.text() + "\n", encoding="utf-8")


def _command_length(data: bytes, i: int) -> int | None:
    # Length of the command starting at data[i] (may exceed what has arrived), or None for
    # a text byte. Chinese second bytes are >= 0x40, so never taken for commands.
    b = data[i]
    if b == 0x0A:
        return 1
    if b not in (0x1B, 0x1C, 0x1D):
        return None
    if i + 1 >= len(data):
        return 2  # wait for the command letter
    c = data[i + 1]
    if b == 0x1B:
        return 2 if c == 0x40 else 3  # ESC @; ESC a/E/!/d/other take one parameter
    if b == 0x1C:
        return 2  # FS & / FS .
    if c == 0x56:  # GS V m [n]
        if i + 2 >= len(data):
            return 3
        return 4 if data[i + 2] in (65, 66) else 3
    return 3  # GS ! n and other one-parameter GS commands


def render(receipt: Receipt, font: glyphs.Font | None = None) -> list[int]:
    """The receipt as the head burns it: one int of DOTS bits per dot row (the leftmost dot
    the top bit). Each line is a row of cells, 12x24 dots for a single-width character and
    24x24 for a Chinese one, GS ! multiplying both; placed left, centred or right in the 384
    dots; bold smeared one dot to the right, as printers double-strike; 6 dots between lines.
    A cut ends in a dashed mark. What goes past the last dot is cut off (the text rendering
    does not wrap either)."""
    font = font or glyphs.default_font()
    rows = [0] * MARGIN
    for line in receipt.lines:
        rows += _draw_line(line, font)
        rows += [0] * LINE_GAP
    if receipt.cut:
        dashes = int("1" * 8 + "0" * 8, 2)
        mark = 0
        for _ in range(DOTS // 16):
            mark = (mark << 16) | dashes
        rows += [0] * MARGIN + [mark] + [0] * (MARGIN - 1)
    return rows


def _draw_line(line: Line, font: glyphs.Font) -> list[int]:
    rows = [0] * (CELL_HEIGHT * line.height)
    free = max(DOTS - line.columns() * NARROW_CELL, 0)
    x = {"right": free, "center": free // 2}.get(line.align, 0)
    for char in line.text:
        wide = _wide(char)
        cell_width = (WIDE_CELL if wide else NARROW_CELL) * line.width
        if x >= DOTS:
            break
        if char != " ":
            shift = DOTS - x - cell_width  # negative: the cell runs past the last dot
            for y, row in enumerate(_cell(char, wide, font)):
                row = _stretch(row, cell_width // line.width, cell_width)
                row = row << shift if shift >= 0 else row >> -shift
                for dy in range(line.height):
                    rows[y * line.height + dy] |= row
        x += cell_width
    if line.bold:
        rows = [row | (row >> 1) for row in rows]
    return rows


@functools.lru_cache(maxsize=2048)
def _cell(char: str, wide: bool, font: glyphs.Font) -> tuple[int, ...]:
    # One character's cell at normal size, CELL_HEIGHT rows of the cell's width in bits. The
    # 8x16 and 16x16 Unifont glyphs fill the 12x24 and 24x24 cells at 1.5 times
    # (nearest-neighbour); a glyph wider than its cell is narrowed to fit, a narrower one
    # centred.
    cell_width = WIDE_CELL if wide else NARROW_CELL
    found = font.glyph(char)
    if found is None:  # a box, as the display draws a character its font lacks
        side = ((1 << (cell_width - 2)) - 1) << 1
        edges = (1 << (cell_width - 2)) | 2
        return (0, 0, side) + (edges,) * (CELL_HEIGHT - 6) + (side, 0, 0)
    width, glyph_rows = found
    drawn = min(width * 3 // 2, cell_width)
    right = (cell_width - drawn) - (cell_width - drawn) // 2
    return tuple(
        _stretch(glyph_rows[y * glyphs.HEIGHT // CELL_HEIGHT], width, drawn) << right
        for y in range(CELL_HEIGHT)
    )


def _stretch(value: int, width: int, new_width: int) -> int:
    # A row of `width` dots resampled to `new_width`, nearest neighbour.
    out = 0
    for x in range(new_width):
        out = (out << 1) | ((value >> (width - 1 - x * width // new_width)) & 1)
    return out


def _pixels(row: int) -> list[int]:
    return [1 if bit == "1" else 0 for bit in format(row, "0%db" % DOTS)]
