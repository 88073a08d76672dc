"""The acquirer host simulator (hostlib.hostsim) driven over TCP on 127.0.0.1 by a small test
terminal written here with pyiso8583, pycryptodome and psec — neither the device code nor the
simulator's own codec — so the two sides only share the spec.

Covers: sign-on key delivery in every mode, sale/void/refund/pre-auth family with MAC and PIN
checks, the §6 host rules (void, reversal, duplicate STAN), settlement with batch upload, and
every switchable fault as the terminal would see it.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import iso8583
import psec.pinblock
import pytest
from Crypto.Cipher import DES
from gmssl.sm4 import SM4_DECRYPT, SM4_ENCRYPT, CryptSM4
from hypothesis import given
from hypothesis import strategies as st

from hostlib.hostsim import FaultError, HostSimError, HostSimulator, crypto
from tools import hostsim as hostsim_cli

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 5, 20, 10, 30, 15)
TID, MID = "12345678", "123456789012345"
TMK = bytes.fromhex("70F2A84CCBC2AE8625CBB0F2C22AB923")
GOOD = "6224242900000113"
GOOD_TRACK = "6224242900000113D28062013949031013"
LOW, EXPIRED, BLOCKED, NOPIN, LIMITED = (
    "6224242900000121",
    "6224242900000139",
    "6224242900000147",
    "6224242900000154",
    "6224242900000162",
)
TPDU = bytes.fromhex("6000030000")
HEADER = bytes.fromhex("603100310000")

# -- the test terminal's own codec (spec §1/§2) ---------------------------------------------


def _n(n, ll=0, left=False):
    d = {"data_enc": "b", "len_enc": "bcd", "len_type": ll, "max_len": n, "len_count": "nibbles"}
    d["left_pad" if left else "right_pad"] = "0"
    return d


def _a(n, ll=0, enc="ascii"):
    return {"data_enc": enc, "len_enc": "bcd", "len_type": ll, "max_len": n}


def _b(n, ll=0):
    return {"data_enc": "b", "len_enc": "bcd", "len_type": ll, "max_len": n}


SPEC = {
    "h": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 0},
    "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2},
    "p": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8},
    **{k: _n(v, left=True) for k, v in {"3": 6, "4": 12, "11": 6, "12": 6, "13": 4}.items()},
    **{k: _n(v, left=True) for k, v in {"14": 4, "15": 4, "23": 3, "25": 2, "26": 2}.items()},
    "53": _n(16, left=True),
    "2": _n(19, 1),
    "22": _n(3),
    "32": _n(11, 1),
    "35": _n(37, 1),
    "37": _a(12),
    "38": _a(6),
    "39": _a(2),
    "41": _a(8, enc="latin-1"),  # ans: any byte
    "42": _a(15, enc="latin-1"),
    "44": _a(25, 1),
    "48": _n(322, 2),
    "49": _a(3),
    "52": _b(8),
    "54": _a(20, 2),
    "60": _n(17, 2),
    "61": _n(29, 2),
    "62": _b(512, 2),
    "63": _a(163, 2, enc="latin-1"),
    "64": _b(8),
}


def des_ecb(key, data, decrypt=False):
    """DES for 8-byte keys, 3DES-EDE2 by hand for 16-byte ones (pycryptodome only)."""
    k1 = DES.new(key[:8], DES.MODE_ECB)
    if len(key) == 8:
        return k1.decrypt(data) if decrypt else k1.encrypt(data)
    k2 = DES.new(key[8:16], DES.MODE_ECB)
    if decrypt:
        return k1.decrypt(k2.encrypt(k1.decrypt(data)))
    return k1.encrypt(k2.decrypt(k1.encrypt(data)))


def sm4_ecb(key, data, decrypt=False):
    mode = SM4_DECRYPT if decrypt else SM4_ENCRYPT
    c = CryptSM4(mode, padding_mode=3)
    c.set_key(key, mode)
    return bytes(c.crypt_ecb(data))


def ref_cup_mac(mak, mab, sm4=False):
    """Spec §4.1/§4.3 written out again for the test terminal."""
    n = 16 if sm4 else 8
    enc = (lambda b: sm4_ecb(mak, b)) if sm4 else (lambda b: des_ecb(mak, b))
    mab = mab + bytes(-len(mab) % n)
    r = bytes(n)
    for i in range(0, len(mab), n):
        r = bytes(x ^ y for x, y in zip(r, mab[i : i + n]))
    h = r.hex().upper().encode()
    e1 = enc(h[:n])
    return enc(bytes(x ^ y for x, y in zip(e1, h[n:]))).hex().upper()[:8].encode()


def ref_x919(mak, mab):
    """Spec §4.2's X9.19 written out again: CBC under the left half, then D right, E left."""
    left = DES.new(mak[:8], DES.MODE_ECB)
    right = DES.new(mak[8:16] if len(mak) == 16 else mak, DES.MODE_ECB)
    mab = mab + bytes(-len(mab) % 8)
    state = bytes(8)
    for i in range(0, len(mab), 8):
        state = left.encrypt(bytes(x ^ y for x, y in zip(state, mab[i : i + 8])))
    return left.encrypt(right.decrypt(state))


LRI = b"LRI\x00\x1c" + bytes.fromhex("00000000021500000000000095555000") + bytes(12)


