"""ESC/POS driver for 58 mm thermal printer modules with a GB18030 font ROM.

    printer = Printer(uart)
    job = [(CENTER | BOLD | DOUBLE, b"\\xc7\\xa9\\xb9\\xba\\xb5\\xa5"),  # 签购单 in GB18030
           b"MERCHANT NAME: POSKIT TEST SHOP",
           two_columns(b"AMOUNT:", b"RMB 0.01")]
    try:
        printer.print_job(job)
    except PaperOut as exc:
        ...                                  # ask for paper, then:
        printer.print_job(job, start=exc.next_line)

A job is a sequence of lines; a line is bytes (left, normal size) or (style, bytes) with style
an OR of LEFT/CENTER/RIGHT, BOLD, DOUBLE_HEIGHT, DOUBLE_WIDTH (DOUBLE = both). The module
prints 32 characters a line at normal width (16 at double width); a Chinese character is two
columns. The driver does not wrap: laying out a receipt is the app's job (two_columns helps).

Chinese: text is **bytes in GB18030**, never str. MicroPython has no GBK/GB18030 codec, so
Chinese text is encoded on the host: merchant names arrive GB18030-encoded in the parameter
packet, and the receipt captions are bytes constants generated at build time. A line holding
any byte >= 0x80 is printed in Chinese mode (FS &); the printer's font ROM draws it.

Bytes on the wire: ESC @ at the start of a job; then per line only the style commands that
change (ESC a n align, ESC E n bold, GS ! n size, FS & / FS . Chinese mode), the text, LF; at the
end ESC d n (feed the last line past the cutter) and GS V 1 (partial cut).

Paper and cover: real-time status (DLE EOT 2: cover open, stopped for paper end; DLE EOT 4:
roll paper sensor, bits 5/6 paper end, bits 2/3 near end) is asked before the job, every
`check_every` lines during it, and after its last line. The printer answers real-time
requests at once, even while it holds data it cannot print.
Resume rule: on paper end (or an open cover) the module stops printing and keeps what it has
received, and prints it once paper is loaded (ESC/POS printers do; modules that drop data on
paper end cannot be used with this rule). So a line counts as printed once it has been sent,
and PaperOut.next_line is the first line not sent: print_job(job, start=next_line) after
loading paper prints every line exactly once. On resume the driver sends no ESC @.
A printer that does not answer a status request within `status_timeout_ms` raises
PrinterOffline (also with next_line).
"""

import time

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int


LEFT = const(0)
CENTER = const(1)
RIGHT = const(2)
BOLD = const(4)
DOUBLE_HEIGHT = const(8)
DOUBLE_WIDTH = const(16)
DOUBLE = const(24)
WIDTH = const(32)  # characters a line at normal width (58 mm paper, 12x24 font, 384 dots)

# Status() flags.
PAPER_OUT = const(1)
COVER_OPEN = const(2)
PAPER_NEAR_END = const(4)

_INIT = b"\x1b@"
_ALIGN = (b"\x1ba\x00", b"\x1ba\x01", b"\x1ba\x02")
_BOLD = (b"\x1bE\x00", b"\x1bE\x01")
# GS ! n: high nibble width multiple - 1, low nibble height multiple - 1. Index: style >> 3.
_SIZE = (b"\x1d!\x00", b"\x1d!\x01", b"\x1d!\x10", b"\x1d!\x11")
_CHINESE = (b"\x1c.", b"\x1c&")
_FEED = b"\x1bd"
_CUT = b"\x1dV\x01"
_LF = b"\n"
_STATUS_OFFLINE = b"\x10\x04\x02"
_STATUS_PAPER = b"\x10\x04\x04"
# A real-time status byte has bit 0 = 0, bit 1 = 1, bit 4 = 1, bit 7 = 0.
_STATUS_MASK = const(0x93)
_STATUS_FIXED = const(0x12)


class PrinterError(OSError):
    """Base of the printer's named errors. `next_line` is the index of the first line of
    the job not yet sent: pass it back as print_job(..., start=next_line)."""

    def __init__(self, message, next_line=0):
        super().__init__(message)
        self.next_line = next_line


class PaperOut(PrinterError):
    """The paper roll is out: load paper and resume at next_line."""


class CoverOpen(PrinterError):
    """The printer cover is open: close it and resume at next_line."""


class PrinterOffline(PrinterError):
    """The printer did not answer a status request (power, cable, wrong UART)."""


def columns(text):
    """Print columns `text` (GB18030 bytes) takes: 1 a single byte, 2 a Chinese character
    (2-byte sequence, or a 4-byte one whose second byte is a digit 0x30-0x39)."""
    n = len(text)
    cols = 0
    i = 0
    while i < n:
        if text[i] < 0x80:
            i += 1
            cols += 1
        else:
            i += 4 if i + 1 < n and 0x30 <= text[i + 1] <= 0x39 else 2
            cols += 2
    return cols


def two_columns(left, right, width=WIDTH):
    """`left` and `right` (bytes) on one line of `width` columns, right one right-aligned;
    raises ValueError when they do not fit."""
    gap = width - columns(left) - columns(right)
    if gap < 1:
        raise ValueError("line does not fit in %d columns" % width)
    return left + b" " * gap + right


