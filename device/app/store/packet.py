"""Parameter and key packets: checked on the terminal before anything is stored.

A packet (docs/packets.md is the byte-exact definition; all integers big-endian):

    offset  size  field
    0       4     magic "PKIT"
    4       1     format version (1)
    5       1     kind: 1 = parameters, 2 = keys
    6       1     application index: 0 = terminal-wide, 1..N = acquirer application
    7       16    terminal serial, ASCII, padded with 0x00
    23      4     packet version (uint32), must exceed the installed one (no rollback)
    27      2     body length N (at most MAX_BODY)
    29      N     body: TLV items (app.store.params for parameters; slot/key block for keys)
    29+N    4     CRC32 (binascii.crc32) of bytes 0..29+N
    33+N    32    MAC: HMAC-SHA256 under the terminal's link key of bytes 0..33+N

`verify` checks a packet completely (including every parameter value) and refuses with a
PacketError whose `reason` says which rule broke and whose message says what to do.
`apply_parameters` / `apply_keys` store an accepted packet; the new version is recorded only
after what it carries is stored (see apply_parameters).

Memory: the body is a memoryview into the caller's buffer; CRC and MAC are computed over
the packet in place, so a packet of MAX_PACKET bytes is never copied.
"""

import struct

from app.crypto import crc32
from app.crypto.mac import equal, hmac_sha256
from app.store import params as _params

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731


MAGIC = b"PKIT"
FORMAT = const(1)
PARAMETERS = const(1)
KEYS = const(2)
HEADER_SIZE = const(29)
SERIAL_SIZE = const(16)
_CRC_SIZE = const(4)
MAC_SIZE = const(32)
OVERHEAD = const(65)  # header + CRC + MAC
# A full parameter set is about 600 bytes and a key packet with 8 TR-31 blocks under 2 KB:
# 8 KB leaves room, and bounds what a hostile length can make the terminal hold.
MAX_PACKET = const(8192)
MAX_BODY = const(8127)  # MAX_PACKET - OVERHEAD
_HEADER = ">4sBBB16sIH"

# Key packet body tags (docs/packets.md).
TAG_SLOT = const(0x01)
TAG_KEY_BLOCK = const(0x02)
TAG_KCV = const(0x03)
MAX_SLOT = const(99)
_MIN_KEY_BLOCK = const(16)  # a TR-31 header alone
_MAX_KEY_BLOCK = const(1024)  # app.crypto.tr31's limit
MAX_KEY_ENTRIES = const(16)

_VERSIONS = "versions"
_VERSIONS_LAYOUT = const(1)


class PacketError(ValueError):
    """A packet refused; nothing was stored.

    `reason` is one of: "oversized", "truncated", "magic", "format", "kind", "trailing",
    "crc", "serial", "application", "mac", "version", "tlv", "tag", "duplicate", "missing",
    "value" (the last five from the body; see docs/packets.md).
    """

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


class Packet:
    """An authentic packet for this terminal, newer than the installed one.

    kind (PARAMETERS or KEYS), app_index, version, serial (str), body (memoryview), and,
    parsed from the body: params (app.store.params.Params) or entries (list of
    (slot, key block bytes, check value bytes or None)).
    """

    def __init__(self, kind, app_index, version, body, serial="", params=None, entries=None):
        self.kind = kind
        self.app_index = app_index
        self.version = version
        self.body = body
        self.serial = serial
        self.params = params
        self.entries = entries


def _serial_field(serial):
    raw = serial.encode() if isinstance(serial, str) else bytes(serial)
    if not 1 <= len(raw) <= SERIAL_SIZE:
        raise ValueError("serial must be 1 to %d characters" % SERIAL_SIZE)
    return raw + bytes(SERIAL_SIZE - len(raw))


def _show_serial(raw):
    end = len(raw)
    while end and raw[end - 1] == 0:
        end -= 1
    for c in raw[:end]:
        if not 0x20 < c < 0x7F:
            return "0x" + "".join("%02x" % b for b in raw)
    return bytes(raw[:end]).decode()


def _installed(installed_version, kind, app_index):
    if isinstance(installed_version, int):
        return installed_version
    return installed_version.get(kind, app_index)


