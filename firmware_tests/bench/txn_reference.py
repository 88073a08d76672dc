"""CPython side of the transaction engine's benchmark (firmware_tests/bench/txn.py runs on
MicroPython): the same work done with pyiso8583 (hostlib.cup8583), psec and pycryptodome,
and the engine's peak heap on the virtual terminal.

    references(rows, flash)  {name: (label, callable)} for the rows of bench/txn.py
    peak_heap()        {"baseline", "sign_on", "sale", "void", "sign_on_after_sale",
                       "settlement", "settlement_unbalanced", "install_cycle",
                       "install_cycle_ethernet", "install_cycle_dialup", "install_cycle_gprs",
                       "install_cycle_sim7600"}: smallest heap (bytes, `-X heapsize`,
                       bisection to 256, the next 1 and 2 KB up checked) in which the device
                       code runs from the ROMFS image in a state folder against the host
                       simulator (the last four over the bearer the parameters select,
                       through the emulated modem and GPRS modules); and "collection_us"
    sale_flash()       the lines of docs/benchmarks.md's "A sale's flash work" section:
                       a sale and its flash parts on MicroPython beside the reference,
                       both writing through LittleFS with the terminal's geometry
    main()             runs both sides and prints the tables (python firmware_tests/bench/
                       txn_reference.py): heap figures on the 32-bit MicroPython (an
                       ESP32's word size) and on the 64-bit one, times on the 64-bit one;
                       with --sale, the sale_flash() section only (seconds, not minutes)

The reference keeps its files where the terminal does, on LittleFS v2 (the C library, through
littlefs-python) over a RAM flash of the same geometry as the MicroPython side's
(firmware_tests/bench/txn.py): 64 blocks of 4096 bytes, 32-byte reads and programs, a
128-byte cache, 32-byte lookahead, block_cycles 100 (MicroPython's VfsLfs2 defaults), so both
pay the same durability: every close and rename is a LittleFS commit to flash, not a page in
the host's cache. Its flash counts the bytes programmed and the blocks erased.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import timeit
import zlib
from pathlib import Path

import littlefs

ROOT = Path(__file__).resolve().parents[2]
# Run as a file, this folder comes first on the path, where bench/iso8583.py (MicroPython)
# would hide pyiso8583.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from Crypto.Cipher import AES, DES  # noqa: E402

from hostlib import cup8583, micropython  # noqa: E402

PAN = "6224242900000113"
TRACK = "6224242900000113=28062013949031013"
KEY = b"0123456789abcdef"
PIK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
MAK = DES.new(bytes.fromhex("C24A8FB57AA20123"), DES.MODE_ECB)
LABELS = {
    "txn_sale": "a whole sale with PIN: the rows below but the counters",
    "txn_build": "the request's fields",
    "txn_pin_block": "PIN block format 0, 3DES",
    "txn_pack_mac": "pack the 0200 + CUP MAC",
    "txn_unpack_verify": "unpack the 0210, check fields + MAC",
    "txn_journal_append": "journal record, card sealed, appended",
    "txn_counters_save": "counters saved, as a sign-on does (its older slot rewritten)",
    "txn_presend": "pre-send record: the pending reversal and its STAN",
    "txn_receipt": "merchant copy's lines",
}


def cup_mac(mab: bytes) -> bytes:
    padded = mab + bytes(-len(mab) % 8)
    r = bytearray(8)
    for i in range(0, len(padded), 8):
        for j in range(8):
            r[j] ^= padded[i + j]
    hexed = r.hex().upper().encode()
    e1 = MAK.encrypt(hexed[:8])
    return MAK.encrypt(bytes(a ^ b for a, b in zip(e1, hexed[8:]))).hex().upper()[:8].encode()


def _seal(data: bytes) -> bytes:
    # app.crypto.seal's scheme: keys derived by HMAC-SHA256, AES-128-CBC, tag HMAC-SHA256[:16].
    enc = hmac.new(KEY, b"poskit seal enc", hashlib.sha256).digest()[:16]
    mac = hmac.new(KEY, b"poskit seal mac", hashlib.sha256).digest()
    iv = os.urandom(16)
    pad = 16 - len(data) % 16
    head = iv + AES.new(enc, AES.MODE_CBC, iv).encrypt(data + bytes([pad]) * pad)
    return head + hmac.new(mac, head, hashlib.sha256).digest()[:16]


BLOCK_SIZE = 4096
BLOCK_COUNT = 64
SALES = 20  # a pass, then the journal is cleared: 0-20 records, as bench/txn.py's


class Flash(littlefs.UserContext):
    """RAM flash for littlefs-python counting what LittleFS programs and erases; `fs` is
    LittleFS v2 formatted on it with MicroPython's VfsLfs2 settings (the module's docstring)."""

    def __init__(self):
        super().__init__(buffsize=BLOCK_SIZE * BLOCK_COUNT)
        self.programmed = self.programs = self.erases = 0
        self.fs = littlefs.LittleFS(
            context=self,
            block_size=BLOCK_SIZE,
            block_count=BLOCK_COUNT,
            read_size=32,
            prog_size=32,
            cache_size=128,
            lookahead_size=32,
            block_cycles=100,
        )
        self.fs.mkdir("data")

    def read(self, cfg, block, off, size):
        start = block * BLOCK_SIZE + off
        return self.buffer[start : start + size]

    def prog(self, cfg, block, off, data):
        start = block * BLOCK_SIZE + off
        self.buffer[start : start + len(data)] = data
        self.programmed += len(data)
        self.programs += 1
        return 0

    def erase(self, cfg, block):
        start = block * BLOCK_SIZE
        self.buffer[start : start + BLOCK_SIZE] = b"\xff" * BLOCK_SIZE
        self.erases += 1
        return 0

    def work(self, fn, n: int, before=None) -> dict:
        """{"bytes", "programs", "erases"}: mean flash work of one of `n` calls of fn()."""
        if before is not None:
            before()
        self.programmed = self.programs = self.erases = 0
        for _ in range(n):
            fn()
        return {
            "bytes": self.programmed / n,
            "programs": self.programs / n,
            "erases": self.erases / n,
        }


def _write(fs, path: str, data: bytes, mode: str = "wb") -> None:
    # Unbuffered: one lfs_file_write, as MicroPython's file.write.
    with fs.open(path, mode, buffering=0) as f:
        f.write(data)


def _save(fs, path: str, payload: bytes) -> None:
    # app.store.records's record: header, payload, CRC32, written to a temp file and renamed
    # (a program's usual atomic replace).
    head = b"PK\x01\x01" + struct.pack(">HI", len(payload), 1)
    body = head + payload
    _write(fs, path + ".tmp", body + struct.pack(">I", zlib.crc32(body)))
    fs.rename(path + ".tmp", path)


def references(rows: dict, flash: Flash) -> dict:
    """{row name: (label, callable)}: the CPython work matching each MicroPython row, its
    files on `flash`'s LittleFS."""
    import psec.des
    import psec.pinblock

    request = cup8583.decode(bytes.fromhex(rows["txn_pack_mac"]["frame"]))
    answer = bytes.fromhex(rows["txn_unpack_verify"]["frame"])
    fs = flash.fs
    journal = "data/journal1.log"
    counters = "data/counters1.a"
    reversal = "data/reversal1.a"

    def build():
        return {
            3: "000000",
            4: "%012d" % 1,
            11: "%06d" % 12,
            22: "021",
            25: "00",
            26: "12",
            35: TRACK,
            41: "12345678",
            42: "123456789012345",
            49: "156",
            52: request.fields[52],
            53: "2600000000000000",
            60: "22%06d" % 1,
        }

    def pin():
        return psec.des.encrypt_tdes_ecb(PIK, psec.pinblock.encode_pinblock_iso_0("123456", PAN))

    def pack(fields=None):
        return cup8583.encode(
            "0200",
            fields or request.fields,
            tpdu=request.tpdu,
            header=request.header,
            mac=cup_mac,
        )

    def check():
        msg = cup8583.decode(answer)
        for n in (3, 4, 11, 41, 42):
            assert msg.fields.get(n) == msg.fields.get(n)
        return cup_mac(msg.mab) == msg.fields[64]

    def append():
        record = struct.pack(">B3s3s6s", 22, b"\x00\x00\x12", b"\x00\x00\x01", bytes(6))
        record += bytes(53) + _seal(("%s=2806" % PAN).encode())
        body = b"PK\x01\x01" + struct.pack(">HI", len(record), 1) + record
        _write(fs, journal, body + struct.pack(">I", zlib.crc32(body)), "ab")

    def save_counters():
        _save(fs, counters, struct.pack(">II", 12, 1))

    def reversal_record():
        # app.txn.reversal's record: reason, MTI, then (number, length, value) of the fields
        # an 0400 keeps; in clear, as the terminal keeps it when no card number is in it
        # (a swiped card's track is not kept).
        fields = build()
        kept = bytearray(b"060200")
        for number in (2, 3, 4, 11, 14, 22, 23, 25, 38, 41, 42, 49, 60, 61, 63):
            if number in fields:
                value = fields[number].encode()
                kept += bytes((number, len(value))) + value
        _save(fs, reversal, bytes(kept))
        fs.remove(reversal)

    def presend():
        # What a program usually keeps before the request leaves: the STAN saved, the
        # reversal's record saved, then removed once the answer came.
        save_counters()
        reversal_record()

    def slip():
        lines = ["POS SALES SLIP", "MERCHANT COPY", "-" * 32, "MERCHANT NAME:", "POSKIT"]
        lines += ["MERCHANT NO: 123456789012345", "TERMINAL NO: 12345678 OPER: 01"]
        lines += ["CARD NO: %s******%s S" % (PAN[:6], PAN[-4:]), "TXN TYPE: SALE"]
        lines += ["BATCH NO: %06d VOUCHER: %06d" % (1, 12), "AMOUNT: RMB %d.%02d" % (0, 1)]
        return [line.encode("gb18030")[:32] for line in lines]

    def sale():
        fields = build()
        fields[52] = pin()
        presend()
        pack(fields)
        check()
        append()
        slip()

    return {
        "txn_sale": ("the rows below in sequence, the counters in the pre-send row's", sale),
        "txn_build": ("a Python dict", build),
        "txn_pin_block": ("psec ISO-0 + encrypt_tdes_ecb", pin),
        "txn_pack_mac": ("pyiso8583 encode + MAC (pycryptodome DES)", pack),
        "txn_unpack_verify": ("pyiso8583 decode + MAC", check),
        "txn_journal_append": ("pycryptodome AES + hmac, LittleFS append", append),
        "txn_counters_save": ("LittleFS temp file + rename", save_counters),
        "txn_presend": ("STAN, then sealed reversal: temp file + rename each, remove", presend),
        "txn_receipt": ("str formatting + gb18030", slip),
    }


