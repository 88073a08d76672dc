"""NXP SC16IS752 dual UART with I2C interface: two more UARTs and eight GPIOs on the I2C bus.

    bridge = SC16IS752(i2c, 0x48)            # A1 = A0 = VDD; 14.7456 MHz crystal
    bridge.reset()
    pinpad_uart = bridge.channel(0, 9600)    # a UART-like object: write/readinto/read/any
    modem_uart = bridge.channel(1, 9600, flow=True)   # auto RTS/CTS
    pwrkey = bridge.pin(0)                   # a Pin-like output: value()/on()/off()

The reference board has more serial parts than the ESP32 has UARTs with pins to spare (see
docs/board.md): the slow, bursty ones (PIN pad, card reader, printer, dial-up modem) sit on
two of these. Each channel has 64-byte receive and transmit FIFOs, read and written in bursts
(the chip does not advance the register address for RHR/THR, so one I2C transfer moves many
FIFO bytes). Nothing here uses the IRQ line: channels are polled through RXLVL/TXLVL, which is
why a PIN pad answer or a swipe (both under 64 bytes) is never lost while the app is busy, and
why the dial-up modem's channel uses hardware flow control (flow=True: RTS drops at 48 bytes,
rises again at 24).

Register access: the I2C sub-address byte is (register << 3) | (channel << 1). Registers the
driver touches: RHR/THR 0x00, IER 0x01, FCR 0x02, LCR 0x03, MCR 0x04, LSR 0x05, TCR 0x06,
SPR 0x07, TXLVL 0x08, RXLVL 0x09, IODir 0x0A, IOState 0x0B, IOControl 0x0E; DLL/DLH at 0x00/0x01
while LCR bit 7 is set; EFR at 0x02 while LCR = 0xBF.

Quirks:
- The software reset (IOControl bit 3) resets the chip in the middle of the I2C write that
  asks for it, and some parts do not acknowledge that byte: an OSError from that one write is
  ignored, and the scratch-pad register is then written and read back to prove the chip is
  there (OSError naming the address otherwise).
- TCR (flow-control levels) and MCR bit 7 are writable only with EFR bit 4 (enhanced
  functions) set, and TCR is reachable only while MCR bit 2 is set.
"""

import io
import time

try:
    from micropython import const
except ImportError:  # CPython host tests: const() of an int is the int
    const = int


_RHR = const(0x00)  # THR on write; DLL while LCR[7]
_IER = const(0x01)  # DLH while LCR[7]
_FCR = const(0x02)  # IIR on read; EFR while LCR = 0xBF
_LCR = const(0x03)
_MCR = const(0x04)
_LSR = const(0x05)
_TCR = const(0x06)  # MSR; TCR while MCR[2] and EFR[4]
_SPR = const(0x07)  # scratch pad; TLR while MCR[2] and EFR[4]
_TXLVL = const(0x08)
_RXLVL = const(0x09)
_IODIR = const(0x0A)
_IOSTATE = const(0x0B)
_IOCONTROL = const(0x0E)

_LCR_DIVISOR = const(0x80)
_LCR_ENHANCED = const(0xBF)  # the value that opens EFR
_EFR_ENHANCED = const(0x10)
_EFR_AUTO_RTS = const(0x40)
_EFR_AUTO_CTS = const(0x80)
_MCR_TCR_TLR = const(0x04)
_FCR_RESET_FIFOS = const(0x07)  # FIFO enable, reset RX FIFO, reset TX FIFO
_IOCONTROL_RESET = const(0x08)
# TCR: halt at 48 bytes (12 x 4), resume at 24 (6 x 4); halt must be above resume.
_TCR_LEVELS = const(0x6C)

LSR_DATA = const(0x01)
LSR_OVERRUN = const(0x02)
LSR_PARITY = const(0x04)
LSR_FRAMING = const(0x08)
LSR_BREAK = const(0x10)

_POLL = const(3)  # MP_STREAM_POLL
_POLLIN = const(1)
_POLLOUT = const(4)
_ETIMEDOUT = const(110)


