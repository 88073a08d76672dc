"""The parameter schema: every tag, its name, type and limits, and the rule each value is
checked against (docs/packets.md, "Parameter tags"). Used by app.params and app.packet.

Value checks raise ParamError naming the field, as the installer should read it:

    merchant_id: must be 15 digits, got 14
    ethernet.ip: 300.1.1.1 is not an IPv4 address

Kept apart from app.params so that neither module is large to compile from source: the
MicroPython compiler's peak grows with the module, and the ESP32 has about 110 KB of heap.
"""

import struct

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731


# Matches app.keys.KeyStore's default number of applications.
MAX_APPLICATIONS = const(8)
MAX_TLV_LENGTH = const(0x7FFF)
OPTIONAL_TAGS = const(0x80)  # tags with this bit set may be ignored by a reader

# Value kinds
_U8 = const(1)
_U16 = const(2)
_BOOL = const(3)
_CHOICE = const(4)
_TEXT = const(5)
_GB18030 = const(6)
HASH = const(7)
_IPV4 = const(8)
_HOST = const(9)
_TPDU = const(10)

# Flags
TERMINAL = const(0x01)
APPLICATION = const(0x02)
OPTIONAL = const(0x04)  # may be absent
DIALUP = const(0x10)  # bearer groups: required when the bearer is selected or configured
GPRS = const(0x20)
ETHERNET = const(0x40)
GROUP_MASK = const(0x70)
STATIC = const(0x80)  # required in the Ethernet group when DHCP is off

HASH_SCHEME = const(1)
HASH_SIZE = const(49)  # scheme + salt + SHA-256

