"""A contact chip card reader (NXP TDA8029, ALPAR protocol) with a card in its slot or not.

    reader = Tda8029Emulator().start()
    ... device: drivers.tda8029.Tda8029(SocketUART("127.0.0.1", reader.port)) ...
    reader.insert(card)        # any object with .atr, .apdu(c_apdu) -> r_apdu, .reset()
    reader.remove()
    reader.remove_during_next_command()  # faults a test injects, each for the next command
    reader.mute()                        # the card stops answering (until the next insert)
    reader.corrupt_next_answer()         # the next answer's LRC is wrong
    reader.refuse_next_command(0x20)     # the next command refused with a status byte
    reader.noise = True                  # the line carries noise, no frames (wrong baud rate)

The frames (docs/drivers.md, drivers/tda8029.py): 60 LEN_H LEN_L CMD DATA LRC both ways, E0
00 01 CMD STATUS LRC for a refusal, LRC the XOR of every byte before it; card insertion and
removal sent unsolicited as 60 00 01 A0 01/00 LRC. The card side is the card's own: a command
is handed to `card.apdu()` as it came and its answer sent back as it is, T=0 procedure
results (61xx, 6Cxx) included, as the TDA8029 passes them through.

`exchanges` records (command, answer) of every card command, `commands` every ALPAR command
code received.
"""

from __future__ import annotations

from hostlib.emulators.base import Emulator

ACK = 0x60
NACK = 0xE0
CMD_CARD = 0x00
CMD_PRESENCE = 0x09
CMD_VERSION = 0x0A
CMD_POWER_OFF = 0x4D
POWER_UP = (0x6E, 0x6D, 0x68)  # 5 V, 3 V, 1.8 V
CMD_EVENT = 0xA0
STATUS_CARD_ABSENT = 0xC0
STATUS_CARD_MUTE = 0xA2
STATUS_BAD_FRAME = 0xFF
STATUS_UNKNOWN_COMMAND = 0x55
STATUS_NOT_POWERED = 0x40
STATUS_SHORT_APDU = 0x21
VERSION = b"TDA8029 C207 ALPAR 1.0"


def lrc(data: bytes) -> int:
    value = 0
    for b in data:
        value ^= b
    return value


def build_frame(cmd: int, data: bytes = b"", *, start: int = ACK) -> bytes:
    """An ALPAR frame: start byte (60, or E0 for a refusal), length, command, data, LRC."""
    body = bytes((start, len(data) >> 8, len(data) & 0xFF, cmd)) + data
    return body + bytes((lrc(body),))


class Tda8029Emulator(Emulator):
    """See the module docstring."""

    name = "tda8029"

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.card = None
        self.powered = False
        self.muted = False
        self.exchanges: list[tuple[bytes, bytes]] = []
        self.commands: list[int] = []
        self._rx = bytearray()
        self._remove_next = False
        self._corrupt_next = False
        self._refuse_next: int | None = None
        self.noise = False

    # --- the person at the terminal, and faults -------------------------------------------

    def insert(self, card) -> None:
        """Insert `card` (replacing any card in the slot); the reader says so."""
        with self.lock:
            self.card = card
            self.powered = False
            self.muted = False
            self.send(build_frame(CMD_EVENT, b"\x01"))
            self.notify()

    def remove(self) -> None:
        """Take the card out (the reader deactivates it and says so)."""
        with self.lock:
            had = self.card is not None
            self.card = None
            self.powered = False
            if had:
                self.send(build_frame(CMD_EVENT, b"\x00"))
            self.notify()

    def remove_during_next_command(self) -> None:
        """Fault: the card is pulled out while the next card command runs."""
        with self.lock:
            self._remove_next = True

    def mute(self) -> None:
        """Fault: the card stops answering (reset and commands) until the next insert."""
        with self.lock:
            self.muted = True

    def corrupt_next_answer(self) -> None:
        """Fault: the next answer frame goes out with a wrong LRC."""
        with self.lock:
            self._corrupt_next = True

    def refuse_next_command(self, status: int) -> None:
        """Fault: the next command is refused with `status` (E0 00 01 CMD STATUS LRC)."""
        with self.lock:
            self._refuse_next = status

    @property
    def present(self) -> bool:
        with self.lock:
            return self.card is not None

    # --- the line ----------------------------------------------------------------------

    def connected(self) -> None:
        self._rx.clear()
        self.powered = False
        if self.card is not None:
            # A card already in the slot when the terminal opens the reader.
            self.send(build_frame(CMD_EVENT, b"\x01"))

    def tick(self, now: float) -> None:
        if self.noise:
            self.send(b"\x55" * 2048)  # more than the terminal reads: never a gap

    def received(self, data: bytes) -> None:
        if self.noise:
            return
        self._rx += data
        while self._rx:
            start = self._rx.find(ACK)
            if start < 0:
                self._rx.clear()
                return
            del self._rx[:start]
            if len(self._rx) < 4:
                return
            n = self._rx[1] << 8 | self._rx[2]
            if len(self._rx) < n + 5:
                return
            frame = bytes(self._rx[: n + 5])
            del self._rx[: n + 5]
            cmd = frame[3]
            if lrc(frame):
                self._answer(cmd, STATUS_BAD_FRAME, refused=True)
                continue
            self._command(cmd, frame[4 : 4 + n])

    def _answer(self, cmd: int, data, *, refused: bool = False) -> None:
        if refused:
            frame = bytearray(build_frame(cmd, bytes((data,)), start=NACK))
        else:
            frame = bytearray(build_frame(cmd, data))
        if self._corrupt_next:
            self._corrupt_next = False
            frame[-1] ^= 0x5A
        self.send(bytes(frame))

    def _command(self, cmd: int, data: bytes) -> None:
        self.commands.append(cmd)
        if self._refuse_next is not None:
            status, self._refuse_next = self._refuse_next, None
            self._answer(cmd, status, refused=True)
            return
        if cmd == CMD_PRESENCE:
            self._answer(cmd, b"\x01" if self.card is not None else b"\x00")
        elif cmd == CMD_VERSION:
            self._answer(cmd, VERSION)
        elif cmd in POWER_UP:
            if self.card is None:
                self._answer(cmd, STATUS_CARD_ABSENT, refused=True)
            elif self.muted:
                self._answer(cmd, STATUS_CARD_MUTE, refused=True)
            else:
                self.card.reset()
                self.powered = True
                self._answer(cmd, bytes(self.card.atr))
        elif cmd == CMD_POWER_OFF:
            self.powered = False
            self._answer(cmd, b"")
        elif cmd == CMD_CARD:
            self._card_command(data)
        else:
            self._answer(cmd, STATUS_UNKNOWN_COMMAND, refused=True)
        self.notify()

    def _card_command(self, apdu: bytes) -> None:
        if self._remove_next and self.card is not None:
            self._remove_next = False
            self.remove()
            self._answer(CMD_CARD, STATUS_CARD_ABSENT, refused=True)
            return
        if self.card is None:
            self._answer(CMD_CARD, STATUS_CARD_ABSENT, refused=True)
        elif not self.powered:
            self._answer(CMD_CARD, STATUS_NOT_POWERED, refused=True)
        elif self.muted:
            self._answer(CMD_CARD, STATUS_CARD_MUTE, refused=True)
        elif len(apdu) < 4:
            self._answer(CMD_CARD, STATUS_SHORT_APDU, refused=True)
        else:
            answer = bytes(self.card.apdu(bytes(apdu)))
            self.exchanges.append((bytes(apdu), answer))
            self._answer(CMD_CARD, answer)
