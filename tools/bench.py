"""`make bench`: measure the device code on MicroPython beside independent CPython libraries
doing the same work in the same run, and write docs/benchmarks.md.

Every MicroPython figure has its reference next to it, measured minutes apart on the same
machine, so the ratio means something even on a noisy shared machine. Absolute times are
those of the unix port on this PC, not of an ESP32 (roughly 10-30x slower).
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


def _device_timings() -> dict:
    result = micropython.run(BENCH / "crypto.py", heap=None, timeout=600).check()
    return {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}


def _storage_figures() -> list[dict]:
    result = micropython.run(
        BENCH / "storage.py", heap=None, path=[ROOT / "firmware_tests" / "mpy"], timeout=600
    ).check()
    return [json.loads(line) for line in result.stdout.splitlines()]


def _iso8583_figures() -> list[tuple[str, dict, str, float]]:
    """The device codec's rows, each beside pyiso8583 (hostlib.cup8583) doing the same work
    on the same frame; the CUP MAC in the reference is pycryptodome DES."""
    from Crypto.Cipher import DES

    from hostlib import cup8583

    result = micropython.run(BENCH / "iso8583.py", heap=micropython.ESP32_HEAP, timeout=600)
    rows = [json.loads(line) for line in result.check().stdout.splitlines()]
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
        "## ISO 8583 codec (app/iso8583.py), 110 KB heap",
        "",
        "| operation | MicroPython µs | reference | reference µs | ratio | heap per op B |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for label, row, ref_label, ref_us in rows:
        lines.append(
            "| %s | %.1f | %s | %.1f | %.1f | %d |"
            % (label, row["us"], ref_label, ref_us, row["us"] / ref_us, row["heap"])
        )
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
    "drivers.ethernet",
    "drivers.sc16is752",
    "fonts.font16",
)


def _driver_figures() -> tuple[list[tuple[str, int]], list[dict]]:
    """Heap each driver module keeps after import from the ROMFS image (as deployed; image
    size aside), and the keypad/display figures of firmware_tests/bench/hmi.py run on it."""
    image = build.device_romfs(micropython.arch())
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
    out = micropython.run(code=code, heap=None).check()
    imports = [(n, int(v)) for n, v in (line.split() for line in out.stdout.splitlines())]
    hmi = micropython.run(
        code=prelude + open(BENCH / "hmi.py").read(), heap=None, timeout=300
    ).check()
    return imports, [json.loads(line) for line in hmi.stdout.splitlines()]


def render_drivers(figures) -> list[str]:
    imports, hmi = figures
    lines = [
        "",
        "## Drivers",
        "",
        "Heap each driver module keeps after import from the ROMFS image, in import order "
        "(shared modules such as drivers.at count with the first that imports them):",
        "",
        "| module | heap kept B |",
        "|---|---:|",
    ]
    lines += ["| %s | %d |" % row for row in imports]
    lines += ["", "Keypad and display (firmware_tests/bench/hmi.py, from ROMFS):", ""]
    lines += ["| figure | value |", "|---|---:|"]
    lines += ["| %s | %s %s |" % (r["name"], r["value"], r["unit"]) for r in hmi]
    lines += [
        "",
        "Printer: a 30-line sale slip, half Chinese, is 682 bytes of ESC/POS plus 54 bytes of "
        "status requests (docs/drivers.md; test_emulators.py prints one through the "
        "emulator).",
    ]
    return lines


def _txn_section() -> list[str]:
    """firmware_tests/bench/txn_reference.py: CPU per sale on MicroPython beside pyiso8583 +
    psec + pycryptodome doing the same work, and the peak heap of each transaction."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, str(BENCH / "txn_reference.py")],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError("txn bench failed:\n%s%s" % (proc.stdout, proc.stderr))
    return [
        "",
        "## Transactions (app/txn.py against the host simulator)",
        "",
        "A sale's parts on MicroPython beside the same work on CPython (pyiso8583, psec, "
        "pycryptodome, files); then the smallest app heap each transaction runs in, from the "
        "ROMFS image on the 64-bit unix port (an ESP32's 32-bit objects are smaller).",
        "",
    ] + proc.stdout.rstrip().splitlines()