# Character classes of text values: (allowed bytes, what they are called in a message).
# None as the allowed bytes means printable ASCII (0x20-0x7E).
_DIGITS = (b"0123456789", "digits")
_ALNUM = (b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", "letters or digits")
_PHONE = (b"0123456789,", "digits and commas")
_DIAL = (b"0123456789*#", "digits, * and #")
_APN = (
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-.",
    "letters, digits, '-' and '.'",
)
_PRINTABLE = (None, "printable ASCII characters")
_HEX = b"0123456789ABCDEFabcdef"
_HOST_CHARS = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-."

_ALGORITHMS = ("DES", "3DES", "SM4")

# The schema: (tag, name, kind, low, high, flags, extra). For numbers low/high bound the
# value, for text its length; extra is the character class or the tuple of choices.
# Tags ascend: to_tlv() writes them in this order.
SCHEMA = (
    (0x01, "language", _CHOICE, 0, 0, TERMINAL, ("zh", "en")),
    (0x02, "receipt_copies", _U8, 1, 3, TERMINAL, None),
    (0x03, "external_pinpad", _BOOL, 0, 1, TERMINAL, None),
    (0x04, "operator_password", HASH, 0, 0, TERMINAL, None),
    (0x05, "supervisor_password", HASH, 0, 0, TERMINAL, None),
    (0x06, "key_algorithm", _CHOICE, 0, 0, TERMINAL, _ALGORITHMS),
    (0x07, "connect_timeout", _U8, 5, 120, TERMINAL, None),
    (0x08, "send_timeout", _U8, 5, 120, TERMINAL, None),
    (0x09, "receive_timeout", _U8, 5, 120, TERMINAL, None),
    (0x0A, "reversal_retries", _U8, 0, 9, TERMINAL, None),
    (0x0B, "host_select", _CHOICE, 0, 0, TERMINAL, ("primary", "backup")),
    (0x0C, "bearer", _CHOICE, 0, 0, TERMINAL, ("dialup", "gprs", "ethernet")),
    (0x10, "dialup.prefix", _TEXT, 0, 4, TERMINAL | DIALUP, _DIGITS),
    (0x11, "dialup.line", _CHOICE, 0, 0, TERMINAL | DIALUP, ("direct", "extension")),
    (0x12, "dialup.phone1", _TEXT, 1, 24, TERMINAL | DIALUP, _PHONE),
    (0x13, "dialup.phone2", _TEXT, 1, 24, TERMINAL | DIALUP | OPTIONAL, _PHONE),
    (0x14, "dialup.tpdu", _TPDU, 10, 10, TERMINAL | DIALUP, None),
    (0x15, "dialup.lri", _BOOL, 0, 1, TERMINAL | DIALUP, None),
    (0x20, "gprs.access_number", _TEXT, 1, 16, TERMINAL | GPRS, _DIAL),
    (0x21, "gprs.apn", _TEXT, 1, 63, TERMINAL | GPRS, _APN),
    (0x22, "gprs.user", _TEXT, 0, 32, TERMINAL | GPRS | OPTIONAL, _PRINTABLE),
    (0x23, "gprs.password", _TEXT, 0, 32, TERMINAL | GPRS | OPTIONAL, _PRINTABLE),
    (0x24, "gprs.host", _HOST, 1, 64, TERMINAL | GPRS, None),
    (0x25, "gprs.port", _U16, 1, 65535, TERMINAL | GPRS, None),
    (0x26, "gprs.backup_host", _HOST, 1, 64, TERMINAL | GPRS | OPTIONAL, None),
    (0x27, "gprs.backup_port", _U16, 1, 65535, TERMINAL | GPRS | OPTIONAL, None),
    (0x28, "gprs.tpdu", _TPDU, 10, 10, TERMINAL | GPRS, None),
    (0x30, "ethernet.dhcp", _BOOL, 0, 1, TERMINAL | ETHERNET, None),
    (0x31, "ethernet.ip", _IPV4, 7, 15, TERMINAL | ETHERNET | STATIC, None),
    (0x32, "ethernet.mask", _IPV4, 7, 15, TERMINAL | ETHERNET | STATIC, None),
    (0x33, "ethernet.gateway", _IPV4, 7, 15, TERMINAL | ETHERNET | STATIC, None),
    (0x34, "ethernet.dns", _IPV4, 7, 15, TERMINAL | ETHERNET | OPTIONAL, None),
    (0x35, "ethernet.host", _HOST, 1, 64, TERMINAL | ETHERNET, None),
    (0x36, "ethernet.port", _U16, 1, 65535, TERMINAL | ETHERNET, None),
    (0x37, "ethernet.backup_host", _HOST, 1, 64, TERMINAL | ETHERNET | OPTIONAL, None),
    (0x38, "ethernet.backup_port", _U16, 1, 65535, TERMINAL | ETHERNET | OPTIONAL, None),
    (0x39, "ethernet.tpdu", _TPDU, 10, 10, TERMINAL | ETHERNET, None),
    (0x40, "name", _TEXT, 1, 16, APPLICATION, _PRINTABLE),
    (0x41, "merchant_id", _TEXT, 15, 15, APPLICATION, _DIGITS),
    (0x42, "terminal_id", _TEXT, 8, 8, APPLICATION, _ALNUM),
    (0x43, "merchant_name", _GB18030, 1, 40, APPLICATION, None),
    (0x44, "key_algorithm", _CHOICE, 0, 0, APPLICATION, _ALGORITHMS),
    (0x45, "tmk_slot", _U8, 0, 99, APPLICATION, None),
    (0x46, "signon_mode", _CHOICE, 0, 0, APPLICATION, ("001", "003", "004", "006")),
    (0x47, "header_version", _TEXT, 4, 4, APPLICATION, _DIGITS),
    (0x48, "header_subversion", _TEXT, 6, 6, APPLICATION, _DIGITS),
    (0x49, "tpdu", _TPDU, 10, 10, APPLICATION | OPTIONAL, None),
    (0x80, "job_reference", _TEXT, 0, 32, TERMINAL | OPTIONAL, _PRINTABLE),
)

GROUP_NAMES = ((DIALUP, "dialup"), (GPRS, "gprs"), (ETHERNET, "ethernet"))


def _index_schema():
    # tag -> schema index + 1 (0 = unknown): a bytes table, built once.
    table = bytearray(256)
    for i in range(len(SCHEMA)):
        table[SCHEMA[i][0]] = i + 1
    return bytes(table)


BY_TAG = _index_schema()


class ParamError(ValueError):
    """A parameter set that cannot be accepted; the message names the field.

    `reason` says which rule was broken: "tlv" (bad TLV structure or length), "tag"
    (unknown mandatory tag, or a tag of the other scope), "duplicate", "missing", "value".
    """

    def __init__(self, message, reason="value"):
        super().__init__(message)
        self.reason = reason


def scope_of(app_index):
    """TERMINAL for index 0, APPLICATION for 1..MAX_APPLICATIONS; else ParamError."""
    if app_index == 0:
        return TERMINAL
    if 1 <= app_index <= MAX_APPLICATIONS:
        return APPLICATION
    raise ParamError(
        "application index %d out of range 1 to %d (0 = terminal)" % (app_index, MAX_APPLICATIONS),
        "application",
    )


def scope_name(app_index):
    """The scope in words, "terminal" or "application N", for messages and screens."""
    return "terminal" if app_index == 0 else "application %d" % app_index


def spec(name, app_index=0):
    """The schema entry of parameter `name` in the scope of `app_index`, or None."""
    scope = scope_of(app_index)
    for entry in SCHEMA:
        if entry[1] == name and entry[5] & scope:
            return entry
    return None


def walk(body):
    """Iterate over the TLV items of `body` as (tag, offset, value memoryview).

    Raises ParamError("tlv") on a reserved tag 0x00, a length running past the end, or a
    2-byte length under 128 (one value has one encoding). Duplicates are the caller's.
    """
    mv = memoryview(body)
    end = len(mv)
    pos = 0
    while pos < end:
        start = pos
        tag = mv[pos]
        if tag == 0:
            raise ParamError("bad TLV at offset %d: tag 0x00 is reserved" % start, "tlv")
        if pos + 2 > end:
            raise ParamError("bad TLV length at offset %d: no length byte" % start, "tlv")
        length = mv[pos + 1]
        pos += 2
        if length & 0x80:
            if pos >= end:
                raise ParamError(
                    "bad TLV length at offset %d: second length byte missing" % start, "tlv"
                )
            length = (length & 0x7F) << 8 | mv[pos]
            pos += 1
            if length < 0x80:
                raise ParamError(
                    "bad TLV length at offset %d: 2-byte form for length %d (under 128)"
                    % (start, length),
                    "tlv",
                )
        if length > end - pos:
            raise ParamError(
                "bad TLV length at offset %d: tag 0x%02x announces %d bytes, %d left"
                % (start, tag, length, end - pos),
                "tlv",
            )
        yield tag, start, mv[pos : pos + length]
        pos += length


def put_tlv(buf, tag, value):
    """Append one TLV item to bytearray `buf` (the canonical, shortest length form)."""
    length = len(value)
    if length > MAX_TLV_LENGTH:
        raise ValueError("TLV value of %d bytes is too long" % length)
    buf.append(tag)
    if length < 0x80:
        buf.append(length)
    else:
        buf.append(0x80 | length >> 8)
        buf.append(length & 0xFF)
    buf.extend(value)


def _show(raw):
    # A value as it can be shown in a message: text when printable ASCII, else hex.
    for c in raw:
        if c < 0x20 or c > 0x7E:
            return "0x" + "".join("%02x" % b for b in raw)
    return raw.decode()


def _char(c):
    return "'%s'" % chr(c) if 0x20 < c < 0x7F else "0x%02x" % c


def ipv4(raw):
    """The 4 octets of dotted-quad text, or None. No leading zeros (010 is ambiguous)."""
    parts = raw.split(b".")
    if len(parts) != 4:
        return None
    out = bytearray(4)
    for i in range(4):
        part = parts[i]
        if not 1 <= len(part) <= 3 or (len(part) > 1 and part[0] == 0x30):
            return None
        n = 0
        for c in part:
            if not 0x30 <= c <= 0x39:
                return None
            n = n * 10 + c - 0x30
        if n > 255:
            return None
        out[i] = n
    return out


def _check_gb18030(name, raw):
    # Structure only (MicroPython has no GB18030 codec): single bytes 0x20-0x7E, two-byte
    # 81-FE + 40-7E/80-FE, four-byte 81-FE 30-39 81-FE 30-39. Catches a name cut in the
    # middle of a character and control bytes.
    n = len(raw)
    i = 0
    while i < n:
        b = raw[i]
        if b < 0x80:
            if b < 0x20 or b == 0x7F:
                raise ParamError("%s: control byte 0x%02x at byte %d" % (name, b, i))
            i += 1
            continue
        ok = False
        if 0x81 <= b <= 0xFE and i + 1 < n:
            b2 = raw[i + 1]
            if 0x40 <= b2 <= 0xFE and b2 != 0x7F:
                ok = True
                i += 2
            elif 0x30 <= b2 <= 0x39 and i + 3 < n:
                if 0x81 <= raw[i + 2] <= 0xFE and 0x30 <= raw[i + 3] <= 0x39:
                    ok = True
                    i += 4
        if not ok:
            raise ParamError("%s: not valid GB18030 at byte %d" % (name, i))


def _check_host(name, raw):
    # A host name (letters, digits, '-', dot-separated labels) or a dotted-quad address.
    numeric = True
    for c in raw:
        if c not in _HOST_CHARS:
            raise ParamError(
                "%s: character %s is not allowed in a host name or IPv4 address" % (name, _char(c))
            )
        if c != 0x2E and not 0x30 <= c <= 0x39:
            numeric = False
    if numeric:
        if ipv4(raw) is None:
            raise ParamError("%s: %s is not an IPv4 address" % (name, raw.decode()))
        return
    for label in raw.split(b"."):
        if not 1 <= len(label) <= 63 or label[0] == 0x2D or label[-1] == 0x2D:
            raise ParamError("%s: %s is not a valid host name" % (name, raw.decode()))


def decode_value(entry, value):
    """Validate one raw value against its schema entry; return the Python value."""
    _, name, kind, low, high, _, extra = entry
    raw = bytes(value)
    n = len(raw)
    if kind == _U8 or kind == _BOOL:
        if n != 1:
            raise ParamError("%s: must be 1 byte, got %d" % (name, n))
        v = raw[0]
        if kind == _BOOL:
            if v > 1:
                raise ParamError("%s: must be 0 (no) or 1 (yes), got %d" % (name, v))
            return v == 1
        if not low <= v <= high:
            raise ParamError("%s: must be %d to %d, got %d" % (name, low, high, v))
        return v
    if kind == _U16:
        if n != 2:
            raise ParamError("%s: must be 2 bytes, got %d" % (name, n))
        v = raw[0] << 8 | raw[1]
        if not low <= v <= high:
            raise ParamError("%s: must be %d to %d, got %d" % (name, low, high, v))
        return v
    if kind == _CHOICE:
        for choice in extra:
            if raw == choice.encode():
                return choice
        raise ParamError("%s: must be one of %s; got %s" % (name, ", ".join(extra), _show(raw)))
    if kind == _GB18030:
        if not n:
            raise ParamError("%s: must not be empty" % name)
        if n > high:
            raise ParamError("%s: must be at most %d bytes (GB18030), got %d" % (name, high, n))
        _check_gb18030(name, raw)
        return raw
    if kind == HASH:
        if n != HASH_SIZE:
            raise ParamError(
                "%s: must be a %d-byte password hash, got %d bytes" % (name, HASH_SIZE, n)
            )
        if raw[0] != HASH_SCHEME:
            raise ParamError("%s: unsupported password hash scheme %d" % (name, raw[0]))
        return raw
    if kind == _TPDU:
        if n != 10:
            raise ParamError("%s: must be 10 hex digits, got %d" % (name, n))
        for c in raw:
            if c not in _HEX:
                raise ParamError("%s: must be 10 hex digits, got %s" % (name, _char(c)))
        return raw.decode()
    if kind == _IPV4:
        if ipv4(raw) is None:
            raise ParamError("%s: %s is not an IPv4 address" % (name, _show(raw)))
        return raw.decode()
    if kind == _HOST:
        if not low <= n <= high:
            raise ParamError("%s: must be %d to %d characters, got %d" % (name, low, high, n))
        _check_host(name, raw)
        return raw.decode()
    # _TEXT
    allowed, called = extra
    if low == high and n != low:
        raise ParamError("%s: must be %d %s, got %d" % (name, low, called, n))
    if not low <= n <= high:
        if low == 0:
            raise ParamError("%s: must be at most %d characters, got %d" % (name, high, n))
        raise ParamError("%s: must be %d to %d characters, got %d" % (name, low, high, n))
    for i in range(n):
        c = raw[i]
        if (c not in allowed) if allowed is not None else not 0x20 <= c <= 0x7E:
            if low == high:
                raise ParamError(
                    "%s: must be %d %s, got %s at position %d"
                    % (name, low, called, _char(c), i + 1)
                )
            raise ParamError(
                "%s: character %s at position %d is not allowed (%s only)"
                % (name, _char(c), i + 1, called)
            )
    return raw.decode()


def encode_value(entry, value):
    kind = entry[2]
    if kind == _U8:
        return bytes((value,))
    if kind == _BOOL:
        return b"\x01" if value else b"\x00"
    if kind == _U16:
        return struct.pack(">H", value)
    if kind == _GB18030 or kind == HASH:
        return bytes(value)
    return value.encode()