def _chinese(text):
    for c in text:
        if c >= 0x80:
            return 1
    return 0


class Printer:
    """An ESC/POS printer on a UART-like bus.

    Options (keyword-only): `status_timeout_ms` for each real-time status answer,
    `check_every` lines between status checks in a job, `feed_lines` fed before the cut
    (the distance from the print head to the cutter).
    """

    def __init__(self, uart, *, status_timeout_ms=500, check_every=4, feed_lines=4):
        if check_every < 1:
            raise ValueError("check_every must be at least 1")
        self._uart = uart
        self._status_timeout = status_timeout_ms
        self._check_every = check_every
        self._feed_lines = feed_lines
        self._reply = bytearray(1)
        self._feed = bytearray(_FEED + b"\x00")
        self.near_end = False  # the paper roll's near-end sensor, at the last check
        self._forget()

    def _forget(self):
        # Modes the printer is in, as far as we know (None: unknown, always sent).
        self._align = None
        self._bold = None
        self._size = None
        self._chinese_mode = None

    def init(self):
        """ESC @: reset the printer's modes (alignment, bold, size)."""
        self._uart.write(_INIT)
        self._align = 0
        self._bold = 0
        self._size = 0
        self._chinese_mode = None  # ESC @ leaves it as the model's default

    # --- status --------------------------------------------------------------------------

    def _query(self, request):
        uart = self._uart
        reply = self._reply
        while uart.any():  # a late answer to an earlier request
            uart.readinto(reply)
        uart.write(request)
        deadline = time.ticks_add(time.ticks_ms(), self._status_timeout)
        while True:
            if uart.any():
                if uart.readinto(reply) and reply[0] & _STATUS_MASK == _STATUS_FIXED:
                    return reply[0]
            elif time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return -1
            else:
                time.sleep_ms(1)

    def status(self):
        """Real-time status: 0 when ready, else an OR of PAPER_OUT, COVER_OPEN,
        PAPER_NEAR_END. Raises PrinterOffline when the printer does not answer."""
        offline = self._query(_STATUS_OFFLINE)
        paper = self._query(_STATUS_PAPER) if offline >= 0 else -1
        if paper < 0:
            raise PrinterOffline("printer does not answer")
        flags = 0
        if offline & 0x04:
            flags |= COVER_OPEN
        if paper & 0x60 == 0x60 or offline & 0x20:
            flags |= PAPER_OUT
        if paper & 0x0C == 0x0C:
            flags |= PAPER_NEAR_END
        return flags

    def _check(self, next_line):
        try:
            flags = self.status()
        except PrinterOffline:
            raise PrinterOffline("printer does not answer", next_line)
        if flags & COVER_OPEN:
            raise CoverOpen("printer cover open", next_line)
        if flags & PAPER_OUT:
            raise PaperOut("paper out", next_line)
        self.near_end = bool(flags & PAPER_NEAR_END)

    # --- printing ------------------------------------------------------------------------

    def line(self, item):
        """Send one line: bytes, or (style, bytes). No status check (print_job checks)."""
        if isinstance(item, tuple):
            style, text = item
        else:
            style, text = 0, item
        if isinstance(text, str):
            if len(text.encode()) != len(text):
                raise ValueError("Chinese text must be GB18030 bytes, not str")
            text = text.encode()
        uart = self._uart
        align = style & 3
        if align > 2:
            raise ValueError("bad alignment in style")
        if align != self._align:
            uart.write(_ALIGN[align])
            self._align = align
        bold = 1 if style & BOLD else 0
        if bold != self._bold:
            uart.write(_BOLD[bold])
            self._bold = bold
        size = style >> 3 & 3
        if size != self._size:
            uart.write(_SIZE[size])
            self._size = size
        chinese = _chinese(text)
        if chinese and chinese != self._chinese_mode:
            uart.write(_CHINESE[1])
            self._chinese_mode = 1
        if text:
            uart.write(text)
        uart.write(_LF)

    def feed(self, lines):
        """Feed `lines` blank lines (ESC d n)."""
        self._feed[2] = lines
        self._uart.write(self._feed)

    def cut(self):
        """Feed the last line past the cutter, then cut (GS V 1, partial cut)."""
        self.feed(self._feed_lines)
        self._uart.write(_CUT)

    def print_job(self, lines, start=0, cut=True):
        """Print `lines[start:]` and cut; returns len(lines).

        Raises PaperOut, CoverOpen or PrinterOffline with `next_line`: the index to start
        from once the printer is ready again (see the module docstring for the rule).
        """
        count = len(lines)
        if start == 0:
            self.init()
        self._check(start)
        every = self._check_every
        i = start
        while i < count:
            self.line(lines[i])
            i += 1
            if i < count and (i - start) % every == 0:
                self._check(i)
        # Paper may have run out under the last lines: they are held, not lost; the resume
        # then only cuts.
        self._check(count)
        if cut:
            self.cut()
        return count
