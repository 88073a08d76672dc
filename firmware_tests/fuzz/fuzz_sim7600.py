# Fuzz target: the SIM7600 LTE module's answers (drivers.sim7600.Sim7600): the programs of
# fuzz_sim800 (the GPRS bearer's bring-up, exchange and recovery; the installer's checks) over
# this module's conversations: two-step socket answers (+NETOPEN, +CIPOPEN, +CIPCLOSE,
# +IP ERROR), LTE registration (+CEREG), +IPD<n> lines after RECV FROM, +CIPSEND counts.
# Only GprsError and CommError may come out.
from fuzz_sim800 import EXPECTED, PROGRAMS, play, seeds
from fuzz_sim800 import TOKENS as SIM800_TOKENS
from fuzzlib import at

from drivers import sim800, sim7600
from drivers.sim7600 import Sim7600

TOKENS = SIM800_TOKENS + (
    b"+NETOPEN: ",
    b"+CIPOPEN: 0,",
    b"+CIPOPEN: 0,-1",
    b"+CIPCLOSE: 0,",
    b"+NETCLOSE: ",
    b"+IP ERROR: ",
    b"+IPADDR: ",
    b"+CEREG: 0,",
    b"+CIPSEND: 0,14,",
    b"+CIPERROR: ",
    b"+IPCLOSE: 0,1",
    b"RECV FROM:127.0.0.1:5000",
    b"+IPD",
    b"+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY",
    b"already opened",
    b"already created",
    b">",
)
FRAME = b"\x00\x0c\x60\x00\x03\x00\x00request"
ANSWER = b"\x00\x0b\x60\x00\x00\x00\x03answer"

SYNC = [(b"AT\r", b"\r\nOK\r\n"), at(b"ATE0", b"OK"), at(b"AT+CMEE=1", b"OK")]
SIM = [at(b"AT+CPIN?", b"+CPIN: READY", b"OK")]
REGISTERED = [
    at(b"AT+CREG?", b"+CREG: 0,0", b"OK"),
    at(b"AT+CEREG?", b"+CEREG: 0,1", b"OK"),
    at(b"AT+CGREG?", b"+CGREG: 0,1", b"OK"),
]
ATTACH = [
    at(b"AT+NETCLOSE", b"+IP ERROR: Network is already closed", b"ERROR"),
    at(b'AT+CGDCONT=1,"IP","CMNET"', b"OK"),
    at(b"AT+CGAUTH=1,0", b"OK"),
    at(b"AT+CIPMODE=0", b"OK"),
    at(b"AT+CIPHEAD=1", b"OK"),
    at(b"AT+NETOPEN", b"OK", b"+NETOPEN: 0"),
    at(b"AT+IPADDR", b"+IPADDR: 10.64.3.7", b"OK"),
]
OPEN = [at(b'AT+CIPOPEN=0,"TCP","127.0.0.1",5000', b"OK", b"+CIPOPEN: 0,0")]
SEND = [
    (b"AT+CIPSEND=0,14\r", b"\r\n>"),
    (
        FRAME,
        b"\r\nOK\r\n\r\n+CIPSEND: 0,14,14\r\n\r\nRECV FROM:127.0.0.1:5000\r\n+IPD13\r\n" + ANSWER,
    ),
]
CLOSE = [at(b"AT+CIPCLOSE=0", b"OK", b"+CIPCLOSE: 0,0")]
OPEN_BACKUP = b'AT+CIPOPEN=0,"TCP","10.1.1.9",5001'
SCRIPTS = (
    (0, SYNC + SIM + REGISTERED + ATTACH + OPEN + SEND + CLOSE),
    (
        0,
        SYNC
        + SIM
        + [at(b"AT+CREG?", b"+CREG: 0,1", b"OK"), at(b"AT+CGREG?", b"+CGREG: 0,1", b"OK")]
        + [at(b"AT+NETCLOSE", b"OK", b"+NETCLOSE: 0")]
        + ATTACH[1:5]
        + [at(b"AT+NETOPEN", b"+IP ERROR: Network is already opened", b"ERROR")]
        + ATTACH[6:]
        + [at(b'AT+CIPOPEN=0,"TCP","127.0.0.1",5000', b"OK", b"+CIPOPEN: 0,11")]
        + [at(OPEN_BACKUP, b"+IP ERROR: Connection is already created", b"ERROR")]
        + [at(b"AT+CIPCLOSE=0", b"OK", b"+CIPCLOSE: 0,0")]
        + [at(OPEN_BACKUP, b"OK", b"+CIPOPEN: 0,0")]
        + [(b"AT+CIPSEND=0,14\r", b"\r\n+IPD4\r\n" + ANSWER[:4] + b"\r\n>")]
        + [(FRAME, b"\r\nOK\r\n\r\n+CIPSEND: 0,14,14\r\n\r\n+IPD9\r\n" + ANSWER[4:])]
        + [(b"", b"\r\n+IPCLOSE: 0,1\r\n")],
    ),
    (
        1,
        SYNC
        + SIM
        + REGISTERED
        + ATTACH
        + OPEN
        + [(b"AT+CIPSEND=0,14\r", b"\r\n>")]
        + [(FRAME, b"\r\nOK\r\n\r\n+CIPSEND: 0,14,14\r\n\r\n+IPD2\r\n\x00\x0b")]
        + [(b"", b"\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n")]
        + ATTACH
        + OPEN
        + SEND
        + CLOSE,
    ),
    (
        2,
        SYNC
        + SIM
        + [at(b"AT+CCID", b"+ICCID: 89860318640220133897", b"OK")]
        + [at(b"AT+CSQ", b"+CSQ: 31,99", b"OK")]
        + [at(b"AT+CREG?", b"+CREG: 0,3", b"OK"), at(b"AT+CEREG?", b"+CEREG: 0,5", b"OK")]
        + [at(b"AT+CGREG?", b"+CGREG: 0,1", b"OK")],
    ),
    (2, SYNC + [at(b"AT+CPIN?", b"+CME ERROR: 13")]),
)
SEEDS = ()


def setup(workdir, root):
    global SEEDS
    SEEDS = seeds(Sim7600, (sim800, sim7600), PROGRAMS, SCRIPTS, EXPECTED)


def run(variant, pieces):
    play(Sim7600, PROGRAMS, variant, pieces)
