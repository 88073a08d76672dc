"""Terminal and application parameters: the Params object, validation of a whole set, and
their storage (the schema and the checks of single values are in app.paramschema).

The operator's procedure sets, per terminal: language, receipt copies, external PIN pad,
operator and supervisor passwords, the default key algorithm, timeouts, reversal retries,
primary/backup host and the communications bearer with its settings (dial-up, GPRS or
Ethernet); and per acquirer application (index 1..MAX_APPLICATIONS): name, merchant id,
terminal id, merchant name, key algorithm, master key slot, sign-on mode and message header.
The terminal serial is identity (app.identity), not a parameter; the clock is set apart.

Parameters travel and rest as a TLV body (docs/packets.md is the byte-exact definition):
tag 1 byte, length 1 or 2 bytes, value. Tags 0x01-0x7F are mandatory to understand (an
unknown one is refused), 0x80-0xFF optional (an unknown one is skipped). Every value is
validated on the terminal, with a message that names the field:

    merchant_id: must be 15 digits, got 14
    ethernet.ip: 300.1.1.1 is not an IPv4 address

Passwords are never held in clear: a value is scheme (1 byte, 1) + salt (16) +
SHA-256(salt || password) (32); `Params.check_password(kind, typed)` checks a typed one.

    params = Params.from_tlv(body, app_index)   # ParamError on the first bad field
    params.merchant_id, params["ethernet.ip"], params.gprs.apn
    ParamStore(record_store).save(app_index, params, packet_version)
"""

import hashlib
import os
import struct

from app.mac import equal
from app.paramschema import (
    BY_TAG,
    GROUP_MASK,
    GROUP_NAMES,
    HASH,
    HASH_SCHEME,
    MAX_APPLICATIONS,
    OPTIONAL,
    OPTIONAL_TAGS,
    SCHEMA,
    STATIC,
    TERMINAL,
    ParamError,
    decode_value,
    encode_value,
    ipv4,
    put_tlv,
    scope_name,
    scope_of,
    spec,
    walk,
)

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731


# Re-exported: callers need only app.params.
__all__ = (
    "MAX_APPLICATIONS",
    "ParamError",
    "ParamStore",
    "Params",
    "hash_password",
    "put_tlv",
    "scope_name",
    "walk",
)

_SALT = const(16)
_PASSWORD_MIN = const(4)
_PASSWORD_MAX = const(12)


def hash_password(password, salt=None):
    """The stored form of a password: scheme 1, salt, SHA-256(salt || password).

    `password` is digits (str, bytes or a keypad bytearray the caller wipes), 4 to 12 of
    them; `salt` (16 bytes) is for tests, default random.
    """
    if isinstance(password, str):
        password = password.encode()
    if not _PASSWORD_MIN <= len(password) <= _PASSWORD_MAX:
        raise ParamError(
            "password must be %d to %d digits, got %d"
            % (_PASSWORD_MIN, _PASSWORD_MAX, len(password))
        )
    for c in password:
        if not 0x30 <= c <= 0x39:
            raise ParamError("password must be digits only")
    salt = os.urandom(_SALT) if salt is None else bytes(salt)
    if len(salt) != _SALT:
        raise ValueError("password salt must be %d bytes" % _SALT)
    digest = hashlib.sha256(salt)
    digest.update(password)  # no joined copy of the clear password
    return bytes((HASH_SCHEME,)) + salt + digest.digest()


class _Group:
    # params.gprs.apn -> params["gprs.apn"]
    def __init__(self, params, prefix):
        self._params = params
        self._prefix = prefix

    def __getattr__(self, name):
        try:
            return self._params[self._prefix + "." + name]
        except KeyError:
            raise AttributeError(name)


