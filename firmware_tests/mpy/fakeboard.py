# A board for the terminal application's device tests (MicroPython): a display that records
# every screen, a keypad that plays a script, a card reader and a PIN pad that do what the test
# says, the real ESC/POS driver over fakes.FakePrinter (paper that runs out), the record store
# on a RAM flash set up with parameters and a master key, and fakehost.FakeHost as the bearer.
#
#     board = Board()
#     term = board.terminal()                    # a Terminal on it, FakeHost as its bearer
#     board.keys.play("1", ENTER, board.swipe, "100", ENTER, ENTER, "123456", ENTER)
#     board.run(cashier.run, term)               # until the script runs out
#     board.screen.saw("交易成功"), board.host.of("0200"), board.slips()
import struct

from fakehost import FakeHost
from fakes import FakePrinter
from ramflash import RAMFlash, mount_fresh

from app.crypto import cipher, pinblock
from app.keys.slots import KeyStore
from app.store.params import Params, ParamStore, hash_password, put_tlv
from app.store.records import RecordStore
from drivers import escpos
from drivers import keypad as kp
from drivers.cardreader import Track2
from drivers.pinpad import PinPadKeyError

MOUNT = "/uiflash"
ROOT = MOUNT + "/data"
KEY = b"0123456789abcdef"
TMK = bytes.fromhex("70F2A84CCBC2AE8625CBB0F2C22AB923")
TRACK = b"6224242900000113=28062013949031013"
PAN = "6224242900000113"
TID, MID = "12345678", "123456789012345"
DEVICE = RAMFlash(512, 96)

# The terminal and application parameters (docs/packets.md), by tag.
TERMINAL = {
    0x01: b"zh",
    0x02: b"\x02",  # receipt copies
    0x03: b"\x00",  # no external PIN pad
    0x04: hash_password("0000", bytes(16)),  # operator
    0x05: hash_password("123456", bytes(16)),  # supervisor
    0x06: b"3DES",
    0x07: b"\x0a",
    0x08: b"\x0a",
    0x09: b"\x1e",
    0x0A: b"\x02",
    0x0B: b"primary",
    0x0C: b"ethernet",
    0x30: b"\x01",
    0x35: b"127.0.0.1",
    0x36: struct.pack(">H", 5000),
    0x39: b"6000030000",
}
APP = {
    0x40: b"CUP",
    0x41: MID.encode(),
    0x42: TID.encode(),
    0x43: b"POSKIT\xb2\xe2\xca\xd4",
    0x44: b"3DES",
    0x45: b"\x01",
    0x46: b"004",
    0x47: b"6031",
    0x48: b"310000",
}


def tlv(values):
    buf = bytearray()
    for tag in sorted(values):
        put_tlv(buf, tag, values[tag])
    return bytes(buf)


class Stop(KeyboardInterrupt):
    """The key script ran out: the terminal stops there, as on Ctrl-C."""


class Display:
    """Records the four lines of every screen shown."""

    def __init__(self):
        self.lines = ["", "", "", ""]
        self.shown = []

    def clear(self):
        self.lines = ["", "", "", ""]

    def text(self, line, text, inverse=False, align=0, clear=True):
        self.lines[line] = text

    def stars(self, line, count, align=1, inverse=False):
        self.lines[line] = "*" * count

    def paragraph(self, first, text, inverse=False):
        # Wrapped at 16 columns (a Chinese character is two), as drivers.lcd does.
        line, start, width = first, 0, 0
        for i in range(len(text)):
            width += 2 if ord(text[i]) > 0x7F else 1
            if width > 16 and line < 3:
                self.lines[line] = text[start:i]
                line, start, width = line + 1, i, 2 if ord(text[i]) > 0x7F else 1
        self.lines[line] = text[start:]
        return line - first + 1

    def show(self):
        self.shown.append(list(self.lines))

    def saw(self, text):
        """Whether any screen shown had `text` in one of its lines."""
        for screen in self.shown:
            for line in screen:
                if text in line:
                    return True
        return False

    def screens_with(self, text):
        return [screen for screen in self.shown if any(text in line for line in screen)]


class Keys(kp.Keypad):
    """The keypad driver's entry logic over a script: key codes (a str is one key per
    character), None (a wait that ran out: nothing pressed), and callables (something that
    happens while the terminal waits: a swipe, paper loaded; each is one wait with no key).
    Every get() takes the next item; at the end, Stop."""

    def __init__(self):
        self.script = []
        self.waits = 0

    def play(self, *items):
        for item in items:
            if isinstance(item, str):
                self.script.extend(ord(c) for c in item)
            else:
                self.script.append(item)

    def get(self, timeout_ms=0):
        self.waits += 1
        if not self.script:
            raise Stop()
        item = self.script.pop(0)
        if callable(item):
            item()
            return None
        return item

    def flush(self):
        pass  # the script is what the cashier types next, not type-ahead


