# The PIN pad driver on MicroPython against a scripted UART: every frame on the wire byte for
# byte, ACK/NAK and retransmission, garbled answers, the pad's statuses as named errors,
# cancel from the terminal, and the driver's own deadline.
from fakes import FakeUART
from fakes_io import ACK, NAK, crc16, field, frame
from mptest import expect_error

from drivers import pinpad
from drivers.pinpad import (
    PinPad,
    PinPadCancelled,
    PinPadError,
    PinPadKeyError,
    PinPadTimeout,
)

PAN = b"6224242900000113"
BLOCK = bytes.fromhex("34A9CB2C1BA2AB3A")  # any 8 bytes: the driver only passes them on


def pad(script, **options):
    uart = FakeUART(script)
    options.setdefault("ack_timeout_ms", 30)
    options.setdefault("frame_timeout_ms", 50)
    options.setdefault("answer_timeout_ms", 100)
    options.setdefault("sequence", 0)
    return PinPad(uart, **options), uart


def pin_request(seq=1, slot=1, amount=b"RMB 0.01", prompt=b"ENTER PIN", timeout_s=60):
    data = bytes([slot, 4, 12, timeout_s]) + field(amount) + field(prompt) + field(PAN)
    return frame(seq, 0x50, data)


def answer(seq, cmd, status, data=b""):
    return frame(seq, cmd, bytes([status]) + data)


def test_crc_is_ccitt_false():
    assert pinpad.crc16(b"123456789") == 0x29B1  # the catalogued check value
    for data in (b"", b"\x00", b"\x02\x03\x01\x49\x03", bytes(range(256))):
        assert pinpad.crc16(data) == crc16(data)


def test_serial_number_bytes_on_the_wire():
    request = frame(1, 0x49)
    assert request == b"\x02\x02\x01\x49\x03\xd9\xaf"  # docs/pinpad.md, example 1
    p, uart = pad([(request, ACK + answer(1, 0x49, 0, b"PP20240001")), (ACK, None)])
    assert p.serial_number() == "PP20240001"
    assert uart.written == request + ACK
    assert uart.done()


def test_serial_number_that_is_not_text():
    # Bytes that are not printable ASCII in the serial number: a PinPadError naming them,
    # not a UnicodeError out of bytes.decode.
    for serial in (b"PP\xff2024", b"PP\x002024", b"\xe4\xb8\xad"):
        request = frame(1, 0x49)
        p, uart = pad([(request, ACK + answer(1, 0x49, 0, serial)), (ACK, None)])
        expect_error(PinPadError, ["serial number", "not printable"], p.serial_number)


def test_pin_entry_sends_pan_and_lines_and_returns_the_block():
    request = pin_request()
    p, uart = pad([(request, ACK + answer(1, 0x50, 0, BLOCK)), (ACK, None)])
    block = p.enter_pin(PAN, b"RMB 0.01", prompt="ENTER PIN", slot=1)
    assert block == BLOCK
    assert uart.written == request + ACK
    assert uart.done()


def test_first_sequence_number_is_random_by_default():
    seen = set()
    for _ in range(8):
        p, uart = pad([], sequence=None)
        seen.add(p._seq)
    assert len(seen) > 1


def test_sequence_numbers_advance_per_command():
    p, uart = pad(
        [
            (frame(1, 0x49), ACK + answer(1, 0x49, 0, b"A1")),
            (ACK, None),
            (frame(2, 0x43), ACK + answer(2, 0x43, 0)),
            (ACK, None),
        ]
    )
    p.serial_number()
    p.cancel()
    assert uart.done()


def test_nak_makes_the_driver_send_the_same_frame_again():
    request = frame(1, 0x49)
    p, uart = pad([(request, NAK), (request, ACK + answer(1, 0x49, 0, b"S1")), (ACK, None)])
    assert p.serial_number() == "S1"
    assert uart.written == request + request + ACK


def test_missing_ack_makes_the_driver_send_again_with_the_same_seq():
    request = frame(1, 0x49)
    p, uart = pad([(request, None), (request, ACK + answer(1, 0x49, 0, b"S1")), (ACK, None)])
    assert p.serial_number() == "S1"
    assert uart.written.count(request) == 2


def test_an_answer_without_its_ack_still_counts():
    # The ACK byte was lost on the line; the answer itself shows the pad took the command.
    p, uart = pad([(frame(1, 0x49), answer(1, 0x49, 0, b"S1")), (ACK, None)])
    assert p.serial_number() == "S1"
    assert uart.done()


def test_nak_every_time_is_pinpad_error_after_three_tries():
    request = frame(1, 0x49)
    p, uart = pad([(request, NAK), (request, NAK), (request, NAK)])
    expect_error(PinPadError, ["refused", "3"], p.serial_number)
    assert uart.written == request * 3


def test_silent_pad_is_a_timeout_after_three_tries():
    request = frame(1, 0x49)
    p, uart = pad([(request, None), (request, None), (request, None)])
    exc = expect_error(PinPadTimeout, ["no ACK"], p.serial_number)
    assert isinstance(exc, PinPadError)
    assert uart.written == request * 3


