"""Contact chip card reader: an NXP TDA8029 on a UART, spoken to in its ALPAR protocol.

    reader = Tda8029(uart)
    reader.version()                     # "TDA8029 C207 ..." (the reader's mask, for the record)
    reader.event()                       # "inserted", "removed" or None: never waits
    reader.present()                     # True while a card is in the slot
    atr = reader.power_up(3000)          # activate the card (class A, 5 V): its ATR
    data, sw = reader.transmit(apdu)     # drivers.cardchannel: the kernel's side
    reader.power_off()                   # deactivate before the card is taken out

Why a reader IC rather than ISO 7816-3 done by the ESP32: the 7816 electrical layer (VCC
ramps, the activation and deactivation sequences, the card clock, current limits, the
emergency deactivation when the card is pulled out) is what an EMV level 1 certification
tests, and it is timed in microseconds; a UART smart-card coupler does it in hardware and the
T=0/T=1 character and block layers in its own firmware, so the terminal sends whole APDUs
over an ordinary serial line, card presence comes as a message (no GPIO), and the same bytes
run on the virtual terminal. The TDA8029 is the common part for this in POS designs, and its
protocol is documented (NXP AN10207, "ALPAR").

ALPAR, as this driver speaks it (docs/drivers.md has it byte-exact):

    terminal -> reader:   60 LEN_H LEN_L CMD DATA... LRC
    reader -> terminal:   60 LEN_H LEN_L CMD DATA... LRC       (done)
                          E0 00 01 CMD STATUS LRC              (refused: STATUS says why)

LRC is the XOR of every byte from the first to the last DATA byte. The reader answers every
command with the same CMD; card insertion and removal come unsolicited as CMD A0 with one
byte, 01 inserted, 00 removed. Commands used: 09 card presence (answer 00/01), 0A the
reader's version, 6E / 6D / 68 power up at 5 / 3 / 1.8 V (answer: the ATR), 00 card command
(an APDU; answer: the card's response), 4D power off.

The reader passes a T=0 card's procedure results through: a case 4 command goes without its
Le and comes back 61xx, a wrong Le comes back 6Cxx; drivers.cardchannel does GET RESPONSE and
the resend (ISO 7816-4, EMV Book 1 9.3), so a reader firmware that does them itself is
harmless. A reader refusal is a named error (drivers.cardchannel): status C0 card absent ->
NoCard (CardRemoved during a command), 80 / A2 card mute -> CardMute, FF the reader got our
frame garbled -> sent again once, anything else ReaderError with the status. A garbled frame
from the reader is FrameError, after the line has been cleared: nothing is sent again on its
own, a card command may not be repeated (GENERATE AC counts).
"""

import time

from drivers.cardchannel import (
    CardChannel,
    CardError,
    CardMute,
    CardRemoved,
    FrameError,
    NoCard,
    ReaderError,
    ReaderTimeout,
)

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int

_ACK = const(0x60)
_NACK = const(0xE0)
CMD_CARD = const(0x00)
CMD_PRESENCE = const(0x09)
CMD_VERSION = const(0x0A)
CMD_POWER_OFF = const(0x4D)
CMD_POWER_UP_5V = const(0x6E)
CMD_POWER_UP_3V = const(0x6D)
CMD_POWER_UP_1V8 = const(0x68)
CMD_EVENT = const(0xA0)  # unsolicited: card inserted (01) or removed (00)

STATUS_CARD_ABSENT = const(0xC0)
STATUS_MUTE_AT_POWER_UP = const(0x80)
STATUS_CARD_MUTE = const(0xA2)
STATUS_BAD_FRAME = const(0xFF)  # our frame reached the reader garbled: not executed

_POWER_UP = {5: CMD_POWER_UP_5V, 3: CMD_POWER_UP_3V, 1.8: CMD_POWER_UP_1V8}
_FRAME = const(266)  # 60 LEN LEN CMD + a 261-byte C-APDU (5 + 255 + Le) + LRC
_MAX_ATR = const(33)


