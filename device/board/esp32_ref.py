"""The reference board: ESP32-WROOM-32E (4 MB flash, no PSRAM) and the parts of DESIGN §1.

This file is the only place pin numbers live (docs/board.md has the same map as a table, with
the reasons). The map is data (PIN_MAP, BRIDGE_PORTS, BRIDGE_IO, I2C_ADDRESSES); the factory
functions below build machine.UART / SPI / I2C / Pin objects from it and hand them to the
drivers. machine, network and the drivers are imported inside the factories, so this module
imports anywhere (the ROMFS build check imports every module on the unix port) but builds
hardware only on the ESP32.

Allocation in short (why: docs/board.md):
- UART0 (GPIO1/3): the USB console (REPL, mpremote, the host link). Never reassigned.
- UART2 (GPIO17/16): the GPRS module at 115200: bursts of up to 1460 bytes need the native
  UART and its large receive ring buffer.
- UART1: not used. Pins, not UART peripherals, run out first: the 4x5 keypad takes 9 GPIOs.
- Two SC16IS752 I2C dual UARTs: PIN pad, card reader, printer, and the dial-up modem (with
  RTS/CTS so a busy app never loses its data); their GPIOs drive GPRS PWRKEY, LCD reset and
  backlight. A third one carries the chip card readers: the TDA8029 contact reader (ALPAR,
  38400 bit/s) and the PN532 contactless reader (HSU, 115200 bit/s); no native UART has pins
  left for them.
- VSPI (18/19/23, CS 5, INT 35): the W5500, owned by the ESP-IDF Ethernet driver, which runs
  SPI transactions from its own task; the ST7567 therefore has HSPI (14/13, CS 15, DC 4) to
  itself, so a display write can never be clocked into the W5500 or the other way round.
- I2C0 (21/22, 400 kHz): the two bridges; the SSD1306 and TCA8418 variants also go here.
- Untouched: flash pins 6-11; GPIO12 (MTDI strap: high at reset selects 1.8 V flash); GPIO0
  (BOOT button).

Storage (docs/board.md, "Flash and the storage key"), the same calls as board.unix_sim:

    board.mount_flash()     # LittleFS on the "poskit" partition at /flash; data in DATA_ROOT
    board.storage_key()     # the 16-byte device storage key, from encrypted NVS

A blank data partition is formatted on first boot; one that holds anything else and does
not mount raises FlashError and is left as it is (its journal may still be read out). The
storage key is a random value made on first boot and kept in NVS, which the lockdown
encrypts (NVS encryption, its keys in a flash-encrypted partition): the classic ESP32 has no
HMAC peripheral, and an eFuse block read-protected from software is readable by no one but
the flash-encryption and secure-boot hardware.
"""

from micropython import const

# --- the pin map: (gpio, part, signal, direction) ---------------------------------------------
# direction: "in", "out", "od" (open drain output), "io" (I2C). GPIO34-39 are input-only and
# have no internal pull resistors: rows on them have 10 kOhm pull-ups on the board.
PIN_MAP = (
    (1, "console", "txd", "out"),
    (3, "console", "rxd", "in"),
    (17, "gprs", "txd", "out"),
    (16, "gprs", "rxd", "in"),
    (18, "lan", "sck", "out"),
    (23, "lan", "mosi", "out"),
    (19, "lan", "miso", "in"),
    (5, "lan", "cs", "out"),  # strap (SDIO timing): pulled up at reset = deselected
    (35, "lan", "int", "in"),
    (14, "display", "sck", "out"),
    (13, "display", "mosi", "out"),
    (15, "display", "cs", "out"),  # strap MTDO: pulled up at reset = deselected
    (4, "display", "dc", "out"),
    (21, "i2c", "sda", "io"),
    (22, "i2c", "scl", "io"),
    (34, "keypad", "row0", "in"),
    (36, "keypad", "row1", "in"),
    (39, "keypad", "row2", "in"),
    (33, "keypad", "row3", "in"),
    (2, "keypad", "col0", "od"),  # strap: must be low for download mode; idle high-Z
    (25, "keypad", "col1", "od"),
    (26, "keypad", "col2", "od"),
    (27, "keypad", "col3", "od"),
    (32, "keypad", "col4", "od"),
)

