"""The test issuer's symmetric keys and cryptograms: what the emulated cards compute and what
a host simulator recomputes to check them.

    from hostlib.card import issuer
    keys = issuer.issuer_keys("6224242900000113", "01")    # this card's ICC master keys
    session = issuer.session_key(keys.ac, atc)               # atc: 2 bytes
    arqc = issuer.cryptogram(session, issuer.ac_data(values, aip, atc, cvr))
    arpc = issuer.arpc(session, arqc, b"00")                 # ARPC method 1, ARC "00"
    mac = issuer.script_mac(keys.smi, atc, arqc, command_without_mac)

    # A host with field 55's tags by number (9F02 ... 9F37, 82, 9F36, 9F10, 9F26):
    issuer.check_cryptogram(pan, psn, tags)                   # True when 9F26 is the card's
    issuer.issuer_authentication_data(pan, psn, tags, b"00")  # the value of tag 91

The issuer master keys are TEST keys, derived from the fixed, public seed TEST_ISSUER_SEED
("poskit test issuer master key, never a real one"): SHA-256(seed || "/" || purpose), first
16 bytes, DES odd parity, for the purposes "ac" (application cryptograms), "smi" (script
integrity) and "smc" (script confidentiality). No card file holds a key: every card's
master keys follow from its PAN and PAN sequence number (EMV Book 2 A1.4.1, option A), so a
host simulator needs nothing but this module to verify a card's ARQC and answer an ARPC.
A real issuer keeps its master keys in an HSM; never put a real key here.

Cryptograms (PBOC 3.0 part 5 and EMV Book 2 8.1, as docs/cards.md spells out):
- session key: EMV common session key derivation, R = ATC || 00 00 00 00 00 00;
- AC (ARQC, TC, AAC): ISO 9797-1 MAC algorithm 3, padding method 2, 8 bytes, over
  9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 (from the terminal's CDOL or PDOL data) || 82 AIP ||
  9F36 ATC || the 4 CVR bytes of 9F10;
- ARPC: method 1, 3DES(session key)[ARQC XOR (ARC || 00 * 6)]; tag 91 = ARPC || ARC;
- script MAC: 4 bytes, ISO 9797-1 algorithm 3 padding 2 under the script session key
  (common derivation from the SMI master key with R = ARQC), over
  CLA INS P1 P2 Lc || ATC || ARQC || data, Lc counting the MAC.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pyemv
from cryptography.utils import CryptographyDeprecationWarning

TEST_ISSUER_SEED = b"poskit test issuer master key, never a real one"

# The terminal data an application cryptogram covers, in the order EMV Book 2 recommends;
# each has a fixed length, and a value the terminal did not send counts as zeros.
AC_TERMINAL_DATA = (
    (0x9F02, 6),  # amount, authorised
    (0x9F03, 6),  # amount, other
    (0x9F1A, 2),  # terminal country code
    (0x95, 5),  # terminal verification results
    (0x5F2A, 2),  # transaction currency code
    (0x9A, 3),  # transaction date
    (0x9C, 1),  # transaction type
    (0x9F37, 4),  # unpredictable number
)

# 9F10's derivation key index: which generation of the issuer master keys a card uses.
KEY_INDEX = 0x01

_T = TypeVar("_T")


def _quiet(function: Callable[..., _T], *args) -> _T:
    """Call a pyemv function without the deprecation warnings its use of cryptography's
    two-key TripleDES raises (still supported; a terminal engineer's console stays clean)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return function(*args)


@dataclass(frozen=True)
class CardKeys:
    """A triple of double-length DES keys: for application cryptograms, script integrity and
    script confidentiality (the issuer's master keys, or one card's)."""

    ac: bytes
    smi: bytes
    smc: bytes

    def __repr__(self) -> str:  # never print a key, even a test one, by accident
        return "CardKeys(<3 keys>)"


def _test_master_key(purpose: str) -> bytes:
    digest = hashlib.sha256(TEST_ISSUER_SEED + b"/" + purpose.encode()).digest()
    return _quiet(pyemv.tools.adjust_key_parity, digest[:16])


def issuer_master_keys() -> CardKeys:
    """The test issuer's master keys (IMK-AC, IMK-SMI, IMK-SMC)."""
    return CardKeys(_test_master_key("ac"), _test_master_key("smi"), _test_master_key("smc"))


def issuer_keys(pan: str, psn: str = "00") -> CardKeys:
    """One card's ICC master keys: EMV option A from the issuer's over PAN and PSN.

    `pan` is the digits of 5A (no padding F); `psn` the two digits of 5F34."""
    if not pan.isdigit() or not 12 <= len(pan) <= 19:
        raise ValueError("a PAN is 12 to 19 digits, got %r" % pan)
    if len(psn) != 2 or not psn.isdigit():
        raise ValueError("a PAN sequence number is two digits, got %r" % psn)
    imk = issuer_master_keys()
    return CardKeys(
        _quiet(pyemv.kd.derive_icc_mk_a, imk.ac, pan, psn),
        _quiet(pyemv.kd.derive_icc_mk_a, imk.smi, pan, psn),
        _quiet(pyemv.kd.derive_icc_mk_a, imk.smc, pan, psn),
    )


def session_key(icc_master_key: bytes, atc: bytes) -> bytes:
    """The AC session key for one transaction: common derivation, R = ATC || 00 * 6."""
    if len(atc) != 2:
        raise ValueError("the ATC is 2 bytes, got %d" % len(atc))
    return _quiet(pyemv.kd.derive_common_sk, icc_master_key, atc + bytes(6))


def ac_data(terminal: dict[int, bytes], aip: bytes, atc: bytes, cvr: bytes) -> bytes:
    """The bytes an application cryptogram covers: AC_TERMINAL_DATA's values from
    `terminal` (by tag; missing ones as zeros), then AIP, ATC and the 4-byte CVR."""
    parts = [
        terminal.get(tag, bytes(length)).rjust(length, b"\0")[-length:]
        for tag, length in AC_TERMINAL_DATA
    ]
    return b"".join(parts) + aip + atc + cvr


def cryptogram(session: bytes, data: bytes) -> bytes:
    """The 8-byte ARQC, TC or AAC over `data` (from ac_data)."""
    return _quiet(pyemv.ac.generate_ac, session, data)


def arpc(session: bytes, arqc: bytes, arc: bytes) -> bytes:
    """The issuer's 8-byte answer to an ARQC (method 1) for a 2-byte response code."""
    return _quiet(pyemv.ac.generate_arpc_1, session, arqc, arc)


def script_session_key(icc_smi_key: bytes, arqc: bytes) -> bytes:
    """The session key for script MACs: common derivation with R = the transaction's ARQC."""
    return _quiet(pyemv.kd.derive_common_sk, icc_smi_key, arqc)


def script_mac(icc_smi_key: bytes, atc: bytes, arqc: bytes, command: bytes) -> bytes:
    """The 4-byte MAC an issuer script command carries.

    `command` is the script command as sent but without its MAC: CLA INS P1 P2 Lc data,
    where Lc already counts the 4 MAC bytes."""
    session = script_session_key(icc_smi_key, arqc)
    return _quiet(
        pyemv.sm.generate_command_mac, session, command[:5] + atc + arqc + command[5:], 4
    )


def expected_cryptogram(pan: str, psn: str, tags: dict[int, bytes]) -> bytes:
    """The cryptogram the card `pan`/`psn` computes for the data in `tags` (field 55's
    objects by tag number: the terminal data, 82, 9F36 and 9F10); KeyError if one of 82, 9F36,
    9F10 is missing, ValueError if 9F10 is too short to hold a CVR."""
    iad = tags[0x9F10]
    if len(iad) < 7:
        raise ValueError("9F10 of %d bytes holds no CVR (bytes 4-7)" % len(iad))
    atc = tags[0x9F36]
    session = session_key(issuer_keys(pan, psn).ac, atc)
    return cryptogram(session, ac_data(tags, tags[0x82], atc, iad[3:7]))


def check_cryptogram(pan: str, psn: str, tags: dict[int, bytes]) -> bool:
    """Whether 9F26 in `tags` is the cryptogram of the card `pan`/`psn` over that data."""
    return tags.get(0x9F26) == expected_cryptogram(pan, psn, tags)


def issuer_authentication_data(pan: str, psn: str, tags: dict[int, bytes], arc: bytes) -> bytes:
    """Tag 91 for the answer to the ARQC in `tags`: ARPC (method 1) || ARC (2 ASCII bytes,
    field 39)."""
    if len(arc) != 2:
        raise ValueError("the authorisation response code is 2 bytes, got %d" % len(arc))
    session = session_key(issuer_keys(pan, psn).ac, tags[0x9F36])
    return arpc(session, tags[0x9F26], arc) + arc
