# Transaction engine timings on MicroPython, for `make bench`. Prints one JSON object per line:
#   {"name", "us" (per operation, best of 3 passes), "heap" (bytes one operation allocates),
#    "frame" (hex, where the row packs or reads one: the CPython reference redoes that work)}
#   txn_sale               app.txn.engine.Engine.run of a sale with PIN (swiped card) against a
#                          replayed host answer: everything the terminal does for a sale
#                          but waiting for the line (flash writes to a RAM LittleFS with the
#                          ESP32's 4096-byte blocks included)
#   txn_build              the request's fields (app.txn.messages.financial_fields)
#   txn_pin_block          ISO 9564 format 0 PIN block under the 3DES PIK
#   txn_pack_mac           pack the 0200 with the CUP MAC (DES MAK)
#   txn_unpack_verify      unpack the 0210 and validate it (fields and MAC)
#   txn_journal_append     one journal record, its card number sealed (AES + HMAC-SHA256)
#   txn_counters_save      the counters (STAN, batch) saved, as before a sign-on or a
#                          settlement (two-slot record)
#   txn_presend            the pre-send record written: the pending reversal and its STAN
#                          (app.txn.reversal; the approval's journal record ends it)
#   txn_receipt            the merchant copy's lines
#   txn_flash              flash work per operation on the RAM LittleFS (4096-byte blocks,
#                          MicroPython's VfsLfs2 defaults: 32-byte reads and programs)
#                          and the journal region (app.store.logregion), added up:
#                          {"name", "sale"/"counters"/"presend"/"journal": {"bytes"
#                          programmed, "programs", "erases"} per operation (mean),
#                          "record": bytes of one journal record on flash, framing included}
# The answers are recorded once from fakehost.FakeHost (firmware_tests/mpy), then replayed:
# the host's own work is not timed. Run by tools/bench.py (MicroPython only, no heap cap).
import gc
import json
import struct
import sys
import time
import vfs

_HERE = __file__.rpartition("/")[0]
sys.path.append((_HERE + "/" if _HERE else "") + "../mpy")

from blockdev import RAMBlockDevice  # noqa: E402
from fakehost import FakeHost  # noqa: E402

from app.crypto import pinblock  # noqa: E402
from app.crypto.mac import cup_mac  # noqa: E402
from app.keys.slots import KeyStore  # noqa: E402
from app.store.logregion import Region  # noqa: E402
from app.store.params import Params, ParamStore, hash_password, put_tlv  # noqa: E402
from app.store.records import RecordStore  # noqa: E402
from app.txn import messages as txnmsg  # noqa: E402
from app.txn import receipt  # noqa: E402
from app.txn.engine import Card, Engine, Request  # noqa: E402
from app.txn.iso8583 import Packer, unpack  # noqa: E402
from app.txn.reversal import PendingReversal  # noqa: E402

# The code's own time: importing app turned on the terminal's heap policy (a collection
# every 4 KB, app/__init__.py), whose collections in this bench's 2 MB heap would be
# timed too. Their cost is a row of its own (txn_reference.py, the terminal's heap).
gc.threshold(-1)

MOUNT = "/benchtxn"
ROOT = MOUNT + "/data"
KEY = b"0123456789abcdef"
TMK = bytes.fromhex("70F2A84CCBC2AE8625CBB0F2C22AB923")
TRACK = "6224242900000113=28062013949031013"
PAN = "6224242900000113"
SALES = 20  # per pass: a journal of 0-20 records, as in a day
TERMINAL = (
    (0x01, b"zh"),
    (0x02, b"\x02"),
    (0x03, b"\x00"),
    (0x04, hash_password("0000", bytes(16))),
    (0x05, hash_password("123456", bytes(16))),
    (0x06, b"3DES"),
    (0x07, b"\x0a"),
    (0x08, b"\x0a"),
    (0x09, b"\x1e"),
    (0x0A, b"\x03"),
    (0x0B, b"primary"),
    (0x0C, b"ethernet"),
    (0x30, b"\x01"),
    (0x35, b"127.0.0.1"),
    (0x36, struct.pack(">H", 5000)),
    (0x39, b"6000030000"),
)
APP = (
    (0x40, b"CUP"),
    (0x41, b"123456789012345"),
    (0x42, b"12345678"),
    (0x43, b"POSKIT"),
    (0x44, b"3DES"),
    (0x45, b"\x01"),
    (0x46, b"004"),
    (0x47, b"6031"),
    (0x48, b"310000"),
)


def tlv(items):
    buf = bytearray()
    for tag, value in items:
        put_tlv(buf, tag, value)
    return bytes(buf)


class Replay:
    """A bearer that records a FakeHost's answers, then plays them back in order."""

    def __init__(self, host):
        self.host = host
        self.answers = []
        self.playing = False
        self.at = 0

    def connect(self):
        if not self.playing:
            self.host.connect()

    def close(self):
        if not self.playing:
            self.host.close()

    def exchange(self, frame, timeout_ms):
        if self.playing:
            answer = self.answers[self.at]
            self.at += 1
            return answer
        answer = bytes(self.host.exchange(frame, timeout_ms))
        self.answers.append(answer)
        return answer

    def receive(self, timeout_ms):
        raise OSError("not used")


DEV = RAMBlockDevice(4096, 64)  # the ESP32's erase block; a 256 KB data partition
LOG = RAMBlockDevice(4096, 32)  # the journal region (app.store.logregion), 128 KB