class Terminal:
    """A minimal CUP terminal: frames, MAC, PIN blocks, STAN, batch; no device code.
    `mac_method` cup, x9.19 or x9.19-hex; `lri` True: frames carry LRI (above)."""

    spec = SPEC  # the codec's field table (a subclass may add fields)

    def __init__(self, address, tid=TID, mid=MID, tmk=TMK, sm4=False, timeout=5.0):
        self.address, self.tid, self.mid, self.tmk, self.sm4 = address, tid, mid, tmk, sm4
        self.mac_method = "cup"
        self.lri = False
        self.timeout = timeout
        self.sock = None
        self.stan = 0
        self.batch = 1
        self.pik = self.mak = self.tdk = None
        self.last_header = None
        self.last_tpdu = None

    def connect(self):
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=self.timeout)
        return self.sock

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def next_stan(self):
        self.stan = self.stan % 999999 + 1
        return "%06d" % self.stan

    def encode(self, fields, mac=False):
        doc = dict(fields)
        if mac:
            doc["64"] = "00" * 8
        body, _ = iso8583.encode(doc, self.spec)
        body = bytes(body)
        if mac:
            body = body[:-8] + self.mac(body[:-8])
        payload = TPDU + (LRI if self.lri else b"") + HEADER + body
        return len(payload).to_bytes(2, "big") + payload

    def mac(self, mab):
        if self.mac_method == "cup":
            return ref_cup_mac(self.mak, mab, self.sm4)
        code = ref_x919(self.mak, mab)
        return code if self.mac_method == "x9.19" else code[:4].hex().upper().encode()

    def send_raw(self, data):
        self.connect().sendall(data)

    def read_frame(self, timeout=None):
        sock = self.connect()
        sock.settimeout(timeout or self.timeout)
        n = int.from_bytes(self._exact(2), "big")
        return self._exact(n)

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"closed after {len(buf)} of {n} bytes")
            buf += chunk
        return buf

    def decode(self, payload):
        self.last_lri = payload[5:38] if payload[5:8] == b"LRI" else b""
        payload = payload[:5] + payload[5 + len(self.last_lri) :]
        self.last_tpdu, self.last_header = payload[:5], payload[5:11]
        body = payload[11:]
        fields, _ = iso8583.decode(body, self.spec)
        fields["_body"] = body
        return fields

    def request(self, fields, mac=False, timeout=None):
        self.send_raw(self.encode(fields, mac))
        return self.decode(self.read_frame(timeout))

    def mac_ok(self, resp):
        body = resp["_body"]
        return self.mac(body[:-8]) == body[-8:]

    # -- messages -------------------------------------------------------------------------

    def sign_on(self, mode="004", layout=None):
        resp = self.request(
            {
                "t": "0800",
                "11": self.next_stan(),
                "41": self.tid,
                "42": self.mid,
                "60": "00%06d%s" % (self.batch, mode),
                "63": "01 ",
            }
        )
        if resp["39"] == "00":
            self.load_keys(mode, bytes.fromhex(resp["62"]), layout)
            self.batch = int(resp["60"][2:8])
        return resp

    def load_keys(self, mode, f62, layout=None):
        """Decrypt the working keys under the TMK and check every check value (spec §3.3).
        `layout`: (length, [(key offset, key length, CV offset)...]) instead of the mode's."""
        if self.sm4:
            dec = lambda k: sm4_ecb(self.tmk, k, decrypt=True)  # noqa: E731
            cv = lambda k: sm4_ecb(k, bytes(16))[:4]  # noqa: E731
        else:
            dec = lambda k: des_ecb(self.tmk, k, decrypt=True)  # noqa: E731
            cv = lambda k: des_ecb(k, bytes(8))[:4]  # noqa: E731
        length, items = layout or (
            {"001": 24, "003": 40, "004": 60, "006": 60}[mode],
            {
                "001": [(0, 8, 8), (12, 8, 20)],
                "003": [(0, 16, 16), (20, 16, 36)],
                "004": [(0, 16, 16), (20, 8, 36), (40, 16, 56)],
                "006": [(0, 16, 16), (20, 16, 36), (40, 16, 56)],
            }[mode],
        )
        assert len(f62) == length
        keys = []
        for offset, size, cv_at in items:
            key = dec(f62[offset : offset + size])
            assert cv(key) == f62[cv_at : cv_at + 4], "check value"
            keys.append(key)
        if mode == "004" and layout is None:
            assert f62[28:36] == bytes(8)
        self.pik, self.mak = keys[0], keys[1]
        self.tdk = keys[2] if len(keys) > 2 else None

    def pin_block(self, pin, pan):
        return des_ecb(self.pik, psec.pinblock.encode_pinblock_iso_0(pin, pan)).hex().upper()

    def financial(
        self,
        mti,
        pc,
        cond,
        t601,
        amount=None,
        track=GOOD_TRACK,
        pin=None,
        pan=None,
        stan=None,
        extra=None,
        batch=None,
    ):
        f = {
            "t": mti,
            "3": pc,
            "11": stan or self.next_stan(),
            "25": cond,
            "41": self.tid,
            "42": self.mid,
            "49": "156",
            "60": "%s%06d000500" % (t601, batch or self.batch),
        }
        if amount is not None:
            f["4"] = "%012d" % amount
        if track:
            f["35"] = track
            f["22"] = "021" if pin else "022"
        if pin:
            card = pan or track.split("D")[0]
            f["52"] = self.pin_block(pin, card)
            f["26"] = "06"
            f["53"] = "2600000000000000"
        f.update(extra or {})
        return f

    def sale(self, amount, track=GOOD_TRACK, pin="123456", timeout=None, **kw):
        f = self.financial("0200", "000000", "00", "22", amount, track, pin, **kw)
        return self.request(f, mac=True, timeout=timeout)

    def void(self, orig, amount, track=GOOD_TRACK, **kw):
        extra = {"37": orig["37"], "38": orig["38"], "61": orig["60"][2:8] + orig["11"]}
        return self.request(
            self.financial("0200", "200000", "00", "23", amount, track, None, extra=extra, **kw),
            mac=True,
        )

    def reversal(self, original_fields, reason="98"):
        """Spec §3.5: a copy of the request with MTI 0400, 39 = reason, 35/36/52/53/26/37
        removed, MAC recomputed."""
        f = {
            k: v
            for k, v in original_fields.items()
            if k not in ("35", "36", "52", "53", "26", "37", "64", "p")
        }
        f["t"] = "0400"
        f["39"] = reason
        return self.request(f, mac=True)

    def settle(self, debit_amount, debit_count, credit_amount=0, credit_count=0):
        f48 = "%012d%03d%012d%03d0" % (debit_amount, debit_count, credit_amount, credit_count)
        f48 += "0" * 31
        return self.request(
            {
                "t": "0500",
                "11": self.next_stan(),
                "41": self.tid,
                "42": self.mid,
                "48": f48,
                "49": "156",
                "60": "00%06d201" % self.batch,
                "63": "01 ",
            }
        )


@pytest.fixture
def host():
    sim = HostSimulator(clock=lambda: NOW, idle_timeout=10).start()
    try:
        yield sim
    finally:
        sim.close()


