"""The terminal's key matrix, pressed from a key script or the keyboard.

    keypad = KeypadEmulator().start()
    ... device: EmulatedKeyMatrix(SocketUART("127.0.0.1", keypad.port)) (board/simbus.py) ...
    keypad.play("1 2 3 ENTER")               # taps, one after the other
    keypad.wait_idle()

The emulator does not produce key codes: it says which switches of the matrix are closed,
and when (a 32-bit mask, bit column * 4 + row, sent whenever it changes). The device's
Keypad driver scans the emulated lines and debounces as it does on the terminal, so contact
bounce, short glitches, two keys at once and ghosting reach it as on real hardware. Over TCP
the timing is as good as the emulator's 10 ms tick; the device tests replay `timeline()`
exactly, on a virtual clock.

Key script (whitespace or commas between tokens; names are case-insensitive):

    NAME          tap: closed for `press_ms` (80), then open for `gap_ms` (80)
    NAME/MS       tap held MS ms (NAME/15: a glitch the debounce must ignore)
    NAME~         tap with contact bounce on press and release (sub-scan chatter)
    +NAME  -NAME  close / open and leave it so (chords, rollover: "+1 +2 -1 -2")
    123456        a run of digits (and '.'): one tap each
    wait/MS       nothing for MS ms

Names: 0-9, '.' (alias '*' and DOT), '#', CANCEL (ESC), CLEAR (BS), ENTER (OK), FUNC, F1-F4:
the reference keypad of drivers/keypad.py (KEYMAP), 4 rows x 5 columns, the columns driven:

    1  2  3  CANCEL  F1 / 4  5  6  CLEAR  F2 / 7  8  9  ENTER  F3 / .*  0  #  FUNC  F4

`timeline(script)` turns a script into [(ms, mask), ...] (the mask from that time on): the
device tests replay it against the driver with a virtual clock.
"""

from __future__ import annotations

import re
import time

from hostlib.emulators.base import Emulator
from hostlib.errors import PoskitError

KEYS = 0x04
# The keypad as it looks, row by row. The scan drives the columns and senses the rows, so a
# key's bit in the mask is column * ROWS + row.
LAYOUT = (
    ("1", "2", "3", "CANCEL", "F1"),
    ("4", "5", "6", "CLEAR", "F2"),
    ("7", "8", "9", "ENTER", "F3"),
    (".", "0", "#", "FUNC", "F4"),
)
ROWS = len(LAYOUT)
POSITIONS = {name: c * ROWS + r for r, row in enumerate(LAYOUT) for c, name in enumerate(row)}
ALIASES = {
    "*": ".",
    "DOT": ".",
    "ESC": "CANCEL",
    "BS": "CLEAR",
    "BACKSPACE": "CLEAR",
    "OK": "ENTER",
}
# Contact bounce, alternating closed/open ms, before a press settles closed and before a
# release settles open: each chatter is shorter than one 10 ms scan.
BOUNCE_PRESS = (2, 3, 2, 2)
BOUNCE_RELEASE = (2, 3, 1, 2)
_RUN = re.compile(r"^[0-9.]{2,}$")
_TAP = re.compile(r"^(?P<name>[^/~]+)(?:/(?P<ms>\d+))?(?P<bounce>~)?$")


class KeyScriptError(PoskitError):
    """A key script names a key that does not exist or is badly formed."""


def position(name: str) -> int:
    """Matrix position of a key name (ValueError if unknown)."""
    key = name.upper()
    key = ALIASES.get(key, key)
    if key not in POSITIONS:
        raise KeyScriptError("no key %r (keys: %s)" % (name, " ".join(POSITIONS)))
    return POSITIONS[key]


