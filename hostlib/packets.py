"""Parameter and key packets on the installer's side: build, parse and verify them offline.

The format is docs/packets.md. This is the host's own implementation of it, written from
that document: `construct` describes the layout, `crcmod` computes the CRC-32, the standard
`hmac` the MAC, and every parameter is validated here with the terminal's rules (and the
terminal's messages), so a bad job file fails on the laptop, before a packet exists. The
terminal's code (device/app/store/params.py, packet.py) is never imported: the tests hold the two
against each other.

    data = build_parameter_packet(values, serial, link_key, version, app_index)
    packet = verify(data, serial=..., link_key=...)   # PacketError with .reason if refused
    packet.params -> {"merchant_id": "898310048161234", ...}
"""

import difflib
import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import crcmod.predefined
from construct import (
    Bytes,
    Construct,
    Int8ub,
    Int16ub,
    Int32ub,
    RawCopy,
    StreamError,
    Struct,
    stream_read,
    stream_write,
    this,
)

from hostlib.errors import PoskitError

MAGIC = b"PKIT"
FORMAT = 1
PARAMETERS = 1
KEYS = 2
KIND_NAMES = {PARAMETERS: "parameters", KEYS: "keys"}
HEADER_SIZE = 29
MAC_SIZE = 32
OVERHEAD = HEADER_SIZE + 4 + MAC_SIZE
MAX_PACKET = 8192
MAX_BODY = MAX_PACKET - OVERHEAD
MAX_APPLICATIONS = 8
SERIAL_SIZE = 16
OPTIONAL_TAGS = 0x80  # tags from here up may be skipped by a reader that does not know them

crc32 = crcmod.predefined.mkCrcFun("crc-32")


