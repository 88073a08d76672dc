"""Offline data authentication timed: app.emv.oda on MicroPython (64-bit and 32-bit unix ports)
beside the same module on CPython and beside OpenSSL (through `cryptography`) doing the same
RSA public operations and SHA-1s; then the heap a whole DDA needs and the size of app/emv as
.mpy for the ESP32. Prints the Markdown of docs/emv.md's "Figures" section.

    .venv/bin/python firmware_tests/bench/emv.py

Cards are made by hostlib.card.certs: a 1408-bit CA key (82) certifying a 1408-bit issuer key
certifying a 1152-bit ICC key, and a 1984-bit CA key (83) certifying a 1984-bit issuer key
certifying a 1408-bit ICC key; exponent 3 throughout, as UnionPay's CA keys have. Timed per
card: the issuer key recovered (Book 2 5.3), the ICC key recovered (6.4, its hash over 200
bytes of static data), the signed dynamic data checked (6.5), and the three together.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "device"))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from app.emv import oda  # noqa: E402
from hostlib import build, micropython  # noqa: E402
from hostlib.card import certs  # noqa: E402
from tools.bench import _cpu  # noqa: E402 (the CPU named as in docs/benchmarks.md)

BENCH = Path(__file__).resolve().parent
PAN = "6212345678901234"
TODAY = bytes.fromhex("261207")
UN = bytes.fromhex("1A2B3C4D")
STATIC = bytes(range(200))  # the size of a PBOC card's records marked for ODA, about
CARDS = (("1408", 0x82, 1408, 1152), ("1984", 0x83, 1984, 1408))
STEPS = ("issuer", "icc", "dda", "all")

# Run by MicroPython with the card's vectors module (`card`) on its path.
DEVICE = """
import gc, json
from timing import timed
from app.emv import oda
import card
gc.threshold(-1)
ca = [oda.CaKey(card.RID, card.CA_INDEX, card.CA_MODULUS, card.CA_EXPONENT)]
static = [card.STATIC]
tags = card.TAGS
issuer = oda.issuer_key(tags, ca, card.RID, card.TODAY, oda.DDA)
icc = oda.icc_key(tags, issuer, static, card.TODAY)
def everything():
    i = oda.issuer_key(tags, ca, card.RID, card.TODAY, oda.DDA)
    k = oda.icc_key(tags, i, static, card.TODAY)
    oda.verify_dda(k, card.SDAD, card.UN)
ops = (
    ("issuer", lambda: oda.issuer_key(tags, ca, card.RID, card.TODAY, oda.DDA)),
    ("icc", lambda: oda.icc_key(tags, issuer, static, card.TODAY)),
    ("dda", lambda: oda.verify_dda(icc, card.SDAD, card.UN)),
    ("all", everything),
)
for name, fn in ops:
    # The best of seven timings: the machine may be busy with other work meanwhile.
    runs = [timed(fn, 100000) for _ in range(7)]
    print(json.dumps({"name": name, "us": min(r[0] for r in runs), "heap": runs[0][1]}))
