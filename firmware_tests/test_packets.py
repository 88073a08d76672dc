"""The host's packet builder and parser (hostlib.packets), job files (hostlib.jobs) and the
`poskit params` command, held to docs/packets.md with only the standard library."""

import argparse
import binascii
import hashlib
import hmac
import json
import struct
from pathlib import Path

import pytest

from hostlib import jobs, packets
from hostlib.packets import PacketError, ParamError
from tools import params as params_tool

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "firmware_tests" / "vectors"
EXAMPLE = ROOT / "docs" / "examples" / "job.toml"
SERIAL = "PK-000123"
LINK_KEY = bytes(range(32))

APP = {
    "name": "CUP",
    "merchant_id": "898310048161234",
    "terminal_id": "10012345",
    "merchant_name": "上海某某商贸有限公司",
    "key_algorithm": "3DES",
    "tmk_slot": 1,
    "signon_mode": "004",
    "header_version": "6031",
    "header_subversion": "310000",
}


def vector(name):
    return (VECTORS / (name + ".bin")).read_bytes(), json.loads(
        (VECTORS / (name + ".json")).read_text()
    )


def from_json(value):
    return bytes.fromhex(value["hex"]) if isinstance(value, dict) else value


# --- layout, checked with struct/binascii/hmac as docs/packets.md states it ----------------


def test_layout_is_the_documented_one():
    data = packets.build_parameter_packet(APP, SERIAL, LINK_KEY, 7, 1)
    magic, fmt, kind, app, serial, version, length = struct.unpack_from(">4sBBB16sIH", data)
    assert (magic, fmt, kind, app, version) == (b"PKIT", 1, 1, 1, 7)
    assert serial == b"PK-000123" + bytes(7)
    assert len(data) == 29 + length + 4 + 32
    signed = data[: 29 + length]
    assert struct.unpack_from(">I", data, 29 + length)[0] == binascii.crc32(signed)
    assert data[-32:] == hmac.new(LINK_KEY, data[:-32], hashlib.sha256).digest()
    body = data[29 : 29 + length]
    assert body[:5] == b"\x40\x03CUP"  # tags ascend; the first is the name
    assert body[5:7] == b"\x41\x0f"


@pytest.mark.parametrize("length", [0, 1, 127, 128, 300, 8000, 0x7FFF])
def test_tlv_length_forms(length):
    item = packets.tlv([(0xF0, bytes(length))])
    head = item[: len(item) - length]
    assert head == (
        bytes([0xF0, length]) if length < 128 else bytes([0xF0, 0x80 | length >> 8, length & 0xFF])
    )
    assert packets.tlv_items(item) == [(0xF0, 0, bytes(length))]


def test_tlv_refusals():
    with pytest.raises(ParamError, match="2-byte form for length 5") as exc:
        packets.tlv_items(b"\x41\x80\x05hello")
    assert exc.value.reason == "tlv"
    with pytest.raises(ParamError, match="announces 16 bytes, 3 left"):
        packets.tlv_items(b"\x41\x10abc")
    with pytest.raises(ParamError, match="tag 0x00 is reserved"):
        packets.tlv_items(b"\x00\x00")
    with pytest.raises(ParamError, match="no length byte"):
        packets.tlv_items(b"\x41")
    with pytest.raises(ParamError, match="second length byte missing"):
        packets.tlv_items(b"\x41\x81")


# --- golden vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["param_packet_v1", "param_packet_v1_terminal"])
def test_golden_parameter_vectors_are_what_the_host_builds(name):
    data, expected = vector(name)
    values = {k: from_json(v) for k, v in expected["params"].items()}
    rebuilt = packets.build_parameter_packet(
        values,
        expected["serial"],
        bytes.fromhex(expected["link_key"]),
        expected["version"],
        expected["app_index"],
    )
    assert rebuilt == data
    parsed = packets.verify(data, SERIAL, LINK_KEY)
    assert parsed.params == values
    assert (parsed.size, len(parsed.body)) == (expected["size"], expected["body_length"])
    assert "%08X" % parsed.crc == expected["crc"] and parsed.mac.hex().upper() == expected["mac"]
    for name, (clear, salt) in expected.get("passwords", {}).items():
        assert values[name] == packets.hash_password(clear, bytes.fromhex(salt))
        assert packets.check_password(values[name], clear)
    if "merchant_name_gb18030" in expected:
        assert (
            values["merchant_name"].encode("gb18030").hex().upper()
            == (expected["merchant_name_gb18030"])
        )