def verify(data, serial, link_key, installed_version):
    """Check packet `data` (bytes-like) for the terminal `serial` holding `link_key`.

    `installed_version` is an int, or an object with get(kind, app_index) such as Versions
    (the packet's kind and application are known only once its header is read). Returns a
    Packet; raises PacketError. Order of checks: size, magic, format, kind, application,
    lengths, CRC, serial, MAC, version, body.
    """
    n = len(data)
    if n > MAX_PACKET:
        raise PacketError(
            "oversized", "packet of %d bytes exceeds the %d-byte maximum" % (n, MAX_PACKET)
        )
    mv = memoryview(data)
    if n < 4:
        raise PacketError("truncated", "packet is truncated: %d bytes" % n)
    if bytes(mv[0:4]) != MAGIC:
        raise PacketError("magic", "wrong magic: not a poskit parameter or key packet")
    if n < HEADER_SIZE:
        raise PacketError(
            "truncated", "packet is truncated: %d bytes, the header alone is %d" % (n, HEADER_SIZE)
        )
    _, fmt, kind, app_index, serial_raw, version, body_length = struct.unpack_from(_HEADER, mv, 0)
    if fmt != FORMAT:
        raise PacketError(
            "format", "unsupported format version %d (this terminal reads %d)" % (fmt, FORMAT)
        )
    if kind != PARAMETERS and kind != KEYS:
        raise PacketError("kind", "unknown packet kind %d (1 = parameters, 2 = keys)" % kind)
    low = 0 if kind == PARAMETERS else 1
    if not low <= app_index <= _params.MAX_APPLICATIONS:
        raise PacketError(
            "application",
            "application index %d out of range %d to %d%s"
            % (
                app_index,
                low,
                _params.MAX_APPLICATIONS,
                "" if low == 0 else " (keys belong to an application)",
            ),
        )
    if body_length > MAX_BODY:
        raise PacketError(
            "oversized", "body of %d bytes exceeds the %d-byte maximum" % (body_length, MAX_BODY)
        )
    total = HEADER_SIZE + body_length + _CRC_SIZE + MAC_SIZE
    if n < total:
        raise PacketError("truncated", "packet is truncated: %d bytes of %d" % (n, total))
    if n > total:
        raise PacketError("trailing", "%d trailing bytes after the MAC" % (n - total))
    signed = HEADER_SIZE + body_length
    # Compared as 4 bytes: as an int, a CRC is a heap object on the ESP32 three times in four.
    crc = bytearray(_CRC_SIZE)
    crc32.start(crc, mv, signed)
    if crc != mv[signed : signed + _CRC_SIZE]:
        raise PacketError("crc", "CRC does not match: the packet was damaged in transit")
    # The serial is checked before the MAC: a packet for another terminal would also fail
    # the MAC (another link key), and "which terminal" is what the installer needs to know.
    expected = _serial_field(serial)
    if bytes(serial_raw) != expected:
        raise PacketError(
            "serial",
            "packet is for terminal %s, this is %s"
            % (_show_serial(serial_raw), _show_serial(expected)),
        )
    if not equal(hmac_sha256(link_key, mv[: signed + _CRC_SIZE]), mv[signed + _CRC_SIZE :]):
        raise PacketError("mac", "MAC does not verify: wrong link key, or the packet was altered")
    installed = _installed(installed_version, kind, app_index)
    if version <= installed:
        raise PacketError(
            "version",
            "packet version %d is not newer than installed version %d" % (version, installed),
        )
    body = mv[HEADER_SIZE:signed]
    params = entries = None
    try:
        if kind == PARAMETERS:
            params = _params.Params.from_tlv(body, app_index)
        else:
            entries = key_entries(body)
    except _params.ParamError as exc:
        raise PacketError(exc.reason, str(exc))
    return Packet(kind, app_index, version, body, _show_serial(serial_raw), params, entries)


def key_entries(body):
    """Parse a key packet body into [(slot, key block bytes, check value or None)].

    Each entry is a slot item (0x01, 1 byte, 0..99) followed by its key block (0x02,
    printable ASCII, 16..1024 characters) and optionally a check value (0x03, 2..16 bytes).
    Raises ParamError: unknown mandatory tag, items out of order, duplicate slot, bad values.
    """
    entries = []
    current = None
    for tag, offset, value in _params.walk(body):
        if tag == TAG_SLOT:
            if current is not None and current[1] is None:
                raise _params.ParamError("slot %d has no key block" % current[0], "missing")
            if len(value) != 1:
                raise _params.ParamError("slot: must be 1 byte, got %d" % len(value))
            slot = value[0]
            if slot > MAX_SLOT:
                raise _params.ParamError("slot: must be 0 to %d, got %d" % (MAX_SLOT, slot))
            for entry in entries:
                if entry[0] == slot:
                    raise _params.ParamError(
                        "duplicate slot %d at offset %d" % (slot, offset), "duplicate"
                    )
            if len(entries) == MAX_KEY_ENTRIES:
                raise _params.ParamError("more than %d key blocks in one packet" % MAX_KEY_ENTRIES)
            current = [slot, None, None]
            entries.append(current)
        elif tag == TAG_KEY_BLOCK:
            if current is None or current[1] is not None:
                raise _params.ParamError(
                    "key block at offset %d does not follow a slot" % offset, "tlv"
                )
            n = len(value)
            if not _MIN_KEY_BLOCK <= n <= _MAX_KEY_BLOCK:
                raise _params.ParamError(
                    "key_block: must be %d to %d characters, got %d"
                    % (_MIN_KEY_BLOCK, _MAX_KEY_BLOCK, n)
                )
            for c in value:
                if not 0x20 <= c <= 0x7E:
                    raise _params.ParamError("key_block: must be printable ASCII (TR-31)")
            current[1] = bytes(value)
        elif tag == TAG_KCV:
            if current is None or current[1] is None or current[2] is not None:
                raise _params.ParamError(
                    "check value at offset %d does not follow a key block" % offset, "tlv"
                )
            if not 2 <= len(value) <= 16:
                raise _params.ParamError("kcv: must be 2 to 16 bytes, got %d" % len(value))
            current[2] = bytes(value)
        elif not tag & 0x80:
            raise _params.ParamError(
                "unknown mandatory tag 0x%02x at offset %d" % (tag, offset), "tag"
            )
    if current is None:
        raise _params.ParamError("key packet holds no key block", "missing")
    if current[1] is None:
        raise _params.ParamError("slot %d has no key block" % current[0], "missing")
    return [(e[0], e[1], e[2]) for e in entries]


