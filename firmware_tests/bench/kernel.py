"""A chip sale's kernel timed and its heap measured: app.emv.kernel on MicroPython (64-bit and
32-bit unix ports) beside firmware_tests/cardkernel.py (pyemv, independent of the device code)
on CPython doing the same card commands, in the same run. Prints the Markdown of docs/emv.md's
"The kernel's figures".

    .venv/bin/python firmware_tests/bench/kernel.py

The card's side is taken out of the measure: each card (hostlib.card's pboc-debit, SDA, and
pboc-credit, DDA) runs the transaction once on CPython through the device kernel, its
commands and answers recorded; MicroPython then replays the answers from memory (a channel
whose transmit returns the next recorded answer), so what is timed is the terminal's work:
building commands, parsing answers, DOLs, RSA and SHA-1, the decisions. Steps: selection
(PSE, directory, final SELECT), GPO + records, ODA, the checks (restrictions, CVM, risk
management, action analysis), first GENERATE AC, and after the host's approval the second.
The heap figure is the smallest heap the whole transaction runs in on the 32-bit port
(hostlib.micropython.min_heap), the modules imported from a ROMFS image as on the terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# This folder's iso8583.py (a MicroPython bench) would hide pyiso8583 from hostlib.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "device"))
sys.path.insert(0, str(ROOT / "firmware_tests"))

import cardkernel  # noqa: E402
from chipdevice import txn_init  # noqa: E402

from app.emv import kernel, oda, terminal  # noqa: E402
from hostlib import build, micropython  # noqa: E402
from hostlib.card import certs, issuer, load_card  # noqa: E402
from hostlib.card import tlv as host_tlv  # noqa: E402
from hostlib.hostsim import icsets  # noqa: E402
from tools.bench import _cpu  # noqa: E402

NOW = (2026, 12, 7, 18, 55, 0)
UN = bytes.fromhex("11223344")
PARAMS = icsets.DEFAULT_AID_PARAMETERS  # the host simulator's, as its download gives them
AIDS = [(cardkernel.DEBIT_AID, PARAMS), (cardkernel.CREDIT_AID, PARAMS)]
CARDS = (("pboc-debit", "SDA"), ("pboc-credit", "DDA"))
STEPS = ("selection", "records", "oda", "checks", "first_ac", "second_ac", "all")


class Recorder:
    """A card channel over a hostlib card, keeping each answer."""

    def __init__(self, card):
        self.card = card
        self.answers = []

    def power_up(self, timeout_ms):
        return self.card.atr

    def power_off(self):
        pass

    def transmit(self, apdu, timeout_ms=0):
        answer = self.card.apdu(bytes(apdu))
        self.answers.append(answer)
        return answer[:-2], answer[-2] << 8 | answer[-1]


def record(name, recorder=None):
    """The card's answers to one sale, and the host's field 55 for its ARQC; `recorder`
    makes the channel (default Recorder)."""
    card = load_card(name)
    channel = (recorder or Recorder)(card)
    ca = certs.ca_key(0x82)
    key = oda.CaKey(ca.rid, 0x82, ca.key.modulus_bytes, ca.key.exponent_bytes)
    term = terminal.TerminalData(1234, NOW, terminal_id="10000001")
    term.set(0x9F37, UN)
    k = kernel.Kernel(channel, term, AIDS, lambda rid, i: key, choose=lambda labels: 0)
    assert k.start() == kernel.ONLINE, (k.result, k.reason)
    tags = dict(
        host_tlv.decode(
            k.field55(
                (0x9F26, 0x9F36, 0x9F10, 0x82) + tuple(t for t, _ in issuer.AC_TERMINAL_DATA)
            )
        )
    )
    pan, psn = k.pan(), "%02d" % k.psn()
    host55 = host_tlv.encode(0x91, issuer.issuer_authentication_data(pan, psn, tags, b"00"))
    assert k.complete(host55, "00") == kernel.APPROVED
    return channel.answers, host55, key


DEVICE = """
import gc, json, sys, time, vfs
f = open(%(rom)r, "rb")
rom = f.read()
f.close()
vfs.mount(vfs.VfsRom(rom), "/rom")
sys.path[:] = [".frozen", "/rom"]
from app.emv import kernel, oda, terminal
from replay import ANSWERS, HOST55, RID, MODULUS, EXPONENT, PARAMS, DEBIT, CREDIT, UN
KEY = oda.CaKey(RID, 0x82, MODULUS, EXPONENT)
AIDS = [(DEBIT, PARAMS), (CREDIT, PARAMS)]

