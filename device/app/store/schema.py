"""The parameter schema and its rules: every tag, its name, type and limits, the check of
each value, which values a set needs and how they must agree (docs/packets.md, §4-5). Used
by app.store.params, which holds a set of values, and app.store.packet.

A refused value or set raises ParamError naming the field, as the installer should read it:

    merchant_id: must be 15 digits, got 14
    ethernet.ip: 300.1.1.1 is not an IPv4 address

Kept apart from app.store.params so that neither module is large to compile from source: the
MicroPython compiler's peak grows with the module, and the ESP32 has about 110 KB of heap.

Memory: the schema and the refusal messages are packed into a few bytes and str literals
(_TABLE, the texts it points into, _MESSAGES), read a row or a text at a time. A literal
stays in the .mpy's bytecode (in flash, in a ROMFS image) and costs one small object on the
heap; a tuple, or a string literal of its own, is built on the heap when the module loads,
used or not. With the schema as tuples and each message a literal, this module and
app.store.params kept 19 KB of heap after import, packed 6.5 KB (64-bit unix port; checked by
firmware_tests/test_import_heap.py). Values are kept by tag, so a parameter set holds no
name strings either; a name is looked up in _NAMES when one is asked for or printed.
"""

import binascii
import struct

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731


# Matches app.keys.slots.KeyStore's default number of applications.
MAX_APPLICATIONS = const(8)
_MAX_TLV_LENGTH = const(0x7FFF)
_OPTIONAL_TAGS = const(0x80)  # tags with this bit set may be ignored by a reader

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
_APPLICATION = const(0x02)
OPTIONAL = const(0x04)  # may be absent
DIALUP = const(0x10)  # bearer groups: required when the bearer is selected or configured
GPRS = const(0x20)
ETHERNET = const(0x40)
GROUP_MASK = const(0x70)
STATIC = const(0x80)  # required in the Ethernet group when DHCP is off

_HASH_SCHEME = const(1)
_HASH_SIZE = const(49)  # scheme + salt + SHA-256

