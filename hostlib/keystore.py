"""The host's key store: every provisioned terminal's KBPK and link key, encrypted at rest.

One JSON file. Its secrets are sealed with AES-256-GCM under a key derived from a passphrase
with scrypt (N=2^15, r=8, p=1, 16-byte salt); the file holds only the KDF parameters, the
salt, the nonce, the ciphertext and the tag. A wrong passphrase or a changed byte fails the
GCM tag: the store refuses to open rather than return anything. The register and every log
name terminals by serial only.

Where it is: `default_path()` ($POSKIT_KEYSTORE, else ~/.poskit/keystore.json), the one
answer every command that opens the store uses. The passphrase comes from
POSKIT_KEYSTORE_PASSPHRASE or is asked for on the terminal (`ask_secret`).

Each terminal's entry records when it was provisioned, and when it was wiped: a serial the
store holds for a terminal that still has its keys is never given new ones by mistake
(`poskit provision` refuses, `--replace` after a confirmation).
"""

import getpass
import hashlib
import hmac
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from Crypto.Cipher import AES

from hostlib.errors import PoskitError

FORMAT = "poskit-keystore-1"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class KeyStoreError(PoskitError):
    """The key store cannot be opened or does not hold what was asked for."""


def default_path() -> Path:
    """The key store every command opens unless told otherwise: $POSKIT_KEYSTORE, else
    ~/.poskit/keystore.json, with `~` expanded (a folder literally named "~" is never made)."""
    return Path(os.environ.get("POSKIT_KEYSTORE") or "~/.poskit/keystore.json").expanduser()


