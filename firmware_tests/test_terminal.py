"""hostlib.terminal's messages on CPython: what goes into the frames, byte for byte as
docs/link.md gives them, answers gathered from their parts, the terminal's refusals as
readable errors; and the `poskit` commands' --port options refusing what cannot be."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hostlib.terminal import Terminal, TerminalError

POSKIT = str(Path(sys.executable).with_name("poskit"))


class FakeLink:
    """A ConsoleLink stand-in: the payloads sent, and answers to hand back."""

    def __init__(self, answers=()):
        self.sent: list[bytes] = []
        self.answers = list(answers)
        self.retransmissions = 0

    def send(self, payload: bytes) -> None:
        self.sent.append(bytes(payload))

    def receive(self, timeout: float):
        return self.answers.pop(0) if self.answers else None


def answer_parts(number: int, answer: dict, size: int = 1020) -> list[bytes]:
    data = json.dumps(answer).encode()
    count = max(1, -(-len(data) // size))
    return [
        bytes((0x41, number, i, count)) + data[i * size : (i + 1) * size] for i in range(count)
    ]


def terminal(answers) -> Terminal:
    term = Terminal(stream=None, name="the terminal")
    term.link = FakeLink(answers)  # type: ignore[assignment]
    return term


def test_a_request_is_laid_out_as_docs_link_md_shows_it():
    term = terminal(answer_parts(1, {"ok": True, "serial": None, "applications": []}))
    assert term.identify()["serial"] is None
    doc = (Path(__file__).resolve().parents[1] / "docs" / "link.md").read_text()
    example = doc.split("Example: `identify` as message 1, one part:")[1].split("```")[1]
    hexes = "".join(example.splitlines()[1].split())
    assert term.link.sent == [bytes.fromhex(hexes)]  # type: ignore[attr-defined]


def test_a_long_request_goes_in_parts_and_a_long_answer_is_gathered():
    packet = bytes(range(256)) * 10  # 2,560 bytes: three parts with the JSON
    long_answer = {"ok": True, "kind": "keys", "app": 0, "version": 0, "notes": "x" * 2500}
    term = terminal(answer_parts(0, {"ok": True}) + answer_parts(1, long_answer))
    term.request({"cmd": "load"}, packet)  # an answer to an older request is passed over
    sent = term.link.sent  # type: ignore[attr-defined]
    assert [p[:4] for p in sent] == [bytes((0x51, 1, i, 3)) for i in range(3)]
    assert max(len(p) for p in sent) == 1024
    body = b"".join(p[4:] for p in sent)
    assert body == b"\x00\x0f" + b'{"cmd": "load"}' + packet


def test_a_refusal_is_one_readable_line_with_its_reason():
    refusal = {"ok": False, "reason": "crc", "error": "CRC does not match"}
    term = terminal(answer_parts(1, refusal))
    with pytest.raises(TerminalError) as caught:
        term.request({"cmd": "load"}, b"x")
    assert str(caught.value) == "the terminal refused: CRC does not match"
    assert caught.value.reason == "crc" and caught.value.detail == "CRC does not match"
    with pytest.raises(TerminalError, match="did not answer within 0 s"):
        terminal([]).request({"cmd": "identify"}, timeout=0.05)


def test_a_read_back_that_does_not_match_the_packet_is_an_error():
    packet = bytearray(100)
    packet[5], packet[6] = 1, 1  # parameters of application 1
    packet[23:27] = (3).to_bytes(4, "big")
    back = {"ok": True, "kind": "parameters", "app": 1, "version": 2}
    with pytest.raises(TerminalError, match="reads back parameters v2 of application 1"):
        terminal(answer_parts(1, back)).load(bytes(packet))
    back["version"] = 3
    assert terminal(answer_parts(1, back)).load(bytes(packet))["version"] == 3
    with pytest.raises(TerminalError, match="packet of 9000 bytes"):
        terminal([]).load(bytes(9000))


def poskit(*args: str):
    return subprocess.run([POSKIT, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "args, words",
    [
        (("load", "--port", "/dev/poskit-none", "x.bin"), "no packet file x.bin"),
        (("wipe", "--port", "/dev/poskit-none"), "no serial port /dev/poskit-none"),
        (("provision", "--serial", "PK-1", "--state", "a", "--port", "b"), "not allowed with"),
        (("txn", "--state", "s", "sale", "--amount", "1", "--reader"), "--reader is for"),
        (("txn", "--port", "/dev/poskit-none", "init"), "init sets up a virtual terminal"),
    ],
)
def test_port_options_refuse_what_cannot_be(args, words):
    out = poskit(*args)
    assert out.returncode in (1, 2) and words in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
