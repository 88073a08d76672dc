"""The terminal's 4x5 key matrix: polled scan, debounce, a ring buffer of key codes, and the
PIN and amount entry modes.

    rows, cols = board.keypad_pins()
    keypad = Keypad(cols, rows)                 # drive the 5 columns, sense the 4 rows
    key = keypad.get(30000)                     # a key code, or None after 30 s
    n = keypad.read_pin(digits, show=lambda count: display.stars(2, count))
    fen = keypad.read_amount(show=lambda fen: display.text(2, format_amount(fen), align=RIGHT))

Wiring (the board's job, not the driver's): the `drive` lines are open-drain outputs idling
released (`Pin.OPEN_DRAIN`, value 1), the `sense` lines inputs with pull-ups. Pressing a key
joins its drive line to its sense line. A scan pulls one drive line low at a time and reads
which sense lines follow it low. Between scans every drive line is held low, so a scan with
no key down costs one read per sense line. Open drain matters: with push-pull outputs, two
keys on one sense line would short a high output to a low one. The reference board drives
the keypad's 5 columns (GPIO 2, 25, 26, 27, 32) and senses its 4 rows on GPIO 34, 36, 39, 33:
input-only pins without internal pull-ups, so the board has 10 kOhm ones.

The reference keypad (KEYMAP[column * 4 + row], i.e. drive line * len(sense) + sense line):

            col0  col1  col2  col3    col4
    row0    1     2     3     CANCEL  F1
    row1    4     5     6     CLEAR   F2
    row2    7     8     9     ENTER   F3
    row3    .*    0     #     FUNC    F4

Scanning: `scan()` does one scan now; `poll()` scans when `period_ms` (10) have passed since
the last one; `get()`/`read_pin()`/`read_amount()` poll while they wait, and an asyncio UI runs
`scanner()` as a task. Nothing here runs in an interrupt.

Debounce (the rules the tests check): a matrix state (the set of keys that read down) counts
once it has read the same for `debounce` (3) consecutive scans, 20-30 ms at 10 ms; contact
chatter shorter than that is never seen. A key is reported once, when it appears alone in a
counted state: the one key down that was not down before, whatever else is held (rollover:
fast typing works). Holding it reports nothing more (no repeat) until it is released. Keys
that appear together are all ignored until released: two keys pressed at once (ambiguous),
and ghosts: with three keys down at corners of a rectangle the fourth corner reads down too
(the matrix has no diodes), but always together with the key that completed the rectangle.

Ring buffer: `buffer_size` (16) key codes in a bytearray made once; when it is full a new key
is dropped (the keys already typed stay, in order) and counted in `overflows`. A code taken
out is zeroed in the buffer. Nothing here allocates per key.

PIN entry (`read_pin`, or PinEntry for an asyncio UI): the digits go into the caller's
bytearray, ASCII, nowhere else: the display callback gets only the count, nothing is logged,
keys typed before the prompt are flushed first, and on CANCEL or a timeout the digits are
wiped before EntryCancelled / EntryTimeout is raised. CLEAR wipes all digits (a PIN pad
convention: the cardholder cannot see which digit a backspace would remove); `clear_all=False`
makes it a backspace. ENTER is taken only with `min_digits`..`max_digits` digits (or none,
with `allow_empty=True`: a card that allows PIN bypass); digits past `max_digits` are ignored.
After a successful entry the caller owns the digits and wipes them once the PIN block is
made (`wipe(digits)`).

Amount entry (`read_amount`, AmountEntry): digits enter from the cents side, as in the
operator's procedure: 1 = 0.01, 10000 = 100.00. CLEAR is a backspace (10000 -> 1000), CANCEL
raises EntryCancelled, ENTER takes a non-zero amount; at most `max_digits` (10) digits.
The result is in fen (int).

Timeouts (`timeout_ms`) count from the last key: the entry ends EntryTimeout after that long
without a key.
"""

import time

try:
    from micropython import const
except ImportError:  # CPython host tests (a lambda, as the stubs' const is positional-only)
    const = lambda value: value  # noqa: E731

# Key codes: a digit or symbol key is its ASCII character; control keys ASCII controls;
# function keys above 0x7F.
CLEAR = const(0x08)  # BS
ENTER = const(0x0D)  # CR
CANCEL = const(0x1B)  # ESC
HASH = const(0x23)  # '#'
DOT = const(0x2E)  # '.' (the key is printed '.' and '*')
FUNC = const(0x80)
F1 = const(0x81)
F2 = const(0x82)
F3 = const(0x83)
F4 = const(0x84)

# The reference keypad (module docstring), column by column: the key at drive line d, sense
# line s is KEYMAP[d * 4 + s], and that is bit d * 4 + s of a scan.
KEYMAP = b"147.2580369#\x1b\x08\x0d\x80\x81\x82\x83\x84"

_NO_KEY = const(0)


class EntryAborted(Exception):
    """Base of the entry outcomes that are not a value."""


