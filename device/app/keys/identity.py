"""The terminal's identity: serial number, device KBPK and link-authentication key.

Given once by `poskit provision` on the installer's bench; the serial is read-only afterwards.
The KBPK unwraps TR-31 key blocks (master keys); the link key authenticates parameter and key
packets and the commands of the host link. Both are sealed under the device storage key
(app.crypto.seal); the serial is stored in clear (it is printed on the terminal's label).

A provisioned terminal refuses a second provisioning. `wipe` needs a token only the holder of
the link key can make, over a one-time challenge from the terminal, and refuses while a
journal still holds unsettled transactions: an approved transaction is never lost.
"""

import os

from app.crypto import seal
from app.crypto.mac import equal, hmac_sha256

_NAME = "identity"
_SERIAL_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"


class IdentityError(ValueError):
    """Provisioning or wipe refused; the message says why."""


def check_serial(serial):
    """A terminal serial: 4 to 16 characters, upper-case letters, digits and '-'."""
    raw = serial.encode() if isinstance(serial, str) else bytes(serial)
    if not 4 <= len(raw) <= 16:
        raise IdentityError("serial must be 4 to 16 characters, got %d" % len(raw))
    for c in raw:
        if c not in _SERIAL_CHARS:
            raise IdentityError("serial may hold only A-Z, 0-9 and '-': %r" % serial)
    return raw.decode()


def wipe_token(link_key, serial, challenge):
    """The token that authorises a wipe (the host computes the same)."""
    return hmac_sha256(link_key, b"poskit wipe " + serial.encode() + bytes(challenge))[:16]


class Identity:
    """Identity record kept in a RecordStore, secrets sealed under `storage_key`."""

    def __init__(self, store, storage_key):
        self._store = store
        self._storage_key = storage_key
        self._challenge = None

    def _read(self):
        record = self._store.load(_NAME)
        if record is None:
            return None
        payload = record[1]
        n = payload[0]
        serial = bytes(payload[1 : 1 + n]).decode()
        secrets = seal.unseal(self._storage_key, payload[1 + n :])
        k = secrets[0]
        return serial, secrets[1 : 1 + k], secrets[1 + k :]

    def serial(self):
        """The serial number, or None on a terminal not yet provisioned."""
        record = self._read()
        return record[0] if record else None

    def kbpk(self):
        record = self._read()
        if not record:
            raise IdentityError("terminal is not provisioned")
        return record[1]

    def link_key(self):
        record = self._read()
        if not record:
            raise IdentityError("terminal is not provisioned")
        return record[2]

    def provision(self, serial, kbpk, link_key):
        """Store the identity once. KBPK: 16 bytes (AES-128, TR-31 version D) or 16/24
        bytes TDES (version B); link key: 32 bytes."""
        serial = check_serial(serial)
        current = self.serial()
        if current is not None:
            raise IdentityError(
                "terminal is already provisioned as %s; wipe it before provisioning again"
                % current
            )
        if len(kbpk) not in (16, 24, 32):
            raise IdentityError("KBPK must be 16, 24 or 32 bytes, got %d" % len(kbpk))
        if len(link_key) != 32:
            raise IdentityError("link key must be 32 bytes, got %d" % len(link_key))
        secrets = bytearray([len(kbpk)])
        secrets.extend(kbpk)
        secrets.extend(link_key)
        sealed = seal.seal(self._storage_key, secrets)
        for i in range(len(secrets)):
            secrets[i] = 0
        payload = bytearray([len(serial)])
        payload.extend(serial.encode())
        payload.extend(sealed)
        self._store.save(_NAME, payload)

    def wipe_challenge(self):
        """A fresh one-time challenge for `wipe`."""
        self._challenge = os.urandom(16)
        return self._challenge

    def wipe(self, token, journals=()):
        """Erase identity and keys, and the journals (which must hold no unsettled
        transaction). `journals` are app.store.records.Journal objects. Returns what was erased."""
        challenge, self._challenge = self._challenge, None
        record = self._read()
        if record is None:
            raise IdentityError("terminal is not provisioned: nothing to wipe")
        if challenge is None:
            raise IdentityError("ask for a wipe challenge first")
        if not equal(wipe_token(record[2], record[0], challenge), token):
            raise IdentityError("wipe token does not verify: wipe refused")
        for journal in journals:
            for _ in journal.records():
                raise IdentityError(
                    "journal %s holds unsettled transactions: settle before wiping" % journal.path
                )
        for journal in journals:
            journal.clear()
        self._store.delete("keys")
        self._store.delete(_NAME)
        return "wiped: identity, keys and %d journal(s); parameters kept" % len(journals)