class PacketError(PoskitError):
    """A packet refused, or one that cannot be built. `reason` is the same word the
    terminal gives (docs/packets.md, "Refusals")."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class ParamError(PacketError):
    """A parameter value (or set) the terminal would refuse; the message names the field."""

    def __init__(self, message: str, reason: str = "value"):
        super().__init__(reason, message)


# --- layout (construct) ------------------------------------------------------------------


class TlvLength(Construct):
    """1 byte for 0..127; else 2 bytes, 15 bits big-endian with the top bit set. The short
    form is the only one allowed for lengths under 128."""

    def _parse(self, stream, context, path):
        first = stream_read(stream, 1, path)[0]
        if first < 0x80:
            return first
        length = (first & 0x7F) << 8 | stream_read(stream, 1, path)[0]
        if length < 0x80:
            raise ParamError("2-byte form for length %d (under 128)" % length, "tlv")
        return length

    def _build(self, obj, stream, context, path):
        if not 0 <= obj <= 0x7FFF:
            raise PacketError("value", "TLV value of %d bytes is too long" % obj)
        if obj < 0x80:
            stream_write(stream, bytes([obj]), 1, path)
        else:
            stream_write(stream, bytes([0x80 | obj >> 8, obj & 0xFF]), 2, path)
        return obj

    def _sizeof(self, context, path):
        raise NotImplementedError


TlvItem = Struct("tag" / Int8ub, "length" / TlvLength(), "value" / Bytes(this.length))

Header = Struct(
    "magic" / Bytes(4),
    "format" / Int8ub,
    "kind" / Int8ub,
    "app_index" / Int8ub,
    "serial" / Bytes(SERIAL_SIZE),
    "version" / Int32ub,
    "body_length" / Int16ub,
)

# What the CRC covers; the MAC covers it and the CRC.
Signed = Struct("header" / Header, "body" / Bytes(this.header.body_length))

Packet = Struct(
    "signed" / RawCopy(Signed),
    "crc" / Int32ub,
    "mac" / Bytes(MAC_SIZE),
)


def tlv_items(body: bytes) -> list[tuple[int, int, bytes]]:
    """(tag, offset, value) of every TLV item of `body`; ParamError("tlv") on bad structure."""
    items = []
    offset = 0
    while offset < len(body):
        tag = body[offset]
        if tag == 0:
            raise ParamError("bad TLV at offset %d: tag 0x00 is reserved" % offset, "tlv")
        rest = body[offset:]
        try:
            length = TlvLength().parse(rest[1:])
        except StreamError:
            what = "no length byte" if len(rest) < 2 else "second length byte missing"
            raise ParamError("bad TLV length at offset %d: %s" % (offset, what), "tlv") from None
        except ParamError as exc:
            raise ParamError("bad TLV length at offset %d: %s" % (offset, exc), "tlv") from None
        head = 2 if length < 0x80 else 3
        if length > len(rest) - head:
            raise ParamError(
                "bad TLV length at offset %d: tag 0x%02x announces %d bytes, %d left"
                % (offset, tag, length, len(rest) - head),
                "tlv",
            )
        item = TlvItem.parse(rest)
        items.append((tag, offset, item.value))
        offset += head + length
    return items


def tlv(items: Iterable[tuple[int, bytes]]) -> bytes:
    """A TLV body from (tag, value) pairs, in the order given."""
    return b"".join(TlvItem.build({"tag": t, "length": len(v), "value": v}) for t, v in items)


# --- the parameter schema (docs/packets.md, "Parameter tags") -------------------------------

DIGITS = ("0-9", "digits")
ALNUM = ("0-9A-Za-z", "letters or digits")
PHONE = ("0-9,", "digits and commas")
DIAL = ("0-9*#", "digits, * and #")
APN = ("0-9A-Za-z.\\-", "letters, digits, '-' and '.'")
PRINTABLE = ("\\x20-\\x7e", "printable ASCII characters")


@dataclass(frozen=True)
class Field:
    """One parameter: where it lives, how it is carried, what it may hold."""

    tag: int
    name: str
    scope: str  # "terminal" or "application"
    kind: str  # u8 u16 bool choice text gb18030 hash ipv4 host tpdu
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()
    chars: tuple[str, str] | None = None
    optional: bool = False
    group: str | None = None  # bearer group: "dialup", "gprs", "ethernet"
    static: bool = False  # Ethernet static address: needed when DHCP is off


T, A = "terminal", "application"
ALGORITHMS = ("DES", "3DES", "SM4")
MAC_METHODS = ("cup", "x9.19", "x9.19-hex")

FIELDS = (
    Field(0x01, "language", T, "choice", choices=("zh", "en")),
    Field(0x02, "receipt_copies", T, "u8", 1, 3),
    Field(0x03, "external_pinpad", T, "bool"),
    Field(0x04, "operator_password", T, "hash"),
    Field(0x05, "supervisor_password", T, "hash"),
    Field(0x06, "key_algorithm", T, "choice", choices=ALGORITHMS),
    Field(0x07, "connect_timeout", T, "u8", 5, 120),
    Field(0x08, "send_timeout", T, "u8", 5, 120),
    Field(0x09, "receive_timeout", T, "u8", 5, 120),
    Field(0x0A, "reversal_retries", T, "u8", 0, 9),
    Field(0x0B, "host_select", T, "choice", choices=("primary", "backup")),
    Field(0x0C, "bearer", T, "choice", choices=("dialup", "gprs", "ethernet")),
    Field(0x0D, "lockdown", T, "bool", optional=True),
    Field(0x0E, "admin_password", T, "hash", optional=True),
    Field(0x10, "dialup.prefix", T, "text", 0, 4, chars=DIGITS, group="dialup"),
    Field(0x11, "dialup.line", T, "choice", choices=("direct", "extension"), group="dialup"),
    Field(0x12, "dialup.phone1", T, "text", 1, 24, chars=PHONE, group="dialup"),
    Field(0x13, "dialup.phone2", T, "text", 1, 24, chars=PHONE, group="dialup", optional=True),
    Field(0x14, "dialup.tpdu", T, "tpdu", group="dialup"),
    Field(0x15, "dialup.lri", T, "bool", group="dialup"),
    Field(0x20, "gprs.access_number", T, "text", 1, 16, chars=DIAL, group="gprs"),
    Field(0x21, "gprs.apn", T, "text", 1, 63, chars=APN, group="gprs"),
    Field(0x22, "gprs.user", T, "text", 0, 32, chars=PRINTABLE, group="gprs", optional=True),
    Field(0x23, "gprs.password", T, "text", 0, 32, chars=PRINTABLE, group="gprs", optional=True),
    Field(0x24, "gprs.host", T, "host", 1, 64, group="gprs"),
    Field(0x25, "gprs.port", T, "u16", 1, 65535, group="gprs"),
    Field(0x26, "gprs.backup_host", T, "host", 1, 64, group="gprs", optional=True),
    Field(0x27, "gprs.backup_port", T, "u16", 1, 65535, group="gprs", optional=True),
    Field(0x28, "gprs.tpdu", T, "tpdu", group="gprs"),
    Field(0x30, "ethernet.dhcp", T, "bool", group="ethernet"),
    Field(0x31, "ethernet.ip", T, "ipv4", group="ethernet", static=True),
    Field(0x32, "ethernet.mask", T, "ipv4", group="ethernet", static=True),
    Field(0x33, "ethernet.gateway", T, "ipv4", group="ethernet", static=True),
    Field(0x34, "ethernet.dns", T, "ipv4", group="ethernet", optional=True),
    Field(0x35, "ethernet.host", T, "host", 1, 64, group="ethernet"),
    Field(0x36, "ethernet.port", T, "u16", 1, 65535, group="ethernet"),
    Field(0x37, "ethernet.backup_host", T, "host", 1, 64, group="ethernet", optional=True),
    Field(0x38, "ethernet.backup_port", T, "u16", 1, 65535, group="ethernet", optional=True),
    Field(0x39, "ethernet.tpdu", T, "tpdu", group="ethernet"),
    Field(0x40, "name", A, "text", 1, 16, chars=PRINTABLE),
    Field(0x41, "merchant_id", A, "text", 15, 15, chars=DIGITS),
    Field(0x42, "terminal_id", A, "text", 8, 8, chars=ALNUM),
    Field(0x43, "merchant_name", A, "gb18030", 1, 40),
    Field(0x44, "key_algorithm", A, "choice", choices=ALGORITHMS),
    Field(0x45, "tmk_slot", A, "u8", 0, 99),
    Field(0x46, "signon_mode", A, "choice", choices=("001", "003", "004", "006")),
    Field(0x47, "header_version", A, "text", 4, 4, chars=DIGITS),
    Field(0x48, "header_subversion", A, "text", 6, 6, chars=DIGITS),
    Field(0x49, "tpdu", A, "tpdu", optional=True),
    # The acquirer profile (docs/iso8583.md §12): absent, today's CUP behaviour.
    Field(0x4A, "signon_layout", A, "text", 3, 64, chars=PRINTABLE, optional=True),
    Field(0x4B, "field60_length", A, "choice", choices=("8", "14"), optional=True),
    Field(0x4C, "field60_capability", A, "text", 3, 3, chars=DIGITS, optional=True),
    Field(0x4D, "pin_capture_code", A, "choice", choices=("12", "06"), optional=True),
    Field(0x4E, "mac_method", A, "choice", choices=MAC_METHODS, optional=True),
    Field(0x4F, "empty_batch", A, "choice", choices=("ask", "refuse", "send"), optional=True),
    Field(0x50, "batch_end", A, "choice", choices=("always", "unbalanced"), optional=True),
    # What the terminal's cashier screens allow (docs/menus.md): absent, the defaults there.
    Field(0x51, "max_amount", A, "text", 1, 10, chars=DIGITS, optional=True),
    Field(0x52, "manual_entry", A, "bool", optional=True),
    Field(0x53, "pin_required", A, "bool", optional=True),
    Field(0x54, "power_up_signon", A, "bool", optional=True),
    Field(0x55, "settle_signoff", A, "bool", optional=True),
    Field(0x56, "settle_signon", A, "bool", optional=True),
    Field(0x57, "pinpad_tmk_slot", A, "u8", 0, 255, optional=True),
    # How many journal records a batch may hold before the terminal asks for a settlement.
    Field(0x58, "batch_capacity", A, "u16", 10, 65535, optional=True),
    # How a refund or completion notice whose answer was lost is sent again (docs/iso8583.md
    # §12): absent, 0220 with its STAN.
    Field(0x59, "advice_repeat", A, "choice", choices=("0220", "0221", "off"), optional=True),
    Field(0x5A, "bearer", A, "choice", choices=("dialup", "gprs", "ethernet"), optional=True),
    # The PBOC rule at a sale (docs/menus.md): a chip card's stripe only after its chip failed.
    Field(0x5B, "chip_first", A, "bool", optional=True),
    # The black list's and contactless parameters' downloads (docs/iso8583.md §13):
    # UNCONFIRMED layouts, absent prefix and 394,395.
    Field(0x5C, "blacklist_layout", A, "choice", choices=("prefix", "range"), optional=True),
    Field(0x5D, "contactless_codes", A, "text", 7, 7, chars=PHONE, optional=True),
    # A sale's card prompt takes a tap too (docs/menus.md, "A contactless sale").
    Field(0x5E, "contactless", A, "bool", optional=True),
    Field(0x80, "job_reference", T, "text", 0, 32, chars=PRINTABLE, optional=True),
)

GROUPS = ("dialup", "gprs", "ethernet")
BY_TAG = {f.tag: f for f in FIELDS}


def fields(app_index: int) -> list[Field]:
    """The parameters of the terminal (0) or of an application (1..N), in tag order."""
    return [f for f in FIELDS if f.scope == _scope(app_index)]


def _scope(app_index: int) -> str:
    if app_index == 0:
        return T
    if 1 <= app_index <= MAX_APPLICATIONS:
        return A
    raise ParamError(
        "application index %d out of range 1 to %d (0 = terminal)" % (app_index, MAX_APPLICATIONS),
        "application",
    )


def scope_name(app_index: int) -> str:
    return "terminal" if app_index == 0 else "application %d" % app_index


# --- values ------------------------------------------------------------------------------

_PASSWORD_SCHEME = 1
_SALT_SIZE = 16
PASSWORD_HASH_SIZE = 1 + _SALT_SIZE + 32


def hash_password(password: str, salt: bytes | None = None) -> bytes:
    """Stored form of a password: scheme 1 || salt (16) || SHA-256(salt || password)."""
    salt = os.urandom(_SALT_SIZE) if salt is None else salt
    if len(salt) != _SALT_SIZE:
        raise ValueError("password salt must be %d bytes" % _SALT_SIZE)
    return bytes([_PASSWORD_SCHEME]) + salt + hashlib.sha256(salt + password.encode()).digest()


def check_password(stored: bytes, typed: str) -> bool:
    """Whether `typed` is the password hashed in `stored` (what the terminal checks)."""
    salt = stored[1 : 1 + _SALT_SIZE]
    digest = hashlib.sha256(salt + typed.encode()).digest()
    return hmac.compare_digest(digest, stored[1 + _SALT_SIZE :])


def _shown(text: str) -> str:
    # Bytes read from a packet that are not printable ASCII never get here (decode_value
    # shows them in hex, as the terminal does); typed text that is not, is quoted.
    return text if text.isascii() and text.isprintable() else repr(text)


def _char(c: str) -> str:
    return "'%s'" % c if c.isascii() and c.isprintable() and c != " " else "0x%02x" % ord(c)


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\Z")


def _check_text(f: Field, text: str) -> None:
    n = len(text)
    if f.kind == "tpdu":
        if len(text) != 10:
            raise ParamError("%s: must be 10 hex digits, got %d" % (f.name, len(text)))
        bad = re.search(r"[^0-9A-Fa-f]", text)
        if bad:
            raise ParamError("%s: must be 10 hex digits, got %s" % (f.name, _char(bad.group())))
        return
    if f.kind == "ipv4":
        if not _is_ipv4(text):
            raise ParamError("%s: %s is not an IPv4 address" % (f.name, _shown(text)))
        return
    if f.kind == "host":
        if not f.low <= n <= f.high:
            raise ParamError(
                "%s: must be %d to %d characters, got %d" % (f.name, f.low, f.high, n)
            )
        bad = re.search(r"[^A-Za-z0-9.\-]", text)
        if bad:
            raise ParamError(
                "%s: character %s is not allowed in a host name or IPv4 address"
                % (f.name, _char(bad.group()))
            )
        if re.fullmatch(r"[0-9.]+", text):
            if not _is_ipv4(text):
                raise ParamError("%s: %s is not an IPv4 address" % (f.name, text))
        elif not all(_LABEL.match(label) and len(label) <= 63 for label in text.split(".")):
            raise ParamError("%s: %s is not a valid host name" % (f.name, text))
        return
    if f.kind == "choice":
        if text not in f.choices:
            raise ParamError(
                "%s: must be one of %s; got %s" % (f.name, ", ".join(f.choices), _shown(text))
            )
        return
    pattern, called = f.chars
    exact = f.low == f.high
    if exact and len(text) != f.low:
        raise ParamError("%s: must be %d %s, got %d" % (f.name, f.low, called, len(text)))
    if not f.low <= len(text) <= f.high:
        if f.low == 0:
            raise ParamError(
                "%s: must be at most %d characters, got %d" % (f.name, f.high, len(text))
            )
        raise ParamError(
            "%s: must be %d to %d characters, got %d" % (f.name, f.low, f.high, len(text))
        )
    bad = re.search("[^%s]" % pattern, text)
    if bad:
        c, position = _char(bad.group()), bad.start() + 1
        if exact:
            raise ParamError(
                "%s: must be %d %s, got %s at position %d" % (f.name, f.low, called, c, position)
            )
        raise ParamError(
            "%s: character %s at position %d is not allowed (%s only)"
            % (f.name, c, position, called)
        )


def _check_gb18030(f: Field, raw: bytes) -> None:
    if not raw:
        raise ParamError("%s: must not be empty" % f.name)
    if len(raw) > f.high:
        raise ParamError(
            "%s: must be at most %d bytes (GB18030), got %d" % (f.name, f.high, len(raw))
        )
    try:
        raw.decode("gb18030")
        bad = len(raw)
    except UnicodeDecodeError as exc:
        bad = exc.start
    # Every byte of a GB18030 multi-byte character is 0x30 or above: in the part that
    # decodes, a byte under 0x20 (or 0x7F) can only be an ASCII control character.
    for i, b in enumerate(raw[:bad]):
        if b < 0x20 or b == 0x7F:
            raise ParamError("%s: control byte 0x%02x at byte %d" % (f.name, b, i))
    if bad < len(raw):
        raise ParamError("%s: not valid GB18030 at byte %d" % (f.name, bad))


def encode_value(f: Field, value) -> bytes:
    """Validate a Python value of parameter `f` and return its TLV value bytes.

    Text for text kinds, int for numbers, bool for yes/no; the merchant name as text (sent
    as GB18030) or GB18030 bytes; a password as its clear digits (hashed here with a random
    salt) or an already hashed 49-byte value.
    """
    if f.kind in ("u8", "u16"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError("%s: must be a whole number, got %r" % (f.name, value))
        if not f.low <= value <= f.high:
            raise ParamError("%s: must be %d to %d, got %d" % (f.name, f.low, f.high, value))
        return value.to_bytes(1 if f.kind == "u8" else 2, "big")
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise ParamError("%s: must be true or false, got %r" % (f.name, value))
        return b"\x01" if value else b"\x00"
    if f.kind == "hash":
        if isinstance(value, bytes | bytearray):
            raw = bytes(value)
            if len(raw) != PASSWORD_HASH_SIZE:
                raise ParamError(
                    "%s: must be a %d-byte password hash, got %d bytes"
                    % (f.name, PASSWORD_HASH_SIZE, len(raw))
                )
            if raw[0] != _PASSWORD_SCHEME:
                raise ParamError("%s: unsupported password hash scheme %d" % (f.name, raw[0]))
            return raw
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4,12}", value):
            shown = len(value) if isinstance(value, str) else type(value).__name__
            raise ParamError(
                "%s: must be 4 to 12 digits (a string, in quotes), got %s" % (f.name, shown)
            )
        return hash_password(value)
    if f.kind == "gb18030":
        if isinstance(value, str):
            raw = value.encode("gb18030")
        elif isinstance(value, bytes | bytearray):
            raw = bytes(value)
        else:
            raise ParamError("%s: must be text, got %r" % (f.name, value))
        _check_gb18030(f, raw)
        return raw
    if not isinstance(value, str):
        raise ParamError("%s: must be text, got %r" % (f.name, value))
    _check_text(f, value)
    return value.encode("ascii")


def decode_value(f: Field, raw: bytes):
    """Validate TLV value bytes of `f` as the terminal does; return the Python value (the
    merchant name as text, passwords as their 49-byte hash)."""
    if f.kind in ("u8", "bool"):
        if len(raw) != 1:
            raise ParamError("%s: must be 1 byte, got %d" % (f.name, len(raw)))
        if f.kind == "bool":
            if raw[0] > 1:
                raise ParamError("%s: must be 0 (no) or 1 (yes), got %d" % (f.name, raw[0]))
            return raw[0] == 1
    if f.kind == "u16" and len(raw) != 2:
        raise ParamError("%s: must be 2 bytes, got %d" % (f.name, len(raw)))
    if f.kind in ("u8", "u16"):
        value = int.from_bytes(raw, "big")
        encode_value(f, value)
        return value
    if f.kind == "hash":
        return encode_value(f, raw)
    if f.kind == "gb18030":
        _check_gb18030(f, raw)
        return raw.decode("gb18030")
    if f.kind == "tpdu" and len(raw) != 10:
        raise ParamError("%s: must be 10 hex digits, got %d" % (f.name, len(raw)))
    text = raw.decode("latin-1")
    if f.kind == "ipv4" and not (text.isascii() and text.isprintable()):
        raise ParamError("%s: %s is not an IPv4 address" % (f.name, "0x" + raw.hex()))
    if f.kind == "choice" and not (text.isascii() and text.isprintable()):
        raise ParamError(
            "%s: must be one of %s; got %s" % (f.name, ", ".join(f.choices), "0x" + raw.hex())
        )
    _check_text(f, text)
    return text


# --- whole parameter sets ------------------------------------------------------------------


def flatten(values: Mapping, prefix: str = "") -> dict:
    """{"gprs": {"apn": "cmnet"}} -> {"gprs.apn": "cmnet"}; flat names pass through."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix + key + "."))
        else:
            flat[prefix + key] = value
    return flat