class SC16IS752:
    """One SC16IS752 on an I2C bus (machine.I2C or anything with readfrom_mem_into and
    writeto_mem). `xtal` is the crystal (or clock) on XTAL1, in Hz."""

    def __init__(self, i2c, address=0x48, *, xtal=14745600):
        self._i2c = i2c
        self.address = address
        self.xtal = xtal
        self._byte = bytearray(1)
        self._io_dir = 0  # IODir as written (1 = output)
        self._io_state = 0  # IOState as written (output latches)

    # --- registers -----------------------------------------------------------------------

    def read_register(self, channel, register):
        """One register of `channel` (0 = A, 1 = B)."""
        self._i2c.readfrom_mem_into(self.address, (register << 3) | (channel << 1), self._byte)
        return self._byte[0]

    def write_register(self, channel, register, value):
        self._byte[0] = value
        self._i2c.writeto_mem(self.address, (register << 3) | (channel << 1), self._byte)

    def read_fifo(self, channel, buf):
        """Burst-read len(buf) bytes from the receive FIFO (RHR)."""
        self._i2c.readfrom_mem_into(self.address, (_RHR << 3) | (channel << 1), buf)

    def write_fifo(self, channel, buf):
        """Burst-write buf into the transmit FIFO (THR)."""
        self._i2c.writeto_mem(self.address, (_RHR << 3) | (channel << 1), buf)

    # --- chip ----------------------------------------------------------------------------

    def reset(self):
        """Software reset (both channels, GPIOs to inputs), then check the chip answers."""
        try:
            self.write_register(0, _IOCONTROL, _IOCONTROL_RESET)
        except OSError:
            pass  # not acknowledged by some parts: see the module docstring
        time.sleep_ms(1)
        try:
            self.write_register(0, _SPR, 0x5A)
            ok = self.read_register(0, _SPR) == 0x5A
        except OSError:
            ok = False
        if not ok:
            raise OSError("no SC16IS752 answering at I2C address 0x%02X" % self.address)
        self._io_dir = 0
        self._io_state = 0

    def channel(
        self,
        index,
        baudrate=9600,
        *,
        bits=8,
        parity=None,
        stop=1,
        flow=False,
        write_timeout_ms=2000,
    ):
        """Set up channel `index` (0 = A, 1 = B) and return its UART-like Channel.
        `parity` None, 0 (even) or 1 (odd), as machine.UART; `flow` enables automatic
        RTS/CTS flow control."""
        if index not in (0, 1):
            raise ValueError("SC16IS752 channel must be 0 (A) or 1 (B)")
        divisor = (self.xtal + 8 * baudrate) // (16 * baudrate)
        if not 1 <= divisor <= 0xFFFF:
            raise ValueError(
                "baud rate %d out of range for a %d Hz crystal" % (baudrate, self.xtal)
            )
        actual = self.xtal // (16 * divisor)
        if abs(actual - baudrate) * 100 > 2 * baudrate:
            raise ValueError(
                "baud rate %d is %d with a %d Hz crystal (over 2%% off)"
                % (baudrate, actual, self.xtal)
            )
        if bits not in (5, 6, 7, 8) or stop not in (1, 2) or parity not in (None, 0, 1):
            raise ValueError("bits must be 5-8, stop 1 or 2, parity None, 0 or 1")
        lcr = (bits - 5) | (4 if stop == 2 else 0)
        if parity is not None:
            lcr |= 0x08 | (0x10 if parity == 0 else 0)  # parity enable; bit 4: even
        w = self.write_register
        w(index, _LCR, _LCR_ENHANCED)
        efr = _EFR_ENHANCED | (_EFR_AUTO_RTS | _EFR_AUTO_CTS if flow else 0)
        w(index, _FCR, efr)  # EFR while LCR = 0xBF
        w(index, _LCR, _LCR_DIVISOR)
        w(index, _RHR, divisor & 0xFF)  # DLL
        w(index, _IER, divisor >> 8)  # DLH
        w(index, _LCR, lcr)
        if flow:
            w(index, _MCR, _MCR_TCR_TLR)
            w(index, _TCR, _TCR_LEVELS)
            w(index, _MCR, 0)
        w(index, _FCR, _FCR_RESET_FIFOS)
        w(index, _IER, 0)  # polled: no interrupts
        return Channel(self, index, baudrate, write_timeout_ms)

    def pin(self, index, mode=1, value=0):
        """GPIO `index` (0-7) as a Pin-like object; `mode` 1 output (driven to `value`),
        0 input."""
        pin = IOPin(self, index)
        pin.init(mode, value)
        return pin

    def _set_io(self, mask, direction, level):
        if level is not None:
            self._io_state = (self._io_state | mask) if level else (self._io_state & ~mask)
            self.write_register(0, _IOSTATE, self._io_state)
        if direction is not None:
            self._io_dir = (self._io_dir | mask) if direction else (self._io_dir & ~mask)
            self.write_register(0, _IODIR, self._io_dir)


