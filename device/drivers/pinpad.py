"""External serial PIN pad: framed commands with ACK/NAK, retransmission and deadlines.

    pad = PinPad(uart)
    pad.serial_number()                                  # "PP20240001"
    pad.load_key(encrypted_pik, kcv, slot=1, master_slot=0, algorithm="3DES")
    block = pad.enter_pin("6224242900000113", b"RMB 0.01", slot=1)   # 8-byte PIN block
    pad.cancel()                                         # back to idle

The protocol is ours and written down byte-exact in docs/pinpad.md. In short, both ways:

    STX LEN SEQ CMD DATA... ETX CRC16      (CRC-16/CCITT-FALSE over LEN..ETX, big-endian)

and a single ACK (0x06) or NAK (0x15) byte back for every frame. The terminal numbers its
commands (SEQ); the pad answers with the same SEQ and CMD, DATA[0] a status byte. A command
that is not ACKed in time, or is NAKed, is sent again (`tries` transmissions in all); the pad
executes a repeated frame only once, so a lost ACK never makes the cardholder enter a PIN
twice.

The PIN never reaches the terminal: the pad builds the ISO 9564 format 0 block from the PIN
typed on its own keys and the PAN we send, encrypts it under the PIN key in its key slot and
returns only the encrypted block. The driver holds no key and no PIN.

Errors (all PinPadError, an OSError): PinPadTimeout (no ACK or answer in time, or the
cardholder entered nothing before the pad's own timeout), PinPadCancelled (CANCEL pressed on
the pad, or the entry aborted from the terminal), PinPadKeyError (key slot empty, or the pad
refused a working key whose check value did not match), PinPadError itself for frames NAKed or
garbled past the retry count and for answers that make no sense.
"""

import os
import time

from drivers import shown

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int


_STX = const(0x02)
_ETX = const(0x03)
_ACK = const(0x06)
_NAK = const(0x15)

CMD_IDENTIFY = const(0x49)  # "I": read the serial number
CMD_PIN = const(0x50)  # "P": show amount and prompt, take a PIN, return the PIN block
CMD_LOAD_KEY = const(0x4B)  # "K": load a working key encrypted under a master key
CMD_CANCEL = const(0x43)  # "C": abandon what the pad is doing, back to idle

STATUS_OK = const(0x00)
STATUS_CANCELLED = const(0x01)  # the cardholder pressed CANCEL
STATUS_TIMEOUT = const(0x02)  # no PIN within the entry timeout
STATUS_KEY_ERROR = const(0x03)  # key slot empty, or the check value did not match
STATUS_BAD_REQUEST = const(0x04)  # a field out of range, unknown command or algorithm
STATUS_BUSY = const(0x05)  # a command other than CANCEL during a PIN entry
STATUS_ABORTED = const(0x06)  # the PIN entry ended by a CANCEL command from the terminal

ALGORITHMS = {"DES": 1, "3DES": 2}  # key algorithm codes of CMD_LOAD_KEY
_KEY_LENGTHS = {1: 8, 2: 16}

_MAX_DATA = const(96)  # DATA bytes in one frame
_MAX_LEN = const(98)  # LEN = SEQ + CMD + DATA
_FRAME = const(103)  # STX LEN SEQ CMD DATA(96) ETX CRC CRC
_MAX_LINE = const(32)  # bytes of a display line (the pad clips it to its width)
# Events of the receive loop.
_TIMEOUT = const(0)
_GOT_ACK = const(1)
_GOT_NAK = const(2)
_FRAME_OK = const(3)
_FRAME_BAD = const(4)
_ABORT = const(5)


class PinPadError(OSError):
    """Base of the PIN pad's named errors; also frames refused or garbled past the retry
    count, and answers that do not fit the protocol."""


class PinPadTimeout(PinPadError):
    """No ACK or no answer in time (cable, power, baud rate), or the cardholder entered no
    PIN before the pad's entry timeout."""


class PinPadCancelled(PinPadError):
    """The PIN entry was cancelled: `by_terminal` False when the cardholder pressed CANCEL,
    True when the terminal aborted it."""

    def __init__(self, message, by_terminal=False):
        super().__init__(message)
        self.by_terminal = by_terminal


class PinPadKeyError(PinPadError):
    """The pad has no key in the slot named, or refused a working key whose check value did
    not match (the key is not stored)."""


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection): "123456789" -> 0x29B1."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def _digits(value, what, low, high):
    if isinstance(value, str):
        value = value.encode()
    n = len(value)
    if not low <= n <= high:
        raise ValueError("%s must be %d to %d digits, got %d" % (what, low, high, n))
    for c in value:
        if not 0x30 <= c <= 0x39:
            raise ValueError("%s must contain digits only" % what)
    return value