# Pins the map must never use: the SPI flash (6-11) and the MTDI strap (12).
RESERVED = (6, 7, 8, 9, 10, 11, 12)
INPUT_ONLY = (34, 35, 36, 37, 38, 39)
STRAPPING = (0, 2, 5, 12, 15)

I2C_ID = 0
I2C_FREQ = 400000
# 7-bit addresses. SC16IS752: A1 = VDD, A0 = VDD -> 0x48; A1 = VDD, A0 = GND -> 0x49.
I2C_ADDRESSES = (
    ("bridge0", 0x48),
    ("bridge1", 0x49),
    ("bridge2", 0x4A),  # A1 = VDD, A0 = SCL: the chip card readers
    ("tca8418", 0x34),  # keypad controller variant (not fitted with the GPIO matrix)
    ("ssd1306", 0x3C),  # OLED display variant (not fitted with the ST7567)
)
BRIDGE_XTAL = 14745600  # Hz: 9600 bit/s is divisor 96 exactly

# Serial parts on the bridges: (part, bridge, channel, baud rate, RTS/CTS flow control).
BRIDGE_PORTS = (
    ("pinpad", 0, 0, 9600, False),
    ("cardreader", 0, 1, 9600, False),
    ("printer", 1, 0, 9600, False),
    ("modem", 1, 1, 9600, True),
    # The readers' own default rates. Neither has flow control: a TDA8029 answer (up to 263
    # bytes) fills the 64-byte FIFO in 17 ms, a PN532 frame (up to 262) in 5.6 ms, while the
    # driver reads the FIFO in a loop for as long as an answer is due: 64 bytes cost 1.7 ms
    # of I2C at 400 kHz. docs/board.md, "Bridges" (the bring-up check).
    ("chipreader", 2, 0, 38400, False),
    ("contactless", 2, 1, 115200, False),
)
# Bridge GPIOs: (signal, bridge, gpio, idle level).
BRIDGE_IO = (
    ("gprs_pwrkey", 0, 0, 0),  # through an NPN: 1 presses PWRKEY (pwrkey_active=1)
    ("lcd_backlight", 0, 1, 0),  # through an NPN: 1 lights it
    ("lcd_reset", 0, 2, 1),  # ST7567 RSTB, active low
)

GPRS_UART = 2
GPRS_BAUD = 115200
GPRS_RXBUF = 2048  # the ESP-IDF ring buffer (system heap, not the MicroPython heap)
LAN_SPI = 2  # VSPI
DISPLAY_SPI = 1  # HSPI
DISPLAY_BAUD = 10000000  # ST7567: 50 ns minimum clock period
# Hayes init for the modem on the bridge: &K3 = RTS/CTS flow control (the bridge does it).
MODEM_INIT = (b"ATZ", b"ATE0V1", b"AT&K3")


def gpio(part, signal):
    """The GPIO number of `signal` of `part` in PIN_MAP (ValueError if not wired)."""
    for row in PIN_MAP:
        if row[1] == part and row[2] == signal:
            return row[0]
    raise ValueError("no %s %s on this board" % (part, signal))


def i2c_address(name):
    for row in I2C_ADDRESSES:
        if row[0] == name:
            return row[1]
    raise ValueError("no I2C device %s on this board" % name)


# --- factories: build on the ESP32 only -------------------------------------------------------

_made = {}  # shared buses and singletons, made once


def i2c():
    """The shared I2C bus (bridges, and the SSD1306 / TCA8418 variants)."""
    bus = _made.get("i2c")
    if bus is None:
        from machine import I2C, Pin

        bus = I2C(
            I2C_ID,
            scl=Pin(gpio("i2c", "scl")),
            sda=Pin(gpio("i2c", "sda")),
            freq=I2C_FREQ,
        )
        _made["i2c"] = bus
    return bus


def bridge(index):
    """SC16IS752 number `index` (0, 1 or 2), reset and checked on first use."""
    key = "bridge%d" % index
    chip = _made.get(key)
    if chip is None:
        from drivers.sc16is752 import SC16IS752

        chip = SC16IS752(i2c(), i2c_address(key), xtal=BRIDGE_XTAL)
        chip.reset()
        _made[key] = chip
    return chip


