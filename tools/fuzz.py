"""`make fuzz`: fuzz the terminal's parsers on MicroPython itself, and write the figures.

Every target runs in its own MicroPython process (the unix port; the 64-bit one unless told),
with the heap of an ESP32-WROOM (110 KB) and the device code as it is deployed: device/
compiled to .mpy in its ROMFS image, the fuzz harness (firmware_tests/fuzz/) in a second
image beside it. Targets run side by side, one per CPU core.

    python -m tools.fuzz                       # every target, 1,000,000 inputs each
    python -m tools.fuzz --count 3000 hayes    # one target, a short run
    python -m tools.fuzz --index 12345 engine  # the input number 12345 made, shown and run
    python -m tools.fuzz --replay '3:0210.../...' engine   # an input as a crash line showed it

A crash is anything a parser lets out besides the errors it documents (each target's
EXPECTED), a hang, or a failed check of the target's own. Each is printed with the campaign
seed, the input's number and the input itself, which `--index` and `--replay` run again with
the whole MicroPython traceback. `--write` puts the figures into docs/benchmarks.md (the
"Fuzzing" section, which `make bench` keeps).
"""

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hostlib import build, micropython

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "firmware_tests" / "fuzz"
# The engine target records its seeds against the device tests' fake acquirer host.
HELPERS = (ROOT / "firmware_tests" / "mpy" / "fakehost.py",)
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
# The figures of the last campaign, for --render (the section written again without a run).
LAST = ROOT / "build" / "fuzz-last.json"
SECTION = "## Fuzzing"

# Every target, with what it feeds; the order the figures are shown in.
TARGETS = {
    "engine": "host answers through Engine.run: sign-on, sale, balance, void, refund, "
    "pre-auth, completion, cancel, a pending reversal then a sale or a settlement, "
    "settlement balanced and with upload, echo, sign-off, parameter download, partial approval",
    "iso8583": "ISO 8583 frames: unpack, fields 60/61, field 55 TLV; packed back",
    "packet": "parameter and key packets (CRC and HMAC recomputed), key blocks unwrapped",
    "params": "parameter TLV bodies, terminal and application sets",
    "tr31": "TR-31 key blocks (length and MAC recomputed under a test KBPK)",
    "hayes": "dial-up modem answers: init, dial, data mode, hang-up, through the bearer",
    "sim800": "SIM800 answers: SIM, ICCID, signal, registration, APN, TCP, send, +IPD",
    "sim7600": "SIM7600 answers: the same, LTE registration, NETOPEN, CIPOPEN, +IPD",
    "cardreader": "magstripe reader bytes (LRC and Luhn recomputed)",
    "pinpad": "PIN pad frames and ACK/NAK (CRC recomputed)",
    "tlv": "chip card answers as BER-TLV (SELECT, GPO, READ RECORD, GENERATE AC), and DOLs",
    "tda8029": "chip reader ALPAR frames, refusals, card events, APDU rules (LRC recomputed)",
    "pn532": "contactless reader frames, ACK/NACK, error frames, chaining (LCS, DCS recomputed)",
}
DEFAULT_COUNT = 1_000_000
# Where a target keeps its flash files (the engine's record store): in memory when the machine
# has a tmpfs there, where a file write costs a tenth of one on disk.
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
DEFAULT_SEED = 1


# The heap of a run: the device code gets an ESP32-WROOM's 110 KB, no more and no less. The
# process starts with that, room for what the harness holds of its own (its modules, the
# seeds, the engine's saved flash states: measured at set-up, about 70 KB on the 32-bit port
# and 120 KB on the 64-bit one, whose objects are half again as large) and the two images;
# once the target is set up, fuzzlib puts whatever is free beyond 110 KB into one buffer
# that stays untouched, so every input meets the heap it would on a terminal.
ESP32_HEAP = 110 * 1024
HARNESS_HEAP = 160 * 1024


class FuzzError(Exception):
    """A run that could not be made or did not finish."""