class Params:
    """One parameter set: the terminal's (app_index 0) or an application's (1..N).

    Values are Python values: str (text, choices, addresses, TPDU), int, bool, and bytes
    for the merchant name (GB18030) and password hashes. Read as `params["gprs.apn"]`,
    `params.merchant_id` or `params.gprs.apn`; absent optional values read as None.
    `packet_version` is the version of the packet that set them (0 if unknown).
    Made by `from_tlv` (checked) or from a dict of values (trusted: call validate()).
    """

    def __init__(self, app_index=0, values=None):
        scope_of(app_index)
        self.app_index = app_index
        self.packet_version = 0
        self._values = {} if values is None else values

    @classmethod
    def from_tlv(cls, body, app_index=0):
        """Parse and validate a TLV body. Raises ParamError on the first bad field; unknown
        optional tags (0x80-0xFF) are skipped, an unknown mandatory one refused."""
        scope = scope_of(app_index)
        values = {}
        seen = bytearray(32)  # one bit per tag
        for tag, offset, value in walk(body):
            bit = 1 << (tag & 7)
            if seen[tag >> 3] & bit:
                index = BY_TAG[tag]
                what = " (%s)" % SCHEMA[index - 1][1] if index else ""
                raise ParamError(
                    "duplicate tag 0x%02x%s at offset %d" % (tag, what, offset), "duplicate"
                )
            seen[tag >> 3] |= bit
            index = BY_TAG[tag]
            if not index:
                if tag & OPTIONAL_TAGS:
                    continue
                raise ParamError(
                    "unknown mandatory tag 0x%02x at offset %d" % (tag, offset), "tag"
                )
            entry = SCHEMA[index - 1]
            if not entry[5] & scope:
                raise ParamError(
                    "tag 0x%02x (%s) is not %s parameter"
                    % (tag, entry[1], "a terminal" if scope == TERMINAL else "an application"),
                    "tag",
                )
            values[entry[1]] = decode_value(entry, value)
        params = cls(app_index, values)
        params.validate()
        return params

    def to_tlv(self):
        """The TLV body of these parameters: every present value, tags ascending."""
        scope = scope_of(self.app_index)
        buf = bytearray()
        values = self._values
        for entry in SCHEMA:
            if entry[5] & scope and entry[1] in values:
                put_tlv(buf, entry[0], encode_value(entry, values[entry[1]]))
        return bytes(buf)

    def validate(self):
        """Check that every required value is present and that values agree with each
        other. Raises ParamError naming the field."""
        scope = scope_of(self.app_index)
        values = self._values
        for entry in SCHEMA:
            flags = entry[5]
            if flags & scope and not flags & (OPTIONAL | GROUP_MASK) and entry[1] not in values:
                _missing(entry)
        if scope == TERMINAL:
            bearer = values["bearer"]
            # Static addresses are needed without DHCP, and complete if any is given.
            static = not values.get("ethernet.dhcp") or (
                "ethernet.ip" in values
                or "ethernet.mask" in values
                or "ethernet.gateway" in values
            )
            for bit, group in GROUP_NAMES:
                used = bearer == group
                if not used:
                    prefix = group + "."
                    for name in values:
                        if name.startswith(prefix):
                            used = True  # a configured fallback bearer must be complete
                            break
                if used:
                    for entry in SCHEMA:
                        flags = entry[5]
                        if flags & bit and not flags & OPTIONAL and entry[1] not in values:
                            if not flags & STATIC or static:
                                _missing(entry)
        if scope == TERMINAL:
            self._cross_check_terminal()
        elif values["signon_mode"] == "006" and values["key_algorithm"] != "SM4":
            raise ParamError(
                "signon_mode: 006 (SM4) needs key_algorithm SM4, got %s" % values["key_algorithm"]
            )
        elif values["signon_mode"] != "006" and values["key_algorithm"] == "SM4":
            raise ParamError(
                "signon_mode: %s is a DES/3DES sign-on; key_algorithm SM4 needs 006"
                % values["signon_mode"]
            )

    def _cross_check_terminal(self):
        values = self._values
        if values.get("dialup.line") == "extension" and not values.get("dialup.prefix"):
            raise ParamError("dialup.prefix: an extension line needs the outside-line prefix")
        for group in ("gprs", "ethernet"):
            host = values.get(group + ".backup_host")
            port = values.get(group + ".backup_port")
            if host is not None and port is None:
                raise ParamError("%s.backup_port: needed with %s.backup_host" % (group, group))
            if port is not None and host is None:
                raise ParamError("%s.backup_host: needed with %s.backup_port" % (group, group))
        if values["host_select"] == "backup":
            bearer = values["bearer"]
            backup = "dialup.phone2" if bearer == "dialup" else bearer + ".backup_host"
            if backup not in values:
                raise ParamError("host_select: backup selected but %s is not set" % backup)
        if "ethernet.ip" in values:
            ip = ipv4(values["ethernet.ip"].encode())
            mask = ipv4(values["ethernet.mask"].encode())
            gateway = ipv4(values["ethernet.gateway"].encode())
            m = struct.unpack(">I", mask)[0]
            if m == 0 or (m | (m - 1)) & 0xFFFFFFFF != 0xFFFFFFFF:
                raise ParamError(
                    "ethernet.mask: %s is not a network mask" % values["ethernet.mask"]
                )
            a = struct.unpack(">I", ip)[0]
            host_part = a & ~m & 0xFFFFFFFF
            if m != 0xFFFFFFFF and (host_part == 0 or host_part == ~m & 0xFFFFFFFF):
                raise ParamError(
                    "ethernet.ip: %s is not a host address of its network %s"
                    % (values["ethernet.ip"], values["ethernet.mask"])
                )
            if struct.unpack(">I", gateway)[0] & m != a & m:
                raise ParamError(
                    "ethernet.gateway: %s is not in the network of %s/%s"
                    % (values["ethernet.gateway"], values["ethernet.ip"], values["ethernet.mask"])
                )

    # --- access ------------------------------------------------------------------------------

    def __getitem__(self, name):
        if name in self._values:
            return self._values[name]
        if spec(name, self.app_index) is None:
            raise KeyError(name)
        return None

    def __contains__(self, name):
        return name in self._values

    def __getattr__(self, name):
        for _, group in GROUP_NAMES:
            if name == group:
                return _Group(self, name)
        if spec(name, self.app_index) is None:
            raise AttributeError(name)
        return self._values.get(name)

    def get(self, name, default=None):
        return self._values.get(name, default)

    def items(self):
        """(name, value) of every present value, in tag order."""
        scope = scope_of(self.app_index)
        return [
            (e[1], self._values[e[1]]) for e in SCHEMA if e[5] & scope and e[1] in self._values
        ]

    def set(self, name, value):
        """Change one value (a menu edit), validated as a packet's would be; None removes an
        optional one. Call validate() before saving a set changed field by field."""
        entry = spec(name, self.app_index)
        if entry is None:
            raise ParamError("%s: no such %s parameter" % (name, scope_name(self.app_index)))
        if value is None:
            self._values.pop(name, None)
            return
        if entry[2] == HASH and not isinstance(value, (bytes, bytearray)):
            raise ParamError("%s: set_password() takes the clear password" % name)
        try:
            raw = encode_value(entry, value)
        except (TypeError, ValueError, AttributeError, OverflowError):
            raise ParamError("%s: %r is not a valid value" % (name, value))
        self._values[name] = decode_value(entry, raw)

    def set_password(self, kind, password, salt=None):
        """Set the "operator" or "supervisor" password from the clear digits."""
        self._values[self._password_name(kind)] = hash_password(password, salt)

    def check_password(self, kind, typed):
        """Whether `typed` (str, bytes or keypad bytearray) is the "operator" or
        "supervisor" password. Constant time in where the digests differ."""
        stored = self._values.get(self._password_name(kind))
        if stored is None:
            return False
        if isinstance(typed, str):
            typed = typed.encode()
        digest = hashlib.sha256(stored[1 : 1 + _SALT])
        digest.update(typed)
        return equal(stored[1 + _SALT :], digest.digest())

    def _password_name(self, kind):
        if self.app_index != 0:
            raise ParamError("passwords are terminal parameters")
        if kind not in ("operator", "supervisor"):
            raise ParamError("password kind must be operator or supervisor, got %r" % (kind,))
        return kind + "_password"