def bridge_pin(signal):
    """A bridge GPIO named in BRIDGE_IO, as an output at its idle level."""
    for name, index, number, idle in BRIDGE_IO:
        if name == signal:
            return bridge(index).pin(number, 1, idle)
    raise ValueError("no %s on this board" % signal)


def uart(name, **options):
    """The UART-like bus of serial part `name`: "gprs" (UART2), or a bridge channel for
    "pinpad", "cardreader", "printer", "modem", "chipreader", "contactless". Made once;
    `options` go to the first make."""
    port = _made.get("uart:" + name)
    if port is not None:
        return port
    if name == "gprs":
        from machine import UART

        port = UART(
            GPRS_UART,
            GPRS_BAUD,
            tx=gpio("gprs", "txd"),
            rx=gpio("gprs", "rxd"),
            rxbuf=GPRS_RXBUF,
            timeout=0,
            **options,
        )
    else:
        for part, index, channel, baud, flow in BRIDGE_PORTS:
            if part == name:
                port = bridge(index).channel(channel, baud, flow=flow, **options)
                break
        else:
            raise ValueError("no serial part %s on this board" % name)
    _made["uart:" + name] = port
    return port


def printer(**options):
    """The ESC/POS printer (bridge 1, channel A)."""
    from drivers.escpos import Printer

    return Printer(uart("printer"), **options)


def modem(**options):
    """The dial-up modem (bridge 1, channel B, RTS/CTS)."""
    from drivers.hayes import Modem

    options.setdefault("init", MODEM_INIT)
    return Modem(uart("modem"), **options)


def gprs(model="sim800", **options):
    """The GPRS/LTE module on UART2, PWRKEY through bridge 0 GPIO 0: `model` "sim800"
    (SIM800-class, drivers.sim800) or "sim7600" (SIM7600-class LTE, drivers.sim7600); both
    drivers have the same API. Only the chosen driver is imported."""
    if model == "sim800":
        from drivers.sim800 import Sim800 as Module
    elif model == "sim7600":
        from drivers.sim7600 import Sim7600 as Module
    else:
        raise ValueError("GPRS model must be sim800 or sim7600, not %r" % (model,))
    return Module(uart("gprs"), pwrkey=bridge_pin("gprs_pwrkey"), pwrkey_active=1, **options)


def pinpad(**options):
    """The external PIN pad (bridge 0, channel A)."""
    from drivers.pinpad import PinPad

    return PinPad(uart("pinpad"), **options)


def card_reader(**options):
    """The magstripe reader (bridge 0, channel B)."""
    from drivers.cardreader import CardReader

    return CardReader(uart("cardreader"), **options)


def chip_reader(**options):
    """The contact chip card reader, a TDA8029 (bridge 2, channel A). Imported only when a
    card is inserted: the idle screen does not hold it."""
    from drivers.tda8029 import Tda8029

    return Tda8029(uart("chipreader"), **options)


def contactless_reader(**options):
    """The contactless reader, a PN532 on its HSU (bridge 2, channel B); wake() it first."""
    from drivers.pn532 import PN532

    return PN532(uart("contactless"), **options)


def lan(**options):
    """The W5500 Ethernet interface as an EthernetLink (made once: network.LAN is a
    singleton that outlives a soft reset)."""
    link = _made.get("lan")
    if link is None:
        import network
        from machine import SPI, Pin

        from drivers.ethernet import EthernetLink

        spi = SPI(
            LAN_SPI,
            sck=Pin(gpio("lan", "sck")),
            mosi=Pin(gpio("lan", "mosi")),
            miso=Pin(gpio("lan", "miso")),
        )
        # The ESP32 port's keywords for an SPI PHY. They go in as a dict because the 1.29
        # stubs declare network.LAN twice and the second, bare declaration hides the ESP32
        # constructor from the type checker.
        settings = {
            "spi": spi,
            "cs": Pin(gpio("lan", "cs")),
            "int": Pin(gpio("lan", "int")),
            "phy_type": network.PHY_W5500,
            "phy_addr": 0,
        }
        nic = network.LAN(**settings)
        link = EthernetLink(nic, **options)
        _made["lan"] = link
    return link