@pytest.fixture
def term(host):
    t = Terminal(host.address)
    assert t.sign_on()["39"] == "00"
    yield t
    t.close()


def balance(host, pan=GOOD):
    return host.card(pan)["balance"]


# -- crypto against the spec's vectors -------------------------------------------------------


def test_host_crypto_matches_spec_vectors():
    mak = crypto.ecb_decrypt(TMK, bytes.fromhex("96D605EA176B7E9E"))
    assert mak.hex().upper() == "C24A8FB57AA20123"
    assert crypto.check_value(mak).hex().upper() == "0547DB3E"
    mab = bytes.fromhex(
        "0200302004C020C0981100000000000000005100183402100006324392260009942820D131210112"
        "0084393136363838303134303030303030303030303030303031313536ACF46E73838A82F926000000"
        "00000000000822000001"
    )
    assert crypto.cup_mac(mak, mab) == b"8A9E91B8" == ref_cup_mac(mak, mab)
    k = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    assert crypto.cup_mac(k, mab) == b"84C8B241"
    assert crypto.cup_mac(k, mab, "SM4") == b"D0656CDC" == ref_cup_mac(k, mab, sm4=True)
    assert crypto.clear_pin(bytes.fromhex("34A9CB2C1BA2AB3A"), k, GOOD) == "123456"
    tdk = bytes.fromhex("11111111111111112222222222222222")
    enc = crypto.encrypt_track(GOOD_TRACK, tdk)
    assert enc == "6224242900000113BBFC692297C150CE13"
    assert crypto.decrypt_track(enc, tdk) == GOOD_TRACK


# -- sign-on ----------------------------------------------------------------------------------


def test_sign_on_004_delivers_keys_under_the_tmk(host):
    t = Terminal(host.address)
    t.batch = 1
    resp = t.sign_on("004")
    assert resp["39"] == "00"
    assert set(k for k in resp if k[0].isdigit()) == {
        "11",
        "12",
        "13",
        "32",
        "37",
        "39",
        "41",
        "42",
        "60",
        "62",
    }
    assert t.last_tpdu == bytes.fromhex("6000000003")  # source and destination swapped
    assert resp["60"] == "00000001004" and resp["12"] == "103015" and resp["13"] == "0520"
    assert len(resp["37"]) == 12
    keys = host.working_keys(TID)
    assert (t.pik.hex().upper(), t.mak.hex().upper(), t.tdk.hex().upper()) == (
        keys["pik"],
        keys["mak"],
        keys["tdk"],
    )
    assert len(t.mak) == 8
    again = t.sign_on("004")
    assert again["62"] != resp["62"]  # fresh keys every sign-on
    t.close()


@pytest.mark.parametrize("mode", ["001", "003"])
def test_sign_on_single_and_double_length(host, mode):
    t = Terminal(host.address)
    assert t.sign_on(mode)["39"] == "00"
    assert len(t.mak) == (8 if mode == "001" else 16)
    resp = t.sale(100)
    assert resp["39"] == "00" and t.mac_ok(resp)
    t.close()


def test_sign_on_sm4_terminal(host):
    sm4_tmk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    host.add_terminal("87654321", MID, sm4_tmk.hex(), key_alg="SM4")
    t = Terminal(host.address, tid="87654321", tmk=sm4_tmk, sm4=True)
    assert t.sign_on("006")["39"] == "00"
    assert len(t.mak) == 16
    resp = t.sale(100, track=NOPIN + "D28062010000000000", pin=None)
    assert resp["39"] == "00" and t.mac_ok(resp)
    assert t.sign_on("004")["39"] == "40"  # a DES sign-on does not fit an SM4 TMK
    t.close()


def test_sign_on_adopts_a_newer_terminal_batch_and_sign_off_advances(host, term):
    term.batch = 7
    assert term.sign_on()["60"][2:8] == "000007"
    assert term.sale(100)["39"] == "00"
    r = term.request(
        {"t": "0820", "11": term.next_stan(), "41": TID, "42": MID, "60": "00%06d002" % term.batch}
    )
    assert r["t"] == "0830" and r["39"] == "00"
    assert host.working_keys(TID) is None
    assert term.sign_on()["60"][2:8] == "000008"


def test_echo_and_processing_requirement(host, term):
    host.set_processing_requirement(TID, "3")
    r = term.request({"t": "0820", "41": TID, "42": MID, "60": "00%06d301" % term.batch})
    assert r["39"] == "00" and "11" not in r
    assert term.last_header[2] & 0x0F == 3  # digit 6: re-sign-on
    r = term.request({"t": "0820", "41": TID, "42": MID, "60": "00%06d301" % term.batch})
    assert term.last_header[2] & 0x0F == 0  # one-shot


def test_unknown_terminal_and_bad_frame(host):
    t = Terminal(host.address, tid="99999999")
    assert t.sign_on()["39"] == "97"
    # A bitmap announcing field 5, which the profile does not define: format error 30.
    body = bytes.fromhex("0200") + bytes.fromhex("0800000000000000") + b"\x00" * 6
    payload = TPDU + HEADER + body
    t.send_raw(len(payload).to_bytes(2, "big") + payload)
    resp = t.decode(t.read_frame())
    assert resp["t"] == "0210" and resp["39"] == "30"
    t.close()


# -- financial --------------------------------------------------------------------------------


def test_sale_approved_with_pin_and_mac(host, term):
    before = balance(host)
    resp = term.sale(12345)
    assert resp["t"] == "0210" and resp["39"] == "00"
    assert term.mac_ok(resp)
    assert resp["11"] == "%06d" % term.stan and resp["4"] == "000000012345"
    assert len(resp["37"]) == 12 and len(resp["38"]) == 6
    assert balance(host) == before - 12345
    (txn,) = [t for t in host.transactions(TID) if t["type"] == "sale"]
    assert txn["status"] == "approved" and txn["rrn"] == resp["37"]