def check_set(values: Mapping, app_index: int) -> None:
    """Presence and agreement rules of a whole set (values already individually valid)."""
    scope = _scope(app_index)
    for f in FIELDS:
        if f.scope == scope and not f.optional and f.group is None and f.name not in values:
            raise ParamError("%s: missing (tag 0x%02x)" % (f.name, f.tag), "missing")
    if scope == A:
        mode, algorithm = values["signon_mode"], values["key_algorithm"]
        if mode == "006" and algorithm != "SM4":
            raise ParamError("signon_mode: 006 (SM4) needs key_algorithm SM4, got %s" % algorithm)
        if mode != "006" and algorithm == "SM4":
            raise ParamError(
                "signon_mode: %s is a DES/3DES sign-on; key_algorithm SM4 needs 006" % mode
            )
        if "signon_layout" in values:
            try:
                key_layout(values["signon_layout"], sm4=algorithm == "SM4")
            except ValueError as exc:
                raise ParamError("signon_layout: %s" % exc) from None
        if "field60_capability" in values and values.get("field60_length") != "14":
            raise ParamError(
                "field60_capability: sent only with field60_length 14, got %s"
                % values.get("field60_length", "8")
            )
        mac = values.get("mac_method", "cup")
        if mac != "cup" and algorithm == "SM4":
            raise ParamError("mac_method: %s is a DES MAC; key_algorithm SM4 needs cup" % mac)
        return
    static_given = any(n in values for n in ("ethernet.ip", "ethernet.mask", "ethernet.gateway"))
    static_needed = not values.get("ethernet.dhcp") or static_given
    for group in GROUPS:
        if values["bearer"] != group and not any(n.startswith(group + ".") for n in values):
            continue
        for f in FIELDS:
            if f.group == group and not f.optional and f.name not in values:
                if f.static and not static_needed:
                    continue
                raise ParamError("%s: missing (tag 0x%02x)" % (f.name, f.tag), "missing")
    if values.get("dialup.line") == "extension" and not values.get("dialup.prefix"):
        raise ParamError("dialup.prefix: an extension line needs the outside-line prefix")
    for group in ("gprs", "ethernet"):
        host, port = group + ".backup_host", group + ".backup_port"
        if host in values and port not in values:
            raise ParamError("%s: needed with %s" % (port, host))
        if port in values and host not in values:
            raise ParamError("%s: needed with %s" % (host, port))
    if values["host_select"] == "backup":
        bearer = values["bearer"]
        backup = "dialup.phone2" if bearer == "dialup" else bearer + ".backup_host"
        if backup not in values:
            raise ParamError("host_select: backup selected but %s is not set" % backup)
    if "ethernet.ip" in values:
        ip, mask = values["ethernet.ip"], values["ethernet.mask"]
        gateway = values["ethernet.gateway"]
        bits = format(int(ipaddress.IPv4Address(mask)), "032b")
        if not re.fullmatch("1+0*", bits):
            raise ParamError("ethernet.mask: %s is not a network mask" % mask)
        mask = str(bits.count("1"))
        interface = ipaddress.IPv4Interface("%s/%s" % (ip, mask))
        net = interface.network
        if net.prefixlen < 32 and interface.ip in (net.network_address, net.broadcast_address):
            raise ParamError(
                "ethernet.ip: %s is not a host address of its network %s"
                % (ip, values["ethernet.mask"])
            )
        if ipaddress.IPv4Address(gateway) not in net:
            raise ParamError(
                "ethernet.gateway: %s is not in the network of %s/%s"
                % (gateway, ip, values["ethernet.mask"])
            )