# The schema, one 7-byte row per tag, tags ascending (to_tlv() writes them in this order):
#   tag, kind, flags, low, high (2 bytes, big-endian), extra
# For numbers low/high bound the value, for text and host names its length. extra is the
# choice list (_CHOICES) of a choice and the character class (_CHARS, _CALLED) of a text,
# both counted from 0. Row i is named by text i of _NAMES.
_ROW = const(7)
_KIND = const(1)
_FLAGS = const(2)
_LOW = const(3)
_HIGH = const(4)
_EXTRA = const(6)
_TABLE = (
    #  tag kind flags low high---- extra
    b"\x01\x04\x01\x00\x00\x00\x00"  # language: choice zh, en
    b"\x02\x01\x01\x01\x00\x03\x00"  # receipt_copies: u8 1..3
    b"\x03\x03\x01\x00\x00\x01\x00"  # external_pinpad: bool
    b"\x04\x07\x01\x00\x00\x00\x00"  # operator_password: hash
    b"\x05\x07\x01\x00\x00\x00\x00"  # supervisor_password: hash
    b"\x06\x04\x01\x00\x00\x00\x01"  # key_algorithm: choice DES, 3DES, SM4
    b"\x07\x01\x01\x05\x00\x78\x00"  # connect_timeout: u8 5..120
    b"\x08\x01\x01\x05\x00\x78\x00"  # send_timeout: u8 5..120
    b"\x09\x01\x01\x05\x00\x78\x00"  # receive_timeout: u8 5..120
    b"\x0a\x01\x01\x00\x00\x09\x00"  # reversal_retries: u8 0..9
    b"\x0b\x04\x01\x00\x00\x00\x02"  # host_select: choice primary, backup
    b"\x0c\x04\x01\x00\x00\x00\x03"  # bearer: choice dialup, gprs, ethernet
    b"\x0d\x03\x05\x00\x00\x01\x00"  # lockdown: bool, optional
    b"\x0e\x07\x05\x00\x00\x00\x00"  # admin_password: hash, optional
    b"\x10\x05\x11\x00\x00\x04\x00"  # dialup.prefix: text 0..4 digits
    b"\x11\x04\x11\x00\x00\x00\x04"  # dialup.line: choice direct, extension
    b"\x12\x05\x11\x01\x00\x18\x02"  # dialup.phone1: text 1..24 digits and commas
    b"\x13\x05\x15\x01\x00\x18\x02"  # dialup.phone2: text 1..24 digits and commas, optional
    b"\x14\x0a\x11\x0a\x00\x0a\x00"  # dialup.tpdu: tpdu
    b"\x15\x03\x11\x00\x00\x01\x00"  # dialup.lri: bool
    b"\x20\x05\x21\x01\x00\x10\x03"  # gprs.access_number: text 1..16 digits, * and #
    b"\x21\x05\x21\x01\x00\x3f\x04"  # gprs.apn: text 1..63 letters, digits, '-' and '.'
    b"\x22\x05\x25\x00\x00\x20\x05"  # gprs.user: text 0..32 printable, optional
    b"\x23\x05\x25\x00\x00\x20\x05"  # gprs.password: text 0..32 printable, optional
    b"\x24\x09\x21\x01\x00\x40\x00"  # gprs.host: host 1..64
    b"\x25\x02\x21\x01\xff\xff\x00"  # gprs.port: u16 1..65535
    b"\x26\x09\x25\x01\x00\x40\x00"  # gprs.backup_host: host 1..64, optional
    b"\x27\x02\x25\x01\xff\xff\x00"  # gprs.backup_port: u16 1..65535, optional
    b"\x28\x0a\x21\x0a\x00\x0a\x00"  # gprs.tpdu: tpdu
    b"\x30\x03\x41\x00\x00\x01\x00"  # ethernet.dhcp: bool
    b"\x31\x08\xc1\x07\x00\x0f\x00"  # ethernet.ip: ipv4, static
    b"\x32\x08\xc1\x07\x00\x0f\x00"  # ethernet.mask: ipv4, static
    b"\x33\x08\xc1\x07\x00\x0f\x00"  # ethernet.gateway: ipv4, static
    b"\x34\x08\x45\x07\x00\x0f\x00"  # ethernet.dns: ipv4, optional
    b"\x35\x09\x41\x01\x00\x40\x00"  # ethernet.host: host 1..64
    b"\x36\x02\x41\x01\xff\xff\x00"  # ethernet.port: u16 1..65535
    b"\x37\x09\x45\x01\x00\x40\x00"  # ethernet.backup_host: host 1..64, optional
    b"\x38\x02\x45\x01\xff\xff\x00"  # ethernet.backup_port: u16 1..65535, optional
    b"\x39\x0a\x41\x0a\x00\x0a\x00"  # ethernet.tpdu: tpdu
    b"\x40\x05\x02\x01\x00\x10\x05"  # name: text 1..16 printable
    b"\x41\x05\x02\x0f\x00\x0f\x00"  # merchant_id: text 15 digits
    b"\x42\x05\x02\x08\x00\x08\x01"  # terminal_id: text 8 letters or digits
    b"\x43\x06\x02\x01\x00\x28\x00"  # merchant_name: gb18030 1..40 bytes
    b"\x44\x04\x02\x00\x00\x00\x01"  # key_algorithm: choice DES, 3DES, SM4
    b"\x45\x01\x02\x00\x00\x63\x00"  # tmk_slot: u8 0..99
    b"\x46\x04\x02\x00\x00\x00\x05"  # signon_mode: choice 001, 003, 004, 006
    b"\x47\x05\x02\x04\x00\x04\x00"  # header_version: text 4 digits
    b"\x48\x05\x02\x06\x00\x06\x00"  # header_subversion: text 6 digits
    b"\x49\x0a\x06\x0a\x00\x0a\x00"  # tpdu: tpdu, optional
    b"\x4a\x05\x06\x03\x00\x40\x05"  # signon_layout: text 3..64 printable, optional
    b"\x4b\x04\x06\x00\x00\x00\x06"  # field60_length: choice 8, 14, optional
    b"\x4c\x05\x06\x03\x00\x03\x00"  # field60_capability: text 3 digits, optional
    b"\x4d\x04\x06\x00\x00\x00\x07"  # pin_capture_code: choice 12, 06, optional
    b"\x4e\x04\x06\x00\x00\x00\x08"  # mac_method: choice cup, x9.19, x9.19-hex, optional
    b"\x4f\x04\x06\x00\x00\x00\x09"  # empty_batch: choice ask, refuse, send, optional
    b"\x50\x04\x06\x00\x00\x00\x0a"  # batch_end: choice always, unbalanced, optional
    b"\x51\x05\x06\x01\x00\x0a\x00"  # max_amount: text 1..10 digits (yuan), optional
    b"\x52\x03\x06\x00\x00\x01\x00"  # manual_entry: bool, optional
    b"\x53\x03\x06\x00\x00\x01\x00"  # pin_required: bool, optional
    b"\x54\x03\x06\x00\x00\x01\x00"  # power_up_signon: bool, optional
    b"\x55\x03\x06\x00\x00\x01\x00"  # settle_signoff: bool, optional
    b"\x56\x03\x06\x00\x00\x01\x00"  # settle_signon: bool, optional
    b"\x57\x01\x06\x00\x00\xff\x00"  # pinpad_tmk_slot: u8 0..255, optional
    b"\x58\x02\x06\x0a\xff\xff\x00"  # batch_capacity: u16 10..65535, optional
    b"\x59\x04\x06\x00\x00\x00\x0b"  # advice_repeat: choice 0220, 0221, off, optional
    b"\x5a\x04\x06\x00\x00\x00\x03"  # bearer: choice dialup, gprs, ethernet, optional
    b"\x5b\x03\x06\x00\x00\x01\x00"  # chip_first: bool, optional
    b"\x5c\x04\x06\x00\x00\x00\x0c"  # blacklist_layout: choice prefix, range, optional
    b"\x5d\x05\x06\x07\x00\x07\x02"  # contactless_codes: text 7 digits and commas, optional
    b"\x5e\x03\x06\x00\x00\x01\x00"  # contactless: bool, optional
    b"\x80\x05\x05\x00\x00\x20\x05"  # job_reference: text 0..32 printable, optional
)