@dataclass
class Outcome:
    """What one target's run reported."""

    target: str
    interpreter: str
    inputs: int = 0
    accepted: int = 0
    refused: int = 0
    crashes: int = 0
    classes: int = 0
    ms: int = 0
    held: int = 0  # heap the run held once set up (images, device modules, harness, seeds)
    reports: list[str] = field(default_factory=list)
    returncode: int = 0
    output: str = ""

    @property
    def rate(self) -> float:
        return self.inputs / (self.ms / 1000) if self.ms else 0.0


def harness_image(arch: str) -> Path:
    """The fuzz harness compiled for `arch` in its own ROMFS image, rebuilt when a source
    changed: build/fuzz-ARCH.romfs."""
    sources = sorted(HARNESS.glob("*.py")) + list(HELPERS)
    image = ROOT / "build" / ("fuzz-%s.romfs" % arch)
    newest = max(p.stat().st_mtime for p in sources)
    if image.exists() and image.stat().st_mtime >= newest:
        return image
    image.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="poskit-fuzz-") as tmp:
        for path in sources:
            shutil.copyfile(path, Path(tmp) / path.name)
        part = image.with_suffix(".%d.tmp" % os.getpid())  # workers build at once
        build.build_romfs(Path(tmp), part, arch)
        part.replace(image)
    return image


_PROGRAM = """\
import gc, os, sys, vfs
def _mount(path, at):
    image = bytearray(os.stat(path)[6])
    with open(path, "rb") as f:
        f.readinto(image)
    vfs.mount(vfs.VfsRom(image), at)
_mount(%r, "/rom")
_mount(%r, "/fuzz")
del _mount
sys.path[:] = [".frozen", "/rom", "/fuzz"]
gc.collect()
import fuzzlib
fuzzlib.DEVICE_HEAP = %d
sys.exit(1 if fuzzlib.main(%r) else 0)
"""


_building = threading.Lock()  # targets start side by side: the images are built once


def _program(interpreter: str, args: list[str]) -> tuple[str, int]:
    # (the program, its heap: an ESP32's plus the two images it reads into memory)
    arch = micropython.arch(interpreter)
    with _building:
        device = build.device_romfs(arch)
        harness = harness_image(arch)
    images = device.stat().st_size + harness.stat().st_size
    heap = ESP32_HEAP + HARNESS_HEAP + images + 2048
    return _PROGRAM % (str(device), str(harness), ESP32_HEAP, args), heap


def _command(interpreter: str, args: list[str]) -> tuple[list[str], dict]:
    program, heap = _program(interpreter, args)
    env = dict(os.environ, MICROPYPATH=micropython.FROZEN)
    return [interpreter, "-X", "heapsize=%d" % heap, "-c", program], env


def parse(output: str, target: str, interpreter: str, returncode: int) -> Outcome:
    """The Outcome of a run from its output lines."""
    outcome = Outcome(target, interpreter, returncode=returncode, output=output)
    report: list[str] = []
    for line in output.splitlines():
        if line.startswith("@@DONE "):
            words = line.split()
            values = dict(zip(words[2::2], words[3::2]))
            outcome.inputs = int(values["inputs"])
            outcome.accepted = int(values["accepted"])
            outcome.refused = int(values["refused"])
            outcome.crashes = int(values["crashes"])
            outcome.classes = int(values["classes"])
            outcome.ms = int(values["ms"])
        elif line.startswith("@@HEAP after set-up:"):
            outcome.held = int(line.split(":")[1].split()[0])
        elif line.startswith("@@CRASH"):
            if report:
                outcome.reports.append("\n".join(report))
            report = [line[2:]]
        elif line.startswith(("@@INPUT", "@@|", "@@CLASS")) and report:
            report.append(line[2:])
    if report:
        outcome.reports.append("\n".join(report))
    return outcome