# Field 62 layouts of the sign-on answer (spec §3.3), as the 60.3 codes fix them; any other is
# described in the same words (docs/keys.md).
FIXED_LAYOUTS = {
    "001": "PIK8 CV4 MAK8 CV4",
    "003": "PIK16 CV4 MAK16 CV4",
    "004": "PIK16 CV4 MAK8 PAD8 CV4 TDK16 CV4",
    "006": "PIK16 CV4 MAK16 CV4 TDK16 CV4",
}
_LAYOUT_ITEM = re.compile(r"(PIK|MAK|TDK|CV|PAD)([1-9][0-9]*)\Z")


def key_layout(spec: str, sm4: bool = False) -> tuple[int, list[tuple[str, int, int, int, int]]]:
    """The field 62 layout `spec` names (a 60.3 code, "SM4" = 006, or a description such as
    "PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4"): (field length, [(usage, key offset, key length, CV
    offset, CV length)] in field order). ValueError, worded as the terminal words it, for
    anything it would refuse."""
    if spec == "SM4":
        spec = "006"
    if spec.isdigit():
        if spec not in FIXED_LAYOUTS:
            raise ValueError(
                "%s is not a sign-on layout: 001, 003, 004, 006 or a description" % spec
            )
        spec = FIXED_LAYOUTS[spec]
    keys: list[list] = []
    offset = 0
    waiting: list | None = None
    for item in spec.split():
        match = _LAYOUT_ITEM.match(item)
        if not match:
            raise ValueError("%s is not PIK, MAK, TDK, CV or PAD and a length in bytes" % item)
        name, size = match.group(1), int(match.group(2))
        limits = {"PAD": range(1, 65), "CV": range(2, 9)}.get(name, (8, 16, 24))
        if size not in limits:
            raise ValueError(
                "%s: keys are 8, 16 or 24 bytes, check values 2 to 8, fillers 1 to 64" % item
            )
        if name == "CV":
            if waiting is None:
                raise ValueError("%s is not after a key" % item)
            waiting[3:5] = [offset, size]
            waiting = None
        elif name != "PAD":
            if sm4 and size != 16:
                raise ValueError("%s: SM4 keys are 16 bytes" % item)
            if waiting is not None:
                raise ValueError("%s has no check value after it" % waiting[0])
            if any(key[0] == name for key in keys):
                raise ValueError("%s appears twice" % name)
            waiting = [name, offset, size, 0, 0]
            keys.append(waiting)
        offset += size
    if waiting is not None:
        raise ValueError("%s has no check value after it" % waiting[0])
    if not {"PIK", "MAK"} <= {key[0] for key in keys}:
        raise ValueError("a layout needs a PIK and a MAK")
    return offset, [tuple(key) for key in keys]


