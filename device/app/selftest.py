"""Power-up self-test: a known-answer test of every algorithm the terminal uses.

A terminal whose self-test fails must not transact (card-scheme terminal security rules ask
for known-answer tests at start-up). `run()` is what boot calls; `main()` also times each
operation and the heap it takes, for the installer's version screen and `poskit selftest`.
The vectors are those of docs/crypto.md (published where one exists).
"""

import binascii
import gc
import time

from app.crypto import cipher, mac, pinblock

_h = binascii.unhexlify

# The CUP worked example: a sale's MAC element block and its MAK (spec §4.4).
_MAB = _h(
    "0200302004C020C0981100000000000000005100183402100006324392260009942820D131210112"
    "0084393136363838303134303030303030303030303030303031313536ACF46E73838A82F926000000"
    "00000000000822000001"
)
_K2 = _h("0123456789ABCDEFFEDCBA9876543210")


def _des():
    c = cipher.new("DES", _h("133457799BBCDFF1"))
    return c.encrypt(_h("0123456789ABCDEF")) == _h("85E813540F0AB405")


def _tdes():
    c = cipher.new("3DES", _K2)
    return c.encrypt(_h("0123456789ABCDEF")) == _h("1A4D672DCA6CB335")


def _sm4():
    c = cipher.new("SM4", _K2)
    return c.encrypt(_K2) == _h("681EDF34D206965E86B3E94F536E4246")


def _aes():
    # FIPS-197 appendix C.1
    c = cipher.new("AES", _h("000102030405060708090A0B0C0D0E0F"))
    return c.encrypt(_h("00112233445566778899AABBCCDDEEFF")) == _h(
        "69C4E0D86A7B0430D8CDB78070B4C55A"
    )


def _mak_decrypt():
    c = cipher.new("3DES", _h("70F2A84CCBC2AE8625CBB0F2C22AB923"))
    return c.decrypt(_h("96D605EA176B7E9E")) == _h("C24A8FB57AA20123")


def _kcv():
    return cipher.kcv("3DES", _K2, 4) == _h("08D7B4FB")


def _cup_mac():
    return mac.cup_mac(cipher.new("DES", _h("C24A8FB57AA20123")), _MAB) == b"8A9E91B8"


def _cup_mac_sm4():
    return mac.cup_mac(cipher.new("SM4", _K2), _MAB) == b"D0656CDC"


def _x99():
    c = cipher.new("DES", _h("0123456789ABCDEF"))
    return mac.cbc_mac(c, b"7654321 Now is the time for ") == _h("F1D30F6849312CA4")


def _x919():
    key = _h("0123456789ABCDEFFEDCBA9876543210")
    return mac.retail_mac(key, b"Now is the time for all ") == _h("A1C72E74EA3FA9B6")


def _aes_cmac():
    # RFC 4493 example 2
    c = cipher.new("AES", _h("2B7E151628AED2A6ABF7158809CF4F3C"))
    return mac.cmac(c, _h("6BC1BEE22E409F96E93D7E117393172A")) == _h(
        "070A16B46B4D4144F79BDD9DD04A287C"
    )


def _hmac():
    # RFC 4231 test case 2
    return mac.hmac_sha256(b"Jefe", b"what do ya want for nothing?") == _h(
        "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"
    )


def _pin_block():
    return pinblock.format0(b"123456", b"123456789012345678") == _h("061253DFFEDCBA98")


def _pin_encrypt():
    block = pinblock.encrypt(cipher.new("3DES", _K2), b"123456", b"6224242900000113")
    return block == _h("34A9CB2C1BA2AB3A")


TESTS = (
    ("DES", _des),
    ("3DES-EDE2", _tdes),
    ("SM4", _sm4),
    ("AES-128", _aes),
    ("MAK decrypt (3DES TMK)", _mak_decrypt),
    ("3DES check value", _kcv),
    ("CUP MAC (DES)", _cup_mac),
    ("CUP MAC (SM4)", _cup_mac_sm4),
    ("X9.9 CBC-MAC", _x99),
    ("X9.19 retail MAC", _x919),
    ("AES-CMAC", _aes_cmac),
    ("HMAC-SHA256", _hmac),
    ("PIN block format 0", _pin_block),
    ("PIN block encrypted", _pin_encrypt),
)


def run():
    """Run every known-answer test; returns the names of those that failed (empty = pass)."""
    failed = []
    for name, test in TESTS:
        try:
            ok = test()
        except Exception:  # a crashing algorithm is a failed algorithm
            ok = False
        if not ok:
            failed.append(name)
    return failed


def measure(test, repeat):
    """(microseconds per run, heap bytes one run allocates) for one known-answer test."""
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        test()
        allocated = gc.mem_alloc() - before
    finally:
        gc.enable()
    start = time.ticks_us()
    for _ in range(repeat):
        test()
    return time.ticks_diff(time.ticks_us(), start) // repeat, allocated


def main(repeat=20):
    """Print the self-test as a table and return the number of failures."""
    print("%-24s %-6s %10s %10s" % ("test", "result", "us/run", "heap B"))
    failures = 0
    for name, test in TESTS:
        try:
            ok = test()
        except Exception as exc:
            print("%-24s %-6s %s" % (name, "ERROR", exc))
            failures += 1
            continue
        us, heap = measure(test, repeat)
        print("%-24s %-6s %10d %10d" % (name, "pass" if ok else "FAIL", us, heap))
        failures += not ok
    gc.collect()
    print(
        "self-test: %s; heap free %d of %d bytes"
        % (
            "PASS" if not failures else "%d FAILED" % failures,
            gc.mem_free(),
            gc.mem_free() + gc.mem_alloc(),
        )
    )
    return failures