class EntryCancelled(EntryAborted):
    """The user pressed CANCEL."""


class EntryTimeout(EntryAborted):
    """No key for `timeout_ms`."""


def wipe(buf):
    """Zero a bytearray (a PIN's digits) in place."""
    for i in range(len(buf)):
        buf[i] = 0


def format_amount(fen):
    """'1234.56' for 123456 fen."""
    return "%d.%02d" % (fen // 100, fen % 100)


def _is_digit(code):
    return 0x30 <= code <= 0x39


class PinEntry:
    """PIN entry state: feed it keys, read `count`; the digits are in the caller's `digits`.

    key(code) returns True when ENTER accepted the PIN, False otherwise; CANCEL wipes the
    digits and raises EntryCancelled. See the module docstring for the rules.
    """

    def __init__(self, digits, *, min_digits=4, max_digits=12, clear_all=True, allow_empty=False):
        if not 0 < min_digits <= max_digits <= len(digits):
            raise ValueError("need 0 < min_digits <= max_digits <= len(digits)")
        self._digits = digits
        self._min = min_digits
        self._max = max_digits
        self._clear_all = clear_all
        self._allow_empty = allow_empty
        self.count = 0
        wipe(digits)

    def key(self, code):
        if _is_digit(code):
            if self.count < self._max:
                self._digits[self.count] = code
                self.count += 1
        elif code == CLEAR:
            if self._clear_all:
                self.wipe()
            elif self.count:
                self.count -= 1
                self._digits[self.count] = 0
        elif code == CANCEL:
            self.wipe()
            raise EntryCancelled("PIN entry cancelled")
        elif code == ENTER:
            n = self.count
            return self._min <= n <= self._max or (n == 0 and self._allow_empty)
        return False

    def wipe(self):
        """Forget every digit (the caller's buffer is zeroed)."""
        wipe(self._digits)
        self.count = 0


class AmountEntry:
    """Amount entry state, from the cents side: `fen` is the amount so far.

    key(code) returns True when ENTER accepted a non-zero amount; CANCEL raises
    EntryCancelled.
    """

    def __init__(self, *, max_digits=10, initial=0):
        if not 0 < max_digits <= 12:
            raise ValueError("max_digits must be 1-12")
        self._limit = 10**max_digits
        if not 0 <= initial < self._limit:
            raise ValueError("initial amount out of range")
        self.fen = initial

    def key(self, code):
        if _is_digit(code):
            grown = self.fen * 10 + code - 0x30
            if grown < self._limit:
                self.fen = grown
        elif code == CLEAR:
            self.fen //= 10
        elif code == CANCEL:
            raise EntryCancelled("amount entry cancelled")
        elif code == ENTER:
            return self.fen > 0
        return False


class Keypad:
    """A key matrix on Pin-like objects: `drive` (the lines a scan pulls low, one at a time)
    and `sense` (the lines it reads), both sequences; `keymap` (bytes, one code per key: the
    key at drive line d, sense line s is keymap[d * len(sense) + s]).

    Options (keyword-only): `debounce` scans a state must hold (3), `period_ms` between scans
    (10), `buffer_size` key codes (16), `clock`: an object with ticks_ms() and sleep_ms()
    (the time module; tests give a virtual clock).
    """

    def __init__(
        self,
        drive,
        sense,
        keymap=KEYMAP,
        *,
        debounce=3,
        period_ms=10,
        buffer_size=16,
        clock=None,
    ):
        if len(keymap) != len(drive) * len(sense):
            raise ValueError("keymap needs one code per key (drive x sense lines)")
        if len(keymap) > 30:
            raise ValueError("at most 30 keys (a scan is a small int)")
        if debounce < 1 or buffer_size < 1:
            raise ValueError("debounce and buffer_size must be at least 1")
        self._drive = drive
        self._sense = sense
        self._keymap = keymap
        self._debounce = debounce
        self._period = period_ms
        self._clock = clock or time
        self._ring = bytearray(buffer_size)
        self._head = 0  # next code to take
        self._count = 0
        self.overflows = 0  # keys dropped because the buffer was full
        self._raw = 0  # the last scan
        self._same = 0  # scans in a row that read _raw
        self._held = 0  # keys reported (or ignored) and not yet released
        self._due = self._clock.ticks_ms()
        for line in drive:
            line.value(0)  # idle: all drive lines low, so one read per sense line finds any key

    # --- scanning ------------------------------------------------------------------------

    def scan(self):
        """Scan the matrix once and debounce; a new key goes into the ring buffer."""
        raw = self._read()
        if raw != self._raw:
            self._raw = raw
            self._same = 1
        elif self._same < self._debounce:
            self._same += 1
        else:
            return  # counted already: a held key is reported once
        if self._same < self._debounce:
            return
        held = self._held & raw  # released keys drop out
        new = raw & ~held
        if new:
            if not new & (new - 1):  # exactly one new key
                self._put(self._keymap[_bit_index(new)])
            held |= new  # reported, or ambiguous: ignored until released
        self._held = held

    def poll(self):
        """Scan if `period_ms` have passed since the last scan (call it as often as you
        like); returns True if it scanned."""
        clock = self._clock
        now = clock.ticks_ms()
        if time.ticks_diff(now, self._due) < 0:
            return False
        self._due = time.ticks_add(now, self._period)
        self.scan()
        return True

    async def scanner(self):
        """The keypad task of an asyncio UI: scan every `period_ms`, forever."""
        import asyncio

        while True:
            self.scan()
            await asyncio.sleep_ms(self._period)

    def _read(self):
        sense = self._sense
        down = False
        for line in sense:
            if not line.value():
                down = True
                break
        if not down:
            return 0
        drive = self._drive
        for line in drive:
            line.value(1)
        scan = 0
        bit = 1
        for line in drive:
            line.value(0)
            for each in sense:
                if not each.value():
                    scan |= bit
                bit <<= 1
            line.value(1)
        for line in drive:
            line.value(0)
        return scan

    # --- the ring buffer -----------------------------------------------------------------

    def _put(self, code):
        size = len(self._ring)
        if self._count == size:
            self.overflows += 1
            return
        self._ring[(self._head + self._count) % size] = code
        self._count += 1

    def _take(self):
        code = self._ring[self._head]
        self._ring[self._head] = 0
        self._head = (self._head + 1) % len(self._ring)
        self._count -= 1
        return code

    def any(self):
        """Key codes waiting in the buffer."""
        return self._count

    def flush(self):
        """Drop (and zero) every waiting key code."""
        wipe(self._ring)
        self._head = 0
        self._count = 0

    def get(self, timeout_ms=0):
        """The next key code, scanning while it waits; None after `timeout_ms` without one."""
        if self._count:
            return self._take()
        clock = self._clock
        deadline = time.ticks_add(clock.ticks_ms(), timeout_ms)
        while True:
            self.poll()
            if self._count:
                return self._take()
            now = clock.ticks_ms()
            left = time.ticks_diff(deadline, now)
            if left <= 0:
                return None
            wait = time.ticks_diff(self._due, now)
            if wait > left:
                wait = left
            clock.sleep_ms(wait if wait > 0 else 1)

    async def get_async(self, timeout_ms=0):
        """get() for an asyncio UI whose `scanner()` task scans: None after `timeout_ms`."""
        import asyncio

        clock = self._clock
        deadline = time.ticks_add(clock.ticks_ms(), timeout_ms)
        while not self._count:
            if time.ticks_diff(deadline, clock.ticks_ms()) <= 0:
                return None
            await asyncio.sleep_ms(self._period)
        return self._take()

    # --- entry modes ---------------------------------------------------------------------

    def run_entry(self, entry, timeout_ms, show=None, value=None):
        """Feed keys to `entry` (PinEntry, AmountEntry or alike) until it accepts; call
        `show(value())` at the start and after every key (None: no display). EntryTimeout
        after `timeout_ms` without a key, EntryCancelled on CANCEL."""
        if show is not None and value is not None:
            show(value())
        while True:
            code = self.get(timeout_ms)
            if code is None:
                raise EntryTimeout("no key for %d ms" % timeout_ms)
            done = entry.key(code)
            if show is not None and value is not None:
                show(value())
            if done:
                return

    def read_pin(
        self,
        digits,
        *,
        min_digits=4,
        max_digits=12,
        timeout_ms=60000,
        show=None,
        clear_all=True,
        allow_empty=False,
    ):
        """Read a PIN into `digits` (a bytearray the caller owns, at least max_digits long);
        returns the number of digits (ASCII '0'-'9' in digits[:n]). `show(count)` draws the
        echo. On CANCEL or a timeout the digits are wiped and EntryCancelled / EntryTimeout
        raised. Type-ahead is flushed first: keys pressed before the prompt are not a PIN."""
        entry = PinEntry(
            digits,
            min_digits=min_digits,
            max_digits=max_digits,
            clear_all=clear_all,
            allow_empty=allow_empty,
        )
        self.flush()
        try:
            self.run_entry(entry, timeout_ms, show, lambda: entry.count)
        except EntryAborted:
            entry.wipe()
            raise
        finally:
            self.flush()
        return entry.count

    def read_amount(self, *, max_digits=10, timeout_ms=60000, show=None, initial=0):
        """Read an amount typed from the cents side; returns fen (int). `show(fen)` draws
        it (format_amount(fen) gives '0.01'). EntryCancelled / EntryTimeout as read_pin."""
        entry = AmountEntry(max_digits=max_digits, initial=initial)
        self.flush()
        self.run_entry(entry, timeout_ms, show, lambda: entry.fen)
        return entry.fen

    def deinit(self):
        """Release the drive lines (no current through a held key)."""
        for line in self._drive:
            line.value(1)


def _bit_index(bit):
    i = 0
    while bit > 1:
        bit >>= 1
        i += 1
    return i
