"""docs/benchmarks.md's "Chip cards" section: a contact chip sale's kernel and a contactless
tap on MicroPython, 64-bit and 32-bit, beside independent CPython code doing the same steps
on the same card answers, in the same run (`make bench`, or `make bench-chip` alone).

    .venv/bin/python firmware_tests/bench/chip_reference.py

- The chip sale: app.emv.kernel with hostlib.card's `pboc-credit` (DDA, CA key 82): the card's
  answers recorded once on CPython through the device kernel, then replayed from memory
  (firmware_tests/bench/kernel.py's DEVICE), so what is timed is the terminal's own work:
  selection, GPO and records, the issuer and ICC keys recovered and the dynamic signature
  checked, the checks, both GENERATE ACs.
- The tap: app.emv.qpboc with `pboc-dual` paying 12.34 offline, fDDA
  (firmware_tests/bench/qpboc.py).
- The reference: firmware_tests/cardkernel.py on CPython (pyemv's TLV decoder, RSA recovery
  by pow(), SHA-1 from hashlib) sending the same commands and given the same recorded answers
  (`Replayed`), so neither side pays for the card. It has no terminal risk management or
  action analysis of its own, so those rows have no reference. The cryptograms are the card's
  and the host's work, not the terminal's: neither side computes one.
- Heap: the bytes a whole sale or tap allocates, garbage included, and the smallest heap it
  runs in (bisection, the modules imported from a ROMFS image as on the terminal, the image
  not counted), on each build.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(__file__).resolve().parent
# This folder's bench scripts are named as modules are (iso8583.py): off the path; the two
# kernel benches are loaded from their files (_bench).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "firmware_tests"))

import cardkernel  # noqa: E402

from hostlib import micropython  # noqa: E402


def _bench(name):
    # A bench script of this folder as a module (each takes the folder off the path itself).
    spec = importlib.util.spec_from_file_location("bench_" + name, BENCH / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contact = _bench("kernel")  # firmware_tests/bench/kernel.py
contactless = _bench("qpboc")  # firmware_tests/bench/qpboc.py

CARD = "pboc-credit"
STEPS = (
    ("selection", "selection: SELECT PSE, its directory"),
    ("records", "final SELECT, GPO, READ RECORDs"),
    ("oda", "DDA: issuer and ICC keys recovered, INTERNAL AUTHENTICATE, its signature"),
    ("checks", "restrictions, CVM, risk management, action analysis"),
    ("first_ac", "first GENERATE AC (ARQC)"),
    ("second_ac", "the host's answer, second GENERATE AC (TC)"),
    ("all", "the whole kernel"),
)


class Recorder(contact.Recorder):
    """kernel.py's recording channel, keeping each command beside its answer."""

    def __init__(self, card):
        super().__init__(card)
        self.commands = []

    def transmit(self, apdu, timeout_ms=0):
        self.commands.append(bytes(apdu))
        return super().transmit(apdu, timeout_ms)


class Replayed:
    """The recorded answers as a hostlib card's apdu(), for cardkernel: each command answered
    as it was under the application (or directory) selected last, a SELECT and a READ
    RECORD by their whole command, the others (GPO, INTERNAL AUTHENTICATE, GENERATE AC: their
    data is the terminal's, and differs between kernels) by instruction and P1."""

    def __init__(self, commands, answers):
        self.answers = {}
        selected = b""
        for command, answer in zip(commands, answers):
            if command[1] == 0xA4:
                selected = command
            self.answers[self._key(selected, command)] = answer
        self.selected = b""

    @staticmethod
    def _key(selected, command):
        return selected, command if command[1] in (0xA4, 0xB2) else command[1:3]

    def rewind(self):
        self.selected = b""
        return self

    def apdu(self, command):
        command = bytes(command)
        if command[1] == 0xA4:
            self.selected = command
        return self.answers[self._key(self.selected, command)]


def record():
    """pboc-credit's answers to one sale through the device kernel (kernel.py's record),
    with the commands."""
    made = []

    def recorder(card):
        made.append(Recorder(card))
        return made[-1]

    answers, host55, key = contact.record(CARD, recorder)
    return made[-1].commands, answers, host55, key


def best_us(fn, number=5, repeat=7) -> float:
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        us = (time.perf_counter() - start) / number * 1e6
        best = us if best is None or us < best else best
    return best


def reference(commands, answers) -> dict:
    """cardkernel's steps of the same sale on the replayed answers: microseconds a step."""
    aid = cardkernel.CREDIT_AID
    card = Replayed(commands, answers)

    def fresh():
        k = cardkernel.Kernel(card.rewind())
        k.terminal["9F37"] = contact.UN
        return k

    def records(k):
        k.select_app(aid)
        k.processing_options()
        k.read_application_data()
        return k

    def oda(k):
        icc = cardkernel.icc_public_key(k.tags, k.signed_records, k.tags["82"])
        sdad = cardkernel.decode(k.send("0088000004" + contact.UN.hex() + "00")[:-2])
        cardkernel.verify_sdad(icc, sdad.get("9F4B", sdad.get("80")), contact.UN)

    def whole():
        k = fresh()
        k.directory()
        records(k)
        oda(k)
        k.generate_ac(0x80)
        k.generate_ac(0x40, "8D", {"8A": b"00"})

    ready = records(fresh())
    out = {
        "selection": best_us(lambda: fresh().directory()),
        "records": best_us(lambda: records(fresh())),
        "oda": best_us(lambda: oda(ready)),
        "first_ac": best_us(lambda: ready.generate_ac(0x80)),
        "second_ac": best_us(lambda: ready.generate_ac(0x40, "8D", {"8A": b"00"})),
        "all": best_us(whole),
    }
    return out


