r"""Offline data authentication material of test PBOC cards: RSA keys and EMV certificates.

    from hostlib.card import certs

    ca = certs.ca_key(0x82)                         # UnionPay test CA key 82: 1408 bits, e = 3
    issuer = certs.rsa_key("issuer 621234", 1152)   # the same name gives the same key, always
    icc = certs.rsa_key("card 6212345678901234", 1024)
    issuer_cert = certs.issuer_certificate(ca, issuer, issuer_id="621234", expiry="1230")
    static = certs.static_data([(1, record_1), (2, record_2)], aip=b"\x7c\x00", tag_list=b"\x82")
    icc_cert = certs.icc_certificate(
        issuer, icc, pan="6212345678901234", expiry="1230", static_data=static
    )
    card_tags = {0x8F: bytes([ca.index]), **issuer_cert.tags, **icc_cert.tags}
    card_tags[0x93] = certs.signed_static_data(issuer, static)              # for SDA
    sdad = certs.signed_dynamic_data(icc, b"\x12\x34", terminal_dynamic_data=unpredictable)

Every structure is laid out as EMV 4.3 Book 2 (and PBOC 3.0 part 7, which follows it) says:
signed with the signer's private key by raw RSA (ISO/IEC 9796-2 with message recovery), the
recovered block `6A | format | fields | hash | BC`, SHA-1 over the format byte to the end of the
fields plus the data that is not in the block (the key remainder and exponent, the static data,
the terminal's dynamic data), padding BB:

| structure | tag (remainder, exponent) | format | signed by | length |
|---|---|---|---|---|
| issuer public key certificate | 90 (92, 9F32) | 02 | CA | N_CA |
| ICC public key certificate | 9F46 (9F48, 9F47) | 04 | issuer | N_I |
| Signed Static Application Data (SDA) | 93 | 03 | issuer | N_I |
| Signed Dynamic Application Data (DDA) | 9F4B | 05 | ICC | N_IC |

THESE ARE TEST KEYS. Their private halves are derived from public names (`rsa_key`) so the
card emulator, the tests and the benchmarks make the same cards on every machine; the test CA
keys (`TEST_CA_KEYS`, RID A000000333 with indexes 80-84, which no live UnionPay key uses) must
never be loaded into a terminal that takes live cards.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa

from hostlib.errors import PoskitError

UNIONPAY_RID = bytes.fromhex("A000000333")
SHA1 = 0x01  # hash algorithm indicator: SHA-1, the only one EMV and PBOC define
RSA = 0x01  # public key algorithm indicator: RSA

# The test CA keys: index -> (modulus bits, exponent). 1024, 1152, 1408 and 1984 bits are the
# sizes CA keys have had; UnionPay's live keys use exponent 3, 84 tries 65537.
TEST_CA_KEYS = {
    0x80: (1024, 3),
    0x81: (1152, 3),
    0x82: (1408, 3),
    0x83: (1984, 3),
    0x84: (1408, 65537),
}
# What the CA key download (CUP parameter DF05) says of them: valid to the end of 2030.
TEST_CA_EXPIRY = "20301231"


class CertificateError(PoskitError):
    """A certificate that cannot be made as asked (a key too long for its signer, a PAN that is
    not digits...); the message says which."""


@dataclass(frozen=True)
class RsaKey:
    """A test RSA key pair. `sign` and `recover` are raw RSA (no padding), as EMV uses it."""

    modulus: int
    exponent: int
    private_exponent: int = field(repr=False)
    p: int = field(repr=False)
    q: int = field(repr=False)

    @property
    def size(self) -> int:
        """The modulus length in bytes (N_CA, N_I or N_IC in Book 2)."""
        return (self.modulus.bit_length() + 7) // 8

    @property
    def modulus_bytes(self) -> bytes:
        return self.modulus.to_bytes(self.size, "big")

    @property
    def exponent_bytes(self) -> bytes:
        """The exponent as cards and CA key downloads carry it: 03, or 01 00 01."""
        return self.exponent.to_bytes((self.exponent.bit_length() + 7) // 8, "big")

    def sign(self, block: bytes) -> bytes:
        """The private operation on a block of exactly `size` bytes below the modulus."""
        if len(block) != self.size:
            raise CertificateError("a %d-byte block for a %d-byte key" % (len(block), self.size))
        value = int.from_bytes(block, "big")
        if value >= self.modulus:
            raise CertificateError("the block is not below the modulus")
        # Chinese remainder theorem: four times faster than pow(value, d, n).
        m1 = pow(value, self.private_exponent % (self.p - 1), self.p)
        m2 = pow(value, self.private_exponent % (self.q - 1), self.q)
        h = (pow(self.q, -1, self.p) * (m1 - m2)) % self.p
        return (m2 + h * self.q).to_bytes(self.size, "big")

    def recover(self, signed: bytes) -> bytes:
        """The public operation: what a terminal recovers from a signature."""
        if len(signed) != self.size:
            raise CertificateError("a %d-byte block for a %d-byte key" % (len(signed), self.size))
        return pow(int.from_bytes(signed, "big"), self.exponent, self.modulus).to_bytes(
            self.size, "big"
        )

    def private_key(self) -> rsa.RSAPrivateKey:
        """The same key as a `cryptography` object (PEM export, checks by OpenSSL)."""
        public = rsa.RSAPublicNumbers(self.exponent, self.modulus)
        return rsa.RSAPrivateNumbers(
            self.p,
            self.q,
            self.private_exponent,
            rsa.rsa_crt_dmp1(self.private_exponent, self.p),
            rsa.rsa_crt_dmq1(self.private_exponent, self.q),
            rsa.rsa_crt_iqmp(self.p, self.q),
            public,
        ).private_key()


@dataclass(frozen=True)
class CaKey:
    """A certification authority key as a terminal holds it (plus, here, its private half)."""

    rid: bytes
    index: int
    key: RsaKey
    expiry: str = TEST_CA_EXPIRY  # YYYYMMDD

    def check_value(self) -> bytes:
        """SHA-1 of RID | index | modulus | exponent: the check value a CA key download
        carries (CUP parameter DF03, EMV Book 2 11.2.2) and the terminal recomputes."""
        return hashlib.sha1(
            self.rid + bytes([self.index]) + self.key.modulus_bytes + self.key.exponent_bytes
        ).digest()


@dataclass(frozen=True)
class Certificate:
    """A public key certificate with the two data objects that travel with it: the part of the
    key that did not fit (`remainder`, empty when none) and the key's exponent. `tags` maps the
    card's tags to them (90/92/9F32 or 9F46/9F48/9F47); no remainder object when it is empty."""

    certificate: bytes
    remainder: bytes
    exponent: bytes
    tag_numbers: tuple[int, int, int]

    @property
    def tags(self) -> dict[int, bytes]:
        cert_tag, remainder_tag, exponent_tag = self.tag_numbers
        out = {cert_tag: self.certificate, exponent_tag: self.exponent}
        if self.remainder:
            out[remainder_tag] = self.remainder
        return out


