"""`make bench`: measure the device code on MicroPython beside independent CPython libraries
doing the same work in the same run, and write docs/benchmarks.md.

Every MicroPython figure has its reference next to it, measured minutes apart on the same
machine, so the ratio means something even on a noisy shared machine. Absolute times are
those of the unix port on this PC, not of an ESP32 (roughly 10-30x slower).

Heap figures are measured on both MicroPython builds (hostlib.micropython): the 32-bit one,
whose objects and 31-bit small ints are an ESP32's, gives the figure a heap budget means; the
64-bit one stands beside it. Times come from the 64-bit build. Without a 32-bit build the
32-bit columns read "-" and the page says why.
"""

import argparse
import datetime
import json
import platform
import sys
import tempfile
import timeit
from pathlib import Path

from hostlib import build, micropython
from tools import fuzz

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "firmware_tests" / "bench"

# MicroPython operation -> (what it is, CPython reference label, reference callable factory)
OPERATIONS = [
    ("des_block", "DES, one block (encrypt in place)"),
    ("tdes_block", "3DES-EDE2, one block"),
    ("sm4_block", "SM4, one block"),
    ("aes_block", "AES-128, one block (built-in cryptolib)"),
    ("tdes_cbc_1k", "3DES CBC, 1 KB"),
    ("cup_mac_200", "CUP MAC (DES MAK), 200-byte message"),
    ("pin_block", "PIN block format 0, 3DES-encrypted"),
    ("tdes_key_schedule", "3DES key set-up"),
    ("sm4_key_schedule", "SM4 key set-up"),
]


def _references():
    """CPython references for the same operations, from independent libraries."""
    import psec.des
    import psec.pinblock
    from Crypto.Cipher import AES, DES, DES3
    from gmssl.sm4 import SM4_ENCRYPT, CryptSM4

    k2 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    mak = DES.new(bytes.fromhex("C24A8FB57AA20123"), DES.MODE_ECB)
    des = DES.new(k2[:8], DES.MODE_ECB)
    tdes = DES3.new(k2, DES3.MODE_ECB)
    aes = AES.new(k2, AES.MODE_ECB)
    sm4 = CryptSM4()
    sm4.set_key(k2, SM4_ENCRYPT)
    block8, block16, kb, msg = bytes(8), bytes(16), bytes(1024), bytes(range(200))

    def cup_mac():
        r = bytearray(8)
        for i in range(0, 200, 8):
            for j, b in enumerate(msg[i : i + 8]):
                r[j] ^= b
        hexed = r.hex().upper().encode()
        e1 = mak.encrypt(hexed[:8])
        return mak.encrypt(bytes(a ^ b for a, b in zip(e1, hexed[8:]))).hex()[:8]

    def sm4_key():
        c = CryptSM4()
        c.set_key(k2, SM4_ENCRYPT)

    return {
        "des_block": ("pycryptodome DES (C)", lambda: des.encrypt(block8)),
        "tdes_block": ("pycryptodome DES3 (C)", lambda: tdes.encrypt(block8)),
        "sm4_block": ("gmssl SM4 (pure Python)", lambda: sm4.one_round(sm4.sk, list(block16))),
        "aes_block": ("pycryptodome AES (C)", lambda: aes.encrypt(block16)),
        "tdes_cbc_1k": (
            "pycryptodome DES3 CBC (C; a new CBC object each time)",
            lambda: DES3.new(k2, DES3.MODE_CBC, iv=block8).encrypt(kb),
        ),
        "cup_mac_200": ("pycryptodome DES + Python XOR", cup_mac),
        "pin_block": (
            "psec ISO-0 + encrypt_tdes_ecb",
            lambda: psec.des.encrypt_tdes_ecb(
                k2, psec.pinblock.encode_pinblock_iso_0("123456", "6224242900000113")
            ),
        ),
        "tdes_key_schedule": ("pycryptodome DES3.new", lambda: DES3.new(k2, DES3.MODE_ECB)),
        "sm4_key_schedule": ("gmssl CryptSM4.set_key", sm4_key),
    }


