"""A magstripe reader that sends track 2 of a swiped card, as the terminal's reader does.

    reader = CardReaderEmulator().start()
    ... device: CardReader(SocketUART("127.0.0.1", reader.port)) ...
    reader.swipe()                                   # the test card, a clean read
    reader.swipe("4761739001010119=25122011143804400000")
    reader.swipe(fault="lrc")                        # a bad read: see FAULTS
    reader.queue_swipe(TEST_TRACK2)                  # sent once the terminal is connected

A swipe on the wire: `;` track `?` LRC CR (docs/drivers.md): the LRC is 0x30 + the XOR of the
low four bits of every character from `;` to `?`. The reader only talks; bytes from the
terminal are ignored.
"""

from __future__ import annotations

import time
from collections import deque

from hostlib.emulators.base import Emulator

TEST_TRACK2 = "6224242900000113=28062013949031013"

FAULTS = {
    "no start": "the start sentinel is missing (card swiped from the wrong end, partial read)",
    "lrc": "the LRC does not match the track",
    "character": "a character the reader could not decode (parity error) in the track",
    "too long": "more characters than track 2 can hold",
    "no end": "the swipe stops before the end sentinel (card pulled out half way)",
    "check digit": "the PAN's last digit is wrong (misread the LRC did not catch)",
}


def lrc(chars: bytes) -> int:
    """The track 2 LRC character (ASCII) for `chars` from start to end sentinel."""
    x = 0
    for c in chars:
        x ^= c & 0x0F
    return 0x30 | x


def encode_swipe(track2: str = TEST_TRACK2, fault: str | None = None) -> bytes:
    """The bytes the reader sends for one swipe of `track2`, with an injected `fault`."""
    if fault is not None and fault not in FAULTS:
        raise ValueError("unknown fault %r: one of %s" % (fault, ", ".join(FAULTS)))
    track = track2.encode()
    if fault == "character":
        track = track[:5] + b"*" + track[6:]
    elif fault == "too long":
        track = track + b"0" * (40 - len(track))
    elif fault == "check digit":
        sep = track.index(b"=")
        last = track[sep - 1] - 0x30
        track = track[: sep - 1] + bytes([0x30 + (last + 1) % 10]) + track[sep:]
    body = b";" + track + b"?"
    check = lrc(body)
    if fault == "lrc":
        check ^= 0x01
    if fault == "no start":
        body = body[1:]
        check = lrc(body)
    if fault == "no end":
        return body[: len(body) // 2]
    return body + bytes([check]) + b"\r"


class CardReaderEmulator(Emulator):
    """See the module docstring. `gap_s` between queued swipes."""

    name = "cardreader"

    def __init__(self, *, gap_s: float = 0.2, **options) -> None:
        super().__init__(**options)
        self.gap_s = gap_s
        self.swipes: list[tuple[str, str | None]] = []  # (track, fault) sent, in order
        self._queue: deque[bytes] = deque()
        self._queued: deque[tuple[str, str | None]] = deque()
        self._next_at = 0.0
        self._connected = False

    def swipe(self, track2: str = TEST_TRACK2, fault: str | None = None) -> None:
        """Swipe a card now (dropped if no terminal is connected, like a reader unplugged)."""
        data = encode_swipe(track2, fault)
        with self.lock:
            self.swipes.append((track2, fault))
            self.send(data)
            self.notify()

    def queue_swipe(self, track2: str = TEST_TRACK2, fault: str | None = None) -> None:
        """Swipe once the terminal is connected, `gap_s` after the previous queued swipe."""
        data = encode_swipe(track2, fault)
        with self.lock:
            self._queue.append(data)
            self._queued.append((track2, fault))

    def pending(self) -> int:
        with self.lock:
            return len(self._queue)

    def connected(self) -> None:
        self._connected = True
        self._next_at = time.monotonic() + self.gap_s

    def disconnected(self) -> None:
        self._connected = False

    def received(self, data: bytes) -> None:
        pass  # a reader has no commands

    def tick(self, now: float) -> None:
        if self._connected and self._queue and now >= self._next_at:
            self.send(self._queue.popleft())
            self.swipes.append(self._queued.popleft())
            self._next_at = now + self.gap_s