def keypad_pins():
    """(rows, cols) for the 4x5 matrix: rows are inputs with the board's pull-ups, cols
    open-drain outputs released (high-Z); the scanner pulls one column low at a time."""
    from machine import Pin

    rows = tuple(Pin(gpio("keypad", "row%d" % i), Pin.IN) for i in range(4))
    cols = tuple(Pin(gpio("keypad", "col%d" % i), Pin.OPEN_DRAIN, value=1) for i in range(5))
    return rows, cols


def display_bus():
    """(spi, cs, dc, reset) for the ST7567 on HSPI; reset is a bridge GPIO (active low)."""
    from machine import SPI, Pin

    spi = SPI(
        DISPLAY_SPI,
        baudrate=DISPLAY_BAUD,
        sck=Pin(gpio("display", "sck")),
        mosi=Pin(gpio("display", "mosi")),
        miso=None,  # write-only controller; None keeps SPI1's default MISO (GPIO12) free
    )
    cs = Pin(gpio("display", "cs"), Pin.OUT, value=1)
    dc = Pin(gpio("display", "dc"), Pin.OUT, value=0)
    return spi, cs, dc, bridge_pin("lcd_reset")


def display(**options):
    """The ST7567 display driver on display_bus() (resets and initialises the panel)."""
    from drivers.st7567 import ST7567

    spi, cs, dc, reset = display_bus()
    return ST7567(spi, cs=cs, dc=dc, rst=reset, **options)


def keypad(**options):
    """The keypad driver: it drives the 5 columns and senses the 4 rows."""
    from drivers.keypad import Keypad

    rows, cols = keypad_pins()
    return Keypad(cols, rows, **options)


def display_i2c():
    """(i2c, address) for the SSD1306 variant."""
    return i2c(), i2c_address("ssd1306")


def keypad_i2c():
    """(i2c, address) for the TCA8418 variant."""
    return i2c(), i2c_address("tca8418")


def backlight():
    """The LCD backlight switch (bridge 0 GPIO 1, 1 = on)."""
    return bridge_pin("lcd_backlight")


# --- storage: the data partition and the storage key (docs/board.md) ------------------------

MOUNT = "/flash"
DATA_ROOT = "/flash/data"
# The LittleFS partition's label in docs/partitions-poskit.csv. Not MicroPython's "vfs": the
# stock _boot.py mounts a "vfs" partition at / and formats it when it does not mount, which a
# terminal must never do to its journal. Nothing else touches a "poskit" partition.
DATA_PARTITION = "poskit"
# LittleFS reads and programs 32 bytes at a time (MicroPython's default; a multiple of the
# 16 bytes flash encryption writes), and its caches are four of those: the filesystem keeps
# 2 x 128 bytes of the heap and each open file 128 (with 256, 2 KB and 1 KB a file, which a
# whole day in 64 KB cannot spare). LittleFS does not record it: a partition formatted with
# another size mounts alike. board.unix_sim mounts with the same.
_PROG_SIZE = const(32)
_BLANK_BLOCKS = const(2)  # LittleFS keeps its superblock pair in blocks 0 and 1
_PIECE = const(256)  # the blank check reads this much at a time, not a 4 KB block
KEY_NAMESPACE = "poskit"
KEY_NAME = "storage_key"
_KEY_SIZE = const(16)
# ESP-IDF errors as esp32.NVS raises them: OSError(-code, name).
_NVS_NOT_FOUND = const(-0x1102)  # ESP_ERR_NVS_NOT_FOUND
_NVS_INVALID_LENGTH = const(-0x110C)  # ESP_ERR_NVS_INVALID_LENGTH: longer than the buffer


class FlashError(OSError):
    """The terminal's data partition is missing, or holds something that is not a LittleFS
    filesystem. Nothing was formatted: the terminal stays out of service until a service
    engineer has read the partition out or erased it."""


class StorageKeyError(OSError):
    """The storage key in NVS is not a 16-byte value (never replaced: keys sealed under it
    would be lost)."""


