"""Offline data authentication: the card's certificates and signatures checked (EMV 4.3 Book 2
sections 5 and 6; PBOC 3.0 part 7).

    from app.emv import oda

    static = oda.static_data(records, aip=card[0x82], tag_list=card.get(0x9F4A))
    try:
        issuer = oda.issuer_key(card, ca_keys, rid, today, oda.SDA)  # today: 9A, YYMMDD BCD
        card[0x9F45] = oda.verify_sda(card, issuer, static)           # SDA: 93 checked
        # or DDA: the ICC key, then INTERNAL AUTHENTICATE with the DDOL's data
        icc = oda.icc_key(card, issuer, static, today)
        idn = oda.verify_dda(icc, answer[0x9F4B], ddol_data)          # 9F4C, the card's number
    except oda.OdaError as e:
        tvr[0] |= e.tvr                 # "SDA failed"/"DDA failed" (+ "ICC data missing")
        log(e.reason)                   # which check: "issuer certificate expired"...

`card` is a dict {tag: bytes-like} of what the card gave (tlv.collect of its records); `ca_keys`
the terminal's CA public keys (CaKey), from the CA key download. The checks, in the book's
order: the CA key the card names (8F) under the application's RID; the issuer public key
certificate (90, with 92 and 9F32) recovered with it -- its length, 6A header, BC trailer,
format 02, SHA-1 hash, the issuer identifier against the PAN's leading digits, its
expiry month against today, its serial number against the revocation list, the algorithm;
the ICC public key certificate (9F46, 9F48, 9F47) the same way with format 04, the whole PAN,
and its hash over the static data; the Signed Static Application Data (93, format 03) or the
Signed Dynamic Application Data (9F4B, format 05) over the terminal's dynamic data.

Every failure raises OdaError: `reason`, one of its class attributes, says which check failed;
`tvr` holds the bits of TVR byte 1 the kernel sets for it: the method's "failed" bit (SDA,
DDA or CDA, as the caller said), and "ICC data missing" when the card lacked a data object.

RSA here is only the public operation, pow(x, e, n) on MicroPython's big integers, and
SHA-1 comes from `hashlib` (on the ESP32 through mbedTLS). Timings: docs/emv.md.
"""

import binascii
import hashlib

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

from app.emv import tlv

# TVR byte 1 (Book 3 Annex C5). A check is made for a method, named by its "failed" bit.
SDA_FAILED = const(0x40)
ICC_DATA_MISSING = const(0x20)
DDA_FAILED = const(0x08)
CDA_FAILED = const(0x04)
SDA = SDA_FAILED
DDA = DDA_FAILED
CDA = CDA_FAILED

_SHA1 = const(0x01)  # hash algorithm indicator
# The longest fixed part of a recovered block (an ICC certificate's 42 bytes) and a byte of
# key: a key shorter (no CA certifies one) would leave the fields nowhere to be read.
_SMALLEST = const(43)
_RSA = const(0x01)  # public key algorithm indicator


class OdaError(Exception):
    """Offline data authentication failed: `reason` (below) and the TVR byte 1 bits `tvr`."""

    CA_KEY_NOT_FOUND = "CA key not found"
    DATA_MISSING = "ICC data missing"
    STATIC_DATA = "static data not TLV in template 70"
    TAG_LIST = "static data tag list not 82"
    ISSUER_CERTIFICATE = "issuer certificate malformed"
    ISSUER_HASH = "issuer certificate hash differs"
    ISSUER_ID = "issuer identifier not the PAN's"
    ISSUER_EXPIRED = "issuer certificate expired"
    ISSUER_REVOKED = "issuer certificate revoked"
    ICC_CERTIFICATE = "ICC certificate malformed"
    ICC_HASH = "ICC certificate hash differs"
    ICC_PAN = "ICC certificate for another PAN"
    ICC_EXPIRED = "ICC certificate expired"
    SSAD = "signed static data malformed"
    SSAD_HASH = "signed static data hash differs"
    SDAD = "signed dynamic data malformed"
    SDAD_HASH = "signed dynamic data hash differs"

    def __init__(self, reason, method):
        super().__init__(reason)
        self.reason = reason
        self.tvr = method | (ICC_DATA_MISSING if reason is OdaError.DATA_MISSING else 0)


class PublicKey:
    """An RSA public key: modulus and exponent as big-endian bytes (kept) and ints."""

    def __init__(self, modulus, exponent):
        self.modulus = bytes(modulus)
        self.exponent = bytes(exponent)
        self.size = len(self.modulus)
        self._n = int.from_bytes(self.modulus, "big")
        self._e = int.from_bytes(self.exponent, "big")

    def recover(self, signed):
        """The public operation on `signed` (exactly `size` bytes), as bytes; None when
        `signed` has another length or is not below the modulus."""
        if len(signed) != self.size:
            return None
        value = int.from_bytes(bytes(signed), "big")
        if value >= self._n:
            return None
        return pow(value, self._e, self._n).to_bytes(self.size, "big")


