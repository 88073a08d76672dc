"""The IC sets the simulator downloads to terminals at sign-on: its CA public keys (CAPK) and
its IC application (AID) parameters (spec §1, §3.2, §3.3; docs/iso8583.md §13).

    capks = default_capks()                      # [Entry], the UnionPay TEST CA keys 80-84
    aids = default_aids()                        # [Entry], debit, credit, quasi-credit
    entry.tlv                                    # the bytes a 370/380 answer carries after "1"
    set_check([e.tlv for e in capks])            # "1A2B3C4D": the set's version

A set's check value (its version here) is the first 4 bytes of SHA-1 over its entries' TLVs in
download order: the terminal computes the same over what it received and shows it on its
version screen (app.store.icsets), so an installer can compare the two. The host asks a
terminal for a download (header processing requirement 4, then 5) while the check value of
the set it last completed differs from the host's.

The CA keys are the public halves of hostlib.card.certs' TEST keys (RID A000000333, indexes
80-84, which no live UnionPay key uses): the same keys the test cards' certificates are
signed with, so a terminal that downloaded them can authenticate those cards offline. They
are written out below (making them from their names takes seconds, paid by every simulator
start); firmware_tests/test_hostsim_ic.py checks that they are certs' keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hostlib.errors import PoskitError

CAPK, AID = "capk", "aid"
BLACK, CTLS = "black", "ctls"  # the card black list (7), the contactless parameters (9)
KINDS = (CAPK, AID, BLACK, CTLS)
BLACK_LAYOUTS = ("prefix", "range")  # the terminal's blacklist_layout (UNCONFIRMED)
MAX_BLACKLIST = 200  # what a terminal takes (app.store.icsets.MAX_BLACKLIST)
CONTACTLESS_TAGS = (0xDF19, 0xDF20, 0xDF21, 0x9F7B)  # floor, limit, CVM limit, e-cash limit
UNIONPAY_RID = bytes.fromhex("A000000333")
CA_EXPIRY = b"20301231"  # DF05, YYYYMMDD as 8 ASCII digits (certs.TEST_CA_EXPIRY)
SHA1, RSA = b"\x01", b"\x01"  # DF06 hash, DF07 public key algorithm indicators

# hostlib.card.certs.TEST_CA_KEYS' public halves: index -> (modulus hex, exponent).
TEST_CA_KEYS = {
    0x80: (
        "B5E92C837F9800A59C6A7E31B60B97EC07DC68BE9B5644B5EB2425D3C6BF6625F3FFB1026B2CE242"
        "C75C0578C235AC069680BDFA3D4032B14BF4AA095FB08277067C2BE9C345CB8B5E3553C76737FD98"
        "BB403AC9F2FC8452D74DFF217039B4856F1AA13718479F4D6F802C4F37D80602432F3B515720A729"
        "BE1F6888D7B18505",
        3,
    ),
    0x81: (
        "DB1233EA5A8FAB657AA70269FB4DA4C6ABF12318FD5F2EE2ED4250F0DDD0AFDFCD08898F85A98280"
        "93B9CCDC7AB6DF139248DB891D458046E1515EF3EAD3BB5967361D5DCB02A5F6513E97686A98A65B"
        "A3D3EC712E70F0689B780CA50A1BCB35E90BC1261AEA60442FEE9D0C301ECF6BF8873B0CF5BA9738"
        "E34E90C1160D89D8D25E3076D052803D82078D6FF7B06F33",
        3,
    ),
    0x82: (
        "C10294B96936556E1462CCACAF514CAE0250283B9DD166BE8C96D8E30A8EDCBFE80862AAC3828CDE"
        "11CB3D400B97E11E2225EF88EE1B5A846B40FB8B858B8A64AB1D4171478E444A87439556C44BCC89"
        "75C48821F2DE9FCD3FB966C78A1A6E98C858148523C81EF372EE95458E39BB953F8F6062EA0F01CA"
        "63D3DE9DEE410CC4005D7F20D9CBB966B9C0354E8D04601BB014B07A96C630CE0E6477EFE7307ECD"
        "7E2A5EEB52ADBC13DFA1CD6C15625081",
        3,
    ),
    0x83: (
        "BD7CF773A57F5DC0626DE0F413925ECACCAA9E9C8429084E7BA6F62D3BBBBC23D63A3B0F8EF91943"
        "E04DD0354EC6E5039D966731F73249435F9302C2EE4389F2677C1E50F024AC91A4E3367535BB21EA"
        "FAE0FB1565C3833F1F52D0DD4FA9D2F7702B11BC9FE311A14978C3622482DB3E8DAAD42025E80376"
        "BE10A072EA031C5ABF6C43AEB38B300CDEC9617DC69E5AE65FF5AE5A5A07D367C8BC8D17211999BB"
        "FF48F08C277DC1C0E237B54CCBE6E4D567ED623A6357ED00CA288D78DC4E72D78E255C4F3BEB53BD"
        "C33C584B202E3766ADF9EDB0E8D68B786D11E2AB46DC2DD1B1477613A78754353FFE6B7DC760FA85"
        "028EB861D35BD819",
        3,
    ),
    0x84: (
        "C6B94D2DB6B69DAD4D348C6A669333CC8FF2964ED82BA6D3383F2FC8127956CC4F4CCB34FE8CDD07"
        "D6E7B6327B8543BBBC90ABC7D8D3D8E85491EBB033E1D9C60C933C43792641CD699D9EC6BEB28513"
        "A09C25653D62C13C35FEA42DF92914D55CBCEA5FE78F42F28B87A2A848C93A98093154011F7DAB67"
        "E7F0D5D9C2093324F8247A122ABAC9EB1504B84BFBA85C196922B70B443EBCF33126115BBEB79A88"
        "5121AA63B2B561D1189EEE1182949E77",
        65537,
    ),
}

# The IC application parameters, by tag, as the CUP terminal specification numbers them (tags
# beyond EMV's are DF proprietary). Values as the tag's format says: b binary, n BCD digits.
AID_TAGS = {
    0x9F06: "AID",
    0xDF01: "application selection indicator (00: partial name match allowed)",
    0x9F09: "application version number, b2 (PBOC 3.0: 0030)",
    0xDF11: "TAC default, b5",
    0xDF12: "TAC online, b5",
    0xDF13: "TAC denial, b5",
    0x9F1B: "terminal floor limit, b4 (fen)",
    0xDF15: "threshold value for biased random selection, b4 (fen)",
    0xDF16: "maximum target percentage for biased random selection, n2",
    0xDF17: "target percentage for random selection, n2",
    0xDF14: "default DDOL",
    0xDF18: "terminal online PIN capability, b1 (01: yes)",
    0x9F7B: "electronic cash terminal transaction limit, n12 (fen)",
    0xDF19: "contactless offline floor limit, n12 (fen)",
    0xDF20: "contactless transaction limit, n12 (fen)",
    0xDF21: "contactless CVM required limit, n12 (fen)",
}
CAPK_TAGS = {
    0x9F06: "RID",
    0x9F22: "CA public key index",
    0xDF05: "expiry, YYYYMMDD as 8 ASCII digits",
    0xDF06: "hash algorithm indicator (01: SHA-1)",
    0xDF07: "public key algorithm indicator (01: RSA)",
    0xDF02: "modulus",
    0xDF04: "exponent",
    0xDF03: "check value: SHA-1 of RID | index | modulus | exponent",
}
# The UnionPay applications and their names.
DEFAULT_AIDS = {
    "A000000333010101": "debit",
    "A000000333010102": "credit",
    "A000000333010103": "quasi-credit",
}


def _bcd12(fen: int) -> bytes:
    return bytes.fromhex("%012d" % fen)


# The parameters every default AID gets (docs/hostsim.md, "IC sets"): online PIN, no offline
# floor (UnionPay's domestic cards go online), quick-pass limits of 500/1,000/5,000 yuan.
DEFAULT_AID_PARAMETERS = {
    0xDF01: b"\x00",
    0x9F09: b"\x00\x30",
    0xDF11: bytes.fromhex("D84000A800"),
    0xDF12: bytes.fromhex("D84004F800"),
    0xDF13: bytes.fromhex("0010000000"),
    0x9F1B: bytes(4),
    0xDF15: bytes(4),
    0xDF16: b"\x99",
    0xDF17: b"\x99",
    0xDF14: bytes.fromhex("9F3704"),
    0xDF18: b"\x01",
    0x9F7B: _bcd12(100_000),
    0xDF19: _bcd12(50_000),
    0xDF20: _bcd12(500_000),
    0xDF21: _bcd12(100_000),
}


class ICSetError(PoskitError):
    """An IC set entry that cannot be (a bad AID, a key that does not parse...)."""


def tlv(tag: int, value: bytes) -> bytes:
    """One BER-TLV: a 1- or 2-byte tag, the length (81 xx from 128 bytes), the value."""
    head = tag.to_bytes(2 if tag > 0xFF else 1, "big")
    if len(value) < 0x80:
        size = bytes([len(value)])
    elif len(value) <= 0xFF:
        size = bytes([0x81, len(value)])
    else:
        raise ICSetError(f"TLV {tag:X}: {len(value)} bytes is too long")
    return head + size + value


def parse(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, value) of each BER-TLV of `data`, in order; ICSetError where it does not parse."""
    out = []
    i = 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            while True:
                if i >= len(data):
                    raise ICSetError("TLV tag cut off")
                tag = tag << 8 | data[i]
                i += 1
                if not data[i - 1] & 0x80:
                    break
        if i >= len(data):
            raise ICSetError(f"TLV {tag:X} has no length")
        length = data[i]
        i += 1
        if length & 0x80:
            size = length & 0x7F
            if size not in (1, 2) or i + size > len(data):
                raise ICSetError(f"TLV {tag:X} has a bad length")
            length = int.from_bytes(data[i : i + size], "big")
            i += size
        if i + length > len(data):
            raise ICSetError(f"TLV {tag:X} runs past the end")
        out.append((tag, data[i : i + length]))
        i += length
    return out


