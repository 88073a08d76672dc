"""Magnetic stripe reader (track 2 over a UART) and the checks for a card number keyed in.

    reader = CardReader(uart)
    track = reader.read(30000)       # Track2, or BadSwipe / SwipeTimeout
    track.pan, track.expiry, track.service_code
    ... use track.data (ASCII track 2 for field 35) ...
    track.wipe()                     # as soon as the request is built

    check_pan("6224242900000113")    # manual entry: digits, 13-19, Luhn
    check_expiry("2806", (2025, 6))  # YYMM, not before this month

On the wire, one swipe is the track as the reader decoded it, ISO 7811 style in ASCII:

    ;  PAN = YYMM SSS discretionary  ?  LRC     [CR] [LF]

start sentinel `;`, at most 37 data characters (digits and the separator `=`), end sentinel
`?`, then the LRC: 0x30 + the XOR of the low four bits of every character from `;` to `?`
(the track's own LRC character in its 5-bit set, written as ASCII). A trailing CR/LF, which
some readers add, is skipped. A swipe is bad (BadSwipe, `reason` one of the constants below)
when the start sentinel is missing, a character is outside the track 2 set (the reader's mark
for a parity error), it is too long, the LRC does not match, it does not hold PAN = expiry
service code, or the PAN fails its check digit.

The raw swipe lives in a buffer allocated once and is wiped as soon as it is parsed; the
Track2 handed out owns a fresh bytearray the caller wipes once field 35 is built. A Track2
prints as its masked PAN only: the full track never reaches a log.
"""

import time

from drivers import shown

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int


_START = const(0x3B)  # ";"
_END = const(0x3F)  # "?"
_SEPARATOR = const(0x3D)  # "="
_CR = const(13)
_LF = const(10)
_MAX_DATA = const(37)  # ISO 7813: track 2 holds 40 characters with SS, ES and LRC
_RAW = const(40)  # ; + 37 + ? + LRC

# BadSwipe reasons (the UI maps each to a message: "swipe again", "swipe slower", ...).
NO_START = "no start sentinel"
CHARACTER = "parity or character error"
TOO_LONG = "track too long"
NO_END = "swipe incomplete"
LRC = "LRC mismatch"
FORMAT = "not a payment card track"
CHECK_DIGIT = "card number check digit wrong"

# Reader states.
_IDLE = const(0)
_READING = const(1)
_DISCARDING = const(2)  # the rest of a swipe too long for the buffer


class CardReaderError(OSError):
    """Base of the card reader's named errors."""


class BadSwipe(CardReaderError):
    """A swipe that did not read cleanly; `reason` says why (NO_START, CHARACTER, TOO_LONG,
    NO_END, LRC, FORMAT, CHECK_DIGIT). Ask the cardholder to swipe again."""

    def __init__(self, reason):
        super().__init__("bad swipe: " + reason)
        self.reason = reason


class SwipeTimeout(CardReaderError):
    """No card was swiped before the deadline."""


class ManualEntryError(ValueError):
    """A card number or expiry date keyed in that cannot be right; the message says which."""


class InvalidPan(ManualEntryError):
    """Card number: not 13 to 19 digits, or its check digit (Luhn) is wrong."""


class InvalidExpiry(ManualEntryError):
    """Expiry date: not four digits YYMM with a month 01 to 12."""


class CardExpired(ManualEntryError):
    """Expiry date before the current month."""


def luhn_valid(pan):
    """True when the last digit of `pan` (str or bytes of digits) is its Luhn check digit."""
    if isinstance(pan, str):
        pan = pan.encode()
    total = 0
    double = False
    for i in range(len(pan) - 1, -1, -1):
        d = pan[i] - 0x30
        if not 0 <= d <= 9:
            return False
        if double:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        double = not double
    return len(pan) > 0 and total % 10 == 0


