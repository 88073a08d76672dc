# Fuzz target: the SIM800 GPRS module's answers (drivers.sim800.Sim800) as the terminal meets
# them: through the GPRS bearer (app.comm.gprs.GprsBearer: AT, SIM, registration, APN, TCP, one
# frame each way, close; a context lost and the watchdog's re-attach) and through the calls
# the installer's screens make (ICCID, signal, registration). The seeds are valid conversations
# recorded from the driver; each write releases the next mutated answer, over a line that hands
# bytes over whole or 1, 3 or 7 at a time, on a virtual clock. Only the module's named errors
# (GprsError) and the bearer's (CommError) may come out. fuzz_sim7600 reuses the programs.
from fuzzlib import Clock, Line, at, record, use_clock

from app.comm import frames, gprs
from app.comm.frames import CommError
from drivers import at as at_channel
from drivers import sim800
from drivers.sim800 import GprsError, Sim800

EXPECTED = (CommError, GprsError)
TOKENS = (
    b"OK",
    b"ERROR",
    b"+CME ERROR",
    b"+CME ERROR: ",
    b"+CME ERROR: 10",
    b"+CPIN: ",
    b"READY",
    b"SIM PIN",
    b"+CSQ: ",
    b"+CREG: 0,",
    b"+CGREG: 0,",
    b"+ICCID",
    b"SHUT OK",
    b"CONNECT OK",
    b"CONNECT FAIL",
    b"ALREADY CONNECT",
    b"SEND OK",
    b"SEND FAIL",
    b"CLOSED",
    b"CLOSE OK",
    b"+PDP: DEACT",
    b"+IPD,",
    b"+IPD,4:",
    b"NORMAL POWER DOWN",
    b"RDY",
    b"> ",
    b"\r\n",
    b"\r",
    b"\n",
    b",",
    b":",
    b"\xff",
    b"\x80",
    b"10.64.3.7",
)
CHUNKS = (0, 1, 3, 7)
HOSTS = (("127.0.0.1", 5000), ("10.1.1.9", 5001))
FRAME = b"\x00\x0c\x60\x00\x03\x00\x00request"
ANSWER = b"\x00\x0b\x60\x00\x00\x00\x03answer"

clock = Clock()
line = Line(clock)


def options():
    return dict(
        command_timeout_ms=2000,
        connect_timeout_ms=75000,
        send_timeout_ms=10000,
        read_timeout_ms=30000,
        attach_timeout_ms=85000,
        boot_timeout_ms=10000,
        power_down_ms=3000,
    )


def session(module):
    # What the engine does on a terminal's first transaction: the whole bring-up, one
    # exchange, the connection closed.
    bearer = gprs.GprsBearer(module, "CMNET", HOSTS, registration_ms=60000)
    try:
        bearer.connect()
        bearer.exchange(FRAME, 30000)
    finally:
        bearer.close()


def recovery(module):
    # Two transactions: the packet context lost in the middle of the first answer, the
    # watchdog's re-attach at the next connect.
    bearer = gprs.GprsBearer(module, "CMNET", HOSTS, registration_ms=60000)
    try:
        bearer.connect()
        try:
            bearer.exchange(FRAME, 30000)
        except CommError:
            pass
        bearer.close()
        bearer.connect()
        bearer.exchange(FRAME, 30000)
    finally:
        bearer.close()


def installer(module):
    # The installer's checks: the SIM, its ICCID, the signal, the registrations.
    module.sync()
    module.sim_ready()
    module.iccid()
    module.signal()
    module.registration()
    module.registration(gprs=True)


PROGRAMS = (session, recovery, installer)