def test_wrong_pin_55_bad_mac_a0(host, term):
    before = balance(host)
    assert term.sale(100, pin="654321")["39"] == "55"
    assert term.sale(100, pin=None)["39"] == "55"  # this card needs a PIN
    f = term.financial("0200", "000000", "00", "22", 100, GOOD_TRACK, "123456")
    frame = bytearray(term.encode(f, mac=True))
    frame[-1] ^= 0x01
    term.send_raw(bytes(frame))
    resp = term.decode(term.read_frame())
    assert resp["39"] == "A0" and "64" not in resp
    assert balance(host) == before


@pytest.mark.parametrize(
    "track,amount,code",
    [
        (LOW + "D28062010000000000", 1001, "51"),
        (EXPIRED + "D20122010000000000", 100, "54"),
        (BLOCKED + "D28062010000000000", 100, "57"),
        ("6224242900009999D28062010000000000", 100, "14"),
        (LIMITED + "D28062010000000000", 100_001, "61"),
        (GOOD_TRACK, 0, "13"),
    ],
)
def test_declines(host, term, track, amount, code):
    assert term.sale(amount, track=track)["39"] == code


def test_balance_inquiry(host, term):
    resp = term.request(term.financial("0200", "310000", "00", "01", None, pin="123456"), mac=True)
    assert resp["39"] == "00" and term.mac_ok(resp)
    assert resp["54"] == "1002156C%012d" % balance(host)


def test_void_rules(host, term):
    before = balance(host)
    sale = term.sale(5000)
    req = {"11": sale["11"], "60": "22%06d000500" % term.batch, "37": sale["37"], "38": sale["38"]}
    assert term.void(req, 4000)["39"] == "64"  # full amount only
    assert term.void(req, 5000, track=NOPIN + "D28062010000000000")["39"] == "14"  # same card
    ghost = dict(req, **{"11": "999999"})
    assert term.void(ghost, 5000)["39"] == "25"
    resp = term.void(req, 5000)
    assert resp["39"] == "00" and term.mac_ok(resp) and resp["38"] == sale["38"]
    assert balance(host) == before
    assert term.void(req, 5000)["39"] == "25"  # already voided
    # Another batch's sale cannot be voided.
    sale2 = term.sale(700)
    term.batch += 1
    req2 = {
        "11": sale2["11"],
        "60": "22%06d000500" % (term.batch - 1),
        "37": sale2["37"],
        "38": sale2["38"],
    }
    assert term.void(req2, 700)["39"] == "25"


def test_duplicate_stan_94(host, term):
    assert term.sale(100, stan="000500")["39"] == "00"
    before = balance(host)
    assert term.sale(100, stan="000500")["39"] == "94"
    assert balance(host) == before


def test_reversal_restores_balance(host, term):
    before = balance(host)
    f = term.financial("0200", "000000", "00", "22", 2500, GOOD_TRACK, "123456")
    assert term.request(f, mac=True)["39"] == "00"
    assert balance(host) == before - 2500
    wrong = dict(f, **{"4": "%012d" % 2400})
    assert term.reversal(wrong)["39"] == "64"
    resp = term.reversal(f)
    assert resp["t"] == "0410" and resp["39"] == "00" and term.mac_ok(resp)
    assert balance(host) == before
    assert term.reversal(f)["39"] == "25"  # already reversed
    statuses = {t["type"]: t["status"] for t in host.transactions(TID)}
    assert statuses["sale"] == "reversed"


def test_reversal_of_unknown_is_approved(host, term):
    before = balance(host)
    f = term.financial("0200", "000000", "00", "22", 2500, GOOD_TRACK, "123456")
    resp = term.reversal(f)
    assert resp["39"] == "00" and term.mac_ok(resp)
    assert balance(host) == before


def test_refund_preauth_family(host, term):
    g0 = host.card(GOOD)
    sale = term.sale(3000)
    refund = term.request(
        term.financial(
            "0220",
            "200000",
            "00",
            "25",
            1000,
            GOOD_TRACK,
            None,
            extra={"37": sale["37"], "61": sale["60"][2:8] + sale["11"] + "0520", "63": "CUP"},
        ),
        mac=True,
    )
    assert refund["t"] == "0230" and refund["39"] == "00" and term.mac_ok(refund)
    over = term.financial(
        "0220",
        "200000",
        "00",
        "25",
        2001,
        GOOD_TRACK,
        None,
        extra={"37": sale["37"], "61": sale["60"][2:8] + sale["11"] + "0520"},
    )
    assert term.request(over, mac=True)["39"] == "64"
    assert balance(host) == g0["balance"] - 2000
    # pre-auth 10.00 -> cancel; pre-auth 20.00 -> completion 21.00 -> completion void
    pre = term.request(term.financial("0100", "030000", "06", "10", 1000, pin="123456"), mac=True)
    assert pre["t"] == "0110" and pre["39"] == "00" and host.card(GOOD)["held"] == 1000
    orig = pre["60"][2:8] + pre["11"] + "0520"
    cancel = term.financial(
        "0100", "200000", "06", "11", 1000, extra={"38": pre["38"], "61": orig}
    )
    assert term.request(cancel, mac=True)["39"] == "00"
    assert host.card(GOOD)["held"] == 0
    assert term.request(dict(cancel, **{"11": term.next_stan()}), mac=True)["39"] == "25"
    pre = term.request(term.financial("0100", "030000", "06", "10", 2000, pin="123456"), mac=True)
    orig = pre["60"][2:8] + pre["11"] + "0520"
    comp = term.request(
        term.financial("0200", "000000", "06", "20", 2100, extra={"38": pre["38"], "61": orig}),
        mac=True,
    )
    assert comp["39"] == "00" and term.mac_ok(comp)
    assert host.card(GOOD)["held"] == 0
    assert balance(host) == g0["balance"] - 2000 - 2100
    cv = term.request(
        term.financial(
            "0200",
            "200000",
            "06",
            "21",
            2100,
            extra={
                "37": comp["37"],
                "38": comp["38"],
                "61": comp["60"][2:8] + comp["11"] + "0520",
            },
        ),
        mac=True,
    )
    assert cv["39"] == "00"
    assert host.card(GOOD)["held"] == 2000  # the pre-authorisation is open again
    assert balance(host) == g0["balance"] - 2000


