"""Key slots: master keys (TMK) per acquirer application and slot index, and the working keys
(PIK, MAK, TDK) that a sign-on delivers under a master key. See docs/keys.md.

Hierarchy: device KBPK (app.keys.identity) -> TMK, loaded as a TR-31 key block or entered as 2-3
clear components -> PIK/MAK/TDK, carried in field 62 of the sign-on response (0810),
encrypted under the TMK, each with a check value (spec §3.3).

At rest every key is sealed under the device storage key (app.crypto.seal: AES-128-CBC with a fresh
random IV, then an HMAC-SHA256 tag) together with its slot metadata, so a sealed key cannot be
moved to another slot, application or terminal without failing its tag. The metadata is also
kept in clear beside it (application, kind, slot, algorithm, length, origin, check value), so
menus and the version screen list keys without opening any. All entries live in one record
("keys") of app.store.records.RecordStore, replaced atomically.

Every key is checked against a check value when it arrives (KCV typed by the installer,
computed from components, CV of field 62) and again each time it is opened from flash. A
refused key leaves the stored keys as they were. Nothing here prints, logs or returns a clear
key, except `combine_components` (the caller stores it and wipes it); the cipher objects
handed out keep key schedules, not raw keys.

Memory: the messages are one text literal (_MESSAGES) read when needed, the field 62
layouts live in app.keys.layout (imported at sign-on), and stored entries are indexed by int,
not tuple: a module's tuples and string literals are built on the heap when it loads, used or
not.
"""

import binascii

from app import message, unhex
from app.crypto import cipher as ciphers
from app.crypto import seal
from app.crypto.mac import equal

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731


_NAME = "keys"
_VERSION = const(1)

# Entry = clear metadata (_CLEAR bytes) + sealed length (1) + sealed(metadata || key).
# metadata: application, kind, slot, algorithm, key length, origin, check value (4 bytes).
_CLEAR = const(10)
_APP = const(0)
_KIND = const(1)
_SLOT = const(2)
_ALGORITHM = const(3)
_LENGTH = const(4)
_ORIGIN = const(5)
_CV = const(6)
# Bounds the record (about 90 bytes an entry) and the heap it takes to rewrite it.
_MAX_ENTRIES = const(64)

# Kind byte of an entry: the TMK, and the working keys of USAGES in that order.
_TMK = const(0x54)  # 'T'
_USAGE_KINDS = b"PMD"
USAGES = ("PIK", "MAK", "TDK")

# Origin of a key, kept for the version screen and audits.
_ENTERED = const(0x45)  # 'E' set_tmk: a whole clear key, checked against a KCV if one was given
_COMPONENTS = const(0x43)  # 'C' set_tmk_from_components
_KEY_BLOCK = const(0x42)  # 'B' load_tmk_tr31
_SIGN_ON = const(0x53)  # 'S' load_working_keys

