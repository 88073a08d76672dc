# Parameter sets on MicroPython (ESP32 heap): the golden vectors' bodies decode and re-encode
# byte for byte, every value is checked with a message naming the field, and a typed
# password is checked against its salted hash.
import json
import struct

from app.store.params import ParamError, Params, hash_password, put_tlv

VECTORS = __file__.rsplit("/", 2)[0] + "/vectors/"
HEADER = 29
TRAILER = 36


def vector(name):
    with open(VECTORS + name + ".bin", "rb") as f:
        data = f.read()
    with open(VECTORS + name + ".json") as f:
        expected = json.load(f)
    return data[HEADER:-TRAILER], expected


def tlv(items):
    buf = bytearray()
    for tag, value in items:
        put_tlv(buf, tag, value)
    return bytes(buf)


APP = (
    (0x40, b"CUP"),
    (0x41, b"898310048161234"),
    (0x42, b"10012345"),
    (0x43, b"\xc9\xcf\xba\xa3\xc4\xb3"),
    (0x44, b"3DES"),
    (0x45, b"\x01"),
    (0x46, b"004"),
    (0x47, b"6031"),
    (0x48, b"310000"),
)
TERMINAL = (
    (0x01, b"zh"),
    (0x02, b"\x02"),
    (0x03, b"\x00"),
    (0x04, hash_password("0000", bytes(16))),
    (0x05, hash_password("123456", bytes(16))),
    (0x06, b"3DES"),
    (0x07, bytes((30,))),
    (0x08, bytes((30,))),
    (0x09, bytes((60,))),
    (0x0A, b"\x03"),
    (0x0B, b"primary"),
    (0x0C, b"ethernet"),
    (0x30, b"\x00"),
    (0x31, b"192.168.1.20"),
    (0x32, b"255.255.255.0"),
    (0x33, b"192.168.1.1"),
    (0x35, b"10.1.2.3"),
    (0x36, struct.pack(">H", 5000)),
    (0x39, b"6000030000"),
)


def changed(items, tag, value):
    """`items` with the value of `tag` replaced (None: removed; a new tag is appended)."""
    out = [(t, value if t == tag else v) for t, v in items if not (t == tag and value is None)]
    if value is not None and tag not in [t for t, _ in items]:
        out.append((tag, value))
    return out


def refused(body, app_index, message, reason=None):
    try:
        Params.from_tlv(body, app_index)
    except ParamError as exc:
        assert str(exc) == message, (str(exc), message)
        if reason is not None:
            assert exc.reason == reason, (exc.reason, reason)
    else:
        raise AssertionError("accepted: expected " + message)


def test_golden_application_body_round_trip():
    body, expected = vector("param_packet_v1")
    params = Params.from_tlv(body, 1)
    want = expected["params"]
    assert params.merchant_id == want["merchant_id"] == "898310048161234"
    assert params["terminal_id"] == want["terminal_id"]
    assert params.tmk_slot == 1 and params.signon_mode == "004"
    # The name stays GB18030 bytes on the terminal (no codec): the printer's font ROM reads them.
    assert params.merchant_name == bytes.fromhex(expected["merchant_name_gb18030"])
    assert params.tpdu is None  # optional and absent
    assert params.to_tlv() == bytes(body)


def test_golden_terminal_body_round_trip_and_passwords():
    body, expected = vector("param_packet_v1_terminal")
    params = Params.from_tlv(body, 0)
    assert params.gprs.apn == "cmnet" and params["gprs.port"] == 5000
    assert params.ethernet.gateway == "192.168.1.1"
    assert params.job_reference == expected["params"]["job_reference"]
    assert params.external_pinpad is False
    assert params.check_password("operator", "0000")
    assert params.check_password("supervisor", bytearray(b"123456"))  # keypad buffer
    assert not params.check_password("supervisor", "0000")
    assert not params.check_password("operator", "00000")
    assert params.to_tlv() == bytes(body)
    names = [name for name, _ in params.items()]
    assert names[0] == "language" and names[-1] == "job_reference"


def test_application_and_terminal_sets_accepted():
    assert Params.from_tlv(tlv(APP), 1).name == "CUP"
    params = Params.from_tlv(tlv(TERMINAL), 0)
    assert params.bearer == "ethernet" and params.ethernet.dhcp is False