# Tags the rules name.
_HOST_SELECT = const(0x0B)
_BEARER = const(0x0C)
_DIALUP_PREFIX = const(0x10)
_DIALUP_LINE = const(0x11)
_DIALUP_PHONE2 = const(0x13)
_GPRS_BACKUP_HOST = const(0x26)  # its port is the next tag, as for Ethernet
_ETHERNET_DHCP = const(0x30)
_ETHERNET_IP = const(0x31)
_ETHERNET_MASK = const(0x32)
_ETHERNET_GATEWAY = const(0x33)
_ETHERNET_BACKUP_HOST = const(0x37)
_KEY_ALGORITHM = const(0x44)
_SIGNON_MODE = const(0x46)
_SIGNON_LAYOUT = const(0x4A)
_FIELD60_LENGTH = const(0x4B)
_FIELD60_CAPABILITY = const(0x4C)
_MAC_METHOD = const(0x4E)

# Texts: each table is written "|first|second|...|" and read by _text(). The names are bytes:
# tag_of() finds a name in them, and a str's find, count and startswith at an offset walk it
# character by character on MicroPython (its str is UTF-8), where bytes are indexed directly.
_NAMES = (
    b"|language|receipt_copies|external_pinpad|operator_password|supervisor_password"
    b"|key_algorithm|connect_timeout|send_timeout|receive_timeout|reversal_retries|host_select"
    b"|bearer|lockdown|admin_password|dialup.prefix|dialup.line|dialup.phone1|dialup.phone2"
    b"|dialup.tpdu"
    b"|dialup.lri|gprs.access_number|gprs.apn|gprs.user|gprs.password|gprs.host|gprs.port"
    b"|gprs.backup_host|gprs.backup_port|gprs.tpdu|ethernet.dhcp|ethernet.ip|ethernet.mask"
    b"|ethernet.gateway|ethernet.dns|ethernet.host|ethernet.port|ethernet.backup_host"
    b"|ethernet.backup_port|ethernet.tpdu|name|merchant_id|terminal_id|merchant_name"
    b"|key_algorithm|tmk_slot|signon_mode|header_version|header_subversion|tpdu|signon_layout"
    b"|field60_length|field60_capability|pin_capture_code|mac_method|empty_batch|batch_end"
    b"|max_amount|manual_entry|pin_required|power_up_signon|settle_signoff|settle_signon"
    b"|pinpad_tmk_slot|batch_capacity|advice_repeat|bearer|chip_first|blacklist_layout"
    b"|contactless_codes|contactless|job_reference|"
)
_CHOICES = (
    b"|zh,en|DES,3DES,SM4|primary,backup|dialup,gprs,ethernet|direct,extension|001,003,004,006"
    b"|8,14|12,06|cup,x9.19,x9.19-hex|ask,refuse,send|always,unbalanced|0220,0221,off"
    b"|prefix,range|"
)
# Character classes: the bytes allowed (empty: printable ASCII, 0x20-0x7E), and what they
# are called in a message. The last two serve host names and TPDUs.
_APN = const(4)
_HEX = const(6)
_CHARS = (
    b"|0123456789"
    b"|0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    b"|0123456789,"
    b"|0123456789*#"
    b"|0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-."
    b"|"
    b"|0123456789ABCDEFabcdef|"
)
_CALLED = (
    "|digits|letters or digits|digits and commas|digits, * and #"
    "|letters, digits, '-' and '.'|printable ASCII characters|"
)

