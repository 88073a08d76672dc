# Fuzz target: the dial-up modem's answers (drivers.hayes.Modem) as the terminal meets them:
# through the dial-up bearer (app.comm.dial.DialBearer: init string, dial, one frame each way,
# hang-up) and through the driver's own calls (ATI lines, a call read to its end). The seeds are
# valid conversations recorded from the driver; each write of the driver releases the next
# mutated answer, over a line that hands bytes over whole or 1, 3 or 7 at a time, on a virtual
# clock. Only the modem's named errors (HayesError) and the bearer's (CommError) may come out.
from fuzzlib import Clock, Line, at, record, use_clock

from app.comm import dial, frames
from app.comm.frames import CommError
from drivers import at as at_channel
from drivers import hayes
from drivers.hayes import HayesError, Modem

EXPECTED = (CommError, HayesError)
TOKENS = (
    b"OK",
    b"ERROR",
    b"CONNECT",
    b"CONNECT 2400",
    b"CONNECT 4294967296/ARQ",
    b"BUSY",
    b"NO CARRIER",
    b"\r\nNO CARRIER\r\n",
    b"NO DIALTONE",
    b"NO DIAL TONE",
    b"NO ANSWER",
    b"RING",
    b"CARRIER 2400",
    b"PROTOCOL: LAPM",
    b"\r\n",
    b"\r",
    b"\n",
    b"\xff",
    b"\x80\x80",
    b"ATZ",
)
CHUNKS = (0, 1, 3, 7)  # a line that delivers whole answers, or a few bytes a read
NUMBERS = ("95555", "95556")
FRAME = b"\x00\x0c\x60\x00\x03\x00\x00request"
ANSWER = b"\x00\x0b\x60\x00\x00\x00\x03answer"

clock = Clock()
line = Line(clock)


def new_modem(uart):
    return Modem(
        uart,
        command_timeout_ms=2000,
        connect_timeout_ms=60000,
        guard_ms=1000,
        read_timeout_ms=30000,
    )


def call(uart):
    # What the engine does: connect (init, ATX4, dial), one exchange, hang up.
    bearer = dial.DialBearer(new_modem(uart), NUMBERS, outside_line="0", connect_ms=60000)
    try:
        bearer.connect()
        bearer.exchange(FRAME, 30000)
    finally:
        bearer.close()


def two_frames(uart):
    # A call that answers twice (a duplicate, then the real answer), then the line drops.
    bearer = dial.DialBearer(new_modem(uart), NUMBERS, connect_ms=60000)
    try:
        bearer.connect()
        bearer.exchange(FRAME, 30000)
        bearer.receive(30000)
        bearer.exchange(FRAME, 30000)
    finally:
        bearer.close()


def driver(uart):
    # The driver's own calls: an information command's lines, a dial, a read, a hang-up.
    modem = new_modem(uart)
    modem.setup()
    modem.command(b"ATI3")
    modem.dial("95555", blind=True)
    buf = memoryview(bytearray(4))
    modem.readinto(buf[:3], 30000)
    modem.read_exactly(buf, 30000)
    modem.hangup()


PROGRAMS = (call, two_frames, driver)
INIT = [at(b"ATZ", b"OK"), at(b"ATE0V1", b"OK"), at(b"AT&K0", b"OK")]
HANGUP = [(b"+++", b"\r\nOK\r\n"), at(b"ATH", b"OK")]
# Binary data holding the start of NO CARRIER: held back, then delivered.
TRICKY = b"\x00\x0cab\r\nNO CARRI"
SCRIPTS = (
    (
        0,
        [(b"ATZ\r", b"ATZ\r\r\nOK\r\n"), at(b"ATE0V1", b"OK"), at(b"AT&K0", b"OK")]
        + [at(b"ATX4", b"OK"), at(b"ATDT0,95555", b"CONNECT 2400")]
        + [(FRAME, ANSWER)]
        + HANGUP,
    ),
    (
        0,
        INIT
        + [at(b"ATX4", b"OK"), at(b"ATDT0,95555", b"RINGING", b"BUSY")]
        + [at(b"ATX4", b"OK"), at(b"ATDT0,95556", b"CARRIER 2400", b"CONNECT 9600/ARQ")]
        + [(FRAME, TRICKY)]
        + HANGUP,
    ),
    (
        1,
        INIT
        + [at(b"ATX4", b"OK"), at(b"ATDT95555", b"CONNECT")]
        + [(FRAME, ANSWER + ANSWER), (FRAME, b"\r\nNO CARRIER\r\n")]
        + [at(b"ATH", b"OK")],
    ),
    (
        2,
        INIT
        + [at(b"ATI3", b"V.92 MODEM 1.0", b"OK")]
        + [at(b"ATX3", b"OK"), (b"ATDT95555\r", b"\r\nCONNECT 2400/ARQ\r\nabcdefg")]
        + HANGUP,
    ),
)
SEEDS = ()


def setup(workdir, root):
    global SEEDS
    use_clock(clock, at_channel, hayes, frames)
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
