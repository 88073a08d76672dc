"""Key slots: master keys (TMK) per acquirer application and slot index, and the working keys
(PIK, MAK, TDK) that a sign-on delivers under a master key. See docs/keys.md.

Hierarchy: device KBPK (app.identity) -> TMK, loaded as a TR-31 key block or entered as 2-3
clear components -> PIK/MAK/TDK, carried in field 62 of the sign-on response (0810),
encrypted under the TMK, each with a check value (spec §3.3).

At rest every key is sealed under the device storage key (app.seal: AES-128-CBC with a fresh
random IV, then an HMAC-SHA256 tag) together with its slot metadata, so a sealed key cannot be
moved to another slot, application or terminal without failing its tag. The metadata is also
kept in clear beside it (application, kind, slot, algorithm, length, origin, check value), so
menus and the version screen list keys without opening any. All entries live in one record
("keys") of app.store.RecordStore, replaced atomically.

Every key is checked against a check value when it arrives (KCV typed by the installer,
computed from components, CV of field 62) and again each time it is opened from flash. A
refused key leaves the stored keys as they were. Nothing here prints, logs or returns a clear
key, except `combine_components` (the caller stores it and wipes it); the cipher objects
handed out keep key schedules, not raw keys.
"""

import binascii

from app import cipher as ciphers
from app import seal
from app.mac import equal

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

_TMK = const(0x54)  # 'T'
# usage name -> kind byte of its entry
_KINDS = {"PIK": 0x50, "MAK": 0x4D, "TDK": 0x44}
USAGES = ("PIK", "MAK", "TDK")

# algorithm name <-> code byte in an entry
_CODES = {ciphers.DES: 0x44, ciphers.TDES: 0x54, ciphers.SM4: 0x53}
_NAMES = {0x44: ciphers.DES, 0x54: ciphers.TDES, 0x53: ciphers.SM4}

# origin of a key, kept for the version screen and audits
ORIGIN_ENTERED = "E"  # set_tmk: a whole clear key, checked against a KCV if one was given
ORIGIN_COMPONENTS = "C"  # set_tmk_from_components
ORIGIN_KEY_BLOCK = "B"  # load_tmk_tr31
ORIGIN_SIGN_ON = "S"  # load_working_keys

# Field 62 of the sign-on response, by 60.3 code: (length, family, items); each item is
# (usage, offset of the encrypted key, key length, offset of its 4-byte check value). Keys are
# ECB-encrypted under the TMK; CV = first 4 bytes of E_key(zero block), clear key. Family
# "DES" means DES for 8-byte keys, 3DES (2-key) for 16-byte keys.
LAYOUTS = {
    # 24 bytes: PIK(8) CV(4) MAK(8) CV(4)
    "001": (24, ciphers.DES, (("PIK", 0, 8, 8), ("MAK", 12, 8, 20))),
    # 40 bytes: PIK(16) CV(4) MAK(16) CV(4); spec: UNCONFIRMED that the MAK is really 16 here.
    "003": (40, ciphers.DES, (("PIK", 0, 16, 16), ("MAK", 20, 16, 36))),
    # 60 bytes: PIK(16) CV(4) MAK(8)+00x8 CV(4) TDK(16) CV(4): the MAK is single length. The 8
    # filler bytes are not checked (S2 sends zeros, S1 reads the MAK as K||K and ignores them).
    "004": (60, ciphers.DES, (("PIK", 0, 16, 16), ("MAK", 20, 8, 36), ("TDK", 40, 16, 56))),
    # SM4 (60.3 = 006 in S2 only): UNCONFIRMED, a parameterised assumption. Taken as the 004
    # layout with whole 16-byte SM4 keys, CV = first 4 bytes of SM4_key(0^16). An acquirer that
    # differs gets its own entry here, or passes `layout=` to load_working_keys.
    "SM4": (60, ciphers.SM4, (("PIK", 0, 16, 16), ("MAK", 20, 16, 36), ("TDK", 40, 16, 56))),
}
LAYOUTS["006"] = LAYOUTS["SM4"]


class KeyCheckError(ValueError):
    """A key does not match its check value; nothing was stored."""