def lrc(data, value=0):
    """The ALPAR LRC: the XOR of every byte of `data` (from the 60/E0 to the last DATA)."""
    for b in data:
        value ^= b
    return value


class Tda8029(CardChannel):
    """A TDA8029 on a UART-like bus (write/readinto/any, machine.UART semantics).

    Options (keyword-only): `answer_timeout_ms` for the reader's answer to its own commands
    (presence, version, power off), `frame_timeout_ms` from the first byte of a frame to its
    last, `t0` None to take the protocol from the ATR (T=0 unless the card offers T=1 first),
    or True / False to force it.
    """

    def __init__(self, uart, *, answer_timeout_ms=500, frame_timeout_ms=200, t0=None):
        super().__init__(uart)
        self._answer_timeout = answer_timeout_ms
        self._frame_timeout = frame_timeout_ms
        self._force_t0 = t0
        self._buf = bytearray(_FRAME)
        self._mv = memoryview(self._buf)
        self._event = None  # "inserted"/"removed" not yet collected by event()
        self._removed = False  # a removal message came during the current command
        self._powered = False

    # --- the reader's commands ---------------------------------------------------------------

    def version(self):
        """The reader's firmware identification (str, printable ASCII)."""
        n = self._command(CMD_VERSION, b"", self._answer_timeout)
        text = bytes(self._mv[4 : 4 + n])
        for c in text:
            if not 0x20 <= c <= 0x7E:
                raise FrameError("reader version is not printable")
        return text.decode()

    def present(self):
        """True when a card is in the slot (asked of the reader)."""
        n = self._command(CMD_PRESENCE, b"", self._answer_timeout)
        if n != 1:
            raise FrameError("card presence answer of %d bytes" % n)
        return self._buf[4] == 1

    def event(self):
        """ "inserted" or "removed" if the reader said so since the last call, else None.
        Reads only what is waiting on the line; never waits, never sends."""
        self._drain_events()
        event = self._event
        self._event = None
        return event

    def power_up(self, timeout_ms=3000, voltage=5):
        """Activate the card at `voltage` (5, 3 or 1.8; EMV cards start at 5 V, class A) and
        return its ATR (bytes). NoCard with no card in the slot, CardMute if it does not
        answer the reset."""
        cmd = _POWER_UP.get(voltage)
        if cmd is None:
            raise ValueError("card voltage must be 5, 3 or 1.8, not %r" % (voltage,))
        n = self._command(cmd, b"", timeout_ms)
        if not 2 <= n <= _MAX_ATR:
            raise FrameError("ATR of %d bytes" % n)
        atr = bytes(self._mv[4 : 4 + n])
        self._t0 = self._force_t0 if self._force_t0 is not None else protocol(atr) == 0
        self._powered = True
        return atr

    def power_off(self):
        """Deactivate the card (safe to call when it is already off, or gone)."""
        self._powered = False
        try:
            self._command(CMD_POWER_OFF, b"", self._answer_timeout)
        except (NoCard, CardRemoved):
            pass

    # --- the card channel ------------------------------------------------------------------

    def _exchange(self, command, timeout_ms):
        if not self._powered:
            raise NoCard("no card powered: power_up() first")
        try:
            n = self._command(CMD_CARD, command, timeout_ms)
        except CardRemoved:
            self._powered = False
            raise
        return self._mv[4 : 4 + n]

    # --- frames ----------------------------------------------------------------------------

    def _command(self, cmd, data, timeout_ms):
        """Send command `cmd` with `data` (bytes-like, b"" for none); the DATA length of the
        answer (at _buf[4:]). A refusal raises its named error; a frame the reader got
        garbled is sent once more."""
        n = len(data)
        if n > _FRAME - 5:
            raise ValueError("command of %d bytes is too long for the reader" % n)
        resent = False
        while True:
            self._drain_events()
            buf = self._buf
            buf[0] = _ACK
            buf[1] = n >> 8
            buf[2] = n & 0xFF
            buf[3] = cmd
            if n:
                buf[4 : 4 + n] = data
            buf[4 + n] = lrc(self._mv[: 4 + n])
            self._removed = False
            self._uart.write(self._mv[: 5 + n])
            try:
                return self._read_frame(cmd, timeout_ms)
            except ReaderError as exc:
                if exc.status != STATUS_BAD_FRAME or resent:
                    raise
                resent = True

    def _read_frame(self, cmd, timeout_ms):
        """Read frames until the answer to `cmd` (-1: an unsolicited message only, none
        waited for); returns its DATA length. Unsolicited messages on the way are noted."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        buf = self._buf
        mv = self._mv
        while True:
            # The first byte of a frame; anything else is noise between frames.
            while True:
                if not self._fill(mv, 0, 1, deadline):
                    if cmd < 0:
                        raise ReaderTimeout("nothing waiting")
                    raise ReaderTimeout("card reader did not answer (power, cable, baud rate)")
                if buf[0] in (_ACK, _NACK):
                    break
                if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                    # Noise up to the deadline (a wrong baud rate): no frame came.
                    self._flush()
                    raise FrameError("card reader sends no frames (baud rate?)")
            rest = time.ticks_add(time.ticks_ms(), self._frame_timeout)
            if time.ticks_diff(rest, deadline) > 0:
                deadline = rest
            if not self._fill(mv, 1, 3, deadline):
                self._flush()
                raise FrameError("card reader frame cut short")
            n = buf[1] << 8 | buf[2]
            if n > _FRAME - 5:
                self._flush()
                raise FrameError("card reader frame of %d bytes" % n)
            if not self._fill(mv, 4, n + 1, deadline):
                self._flush()
                raise FrameError("card reader frame cut short")
            if lrc(mv[: 5 + n]):
                self._flush()
                raise FrameError("card reader frame LRC wrong")
            got = buf[3]
            if got == CMD_EVENT and buf[0] == _ACK and n == 1:
                self._note_event(buf[4])
                if cmd < 0:
                    return 0
                continue
            if got != cmd:
                self._flush()
                raise FrameError("card reader answered command %02X, not %02X" % (got, cmd))
            if buf[0] == _NACK:
                if n != 1:
                    raise FrameError("card reader refusal of %d bytes" % n)
                self._refused(buf[4])
            return n

    def _refused(self, status):
        if status == STATUS_CARD_ABSENT:
            if self._removed or self._powered:
                raise CardRemoved("card removed")
            raise NoCard("no card in the reader")
        if status in (STATUS_CARD_MUTE, STATUS_MUTE_AT_POWER_UP):
            raise CardMute("card does not answer")
        raise ReaderError("card reader refused the command: status %02X" % status, status)

    def _note_event(self, inserted):
        self._event = "inserted" if inserted == 1 else "removed"
        if inserted != 1:
            self._removed = True

    def _drain_events(self):
        # Messages that came while nobody asked (a card inserted, taken out) are noted, so
        # the answer read next is the one to this command.
        for _ in range(16):  # a reader can have little to say between two commands
            if not self._uart.any():
                return
            try:
                self._read_frame(-1, 0)
            except CardError:
                return


def protocol(atr):
    """The first protocol a card offers in its ATR (ISO 7816-3: TD1's low nibble), 0 when it
    has no TD1 (T=0)."""
    if len(atr) < 2:
        return 0
    t0 = atr[1]
    if not t0 & 0x80:
        return 0
    # TD1 follows TA1, TB1, TC1 where present.
    at = 2 + ((t0 >> 4) & 1) + ((t0 >> 5) & 1) + ((t0 >> 6) & 1)
    return atr[at] & 0x0F if at < len(atr) else 0