# Messages, numbered from 0 by _M_* and formatted by _message(). One literal: each string
# literal of a module is a heap object from import on (40 bytes on the 64-bit unix port,
# 20 on the ESP32), and these were 1.4 KB. None ever contains key material.
_M_ODD_HEX = const(0)
_M_NOT_HEX = const(1)
_M_CHECK_VALUE = const(2)
_M_ALGORITHM = const(3)
_M_COMPONENTS = const(4)
_M_COMPONENT_LENGTH = const(5)
_M_ZERO_COMPONENTS = const(6)
_M_BLOCK_USAGE = const(7)
_M_BLOCK_MODE = const(8)
_M_BLOCK_COMPONENT = const(9)
_M_BLOCK_ALGORITHM = const(10)
_M_STORAGE_KEY = const(11)
_M_RECORD_VERSION = const(12)
_M_MALFORMED = const(13)
_M_UNKNOWN_ENTRY = const(14)
_M_FULL = const(15)
_M_SEAL = const(16)
_M_SEALED_COPY = const(17)
_M_STORED_CV = const(18)
_M_APPLICATION = const(19)
_M_SLOT = const(20)
_M_ZERO_KEY = const(21)
_M_TMK_CHECK = const(22)
_M_UNCONFIRMED = const(23)
_M_FIELD62 = const(24)
_M_NO_TMK = const(25)
_M_FAMILY = const(26)
_M_CHECK_FAILED = const(27)
_M_USAGE = const(28)
_M_NOT_SIGNED_ON = const(29)
_M_STORED_TMK = const(30)
_M_STORED_WORKING = const(31)
_M_HALVES = const(32)
_MESSAGES = (
    "|%s must be an even number of hex digits"  # _M_ODD_HEX
    "|%s is not hex"  # _M_NOT_HEX
    "|check value must be 2 to 16 bytes, got %d"  # _M_CHECK_VALUE
    "|master key algorithm must be DES, 3DES or SM4, got %r"  # _M_ALGORITHM
    "|a key is 2 or 3 components, got %d"  # _M_COMPONENTS
    "|component %d is %d hex digits, component 1 is %d"  # _M_COMPONENT_LENGTH
    "|the components combine to a key of all zeros"  # _M_ZERO_COMPONENTS
    "|%s key block cannot become a master key (usage %s; K0 or K1 only)"  # _M_BLOCK_USAGE
    "|a master key must be allowed to decrypt: mode of use %s (B, D or N only)"  # _M_BLOCK_MODE
    "|the key block holds a key component, not a whole key"  # _M_BLOCK_COMPONENT
    "|a %s key cannot become a master key (TR-31 algorithm T or D only)"  # _M_BLOCK_ALGORITHM
    "|storage key must be 16 bytes, got %d"  # _M_STORAGE_KEY
    "|key record version %d is not supported"  # _M_RECORD_VERSION
    "|key record is malformed at byte %d"  # _M_MALFORMED
    "|key record holds an unknown entry at byte %d"  # _M_UNKNOWN_ENTRY
    "|key store full: at most %d keys"  # _M_FULL
    "|%s does not verify: damaged, or sealed by another terminal"  # _M_SEAL
    "|%s does not match its sealed copy"  # _M_SEALED_COPY
    "|%s fails its check value"  # _M_STORED_CV
    "|application must be 1 to %d, got %r"  # _M_APPLICATION
    "|key slot must be 0 to %d, got %r"  # _M_SLOT
    "|a master key of all zeros is refused"  # _M_ZERO_KEY
    "|key check failed: TMK has KCV %s, expected %s"  # _M_TMK_CHECK
    "|the combined key's check value must be confirmed"  # _M_UNCONFIRMED
    "|field 62 must be %d bytes for key mode %s, got %d"  # _M_FIELD62
    "|no master key in slot %d of application %d"  # _M_NO_TMK
    "|key mode %s needs %s master key; slot %d holds %s"  # _M_FAMILY
    "|key check failed: %s"  # _M_CHECK_FAILED
    "|working key usage must be PIK, MAK or TDK, got %r"  # _M_USAGE
    "|no %s for application %d: sign on first"  # _M_NOT_SIGNED_ON
    "|stored TMK in slot %d of application %d"  # _M_STORED_TMK
    "|stored %s of application %d"  # _M_STORED_WORKING
    "|X9.19 needs a DES key of 8 or 16 bytes, not %s of %d"  # _M_HALVES
    "|"
)


class KeyCheckError(ValueError):
    """A key does not match its check value; nothing was stored."""


class KeyUsageError(ValueError):
    """A key block whose usage, mode of use or algorithm does not allow what was asked."""


class NoKeyError(ValueError):
    """The slot or working key asked for is empty (load a master key, or sign on)."""


class KeyStoreError(OSError):
    """The stored keys are damaged, or were sealed under another terminal's storage key."""


def _message(number, args):
    # Message `number` (_M_*) of _MESSAGES, formatted with the tuple `args`.
    return message(_MESSAGES, number, args)


def _wipe(buf):
    for i in range(len(buf)):
        buf[i] = 0


def _hex(data):
    return binascii.hexlify(data).decode().upper()


def _hex_bytes(text, what):
    # Hex typed by a person: the message never repeats the text (it may be part of a key).
    if isinstance(text, str):
        text = text.encode()
    if len(text) % 2:
        raise ValueError(_message(_M_ODD_HEX, (what,)))
    try:
        return bytearray(unhex(text))
    except ValueError:
        raise ValueError(_message(_M_NOT_HEX, (what,))) from None


def _check_value(kcv):
    # A check value to compare with: bytes, or hex text as printed on a key custodian's form.
    if kcv is None:
        return None
    if isinstance(kcv, str):
        kcv = _hex_bytes(kcv, "check value")
    if not 2 <= len(kcv) <= 16:
        raise ValueError(_message(_M_CHECK_VALUE, (len(kcv),)))
    return bytes(kcv)