def test_named_field_messages():
    refused(
        tlv(changed(APP, 0x41, b"89831004816123")), 1, "merchant_id: must be 15 digits, got 14"
    )
    refused(
        tlv(changed(APP, 0x41, b"89831004816123X")),
        1,
        "merchant_id: must be 15 digits, got 'X' at position 15",
    )
    refused(
        tlv(changed(APP, 0x42, b"1001234")), 1, "terminal_id: must be 8 letters or digits, got 7"
    )
    refused(tlv(changed(APP, 0x45, bytes((100,)))), 1, "tmk_slot: must be 0 to 99, got 100")
    refused(
        tlv(changed(APP, 0x44, b"AES")), 1, "key_algorithm: must be one of DES, 3DES, SM4; got AES"
    )
    refused(
        tlv(changed(TERMINAL, 0x39, b"60000300")), 0, "ethernet.tpdu: must be 10 hex digits, got 8"
    )
    refused(
        tlv(changed(TERMINAL, 0x39, b"60000300G0")),
        0,
        "ethernet.tpdu: must be 10 hex digits, got 'G'",
    )
    refused(
        tlv(changed(TERMINAL, 0x36, b"\x00\x00")), 0, "ethernet.port: must be 1 to 65535, got 0"
    )
    refused(tlv(changed(TERMINAL, 0x36, b"\x13")), 0, "ethernet.port: must be 2 bytes, got 1")
    refused(
        tlv(changed(TERMINAL, 0x31, b"300.1.1.1")),
        0,
        "ethernet.ip: 300.1.1.1 is not an IPv4 address",
    )
    refused(
        tlv(changed(TERMINAL, 0x31, b"192.168.01.2")),
        0,
        "ethernet.ip: 192.168.01.2 is not an IPv4 address",
    )
    refused(
        tlv(changed(TERMINAL, 0x09, bytes((121,)))),
        0,
        "receive_timeout: must be 5 to 120, got 121",
    )
    refused(
        tlv(changed(TERMINAL, 0x0A, bytes((10,)))), 0, "reversal_retries: must be 0 to 9, got 10"
    )
    refused(tlv(changed(TERMINAL, 0x02, b"\x00")), 0, "receipt_copies: must be 1 to 3, got 0")
    refused(
        tlv(changed(TERMINAL, 0x03, b"\x02")),
        0,
        "external_pinpad: must be 0 (no) or 1 (yes), got 2",
    )
    refused(
        tlv(changed(TERMINAL, 0x04, b"0000")),
        0,
        "operator_password: must be a 49-byte password hash, got 4 bytes",
    )
    refused(
        tlv(changed(TERMINAL, 0x35, b"posp..example.cn")),
        0,
        "ethernet.host: posp..example.cn is not a valid host name",
    )
    refused(
        tlv(changed(TERMINAL, 0x35, b"posp_1")),
        0,
        "ethernet.host: character '_' is not allowed in a host name or IPv4 address",
    )


def test_merchant_name_is_gb18030_bytes():
    refused(tlv(changed(APP, 0x43, b"")), 1, "merchant_name: must not be empty")
    refused(
        tlv(changed(APP, 0x43, b"\xc9\xcf" * 20 + b"A")),
        1,
        "merchant_name: must be at most 40 bytes (GB18030), got 41",
    )
    refused(
        tlv(changed(APP, 0x43, b"\xc9\xcf\xba")), 1, "merchant_name: not valid GB18030 at byte 2"
    )
    refused(tlv(changed(APP, 0x43, b"AB\ncd")), 1, "merchant_name: control byte 0x0a at byte 2")
    # 40 bytes exactly, and a four-byte GB18030 sequence (U+20AC EURO SIGN is A2E3; 0x81308130
    # is U+0080), are fine.
    assert len(Params.from_tlv(tlv(changed(APP, 0x43, b"\xc9\xcf" * 20)), 1).merchant_name) == 40
    Params.from_tlv(tlv(changed(APP, 0x43, b"\x81\x30\x81\x30A")), 1)