@dataclass(frozen=True)
class Entry:
    """One entry of a set: `key` (RID+index hex for a CA key, the AID hex) and its TLV."""

    key: str
    tlv: bytes

    @property
    def fields(self) -> dict[int, bytes]:
        return dict(parse(self.tlv))

    def listing(self) -> bytes:
        """What a query answer lists of it: 9F06 (+ 9F22 and DF05 for a CA key)."""
        fields = self.fields
        out = tlv(0x9F06, fields[0x9F06])
        if 0x9F22 in fields:
            out += tlv(0x9F22, fields[0x9F22]) + tlv(0xDF05, fields.get(0xDF05, CA_EXPIRY))
        return out


def check_value(rid: bytes, index: int, modulus: bytes, exponent: bytes) -> bytes:
    """DF03 of a CA key: SHA-1 of RID | index | modulus | exponent (EMV Book 2, 11.2.2)."""
    return hashlib.sha1(rid + bytes([index]) + modulus + exponent).digest()


def capk_entry(
    rid: bytes,
    index: int,
    modulus: bytes,
    exponent: bytes,
    expiry: bytes = CA_EXPIRY,
    check: bytes | None = None,
) -> Entry:
    """A CA key's entry; its DF03 computed (or `check`, for a test of a wrong one)."""
    if len(rid) != 5 or not 0 <= index <= 255:
        raise ICSetError("a CA key needs a 5-byte RID and an index 00-FF")
    if not 64 <= len(modulus) <= 248 or not exponent:
        raise ICSetError(f"modulus of {len(modulus)} bytes: EMV CA keys have 64 to 248")
    if len(expiry) != 8 or not expiry.isdigit():
        raise ICSetError("expiry must be YYYYMMDD")
    body = b"".join(
        (
            tlv(0x9F06, rid),
            tlv(0x9F22, bytes([index])),
            tlv(0xDF05, expiry),
            tlv(0xDF06, SHA1),
            tlv(0xDF07, RSA),
            tlv(0xDF02, modulus),
            tlv(0xDF04, exponent),
            tlv(
                0xDF03, check if check is not None else check_value(rid, index, modulus, exponent)
            ),
        )
    )
    return Entry(rid.hex().upper() + "%02X" % index, body)


