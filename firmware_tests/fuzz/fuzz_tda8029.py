# Fuzz target: the contact chip card reader's side of the line (drivers.tda8029.Tda8029, with
# the card channel's transport rules of drivers.cardchannel): ALPAR answer frames, refusals and
# unsolicited insertion/removal messages to a power-up and a run of APDUs (case 1 to 4, 61xx and
# 6Cxx), mutated byte by byte and frame by frame (start byte, command, status, data of every
# length) with the length and LRC made right again three times in four, so the checks past them
# are reached. Only the card errors (CardError and its named subclasses) may come out.
from fuzzlib import Clock, Line, below, choose, random_bytes, record, use_clock

from drivers import cardchannel, tda8029
from drivers.cardchannel import CardError
from drivers.tda8029 import Tda8029, lrc

EXPECTED = (CardError,)
CHUNKS = (0, 1, 3, 7)  # a line that delivers whole answers, or a few bytes a read
TOKENS = (b"\x60", b"\xe0", b"\xa0", b"\x61", b"\x6c", b"\x90\x00", b"\x00\x00", b"\xff")
SELECT = bytes.fromhex("00A4040007A000000333010100")
FCI = bytes.fromhex("6F108407A0000003330101A5055003504243")
ATR = bytes.fromhex("3B021450")

clock = Clock()
line = Line(clock)


def frame(cmd, data=b"", start=0x60):
    body = bytes((start, len(data) >> 8, len(data) & 0xFF, cmd)) + data
    return body + bytes((lrc(body),))


def refused(cmd, status):
    return frame(cmd, bytes((status,)), 0xE0)


def frames(piece):
    """(start, end) of each whole frame in `piece`, as its length bytes say."""
    out = []
    at = 0
    while True:
        start = -1
        for i in range(at, len(piece)):
            if piece[i] in (0x60, 0xE0):
                start = i
                break
        if start < 0 or start + 4 > len(piece):
            return out
        end = start + 5 + (piece[start + 1] << 8 | piece[start + 2])
        if end > len(piece):
            return out
        out.append((start, end))
        at = end


def fix(variant, pieces):
    fixed = []
    for piece in pieces:
        data = bytearray(piece)
        for start, end in frames(piece):
            data[end - 1] = lrc(data[start : end - 1])
        fixed.append(bytes(data))
    return tuple(fixed)


def mutate(variant, pieces):
    # One answer frame made anew: another start byte, command, status or data.
    pieces = list(pieces)
    choices = [i for i in range(len(pieces)) if frames(pieces[i])]
    if not choices:
        return variant, tuple(pieces)
    i = choose(choices)
    piece = pieces[i]
    start, end = choose(frames(piece))
    head, cmd = piece[start], piece[start + 3]
    data = piece[start + 4 : end - 1]
    op = below(5)
    if op == 0:
        head = 0xE0 if head == 0x60 else 0x60
        data = data[:1] or bytes((choose((0xC0, 0xA2, 0x80, 0xFF, 0x20)),))
    elif op == 1:
        cmd = choose((0x00, 0x09, 0x0A, 0x4D, 0x6E, 0xA0, 0xFF))
    elif op == 2:
        sw = choose((b"\x61\x00", b"\x61\xff", b"\x6c\x00", b"\x6c\x01", b"\x62\x83", b"\x90\x00"))
        data = data[:-2] + sw
    elif op == 3:
        data = bytes(random_bytes(below(300)))
    else:
        data = data[: below(len(data) + 1)]
    pieces[i] = piece[:start] + frame(cmd, data, head) + piece[end:]
    return variant, tuple(pieces)


def new_reader(uart):
    return Tda8029(uart, answer_timeout_ms=500, frame_timeout_ms=200)


def session(uart):
    reader = new_reader(uart)
    reader.present()
    reader.power_up(3000)
    reader.transmit(SELECT)
    reader.transmit(bytes.fromhex("80CA9F3600"))
    reader.transmit(bytes.fromhex("80E2000001AA00"))
    reader.event()
    reader.power_off()


def version_then_card(uart):
    reader = new_reader(uart)
    reader.version()
    reader.power_up(3000)
    reader.transmit(bytes.fromhex("00B2010C00"))


PROGRAMS = (session, version_then_card)


def card(apdu, answer):
    return (frame(0x00, apdu), frame(0x00, answer))


SCRIPTS = (
    (
        0,
        [
            (frame(0x09), frame(0x09, b"\x01")),
            (frame(0x6E), frame(0xA0, b"\x01") + frame(0x6E, ATR)),
            card(SELECT[:-1], b"\x61\x12"),
            card(bytes.fromhex("00C0000012"), FCI + b"\x90\x00"),
            card(bytes.fromhex("80CA9F3600"), b"\x6c\x05"),
            card(bytes.fromhex("80CA9F3605"), bytes.fromhex("9F360200429000")),
            card(bytes.fromhex("80E2000001AA"), b"\x62\x83"),
            card(bytes.fromhex("00C0000000"), b"\x6c\x04"),
            card(bytes.fromhex("00C0000004"), bytes.fromhex("ABCDEF019000")),
            (frame(0x4D), frame(0xA0, b"\x00") + frame(0x4D)),
        ],
    ),
    (
        0,
        [
            (frame(0x09), frame(0x09, b"\x01")),
            (frame(0x6E), frame(0x6E, ATR)),
            (frame(0x00, SELECT[:-1]), frame(0xA0, b"\x00") + refused(0x00, 0xC0)),
        ],
    ),
    (
        1,
        [
            (frame(0x0A), frame(0x0A, b"TDA8029 C207")),
            (frame(0x6E), refused(0x6E, 0xFF)),
            (frame(0x6E), frame(0x6E, ATR)),
            card(bytes.fromhex("00B2010C00"), bytes(range(256)) + b"\x90\x00"),
        ],
    ),
    (1, [(frame(0x0A), frame(0x0A, b"TDA8029")), (frame(0x6E), refused(0x6E, 0xA2))]),
)
SEEDS = ()


def setup(workdir, root):
    global SEEDS
    use_clock(clock, cardchannel, tda8029)
    seeds = []
    for program, script in SCRIPTS:
        clock.reset()
        pieces = record(script, PROGRAMS[program], EXPECTED)
        for chunk in range(len(CHUNKS)):
            seeds.append((program * len(CHUNKS) + chunk, pieces))
    SEEDS = tuple(seeds)


def run(variant, pieces):
    program, chunk = divmod(variant, len(CHUNKS))
    clock.reset()
    line.load(pieces, CHUNKS[chunk])
    PROGRAMS[program % len(PROGRAMS)](line)