def _unknown(name: str, app_index: int) -> ParamError:
    names = [f.name for f in fields(app_index)]
    close = difflib.get_close_matches(name, names, n=1)
    hint = "; did you mean %s?" % close[0] if close else ""
    return ParamError("%s: no such %s parameter%s" % (name, scope_name(app_index), hint), "tag")


def encode_parameters(values: Mapping, app_index: int) -> bytes:
    """Validate a parameter set (flat or nested names) and return its TLV body, tags
    ascending. Raises ParamError on the first bad or missing value, as the terminal would."""
    flat = flatten(values)
    scope = _scope(app_index)
    for name in flat:
        if not any(f.name == name and f.scope == scope for f in FIELDS):
            raise _unknown(name, app_index)
    items = []
    checked = {}
    for f in fields(app_index):
        if f.name in flat and flat[f.name] is not None:
            raw = encode_value(f, flat[f.name])
            items.append((f.tag, raw))
            checked[f.name] = decode_value(f, raw)
    check_set(checked, app_index)
    return tlv(items)


def decode_parameters(body: bytes, app_index: int) -> dict:
    """Validate a TLV body as the terminal does; {name: value} in tag order. Unknown
    optional tags are skipped; anything the terminal would refuse raises ParamError."""
    scope = _scope(app_index)
    values = {}
    seen = set()
    for tag, offset, raw in tlv_items(body):
        f = BY_TAG.get(tag)
        if tag in seen:
            what = " (%s)" % f.name if f else ""
            raise ParamError(
                "duplicate tag 0x%02x%s at offset %d" % (tag, what, offset), "duplicate"
            )
        seen.add(tag)
        if f is None:
            if tag >= OPTIONAL_TAGS:
                continue
            raise ParamError("unknown mandatory tag 0x%02x at offset %d" % (tag, offset), "tag")
        if f.scope != scope:
            raise ParamError(
                "tag 0x%02x (%s) is not a%s %s parameter"
                % (tag, f.name, "n" if scope == A else "", scope),
                "tag",
            )
        values[f.name] = decode_value(f, raw)
    check_set(values, app_index)
    return {f.name: values[f.name] for f in fields(app_index) if f.name in values}