def test_golden_key_vector():
    data, expected = vector("key_packet_v1")
    parsed = packets.verify(data, SERIAL, LINK_KEY)
    assert parsed.kind_name == "keys" and parsed.app_index == 1 and parsed.version == 2
    entry = expected["entries"][0]
    assert parsed.entries == [
        packets.KeyEntry(entry["slot"], entry["key_block"], bytes.fromhex(entry["kcv"]))
    ]
    rebuilt = packets.build_key_packet(
        [(entry["slot"], entry["key_block"], entry["kcv"])], SERIAL, LINK_KEY, 2, 1
    )
    assert rebuilt == data


# --- values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("merchant_id", "89831004816123", "merchant_id: must be 15 digits, got 14"),
        ("merchant_id", 898310048161234, "merchant_id: must be text, got 898310048161234"),
        ("terminal_id", "1001234", "terminal_id: must be 8 letters or digits, got 7"),
        ("tmk_slot", 100, "tmk_slot: must be 0 to 99, got 100"),
        ("tmk_slot", True, "tmk_slot: must be a whole number, got True"),
        ("merchant_name", "", "merchant_name: must not be empty"),
        ("merchant_name", "上" * 21, "merchant_name: must be at most 40 bytes (GB18030), got 42"),
        ("merchant_name", "上海\n", "merchant_name: control byte 0x0a at byte 4"),
        ("signon_mode", "005", "signon_mode: must be one of 001, 003, 004, 006; got 005"),
        ("tpdu", "60000300", "tpdu: must be 10 hex digits, got 8"),
        ("header_version", "60A1", "header_version: must be 4 digits, got 'A' at position 3"),
        ("name", "", "name: must be 1 to 16 characters, got 0"),
        (
            "name",
            "银联",
            "name: character 0x94f6 at position 1 is not allowed "
            "(printable ASCII characters only)",
        ),
    ],
)
def test_application_value_messages(name, value, message):
    # (the acquirer profile's values: test_profile_value_messages)
    with pytest.raises(ParamError) as exc:
        packets.build_parameter_packet(dict(APP, **{name: value}), SERIAL, LINK_KEY, 1, 1)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"signon_layout": "PIK16 CV4 MAK16"}, "signon_layout: MAK has no check value after it"),
        (
            {"signon_layout": "PIK16 CV4 MAK16 CV4 PIK16 CV4"},
            "signon_layout: PIK appears twice",
        ),
        ({"signon_layout": "CV4 PIK16 CV4 MAK8 CV4"}, "signon_layout: CV4 is not after a key"),
        (
            {"signon_layout": "PIK12 CV4 MAK8 CV4"},
            "signon_layout: PIK12: keys are 8, 16 or 24 bytes, check values 2 to 8, fillers 1 "
            "to 64",
        ),
        ({"signon_layout": "TDK16 CV4 MAK8 CV4"}, "signon_layout: a layout needs a PIK and a MAK"),
        (
            {"signon_layout": "002"},
            "signon_layout: 002 is not a sign-on layout: 001, 003, 004, 006 or a description",
        ),
        ({"field60_length": 14}, "field60_length: must be text, got 14"),
        (
            {"field60_capability": "600"},
            "field60_capability: sent only with field60_length 14, got 8",
        ),
        ({"mac_method": "x9.9"}, "mac_method: must be one of cup, x9.19, x9.19-hex; got x9.9"),
        (
            {"key_algorithm": "SM4", "signon_mode": "006", "mac_method": "x9.19-hex"},
            "mac_method: x9.19-hex is a DES MAC; key_algorithm SM4 needs cup",
        ),
        (
            {"key_algorithm": "SM4", "signon_mode": "006", "signon_layout": "001"},
            "signon_layout: PIK8: SM4 keys are 16 bytes",
        ),
        ({"empty_batch": "never"}, "empty_batch: must be one of ask, refuse, send; got never"),
    ],
)
def test_profile_value_messages(changes, message):
    with pytest.raises(ParamError) as exc:
        packets.build_parameter_packet(dict(APP, **changes), SERIAL, LINK_KEY, 1, 1)
    assert str(exc.value) == message