"""


def make_card(ca_index, issuer_bits, icc_bits):
    ca = certs.ca_key(ca_index)
    issuer = certs.rsa_key("bench issuer", issuer_bits)
    icc = certs.rsa_key("bench card", icc_bits)
    tags = {0x8F: bytes([ca_index]), 0x5A: bytes.fromhex(PAN)}
    tags |= certs.issuer_certificate(ca, issuer, issuer_id="621234", expiry="1230").tags
    tags |= certs.icc_certificate(issuer, icc, pan=PAN, expiry="1230", static_data=STATIC).tags
    sdad = certs.signed_dynamic_data(icc, b"\x01\x02\x03\x04", terminal_dynamic_data=UN)
    return ca, issuer, icc, tags, sdad


def card_module(ca, tags, sdad) -> str:
    lines = [
        "RID = %r" % ca.rid,
        "CA_INDEX = %d" % ca.index,
        "CA_MODULUS = %r" % ca.key.modulus_bytes,
        "CA_EXPONENT = %r" % ca.key.exponent_bytes,
        "STATIC = %r" % STATIC,
        "TODAY = %r" % TODAY,
        "UN = %r" % UN,
        "SDAD = %r" % sdad,
        "TAGS = {%s}" % ", ".join("%d: %r" % (t, v) for t, v in tags.items()),
    ]
    return "\n".join(lines) + "\n"


def device_figures(interpreter, folder) -> dict:
    run = micropython.run(
        code=DEVICE, path=[folder, BENCH], heap=None, timeout=600, interpreter=interpreter
    )
    run.check()
    import json

    return {row["name"]: row for row in map(json.loads, run.stdout.splitlines())}


def best_us(fn, number=20) -> float:
    return min(timeit.repeat(fn, number=number, repeat=9)) / number * 1e6


def cpython_figures(ca, tags, sdad) -> dict:
    """The same app.emv.oda, run by CPython."""
    keys = [oda.CaKey(ca.rid, ca.index, ca.key.modulus_bytes, ca.key.exponent_bytes)]
    static = [STATIC]
    issuer = oda.issuer_key(tags, keys, ca.rid, TODAY, oda.DDA)
    icc = oda.icc_key(tags, issuer, static, TODAY)

    def everything():
        i = oda.issuer_key(tags, keys, ca.rid, TODAY, oda.DDA)
        oda.verify_dda(oda.icc_key(tags, i, static, TODAY), sdad, UN)

    return {
        "issuer": best_us(lambda: oda.issuer_key(tags, keys, ca.rid, TODAY, oda.DDA)),
        "icc": best_us(lambda: oda.icc_key(tags, issuer, static, TODAY)),
        "dda": best_us(lambda: oda.verify_dda(icc, sdad, UN)),
        "all": best_us(everything),
    }


def openssl_figures(ca, issuer, icc) -> dict:
    """OpenSSL's time for the same work: `cryptography` has no raw RSA (EMV's signatures are
    ISO/IEC 9796-2 with message recovery, no padding mode it offers), so each step is a
    PKCS#1 v1.5 verification with a key of the same size and exponent -- the same public
    operation, plus a padding check -- and SHA-1 over the same bytes."""

    def step(signer, signed_over):
        key = signer.private_key()
        signature = key.sign(b"x", padding.PKCS1v15(), hashes.SHA1())
        public = key.public_key()

        def verify():
            public.verify(signature, b"x", padding.PKCS1v15(), hashes.SHA1())
            digest = hashes.Hash(hashes.SHA1())
            digest.update(signed_over)
            digest.finalize()

        return verify

    issuer_step = step(ca.key, bytes(ca.key.size + 1))
    icc_step = step(issuer, bytes(issuer.size + 1) + STATIC)
    dda_step = step(icc, bytes(icc.size + len(UN)))

    def everything():
        issuer_step()
        icc_step()
        dda_step()

    return {
        "issuer": best_us(issuer_step, 200),
        "icc": best_us(icc_step, 200),
        "dda": best_us(dda_step, 200),
        "all": best_us(everything, 200),
    }


MIN_HEAP = """
from app.emv import oda
import card
ca = [oda.CaKey(card.RID, card.CA_INDEX, card.CA_MODULUS, card.CA_EXPONENT)]
i = oda.issuer_key(card.TAGS, ca, card.RID, card.TODAY, oda.DDA)
k = oda.icc_key(card.TAGS, i, [card.STATIC], card.TODAY)
oda.verify_dda(k, card.SDAD, card.UN)
"""


def mpy_sizes() -> dict:
    """Bytes of each app/emv module compiled for the ESP32 (mpy-cross -march=xtensawin)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for source in sorted((ROOT / "device" / "app" / "emv").glob("*.py")):
            rel = source.relative_to(ROOT / "device")
            target = Path(tmp) / rel.with_suffix(".mpy")
            build.compile_file(ROOT / "device", rel, target, "xtensawin")
            out[rel.with_suffix(".mpy").as_posix()] = target.stat().st_size
    return out


def main():
    interpreters = [(micropython.NAME_64, micropython.binary())]
    if micropython.binary32():
        interpreters.append((micropython.NAME_32, micropython.binary32()))
    lines = [
        "Measured %s on %s, load average %.1f (`.venv/bin/python firmware_tests/bench/emv.py`); "
        "microseconds per step, best of several runs. Neither unix port's time is an ESP32's: "
        "read them as the ratio between steps and key sizes."
        % (time.strftime("%Y-%m-%d"), _cpu(), os.getloadavg()[0]),
        "",
        "| CA key -> issuer -> ICC | step | MicroPython 64-bit | MicroPython 32-bit | "
        "app.emv.oda on CPython | OpenSSL (cryptography) | heap a step allocates (32-bit) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    step_names = {
        "issuer": "issuer key recovered",
        "icc": "ICC key recovered",
        "dda": "DDA signature checked",
        "all": "all three",
    }
    heaps = {}
    for label, ca_index, issuer_bits, icc_bits in CARDS:
        ca, issuer, icc, tags, sdad = make_card(ca_index, issuer_bits, icc_bits)
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "card.py").write_text(card_module(ca, tags, sdad))
            device = {name: device_figures(path, folder) for name, path in interpreters}
            if micropython.binary32():
                heaps[label] = micropython.min_heap(
                    MIN_HEAP, path=[folder], interpreter=micropython.binary32(), step=128
                )
        host = cpython_figures(ca, tags, sdad)
        openssl = openssl_figures(ca, issuer, icc)
        for step in STEPS:
            row64 = device[micropython.NAME_64][step]
            row32 = device.get(micropython.NAME_32, {}).get(step)
            lines.append(
                "| %s -> %d -> %d | %s | %s | %s | %s | %s | %s |"
                % (
                    label,
                    issuer_bits,
                    icc_bits,
                    step_names[step],
                    format(round(row64["us"]), ","),
                    format(round(row32["us"]), ",") if row32 else "-",
                    format(round(host[step]), ","),
                    format(round(openssl[step]), ","),
                    format(row32["heap"], ",") if row32 else "-",
                )
            )
    lines.append("")
    if heaps:
        lines.append(
            "Smallest heap a whole DDA runs in on the 32-bit port, counting app.emv compiled "
            "from source and the card's data (most of it: the three steps allocate the last "
            "column's figure): "
            + ", ".join("%s-bit CA key %s bytes" % (k, format(v, ",")) for k, v in heaps.items())
            + "."
        )
        lines.append("")
    sizes = mpy_sizes()
    lines.append(
        "Code size, compiled for the ESP32 (`mpy-cross -march=xtensawin`): "
        + ", ".join("`%s` %s bytes" % (name, format(size, ",")) for name, size in sizes.items())
        + "; %s bytes in all." % format(sum(sizes.values()), ",")
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