def run_target(
    target: str,
    *,
    count: int,
    seed: int = DEFAULT_SEED,
    start: int = 0,
    interpreter: str | None = None,
    stall: float = 900,
    progress=None,
) -> Outcome:
    """Fuzz `target` with inputs start..start+count-1 of campaign `seed` on `interpreter`
    (default: the 64-bit port). `progress(target, done, ms)` is called at each progress
    line. FuzzError if the run reports nothing, or says nothing for `stall` seconds (a
    progress line comes every 16,384 inputs: silence that long is a hang)."""
    interpreter = interpreter or micropython.binary()
    with tempfile.TemporaryDirectory(prefix="poskit-fuzz-%s-" % target, dir=SCRATCH) as work:
        args = [target, "run", str(seed), str(count), str(start), work, str(ROOT)]
        cmd, env = _command(interpreter, args)
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        heard = [time.monotonic()]
        stalled = threading.Event()

        def watch():
            while proc.poll() is None:
                if time.monotonic() - heard[0] > stall:
                    stalled.set()
                    proc.kill()
                    return
                time.sleep(min(1.0, stall / 4))

        threading.Thread(target=watch, daemon=True).start()
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            heard[0] = time.monotonic()
            lines.append(line)
            if progress is not None and line.startswith("@@PROGRESS "):
                _, done, ms = line.split()
                progress(target, int(done), int(ms))
        returncode = proc.wait()
    if stalled.is_set():
        raise FuzzError(
            "%s: nothing said for %g s, killed (a hang?):\n%s"
            % (target, stall, "".join(lines)[-2000:])
        )
    outcome = parse("".join(lines), target, interpreter, returncode)
    if not outcome.inputs:
        raise FuzzError(
            "%s: the run reported nothing (status %d):\n%s"
            % (target, returncode, "".join(lines)[-4000:])
        )
    return outcome


def run_one(target: str, args: list[str], interpreter: str | None = None) -> tuple[int, str]:
    """Run one input of `target` (mode and arguments as fuzzlib.main takes them after the
    target); returns (status, output)."""
    interpreter = interpreter or micropython.binary()
    with tempfile.TemporaryDirectory(prefix="poskit-fuzz-%s-" % target, dir=SCRATCH) as work:
        cmd, env = _command(interpreter, [target] + args + [work, str(ROOT)])
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


# --- the figures ------------------------------------------------------------------------------


