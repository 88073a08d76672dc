# Test doubles for the PIN pad, card reader, Ethernet and SC16IS752 tests, on MicroPython:
# PIN pad frames built independently of the driver, a network.LAN-alike that records what it
# is told, and an SC16IS752 at the register level behind a fake I2C bus.

STX = 0x02
ETX = 0x03
ACK = b"\x06"
NAK = b"\x15"


def crc16(data):
    # CRC-16/CCITT-FALSE written out bit by bit from its definition (not the driver's code).
    crc = 0xFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = (crc >> 15) & 1
            crc = (crc << 1) & 0xFFFF
            if top ^ ((byte >> bit) & 1):
                crc ^= 0x1021
    return crc


def frame(seq, cmd, data=b""):
    """STX LEN SEQ CMD DATA ETX CRC16 (big-endian CRC over LEN..ETX)."""
    body = bytes([len(data) + 2, seq, cmd]) + bytes(data) + bytes([ETX])
    crc = crc16(body)
    return bytes([STX]) + body + bytes([crc >> 8, crc & 0xFF])


def field(data):
    return bytes([len(data)]) + bytes(data)


class FakeNic:
    """A network.LAN-alike: `statuses` is a list of ETH_* codes status() returns in turn (the
    last one repeats); ifconfig() returns `address` once status() has reported ETH_GOT_IP, or
    a static config once set. `calls` records what the driver did; `dhcp_running` makes
    ifconfig("dhcp") raise OSError as the ESP32 port may when the DHCP client already runs."""

    def __init__(
        self, statuses=(5,), address=("10.0.0.7", "255.255.255.0", "10.0.0.1", "10.0.0.1")
    ):
        self.statuses = list(statuses)
        self.address = address
        self.calls = []
        self.is_active = False
        self.static = None
        self.got_ip = False
        self.dhcp_running = False

    def active(self, value=None):
        if value is None:
            return self.is_active
        self.calls.append(("active", bool(value)))
        self.is_active = bool(value)
        return None

    def status(self):
        status = self.statuses[0]
        if len(self.statuses) > 1:
            self.statuses.pop(0)
        if status == 5:
            self.got_ip = True
        return status

    def ifconfig(self, config=None):
        if config is None:
            if self.static is not None:
                return self.static
            if self.got_ip:
                return self.address
            return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")
        self.calls.append(("ifconfig", config))
        if config == "dhcp":
            self.static = None
            if self.dhcp_running:
                raise OSError(-1)
            self.dhcp_running = True
        else:
            self.static = config
            self.dhcp_running = False
        return None

    def config(self, name):
        assert name == "mac"
        return b"\x24\x0a\xc4\x12\x34\x56"


class FakeBridge:
    """One SC16IS752 behind a fake I2C bus, at the register level.

    It decodes the sub-address ((register << 3) | (channel << 1)), follows the register banks
    that depend on LCR (DLL/DLH with LCR bit 7, EFR with LCR = 0xBF) and MCR bit 2 (TCR),
    keeps per-channel receive FIFOs (`feed(channel, data)`) and the bytes each channel
    transmitted (`sent[channel]`; the transmitter drains at once unless `tx_room` is set),
    and IODir/IOState. `log` holds every register write as (channel, name, value), FIFO
    bursts as (channel, "THR", bytes). `nack_reset` makes the reset write fail as some parts
    do; `absent` makes every transfer fail (nothing at the address)."""

    NAMES = (
        "RHR",
        "IER",
        "FCR",
        "LCR",
        "MCR",
        "LSR",
        "MSR",
        "SPR",
        "TXLVL",
        "RXLVL",
        "IODIR",
        "IOSTATE",
        "IOINTENA",
        "RES",
        "IOCONTROL",
        "EFCR",
    )

    def __init__(self, address=0x48):
        self.address = address
        self.log = []
        self.sent = [bytearray(), bytearray()]
        self.rx = [bytearray(), bytearray()]
        self.regs = [bytearray(16), bytearray(16)]
        self.dll = [0, 0]
        self.dlh = [0, 0]
        self.efr = [0, 0]
        self.tcr = [0, 0]
        self.io_dir = 0
        self.io_state = 0
        self.io_input = 0  # levels on input pins
        self.tx_room = None  # None: the FIFO always has 64 bytes of room
        self.nack_reset = False
        self.absent = False
        self.transfers = 0

    def feed(self, channel, data):
        self.rx[channel].extend(data)

    def _decode(self, addr, memaddr):
        if self.absent or addr != self.address:
            raise OSError(19)  # ENODEV: no acknowledge
        self.transfers += 1
        return (memaddr >> 3) & 0x0F, (memaddr >> 1) & 0x03

    def _name(self, channel, reg):
        lcr = self.regs[channel][3]
        if lcr == 0xBF and reg == 2:
            return "EFR"
        if lcr & 0x80 and lcr != 0xBF and reg in (0, 1):
            return "DLL" if reg == 0 else "DLH"
        if reg == 6 and self.regs[channel][4] & 0x04 and self.efr[channel] & 0x10:
            return "TCR"
        return self.NAMES[reg]

    def writeto_mem(self, addr, memaddr, buf):
        reg, channel = self._decode(addr, memaddr)
        name = self._name(channel, reg)
        data = bytes(buf)
        if name == "RHR":  # THR: a burst into the transmit FIFO
            self.log.append((channel, "THR", data))
            self.sent[channel].extend(data)
            if self.tx_room is not None:
                self.tx_room -= len(data)
                assert self.tx_room >= 0, "wrote past the transmit FIFO's room"
            return
        assert len(data) == 1, "register %s written with %d bytes" % (name, len(data))
        value = data[0]
        self.log.append((channel, name, value))
        if name == "IOCONTROL" and value & 0x08:
            if self.nack_reset:
                raise OSError(19)
            self._reset_regs()
            return
        if name == "DLL":
            self.dll[channel] = value
        elif name == "DLH":
            self.dlh[channel] = value
        elif name == "EFR":
            self.efr[channel] = value
        elif name == "TCR":
            self.tcr[channel] = value
        elif name == "IODIR":
            self.io_dir = value
        elif name == "IOSTATE":
            self.io_state = value
        else:
            self.regs[channel][reg] = value

    def _reset_regs(self):
        self.regs = [bytearray(16), bytearray(16)]
        self.efr = [0, 0]
        self.io_dir = 0
        self.io_state = 0
        self.rx = [bytearray(), bytearray()]

    def readfrom_mem_into(self, addr, memaddr, buf):
        reg, channel = self._decode(addr, memaddr)
        name = self._name(channel, reg)
        if name == "RHR":
            n = len(buf)
            assert n <= len(self.rx[channel]), "read past the receive FIFO level"
            buf[0:n] = self.rx[channel][:n]
            self.rx[channel] = self.rx[channel][n:]
            return
        assert len(buf) == 1
        if name == "RXLVL":
            value = min(64, len(self.rx[channel]))
        elif name == "TXLVL":
            value = 64 if self.tx_room is None else self.tx_room
        elif name == "LSR":
            value = 0x60 | (1 if self.rx[channel] else 0)
        elif name == "IOSTATE":
            value = (self.io_state & self.io_dir) | (self.io_input & ~self.io_dir & 0xFF)
        elif name == "IODIR":
            value = self.io_dir
        else:
            value = self.regs[channel][reg]
        buf[0] = value

    def writes(self, channel=None):
        """The register writes (not FIFO bursts) as (name, value), of one channel or all."""
        return [
            (name, value)
            for ch, name, value in self.log
            if name != "THR" and (channel is None or ch == channel)
        ]