class Versions:
    """The last applied packet version per kind and application: record "versions" of an
    app.store.records.RecordStore; payload = entries of kind (1), application (1), version (4).

    For parameters the version is also stamped into the parameter record itself (in the
    same atomic save), and `get` returns the larger of the two: a power cut between the
    two writes cannot make an older packet acceptable.
    """

    def __init__(self, store):
        self._store = store

    def _entries(self):
        record = self._store.load(_VERSIONS)
        if record is None:
            return []
        payload = record[1]
        if record[0] != _VERSIONS_LAYOUT or len(payload) % 6:
            raise ValueError("versions record has an unknown layout")
        return [struct.unpack_from(">BBI", payload, i) for i in range(0, len(payload), 6)]

    def recorded(self, kind, app_index):
        """The version recorded for `kind` and `app_index`, 0 if none."""
        for entry in self._entries():
            if entry[0] == kind and entry[1] == app_index:
                return entry[2]
        return 0

    def get(self, kind, app_index):
        """The installed version: packets must be newer than this."""
        version = self.recorded(kind, app_index)
        if kind == PARAMETERS:
            stamped = _params.ParamStore(self._store).version(app_index)
            if stamped > version:
                version = stamped
        return version

    def set(self, kind, app_index, version):
        entries = [e for e in self._entries() if not (e[0] == kind and e[1] == app_index)]
        entries.append((kind, app_index, version))
        entries.sort()
        payload = bytearray(6 * len(entries))
        for i in range(len(entries)):
            struct.pack_into(">BBI", payload, 6 * i, entries[i][0], entries[i][1], entries[i][2])
        self._store.save(_VERSIONS, payload, _VERSIONS_LAYOUT)

    def items(self):
        """[(kind, app_index, version)] as recorded, for the version screen."""
        return self._entries()


def _check_newer(packet, installed):
    if packet.version <= installed:
        raise PacketError(
            "version",
            "packet version %d is not newer than installed version %d"
            % (packet.version, installed),
        )


def apply_parameters(packet, param_store, versions):
    """Store the parameters of a verified packet, then record its version. Returns Params.

    Order: (1) validate everything, (2) save the parameters (with the packet version in the
    same record: one atomic write), (3) record the version. A power cut after (2) leaves the
    new parameters stamped with the new version and the old one recorded; Versions.get takes
    the larger, so the interrupted packet is refused as not newer (what it carries is stored)
    and nothing older can be applied. The reverse order could leave the old parameters under
    the new version, with the packet that fixes them refused. A refused packet changes
    nothing stored.
    """
    if packet.kind != PARAMETERS:
        raise PacketError("kind", "not a parameter packet")
    params = packet.params
    if params is None:
        try:
            params = _params.Params.from_tlv(packet.body, packet.app_index)
        except _params.ParamError as exc:
            raise PacketError(exc.reason, str(exc))
    _check_newer(packet, versions.get(PARAMETERS, packet.app_index))
    try:
        # Checked against the other sets on the terminal: an application's own bearer.
        param_store.save(packet.app_index, params, packet.version)
    except _params.ParamError as exc:
        raise PacketError(exc.reason, str(exc))
    versions.set(PARAMETERS, packet.app_index, packet.version)
    return params


def apply_keys(packet, key_store, kbpk, versions):
    """Load the master keys of a verified key packet into `key_store` (app.keys.slots.KeyStore),
    then record its version. Returns [(slot, algorithm, KCV hex)].

    All or nothing: every block is unwrapped and checked (authenticity, usage, mode, check
    value) before the key record is written once, so any refusal leaves every slot as it was
    and the version unrecorded (a corrected packet of the same version is then accepted).
    """
    if packet.kind != KEYS:
        raise PacketError("kind", "not a key packet")
    entries = packet.entries
    if entries is None:
        try:
            entries = key_entries(packet.body)
        except _params.ParamError as exc:
            raise PacketError(exc.reason, str(exc))
    _check_newer(packet, versions.get(KEYS, packet.app_index))
    loaded = key_store.load_tmk_tr31_all(packet.app_index, entries, kbpk)
    versions.set(KEYS, packet.app_index, packet.version)
    return loaded