def test_profile_layouts_as_the_terminal_reads_them():
    assert packets.key_layout("004") == (
        60,
        [("PIK", 0, 16, 16, 4), ("MAK", 20, 8, 36, 4), ("TDK", 40, 16, 56, 4)],
    )
    length, keys = packets.key_layout("PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4")
    assert length == 61 and keys[-1] == ("TDK", 41, 16, 57, 4)
    body = packets.encode_parameters(
        dict(APP, signon_layout="PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4", field60_length="14"), 1
    )
    assert packets.decode_parameters(body, 1)["signon_layout"].startswith("PAD1 ")


def terminal(**changes):
    values = jobs.loads(EXAMPLE.read_text()).terminal
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"gprs.port": 0}, "gprs.port: must be 1 to 65535, got 0"),
        ({"gprs.tpdu": "600003000"}, "gprs.tpdu: must be 10 hex digits, got 9"),
        ({"gprs.host": "300.1.1.1"}, "gprs.host: 300.1.1.1 is not an IPv4 address"),
        (
            {"gprs.apn": "cm net"},
            "gprs.apn: character 0x20 at position 3 is not allowed "
            "(letters, digits, '-' and '.' only)",
        ),
        ({"receive_timeout": 4}, "receive_timeout: must be 5 to 120, got 4"),
        ({"external_pinpad": "no"}, "external_pinpad: must be true or false, got 'no'"),
        (
            {"operator_password": 0},
            "operator_password: must be 4 to 12 digits (a string, in quotes), got int",
        ),
        (
            {"operator_password": "12a4"},
            "operator_password: must be 4 to 12 digits (a string, in quotes), got 4",
        ),
        ({"bearer": "wifi"}, "bearer: must be one of dialup, gprs, ethernet; got wifi"),
        ({"bearer": "ethernet"}, "ethernet.dhcp: missing (tag 0x30)"),
        ({"gprs.tpdu": None}, "gprs.tpdu: missing (tag 0x28)"),
        (
            {"host_select": "backup"},
            "host_select: backup selected but gprs.backup_host is not set",
        ),
        ({"gprs.backup_host": "10.0.0.2"}, "gprs.backup_port: needed with gprs.backup_host"),
        ({"gprs.apm": "cmnet"}, "gprs.apm: no such terminal parameter; did you mean gprs.apn?"),
        (
            {
                "ethernet.dhcp": False,
                "ethernet.ip": "192.168.1.20",
                "ethernet.mask": "255.255.255.0",
                "ethernet.gateway": "10.0.0.1",
                "ethernet.host": "posp.example.cn",
                "ethernet.port": 5000,
                "ethernet.tpdu": "6000030000",
            },
            "ethernet.gateway: 10.0.0.1 is not in the network of 192.168.1.20/255.255.255.0",
        ),
        (
            {
                "ethernet.dhcp": False,
                "ethernet.ip": "192.168.1.20",
                "ethernet.mask": "0.0.0.255",
                "ethernet.gateway": "192.168.1.1",
                "ethernet.host": "posp.example.cn",
                "ethernet.port": 5000,
                "ethernet.tpdu": "6000030000",
            },
            "ethernet.mask: 0.0.0.255 is not a network mask",
        ),
    ],
)
def test_terminal_value_messages(changes, message):
    with pytest.raises(ParamError) as exc:
        packets.build_parameter_packet(terminal(**changes), SERIAL, LINK_KEY, 1, 0)
    assert str(exc.value) == message