# Refusal messages, numbered from 0 by _M_* and raised by _refuse(). The host
# (hostlib.packets) words them the same: test_packets_crosscheck.py compares the two.
_M_APPLICATION = const(0)
_M_RESERVED_TAG = const(1)
_M_NO_LENGTH = const(2)
_M_NO_SECOND_LENGTH = const(3)
_M_LONG_FORM = const(4)
_M_OVERRUN = const(5)
_M_DUPLICATE = const(6)
_M_UNKNOWN_TAG = const(7)
_M_SCOPE = const(8)
_M_MISSING = const(9)
_M_ONE_BYTE = const(10)
_M_TWO_BYTES = const(11)
_M_BOOL = const(12)
_M_RANGE = const(13)
_M_CHOICE = const(14)
_M_EMPTY = const(15)
_M_GB18030_LENGTH = const(16)
_M_CONTROL_BYTE = const(17)
_M_GB18030 = const(18)
_M_HASH_SIZE = const(19)
_M_HASH_SCHEME = const(20)
_M_TPDU = const(21)
_M_IPV4 = const(22)
_M_LENGTH = const(23)
_M_HOST_CHAR = const(24)
_M_HOST_NAME = const(25)
_M_EXACT_LENGTH = const(26)
_M_AT_MOST = const(27)
_M_EXACT_CHAR = const(28)
_M_CHAR = const(29)
_M_PREFIX = const(30)
_M_BACKUP_PAIR = const(31)
_M_BACKUP = const(32)
_M_MASK = const(33)
_M_HOST_ADDRESS = const(34)
_M_GATEWAY = const(35)
_M_SM4_MODE = const(36)
_M_DES_MODE = const(37)
_M_LAYOUT = const(38)
_M_CAPABILITY = const(39)
_M_MAC_SM4 = const(40)
_MESSAGES = (
    "|application index %d out of range 1 to %d (0 = terminal)"  # _M_APPLICATION
    "|bad TLV at offset %d: tag 0x00 is reserved"  # _M_RESERVED_TAG
    "|bad TLV length at offset %d: no length byte"  # _M_NO_LENGTH
    "|bad TLV length at offset %d: second length byte missing"  # _M_NO_SECOND_LENGTH
    "|bad TLV length at offset %d: 2-byte form for length %d (under 128)"  # _M_LONG_FORM
    "|bad TLV length at offset %d: tag 0x%02x announces %d bytes, %d left"  # _M_OVERRUN
    "|duplicate tag 0x%02x%s at offset %d"  # _M_DUPLICATE
    "|unknown mandatory tag 0x%02x at offset %d"  # _M_UNKNOWN_TAG
    "|tag 0x%02x (%s) is not %s parameter"  # _M_SCOPE
    "|%s: missing (tag 0x%02x)"  # _M_MISSING
    "|%s: must be 1 byte, got %d"  # _M_ONE_BYTE
    "|%s: must be 2 bytes, got %d"  # _M_TWO_BYTES
    "|%s: must be 0 (no) or 1 (yes), got %d"  # _M_BOOL
    "|%s: must be %d to %d, got %d"  # _M_RANGE
    "|%s: must be one of %s; got %s"  # _M_CHOICE
    "|%s: must not be empty"  # _M_EMPTY
    "|%s: must be at most %d bytes (GB18030), got %d"  # _M_GB18030_LENGTH
    "|%s: control byte 0x%02x at byte %d"  # _M_CONTROL_BYTE
    "|%s: not valid GB18030 at byte %d"  # _M_GB18030
    "|%s: must be a %d-byte password hash, got %d bytes"  # _M_HASH_SIZE
    "|%s: unsupported password hash scheme %d"  # _M_HASH_SCHEME
    "|%s: must be 10 hex digits, got %s"  # _M_TPDU
    "|%s: %s is not an IPv4 address"  # _M_IPV4
    "|%s: must be %d to %d characters, got %d"  # _M_LENGTH
    "|%s: character %s is not allowed in a host name or IPv4 address"  # _M_HOST_CHAR
    "|%s: %s is not a valid host name"  # _M_HOST_NAME
    "|%s: must be %d %s, got %d"  # _M_EXACT_LENGTH
    "|%s: must be at most %d characters, got %d"  # _M_AT_MOST
    "|%s: must be %d %s, got %s at position %d"  # _M_EXACT_CHAR
    "|%s: character %s at position %d is not allowed (%s only)"  # _M_CHAR
    "|dialup.prefix: an extension line needs the outside-line prefix"  # _M_PREFIX
    "|%s: needed with %s"  # _M_BACKUP_PAIR
    "|host_select: backup selected but %s is not set"  # _M_BACKUP
    "|ethernet.mask: %s is not a network mask"  # _M_MASK
    "|ethernet.ip: %s is not a host address of its network %s"  # _M_HOST_ADDRESS
    "|ethernet.gateway: %s is not in the network of %s/%s"  # _M_GATEWAY
    "|signon_mode: 006 (SM4) needs key_algorithm SM4, got %s"  # _M_SM4_MODE
    "|signon_mode: %s is a DES/3DES sign-on; key_algorithm SM4 needs 006"  # _M_DES_MODE
    "|signon_layout: %s"  # _M_LAYOUT
    "|field60_capability: sent only with field60_length 14, got %s"  # _M_CAPABILITY
    "|mac_method: %s is a DES MAC; key_algorithm SM4 needs cup"  # _M_MAC_SM4
    "|"
)


