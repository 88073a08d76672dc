"""A small EMV kernel for the card tests: sends the C-APDUs a terminal sends and checks the
answers with code independent of hostlib.card -- pyemv's TLV decoder and cryptography, the
issuer master keys rebuilt from the documented seed, and RSA recovery by plain pow()."""

from __future__ import annotations

import hashlib
import warnings

import pyemv
from cryptography.utils import CryptographyDeprecationWarning

from hostlib.card import certs

PSE = b"1PAY.SYS.DDF01"
PPSE = b"2PAY.SYS.DDF01"
DEBIT_AID = bytes.fromhex("A000000333010101")
CREDIT_AID = bytes.fromhex("A000000333010102")
SEED = b"poskit test issuer master key, never a real one"  # docs/cards.md

# A sale of 12.34 on 2026-12-07 at 18:55:00, TVR clean: what the terminal fills DOLs with.
TERMINAL = {
    "9F02": bytes.fromhex("000000001234"),
    "9F03": bytes(6),
    "9F1A": bytes.fromhex("0156"),
    "95": bytes(5),
    "5F2A": bytes.fromhex("0156"),
    "9A": bytes.fromhex("261207"),
    "9C": b"\x00",
    "9F37": bytes.fromhex("11223344"),
    "9F21": bytes.fromhex("185500"),
    "9F7A": b"\x01",
    "9F66": bytes.fromhex("26000080"),  # qPBOC, EMV contact, online PIN, signature
}


