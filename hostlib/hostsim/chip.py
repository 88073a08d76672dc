"""Field 55 (ICC data) on the acquirer's side: read the card's objects, check its cryptogram
with the test issuer's keys, and write the issuer's answer (91 and issuer scripts).

    tags = chip.parse("9F2608...")            # {0x9F26: b"...", ...}; IccError when malformed
    chip.cryptogram_type(tags)                 # "ARQC", "TC", "AAC" or None (no 9F27)
    chip.check(pan, psn, tags)                 # "" when 9F26 is the card's, else the reason
    chip.answer(pan, psn, tags, "00")          # response 55: 91 = ARPC || ARC
    chip.answer(pan, psn, tags, "00", script=chip.Script.parse("72:block"))

The rule it keeps: the host answers a cryptogram only after checking it. The card keys come
from `hostlib.card.issuer` (the test issuer: every card's keys follow from its PAN and PAN
sequence number), so any emulated card, built-in or from a card file, is checked without
being registered anywhere but as an account. What a cryptogram covers is docs/cards.md's
"Keys and cryptograms": the terminal data (9F02 9F03 9F1A 95 5F2A 9A 9C 9F37), 82, 9F36 and
the CVR in 9F10 -- all of them travel in field 55.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from hostlib.card import issuer, tlv

# 9F27 bits 8-7: the cryptogram the card gave (EMV Book 3 table 14).
CRYPTOGRAM_TYPES = {0x00: "AAC", 0x40: "TC", 0x80: "ARQC"}
# What the host needs to recompute a cryptogram; the terminal data counts as zeros where
# the terminal did not send it (as the card computed it over what its CDOL asked).
NEEDED = (0x9F26, 0x9F36, 0x82, 0x9F10)

# Issuer script commands (docs/cards.md, "Issuer scripts"): name -> CLA INS P1 P2.
COMMANDS = {
    "block": bytes.fromhex("841E0000"),  # APPLICATION BLOCK
    "unblock": bytes.fromhex("84180000"),  # APPLICATION UNBLOCK
    "pin_unblock": bytes.fromhex("84240000"),  # PIN UNBLOCK (no PIN change)
    "card_block": bytes.fromhex("84160000"),  # CARD BLOCK
    "ecash": bytes.fromhex("04DA9F79"),  # PUT DATA 9F79: set the e-cash balance
}
SCRIPT_ID = bytes.fromhex("00000001")  # 9F18: the script identifier the results name


class IccError(ValueError):
    """Field 55 that is not BER-TLV, or lacks what the host needs (answered 30)."""


def parse(hex_text: str) -> dict[int, bytes]:
    """Field 55's primitive objects by tag (the first of a tag wins)."""
    try:
        data = bytes.fromhex(hex_text)
        tags = tlv.to_dict(data)
    except (ValueError, tlv.TlvError) as exc:
        raise IccError(f"field 55 is not BER-TLV: {exc}") from None
    if not tags:
        raise IccError("field 55 holds no data object")
    return tags


def cryptogram_type(tags: dict[int, bytes]) -> str | None:
    """The cryptogram 9F27 says the card gave, or None without a 9F27."""
    cid = tags.get(0x9F27)
    if not cid:
        return None
    return CRYPTOGRAM_TYPES.get(cid[0] & 0xC0, "RFU")


def card_pan(tags: dict[int, bytes]) -> str | None:
    """The PAN of 5A, else of the track 2 equivalent 57, else None."""
    if 0x5A in tags:
        return tags[0x5A].hex().upper().rstrip("F")
    if 0x57 in tags:
        return tags[0x57].hex().upper().partition("D")[0]
    return None


def track2(tags: dict[int, bytes]) -> str | None:
    """57 as the simulator writes track 2: PAN 'D' YYMM..., the padding F dropped."""
    if 0x57 not in tags:
        return None
    return tags[0x57].hex().upper().rstrip("F")


def check_pan(pan: str, tags: dict[int, bytes]) -> str:
    """ "" when 5A and the PAN of 57 (those present) are `pan`, else which one is not."""
    if 0x5A in tags and tags[0x5A].hex().upper().rstrip("F") != pan:
        return "5A in field 55 is another card than the request's PAN"
    if 0x57 in tags and tags[0x57].hex().upper().partition("D")[0] != pan:
        return "57 in field 55 is another card than the request's PAN"
    return ""


def psn(field23: str | None, tags: dict[int, bytes]) -> str:
    """The PAN sequence number (two digits): field 23 (n3, spec §2), else 5F34, else 00."""
    if field23 and field23.isdigit():
        return field23[-2:].rjust(2, "0")
    if 0x5F34 in tags:
        return tags[0x5F34].hex()[-2:]
    return "00"


def missing(tags: dict[int, bytes]) -> list[str]:
    """The objects the host needs to check the cryptogram that field 55 lacks, as hex."""
    return ["%X" % tag for tag in NEEDED if tag not in tags]


