"""The sealed-record format of app.crypto.seal, opened by an independent implementation written
from its docstring (pycryptodome + the standard hmac), so the format is what it says."""

import hashlib
import hmac

from Crypto.Cipher import AES
from hypothesis import given
from hypothesis import strategies as st

from app.crypto import seal


def reference_unseal(storage_key: bytes, blob: bytes) -> bytes:
    enc_key = hmac.new(storage_key, b"poskit seal enc", hashlib.sha256).digest()[:16]
    mac_key = hmac.new(storage_key, b"poskit seal mac", hashlib.sha256).digest()
    head, tag = blob[:-16], blob[-16:]
    assert hmac.compare_digest(hmac.new(mac_key, head, hashlib.sha256).digest()[:16], tag)
    body = AES.new(enc_key, AES.MODE_CBC, iv=head[:16]).decrypt(head[16:])
    assert body[-body[-1] :] == bytes([body[-1]]) * body[-1]
    return body[: -body[-1]]


@given(st.binary(min_size=16, max_size=16), st.binary(max_size=200))
def test_device_seal_opens_with_the_reference(key, secret):
    assert reference_unseal(key, seal.seal(key, secret)) == secret
