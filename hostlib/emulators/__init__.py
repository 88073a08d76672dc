"""Host-side emulators of the terminal's peripherals, at the byte-protocol level.

Each emulator listens on 127.0.0.1 (an ephemeral port unless given one), accepts the virtual
terminal's connection (device code using `board.unix_sim.SocketUART` in place of a UART) and
answers the real protocol: Hayes AT for the dial-up modem, SIM800 and SIM7600 AT for the
GPRS/LTE module, ESC/POS for the printer, poskit's framed protocol for the PIN pad, track 2
swipes for the card reader, ALPAR for the contact chip reader (TDA8029), the PN532's
frames for the contactless reader, the ST7567/SSD1306 command set for the display, and the key
matrix's switches for the keypad (board/simbus.py carries those two). Faults are injected
from the test or the vterm script by calling methods on the emulator. The same real drivers
run against them as against the hardware.
"""

from hostlib.emulators.base import Emulator
from hostlib.emulators.cardreader import CardReaderEmulator
from hostlib.emulators.display import DisplayEmulator, Picture
from hostlib.emulators.keypad import KeypadEmulator
from hostlib.emulators.modem import ModemEmulator
from hostlib.emulators.pinpad import PinPadEmulator
from hostlib.emulators.pn532 import Pn532Emulator
from hostlib.emulators.printer import Line, PrinterEmulator, Receipt
from hostlib.emulators.sim800 import Sim800Emulator
from hostlib.emulators.sim7600 import Sim7600Emulator
from hostlib.emulators.tda8029 import Tda8029Emulator

# The GPRS modules a terminal may have fitted: the emulator of each, by the name the board's
# gprs(model) factory takes.
GPRS_MODELS = {"sim800": Sim800Emulator, "sim7600": Sim7600Emulator}

__all__ = [
    "GPRS_MODELS",
    "CardReaderEmulator",
    "DisplayEmulator",
    "Emulator",
    "KeypadEmulator",
    "Line",
    "Picture",
    "ModemEmulator",
    "PinPadEmulator",
    "Pn532Emulator",
    "PrinterEmulator",
    "Receipt",
    "Sim800Emulator",
    "Sim7600Emulator",
    "Tda8029Emulator",
]