def contact_figures(interpreter, commands, answers, host55, key) -> dict:
    """kernel.py's timed sale on `interpreter`: {step: µs, "heap": bytes allocated,
    "smallest": the smallest heap (image not counted)}."""
    with tempfile.TemporaryDirectory() as folder:
        image = contact.compiled(folder, interpreter, contact.replay_module(answers, host55, key))
        run = micropython.run(
            code=contact.device_code(folder, True),
            heap=None,
            timeout=600,
            interpreter=interpreter,
        ).check()
        out = json.loads(run.stdout.strip().splitlines()[-1])
        whole = micropython.min_heap(contact.device_code(folder, False), interpreter=interpreter)
        out["smallest"] = whole - image
    return out


def contactless_figures(interpreter, exchanges) -> dict:
    """qpboc.py's tap on `interpreter`: {"us", "heap" (allocated), "peak" (the free heap the
    tap needs beyond its modules, from ROMFS)}."""
    out = contactless.device_figures(interpreter, exchanges)
    whole, before = contactless.smallest_heaps(exchanges, interpreter)
    out["peak"] = whole - before
    return out


def _n(value) -> str:
    return "-" if value is None else format(round(value), ",")


def main() -> int:
    builds = [(64, micropython.binary())]
    if micropython.binary32():
        builds.append((32, micropython.binary32()))
    commands, answers, host55, key = record()
    ref = reference(commands, answers)
    chip = {bits: contact_figures(path, commands, answers, host55, key) for bits, path in builds}
    exchanges = contactless.record()
    tap = {bits: contactless_figures(path, exchanges) for bits, path in builds}
    tap_ref = best_us(lambda: contactless.cardkernel_tap(exchanges), number=10)
    c32, t32 = chip.get(32, {}), tap.get(32, {})
    lines = [
        "## Chip cards (app/emv/)",
        "",
        "Written by `make bench`, or alone by `make bench-chip` "
        "(firmware_tests/bench/chip_reference.py). A contact chip sale's kernel "
        "(app.emv.kernel, hostlib.card's `pboc-credit`: DDA, CA key 82, the host's approval) "
        "and a contactless tap (app.emv.qpboc, `pboc-dual` paying 12.34, approved offline "
        "after fDDA) on both MicroPython builds, the card's answers recorded once and replayed "
        "from memory: the terminal's work is timed, not the card's or a reader's. The "
        "reference is firmware_tests/cardkernel.py on CPython (pyemv's TLV decoder, RSA "
        "recovery by pow(), hashlib's SHA-1) doing the same steps on the same replayed "
        "answers, in the same run; it has no checks of its own (restrictions, CVM, risk "
        "management, action analysis). Neither side computes a cryptogram: the card and the "
        "host do. Microseconds on this PC, best of 15 sales (the reference: of 7 x 5).",
        "",
        "| chip sale (pboc-credit, DDA) | MicroPython µs, 64-bit | 32-bit | reference "
        "| reference µs | 64-bit / reference |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for step, label in STEPS:
        mine, theirs = chip[64][step], ref.get(step)
        lines.append(
            "| %s | %s | %s | %s | %s | %s |"
            % (
                label,
                _n(mine),
                _n(c32.get(step)),
                "cardkernel.py" if theirs is not None else "-",
                _n(theirs),
                "%.2f" % (mine / theirs) if theirs else "",
            )
        )
    lines += [
        "",
        "| contactless tap (pboc-dual, fDDA, offline) | MicroPython µs, 64-bit | 32-bit "
        "| reference | reference µs | 64-bit / reference |",
        "|---|---:|---:|---|---:|---:|",
        "| PPSE, SELECT, GPO, READ RECORDs, fDDA, the outcome | %s | %s | cardkernel.py | %s "
        "| %.2f |" % (_n(tap[64]["us"]), _n(t32.get("us")), _n(tap_ref), tap[64]["us"] / tap_ref),
        "",
        "Heap: the bytes one whole sale or tap allocates (garbage included: each answer "
        "copied, the card's data, three RSA recoveries), and the smallest heap it runs in, "
        "its modules from a ROMFS image as on the terminal (the image not counted; the tap's "
        "is what it needs beyond its modules once imported and the IC sets opened). An "
        "ESP32-WROOM leaves about 110 KB; the 32-bit figure is the one to hold against it.",
        "",
        "| | allocated B, 32-bit | 64-bit | smallest heap B, 32-bit | 64-bit |",
        "|---|---:|---:|---:|---:|",
        "| chip sale's kernel (pboc-credit, DDA) | %s | %s | %s | %s |"
        % (
            _n(c32.get("heap")),
            _n(chip[64]["heap"]),
            _n(c32.get("smallest")),
            _n(chip[64]["smallest"]),
        ),
        "| contactless tap (pboc-dual, fDDA) | %s | %s | %s | %s |"
        % (_n(t32.get("heap")), _n(tap[64]["heap"]), _n(t32.get("peak")), _n(tap[64]["peak"])),
    ]
    if 32 not in chip:
        lines += ["", "No 32-bit build on this machine: %s." % micropython.missing32()]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
