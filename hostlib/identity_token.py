"""The host's half of the terminal identity protocol (docs/provisioning.md)."""

import hashlib
import hmac


def wipe_token(link_key: bytes, serial: str, challenge: bytes) -> bytes:
    """HMAC-SHA256(link key, "poskit wipe " + serial + challenge), first 16 bytes."""
    msg = b"poskit wipe " + serial.encode() + challenge
    return hmac.new(link_key, msg, hashlib.sha256).digest()[:16]
