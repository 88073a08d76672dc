# The SC16IS752 dual UART driver on MicroPython against a register-level fake: the register
# sequence that sets a channel up, FIFO bursts in and out, TXLVL-paced writes, GPIOs, the reset
# quirk, and the PIN pad and card reader drivers running over a bridge channel.
from fakes_io import ACK, FakeBridge, frame
from mptest import expect_error

from drivers.cardreader import CardReader
from drivers.pinpad import PinPad
from drivers.sc16is752 import SC16IS752


def chip(**options):
    bus = FakeBridge()
    c = SC16IS752(bus, 0x48, **options)
    c.reset()
    return c, bus


def test_reset_writes_ioctrl_and_probes_the_scratch_pad():
    c, bus = chip()
    assert bus.writes() == [("IOCONTROL", 0x08), ("SPR", 0x5A)]


def test_reset_tolerates_the_unacknowledged_reset_write():
    bus = FakeBridge()
    bus.nack_reset = True
    SC16IS752(bus, 0x48).reset()
    assert ("SPR", 0x5A) in bus.writes()


def test_no_chip_at_the_address():
    bus = FakeBridge()
    bus.absent = True
    expect_error(OSError, ["0x49"], SC16IS752(bus, 0x49).reset)


def test_channel_setup_registers_9600_8n1():
    c, bus = chip()
    bus.log.clear()
    c.channel(1, 9600)
    assert bus.writes(1) == [
        ("LCR", 0xBF),
        ("EFR", 0x10),  # enhanced functions, no flow control
        ("LCR", 0x80),
        ("DLL", 96),  # 14 745 600 / (16 x 9600)
        ("DLH", 0),
        ("LCR", 0x03),  # 8 data bits, 1 stop, no parity
        ("FCR", 0x07),  # FIFOs on and cleared
        ("IER", 0x00),
    ]
    assert bus.dll[1] == 96 and bus.efr[1] == 0x10
    assert bus.writes(0) == []  # channel A untouched


def test_channel_with_flow_control_and_parity():
    c, bus = chip()
    bus.log.clear()
    c.channel(0, 115200, flow=True, parity=0, bits=7, stop=2)
    writes = bus.writes(0)
    assert ("EFR", 0xD0) in writes  # auto CTS + auto RTS + enhanced
    assert ("DLL", 8) in writes
    assert ("LCR", 0x02 | 0x04 | 0x08 | 0x10) in writes  # 7 bits, 2 stop, parity even
    assert writes[writes.index(("MCR", 0x04)) + 1] == ("TCR", 0x6C)  # halt 48, resume 24
    assert bus.tcr[0] == 0x6C


def test_impossible_baud_rates():
    c, _ = chip()
    expect_error(ValueError, ["out of range"], c.channel, 0, 2000000)
    expect_error(ValueError, ["2%"], c.channel, 0, 700000)  # divisor 1 gives 921600
    expect_error(ValueError, ["channel"], c.channel, 2, 9600)


def test_reads_come_in_bursts_from_rhr():
    c, bus = chip()
    uart = c.channel(0, 9600)
    assert uart.any() == 0
    assert uart.readinto(bytearray(4)) is None
    bus.feed(0, b"hello world")
    assert uart.any() == 11
    buf = bytearray(5)
    before = bus.transfers
    assert uart.readinto(buf) == 5 and buf == b"hello"
    assert bus.transfers - before == 2  # RXLVL, then one burst of 5
    assert uart.readinto(bytearray(8), 2) == 2
    assert uart.read() == b"orld"
    assert uart.read() is None


def test_writes_are_paced_by_txlvl():
    c, bus = chip()
    uart = c.channel(1, 9600)
    bus.tx_room = 64
    data = bytes(range(100))
    refills = []

    # The transmitter drains while the driver waits: refill the room on each TXLVL read.
    real = bus.readfrom_mem_into

    def reading(addr, memaddr, buf):
        if memaddr == (0x08 << 3) | (1 << 1) and bus.tx_room == 0:
            bus.tx_room = 64
            refills.append(1)
        real(addr, memaddr, buf)

    bus.readfrom_mem_into = reading
    assert uart.write(data) == 100
    assert bus.sent[1] == data
    assert [len(x[2]) for x in bus.log if x[1] == "THR"] == [64, 36]
    assert refills == [1]


def test_write_times_out_when_the_fifo_never_drains():
    c, bus = chip()
    uart = c.channel(0, 9600, write_timeout_ms=20)
    bus.tx_room = 0
    expect_error(OSError, [], uart.write, b"x")


def test_gpio_outputs_and_inputs():
    c, bus = chip()
    pwrkey = c.pin(0)  # output, low
    reset = c.pin(2, 1, 1)  # output, high
    assert bus.io_dir == 0b101 and bus.io_state == 0b100
    pwrkey.on()
    assert bus.io_state == 0b101
    pwrkey.value(0)
    assert bus.io_state == 0b100
    assert reset.value() == 1
    sense = c.pin(5, 0)
    bus.io_input = 1 << 5
    assert sense.value() == 1
    assert bus.io_dir == 0b101  # still an input
    # Latch before direction: a pin never drives the wrong level for a moment.
    assert bus.writes()[2:] == [
        ("IOSTATE", 0b000),
        ("IODIR", 0b001),  # pin 0 out, low
        ("IOSTATE", 0b100),
        ("IODIR", 0b101),  # pin 2 out, high
        ("IOSTATE", 0b101),
        ("IOSTATE", 0b100),
        ("IODIR", 0b101),  # pin 5 in: direction only
    ]


def test_pinpad_over_a_bridge_channel():
    c, bus = chip()
    uart = c.channel(0, 9600)
    pad = PinPad(uart, ack_timeout_ms=30, answer_timeout_ms=100, sequence=0)
    # The pad answers as soon as the request is in the transmit FIFO.
    request = frame(1, 0x49)
    real = bus.writeto_mem

    def writing(addr, memaddr, buf):
        real(addr, memaddr, buf)
        if bytes(bus.sent[0]) == request:
            bus.feed(0, ACK + frame(1, 0x49, b"\x00PP7"))

    bus.writeto_mem = writing
    assert pad.serial_number() == "PP7"
    assert bytes(bus.sent[0]) == request + ACK


def test_card_reader_over_a_bridge_channel():
    c, bus = chip()
    reader = CardReader(c.channel(1, 9600))
    track = b";6224242900000113=28062013949031013?"
    x = 0
    for ch in track:
        x ^= ch & 0x0F
    bus.feed(1, track + bytes([0x30 | x]) + b"\r")
    assert reader.read(200).pan == "6224242900000113"