def _time_cpython(fn) -> float:
    timer = timeit.Timer(fn)
    n, _ = timer.autorange()
    return min(timer.repeat(3, n)) / n * 1e6


class Builds:
    """The MicroPython builds figures are read from: `b32` (None where this machine has no
    32-bit build) and `b64`."""

    def __init__(self):
        self.b64 = micropython.binary()
        self.b32 = micropython.binary32()

    def each(self, measure):
        """{32: measure(32-bit build) or None, 64: measure(64-bit build)}."""
        return {32: measure(self.b32) if self.b32 else None, 64: measure(self.b64)}


def _cell(value, fmt="%d") -> str:
    return "-" if value is None else fmt % value


def _heap_cells(figures: dict, pick) -> str:
    """ "32-bit | 64-bit" cells of one row: `pick(figures[bits])` for each build."""
    return " | ".join(
        _cell(None if figures[bits] is None else pick(figures[bits])) for bits in (32, 64)
    )


def _compared(label: str, us: float, ref_label: str, ref_us: float, cells: str) -> str:
    """A table row of a MicroPython figure beside its reference: times, ratio, heap cells."""
    return "| %s | %.1f | %s | %.1f | %.1f | %s |" % (
        label,
        us,
        ref_label,
        ref_us,
        us / ref_us,
        cells,
    )


def _rows(stdout: str) -> dict:
    return {row["name"]: row for row in map(json.loads, stdout.splitlines())}


def _device_timings(interpreter: str) -> dict:
    result = micropython.run(
        BENCH / "crypto.py", heap=None, timeout=600, interpreter=interpreter
    ).check()
    return _rows(result.stdout)


def _storage_figures(interpreter: str, which: tuple = ()) -> list[dict]:
    result = micropython.run(
        BENCH / "storage.py",
        args=which,
        heap=None,
        path=[ROOT / "firmware_tests" / "mpy"],
        timeout=600,
        interpreter=interpreter,
    ).check()
    return [json.loads(line) for line in result.stdout.splitlines()]


def _iso8583_rows(interpreter: str) -> dict:
    result = micropython.run(
        BENCH / "iso8583.py", heap=micropython.ESP32_HEAP, timeout=600, interpreter=interpreter
    )
    return _rows(result.check().stdout)


def _iso8583_figures(device: dict) -> list[tuple[str, dict, str, float]]:
    """The device codec's rows (`device`: {32: rows, 64: rows}), each beside pyiso8583
    (hostlib.cup8583) doing the same work on the same frame; the CUP MAC in the reference is
    pycryptodome DES. Times are the 64-bit build's."""
    from Crypto.Cipher import DES

    from hostlib import cup8583

    rows = list(device[64].values())
    mak = DES.new(bytes.fromhex("C24A8FB57AA20123"), DES.MODE_ECB)

    def cup_mac(mab: bytes) -> bytes:
        padded = mab + bytes(-len(mab) % 8)
        r = bytearray(8)
        for i in range(0, len(padded), 8):
            for j in range(8):
                r[j] ^= padded[i + j]
        hexed = r.hex().upper().encode()
        e1 = mak.encrypt(hexed[:8])
        return mak.encrypt(bytes(a ^ b for a, b in zip(e1, hexed[8:]))).hex().upper()[:8].encode()

    labels = {
        "iso8583_pack_sale": "pack a 0200 sale with CUP MAC",
        "iso8583_pack_sale_no_mac": "pack a 0200 sale, no MAC",
        "iso8583_unpack_verify": "unpack a 0210 and verify its MAC",
        "iso8583_unpack": "unpack a 0210",
    }
    out = []
    for row in rows:
        row = dict(row, heap32=device[32] and device[32][row["name"]]["heap"])
        frame = bytes.fromhex(row["frame"])
        msg = cup8583.decode(frame)
        name = row["name"]
        if name.startswith("iso8583_pack"):
            use_mac = cup_mac if name == "iso8583_pack_sale" else None

            def ref(msg=msg, use_mac=use_mac):
                return cup8583.encode(
                    msg.mti, msg.fields, tpdu=msg.tpdu, header=msg.header, mac=use_mac
                )

            label = "pyiso8583 encode" + (" + MAC" if use_mac else "")
        elif name == "iso8583_unpack_verify":

            def ref(frame=frame):
                m = cup8583.decode(frame)
                return cup_mac(m.mab) == m.fields[64]

            label = "pyiso8583 decode + MAC"
        else:

            def ref(frame=frame):
                return cup8583.decode(frame)

            label = "pyiso8583 decode"
        out.append((labels.get(name, name), row, label, _time_cpython(ref)))
    return out


