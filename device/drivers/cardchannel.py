"""The card channel: what the EMV kernel sees of a chip card, contact or contactless.

    reader = board.chip_reader()            # drivers.tda8029.Tda8029 (contact)
    reader = board.contactless_reader()     # drivers.pn532.PN532 (contactless)
    atr = reader.power_up(5000)             # the ATR (contact) or the ATS (contactless)
    data, sw = reader.transmit(b"\\x00\\xa4\\x04\\x00\\x0e1PAY.SYS.DDF01\\x00")
    if sw == 0x9000: ... data (a memoryview, valid until the next transmit) ...
    reader.power_off()                      # contacts off, or the target released

Both readers are a CardChannel: the kernel calls transmit(apdu) and gets the response data
and the status word, with the ISO 7816-4 / EMV Book 1 (9.3) transport rules already applied:

- 61xx (more data waiting): GET RESPONSE with Le = xx, again while the card says 61xx; the
  data of every answer joined. A T=0 card says so for a case 4 command, which T=0 carries
  without its Le (the driver drops it: `t0` readers).
- 6Cxx (wrong length): the same command again with Le = xx.
- A case 4 command answered with a warning (62xx, 63xx, or 9xxx other than 9000) and no data
  on T=0: GET RESPONSE with Le = 00, its data returned with the warning.

Each failure is a named CardError: NoCard (nothing in the slot or the field), CardRemoved
(the card went away during the command: ask for it again), CardMute (it did not answer),
FrameError (the reader's frame was garbled: the driver dropped what was on the line, the next
command goes through), ReaderTimeout (the reader itself did not answer: power, cable, baud
rate), ReaderError (the reader reported status `status`), CardProtocolError (the card broke
the transport rules: GET RESPONSE without end, an answer of more than 256 bytes).

Buffers are allocated once per reader: the data handed back is a view of the reader's own
buffer, overwritten by the next transmit.
"""

import time

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int

_MAX_DATA = const(256)  # R-APDU data (short APDUs)
_MAX_ROUNDS = const(8)  # GET RESPONSE / resends for one command before giving up
_INS_GET_RESPONSE = const(0xC0)


class CardError(OSError):
    """Base of every card reader error (contact and contactless)."""


class NoCard(CardError):
    """No card in the slot, or none in the field."""


class CardRemoved(CardError):
    """The card left the slot or the field during the command."""


class CardMute(CardError):
    """The card did not answer (at power-up or to a command)."""


class FrameError(CardError):
    """A frame from the reader was garbled (checksum, length); the line is resynchronised."""


class ReaderTimeout(CardError):
    """The reader did not answer in time: power, cable or baud rate."""


class ReaderError(CardError):
    """The reader reported an error: `status` is its status byte."""

    def __init__(self, message, status=0):
        super().__init__(message)
        self.status = status


class CardProtocolError(CardError):
    """The card broke the APDU transport rules (endless GET RESPONSE, too much data)."""


def apdu_case(apdu):
    """The ISO 7816-4 case (1 to 4) of a short C-APDU; ValueError if it is malformed."""
    n = len(apdu)
    if n < 4:
        raise ValueError("C-APDU must have at least 4 bytes, got %d" % n)
    if n == 4:
        return 1
    if n == 5:
        return 2
    lc = apdu[4]
    if lc and n == 5 + lc:
        return 3
    if lc and n == 6 + lc:
        return 4
    raise ValueError("C-APDU length %d does not match its Lc %d" % (n, lc))


class CardChannel:
    """Base of the readers: transmit() with the transport rules over the reader's
    `_exchange(command, timeout_ms)`, which sends one command and returns the card's raw
    answer (data + SW1 SW2) as a memoryview; and the reads from the reader's UART both
    readers make. `t0`: the card speaks T=0 (case 4 goes without its Le). `contactless`:
    which interface this is."""

    contactless = False

    def __init__(self, uart, *, t0=False):
        self._uart = uart
        self._t0 = t0
        self._scratch = memoryview(bytearray(16))
        self._data = bytearray(_MAX_DATA)
        self._resend = bytearray(5)  # GET RESPONSE, or a case 2 resent with another Le
        self._resend[1] = _INS_GET_RESPONSE

    def _exchange(self, command, timeout_ms):
        raise NotImplementedError

    def transmit(self, apdu, timeout_ms=5000):
        """Send C-APDU `apdu` (bytes-like, short APDU); returns (data, sw): the response data
        (memoryview into this reader's buffer, valid until the next transmit) and the status
        word as an int (0x9000). Raises a CardError (see the module)."""
        case = apdu_case(apdu)
        command = apdu
        if self._t0 and case == 4:
            command = memoryview(apdu)[:-1]
        got = 0
        warning = 0
        for _ in range(_MAX_ROUNDS):
            answer = self._exchange(command, timeout_ms)
            n = len(answer)
            if n < 2:
                raise CardProtocolError("card answered %d bytes, no status word" % n)
            sw1 = answer[n - 2]
            sw2 = answer[n - 1]
            if got + n - 2 > _MAX_DATA:
                raise CardProtocolError("card answered more than %d bytes" % _MAX_DATA)
            self._data[got : got + n - 2] = answer[: n - 2]
            got += n - 2
            if sw1 == 0x61:
                command = self._get_response(sw2)
                continue
            if sw1 == 0x6C and (case == 2 or command is self._resend):
                # The command again with Le (P3) = xx: a case 2 command, or a GET RESPONSE.
                if command is not self._resend:
                    self._resend[:] = memoryview(command)[:5]
                command = self._resend
                command[4] = sw2
                continue
            if (
                self._t0
                and case == 4
                and command is not self._resend
                and n == 2
                and (sw1 in (0x62, 0x63) or (sw1 & 0xF0 == 0x90 and (sw1, sw2) != (0x90, 0)))
            ):
                # EMV Book 1 9.3.1.3: the data of a case 4 command answered with a warning.
                warning = sw1 << 8 | sw2
                command = self._get_response(0)
                continue
            sw = sw1 << 8 | sw2
            if warning:
                if sw != 0x9000:
                    got = 0  # no data after all: the warning alone
                sw = warning
            return memoryview(self._data)[:got], sw
        raise CardProtocolError("card asked for more than %d exchanges" % _MAX_ROUNDS)

    def _get_response(self, le):
        command = self._resend
        command[0] = 0
        command[1] = _INS_GET_RESPONSE
        command[2] = 0
        command[3] = 0
        command[4] = le
        return command

    # --- the reader's line -----------------------------------------------------------------

    def _fill(self, view, at, n, deadline):
        """Read exactly n bytes into memoryview view[at:] by `deadline` (ticks_ms); False if
        they did not come."""
        uart = self._uart
        end = at + n
        while at < end:
            if uart.any():
                got = uart.readinto(view[at:end], end - at)
                if got:
                    at += got
                    continue
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return False
            time.sleep_ms(1)
        return True

    def _flush(self):
        """Drop what is on the line until it has been quiet for 20 ms (at most 200 ms): the
        rest of a garbled frame, so the next answer is read from its start."""
        uart = self._uart
        end = time.ticks_add(time.ticks_ms(), 200)
        quiet = time.ticks_add(time.ticks_ms(), 20)
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            if uart.any():
                uart.readinto(self._scratch, 16)
                quiet = time.ticks_add(time.ticks_ms(), 20)
            elif time.ticks_diff(quiet, time.ticks_ms()) <= 0:
                return
            else:
                time.sleep_ms(1)
