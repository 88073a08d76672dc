# The fuzzing core, run by MicroPython itself (the unix port, the ESP32's heap, the device code
# from its ROMFS image): a seeded mutator, a virtual clock, a scripted line, and the loop that
# feeds a target and sorts what comes out. tools/fuzz.py starts it, one process a target.
#
# An input is (variant, pieces): `variant` a small int the target reads (which conversation,
# which request, how the line splits), `pieces` a tuple of bytes (the answers, one a command, or
# the one packet). Input i of a campaign with seed S is made from the generator seeded by (S, i)
# alone, so any input replays from those two numbers, or from its printed form.
#
# A target module defines EXPECTED (the error classes its parser documents), SEEDS (inputs it
# was built from: valid conversations, packets, frames), optionally TOKENS (byte strings the
# parser looks for), fix(variant, pieces) (lengths, CRCs and MACs made right again) and
# mutate(variant, pieces) (mutations that know the format), and run(variant, pieces). Whatever
# run() raises outside EXPECTED is a crash; so is a hang (the virtual clock counts calls) and
# a failed check of a target's own (Oracle).
import gc
import random
import sys
import time

try:
    from micropython import const
except ImportError:
    const = int

_REPORTED = const(8)  # crashes printed in full per campaign; all of them are counted
_PROGRESS = const(16384)  # inputs between progress lines
_MASK30 = const(0x3FFFFFFF)

# Bytes worth setting: boundaries, line ends, separators, digits and the protocols' controls.
INTERESTING = (
    b"\x00\x01\x02\x03\x06\x15\x7f\x80\xff\x20\x30\x31\x39\x3d\x3a\x2c\x0d\x0a\x2d\x2b"
    b"\x22\x3f\x3b\x3e\x44"
)


class Oracle(Exception):
    """A target's own check failed: an accepted input that does not hold together."""


class Hang(BaseException):
    """A wait that never ends: the virtual clock was asked the time too often. A
    BaseException, so that no handler in the code under test can swallow it."""


# --- the generator ------------------------------------------------------------------------------


def reseed(campaign, index):
    """Seed the generator for input `index` of campaign `campaign` (both small ints)."""
    mixed = (campaign * 40503 + index * 2654435761 + 0x5BD1E995) & _MASK30
    random.seed(mixed ^ (mixed >> 15))
    random.getrandbits(16)


def below(n):
    """A random int in 0..n-1 (0 when n <= 0)."""
    if n <= 0:
        return 0
    return random.getrandbits(30) % n


def chance(n):
    """True one time in n."""
    return random.getrandbits(30) % n == 0


def choose(items):
    return items[below(len(items))]


def random_bytes(n):
    out = bytearray(n)
    for i in range(n):
        out[i] = random.getrandbits(8)
    return out


def digits(n):
    out = bytearray(n)
    for i in range(n):
        out[i] = 0x30 + below(10)
    return bytes(out)


def text(n, alphabet=None):
    """n characters: printable ASCII, or from `alphabet` (bytes)."""
    out = bytearray(n)
    for i in range(n):
        out[i] = alphabet[below(len(alphabet))] if alphabet else 0x20 + below(95)
    return bytes(out)


def mutate_bytes(data, tokens=(), donors=()):
    """`data` with 1 to 8 random edits stacked: bit flips, bytes set, inserted, deleted,
    duplicated, tokens of the format put in, numbers changed, splices of another seed."""
    data = bytearray(data)
    edits = 1 if chance(2) else 2 + below(7)
    for _ in range(edits):
        n = len(data)
        op = below(14)
        at = below(n + 1)
        if op == 0 and n:
            data[below(n)] ^= 1 << below(8)
        elif op == 1 and n:
            data[below(n)] = INTERESTING[below(len(INTERESTING))]
        elif op == 2 and n:
            data[below(n)] = random.getrandbits(8)
        elif op == 3:
            data[at:at] = random_bytes(1 + below(8))
        elif op == 4:
            data[at:at] = bytes((INTERESTING[below(len(INTERESTING))],)) * (1 + below(16))
        elif op == 5 and n:
            data[at : at + 1 + below(16)] = b""
        elif op == 6 and n:
            data[at:at] = data[at : at + 1 + below(32)]
        elif op == 7 and tokens:
            data[at:at] = choose(tokens)
        elif op == 8 and tokens and n:
            token = choose(tokens)
            data[at : at + len(token)] = token
        elif op == 9 and donors:
            donor = choose(donors)
            start = below(len(donor))
            data[at : at + below(32)] = donor[start : start + 1 + below(48)]
        elif op == 10 and n:
            data[below(n) :] = b""
        elif op == 11 and n:
            # A digit of a number changed: counts, lengths and codes are text in AT answers.
            i = below(n)
            while i < n and not 0x30 <= data[i] <= 0x39:
                i += 1
            if i < n:
                data[i] = 0x30 + below(10)
        elif op == 12 and n:
            # A run of digits replaced by a number of another size or sign.
            i = below(n)
            while i < n and not 0x30 <= data[i] <= 0x39:
                i += 1
            j = i
            while j < n and 0x30 <= data[j] <= 0x39:
                j += 1
            data[i:j] = choose((b"", b"-1", b"-100", b"0", b"99", b"65535", b"4294967296")) + (
                digits(below(12)) if chance(4) else b""
            )
        elif n:
            data[below(n)] = choose((0x20, 0x09, 0x0D, 0x0A, 0x80, 0xFF))
    return bytes(data)


