"""Manual master key entry, the way key custodians do it: 2 or 3 clear components, each with
its check value, typed into the terminal, which checks each one, combines them, checks the
combined key against the check value on the custodians' form and stores it in the key slot
the acquirer gave. `poskit keys load-components` runs it on a virtual terminal.

    entry = ComponentEntry(TerminalState("term1"), app=1, slot=1, algorithm="SM4", parts=2)
    entry.run(Prompts())            # asks each value on the terminal, without echo
    entry.run(LinesFrom(fd=3))      # or reads them from a file descriptor, in that order

The terminal's own code does the work (app.keys.slots on MicroPython, in the state folder, as
`poskit load` runs it): the host only carries what the custodians type, one value at a time,
so that a component whose check value does not match is caught before the next is typed.
Nothing here prints, logs or keeps a component or the combined key; they travel to the
terminal process on its standard input only, and the terminal stores the key sealed.

The conversation (JSON lines in, tagged lines out):

    {"op": "begin", "app": 1, "slot": 1}         @BEGIN <params algorithm|-> <tmk_slot|->
                                                        <algorithm held in the slot|-> <its KCV|->
    {"op": "component", "number": 1, "algorithm": "3DES", "hex": "...", "kcv": "A9FEB5"}
                                                 @KCV 1 A9FEB5 | @BAD 1 <found> | @ERR 1 <why>
    {"op": "store", "algorithm": "3DES", "kcv": "47F816"}
                                                 @OK 1 3DES 47F816 | @ERR 0 <why>
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable

from hostlib import secretinput
from hostlib.errors import PoskitError
from hostlib.state import TerminalState

ALGORITHMS = ("DES", "3DES", "SM4")
# A custodian who mistypes gets this many tries at each value when typing at a prompt; read
# from a file descriptor, the first mistake ends the entry (a script does not improve).
TRIES = 3
# The terminal answers each line in milliseconds; this bounds a stuck interpreter.
_ANSWER_S = 60.0

_DEVICE = """
import sys, json
from binascii import unhexlify
from app.crypto import cipher
from app.keys.slots import KeyStore
from app.crypto.mac import equal
from app.store.params import ParamStore
keys = KeyStore(store, storage_key)
parts = []
for line in sys.stdin:
    req = json.loads(line)
    op = req["op"]
    try:
        if op == "begin":
            app, slot = req["app"], req["slot"]
            held = [row for row in keys.tmk_slots(app) if row[0] == slot]
            p = ParamStore(store).load(app)
            print("@BEGIN", "-" if p is None else p.key_algorithm,
                  "-" if p is None else p.tmk_slot,
                  held[0][1] if held else "-", held[0][2] if held else "-")
        elif op == "component":
            number = req["number"]
            try:
                part = unhexlify(req["hex"])
            except ValueError:
                raise ValueError("component %d is not hex" % number)
            if parts and len(part) != len(unhexlify(parts[0])):
                raise ValueError("component %d is %d hex digits, component 1 is %d"
                                 % (number, 2 * len(part), len(parts[0])))
            check = cipher.kcv(req["algorithm"], part, 3)
            expected = unhexlify(req["kcv"])
            found = "".join("%02X" % b for b in check)
            if len(expected) < 2 or not equal(check[:len(expected)], expected):
                print("@BAD", number, found)
            else:
                parts.append(req["hex"])
                print("@KCV", number, found)
        elif op == "store":
            kcv = keys.set_tmk_from_components(app, slot, parts, req["algorithm"], req["kcv"])
            print("@OK", slot, req["algorithm"], kcv)
    except ValueError as exc:
        print("@ERR", req.get("number", 0), exc)
