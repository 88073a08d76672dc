"""The host's cryptography, written from the spec text on pycryptodome (DES), gmssl (SM4) and
psec (ISO 9564 PIN blocks) — never from device/, so the simulator is an independent check of
the terminal.

Keys are bytes here. A real acquirer host keeps TMKs and working keys in an HSM and never sees
them in the clear; this is a test host, so they sit in its SQLite file as hex.
"""

from __future__ import annotations

import os

import psec.pinblock
from Crypto.Cipher import DES
from gmssl.sm4 import SM4_DECRYPT, SM4_ENCRYPT, CryptSM4

# Key algorithm names used across the simulator (and in its database).
DES_ALG = "DES"
TDES_ALG = "3DES"
SM4_ALG = "SM4"


def block_size(algorithm: str) -> int:
    return 16 if algorithm == SM4_ALG else 8


def key_algorithm(key: bytes, family: str = TDES_ALG) -> str:
    """The cipher a key of this length runs: single DES for 8 bytes, else the family's."""
    if family == SM4_ALG:
        return SM4_ALG
    return DES_ALG if len(key) == 8 else TDES_ALG


def _sm4(key: bytes, mode: int) -> CryptSM4:
    sm4 = CryptSM4(mode, padding_mode=3)  # 3: no padding; callers give whole blocks
    sm4.set_key(key, mode)
    return sm4


def _tdes(key: bytes, data: bytes, decrypt: bool) -> bytes:
    # EDE stage by stage: pycryptodome's DES3 refuses keys whose halves are equal, which a test
    # host must still accept (they are merely weak), exactly as the terminal does.
    k1 = DES.new(key[:8], DES.MODE_ECB)
    k2 = DES.new(key[8:16], DES.MODE_ECB)
    k3 = DES.new(key[16:24], DES.MODE_ECB) if len(key) == 24 else k1
    if decrypt:
        return k1.decrypt(k2.encrypt(k3.decrypt(data)))
    return k3.encrypt(k2.decrypt(k1.encrypt(data)))


def ecb_encrypt(key: bytes, data: bytes, algorithm: str | None = None) -> bytes:
    """ECB encryption of whole blocks; the algorithm follows the key length unless SM4."""
    algorithm = algorithm or key_algorithm(key)
    if algorithm == SM4_ALG:
        return bytes(_sm4(key, SM4_ENCRYPT).crypt_ecb(data))
    if len(key) == 8:
        return DES.new(key, DES.MODE_ECB).encrypt(data)
    return _tdes(key, data, decrypt=False)


def ecb_decrypt(key: bytes, data: bytes, algorithm: str | None = None) -> bytes:
    algorithm = algorithm or key_algorithm(key)
    if algorithm == SM4_ALG:
        return bytes(_sm4(key, SM4_DECRYPT).crypt_ecb(data))
    if len(key) == 8:
        return DES.new(key, DES.MODE_ECB).decrypt(data)
    return _tdes(key, data, decrypt=True)


def check_value(key: bytes, algorithm: str | None = None, length: int = 4) -> bytes:
    """Spec §3.3: the first bytes of E_key(0…0) under the clear key."""
    algorithm = algorithm or key_algorithm(key)
    return ecb_encrypt(key, bytes(block_size(algorithm)), algorithm)[:length]


def random_key(length: int, algorithm: str) -> bytes:
    """A fresh working key. DES-family keys get odd parity (what an HSM issues) and a double
    length key never has equal halves, which would make it single DES in disguise."""
    while True:
        key = os.urandom(length)
        if algorithm != SM4_ALG:
            key = bytes(b & 0xFE | (bin(b >> 1).count("1") + 1) % 2 for b in key)
            if length >= 16 and key[:8] == key[8:16]:
                continue
        return key


def cup_mac(mak: bytes, mab: bytes, algorithm: str | None = None) -> bytes:
    """The CUP POS "ECB" MAC of spec §4.1 (8-byte ciphers) and §4.3 (SM4): XOR the zero-padded
    blocks, hex the result, encrypt the first half, XOR the second half in, encrypt again;
    field 64 carries the first 8 hex characters as ASCII."""
    algorithm = algorithm or key_algorithm(mak)
    n = block_size(algorithm)
    padded = mab + bytes(-len(mab) % n)
    acc = bytearray(n)
    for i in range(0, len(padded), n):
        for j in range(n):
            acc[j] ^= padded[i + j]
    hexed = acc.hex().upper().encode()
    e1 = ecb_encrypt(mak, hexed[:n], algorithm)
    e2 = ecb_encrypt(mak, bytes(a ^ b for a, b in zip(e1, hexed[n:])), algorithm)
    return e2.hex().upper()[:8].encode()


