"""Sealing secrets at rest under the device storage key.

Key material on the LittleFS is stored sealed: AES-128-CBC with a fresh random IV, then an
HMAC-SHA256 tag over IV and ciphertext (encrypt-then-MAC), the two keys derived from the
storage key so neither is used for two jobs. A sealed blob that fails its tag is refused,
which catches a damaged record and a flash image moved to another terminal alike.

    blob = IV (16) || AES-CBC(enc_key, IV, plaintext || padding) || tag (16)
    enc_key = HMAC-SHA256(storage_key, "poskit seal enc")[:16]
    mac_key = HMAC-SHA256(storage_key, "poskit seal mac")

Padding: one byte n (1..16) repeated n times (PKCS#7).
"""

import os

from app.crypto.aes import AES
from app.crypto.mac import equal, hmac_sha256

_TAG = 16


class SealError(ValueError):
    """A sealed blob does not verify: damaged, or sealed under another storage key."""


def _keys(storage_key):
    if len(storage_key) != 16:
        raise ValueError("storage key must be 16 bytes, got %d" % len(storage_key))
    return (
        hmac_sha256(storage_key, b"poskit seal enc")[:16],
        hmac_sha256(storage_key, b"poskit seal mac"),
    )


def seal(storage_key, plaintext, iv=None):
    """Encrypt and authenticate `plaintext`; `iv` is for tests only (default: random)."""
    enc_key, mac_key = _keys(storage_key)
    iv = bytes(iv) if iv is not None else os.urandom(16)
    pad = 16 - len(plaintext) % 16
    body = bytearray(plaintext)
    body.extend(bytes([pad]) * pad)
    ciphertext = AES(enc_key).encrypt_cbc(body, iv)
    for i in range(len(body)):
        body[i] = 0
    head = iv + ciphertext
    return head + hmac_sha256(mac_key, head)[:_TAG]


def unseal(storage_key, blob):
    """The plaintext of a sealed blob, or SealError."""
    enc_key, mac_key = _keys(storage_key)
    if len(blob) < 16 + 16 + _TAG or (len(blob) - _TAG) % 16:
        raise SealError("sealed record has a bad length (%d bytes)" % len(blob))
    head = blob[:-_TAG]
    if not equal(hmac_sha256(mac_key, head)[:_TAG], blob[-_TAG:]):
        raise SealError("sealed record does not verify (damaged, or another terminal's)")
    body = AES(enc_key).decrypt_cbc(head[16:], head[:16])
    pad = body[-1]
    if not 1 <= pad <= 16:
        raise SealError("sealed record has bad padding")
    return body[:-pad]
