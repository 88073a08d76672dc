"""The virtual terminal's face in a text terminal: its LCD drawn with block characters, its
keypad on the keyboard, its PIN pad, card reader and printer beside it (`poskit vterm`
without --headless or --script).

Keys (the reference keypad, drivers/keypad.py):

    0-9 . * #         the digit and symbol keys ('*' is the '.' key)
    Enter             ENTER          Backspace   CLEAR
    Esc               CANCEL         F1-F4       F1-F4 (or Alt+1..4 where F-keys are taken)
    f                 FUNC
    s                 swipe the acquirer host simulator's test card
    i / t / r         insert the card emulator's test chip card, tap it, remove it
    c                 start the installer's device check (app/hwtest.py) at the console
    Ctrl-C            stop the virtual terminal

While the terminal waits for a PIN on the external PIN pad, the digits go to the PIN pad
instead (shown as stars), Enter sends them, Esc is the pad's CANCEL: the cardholder's side.
Nothing typed is logged or kept after it is sent.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import tty

from hostlib.emulators.cardreader import TEST_TRACK2
from hostlib.errors import PoskitError

TEST_CHIP_CARD = "pboc-debit"  # the card emulator's test card (hostlib.card)

_REFRESH_S = 0.1
_ESCAPE_WAIT_S = 0.05  # an Esc alone vs the start of an F-key's sequence
_KEYS = {
    "\r": "ENTER",
    "\n": "ENTER",
    "\x7f": "CLEAR",
    "\x08": "CLEAR",
    "\x1b": "CANCEL",
    "f": "FUNC",
    "F": "FUNC",
    "*": ".",
}
_F_KEYS = {
    "\x1bOP": "F1",
    "\x1bOQ": "F2",
    "\x1bOR": "F3",
    "\x1bOS": "F4",
    "\x1b[11~": "F1",
    "\x1b[12~": "F2",
    "\x1b[13~": "F3",
    "\x1b[14~": "F4",
    "\x1b1": "F1",
    "\x1b2": "F2",
    "\x1b3": "F3",
    "\x1b4": "F4",
}
_HELP = (
    "keys: 0-9 . # | Enter=ENTER Bksp=CLEAR Esc=CANCEL F1-F4 f=FUNC | s=swipe i/t/r=chip "
    "c=check | Ctrl-C=stop"
)
# The installer's device check (app/hwtest.py), typed at the console's REPL by `c`.
DEVICE_CHECK = b"from board import unix_sim; from app import hwtest; hwtest.run(unix_sim)\r"


def braille(rows: list[list[int]]) -> list[str]:
    """Pixels as Braille characters, 2 x 4 pixels each (a 128 x 64 screen in 64 x 16)."""
    # Dot numbering of U+2800..U+28FF: bit for (column, row) within the 2 x 4 cell.
    bits = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
    height, width = len(rows), len(rows[0]) if rows else 0
    out = []
    for y in range(0, height, 4):
        line = []
        for x in range(0, width, 2):
            code = 0
            for dy in range(4):
                for dx in range(2):
                    if y + dy < height and x + dx < width and rows[y + dy][x + dx]:
                        code |= bits[dy][dx]
            line.append(chr(0x2800 + code))
        out.append("".join(line))
    return out


def half_blocks(rows: list[list[int]]) -> list[str]:
    """Pixels as half blocks, 1 x 2 pixels each (a 128 x 64 screen in 128 x 32)."""
    chars = " ▀▄█"
    out = []
    for y in range(0, len(rows), 2):
        top = rows[y]
        bottom = rows[y + 1] if y + 1 < len(rows) else [0] * len(top)
        out.append("".join(chars[t | (b << 1)] for t, b in zip(top, bottom)))
    return out


def key_for(sequence: str) -> str | None:
    """The keypad key a keyboard sequence stands for, or None."""
    if sequence in _F_KEYS:
        return _F_KEYS[sequence]
    if sequence in _KEYS:
        return _KEYS[sequence]
    if len(sequence) == 1 and sequence in "0123456789.#":
        return sequence
    return None


class ScreenView:
    """Draws the terminal and feeds it the keyboard until Ctrl-C or the terminal stops."""

    def __init__(self, terminal, out=None, fd: int | None = None) -> None:
        self.terminal = terminal
        self.out = out or sys.stdout
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.pin = ""  # the cardholder's digits while the PIN pad waits (never shown)
        self.note = ""
        self._last = ""

    def run(self) -> None:
        saved = termios.tcgetattr(self.fd)
        self.out.write("\x1b[?1049h\x1b[?25l")  # the alternate screen, cursor hidden
        try:
            tty.setcbreak(self.fd)
            attrs = termios.tcgetattr(self.fd)
            attrs[3] &= ~termios.ISIG  # Ctrl-C arrives as a byte: stop cleanly
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
            while self.terminal.console.failure is None:
                self.draw()
                sequence = self._read(_REFRESH_S)
                if sequence == "\x03":
                    return
                if sequence:
                    self.handle(sequence)
        finally:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)
            self.out.write("\x1b[?25h\x1b[?1049l")
            self.out.flush()

    def _read(self, timeout: float) -> str:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return ""
        data = os.read(self.fd, 16)
        # An escape sequence may arrive in pieces: give the rest a moment.
        if data == b"\x1b" and select.select([self.fd], [], [], _ESCAPE_WAIT_S)[0]:
            data += os.read(self.fd, 16)
        return data.decode("utf-8", "replace")

    def handle(self, sequence: str) -> None:
        """One keyboard sequence: a key of the keypad, of the PIN pad, or a swipe."""
        pad = self.terminal.pinpad
        if pad is not None and pad.waiting_for_pin():
            self._pin_key(pad, sequence)
            return
        self.pin = ""
        if sequence in ("s", "S"):
            self.terminal.card_reader.queue_swipe(TEST_TRACK2)
            self.note = "card swiped"
            return
        if sequence in ("i", "I", "t", "T", "r", "R"):
            self._chip_card(sequence.lower())
            return
        if sequence in ("c", "C"):
            console = self.terminal.console
            if console.running():
                self.note = "the device is busy: stop what runs (Ctrl-C at the console) first"
            else:
                console.type(DEVICE_CHECK)  # typed at the REPL, as an installer would
                self.note = "device check started: keys, s, F1, ENTER, CANCEL"
            return
        key = key_for(sequence)
        if key is None:
            self.note = "no key for %r" % sequence
            return
        self.terminal.keypad.play(key)
        self.note = "key " + key

    def _chip_card(self, action: str) -> None:
        from hostlib import vterm_script

        terminal = self.terminal
        if action == "r":
            terminal.chip_reader.remove()
            terminal.contactless_reader.remove()
            self.note = "card removed"
            return
        try:
            card = vterm_script.load_card(TEST_CHIP_CARD)
        except PoskitError as exc:
            self.note = str(exc)
            return
        if action == "i":
            terminal.chip_reader.insert(card)
            self.note = "chip card inserted (r removes it)"
        else:
            terminal.contactless_reader.tap(card)
            self.note = "card held to the contactless reader (r takes it away)"

    def _pin_key(self, pad, sequence: str) -> None:
        if sequence.isdigit():
            self.pin = (self.pin + sequence)[:12]
        elif sequence in ("\x7f", "\x08"):
            self.pin = ""
        elif sequence == "\x1b":
            pad.press_cancel()
            self.pin = ""
            self.note = "PIN entry cancelled on the PIN pad"
        elif sequence in ("\r", "\n"):
            if 4 <= len(self.pin) <= 12:
                pad.type_pin(self.pin)
                self.note = "PIN sent by the PIN pad"
            else:
                self.note = "a PIN is 4 to 12 digits"
            self.pin = ""

    def frame(self, width: int = 80) -> str:
        """The whole screen as text."""
        terminal = self.terminal
        picture = terminal.display.picture()
        glass = half_blocks(picture.rows) if width >= 132 else braille(picture.rows)
        span = len(glass[0]) if glass else 0
        lines = ["┌" + "─" * span + "┐"]
        lines += ["│" + row + "│" for row in glass]
        lines.append("└" + "─" * span + "┘")
        if not terminal.display.connections:
            # A new flash runs nothing: say how to give the screen something to show.
            lines.append("the device has not opened its display yet: c starts the device check")
        lines.append(_HELP)
        pad = terminal.pinpad
        if pad is not None and pad.waiting_for_pin():
            amount, prompt = pad.display
            lines.append(
                "PIN pad: %s %s  %s  (digits, Enter, Esc)" % (amount, prompt, "*" * len(self.pin))
            )
        else:
            lines.append("PIN pad: idle")
        printer = terminal.printer
        printed = [line.text for line in printer.all_lines()][-4:] if printer else []
        state = " (paper out)" if printer is not None and printer.paper_out else ""
        lines.append("printer%s:" % state + ("" if printed else " nothing printed yet"))
        lines += ["  " + text for text in printed]
        lines.append("console: %s   %s" % (terminal.console.path, self.note))
        return "\n".join(line[:width] for line in lines)

    def draw(self) -> None:
        try:
            width = os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError):
            width = 0
        width = width or 80  # a terminal that does not say its size (0 columns)
        text = self.frame(width)
        if text != self._last:
            self._last = text
            self.out.write("\x1b[H" + text.replace("\n", "\x1b[K\r\n") + "\x1b[K\x1b[J")
            self.out.flush()