def retail_mac(mak: bytes, mab: bytes) -> bytes:
    """ANSI X9.19 (ISO 9797-1 MAC algorithm 3, zero padding) of spec §4.2, for acquirers whose
    profile says so: CBC under the key's left half over every block, then decrypt with the
    right half and encrypt with the left. A single-length MAK is both halves (X9.9). 8 bytes.
    """
    left = DES.new(mak[:8], DES.MODE_ECB)
    right = DES.new(mak[8:16] if len(mak) >= 16 else mak[:8], DES.MODE_ECB)
    padded = mab + bytes(-len(mab) % 8)
    last = DES.new(mak[:8], DES.MODE_CBC, iv=bytes(8)).encrypt(padded)[-8:]
    return left.encrypt(right.decrypt(last))


MAC_METHODS = ("cup", "x9.19", "x9.19-hex")


def field64(method: str, mak: bytes, mab: bytes, family: str = TDES_ALG) -> bytes:
    """Field 64 over `mab` as profile `method` computes it: "cup" (spec §4.1/§4.3, 8 hex
    characters), "x9.19" (the 8 bytes of the retail MAC) or "x9.19-hex" (the hex of its first
    4 bytes, as 8 ASCII characters; which of the two an X9.19 acquirer sends is UNCONFIRMED)."""
    if method == "cup":
        return cup_mac(mak, mab, key_algorithm(mak, family))
    code = retail_mac(mak, mab)
    return code if method == "x9.19" else code[:4].hex().upper().encode()


class PinBlockError(ValueError):
    """Field 52 does not decrypt to an ISO 9564 format 0 PIN block."""


def clear_pin(pin_block: bytes, pik: bytes, pan: str | None, algorithm: str | None = None) -> str:
    """Decrypt field 52 with the PIK and decode the ISO 9564-1 format 0 block (spec §5) with
    psec. `pan` None means "X9.8 without PAN" (53.1 = 1): the PAN field is all zeros.

    SM4 PIKs are refused: field 52 is 8 bytes and the spec gives no SM4 PIN block format.
    """
    algorithm = algorithm or key_algorithm(pik)
    if algorithm == SM4_ALG or len(pin_block) != 8:
        raise PinBlockError("no PIN block format known for this key")
    clear = ecb_decrypt(pik, pin_block, algorithm)
    try:
        return psec.pinblock.decode_pinblock_iso_0(clear, pan or "0" * 13)
    except ValueError as exc:
        raise PinBlockError(str(exc)) from None


def _track_window(length: int) -> tuple[int, int]:
    # Spec §5: the 16 digits ending before the last byte of the packed track.
    return (length - 18, length - 2) if length % 2 == 0 else (length - 17, length - 1)


def decrypt_track(track: str, tdk: bytes, algorithm: str | None = None) -> str:
    """Undo the TDK track encryption of spec §5 [1]: 16 digits near the end of the track were
    replaced by the hex of their 3DES-ECB encryption; the field length is unchanged."""
    padded = track if len(track) >= 17 else "F" * (17 - len(track)) + track
    start, end = _track_window(len(padded))
    clear = ecb_decrypt(tdk, bytes.fromhex(padded[start:end]), algorithm)
    out = padded[:start] + clear.hex().upper() + padded[end:]
    return out[len(padded) - len(track) :]


def encrypt_track(track: str, tdk: bytes, algorithm: str | None = None) -> str:
    """The terminal's side of decrypt_track (tests and clients use it)."""
    padded = track if len(track) >= 17 else "F" * (17 - len(track)) + track
    start, end = _track_window(len(padded))
    enc = ecb_encrypt(tdk, bytes.fromhex(padded[start:end]), algorithm)
    out = padded[:start] + enc.hex().upper() + padded[end:]
    return out[len(padded) - len(track) :]
