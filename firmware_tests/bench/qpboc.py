"""A contactless tap to offline approval timed: app.emv.qpboc on MicroPython (64-bit and 32-bit
unix ports) beside the same module on CPython and beside firmware_tests/cardkernel.py (the
host's test kernel: pyemv's TLV, plain pow()) doing the same steps on CPython; then the heap
the tap allocates and the smallest heap it runs in on the 32-bit port, and the module's size
as .mpy for the ESP32. Prints the Markdown of docs/emv.md's "Contactless" figures.

    .venv/bin/python firmware_tests/bench/qpboc.py

The card is hostlib.card's `pboc-dual` (1408-bit CA key 82, 1152-bit issuer key, 1024-bit
ICC key) paying 12.34 from its e-cash. Its answers are recorded once (a tap on CPython), then
replayed to every kernel: what is timed is the kernel's own work -- PPSE, candidate list,
SELECT, PDOL, GPO answer, the AFL's records, fDDA (issuer key, ICC key, signature) -- not
the card's RSA signing or a reader's radio. The terminal's IC sets are the host simulator's
(app.store.icsets on MicroPython, read from files as on the terminal).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(__file__).resolve().parent
# This folder's bench scripts are named as modules are (iso8583.py): off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(ROOT / "device"))
sys.path.insert(0, str(ROOT / "firmware_tests"))

import cardkernel  # noqa: E402

from app.emv import qpboc, terminal  # noqa: E402
from hostlib import build, micropython  # noqa: E402
from hostlib.card import load_card  # noqa: E402
from hostlib.hostsim import icsets  # noqa: E402
from tools.bench import _cpu  # noqa: E402 (the CPU named as in docs/benchmarks.md)

AMOUNT = 1234
NOW = (2026, 12, 7, 18, 55, 0)
UN = bytes.fromhex("1A2B3C4D")  # 9F37, fixed: the recorded fDDA signature covers it

# Run by MicroPython with the transcript module (`tap`) on its path.
DEVICE = """
import gc, json, sys
from app.emv import qpboc, terminal
from app.store.icsets import AID, CAPK, ICSets
import tap

class Replay:
    # The card's recorded answers, in order: a card channel without a reader.
    def __init__(self):
        self.at = 0
    def transmit(self, apdu, timeout_ms=5000):
        command, answer, sw = tap.EXCHANGES[self.at]
        if bytes(apdu) != command:
            raise ValueError("command %d differs from the recording" % self.at)
        self.at += 1
        return memoryview(answer), sw

sets = ICSets(tap.ROOT)
if tap.WRITE:
    for kind, entries in ((CAPK, tap.CAPKS), (AID, tap.AIDS)):
        writer = sets.writer(kind)
        for entry in entries:
            writer.add(entry)
        writer.commit("20261207185000")

def one():
    term = terminal.TerminalData(tap.AMOUNT, tap.NOW)
    term.set(0x9F37, tap.UN)
    outcome = qpboc.transact(Replay(), term, sets)
    if outcome.result != qpboc.APPROVED:
        raise ValueError(outcome.reason)

if tap.TIME:
    from timing import timed
    gc.threshold(-1)
    runs = [timed(one, 300000) for _ in range(5)]
    print(json.dumps({"us": min(r[0] for r in runs), "heap": runs[0][1]}))
elif tap.RUN:
    one()
"""


class Recorder:
    """A card channel on a hostlib card (CPython): each exchange kept."""

    def __init__(self, card):
        self.card = card
        self.exchanges: list[tuple[bytes, bytes, int]] = []

    def transmit(self, apdu, timeout_ms=5000):
        answer = self.card.apdu(bytes(apdu))
        data, sw = answer[:-2], answer[-2] << 8 | answer[-1]
        self.exchanges.append((bytes(apdu), data, sw))
        return memoryview(data), sw


class Sets:
    """The host simulator's IC sets with ICSets' reading side, in memory (CPython)."""

    def __init__(self):
        self.aids = [e.fields for e in icsets.default_aids()]
        self.capks = [e.fields for e in icsets.default_capks()]

    def aid_list(self):
        return [e[0x9F06] for e in self.aids]

    def aid(self, aid):
        return next((e for e in self.aids if e[0x9F06] == aid), None)

    def ca_key(self, rid, index):
        want = bytes([index])
        return next((e for e in self.capks if e[0x9F06] == rid and e[0x9F22] == want), None)


def terminal_data():
    term = terminal.TerminalData(AMOUNT, NOW)
    term.set(0x9F37, UN)
    return term


def record():
    """A tap of pboc-dual recorded: [(command, data, sw)] and the outcome."""
    recorder = Recorder(load_card("pboc-dual"))
    recorder.card.reset("contactless")
    outcome = qpboc.transact(recorder, terminal_data(), Sets())
    if outcome.result != qpboc.APPROVED:
        raise SystemExit("the recorded tap was not approved offline: " + outcome.reason)
    return recorder.exchanges


class ReplayCard:
    """The recorded answers as a hostlib card's apdu() (for cardkernel)."""

    def __init__(self, exchanges):
        self.answers = {command: data + sw.to_bytes(2, "big") for command, data, sw in exchanges}

    def apdu(self, command):
        return self.answers[bytes(command)]