def timeline(script: str, *, press_ms: int = 80, gap_ms: int = 80) -> list[tuple[int, int]]:
    """The matrix states a key script makes: [(t_ms, mask), ...], ascending, from (0, 0),
    each mask holding from its time to the next one's; the last one is all keys open."""
    events = [(0, 0)]
    now = 0
    mask = 0

    def at(state: int) -> None:
        if events[-1][0] == now:
            events[-1] = (now, state)
        else:
            events.append((now, state))

    def tap(bit: int, hold: int, bounce: bool) -> None:
        nonlocal now
        if bounce:
            for i, ms in enumerate(BOUNCE_PRESS):
                at(mask | bit if i % 2 == 0 else mask)
                now += ms
        at(mask | bit)
        now += hold
        if bounce:
            for i, ms in enumerate(BOUNCE_RELEASE):
                at(mask if i % 2 == 0 else mask | bit)
                now += ms
        at(mask)
        now += gap_ms

    for token in script.replace(",", " ").split():
        upper = token.upper()
        if upper.startswith("WAIT/"):
            try:
                now += int(token[5:])
            except ValueError:
                raise KeyScriptError("bad wait %r (wait/MS)" % token) from None
        elif token[0] in "+-" and len(token) > 1:
            bit = 1 << position(token[1:])
            mask = mask | bit if token[0] == "+" else mask & ~bit
            at(mask)
        elif _RUN.match(token):
            for char in token:
                tap(1 << position(char), press_ms, False)
        else:
            match = _TAP.match(token)
            if not match:
                raise KeyScriptError("bad key script token %r" % token)
            hold = int(match["ms"]) if match["ms"] else press_ms
            tap(1 << position(match["name"]), hold, bool(match["bounce"]))
    if mask:
        at(0)
    return events


class KeypadEmulator(Emulator):
    """The key matrix at the end of the device's link (see the module docstring)."""

    name = "keypad"

    def __init__(self, *, press_ms: int = 80, gap_ms: int = 80, **kwargs) -> None:
        super().__init__(**kwargs)
        self.press_ms = press_ms
        self.gap_ms = gap_ms
        self.mask = 0
        self._queue: list[tuple[float, int]] = []  # (monotonic time, mask), ascending
        self._free_at = 0.0  # when the keys played so far are done, gap included
        self.sent: list[int] = []  # every mask sent, for tests

    def connected(self) -> None:
        self._send(self.mask, force=True)  # a new device learns the state at once

    def disconnected(self) -> None:
        # Keys queued for a device that has gone are not played later: the matrix jumps to
        # the state the script ends in.
        if self._queue:
            self.mask = self._queue[-1][1]
            self._queue.clear()

    def received(self, data: bytes) -> None:
        pass  # the device sends nothing on this link

    def play(self, script: str) -> None:
        """Queue a key script, to start when the keys queued before it are done."""
        events = timeline(script, press_ms=self.press_ms, gap_ms=self.gap_ms)
        with self.lock:
            # After the previous script's last release, its gap too: two scripts tapping
            # the same key are two taps, never one press with a 0 ms break in it.
            start = max(time.monotonic(), self._free_at)
            for ms, mask in events:
                self._queue.append((start + ms / 1000, mask))
            self._free_at = start + (events[-1][0] + self.gap_ms) / 1000
            self.notify()

    def key_down(self, name: str) -> None:
        """Close a key now (an interactive keyboard's key press)."""
        with self.lock:
            self._send(self.mask | 1 << position(name))

    def key_up(self, name: str) -> None:
        with self.lock:
            self._send(self.mask & ~(1 << position(name)))

    def idle(self) -> bool:
        """True when every queued key has been played."""
        with self.lock:
            return not self._queue

    def wait_idle(self, timeout: float = 30.0) -> None:
        self.wait_for(lambda: not self._queue, timeout, "the key script to finish")

    def tick(self, now: float) -> None:
        while self._queue and self._queue[0][0] <= now:
            _, mask = self._queue.pop(0)
            self._send(mask)

    def _send(self, mask: int, force: bool = False) -> None:
        if mask != self.mask or force:
            self.mask = mask
            self.sent.append(mask)
            self.send(bytes((KEYS,)) + mask.to_bytes(4, "big"))