def render(
    outcomes: list[Outcome], seed: int, wall_s: float, jobs: int, when: str | None = None
) -> str:
    """The "Fuzzing" section of docs/benchmarks.md, for a campaign that ended at `when`."""
    first = outcomes[0].interpreter if outcomes else micropython.binary()
    bits = micropython.word_bits(first)
    lines = [
        SECTION,
        "",
        "Written by `make fuzz` (tools/fuzz.py), which `make bench` leaves as it is "
        "(docs/testing.md says how a campaign runs). Each parser of outside data was fed "
        "mutations of valid inputs on MicroPython %s, unix port, %d-bit, the device code from "
        "its ROMFS image, with an ESP32-WROOM's %d KB of heap free once the harness was set up; "
        "one process a target, %d at a time; campaign seed %d. Three inputs in four had their "
        "lengths, CRCs and MACs made right again, so that the checks past them were reached. "
        "*Accepted*: the parser took the input (the engine: the request ended without a "
        "terminal-side error); *refused*: it said why with one of its documented errors; a "
        "*crash* is anything else it let out, a hang, or a failed check of the target's own."
        % (
            micropython.version(first),
            bits,
            ESP32_HEAP // 1024,
            jobs,
            seed,
        ),
        "",
        "| target | what is fed | inputs | accepted | refused | inputs/s | time s | crashes |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        lines.append(
            "| %s | %s | %s | %s | %s | %s | %.0f | %d |"
            % (
                o.target,
                TARGETS[o.target],
                format(o.inputs, ","),
                format(o.accepted, ","),
                format(o.refused, ","),
                format(round(o.rate), ","),
                o.ms / 1000,
                o.crashes,
            )
        )
    total = sum(o.inputs for o in outcomes)
    lines += [
        "",
        "%s inputs in all, %d crashes, in %.0f minutes of wall time (%s)."
        % (
            format(total, ","),
            sum(o.crashes for o in outcomes),
            wall_s / 60,
            when or time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        ),
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, path: Path = BENCHMARKS, heading: str = SECTION) -> None:
    """Put the section `heading` ("Fuzzing") into `path`, in place of the one there."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    path.write_text(without_section(old, heading).rstrip("\n") + "\n\n" + text)


def without_section(text: str, heading: str = SECTION) -> str:
    """`text` without its section `heading` (which runs to the next `## ` heading)."""
    match = re.search(r"^%s\n.*?(?=^## |\Z)" % re.escape(heading), text, re.M | re.S)
    return text if match is None else text[: match.start()] + text[match.end() :]


def section(text: str, heading: str = SECTION) -> str:
    """The section `heading` of `text` ("" if none), for `make bench` to keep."""
    match = re.search(r"^%s\n.*?(?=^## |\Z)" % re.escape(heading), text, re.M | re.S)
    return "" if match is None else match.group(0)


# --- the command ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.fuzz", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("targets", nargs="*", help="targets (default: all): " + ", ".join(TARGETS))
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="inputs per target")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="campaign seed")
    parser.add_argument("--start", type=int, default=0, help="number of the first input")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--bits", choices=("64", "32"), default="64", help="which MicroPython")
    parser.add_argument("--index", type=int, help="make input number INDEX, show it, run it")
    parser.add_argument("--replay", metavar="INPUT", help="run one input as a crash showed it")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md")
    parser.add_argument(
        "--render", action="store_true", help="write docs/benchmarks.md from the last campaign"
    )
    args = parser.parse_args(argv)
    for name in args.targets:
        if name not in TARGETS:
            parser.error("no target %r: %s" % (name, ", ".join(TARGETS)))
    targets = args.targets or list(TARGETS)
    interpreter = micropython.named(
        micropython.NAME_32 if args.bits == "32" else micropython.NAME_64
    )
    if interpreter is None:
        parser.error(micropython.missing32())
    if args.render:
        last = json.loads(LAST.read_text())
        outcomes = [Outcome(**o) for o in last["outcomes"]]
        write_section(render(outcomes, last["seed"], last["wall"], last["jobs"], last["when"]))
        print("wrote the Fuzzing section of %s" % BENCHMARKS.relative_to(ROOT))
        return 0
    if args.index is not None or args.replay is not None:
        if len(targets) != 1:
            parser.error("--index and --replay take one target")
        if args.replay is not None:
            mode = ["replay", args.replay]
        else:
            mode = ["index", str(args.seed), str(args.index)]
        status, output = run_one(targets[0], mode, interpreter)
        print(output, end="")
        return status

    def progress(target, done, ms):
        rate = done / ms * 1000 if ms else 0
        print("  %-10s %9s inputs, %6.0f/s" % (target, format(done, ","), rate), flush=True)

    began = time.monotonic()
    print(
        "fuzzing %s: %s inputs each, seed %d, %d at a time"
        % (", ".join(targets), format(args.count, ","), args.seed, args.jobs),
        flush=True,
    )
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(
                run_target,
                name,
                count=args.count,
                seed=args.seed,
                start=args.start,
                interpreter=interpreter,
                progress=progress,
            )
            for name in targets
        ]
        outcomes = [f.result() for f in futures]
    wall = time.monotonic() - began
    crashes = 0
    for o in outcomes:
        crashes += o.crashes
        print(
            "%-10s %9s inputs %7.0f/s  accepted %s  refused %s  crashes %d"
            % (
                o.target,
                format(o.inputs, ","),
                o.rate,
                format(o.accepted, ","),
                format(o.refused, ","),
                o.crashes,
            )
        )
        for report in o.reports:
            print(report)
    print("%d crashes; %.0f s" % (crashes, wall))
    kept = [dataclasses.replace(o, output="") for o in outcomes]
    LAST.parent.mkdir(parents=True, exist_ok=True)
    LAST.write_text(
        json.dumps(
            {
                "seed": args.seed,
                "wall": wall,
                "jobs": args.jobs,
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "outcomes": [dataclasses.asdict(o) for o in kept],
            }
        )
    )
    if args.write:
        write_section(render(outcomes, args.seed, wall, args.jobs))
        print("wrote the Fuzzing section of %s" % BENCHMARKS.relative_to(ROOT))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