def _refund(term, sale, amount, mti="0220", stan=None):
    extra = {"37": sale["37"], "61": sale["60"][2:8] + sale["11"] + "0520", "63": "CUP"}
    return term.financial(mti, "200000", "00", "25", amount, GOOD_TRACK, None, stan, extra=extra)


def _booked(host, term, stan):
    return host.store.find_txns(tid=term.tid, batch=term.batch, stan=int(stan))


@pytest.mark.parametrize("mti", ["0220", "0221"])
def test_an_advice_sent_again_is_answered_as_the_first_and_booked_once(host, term, mti):
    # The terminal never got the answer to its refund (a line that dropped, a power cut) and
    # sends it again with its STAN: as 0220 again or as 0221, by its advice_repeat.
    sale = term.sale(3000)
    fields = _refund(term, sale, 1000)
    first = term.request(fields, mac=True)
    assert first["39"] == "00"
    before = balance(host)
    again = term.request(dict(fields, t=mti), mac=True)
    assert again["t"] == "0230" and again["39"] == "00" and term.mac_ok(again)
    assert (again["37"], again["38"], again["11"]) == (first["37"], first["38"], fields["11"])
    assert balance(host) == before and len(_booked(host, term, fields["11"])) == 1
    assert host.engine.totals(term.tid, term.batch)["credit_count"] == 1
    # Not the same advice (another amount) under that STAN: a duplicate STAN still.
    assert term.request(dict(fields, t=mti, **{"4": "%012d" % 999}), mac=True)["39"] == "94"
    # A declined advice is declined the same way again, booked once.
    over = _refund(term, sale, 5000)
    assert term.request(over, mac=True)["39"] == "64"
    assert term.request(dict(over, t=mti), mac=True)["39"] == "64"
    assert len(_booked(host, term, over["11"])) == 1


def test_a_repeat_of_an_advice_never_received_is_booked_as_new(host, term):
    sale = term.sale(3000)
    before = balance(host)
    fields = _refund(term, sale, 1000, mti="0221")
    resp = term.request(fields, mac=True)
    assert resp["t"] == "0230" and resp["39"] == "00" and term.mac_ok(resp)
    assert balance(host) == before + 1000 and len(_booked(host, term, fields["11"])) == 1


def test_reversal_of_void_and_completion(host, term):
    start = host.card(GOOD)
    sale = term.sale(4000)
    void_req = term.financial(
        "0200",
        "200000",
        "00",
        "23",
        4000,
        GOOD_TRACK,
        None,
        extra={"37": sale["37"], "38": sale["38"], "61": sale["60"][2:8] + sale["11"]},
    )
    assert term.request(void_req, mac=True)["39"] == "00"
    assert balance(host) == start["balance"]
    assert term.reversal(void_req)["39"] == "00"  # the void is undone: the sale stands again
    assert balance(host) == start["balance"] - 4000
    sale_row = [t for t in host.transactions(TID) if t["type"] == "sale"][0]
    assert sale_row["status"] == "approved"
    pre = term.request(term.financial("0100", "030000", "06", "10", 1500, pin="123456"), mac=True)
    comp_req = term.financial(
        "0200",
        "000000",
        "06",
        "20",
        1500,
        extra={"38": pre["38"], "61": pre["60"][2:8] + pre["11"] + "0520"},
    )
    assert term.request(comp_req, mac=True)["39"] == "00"
    assert host.card(GOOD)["held"] == 0
    assert term.reversal(comp_req)["39"] == "00"
    assert host.card(GOOD)["held"] == 1500  # back to an open pre-authorisation
    assert balance(host) == start["balance"] - 4000
    pre_req = term.financial("0100", "030000", "06", "10", 700, pin="123456")
    assert term.request(pre_req, mac=True)["39"] == "00"
    assert term.reversal(pre_req)["39"] == "00"
    assert host.card(GOOD)["held"] == 1500


@pytest.fixture(scope="module")
def signed_on_sim():
    """An in-process simulator (no TCP) with the default terminal signed on, and a valid
    sale payload from it."""
    sim = HostSimulator(clock=lambda: NOW)
    t = Terminal(None)
    resp = t.decode(
        sim.handle(
            t.encode(
                {"t": "0800", "11": t.next_stan(), "41": TID, "42": MID, "60": "00000001004"}
            )[2:]
        )
    )
    t.load_keys("004", bytes.fromhex(resp["62"]))
    sale = t.encode(t.financial("0200", "000000", "00", "22", 100, pin="123456"), mac=True)[2:]
    yield sim, sale
    sim.close()


@given(st.data())
def test_garbled_requests_never_break_the_host(signed_on_sim, data):
    """Damaged frames get a decodable answer (30, A0, 94...) or none; the host never raises."""
    sim, sale = signed_on_sim
    payload = bytearray(sale)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(payload) - 1))
        payload[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(payload)))
    out = sim.handle(bytes(payload[:cut] if data.draw(st.booleans()) else payload))
    if out is not None:
        resp, _ = iso8583.decode(out[11:], SPEC)
        assert len(resp["39"]) == 2
        assert resp["39"] != "96", "the host hit an unforeseen error"


def test_cross_day_void_and_reversal_25_strict_batch_77():
    today = [NOW]
    with HostSimulator(clock=lambda: today[0]) as sim:
        t = Terminal(sim.address)
        t.sign_on()
        f = t.financial("0200", "000000", "00", "22", 100, GOOD_TRACK, "123456")
        sale = t.request(f, mac=True)
        today[0] = NOW.replace(day=21)
        assert t.void(sale, 100)["39"] == "25"
        assert t.reversal(f)["39"] == "25"
        sim.add_terminal("11112222", MID, TMK.hex(), signon_mode="001", strict_batch=True)
        t2 = Terminal(sim.address, tid="11112222")
        assert t2.sign_on("004")["39"] == "40"  # this terminal must use 001
        assert t2.sign_on("001")["39"] == "00"
        assert t2.sale(100, batch=5)["39"] == "77"
        assert t2.sale(100)["39"] == "00"
        t.close()
        t2.close()


def test_encrypted_track(host, term):
    before = balance(host)
    enc = crypto.encrypt_track(GOOD_TRACK, term.tdk)
    f = term.financial("0200", "000000", "00", "22", 100, enc, "123456", pan=GOOD)
    f["53"] = "2610000000000000"
    assert term.request(f, mac=True)["39"] == "00"
    assert balance(host) == before - 100