"""


class KeyEntryError(PoskitError):
    """The key could not be entered; nothing was stored. The message says why."""


class Prompts:
    """Answers typed at the terminal, without echo; a mistake may be typed again."""

    tries = TRIES

    def __call__(self, prompt: str, what: str) -> str:
        return secretinput.ask(prompt, what, instead="--components-fd N")


class LinesFrom:
    """Answers read from file descriptor `fd`, one a line, in the order they are asked:
    component 1, its KCV, component 2, its KCV, [component 3, its KCV,] the combined KCV
    (unless given as --kcv)."""

    tries = 1

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __call__(self, prompt: str, what: str) -> str:
        return secretinput.from_fd(self.fd, what, "--components")


class ComponentEntry:
    """One master key entered as components into `slot` of application `app` of the terminal
    in `state`. `algorithm` None takes the application's key_algorithm parameter; `kcv` the
    combined key's check value from the form (None: asked after the components)."""

    def __init__(
        self,
        state: TerminalState,
        *,
        app: int,
        slot: int,
        algorithm: str | None,
        parts: int = 2,
        kcv: str | None = None,
        out: Callable[[str], None] = print,
    ) -> None:
        if algorithm is not None and algorithm not in ALGORITHMS:
            raise KeyEntryError("a master key is %s, not %r" % (", ".join(ALGORITHMS), algorithm))
        if parts not in (2, 3):
            raise KeyEntryError("a key is entered as 2 or 3 components, not %d" % parts)
        if not 0 <= slot <= 99:
            raise KeyEntryError("the key slot is 0 to 99, not %d" % slot)
        self.state = state
        self.app = app
        self.slot = slot
        self.algorithm = algorithm
        self.parts = parts
        self.kcv = None if kcv is None else _kcv_text(kcv, "the combined key's KCV")
        self.out = out
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._proc = None

    def run(self, answer) -> str:
        """Enter the key with the values `answer(prompt, what)` gives (Prompts or
        LinesFrom). Returns the stored key's KCV; KeyEntryError and nothing stored if a
        value is refused (after `answer.tries` tries)."""
        self._proc = self.state.popen(_DEVICE)
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        try:
            with secretinput.no_echo():
                return self._converse(answer)
        finally:
            proc = self._proc
            if proc.stdin:
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 - a stuck interpreter is ended either way
                proc.kill()
                proc.wait()

    # --- the steps -----------------------------------------------------------------------

    def _converse(self, answer) -> str:
        tag, words = self._ask({"op": "begin", "app": self.app, "slot": self.slot})
        if tag != "@BEGIN":
            raise KeyEntryError(" ".join(words[1:]))
        params_algorithm, params_slot, held_algorithm, held_kcv = words[:4]
        algorithm = self._algorithm(params_algorithm)
        where = "slot %d of application %d" % (self.slot, self.app)
        self.out(
            "entering the %s master key of %s as %d components" % (algorithm, where, self.parts)
        )
        if params_slot not in ("-", str(self.slot)):
            self.out(
                "note: application %d signs on with the key in slot %s (its tmk_slot "
                "parameter)" % (self.app, params_slot)
            )
        if held_algorithm != "-":
            self.out(
                "%s holds a %s key, KCV %s: it will be replaced"
                % (where, held_algorithm, held_kcv)
            )
        for number in range(1, self.parts + 1):
            self._component(answer, number, algorithm)
        return self._store(answer, algorithm, where)

    def _algorithm(self, params_algorithm: str) -> str:
        if params_algorithm == "-":
            if self.algorithm is None:
                raise KeyEntryError(
                    "application %d has no parameters to take its key algorithm from: give "
                    "--algorithm" % self.app
                )
            return self.algorithm
        if self.algorithm is not None and self.algorithm != params_algorithm:
            raise KeyEntryError(
                "application %d's parameters use key_algorithm %s, not %s: enter a %s key, "
                "or change the parameters first"
                % (self.app, params_algorithm, self.algorithm, params_algorithm)
            )
        return params_algorithm

    def _component(self, answer, number: int, algorithm: str) -> None:
        label = "component %d of %d" % (number, self.parts)
        for attempt in range(1, answer.tries + 1):
            text = "".join(answer("%s (hex, not echoed): " % label, label).split())
            try:
                check = _kcv_text(
                    answer(
                        "component %d KCV (not echoed): " % number, "component %d KCV" % number
                    ),
                    "component %d KCV" % number,
                )
            except KeyEntryError as exc:
                tag, words, problem = "", [], str(exc)
            else:
                tag, words = self._ask(
                    {
                        "op": "component",
                        "number": number,
                        "algorithm": algorithm,
                        "hex": text,
                        "kcv": check,
                    }
                )
                if tag == "@BAD":
                    problem = (
                        "component %d does not match its check value: it gives KCV %s, the "
                        "form says %s" % (number, words[1], check)
                    )
                else:
                    problem = " ".join(words[1:])
            if tag == "@KCV":
                self.out("component %d KCV %s: matches" % (number, words[1]))
                return
            if attempt == answer.tries:
                raise KeyEntryError("%s; nothing stored" % problem)
            self.out("%s: type it again" % problem)

    def _store(self, answer, algorithm: str, where: str) -> str:
        for attempt in range(1, answer.tries + 1):
            try:
                kcv = self.kcv or _kcv_text(
                    answer("combined key KCV (from the form, not echoed): ", "combined key KCV"),
                    "the combined key's KCV",
                )
            except KeyEntryError as exc:
                tag, words, problem = "", [], str(exc)
            else:
                tag, words = self._ask({"op": "store", "algorithm": algorithm, "kcv": kcv})
                problem = " ".join(words[1:])
            if tag == "@OK":
                self.out(
                    "stored the master key of %s: %s KCV %s (from %d components)"
                    % (where, words[1], words[2], self.parts)
                )
                return words[2]
            # Only the combined KCV is worth typing again: each component matched already,
            # and a key the terminal refuses (a weak key) stays refused.
            retry = not tag or "key check failed" in problem
            if attempt == answer.tries or self.kcv or not retry:
                raise KeyEntryError("%s; nothing stored" % problem)
            self.out("%s: type the combined KCV again" % problem)
        raise AssertionError("unreachable")

    # --- the terminal process ------------------------------------------------------------

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._answers.put(line.rstrip("\n"))
        self._answers.put(None)

    def _ask(self, request: dict) -> tuple[str, list[str]]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except OSError:
            pass  # the terminal ended: its output says why
        other = []
        while True:
            try:
                line = self._answers.get(timeout=_ANSWER_S)
            except queue.Empty:
                raise KeyEntryError(
                    "the terminal did not answer within %d s" % _ANSWER_S
                ) from None
            if line is None:
                err = proc.stderr.read() if proc.stderr else ""
                raise KeyEntryError(
                    "the terminal stopped:\n%s" % "\n".join(other[-20:] + [err[-2000:]])
                )
            if line.startswith("@"):
                tag, *words = line.split(" ")
                return tag, words
            other.append(line)  # a traceback comes on stdout


def _kcv_text(text: str, what: str) -> str:
    """A check value as typed (spaces allowed): 4 to 16 hex digits, upper case."""
    cleaned = "".join(text.split()).upper()
    if len(cleaned) % 2 or not 4 <= len(cleaned) <= 16:
        raise KeyEntryError("%s must be 4 to 16 hex digits (3 bytes: 6 digits)" % what)
    try:
        bytes.fromhex(cleaned)
    except ValueError:
        raise KeyEntryError("%s is not hex" % what) from None
    return cleaned
