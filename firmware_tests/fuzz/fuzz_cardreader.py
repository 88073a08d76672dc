# Fuzz target: the magstripe reader (drivers.cardreader.CardReader) on the bytes a reader sends
# (";" track "?" LRC, CR LF; swipes back to back), with the LRC and the card number's check
# digit recomputed three times in four so the checks past them are reached; every Track2 read
# is used as the terminal uses it (card number, expiry against the date, service code, masked
# number). And the manual entry checks (check_pan, check_expiry) on what a keypad could hand
# them. Only BadSwipe, SwipeTimeout and ManualEntryError may come out.
from fuzzlib import Clock, Line, Oracle, below, chance, choose, use_clock

from drivers import cardreader
from drivers.cardreader import (
    BadSwipe,
    CardReader,
    CardReaderError,
    ManualEntryError,
    SwipeTimeout,
    check_expiry,
    check_pan,
    luhn_valid,
)

EXPECTED = (CardReaderError, ManualEntryError)
TOKENS = (b";", b"?", b"=", b"\r\n", b"0", b"9", b":", b"<", b">", b"\x80", b"==")
TODAY = (2026, 5)

clock = Clock()
line = Line(clock)


def lrc(track):
    """The LRC byte of `track` (from ";" to "?" inclusive)."""
    value = 0
    for c in track:
        value ^= c & 0x0F
    return 0x30 | value


def luhn_digit(digits):
    """The check digit that makes `digits` + it pass the reader's own Luhn check."""
    for digit in b"0123456789":
        if luhn_valid(bytes(digits) + bytes((digit,))):
            return digit
    return 0x30


def swipe(track, fix_luhn=True):
    """The bytes a reader sends for `track` (between the sentinels), LRC right."""
    track = bytearray(track)
    if fix_luhn:
        sep = track.find(b"=")
        if sep > 1 and all(0x30 <= c <= 0x39 for c in track[:sep]):
            track[sep - 1] = luhn_digit(track[: sep - 1])
    body = b";" + bytes(track) + b"?"
    return body + bytes((lrc(body),)) + b"\r\n"


def fix(variant, pieces):
    if variant:
        return pieces
    # Each ";...?" of the stream gets its LRC (and its PAN's check digit) right again.
    data = bytearray(pieces[0])
    at = 0
    while True:
        start = data.find(b";", at)
        if start < 0:
            break
        end = data.find(b"?", start)
        if end < 0:
            break
        if chance(2):
            sep = data.find(b"=", start, end)
            if sep > start + 1 and all(0x30 <= c <= 0x39 for c in data[start + 1 : sep]):
                data[sep - 1] = luhn_digit(data[start + 1 : sep - 1])
        if end + 1 < len(data):
            data[end + 1] = lrc(data[start : end + 1])
        else:
            data.append(lrc(data[start : end + 1]))
        at = end + 1
    return (bytes(data),)


def mutate(variant, pieces):
    if variant:
        return variant, pieces
    # A new stream of one to three swipes of tracks of every make.
    stream = b""
    for _ in range(1 + below(3)):
        pan = bytes(0x30 + below(10) for _ in range(choose((12, 13, 16, 19, 20, 1))))
        track = pan + b"=" + bytes(0x30 + below(10) for _ in range(choose((7, 6, 17, 20, 3))))
        if chance(4):
            track = track.replace(b"=", choose((b"", b"==", b"=D", b"D")))
        stream += swipe(track, not chance(4)) if not chance(8) else swipe(track)[:-3]
    return variant, (stream,)


def run(variant, pieces):
    if variant:
        # Manual entry: the keypad's digits for a card number and an expiry date.
        check_pan(pieces[0])
        check_expiry(pieces[1] if len(pieces) > 1 else b"", TODAY)
        return
    clock.reset()
    line.load(pieces)
    line.write(b"")  # the reader is sending: the stream is there
    reader = CardReader(line, char_timeout_ms=300)
    tracks = 0
    refusal = None
    for _ in range(8):
        try:
            track = reader.read(30000)
        except BadSwipe as exc:
            refusal = exc
            continue
        except SwipeTimeout as exc:
            refusal = refusal or exc  # the stream has ended
            break
        tracks += 1
        # As the terminal uses a swipe: the number (checked again as keyed), the masked
        # number for the slip, the service code, the discretionary data, its repr in a log.
        pan = track.pan
        if track.masked_pan[-4:] != pan[-4:] or len(track.service_code) != 3:
            raise Oracle("a track read as %r" % (track,))
        bytes(track.discretionary)
        track.has_chip()
        check_pan(pan)
        try:
            check_expiry(track.expiry, TODAY)
        except ManualEntryError:
            pass
        track.wipe()
    if not tracks and refusal is not None:
        raise refusal  # no card read from this stream: refused


SEEDS = ()


def setup(workdir, root):
    global SEEDS
    use_clock(clock, cardreader)
    good = swipe(b"6224242900000113=28062013949031013")
    chip = swipe(b"6224242900000121=28062200000000000")
    short = swipe(b"4111111111111=2512101")
    SEEDS = (
        (0, (good,)),
        (0, (good + chip,)),
        (0, (short + b"\x00" + good[:20],)),
        (0, (chip[:-3] + b"\r\n" + good,)),
        (1, (b"6224242900000113", b"2806")),
        (1, (b"4111111111111", b"2513")),
    )