# -- acquirer profiles --------------------------------------------------------------------------


def test_profile_described_field_62_layout(host):
    # Spec §7.3's acquirer: 60.3 = 003, 61 bytes (a leading byte, three keys).
    host.set_profile(TID, signon_layout="PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4")
    t = Terminal(host.address)
    layout = (61, [(1, 16, 17), (21, 16, 37), (41, 16, 57)])
    resp = t.sign_on("003", layout)
    assert resp["39"] == "00" and len(resp["62"]) == 2 * 61
    assert len(t.mak) == 16 and t.tdk is not None
    assert t.mak.hex().upper() == host.working_keys(TID)["mak"]
    sale = t.sale(100)
    assert sale["39"] == "00" and t.mac_ok(sale)
    host.set_profile(TID, signon_layout="004")  # another code's layout under 60.3 = 001
    resp = t.sign_on("001", (60, [(0, 16, 16), (20, 8, 36), (40, 16, 56)]))
    assert resp["39"] == "00" and resp["60"].endswith("001")
    t.close()


@pytest.mark.parametrize("method", ["x9.19", "x9.19-hex"])
def test_profile_x9_19_mac(host, method):
    host.set_profile(TID, mac_method=method)
    t = Terminal(host.address)
    t.sign_on("003")
    t.mac_method = method
    sale = t.sale(100)
    assert sale["39"] == "00" and t.mac_ok(sale)
    hexed = all(c in b"0123456789ABCDEF" for c in bytes.fromhex(sale["64"]))
    assert hexed == (method == "x9.19-hex")
    t.mac_method = "cup"  # the terminal on the other method: the host says A0
    assert t.sale(100)["39"] == "A0"
    t.close()


def test_profile_field_60_and_26(host):
    host.set_profile(TID, field60_length=14, field26="06")
    t = Terminal(host.address)
    t.sign_on()
    assert t.sale(100)["39"] == "00"  # the test terminal sends 14 digits and 06
    short = t.financial("0200", "000000", "00", "22", 100, pin="123456")
    short["60"] = short["60"][:8]
    resp = t.request(short, mac=True)
    assert resp["39"] == "30"
    f = t.financial("0200", "000000", "00", "22", 100, pin="123456", extra={"26": "12"})
    assert t.request(f, mac=True)["39"] == "30"
    host.set_profile(TID, field60_length=8, field26=None)
    assert t.sale(100)["39"] == "30"
    t.close()


def test_profile_lri_dial_header(host):
    host.set_profile(TID, lri=True)
    t = Terminal(host.address)
    t.lri = True
    assert t.sign_on()["39"] == "00" and t.last_lri == LRI  # echoed
    assert t.sale(100)["39"] == "00"
    t.lri = False
    resp = t.sale(100)
    assert resp["39"] == "30" and t.last_lri == b""
    host.set_profile(TID, lri=False)
    t.lri = True
    resp = t.sale(100)
    assert resp["39"] == "30" and t.last_lri == LRI  # answered the way it came
    host.set_profile(TID, lri=None)
    assert t.sale(100)["39"] == "00"
    t.close()


def test_profile_settlement_flag_of_an_empty_section(host, term):
    term.sale(1000)
    host.set_profile(TID, settle_empty_flag="0")
    resp = term.settle(1000, 1)
    assert resp["48"][30] == "1" and resp["48"][61] == "0"  # nothing foreign: 0
    assert host.settlements(TID)[0]["result"] == "balanced"
    term.batch += 1  # the host moved on too
    empty = term.settle(0, 0)
    assert empty["48"][30] == "0" and empty["48"][61] == "0"
    host.set_fault("settle_error")
    term.sale(500)
    resp = term.settle(500, 1)
    assert resp["48"][30] == "3" and host.settlements(TID)[-1]["result"] == "error"


def test_profile_refusals(host):
    with pytest.raises(HostSimError, match="signon_layout: MAK has no check value after it"):
        host.set_profile(TID, signon_layout="PIK16 CV4 MAK16")
    with pytest.raises(HostSimError, match="field60_length must be 8 or 14"):
        host.set_profile(TID, field60_length=12)
    with pytest.raises(HostSimError, match="no profile setting mac"):
        host.set_profile(TID, mac="x9.19")
    host.add_terminal("87654321", MID, "0123456789ABCDEFFEDCBA9876543210", key_alg="SM4")
    with pytest.raises(HostSimError, match="a DES MAC: an SM4 terminal uses cup"):
        host.set_profile("87654321", mac_method="x9.19")
    assert host.terminal(TID)["mac_method"] == "cup"


def test_a_database_from_before_profiles_opens(tmp_path):
    import sqlite3

    db = tmp_path / "old.db"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE terminals (tid TEXT PRIMARY KEY, mid TEXT NOT NULL, merchant_name TEXT "
        "NOT NULL DEFAULT '', tmk TEXT NOT NULL, key_alg TEXT NOT NULL, signon_mode TEXT, batch "
        "INTEGER NOT NULL DEFAULT 1, last_signon TEXT, signed_on INTEGER NOT NULL DEFAULT 0, "
        "proc_req TEXT NOT NULL DEFAULT '0', proc_req_persistent INTEGER NOT NULL DEFAULT 0, "
        "strict_batch INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO terminals (tid, mid, tmk, key_alg) VALUES "
        "('12345678', '123456789012345', '70F2A84CCBC2AE8625CBB0F2C22AB923', '3DES');"
    )
    old.commit()
    old.close()
    with HostSimulator(str(db), seed=False) as sim:
        row = sim.terminal(TID)
        assert row["mac_method"] == "cup" and row["settle_empty_flag"] == "1"
        assert row["lri"] is None and row["signon_layout"] is None


# -- settlement -------------------------------------------------------------------------------


def test_settlement_balanced_advances_batch(host, term):
    term.sale(1000)
    term.sale(2000)
    s = term.sale(300)
    term.void({"11": s["11"], "60": s["60"], "37": s["37"], "38": s["38"]}, 300)
    resp = term.settle(3000, 2)
    assert resp["t"] == "0510" and resp["39"] == "00"
    assert resp["48"][30] == "1" and resp["48"][61] == "1"
    assert host.terminal(TID)["batch"] == 2
    assert host.settlements(TID)[0]["result"] == "balanced"