def check_pan(pan):
    """A card number keyed in: 13 to 19 digits with a valid check digit. Returns it (str);
    raises InvalidPan with a message for the screen."""
    text = isinstance(pan, str)
    if not 13 <= len(pan) <= 19:
        raise InvalidPan("card number must be 13 to 19 digits, got %d" % len(pan))
    for c in pan:
        if not ("0" <= c <= "9" if text else 0x30 <= c <= 0x39):
            raise InvalidPan("card number must contain digits only")
    if not text:
        # Decoded once they are known digits: keypad bytes that are not UTF-8 would raise
        # UnicodeError.
        pan = bytes(pan).decode()
    if not luhn_valid(pan):
        raise InvalidPan("card number is wrong (check digit): key it again")
    return pan


def check_expiry(yymm, today):
    """An expiry date YYMM (as on the card, year first) that is not in the past. `today` is
    (year, month), e.g. time.localtime()[:2] once the clock is set from sign-on. A card is
    valid to the end of its expiry month. Returns yymm (str); raises InvalidExpiry or
    CardExpired."""
    if isinstance(yymm, (bytes, bytearray)):
        for c in yymm:
            if not 0x30 <= c <= 0x39:
                yymm = shown(yymm)  # never decoded: it may not be UTF-8
                break
        else:
            yymm = bytes(yymm).decode()
    if len(yymm) != 4 or not yymm.isdigit():
        raise InvalidExpiry("expiry date must be 4 digits YYMM, got %r" % (yymm,))
    month = int(yymm[2:])
    if not 1 <= month <= 12:
        raise InvalidExpiry("expiry month must be 01 to 12, got %s" % yymm[2:])
    # Two-digit years are 20YY: cards do not run beyond 2099, nor back into the 1900s.
    year = 2000 + int(yymm[:2])
    if (year, month) < (today[0], today[1]):
        raise CardExpired("card expired %s/%s" % (yymm[2:], yymm[:2]))
    return yymm


class Track2:
    """Track 2 of a swiped card. `data` is the bytearray of the track between the sentinels
    (ASCII digits and `=`), owned by this object: wipe() it once it is no longer needed."""

    def __init__(self, data):
        self.data = data
        sep = -1
        for i in range(len(data)):
            if data[i] == _SEPARATOR:
                sep = i
                break
        self._sep = sep

    @property
    def pan(self):
        """Primary account number (str)."""
        return bytes(self.data[: self._sep]).decode()

    @property
    def expiry(self):
        """Expiry date YYMM (str)."""
        return bytes(self.data[self._sep + 1 : self._sep + 5]).decode()

    @property
    def service_code(self):
        """Service code (str, 3 digits; first digit 2 or 6: the card has a chip)."""
        return bytes(self.data[self._sep + 5 : self._sep + 8]).decode()

    @property
    def discretionary(self):
        """Discretionary data (a memoryview into `data`: no copy of the secret part)."""
        return memoryview(self.data)[self._sep + 8 :]

    def has_chip(self):
        """Service code 2xx/6xx: the card has a chip and should be inserted, not swiped."""
        return self.data[self._sep + 5] in (0x32, 0x36)

    def wipe(self):
        """Overwrite the track (PAN, expiry and discretionary data) with zeros."""
        data = self.data
        for i in range(len(data)):
            data[i] = 0

    @property
    def masked_pan(self):
        """The PAN as receipts and screens show it: first six and last four digits."""
        pan = self.pan
        return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]

    def __repr__(self):
        if self._sep < 13 or not self.data[0]:
            return "<Track2 wiped>"
        return "<Track2 %s>" % self.masked_pan