def test_structure_refusals():
    body = tlv(APP)
    refused(
        body + b"\x41\x0f" + b"1" * 15,
        1,
        "duplicate tag 0x41 (merchant_id) at offset %d" % len(body),
        "duplicate",
    )
    refused(body + b"\x7e\x01x", 1, "unknown mandatory tag 0x7e at offset %d" % len(body), "tag")
    assert Params.from_tlv(body + b"\xfe\x02xy", 1).to_tlv() == body  # optional: skipped
    refused(
        body + b"\x41\x10abc",
        1,
        "bad TLV length at offset %d: tag 0x41 announces 16 bytes, 3 left" % len(body),
        "tlv",
    )
    refused(
        body + b"\x41\x80\x05hello",
        1,
        "bad TLV length at offset %d: 2-byte form for length 5 (under 128)" % len(body),
        "tlv",
    )
    refused(body + b"\x41", 1, "bad TLV length at offset %d: no length byte" % len(body), "tlv")
    refused(body + b"\x00\x00", 1, "bad TLV at offset %d: tag 0x00 is reserved" % len(body), "tlv")
    refused(
        tlv(changed(APP, 0x01, b"zh")),
        1,
        "tag 0x01 (language) is not an application parameter",
        "tag",
    )
    refused(
        tlv(TERMINAL + ((0x41, b"898310048161234"),)),
        0,
        "tag 0x41 (merchant_id) is not a terminal parameter",
        "tag",
    )
    refused(tlv(changed(APP, 0x43, None)), 1, "merchant_name: missing (tag 0x43)", "missing")
    refused(tlv(APP), 9, "application index 9 out of range 1 to 8 (0 = terminal)")


def test_long_values_use_the_two_byte_length():
    buf = bytearray()
    put_tlv(buf, 0xF0, bytes(300))
    assert bytes(buf[:3]) == b"\xf0\x81\x2c"
    body = tlv(APP) + bytes(buf)
    assert Params.from_tlv(body, 1).name == "CUP"  # unknown optional, 300 bytes, skipped


def test_bearer_groups_and_cross_checks():
    refused(tlv(changed(TERMINAL, 0x39, None)), 0, "ethernet.tpdu: missing (tag 0x39)", "missing")
    refused(tlv(changed(TERMINAL, 0x32, None)), 0, "ethernet.mask: missing (tag 0x32)", "missing")
    dhcp = [(t, v) for t, v in changed(TERMINAL, 0x30, b"\x01") if t not in (0x31, 0x32, 0x33)]
    assert Params.from_tlv(tlv(dhcp), 0).ethernet.dhcp is True
    refused(
        tlv(changed(TERMINAL, 0x33, b"10.0.0.1")),
        0,
        "ethernet.gateway: 10.0.0.1 is not in the network of 192.168.1.20/255.255.255.0",
    )
    refused(
        tlv(changed(TERMINAL, 0x32, b"255.0.255.0")),
        0,
        "ethernet.mask: 255.0.255.0 is not a network mask",
    )
    refused(
        tlv(changed(TERMINAL, 0x31, b"192.168.1.255")),
        0,
        "ethernet.ip: 192.168.1.255 is not a host address of its network 255.255.255.0",
    )
    refused(
        tlv(changed(TERMINAL, 0x0B, b"backup")),
        0,
        "host_select: backup selected but ethernet.backup_host is not set",
    )
    refused(
        tlv(changed(TERMINAL, 0x37, b"10.1.2.4")),
        0,
        "ethernet.backup_port: needed with ethernet.backup_host",
    )
    # A configured fallback bearer must be complete too.
    refused(
        tlv(changed(TERMINAL, 0x21, b"cmnet")),
        0,
        "gprs.access_number: missing (tag 0x20)",
        "missing",
    )
    dialup = changed(TERMINAL, 0x10, b"")
    for tag, value in (
        (0x11, b"extension"),
        (0x12, b"0215000,1234"),
        (0x14, b"6000030000"),
        (0x15, b"\x00"),
    ):
        dialup = changed(dialup, tag, value)
    refused(tlv(dialup), 0, "dialup.prefix: an extension line needs the outside-line prefix")
    assert Params.from_tlv(tlv(changed(dialup, 0x10, b"9")), 0)["dialup.phone1"] == "0215000,1234"


def test_signon_mode_agrees_with_the_key_algorithm():
    sm4 = changed(APP, 0x44, b"SM4")
    refused(tlv(sm4), 1, "signon_mode: 004 is a DES/3DES sign-on; key_algorithm SM4 needs 006")
    assert Params.from_tlv(tlv(changed(sm4, 0x46, b"006")), 1).signon_mode == "006"
    refused(
        tlv(changed(APP, 0x46, b"006")),
        1,
        "signon_mode: 006 (SM4) needs key_algorithm SM4, got 3DES",
    )