class Reader:
    """A card reader: swipe() queues a card for the next poll, bad() a failed read."""

    def __init__(self):
        self.queue = []

    def swipe(self, track=TRACK):
        self.queue.append(Track2(bytearray(track)))

    def bad(self, reason="LRC mismatch"):
        self.queue.append(reason)

    def poll(self):
        if not self.queue:
            return None
        event = self.queue.pop(0)
        if isinstance(event, str):
            # The error of the driver module the terminal has now: it lets the module go
            # between flows (Terminal.release_card_reader) and imports it again.
            from drivers.cardreader import BadSwipe

            raise BadSwipe(event)
        return event

    def flush(self):
        pass


class PinPad:
    """An external PIN pad holding the TMK in master slot 0: load_key checks the check value
    as the pad does; enter_pin answers with the block of `pin` (or raises `error`)."""

    def __init__(self):
        self.keys = {}
        self.loads = []
        self.entries = []
        self.pin = b"123456"
        self.error = None

    def load_key(self, key, kcv, slot=0, master_slot=0, algorithm="3DES"):
        self.loads.append((slot, master_slot, algorithm))
        clear = bytearray(key)
        cipher.new("3DES", TMK).decrypt_into(clear)
        if cipher.new(algorithm, bytes(clear)).encrypt(bytes(8))[:4] != kcv:
            raise PinPadKeyError("PIN pad refused the key: check value does not match")
        self.keys[slot] = bytes(clear)

    def enter_pin(self, pan, amount, prompt=b"", slot=0, timeout_s=60, abort=None, **limits):
        self.entries.append((pan, bytes(amount), slot))
        if self.error is not None:
            raise self.error
        if slot not in self.keys:
            raise PinPadKeyError("PIN pad has no key in that slot: load keys (sign on)")
        return pinblock.encrypt(cipher.new("3DES", self.keys[slot]), self.pin, pan)


class Link:
    """The Ethernet interface behind the fake host: its link up (drivers.ethernet.UP)."""

    def __init__(self):
        self.state = 2

    def status(self):
        return self.state

    def up(self, config=None):
        if self.state != 2:
            from drivers.ethernet import LinkDown

            raise LinkDown("Ethernet link down: check the cable and the switch port")


class Board:
    """The fake board: display, keys, reader, printer (paper), pinpad, and the flash."""

    DATA_ROOT = ROOT

    def __init__(self, terminal=None, app=None, tmk=True):
        self.screen = Display()
        self.keys = Keys()
        self.reader = Reader()
        self.paper = FakePrinter()
        self.pad = PinPad()
        self.host = FakeHost()
        self.host.link = Link()  # the host is reached over Ethernet
        self.host.config = None
        mount_fresh(DEVICE, MOUNT)
        self.store = RecordStore(ROOT)
        params = ParamStore(self.store)
        values = dict(TERMINAL)
        values.update(terminal or {})
        params.save(0, Params.from_tlv(tlv(values), 0), 1)
        values = dict(APP)
        values.update(app or {})
        params.save(1, Params.from_tlv(tlv(values), 1), 1)
        if tmk:
            KeyStore(self.store, KEY).set_tmk(1, 1, TMK, "3DES")

    # --- the factories a board has -------------------------------------------------------

    def storage_key(self):
        return KEY

    def display(self):
        return self.screen

    def keypad(self):
        return self.keys

    def printer(self):
        return escpos.Printer(self.paper, status_timeout_ms=10)

    def card_reader(self):
        return self.reader

    def pinpad(self):
        return self.pad

    def lan(self):
        return self.host.link  # a Terminal made by app.ui.terminal.run: its Ethernet bearer

    # --- for the tests ------------------------------------------------------------------

    def terminal(self):
        """A Terminal on this board, the fake host its bearer (Ethernet, as the
        parameters say)."""
        from app.ui.terminal import Terminal

        term = Terminal(self)
        term.bearer = self.host
        term.bearer_kind = "ethernet"
        return term

    def swipe(self, track=TRACK):
        """A script item: the card swiped while the terminal waits."""
        return lambda: self.reader.swipe(track)

    def run(self, fn, *args, **kwargs):
        """fn(*args) until the key script runs out (or fn returns); returns its value."""
        try:
            return fn(*args, **kwargs)
        except Stop:
            return None

    def slips(self):
        """The lines the printer printed (bytes, GB18030), the style commands taken out."""
        return printed_lines(bytes(self.paper.printed))

    def printed(self, text):
        """How many printed lines hold `text` (bytes)."""
        count = 0
        for line in self.slips():
            if text in line:
                count += 1
        return count


def printed_lines(data):
    """The lines of ESC/POS `data` as bytes, without the style commands."""
    out = []
    for raw in data.split(b"\n"):
        line = bytearray()
        i = 0
        while i < len(raw):
            c = raw[i]
            if c == 0x1B or c == 0x1D:  # ESC x n, GS x n (ESC @ has no n)
                i += 2 if raw[i + 1 : i + 2] == b"@" else 3
                continue
            if c == 0x1C:  # FS & / FS .
                i += 2
                continue
            line.append(c)
            i += 1
        out.append(bytes(line))
    return out