def data_partition():
    """The esp32.Partition labelled DATA_PARTITION (FlashError if the table has none)."""
    from esp32 import Partition

    found = Partition.find(Partition.TYPE_DATA, label=DATA_PARTITION)
    if not found:
        raise FlashError("no %s data partition in the partition table" % DATA_PARTITION)
    return found[0]


# The journal region's partition (app.store.logregion; docs/partitions-poskit.csv). Not
# flash-encrypted: the region finds the end of its records by erased flash reading 0xFF,
# which an encrypted partition's decrypted view does not; its card numbers are sealed under
# the storage key already (app.store.journal).
JOURNAL_PARTITION = "journal"


def journal_device():
    """The esp32.Partition labelled JOURNAL_PARTITION, or None on a terminal whose partition
    table has none: its journals stay LittleFS files in DATA_ROOT."""
    from esp32 import Partition

    found = Partition.find(Partition.TYPE_DATA, label=JOURNAL_PARTITION)
    return found[0] if found else None


def _blank(partition):
    # True when LittleFS's two superblocks read as erased flash. On a flash-encrypted terminal
    # the first boot encrypts the erased partition in place, so its decrypted view (what
    # readblocks returns) still reads 0xFF until LittleFS writes there.
    piece = bytearray(_PIECE)
    for block in range(_BLANK_BLOCKS):
        for offset in range(0, partition.ioctl(5, 0), _PIECE):
            partition.readblocks(block, piece, offset)
            for byte in piece:
                if byte != 0xFF:
                    return False
    return True


def mount_flash():
    """Mount the data partition's LittleFS at /flash (DATA_ROOT inside it) and return it.

    A blank partition (a new or erased terminal) is formatted first. One that does not mount
    and is not blank raises FlashError and is never formatted: that would lose the terminal's
    journal, its keys and its pending reversal without anyone knowing."""
    import os
    import vfs

    partition = data_partition()
    try:
        fs = vfs.VfsLfs2(partition, progsize=_PROG_SIZE)
    except OSError:
        if not _blank(partition):
            raise FlashError("%s partition is not a LittleFS filesystem" % DATA_PARTITION)
        vfs.VfsLfs2.mkfs(partition, progsize=_PROG_SIZE)
        fs = vfs.VfsLfs2(partition, progsize=_PROG_SIZE)
    vfs.mount(fs, MOUNT)
    try:
        os.mkdir(DATA_ROOT)
    except OSError:
        pass  # already there
    return fs


def storage_key():
    """The 16-byte device storage key (bytes), as board.unix_sim.storage_key().

    Kept in NVS (namespace KEY_NAMESPACE, blob KEY_NAME). The first call on a terminal whose
    NVS has none makes one from the hardware random number generator and stores it. An NVS
    that cannot be read raises OSError, a value of another length StorageKeyError: the
    terminal then starts out of service rather than seal keys under a new storage key."""
    from esp32 import NVS

    nvs = NVS(KEY_NAMESPACE)
    key = bytearray(_KEY_SIZE)
    try:
        length = nvs.get_blob(KEY_NAME, key)
    except OSError as exc:
        if exc.args[0] == _NVS_INVALID_LENGTH:
            raise StorageKeyError("storage key in NVS is longer than 16 bytes")
        if exc.args[0] != _NVS_NOT_FOUND:
            raise
        return _new_storage_key(nvs)
    if length != _KEY_SIZE:
        raise StorageKeyError("storage key in NVS is %d bytes, not 16" % length)
    return bytes(key)


def _new_storage_key(nvs):
    # The ESP32's random number generator is a true one only while its radio (or the
    # bootloader's ADC entropy source) is on: the Wi-Fi station is switched on, unconnected,
    # for the moment the key is drawn. The key is read back before it is used.
    import network
    import os

    station = network.WLAN(network.STA_IF)
    was_active = station.active()
    station.active(True)
    try:
        key = os.urandom(_KEY_SIZE)
    finally:
        station.active(was_active)
    nvs.set_blob(KEY_NAME, key)
    nvs.commit()
    stored = bytearray(_KEY_SIZE)
    if nvs.get_blob(KEY_NAME, stored) != _KEY_SIZE or stored != key:
        raise StorageKeyError("storage key did not read back from NVS")
    return key