def _missing(entry):
    raise ParamError("%s: missing (tag 0x%02x)" % (entry[1], entry[0]), "missing")


# Record payload: packet version (4 bytes, big-endian) + TLV body (payload version 1).
_RECORD_VERSION = const(1)


class ParamStore:
    """Parameter sets in an app.store.RecordStore: "terminal" and "app1".."appN".

    Each record also carries the version of the packet that set it, written in the same
    atomic save, so the installed version can never lag behind the parameters it names.
    """

    def __init__(self, store):
        self._store = store

    @staticmethod
    def record_name(app_index):
        scope_of(app_index)
        return "terminal" if app_index == 0 else "app%d" % app_index

    def save(self, app_index, params, packet_version=None):
        """Store `params` (validated again) for `app_index`, atomically. `packet_version`
        None keeps the stored one (a menu edit)."""
        if params.app_index != app_index:
            raise ValueError(
                "parameters of %s cannot be saved as %s"
                % (scope_name(params.app_index), scope_name(app_index))
            )
        params.validate()
        if packet_version is None:
            packet_version = self.version(app_index)
        body = params.to_tlv()
        payload = bytearray(4 + len(body))
        struct.pack_into(">I", payload, 0, packet_version)
        payload[4:] = body
        self._store.save(self.record_name(app_index), payload, _RECORD_VERSION)
        params.packet_version = packet_version

    def _record(self, app_index):
        record = self._store.load(self.record_name(app_index))
        if record is None:
            return None
        if record[0] != _RECORD_VERSION:
            raise ParamError(
                "stored %s parameters use layout %d; this firmware reads %d"
                % (scope_name(app_index), record[0], _RECORD_VERSION)
            )
        if len(record[1]) < 4:
            raise ParamError("stored %s parameters are too short" % scope_name(app_index))
        return record[1]

    def load(self, app_index):
        """The stored Params of `app_index`, or None if none were ever saved."""
        payload = self._record(app_index)
        if payload is None:
            return None
        params = Params.from_tlv(memoryview(payload)[4:], app_index)
        params.packet_version = struct.unpack_from(">I", payload, 0)[0]
        return params

    def version(self, app_index):
        """Version of the packet that set the stored parameters; 0 if none."""
        payload = self._record(app_index)
        return 0 if payload is None else struct.unpack_from(">I", payload, 0)[0]

    def delete(self, app_index):
        self._store.delete(self.record_name(app_index))