def cardkernel_tap(exchanges):
    """cardkernel's steps for the same tap: PPSE, SELECT, GPO (the recorded PDOL data), READ
    RECORD, then fDDA with its own RSA recovery."""
    kernel = cardkernel.Kernel(ReplayCard(exchanges))
    gpo = exchanges[2][0]
    cardkernel.decode(kernel.select(cardkernel.PPSE)[:-2])
    kernel.select_app(cardkernel.DEBIT_AID)
    answer = kernel.send(gpo)
    fields = cardkernel.decode(answer[:-2])["77"]
    kernel.collect(fields)
    kernel.read_application_data()
    tags = kernel.tags
    icc = cardkernel.icc_public_key(tags, kernel.signed_records, tags["82"])
    signed_over = UN + bytes.fromhex("%012d" % AMOUNT) + b"\x01\x56" + tags["9F69"]
    cardkernel.verify_sdad(icc, tags["9F4B"], signed_over)


def tap_module(exchanges, root, write, timed, run=True) -> str:
    lines = [
        "RUN = %r" % run,
        "EXCHANGES = %r" % [(c, d, s) for c, d, s in exchanges],
        "ROOT = %r" % root,
        "WRITE = %r" % write,
        "TIME = %r" % timed,
        "AMOUNT = %d" % AMOUNT,
        "NOW = %r" % (NOW,),
        "UN = %r" % UN,
        "CAPKS = %r" % [e.tlv for e in icsets.default_capks()],
        "AIDS = %r" % [e.tlv for e in icsets.default_aids()],
    ]
    return "\n".join(lines) + "\n"


def device_figures(interpreter, exchanges) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        sets = Path(folder) / "sets"
        sets.mkdir()
        (Path(folder) / "tap.py").write_text(tap_module(exchanges, str(sets), True, True))
        run = micropython.run(
            code=DEVICE, path=[folder, BENCH], heap=None, timeout=600, interpreter=interpreter
        )
        run.check()
        return json.loads(run.stdout.strip().splitlines()[-1])


# The terminal runs app/ from a ROMFS image (bytecode in place, docs/deploy.md): mounted
# first, so the heap measured is the terminal's, not the compiler's.
ROM = """
import sys, vfs
f = open(%r, "rb")
rom = f.read()
f.close()
vfs.mount(vfs.VfsRom(rom), "/rom")
sys.path[:] = [".frozen", "/rom", %r]
"""


def smallest_heaps(exchanges, interpreter=None) -> tuple[int, int]:
    """The smallest heaps (32-bit, or on `interpreter`) the script runs in with the tap and
    without it (modules imported from the ROMFS image, sets opened): their difference is what
    the tap itself needs at its peak."""
    interpreter = interpreter or micropython.binary32()
    image = build.device_romfs(micropython.arch(interpreter))
    out = []
    with tempfile.TemporaryDirectory() as folder:
        sets = Path(folder) / "sets"
        sets.mkdir()
        (Path(folder) / "tap.py").write_text(tap_module(exchanges, str(sets), True, False))
        micropython.run(code=DEVICE, path=[folder], heap=None).check()  # the sets written
        for run in (True, False):
            (Path(folder) / "tap.py").write_text(
                tap_module(exchanges, str(sets), False, False, run)
            )
            code = ROM % (str(image), folder) + DEVICE
            out.append(micropython.min_heap(code, interpreter=interpreter, step=128))
    return out[0], out[1]


def best_us(fn, number=10) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def mpy_size() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "qpboc.mpy"
        build.compile_file(ROOT / "device", Path("app/emv/qpboc.py"), target, "xtensawin")
        return target.stat().st_size


def main():
    exchanges = record()
    sets = Sets()

    def host_qpboc():
        channel = iter(exchanges)

        class Replay:
            def transmit(self, apdu, timeout_ms=5000):
                command, data, sw = next(channel)
                return memoryview(data), sw

        outcome = qpboc.transact(Replay(), terminal_data(), sets)
        assert outcome.result == qpboc.APPROVED, outcome.reason

    interpreters = [(micropython.NAME_64, micropython.binary())]
    if micropython.binary32():
        interpreters.append((micropython.NAME_32, micropython.binary32()))
    device = {name: device_figures(path, exchanges) for name, path in interpreters}
    row32 = device.get(micropython.NAME_32)
    figures = {
        "MicroPython 64-bit, app.emv.qpboc": device[micropython.NAME_64]["us"],
        "MicroPython 32-bit, app.emv.qpboc": row32["us"] if row32 else None,
        "CPython, app.emv.qpboc": best_us(host_qpboc),
        "CPython, firmware_tests/cardkernel.py": best_us(lambda: cardkernel_tap(exchanges)),
    }
    lines = [
        "Measured %s on %s, load average %.1f (`.venv/bin/python firmware_tests/bench/qpboc.py`):"
        " a tap of `pboc-dual` paying 12.34 offline, %d commands, the card's answers replayed"
        " (the card's own work and the radio not counted); best of several runs."
        % (time.strftime("%Y-%m-%d"), _cpu(), os.getloadavg()[0], len(exchanges)),
        "",
        "| kernel | a tap to offline approval, microseconds |",
        "|---|---:|",
    ]
    for name, us in figures.items():
        lines.append("| %s | %s |" % (name, "-" if us is None else format(round(us), ",")))
    lines.append("")
    if row32:
        whole, before = smallest_heaps(exchanges)
        lines.append(
            "On the 32-bit port (an ESP32's object sizes) a tap allocates %s bytes in all, "
            "garbage included (each answer copied, the card data, the IC sets read from their "
            "files, three RSA recoveries, the outcome and its field 55), and needs %s bytes of "
            "free heap at its peak beyond what its modules keep once imported from the ROMFS "
            "image (the smallest heap the measuring script runs in with the tap, less the "
            "smallest without it)." % (format(row32["heap"], ","), format(whole - before, ","))
        )
        lines.append("")
    lines.append(
        "`app/emv/qpboc.mpy` for the ESP32 (`mpy-cross -march=xtensawin`): %s bytes."
        % format(mpy_size(), ",")
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
