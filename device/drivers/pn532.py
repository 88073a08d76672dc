"""Contactless card reader: an NXP PN532 on a UART (its HSU interface), ISO 14443 type A.

    nfc = PN532(uart)
    nfc.wake()                           # (0x32, 1, 6, 7): IC, version, revision, support
    ats = nfc.power_up(15000)            # wait for a card in the field: its ATS (NoTarget)
    nfc.uid, nfc.sens_res, nfc.sel_res   # what the anticollision found
    data, sw = nfc.transmit(apdu)        # drivers.cardchannel: the kernel's side
    nfc.power_off()                      # release the card, field off

The frames of the PN532 user manual (UM0701-02, section 6.2), both ways:

    information    00 00 FF LEN LCS TFI DATA... DCS 00     LEN + LCS = 0, TFI + DATA + DCS = 0
    ACK            00 00 FF 00 FF 00                        (mod 256)
    NACK           00 00 FF FF 00 00
    error          00 00 FF 01 FF 7F 81 00

TFI is D4 from the terminal, D5 from the PN532; a command's answer carries its code + 1. The
PN532 ACKs every frame it takes, then sends the answer when it has it. Asleep after power-up,
its HSU wakes on a 0x55 followed by a run of zero bytes (wake() sends them, then
SAMConfiguration "normal mode", then one passive activation try per InListPassiveTarget, so
a poll with no card answers at once). Commands used: 02 GetFirmwareVersion, 14
SAMConfiguration, 32 RFConfiguration (field, retries), 4A InListPassiveTarget (106 kbit/s
type A: SENS_RES, SEL_RES, UID and the ATS the PN532 got from its own RATS), 40
InDataExchange (ISO-DEP: whole APDUs), 52 InRelease.

Normal frames carry 255 bytes, so InDataExchange carries 252 bytes of an APDU: a longer
command goes in pieces with the MI bit (0x40) of the target byte set on all but the last; an
answer that does not fit comes with the MI bit of its status byte set, and an InDataExchange
with no data fetches the rest. Extended frames are not needed and not used.

Recovery: an answer frame with a wrong LCS or DCS is asked for again with a NACK (the PN532
sends its last answer again, the card is not asked twice), `tries` times; then FrameError.
An error frame (the PN532 got our frame garbled, executed nothing) sends the command again.
Errors: NoTarget (no card in the field), TargetLost (the card left the field, or stopped
answering: in the field that is the same), ReaderTimeout (no ACK or answer: power, cable,
asleep), ReaderError (the PN532's status byte, `status`), FrameError, CardProtocolError (a
card that is not ISO 14443-4: a transit or access card, not a payment card).
"""

import time

