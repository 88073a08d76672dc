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


# Weak and semi-weak DES keys as FIPS 74 and NIST SP 800-67 list them (odd parity).
_WEAK_DES = "0101010101010101 FEFEFEFEFEFEFEFE E0E0E0E0F1F1F1F1 1F1F1F1F0E0E0E0E".split()
_SEMI_WEAK_DES = (
    "01FE01FE01FE01FE FE01FE01FE01FE01 1FE01FE00EF10EF1 E01FE01FF10EF10E "
    "01E001E001F101F1 E001E001F101F101 1FFE1FFE0EFE0EFE FE1FFE1FFE0EFE0E "
    "011F011F010E010E 1F011F010E010E01 E0FEE0FEF1FEF1FE FEE0FEE0FEF1FEF1"
).split()


class KeyToolError(PoskitError):
    """A key, key block or component request that cannot be done; the message says why."""


def _without_parity(key: bytes) -> bytes:
    # DES ignores the low bit of each byte: keys differing only there are the same key.
    return bytes(b & 0xFE for b in key)


def check_master_key(algorithm: str, key: bytes) -> None:
    """Refuse, with the reason, a key the terminal would refuse as a master key (and no
    installer should make one): all zeros; for DES and 3DES a weak or semi-weak DES key in
    any of its 8-byte parts, or a 3DES key whose parts 1 and 2 (or 2 and 3) are equal, which
    makes it single DES. Parity bits are ignored, as DES ignores them. The message never
    shows the key."""
    _check_key(algorithm, key)
    if not any(key):
        raise KeyToolError("a key of all zeros is refused")
    if algorithm not in ("DES", "3DES"):
        return
    weak = {_without_parity(bytes.fromhex(k)) for k in _WEAK_DES}
    semi_weak = {_without_parity(bytes.fromhex(k)) for k in _SEMI_WEAK_DES}
    parts = [_without_parity(key[i : i + 8]) for i in range(0, len(key), 8)]
    for number, part in enumerate(parts, 1):
        what = "the key" if len(parts) == 1 else "key part %d" % number
        if part in weak:
            raise KeyToolError("%s is a weak DES key: refused" % what)
        if part in semi_weak:
            raise KeyToolError("%s is a semi-weak DES key: refused" % what)
    for first in (1, 2):
        if first < len(parts) and parts[first - 1] == parts[first]:
            raise KeyToolError(
                "key parts %d and %d are equal: this 3DES key is single DES, refused"
                % (first, first + 1)
            )


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
    check_master_key(tr31_algorithm(algorithm, key), key)
    if version_id == "B":
        try:
            check_master_key("3DES", kbpk)
        except KeyToolError as exc:
            raise KeyToolError("the KBPK: %s" % exc) from None
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
    check_master_key(algorithm, key)
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