class KeyUsageError(ValueError):
    """A key block whose usage, mode of use or algorithm does not allow what was asked."""


class NoKeyError(ValueError):
    """The slot or working key asked for is empty (load a master key, or sign on)."""


class KeyStoreError(OSError):
    """The stored keys are damaged, or were sealed under another terminal's storage key."""


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
        raise ValueError("%s must be an even number of hex digits" % what)
    try:
        return bytearray(binascii.unhexlify(text))
    except ValueError:
        raise ValueError("%s is not hex" % what) from None


def _check_value(kcv):
    # A check value to compare with: bytes, or hex text as printed on a key custodian's form.
    if kcv is None:
        return None
    if isinstance(kcv, str):
        kcv = _hex_bytes(kcv, "check value")
    if not 2 <= len(kcv) <= 16:
        raise ValueError("check value must be 2 to 16 bytes, got %d" % len(kcv))
    return bytes(kcv)


def _zero_block(cipher):
    block = bytearray(cipher.block_size)
    cipher.encrypt_into(block)
    return block


def _master_algorithm(algorithm):
    if algorithm not in _CODES:
        raise ValueError("master key algorithm must be DES, 3DES or SM4, got %r" % (algorithm,))
    return algorithm


def combine_components(components, algorithm):
    """XOR 2 or 3 clear key components (hex text, as the custodians read them out).

    Each component must be hex of the length `algorithm` needs (DES 16 digits, 3DES 32 or
    48, SM4 32), all the same length. Returns (key, component_kcvs, kcv): the combined key as
    a bytearray the caller must store and then wipe, a tuple with the 3-byte KCV of each
    component and the KCV of the combined key, all KCVs as upper-case hex.
    """
    _master_algorithm(algorithm)
    if len(components) not in (2, 3):
        raise ValueError("a key is 2 or 3 components, got %d" % len(components))
    key = None
    kcvs = []
    try:
        for number, text in enumerate(components, 1):
            part = _hex_bytes(text, "component %d" % number)
            try:
                if key is not None and len(part) != len(key):
                    raise ValueError(
                        "component %d is %d hex digits, component 1 is %d"
                        % (number, 2 * len(part), 2 * len(key))
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
            raise ValueError("the components combine to a key of all zeros")
        return key, tuple(kcvs), _hex(ciphers.kcv(algorithm, key, 3))
    except Exception:
        if key is not None:
            _wipe(key)
        raise


def _unwrap_master(kbpk, key_block):
    # A TR-31 block that may become a master key -> (algorithm, clear key bytearray).
    from app import tr31  # install-time only: kept off the heap in daily use

    header = tr31.parse(key_block)
    usage = header.usage
    if usage not in ("K0", "K1"):
        kind = {"P": "a PIN", "M": "a MAC", "D": "a data", "B": "a derivation"}.get(
            usage[0], "a %s" % usage
        )
        raise KeyUsageError(
            "%s key block cannot become a master key (usage %s; K0 or K1 only)" % (kind, usage)
        )
    if header.mode not in ("B", "D", "N"):
        raise KeyUsageError(
            "a master key must be allowed to decrypt: mode of use %s (B, D or N only)"
            % header.mode
        )
    if header.key_version[:1] == "c":
        raise KeyUsageError("the key block holds a key component, not a whole key")
    if header.algorithm not in ("T", "D"):
        raise KeyUsageError(
            "a %s key cannot become a master key (TR-31 algorithm T or D only)" % header.algorithm
        )
    key = tr31.unwrap(kbpk, key_block)[1]
    return (ciphers.DES if len(key) == 8 else ciphers.TDES), key


class KeyStore:
    """The terminal's key slots, persisted in `store` (an app.store.RecordStore) as record
    "keys", every key sealed under `storage_key` (16 bytes, from the board).

    Applications are numbered 1..`applications`, master key slots 0..`slots`-1 (the index the
    acquirer gives; two digits on the entry screen). Each application has any number of
    master keys (one per slot) and one set of working keys, loaded under one of its TMKs.
    KCVs come out as upper-case hex: 3 bytes for master keys (as on a custodian's form), 4
    for working keys (as in field 62).
    """

    def __init__(self, store, storage_key, *, applications=8, slots=100):
        if len(storage_key) != 16:
            raise ValueError("storage key must be 16 bytes, got %d" % len(storage_key))
        self._store = store
        self._storage_key = bytes(storage_key)
        self._applications = applications
        self._slots = slots
        self._ciphers = {}  # (application, usage) -> cipher object, built on first use
        self._entries = self._read()

    # combine_components needs no store; offered here too for the key entry screens.
    combine_components = staticmethod(combine_components)

    # --- record ----------------------------------------------------------------------------

    def _read(self):
        record = self._store.load(_NAME)
        entries = {}
        if record is None:
            return entries
        version, payload = record
        if version != _VERSION:
            raise KeyStoreError("key record version %d is not supported" % version)
        pos = 0
        while pos < len(payload):
            end = pos + _CLEAR + 1
            if end <= len(payload):
                end += payload[end - 1]
            if end > len(payload):
                raise KeyStoreError("key record is malformed at byte %d" % pos)
            entry = bytes(payload[pos:end])
            kind = entry[_KIND]
            if entry[_ALGORITHM] not in _NAMES or (kind != _TMK and kind not in _KINDS.values()):
                raise KeyStoreError("key record holds an unknown entry at byte %d" % pos)
            entries[self._index(entry[_APP], kind, entry[_SLOT])] = entry
            pos = end
        return entries

    def _index(self, application, kind, slot):
        # One TMK per (application, slot); one working key of each kind per application.
        return (application, kind, slot if kind == _TMK else 0)

    def _commit(self, entries):
        # Save first, then adopt: a failed save leaves memory matching flash.
        if len(entries) > _MAX_ENTRIES:
            raise ValueError("key store full: at most %d keys" % _MAX_ENTRIES)
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
        meta[_ALGORITHM] = _CODES[algorithm]
        meta[_LENGTH] = len(key)
        meta[_ORIGIN] = ord(origin)
        meta[_CV : _CV + 4] = check[:4]
        plain = bytearray(_CLEAR + len(key))
        plain[:_CLEAR] = meta
        plain[_CLEAR:] = key
        try:
            sealed = seal.seal(self._storage_key, plain)
        finally:
            _wipe(plain)
        return bytes(meta) + bytes((len(sealed),)) + sealed

    def _open(self, entry):
        # The key of `entry` as a cipher object, after its tag, metadata and KCV all check.
        try:
            plain = seal.unseal(self._storage_key, entry[_CLEAR + 1 :])
        except seal.SealError:
            raise KeyStoreError(
                "%s does not verify: damaged, or sealed by another terminal" % _describe(entry)
            ) from None
        if len(plain) != _CLEAR + entry[_LENGTH] or plain[:_CLEAR] != entry[:_CLEAR]:
            raise KeyStoreError("%s does not match its sealed copy" % _describe(entry))
        key = bytearray(plain[_CLEAR:])
        try:
            cipher = ciphers.new(_NAMES[entry[_ALGORITHM]], key)
        finally:
            _wipe(key)
        if not equal(_zero_block(cipher)[:4], entry[_CV : _CV + 4]):
            raise KeyStoreError("%s fails its check value" % _describe(entry))
        return cipher

    def _check(self, application, slot=None):
        if not 1 <= application <= self._applications:
            raise ValueError(
                "application must be 1 to %d, got %r" % (self._applications, application)
            )
        if slot is not None and not 0 <= slot < self._slots:
            raise ValueError("key slot must be 0 to %d, got %r" % (self._slots - 1, slot))

    def _forget(self, application):
        for usage in USAGES:
            self._ciphers.pop((application, usage), None)

    # --- master keys -------------------------------------------------------------------------

    def tmk_slots(self, application):
        """The master keys of `application`: a tuple of (slot, algorithm, kcv), by slot."""
        self._check(application)
        rows = []
        for index in sorted(self._entries):
            if index[0] == application and index[1] == _TMK:
                entry = self._entries[index]
                rows.append((entry[_SLOT], _NAMES[entry[_ALGORITHM]], _hex(entry[_CV : _CV + 3])))
        return tuple(rows)

    def _stage_tmk(self, entries, application, slot, key, algorithm, expected, origin):
        # Put a checked, sealed master key into `entries` (a copy of the record), without
        # saving: a caller commits once, so several keys land together or not at all.
        self._check(application, slot)
        _master_algorithm(algorithm)
        if not any(key):
            raise ValueError("a master key of all zeros is refused")
        check = _zero_block(ciphers.new(algorithm, key))
        if expected is not None and not equal(check[: len(expected)], expected):
            raise KeyCheckError(
                "key check failed: TMK has KCV %s, expected %s"
                % (_hex(check[: len(expected)]), _hex(expected))
            )
        entries[self._index(application, _TMK, slot)] = self._seal(
            application, _TMK, slot, algorithm, key, origin, check
        )
        # Working keys loaded under the master key being replaced belong to the old key
        # relationship: drop them, so the terminal signs on again before it transacts.
        for usage in USAGES:
            index = self._index(application, _KINDS[usage], 0)
            old = entries.get(index)
            if old is not None and old[_SLOT] == slot:
                del entries[index]
        return _hex(check[:3])

    def _put_tmk(self, application, slot, key, algorithm, expected, origin):
        entries = dict(self._entries)
        check = self._stage_tmk(entries, application, slot, key, algorithm, expected, origin)
        self._commit(entries)
        self._forget(application)
        return check

    def set_tmk(self, application, slot, key, algorithm, kcv=None):
        """Store a clear master key (bytes) of `algorithm` ("DES", "3DES" or "SM4") in `slot`.

        If `kcv` (bytes, or hex text; 2 or more bytes) is given, the key's check value must
        start with it, else KeyCheckError "key check failed" and nothing changes. Replacing a
        slot drops working keys that were loaded under it. Returns the 3-byte KCV (hex).
        """
        return self._put_tmk(application, slot, key, algorithm, _check_value(kcv), ORIGIN_ENTERED)

    def set_tmk_from_components(self, application, slot, components, algorithm, expected_kcv):
        """Combine 2 or 3 clear components (hex text) into the master key of `slot`.

        `expected_kcv` is the combined key's check value as the installer confirms it (the
        custodians' form; bytes or hex). Refused with KeyCheckError if it does not match.
        Returns the 3-byte KCV (hex). SM4 master keys are loaded this way (TR-31 has no SM4).
        """
        expected = _check_value(expected_kcv)
        if expected is None:
            raise ValueError("the combined key's check value must be confirmed")
        key = combine_components(components, algorithm)[0]
        try:
            return self._put_tmk(application, slot, key, algorithm, expected, ORIGIN_COMPONENTS)
        finally:
            _wipe(key)

    def load_tmk_tr31(self, application, slot, kbpk, key_block, kcv=None):
        """Unwrap a TR-31 key block (version B or D, app.tr31) under `kbpk` into `slot`.

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
                    entries,
                    application,
                    slot,
                    key,
                    algorithm,
                    _check_value(kcv),
                    ORIGIN_KEY_BLOCK,
                )
            finally:
                _wipe(key)
            loaded.append((slot, algorithm, check))
        self._commit(entries)
        self._forget(application)
        return loaded

    # --- working keys ------------------------------------------------------------------------

    def load_working_keys(self, application, slot, field62, mode, layout=None):
        """Install the working keys of a sign-on response under the master key in `slot`.

        `field62` is the raw field 62 of the 0810; `mode` its 60.3 code: "001", "003", "004",
        or "SM4" (alias "006"; layout UNCONFIRMED, see LAYOUTS). `layout` overrides the table
        for an acquirer that differs. Every key is decrypted (ECB, TMK) and its check value
        computed with the clear key; if any differs from the one received, KeyCheckError
        "key check failed: MAK" (naming each failed key) is raised and the previous working
        keys stay as they were. On success returns ((usage, 4-byte CV in hex), ...).
        """
        self._check(application, slot)
        if layout is None:
            layout = LAYOUTS.get(mode)
            if layout is None:
                raise ValueError("unknown sign-on key mode %r" % (mode,))
        length, family, items = layout
        if len(field62) != length:
            raise ValueError(
                "field 62 must be %d bytes for key mode %s, got %d" % (length, mode, len(field62))
            )
        entry = self._entries.get(self._index(application, _TMK, slot))
        if entry is None:
            raise NoKeyError("no master key in slot %d of application %d" % (slot, application))
        tmk_algorithm = _NAMES[entry[_ALGORITHM]]
        if (family == ciphers.SM4) != (tmk_algorithm == ciphers.SM4):
            raise ValueError(
                "key mode %s needs %s master key; slot %d holds %s"
                % (mode, "an SM4" if family == ciphers.SM4 else "a DES/3DES", slot, tmk_algorithm)
            )
        tmk = self._open(entry)
        loaded = []  # (usage, algorithm, clear key, cipher, check value)
        failed = []
        try:
            for usage, offset, size, cv_offset in items:
                key = bytearray(field62[offset : offset + size])
                row = [usage, None, key, None, None]
                loaded.append(row)  # from here on, the finally clause wipes it
                tmk.decrypt_into(key)
                if family == ciphers.SM4:
                    algorithm = ciphers.SM4
                else:
                    algorithm = ciphers.DES if size == 8 else ciphers.TDES
                cipher = ciphers.new(algorithm, key)
                check = _zero_block(cipher)
                row[1] = algorithm
                row[3] = cipher
                row[4] = check
                if not equal(check[:4], field62[cv_offset : cv_offset + 4]):
                    failed.append(usage)
            if failed:
                raise KeyCheckError("key check failed: " + ", ".join(failed))
            entries = dict(self._entries)
            for usage in USAGES:
                entries.pop(self._index(application, _KINDS[usage], 0), None)
            for usage, algorithm, key, _, check in loaded:
                kind = _KINDS[usage]
                entries[self._index(application, kind, 0)] = self._seal(
                    application, kind, slot, algorithm, key, ORIGIN_SIGN_ON, check
                )
            self._commit(entries)
        finally:
            for row in loaded:
                _wipe(row[2])
        # The ciphers built for the checks serve the first transactions.
        self._forget(application)
        for usage, _, _, cipher, _ in loaded:
            self._ciphers[(application, usage)] = cipher
        return tuple((row[0], _hex(row[4][:4])) for row in loaded)

    def cipher(self, application, usage):
        """A cipher object (app.cipher interface) for working key `usage` ("PIK", "MAK" or
        "TDK") of `application`: opened from flash on first use, then cached. NoKeyError if
        the application has not signed on (or its master key was replaced since)."""
        self._check(application)
        kind = _KINDS.get(usage)
        if kind is None:
            raise ValueError("working key usage must be PIK, MAK or TDK, got %r" % (usage,))
        cipher = self._ciphers.get((application, usage))
        if cipher is None:
            entry = self._entries.get(self._index(application, kind, 0))
            if entry is None:
                raise NoKeyError("no %s for application %d: sign on first" % (usage, application))
            cipher = self._open(entry)
            self._ciphers[(application, usage)] = cipher
        return cipher

    # --- inspection and erasure --------------------------------------------------------------

    def kcv_table(self, application):
        """Check values for the version screen, never the keys: a tuple of
        (name, slot, algorithm, kcv) with name "TMK" (3-byte KCV, one row per slot) or
        "PIK"/"MAK"/"TDK" (4-byte CV, slot = the master key they were loaded under)."""
        rows = [("TMK",) + row for row in self.tmk_slots(application)]
        for usage in USAGES:
            entry = self._entries.get(self._index(application, _KINDS[usage], 0))
            if entry is not None:
                rows.append(
                    (
                        usage,
                        entry[_SLOT],
                        _NAMES[entry[_ALGORITHM]],
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
            if application is not None and index[0] != application:
                entries[index] = entry
        self._commit(entries)
        self._ciphers = {}


def _describe(entry):
    kind = entry[_KIND]
    if kind == _TMK:
        return "stored TMK in slot %d of application %d" % (entry[_SLOT], entry[_APP])
    for usage in USAGES:
        if _KINDS[usage] == kind:
            return "stored %s of application %d" % (usage, entry[_APP])
    return "stored key"