def test_nested_names_and_dhcp():
    values = terminal(bearer="ethernet")
    values.update(
        {"ethernet": {"dhcp": True, "host": "posp.example.cn", "port": 5000, "tpdu": "6000030000"}}
    )
    data = packets.build_parameter_packet(values, SERIAL, LINK_KEY, 1, 0)
    assert packets.parse(data).params["ethernet.dhcp"] is True


def test_passwords_travel_hashed():
    data = packets.build_parameter_packet(terminal(), SERIAL, LINK_KEY, 1, 0)
    assert b"123456" not in data and b"\x04\x04" + b"0000" not in data
    params = packets.parse(data).params
    assert len(params["supervisor_password"]) == 49
    assert packets.check_password(params["supervisor_password"], "123456")
    assert not packets.check_password(params["supervisor_password"], "654321")


def test_build_refusals():
    with pytest.raises(PacketError, match="terminal serial must be 4 to 16"):
        packets.build_parameter_packet(APP, "pk-1", LINK_KEY, 1, 1)
    with pytest.raises(PacketError, match="link key must be 32 bytes, got 16"):
        packets.build_parameter_packet(APP, SERIAL, bytes(16), 1, 1)
    with pytest.raises(PacketError, match="packet version must be 1 to 4294967295"):
        packets.build_parameter_packet(APP, SERIAL, LINK_KEY, 0, 1)
    with pytest.raises(ParamError, match="application index 9 out of range"):
        packets.build_parameter_packet(APP, SERIAL, LINK_KEY, 1, 9)
    with pytest.raises(ParamError, match="name: no such terminal parameter"):
        packets.build_parameter_packet(APP, SERIAL, LINK_KEY, 1, 0)
    with pytest.raises(PacketError, match="application index 0 out of range 1 to 8"):
        packets.build_key_packet([(1, "D" * 16)], SERIAL, LINK_KEY, 1, 0)
    with pytest.raises(ParamError, match="duplicate slot 1"):
        packets.build_key_packet([(1, "D" * 16), (1, "E" * 16)], SERIAL, LINK_KEY, 1, 1)


def test_verify_reports_the_first_refusal_in_the_terminals_order():
    good = packets.build_parameter_packet(APP, SERIAL, LINK_KEY, 5, 1)
    with pytest.raises(PacketError) as exc:
        packets.verify(good[:-1], "PK-000999", bytes(32), 9)
    assert exc.value.reason == "truncated"
    with pytest.raises(PacketError) as exc:
        packets.verify(good, "PK-000999", bytes(32), 9)
    assert exc.value.reason == "serial"
    assert str(exc.value) == "packet is for terminal PK-000123, this is PK-000999"
    with pytest.raises(PacketError) as exc:
        packets.verify(good, SERIAL, bytes(32), 9)
    assert exc.value.reason == "mac"
    with pytest.raises(PacketError) as exc:
        packets.verify(good, SERIAL, LINK_KEY, 5)
    assert str(exc.value) == "packet version 5 is not newer than installed version 5"
    parsed = packets.verify(good, SERIAL, LINK_KEY, 4)
    assert parsed.mac_checked and parsed.serial_checked
    parsed = packets.parse(good)
    assert not parsed.mac_checked and parsed.params["name"] == "CUP"


# --- job files -----------------------------------------------------------------------------


def test_example_job():
    job = jobs.load(EXAMPLE)
    assert job.serial == SERIAL and job.version == 1
    assert job.merchant["company"] == "上海某某商贸有限公司"
    assert job.terminal["gprs.apn"] == "cmnet" and job.terminal["gprs.port"] == 5000
    assert job.terminal["job_reference"] == job.reference
    assert sorted(job.applications) == [1, 2]
    assert job.applications[2]["signon_mode"] == "006"  # "SM4" in the file
    built = job.packets(SERIAL, LINK_KEY, 1)
    assert [i for i, _ in built] == [0, 1, 2]
    for index, data in built:
        parsed = packets.verify(data, SERIAL, LINK_KEY, 0)
        assert parsed.app_index == index
    assert packets.parse(built[1][1]).params["merchant_name"] == "上海某某商贸有限公司"