def test_acked_but_no_answer_is_a_timeout():
    p, uart = pad([(frame(1, 0x49), ACK)])
    expect_error(PinPadTimeout, ["did not answer"], p.serial_number)


def test_garbled_answer_is_naked_and_the_resent_one_taken():
    good = answer(1, 0x49, 0, b"S1")
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # CRC broken
    p, uart = pad([(frame(1, 0x49), ACK + bytes(bad)), (NAK, good), (ACK, None)])
    assert p.serial_number() == "S1"
    assert uart.written == frame(1, 0x49) + NAK + ACK


def test_answer_without_etx_is_garbled():
    good = answer(1, 0x49, 0, b"S1")
    bad = bytearray(good)
    bad[-3] = 0x00  # ETX replaced
    p, uart = pad([(frame(1, 0x49), ACK + bytes(bad)), (NAK, good), (ACK, None)])
    assert p.serial_number() == "S1"


def test_garbled_answers_three_times_is_pinpad_error():
    bad = bytearray(answer(1, 0x49, 0, b"S1"))
    bad[5] ^= 0x01
    bad = bytes(bad)
    p, uart = pad([(frame(1, 0x49), ACK + bad), (NAK, bad), (NAK, bad)])
    expect_error(PinPadError, ["garbled"], p.serial_number)
    assert uart.written == frame(1, 0x49) + NAK + NAK


def test_line_noise_before_the_ack_is_ignored():
    p, uart = pad(
        [(frame(1, 0x49), b"\x00\xff\x7f" + ACK + answer(1, 0x49, 0, b"S1")), (ACK, None)]
    )
    assert p.serial_number() == "S1"


def test_late_answer_to_an_earlier_command_is_acked_and_dropped():
    stale = answer(7, 0x50, 0, BLOCK)
    p, uart = pad(
        [(frame(1, 0x49), ACK + stale + answer(1, 0x49, 0, b"S1")), (ACK, None), (ACK, None)]
    )
    assert p.serial_number() == "S1"
    assert uart.written == frame(1, 0x49) + ACK + ACK


def test_cardholder_cancel():
    p, uart = pad([(pin_request(), ACK + answer(1, 0x50, 1)), (ACK, None)])
    exc = expect_error(
        PinPadCancelled, ["cardholder"], p.enter_pin, PAN, b"RMB 0.01", slot=1, prompt=b"ENTER PIN"
    )
    assert exc.by_terminal is False


def test_pad_entry_timeout_is_pinpad_timeout_and_needs_no_cancel():
    p, uart = pad([(pin_request(), ACK + answer(1, 0x50, 2)), (ACK, None)])
    expect_error(
        PinPadTimeout, ["no PIN"], p.enter_pin, PAN, b"RMB 0.01", slot=1, prompt=b"ENTER PIN"
    )
    assert uart.done()


def test_no_pin_key_in_the_slot():
    p, uart = pad([(pin_request(), ACK + answer(1, 0x50, 3)), (ACK, None)])
    expect_error(
        PinPadKeyError, ["no key"], p.enter_pin, PAN, b"RMB 0.01", slot=1, prompt=b"ENTER PIN"
    )


def test_busy_and_bad_request_statuses():
    p, _ = pad([(frame(1, 0x49), ACK + answer(1, 0x49, 5)), (ACK, None)])
    expect_error(PinPadError, ["busy"], p.serial_number)
    p, _ = pad([(frame(1, 0x49), ACK + answer(1, 0x49, 4)), (ACK, None)])
    expect_error(PinPadError, ["malformed"], p.serial_number)


def test_terminal_abort_cancels_at_the_pad():
    calls = []

    def abort():
        calls.append(1)
        return len(calls) > 2

    p, uart = pad(
        [
            (pin_request(), ACK),
            # The pad ends the entry (ABORTED, with the entry's SEQ), then answers CANCEL.
            (frame(2, 0x43), ACK + answer(1, 0x50, 6) + answer(2, 0x43, 0)),
            (ACK, None),
            (ACK, None),
        ],
        answer_timeout_ms=2000,
    )
    exc = expect_error(
        PinPadCancelled,
        ["terminal"],
        p.enter_pin,
        PAN,
        b"RMB 0.01",
        slot=1,
        prompt=b"ENTER PIN",
        abort=abort,
    )
    assert exc.by_terminal is True
    assert uart.done()


def test_driver_deadline_on_pin_entry_sends_cancel():
    request = pin_request(timeout_s=1)
    p, uart = pad(
        [(request, ACK), (frame(2, 0x43), ACK + answer(2, 0x43, 0)), (ACK, None)],
        entry_margin_ms=0,
    )
    expect_error(
        PinPadTimeout,
        ["did not answer"],
        p.enter_pin,
        PAN,
        b"RMB 0.01",
        slot=1,
        prompt=b"ENTER PIN",
        timeout_s=1,
    )
    assert uart.done()


