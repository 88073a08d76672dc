"""A chip card test's conversation with MicroPython: the device code runs the kernel on the
TDA8029 driver, against the reader's emulator holding a card, and this side answers what it
asks (the cardholder's choice, the host's answer) over its stdin and stdout."""

from __future__ import annotations

import json
from collections.abc import Callable

from hostlib import micropython
from hostlib.emulators.tda8029 import Tda8029Emulator


def converse(
    card,
    code: str,
    config: dict,
    heap: str,
    answer: Callable[[dict, list], dict | None],
    fault: Callable[[Tda8029Emulator], None] | None = None,
    timeout: float = 120,
    emulator=Tda8029Emulator,
) -> list[dict]:
    """Run `code` with `card` in the emulated reader; `config` (the reader's port added as
    "port") is its first line of input. Each line it prints starting "@" is a JSON message:
    `answer(message, reports)` returns the reply to send back as one line, or None to keep
    the message as a report. `fault(reader)` arms an emulator fault first. Returns the
    reports, in order; a device failure fails the test with its traceback. `emulator`: the
    reader's (hostlib.emulators.pn532.Pn532Emulator for a tap: `card` None, tapped later)."""
    reports: list[dict] = []
    other: list[str] = []
    with emulator() as reader:
        if card is not None:
            reader.insert(card)
        if fault is not None:
            fault(reader)
        proc = micropython.popen(code, heap=heap)
        try:
            proc.stdin.write(json.dumps(dict(config, port=reader.port)) + "\n")
            proc.stdin.flush()
            for line in proc.stdout:
                if not line.startswith("@"):
                    other.append(line)
                    continue
                message = json.loads(line[1:])
                reply = answer(message, reports)
                if reply is None:
                    reports.append(message)
                    continue
                proc.stdin.write(json.dumps(reply) + "\n")
                proc.stdin.flush()
            proc.wait(timeout=timeout)
            assert proc.returncode == 0, "".join(other) + proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    return reports


# The start of a device program `converse` runs: its config read, the test helpers' folder
# on the path, hex in (h) and out (x), a report (say) and a question (ask) to this side, and
# ic_sets(root): the AIDs and CA keys of cfg["aids"], cfg["capks"] (and the black list's entries
# of cfg["black"], "06622424") written as a download does;
# recorded(host): the frames a fake host (firmware_tests/mpy/fakehost.py) is sent, from now.
PRELUDE = """
import sys, json, binascii
cfg = json.loads(sys.stdin.readline())
sys.path.append(cfg["mpy"])
h = binascii.unhexlify
def x(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return binascii.hexlify(bytes(value)).decode().upper()
    return value
def say(what):
    print("@" + json.dumps(what))
def ask(what):
    say(what)
    return json.loads(sys.stdin.readline())
def ic_sets(root):
    from app.store.icsets import AID, BLACKLIST, CAPK, ICSets
    sets = ICSets(root)
    written = [(CAPK, [h(e) for e in cfg["capks"]]), (AID, [h(e) for e in cfg["aids"]])]
    if cfg.get("black"):
        written.append((BLACKLIST, [e.encode() for e in cfg["black"]]))
    for kind, entries in written:
        writer = sets.writer(kind)
        for entry in entries:
            writer.add(entry)
        writer.commit("20261207185500")
    # Let go as the terminal does after a sign-on's download (app.ui.terminal): a test that
    # checks what a sale leaves loaded sees the sale's modules alone.
    from app import forget
    forget("app.store.icsets", "app.emv.tlv", "app.emv")
def recorded(host):
    frames = []  # each frame the fake host is sent, in hex
    send = host.send
    def recording(frame):
        frames.append(x(frame))
        return send(frame)
    host.send = recording
    return frames
"""


# The cashier tests' device side (test_ui_chip, test_ui_tap), after PRELUDE:
# cashier_board(name=factory...): the fake board (firmware_tests/mpy/fakeboard.py) with the
# application's parameters cfg["app"] and the readers given (board attributes), signed on
# with the fake host, the IC sets a download leaves; play(board): cfg["keys"] as the key
# script -- str: keys, "ENTER"/"CANCEL", None: a wait with no key, "swipe" (the test card),
# "swipe-stripe" (a card with no chip), "@what": this
# side asked to do `what` with the card ({"card": what}) while the terminal waits.
CASHIER = """
import time
from fakeboard import Board
from drivers import keypad as kp
from app.txn.engine import Request

def cashier_board(**readers):
    app = {}
    for tag, value in cfg["app"].items():
        app[int(tag)] = h(value)
    board = Board(app=app)
    for name, make in readers.items():
        setattr(board, name, make)
    term = board.terminal()
    assert term.run(1, Request("sign_on")).approved
    board.host.requests = []
    ic_sets(term.store.root)  # as the host's download leaves them
    return board, term

def play(board):
    def card(what):
        def act():
            ask({"card": what})
            time.sleep_ms(100)  # the reader's message on its way
        return act
    keys = {"ENTER": kp.ENTER, "CANCEL": kp.CANCEL}
    for item in cfg["keys"]:
        if item is None:
            board.keys.play(None)
        elif item.startswith("@"):
            board.keys.play(card(item[1:]))
        elif item == "swipe":
            board.keys.play(board.swipe())
        elif item == "swipe-stripe":  # a card with no chip: service code 101
            board.keys.play(board.swipe(b"6224242900000113=28061013949031013"))
        elif item in keys:
            board.keys.play(keys[item])
        else:
            board.keys.play(item)
"""


def txn_init(state) -> None:
    """A terminal's flash at `state` set up by `poskit txn init` for the host simulator's
    test job (docs/examples/hostsim-job.toml), its test TMK given on standard input."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "tools.txn", "--state", str(state), "init"]
        + ["--params", str(root / "docs/examples/hostsim-job.toml"), "--tmk-fd", "0"],
        input=b"70F2A84CCBC2AE8625CBB0F2C22AB923\n",
        cwd=root,
        check=True,
        capture_output=True,
    )