class CaKey(PublicKey):
    """A certification authority public key as the CA key download gives it: RID (5 bytes),
    index, modulus, exponent, and the download's check value (DF03) when it has one."""

    def __init__(self, rid, index, modulus, exponent, check_value=None):
        super().__init__(modulus, exponent)
        self.rid = bytes(rid)
        self.index = index
        self.check_value = None if check_value is None else bytes(check_value)

    def computed_check_value(self):
        """SHA-1 of RID | index | modulus | exponent (Book 2 11.2.2)."""
        h = hashlib.sha1(self.rid)
        h.update(bytes((self.index,)))
        h.update(self.modulus)
        h.update(self.exponent)
        return h.digest()

    def valid(self):
        """True when the key has a check value and it matches: a key to keep."""
        return self.check_value is not None and self.computed_check_value() == self.check_value


def find_ca_key(ca_keys, rid, index):
    """The CaKey of `ca_keys` with this RID and index, or None."""
    for key in ca_keys:
        if key.index == index and key.rid == rid:
            return key
    return None


def static_data(records, aip=None, tag_list=None, method=SDA):
    """The static data to be authenticated (Book 3 10.3) as a list of memoryviews to hash:
    for each (SFI, record) the AFL marks for ODA, in the order read, the value of template 70
    for SFI 1 to 10 and the whole record for 11 to 30; then the AIP when the tag list (9F4A)
    is 82. A record of SFI 1-10 that is not one template 70, or a tag list naming anything
    but 82, fails the method."""
    out = []
    for sfi, record in records:
        view = memoryview(record)
        if sfi > 10:
            out.append(view)
            continue
        try:
            tag, first, last = tlv.read(view, 0, len(view))
        except tlv.TlvError:
            raise OdaError(OdaError.STATIC_DATA, method) from None
        if tag != 0x70 or last != len(view):
            raise OdaError(OdaError.STATIC_DATA, method)
        out.append(view[first:last])
    if tag_list is not None and len(tag_list):
        if bytes(tag_list) != b"\x82":
            raise OdaError(OdaError.TAG_LIST, method)
        if aip is None:
            raise OdaError(OdaError.DATA_MISSING, method)
        out.append(memoryview(aip))
    return out


def _needed(card, tag, method):
    value = card.get(tag)
    if value is None:
        raise OdaError(OdaError.DATA_MISSING, method)
    return value


def _digest(block, end, *parts):
    """SHA-1 over block[1:end] (the format byte to the end of the signed fields) and parts
    (each bytes-like, or a list of them)."""
    h = hashlib.sha1(memoryview(block)[1:end])
    for part in parts:
        if isinstance(part, list):
            for chunk in part:
                h.update(chunk)
        elif part is not None:
            h.update(part)
    return h.digest()


def _open(key, signed, fmt, reason, method):
    """The block recovered from `signed` with its frame checked: as long as the key, at least
    as long as the format's fixed fields, 6A, format `fmt`, BC."""
    block = key.recover(signed)
    if (
        block is None
        or len(block) < _SMALLEST
        or block[0] != 0x6A
        or block[1] != fmt
        or block[-1] != 0xBC
    ):
        raise OdaError(reason, method)
    return block


def _expired(mmyy, today):
    """True when the month MMYY (BCD) ended before `today` (YYMMDD BCD): valid through the
    last day of its month. Years 50-99 are 1950-1999 (Book 3 Annex A5)."""
    month = _bcd(mmyy[0])
    if month is None or not 1 <= month <= 12:
        return True  # no readable date: not a certificate to trust
    year, now_year, now_month = _bcd(mmyy[1]), _bcd(today[0]), _bcd(today[1])
    if year is None or now_year is None or now_month is None:
        return True
    year += 1900 if year >= 50 else 2000
    now_year += 1900 if now_year >= 50 else 2000
    return year * 12 + month < now_year * 12 + now_month


def _bcd(byte):
    high, low = byte >> 4, byte & 0x0F
    if high > 9 or low > 9:
        return None
    return high * 10 + low


def _digits(data):
    """The digits of BCD `data` before its first F nibble, as hex text bytes (b"621234")."""
    text = binascii.hexlify(data)
    end = text.find(b"f")
    return text if end < 0 else text[:end]