def job_text(**replace):
    text = EXAMPLE.read_text()
    for old, new in replace.items():
        old = old.replace("__", " = ")
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            'merchant_id = "898310048161234"',
            'merchant_id = "89831004816123"',
            "job.toml: [[application]] 1 (CUP): merchant_id: must be 15 digits, got 14",
        ),
        ("port = 5000", "port = 0", "job.toml: [terminal]: gprs.port: must be 1 to 65535, got 0"),
        ('apn = "cmnet"', 'apm = "cmnet"', "did you mean gprs.apn?"),
        (
            'operator_password = "0000"',
            "operator_password = 1234",
            "operator_password: must be 4 to 12 digits (a string, in quotes), got int",
        ),
        ("[merchant]", "[merchants]", "job.toml: unknown table [merchants]"),
        ('serial = "PK-000123"', 'serial = "pk 123"', "job.toml: [job] serial: terminal serial"),
        ("version = 1 ", "version = 0 ", "job.toml: [job] version: must be 1 to 4294967295"),
        ('name = "ACQ2"', 'name = "ACQ2"\nindex = 1', "index 1 is used twice"),
        ("tmk_slot = 2", 'tmk_slot = "2"', "tmk_slot: must be a whole number, got '2'"),
        ("[terminal]\n", "[terminal\n", "job.toml: not valid TOML"),
    ],
)
def test_job_errors_name_file_table_and_field(old, new, message):
    text = EXAMPLE.read_text()
    assert old in text, old
    with pytest.raises(jobs.JobError) as exc:
        jobs.loads(text.replace(old, new, 1))
    assert message in str(exc.value)


def test_job_acquirer_profile():
    # Numbers as the acquirer's documents print them; the rest as the names say.
    text = EXAMPLE.read_text().replace(
        'header_subversion = "310000"\n',
        'header_subversion = "310000"\n'
        'signon_layout = "PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4"\n'
        "field60_length = 14\n"
        'field60_capability = "600"\n'
        "pin_capture_code = 6\n"
        'mac_method = "x9.19"\n'
        'empty_batch = "send"\n'
        'batch_end = "unbalanced"\n',
        1,
    )
    app = jobs.loads(text).applications[1]
    assert (app["field60_length"], app["pin_capture_code"]) == ("14", "06")
    body = packets.encode_parameters(app, 1)
    decoded = packets.decode_parameters(body, 1)
    assert decoded["mac_method"] == "x9.19" and decoded["batch_end"] == "unbalanced"
    bad = text.replace('"PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4"', '"PAD1 PIK16 CV4 MAK16"')
    with pytest.raises(jobs.JobError) as exc:
        jobs.loads(bad)
    assert str(exc.value) == (
        "job.toml: [[application]] 1 (CUP): signon_layout: MAK has no check value after it"
    )


def test_job_defaults():
    job = jobs.loads(
        """
[terminal]
operator_password = "0000"
supervisor_password = "123456"
bearer = "ethernet"
[terminal.ethernet]
host = "posp.example.cn"
port = 5000
tpdu = "60 0003 0000"
[[application]]
name = "CUP"
merchant_id = "898310048161234"
terminal_id = "10012345"
merchant_name = "某某"
tmk_slot = 0
"""
    )
    assert job.terminal["ethernet.dhcp"] is True and job.terminal["ethernet.tpdu"] == "6000030000"
    assert job.terminal["receive_timeout"] == 60 and job.terminal["language"] == "zh"
    assert job.applications[1]["key_algorithm"] == "3DES"
    assert job.applications[1]["signon_mode"] == "004"
    for name in ("signon_layout", "field60_length", "mac_method", "empty_batch", "batch_end"):
        assert name not in job.applications[1]  # the profile: absent unless the acquirer says
    with pytest.raises(jobs.JobError, match="no application 3"):
        job.packets(SERIAL, LINK_KEY, 1, app_index=3)


# --- poskit params -------------------------------------------------------------------------