def test_acquirer_profile_parameters():
    # Absent: today's CUP profile. Each value is checked, and the rules between them hold.
    params = Params.from_tlv(tlv(APP), 1)
    for name in ("signon_layout", "field60_length", "mac_method", "empty_batch", "batch_end"):
        assert params[name] is None, name
    profile = APP + (
        (0x4A, b"PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4"),
        (0x4B, b"14"),
        (0x4C, b"601"),
        (0x4D, b"06"),
        (0x4E, b"x9.19"),
        (0x4F, b"refuse"),
        (0x50, b"unbalanced"),
    )
    params = Params.from_tlv(tlv(profile), 1)
    assert params.signon_layout == "PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4"
    assert (params.field60_length, params.field60_capability) == ("14", "601")
    assert (params.pin_capture_code, params.mac_method) == ("06", "x9.19")
    assert (params.empty_batch, params.batch_end) == ("refuse", "unbalanced")
    assert Params.from_tlv(params.to_tlv(), 1).to_tlv() == params.to_tlv()
    for tag, value, message in (
        (0x4A, b"PIK16 CV4 MAK16", "signon_layout: MAK has no check value after it"),
        (
            0x4A,
            b"005",
            "signon_layout: 005 is not a sign-on layout: 001, 003, 004, 006 or a description",
        ),
        (
            0x4A,
            b"PIK16 CV4 MAC8 CV4",
            "signon_layout: MAC8 is not PIK, MAK, TDK, CV or PAD and a length in bytes",
        ),
        (0x4B, b"11", "field60_length: must be one of 8, 14; got 11"),
        (0x4C, b"6A1", "field60_capability: must be 3 digits, got 'A' at position 2"),
        (0x4D, b"6", "pin_capture_code: must be one of 12, 06; got 6"),
        (0x4E, b"x9.9", "mac_method: must be one of cup, x9.19, x9.19-hex; got x9.9"),
        (0x4F, b"skip", "empty_batch: must be one of ask, refuse, send; got skip"),
    ):
        refused(tlv(changed(profile, tag, value)), 1, message)
    without_length = [item for item in profile if item[0] != 0x4B]
    refused(tlv(without_length), 1, "field60_capability: sent only with field60_length 14, got 8")
    sm4 = changed(changed(profile, 0x44, b"SM4"), 0x46, b"006")
    refused(tlv(sm4), 1, "mac_method: x9.19 is a DES MAC; key_algorithm SM4 needs cup")
    sm4 = changed(sm4, 0x4E, b"cup")
    assert Params.from_tlv(tlv(sm4), 1).mac_method == "cup"
    refused(tlv(changed(sm4, 0x4A, b"001")), 1, "signon_layout: PIK8: SM4 keys are 16 bytes")


def test_menu_edits_are_validated():
    params = Params.from_tlv(tlv(APP), 1)
    params.set("tmk_slot", 7)
    assert params.tmk_slot == 7
    for name, value, message in (
        ("tmk_slot", 100, "tmk_slot: must be 0 to 99, got 100"),
        ("merchant_id", "12345", "merchant_id: must be 15 digits, got 5"),
        ("gprs.apn", "cmnet", "gprs.apn: no such application 1 parameter"),
    ):
        try:
            params.set(name, value)
        except ParamError as exc:
            assert str(exc) == message, str(exc)
        else:
            raise AssertionError("accepted " + name)
    assert params.tmk_slot == 7
    terminal = Params.from_tlv(tlv(TERMINAL), 0)
    terminal.set_password("supervisor", bytearray(b"654321"))
    assert terminal.check_password("supervisor", "654321")
    assert not terminal.check_password("supervisor", "123456")
    try:
        terminal.set_password("operator", "12a4")
    except ParamError as exc:
        assert str(exc) == "password must be digits only"
    else:
        raise AssertionError("letters accepted in a password")


def test_hash_form():
    stored = hash_password("0000", bytes(range(16)))
    assert len(stored) == 49 and stored[0] == 1 and stored[1:17] == bytes(range(16))
    import hashlib

    assert stored[17:] == hashlib.sha256(bytes(range(16)) + b"0000").digest()
    assert hash_password("0000") != hash_password("0000")  # random salt
