"""Keys on the installer's side: TR-31 key blocks for the terminal, clear key components for
the key custodians, and key check values.

The terminal and the host share formats (docs/keys.md), not code: key blocks come from psec,
check values from pycryptodome (DES, 3DES, AES) and gmssl (SM4), never from device/.
"""

import binascii
import os
from collections.abc import Callable

from hostlib.errors import PoskitError

ALGORITHMS = ("DES", "3DES", "SM4", "AES")
_KEY_LENGTHS = {"DES": (8,), "3DES": (16, 24), "SM4": (16,), "AES": (16, 24, 32)}
# TR-31 algorithm letter -> the check value algorithm of a key of that letter
_TR31_ALGORITHMS = {"T": "3DES", "D": "DES", "A": "AES"}


class KeyToolError(PoskitError):
    """A key, key block or component request that cannot be done; the message says why."""


def parse_hex(text: str | bytes, what: str) -> bytes:
    """Bytes from hex text (spaces allowed). The message of a refusal never repeats the text,
    which may be (part of) a key."""
    if isinstance(text, bytes):
        return text
    cleaned = "".join(text.split())
    if len(cleaned) % 2:
        raise KeyToolError(f"{what} must be an even number of hex digits, got {len(cleaned)}")
    try:
        return binascii.unhexlify(cleaned)
    except (binascii.Error, ValueError):
        raise KeyToolError(f"{what} is not hex") from None


def _check_key(algorithm: str, key: bytes) -> None:
    lengths = _KEY_LENGTHS.get(algorithm)
    if lengths is None:
        raise KeyToolError(
            f"unknown key algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}"
        )
    if len(key) not in lengths:
        sizes = " or ".join(str(n) for n in lengths)
        raise KeyToolError(f"a {algorithm} key must be {sizes} bytes, got {len(key)}")


def _encrypt_zero_block(algorithm: str, key: bytes) -> bytes:
    if algorithm == "SM4":
        try:
            from gmssl.sm4 import SM4_ENCRYPT, CryptSM4
        except ImportError:  # pragma: no cover - gmssl ships with poskit's dependencies
            raise KeyToolError("SM4 check values need the gmssl package") from None
        sm4 = CryptSM4(SM4_ENCRYPT, padding_mode=3)  # 3: no padding
        sm4.set_key(key, SM4_ENCRYPT)
        return bytes(sm4.crypt_ecb(bytes(16)))[:16]
    if algorithm == "AES":
        from Crypto.Cipher import AES

        return AES.new(key, AES.MODE_ECB).encrypt(bytes(16))
    from Crypto.Cipher import DES

    def des(part: bytes, decrypt: bool, block: bytes) -> bytes:
        cipher = DES.new(part, DES.MODE_ECB)
        return cipher.decrypt(block) if decrypt else cipher.encrypt(block)

    block = des(key[:8], False, bytes(8))
    if algorithm == "3DES":
        # EDE stage by stage: pycryptodome's DES3 refuses keys whose parts are equal, which
        # are valid (if weak) keys here, exactly as on the terminal.
        block = des(key[8:16], True, block)
        block = des(key[16:24] if len(key) == 24 else key[:8], False, block)
    return block


def kcv(algorithm: str, key: bytes | str, length: int = 3) -> bytes:
    """Key check value: the first `length` bytes of E(key, zero block). `key` is bytes or hex.

    `algorithm` is DES, 3DES (16 or 24 bytes), SM4 or AES. Sign-on check values (field 62)
    are 4 bytes; custodians' forms and the terminal's screens show 3.
    """
    key = parse_hex(key, "key")
    _check_key(algorithm, key)
    block = 16 if algorithm in ("SM4", "AES") else 8
    if not 1 <= length <= block:
        raise KeyToolError(f"check value length must be 1 to {block} bytes, got {length}")
    return _encrypt_zero_block(algorithm, key)[:length]


def tr31_algorithm(letter: str, key: bytes) -> str:
    """The check value algorithm of a key carried under TR-31 algorithm `letter`."""
    name = _TR31_ALGORITHMS.get(letter)
    if name is None:
        raise KeyToolError(f"TR-31 algorithm {letter!r} is not supported: T, D or A")
    if name == "DES" and len(key) != 8:
        name = "3DES"  # some HSMs label double-length DES keys 'D'
    return name


def tr31_wrap(
    kbpk_hex: str,
    key_hex: str,
    usage: str,
    algorithm: str,
    mode: str,
    version_id: str = "D",
    key_version: str = "00",
    exportability: str = "N",
) -> str:
    """A TR-31 (X9.143) key block carrying `key_hex` under `kbpk_hex`, version B or D.

    The terminal unwraps versions B (16- or 24-byte TDES KBPK) and D (AES-128 or AES-256
    KBPK; it has no AES-192), so only those are made here.
    """
    import psec.tr31

    kbpk = parse_hex(kbpk_hex, "KBPK")
    key = parse_hex(key_hex, "key")
    if version_id == "B":
        if len(kbpk) not in (16, 24):
            raise KeyToolError(f"a version B KBPK is a 16- or 24-byte TDES key, got {len(kbpk)}")
    elif version_id == "D":
        if len(kbpk) not in (16, 32):
            raise KeyToolError(
                f"a version D KBPK is a 16- or 32-byte AES key (the terminal has no AES-192), "
                f"got {len(kbpk)}"
            )
    else:
        raise KeyToolError(f"key block version must be B or D, got {version_id!r}")
    _check_key(tr31_algorithm(algorithm, key), key)
    try:
        header = psec.tr31.Header(version_id, usage, algorithm, mode, key_version, exportability)
        return psec.tr31.wrap(kbpk, header, key)
    except (psec.tr31.HeaderError, psec.tr31.KeyBlockError) as exc:
        raise KeyToolError(f"cannot build the key block: {exc}") from None


def split_components(
    key: bytes | str,
    n: int = 2,
    rng: Callable[[int], bytes] = os.urandom,
    algorithm: str = "3DES",
) -> list[tuple[bytes, bytes]]:
    """Split `key` into `n` (2 or 3) clear components whose XOR is the key.

    The first n-1 components are random (`rng(length)`), the last makes up the key. Returns
    [(component, 3-byte KCV), ...]; the key's own KCV is kcv(algorithm, key).
    """
    key = parse_hex(key, "key")
    _check_key(algorithm, key)
    if n not in (2, 3):
        raise KeyToolError(f"a key is split into 2 or 3 components, not {n}")
    parts = [bytes(rng(len(key))) for _ in range(n - 1)]
    last = bytearray(key)
    for part in parts:
        if len(part) != len(key):
            raise KeyToolError("the random source returned the wrong number of bytes")
        for i, b in enumerate(part):
            last[i] ^= b
    parts.append(bytes(last))
    return [(part, kcv(algorithm, part)) for part in parts]


def combine_components(components: list[bytes]) -> bytes:
    """XOR of the components: what the terminal computes from them."""
    if not components or len({len(c) for c in components}) != 1:
        raise KeyToolError("components must be given, all of the same length")
    out = bytearray(len(components[0]))
    for part in components:
        for i, b in enumerate(part):
            out[i] ^= b
    return bytes(out)