def params_cli(*argv):
    parser = argparse.ArgumentParser()
    params_tool.add_arguments(parser)
    return params_tool.run(parser.parse_args(list(argv)))


def test_cli_build_verify_show(tmp_path, capsys):
    out = tmp_path / "pk.bin"
    key = LINK_KEY.hex()
    assert params_cli("build", str(EXAMPLE), "-o", str(out), "--link-key", key) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [Path(line.split()[1].rstrip(":")).name for line in lines] == [
        "pk.bin",
        "pk.app1.bin",
        "pk.app2.bin",
    ]
    assert (
        params_cli("verify", str(tmp_path / "pk.app1.bin"), "--serial", SERIAL, "--link-key", key)
        == 0
    )
    assert capsys.readouterr().out.startswith(
        "OK parameters for application 1, terminal PK-000123, version 1,"
    )
    assert params_cli("verify", str(out), "--serial", "PK-000124", "--link-key", key) == 1
    assert capsys.readouterr().out.strip() == (
        "REFUSED (serial): packet is for terminal PK-000123, this is PK-000124"
    )
    assert params_cli("verify", str(out), "--link-key", "00" * 32) == 1
    assert "REFUSED (mac)" in capsys.readouterr().out
    assert params_cli("verify", str(out), "--no-key", "--installed-version", "1") == 1
    assert "not newer than installed version 1" in capsys.readouterr().out
    assert params_cli("show", str(out)) == 0
    shown = capsys.readouterr().out
    assert "operator_password    (hashed)" in shown and "123456" not in shown
    assert "gprs.apn             cmnet" in shown
    assert params_cli("show", str(tmp_path / "pk.app1.bin")) == 0
    assert "上海某某商贸有限公司  [GB18030 C9CF" in capsys.readouterr().out
    damaged = bytearray(out.read_bytes())
    damaged[40] ^= 1
    (tmp_path / "bad.bin").write_bytes(bytes(damaged))
    assert params_cli("show", str(tmp_path / "bad.bin")) == 1
    assert "REFUSED (crc)" in capsys.readouterr().out


def test_cli_build_one_set_with_overrides(tmp_path, capsys):
    out = tmp_path / "one.bin"
    argv = ["build", str(EXAMPLE), "-o", str(out), "--link-key", LINK_KEY.hex()]
    assert params_cli(*argv, "--app", "2", "--serial", "PK-000777", "--version", "9") == 0
    parsed = packets.verify(out.read_bytes(), "PK-000777", LINK_KEY)
    assert (parsed.app_index, parsed.version) == (2, 9)
    assert list(tmp_path.iterdir()) == [out]


def test_cli_build_takes_the_link_key_from_the_key_store(tmp_path, monkeypatch, capsys):
    from hostlib.keystore import KeyStore

    monkeypatch.setenv("POSKIT_KEYSTORE_PASSPHRASE", "correct horse")
    path = tmp_path / "keystore.json"
    store = KeyStore.open(path, "correct horse", create=True)
    link_key = store.add_terminal(SERIAL)["link_key"]
    store.save()
    out = tmp_path / "pk.bin"
    assert (
        params_cli("build", str(EXAMPLE), "-o", str(out), "--app", "0", "--keystore", str(path))
        == 0
    )
    packets.verify(out.read_bytes(), SERIAL, link_key)
    with pytest.raises(packets.PoskitError, match="terminal PK-000999 is not in the key store"):
        params_cli(
            "build", str(EXAMPLE), "-o", str(out), "--serial", "PK-000999", "--keystore", str(path)
        )