def render_iso8583(rows) -> list[str]:
    lines = [
        "",
        "## ISO 8583 codec (app/txn/iso8583.py), 110 KB heap",
        "",
        "| operation | MicroPython µs | reference | reference µs | ratio "
        "| heap per op B, 32-bit | 64-bit |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for label, row, ref_label, ref_us in rows:
        cells = "%s | %d" % (_cell(row["heap32"]), row["heap"])
        lines.append(_compared(label, row["us"], ref_label, ref_us, cells))
    return lines


DRIVERS = (
    "drivers.hayes",
    "drivers.sim800",
    "drivers.sim7600",
    "drivers.escpos",
    "drivers.keypad",
    "drivers.st7567",
    "drivers.ssd1306",
    "drivers.pinpad",
    "drivers.cardreader",
    "drivers.cardchannel",
    "drivers.tda8029",
    "drivers.pn532",
    "drivers.ethernet",
    "drivers.sc16is752",
    "fonts.font16",
)


def _driver_figures(interpreter: str) -> tuple[dict[str, int], dict[str, dict]]:
    """Heap each driver module keeps after import from the ROMFS image (as deployed; image
    size aside), and the keypad/display figures of firmware_tests/bench/hmi.py run on it."""
    image = build.device_romfs(micropython.arch(interpreter))
    prelude = (
        "import gc, os, sys, vfs\n"
        "rom = bytearray(os.stat(%r)[6])\n"
        "f = open(%r, 'rb'); f.readinto(rom); f.close()\n"
        "vfs.mount(vfs.VfsRom(rom), '/rom'); sys.path[:] = ['.frozen', '/rom'] + sys.path\n"
    ) % (str(image), str(image))
    code = prelude + (
        "gc.collect(); base = gc.mem_alloc()\n"
        "for name in %r:\n"
        "    __import__(name)\n"
        "    gc.collect(); print(name, gc.mem_alloc() - base); base = gc.mem_alloc()\n"
    ) % (DRIVERS,)
    out = micropython.run(code=code, heap=None, interpreter=interpreter).check()
    imports = {n: int(v) for n, v in (line.split() for line in out.stdout.splitlines())}
    hmi = micropython.run(
        code=prelude + open(BENCH / "hmi.py").read(),
        heap=None,
        timeout=300,
        interpreter=interpreter,
    ).check()
    return imports, _rows(hmi.stdout)


def render_drivers(figures: dict) -> list[str]:
    """`figures`: {32: _driver_figures(32-bit) or None, 64: _driver_figures(64-bit)}."""
    imports = {bits: f and f[0] for bits, f in figures.items()}
    hmi = {bits: f and f[1] for bits, f in figures.items()}
    lines = [
        "",
        "## Drivers",
        "",
        "Heap each driver module keeps after import from the ROMFS image, in import order "
        "(shared modules such as drivers.at count with the first that imports them):",
        "",
        "| module | heap kept B, 32-bit | 64-bit |",
        "|---|---:|---:|",
    ]
    for name in imports[64]:
        lines.append("| %s | %s |" % (name, _heap_cells(imports, lambda f, n=name: f[n])))
    lines += [
        "",
        "Keypad and display (firmware_tests/bench/hmi.py, from ROMFS; times are the 64-bit "
        "build's):",
        "",
    ]
    lines += ["| figure | 32-bit | 64-bit |", "|---|---:|---:|"]
    for name, row in hmi[64].items():
        if row["unit"] == "B":
            values = [hmi[bits] and hmi[bits][name]["value"] for bits in (32, 64)]
            lines.append("| %s | %s | %s |" % (name, *(_cell(v, "%d B") for v in values)))
        else:
            lines.append("| %s | - | %s %s |" % (name, row["value"], row["unit"]))
    lines += [
        "",
        "Printer: a 30-line sale slip, half Chinese, is 682 bytes of ESC/POS plus 54 bytes of "
        "status requests (docs/drivers.md; test_emulators.py prints one through the "
        "emulator).",
    ]
    return lines


def _txn_section() -> list[str]:
    """firmware_tests/bench/txn_reference.py: CPU per sale on MicroPython beside pyiso8583 +
    psec + pycryptodome doing the same work, and the peak heap of each transaction, on both
    builds."""
    return [
        "",
        "## Transactions (app/txn/engine.py against the host simulator)",
        "",
        "A sale's parts on MicroPython beside the same work on CPython (pyiso8583, psec, "
        "pycryptodome, files on C LittleFS with the terminal's flash geometry); then the smallest "
        "app heap each transaction runs in, from the "
        "ROMFS image, on the 32-bit unix port (an ESP32's word size: the budget) and on the "
        "64-bit one.",
        "",
    ] + _reference("txn_reference.py")


def _reference(script: str, *args: str) -> list[str]:
    """The lines a CPython bench script of firmware_tests/bench/ prints (it runs the
    MicroPython side and the host simulator itself)."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError("%s failed:\n%s%s" % (script, proc.stdout, proc.stderr))
    return proc.stdout.rstrip().splitlines()


SALE_SECTION = "## A sale's flash work (like for like)"


def _sale_section() -> list[str]:
    """firmware_tests/bench/txn_reference.py --sale: a sale and its flash parts on MicroPython
    beside the reference on C LittleFS of the same geometry (seconds: `make bench-sale`)."""
    return [""] + _reference("txn_reference.py", "--sale")


def write_sale_section(path: Path) -> str:
    """Measure the sale's flash work and put its section into `path` in place of the one
    there (after the Transactions section if there is none)."""
    return _write_section(path, SALE_SECTION, _sale_section()[1:], "## Transactions")


ISO_SECTION = "## ISO 8583 codec (app/txn/iso8583.py), 110 KB heap"


def write_iso8583_section(path: Path) -> str:
    """Measure the codec beside pyiso8583 and put its section into `path` in place of the one
    there (seconds: `python -m tools.bench --iso8583`)."""
    lines = render_iso8583(_iso8583_figures(Builds().each(_iso8583_rows)))
    return _write_section(path, ISO_SECTION, lines[1:], "## Heap")


TXN_SECTION = "## Transactions (app/txn/engine.py against the host simulator)"


def write_txn_section(path: Path) -> str:
    """Measure the transactions' parts and peak heaps and put their section into `path` in
    place of the one there (several minutes: `python -m tools.bench --txn`)."""
    return _write_section(path, TXN_SECTION, _txn_section()[1:], "## Drivers")


CHIP_SECTION = "## Chip cards (app/emv/)"


def _chip_section() -> list[str]:
    """firmware_tests/bench/chip_reference.py: a contact chip sale's kernel (pboc-credit, DDA)
    and a contactless tap (pboc-dual, fDDA) on both builds beside cardkernel.py on CPython
    (a few minutes: `make bench-chip`)."""
    return [""] + _reference("chip_reference.py")


def write_chip_section(path: Path) -> str:
    """Measure the chip figures and put their section into `path` in place of the one there
    (after the sale's flash work if there is none)."""
    return _write_section(path, CHIP_SECTION, _chip_section()[1:], SALE_SECTION)


def _write_section(path: Path, heading: str, lines: list[str], after: str) -> str:
    # The section `heading` of `path` replaced by `lines`, or put after section `after`.
    text = "\n".join(lines) + "\n"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    kept = fuzz.section(old, heading)
    if kept:
        new = old.replace(kept, text + "\n" if kept.endswith("\n\n") else text)
    else:
        at = old.find("\n## ", old.find(after) + 1)
        at = len(old) if at < 0 else at + 1
        new = old[:at] + text + "\n" + old[at:]
    path.write_text(new)
    return text


def _journal_section() -> list[str]:
    """firmware_tests/bench/journal.py: a void's lookup and the settlement totals with 100 and
    3,000 records, beside the replay the journal had before; then the soak
    (firmware_tests/bench/soak.py, `make soak`: 10,000 transactions at 110 KB)."""
    out = micropython.run(
        BENCH / "journal.py", heap=None, path=[ROOT / "firmware_tests" / "mpy"], timeout=600
    ).check()
    rows = {(r["name"], r["records"]): r for r in map(json.loads, out.stdout.splitlines())}
    lines = [
        "",
        "## Journal lookups (app/store/journal.py)",
        "",
        "On a 1 MB LittleFS image file, 64-bit MicroPython, a batch of sales, refunds and "
        "completions with every fifth record a void. *Before*: the replay the journal had "
        "until it was bounded (a set and a dict of every cancelled STAN, built in a pass of "
        "their own, then a second pass), whose one growing block failed a void with "
        "MemoryError after 3,001 transactions. Now a void's lookup is one pass that follows "
        "its trace number, and totals keep their STANs as bits in 256-byte pieces. Heap "
        "allocated counts garbage too (a record view and a tuple a record, collected as it "
        "goes): the figure that matters is the largest block, 256 bytes now.",
        "",
        "| lookup | records | µs | heap allocated B | before: µs | before: heap allocated B |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (("find", "a void's lookup (find_original)"), ("totals", "totals")):
        for records in (100, 3000):
            now, before = rows[(name, records)], rows[(name + "_before", records)]
            lines.append(
                "| %s | %d | %d | %d | %d | %d |"
                % (label, records, now["us"], now["heap"], before["us"], before["heap"])
            )
    return lines + _reference("soak.py")


def _deploy_section() -> list[str]:
    """firmware_tests/bench/deploy_reference.py: bytes poskit deploy writes for a full deploy,
    a redeploy and one file changed, beside the application's size; the heap its modules take
    from .mpy files beside a ROMFS image."""
    return [""] + _reference("deploy_reference.py")


def _terminal_section() -> list[str]:
    """firmware_tests/bench/terminal_reference.py: the whole terminal's peak heap on both
    builds (the virtual terminal running docs/examples/cashier-sale.vts), and the time from
    ENTER on a sale's amount to the request on the wire beside the engine alone."""
    return [""] + _reference("terminal_reference.py")


def render_storage(figures: dict) -> list[str]:
    """`figures`: {32: rows of the 32-bit build or None, 64: rows of the 64-bit build}; flash
    figures, times and the power cuts are the 64-bit run's (the flash does not depend on the
    word size)."""
    rows = figures[64]
    heap32 = {}
    for r in figures[32] or ():
        heap32[r["name"], r.get("block_size")] = r.get("heap")

    def operation(r):  # the first three cells of a row
        return r["name"].replace("_", " "), r["block_size"], r["payload"]

    def heaps(r):  # the last two
        return _cell(heap32.get((r["name"], r["block_size"]))), r["heap"]

    lines = [
        "",
        "## Flash storage (app/store/records.py on LittleFS v2, RAM flash)",
        "",
        "Bytes the operation programs into flash, beside the payload it stores (their ratio is "
        "the write amplification); 4096-byte blocks are the ESP32's flash, 512-byte blocks a "
        "comparison. Mean over 30 operations (max in brackets).",
        "",
        "| operation | block | payload B | flash bytes | amplification | programs | erases "
        "| µs (PC) | heap per op B, 32-bit | 64-bit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    reads = []
    for r in rows:
        if r["name"] == "power_cut":
            continue
        if not r["bytes"]:
            reads.append(r)
            continue
        amplification = "%.1f" % (r["bytes"] / r["payload"]) if r["payload"] else "-"
        lines.append(
            "| %s | %d | %d | %.0f (%d) | %s | %.1f | %.1f | %.0f | %s | %d |"
            % (
                *operation(r),
                r["bytes"],
                r["bytes_max"],
                amplification,
                r["programs"],
                r["erases"],
                r["us"],
                *heaps(r),
            )
        )
    lines += [
        "",
        "Reading (no flash written): a 600-byte record loaded, and a journal of 30 200-byte "
        "records opened, every record checked (the boot-time check for a torn tail).",
        "",
        "| operation | block | payload B | µs (PC) | heap per op B, 32-bit | 64-bit |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in reads:
        lines.append("| %s | %d | %d | %.0f | %s | %d |" % (*operation(r), r["us"], *heaps(r)))
    lines += [
        "",
        "Power cut after every flash program or erase of the operation (and a torn variant), "
        "then remount: the state must be exactly the old or the new one.",
        "",
        "| operation | block | cut points | old state | new state | corrupt or lost |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["name"] == "power_cut":
            lines.append(
                "| %s | %d | %d | %d | %d | %d |"
                % (
                    r["operation"],
                    r["block_size"],
                    r["cut_points"],
                    r["old"],
                    r["new"],
                    r["corrupt"],
                )
            )
    return lines


def _admin_section() -> list[str]:
    """firmware_tests/bench/admin_heap.py: the peak heap of each PosManage visit, on both
    builds."""
    return [
        "",
        "## PosManage (app/ui/admin*.py)",
        "",
        "The smallest app heap in which each installer's visit runs (login, the screen, back "
        "out), from the ROMFS image, on a terminal set up by `poskit txn init`; the baseline "
        "is the stand-in Terminal alone (a screen drawing nothing, scripted keys), and the "
        "columns beside each figure what PosManage adds to it.",
        "",
    ] + _reference("admin_heap.py")


def _min_heaps(interpreter: str) -> dict:
    """Smallest heap in which importing the modules and doing one operation succeeds, with
    the modules precompiled in a ROMFS image as deployed, and compiled from .py source.

    On the terminal the ROMFS image is memory-mapped flash; the unix port has to read it into
    the heap, so the image's size is taken off the ROMFS figure.
    """
    snippets = {
        "DES/3DES": "from app.crypto import cipher; c = cipher.new('3DES', bytes(range(16)));"
        " b = bytearray(8); c.encrypt_into(b)",
        "SM4": "from app.crypto import cipher; c = cipher.new('SM4', bytes(range(16)));"
        " b = bytearray(16); c.encrypt_into(b)",
        "CUP MAC (DES)": "from app.crypto import cipher; from app.crypto import mac;"
        " mac.cup_mac(cipher.new('DES', bytes(range(8))), bytes(200))",
        "PIN block": "from app.crypto import cipher; from app.crypto import pinblock;"
        " pinblock.encrypt(cipher.new('3DES', bytes(range(16))), b'123456', b'6224242900000113')",
        "self-test (all algorithms)": "from app import selftest; assert not selftest.run()",
    }
    heaps = {}
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "device.romfs"
        size = build.build_romfs(ROOT / "device", image, micropython.arch(interpreter))
        prelude = (
            "import vfs, sys\n"
            "f = open(%r, 'rb'); rom = f.read(); f.close()\n"
            "vfs.mount(vfs.VfsRom(rom), '/rom'); sys.path[:] = ['.frozen', '/rom']\n" % str(image)
        )
        for name, code in snippets.items():
            from_rom = micropython.min_heap(prelude + code, interpreter=interpreter) - size
            from_source = micropython.min_heap(code, interpreter=interpreter)
            heaps[name] = (from_rom, from_source)
    return heaps


def _image_sizes() -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        romfs = build.build_romfs(ROOT / "device", Path(tmp) / "d.romfs", build.ESP32_ARCH)
    source = sum(p.stat().st_size for p in build.sources(ROOT / "device"))
    return source, romfs


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _builds_line(builds: Builds) -> list[str]:
    b64 = "MicroPython %s unix port, 64-bit (%s)" % (
        micropython.version(builds.b64),
        micropython.arch(builds.b64),
    )
    if builds.b32 is None:
        return [
            "- device code: %s; **no 32-bit build on this machine**: %s. The heap figures "
            "below are the 64-bit port's only, which overstates an ESP32's by about a third."
            % (b64, micropython.missing32())
        ]
    return [
        "- device code: heap figures on MicroPython %s unix port, **32-bit** (%s), whose "
        "objects and 31-bit small ints are an ESP32's: the figure a heap budget means; the "
        "%s beside them; times on the 64-bit one"
        % (micropython.version(builds.b32), micropython.arch(builds.b32), b64)
    ]


def render(
    builds: Builds,
    device: dict,
    refs: dict,
    heaps: dict,
    sizes: tuple[int, int],
    storage: dict,
    iso: list,
    drivers: dict,
    txn: list[str],
) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (tools/bench.py); do not edit by hand.",
        "",
        "- measured: %s on %s" % (now, _cpu()),
        *_builds_line(builds),
        "- references: CPython %s" % platform.python_version(),
        "- each figure is the best of 3 runs; MicroPython and its reference ran in the same "
        "`make bench`, so their ratio is the figure to read. An ESP32 at 240 MHz runs the same "
        "MicroPython code roughly 10-30x slower than this PC.",
        "",
        "## Crypto core",
        "",
        "| operation | MicroPython µs | reference | reference µs | MicroPython / reference "
        "| heap per op B, 32-bit | 64-bit |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for name, label in OPERATIONS:
        row = device[64][name]
        ref_label, ref_fn = refs[name]
        cells = _heap_cells(device, lambda rows, n=name: rows[n]["heap"])
        lines.append(_compared(label, row["us"], ref_label, _time_cpython(ref_fn), cells))
    lines += [
        "",
        "Viper against the portable (pure Python) path of the same module, both on MicroPython:",
        "",
        "| operation | viper µs | portable µs | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for fast, slow, label in (
        ("des_block", "des_block_portable", "DES block"),
        ("sm4_block", "sm4_block_portable", "SM4 block"),
    ):
        if slow in device[64]:
            f, s = device[64][fast]["us"], device[64][slow]["us"]
            lines.append("| %s | %.1f | %.1f | %.1fx |" % (label, f, s, s / f))
    lines += [
        "",
        "CRC-32 of a 4 KB record (app.crypto.crc32: viper, the value kept in 4 bytes; against "
        "MicroPython's own binascii.crc32, whose value is an int). Every record and packet on "
        "flash is checked this way; on a 32-bit port an int at or above 2**30 is a heap object, "
        "and this record's CRC (0xA2912082) is one:",
        "",
        "| code | µs | heap per op B, 32-bit | 64-bit |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (
        ("crc32_4k", "app.crypto.crc32.start"),
        ("binascii_crc32_4k", "binascii.crc32"),
    ):
        lines.append(
            "| %s | %.1f | %s |"
            % (
                label,
                device[64][name]["us"],
                _heap_cells(device, lambda rows, n=name: rows[n]["heap"]),
            )
        )
    lines += [
        "",
        "## Heap",
        "",
        "Smallest MicroPython heap (found by bisection with `-X heapsize`, to 256 bytes) in "
        "which importing the modules and doing the operation succeeds; an ESP32-WROOM leaves "
        "about 110 KB. *As deployed*: the modules precompiled (.mpy) in a ROMFS image, which "
        "on the terminal is memory-mapped flash (its size is taken off). *From source*: the "
        "interpreter compiles the .py files itself, which costs heap the terminal never spends.",
        "",
        "| code | as deployed B, 32-bit | 64-bit | from source B, 32-bit | 64-bit |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in heaps[64]:
        lines.append(
            "| %s | %s | %s |"
            % (
                name,
                _heap_cells(heaps, lambda h, n=name: h[n][0]),
                _heap_cells(heaps, lambda h, n=name: h[n][1]),
            )
        )
    lines += render_iso8583(iso)
    lines += render_drivers(drivers)
    lines += txn
    lines += render_storage(storage)
    source, romfs = sizes
    lines += [
        "",
        "## Image",
        "",
        "| what | bytes |",
        "|---|---:|",
        "| device/ source (.py) | %d |" % source,
        "| ROMFS image for the ESP32 (xtensawin .mpy) | %d |" % romfs,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--sale",
        action="store_true",
        help="measure only a sale's flash work beside its reference, and put that section "
        "into the output in place of the one there (make bench-sale)",
    )
    parser.add_argument(
        "--chip",
        action="store_true",
        help="measure only the chip sale's kernel and the contactless tap beside their "
        "reference, and put that section into the output in place of the one there "
        "(make bench-chip)",
    )
    parser.add_argument(
        "--txn",
        action="store_true",
        help="measure only the Transactions section (a sale's parts beside their reference, "
        "the peak heap of each transaction) and put it into the output in place of the one "
        "there",
    )
    parser.add_argument(
        "--iso8583",
        action="store_true",
        help="measure only the ISO 8583 codec section and put it into the output in place of "
        "the one there",
    )
    args = parser.parse_args(argv)
    if args.sale or args.chip or args.txn or args.iso8583:
        if args.iso8583:
            print(write_iso8583_section(Path(args.output)))
        if args.txn:
            print(write_txn_section(Path(args.output)))
        if args.sale:
            print(write_sale_section(Path(args.output)))
        if args.chip:
            print(write_chip_section(Path(args.output)))
        return 0
    builds = Builds()
    if builds.b32 is None:
        print("bench: WARNING: %s" % micropython.missing32(), file=sys.stderr)
    print("timing device code on MicroPython ...", file=sys.stderr)
    device = builds.each(_device_timings)
    print("measuring minimum heaps ...", file=sys.stderr)
    heaps = builds.each(_min_heaps)
    print("measuring flash storage ...", file=sys.stderr)
    # The power-cut campaigns and the flash figures do not depend on the word size: the
    # 32-bit run measures the heap rows only.
    storage = {64: _storage_figures(builds.b64)}
    storage[32] = builds.b32 and _storage_figures(builds.b32, ("flash",))
    print("timing the ISO 8583 codec ...", file=sys.stderr)
    iso = _iso8583_figures(builds.each(_iso8583_rows))
    print("measuring drivers ...", file=sys.stderr)
    drivers = builds.each(_driver_figures)
    print("measuring transactions (several minutes) ...", file=sys.stderr)
    txn = _txn_section()
    print("measuring a sale's flash work ...", file=sys.stderr)
    txn += _sale_section()
    print("measuring chip cards (a few minutes) ...", file=sys.stderr)
    txn += _chip_section()
    print("measuring the terminal application (several minutes) ...", file=sys.stderr)
    txn += _terminal_section()
    print("measuring PosManage ...", file=sys.stderr)
    txn += _admin_section()
    print("measuring journal lookups and the soak (several minutes) ...", file=sys.stderr)
    txn += _journal_section()
    print("measuring deploys ...", file=sys.stderr)
    txn += _deploy_section()
    print("timing CPython references ...", file=sys.stderr)
    text = render(builds, device, _references(), heaps, _image_sizes(), storage, iso, drivers, txn)
    output = Path(args.output)
    # The Fuzzing section is `make fuzz`'s (tools/fuzz.py), Power cuts `make cuts`'s
    # (tools/cuts.py): kept as they are.
    old = output.read_text() if output.exists() else ""
    for heading in (fuzz.SECTION, "## Power cuts"):
        kept = fuzz.section(old, heading)
        if kept:
            text = text.rstrip("\n") + "\n\n" + kept
    output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