def _line(value, what):
    if isinstance(value, str):
        value = value.encode()
    if len(value) > _MAX_LINE:
        raise ValueError("%s must be at most %d bytes, got %d" % (what, _MAX_LINE, len(value)))
    return value


class PinPad:
    """A PIN pad on a UART-like bus (write/readinto/any, machine.UART semantics).

    Options (keyword-only): `ack_timeout_ms` for the ACK of each frame sent, `tries`
    transmissions of a frame (and garbled answers accepted) before giving up,
    `frame_timeout_ms` from a frame's STX to its last byte, `answer_timeout_ms` for the
    answer to a quick command (identify, key load, cancel), `entry_margin_ms` added to the PIN
    entry timeout the pad is given, for the answer to a PIN entry, `sequence` the SEQ of the
    last frame sent: random by default, so a terminal restarted within the pad's repeat
    window does not send the very frame the pad last saw (tests give 0: the first SEQ is 1).
    """

    def __init__(
        self,
        uart,
        *,
        ack_timeout_ms=300,
        tries=3,
        frame_timeout_ms=200,
        answer_timeout_ms=2000,
        entry_margin_ms=5000,
        sequence=None,
    ):
        if tries < 1:
            raise ValueError("tries must be at least 1")
        self._uart = uart
        self._ack_timeout = ack_timeout_ms
        self._tries = tries
        self._frame_timeout = frame_timeout_ms
        self._answer_timeout = answer_timeout_ms
        self._entry_margin = entry_margin_ms
        self._tx = bytearray(_FRAME)
        self._tx_len = 0
        self._rx = bytearray(_FRAME)
        self._rx_mv = memoryview(self._rx)
        self._in = bytearray(64)  # bytes read from the UART, not yet consumed
        self._in_mv = memoryview(self._in)
        self._in_start = 0
        self._in_end = 0
        self._one = bytearray(1)
        self._seq = os.urandom(1)[0] if sequence is None else sequence & 0xFF
        self._data_start = 0  # where the answer's DATA begins in _rx (after the status)
        self._data_end = 0

    # --- public commands -----------------------------------------------------------------

    def serial_number(self):
        """The pad's serial number (str), for the install record."""
        self._begin(CMD_IDENTIFY)
        self._command(self._answer_timeout)
        if self._data_end == self._data_start:
            raise PinPadError("PIN pad sent an empty serial number")
        serial = bytes(self._rx_mv[self._data_start : self._data_end])
        for c in serial:
            if not 0x20 <= c <= 0x7E:
                # Checked before decoding: bytes that are not UTF-8 would raise UnicodeError.
                raise PinPadError(
                    "PIN pad sent a serial number that is not printable: %s" % shown(serial)
                )
        return serial.decode()

    def enter_pin(
        self,
        pan,
        amount,
        *,
        prompt=b"",
        slot=0,
        min_length=4,
        max_length=12,
        timeout_s=60,
        abort=None,
    ):
        """Show `amount` (the line as displayed, bytes: "RMB 0.01", GB18030 allowed) and
        `prompt`, let the cardholder enter a PIN, return the 8-byte encrypted PIN block
        (ISO 9564 format 0 with `pan`, under the PIN key in `slot`).

        `abort`, if given, is called while waiting; when it returns true the entry is
        cancelled at the pad and PinPadCancelled(by_terminal=True) raised. Raises
        PinPadCancelled (CANCEL key), PinPadTimeout (no PIN within `timeout_s`, or the pad
        silent), PinPadKeyError (no PIN key in the slot).
        """
        pan = _digits(pan, "PAN", 13, 19)
        amount = _line(amount, "amount line")
        prompt = _line(prompt, "prompt line")
        if not 4 <= min_length <= max_length <= 12:
            raise ValueError("PIN length limits must satisfy 4 <= min <= max <= 12")
        if not 1 <= timeout_s <= 255:
            raise ValueError("PIN entry timeout must be 1 to 255 s")
        if not 0 <= slot <= 255:
            raise ValueError("key slot must be 0 to 255")
        self._begin(CMD_PIN)
        self._add_byte(slot)
        self._add_byte(min_length)
        self._add_byte(max_length)
        self._add_byte(timeout_s)
        self._add_field(amount)
        self._add_field(prompt)
        self._add_field(pan)
        self._command(timeout_s * 1000 + self._entry_margin, abort, cancel_on_timeout=True)
        if self._data_end - self._data_start != 8:
            raise PinPadError(
                "PIN pad sent a PIN block of %d bytes" % (self._data_end - self._data_start)
            )
        return bytes(self._rx_mv[self._data_start : self._data_end])

    def load_key(self, encrypted_key, kcv, *, slot=0, master_slot=0, algorithm="3DES"):
        """Load a working key (the PIN key from sign-on) into `slot`, encrypted under the
        master key in `master_slot` (ECB, as field 62 delivers it). The pad decrypts it, checks
        `kcv` (4 bytes: E(key, 0...0)) and stores it only if they match; otherwise
        PinPadKeyError and the slot keeps its old key."""
        code = ALGORITHMS.get(algorithm)
        if code is None:
            raise ValueError("PIN pad key algorithm must be DES or 3DES, got %r" % (algorithm,))
        if len(encrypted_key) != _KEY_LENGTHS[code]:
            raise ValueError(
                "%s key must be %d bytes, got %d"
                % (algorithm, _KEY_LENGTHS[code], len(encrypted_key))
            )
        if len(kcv) != 4:
            raise ValueError("check value must be 4 bytes, got %d" % len(kcv))
        if not (0 <= slot <= 255 and 0 <= master_slot <= 255):
            raise ValueError("key slot must be 0 to 255")
        self._begin(CMD_LOAD_KEY)
        self._add_byte(master_slot)
        self._add_byte(slot)
        self._add_byte(code)
        self._add_field(encrypted_key)
        self._add(kcv)
        self._command(self._answer_timeout)

    def cancel(self):
        """Abandon a PIN entry (or anything else) in progress: the pad returns to idle."""
        self._begin(CMD_CANCEL)
        self._command(self._answer_timeout)

    # --- frames out ----------------------------------------------------------------------

    def _begin(self, cmd):
        self._seq = (self._seq + 1) & 0xFF
        tx = self._tx
        tx[0] = _STX
        tx[2] = self._seq
        tx[3] = cmd
        self._tx_len = 4

    def _add_byte(self, value):
        if self._tx_len >= 4 + _MAX_DATA:
            raise ValueError("PIN pad command longer than %d bytes" % _MAX_DATA)
        self._tx[self._tx_len] = value
        self._tx_len += 1

    def _add(self, data):
        n = len(data)
        if self._tx_len + n > 4 + _MAX_DATA:
            raise ValueError("PIN pad command longer than %d bytes" % _MAX_DATA)
        self._tx[self._tx_len : self._tx_len + n] = data
        self._tx_len += n

    def _add_field(self, data):
        self._add_byte(len(data))
        self._add(data)

    def _finish(self):
        tx = self._tx
        end = self._tx_len
        tx[1] = end - 2  # SEQ + CMD + DATA
        tx[end] = _ETX
        crc = crc16(memoryview(tx)[1 : end + 1])
        tx[end + 1] = crc >> 8
        tx[end + 2] = crc & 0xFF
        self._tx_len = end + 3

    def _write(self, data):
        # machine.UART.write may take part of the buffer; a bridge channel or socket too.
        view = memoryview(data)
        sent = 0
        deadline = time.ticks_add(time.ticks_ms(), self._ack_timeout)
        while sent < len(view):
            n = self._uart.write(view[sent:])
            if n:
                sent += n
            elif time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise PinPadTimeout("PIN pad does not take data (UART stalled)")
            else:
                time.sleep_ms(1)

    def _reply(self, byte):
        self._one[0] = byte
        self._write(self._one)

    # --- the exchange --------------------------------------------------------------------

    def _command(self, answer_timeout_ms, abort=None, cancel_on_timeout=False):
        """Send the frame built in _tx until ACKed, then wait for the answer with our SEQ
        and CMD; leaves its DATA (after the status byte) at _rx[_data_start:_data_end]."""
        self._finish()
        self._discard_input()
        seq = self._tx[2]
        cmd = self._tx[3]
        frame = memoryview(self._tx)[: self._tx_len]
        sends = 1
        naks = 0
        garbled = 0
        acked = False
        self._write(frame)
        deadline = time.ticks_add(time.ticks_ms(), self._ack_timeout)
        while True:
            event = self._event(deadline, abort if acked else None)
            if event == _FRAME_OK:
                self._reply(_ACK)
                rx = self._rx
                if rx[2] != seq or rx[3] != cmd:
                    continue  # a late answer to an earlier command: acknowledged, dropped
                return self._status(cmd)  # an answer also acknowledges our frame
            if event == _FRAME_BAD:
                garbled += 1
                if garbled >= self._tries:
                    raise PinPadError("PIN pad answers are garbled (%d bad frames)" % garbled)
                self._reply(_NAK)
                continue
            if event == _ABORT:
                try:
                    self.cancel()
                except PinPadError:
                    pass  # the entry is abandoned either way; the pad times out on its own
                raise PinPadCancelled("PIN entry cancelled at the terminal", True)
            if acked:
                if event == _TIMEOUT:
                    if cancel_on_timeout:
                        # The pad may still be waiting for the PIN (our deadline passed, not
                        # its own): back to idle, so it takes no PIN nobody asked for.
                        try:
                            self.cancel()
                        except PinPadError:
                            pass
                    raise PinPadTimeout("PIN pad did not answer")
                continue  # a stray ACK/NAK after ours was taken
            if event == _GOT_ACK:
                acked = True
                deadline = time.ticks_add(time.ticks_ms(), answer_timeout_ms)
                continue
            # NAK or no ACK: send the frame again (the pad runs a repeated SEQ only once).
            if event == _GOT_NAK:
                naks += 1
            if sends >= self._tries:
                if naks:
                    raise PinPadError("PIN pad refused the command %d times" % naks)
                raise PinPadTimeout("PIN pad does not answer (no ACK)")
            self._write(frame)
            sends += 1
            deadline = time.ticks_add(time.ticks_ms(), self._ack_timeout)

    def _status(self, cmd):
        rx = self._rx
        length = rx[1]
        if length < 3:
            raise PinPadError("PIN pad answer has no status byte")
        status = rx[4]
        self._data_start = 5
        self._data_end = 2 + length
        if status == STATUS_OK:
            return
        if status == STATUS_CANCELLED:
            raise PinPadCancelled("PIN entry cancelled by the cardholder")
        if status == STATUS_ABORTED:
            raise PinPadCancelled("PIN entry cancelled at the terminal", True)
        if status == STATUS_TIMEOUT:
            raise PinPadTimeout("no PIN entered in time")
        if status == STATUS_KEY_ERROR:
            if cmd == CMD_LOAD_KEY:
                raise PinPadKeyError("PIN pad refused the key: check value does not match")
            raise PinPadKeyError("PIN pad has no key in that slot: load keys (sign on)")
        if status == STATUS_BUSY:
            raise PinPadError("PIN pad busy with another entry")
        if status == STATUS_BAD_REQUEST:
            raise PinPadError("PIN pad refused the request as malformed")
        raise PinPadError("PIN pad answered unknown status 0x%02X" % status)

    # --- frames in -----------------------------------------------------------------------

    def _discard_input(self):
        # Stale bytes (an answer to a command we gave up on, line noise) are dropped before a
        # new command, so they cannot be taken for its ACK.
        self._in_start = self._in_end = 0
        uart = self._uart
        n = uart.any()
        while n:
            uart.readinto(self._in_mv[0 : min(n, len(self._in))])
            n = uart.any()

    def _next(self, deadline, abort=None):
        """The next received byte, or -1 at the deadline (-2 when `abort()` turns true)."""
        while self._in_start == self._in_end:
            uart = self._uart
            n = uart.any()
            if n:
                # Never ask a real UART for more than it holds: readinto would wait.
                got = uart.readinto(self._in_mv[0 : min(n, len(self._in))])
                if got:
                    self._in_start = 0
                    self._in_end = got
                    break
            if abort is not None and abort():
                return -2
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return -1
            time.sleep_ms(1)
        byte = self._in[self._in_start]
        self._in_start += 1
        return byte

    def _event(self, deadline, abort=None):
        """Wait for ACK, NAK or a frame (into _rx); other bytes are line noise."""
        while True:
            byte = self._next(deadline, abort)
            if byte == -1:
                return _TIMEOUT
            if byte == -2:
                return _ABORT
            if byte == _ACK:
                return _GOT_ACK
            if byte == _NAK:
                return _GOT_NAK
            if byte == _STX:
                return self._frame()

    def _frame(self):
        # STX taken; LEN, body, ETX and CRC must follow within the frame timeout.
        rx = self._rx
        rx[0] = _STX
        deadline = time.ticks_add(time.ticks_ms(), self._frame_timeout)
        length = self._next(deadline)
        if length < 2 or length > _MAX_LEN:
            return self._garbled(deadline)
        rx[1] = length
        end = length + 5  # STX LEN body ETX CRC CRC
        for i in range(2, end):
            byte = self._next(deadline)
            if byte < 0:
                return _FRAME_BAD
            rx[i] = byte
        if rx[length + 2] != _ETX:
            return self._garbled(deadline)
        crc = crc16(self._rx_mv[1 : length + 3])
        if rx[length + 3] != crc >> 8 or rx[length + 4] != crc & 0xFF:
            return self._garbled(deadline)
        return _FRAME_OK

    def _garbled(self, deadline):
        # Drop the rest of a broken frame (until the line is quiet for 20 ms, bounded by the
        # frame deadline): bytes of its body must not be taken for the next STX.
        while True:
            quiet = time.ticks_add(time.ticks_ms(), 20)
            if time.ticks_diff(deadline, quiet) < 0:
                quiet = deadline
            if self._next(quiet) < 0:
                return _FRAME_BAD