class CardReader:
    """A magstripe reader on a UART-like bus (any/readinto, machine.UART semantics).

    Options (keyword-only): `char_timeout_ms`, the longest gap between two bytes of one
    swipe (a reader sends a swipe in one burst: 42 bytes at 9600 bit/s take 44 ms).
    """

    def __init__(self, uart, *, char_timeout_ms=300):
        self._uart = uart
        self._char_timeout = char_timeout_ms
        self._raw = bytearray(_RAW)
        self._raw_mv = memoryview(self._raw)
        self._len = 0
        self._state = _IDLE
        self._end_seen = False
        self._last = time.ticks_ms()
        self._scratch = bytearray(16)

    def read(self, timeout_ms):
        """Wait for a swipe: its Track2, or BadSwipe, or SwipeTimeout after `timeout_ms`."""
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while True:
            track = self.poll()
            if track is not None:
                return track
            late = time.ticks_diff(time.ticks_ms(), deadline)
            # A swipe under way at the deadline may finish (or fail) within one byte gap.
            if late >= 0 and (self._state == _IDLE or late > self._char_timeout):
                self._state = _IDLE
                self._forget()
                raise SwipeTimeout("no card swiped")
            time.sleep_ms(2)

    def poll(self):
        """Take what the reader has sent; a Track2 once a whole swipe is in, else None.
        Raises BadSwipe for a swipe that did not read cleanly. Never waits."""
        uart = self._uart
        while True:
            n = uart.any()
            if not n:
                break
            self._last = time.ticks_ms()
            if self._state == _DISCARDING:
                # The rest of an overlong swipe, through its "?" and LRC (or a quiet line).
                if not uart.readinto(self._scratch, 1):
                    break
                if self._end_seen:
                    self._state = _IDLE
                self._end_seen = self._scratch[0] == _END
                continue
            room = _RAW - self._len
            if self._state == _IDLE:
                # Between swipes: CR/LF trailers of the last one are skipped.
                got = uart.readinto(self._raw_mv[self._len : self._len + 1], 1)
                if not got:
                    break
                if self._raw[0] in (_CR, _LF):
                    continue
                self._len = 1
                self._state = _READING
                continue
            if room == 0:
                # 40 bytes and no end in sight: more than a track 2 can hold.
                self._state = _DISCARDING
                self._end_seen = False
                self._forget()
                raise BadSwipe(TOO_LONG)
            # Byte by byte up to the LRC, so bytes after it stay for the next swipe (on the
            # I2C bridge that is two short transfers a byte: about 10 ms for a whole swipe).
            got = uart.readinto(self._raw_mv[self._len : self._len + 1], 1)
            if not got:
                break
            self._len += 1
            # The first "?" ends the track; the byte after it is the LRC.
            if self._len >= 2 and self._raw[self._len - 2] == _END:
                return self._parse()
        if self._state != _IDLE:
            if time.ticks_diff(time.ticks_ms(), self._last) > self._char_timeout:
                state = self._state
                self._state = _IDLE
                if state == _READING:
                    self._forget()
                    raise BadSwipe(NO_END)
        return None

    def flush(self):
        """Drop anything received (a swipe nobody asked for) and wipe the buffer."""
        self._forget()
        self._state = _IDLE
        uart = self._uart
        n = uart.any()
        while n:
            uart.readinto(self._scratch, min(n, len(self._scratch)))
            n = uart.any()

    def _forget(self):
        raw = self._raw
        for i in range(len(raw)):
            raw[i] = 0
        self._len = 0

    def _parse(self):
        self._state = _IDLE
        try:
            return self._parse_raw()
        finally:
            self._forget()

    def _parse_raw(self):
        raw = self._raw
        end = self._len - 2  # index of "?"
        if raw[0] != _START:
            raise BadSwipe(NO_START)
        if end - 1 > _MAX_DATA:
            raise BadSwipe(TOO_LONG)
        lrc = 0
        sep = -1
        for i in range(end + 1):
            c = raw[i]
            if 0 < i < end:
                if c == _SEPARATOR:
                    if sep >= 0:
                        raise BadSwipe(FORMAT)
                    sep = i
                elif not 0x30 <= c <= 0x39:
                    raise BadSwipe(CHARACTER)
            lrc ^= c & 0x0F
        if raw[end + 1] != 0x30 | lrc:
            raise BadSwipe(LRC)
        # PAN 13-19 digits, then YYMM and the 3-digit service code at least.
        if not 14 <= sep <= 20 or end - sep - 1 < 7:
            raise BadSwipe(FORMAT)
        if not luhn_valid(self._raw_mv[1:sep]):
            raise BadSwipe(CHECK_DIGIT)
        return Track2(bytearray(self._raw_mv[1:end]))
