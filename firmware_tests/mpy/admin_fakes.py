# A terminal for the PosManage device tests (MicroPython): the Terminal's contract (app/ui/
# terminal.py: ui, board, store, storage_key, params, terminal_params(), applications(),
# engine(), run(), show_result(), printer(), training, changed()) over a recording display,
# scripted keys, a RAM flash with the real RecordStore, ParamStore and KeyStore, the real
# ESC/POS driver on fakes.FakePrinter, and fakehost.FakeHost as the acquirer.
import struct

from fakehost import FakeHost
from fakes import FakePrinter
from ramflash import RAMFlash, mount_fresh

from app.keys.identity import Identity
from app.keys.slots import KeyStore
from app.store.params import Params, ParamStore, hash_password, put_tlv
from app.store.records import RecordStore
from app.ui.screen import Screen
from drivers import keypad as kp

MOUNT = "/adminflash"
ROOT = MOUNT + "/data"
STORAGE_KEY = b"0123456789abcdef"
TMK = bytes.fromhex("70F2A84CCBC2AE8625CBB0F2C22AB923")  # KCV 47F816
SERIAL = "PK-000123"

TERMINAL = (
    (0x01, b"zh"),
    (0x02, b"\x02"),
    (0x03, b"\x00"),
    (0x04, hash_password("0000", bytes(16))),
    (0x05, hash_password("123456", bytes(16))),
    (0x06, b"3DES"),
    (0x07, bytes((10,))),
    (0x08, bytes((10,))),
    (0x09, bytes((30,))),
    (0x0A, b"\x02"),
    (0x0B, b"primary"),
    (0x0C, b"ethernet"),
    (0x0E, hash_password("20240815", bytes(16))),
    (0x10, b"9"),
    (0x11, b"direct"),
    (0x12, b"95555"),
    (0x14, b"6000030000"),
    (0x15, b"\x00"),
    (0x30, b"\x01"),
    (0x35, b"127.0.0.1"),
    (0x36, struct.pack(">H", 5000)),
    (0x39, b"6000030000"),
)
APP = (
    (0x40, b"CUP"),
    (0x41, b"123456789012345"),
    (0x42, b"12345678"),
    (0x43, b"POSKIT\xb2\xe2\xca\xd4"),
    (0x44, b"3DES"),
    (0x45, b"\x01"),
    (0x46, b"004"),
    (0x47, b"6031"),
    (0x48, b"310000"),
)
ADMIN_PASSWORD = "20240815"

DEVICE = RAMFlash(512, 96)


def tlv(items):
    buf = bytearray()
    for tag, value in items:
        put_tlv(buf, tag, value)
    return bytes(buf)


def keys(*items):
    """Key codes from strings (each character a key) and codes."""
    out = []
    for item in items:
        if isinstance(item, str):
            out.extend(ord(c) for c in item)
        elif isinstance(item, (list, tuple)):
            out.extend(item)
        else:
            out.append(item)
    return out


LOGIN = ("01", kp.ENTER, ADMIN_PASSWORD, kp.ENTER)


class Display:
    """The four lines as text, every show() kept in `shown`."""

    def __init__(self):
        self.lines = ["", "", "", ""]
        self.shown = []

    def clear(self):
        self.lines = ["", "", "", ""]

    def text(self, line, text, inverse=False, align=0, clear=True):
        self.lines[line] = text

    def stars(self, line, count, align=1, inverse=False):
        self.lines[line] = "*" * count

    def show(self):
        self.shown.append(list(self.lines))

    def saw(self, text):
        """True if some screen shown had a line holding `text`."""
        for screen in self.shown:
            for line in screen:
                if text in line:
                    return True
        return False


class Keys(kp.Keypad):
    """The keypad driver's entry logic over scripted key codes; None or the end: a timeout
    (the screen's Idle); a callable: something the operator does (load paper), returning
    the key pressed after it."""

    def __init__(self, codes=()):
        self.codes = list(codes)

    def get(self, timeout_ms=0):
        if not self.codes:
            return None
        code = self.codes.pop(0)
        return code() if callable(code) else code

    def flush(self):
        pass

    def add(self, *items):
        self.codes.extend(keys(*items))