def test_settlement_unbalanced_then_batch_upload(host, term):
    a, b = term.sale(1000), term.sale(2000)
    resp = term.settle(1000, 1)
    assert resp["48"][30] == "2"
    assert resp["48"][:30] == "%012d%03d%012d%03d" % (3000, 2, 0, 0)  # the host's totals
    records = "".join("00" + r["11"] + GOOD.rjust(20, "0") + r["4"] for r in (a, b))
    up = term.request(
        {
            "t": "0320",
            "11": term.next_stan(),
            "41": TID,
            "42": MID,
            "48": "02" + records,
            "60": "00%06d201" % term.batch,
        }
    )
    assert up["t"] == "0330" and up["39"] == "00"
    end = term.request(
        {
            "t": "0320",
            "11": term.next_stan(),
            "41": TID,
            "42": MID,
            "48": "0002",
            "60": "00%06d202" % term.batch,
        }
    )
    assert end["39"] == "00"
    uploads = host.uploads(TID, term.batch)
    assert [u["matched"] for u in uploads] == [1, 1]
    s = host.settlements(TID)[0]
    assert (s["result"], s["upload_records"], s["upload_total"]) == ("unbalanced", 2, 2)


# -- faults -----------------------------------------------------------------------------------


def test_fault_no_answer_and_late(host, term):
    before = balance(host)
    host.set_fault("no_answer", mti="0200")
    with pytest.raises(TimeoutError):
        term.sale(100, timeout=0.3)
    assert balance(host) == before - 100  # booked, answer lost: the terminal must reverse
    term.close()
    host.set_fault("no_answer", mti="0200", process=False)
    with pytest.raises(TimeoutError):
        term.sale(100, timeout=0.3)
    assert balance(host) == before - 100  # request lost before booking
    term.close()
    host.set_fault("late", mti="0200", delay=1.0)
    term.send_raw(
        term.encode(term.financial("0200", "000000", "00", "22", 100, pin="123456"), mac=True)
    )
    with pytest.raises(TimeoutError):
        term.read_frame(timeout=0.2)
    assert term.decode(term.read_frame(timeout=5))["39"] == "00"  # arrives, too late


def test_fault_bad_mac_wrong_stan_wrong_amount(host, term):
    host.set_fault("bad_mac")
    r = term.sale(100)
    assert r["39"] == "00" and not term.mac_ok(r)
    host.set_fault("wrong_stan", tid=TID)
    r = term.sale(100)
    assert r["11"] == "%06d" % (term.stan + 1) and term.mac_ok(r)
    host.set_fault("wrong_amount", txn="sale")
    r = term.sale(100)
    assert r["4"] == "000000000101"
    assert term.sale(100)["4"] == "000000000100"  # one-shot


def test_fault_duplicate_partial_close(host, term):
    host.set_fault("duplicate", mti="0200")
    first = term.sale(100)
    second = term.decode(term.read_frame())
    assert first["_body"] == second["_body"]
    host.set_fault("partial", mti="0200")
    term.send_raw(
        term.encode(term.financial("0200", "000000", "00", "22", 100, pin="123456"), mac=True)
    )
    with pytest.raises(EOFError):
        term.read_frame()
    term.close()
    host.set_fault("close", mti="0200")
    with pytest.raises(EOFError):
        term.sale(100)
    term.close()
    assert term.sale(100)["39"] == "00"  # a new connection is served normally


def test_fault_decline_and_unbalanced_persistent(host, term):
    fid = host.set_fault("decline", code="91", mti="0200", count=None)
    assert term.sale(100)["39"] == "91"
    assert term.sale(100)["39"] == "91"
    assert [f["id"] for f in host.faults()] == [fid]
    assert host.clear_faults() == 1
    assert term.sale(100)["39"] == "00"
    host.set_fault("unbalanced")
    assert term.sale(50)["39"] == "00"  # the settlement fault is not spent on a sale
    assert term.settle(150, 2)["48"][30] == "2"


def test_fault_api_refuses_nonsense(host):
    with pytest.raises(FaultError):
        host.set_fault("explode")
    with pytest.raises(FaultError) as exc:
        host.set_fault("decline", mti="0210")  # an answer's MTI: no request has it
    assert str(exc.value) == (
        "unknown request MTI '0210': this host receives 0100, 0200, 0220, 0221, 0320, 0400, "
        "0500, 0620, 0800, 0820"
    )
    with pytest.raises(
        FaultError, match="unknown message type 'sales': this host knows balance, "
    ):
        host.set_fault("decline", txn="sales")
    host.set_fault("decline", txn="reversal")
    host.set_fault("decline", txn="reversal/sale")
    with pytest.raises(FaultError):
        host.set_fault("decline", code="XYZ")
    with pytest.raises(HostSimError):
        host.add_terminal("1234", MID, TMK.hex())


def test_log_masks_card_data(host, term, caplog):
    caplog.set_level(logging.INFO, logger="poskit.hostsim")
    term.sale(100)
    text = caplog.text
    assert "622424******0113" in text and "-> 00" in text
    assert GOOD not in text and "D2806" not in text
    assert host.working_keys(TID)["mak"] not in text


def test_keep_alive_many_messages(host, term):
    for _ in range(20):
        assert term.sale(1)["39"] == "00"
    assert host.totals(TID) == {
        "debit_amount": 20,
        "debit_count": 20,
        "credit_amount": 0,
        "credit_count": 0,
    }


