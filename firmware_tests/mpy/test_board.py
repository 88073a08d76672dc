# The ESP32 reference board file on MicroPython: the pin map obeys the ESP32-WROOM-32E's rules
# (flash pins, input-only pins, strapping pins, no pin twice), and every factory builds the
# right buses from it, run here against stand-ins for machine and network.
# mpy-heap: 300K
# (the unix port compiles every driver from source here; the terminal loads them as .mpy)
import sys

from fakes_io import FakeBridge, FakeNic
from mptest import expect_error


class _Bus:
    # Records how it was built: (positional args, keyword args).
    made = []

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs
        _Bus.made.append((type(self).__name__, args, kwargs))


class _Pin(_Bus):
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7

    def number(self):
        return self.args[0]


class _UART(_Bus):
    pass


class _SPI(_Bus):
    pass


class _I2C(_Bus):
    # Three SC16IS752s on one bus, at 0x48, 0x49 and 0x4A.
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.chips = {a: FakeBridge(a) for a in (0x48, 0x49, 0x4A)}

    def writeto_mem(self, addr, memaddr, buf):
        self._chip(addr).writeto_mem(addr, memaddr, buf)

    def readfrom_mem_into(self, addr, memaddr, buf):
        self._chip(addr).readfrom_mem_into(addr, memaddr, buf)

    def _chip(self, addr):
        if addr not in self.chips:
            raise OSError(19)
        return self.chips[addr]


class _Machine:
    Pin = _Pin
    UART = _UART
    SPI = _SPI
    I2C = _I2C


class _Network:
    PHY_W5500 = 102
    lan_kwargs = None

    @staticmethod
    def LAN(**kwargs):
        _Network.lan_kwargs = kwargs
        return FakeNic()


sys.modules["machine"] = _Machine
sys.modules["network"] = _Network

from board import esp32_ref as board  # noqa: E402  (after the stand-ins are in place)


def fresh():
    board._made.clear()
    _Bus.made.clear()


def test_no_gpio_used_twice_and_none_of_the_flash_pins():
    used = [row[0] for row in board.PIN_MAP]
    assert len(used) == len(set(used)), sorted(used)
    for gpio in used:
        assert gpio not in board.RESERVED, gpio
        assert 0 <= gpio <= 39 and gpio not in (20, 24, 28, 29, 30, 31, 37, 38), gpio


def test_input_only_pins_are_inputs():
    for gpio, part, signal, direction in board.PIN_MAP:
        if gpio in board.INPUT_ONLY:
            assert direction == "in", (gpio, part, signal)


def test_strapping_pins_only_where_their_reset_level_is_harmless():
    used = {row[0]: row for row in board.PIN_MAP}
    assert 0 not in used and 12 not in used  # BOOT button; MTDI selects the flash voltage
    assert used[2][3] == "od"  # keypad column: released (high-Z) at reset, GPIO2 stays low
    assert used[5][2] == "cs" and used[15][2] == "cs"  # pulled up at reset = deselected


def test_console_is_uart0_on_its_own_pins():
    assert board.gpio("console", "txd") == 1 and board.gpio("console", "rxd") == 3


def test_bridge_ports_and_ios_are_unique():
    ports = [(b, c) for _, b, c, _, _ in board.BRIDGE_PORTS]
    assert len(ports) == len(set(ports))
    ios = [(b, n) for _, b, n, _ in board.BRIDGE_IO]
    assert len(ios) == len(set(ios))
    addresses = [a for _, a in board.I2C_ADDRESSES]
    assert len(addresses) == len(set(addresses))