def render_storage(rows: list[dict]) -> list[str]:
    lines = [
        "",
        "## Flash storage (app/store.py on LittleFS v2, RAM flash)",
        "",
        "Bytes the operation programs into flash, beside the payload it stores (their ratio is "
        "the write amplification); 4096-byte blocks are the ESP32's flash, 512-byte blocks a "
        "comparison. Mean over 30 operations (max in brackets).",
        "",
        "| operation | block | payload B | flash bytes | amplification | programs | erases "
        "| µs (PC) | heap per op B |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["name"] == "power_cut" or not r["bytes"]:
            continue
        amplification = "%.1f" % (r["bytes"] / r["payload"]) if r["payload"] else "-"
        lines.append(
            "| %s | %d | %d | %.0f (%d) | %s | %.1f | %.1f | %.0f | %d |"
            % (
                r["name"].replace("_", " "),
                r["block_size"],
                r["payload"],
                r["bytes"],
                r["bytes_max"],
                amplification,
                r["programs"],
                r["erases"],
                r["us"],
                r["heap"],
            )
        )
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


def _min_heaps() -> dict:
    """Smallest heap in which importing the modules and doing one operation succeeds, with
    the modules precompiled in a ROMFS image as deployed, and compiled from .py source.

    On the terminal the ROMFS image is memory-mapped flash; the unix port has to read it into
    the heap, so the image's size is taken off the ROMFS figure.
    """
    snippets = {
        "DES/3DES": "from app import cipher; c = cipher.new('3DES', bytes(range(16)));"
        " b = bytearray(8); c.encrypt_into(b)",
        "SM4": "from app import cipher; c = cipher.new('SM4', bytes(range(16)));"
        " b = bytearray(16); c.encrypt_into(b)",
        "CUP MAC (DES)": "from app import cipher, mac;"
        " mac.cup_mac(cipher.new('DES', bytes(range(8))), bytes(200))",
        "PIN block": "from app import cipher, pinblock;"
        " pinblock.encrypt(cipher.new('3DES', bytes(range(16))), b'123456', b'6224242900000113')",
        "self-test (all algorithms)": "from app import selftest; assert not selftest.run()",
    }
    heaps = {}
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "device.romfs"
        size = build.build_romfs(ROOT / "device", image, micropython.arch())
        prelude = (
            "import vfs, sys\n"
            "f = open(%r, 'rb'); rom = f.read(); f.close()\n"
            "vfs.mount(vfs.VfsRom(rom), '/rom'); sys.path[:] = ['.frozen', '/rom']\n" % str(image)
        )
        for name, code in snippets.items():
            from_rom = micropython.min_heap(prelude + code) - size
            from_source = micropython.min_heap(code)
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


def render(
    device: dict,
    refs: dict,
    heaps: dict,
    sizes: tuple[int, int],
    storage: list[dict],
    iso: list,
    drivers,
    txn: list[str],
) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (tools/bench.py); do not edit by hand.",
        "",
        "- measured: %s on %s" % (now, _cpu()),
        "- device code: MicroPython %s unix port (%s); references: CPython %s"
        % (micropython.version(), micropython.arch(), platform.python_version()),
        "- each figure is the best of 3 runs; MicroPython and its reference ran in the same "
        "`make bench`, so their ratio is the figure to read. An ESP32 at 240 MHz runs the same "
        "MicroPython code roughly 10-30x slower than this PC.",
        "",
        "## Crypto core",
        "",
        "| operation | MicroPython µs | reference | reference µs | MicroPython / reference "
        "| heap per op (bytes) |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name, label in OPERATIONS:
        row = device[name]
        ref_label, ref_fn = refs[name]
        ref_us = _time_cpython(ref_fn)
        lines.append(
            "| %s | %.1f | %s | %.1f | %.1f | %d |"
            % (label, row["us"], ref_label, ref_us, row["us"] / ref_us, row["heap"])
        )
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
        if slow in device:
            f, s = device[fast]["us"], device[slow]["us"]
            lines.append("| %s | %.1f | %.1f | %.1fx |" % (label, f, s, s / f))
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
        "| code | as deployed (bytes) | from source (bytes) |",
        "|---|---:|---:|",
    ]
    for name, (from_rom, from_source) in heaps.items():
        lines.append("| %s | %d | %d |" % (name, from_rom, from_source))
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
    args = parser.parse_args(argv)
    print("timing device code on MicroPython ...", file=sys.stderr)
    device = _device_timings()
    print("measuring minimum heaps ...", file=sys.stderr)
    heaps = _min_heaps()
    print("measuring flash storage ...", file=sys.stderr)
    storage = _storage_figures()
    print("timing CPython references ...", file=sys.stderr)
    print("timing the ISO 8583 codec ...", file=sys.stderr)
    iso = _iso8583_figures()
    print("measuring drivers ...", file=sys.stderr)
    drivers = _driver_figures()
    print("measuring transactions (a few minutes) ...", file=sys.stderr)
    txn = _txn_section()
    text = render(device, _references(), heaps, _image_sizes(), storage, iso, drivers, txn)
    Path(args.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