def time_cpython(fn) -> float:
    timer = timeit.Timer(fn)
    n, _ = timer.autorange()
    return min(timer.repeat(3, n)) / n * 1e6


# The rows that write flash: timed as bench/txn.py times them, best of 3 passes of SALES
# calls (7 for the whole sale), the journal cleared before each pass (LittleFS's work depends
# on what is on flash).
_FLASH_ROWS = ("txn_sale", "txn_journal_append", "txn_counters_save", "txn_presend")


def _clear_journal(fs) -> None:
    # As the terminal's Journal.clear: an empty file renamed over the journal.
    _write(fs, "data/journal1.log.tmp", b"")
    fs.rename("data/journal1.log.tmp", "data/journal1.log")


def time_reference(name: str, fn, flash: Flash) -> float:
    """Microseconds of one call of the reference `fn` of row `name`."""
    if name not in _FLASH_ROWS:
        return time_cpython(fn)
    best = None
    for _ in range(7 if name == "txn_sale" else 3):
        _clear_journal(flash.fs)
        us = timeit.timeit(fn, number=SALES) / SALES * 1e6
        best = us if best is None or us < best else best
    return best


# The flash parts of a sale: (row, what it is, what the reference does, bench/txn.py's key).
_SALE_PARTS = (
    (
        "txn_presend",
        "the pre-send record (the pending reversal and its STAN)",
        "STAN record, reversal record: temp file + rename each, the reversal's removed",
        "presend",
    ),
    ("txn_journal_append", "the journal record appended", "append", "journal"),
)


