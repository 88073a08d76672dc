"""The console link's framing, host half (hostlib.consolelink) on CPython, and the two halves
talking: the device's app.comm.consolelink on MicroPython over TCP (the unix board's
SocketUART), through a line that loses, doubles and damages bytes."""

import random
import socket
import time

import pytest

from hostlib import consolelink, micropython
from hostlib.consolelink import ACK, DATA, NAK, RESET, ConsoleLink, LinkError, frame

# docs/link.md, "Examples".
EXAMPLES = {
    "DATA 1 hello": (frame(DATA, 1, b"hello"), "50 4c 01 01 00 05 68 65 6c 6c 6f ec 91 5f 13"),
    "ACK 1": (frame(ACK, 1), "50 4c 06 01 00 00 04 e6 29 f7"),
    "RESET 0": (frame(RESET, 0), "50 4c 02 00 00 00 8a 46 d4 97"),
    "NAK 255": (frame(NAK, 255), "50 4c 15 ff 00 00 f9 10 8f 5c"),
}


class Line:
    """A pyserial-like stream over a connected socket (read returns b"" after 5 ms), that
    damages what passes in either direction: each write, and each piece read, has a chance
    to lose a byte, to have a stretch of it doubled, or to have a bit flipped."""

    def __init__(self, sock, rng, rate):
        self._sock = sock
        self._sock.settimeout(0.005)
        self._rng = rng
        self._rate = rate
        self.faults = 0

    def _damage(self, data):
        data = bytearray(data)
        if data and self._rng.random() < self._rate:
            self.faults += 1
            at = self._rng.randrange(len(data))
            fault = self._rng.randrange(3)
            if fault == 0:
                del data[at]
            elif fault == 1:
                data[at:at] = data[at : at + self._rng.randrange(1, 12)]
            else:
                data[at] ^= 1 << self._rng.randrange(8)
        return bytes(data)

    def write(self, data):
        self._sock.sendall(self._damage(data))
        return len(data)

    def read(self, size):
        try:
            data = self._sock.recv(size)
        except TimeoutError:
            return b""
        if not data:
            raise ConnectionError("the terminal closed the link")
        return self._damage(data)


class Silent:
    """A port with nothing on the other end."""

    def __init__(self):
        self.written = bytearray()

    def write(self, data):
        self.written += data
        return len(data)

    def read(self, size):
        time.sleep(0.001)
        return b""


def test_frames_are_laid_out_byte_for_byte_as_documented():
    for name, (data, documented) in EXAMPLES.items():
        assert data.hex(" ") == documented, name
    doc = (micropython.ROOT / "docs" / "link.md").read_text()
    for _, documented in EXAMPLES.values():
        assert documented in doc  # the page shows the same bytes


def test_a_terminal_that_does_not_answer_is_a_clear_error_in_bounded_time():
    port = Silent()
    link = ConsoleLink(port, ack_timeout=0.05, tries=3)
    started = time.monotonic()
    with pytest.raises(LinkError, match="did not acknowledge after 3 tries"):
        link.send(b"hello")
    assert time.monotonic() - started < 1
    assert bytes(port.written) == frame(DATA, 0, b"hello") * 3


def test_a_packet_too_long_is_refused_before_anything_is_sent():
    port = Silent()
    with pytest.raises(LinkError, match="2000 bytes, the link carries 1024"):
        ConsoleLink(port).send(b"x" * 2000)
    assert port.written == b""


def _device_code(port):
    # The device side: echo every packet reversed, until "bye".
    return (
        "from board.unix_sim import SocketUART\n"
        "from app.comm.consolelink import ConsoleLink\n"
        "uart = SocketUART('127.0.0.1', %d, buffer_size=256)\n"
        "link = ConsoleLink(uart, ack_timeout_ms=200, frame_timeout_ms=50, tries=20)\n"
        "link.start()\n"
        "while True:\n"
        "    payload = link.receive(20000)\n"
        "    if payload is None or bytes(payload) == b'bye':\n"
        "        break\n"
        "    link.send(bytes(reversed(bytes(payload))))\n"
        "done = payload is not None\n"
        "while link.receive(1000) is not None:  # a copy of 'bye' (its ACK lost) is ACKed\n"
        "    pass\n"
        "print('retransmissions', link.retransmissions)\n"
        "print('done' if done else 'timeout')\n" % port
    )


@pytest.mark.parametrize("rate", [0.0, 0.25])
def test_host_and_terminal_exchange_packets_whole_over_a_bad_line(rate):
    rng = random.Random(7)
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(30)
        proc = micropython.popen(_device_code(server.getsockname()[1]))
        try:
            sock, _ = server.accept()
            with sock:
                line = Line(sock, rng, rate)
                link = ConsoleLink(line, ack_timeout=0.3, frame_timeout=0.05, tries=20)
                link.start()
                for number in range(40):
                    payload = rng.randbytes(rng.choice((0, 1, 17, 300, 1024)))
                    link.send(payload)
                    assert link.receive(10) == payload[::-1], number  # whole, once, in order
                link.send(b"bye")
                out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert out.split("\n")[-2] == "done"
    if rate:
        assert line.faults > 10  # the line really was bad: both sides sent frames again
        assert link.retransmissions > 0
        assert int(out.split("\n")[0].split()[1]) > 0


def test_host_codec_takes_its_own_frames_whatever_the_pieces():
    class Pieces(Silent):
        def __init__(self, data):
            super().__init__()
            self._data = bytearray(data)

        def read(self, size):
            piece = bytes(self._data[: min(size, 3)])
            del self._data[: len(piece)]
            return piece

    port = Pieces(b"\x00noise" + frame(DATA, 4, b"abc")[:7] + frame(DATA, 4, b"abc") * 2)
    link = ConsoleLink(port, frame_timeout=0.01)
    assert link.receive(1) == b"abc"
    assert link.receive(0.1) is None  # the copy is acknowledged, not handed over
    assert bytes(port.written).count(frame(ACK, 4)) == 2
    assert consolelink.MAX_PAYLOAD == 1024