# --- key packet bodies ---------------------------------------------------------------------

TAG_SLOT, TAG_KEY_BLOCK, TAG_KCV = 0x01, 0x02, 0x03
MAX_SLOT = 99
MAX_KEY_ENTRIES = 16


@dataclass(frozen=True)
class KeyEntry:
    """One master key for the terminal: the slot the acquirer gave, its TR-31 key block,
    and optionally the check value the key custodian has (checked again by the terminal)."""

    slot: int
    key_block: str
    kcv: bytes | None = None


def encode_keys(entries: Iterable) -> bytes:
    """TLV body of a key packet from KeyEntry objects or (slot, key_block[, kcv]) tuples."""
    items = []
    slots = set()
    for entry in entries:
        if not isinstance(entry, KeyEntry):
            entry = KeyEntry(*entry)
        if isinstance(entry.kcv, str):
            entry = KeyEntry(entry.slot, entry.key_block, bytes.fromhex(entry.kcv))
        if not isinstance(entry.slot, int) or not 0 <= entry.slot <= MAX_SLOT:
            raise ParamError("slot: must be 0 to %d, got %r" % (MAX_SLOT, entry.slot))
        if entry.slot in slots:
            raise ParamError("duplicate slot %d" % entry.slot, "duplicate")
        slots.add(entry.slot)
        block = entry.key_block
        if not 16 <= len(block) <= 1024:
            raise ParamError("key_block: must be 16 to 1024 characters, got %d" % len(block))
        if not (block.isascii() and block.isprintable()):
            raise ParamError("key_block: must be printable ASCII (TR-31)")
        items += [(TAG_SLOT, bytes([entry.slot])), (TAG_KEY_BLOCK, block.encode("ascii"))]
        if entry.kcv is not None:
            if not 2 <= len(entry.kcv) <= 16:
                raise ParamError("kcv: must be 2 to 16 bytes, got %d" % len(entry.kcv))
            items.append((TAG_KCV, bytes(entry.kcv)))
    if not items:
        raise ParamError("key packet holds no key block", "missing")
    if len(slots) > MAX_KEY_ENTRIES:
        raise ParamError("more than %d key blocks in one packet" % MAX_KEY_ENTRIES)
    return tlv(items)


