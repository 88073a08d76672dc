"""Terminal and application parameters: the Params object and its storage (the schema, and
the checks of values and of whole sets, are in app.store.schema).

The operator's procedure sets, per terminal: language, receipt copies, external PIN pad,
operator, supervisor and PosManage (admin) passwords, the default key algorithm, timeouts,
reversal retries, primary/backup host and the communications bearer with its settings
(dial-up, GPRS or Ethernet); and per acquirer application (index 1..MAX_APPLICATIONS):
name, merchant id, terminal id, merchant name, key algorithm, master key slot, sign-on mode
and message header, and the acquirer profile (field 62 layout, field 60 and 26, MAC method,
empty-batch and batch-end rules: docs/iso8583.md §12).
The terminal serial is identity (app.keys.identity), not a parameter; the clock is set apart.

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

from app import message
from app.store import schema as _schema

# Re-exported: callers need only app.store.params.
from app.store.schema import MAX_APPLICATIONS, ParamError, put_tlv, scope_name, walk  # noqa: F401

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731


_SALT = const(16)
_PASSWORD_MIN = const(4)
_PASSWORD_MAX = const(12)
_HASH_SCHEME = const(1)  # the first byte of a stored password (app.store.schema checks it)
# The password hashes' tags: a set's values are kept by tag (app.store.schema names them).
_OPERATOR_PASSWORD = const(0x04)
_SUPERVISOR_PASSWORD = const(0x05)
_ADMIN_PASSWORD = const(0x0E)  # PosManage (operator 01); optional: absent, the supervisor's

# Messages, numbered from 0 by _M_* and formatted by _text() (app.message: one literal, not a
# heap object per message).
_M_PASSWORD_LENGTH = const(0)
_M_PASSWORD_DIGITS = const(1)
_M_SALT = const(2)
_M_NO_SUCH = const(3)
_M_CLEAR_PASSWORD = const(4)
_M_NOT_VALID = const(5)
_M_TERMINAL_ONLY = const(6)
_M_KIND = const(7)
_M_SAVED_AS = const(8)
_M_LAYOUT = const(9)
_M_TOO_SHORT = const(10)
_M_BEARER = const(11)
_MESSAGES = (
    "|password must be %d to %d digits, got %d"  # _M_PASSWORD_LENGTH
    "|password must be digits only"  # _M_PASSWORD_DIGITS
    "|password salt must be %d bytes"  # _M_SALT
    "|%s: no such %s parameter"  # _M_NO_SUCH
    "|%s: set_password() takes the clear password"  # _M_CLEAR_PASSWORD
    "|%s: %r is not a valid value"  # _M_NOT_VALID
    "|passwords are terminal parameters"  # _M_TERMINAL_ONLY
    "|password kind must be operator, supervisor or admin, got %r"  # _M_KIND
    "|parameters of %s cannot be saved as %s"  # _M_SAVED_AS
    "|stored %s parameters use layout %d; this firmware reads %d"  # _M_LAYOUT
    "|stored %s parameters are too short"  # _M_TOO_SHORT
    "|bearer: application %d goes over %s, and the terminal's parameters have no %s section"
    # _M_BEARER
    "|"
)


def _text(number, args=None):
    return message(_MESSAGES, number, args)


def hash_password(password, salt=None):
    """The stored form of a password: scheme 1, salt, SHA-256(salt || password).

    `password` is digits (str, bytes or a keypad bytearray the caller wipes), 4 to 12 of
    them; `salt` (16 bytes) is for tests, default random.
    """
    if isinstance(password, str):
        password = password.encode()
    if not _PASSWORD_MIN <= len(password) <= _PASSWORD_MAX:
        raise ParamError(_text(_M_PASSWORD_LENGTH, (_PASSWORD_MIN, _PASSWORD_MAX, len(password))))
    for c in password:
        if not 0x30 <= c <= 0x39:
            raise ParamError(_text(_M_PASSWORD_DIGITS))
    salt = os.urandom(_SALT) if salt is None else bytes(salt)
    if len(salt) != _SALT:
        raise ValueError(_text(_M_SALT, _SALT))
    digest = hashlib.sha256(salt)
    digest.update(password)  # no joined copy of the clear password
    return bytes((_HASH_SCHEME,)) + salt + digest.digest()


class Params:
    """One parameter set: the terminal's (app_index 0) or an application's (1..N).

    Values are Python values: str (text, choices, addresses, TPDU), int, bool, and bytes
    for the merchant name (GB18030) and password hashes. Read as `params["gprs.apn"]`,
    `params.merchant_id` or `params.gprs.apn`; absent optional values read as None.
    `packet_version` is the version of the packet that set them (0 if unknown).
    Made by `from_tlv` (checked) or from a dict of values by name (trusted: call validate()).
    """

    _prefix = ""  # "gprs." in the view params.gprs, which reads params["gprs.*"]

    def __init__(self, app_index=0, values=None):
        self._scope = _schema.scope_of(app_index)
        self.app_index = app_index
        self.packet_version = 0
        self._values = {}  # by tag: no name strings on the heap
        if values:
            for name in values:
                tag = _schema.tag_of(name, self._scope)
                if not tag:
                    raise ParamError(_text(_M_NO_SUCH, (name, scope_name(app_index))))
                self._values[tag] = values[name]

    @classmethod
    def from_tlv(cls, body, app_index=0):
        """Parse and validate a TLV body. Raises ParamError on the first bad field; unknown
        optional tags (0x80-0xFF) are skipped, an unknown mandatory one refused."""
        params = cls(app_index)
        params._values = _schema.decode_body(body, params._scope)
        params.validate()
        return params

    def to_tlv(self):
        """The TLV body of these parameters: every present value, tags ascending."""
        buf = bytearray()
        values = self._values
        for tag in sorted(values):
            put_tlv(buf, tag, _schema.encode_value(tag, values[tag]))
        return bytes(buf)

    def validate(self):
        """Check that every required value is present and that values agree with each
        other. Raises ParamError naming the field."""
        _schema.check(self._values, self._scope)

    # --- access ------------------------------------------------------------------------------

    def __getitem__(self, name):
        tag = _schema.tag_of(name, self._scope)
        if not tag:
            raise KeyError(name)
        return self._values.get(tag)

    def __contains__(self, name):
        return _schema.tag_of(name, self._scope) in self._values

    def configured(self, bearer):
        """True when these terminal parameters have the section of `bearer` ("dialup",
        "gprs", "ethernet"): the one `bearer` selects, or one an application chooses."""
        return self[bearer + (".phone1" if bearer == "dialup" else ".host")] is not None

    def __getattr__(self, name):
        if name[:1] == "_":  # no parameter name starts with "_"
            raise AttributeError(name)
        prefix = self._prefix
        if not prefix and (name == "dialup" or name == "gprs" or name == "ethernet"):
            view = Params(self.app_index)
            view._values = self._values
            view._prefix = name + "."
            return view
        tag = _schema.tag_of(prefix + name, self._scope)
        if not tag:
            raise AttributeError(name)
        return self._values.get(tag)

    def get(self, name, default=None):
        return self._values.get(_schema.tag_of(name, self._scope), default)

    def items(self):
        """(name, value) of every present value, in tag order."""
        values = self._values
        items = []
        for tag in sorted(values):
            items.append((_schema.name_of(tag), values[tag]))
        return items

    def set(self, name, value):
        """Change one value (a menu edit), validated as a packet's would be; None removes an
        optional one. Call validate() before saving a set changed field by field."""
        tag = _schema.tag_of(name, self._scope)
        if not tag:
            raise ParamError(_text(_M_NO_SUCH, (name, scope_name(self.app_index))))
        if value is None:
            self._values.pop(tag, None)
            return
        if tag == _OPERATOR_PASSWORD or tag == _SUPERVISOR_PASSWORD or tag == _ADMIN_PASSWORD:
            if not isinstance(value, (bytes, bytearray)):
                raise ParamError(_text(_M_CLEAR_PASSWORD, name))
        try:
            raw = _schema.encode_value(tag, value)
        except (TypeError, ValueError, AttributeError, OverflowError):
            raise ParamError(_text(_M_NOT_VALID, (name, value)))
        self._values[tag] = _schema.decode_value(tag, raw)

    def set_password(self, kind, password, salt=None):
        """Set the "operator", "supervisor" or "admin" password from the clear digits."""
        self._values[self._password_tag(kind)] = hash_password(password, salt)

    def check_password(self, kind, typed):
        """Whether `typed` (str, bytes or keypad bytearray) is the "operator", "supervisor"
        or "admin" (PosManage) password; False when the parameters hold none. Constant time
        in where the digests differ."""
        from app.crypto.mac import equal  # kept off the heap until the first password is typed

        stored = self._values.get(self._password_tag(kind))
        if stored is None:
            return False
        if isinstance(typed, str):
            typed = typed.encode()
        digest = hashlib.sha256(stored[1 : 1 + _SALT])
        digest.update(typed)
        return equal(stored[1 + _SALT :], digest.digest())

    def _password_tag(self, kind):
        if self.app_index != 0:
            raise ParamError(_text(_M_TERMINAL_ONLY))
        if kind == "operator":
            return _OPERATOR_PASSWORD
        if kind == "supervisor":
            return _SUPERVISOR_PASSWORD
        if kind == "admin":
            return _ADMIN_PASSWORD
        raise ParamError(_text(_M_KIND, (kind,)))


# Record payload: packet version (4 bytes, big-endian) + TLV body (payload version 1).
_RECORD_VERSION = const(1)


class ParamStore:
    """Parameter sets in an app.store.records.RecordStore: "terminal" and "app1".."appN".

    Each record also carries the version of the packet that set it, written in the same
    atomic save, so the installed version can never lag behind the parameters it names.
    """

    def __init__(self, store):
        self._store = store

    @staticmethod
    def record_name(app_index):
        _schema.scope_of(app_index)
        return "terminal" if app_index == 0 else "app%d" % app_index

    def save(self, app_index, params, packet_version=None):
        """Store `params` (validated again) for `app_index`, atomically. `packet_version`
        None keeps the stored one (a menu edit)."""
        if params.app_index != app_index:
            raise ValueError(
                _text(_M_SAVED_AS, (scope_name(params.app_index), scope_name(app_index)))
            )
        params.validate()
        self._check_bearers(app_index, params)
        if packet_version is None:
            packet_version = self.version(app_index)
        body = params.to_tlv()
        payload = bytearray(4 + len(body))
        struct.pack_into(">I", payload, 0, packet_version)
        payload[4:] = body
        self._store.save(self.record_name(app_index), payload, _RECORD_VERSION)
        params.packet_version = packet_version

    def _check_bearers(self, app_index, params):
        # An application that chooses its own bearer (parameter `bearer`) needs that
        # bearer's section in the terminal's set: refused otherwise, whichever of the two
        # sets is saved second. ParamError naming the application and the bearer.
        if app_index:
            wanted = params["bearer"]
            terminal = self.load(0) if wanted is not None else None
            if wanted is not None and (terminal is None or not terminal.configured(wanted)):
                raise ParamError(_text(_M_BEARER, (app_index, wanted, wanted)))
            return
        for index in range(1, MAX_APPLICATIONS + 1):
            try:
                app = self.load(index)
            except (OSError, ValueError):  # unreadable: its own load says so where it matters
                continue
            wanted = app["bearer"] if app is not None else None
            if wanted is not None and not params.configured(wanted):
                raise ParamError(_text(_M_BEARER, (index, wanted, wanted)))

    def _record(self, app_index):
        record = self._store.load(self.record_name(app_index))
        if record is None:
            return None
        if record[0] != _RECORD_VERSION:
            raise ParamError(_text(_M_LAYOUT, (scope_name(app_index), record[0], _RECORD_VERSION)))
        if len(record[1]) < 4:
            raise ParamError(_text(_M_TOO_SHORT, scope_name(app_index)))
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