class ParamError(ValueError):
    """A parameter set that cannot be accepted; the message names the field.

    `reason` says which rule was broken: "tlv" (bad TLV structure or length), "tag"
    (unknown mandatory tag, or a tag of the other scope), "duplicate", "missing", "value".
    """

    def __init__(self, message, reason="value"):
        super().__init__(message)
        self.reason = reason


def _span(table, index):
    # Where text `index` (from 0) of a packed table "|first|second|...|" (str or bytes) lies,
    # as (start, end): read in place, without a copy.
    bar = table[0]  # "|", or its byte value 0x7C: bytes.index() takes either
    start = 0
    for _ in range(index + 1):
        start = table.index(bar, start) + 1
    return start, table.index(bar, start)


def _text(table, index):
    # Text `index` of a packed table, as a str or bytes of its own.
    start, end = _span(table, index)
    return table[start:end]


def _refuse(message, args, reason="value"):
    # The ParamError of message number `message` (_M_*), formatted with the tuple `args`.
    return ParamError(_text(_MESSAGES, message) % args, reason)


def _invalid(at, message, args):
    # The ParamError of a value of row `at`: the message's first %s is the parameter's name.
    return _refuse(message, (_text(_NAMES, at // _ROW).decode(),) + args)


def _row(tag):
    # Offset of the row of `tag` in _TABLE, or -1 if the tag is unknown: the first byte of a
    # row that is `tag` (other columns may hold the same byte).
    at = _TABLE.find(tag)
    while at > 0 and at % _ROW:
        at = _TABLE.find(tag, at + 1)
    return at


def scope_of(app_index):
    """The scope flag: TERMINAL for index 0, _APPLICATION for 1..MAX_APPLICATIONS; else
    ParamError."""
    if app_index == 0:
        return TERMINAL
    if 1 <= app_index <= MAX_APPLICATIONS:
        return _APPLICATION
    raise _refuse(_M_APPLICATION, (app_index, MAX_APPLICATIONS), "application")


def scope_name(app_index):
    """The scope in words, "terminal" or "application N", for messages and screens."""
    return "terminal" if app_index == 0 else "application %d" % app_index


def tag_of(name, scope):
    """The tag of parameter `name` in `scope` (a scope flag), or 0 if there is none."""
    # The name between two bars, found in bytes: building "|name|" made a str, which
    # MicroPython looks up in its string table (app.txn.receipt says why), and a str's
    # find and count walk it character by character (its str is UTF-8). A sale reads about
    # ten parameters, each 106,000 instructions, now 58,000 (callgrind, 64-bit unix port).
    if not name or "|" in name:
        return 0
    key = name.encode()
    pos = _NAMES.find(key)
    while pos > 0:
        if _NAMES[pos - 1] == 0x7C and _NAMES[pos + len(key)] == 0x7C:  # "|"
            at = (_NAMES.count(b"|", 0, pos) - 1) * _ROW  # text i names row i
            if _TABLE[at + _FLAGS] & scope:
                return _TABLE[at]
        pos = _NAMES.find(key, pos + 1)  # key_algorithm is in both scopes
    return 0


def name_of(tag):
    """The name of known parameter `tag`."""
    return _text(_NAMES, _row(tag) // _ROW).decode()


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
            raise _refuse(_M_RESERVED_TAG, (start,), "tlv")
        if pos + 2 > end:
            raise _refuse(_M_NO_LENGTH, (start,), "tlv")
        length = mv[pos + 1]
        pos += 2
        if length & 0x80:
            if pos >= end:
                raise _refuse(_M_NO_SECOND_LENGTH, (start,), "tlv")
            length = (length & 0x7F) << 8 | mv[pos]
            pos += 1
            if length < 0x80:
                raise _refuse(_M_LONG_FORM, (start, length), "tlv")
        if length > end - pos:
            raise _refuse(_M_OVERRUN, (start, tag, length, end - pos), "tlv")
        yield tag, start, mv[pos : pos + length]
        pos += length


def put_tlv(buf, tag, value):
    """Append one TLV item to bytearray `buf` (the canonical, shortest length form)."""
    length = len(value)
    if length > _MAX_TLV_LENGTH:
        raise ValueError("TLV value of %d bytes is too long" % length)
    buf.append(tag)
    if length < 0x80:
        buf.append(length)
    else:
        buf.append(0x80 | length >> 8)
        buf.append(length & 0xFF)
    buf.extend(value)


def decode_body(body, scope):
    """The values of a TLV body as {tag: value}, each checked against its row; unknown
    optional tags (0x80-0xFF) are skipped. ParamError on the first bad item."""
    values = {}
    seen = bytearray(32)  # one bit per tag
    for tag, offset, value in walk(body):
        bit = 1 << (tag & 7)
        at = _row(tag)
        if seen[tag >> 3] & bit:
            what = " (%s)" % name_of(tag) if at >= 0 else ""
            raise _refuse(_M_DUPLICATE, (tag, what, offset), "duplicate")
        seen[tag >> 3] |= bit
        if at < 0:
            if tag & _OPTIONAL_TAGS:
                continue
            raise _refuse(_M_UNKNOWN_TAG, (tag, offset), "tag")
        if not _TABLE[at + _FLAGS] & scope:
            what = "a terminal" if scope == TERMINAL else "an application"
            raise _refuse(_M_SCOPE, (tag, name_of(tag), what), "tag")
        values[tag] = decode_value(tag, value)
    return values


def check(values, scope):
    """Check a whole set ({tag: value}) of `scope`: every value it needs is present, then the
    rules between values hold (docs/packets.md §5.3, §5.4). ParamError naming the field."""
    # Presence: first the values every set of the scope needs, then (terminal) those of the
    # bearer groups in use, in one pass: the groups' rows follow each other in tag order.
    groups = 0
    static = False
    while True:
        for at in range(0, len(_TABLE), _ROW):
            flags = _TABLE[at + _FLAGS]
            if groups:
                needed = flags & groups & GROUP_MASK and (static or not flags & STATIC)
            else:
                needed = flags & scope and not flags & GROUP_MASK
            tag = _TABLE[at]
            if needed and not flags & OPTIONAL and tag not in values:
                raise _refuse(_M_MISSING, (name_of(tag), tag), "missing")
        if groups or scope != TERMINAL:
            break
        # The selected bearer's group is in use, and so is any group with a value set: a
        # configured fallback bearer must be complete.
        bearer = values[_BEARER]
        groups = DIALUP if bearer == "dialup" else GPRS if bearer == "gprs" else ETHERNET
        for tag in values:
            groups |= _TABLE[_row(tag) + _FLAGS]
        # Static addresses are needed without DHCP, and complete if any is given.
        static = (
            not values.get(_ETHERNET_DHCP)
            or _ETHERNET_IP in values
            or _ETHERNET_MASK in values
            or _ETHERNET_GATEWAY in values
        )
    # The rules between values, in the order of §5.4.
    if scope != TERMINAL:
        mode = values[_SIGNON_MODE]
        algorithm = values[_KEY_ALGORITHM]
        if mode == "006" and algorithm != "SM4":
            raise _refuse(_M_SM4_MODE, (algorithm,))
        if mode != "006" and algorithm == "SM4":
            raise _refuse(_M_DES_MODE, (mode,))
        layout = values.get(_SIGNON_LAYOUT)
        if layout is not None:
            from app.keys.layout import parse  # the layouts' own module: not kept on the heap

            try:
                parse(layout, algorithm == "SM4")
            except ValueError as exc:
                raise _refuse(_M_LAYOUT, (exc,))
        if _FIELD60_CAPABILITY in values and values.get(_FIELD60_LENGTH) != "14":
            raise _refuse(_M_CAPABILITY, (values.get(_FIELD60_LENGTH) or "8",))
        mac = values.get(_MAC_METHOD) or "cup"
        if mac != "cup" and algorithm == "SM4":
            raise _refuse(_M_MAC_SM4, (mac,))
        return
    if values.get(_DIALUP_LINE) == "extension" and not values.get(_DIALUP_PREFIX):
        raise _refuse(_M_PREFIX, ())
    for host in (_GPRS_BACKUP_HOST, _ETHERNET_BACKUP_HOST):
        port = host + 1
        if (host in values) != (port in values):
            absent, given = (port, host) if host in values else (host, port)
            raise _refuse(_M_BACKUP_PAIR, (name_of(absent), name_of(given)))
    if values[_HOST_SELECT] == "backup":
        bearer = values[_BEARER]
        if bearer == "dialup":
            backup = _DIALUP_PHONE2
        else:
            backup = _GPRS_BACKUP_HOST if bearer == "gprs" else _ETHERNET_BACKUP_HOST
        if backup not in values:
            raise _refuse(_M_BACKUP, (name_of(backup),))
    if _ETHERNET_IP in values:
        ip = values[_ETHERNET_IP]
        mask = values[_ETHERNET_MASK]
        m = struct.unpack(">I", ipv4(mask.encode()))[0]
        if m == 0 or (m | (m - 1)) & 0xFFFFFFFF != 0xFFFFFFFF:
            raise _refuse(_M_MASK, (mask,))
        a = struct.unpack(">I", ipv4(ip.encode()))[0]
        host_part = a & ~m & 0xFFFFFFFF
        if m != 0xFFFFFFFF and (host_part == 0 or host_part == ~m & 0xFFFFFFFF):
            raise _refuse(_M_HOST_ADDRESS, (ip, mask))
        gateway = values[_ETHERNET_GATEWAY]
        if struct.unpack(">I", ipv4(gateway.encode()))[0] & m != a & m:
            raise _refuse(_M_GATEWAY, (gateway, ip, mask))


def _show(raw):
    # A value as it can be shown in a message: text when printable ASCII, else hex.
    for c in raw:
        if c < 0x20 or c > 0x7E:
            return "0x" + binascii.hexlify(raw).decode()
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


def decode_value(tag, value):
    """Validate one raw value of known parameter `tag`; return the Python value."""
    at = _row(tag)
    kind = _TABLE[at + _KIND]
    low = _TABLE[at + _LOW]
    high = _TABLE[at + _HIGH] << 8 | _TABLE[at + _HIGH + 1]
    extra = _TABLE[at + _EXTRA]
    raw = bytes(value)
    n = len(raw)
    if kind == _U8 or kind == _BOOL or kind == _U16:
        if kind == _U16:
            if n != 2:
                raise _invalid(at, _M_TWO_BYTES, (n,))
            v = raw[0] << 8 | raw[1]
        else:
            if n != 1:
                raise _invalid(at, _M_ONE_BYTE, (n,))
            v = raw[0]
            if kind == _BOOL:
                if v > 1:
                    raise _invalid(at, _M_BOOL, (v,))
                return v == 1
        if not low <= v <= high:
            raise _invalid(at, _M_RANGE, (low, high, v))
        return v
    if kind == _CHOICE:
        # raw must be one of the comma-separated choices, whole.
        start, end = _span(_CHOICES, extra)
        while start <= end:
            stop = _CHOICES.find(b",", start, end)
            stop = end if stop < 0 else stop
            if stop - start == n and _CHOICES.startswith(raw, start):
                return raw.decode()
            start = stop + 1
        choices = _text(_CHOICES, extra).decode().replace(",", ", ")
        raise _invalid(at, _M_CHOICE, (choices, _show(raw)))
    if kind == _GB18030:
        if not n:
            raise _invalid(at, _M_EMPTY, ())
        if n > high:
            raise _invalid(at, _M_GB18030_LENGTH, (high, n))
        # Structure only (MicroPython has no GB18030 codec): single bytes 0x20-0x7E, two-byte
        # 81-FE + 40-7E/80-FE, four-byte 81-FE 30-39 81-FE 30-39. Catches a name cut in the
        # middle of a character and control bytes.
        i = 0
        while i < n:
            b = raw[i]
            if b < 0x80:
                if b < 0x20 or b == 0x7F:
                    raise _invalid(at, _M_CONTROL_BYTE, (b, i))
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
                raise _invalid(at, _M_GB18030, (i,))
        return raw
    if kind == HASH:
        if n != _HASH_SIZE:
            raise _invalid(at, _M_HASH_SIZE, (_HASH_SIZE, n))
        if raw[0] != _HASH_SCHEME:
            raise _invalid(at, _M_HASH_SCHEME, (raw[0],))
        return raw
    if kind == _TPDU:
        if n != 10:
            raise _invalid(at, _M_TPDU, (n,))
        start, end = _span(_CHARS, _HEX)
        for c in raw:
            if _CHARS.find(c, start, end) < 0:
                raise _invalid(at, _M_TPDU, (_char(c),))
        return raw.decode()
    if kind == _IPV4:
        if ipv4(raw) is None:
            raise _invalid(at, _M_IPV4, (_show(raw),))
        return raw.decode()
    if kind == _HOST:
        if not low <= n <= high:
            raise _invalid(at, _M_LENGTH, (low, high, n))
        # A host name (letters, digits, '-', dot-separated labels) or a dotted-quad address.
        numeric = True
        start, end = _span(_CHARS, _APN)
        for c in raw:
            if _CHARS.find(c, start, end) < 0:
                raise _invalid(at, _M_HOST_CHAR, (_char(c),))
            if c != 0x2E and not 0x30 <= c <= 0x39:
                numeric = False
        if numeric:
            if ipv4(raw) is None:
                raise _invalid(at, _M_IPV4, (raw.decode(),))
            return raw.decode()
        for label in raw.split(b"."):
            if not 1 <= len(label) <= 63 or label[0] == 0x2D or label[-1] == 0x2D:
                raise _invalid(at, _M_HOST_NAME, (raw.decode(),))
        return raw.decode()
    # _TEXT: length, then each character against the class (none listed: printable ASCII).
    if low == high and n != low:
        raise _invalid(at, _M_EXACT_LENGTH, (low, _text(_CALLED, extra), n))
    if not low <= n <= high:
        if low == 0:
            raise _invalid(at, _M_AT_MOST, (high, n))
        raise _invalid(at, _M_LENGTH, (low, high, n))
    start, end = _span(_CHARS, extra)
    for i in range(n):
        c = raw[i]
        if (_CHARS.find(c, start, end) < 0) if start < end else not 0x20 <= c <= 0x7E:
            called = _text(_CALLED, extra)
            if low == high:
                raise _invalid(at, _M_EXACT_CHAR, (low, called, _char(c), i + 1))
            raise _invalid(at, _M_CHAR, (_char(c), i + 1, called))
    return raw.decode()


def encode_value(tag, value):
    """The raw bytes of `value` for known parameter `tag` (decode_value checks them)."""
    kind = _TABLE[_row(tag) + _KIND]
    if kind == _U8:
        return bytes((value,))
    if kind == _BOOL:
        return b"\x01" if value else b"\x00"
    if kind == _U16:
        return struct.pack(">H", value)
    if kind == _GB18030 or kind == HASH:
        return bytes(value)
    return value.encode()


def __getattr__(name):
    # SCHEMA, the table as (tag, name, kind, low, high, flags, extra) tuples, extra being the
    # tuple of choices or (allowed bytes or None, what they are called): for the host tests
    # and tools, which compare it with hostlib.packets. Never built on the terminal.
    if name != "SCHEMA":
        raise AttributeError(name)
    schema = []
    for at in range(0, len(_TABLE), _ROW):
        tag, kind, flags = _TABLE[at], _TABLE[at + _KIND], _TABLE[at + _FLAGS]
        extra = _TABLE[at + _EXTRA]
        if kind == _CHOICE:
            extra = tuple(_text(_CHOICES, extra).decode().split(","))
        elif kind == _TEXT:
            extra = (_text(_CHARS, extra) or None, _text(_CALLED, extra))
        else:
            extra = None
        high = _TABLE[at + _HIGH] << 8 | _TABLE[at + _HIGH + 1]
        schema.append((tag, name_of(tag), kind, _TABLE[at + _LOW], high, flags, extra))
    return tuple(schema)