def decode_keys(body: bytes) -> list[KeyEntry]:
    """Key packet body -> KeyEntry list, refusing what the terminal refuses."""
    entries: list[dict] = []
    for tag, offset, raw in tlv_items(body):
        if tag == TAG_SLOT:
            if entries and entries[-1]["block"] is None:
                raise ParamError("slot %d has no key block" % entries[-1]["slot"], "missing")
            if len(raw) != 1:
                raise ParamError("slot: must be 1 byte, got %d" % len(raw))
            if raw[0] > MAX_SLOT:
                raise ParamError("slot: must be 0 to %d, got %d" % (MAX_SLOT, raw[0]))
            if any(e["slot"] == raw[0] for e in entries):
                raise ParamError("duplicate slot %d at offset %d" % (raw[0], offset), "duplicate")
            if len(entries) == MAX_KEY_ENTRIES:
                raise ParamError("more than %d key blocks in one packet" % MAX_KEY_ENTRIES)
            entries.append({"slot": raw[0], "block": None, "kcv": None})
        elif tag == TAG_KEY_BLOCK:
            if not entries or entries[-1]["block"] is not None:
                raise ParamError("key block at offset %d does not follow a slot" % offset, "tlv")
            if not 16 <= len(raw) <= 1024:
                raise ParamError("key_block: must be 16 to 1024 characters, got %d" % len(raw))
            if any(not 0x20 <= b <= 0x7E for b in raw):
                raise ParamError("key_block: must be printable ASCII (TR-31)")
            entries[-1]["block"] = raw.decode("ascii")
        elif tag == TAG_KCV:
            if not entries or entries[-1]["block"] is None or entries[-1]["kcv"] is not None:
                raise ParamError(
                    "check value at offset %d does not follow a key block" % offset, "tlv"
                )
            if not 2 <= len(raw) <= 16:
                raise ParamError("kcv: must be 2 to 16 bytes, got %d" % len(raw))
            entries[-1]["kcv"] = raw
        elif tag < OPTIONAL_TAGS:
            raise ParamError("unknown mandatory tag 0x%02x at offset %d" % (tag, offset), "tag")
    if not entries:
        raise ParamError("key packet holds no key block", "missing")
    if entries[-1]["block"] is None:
        raise ParamError("slot %d has no key block" % entries[-1]["slot"], "missing")
    return [KeyEntry(e["slot"], e["block"], e["kcv"]) for e in entries]


# --- packets -------------------------------------------------------------------------------

_SERIAL = re.compile(r"[A-Z0-9-]{4,16}\Z")


def check_serial(serial: str) -> str:
    """A terminal serial as provisioning gives it: 4 to 16 of A-Z, 0-9 and '-'."""
    if not isinstance(serial, str) or not _SERIAL.match(serial):
        raise PacketError(
            "serial", "terminal serial must be 4 to 16 of A-Z, 0-9 and '-', got %r" % (serial,)
        )
    return serial


def _check_link_key(link_key: bytes) -> bytes:
    if len(link_key) != 32:
        raise PacketError("mac", "link key must be 32 bytes, got %d" % len(link_key))
    return bytes(link_key)


def _build(kind: int, body: bytes, serial: str, link_key: bytes, version: int, app_index: int):
    check_serial(serial)
    _check_link_key(link_key)
    if not 1 <= version <= 0xFFFFFFFF:
        raise PacketError("version", "packet version must be 1 to 4294967295, got %r" % version)
    low = 0 if kind == PARAMETERS else 1
    if not low <= app_index <= MAX_APPLICATIONS:
        raise PacketError(
            "application",
            "application index %d out of range %d to %d" % (app_index, low, MAX_APPLICATIONS),
        )
    if len(body) > MAX_BODY:
        raise PacketError(
            "oversized", "body of %d bytes exceeds the %d-byte maximum" % (len(body), MAX_BODY)
        )
    signed = Signed.build(
        {
            "header": {
                "magic": MAGIC,
                "format": FORMAT,
                "kind": kind,
                "app_index": app_index,
                "serial": serial.encode("ascii").ljust(SERIAL_SIZE, b"\0"),
                "version": version,
                "body_length": len(body),
            },
            "body": body,
        }
    )
    with_crc = signed + crc32(signed).to_bytes(4, "big")
    return with_crc + hmac.new(link_key, with_crc, hashlib.sha256).digest()