class Replay:
    def __init__(self):
        self.i = 0
    def power_up(self, timeout_ms):
        return b"\\x3b\\x00"
    def power_off(self):
        pass
    def transmit(self, apdu, timeout_ms=0):
        answer = ANSWERS[self.i]
        self.i += 1
        return memoryview(answer)[:-2], answer[-2] << 8 | answer[-1]

def sale(times=None):
    term = terminal.TerminalData(1234, (2026, 12, 7, 18, 55, 0), terminal_id="10000001")
    term.set(0x9F37, UN)
    k = kernel.Kernel(Replay(), term, AIDS, lambda rid, i: KEY, choose=lambda labels: 0)
    marks = [time.ticks_us()]
    k.reader.power_up(0)
    from app.emv import select
    aids = [(a, True) for a, _ in AIDS]
    candidates = select.candidates(k._send, aids)
    marks.append(time.ticks_us())
    fci = select.final(k._send, candidates[0])
    k.aid, k.label = candidates[0].aid, candidates[0].label
    term.application(k.aid, PARAMS)
    term.set(0x84, k.aid)
    k._processing_options(fci.get(0x9F38))
    k._read_application_data()
    marks.append(time.ticks_us())
    k._authenticate()
    marks.append(time.ticks_us())
    from app.emv import checks
    checks.restrictions(k.card, term)
    k.cvm = checks.cardholder_verification(k.card, term, lambda: True)
    checks.risk_management(k.card, term, k._send)
    wanted = checks.action_analysis(k.card, term, False)
    marks.append(time.ticks_us())
    k._generate_ac(wanted, 0x8C)
    k.result = kernel.ONLINE
    marks.append(time.ticks_us())
    k.complete(HOST55, "00")
    marks.append(time.ticks_us())
    assert k.result == kernel.APPROVED, (k.result, k.reason, k.oda_failure)
    if times is not None:
        for i, name in enumerate(("selection", "records", "oda", "checks", "first_ac",
                                  "second_ac")):
            times[name].append(time.ticks_diff(marks[i + 1], marks[i]))
        times["all"].append(time.ticks_diff(marks[-1], marks[0]))

if %(timing)r:
    # The kernel's own time: importing app turned on the terminal's heap policy (a collection
    # every 4 KB allocated, app/__init__.py), whose collections would land in the steps by
    # chance and always in the whole (as firmware_tests/bench/txn.py and qpboc.py time).
    gc.threshold(-1)
    times = {}
    for name in %(steps)r:
        times[name] = []
    sale()
    for _ in range(15):
        sale(times)
    out = {}
    for name in times:
        out[name] = min(times[name])
    # The bytes one whole sale allocates, garbage included (the collector held off).
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    sale()
    out["heap"] = gc.mem_alloc() - before
    gc.enable()
    print(json.dumps(out))
else:
    sale()