def aid_entry(aid: bytes, parameters: dict[int, bytes] | None = None) -> Entry:
    """An AID's entry: 9F06 then its parameters (DEFAULT_AID_PARAMETERS, overridden by
    `parameters`), in AID_TAGS' order."""
    if not 5 <= len(aid) <= 16:
        raise ICSetError(f"an AID is 5 to 16 bytes, got {len(aid)}")
    values = {**DEFAULT_AID_PARAMETERS, **(parameters or {})}
    body = tlv(0x9F06, aid) + b"".join(
        tlv(tag, values[tag]) for tag in AID_TAGS if tag != 0x9F06 and tag in values
    )
    return Entry(aid.hex().upper(), body)


def default_capks() -> list[Entry]:
    """The UnionPay TEST CA keys 80-84."""
    return [
        capk_entry(UNIONPAY_RID, index, bytes.fromhex(modulus), _exponent(exponent))
        for index, (modulus, exponent) in TEST_CA_KEYS.items()
    ]


def default_aids() -> list[Entry]:
    """Debit, credit and quasi-credit UnionPay AIDs with DEFAULT_AID_PARAMETERS."""
    return [aid_entry(bytes.fromhex(aid)) for aid in DEFAULT_AIDS]


def _exponent(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def entry(kind: str, text: str, where: str = "entry") -> Entry:
    """An entry of set `kind` from its TLV in hex (a line of `poskit hostsim ic-sets
    --capk-file`): ICSetError naming `where` unless it parses, names its key and, for a CA
    key, carries a check value (DF03) that matches."""
    try:
        body = bytes.fromhex(text)
        fields = dict(parse(body))
    except (ValueError, ICSetError) as exc:
        raise ICSetError(f"{where}: not TLV in hex ({exc})") from None
    if 0x9F06 not in fields:
        raise ICSetError(f"{where}: no 9F06")
    key = fields[0x9F06].hex().upper()
    if kind == CAPK:
        missing = [f"{t:X}" for t in (0x9F22, 0xDF02, 0xDF04, 0xDF03) if t not in fields]
        if missing or len(fields[0x9F22]) != 1:
            raise ICSetError(f"{where}: {', '.join(missing) or '9F22'} missing or wrong")
        index = fields[0x9F22][0]
        want = check_value(fields[0x9F06], index, fields[0xDF02], fields[0xDF04])
        if fields[0xDF03] != want:
            raise ICSetError(f"{where}: check value DF03 does not match the key")
        key += "%02X" % index
    return Entry(key, body)


def set_check(tlvs: list[bytes]) -> str:
    """A set's check value: 8 hex digits, SHA-1 over its entries' TLVs in download order."""
    digest = hashlib.sha1()
    for body in tlvs:
        digest.update(body)
    return digest.digest()[:4].hex().upper()


def black_entry(text: str, layout: str = "prefix", where: str = "entry") -> Entry:
    """A black list entry from `text`: a card number or its first digits ("622202"), or in
    layout "range" also a range of prefixes of one length ("622200-622299"). Its wire form
    (docs/iso8583.md §13): LL + the digits, or LL + both ends. ICSetError naming `where`."""
    if layout not in BLACK_LAYOUTS:
        raise ICSetError(f"black list layout {layout!r}: prefix or range")
    low, dash, high = text.strip().partition("-")
    if not low.isdigit() or not 1 <= len(low) <= 19 or (dash and not high.isdigit()):
        raise ICSetError(f"{where}: {text!r} is not 1 to 19 digits (or LOW-HIGH)")
    if dash:
        if layout != "range":
            raise ICSetError(f"{where}: {text} is a range: the layout must be range")
        if len(high) != len(low) or high < low:
            raise ICSetError(f"{where}: {text}: both ends the same length, the first lower")
    wire = b"%02d" % len(low) + low.encode()
    if layout == "range":
        wire += (high or low).encode()
    return Entry(low + ("-" + high if dash else ""), wire)


def black_layout(entries: list[Entry]) -> str:
    """The layout a black list was made in (its first entry's length tells), "prefix" when
    empty."""
    if not entries:
        return "prefix"
    size = int(entries[0].tlv[:2])
    return "range" if len(entries[0].tlv) == 2 + 2 * size else "prefix"


def contactless_entry(floor: int, limit: int, cvm: int, ecash: int | None = None) -> Entry:
    """The contactless parameters (fen): DF19 offline floor limit, DF20 transaction limit, DF21
    CVM required limit, 9F7B e-cash terminal limit (left out when None)."""
    values = [floor, limit, cvm] + ([] if ecash is None else [ecash])
    if any(not 0 <= v < 10**12 for v in values):
        raise ICSetError("contactless limits are 0 to 9,999,999,999.99 yuan")
    body = b"".join(tlv(tag, _bcd12(v)) for tag, v in zip(CONTACTLESS_TAGS, values))
    return Entry("contactless", body)
