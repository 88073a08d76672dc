# The console link's framing on MicroPython (app.comm.consolelink): the bytes of docs/link.md,
# acknowledgements, retransmission on silence and NAK, and a packet handed over whole or not
# at all whatever the line does to it. The far end is a FakeUART following a script.
import gc

from fakes import FakeUART
from mptest import expect_error, objects

from app.comm.consolelink import ConsoleLink, LinkError
from app.crypto import crc32

# docs/link.md, "Examples": DATA sequence 1 "hello", and its ACK.
HELLO = bytes.fromhex("504c0101000568656c6c6fec915f13")
ACK_1 = bytes.fromhex("504c0601000004e629f7")
RESET_0 = bytes.fromhex("504c020000008a46d497")
ACK_0 = bytes.fromhex("504c06000000052443c0")


class _Line(FakeUART):
    # A far end that takes whatever is written (recorded in `written`) and answers nothing.
    def write(self, buf):
        self.written.extend(buf)
        return len(buf)


def _link(script=None, chunk=None, **options):
    uart = _Line(chunk=chunk) if script is None else FakeUART(script, chunk=chunk)
    options.setdefault("ack_timeout_ms", 30)
    options.setdefault("frame_timeout_ms", 10)
    return uart, ConsoleLink(uart, **options)


def _frame(kind, sequence, payload):
    # A frame as docs/link.md lays it out (the CRC from the device's own CRC-32).
    frame = bytearray(b"PL" + bytes((kind, sequence, len(payload) >> 8, len(payload) & 255)))
    frame.extend(payload)
    crc = bytearray(4)
    crc32.start(crc, frame)
    return bytes(frame + crc)


def test_frames_are_laid_out_as_documented():
    assert _frame(1, 1, b"hello") == HELLO
    assert _frame(6, 1, b"") == ACK_1


def test_send_writes_the_documented_frame_and_returns_on_its_ack():
    uart, link = _link([(RESET_0, ACK_0), (HELLO, ACK_1)])
    link.start()
    link.send(b"hello")
    assert uart.done() and link.retransmissions == 0


def test_silence_is_answered_by_sending_again_then_a_clear_error():
    uart, link = _link([(RESET_0, None), (RESET_0, None), (RESET_0, ACK_0)])
    link.start()  # two sendings unanswered, the third acknowledged
    assert uart.done() and link.retransmissions == 2
    uart, link = _link([(RESET_0, ACK_0)] + [(HELLO, None)] * 3, tries=3)
    link.start()
    expect_error(LinkError, ["no acknowledgement after 3 tries"], link.send, b"hello")
    assert uart.done()


def test_nak_sends_again_at_once_and_an_ack_for_another_frame_is_not_taken():
    nak = bytes.fromhex("504c150000004788bbb1")
    script = [(RESET_0, ACK_0), (HELLO, ACK_0 + nak), (HELLO, ACK_1)]
    uart, link = _link(script, ack_timeout_ms=5000)
    link.start()
    link.send(b"hello")  # long before the 5 s timeout: the NAK made it send again
    assert uart.done() and link.retransmissions == 1


def test_receive_hands_over_one_whole_payload_and_acknowledges_it():
    uart, link = _link()
    uart.feed(HELLO)
    assert bytes(link.receive(100)) == b"hello"
    assert bytes(uart.written) == ACK_1
    assert link.receive(20) is None  # nothing more: None within the timeout


def test_a_packet_sent_twice_is_acknowledged_twice_and_handed_over_once():
    uart, link = _link()
    uart.feed(HELLO + HELLO)  # our ACK was lost, so it came again
    assert bytes(link.receive(100)) == b"hello"
    assert link.receive(50) is None
    assert bytes(uart.written) == ACK_1 + ACK_1


def test_a_damaged_frame_is_refused_with_a_nak_and_its_good_copy_taken():
    uart, link = _link()
    for position in (2, 3, 5, 8, len(HELLO) - 1):  # type, sequence, length, payload, CRC
        damaged = bytearray(HELLO)
        damaged[position] ^= 0x10
        uart.feed(damaged)
        assert link.receive(50) is None, position  # nothing handed over
    assert bytes(uart.written).count(b"PL\x15") >= 4  # each damaged frame NAKed
    uart.written = bytearray()
    uart.feed(HELLO)
    assert bytes(link.receive(100)) == b"hello"
    assert bytes(uart.written).endswith(ACK_1)


def test_lost_and_stray_bytes_are_skipped_to_the_next_whole_frame():
    uart, link = _link()
    uart.feed(b"\x00PLnoise" + HELLO[:9])  # noise, then a frame that stops half-way
    assert link.receive(50) is None
    uart.feed(b"P" + HELLO)  # and the whole frame again
    assert bytes(link.receive(100)) == b"hello"
    uart, link = _link(chunk=3)  # a slow line: the frame in 3-byte pieces
    uart.feed(HELLO)
    assert bytes(link.receive(200)) == b"hello"


def test_a_packet_longer_than_the_link_carries_is_refused_before_sending():
    uart, link = _link(max_payload=16)
    expect_error(LinkError, ["17 bytes", "carries 16"], link.send, b"x" * 17)
    assert uart.written == b""


def test_a_packet_arriving_while_sending_is_kept_for_receive():
    reply = bytes.fromhex("504c0101000568656c6c6fec915f13")  # the other side's DATA 1
    uart, link = _link([(RESET_0, reply + ACK_0), (ACK_1, None)])
    link.start()
    assert bytes(link.receive(10)) == b"hello"
    assert uart.done()


def test_receiving_many_packets_keeps_no_memory():
    uart, link = _link()
    uart.feed(HELLO)
    link.receive(100)
    frames = [_frame(1, sequence, b"hello") for sequence in range(2, 12)]
    gc.collect()
    before = gc.mem_alloc()
    for frame in frames:
        uart.feed(frame)
        assert bytes(link.receive(100)) == b"hello"
    gc.collect()
    assert gc.mem_alloc() - before < objects(512), gc.mem_alloc() - before
