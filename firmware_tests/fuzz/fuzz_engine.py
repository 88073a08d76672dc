# Fuzz target: the acquirer host's answers through the transaction engine (app.txn.engine.Engine
# .run), which is documented to raise nothing: whatever the host sends, the outcome is a Result.
# Each input is one request of a scenario (sign-on, sale with PIN, balance, void, refund,
# pre-auth, completion, a pending reversal then a sale, settlement balanced and with upload,
# echo, sign-off, a host asking for a parameter download, a partial approval) on the flash state
# the scenario starts from, restored before every input, and the answers the host sends to it:
# recorded from the device tests' fake host, then mutated byte by byte and field by field, with
# the length prefix and the MAC (CUP MAC, the test MAK) made right again so the checks past them
# are reached. Anything Engine.run lets out is a crash, and so is a financial request approved
# on an answer without a valid MAC; a Result with an error counts as the answers refused.
import os

from fakehost import MAK, FakeHost
from fuzz_iso8583 import fix_length, fix_mac, mutate_frame
from fuzz_params import packet_body
from fuzzlib import Oracle, chance, choose

from app.comm.frames import CommError, CommTimeout
from app.crypto import cipher, mac
from app.keys.slots import KeyStore
from app.store.params import Params, ParamStore
from app.store.records import RecordStore
from app.txn.engine import Card, Engine, Request
from app.txn.iso8583 import DecodeError, unpack


class NotTaken(Exception):
    """The engine ran to its end and refused the answers (Result.error): counted as refused."""


EXPECTED = (NotTaken,)
STORAGE_KEY = b"0123456789abcdef"
TMK = bytes.fromhex("70F2A84CCBC2AE8625CBB0F2C22AB923")
TRACK = "6224242900000113=28062013949031013"
_MAK = cipher.new("DES", MAK)
MACED = ("0100", "0200", "0220", "0400")


def cup_mac(mab):
    return mac.cup_mac(_MAK, mab)


def _pin():
    return bytearray(b"123456")


def _sale(amount=1):
    return Request("sale", amount=amount, card=Card(track2=TRACK), pin=_pin())


# Scenarios: (what is done first, against the fake host; faults for the recorded request; the
# request, made from what the first part returned). The flash after the first part is the
# state every input of the scenario starts from.
def _nothing(engine, host):
    return None


def _a_sale(engine, host):
    return engine.run(_sale(100))


def _a_preauth(engine, host):
    return engine.run(Request("preauth", amount=10000, card=Card(track2=TRACK), pin=_pin()))


def _a_lost_sale(engine, host):
    host.fault("no_answer", "0200")
    return engine.run(_sale(7))


def _void(sale):
    return Request("sale_void", original_stan=sale.stan, supervisor_password=b"123456")


def _refund(sale):
    return Request(
        "refund",
        amount=50,
        rrn=sale.rrn,
        original_date=sale.date[4:],
        card=Card(track2=TRACK),
        supervisor_password=b"123456",
    )


SCENARIOS = (
    (_nothing, (), lambda _: Request("sign_on")),
    (_nothing, (), lambda _: _sale(1)),
    (_nothing, (), lambda _: Request("balance", card=Card(track2=TRACK), pin=_pin())),
    (_a_sale, (), _void),
    (_a_sale, (), _refund),
    (_nothing, (), lambda _: Request("preauth", amount=300, card=Card(track2=TRACK), pin=_pin())),
    (_a_preauth, (), lambda pre: Request("completion", amount=9000, auth_code=pre.auth_code)),
    (_a_preauth, (), lambda pre: Request("preauth_cancel", auth_code=pre.auth_code)),
    (_a_lost_sale, (), lambda _: _sale(2)),
    (_a_sale, (), lambda _: Request("settlement")),
    (_a_sale, ("unbalanced",), lambda _: Request("settlement")),
    (_nothing, (), lambda _: Request("echo")),
    (_nothing, (), lambda _: Request("sign_off")),
    (_nothing, ("processing:1",), lambda _: _sale(3)),
    (_nothing, ("partial:40",), lambda _: _sale(90)),
    (_a_lost_sale, (), lambda _: Request("settlement")),
)


class Done:
    """What a request of a scenario needs of the transaction done first."""

    def __init__(self, stan, rrn, date, auth_code):
        self.stan = stan
        self.rrn = rrn
        self.date = date
        self.auth_code = auth_code


class Replay:
    """A bearer whose host answers from the input's pieces: each exchange and each receive
    takes the next one (an empty piece, or none left: no answer)."""

    def __init__(self):
        self.pieces = ()
        self.next = 0
        self.connected = False
        self.answered = []  # (request MTI, answer piece) of each exchange

    def load(self, pieces):
        self.pieces = pieces
        self.next = 0
        self.answered = []

    def connect(self):
        self.connected = True

    def close(self):
        self.connected = False

    def exchange(self, frame, timeout_ms):
        mti = "%02x%02x" % (frame[13], frame[14]) if len(frame) > 14 else ""
        answer = self.receive(timeout_ms)
        self.answered.append((mti, answer))
        return answer

    def receive(self, timeout_ms):
        if self.next >= len(self.pieces) or not self.pieces[self.next]:
            self.next += 1
            raise CommTimeout("no answer")
        piece = self.pieces[self.next]
        self.next += 1
        return memoryview(piece)


