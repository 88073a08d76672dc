# Crypto timings on MicroPython, for `make bench`. Prints one JSON object per operation:
# name, microseconds per operation (best of 3 runs), heap bytes one operation allocates.
# Run by tools/bench.py, on each interpreter (the heap figures differ with the word size);
# MicroPython only.
import binascii
import gc
import json
import sys
from binascii import unhexlify as h

from timing import timed

from app.crypto import cipher, crc32, des, mac, pinblock, sm4

# The code's own time: importing app turned on the terminal's heap policy (a collection
# every 4 KB, app/__init__.py), whose collections in this bench's 2 MB heap would be
# timed too. Their cost is a row of its own (txn_reference.py, the terminal's heap).
gc.threshold(-1)

K2 = h("0123456789ABCDEFFEDCBA9876543210")
MAK = h("C24A8FB57AA20123")
MSG200 = bytes(range(200))
PAN = b"6224242900000113"


def report(name, fn):
    us, heap = timed(fn)
    print(json.dumps({"name": name, "us": us, "heap": heap}))


def main():
    block8 = bytearray(8)
    block16 = bytearray(16)
    d = cipher.new("DES", K2[:8])
    t = cipher.new("3DES", K2)
    s = cipher.new("SM4", K2)
    a = cipher.new("AES", K2)
    mak = cipher.new("DES", MAK)
    kb = bytearray(1024)
    pin = bytearray(b"123456")
    record = bytes(range(256)) * 16  # its CRC-32, 0xA2912082, is above 2**30
    crc = bytearray(4)
    which = sys.argv[1:] or None
    ops = (
        ("des_block", lambda: d.encrypt_into(block8)),
        ("tdes_block", lambda: t.encrypt_into(block8)),
        ("sm4_block", lambda: s.encrypt_into(block16)),
        ("aes_block", lambda: a.encrypt_into(block16)),
        ("tdes_cbc_1k", lambda: t.encrypt_cbc(kb, block8)),
        ("cup_mac_200", lambda: mac.cup_mac(mak, MSG200)),
        ("pin_block", lambda: pinblock.encrypt(t, pin, PAN)),
        ("tdes_key_schedule", lambda: cipher.new("3DES", K2)),
        ("sm4_key_schedule", lambda: cipher.new("SM4", K2)),
        ("des_block_portable", lambda: des._crypt_portable(block8, d._enc, d._iv, 0)),
        ("sm4_block_portable", lambda: sm4._crypt_portable(block16, s._enc, s._iv, 0)),
        ("crc32_4k", lambda: crc32.start(crc, record)),
        ("binascii_crc32_4k", lambda: binascii.crc32(record)),
    )
    for name, fn in ops:
        if which is None or name in which:
            report(name, fn)


main()