def test_uart_factories():
    fresh()
    gprs = board.uart("gprs")
    assert gprs.args == (2, 115200)
    assert gprs.kwargs["tx"] == 17 and gprs.kwargs["rx"] == 16 and gprs.kwargs["rxbuf"] == 2048
    assert board.uart("gprs") is gprs  # made once
    pad = board.uart("pinpad")
    assert (pad.index, pad.baudrate) == (0, 9600) and pad._chip.address == 0x48
    modem = board.uart("modem")
    assert (modem.index, modem._chip.address) == (1, 0x49)
    bus = board.i2c()
    assert bus.args == (0,) and bus.kwargs["freq"] == 400000
    assert bus.kwargs["scl"].number() == 22 and bus.kwargs["sda"].number() == 21
    assert bus.chips[0x49].efr[1] == 0xD0  # the modem's channel has RTS/CTS
    assert bus.chips[0x48].dll[0] == 96


def test_driver_factories():
    fresh()
    assert type(board.pinpad()).__name__ == "PinPad"
    assert type(board.card_reader()).__name__ == "CardReader"
    assert type(board.printer()).__name__ == "Printer"
    modem = board.modem()
    assert modem._init == board.MODEM_INIT
    gprs = board.gprs()
    chip = board.i2c().chips[0x48]
    assert chip.io_dir & 1 and not chip.io_state & 1  # PWRKEY released (NPN off)
    assert gprs._pwrkey_active == 1
    assert type(gprs).__name__ == "Sim800"
    lte = board.gprs(model="sim7600")
    assert type(lte).__name__ == "Sim7600" and lte._pwrkey_active == 1
    expect_error(ValueError, ("sim800 or sim7600", "sim900"), board.gprs, model="sim900")


def test_chip_card_readers_on_the_third_bridge():
    fresh()
    assert type(board.chip_reader()).__name__ == "Tda8029"
    contact = board.uart("chipreader")
    assert (contact.index, contact.baudrate, contact._chip.address) == (0, 38400, 0x4A)
    assert type(board.contactless_reader()).__name__ == "PN532"
    nfc = board.uart("contactless")
    assert (nfc.index, nfc.baudrate, nfc._chip.address) == (1, 115200, 0x4A)
    chip = board.i2c().chips[0x4A]
    assert chip.dll[0] == 24 and chip.dll[1] == 8  # 14.7456 MHz / 16 / divisor, exact


def test_lan_factory():
    fresh()
    link = board.lan()
    kwargs = _Network.lan_kwargs
    assert kwargs["phy_type"] == 102 and kwargs["phy_addr"] == 0
    assert kwargs["cs"].number() == 5 and kwargs["int"].number() == 35
    spi = kwargs["spi"]
    assert spi.args == (2,)  # VSPI
    assert [spi.kwargs[k].number() for k in ("sck", "mosi", "miso")] == [18, 23, 19]
    assert board.lan() is link
    assert link.up()[0] == "10.0.0.7"


def test_keypad_and_display():
    fresh()
    rows, cols = board.keypad_pins()
    assert [p.number() for p in rows] == [34, 36, 39, 33]
    assert [p.number() for p in cols] == [2, 25, 26, 27, 32]
    assert all(p.args[1] == _Pin.IN for p in rows)
    assert all(p.args[1] == _Pin.OPEN_DRAIN and p.kwargs["value"] == 1 for p in cols)
    spi, cs, dc, reset = board.display_bus()
    assert spi.args == (1,) and spi.kwargs["miso"] is None
    assert (spi.kwargs["sck"].number(), spi.kwargs["mosi"].number()) == (14, 13)
    assert (cs.number(), dc.number()) == (15, 4)
    chip = board.i2c().chips[0x48]
    assert chip.io_dir & 0b100 and chip.io_state & 0b100  # LCD reset released (high)
    board.backlight().on()
    assert chip.io_state & 0b010
    assert board.display_i2c()[1] == 0x3C and board.keypad_i2c()[1] == 0x34


def test_display_and_keypad_drivers():
    fresh()
    spi_writes = []
    _SPI.write = lambda self, data: spi_writes.append(bytes(data))
    _Pin.value = lambda self, value=None: 1 if value is None else None
    assert type(board.display()).__name__ == "ST7567"
    assert spi_writes  # the panel was initialised over HSPI
    assert type(board.keypad()).__name__ == "Keypad"