class IOPin:
    """One of the bridge's GPIOs, with machine.Pin's value()/on()/off() (the SIM800 driver's
    PWRKEY, the display's reset and backlight)."""

    IN = 0
    OUT = 1

    def __init__(self, chip, index):
        if not 0 <= index <= 7:
            raise ValueError("SC16IS752 GPIO must be 0-7")
        self._chip = chip
        self._mask = 1 << index

    def init(self, mode=1, value=0):
        # The output latch first, then the direction: the pin never glitches to the wrong level.
        if mode:
            self._chip._set_io(self._mask, None, value)
        self._chip._set_io(self._mask, mode, None)

    def value(self, value=None):
        """The pin level (read from IOState), or set the output latch."""
        if value is None:
            return 1 if self._chip.read_register(0, _IOSTATE) & self._mask else 0
        self._chip._set_io(self._mask, None, value)
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class Channel(io.IOBase):
    """A UART on the bridge with machine.UART's non-blocking reads: `any()`, `readinto(buf
    [, nbytes])` and `read([n])` return what the FIFO holds (None when empty); `write(buf)`
    waits for FIFO room and sends all of it (OSError ETIMEDOUT past `write_timeout_ms`: the far
    end holds CTS or the chip is gone). Works under asyncio streams (ioctl answers POLL)."""

    def __init__(self, chip, index, baudrate, write_timeout_ms):
        self._chip = chip
        self.index = index
        self.baudrate = baudrate
        self._write_timeout = write_timeout_ms

    def any(self):
        """Bytes waiting in the receive FIFO."""
        return self._chip.read_register(self.index, _RXLVL)

    def readinto(self, buf, nbytes=-1):
        """Move up to len(buf) (or `nbytes`) waiting bytes into `buf`; None if none."""
        limit = len(buf) if nbytes < 0 else min(nbytes, len(buf))
        n = min(self.any(), limit)
        if not n:
            return None
        if n == len(buf):
            self._chip.read_fifo(self.index, buf)
        else:
            self._chip.read_fifo(self.index, memoryview(buf)[:n])
        return n

    def read(self, n=-1):
        """Up to `n` waiting bytes (all of them without `n`), or None."""
        avail = self.any()
        if 0 <= n < avail:
            avail = n
        if not avail:
            return None
        buf = bytearray(avail)
        self._chip.read_fifo(self.index, buf)
        return bytes(buf)

    def write(self, buf):
        """Send all of `buf`; returns len(buf)."""
        view = memoryview(buf)
        total = len(view)
        sent = 0
        deadline = time.ticks_add(time.ticks_ms(), self._write_timeout)
        while sent < total:
            room = self._chip.read_register(self.index, _TXLVL)
            if room:
                n = min(room, total - sent)
                self._chip.write_fifo(self.index, view[sent : sent + n])
                sent += n
                deadline = time.ticks_add(time.ticks_ms(), self._write_timeout)
            elif time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                raise OSError(_ETIMEDOUT)
            else:
                # 64 bytes at 9600 bit/s drain in 67 ms; wait a little, not a whole FIFO.
                time.sleep_ms(2)
        return total

    def line_status(self):
        """LSR: LSR_OVERRUN, LSR_PARITY, LSR_FRAMING, LSR_BREAK (diagnostics)."""
        return self._chip.read_register(self.index, _LSR)

    def ioctl(self, request, arg):
        if request == _POLL:
            ready = arg & _POLLOUT
            if arg & _POLLIN and self.any():
                ready |= _POLLIN
            return ready
        return -1

    def deinit(self):
        """Nothing to release: the channel stays configured."""
