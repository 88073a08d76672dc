"""Scripts that drive a virtual terminal and end with a status: `poskit vterm --script FILE`.

One command a line; `#` starts a comment line; blank lines are skipped. Waits are bounded by
the current timeout (10 s until a `timeout` line changes it).

    timeout SECONDS          wait limit for the lines after it
    expect TEXT              wait until TEXT appears in the console output after the last
                             expect's match, exec or reset (the first from power-on)
    exec CODE                run one line of Python at the device's raw REPL (as `mpremote
                             exec` does: Ctrl-C, Ctrl-A; code still running after 1 s, such
                             as main.py, is interrupted); fails if it raises; the console
                             stays in the raw REPL until a `send` or `reset`
    send TEXT                type TEXT on the console (at the friendly REPL: Ctrl-B first
                             if an exec left the raw one)
    sleep SECONDS            wait
    reset                    soft reset (Ctrl-C, Ctrl-B, Ctrl-D); waits for the new boot
    print-receipt-check TEXT wait until the printer has printed a line holding TEXT
    keys KEYS                press keys on the keypad (a key script: `1 2 3 ENTER`, `0.01`,
                             `CANCEL`, `F1`, `5/15` a 15 ms glitch, `wait/500`; see
                             hostlib/emulators/keypad.py) and wait until they are played
    hold PRESS_MS [GAP_MS]   each key of the `keys` lines after it is held PRESS_MS ms and
                             released for GAP_MS ms before the next (80 and 80 until set):
                             `hold 250 150` keeps a busy machine from losing a key
    swipe [TRACK2] [FAULT]   swipe a card on the reader: the test card of the acquirer host
                             simulator, or TRACK2 (`6224...=2806...`); FAULT makes it a bad
                             read (lrc, no-start, no-end, character, too-long, check-digit).
                             Sent as soon as the terminal has opened its reader
    insert CARD              insert a chip card into the contact reader: a test card of the
                             card emulator by name (pboc-debit) or a card file (beside the
                             script unless absolute); it stays in until `remove`
    tap CARD [SECONDS]       hold a card to the contactless reader: until `remove`, or for
                             SECONDS (a card without a contactless interface is not seen)
    remove                   take the card out of the contact reader and the field
    pin PIN | cancel | timeout
                             what the cardholder does at the PIN pad's next PIN entry
    screen-check TEXT        wait until the display shows TEXT (read back off the glass
                             with the terminal's own font; any line, spaces matter)
    snapshot FILE            write the display to FILE (beside the script unless absolute):
                             a PNG if it ends in .png, else text (one line per text line
                             read, then the pixels as # and .)
    paper-out [LINES]        the printer runs out of paper (after LINES more lines)
    load-paper               paper loaded (a stopped job resumes)
    modem-result RESULT      the next dial answers RESULT (BUSY, NO CARRIER, NO DIALTONE,
                             NO ANSWER, ERROR, SILENT)
    gprs-signal RSSI         the GPRS module's AT+CSQ answers RSSI (0-31, 99 unknown)
    gprs-drop                the GPRS connection to the host drops (CLOSED)

TEXT and CODE run to the end of the line, spaces kept; in TEXT, `\\r`, `\\n`, `\\t`, `\\\\` and
`\\xHH` stand for those bytes (`send \\x03` is Ctrl-C). Example:

    timeout 5
    exec import os; print(sorted(os.listdir()))
    expect 'data'
    send print(6 * 7)\\r
    expect 42
    reset
    expect MPY: soft reboot
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from hostlib.emulators.base import EmulatorError
from hostlib.emulators.cardreader import FAULTS, TEST_TRACK2
from hostlib.emulators.keypad import KeyScriptError
from hostlib.emulators.keypad import timeline as keypad_timeline
from hostlib.emulators.modem import RESULTS as MODEM_RESULTS
from hostlib.emulators.modem import SILENT as MODEM_SILENT
from hostlib.errors import PoskitError
from hostlib.scriptfile import read_lines
from hostlib.vterm import RAW_PROMPT, SOFT_REBOOT, VirtualTerminal, VtermError

DEFAULT_TIMEOUT = 10.0
# How long exec lets running code finish before interrupting it (main.py never finishes).
_SETTLE_S = 1.0
_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|[rnt\\])")
_SIMPLE = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"\\": b"\\"}
# The raw REPL's answer to a command: OK, its output, EOT, its error output, EOT, prompt.
_RAW_RESULT = re.compile(rb"OK(.*?)\x04(.*?)\x04>", re.S)
_NEEDS_TEXT = (
    "expect",
    "exec",
    "send",
    "print-receipt-check",
    "keys",
    "pin",
    "screen-check",
    "snapshot",
    "modem-result",
    "gprs-signal",
    "insert",
    "tap",
    "hold",
)
_NEEDS_NUMBER = ("timeout", "sleep")
# Seconds as a person writes them; "nan", "inf" and "1e9" are refused, not waited for.
_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")
_MAX_SECONDS = 3600
_HOLD_MS = (40, 2000)
_BARE = ("reset", "load-paper", "gprs-drop", "remove")
_OPTIONAL = ("swipe", "paper-out")


class ScriptError(PoskitError):
    """A script line is malformed, or its expectation did not hold."""


@dataclass
class Step:
    """One script line."""

    line: int
    command: str
    argument: str

    def describe(self) -> str:
        """The line as messages quote it; a PIN as stars."""
        argument = self.argument
        if self.command == "pin" and argument.isdigit():
            argument = "*" * len(argument)
        elif self.command == "swipe":
            # A track 2 is card data: the PAN masked as on a slip, the rest left out.
            argument = " ".join(_masked_track(word) for word in argument.split())
        return ("%s %s" % (self.command, argument)).strip()


def _masked_track(word: str) -> str:
    pan, sep, _ = word.partition("=")
    if not sep:
        return word
    if len(pan) <= 10:
        return "*" * len(pan) + "=..."
    return "%s%s%s=..." % (pan[:6], "*" * (len(pan) - 10), pan[-4:])


def unescape(text: str) -> bytes:
    """Bytes of `text` (UTF-8) with \\r, \\n, \\t, \\\\ and \\xHH replaced."""

    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        return bytes([int(code[1:], 16)]) if code[:1] == b"x" else _SIMPLE[code]

    return _ESCAPE.sub(one, text.encode("utf-8"))


def parse_file(path: Path) -> list[Step]:
    """The steps of script file `path`, as parse() gives them; a file that is not text is
    refused naming its first bad line."""
    name = str(path)
    return _parse_lines(read_lines(path, lambda n: "%s, line %d" % (name, n)), name)


def parse(text: str, name: str = "script") -> list[Step]:
    """The steps of a script; ScriptError naming the line for anything malformed (checked
    before the terminal starts, so a typo does not cost a run)."""
    return _parse_lines(text.splitlines(), name)


def _parse_lines(lines: list[str], name: str) -> list[Step]:
    steps = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        command, _, argument = line.partition(" ")
        argument = argument.strip()
        where = "%s, line %d" % (name, number)
        if command in _NEEDS_TEXT:
            if not argument:
                raise ScriptError("%s: `%s` needs a text" % (where, command))
        elif command in _NEEDS_NUMBER:
            if not _SECONDS.fullmatch(argument) or float(argument) > _MAX_SECONDS:
                raise ScriptError(
                    "%s: `%s` needs a number of seconds (0 to %d, e.g. 2.5), not %r"
                    % (where, command, _MAX_SECONDS, argument)
                )
        elif command in _BARE:
            if argument:
                raise ScriptError("%s: `%s` takes no argument" % (where, command))
        elif command in _OPTIONAL:
            pass
        else:
            raise ScriptError("%s: unknown command %r" % (where, command))
        step = Step(number, command, argument)
        try:
            _check_argument(step)
        except (ValueError, KeyScriptError) as exc:
            raise ScriptError("%s: `%s`: %s" % (where, command, exc)) from None
        steps.append(step)
    return steps


def _swipe_arguments(argument: str) -> tuple[str, str | None]:
    """(track 2, fault) of a swipe line."""
    track, fault = TEST_TRACK2, None
    for word in argument.split():
        if "=" in word:
            track = word
        elif word.replace("-", " ") in FAULTS:
            fault = word.replace("-", " ")
        else:
            raise ValueError(
                "%r is neither a track 2 (PAN=YYMM..., with the '=') nor a fault (%s)"
                % (word, ", ".join(f.replace(" ", "-") for f in FAULTS))
            )
    return track, fault


def _tap_arguments(argument: str) -> tuple[str, float | None]:
    """(card, seconds or None) of a tap line: a last word that is a number is the time."""
    card, _, last = argument.rpartition(" ")
    if card and _SECONDS.fullmatch(last):
        seconds = float(last)
        if seconds > _MAX_SECONDS:
            raise ValueError("a tap lasts at most %d seconds" % _MAX_SECONDS)
        return card.strip(), seconds
    return argument, None


def _hold_arguments(argument: str) -> tuple[int, int]:
    """(press ms, gap ms) of a hold line; the gap is 80 ms when not given."""
    words = argument.split()
    if not 1 <= len(words) <= 2 or not all(word.isdigit() for word in words):
        raise ValueError("hold PRESS_MS [GAP_MS], whole milliseconds")
    press, gap = int(words[0]), int(words[1]) if len(words) == 2 else 80
    # The driver counts a key once it reads the same for 3 scans 10 ms apart (drivers/
    # keypad.py): a shorter press or gap is a glitch it must ignore, not a key.
    if not (_HOLD_MS[0] <= press <= _HOLD_MS[1] and _HOLD_MS[0] <= gap <= _HOLD_MS[1]):
        raise ValueError("a key is held and released %d to %d ms" % _HOLD_MS)
    return press, gap


def load_card(name: str, base: Path | None = None):
    """The chip card `name`: a test card of the card emulator (hostlib.card, imported only
    now: a terminal without chip cards runs without it), or a card file, taken from `base`
    when relative. ScriptError with a readable reason if it cannot be had."""
    try:
        from hostlib.card import load_card as load
    except ModuleNotFoundError as exc:
        if exc.name != "hostlib.card":
            raise
        raise ScriptError(
            "chip cards need the card emulator (hostlib.card), which this poskit lacks"
        ) from None
    path = base / name if base is not None else Path(name)
    try:
        return load(str(path) if path.exists() else name)
    except (PoskitError, OSError, ValueError, KeyError) as exc:
        raise ScriptError("cannot load card %r: %s" % (name, exc)) from None


def _check_argument(step: Step) -> None:
    """ValueError for an argument the verb cannot take (so a typo is caught before the
    terminal starts)."""
    command, argument = step.command, step.argument
    if command == "keys":
        keypad_timeline(argument)
    elif command == "swipe":
        _swipe_arguments(argument)
    elif command == "tap":
        _tap_arguments(argument)
    elif command == "hold":
        _hold_arguments(argument)
    elif command == "pin":
        if argument not in ("cancel", "timeout") and not (
            argument.isdigit() and 4 <= len(argument) <= 12
        ):
            raise ValueError("a PIN is 4 to 12 digits (or cancel, timeout)")
    elif command == "modem-result":
        if argument.upper() not in MODEM_RESULTS + (MODEM_SILENT,):
            raise ValueError("one of %s" % ", ".join(MODEM_RESULTS + (MODEM_SILENT,)))
    elif command == "gprs-signal":
        if not argument.isdigit() or not (int(argument) <= 31 or int(argument) == 99):
            raise ValueError("RSSI is 0-31, or 99 (unknown)")
    elif command == "paper-out":
        if argument and not argument.isdigit():
            raise ValueError("LINES is a number of lines")


class ScriptRunner:
    """Runs parsed steps on a started VirtualTerminal."""

    def __init__(
        self, terminal: VirtualTerminal, name: str = "script", base: Path | None = None
    ) -> None:
        if terminal.console is None:
            raise ScriptError("the virtual terminal is not running")
        self.terminal = terminal
        self.console = terminal.console
        self.name = name
        self.base = base  # relative file names (snapshot) are taken from here; None: cwd
        self.timeout = DEFAULT_TIMEOUT
        self.cursor = 0  # where `expect` looks from
        self._in_raw_repl = False
        self._raw_prompt = 0  # just past the raw REPL's last prompt

    def run(self, steps: list[Step]) -> None:
        """Run every step; ScriptError at the first that fails."""
        for step in steps:
            try:
                getattr(self, "_" + step.command.replace("-", "_"))(step.argument)
                if self.console.failure is not None:
                    raise VtermError("the virtual terminal stopped: %s" % self.console.failure)
            except (VtermError, EmulatorError, ScriptError, KeyScriptError) as exc:
                raise ScriptError(
                    "%s, line %d (%s): %s" % (self.name, step.line, step.describe(), exc)
                ) from None

    def _timeout(self, argument: str) -> None:
        self.timeout = float(argument)

    def _sleep(self, argument: str) -> None:
        self.console.pause(float(argument))

    def _send(self, argument: str) -> None:
        self._leave_raw_repl()
        self.console.type(unescape(argument))

    def _expect(self, argument: str) -> None:
        _, self.cursor = self.console.expect(unescape(argument), self.cursor, self.timeout)

    def _exec(self, code: str) -> None:
        console = self.console
        if not self._in_raw_repl:
            # As mpremote: stop what runs, enter the raw REPL (it answers with its banner).
            # A command typed by `send` may still be finishing: give it a moment first.
            deadline = time.monotonic() + _SETTLE_S
            while console.running() and time.monotonic() < deadline:
                console.pause(0.01)
            start = console.position()
            console.type(b"\r\x03\r\x01")
            _, self._raw_prompt = console.expect(RAW_PROMPT, start, self.timeout)
            self._in_raw_repl = True
        # expect looks at this command's output on (no banners: the console stays in the
        # raw REPL until a send or reset needs the friendly one).
        self.cursor = self._raw_prompt
        console.type(code.encode("utf-8") + b"\x04")
        result, self._raw_prompt = console.expect(_RAW_RESULT, self.cursor, self.timeout)
        error = result.group(2).decode("utf-8", "replace").strip()
        if error:
            last = error.splitlines()[-1]
            raise ScriptError("the device raised %s\n%s" % (last, error))

    def _leave_raw_repl(self) -> None:
        if self._in_raw_repl:
            start = self.console.position()
            self.console.type(b"\x02")
            _, self.cursor = self.console.expect(b">>> ", start, self.timeout)
            self._in_raw_repl = False

    def _reset(self, argument: str) -> None:
        resets = self.console.resets
        start = self.console.position()
        # Ctrl-C stops a running program, Ctrl-B leaves the raw REPL (a reset from the
        # friendly REPL runs main.py), Ctrl-D at the empty line resets.
        self.console.type(b"\x03\x02\x04")
        self._in_raw_repl = False
        self.console.wait_reset(resets + 1, self.timeout)
        # expect looks from the reboot line on (the banners before it are not output of
        # the new boot).
        _, end = self.console.expect(SOFT_REBOOT, start, self.timeout)
        self.cursor = end - len(SOFT_REBOOT)

    def _print_receipt_check(self, argument: str) -> None:
        printer = self.terminal.printer
        if printer is None:
            raise ScriptError("the virtual terminal has no printer")

        def printed() -> bool:
            return any(argument in line.text for line in printer.all_lines())

        try:
            printer.wait_for(printed, self.timeout, "a printed line holding %r" % argument)
        except EmulatorError:
            lines = [line.text for line in printer.all_lines()][-8:]
            raise ScriptError(
                "the printer printed no line holding %r within %.1f s; its last lines: %s"
                % (argument, self.timeout, lines or "none")
            ) from None

    # --- peripherals -------------------------------------------------------------------

    def _device(self, name: str):
        emulator = getattr(self.terminal, name)
        if emulator is None:
            raise ScriptError(
                "the virtual terminal has no %s%s"
                % (name.replace("_", " "), " (give --host)" if name in ("modem", "gprs") else "")
            )
        return emulator

    def _keys(self, argument: str) -> None:
        keypad = self._device("keypad")
        keypad.play(argument)
        timeline = keypad_timeline(argument, press_ms=keypad.press_ms, gap_ms=keypad.gap_ms)
        played = timeline[-1][0] / 1000
        keypad.wait_idle(played + self.timeout)

    def _hold(self, argument: str) -> None:
        keypad = self._device("keypad")
        keypad.press_ms, keypad.gap_ms = _hold_arguments(argument)

    def _swipe(self, argument: str) -> None:
        track, fault = _swipe_arguments(argument)
        self._device("card_reader").queue_swipe(track, fault)

    def _insert(self, argument: str) -> None:
        reader = self._device("chip_reader")
        reader.insert(load_card(argument, self.base))

    def _tap(self, argument: str) -> None:
        name, seconds = _tap_arguments(argument)
        reader = self._device("contactless_reader")
        reader.tap(load_card(name, self.base), seconds)

    def _remove(self, argument: str) -> None:
        self._device("chip_reader").remove()
        self._device("contactless_reader").remove()

    def _pin(self, argument: str) -> None:
        pad = self._device("pinpad")
        if argument == "cancel":
            pad.script_cancel()
        elif argument == "timeout":
            pad.script_timeout()
        else:
            pad.script_pin(argument)

    def _screen_check(self, argument: str) -> None:
        display = self._device("display")
        try:
            display.wait_for_picture(
                lambda picture: any(argument in line for line in picture.read_text()),
                self.timeout,
            )
        except EmulatorError:
            shown = display.picture().read_text()
            raise ScriptError(
                "the screen did not show %r within %.1f s; it shows %s"
                % (argument, self.timeout, shown)
            ) from None

    def _snapshot(self, argument: str) -> None:
        picture = self._device("display").picture()
        path = Path(argument) if self.base is None else self.base / argument
        try:
            if path.suffix.lower() == ".png":
                picture.save_png(path)
            else:
                path.write_text(
                    "\n".join(picture.read_text()) + "\n\n" + picture.text() + "\n",
                    encoding="utf-8",
                )
        except OSError as exc:
            raise ScriptError("cannot write %s: %s" % (path, exc.strerror)) from None

    def _paper_out(self, argument: str) -> None:
        self._device("printer").paper_out_after(int(argument) if argument else 0)

    def _load_paper(self, argument: str) -> None:
        self._device("printer").load_paper()

    def _modem_result(self, argument: str) -> None:
        self._device("modem").inject_result(argument.upper())

    def _gprs_signal(self, argument: str) -> None:
        gprs = self._device("gprs")
        with gprs.lock:
            gprs.csq = (int(argument), gprs.csq[1])

    def _gprs_drop(self, argument: str) -> None:
        self._device("gprs").drop_link()


def run_script(terminal: VirtualTerminal, text: str, name: str = "script") -> None:
    """Parse and run a script on a started terminal; ScriptError when a line fails."""
    ScriptRunner(terminal, name).run(parse(text, name))