def test_cli_build_needs_serial_and_version(tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(
        EXAMPLE.read_text().replace('serial = "PK-000123"', "").replace("version = 1 ", "")
    )
    argv = ["build", str(job), "-o", str(tmp_path / "x.bin"), "--link-key", LINK_KEY.hex()]
    with pytest.raises(packets.PoskitError, match="no terminal serial"):
        params_cli(*argv)
    with pytest.raises(packets.PoskitError, match="no packet version"):
        params_cli(*argv, "--serial", SERIAL)
    with pytest.raises(packets.PoskitError, match="64 hex digits"):
        params_cli("build", str(EXAMPLE), "-o", str(tmp_path / "x.bin"), "--link-key", "abcd")


def test_cli_verify_checks_the_mac_with_the_key_store_by_default(tmp_path, monkeypatch, capsys):
    from hostlib.keystore import KeyStore

    monkeypatch.setenv("POSKIT_KEYSTORE_PASSPHRASE", "correct horse")
    store = KeyStore.open(tmp_path / "keystore.json", "correct horse", create=True)
    link_key = store.add_terminal(SERIAL)["link_key"]
    store.save()
    monkeypatch.setenv("POSKIT_KEYSTORE", str(tmp_path / "keystore.json"))
    good, forged = tmp_path / "good.bin", tmp_path / "forged.bin"
    good.write_bytes(packets.build_parameter_packet(APP, SERIAL, link_key, 1, 1))
    forged.write_bytes(packets.build_parameter_packet(APP, SERIAL, bytes(32), 1, 1))
    assert params_cli("verify", str(forged)) == 1
    assert capsys.readouterr().out == (
        "REFUSED (mac): MAC does not verify: wrong link key, or the packet was altered\n"
    )
    assert params_cli("verify", str(good)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "OK parameters for application 1, terminal PK-000123, version 1, %d bytes"
        % good.stat().st_size,
        "  checked: structure, CRC, values, MAC (link key of PK-000123, key store)",
        "  not checked: version against the terminal's (give --installed-version N)",
    ]
    assert params_cli("verify", str(forged), "--no-key") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("NOT AUTHENTICATED parameters for application 1")
    assert not any(line.startswith("OK") for line in lines)
    assert "MAC (--no-key: anyone could have made this packet)" in lines[-1]


def test_cli_verify_without_a_key_store_says_what_to_give(tmp_path, monkeypatch):
    monkeypatch.setenv("POSKIT_KEYSTORE", str(tmp_path / "none.json"))
    packet = tmp_path / "p.bin"
    packet.write_bytes(packets.build_parameter_packet(APP, SERIAL, LINK_KEY, 1, 1))
    with pytest.raises(packets.PoskitError) as exc:
        params_cli("verify", str(packet))
    assert str(exc.value) == (
        "no key store at %s: give --link-key, or --keystore, or --no-key to check the "
        "structure alone" % (tmp_path / "none.json")
    )


def test_cli_reads_no_more_than_a_packet(capsys):
    assert params_cli("verify", "/dev/zero", "--no-key") == 1
    assert capsys.readouterr().out == (
        "REFUSED (oversized): /dev/zero holds more than 8192 bytes, a packet's maximum\n"
    )
    assert params_cli("show", "/dev/zero") == 1


def test_cli_build_into_a_folder_names_the_file_to_give(tmp_path):
    with pytest.raises(packets.PoskitError) as exc:
        params_cli("build", str(EXAMPLE), "-o", str(tmp_path), "--link-key", LINK_KEY.hex())
    assert str(exc.value) == (
        "-o %s is a folder: give the packet file's name, e.g. %s/job.bin" % (tmp_path, tmp_path)
    )
    assert list(tmp_path.iterdir()) == []


def test_job_saved_with_a_byte_order_mark_reads(tmp_path):
    job = tmp_path / "bom.toml"
    job.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.read_bytes())
    assert jobs.load(job).applications[1]["merchant_name"] == "上海某某商贸有限公司"


def test_job_saved_as_gbk_is_refused_with_its_line(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    job = tmp_path / "gbk.toml"
    job.write_bytes(text.encode("gbk"))
    line = next(n for n, row in enumerate(text.splitlines(), 1) if not row.isascii())
    with pytest.raises(jobs.JobError) as exc:
        jobs.load(job)
    assert str(exc.value).startswith(
        "gbk.toml: line %d is not UTF-8 (byte %02X): save the file as UTF-8"
        % (line, next(b for b in job.read_bytes() if b > 0x7F))
    )