_ROUNDS = 5  # the whole sale timed on each side in turn, this many times


def sale_flash(rows: dict | None = None) -> list[str]:
    """The "A sale's flash work" section of docs/benchmarks.md: bench/txn.py's sale and its
    flash parts on the 64-bit MicroPython beside the reference on C LittleFS (`rows`:
    device_rows(), run here if not given)."""
    rows = rows or device_rows()
    flash = Flash()
    refs = references(rows, flash)
    device = rows["txn_flash"]
    reference = {"sale": flash.work(refs["txn_sale"][1], SALES, lambda: _clear_journal(flash.fs))}
    for name, _, _, key in _SALE_PARTS:
        before = (lambda: _clear_journal(flash.fs)) if key == "journal" else None
        reference[key] = flash.work(refs[name][1], SALES, before)
    record = device["record"]
    sale_us = rows["txn_sale"]["us"]
    ref_us = time_reference("txn_sale", refs["txn_sale"][1], flash)
    for _ in range(_ROUNDS - 1):
        # The two sides again, in turn: a machine busy with other work for a second weighs
        # on the side measured then, and the best of each round is kept.
        sale_us = min(sale_us, device_rows()["txn_sale"]["us"])
        ref_us = min(ref_us, time_reference("txn_sale", refs["txn_sale"][1], flash))
    lines = [
        "## A sale's flash work (like for like)",
        "",
        "Written by `make bench`, or alone by `make bench-sale` (firmware_tests/bench/"
        "txn_reference.py --sale). A sale with PIN through Engine.run on the 64-bit MicroPython "
        "(firmware_tests/bench/txn.py, the host's answer replayed), beside the CPython "
        "reference doing the same work (pyiso8583, psec, pycryptodome) and writing the same "
        "files through C LittleFS (littlefs-python): both on a RAM flash of the terminal's "
        "geometry, 64 blocks of 4096 bytes, 32-byte reads and programs, 128-byte cache, "
        "block_cycles 100. The terminal's journal and pending reversal are in the journal "
        "region beside LittleFS (app.store.logregion, 32 blocks of 4096 bytes, counted with "
        "it); the reference keeps them as LittleFS files and saves a record the way a "
        "program usually does, a temporary file renamed over it. Times: best of 7 passes of "
        "%d sales (3 for the "
        "parts), the journal emptied before each pass (0-%d records, as in a day), the "
        "sale's in %d rounds taking the two sides in turn, the best kept; flash: "
        "the mean over one such pass, bytes programmed (and erases of 4096-byte blocks)."
        % (SALES, SALES, _ROUNDS),
        "",
        "| | MicroPython | reference | MicroPython / reference |",
        "|---|---:|---:|---:|",
        "| a sale with PIN, µs (PC) | %.0f | %.0f | %.2f |" % (sale_us, ref_us, sale_us / ref_us),
        "| flash bytes programmed per sale | %.0f | %.0f | %.2f |"
        % (
            device["sale"]["bytes"],
            reference["sale"]["bytes"],
            device["sale"]["bytes"] / reference["sale"]["bytes"],
        ),
        "| block erases per sale | %.2f | %.2f | |"
        % (device["sale"]["erases"], reference["sale"]["erases"]),
        "| journal record on flash, bytes (framing included) | %d | | |" % record,
        "| flash bytes programmed per sale / journal record | %.1f | %.1f | |"
        % (device["sale"]["bytes"] / record, reference["sale"]["bytes"] / record),
        "",
        "Goals: a sale at most 1.0x the reference's time; at most 2x the journal record in "
        "flash bytes programmed. Now %.2fx and %.1fx (the time's ratio moves by about a "
        "tenth from one run to the next on a PC with a little other work, 0.62-0.70 at a load "
        "average of 2; at 7 to 11 on two cores single runs read 0.58 to 1.59). A LittleFS "
        "append "
        "copies the file's "
        "partly filled last block to a fresh one each time (the reference's 1,552 bytes "
        'below); the journal region programs the record alone (docs/storage.md, "The '
        'journal region"). Besides it a sale programs one record, its pre-send record in '
        "the region: the pending reversal and its STAN (in clear: a swiped card's request "
        "keeps no card number once its track is dropped), which the approval's journal "
        'record ends (docs/storage.md, "The pre-send record"); the log it is in is emptied, '
        "and the STAN saved into the counters (LittleFS), every 24 sales. The reference "
        "saves the STAN and the reversal as files before the request, and removes the "
        "reversal's after the answer, as a program usually does. Half of a sale's "
        "instructions on MicroPython went to its string table: each str it makes is first "
        "looked up there, through the application's 1,500 names loaded from .mpy or source "
        "(about 12,000 instructions a look-up); the codec, the slip, the journal's records and "
        "the parameter look-ups now make few strs (and the HMAC pads of the journal record's "
        "seal are XORed by viper): a sale took 6,730,000 instructions, now 3,580,000 "
        "(callgrind, 64-bit unix port)." % (sale_us / ref_us, device["sale"]["bytes"] / record),
        "",
        "The sale's flash parts, each alone (%d in a row):" % SALES,
        "",
        "| part | MicroPython µs | flash bytes | erases | reference | reference µs "
        "| flash bytes | erases |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, label, ref_label, key in _SALE_PARTS:
        mine, theirs = device[key], reference[key]
        lines.append(
            "| %s | %.0f | %.0f | %.2f | %s | %.0f | %.0f | %.2f |"
            % (
                label,
                rows[name]["us"],
                mine["bytes"],
                mine["erases"],
                ref_label,
                time_reference(name, refs[name][1], flash),
                theirs["bytes"],
                theirs["erases"],
            )
        )
    return lines


def device_rows(interpreter: str | None = None) -> dict:
    out = micropython.run(
        ROOT / "firmware_tests" / "bench" / "txn.py",
        heap=None,
        timeout=600,
        interpreter=interpreter,
    )
    return {row["name"]: row for row in map(json.loads, out.check().stdout.splitlines())}


_SALE = "s = e.run(Request('sale', amount=1, card=Card(track2=T), pin=bytearray(b'123456')))\n"
_SNIPPETS = {
    "baseline": "pass",
    "sign_on": "r = e.run(Request('sign_on'))",
    "sale": _SALE.replace("s = ", "r = "),
    "void": _SALE
    + "s = s.stan\nr = e.run(Request('sale_void', original_stan=s, supervisor_password=S))",
    "sign_on_after_sale": _SALE + "s = None\nr = e.run(Request('sign_on'))",
    "settlement": _SALE + "s = None\nr = e.run(Request('settlement'))",
    "settlement_unbalanced": _SALE
    + "s = None\nr = e.run(Request('settlement'))\nassert r.settlement['uploaded'] == 1",
    # The installation test of one application, in one run: sign-on, 0.01 sale, its void,
    # settlement.
    "install_cycle": "r = e.run(Request('sign_on'))\n"
    + _SALE
    + "s = s.stan\nr = e.run(Request('sale_void', original_stan=s, supervisor_password=S))"
    + "\nr = None\nr = e.run(Request('settlement'))",
}
_ENGINE = (
    "from app.comm.frames import TcpBearer\n"
    "from app.txn.engine import Card, Engine, Request\n"
    "T = %r\n"
    "S = b'123456'\n"
    "e = Engine(1, store, storage_key, TcpBearer('127.0.0.1', %d))\n"
)
# The install cycle over the bearer the parameters select (docs/examples/hostsim-*-job.toml;
# Ethernet: hostsim-job.toml with the simulator's port), through the emulator `poskit txn`
# starts for it: name -> (bearer, GPRS module fitted).
_BEARERS = {
    "install_cycle_ethernet": ("ethernet", "sim800"),
    "install_cycle_dialup": ("dialup", "sim800"),
    "install_cycle_gprs": ("gprs", "sim800"),
    "install_cycle_sim7600": ("gprs", "sim7600"),
}
_BEARER_ENGINE = (
    "from app.comm.bearers import configured\n"
    "from app.store.params import ParamStore\n"
    "from app.txn.engine import Card, Engine, Request\n"
    "T = %r\n"
    "S = b'123456'\n"
    "e = Engine(1, store, storage_key, configured(ParamStore(store).load(0), board))\n"
)


def peak_heap() -> dict:
    """Smallest app heap (bytes) for each snippet; the ROMFS image is not counted. Runs on
    the default interpreter (micropython.default() chooses it).

    Every trial starts from the same state: a copy of a terminal set up by `poskit txn
    init` and signed on, against a copy of the host simulator's database of that moment (a
    trial that dies part-way would otherwise change what the next one does)."""
    import shutil

    from hostlib.hostsim import HostSimulator
    from hostlib.state import TerminalState
    from tools.txn import bearer_emulator

    with socket.socket() as probe:  # a free port for the Ethernet job's host
        probe.bind(("127.0.0.1", 0))
        lan_port = probe.getsockname()[1]

    def run(state: Path, db: Path, line, code: str, heap, seed: bool, fault=None):
        # `line`: None for TcpBearer to the simulator, else (bearer, GPRS module).
        port = lan_port if line is not None and line[0] == "ethernet" else 0
        with HostSimulator(db_path=str(db), seed=seed, port=port) as host:
            if fault:
                host.set_fault(fault)
            if line is None:
                emulator, env = None, {}
                code = _ENGINE % (TRACK, host.address[1]) + code
            else:
                emulator, env = bearer_emulator(line[0], host.address, line[1])
                code = _BEARER_ENGINE % (TRACK,) + code
            try:
                return TerminalState(state).run(code + "\nassert r.approved", heap=heap, env=env)
            finally:
                if emulator is not None:
                    emulator.stop()

    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        # One terminal per bearer, set up by `poskit txn init` and signed on, with a copy of
        # the host simulator's database of that moment.
        examples = ROOT / "docs" / "examples"
        lan_job = Path(tmp) / "lan.toml"
        text = (examples / "hostsim-job.toml").read_text()
        lan_job.write_text(text.replace("port = 5000\n", "port = %d\n" % lan_port))
        jobs = {
            None: examples / "hostsim-job.toml",
            "ethernet": lan_job,
            "dialup": examples / "hostsim-dialup-job.toml",
            "gprs": examples / "hostsim-gprs-job.toml",
        }
        templates = {}
        for bearer, job in jobs.items():
            state = Path(tmp) / ("%s" % bearer)
            db = Path(tmp) / ("%s.db" % bearer)
            # The TMK on standard input: a key is never on a command line (docs/keys.md).
            subprocess.run(
                [sys.executable, "-m", "tools.txn", "--state", str(state), "init"]
                + ["--params", str(job), "--tmk-fd", "0"],
                input=b"70F2A84CCBC2AE8625CBB0F2C22AB923\n",
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            line = None if bearer is None else (bearer, "sim800")
            run(state, db, line, _SNIPPETS["sign_on"], 512 * 1024, True).check()
            templates[bearer] = state, db

        def trial(name: str, heap: int) -> bool:
            line = _BEARERS.get(name)
            template, template_db = templates[line and line[0]]
            state, db = Path(tmp) / "trial", Path(tmp) / "trial.db"
            shutil.rmtree(state, ignore_errors=True)
            shutil.copytree(template, state)
            shutil.copyfile(template_db, db)
            if name == "baseline":
                return TerminalState(state).run("pass", heap=heap).ok
            code = _SNIPPETS["install_cycle" if line else name]
            fault = "unbalanced" if name == "settlement_unbalanced" else None
            return run(state, db, line, code, heap, False, fault).ok

        for name in list(_SNIPPETS) + list(_BEARERS):
            low, high = 4096, 160 * 1024
            if not trial(name, high):
                raise RuntimeError("%s does not run in %d bytes" % (name, high))
            while True:
                while high - low > 256:
                    mid = (low + high) // 2
                    if trial(name, mid):
                        high = mid
                    else:
                        low = mid
                # Bisection assumes that every larger heap passes too; where the free heap is
                # cut into pieces that need not hold. The figure stands once the next 1 and
                # 2 KB up pass as well, else the search goes on above the one that failed.
                above = [size for size in (high + 1024, high + 2048) if not trial(name, size)]
                if not above:
                    break
                low, high = above[-1], 160 * 1024
            figures[name] = high
        figures["collection_us"] = collection_us(templates[None][0], Path(tmp))
    return figures


# A collection's time with the install cycle's objects live, in the terminal's heap (the
# application's heap policy collects after every 4 KB allocated: app/__init__.py).
_COLLECT = """
import gc, time
r = e.run(Request('sign_on'))
s = e.run(Request('sale', amount=1, card=Card(track2=T), pin=bytearray(b'123456')))
best = None
for _ in range(20):
    start = time.ticks_us()
    gc.collect()
    us = time.ticks_diff(time.ticks_us(), start)
    best = us if best is None or us < best else best
print("@COLLECT", best)
"""


def collection_us(template: Path, tmp: Path) -> int:
    """Microseconds of one gc.collect() after a sign-on and a sale over TCP, in a 110 KB
    heap; the ROMFS image's buffer is in this heap and scanned too (on the terminal it is
    flash)."""
    import shutil

    from hostlib.hostsim import HostSimulator
    from hostlib.state import TerminalState

    state = tmp / "collect"
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(template, state)
    with HostSimulator(db_path=str(tmp / "collect.db"), seed=True) as host:
        code = _ENGINE % (TRACK, host.address[1]) + _COLLECT + "r = s\n"
        out = TerminalState(state).run(code + "assert r.approved").check().stdout
    return int(out.split("@COLLECT")[1].split()[0])


# The peak heap table's rows.
PEAK_LABELS = {
    "baseline": "baseline (flash mounted, record store open)",
    "sign_on": "sign-on",
    "sale": "sale",
    "void": "sale + void",
    "sign_on_after_sale": "sale + sign-on",
    "settlement": "sale + settlement",
    "settlement_unbalanced": "sale + unbalanced settlement with upload",
    "install_cycle": "install cycle (sign-on, sale, void, settlement), plain TCP",
    "install_cycle_ethernet": "install cycle over Ethernet (link check, `configured`)",
    "install_cycle_dialup": "install cycle over dial-up (emulated Hayes modem)",
    "install_cycle_gprs": "install cycle over GPRS, SIM800 (emulated)",
    "install_cycle_sim7600": "install cycle over GPRS, SIM7600 (emulated)",
}


def _cell(value) -> str:
    return "-" if value is None else "%d" % value


def main() -> int:
    if sys.argv[1:] == ["--sale"]:
        print("\n".join(sale_flash()))
        return 0
    b32 = micropython.binary32()
    rows = device_rows()
    rows32 = device_rows(b32) if b32 else None
    flash = Flash()
    refs = references(rows, flash)
    print(
        "| operation | MicroPython µs | heap allocated B, 32-bit | 64-bit | reference "
        "| reference µs |"
    )
    print("|---|---:|---:|---:|---|---:|")
    for name, (label, fn) in refs.items():
        heaps = []
        for found in (rows32, rows):
            if found is None:
                heaps.append(None)
            else:
                key = "txn_sale_heap" if name == "txn_sale" else name
                heaps.append(found[key]["heap"])
        print(
            "| %s | %.1f | %s | %s | %s | %.1f |"
            % (
                LABELS[name],
                rows[name]["us"],
                _cell(heaps[0]),
                _cell(heaps[1]),
                label,
                time_reference(name, fn, flash),
            )
        )
    figures = peak_heap()
    collection = figures.pop("collection_us")
    figures32 = {}
    if b32:
        with micropython.default(b32):
            figures32 = peak_heap()
        figures32.pop("collection_us")
    print()
    print(
        "Peak heap: the smallest `-X heapsize` (bisection to 256 bytes, then the next 1 and "
        "2 KB up checked) in which the run succeeds; the ROMFS image is not counted. An "
        "ESP32-WROOM leaves about 110 KB; the 32-bit figure is the one to hold against it."
    )
    print()
    print("| peak heap (app heap, ROMFS image not counted) | bytes, 32-bit | 64-bit |")
    print("|---|---:|---:|")
    for name, value in figures.items():
        print(
            "| %s | %s | %d |" % (PEAK_LABELS.get(name, name), _cell(figures32.get(name)), value)
        )
    print()
    print(
        "Heap policy (app/__init__.py): a collection after every 4 KB allocated. One "
        "collection with the install cycle's objects live, in a 110 KB heap (the image's "
        "buffer scanned too): %d µs on this PC (64-bit); a sale allocates the bytes in the "
        "first table, so about one collection per 4 KB of them." % collection
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