class Recording(FakeHost):
    """The fake host, keeping every answer it sends (an empty one where it sends none)."""

    def __init__(self):
        super().__init__()
        self.answers = []

    def receive(self, timeout_ms):
        try:
            frame = super().receive(timeout_ms)
        except CommError:
            self.answers.append(b"")
            raise
        self.answers.append(bytes(frame))
        return frame


_contents = {}  # one object for each file content, shared by the states that hold it


def _files(root):
    out = {}
    for name in os.listdir(root):
        with open(root + "/" + name, "rb") as f:
            data = f.read()
        out[name] = _contents.setdefault(data, data)
    return out


def _restore(root, files):
    for name in os.listdir(root):
        if name not in files:
            os.remove(root + "/" + name)
    for name in files:
        with open(root + "/" + name, "wb") as f:
            f.write(files[name])


ROOT = ""
KEYS = None  # one key store for every input: the MAK and PIK schedules are made once
STATES = []  # the flash files each scenario starts from
PREPARED = []  # what its first part returned (the sale a void cancels...)
replay = Replay()
SEEDS = ()
RECORDED = set()  # every answer the fake host sent


def _engine(store, bearer, keys=None):
    return Engine(1, store, STORAGE_KEY, bearer, keys=keys)


def setup(workdir, root):
    global ROOT, SEEDS
    ROOT = workdir + "/data"
    store = RecordStore(ROOT)
    params = ParamStore(store)
    # The golden packets' parameters (firmware_tests/vectors/): a terminal whose supervisor
    # password is 123456, application 1 signing on with 3DES keys in mode 004.
    for name in ("param_packet_v1_terminal.bin", "param_packet_v1.bin"):
        with open(root + "/firmware_tests/vectors/" + name, "rb") as f:
            body, app_index = packet_body(f.read())
        params.save(app_index, Params.from_tlv(body, app_index), 1)
    KeyStore(store, STORAGE_KEY).set_tmk(1, 1, TMK, "3DES")
    host = FakeHost()
    if not _engine(store, host).run(Request("sign_on")).approved:
        raise AssertionError("the fuzz terminal does not sign on")
    base = _files(ROOT)
    seeds = []
    for number in range(len(SCENARIOS)):
        prepare, faults, request = SCENARIOS[number]
        _restore(ROOT, base)
        host = FakeHost()
        done = prepare(_engine(store, host), host)
        # What a request needs of it, not the whole Result (its slip lines are 2-5 KB).
        PREPARED.append(done and Done(done.stan, done.rrn, done.date, done.auth_code))
        STATES.append(_files(ROOT))
        recording = Recording()
        recording.field62_360 = b"\x01PARAMS"
        for fault in faults:
            recording.fault(fault)
        result = _engine(store, recording).run(request(PREPARED[number]))
        if result.error is not None and result.error not in ("timeout",):
            raise AssertionError("scenario %d: %s %s" % (number, result.error, result.detail))
        seeds.append((number, tuple(recording.answers)))
        RECORDED.update(recording.answers)
    SEEDS = tuple(seeds)
    _contents.clear()
    global KEYS
    _restore(ROOT, base)
    KEYS = KeyStore(RecordStore(ROOT), STORAGE_KEY)


def mutate(variant, pieces):
    if chance(16):
        # The answers of one scenario given to another's request.
        variant = choose(SEEDS)[0]
    pieces = list(pieces)
    live = [i for i in range(len(pieces)) if pieces[i]]
    if live:
        i = choose(live)
        pieces[i] = mutate_frame(pieces[i], cup_mac)
    return variant, tuple(pieces)


def fix(variant, pieces):
    # A piece as the host recorded it needs nothing (decoding it again costs a tenth of a run).
    return tuple(p if not p or p in RECORDED else fix_mac(fix_length(p), cup_mac) for p in pieces)


def _verifies(piece):
    try:
        msg = unpack(piece)
    except DecodeError:
        return False
    return msg.mab is not None and msg.verify(cup_mac)


def run(variant, pieces):
    number = variant % len(SCENARIOS)
    _restore(ROOT, STATES[number])
    replay.load(pieces)
    request = SCENARIOS[number][2](PREPARED[number])
    result = _engine(RecordStore(ROOT), replay, KEYS).run(request)
    if request.kind == "sign_on":
        KEYS.reload()  # the stored keys are back as they were: so is the store's view
    if result.approved and request.kind not in ("sign_on", "sign_off", "echo", "settlement"):
        for mti, answer in reversed(replay.answered):
            if mti in MACED and mti != "0400":
                if not _verifies(answer):
                    raise Oracle("%s approved on an answer without a valid MAC" % request.kind)
                break
    if result.error is not None:
        raise NotTaken(result.error)