def quiet(function, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return function(*args)


def decode(data: bytes) -> dict:
    return pyemv.tlv.decode(data)


def sw(rapdu: bytes) -> str:
    return rapdu[-2:].hex().upper()


def parse_dol(dol: bytes) -> list[tuple[str, int]]:
    """Tags (as pyemv names them) and lengths; EMV tags here are one or two bytes."""
    out, pos = [], 0
    while pos < len(dol):
        size = 2 if dol[pos] & 0x1F == 0x1F else 1
        out.append((dol[pos : pos + size].hex().upper(), dol[pos + size]))
        pos += size + 1
    return out


def dol_data(dol: bytes, values: dict) -> bytes:
    return b"".join(values.get(tag, bytes(length)).ljust(length, b"\0") for tag, length in dol)


def issuer_master_key(purpose: str) -> bytes:
    digest = hashlib.sha256(SEED + b"/" + purpose.encode()).digest()
    return quiet(pyemv.tools.adjust_key_parity, digest[:16])


def session_key(pan: str, psn: str, atc: bytes) -> bytes:
    icc = quiet(pyemv.kd.derive_icc_mk_a, issuer_master_key("ac"), pan, psn)
    return quiet(pyemv.kd.derive_common_sk, icc, atc + bytes(6))


def expected_ac(pan, psn, values: dict, aip: bytes, atc: bytes, iad: bytes) -> bytes:
    """The cryptogram recomputed from the IMK: docs/cards.md's data, CVR = 9F10 bytes 4-7."""
    data = b"".join(
        values[tag] for tag in ("9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C", "9F37")
    )
    data += aip + atc + iad[3:7]
    return quiet(pyemv.ac.generate_ac, session_key(pan, psn, atc), data)


def arpc(pan, psn, atc: bytes, arqc: bytes, arc: bytes) -> bytes:
    return quiet(pyemv.ac.generate_arpc_1, session_key(pan, psn, atc), arqc, arc)


def script_command(pan, psn, atc, arqc, header: bytes, data: bytes) -> bytes:
    """An issuer script command: header (CLA INS P1 P2), Lc counting the 4-byte MAC."""
    smi = quiet(pyemv.kd.derive_icc_mk_a, issuer_master_key("smi"), pan, psn)
    session = quiet(pyemv.kd.derive_common_sk, smi, arqc)
    head = header + bytes([len(data) + 4])
    mac = quiet(pyemv.sm.generate_command_mac, session, head + atc + arqc + data, 4)
    return head + data + mac


def recover(modulus: int, exponent: int, signed: bytes) -> bytes:
    return pow(int.from_bytes(signed, "big"), exponent, modulus).to_bytes(len(signed), "big")


class OdaError(AssertionError):
    pass


def _check(block: bytes, fmt: int, hashed_after: bytes) -> bytes:
    if block[0] != 0x6A or block[-1] != 0xBC or block[1] != fmt:
        raise OdaError("format %02X: bad header or trailer" % fmt)
    if hashlib.sha1(block[1:-21] + hashed_after).digest() != block[-21:-1]:
        raise OdaError("format %02X: hash does not match" % fmt)
    return block


def issuer_public_key(tags: dict) -> tuple[int, int]:
    """From 8F, 90, 92, 9F32 with the test CA key (what the terminal downloaded)."""
    ca = certs.ca_key(tags["8F"][0]).key
    exponent = tags["9F32"]
    block = _check(
        recover(ca.modulus, ca.exponent, tags["90"]), 0x02, tags.get("92", b"") + exponent
    )
    length = block[13]
    modulus = (block[15:-21] + tags.get("92", b""))[:length]
    return int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big")


def static_data(records: list[tuple[int, bytes]], aip: bytes) -> bytes:
    out = b""
    for _sfi, record in records:  # SFI 1 to 10: the value of template 70
        out += record[3:] if record[1] == 0x81 else record[2:]
    return out + aip


def verify_sda(tags: dict, signed_records, aip: bytes) -> None:
    modulus, exponent = issuer_public_key(tags)
    _check(recover(modulus, exponent, tags["93"]), 0x03, static_data(signed_records, aip))


def icc_public_key(tags: dict, signed_records, aip: bytes) -> tuple[int, int]:
    modulus, exponent = issuer_public_key(tags)
    icc_exponent = tags["9F47"]
    block = _check(
        recover(modulus, exponent, tags["9F46"]),
        0x04,
        tags.get("9F48", b"") + icc_exponent + static_data(signed_records, aip),
    )
    length = block[19]
    icc_modulus = (block[21:-21] + tags.get("9F48", b""))[:length]
    return int.from_bytes(icc_modulus, "big"), int.from_bytes(icc_exponent, "big")


def verify_sdad(icc_key: tuple[int, int], sdad: bytes, terminal_data: bytes) -> bytes:
    """Check a format 05 signature; returns the ICC dynamic number."""
    block = _check(recover(icc_key[0], icc_key[1], sdad), 0x05, terminal_data)
    length = block[3]
    dynamic = block[4 : 4 + length]
    return dynamic[1 : 1 + dynamic[0]]


class Kernel:
    """Drives one card through a contact or contactless transaction, step by step."""

    def __init__(self, card, terminal: dict | None = None):
        self.card = card
        self.terminal = dict(TERMINAL if terminal is None else terminal)
        self.tags: dict = {}
        self.signed_records: list[tuple[int, bytes]] = []
        self.card_data: set[str] = set()  # primitive tags from the GPO answer and the records
        self.log: list[tuple[bytes, bytes]] = []

    def start(self, aid: bytes = DEBIT_AID) -> Kernel:
        """SELECT the application, GET PROCESSING OPTIONS, READ RECORD every AFL entry."""
        self.select_app(aid)
        self.processing_options()
        self.read_application_data()
        return self

    def send(self, hex_or_bytes) -> bytes:
        command = bytes.fromhex(hex_or_bytes) if isinstance(hex_or_bytes, str) else hex_or_bytes
        answer = self.card.apdu(command)
        self.log.append((command, answer))
        return answer

    def select(self, name: bytes, p2: int = 0) -> bytes:
        return self.send(bytes([0x00, 0xA4, 0x04, p2, len(name)]) + name + b"\0")

    def read_record(self, sfi: int, number: int) -> bytes:
        return self.send(bytes([0x00, 0xB2, number, sfi << 3 | 4, 0]))

    def directory(self) -> list[dict]:
        """SELECT PSE and its directory records: the application entries (61)."""
        fci = decode(self.select(PSE)[:-2])
        sfi = fci["6F"]["A5"]["88"][0]
        entries, number = [], 1
        while True:
            answer = self.read_record(sfi, number)
            if sw(answer) == "6A83":
                return entries
            assert sw(answer) == "9000", answer.hex()
            entries.append(decode(answer[:-2])["70"]["61"])
            number += 1

    def select_app(self, aid: bytes = DEBIT_AID) -> dict:
        answer = self.select(aid)
        assert sw(answer) in ("9000", "6283"), answer.hex()
        fci = decode(answer[:-2])["6F"]
        self.tags.update(fci["A5"])
        return fci

    def gpo(self, pdol_values: dict | None = None) -> bytes:
        pdol = parse_dol(self.tags.get("9F38", b""))
        data = dol_data(pdol, self.terminal if pdol_values is None else pdol_values)
        return self.send(bytes([0x80, 0xA8, 0, 0, len(data) + 2, 0x83, len(data)]) + data + b"\0")

    def processing_options(self) -> tuple[bytes, bytes]:
        answer = self.gpo()
        assert sw(answer) == "9000", answer.hex()
        body = answer[:-2]
        if body[0] == 0x80:
            value = decode(body)["80"]
            aip, afl = value[:2], value[2:]
        else:
            fields = decode(body)["77"]
            aip, afl = fields["82"], fields["94"]
            self.collect(fields)
        self.tags["82"], self.tags["94"] = aip, afl
        return aip, afl

    def read_application_data(self) -> None:
        afl = self.tags["94"]
        for i in range(0, len(afl), 4):
            sfi, first, last, oda = afl[i] >> 3, afl[i + 1], afl[i + 2], afl[i + 3]
            for number in range(first, last + 1):
                answer = self.read_record(sfi, number)
                assert sw(answer) == "9000", (sfi, number, answer.hex())
                record = answer[:-2]
                assert record[0] == 0x70
                self.collect(decode(record)["70"])
                if number < first + oda:
                    self.signed_records.append((sfi, record))

    def collect(self, objects: dict) -> None:
        """Take the GPO answer's or a record's primitives: each may come only once (EMV Book 3
        10.2: a kernel terminates the transaction on a redundant one)."""
        for tag, value in objects.items():
            assert not isinstance(value, dict), "a template inside a record: " + tag
            assert tag not in self.card_data, "the card gave %s twice" % tag
            self.card_data.add(tag)
            self.tags[tag] = value

    def generate_ac(self, p1: int, dol_tag: str = "8C", extra: dict | None = None) -> dict:
        values = dict(self.terminal, **(extra or {}))
        data = dol_data(parse_dol(self.tags[dol_tag]), values)
        answer = self.send(bytes([0x80, 0xAE, p1, 0, len(data)]) + data + b"\0")
        assert sw(answer) == "9000", answer.hex()
        body = answer[:-2]
        if body[0] == 0x80:
            value = decode(body)["80"]
            return {"9F27": value[:1], "9F36": value[1:3], "9F26": value[3:11], "9F10": value[11:]}
        return decode(body)["77"]

    @property
    def pan(self) -> str:
        return self.tags["5A"].hex().upper().rstrip("F")

    @property
    def psn(self) -> str:
        return self.tags["5F34"].hex()