def _zero_block(cipher):
    block = bytearray(cipher.block_size)
    cipher.encrypt_into(block)
    return block


def _code(algorithm):
    # The algorithm byte of an entry; ValueError for an algorithm no key here may have.
    if algorithm == ciphers.DES:
        return 0x44  # 'D'
    if algorithm == ciphers.TDES:
        return 0x54  # 'T'
    if algorithm == ciphers.SM4:
        return 0x53  # 'S'
    raise ValueError(_message(_M_ALGORITHM, (algorithm,)))


def _algorithm(code):
    # The algorithm named by the algorithm byte of an entry; None if it is no known code.
    if code == 0x44:
        return ciphers.DES
    if code == 0x54:
        return ciphers.TDES
    return ciphers.SM4 if code == 0x53 else None


def _index(application, kind, slot):
    # Where an entry lives in KeyStore._entries: one TMK per (application, slot), one working
    # key of each kind per application. An int (no tuple per entry), ordered as the tuple
    # (application, kind, slot) would be: the record's entries are written in that order.
    return application << 16 | kind << 8 | (slot if kind == _TMK else 0)


def combine_components(components, algorithm):
    """XOR 2 or 3 clear key components (hex text, as the custodians read them out).

    Each component must be hex of the length `algorithm` needs (DES 16 digits, 3DES 32 or
    48, SM4 32), all the same length. Returns (key, component_kcvs, kcv): the combined key as
    a bytearray the caller must store and then wipe, a tuple with the 3-byte KCV of each
    component and the KCV of the combined key, all KCVs as upper-case hex.
    """
    _code(algorithm)
    if len(components) not in (2, 3):
        raise ValueError(_message(_M_COMPONENTS, (len(components),)))
    key = None
    kcvs = []
    try:
        for number, text in enumerate(components, 1):
            part = _hex_bytes(text, "component %d" % number)
            try:
                if key is not None and len(part) != len(key):
                    raise ValueError(
                        _message(_M_COMPONENT_LENGTH, (number, 2 * len(part), 2 * len(key)))
                    )
                kcvs.append(_hex(ciphers.kcv(algorithm, part, 3)))
                if key is None:
                    key = bytearray(part)
                else:
                    for i in range(len(key)):
                        key[i] ^= part[i]
            finally:
                _wipe(part)
        if key is None or not any(key):
            raise ValueError(_message(_M_ZERO_COMPONENTS, ()))
        return key, tuple(kcvs), _hex(ciphers.kcv(algorithm, key, 3))
    except Exception:
        if key is not None:
            _wipe(key)
        raise


def component_kcv(text, algorithm, number=1):
    """The 3-byte check value (upper-case hex) of one clear key component as its custodian
    types it: hex text (str, bytes, or a bytearray or memoryview the caller wipes). The
    terminal shows or compares it with the custodian's form before the next component is
    typed. ValueError naming the component by `number`, never its digits, when it is not
    hex, or not a key length of `algorithm`."""
    _code(algorithm)
    part = _hex_bytes(text, "component %d" % number)
    try:
        return _hex(ciphers.kcv(algorithm, part, 3))
    finally:
        _wipe(part)


def _unwrap_master(kbpk, key_block):
    # A TR-31 block that may become a master key -> (algorithm, clear key bytearray).
    from app.crypto import tr31  # install-time only: kept off the heap in daily use

    header = tr31.parse(key_block)
    usage = header.usage
    if usage not in ("K0", "K1"):
        kind = {"P": "a PIN", "M": "a MAC", "D": "a data", "B": "a derivation"}.get(
            usage[0], "a %s" % usage
        )
        raise KeyUsageError(_message(_M_BLOCK_USAGE, (kind, usage)))
    if header.mode not in ("B", "D", "N"):
        raise KeyUsageError(_message(_M_BLOCK_MODE, (header.mode,)))
    if header.key_version[:1] == "c":
        raise KeyUsageError(_message(_M_BLOCK_COMPONENT, ()))
    if header.algorithm not in ("T", "D"):
        raise KeyUsageError(_message(_M_BLOCK_ALGORITHM, (header.algorithm,)))
    key = tr31.unwrap(kbpk, key_block)[1]
    return (ciphers.DES if len(key) == 8 else ciphers.TDES), key