def mutate_pieces(pieces, tokens=(), donors=()):
    """A tuple of pieces with one of them edited (mutate_bytes), or, one time in eight when
    there are several, pieces dropped, repeated, swapped, emptied or cut in two."""
    pieces = list(pieces)
    n = len(pieces)
    if n > 1 and chance(8):
        i = below(n)
        op = below(5)
        if op == 0:
            del pieces[i]
        elif op == 1:
            pieces.insert(i, pieces[i])
        elif op == 2:
            j = below(n)
            pieces[i], pieces[j] = pieces[j], pieces[i]
        elif op == 3:
            pieces[i] = b""
        else:
            cut = below(len(pieces[i]) + 1)
            pieces[i : i + 1] = [pieces[i][:cut], pieces[i][cut:]]
        return tuple(pieces)
    if not n:
        return (mutate_bytes(b"", tokens, donors),)
    # Prefer pieces with something in them: the empty ones are writes nobody answers.
    i = below(n)
    for _ in range(4):
        if pieces[i]:
            break
        i = below(n)
    pieces[i] = mutate_bytes(pieces[i], tokens, donors)
    return tuple(pieces)


def generate(target, seeds, donors):
    """One input: a seed, mutated (one time in two by the target's own mutation first, if it
    has one), then fixed up (lengths, CRC, MAC) three times in four when the target can."""
    variant, pieces = choose(seeds)
    own = getattr(target, "mutate", None)
    if own is not None and chance(2):
        variant, pieces = own(variant, pieces)
        rounds = below(2)
    else:
        rounds = 1 if chance(2) else 2 + below(3)
    tokens = getattr(target, "TOKENS", ())
    for _ in range(rounds):
        pieces = mutate_pieces(pieces, tokens, donors)
    fix = getattr(target, "fix", None)
    if fix is not None and not chance(4):
        pieces = fix(variant, pieces)
    return variant, tuple(pieces)


# --- the virtual clock and the line -------------------------------------------------------------