SYNC = [(b"AT\r", b"\r\nOK\r\n"), at(b"ATE0", b"OK"), at(b"AT+CMEE=1", b"OK")]
SIM = [at(b"AT+CPIN?", b"+CPIN: READY", b"OK")]
REGISTERED = [at(b"AT+CREG?", b"+CREG: 0,1", b"OK"), at(b"AT+CGREG?", b"+CGREG: 0,5", b"OK")]
ATTACH = [
    at(b"AT+CIPSHUT", b"SHUT OK"),
    at(b"AT+CIPMUX=0", b"OK"),
    at(b"AT+CIPHEAD=1", b"OK"),
    at(b'AT+CSTT="CMNET","",""', b"OK"),
    at(b"AT+CIICR", b"OK"),
    at(b"AT+CIFSR", b"10.64.3.7"),
]
OPEN = [at(b'AT+CIPSTART="TCP","127.0.0.1",5000', b"OK", b"CONNECT OK")]
SEND = [(b"AT+CIPSEND=14\r", b"\r\n> "), (FRAME, b"\r\nSEND OK\r\n\r\n+IPD,13:" + ANSWER)]
CLOSE = [at(b"AT+CIPCLOSE", b"CLOSE OK")]
SCRIPTS = (
    (0, SYNC + SIM + REGISTERED + ATTACH + OPEN + SEND + CLOSE),
    (
        0,
        SYNC
        + [at(b"AT+CPIN?", b"+CPIN: READY", b"OK")]
        + [at(b"AT+CREG?", b"+CREG: 0,2", b"OK")]
        + [at(b"AT+CREG?", b"+CREG: 0,5", b"OK"), at(b"AT+CGREG?", b"+CGREG: 1,1", b"OK")]
        + ATTACH
        + [at(b'AT+CIPSTART="TCP","127.0.0.1",5000', b"OK", b"STATE: IP STATUS", b"CONNECT FAIL")]
        + [at(b'AT+CIPSTART="TCP","10.1.1.9",5001', b"ERROR", b"ALREADY CONNECT")]
        + [at(b"AT+CIPCLOSE", b"CLOSE OK")]
        + [at(b'AT+CIPSTART="TCP","10.1.1.9",5001', b"OK", b"CONNECT OK")]
        + [(b"AT+CIPSEND=14\r", b"\r\n> "), (FRAME, b"\r\n+IPD,5:" + ANSWER[:5] + b"\r\nSEND OK")]
        + [(b"", b"\r\n+IPD,8:" + ANSWER[5:] + b"\r\nCLOSED\r\n")],
    ),
    (
        1,
        SYNC
        + SIM
        + REGISTERED
        + ATTACH
        + OPEN
        + [(b"AT+CIPSEND=14\r", b"\r\n> "), (FRAME, b"\r\nSEND OK\r\n\r\n+IPD,3:\x00\x0b`")]
        + [(b"", b"\r\n+PDP: DEACT\r\n")]
        + ATTACH
        + OPEN
        + SEND
        + CLOSE,
    ),
    (
        2,
        [(b"AT\r", b"\r\nRDY\r\n"), (b"AT\r", b"AT\r\r\nOK\r\n")]
        + [(b"ATE0\r", b"ATE0\r\r\nOK\r\n"), at(b"AT+CMEE=1", b"OK")]
        + [at(b"AT+CPIN?", b"+CPIN: READY", b"OK")]
        + [at(b"AT+CCID", b"89860318640220133897", b"OK")]
        + [at(b"AT+CSQ", b"+CSQ: 18,0", b"OK")]
        + [at(b"AT+CREG?", b"+CREG: 0,1", b"OK"), at(b"AT+CGREG?", b"+CGREG: 0,1", b"OK")],
    ),
    (2, SYNC + [at(b"AT+CPIN?", b"+CME ERROR: 10")]),
    (2, SYNC + [at(b"AT+CPIN?", b"+CPIN: SIM PIN", b"OK")]),
)
SEEDS = ()


def seeds(module_class, modules, programs, scripts, expected):
    """(variant, pieces) of every script, for every way the line splits answers."""
    use_clock(clock, at_channel, frames, *modules)
    out = []
    for program, script in scripts:
        clock.reset()

        def conversation(uart, program=program):
            programs[program](module_class(uart, **options()))

        pieces = record(script, conversation, expected)
        for chunk in range(len(CHUNKS)):
            out.append((program * len(CHUNKS) + chunk, pieces))
    return tuple(out)


def play(module_class, programs, variant, pieces):
    program, chunk = divmod(variant, len(CHUNKS))
    clock.reset()
    line.load(pieces, CHUNKS[chunk])
    programs[program % len(programs)](module_class(line, **options()))


def setup(workdir, root):
    global SEEDS
    SEEDS = seeds(Sim800, (sim800,), PROGRAMS, SCRIPTS, EXPECTED)


def run(variant, pieces):
    play(Sim800, PROGRAMS, variant, pieces)