def test_load_key_bytes_and_kcv_refusal():
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    kcv = bytes.fromhex("08D7B4FB")
    request = frame(1, 0x4B, bytes([0, 1, 2]) + field(key) + kcv)
    p, uart = pad([(request, ACK + answer(1, 0x4B, 0)), (ACK, None)])
    p.load_key(key, kcv, slot=1, master_slot=0, algorithm="3DES")
    assert uart.written == request + ACK
    p, uart = pad([(request, ACK + answer(1, 0x4B, 3)), (ACK, None)])
    exc = expect_error(PinPadKeyError, ["check value"], p.load_key, key, kcv, slot=1)
    assert isinstance(exc, PinPadError)


def test_single_des_key_load():
    key = bytes.fromhex("C24A8FB57AA20123")
    request = frame(1, 0x4B, bytes([2, 3, 1]) + field(key) + b"\x01\x02\x03\x04")
    p, uart = pad([(request, ACK + answer(1, 0x4B, 0)), (ACK, None)])
    p.load_key(key, b"\x01\x02\x03\x04", slot=3, master_slot=2, algorithm="DES")
    assert uart.done()


def test_bad_arguments_are_value_errors_and_send_nothing():
    p, uart = pad([])
    expect_error(ValueError, ["PAN", "digits only"], p.enter_pin, "62242429000001X3", b"1.00")
    expect_error(ValueError, ["PAN", "13 to 19"], p.enter_pin, "123", b"1.00")
    expect_error(ValueError, ["amount line", "32"], p.enter_pin, PAN, b"x" * 33)
    expect_error(ValueError, ["PIN length"], p.enter_pin, PAN, b"1.00", min_length=3)
    expect_error(ValueError, ["timeout"], p.enter_pin, PAN, b"1.00", timeout_s=0)
    expect_error(ValueError, ["DES or 3DES"], p.load_key, bytes(16), bytes(4), algorithm="SM4")
    expect_error(ValueError, ["16 bytes"], p.load_key, bytes(8), bytes(4))
    expect_error(ValueError, ["check value"], p.load_key, bytes(16), bytes(3))
    assert uart.written == b""


def test_chinese_prompt_goes_as_bytes():
    prompt = b"\xc7\xeb\xca\xe4\xc8\xeb\xc3\xdc\xc2\xeb"  # 请输入密码 in GB18030
    request = pin_request(prompt=prompt, amount=b"\xbd\xf0\xb6\xee: 0.01")
    p, uart = pad([(request, ACK + answer(1, 0x50, 0, BLOCK)), (ACK, None)])
    assert p.enter_pin(PAN, b"\xbd\xf0\xb6\xee: 0.01", prompt=prompt, slot=1) == BLOCK


def test_short_pin_block_is_an_error():
    p, uart = pad([(pin_request(), ACK + answer(1, 0x50, 0, BLOCK[:7])), (ACK, None)])
    expect_error(
        PinPadError, ["7 bytes"], p.enter_pin, PAN, b"RMB 0.01", slot=1, prompt=b"ENTER PIN"
    )


def test_steady_state_heap_is_small():
    import gc

    uart = FakeUART([(frame(1, 0x49), ACK + answer(1, 0x49, 0, b"S1")), (ACK, None)])
    gc.collect()
    before = gc.mem_alloc()
    p = PinPad(uart, sequence=0)
    gc.collect()
    used = gc.mem_alloc() - before
    assert used < 1024, used  # 960 B on the unix port: 2 x 103 frame + 64 input buffers
    p.serial_number()


def h(text):
    return bytes.fromhex(text.replace(" ", ""))


def test_the_documented_conversation_byte_for_byte():
    # docs/pinpad.md, examples 1-3: identify, load the PIN key, PIN entry.
    enc_pik = h("4C555721128EF42B482EF01EB4BA66AF")
    p, uart = pad(
        [
            (
                h("02 02 01 49 03 D9 AF"),
                ACK + h("02 0D 01 49 00 50 50 32 30 32 34 30 30 30 31 03 43 BB"),
            ),
            (ACK, None),
            (
                h("02 1A 02 4B 00 01 02 10") + enc_pik + h("08 D7 B4 FB 03 B6 BD"),
                ACK + h("02 03 02 4B 00 03 CF 89"),
            ),
            (ACK, None),
            (
                h("02 2A 03 50 01 04 0C 3C 08 52 4D 42 20 30 2E 30 31 09")
                + h("45 4E 54 45 52 20 50 49 4E")
                + h("10 36 32 32 34 32 34 32 39 30 30 30 30 30 31 31 33 03 53 7E"),
                ACK + h("02 0B 03 50 00 34 A9 CB 2C 1B A2 AB 3A 03 34 B3"),
            ),
            (ACK, None),
        ]
    )
    assert p.serial_number() == "PP20240001"
    p.load_key(enc_pik, h("08D7B4FB"), slot=1, master_slot=0)
    assert p.enter_pin(PAN, b"RMB 0.01", prompt=b"ENTER PIN", slot=1) == h("34A9CB2C1BA2AB3A")
    assert uart.done()
