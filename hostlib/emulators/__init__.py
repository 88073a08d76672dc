"""Host-side emulators of the terminal's peripherals, at the byte-protocol level.

Each emulator listens on 127.0.0.1 (an ephemeral port unless given one), accepts the virtual
terminal's connection (device code using `board.unix_sim.SocketUART` in place of a UART) and
answers the real protocol: Hayes AT for the dial-up modem, SIM800 AT for the GPRS module,
ESC/POS for the printer. Faults are injected from the test or the vterm script by calling
methods on the emulator. The same real drivers run against them as against the hardware.
"""

from hostlib.emulators.base import Emulator
from hostlib.emulators.modem import ModemEmulator
from hostlib.emulators.printer import Line, PrinterEmulator, Receipt
from hostlib.emulators.sim800 import Sim800Emulator

__all__ = [
    "Emulator",
    "Line",
    "ModemEmulator",
    "PrinterEmulator",
    "Receipt",
    "Sim800Emulator",
]