# -- keys from names -------------------------------------------------------------------------


def _stream(seed: bytes):
    """SHA-256 in counter mode: the deterministic random bits a named key is made from."""
    counter = 0
    while True:
        yield hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1


def _random_int(stream, bits: int) -> int:
    data = b""
    while len(data) * 8 < bits:
        data += next(stream)
    return int.from_bytes(data, "big") >> (len(data) * 8 - bits)


_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, math.isqrt(p) + 1))]


def _probable_prime(candidate: int, stream) -> bool:
    if any(candidate % p == 0 for p in _SMALL_PRIMES):
        return candidate in _SMALL_PRIMES
    d, s = candidate - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(40):  # Miller-Rabin, bases from the stream: error below 2**-80
        x = pow(2 + _random_int(stream, candidate.bit_length() - 2), d, candidate)
        if x in (1, candidate - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, candidate)
            if x == candidate - 1:
                break
        else:
            return False
    return True


def _prime(stream, bits: int, exponent: int) -> int:
    while True:
        # The top two bits set: the product of two such primes has exactly 2 * bits bits.
        candidate = _random_int(stream, bits) | (3 << (bits - 2)) | 1
        if math.gcd(candidate - 1, exponent) == 1 and _probable_prime(candidate, stream):
            return candidate


@functools.lru_cache(maxsize=64)
def rsa_key(name: str, bits: int, exponent: int = 3) -> RsaKey:
    """The TEST key named `name`: `bits` long (a multiple of 16 up to 1984), with public
    exponent 3 or 65537. The same arguments give the same key on every machine."""
    if bits % 16 or not 512 <= bits <= 1984:
        raise CertificateError("key length %d: a multiple of 16 from 512 to 1984 bits" % bits)
    if exponent not in (3, 65537):
        raise CertificateError("exponent %d: EMV keys use 3 or 65537" % exponent)
    stream = _stream(b"poskit TEST rsa key|%s|%d|%d" % (name.encode(), bits, exponent))
    p = _prime(stream, bits // 2, exponent)
    q = _prime(stream, bits // 2, exponent)
    while q == p:
        q = _prime(stream, bits // 2, exponent)
    p, q = max(p, q), min(p, q)
    d = pow(exponent, -1, math.lcm(p - 1, q - 1))
    return RsaKey(p * q, exponent, d, p, q)


def ca_key(index: int = 0x82) -> CaKey:
    """The UnionPay TEST CA key `index` (80-84, see TEST_CA_KEYS)."""
    if index not in TEST_CA_KEYS:
        raise CertificateError(
            "no test CA key %02X (there are %s)"
            % (index, " ".join("%02X" % i for i in sorted(TEST_CA_KEYS)))
        )
    bits, exponent = TEST_CA_KEYS[index]
    return CaKey(UNIONPAY_RID, index, rsa_key("UnionPay test CA %02X" % index, bits, exponent))


# -- the certificates ------------------------------------------------------------------------


def _digits(text: str, what: str, lengths: range) -> str:
    if not text.isdigit() or not text.isascii() or len(text) not in lengths:
        raise CertificateError(
            "%s %r: %d to %d digits" % (what, text, lengths.start, lengths.stop - 1)
        )
    return text


def _padded(digits: str, size: int) -> bytes:
    """Digits as BCD, padded on the right with F nibbles to `size` bytes."""
    return bytes.fromhex(digits + "F" * (size * 2 - len(digits)))


def _expiry(mmyy: str) -> bytes:
    _digits(mmyy, "expiry date (MMYY)", range(4, 5))
    if not 1 <= int(mmyy[:2]) <= 12:
        raise CertificateError("expiry date %r: the month is 01 to 12" % mmyy)
    return bytes.fromhex(mmyy)


def _serial(serial: bytes) -> bytes:
    if len(serial) != 3:
        raise CertificateError("a certificate serial number is 3 bytes")
    return serial


def _key_fields(signer: RsaKey, key: RsaKey, header_size: int):
    """Split `key`'s modulus into what fits in the certificate (padded with BB) and the
    remainder, for a certificate whose fixed fields take `header_size` bytes besides 6A, the
    hash and BC."""
    room = signer.size - header_size - 22
    if key.size > signer.size:
        raise CertificateError(
            "a %d-bit key cannot be certified by a %d-bit key"
            % (key.size * 8, signer.modulus.bit_length())
        )
    modulus = key.modulus_bytes
    if len(modulus) <= room:
        return modulus + b"\xbb" * (room - len(modulus)), b""
    return modulus[:room], modulus[room:]


def _sign(signer: RsaKey, body: bytes, hashed_after: bytes) -> bytes:
    """6A | body | SHA-1(body | hashed_after) | BC, signed."""
    digest = hashlib.sha1(body + hashed_after).digest()
    return signer.sign(b"\x6a" + body + digest + b"\xbc")


def issuer_certificate(
    ca: CaKey,
    issuer: RsaKey,
    *,
    issuer_id: str,
    expiry: str,
    serial: bytes = b"\x00\x00\x01",
) -> Certificate:
    """The issuer public key certificate (tag 90, format 02) signed by `ca`, with 92 and 9F32.

    `issuer_id`: the leftmost 3 to 8 digits of the PANs the key signs for; `expiry`: MMYY,
    valid to the end of that month."""
    identifier = _padded(_digits(issuer_id, "issuer identifier", range(3, 9)), 4)
    in_cert, remainder = _key_fields(ca.key, issuer, 14)
    body = (
        b"\x02"
        + identifier
        + _expiry(expiry)
        + _serial(serial)
        + bytes([SHA1, RSA, issuer.size, len(issuer.exponent_bytes)])
        + in_cert
    )
    signed = _sign(ca.key, body, remainder + issuer.exponent_bytes)
    return Certificate(signed, remainder, issuer.exponent_bytes, (0x90, 0x92, 0x9F32))


def icc_certificate(
    issuer: RsaKey,
    icc: RsaKey,
    *,
    pan: str,
    expiry: str,
    static_data: bytes,
    serial: bytes = b"\x00\x00\x01",
) -> Certificate:
    """The ICC public key certificate (tag 9F46, format 04) signed by `issuer`, with 9F48 and
    9F47. Its hash covers `static_data` (see static_data()), which a DDA terminal checks
    through it."""
    in_cert, remainder = _key_fields(issuer, icc, 20)
    body = (
        b"\x04"
        + _padded(_digits(pan, "PAN", range(12, 20)), 10)
        + _expiry(expiry)
        + _serial(serial)
        + bytes([SHA1, RSA, icc.size, len(icc.exponent_bytes)])
        + in_cert
    )
    signed = _sign(issuer, body, remainder + icc.exponent_bytes + static_data)
    return Certificate(signed, remainder, icc.exponent_bytes, (0x9F46, 0x9F48, 0x9F47))


def signed_static_data(
    issuer: RsaKey, static_data: bytes, *, data_authentication_code: bytes = b"\xda\xc1"
) -> bytes:
    """Signed Static Application Data (tag 93, format 03) over `static_data`. The 2-byte data
    authentication code is the issuer's choice; the terminal keeps it as 9F45."""
    if len(data_authentication_code) != 2:
        raise CertificateError("a data authentication code is 2 bytes")
    body = b"\x03" + bytes([SHA1]) + data_authentication_code + b"\xbb" * (issuer.size - 26)
    return _sign(issuer, body, static_data)


def signed_dynamic_data(
    icc: RsaKey, icc_dynamic_number: bytes, *, terminal_dynamic_data: bytes
) -> bytes:
    """Signed Dynamic Application Data (tag 9F4B, format 05) for DDA: the card's answer to
    INTERNAL AUTHENTICATE. `icc_dynamic_number`: 2 to 8 bytes the card makes up;
    `terminal_dynamic_data`: the DDOL's data the terminal sent (9F37 by default)."""
    if not 2 <= len(icc_dynamic_number) <= 8:
        raise CertificateError("an ICC dynamic number is 2 to 8 bytes")
    return dynamic_signature(
        icc, bytes([len(icc_dynamic_number)]) + icc_dynamic_number, terminal_dynamic_data
    )


def dynamic_signature(icc: RsaKey, icc_dynamic_data: bytes, terminal_dynamic_data: bytes) -> bytes:
    """The format 05 signature over any ICC dynamic data (for CDA the card puts the
    cryptogram information data, the cryptogram and the transaction data hash after the
    dynamic number)."""
    pad = icc.size - len(icc_dynamic_data) - 25
    if pad < 0:
        raise CertificateError("%d bytes of ICC dynamic data do not fit" % len(icc_dynamic_data))
    body = b"\x05" + bytes([SHA1, len(icc_dynamic_data)]) + icc_dynamic_data + b"\xbb" * pad
    return _sign(icc, body, terminal_dynamic_data)


def static_data(
    records: list[tuple[int, bytes]], *, aip: bytes = b"", tag_list: bytes = b""
) -> bytes:
    """The static data to be authenticated (Book 3 10.3): each (SFI, record) the AFL marks for
    ODA, in the order read -- for SFI 1 to 10 the value of the record's template 70, for 11
    to 30 the whole record -- then, when the static data authentication tag list (9F4A) is
    82, the AIP's value."""
    out = b""
    for sfi, record in records:
        if not 1 <= sfi <= 30:
            raise CertificateError("SFI %d: 1 to 30" % sfi)
        out += _template_70(record) if sfi <= 10 else record
    if tag_list:
        if tag_list != b"\x82":
            raise CertificateError("the static data authentication tag list may only hold 82")
        if len(aip) != 2:
            raise CertificateError("the AIP is 2 bytes")
        out += aip
    return out


def _template_70(record: bytes) -> bytes:
    """The value of a record that is exactly one template 70."""
    if len(record) < 2 or record[0] != 0x70:
        raise CertificateError("a record for ODA from SFI 1 to 10 is a template 70")
    length, start = record[1], 2
    if length in (0x81, 0x82):
        size = length - 0x80
        length, start = int.from_bytes(record[2 : 2 + size], "big"), 2 + size
    if start + length != len(record):
        raise CertificateError("record template 70 of %d bytes says %d" % (len(record), length))
    return record[start:]
