# Fuzz target: the contactless reader's side of the line (drivers.pn532.PN532, with the card
# channel's transport rules of drivers.cardchannel): ACK, NACK and error frames, and answer frames
# to the wake-up, the target list and InDataExchange (MI chaining both ways), mutated byte by
# byte and frame by frame (answer code, status byte, target data, data of every length) with LCS
# and DCS made right again three times in four, so the checks past them are reached. Only the
# card errors (CardError and its named subclasses) may come out.
from fuzzlib import Clock, Line, below, choose, random_bytes, record, use_clock

from drivers import cardchannel, pn532
from drivers.cardchannel import CardError
from drivers.pn532 import ACK, NACK, PN532, WAKE

EXPECTED = (CardError,)
CHUNKS = (0, 1, 3, 7)  # a line that delivers whole answers, or a few bytes a read
TOKENS = (ACK, NACK, b"\x00\x00\xff", b"\xd5", b"\x41\x40", b"\x00\xff\xff\xff", b"\x7f\x81")
SELECT = bytes.fromhex("00A4040007A000000333010100")
FCI = bytes.fromhex("6F108407A0000003330101A5055003504243")
TARGET = bytes.fromhex("0101000420" + "04" + "08A1B2C3" + "0578807002")
ERROR = b"\x00\x00\xff\x01\xff\x7f\x81\x00"

clock = Clock()
line = Line(clock)


def info(data, tfi=0xD5):
    body = bytes((tfi,)) + data
    n = len(body)
    return b"\x00\x00\xff" + bytes((n, -n & 0xFF)) + body + bytes((-sum(body) & 0xFF, 0))


def out(cmd, data=b""):
    return info(bytes((cmd,)) + data, 0xD4)


def answer(cmd, data=b""):
    return ACK + info(bytes((cmd + 1,)) + data)


def frames(piece):
    """(start, end) of each information frame in `piece`, as its LEN says."""
    found = []
    at = 0
    while True:
        start = piece.find(b"\x00\xff", at)
        if start < 0 or start + 4 > len(piece):
            return found
        n = piece[start + 2]
        if n in (0, 0xFF) or start + 5 + n > len(piece):
            at = start + 2
            continue
        found.append((start, start + 5 + n))
        at = start + 5 + n


def fix(variant, pieces):
    fixed = []
    for piece in pieces:
        data = bytearray(piece)
        for start, end in frames(piece):
            n = data[start + 2]
            data[start + 3] = -n & 0xFF
            data[end - 1] = -sum(data[start + 4 : end - 1]) & 0xFF
        fixed.append(bytes(data))
    return tuple(fixed)


def mutate(variant, pieces):
    # One answer frame made anew: another answer code, status, target data or length.
    pieces = list(pieces)
    choices = [i for i in range(len(pieces)) if frames(pieces[i])]
    if not choices:
        return variant, tuple(pieces)
    i = choose(choices)
    piece = pieces[i]
    start, end = choose(frames(piece))
    body = piece[start + 4 : end - 1]
    if len(body) < 2:
        return variant, tuple(pieces)
    code, data = body[1], body[2:]
    op = below(5)
    if op == 0:
        code = choose((0x03, 0x15, 0x33, 0x41, 0x4B, 0x53, 0x7F))
    elif op == 1:
        data = bytes((choose((0x00, 0x01, 0x40, 0x41, 0x29, 0x2B, 0x13, 0x7F)),)) + data[1:]
    elif op == 2:
        data = bytes((1, 1, 0, 4, below(256), below(12))) + bytes(random_bytes(below(40)))
    elif op == 3:
        data = bytes(random_bytes(below(253)))
    else:
        data = data[: below(len(data) + 1)]
    frame = info(bytes((code,)) + data)
    pieces[i] = piece[:start] + frame[2:] + piece[end:]
    return variant, tuple(pieces)


def new_reader(uart):
    return PN532(uart, ack_timeout_ms=500, answer_timeout_ms=1000, frame_timeout_ms=200)


def session(uart):
    nfc = new_reader(uart)
    nfc.wake()
    nfc.power_up(1000)
    nfc.transmit(SELECT)
    nfc.transmit(bytes.fromhex("00B2010C00"))
    nfc.transmit(bytes.fromhex("00DA0000FF") + bytes(255))
    nfc.power_off()


def poll(uart):
    nfc = new_reader(uart)
    nfc.firmware_version()
    nfc.present()
    nfc.transmit(bytes.fromhex("80CA9F3600"))


PROGRAMS = (session, poll)
WAKE_UP = [
    (WAKE, b""),
    (out(0x14, b"\x01\x14\x01"), answer(0x14)),
    (out(0x32, b"\x05\xff\x01\x00"), answer(0x32)),
    (out(0x02), answer(0x02, b"\x32\x01\x06\x07")),
]
LONG = bytes(range(256)) + b"\x90\x00"
GARBLED = bytearray(answer(0x40, b"\x00" + FCI + b"\x90\x00"))
GARBLED[-2] ^= 0x5A  # a wrong DCS: the driver asks again with a NACK
GARBLED = bytes(GARBLED)
SCRIPTS = (
    (
        0,
        WAKE_UP
        + [(out(0x4A, b"\x01\x00"), answer(0x4A, TARGET))]
        + [(out(0x40, b"\x01" + SELECT), answer(0x40, b"\x00" + FCI + b"\x90\x00"))]
        + [(out(0x40, bytes.fromhex("0100B2010C00")), answer(0x40, b"\x40" + LONG[:252]))]
        + [(out(0x40, b"\x01"), answer(0x40, b"\x00" + LONG[252:]))]
        + [(out(0x40, b"\x41" + bytes.fromhex("00DA0000FF") + bytes(247)), answer(0x40, b"\x00"))]
        + [(out(0x40, b"\x01" + bytes(8)), answer(0x40, b"\x00\x90\xff"))]
        + [(out(0x52, b"\x00"), answer(0x52, b"\x00")), (out(0x32, b"\x01\x00"), answer(0x32))],
    ),
    (
        0,
        WAKE_UP
        + [(out(0x4A, b"\x01\x00"), answer(0x4A, b"\x00"))]
        + [(out(0x4A, b"\x01\x00"), ERROR), (out(0x4A, b"\x01\x00"), answer(0x4A, TARGET))]
        + [(out(0x40, b"\x01" + SELECT), GARBLED)]
        + [(NACK, answer(0x40, b"\x00" + FCI + b"\x90\x00")[len(ACK) :])]
        + [(out(0x40, bytes.fromhex("0100B2010C00")), answer(0x40, b"\x01"))],
    ),
    (
        1,
        [(out(0x02), answer(0x02, b"\x32\x01\x06\x07"))]
        + [(out(0x4A, b"\x01\x00"), answer(0x4A, TARGET))]
        + [(out(0x40, bytes.fromhex("0180CA9F3600")), answer(0x40, b"\x00\x6c\x05"))]
        + [
            (
                out(0x40, bytes.fromhex("0180CA9F3605")),
                answer(0x40, b"\x00\x9f\x36\x02\x00\x42\x90\x00"),
            )
        ],
    ),
)
SEEDS = ()


def setup(workdir, root):
    global SEEDS
    use_clock(clock, cardchannel, pn532)
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