class KeyStore:
    """The terminal's key slots, persisted in `store` (an app.store.records.RecordStore) as record
    "keys", every key sealed under `storage_key` (16 bytes, from the board).

    Applications are numbered 1..`applications`, master key slots 0..`slots`-1 (the index the
    acquirer gives; two digits on the entry screen). Each application has any number of
    master keys (one per slot) and one set of working keys, loaded under one of its TMKs.
    KCVs come out as upper-case hex: 3 bytes for master keys (as on a custodian's form), 4
    for working keys (as in field 62).
    """

    def __init__(self, store, storage_key, *, applications=8, slots=100):
        if len(storage_key) != 16:
            raise ValueError(_message(_M_STORAGE_KEY, (len(storage_key),)))
        self._store = store
        self._storage_key = bytes(storage_key)
        self._applications = applications
        self._slots = slots
        self.reload()

    def reload(self):
        """Read the stored keys again and drop the cached ciphers (the engine does this
        before a sign-on: another key store may have changed the record meanwhile)."""
        self._ciphers = {}  # (application, usage) -> cipher object, built on first use
        entries = {}  # _index() -> entry, as in the record
        record = self._store.load(_NAME)
        if record is None:
            self._entries = entries
            return
        version, payload = record
        if version != _VERSION:
            raise KeyStoreError(_message(_M_RECORD_VERSION, (version,)))
        pos = 0
        while pos < len(payload):
            end = pos + _CLEAR + 1
            if end <= len(payload):
                end += payload[end - 1]
            if end > len(payload):
                raise KeyStoreError(_message(_M_MALFORMED, (pos,)))
            entry = bytes(payload[pos:end])
            kind = entry[_KIND]
            if _algorithm(entry[_ALGORITHM]) is None or kind not in b"TPMD":
                raise KeyStoreError(_message(_M_UNKNOWN_ENTRY, (pos,)))
            entries[_index(entry[_APP], kind, entry[_SLOT])] = entry
            pos = end
        self._entries = entries

    # combine_components needs no store; offered here too for the key entry screens.
    combine_components = staticmethod(combine_components)

    # --- record ----------------------------------------------------------------------------

    def _commit(self, entries):
        # Save first, then adopt: a failed save leaves memory matching flash.
        if len(entries) > _MAX_ENTRIES:
            raise ValueError(_message(_M_FULL, (_MAX_ENTRIES,)))
        if entries:
            payload = b"".join([entries[index] for index in sorted(entries)])
            self._store.save(_NAME, payload, _VERSION)
        else:
            self._store.delete(_NAME)
        self._entries = entries

    def _seal(self, application, kind, slot, algorithm, key, origin, check):
        meta = bytearray(_CLEAR)
        meta[_APP] = application
        meta[_KIND] = kind
        meta[_SLOT] = slot
        meta[_ALGORITHM] = _code(algorithm)
        meta[_LENGTH] = len(key)
        meta[_ORIGIN] = origin
        meta[_CV : _CV + 4] = check[:4]
        plain = bytearray(_CLEAR + len(key))
        plain[:_CLEAR] = meta
        plain[_CLEAR:] = key
        try:
            sealed = seal.seal(self._storage_key, plain)
        finally:
            _wipe(plain)
        return bytes(meta) + bytes((len(sealed),)) + sealed

    def _clear(self, entry):
        # The clear key of `entry` (a bytearray the caller wipes), once its tag and its
        # metadata check, and a cipher object of it whose check value matches.
        try:
            plain = seal.unseal(self._storage_key, entry[_CLEAR + 1 :])
        except seal.SealError:
            raise KeyStoreError(_message(_M_SEAL, (_describe(entry),))) from None
        if len(plain) != _CLEAR + entry[_LENGTH] or plain[:_CLEAR] != entry[:_CLEAR]:
            raise KeyStoreError(_message(_M_SEALED_COPY, (_describe(entry),)))
        key = bytearray(plain[_CLEAR:])
        try:
            cipher = ciphers.new(_algorithm(entry[_ALGORITHM]), key)
            if not equal(_zero_block(cipher)[:4], entry[_CV : _CV + 4]):
                raise KeyStoreError(_message(_M_STORED_CV, (_describe(entry),)))
        except Exception:
            _wipe(key)
            raise
        return key, cipher

    def _open(self, entry):
        # The key of `entry` as a cipher object, after its tag, metadata and KCV all check.
        key, cipher = self._clear(entry)
        _wipe(key)
        return cipher

    def _check(self, application, slot=None):
        if not 1 <= application <= self._applications:
            raise ValueError(_message(_M_APPLICATION, (self._applications, application)))
        if slot is not None and not 0 <= slot < self._slots:
            raise ValueError(_message(_M_SLOT, (self._slots - 1, slot)))

    def forget(self, application, usage=None):
        """Drop the cipher object cached for working key `usage` of `application` (every one
        of them if None): the key reopens from flash on next use."""
        for name in USAGES:
            if usage is None or usage == name:
                self._ciphers.pop((application, name), None)
                self._ciphers.pop((application, name + "/2"), None)

    # --- master keys -------------------------------------------------------------------------

    def tmk_slots(self, application):
        """The master keys of `application`: a tuple of (slot, algorithm, kcv), by slot."""
        self._check(application)
        rows = []
        for index in sorted(self._entries):
            if index >> 16 == application and index >> 8 & 0xFF == _TMK:
                entry = self._entries[index]
                algorithm = _algorithm(entry[_ALGORITHM])
                rows.append((entry[_SLOT], algorithm, _hex(entry[_CV : _CV + 3])))
        return tuple(rows)

    def check_tmk(self, application, slot):
        """Open the master key in `slot` and check it (tag, check value) without keeping it:
        a sign-on does this before it asks the host for keys. NoKeyError if the slot is
        empty, KeyStoreError if its seal does not open (another terminal's storage key)."""
        self._check(application, slot)
        entry = self._entries.get(_index(application, _TMK, slot))
        if entry is None:
            raise NoKeyError(_message(_M_NO_TMK, (slot, application)))
        self._open(entry)

    def _stage_tmk(self, entries, application, slot, key, algorithm, expected, origin):
        # Put a checked, sealed master key into `entries` (a copy of the record), without
        # saving: a caller commits once, so several keys land together or not at all.
        self._check(application, slot)
        _code(algorithm)
        if not any(key):
            raise ValueError(_message(_M_ZERO_KEY, ()))
        if algorithm != ciphers.SM4:
            from app.crypto import weakkeys  # install-time only: kept off the heap in daily use

            weakness = weakkeys.weakness(key)
            if weakness is not None:
                raise ValueError(weakness)
        check = _zero_block(ciphers.new(algorithm, key))
        if expected is not None and not equal(check[: len(expected)], expected):
            found = _hex(check[: len(expected)])
            raise KeyCheckError(_message(_M_TMK_CHECK, (found, _hex(expected))))
        entries[_index(application, _TMK, slot)] = self._seal(
            application, _TMK, slot, algorithm, key, origin, check
        )
        # Working keys loaded under the master key being replaced belong to the old key
        # relationship: drop them, so the terminal signs on again before it transacts.
        for kind in _USAGE_KINDS:
            index = _index(application, kind, 0)
            old = entries.get(index)
            if old is not None and old[_SLOT] == slot:
                del entries[index]
        return _hex(check[:3])

    def _put_tmk(self, application, slot, key, algorithm, expected, origin):
        entries = dict(self._entries)
        check = self._stage_tmk(entries, application, slot, key, algorithm, expected, origin)
        self._commit(entries)
        self.forget(application)
        return check

    def set_tmk(self, application, slot, key, algorithm, kcv=None):
        """Store a clear master key (bytes) of `algorithm` ("DES", "3DES" or "SM4") in `slot`.

        If `kcv` (bytes, or hex text; 2 or more bytes) is given, the key's check value must
        start with it, else KeyCheckError "key check failed" and nothing changes. Replacing a
        slot drops working keys that were loaded under it. Returns the 3-byte KCV (hex).
        """
        return self._put_tmk(application, slot, key, algorithm, _check_value(kcv), _ENTERED)

    def set_tmk_from_components(self, application, slot, components, algorithm, expected_kcv):
        """Combine 2 or 3 clear components (hex text) into the master key of `slot`.

        `expected_kcv` is the combined key's check value as the installer confirms it (the
        custodians' form; bytes or hex). Refused with KeyCheckError if it does not match.
        Returns the 3-byte KCV (hex). SM4 master keys are loaded this way (TR-31 has no SM4).
        """
        expected = _check_value(expected_kcv)
        if expected is None:
            raise ValueError(_message(_M_UNCONFIRMED, ()))
        key = combine_components(components, algorithm)[0]
        try:
            return self._put_tmk(application, slot, key, algorithm, expected, _COMPONENTS)
        finally:
            _wipe(key)

    def load_tmk_tr31(self, application, slot, kbpk, key_block, kcv=None):
        """Unwrap a TR-31 key block (version B or D, app.crypto.tr31) under `kbpk` into `slot`.

        Only a key encryption key may become a master key: usage K0 (key encryption or
        wrapping) or K1 (TR-31 KBPK), mode of use B (both ways), D (decrypt/unwrap only) or N
        (no restriction); not a key component (key version 'c…'). Algorithm T is 3DES, D is
        DES (8 bytes) or 3DES (16/24); AES (A) and others are refused, as CUP sign-on needs a
        DES-family or SM4 master key, and TR-31 has no code for SM4. Refusals raise
        KeyUsageError (usage) or tr31.KeyBlockError (block); nothing changes. Returns
        (algorithm, 3-byte KCV in hex).
        """
        algorithm, check = self.load_tmk_tr31_all(application, ((slot, key_block, kcv),), kbpk)[0][
            1:
        ]
        return algorithm, check

    def load_tmk_tr31_all(self, application, items, kbpk):
        """Load several TR-31 master keys, all or nothing: `items` are (slot, key block,
        expected KCV or None). Every block is checked as by `load_tmk_tr31`; one refusal
        leaves every slot as it was. Returns [(slot, algorithm, 3-byte KCV hex)]."""
        entries = dict(self._entries)
        loaded = []
        for slot, key_block, kcv in items:
            algorithm, key = _unwrap_master(kbpk, key_block)
            try:
                check = self._stage_tmk(
                    entries, application, slot, key, algorithm, _check_value(kcv), _KEY_BLOCK
                )
            finally:
                _wipe(key)
            loaded.append((slot, algorithm, check))
        self._commit(entries)
        self.forget(application)
        return loaded

    # --- working keys ------------------------------------------------------------------------

    def load_working_keys(self, application, slot, field62, mode, layout=None):
        """Install the working keys of a sign-on response under the master key in `slot`.

        `field62` is the raw field 62 of the 0810; `mode` its 60.3 code: "001", "003", "004",
        or "SM4" (alias "006"; layout UNCONFIRMED, see app.keys.layout). `layout` (the
        parameter signon_layout) replaces the mode's layout for an acquirer that differs:
        another 60.3 code's layout or a description (app.keys.layout.parse). Every key is
        decrypted (ECB, TMK) and its check value computed with the clear key; if any differs
        from the one received, KeyCheckError "key check failed: MAK" (naming each failed key)
        is raised and the previous working keys stay as they were. On success returns
        ((usage, 4-byte CV in hex), ...).
        """
        self._check(application, slot)
        sm4 = mode == "006" or mode == "SM4"
        from app.keys.layout import parse  # at sign-on only

        length, items = parse(layout or mode, sm4)
        if len(field62) != length:
            raise ValueError(_message(_M_FIELD62, (length, mode, len(field62))))
        entry = self._entries.get(_index(application, _TMK, slot))
        if entry is None:
            raise NoKeyError(_message(_M_NO_TMK, (slot, application)))
        tmk_algorithm = _algorithm(entry[_ALGORITHM])
        if sm4 != (tmk_algorithm == ciphers.SM4):
            needed = "an SM4" if sm4 else "a DES/3DES"
            raise ValueError(_message(_M_FAMILY, (mode, needed, slot, tmk_algorithm)))
        tmk = self._open(entry)
        loaded = []  # (usage, algorithm, clear key, check value)
        failed = []
        try:
            for usage, offset, size, cv_offset, cv_size in items:
                key = bytearray(field62[offset : offset + size])
                row = [usage, None, key, None]
                loaded.append(row)  # from here on, the finally clause wipes it
                tmk.decrypt_into(key)
                if sm4:
                    algorithm = ciphers.SM4
                else:
                    algorithm = ciphers.DES if size == 8 else ciphers.TDES
                # The cipher is built for the check only: the keys are reopened from flash
                # on first use. One key schedule at a time is the sign-on's heap peak, which
                # is the terminal's (a 3DES schedule is about 1 KB on the 64-bit port).
                check = _zero_block(ciphers.new(algorithm, key))
                row[1] = algorithm
                row[3] = check
                if not equal(check[:cv_size], field62[cv_offset : cv_offset + cv_size]):
                    failed.append(usage)
            tmk = None
            if failed:
                raise KeyCheckError(_message(_M_CHECK_FAILED, (", ".join(failed),)))
            entries = dict(self._entries)
            for kind in _USAGE_KINDS:
                entries.pop(_index(application, kind, 0), None)
            for usage, algorithm, key, check in loaded:
                kind = _USAGE_KINDS[USAGES.index(usage)]
                entries[_index(application, kind, 0)] = self._seal(
                    application, kind, slot, algorithm, key, _SIGN_ON, check
                )
            self._commit(entries)
        finally:
            for row in loaded:
                _wipe(row[2])
        self.forget(application)
        result = []
        for usage, _, _, check in loaded:
            result.append((usage, _hex(check[:4])))
        return tuple(result)

    def cipher(self, application, usage):
        """A cipher object (app.crypto.cipher interface) for working key `usage` ("PIK", "MAK" or
        "TDK") of `application`: opened from flash on first use, then cached. NoKeyError if
        the application has not signed on (or its master key was replaced since),
        KeyStoreError if the key's seal does not open."""
        cipher = self._ciphers.get((application, usage))
        if cipher is None:
            cipher = self._open(self._working(application, usage))
            self._ciphers[(application, usage)] = cipher
        return cipher

    def halves(self, application, usage):
        """Working key `usage` as (left, right): its two 8-byte halves as single-DES cipher
        objects (both the key itself for a DES key), for the X9.19 retail MAC; cached as
        `cipher` is. ValueError for an SM4 or 24-byte key."""
        name = usage + "/2"
        pair = self._ciphers.get((application, name))
        if pair is None:
            entry = self._working(application, usage)
            algorithm = _algorithm(entry[_ALGORITHM])
            if algorithm == ciphers.SM4 or entry[_LENGTH] == 24:
                raise ValueError(_message(_M_HALVES, (algorithm, entry[_LENGTH])))
            key = self._clear(entry)[0]
            try:
                pair = (ciphers.new(ciphers.DES, key[:8]), ciphers.new(ciphers.DES, key[-8:]))
            finally:
                _wipe(key)
            self._ciphers[(application, name)] = pair
        return pair

    def _working(self, application, usage):
        # The entry of working key `usage`; NoKeyError if there is none.
        self._check(application)
        if usage not in USAGES:
            raise ValueError(_message(_M_USAGE, (usage,)))
        entry = self._entries.get(_index(application, _USAGE_KINDS[USAGES.index(usage)], 0))
        if entry is None:
            raise NoKeyError(_message(_M_NOT_SIGNED_ON, (usage, application)))
        return entry

    # --- inspection and erasure --------------------------------------------------------------

    def kcv_table(self, application):
        """Check values for the version screen, never the keys: a tuple of
        (name, slot, algorithm, kcv) with name "TMK" (3-byte KCV, one row per slot) or
        "PIK"/"MAK"/"TDK" (4-byte CV, slot = the master key they were loaded under)."""
        rows = []
        for row in self.tmk_slots(application):
            rows.append(("TMK",) + row)
        for i in range(len(USAGES)):
            entry = self._entries.get(_index(application, _USAGE_KINDS[i], 0))
            if entry is not None:
                rows.append(
                    (
                        USAGES[i],
                        entry[_SLOT],
                        _algorithm(entry[_ALGORITHM]),
                        _hex(entry[_CV : _CV + 4]),
                    )
                )
        return tuple(rows)

    def verify(self):
        """Open every stored key and check its tag and check value (power-up, after a board
        change); raises KeyStoreError on the first that fails. Returns the number checked."""
        for index in sorted(self._entries):
            self._open(self._entries[index])
        return len(self._entries)

    def erase(self, application=None):
        """Remove every key of `application` (all applications if None)."""
        if application is not None:
            self._check(application)
        entries = {}
        for index, entry in self._entries.items():
            if application is not None and index >> 16 != application:
                entries[index] = entry
        self._commit(entries)
        self._ciphers = {}


def _describe(entry):
    kind = entry[_KIND]
    if kind == _TMK:
        return _message(_M_STORED_TMK, (entry[_SLOT], entry[_APP]))
    i = _USAGE_KINDS.find(kind)
    if i >= 0:
        return _message(_M_STORED_WORKING, (USAGES[i], entry[_APP]))
    return "stored key"