"""


def device_code(folder, timing):
    return DEVICE % {"rom": str(Path(folder) / "kernel.romfs"), "timing": timing, "steps": STEPS}


def replay_module(answers, host55, key) -> str:
    """The card's recorded answers and the host's 55 as a module (compiled to .mpy, as the
    reader's buffers would hold them, not as the script's literals)."""
    values = {
        "ANSWERS": answers,
        "HOST55": host55,
        "RID": key.rid,
        "MODULUS": key.modulus,
        "EXPONENT": key.exponent,
        "PARAMS": PARAMS,
        "DEBIT": cardkernel.DEBIT_AID,
        "CREDIT": cardkernel.CREDIT_AID,
        "UN": UN,
    }
    return "".join("%s = %r\n" % item for item in values.items())


def compiled(folder, interpreter, replay):
    """A ROMFS image of app.emv, drivers.cardchannel and the replay module in `folder`, as the
    terminal imports its modules (bytecode in place, not copied to the heap); its size (read
    into the heap here, in flash on the terminal: not counted)."""
    src = Path(folder) / "src"
    shutil.copytree(ROOT / "device" / "app" / "emv", src / "app" / "emv")
    (src / "drivers").mkdir()
    for rel in ("app/__init__.py", "drivers/__init__.py", "drivers/cardchannel.py"):
        if (ROOT / "device" / rel).exists():
            shutil.copy(ROOT / "device" / rel, src / rel)
    (src / "replay.py").write_text(replay)
    return build.build_romfs(src, Path(folder) / "kernel.romfs", micropython.arch(interpreter))


def best_us(fn, number=5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def reference(name):
    """cardkernel (pyemv) doing the same commands against the card emulator, per step."""
    aid = cardkernel.DEBIT_AID if name == "pboc-debit" else cardkernel.CREDIT_AID
    out = {}

    def fresh():
        k = cardkernel.Kernel(load_card(name))
        k.terminal["9F37"] = UN
        return k

    def selection():
        k = fresh()
        k.directory()
        return k

    def records():
        k = fresh()
        k.select_app(aid)
        k.processing_options()
        k.read_application_data()
        return k

    ready = records()

    def authenticate():
        k = ready
        aip = k.tags["82"]
        if name == "pboc-debit":
            cardkernel.verify_sda(k.tags, k.signed_records, aip)
        else:
            icc = cardkernel.icc_public_key(k.tags, k.signed_records, aip)
            sdad = cardkernel.decode(k.send("0088000004" + UN.hex() + "00")[:-2])
            cardkernel.verify_sdad(icc, sdad.get("9F4B", sdad.get("80")), UN)

    out["selection"] = best_us(selection)
    out["records"] = best_us(records)
    out["oda"] = best_us(authenticate)

    # A GENERATE AC is once a transaction: timed on kernels each brought to it first.
    ready_ones = [records() for _ in range(9)]
    times = []
    for k in ready_ones:
        start = time.perf_counter()
        k.generate_ac(0x80)
        times.append(time.perf_counter() - start)
    out["first_ac"] = min(times) * 1e6
    return out


def main():
    interpreters = [(micropython.NAME_64, micropython.binary())]
    if micropython.binary32():
        interpreters.append((micropython.NAME_32, micropython.binary32()))
    rows = {}
    heaps = {}
    for name, _ in CARDS:
        answers, host55, key = record(name)
        rows[name] = {"reference": reference(name)}
        for label, interpreter in interpreters:
            with tempfile.TemporaryDirectory() as folder:
                image = compiled(folder, interpreter, replay_module(answers, host55, key))
                run = micropython.run(
                    code=device_code(folder, True),
                    heap=None,
                    timeout=600,
                    interpreter=interpreter,
                ).check()
                rows[name][label] = json.loads(run.stdout.strip().splitlines()[-1])
                if label == micropython.NAME_32 or len(interpreters) == 1:
                    whole = micropython.min_heap(
                        device_code(folder, False), interpreter=interpreter
                    )
                    mounted = micropython.min_heap(
                        device_code(folder, False).partition("from app.emv")[0],
                        interpreter=interpreter,
                    )
                    heaps[name] = (whole - image, whole - mounted)
    names = {
        "selection": "selection (PSE, directory)",
        "records": "final SELECT, GPO, READ RECORDs",
        "oda": "offline data authentication",
        "checks": "restrictions, CVM, risk management, action analysis",
        "first_ac": "first GENERATE AC (ARQC)",
        "second_ac": "issuer data, second GENERATE AC (TC)",
        "all": "the whole kernel",
    }
    lines = [
        "Measured %s on %s, load average %.1f (`.venv/bin/python firmware_tests/bench/kernel.py`);"
        " microseconds per step, best of 15 sales, the card's answers replayed from memory on "
        "MicroPython (the card's own time left out). The reference is firmware_tests/cardkernel.py"
        " (pyemv's TLV decoder, plain `pow` RSA) on CPython sending the same commands to the card"
        " emulator, so its column includes the emulated card's work: read it as an upper bound."
        % (time.strftime("%Y-%m-%d"), _cpu(), os.getloadavg()[0]),
        "",
        "| card | step | MicroPython 64-bit | MicroPython 32-bit | cardkernel.py on CPython |",
        "|---|---|---:|---:|---:|",
    ]
    for name, method in CARDS:
        for step in STEPS:
            ref = rows[name]["reference"].get(step)
            lines.append(
                "| %s (%s) | %s | %s | %s | %s |"
                % (
                    name,
                    method,
                    names[step],
                    "{:,}".format(rows[name][micropython.NAME_64][step]),
                    "{:,}".format(rows[name][micropython.NAME_32][step])
                    if micropython.NAME_32 in rows[name]
                    else "-",
                    "{:,.0f}".format(ref) if ref is not None else "-",
                )
            )
    lines.append("")
    lines.append(
        "Smallest heap the whole transaction runs in on the 32-bit port, the kernel's modules "
        "and the card's recorded answers imported from a ROMFS image as on the terminal, the "
        "image itself (read into the heap here, flash on the terminal) not counted: "
        + ", ".join(
            "%s %s bytes (%s above the interpreter with the image mounted)"
            % (name, "{:,}".format(heaps[name][0]), "{:,}".format(heaps[name][1]))
            for name, _ in CARDS
        )
        + "."
    )
    if micropython.binary32():
        peaks = sale_peaks(micropython.binary32())
        lines.append("")
        lines.append(
            "Smallest heap of a whole sale through Engine.run against the host simulator on the "
            "32-bit port (bisection to 512 bytes; modules from the device ROMFS image, not "
            "counted; the emulated reader's link about 0.7 KB of it), from the same signed-on "
            "terminal: a swipe with PIN %s bytes, a chip sale (pboc-debit: SDA, online PIN, "
            "ARQC, the host's ARPC, TC) %s bytes; the chip sale with an issuer script and its "
            "result notice (0620), then the settlement with its IC detail (0320/203), %s bytes."
            % tuple("{:,}".format(peaks[name]) for name in ("swipe", "chip", "chip_after"))
        )
    print("\n".join(lines))


# A sale through Engine.run against the host simulator (its chip code checks the ARQC and
# answers the ARPC), as docs/benchmarks.md's peak heap table runs one: the terminal's flash
# (`poskit txn init`, signed on: the IC sets downloaded), modules from the device ROMFS image.
_ENGINE = (
    "from app.comm.frames import TcpBearer\n"
    "from app.txn.engine import Card, Engine, Request\n"
    "e = Engine(1, store, storage_key, TcpBearer('127.0.0.1', %d))\n"
)
SWIPE_SALE = (
    "r = e.run(Request('sale', amount=1, card=Card(track2='6224242900000113=28062013949031013'),"
    " pin=bytearray(b'123456')))\n"
)
CHIP_SALE = (
    "from board.unix_sim import SocketUART\n"
    "from drivers.tda8029 import Tda8029\n"
    "from app.txn import chip\n"
    "k = chip.start(e, Tda8029(SocketUART('127.0.0.1', %d)), 1, pin=lambda: True)\n"
    "assert k.result == 'online', (k.result, k.reason)\n"
    "r = e.run(Request('sale', amount=1, card=chip.ChipCard(k), pin=bytearray(b'123456')))\n"
    "k.finish()\n"
    "assert r.approved and k.result == 'approved', (r.error, r.detail, k.result, k.reason)\n"
)
# The same sale answered with an issuer script (72): its result notice (0620) goes after it;
# then the settlement, with the sale's IC detail (0320/203) after the 0510.
CHIP_AFTER = (
    CHIP_SALE
    + "k = chip = None\n"
    + "r = e.run(Request('settlement'))\n"
    + "assert r.settlement['ic_uploaded'] == 1, r.notes\n"
)


def sale_peaks(interpreter) -> dict:
    """Smallest app heap (the ROMFS image not counted) of a swipe sale and of a chip sale
    (pboc-debit, SDA, online PIN), each from the same signed-on terminal state."""
    from hostlib.emulators.tda8029 import Tda8029Emulator
    from hostlib.hostsim import HostSimulator
    from hostlib.state import TerminalState

    figures = {}
    with tempfile.TemporaryDirectory() as tmp, micropython.default(interpreter):
        template, template_db = Path(tmp) / "t", Path(tmp) / "t.db"
        txn_init(template)
        with HostSimulator(db_path=str(template_db), seed=True) as host:
            code = _ENGINE % host.address[1] + "r = e.run(Request('sign_on'))\nassert r.approved"
            TerminalState(template).run(code, heap=512 * 1024).check()

        def trial(snippet, heap):
            state, db = Path(tmp) / "s", Path(tmp) / "s.db"
            shutil.rmtree(state, ignore_errors=True)
            shutil.copytree(template, state)
            shutil.copyfile(template_db, db)
            with HostSimulator(db_path=str(db)) as host, Tda8029Emulator() as reader:
                if snippet is CHIP_AFTER:
                    host.set_fault("issuer_script", script="72:pin_unblock")
                reader.insert(load_card("pboc-debit"))
                code = _ENGINE % host.address[1] + snippet.replace("%d", str(reader.port))
                return TerminalState(state).run(code + "\nassert r.approved", heap=heap).ok

        for name, snippet in (
            ("swipe", SWIPE_SALE),
            ("chip", CHIP_SALE),
            ("chip_after", CHIP_AFTER),
        ):
            low, high = 4096, 200 * 1024
            if not trial(snippet, high):
                raise RuntimeError("the %s sale does not run in %d bytes" % (name, high))
            while high - low > 512:
                mid = (low + high) // 2
                if trial(snippet, mid):
                    high = mid
                else:
                    low = mid
            figures[name] = high
    return figures


if __name__ == "__main__":
    main()