class Clock:
    """time for the code under test: ticks_ms, sleep_ms and the rest on a virtual clock.

    Sleeping moves the clock on and nothing else happens meanwhile (the line delivers only
    when written to), so each sleep in a row without news jumps twice as far as the one
    before: a 60-second wait takes about 17 sleeps. `limit` calls of ticks_ms raise Hang.
    """

    def __init__(self, limit=200000):
        self.limit = limit
        self.reset()

    def reset(self):
        self.now = 0
        self.calls = 0
        self.step = 1

    def news(self):
        self.step = 1

    def ticks_ms(self):
        self.calls += 1
        if self.calls > self.limit:
            raise Hang("no end after %d clock readings" % self.calls)
        return self.now

    def ticks_us(self):
        return self.ticks_ms() * 1000

    def ticks_add(self, ticks, delta):
        return time.ticks_add(ticks, delta)

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        self.now = time.ticks_add(self.now, ms if ms > self.step else self.step)
        if self.step < 65536:
            self.step <<= 1

    def sleep_us(self, us):
        self.sleep_ms(us // 1000 + 1)

    def sleep(self, seconds):
        self.sleep_ms(int(seconds * 1000))

    def time(self):
        return 1798761600 + self.now // 1000  # 2027-01-01

    def localtime(self, seconds=None):
        return time.localtime(self.time() if seconds is None else seconds)

    def mktime(self, t):
        return time.mktime(t)


def use_clock(clock, *modules):
    """Make `modules` (imported device modules) read `clock` as their `time`."""
    for module in modules:
        module.time = clock


class Line:
    """A UART (write, any, readinto, read) whose far end answers from `pieces`: each write
    releases the next piece. `chunk` > 0: a read returns at most that many bytes (a slow
    line). `written` counts the writes."""

    def __init__(self, clock):
        self.clock = clock
        self._rx = b""
        self._pos = 0
        self.pieces = ()
        self.next = 0
        self.chunk = 0
        self.written = 0

    def load(self, pieces, chunk=0):
        self._rx = b""
        self._pos = 0
        self.pieces = pieces
        self.next = 0
        self.chunk = chunk
        self.written = 0

    def write(self, buf):
        self.written += 1
        if self.next < len(self.pieces):
            piece = self.pieces[self.next]
            self.next += 1
            if piece:
                self._rx = self._rx[self._pos :] + piece
                self._pos = 0
                self.clock.news()
        return len(buf)

    def any(self):
        return len(self._rx) - self._pos

    def readinto(self, buf, nbytes=-1):
        n = len(self._rx) - self._pos
        if n > len(buf):
            n = len(buf)
        if 0 <= nbytes < n:
            n = nbytes
        if self.chunk and n > self.chunk:
            n = self.chunk
        if n <= 0:
            return None
        buf[0:n] = memoryview(self._rx)[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, n=-1):
        left = len(self._rx) - self._pos
        if not left:
            return None
        if n < 0 or n > left:
            n = left
        if self.chunk and n > self.chunk:
            n = self.chunk
        data = self._rx[self._pos : self._pos + n]
        self._pos += n
        return data


class Recorder(Line):
    """A UART that plays a script of (written bytes, answer) steps, as the device tests'
    FakeUART, and records which answer each write released: the pieces of a seed."""

    def __init__(self, script):
        super().__init__(None)
        self.script = list(script)
        self._pending = b""
        self.pieces = []

    def write(self, buf):
        self._pending += bytes(buf)
        released = b""
        while self.script:
            expected, reply = self.script[0]
            if len(self._pending) < len(expected):
                break
            if self._pending[: len(expected)] != expected:
                raise AssertionError(
                    "seed script: wrote %r, expected %r" % (self._pending, expected)
                )
            self._pending = self._pending[len(expected) :]
            self.script.pop(0)
            released += reply or b""
        self.pieces.append(released)
        self._rx = self._rx[self._pos :] + released
        self._pos = 0
        return len(buf)


def at(cmd, *answers):
    """A script step: the command line the driver writes, the lines the module answers."""
    return (cmd + b"\r", b"".join(b"\r\n" + a + b"\r\n" for a in answers))


def record(script, conversation, expected=()):
    """The pieces of a seed: `conversation(uart)` driven against `script`, each write's
    answer kept. The whole script must be played; the conversation may end in one of the
    `expected` errors (a seed of a failure the driver names)."""
    uart = Recorder(script)
    try:
        conversation(uart)
    except expected:
        pass
    if uart.script:
        raise AssertionError("seed script not played to its end: %r" % (uart.script[0],))
    return tuple(uart.pieces)


# --- inputs as text -----------------------------------------------------------------------------


def show(variant, pieces):
    """An input as one line: `variant:hex/hex/...` (what --replay takes)."""
    out = "%d:" % variant
    for i in range(len(pieces)):
        if i:
            out += "/"
        out += "".join("%02x" % b for b in pieces[i])
    return out


def parse(line):
    variant, _, rest = line.partition(":")
    pieces = []
    for part in rest.split("/"):
        pieces.append(bytes.fromhex(part) if part else b"")
    return int(variant), tuple(pieces)


# --- the campaign --------------------------------------------------------------------------------


def _signature(exc):
    # The crash class: the exception's type and where it was raised.
    import io

    buf = io.StringIO()
    sys.print_exception(exc, buf)
    lines = buf.getvalue().split("\n")
    where = lines[-3].strip() if len(lines) >= 3 else ""
    return "%s @ %s" % (type(exc).__name__, where), lines


DEVICE_HEAP = 110 * 1024  # tools/fuzz.py sets it: what the device code may use, an ESP32's
_ballast = None


def _leave_device_heap():
    # The heap beyond DEVICE_HEAP is taken by one buffer that is never touched, so that the
    # device code meets the heap it has on a terminal whatever the harness holds (tools/
    # fuzz.py, HARNESS_HEAP). Less than DEVICE_HEAP free is the harness's fault, said at once.
    global _ballast
    spare = gc.mem_free() - DEVICE_HEAP
    if spare < 0:
        raise MemoryError("the harness left %d bytes, under %d" % (gc.mem_free(), DEVICE_HEAP))
    if spare > 64:
        _ballast = bytearray(spare - 64)  # its allocation header and block rounding
    gc.collect()
    print("@@HEAP for the device code: %d bytes free" % gc.mem_free())


def execute(target, variant, pieces):
    """Run one input: "accepted", "refused" or the exception that escaped."""
    try:
        target.run(variant, pieces)
    except target.EXPECTED:
        return "refused"
    except Hang as exc:
        return exc
    except Exception as exc:  # every other escape is what the campaign is for
        return exc
    return "accepted"


def campaign(target, name, seed, count, start=0):
    """Run inputs start..start+count-1 of campaign `seed` against `target`; print a line per
    crash class (its first input in full) and a summary line."""
    seeds = target.SEEDS
    donors = []
    for _, pieces in seeds:
        for piece in pieces:
            if piece:
                donors.append(piece)
    accepted = refused = crashes = 0
    signatures = {}
    began = time.ticks_ms()
    for index in range(start, start + count):
        reseed(seed, index)
        variant, pieces = generate(target, seeds, donors)
        outcome = execute(target, variant, pieces)
        if outcome == "accepted":
            accepted += 1
        elif outcome == "refused":
            refused += 1
        else:
            crashes += 1
            signature, lines = _signature(outcome)
            seen = signatures.get(signature, 0)
            signatures[signature] = seen + 1
            if not seen and len(signatures) <= _REPORTED:
                print("@@CRASH %s seed %d input %d: %s" % (name, seed, index, signature))
                print("@@INPUT", show(variant, pieces))
                for line in lines:
                    if line:
                        print("@@|", line)
        if not (index + 1 - start) % _PROGRESS:
            print("@@PROGRESS", index + 1 - start, time.ticks_diff(time.ticks_ms(), began))
            gc.collect()
    elapsed = time.ticks_diff(time.ticks_ms(), began)
    for signature in signatures:
        print("@@CLASS %d %s" % (signatures[signature], signature))
    print(
        "@@DONE %s inputs %d accepted %d refused %d crashes %d classes %d ms %d"
        % (name, count, accepted, refused, crashes, len(signatures), elapsed)
    )
    return crashes


def replay(target, name, variant, pieces):
    """Run one input, with its traceback if it crashes; 1 if it does."""
    outcome = execute(target, variant, pieces)
    if isinstance(outcome, BaseException):
        print("@@CRASH %s replay: %s" % (name, _signature(outcome)[0]))
        sys.print_exception(outcome)
        return 1
    print("@@REPLAY %s %s" % (name, outcome))
    return 0


def main(args):
    """args: [target, "run", seed, count, start], [target, "replay", input] (an input as
    show() prints it) or [target, "index", seed, index] (the input campaign `seed` made as
    number `index`, shown and run), each followed by a folder the target may write in and the
    repository's folder (where it reads its seed files)."""
    name, mode = args[0], args[1]
    target = __import__("fuzz_" + name)
    target.setup(args[-2], args[-1])
    # Collections only when the heap is full, not every 4 KB as the application asks
    # (app/__init__.py): that policy keeps a day of transactions from fragmenting the heap;
    # here it would cost half the run, and no parser's outcome depends on when the collector
    # runs. A target may ask for another (GC_EVERY).
    gc.threshold(getattr(target, "GC_EVERY", -1))
    gc.collect()
    print("@@HEAP after set-up: %d bytes held, %d free" % (gc.mem_alloc(), gc.mem_free()))
    _leave_device_heap()
    if mode == "run":
        return campaign(target, name, int(args[2]), int(args[3]), int(args[4]))
    if mode == "index":
        reseed(int(args[2]), int(args[3]))
        donors = [p for _, ps in target.SEEDS for p in ps if p]
        variant, pieces = generate(target, target.SEEDS, donors)
        print("@@INPUT", show(variant, pieces))
    else:
        variant, pieces = parse(args[2])
    return replay(target, name, variant, pieces)