def check(pan: str, psn_digits: str, tags: dict[int, bytes]) -> str:
    """ "" when 9F26 is the cryptogram the card `pan`/`psn_digits` computes over field 55's
    data, else why not (a readable reason for the log)."""
    gone = missing(tags)
    if gone:
        return "field 55 lacks " + " ".join(gone)
    try:
        ok = issuer.check_cryptogram(pan, psn_digits, tags)
    except ValueError as exc:  # a 9F10 without a CVR, a PAN the derivation refuses
        return str(exc)
    return "" if ok else "%s does not verify" % (cryptogram_type(tags) or "9F26")


@dataclass(frozen=True)
class Script:
    """An issuer script the answer carries: template 71 (before the second GENERATE AC) or
    72 (after it), one command. Written `[71:|72:]block`, `unblock`, `pin_unblock`,
    `card_block` or `ecash:YUAN` (PUT DATA 9F79, the new e-cash balance)."""

    template: int
    command: str
    amount: int = 0  # fen, for ecash

    @classmethod
    def parse(cls, text: str) -> Script:
        """ValueError with what is wrong."""
        template, command = 0x72, text.strip()
        if command[:3] in ("71:", "72:"):
            template, command = int(command[:2], 16), command[3:]
        name, _, value = command.partition(":")
        if name not in COMMANDS:
            raise ValueError(
                f"issuer script {text!r}: [71:|72:] then one of "
                "block, unblock, pin_unblock, card_block, ecash:YUAN"
            )
        amount = 0
        if name == "ecash":
            try:
                yuan = Decimal(value)
            except InvalidOperation:
                raise ValueError(f"issuer script {text!r}: ecash:YUAN (ecash:100.00)") from None
            if yuan < 0 or yuan != yuan.quantize(Decimal("0.01")) or yuan >= 10**10:
                raise ValueError(f"issuer script {text!r}: the balance in yuan, 2 decimals")
            amount = int(yuan * 100)
        elif value:
            raise ValueError(f"issuer script {text!r}: {name} takes no value")
        return cls(template, name, amount)

    def __str__(self) -> str:
        value = ":%d.%02d" % divmod(self.amount, 100) if self.command == "ecash" else ""
        return "%X:%s%s" % (self.template, self.command, value)

    def encode(self, pan: str, psn_digits: str, tags: dict[int, bytes]) -> bytes:
        """The template, its command MACed for this card and this transaction's ARQC."""
        data = b""
        if self.command == "ecash":
            data = bytes.fromhex("%012d" % self.amount)
        head = COMMANDS[self.command] + bytes([len(data) + 4])  # Lc counts the MAC
        keys = issuer.issuer_keys(pan, psn_digits)
        mac = issuer.script_mac(keys.smi, tags[0x9F36], tags[0x9F26], head + data)
        body = tlv.encode(0x9F18, SCRIPT_ID) + tlv.encode(0x86, head + data + mac)
        return tlv.encode(self.template, body)


def answer(
    pan: str,
    psn_digits: str,
    tags: dict[int, bytes],
    arc: str,
    *,
    arpc: bool = True,
    bad_arpc: bool = False,
    script: Script | None = None,
) -> bytes:
    """The response's field 55: 91 (ARPC method 1 || ARC, the two characters of 39) unless
    `arpc` is False, its ARPC corrupted with `bad_arpc`, then `script`'s template."""
    out = b""
    if arpc:
        value = issuer.issuer_authentication_data(pan, psn_digits, tags, arc.encode("ascii"))
        if bad_arpc:
            value = bytes([value[0] ^ 0x01]) + value[1:]
        out += tlv.encode(0x91, value)
    if script is not None:
        out += script.encode(pan, psn_digits, tags)
    return out


def describe(tags: dict[int, bytes]) -> str:
    """Field 55 in a few words for the log, never a PAN or track data: the cryptogram type,
    the ATC and any script results, e.g. "ARQC atc 0003"."""
    words = [cryptogram_type(tags) or ""]
    if 0x9F36 in tags:
        words.append("atc " + tags[0x9F36].hex().upper())
    results = script_results(tags)
    if results:
        words.append("scripts " + results)
    return " ".join(w for w in words if w) or "no cryptogram"


def script_results(tags: dict[int, bytes]) -> str:
    """DF31 (PBOC) or 9F5B (EMV) of a script result notice in words, e.g. "1 ok" or
    "1 failed"; "" when field 55 has neither. Each result is 5 bytes: the result in the
    first nibble (0 not done, 1 failed, 2 done), the script identifier after it."""
    results = tags.get(0xDF31) or tags.get(0x9F5B)
    if not results:
        return ""
    words = {0: "not done", 1: "failed", 2: "ok"}
    counts: dict[str, int] = {}
    for i in range(0, len(results) - 4, 5):
        word = words.get(results[i] >> 4, "unknown")
        counts[word] = counts.get(word, 0) + 1
    return ", ".join(f"{n} {word}" for word, n in counts.items()) or "unreadable"