class Board:
    """The board's factories for what the tests fit (an OSError for the rest, as the
    virtual terminal without the device); `made` counts the calls."""

    def __init__(self):
        self.modem_part = None
        self.gprs_part = None
        self.lan_part = None
        self.made = []

    def _part(self, part, name):
        self.made.append(name)
        if part is None:
            raise OSError("no %s on this terminal" % name)
        return part

    def modem(self, **options):
        return self._part(self.modem_part, "modem")

    def gprs(self, **options):
        return self._part(self.gprs_part, "gprs")

    def lan(self, **options):
        return self._part(self.lan_part, "lan")

    def card_reader(self, **options):
        return self._part(None, "cardreader")

    def pinpad(self, **options):
        return self._part(None, "pinpad")

    def printer(self, **options):
        return self._part(None, "printer")


class Terminal:
    """The Terminal contract over fakes (see the top of this file)."""

    def __init__(self, codes=(), apps=1, host=None, printer=True, language="zh"):
        self.display = Display()
        self.keypad = Keys(keys(*codes))
        self.ui = Screen(self.display, self.keypad, language=language, idle_ms=1000)
        self.board = Board()
        self.store = fresh(apps)
        self.storage_key = STORAGE_KEY
        self.params = ParamStore(self.store)
        self.host = host or FakeHost()
        self.paper = FakePrinter() if printer else None
        self._printer = None
        self._engines = {}
        self.changes = 0  # Terminal.changed() calls: parameters, clock or keys changed
        self.results = []
        self._training = False

    def terminal_params(self):
        return self.params.load(0)

    def applications(self):
        out = []
        for index in range(1, 9):
            params = self.params.load(index)
            if params is not None:
                out.append((index, params.name))
        return out

    def engine(self, app):
        engine = self._engines.get(app)
        if engine is None:
            from app.txn.engine import Engine

            engine = self._engines[app] = Engine(app, self.store, self.storage_key, self.host)
        return engine

    def run(self, app, request):
        return self.engine(app).run(request)

    def show_result(self, title, result):
        self.results.append(result)
        self.ui.message(title, result.message_zh, wait_ms=0)

    def printer(self):
        if self.paper is None:
            return None
        if self._printer is None:
            from drivers.escpos import Printer

            self._printer = Printer(self.paper, status_timeout_ms=50)
        return self._printer

    def printed(self):
        """The printed text lines (ASCII; GB18030 bytes kept as they are)."""
        lines = []
        for raw in bytes(self.paper.printed).split(b"\n"):
            text = bytearray()
            i = 0
            while i < len(raw):
                c = raw[i]
                if c == 0x1B:  # ESC @ (2 bytes); ESC a n, ESC E n, ESC d n (3)
                    i += 2 if i + 1 < len(raw) and raw[i + 1] == 0x40 else 3
                    continue
                if c == 0x1D or c == 0x1C:  # GS ! n, GS V n (3); FS &, FS . (2)
                    i += 3 if c == 0x1D else 2
                    continue
                text.append(c)
                i += 1
            lines.append(bytes(text))
        return lines

    @property
    def training(self):
        return self._training

    @training.setter
    def training(self, value):
        self._training = bool(value)

    def changed(self):
        self.changes += 1
        self._engines = {}


def fresh(apps=1):
    """Erased flash with the identity, the terminal's parameters (packet version 3), `apps`
    applications' (version 2) and application 1's TMK in slot 1; the record store."""
    from app.store.packet import PARAMETERS, Versions

    mount_fresh(DEVICE, MOUNT)
    store = RecordStore(ROOT)
    Identity(store, STORAGE_KEY).provision(SERIAL, bytes(16), bytes(32))
    params = ParamStore(store)
    versions = Versions(store)
    params.save(0, Params.from_tlv(tlv(TERMINAL), 0), 3)
    versions.set(PARAMETERS, 0, 3)
    for index in range(1, apps + 1):
        items = list(APP)
        if index > 1:
            items[0] = (0x40, b"ACQ%d" % index)
        params.save(index, Params.from_tlv(tlv(items), index), 2)
        versions.set(PARAMETERS, index, 2)
    KeyStore(store, STORAGE_KEY).set_tmk(1, 1, TMK, "3DES")
    return store