def ask_secret(prompt: str) -> str:
    """One line typed at the terminal without echo. With no terminal (a pipe, a service),
    one line of standard input, which nothing echoes; EOFError if there is none."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        stream = sys.stdin
        if stream is None or stream.closed:
            raise EOFError from None
        try:
            sys.stderr.write(prompt)
            sys.stderr.flush()
            line = stream.readline()
        finally:
            sys.stderr.write("\n")  # ends the prompt's line, whatever comes next
        if not line:
            raise EOFError from None
        return line.rstrip("\r\n")
    try:
        return getpass.getpass(prompt)
    except KeyboardInterrupt:
        sys.stderr.write("\n")  # Ctrl-C: the message that follows gets its own line
        raise


_typed: list[str] = []  # the passphrase once typed: a command asks for it once


def passphrase_from_env_or_prompt(confirm: bool = False) -> str:
    """The key store passphrase: $POSKIT_KEYSTORE_PASSPHRASE, else asked for (twice with
    `confirm`, for a new store), once per command."""
    value = os.environ.get("POSKIT_KEYSTORE_PASSPHRASE")
    if value:
        return value
    if _typed:
        return _typed[0]
    try:
        value = ask_secret("key store passphrase: ")
        if confirm and ask_secret("again: ") != value:
            raise KeyStoreError("the two passphrases differ")
    except EOFError:
        raise KeyStoreError(
            "no key store passphrase: set POSKIT_KEYSTORE_PASSPHRASE or run on a terminal"
        ) from None
    if len(value) < 8:
        raise KeyStoreError("the key store passphrase must be at least 8 characters")
    _typed.append(value)
    return value


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M")


def _derive(passphrase: str, salt: bytes, params: dict) -> bytes:
    return hashlib.scrypt(
        passphrase.encode(),
        salt=salt,
        n=params["n"],
        r=params["r"],
        p=params["p"],
        maxmem=128 * 1024 * 1024,
        dklen=32,
    )


class KeyStore:
    """Terminals' keys by serial. Open with `KeyStore.open(path, passphrase)`; changes are
    written with `save()` (atomically: a temporary file renamed over the old one)."""

    def __init__(self, path: Path, passphrase: str, data: dict):
        self.path = Path(path)
        self._passphrase = passphrase
        self._data = data

    @classmethod
    def open(cls, path, passphrase: str, *, create: bool = False) -> "KeyStore":
        path = Path(path).expanduser()
        if not path.exists():
            if not create:
                raise KeyStoreError("no key store at %s" % path)
            return cls(path, passphrase, {"terminals": {}, "base_key": None})
        if not path.is_file():
            raise KeyStoreError("the key store %s is not a file" % path)
        try:
            doc = json.loads(path.read_bytes())
        except OSError as exc:
            raise KeyStoreError(
                "cannot read the key store %s: %s" % (path, exc.strerror)
            ) from None
        except ValueError:
            raise KeyStoreError("%s is not a poskit key store (not JSON)" % path) from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KeyStoreError("%s is not a poskit key store" % path)
        try:
            salt = bytes.fromhex(doc["salt"])
            key = _derive(passphrase, salt, doc["kdf"])
            cipher = AES.new(key, AES.MODE_GCM, nonce=bytes.fromhex(doc["nonce"]))
            plain = cipher.decrypt_and_verify(
                bytes.fromhex(doc["ciphertext"]), bytes.fromhex(doc["tag"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyStoreError(
                "cannot open the key store %s: wrong passphrase or damaged file" % path
            ) from exc
        return cls(path, passphrase, json.loads(plain))

    def save(self) -> None:
        salt = secrets.token_bytes(16)
        key = _derive(self._passphrase, salt, _SCRYPT)
        nonce = secrets.token_bytes(12)
        cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
        ciphertext, tag = cipher.encrypt_and_digest(json.dumps(self._data).encode())
        doc = {
            "format": FORMAT,
            "kdf": dict(_SCRYPT, name="scrypt"),
            "salt": salt.hex(),
            "nonce": nonce.hex(),
            "ciphertext": ciphertext.hex(),
            "tag": tag.hex(),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keystore-")
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise KeyStoreError(
                "cannot write the key store %s: %s" % (self.path, exc.strerror)
            ) from None

    # --- terminals -----------------------------------------------------------------------

    def serials(self) -> list[str]:
        return sorted(self._data["terminals"])

    def record(self, serial: str) -> dict | None:
        """When `serial` was provisioned and wiped (local time, "YYYY-MM-DD HH:MM", None
        where unknown or not yet), or None if the store has no keys for it:
        {'provisioned': str | None, 'wiped': str | None}."""
        entry = self._data["terminals"].get(serial)
        if entry is None:
            return None
        return {"provisioned": entry.get("provisioned"), "wiped": entry.get("wiped")}

    def mark_wiped(self, serial: str) -> None:
        """Record that the terminal erased its keys: they open nothing any more, and the
        serial may be provisioned again without --replace."""
        entry = self._data["terminals"].get(serial)
        if entry is not None:
            entry["wiped"] = _now()

    def terminal(self, serial: str) -> dict:
        """{'kbpk': bytes, 'link_key': bytes, 'derived': bool} of one terminal."""
        entry = self._data["terminals"].get(serial)
        if entry is None:
            raise KeyStoreError("terminal %s is not in the key store %s" % (serial, self.path))
        return {
            "kbpk": bytes.fromhex(entry["kbpk"]),
            "link_key": bytes.fromhex(entry["link_key"]),
            "derived": entry.get("derived", False),
        }

    def add_terminal(self, serial: str, *, derive: bool = False) -> dict:
        """Give `serial` a KBPK (AES-128) and a link key (32 bytes): random, or derived from
        the store's base key (`derive`), so a lost record can be rebuilt from the base key."""
        if serial in self._data["terminals"]:
            raise KeyStoreError("terminal %s already has keys in the key store" % serial)
        if derive:
            base = self._base_key()
            kbpk = hmac.new(base, b"KBPK " + serial.encode(), hashlib.sha256).digest()[:16]
            link = hmac.new(base, b"LINK " + serial.encode(), hashlib.sha256).digest()
        else:
            kbpk, link = secrets.token_bytes(16), secrets.token_bytes(32)
        self._data["terminals"][serial] = {
            "kbpk": kbpk.hex(),
            "link_key": link.hex(),
            "derived": derive,
            "provisioned": _now(),
        }
        return self.terminal(serial)

    def remove_terminal(self, serial: str) -> None:
        self._data["terminals"].pop(serial, None)

    def _base_key(self) -> bytes:
        if not self._data.get("base_key"):
            self._data["base_key"] = secrets.token_bytes(32).hex()
        return bytes.fromhex(self._data["base_key"])