def _certificate(signer, certificate, fmt, remainder, exponent, static, method, reason):
    """(recovered block, certified modulus) of an issuer (format 02) or ICC (04) public key
    certificate, its frame, indicators and hash checked (Book 2 5.3 and 6.4 steps 1-7); the
    caller checks the identity (issuer identifier or PAN) and the dates. `reason`: the
    certificate's "malformed" reason; `static`: static_data()'s list, or None (format 02)."""
    block = _open(signer, certificate, fmt, reason, method)
    # The fixed fields before the key: 14 bytes for an issuer, 20 for an ICC (its PAN is 10).
    modulus_at = 15 if fmt == 0x02 else 21
    if (
        block[modulus_at - 4] != _SHA1
        or block[modulus_at - 3] != _RSA
        or block[modulus_at - 1] != len(exponent)
    ):
        raise OdaError(reason, method)
    end = signer.size - 21  # the hash's first byte
    length = block[modulus_at - 2]
    room = end - modulus_at
    if length <= room:
        modulus = bytes(block[modulus_at : modulus_at + length])
    elif remainder is None:
        raise OdaError(OdaError.DATA_MISSING, method)
    elif len(remainder) != length - room:
        raise OdaError(reason, method)
    else:
        modulus = bytes(block[modulus_at:end]) + bytes(remainder)
    if _digest(block, end, remainder, exponent, static) != block[end:-1]:
        raise OdaError(OdaError.ISSUER_HASH if fmt == 0x02 else OdaError.ICC_HASH, method)
    return block, modulus


def issuer_key(card, ca_keys, rid, today, method, revoked=()):
    """The issuer public key (PublicKey) recovered from the card's certificate 90 with the
    CA key 8F names, every check of Book 2 5.3 made. `today`: the transaction date (9A, 3
    bytes BCD YYMMDD); `revoked`: RID | index | serial number (9 bytes) of each revoked
    issuer certificate; `method`: SDA, DDA or CDA, the TVR bit a failure sets."""
    index = _needed(card, 0x8F, method)
    certificate = _needed(card, 0x90, method)
    exponent = _needed(card, 0x9F32, method)
    pan = _needed(card, 0x5A, method)
    if len(index) != 1:
        raise OdaError(OdaError.CA_KEY_NOT_FOUND, method)
    ca = find_ca_key(ca_keys, rid, index[0])
    if ca is None:
        raise OdaError(OdaError.CA_KEY_NOT_FOUND, method)
    block, modulus = _certificate(
        ca, certificate, 0x02, card.get(0x92), exponent, None, method, OdaError.ISSUER_CERTIFICATE
    )
    issuer_id = _digits(block[2:6])
    if len(issuer_id) < 3 or not _digits(pan).startswith(issuer_id):
        raise OdaError(OdaError.ISSUER_ID, method)
    if _expired(block[6:8], today):
        raise OdaError(OdaError.ISSUER_EXPIRED, method)
    if revoked:
        serial = ca.rid + bytes((ca.index,)) + block[8:11]
        for entry in revoked:
            if entry == serial:
                raise OdaError(OdaError.ISSUER_REVOKED, method)
    return PublicKey(modulus, exponent)


def icc_key(card, issuer, static, today, method=DDA):
    """The ICC public key (PublicKey) recovered from 9F46 with the issuer key, every check of
    Book 2 6.4 made; `static` is static_data()'s list, which the certificate's hash covers."""
    certificate = _needed(card, 0x9F46, method)
    exponent = _needed(card, 0x9F47, method)
    pan = _needed(card, 0x5A, method)
    block, modulus = _certificate(
        issuer,
        certificate,
        0x04,
        card.get(0x9F48),
        exponent,
        static,
        method,
        OdaError.ICC_CERTIFICATE,
    )
    if _digits(block[2:12]) != _digits(pan):
        raise OdaError(OdaError.ICC_PAN, method)
    if _expired(block[12:14], today):
        raise OdaError(OdaError.ICC_EXPIRED, method)
    return PublicKey(modulus, exponent)


def verify_sda(card, issuer, static):
    """Check the card's Signed Static Application Data (93) over `static` with the issuer key
    (Book 2 5.4); returns the data authentication code (9F45, 2 bytes)."""
    signed = _needed(card, 0x93, SDA)
    block = _open(issuer, signed, 0x03, OdaError.SSAD, SDA)
    end = issuer.size - 21
    if block[2] != _SHA1:
        raise OdaError(OdaError.SSAD, SDA)
    if _digest(block, end, static) != block[end:-1]:
        raise OdaError(OdaError.SSAD_HASH, SDA)
    return bytes(block[3:5])


def verify_dda(icc, signed, terminal_data, method=DDA):
    """Check the Signed Dynamic Application Data (9F4B) of INTERNAL AUTHENTICATE with the ICC
    key over `terminal_data` (the DDOL's data the terminal sent) (Book 2 6.5); returns the
    ICC dynamic number (9F4C, 2 to 8 bytes)."""
    if signed is None:
        raise OdaError(OdaError.DATA_MISSING, method)
    block = _open(icc, signed, 0x05, OdaError.SDAD, method)
    end = icc.size - 21
    dynamic_length = block[3]
    if block[2] != _SHA1 or 4 + dynamic_length > end:
        raise OdaError(OdaError.SDAD, method)
    number_length = block[4]
    if not 2 <= number_length <= 8 or number_length >= dynamic_length:
        raise OdaError(OdaError.SDAD, method)
    if _digest(block, end, terminal_data) != block[end:-1]:
        raise OdaError(OdaError.SDAD_HASH, method)
    return bytes(block[5 : 5 + number_length])
