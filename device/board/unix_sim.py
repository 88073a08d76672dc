"""The unix simulator board: the virtual terminal on MicroPython's unix port.

Its flash is a LittleFS v2 image in a file (persistent between runs, like the ESP32's flash
partition); its storage key a file kept beside the image, standing in for the ESP32's
eFuse-protected key, so the flash image alone never opens a key. The host side
(hostlib.state) names both files in the environment: POSKIT_FLASH, POSKIT_STORAGE_KEY.
Its peripherals are host-side emulators reached over TCP: `uart(name)` connects to the one
named in POSKIT_UART_<NAME> (hostlib.vterm starts them).
"""

import errno
import io
import os
import socket
import time
import vfs
from micropython import const

_BLOCK_SIZE = const(4096)
_ERASE_PIECE = const(256)
_PROG_SIZE = const(32)  # as board.esp32_ref's (why: there)
# Erased flash reads 0xFF; a block is erased a piece at a time, so the stand-in for the flash
# costs the heap 256 bytes (one piece for every device: the flash and the journal region),
# not a whole 4 KB block the ESP32 never spends.
_ERASED = b"\xff" * _ERASE_PIECE
MOUNT = "/flash"
DATA_ROOT = "/flash/data"


class FileBlockDevice:
    """A block device over an image file, for vfs.VfsLfs2 (extended block protocol)."""

    def __init__(self, path, block_size=_BLOCK_SIZE):
        self._file = open(path, "r+b")
        self._file.seek(0, 2)
        self._count = self._file.tell() // block_size
        self._block_size = block_size
        # Erased flash reads 0xFF; a block is erased a piece at a time, so the stand-in for
        # the flash costs the heap 256 bytes, not a whole 4 KB block the ESP32 never spends.
        self._erased = b"\xff" * _ERASE_PIECE

    def readblocks(self, block, buf, offset=0):
        self._file.seek(block * self._block_size + offset)
        self._file.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        if offset is None:
            # Erase-and-write of whole blocks (littlefs erases through ioctl 6 first).
            offset = 0
        self._file.seek(block * self._block_size + offset)
        self._file.write(buf)
        self._file.flush()

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self._count
        if op == 5:  # block size
            return self._block_size
        if op == 6:  # erase one block: flash reads 0xFF after an erase
            self._file.seek(arg * self._block_size)
            for _ in range(self._block_size // _ERASE_PIECE):
                self._file.write(_ERASED)
            return 0
        return None

    def deinit(self):
        self._file.close()


def mount_flash(path=None):
    """Mount the flash image at /flash. A new image (just created by the host, never
    mounted) is formatted; an existing image that does not mount is an error, never
    silently formatted: that would lose the terminal's journal."""
    path = path or os.getenv("POSKIT_FLASH")
    if not path:
        raise OSError("POSKIT_FLASH does not name the flash image")
    # The stubs type the block device as vfs.AbstractBlockDev, a class the firmware does not
    # have: any object with the block protocol is right, hence the ignores below.
    device = FileBlockDevice(path)
    try:
        fs = vfs.VfsLfs2(device, progsize=_PROG_SIZE)  # pyright: ignore[reportArgumentType]
    except OSError:
        first = bytearray(16)
        device.readblocks(0, first)
        if first != b"\xff" * 16:
            raise OSError("flash image %s is not a LittleFS v2 filesystem" % path)
        vfs.VfsLfs2.mkfs(device, progsize=_PROG_SIZE)  # pyright: ignore[reportArgumentType]
        fs = vfs.VfsLfs2(device, progsize=_PROG_SIZE)  # pyright: ignore[reportArgumentType]
    vfs.mount(fs, MOUNT)
    try:
        os.mkdir(DATA_ROOT)
    except OSError:
        pass  # already there
    return fs


# The journal region (app.store.logregion): 128 blocks, 512 KB, as the ESP32's "journal"
# partition (docs/partitions-poskit.csv).
_JOURNAL_BLOCKS = const(128)


def journal_device(path=None):
    """The journal region's flash: `journal.img` beside the flash image (POSKIT_FLASH),
    made erased (0xFF) when missing, as a new terminal's partition is. A state folder of an
    earlier release gets one at its next start; its journal files move there at their next
    settlement (docs/storage.md)."""
    flash = path or os.getenv("POSKIT_FLASH")
    if not flash:
        raise OSError("POSKIT_FLASH does not name the flash image")
    folder = flash.rpartition("/")[0]
    path = (folder + "/" if folder else "") + "journal.img"
    try:
        os.stat(path)
    except OSError:
        # Made aside and renamed: a region cut short would be a smaller one.
        with open(path + ".tmp", "wb") as f:
            for _ in range(_JOURNAL_BLOCKS * _BLOCK_SIZE // _ERASE_PIECE):
                f.write(_ERASED)
        os.rename(path + ".tmp", path)
    return FileBlockDevice(path)


def storage_key():
    """The 16-byte device storage key, from the file named by POSKIT_STORAGE_KEY."""
    path = os.getenv("POSKIT_STORAGE_KEY")
    if not path:
        raise OSError("POSKIT_STORAGE_KEY does not name the storage key file")
    with open(path, "rb") as f:
        key = f.read()
    if len(key) != 16:
        raise OSError("storage key file must hold 16 bytes")
    return key


# --- emulated buses: the virtual terminal's peripherals are host-side emulators over TCP -------

_POLL = const(3)  # MP_STREAM_POLL
_POLLIN = const(1)
_POLLOUT = const(4)
_EAGAIN = const(11)


class SocketUART(io.IOBase):
    """A machine.UART-alike over a TCP connection to an emulator (hostlib.emulators).

    Reads never block: `any()` says how many bytes are waiting, `read(n)` / `readinto(buf)`
    return what is there (None when nothing is), `readline()` a line or what there is of one.
    `write(buf)` sends everything, within `timeout_ms`. As an io.IOBase with an `ioctl` that
    answers MP_STREAM_POLL, it also works under asyncio.StreamReader/StreamWriter.
    The emulator closing the connection is indistinguishable from a silent UART.
    """

    def __init__(self, host, port, *, timeout_ms=2000, buffer_size=128):
        self._sock = socket.socket()
        self._sock.settimeout(timeout_ms / 1000)
        self._sock.connect(socket.getaddrinfo(host, port)[0][-1])
        self._sock.setblocking(False)
        self._timeout = timeout_ms
        self._buf = bytearray(buffer_size)
        self._mv = memoryview(self._buf)
        self._start = 0
        self._end = 0

    def _pull(self):
        # Move what the socket holds into the buffer (non-blocking).
        if self._start == self._end:
            self._start = self._end = 0
        if self._end == len(self._buf):
            return
        try:
            n = self._sock.readinto(self._mv[self._end :])
        except OSError as exc:
            if exc.args[0] == _EAGAIN:
                return
            raise
        if n:
            self._end += n

    def any(self):
        """Bytes waiting to be read."""
        self._pull()
        return self._end - self._start

    def readinto(self, buf, nbytes=-1):
        """Copy up to len(buf) (or `nbytes`) waiting bytes into `buf`; None if none."""
        self._pull()
        n = self._end - self._start
        if not n:
            return None
        limit = len(buf) if nbytes < 0 else min(nbytes, len(buf))
        if n > limit:
            n = limit
        buf[0:n] = self._mv[self._start : self._start + n]
        self._start += n
        return n

    def read(self, n=-1):
        """Up to `n` waiting bytes (all of them without `n`), or None."""
        self._pull()
        avail = self._end - self._start
        if not avail:
            return None
        if 0 <= n < avail:
            avail = n
        data = bytes(self._mv[self._start : self._start + avail])
        self._start += avail
        return data

    def readline(self):
        """A line (through LF) if one is waiting, else whatever is there, or None."""
        self._pull()
        i = self._start
        while i < self._end and self._buf[i] != 10:
            i += 1
        return self.read(min(i + 1, self._end) - self._start)

    def write(self, buf):
        """Send all of `buf`; OSError(ETIMEDOUT) if the emulator stops reading."""
        view = memoryview(buf)
        sent = 0
        deadline = time.ticks_add(time.ticks_ms(), self._timeout)
        while sent < len(view):
            try:
                n = self._sock.write(view[sent:])
            except OSError as exc:
                if exc.args[0] != _EAGAIN:
                    raise
                n = 0
            if n:
                sent += n
            elif time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(errno.ETIMEDOUT)
            else:
                time.sleep_ms(1)
        return sent

    def ioctl(self, request, arg):
        if request == _POLL:
            # Readable once bytes are buffered: a non-blocking read looks, where a poll object
            # for each link would keep 160 bytes of the heap that an ESP32's UART does not.
            ready = arg & _POLLOUT
            if arg & _POLLIN:
                self._pull()
                if self._end > self._start:
                    ready |= _POLLIN
            return ready
        return -1

    def deinit(self):
        """Close the connection."""
        self._sock.close()

    close = deinit


_made = {}  # emulator links and singletons, made once (as the ESP32 board's buses are)

# Read buffers of the links. An ESP32's UART keeps its receive ring in the IDF's memory, not
# in MicroPython's heap, so what a link holds here is heap the terminal would not spend: each
# holds a little (SocketUART's 128 bytes; the drivers read what `any()` says is there, as from
# a UART, and the socket keeps the rest), and less where the peripheral answers in a few
# bytes: the display answers nothing, the keypad sends 5-byte records, the printer 1-byte
# statuses.
_READ_BUFFER = {"display": 16, "keypad": 64, "printer": 64}


def uart(name, **options):
    """The UART wired to peripheral `name` ("printer", "modem", "gprs", "pinpad",
    "cardreader", "chipreader", "contactless"; "display" and "keypad" carry the emulated SPI
    and key matrix): on the virtual terminal, a SocketUART to the host-side emulator whose
    address the host gives in POSKIT_UART_<NAME> ("127.0.0.1:40123"). Made once; `options` go
    to SocketUART on the first make. OSError if this terminal has no such peripheral (the
    vterm starts the modem and GPRS module only when it is given an acquirer host)."""
    port = _made.get("uart:" + name)
    if port is not None:
        return port
    variable = "POSKIT_UART_" + name.upper()
    address = os.getenv(variable)
    if not address:
        raise OSError("no %s on this terminal (%s is not set)" % (name, variable))
    host, _, port_number = address.rpartition(":")
    if name in _READ_BUFFER:
        options.setdefault("buffer_size", _READ_BUFFER[name])
    port = SocketUART(host, int(port_number), **options)
    _made["uart:" + name] = port
    return port


# --- the devices: the same factories as board.esp32_ref, over the emulated buses ------------


def printer(**options):
    """The ESC/POS printer. Its status answers wait 2 s, not the driver's 500 ms: the
    emulator shares this machine's cores with everything else, and renders a slip it has
    been sent before it reads the status request queued behind it."""
    from drivers.escpos import Printer

    options.setdefault("status_timeout_ms", 2000)
    return Printer(uart("printer"), **options)


def modem(**options):
    """The dial-up modem."""
    from drivers.hayes import Modem

    return Modem(uart("modem"), **options)


def gprs(model=None, **options):
    """The GPRS/LTE module: `model` "sim800" or "sim7600" as board.esp32_ref.gprs, by
    default the one the virtual terminal has fitted (POSKIT_GPRS_MODEL, else "sim800"). Its
    PWRKEY is a FakePin (`gprs_pwrkey()`), active high as on the reference board."""
    model = model or os.getenv("POSKIT_GPRS_MODEL") or "sim800"
    if model == "sim800":
        from drivers.sim800 import Sim800 as Module
    elif model == "sim7600":
        from drivers.sim7600 import Sim7600 as Module
    else:
        raise ValueError("GPRS model must be sim800 or sim7600, not %r" % (model,))
    return Module(uart("gprs"), pwrkey=gprs_pwrkey(), pwrkey_active=1, **options)


def gprs_pwrkey():
    """The GPRS module's PWRKEY line (a FakePin that logs every pulse)."""
    pin = _made.get("pwrkey")
    if pin is None:
        pin = _made["pwrkey"] = FakePin()
    return pin


def pinpad(**options):
    """The external PIN pad."""
    from drivers.pinpad import PinPad

    return PinPad(uart("pinpad"), **options)


def card_reader(**options):
    """The magstripe reader."""
    from drivers.cardreader import CardReader

    return CardReader(uart("cardreader"), **options)


def chip_reader(**options):
    """The contact chip card reader (drivers.tda8029, the TDA8029 emulator)."""
    from drivers.tda8029 import Tda8029

    return Tda8029(uart("chipreader"), **options)


def contactless_reader(**options):
    """The contactless reader (drivers.pn532, the PN532 emulator); wake() it first."""
    from drivers.pn532 import PN532

    return PN532(uart("contactless"), **options)


def lan(**options):
    """Ethernet as an EthernetLink over drivers.ethernet.SimLink: the host's own network
    stands in for the W5500 (sockets work as they are). Made once, like network.LAN."""
    link = _made.get("lan")
    if link is None:
        from drivers.ethernet import EthernetLink, SimLink

        link = _made["lan"] = EthernetLink(SimLink(), **options)
    return link


def display(**options):
    """The ST7567 display driver on the emulated SPI bus (resets and initialises the
    panel); its CS, DC and RST lines travel with the bus (board/simbus.py)."""
    from board.simbus import EmulatedSPI
    from drivers.st7567 import ST7567

    spi = EmulatedSPI(uart("display"))
    return ST7567(spi, cs=spi.cs, dc=spi.dc, rst=spi.rst, **options)


def keypad(**options):
    """The keypad driver on the emulated 4x5 matrix: it drives the 5 columns and senses
    the 4 rows, whose switches the keypad emulator closes."""
    from board.simbus import EmulatedKeyMatrix
    from drivers.keypad import Keypad

    matrix = EmulatedKeyMatrix(uart("keypad"))
    return Keypad(matrix.drive, matrix.sense, **options)


def backlight():
    """The LCD backlight switch (a FakePin, 1 = on)."""
    pin = _made.get("backlight")
    if pin is None:
        pin = _made["backlight"] = FakePin()
    return pin


class FakePin:
    """A machine.Pin-alike output (PWRKEY, printer power) that records every change as
    (time.ticks_ms(), value) in `log`."""

    OUT = 1
    IN = 0

    def __init__(self, value=0):
        self._value = value
        self.log = []

    def value(self, value=None):
        """Read the level, or set it (logging the change)."""
        if value is None:
            return self._value
        value = 1 if value else 0
        self._value = value
        self.log.append((time.ticks_ms(), value))
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def levels(self):
        """The values set so far, in order (the log without times)."""
        return [value for _, value in self.log]