def test_cli_serves_and_stops(tmp_path):
    db = tmp_path / "host.db"
    code = (
        "import argparse, sys; from tools import hostsim; p = argparse.ArgumentParser(); "
        "hostsim.add_arguments(p); sys.exit(hostsim.run(p.parse_args(sys.argv[1:])))"
    )
    cmd = [sys.executable, "-c", code]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    set_fault = subprocess.run(
        [*cmd, "--db", str(db), "--create", "--seed", "--fault", "decline:code=05,mti=0200"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=ROOT,
    )
    assert set_fault.returncode == 0, set_fault.stderr
    proc = subprocess.Popen(
        [*cmd, "--listen", "127.0.0.1:0", "--db", str(db), "--duration", "20"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("hostsim listening on 127.0.0.1:"), line
        port = int(line.split()[3].split(":")[1])
        t = Terminal(("127.0.0.1", port))
        assert t.sign_on()["39"] == "00"
        assert t.sale(100)["39"] == "05"  # the fault written to the file before start
        t.close()
        proc.send_signal(2)  # Ctrl-C
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "0800" in out and "stopped after 2 message(s)" in out
    assert "622424******0113" in out and GOOD not in out
    shown = subprocess.run(
        [*cmd, "--db", str(db), "--show"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=ROOT,
    )
    assert "terminal 12345678" in shown.stdout and "sale" in shown.stdout


def hostsim_cli_run(*argv, stdin=None):
    code = (
        "import argparse, sys; from hostlib.errors import PoskitError; from tools import hostsim"
        "\np = argparse.ArgumentParser(); hostsim.add_arguments(p)"
        "\ntry: sys.exit(hostsim.run(p.parse_args(sys.argv[1:])))"
        "\nexcept PoskitError as e: print('poskit:', e, file=sys.stderr); sys.exit(1)"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
        input=stdin,
    )


def test_cli_refuses_a_missing_db_and_unknown_fault_mti(tmp_path):
    db = tmp_path / "hots.db"  # mistyped
    out = hostsim_cli_run("--db", str(db), "--listen", "127.0.0.1:0", "--duration", "0")
    assert out.returncode == 1 and not db.exists()
    assert f"no simulator database {db}: check the name, or give --create" in out.stderr
    out = hostsim_cli_run("--db", str(db), "--create", "--fault", "decline:mti=0210")
    assert out.returncode == 1 and "unknown request MTI '0210': this host receives 0100" in (
        out.stderr
    )
    assert not db.exists()  # refused before anything was made
    out = hostsim_cli_run("--db", str(db), "--create", "--seed")  # made, and nothing else
    assert out.returncode == 0 and out.stdout == f"{db}: 1 terminal(s), 17 card(s)\n"
    out = hostsim_cli_run("--db", str(db), "--fault", "decline:mti=0200")
    assert out.returncode == 0 and out.stdout == "fault #1 decline on\n"
    out = hostsim_cli_run("--db", str(db), "--fault", "late:mti=0200,delay=2")
    assert out.returncode == 0 and out.stdout == "fault #2 late on\n"


def test_cli_adds_terminals_and_cards_without_secrets_on_argv(tmp_path):
    db = tmp_path / "host.db"
    tmk_file = tmp_path / "tmk.hex"
    tmk_file.write_text("0123456789ABCDEF FEDCBA9876543210\n")
    out = hostsim_cli_run(
        "--db", str(db), "--create", "add-terminal", "--tid", "87654321",
        "--mid", "123456789012345", "--tmk-file", str(tmk_file), "--name", "SHOP",
        "--signon-layout", "PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4", "--field60-length", "14",
        "--mac-method", "x9.19", "--lri", "yes", "--settle-empty-flag", "0",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("terminal 87654321 merchant 123456789012345 'SHOP' 3DES TMK")
    assert "signon_layout=PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4, field60_length=14" in out.stdout
    assert "mac_method=x9.19, lri=True, settle_empty_flag=0" in out.stdout
    assert "0123456789ABCDEF" not in out.stdout + out.stderr
    # The TMK asked for: from standard input when that is not a terminal.
    out = hostsim_cli_run(
        "--db", str(db), "add-terminal", "--tid", "11112222", "--mid", "123456789012345",
        stdin="70F2A84CCBC2AE8625CBB0F2C22AB923\n",
    )  # fmt: skip
    assert out.returncode == 0 and "profile: CUP defaults" in out.stdout, out.stderr
    out = hostsim_cli_run("add-terminal", "--tid", "1", "--mid", "2", "--tmk", "00")
    assert out.returncode == 2 and "unrecognized arguments: --tmk 00" in out.stderr
    out = hostsim_cli_run("--db", str(db), "add-card", "--pan", "1", "--expiry", "2", "--pin", "1")
    assert out.returncode == 2 and "unrecognized arguments: --pin 1" in out.stderr
    out = hostsim_cli_run("--db", str(db), "set-terminal", "--tid", "87654321", "--lri", "either")
    assert out.returncode == 0 and "lri=" not in out.stdout
    out = hostsim_cli_run(
        "--db", str(db), "add-card", "--pan", "6224242900000170", "--expiry", "2806",
        "--balance", "1000.00", "--holder", "NEW", stdin="654321\n",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "card 622424******0170 exp 2806 active  balance 1,000.00 held 0.00 PIN yes  NEW\n"
    )
    assert "654321" not in out.stdout
    out = hostsim_cli_run(
        "--db", str(db), "add-card", "--pan", "6224242900000188", "--expiry", "2806", "--no-pin"
    )
    assert out.returncode == 0 and "PIN no" in out.stdout
    out = hostsim_cli_run("--db", str(db), "add-card", "--pan", "62242", "--expiry", "2806",
                          "--no-pin")  # fmt: skip
    assert out.returncode == 1 and "PAN must be" in out.stderr
    listing = hostsim_cli_run("--db", str(db), "terminals")
    assert [line.split()[1] for line in listing.stdout.splitlines()] == ["11112222", "87654321"]
    cards = hostsim_cli_run("--db", str(db), "cards").stdout
    assert "622424******0170" in cards and "622424******0188" in cards
    with HostSimulator(str(db), seed=False) as sim:
        assert sim.terminal("87654321")["tmk"] == "0123456789ABCDEFFEDCBA9876543210"
        assert sim.card("6224242900000170")["pin"] == "654321"
        assert sim.card("6224242900000170")["balance"] == 100_000
        assert sim.terminal("87654321")["lri"] is None


def test_cli_arguments_parse():
    p = argparse.ArgumentParser()
    hostsim_cli.add_arguments(p)
    args = p.parse_args(["--listen", "127.0.0.1:0", "--fault", "late:delay=2,count=always"])
    assert args.listen == "127.0.0.1:0" and args.fault == ["late:delay=2,count=always"]
