# The terminal application's own time on MicroPython, for `make bench`: from ENTER on the
# sale's amount to the request's bytes on the wire, the check screen's ENTER and the PIN keys
# answered at once (the cashier's time left out: what remains is the terminal's), beside the
# engine alone (Engine.run, from the call to the bytes). Prints one JSON object per row:
#   {"name", "us" (best of the runs)}
#   ui_amount_to_wire   ENTER on the amount -> the 0200 at the host: the check screen, the PIN
#                       screen (keypad, 6 digits), the request, the indicator, on the real
#                       ST7567 driver (to a null SPI bus) and keypad driver
#   engine_to_wire      Engine.run(Request("sale", ...)) -> the 0200 at the host
# The host is firmware_tests/mpy/fakehost.FakeHost in the same process (its own work before
# the frame arrives is only unpacking it). Run by tools/bench.py (no heap cap).
import gc
import sys
import time

_HERE = __file__.rpartition("/")[0]
sys.path.append((_HERE + "/" if _HERE else "") + "../mpy")

from fakeboard import TRACK, Board, Keys  # noqa: E402

from app.txn.engine import Card, Request  # noqa: E402
from app.ui import cashier  # noqa: E402
from board.simbus import EmulatedSPI  # noqa: E402
from drivers import keypad as kp  # noqa: E402
from drivers.st7567 import ST7567  # noqa: E402

RUNS = 5


class Sink:
    # An SPI bus that takes the bytes (the display's time on the wire is the clock's).
    def write(self, buf):
        return len(buf)


class Marked(Keys):
    """Keys that note when the marked one is taken (`mark`: a key code)."""

    def __init__(self):
        super().__init__()
        self.mark = None
        self.taken = 0

    def get(self, timeout_ms=0):
        code = super().get(timeout_ms)
        if code is not None and code == self.mark:
            self.mark = None
            self.taken = time.ticks_us()
        return code


def board():
    b = Board()
    b.keys = Marked()
    spi = EmulatedSPI(Sink())
    b.screen = ST7567(spi, cs=spi.cs, dc=spi.dc, rst=spi.rst)
    return b


def main():
    b = board()
    term = b.terminal()
    assert term.run(1, Request("sign_on")).approved
    arrived = []
    b.host.on_request = lambda mti, fields: arrived.append(time.ticks_us())
    best_ui = best_engine = None
    for _ in range(RUNS):
        # the amount's ENTER is marked: the clock starts when the terminal takes it
        b.keys.play("100")
        b.keys.play(kp.ENTER, kp.ENTER, "123456", kp.ENTER, None, kp.ENTER)
        b.keys.mark = kp.ENTER
        arrived.clear()
        gc.collect()
        b.run(cashier.sale, term, Card(track2=TRACK.decode()))
        us = time.ticks_diff(arrived[0], b.keys.taken)
        best_ui = us if best_ui is None or us < best_ui else best_ui
        engine = term.engine(1)
        arrived.clear()
        gc.collect()
        start = time.ticks_us()
        request = Request("sale", amount=100, card=Card(track2=TRACK.decode()))
        request.pin = bytearray(b"123456")
        assert engine.run(request).approved
        us = time.ticks_diff(arrived[0], start)
        best_engine = us if best_engine is None or us < best_engine else best_engine
    print('{"name": "ui_amount_to_wire", "us": %d}' % best_ui)
    print('{"name": "engine_to_wire", "us": %d}' % best_engine)


main()
