# ISO 8583 codec timings on MicroPython, for `make bench`. Prints one JSON object per operation:
# name, microseconds per operation (best of 3 runs), heap bytes one operation allocates, and
# the frame it packs or reads (hex), so a CPython reference can do the same work on the same
# bytes:
#   iso8583_pack_sale           pack a 0200 sale (2,3,4,11,14,22,25,26,35,41,42,49,52,53,60)
#                               with field 64 = CUP MAC over a DES MAK
#   iso8583_pack_sale_no_mac    the same without the MAC (the codec alone)
#   iso8583_unpack_verify       unpack a 0210 response and verify its CUP MAC
#   iso8583_unpack              the same without the MAC check
# Run by tools/bench.py; MicroPython only.
import gc
import json
import sys
from binascii import hexlify
from binascii import unhexlify as h

from timing import timed

from app.crypto import cipher, mac
from app.txn.iso8583 import Packer, reply_tpdu, unpack

# The code's own time: importing app turned on the terminal's heap policy (a collection
# every 4 KB, app/__init__.py), whose collections in this bench's 110 KB heap would be
# timed too. Their cost is a row of its own (txn_reference.py, the terminal's heap).
gc.threshold(-1)

MAK = h("C24A8FB57AA20123")
TPDU = h("6000030000")
HEADER = "603100310000"
SALE = {
    2: "6224242900000113",
    3: "000000",
    4: "000000000051",
    11: "001834",
    14: "2806",
    22: "021",
    25: "00",
    26: "12",
    35: "6224242900000113=28062013949031013",
    41: "16688014",
    42: "000000000000001",
    49: "156",
    52: h("ACF46E73838A82F9"),
    53: "2600000000000000",
    60: "22000024000500",
}
RESPONSE = {
    2: "6224242900000113",
    3: "000000",
    4: "000000000051",
    11: "001834",
    12: "103015",
    13: "0520",
    14: "2806",
    15: "0520",
    25: "00",
    32: "00010000",
    37: "052010301501",
    38: "123456",
    39: "00",
    41: "16688014",
    42: "000000000000001",
    44: "03010000   04010000   ",
    49: "156",
    53: "2600000000000000",
    60: "22000024000500",
    63: "CUP",
}


def report(name, fn, frame):
    us, heap = timed(fn)
    print(json.dumps({"name": name, "us": us, "heap": heap, "frame": hexlify(frame).decode()}))


def main():
    mak = cipher.new("DES", MAK)
    packer = Packer()

    def cup_mac(mab):
        return mac.cup_mac(mak, mab)

    sale = bytes(packer.pack("0200", SALE, TPDU, HEADER, cup_mac))
    plain = bytes(packer.pack("0200", SALE, TPDU, HEADER))
    response = bytes(packer.pack("0210", RESPONSE, reply_tpdu(TPDU), HEADER, cup_mac))

    def unpack_verify():
        if not unpack(response).verify(cup_mac):
            raise AssertionError("MAC")

    which = sys.argv[1:] or None
    ops = (
        ("iso8583_pack_sale", lambda: packer.pack("0200", SALE, TPDU, HEADER, cup_mac), sale),
        ("iso8583_pack_sale_no_mac", lambda: packer.pack("0200", SALE, TPDU, HEADER), plain),
        ("iso8583_unpack_verify", unpack_verify, response),
        ("iso8583_unpack", lambda: unpack(response), response),
    )
    for name, fn, frame in ops:
        if which is None or name in which:
            report(name, fn, frame)


main()