from drivers.cardchannel import (
    CardChannel,
    CardProtocolError,
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

_TFI_OUT = const(0xD4)
_TFI_IN = const(0xD5)
CMD_FIRMWARE = const(0x02)
CMD_SAM = const(0x14)
CMD_RF_CONFIG = const(0x32)
CMD_DATA_EXCHANGE = const(0x40)
CMD_LIST_TARGET = const(0x4A)
CMD_RELEASE = const(0x52)

_MI = const(0x40)  # "more information": in the target byte, and in the status byte
STATUS_TIMEOUT = const(0x01)  # the target did not answer
STATUS_RELEASED = const(0x29)  # the target was released
STATUS_CARD_SWAPPED = const(0x2A)  # the card in the field is not the one activated
STATUS_DISAPPEARED = const(0x2B)  # the card activated has gone
_LOST = (STATUS_TIMEOUT, STATUS_RELEASED, STATUS_CARD_SWAPPED, STATUS_DISAPPEARED)

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
WAKE = b"\x55\x55" + bytes(14)  # the HSU wake-up: 0x55, then zeros for the oscillator
_FRAME = const(262)  # 00 00 FF LEN LCS + 255 + DCS 00
_CHUNK = const(252)  # APDU bytes in one InDataExchange (255 - D4 40 Tg)
_ANSWER = const(258)  # R-APDU: 256 data + SW1 SW2
_TARGET = const(1)  # the one target listed (Tg)
_POLL_GAP_MS = const(50)


class NoTarget(NoCard):
    """No card in the field before the deadline."""


class TargetLost(CardRemoved):
    """The card left the field (or stopped answering) during the command."""


class PN532(CardChannel):
    """A PN532 on a UART-like bus (write/readinto/any, machine.UART semantics).

    Options (keyword-only): `ack_timeout_ms` for the ACK of each frame, `answer_timeout_ms`
    for the answer to the PN532's own commands (firmware, configuration, one poll),
    `frame_timeout_ms` from a frame's start code to its last byte, `tries` NACKs for a
    garbled answer (and resends after an error frame).
    """

    contactless = True

    def __init__(
        self, uart, *, ack_timeout_ms=500, answer_timeout_ms=1000, frame_timeout_ms=200, tries=3
    ):
        super().__init__(uart)
        if tries < 1:
            raise ValueError("tries must be at least 1")
        self._ack_timeout = ack_timeout_ms
        self._answer_timeout = answer_timeout_ms
        self._frame_timeout = frame_timeout_ms
        self._tries = tries
        self._tx = bytearray(_FRAME)
        self._tx_mv = memoryview(self._tx)
        self._tx_len = 0
        self._rx = bytearray(_FRAME)
        self._rx_mv = memoryview(self._rx)
        self._answer = bytearray(_ANSWER)
        self._one = bytearray(1)
        self._one_mv = memoryview(self._one)
        self._rx_len = 0
        self.uid = b""
        self.sens_res = b""
        self.sel_res = 0
        self.ats = b""
        self._active = False

    # --- the PN532's commands --------------------------------------------------------------

    def wake(self):
        """Wake the PN532 (HSU wake-up, SAMConfiguration normal mode, one activation try per
        poll) and return its firmware version (IC, version, revision, support)."""
        self._uart.write(WAKE)
        # SAMConfiguration: normal mode, virtual card timeout 1 s (20 x 50 ms), IRQ pin used.
        self._command(CMD_SAM, b"\x01\x14\x01", self._answer_timeout)
        # RFConfiguration item 5 (retries): ATR_RES 0xFF, PSL 1, passive activation 0 (one
        # try: a poll with no card answers at once, power_up() keeps polling).
        self._command(CMD_RF_CONFIG, b"\x05\xff\x01\x00", self._answer_timeout)
        return self.firmware_version()

    def firmware_version(self):
        """(IC, version, revision, support) as GetFirmwareVersion answers: IC 0x32 a PN532."""
        n = self._command(CMD_FIRMWARE, b"", self._answer_timeout)
        if n != 4:
            raise FrameError("firmware version of %d bytes" % n)
        rx = self._rx
        return rx[2], rx[3], rx[4], rx[5]

    def list_target(self):
        """One poll for a type A card (106 kbit/s): True, with uid / sens_res / sel_res / ats
        set, when one is in the field and activated; False when there is none."""
        n = self._command(CMD_LIST_TARGET, b"\x01\x00", self._answer_timeout)
        rx = self._rx
        if n < 1 or rx[2] == 0:
            self._active = False
            return False
        # Tg SENS_RES(2) SEL_RES NFCIDLength NFCID1 [ATS, its first byte its length]
        if n < 6 or rx[2] != 1 or rx[3] != _TARGET or n < 6 + rx[7]:
            raise FrameError("target list of %d bytes does not hold together" % n)
        uid_end = 8 + rx[7]
        self.sens_res = bytes(self._rx_mv[4:6])
        self.sel_res = rx[6]
        self.uid = bytes(self._rx_mv[8:uid_end])
        end = 2 + n
        if uid_end < end:
            if rx[uid_end] != end - uid_end:
                raise FrameError("ATS length %d, %d bytes sent" % (rx[uid_end], end - uid_end))
            self.ats = bytes(self._rx_mv[uid_end:end])
        else:
            self.ats = b""
        self._active = True
        return True

    def present(self):
        """True when a card is in the field (it is activated: a poll)."""
        return self.list_target()

    def power_up(self, timeout_ms=15000):
        """Wait until a card is in the field and activated; returns its ATS (bytes). NoTarget
        after `timeout_ms`; CardProtocolError for a card that is not ISO 14443-4."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while not self.list_target():
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise NoTarget("no card in the field")
            time.sleep_ms(_POLL_GAP_MS)
        if not self.sel_res & 0x20 or not self.ats:
            self.release()
            raise CardProtocolError("card in the field is not ISO 14443-4 (no payment card)")
        return self.ats

    def release(self):
        """InRelease: the card is deselected (a new power_up() activates it again)."""
        self._active = False
        self._command(CMD_RELEASE, b"\x00", self._answer_timeout)

    def power_off(self):
        """Release the card and switch the field off (the next poll switches it on)."""
        self.release()
        self._command(CMD_RF_CONFIG, b"\x01\x00", self._answer_timeout)

    # --- the card channel ------------------------------------------------------------------

    def _exchange(self, command, timeout_ms):
        if not self._active:
            raise NoTarget("no card activated: power_up() first")
        view = memoryview(command)
        sent = 0
        total = len(view)
        while True:
            piece = total - sent
            more = piece > _CHUNK
            if more:
                piece = _CHUNK
            n = self._data_exchange(view[sent : sent + piece], more, timeout_ms)
            sent += piece
            if not more:
                break
            if n:
                raise FrameError("PN532 answered a command piece with %d bytes" % n)
        got = 0
        answer = self._answer
        while True:
            status = self._rx[2]
            if got + n > _ANSWER:
                raise CardProtocolError("card answered more than %d bytes" % (_ANSWER - 2))
            answer[got : got + n] = self._rx_mv[3 : 3 + n]
            got += n
            if not status & _MI:
                break
            n = self._data_exchange(b"", False, timeout_ms)
        return memoryview(answer)[:got]

    def _data_exchange(self, piece, more, timeout_ms):
        """One InDataExchange; the length of its DataIn (at _rx[3:]), status checked."""
        n = self._command(CMD_DATA_EXCHANGE, piece, timeout_ms, _TARGET | (_MI if more else 0))
        if n < 1:
            raise FrameError("InDataExchange answer without status")
        status = self._rx[2] & 0x3F
        if status in _LOST:
            self._active = False
            raise TargetLost("card left the field")
        if status:
            raise ReaderError("PN532 status %02X" % status, status)
        return n - 1

    # --- frames ----------------------------------------------------------------------------

    def _command(self, cmd, data, timeout_ms, prefix=-1):
        """Send `cmd` with `prefix` (a byte, or -1 for none) and `data`; returns the length
        of the answer's DATA after TFI and code (at _rx[2:])."""
        self._frame(cmd, prefix, data)
        self._discard()
        for attempt in range(self._tries):
            self._uart.write(self._tx_mv[: self._tx_len])
            try:
                kind = self._read_frame(self._ack_timeout)
            except FrameError:
                kind = -1
            if kind == 0:
                break
            if kind != 2 or attempt == self._tries - 1:
                self._flush()
                raise FrameError("PN532 did not ACK the command")
            # An error frame: our frame reached it garbled, nothing was done. Again.
        for attempt in range(self._tries):
            try:
                kind = self._read_frame(timeout_ms)
            except FrameError:
                if attempt == self._tries - 1:
                    raise
                self._flush()
                self._uart.write(NACK)  # the answer again, please
                continue
            n = self._rx_len
            if kind != 1 or n < 2 or self._rx[0] != _TFI_IN or self._rx[1] != cmd + 1:
                self._flush()
                raise FrameError("PN532 answer to another command")
            return n - 2
        raise FrameError("PN532 answer garbled")

    def _frame(self, cmd, prefix, data):
        tx = self._tx
        n = len(data) + (3 if prefix >= 0 else 2)
        tx[0] = 0
        tx[1] = 0
        tx[2] = 0xFF
        tx[3] = n
        tx[4] = -n & 0xFF
        tx[5] = _TFI_OUT
        tx[6] = cmd
        at = 7
        if prefix >= 0:
            tx[7] = prefix
            at = 8
        tx[at : at + len(data)] = data
        at += len(data)
        total = 0
        for i in range(5, at):
            total += tx[i]
        tx[at] = -total & 0xFF
        tx[at + 1] = 0
        self._tx_len = at + 2

    def _read_frame(self, timeout_ms):
        """Read one frame: 0 an ACK, 1 an information frame (its TFI..DATA at _rx[0:],
        length in _rx_len), 2 an error frame, 3 a NACK. ReaderTimeout if none comes;
        FrameError for a wrong checksum or length."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        one = self._one
        previous = -1
        # The start code 00 FF; what comes before it (preamble, postambles) is skipped.
        while True:
            if not self._fill(self._one_mv, 0, 1, deadline):
                raise ReaderTimeout("PN532 did not answer (power, cable, asleep)")
            if previous == 0 and one[0] == 0xFF:
                break
            previous = one[0]
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                # Noise up to the deadline (a wrong baud rate): no frame came.
                raise FrameError("PN532 sends no frames (baud rate?)")
        rest = time.ticks_add(time.ticks_ms(), self._frame_timeout)
        if time.ticks_diff(rest, deadline) > 0:
            deadline = rest
        rx = self._rx
        if not self._fill(self._rx_mv, 0, 2, deadline):
            raise FrameError("PN532 frame cut short")
        length = rx[0]
        check = rx[1]
        if length == 0 and check == 0xFF:
            return 0
        if length == 0xFF and check == 0:
            return 3
        if (length + check) & 0xFF:  # an extended frame (FF FF) fails it too
            raise FrameError("PN532 frame length checksum wrong")
        if not self._fill(self._rx_mv, 0, length + 1, deadline):
            raise FrameError("PN532 frame cut short")
        total = 0
        for i in range(length + 1):
            total += rx[i]
        if total & 0xFF:
            raise FrameError("PN532 frame data checksum wrong")
        if length == 1 and rx[0] == 0x7F:
            return 2
        self._rx_len = length
        return 1

    def _discard(self):
        # Whatever waits before a command is sent (an answer that came too late for the
        # last one) is not the answer to this one.
        uart = self._uart
        for _ in range(64):  # 1 KB at most: a line that never stops is no reason to hang
            if not uart.any():
                return
            uart.readinto(self._scratch, 16)
