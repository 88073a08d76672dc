"""The CUP POS wire format on the simulator's side (spec §1/§2): framing and codec come from
hostlib.cup8583 (pyiso8583 with the CUP spec dict, host code — never device/); this module
adds reading frames off a socket and the simulator's flat view of a message.

The engine sees a message as a dict of strings keyed by field number as text ("3", "39",
and "t" for the MTI): digits for n fields, text for an/ans fields, upper-case hex for b fields
(52, 55, 62, 64), and track data (35, 36) with the separator as the nibble 'D', as on the wire
— an encrypted track is hex, so its '='/D are not separators until decrypted.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from hostlib import cup8583
from hostlib.errors import PoskitError

MAX_FRAME = 4096  # far above any POS message; a bigger length prefix is garbage
LRI_MAGIC = b"LRI\x00\x1c"  # spec §1: 33-byte dial-monitor header after the TPDU
LRI_LEN = cup8583.LRI_SIZE
_BINARY = {n for n, spec in cup8583.FIELDS.items() if spec[0] == "b"}
_TRACKS = {n for n, spec in cup8583.FIELDS.items() if spec[0] == "z"}


class WireError(PoskitError):
    """A frame or message that does not follow spec §1/§2."""


@dataclass
class Frame:
    """One request with its transport envelope."""

    tpdu: bytes
    header: bytes
    fields: dict[str, str]
    lri: bytes = b""
    mab: bytes = field(default=b"", repr=False)  # MTI..63 when field 64 is present
    mac: bytes = field(default=b"", repr=False)  # the 8 bytes of field 64

    @property
    def mti(self) -> str:
        return self.fields["t"]


def parse(payload: bytes) -> Frame:
    """Decode the bytes after the 2-byte length prefix. Raises WireError with the reason."""
    lri = payload[5:10] == LRI_MAGIC
    try:
        msg = cup8583.decode(len(payload).to_bytes(2, "big") + payload, lri=lri)
    except (cup8583.DecodeError, ValueError, KeyError) as exc:
        raise WireError(f"cannot decode message: {exc}") from None
    fields: dict[str, str] = {"t": msg.mti}
    for number, value in msg.fields.items():
        if isinstance(value, bytes):
            # b fields as hex; an ans field with non-ASCII text (GBK in 63) byte for byte
            text = value.hex().upper() if number in _BINARY else value.decode("latin-1")
            fields[str(number)] = text
        elif number in _TRACKS:
            fields[str(number)] = value.replace("=", "D")
        else:
            fields[str(number)] = value
    mac = msg.fields.get(64, b"")
    return Frame(
        tpdu=msg.tpdu,
        header=bytes.fromhex(msg.header),
        fields=fields,
        lri=msg.lri or b"",
        mab=msg.mab or b"",
        mac=bytes(mac) if isinstance(mac, bytes) else b"",
    )


def encode(
    fields: dict[str, str],
    tpdu: bytes,
    header: bytes,
    lri: bytes = b"",
    mac: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """The payload (no length prefix) of a response in the engine's flat form; with `mac`
    (MAB -> 8 bytes) field 64 is computed over MTI..63."""
    values: dict[int, str | bytes] = {}
    for name, value in fields.items():
        if name == "t" or (name == "64" and mac is not None):
            continue
        number = int(name)
        if number in _BINARY:
            values[number] = bytes.fromhex(value)
        elif number in _TRACKS:
            values[number] = value.replace("D", "=")
        elif any(ord(c) > 127 for c in value):
            values[number] = value.encode("latin-1")
        else:
            values[number] = value
    try:
        frame = cup8583.encode(
            fields["t"], values, tpdu=tpdu, header=header.hex(), lri=lri or None, mac=mac
        )
    except (cup8583.EncodeError, ValueError) as exc:
        raise WireError(f"cannot encode message: {exc}") from None
    return frame[2:]


def reply_tpdu(tpdu: bytes) -> bytes:
    """Spec §1: the reply swaps the TPDU's destination and source addresses."""
    return cup8583.reply_tpdu(tpdu)


def with_processing_requirement(header: bytes, digit: str) -> bytes:
    """The header with digit 6 (the host's processing requirement) set."""
    return bytes.fromhex(cup8583.with_processing(header.hex(), int(digit)))


def read_frame(sock: socket.socket) -> bytes | None:
    """One frame's payload (without the length prefix); None when the peer closed cleanly
    between frames. A frame cut in the middle or an absurd length raises WireError."""
    prefix = _read_exact(sock, 2, allow_eof=True)
    if prefix is None:
        return None
    n = int.from_bytes(prefix, "big")
    if n == 0 or n > MAX_FRAME:
        raise WireError(f"length prefix {n} is out of range")
    payload = _read_exact(sock, n, allow_eof=False)
    assert payload is not None
    return payload


def _read_exact(sock: socket.socket, n: int, allow_eof: bool) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            if allow_eof and not buf:
                return None
            raise WireError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)
