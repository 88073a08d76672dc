# Fuzz target: the external PIN pad's side of the line (drivers.pinpad.PinPad): ACK/NAK bytes and
# answer frames to each command (identify, load a key, enter a PIN, cancel), mutated byte by byte
# and frame by frame (status, SEQ, CMD, data of every length) with the length, ETX and CRC-16
# made right again three times in four, so the checks past them are reached. Only PinPadError
# (and its named subclasses) may come out.
from fuzzlib import Clock, Line, below, chance, choose, random_bytes, record, use_clock

from drivers import pinpad
from drivers.pinpad import PinPad, PinPadError, crc16

EXPECTED = (PinPadError,)
STX, ETX, ACK, NAK = 0x02, 0x03, b"\x06", b"\x15"
TOKENS = (b"\x02", b"\x03", b"\x06", b"\x15", b"\x00", b"\xff", b"\x02\x02")
PAN = b"6224242900000113"
BLOCK = bytes.fromhex("34A9CB2C1BA2AB3A")

clock = Clock()
line = Line(clock)


def frame(seq, cmd, data=b""):
    body = bytes((len(data) + 2, seq, cmd)) + data + bytes((ETX,))
    crc = crc16(body)
    return bytes((STX,)) + body + bytes((crc >> 8, crc & 0xFF))


def frames(piece):
    """(start, end) of each whole frame in `piece`, as its LEN byte says."""
    out = []
    at = 0
    while True:
        start = piece.find(b"\x02", at)
        if start < 0 or start + 2 > len(piece):
            return out
        end = start + piece[start + 1] + 5
        if end > len(piece):
            return out
        out.append((start, end))
        at = end


def fix(variant, pieces):
    fixed = []
    for piece in pieces:
        data = bytearray(piece)
        for start, end in frames(piece):
            data[end - 3] = ETX
            crc = crc16(data[start + 1 : end - 2])
            data[end - 2] = crc >> 8
            data[end - 1] = crc & 0xFF
        fixed.append(bytes(data))
    return tuple(fixed)


def mutate(variant, pieces):
    # One answer frame made anew: another status, SEQ or CMD, data of another length.
    pieces = list(pieces)
    choices = [i for i in range(len(pieces)) if frames(pieces[i])]
    if not choices:
        return variant, tuple(pieces)
    i = choose(choices)
    piece = pieces[i]
    start, end = choose(frames(piece))
    seq, cmd = piece[start + 2], piece[start + 3]
    data = piece[start + 4 : end - 3]
    op = below(5)
    if op == 0:
        data = bytes((below(9),)) + data[1:]
    elif op == 1:
        seq = below(256) if chance(2) else (seq + 1) & 0xFF
    elif op == 2:
        cmd = choose((0x49, 0x50, 0x4B, 0x43, 0x00, 0xFF))
    elif op == 3:
        data = data[:1] + bytes(random_bytes(below(97)))
    else:
        data = data[: below(len(data) + 1)]
    pieces[i] = piece[:start] + frame(seq, cmd, data) + piece[end:]
    return variant, tuple(pieces)


def new_pad(uart):
    return PinPad(
        uart,
        ack_timeout_ms=300,
        tries=3,
        frame_timeout_ms=200,
        answer_timeout_ms=2000,
        entry_margin_ms=5000,
        sequence=0,
    )


def serial(uart):
    new_pad(uart).serial_number()


def key_then_pin(uart):
    pad = new_pad(uart)
    pad.load_key(bytes(16), b"\x08\xd7\xb4\xfb", slot=1, master_slot=0, algorithm="3DES")
    pad.enter_pin(PAN, b"RMB 0.01", prompt=b"ENTER PIN", slot=1, timeout_s=60)
    pad.cancel()


PROGRAMS = (serial, key_then_pin)
KEY_LOAD = frame(1, 0x4B, bytes((0, 1, 2, 16)) + bytes(16) + b"\x08\xd7\xb4\xfb")
PIN = frame(2, 0x50, bytes((1, 4, 12, 60, 8)) + b"RMB 0.01" + b"\x09ENTER PIN\x10" + PAN)
SCRIPTS = (
    (0, [(frame(1, 0x49), ACK + frame(1, 0x49, b"\x00PP20240001")), (ACK, None)]),
    (0, [(frame(1, 0x49), NAK), (frame(1, 0x49), ACK + b"\x99" + frame(1, 0x49, b"\x00A"))]),
    (
        1,
        [(KEY_LOAD, ACK + frame(1, 0x4B, b"\x00")), (ACK, None)]
        + [(PIN, ACK), (b"", frame(2, 0x50, b"\x00" + BLOCK)), (ACK, None)]
        + [(frame(3, 0x43), ACK + frame(3, 0x43, b"\x00")), (ACK, None)],
    ),
    (
        1,
        [(KEY_LOAD, ACK + frame(1, 0x4B, b"\x00")), (ACK, None)]
        + [(PIN, ACK + frame(2, 0x50, b"\x01")), (ACK, None)],
    ),
)
SEEDS = ()


def setup(workdir, root):
    global SEEDS
    use_clock(clock, pinpad)
    seeds = []
    for program, script in SCRIPTS:
        clock.reset()
        seeds.append((program, record(script, PROGRAMS[program], EXPECTED)))
    SEEDS = tuple(seeds)


def run(variant, pieces):
    clock.reset()
    line.load(pieces)
    PROGRAMS[variant % len(PROGRAMS)](line)