def build_parameter_packet(
    params: Mapping, serial: str, link_key: bytes, version: int, app_index: int = 0
) -> bytes:
    """A parameter packet for terminal `serial` (0 = terminal-wide, 1..N an application).
    `params` is validated completely first (ParamError names the field)."""
    return _build(
        PARAMETERS, encode_parameters(params, app_index), serial, link_key, version, app_index
    )


def build_key_packet(
    entries: Iterable, serial: str, link_key: bytes, version: int, app_index: int
) -> bytes:
    """A key packet carrying TR-31 key blocks for the slots of application `app_index`."""
    return _build(KEYS, encode_keys(entries), serial, link_key, version, app_index)


@dataclass
class ParsedPacket:
    """A packet taken apart; `mac_checked`/`serial_checked` say what verify() could check."""

    kind: int
    app_index: int
    serial: str
    version: int
    body: bytes
    crc: int
    mac: bytes
    size: int
    items: list = field(default_factory=list)  # (tag, offset, value) of the body
    params: dict | None = None
    entries: list | None = None
    mac_checked: bool = False
    serial_checked: bool = False

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]


def _show_serial(raw: bytes) -> str:
    text = raw.rstrip(b"\0")
    if all(0x20 < b < 0x7F for b in text):
        return text.decode("ascii")
    return "0x" + raw.hex()


def verify(
    data: bytes,
    serial: str | None = None,
    link_key: bytes | None = None,
    installed_version: int | None = None,
) -> ParsedPacket:
    """Check a packet as the terminal does, in the terminal's order, and take it apart.

    Without `serial`, `link_key` or `installed_version` that check is left out (offline
    inspection); everything else (structure, CRC, every parameter) is always checked.
    Raises PacketError (ParamError for a bad body) with the terminal's reason and message.
    """
    n = len(data)
    if n > MAX_PACKET:
        raise PacketError(
            "oversized", "packet of %d bytes exceeds the %d-byte maximum" % (n, MAX_PACKET)
        )
    if n < 4:
        raise PacketError("truncated", "packet is truncated: %d bytes" % n)
    if data[:4] != MAGIC:
        raise PacketError("magic", "wrong magic: not a poskit parameter or key packet")
    if n < HEADER_SIZE:
        raise PacketError(
            "truncated", "packet is truncated: %d bytes, the header alone is %d" % (n, HEADER_SIZE)
        )
    header = Header.parse(data)
    if header.format != FORMAT:
        raise PacketError(
            "format",
            "unsupported format version %d (this terminal reads %d)" % (header.format, FORMAT),
        )
    if header.kind not in KIND_NAMES:
        raise PacketError(
            "kind", "unknown packet kind %d (1 = parameters, 2 = keys)" % header.kind
        )
    low = 0 if header.kind == PARAMETERS else 1
    if not low <= header.app_index <= MAX_APPLICATIONS:
        raise PacketError(
            "application",
            "application index %d out of range %d to %d%s"
            % (
                header.app_index,
                low,
                MAX_APPLICATIONS,
                " (keys belong to an application)" if low else "",
            ),
        )
    if header.body_length > MAX_BODY:
        raise PacketError(
            "oversized",
            "body of %d bytes exceeds the %d-byte maximum" % (header.body_length, MAX_BODY),
        )
    total = OVERHEAD + header.body_length
    if n < total:
        raise PacketError("truncated", "packet is truncated: %d bytes of %d" % (n, total))
    if n > total:
        raise PacketError("trailing", "%d trailing bytes after the MAC" % (n - total))
    packet = Packet.parse(data)
    signed = packet.signed.data
    if crc32(signed) != packet.crc:
        raise PacketError("crc", "CRC does not match: the packet was damaged in transit")
    if serial is not None:
        expected = check_serial(serial).encode("ascii").ljust(SERIAL_SIZE, b"\0")
        if header.serial != expected:
            raise PacketError(
                "serial",
                "packet is for terminal %s, this is %s" % (_show_serial(header.serial), serial),
            )
    if link_key is not None:
        mac = hmac.new(_check_link_key(link_key), data[: total - MAC_SIZE], hashlib.sha256)
        if not hmac.compare_digest(mac.digest(), packet.mac):
            raise PacketError(
                "mac", "MAC does not verify: wrong link key, or the packet was altered"
            )
    if installed_version is not None and header.version <= installed_version:
        raise PacketError(
            "version",
            "packet version %d is not newer than installed version %d"
            % (header.version, installed_version),
        )
    body = packet.signed.value.body
    result = ParsedPacket(
        kind=header.kind,
        app_index=header.app_index,
        serial=_show_serial(header.serial),
        version=header.version,
        body=body,
        crc=packet.crc,
        mac=packet.mac,
        size=n,
        mac_checked=link_key is not None,
        serial_checked=serial is not None,
    )
    result.items = tlv_items(body)
    if header.kind == PARAMETERS:
        result.params = decode_parameters(body, header.app_index)
    else:
        result.entries = decode_keys(body)
    return result


def parse(data: bytes) -> ParsedPacket:
    """Take a packet apart with every check that needs neither the serial nor the link key."""
    return verify(data)