def setup():
    dev = DEV
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), MOUNT)
    store = RecordStore(ROOT)
    store.journal_region = Region(LOG)
    params = ParamStore(store)
    params.save(0, Params.from_tlv(tlv(TERMINAL), 0), 1)
    params.save(1, Params.from_tlv(tlv(APP), 1), 1)
    KeyStore(store, KEY).set_tmk(1, 1, TMK, "3DES")
    return store


def timed(fn, n, before=None, passes=3):
    """Best of `passes` passes of `n` calls of fn(i): microseconds per call."""
    best = None
    for _ in range(passes):
        if before is not None:
            before()
        gc.collect()
        start = time.ticks_us()
        for i in range(n):
            fn(i)
        us = time.ticks_diff(time.ticks_us(), start) / n
        best = us if best is None or us < best else best
    return best


def allocated(fn):
    """Bytes one call of fn() allocates (the collector held off meanwhile)."""
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn()
    used = gc.mem_alloc() - before
    gc.enable()
    return used


def flash(fn, n, before=None):
    """{"bytes", "programs", "erases"}: mean flash work of one of `n` calls of fn(i)."""
    if before is not None:
        before()
    DEV.reset_counters()
    LOG.reset_counters()
    for i in range(n):
        fn(i)
    return {
        "bytes": (DEV.bytes_written + LOG.bytes_written) / n,
        "programs": (DEV.programs + LOG.programs) / n,
        "erases": (DEV.erases + LOG.erases) / n,
    }


def row(name, us, heap, frame=None):
    out = {"name": name, "us": us, "heap": heap}
    if frame is not None:
        out["frame"] = bytes(frame).hex()
    print(json.dumps(out))


def main():
    store = setup()
    replay = Replay(FakeHost())
    engine = Engine(1, store, KEY, replay)
    assert engine.run(Request("sign_on")).approved
    stan, batch = engine.stan, engine.batch
    card = Card(track2=TRACK)

    def sale(i):
        result = engine.run(Request("sale", amount=1, card=card, pin=bytearray(b"123456")))
        assert result.approved, (result.error, result.detail)

    first = len(replay.answers)
    for i in range(SALES + 1):  # record the host's answers
        sale(i)
    answers = replay.answers[first:]

    def rewind():
        engine._save_counters(stan, batch)
        engine.journal.clear()
        replay.answers = answers
        replay.at = 0

    replay.playing = True
    # Best of 7: the figure set beside the reference's (txn_reference.py, also best of 7).
    row("txn_sale", timed(sale, SALES, rewind, 7), 0)
    work = {"name": "txn_flash", "sale": flash(sale, SALES, rewind)}
    work["record"] = 14 + len(engine.journal.last()._payload)  # the framing, the payload
    rewind()
    sale(0)
    row("txn_sale_heap", 0, allocated(lambda: sale(1)))

    # The pieces of one sale.
    k = txnmsg.kind("sale")
    pik = engine.keys.cipher(1, "PIK")
    mak = engine.keys.cipher(1, "MAK")
    block = pinblock.encrypt(pik, bytearray(b"123456"), PAN)

    def build(i):
        return txnmsg.financial_fields(
            k,
            12,
            1,
            "12345678",
            "123456789012345",
            amount=1,
            card=card,
            pin_block=block,
            security="2600000000000000",
        )

    row("txn_build", timed(build, 200), allocated(lambda: build(0)))

    def pin(i):
        return pinblock.encrypt(pik, bytearray(b"123456"), PAN)

    row("txn_pin_block", timed(pin, 200), allocated(lambda: pin(0)))
    fields = build(0)
    packer = Packer()
    tpdu = bytes.fromhex("6000030000")

    def pack(i):
        return packer.pack("0200", fields, tpdu, "603100310000", lambda mab: cup_mac(mak, mab))

    frame = bytes(pack(0))
    row("txn_pack_mac", timed(pack, 200), allocated(lambda: pack(0)), frame)
    answer = answers[0]
    request = unpack(answers[0]).fields  # the answer echoes what the check compares
    request = {n: request.get(n) for n in (3, 4, 11, 41, 42)}

    def check(i):
        msg = unpack(answer)
        txnmsg.check_response("0200", request, msg, lambda mab: cup_mac(mak, mab))

    row("txn_unpack_verify", timed(check, 200), allocated(lambda: check(0)), answer)
    journal = engine.journal

    def append(i):
        journal.append(
            22,
            i + 1,
            1,
            1,
            "20250520",
            "103015",
            rrn="052010301501",
            auth_code="123456",
            entry_mode="021",
            pan=PAN,
            expiry="2806",
            operator="01",
        )

    row("txn_journal_append", timed(append, SALES, journal.clear), allocated(lambda: append(0)))
    work["journal"] = flash(append, SALES, journal.clear)

    def counters(i):
        engine._save_counters(i + 1, 1)

    row("txn_counters_save", timed(counters, SALES), allocated(lambda: counters(0)))
    work["counters"] = flash(counters, SALES)
    reversal = PendingReversal(store, 1, KEY, journal=journal)

    def presend(i):
        reversal.save("0200", fields)

    row("txn_presend", timed(presend, SALES, reversal.empty), allocated(lambda: presend(0)))
    work["presend"] = flash(presend, SALES, reversal.empty)
    print(json.dumps(work))
    journal.clear()
    append(0)
    entry = journal.last()

    def slip(i):
        return receipt.lines(entry, engine.params)

    row("txn_receipt", timed(slip, 200), allocated(lambda: slip(0)))
    vfs.umount(MOUNT)


main()
