"""The terminal's ISO 8583 codec (device/app/txn/iso8583.py, run here under CPython) against
pyiso8583 configured for the CUP POS profile (hostlib/cup8583.py), on random messages in both
directions, with MACs, and on random and mutated frames.

pyiso8583 does the field work (BCD with nibble counts and pads, BCD length prefixes, ASCII);
hostlib.cup8583 adds the framing (LEN, TPDU, LRI, header) and converts its value shapes: hex
strings for binary fields, "D" for the track separator, latin-1 for ans bytes. The two were
written separately from spec §1/§2, so agreement on every random message is evidence both
read the spec the same way; the real dumps of spec §7 pin that reading to the wire.
"""

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.crypto import cipher, mac
from app.txn import iso8583 as device
from hostlib import build, cup8583, micropython

ROOT = Path(__file__).resolve().parents[1]
MAK = cipher.new("DES", bytes.fromhex("C24A8FB57AA20123"))
PACKER = device.Packer(4096)  # room for every field at its maximum at once
TRIED = {}

# Spec §7.2 (S5 sale), a seed for the mutations.
S5_SALE = bytes.fromhex(
    "007060000400006022000000000200302004C020C0981100000000000008880010017502100012356221"
    "550999400728D15111018546801584403130343231363935383734333530333537323232343731313536"
    "F421C8F4FFE584DC20000000000000000008220000013246394433453536"
)


def cup_mac(mab):
    return mac.cup_mac(MAK, mab)


# --- random messages ------------------------------------------------------------------------

ASCII = st.characters(max_codepoint=127)


def value_of(number):
    kind, prefix, maximum, _ = cup8583.FIELDS[number]
    low = 0 if prefix else maximum
    if kind in ("n", "nl"):
        return st.text("0123456789", min_size=low, max_size=maximum)
    if kind == "z":
        # Track data: digits and the separator, and the hex digits of a TDK-encrypted track.
        return st.text("0123456789=ABCEF", min_size=low, max_size=maximum)
    if kind == "an":
        return st.text(ASCII, min_size=low, max_size=maximum)
    if kind == "ans":
        # ASCII text comes back as str; GBK text (any byte >= 0x80) as bytes.
        return st.text(ASCII, min_size=low, max_size=maximum) | st.binary(
            min_size=max(low, 1), max_size=maximum
        ).filter(lambda b: max(b) > 127)
    return st.binary(min_size=low, max_size=maximum)


@st.composite
def messages(draw):
    numbers = draw(st.sets(st.sampled_from(sorted(cup8583.FIELDS)), max_size=12))
    fields = {n: draw(value_of(n)) for n in sorted(numbers)}
    mti = draw(st.text("0123456789", min_size=4, max_size=4))
    tpdu = draw(st.binary(min_size=5, max_size=5))
    header = draw(st.text("0123456789", min_size=12, max_size=12))
    lri = draw(st.none() | st.binary(min_size=30, max_size=30).map(lambda b: b"LRI" + b))
    return mti, fields, tpdu, header, lri


def device_pack(mti, fields, tpdu, header, lri, mac_fn=None):
    return bytes(PACKER.pack(mti, fields, tpdu, header, mac_fn, lri))


def host_pack(mti, fields, tpdu, header, lri, mac_fn=None):
    return cup8583.encode(mti, fields, tpdu=tpdu, header=header, lri=lri, mac=mac_fn)


def same_values(a, b):
    assert sorted(a) == sorted(b)
    for number in a:
        assert a[number] == b[number], (number, a[number], b[number])


@given(messages())
@example(("0200", {22: "021", 23: "123", 35: "1=2", 60: "00000001004"}, b"`\0\3\0\0",
          "603100310000", None))  # fmt: skip
def test_device_pack_host_decode(message):
    mti, fields, tpdu, header, lri = message
    frame = device_pack(*message)
    decoded = cup8583.decode(frame, lri=lri is not None)
    assert (decoded.mti, decoded.tpdu, decoded.header, decoded.lri) == (mti, tpdu, header, lri)
    same_values(decoded.fields, fields)
    assert host_pack(*message) == frame


@given(messages())
def test_host_pack_device_decode(message):
    mti, fields, tpdu, header, lri = message
    frame = host_pack(*message)
    decoded = device.unpack(frame, lri is not None)
    assert (decoded.mti, decoded.tpdu, decoded.header, decoded.lri) == (mti, tpdu, header, lri)
    assert decoded.processing == int(header[5])
    same_values(decoded.fields, fields)
    assert device_pack(*message) == frame


@given(messages())
def test_mac_over_the_same_mab(message):
    # Both compute field 64 over MTI..63 with bit 64 set, and hand the same MAB back.
    frame = device_pack(*message, mac_fn=cup_mac)
    assert host_pack(*message, mac_fn=cup_mac) == frame
    host = cup8583.decode(frame, lri=message[4] is not None)
    terminal = device.unpack(frame, message[4] is not None)
    assert host.mab == bytes(terminal.mab) == frame[-8 - len(host.mab) : -8]
    assert terminal.verify(cup_mac) and host.fields[64] == cup_mac(host.mab)


@given(
    st.text("0123456789", max_size=12),
    st.text("0123456789", max_size=6),
    st.text(ASCII, max_size=8),
    st.text(ASCII, max_size=15),
)
def test_short_fixed_fields_are_filled_alike(amount, stan, terminal_id, merchant_id):
    # Numbers zero-filled on the left, text space-padded on the right, in both.
    fields = {4: amount, 11: stan, 41: terminal_id, 42: merchant_id}
    frame = device_pack("0200", fields, bytes(5), "603100310000", None)
    assert frame == host_pack("0200", fields, bytes(5), "603100310000", None)
    decoded = device.unpack(frame).fields
    assert decoded == {
        4: amount.rjust(12, "0"),
        11: stan.rjust(6, "0"),
        41: terminal_id.ljust(8),
        42: merchant_id.ljust(15),
    }


# --- bad frames -----------------------------------------------------------------------------


def refused_alike(data, lri=False):
    """The terminal and the host accept the same frames, and read the same values from them;
    the terminal raises nothing but DecodeError and packs what it accepts back to the same
    bytes."""
    try:
        terminal = device.unpack(data, lri)
    except device.DecodeError as e:
        terminal = e
    try:
        host = cup8583.decode(data, lri=lri)
    except cup8583.DecodeError as e:
        host = e
    accepted = isinstance(terminal, device.Message)
    TRIED[accepted] = TRIED.get(accepted, 0) + 1
    assert accepted == isinstance(host, cup8583.Message), (data.hex(), terminal, host)
    if accepted:
        assert (terminal.mti, terminal.header, terminal.tpdu) == (host.mti, host.header, host.tpdu)
        same_values(terminal.fields, host.fields)
        again = device_pack(
            terminal.mti, terminal.fields, terminal.tpdu, terminal.header, terminal.lri
        )
        assert again == bytes(data)
    return terminal


def with_length(body):
    return len(body).to_bytes(2, "big") + body


@given(st.binary(max_size=300), st.booleans())
def test_random_bytes(body, fix_length):
    refused_alike(with_length(body) if fix_length else body)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    messages(),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=3),
    st.sampled_from(["set", "cut", "grow"]),
    st.booleans(),
)
def test_mutated_frames(message, changes, how, fix_length):
    frame = bytearray(device_pack(*message))
    for at, value in changes:
        at %= len(frame) + 1
        if how == "set" and at < len(frame):
            frame[at] = value
        elif how == "cut":
            del frame[at:]
        else:
            frame.insert(at, value)
    if fix_length and len(frame) >= 2:
        frame[:2] = (len(frame) - 2).to_bytes(2, "big")
    refused_alike(bytes(frame), message[4] is not None)


def test_mutated_real_frame_every_byte():
    # Every byte of a real sale set to every value, the length prefix kept right.
    for at in range(2, len(S5_SALE)):
        for value in range(256):
            frame = bytearray(S5_SALE)
            frame[at] = value
            refused_alike(bytes(frame))
    print("frames tried: accepted %d, refused %d" % (TRIED.get(True, 0), TRIED.get(False, 0)))
    assert TRIED.get(True, 0) > 1000 and TRIED.get(False, 0) > 1000


@pytest.mark.parametrize(
    "reason, field, frame",
    [
        ("short", None, b"\x00"),
        ("length", None, S5_SALE[:-1]),
        ("length", None, S5_SALE + b"\x00"),
        ("trailing", None, with_length(S5_SALE[2:] + b"\x00")),
        ("truncated", 64, with_length(S5_SALE[2:-1])),
        ("secondary", 1, S5_SALE[:15] + b"\xb0" + S5_SALE[16:]),
        ("undefined", 57, S5_SALE[:22] + b"\x90" + S5_SALE[23:]),
        ("too_long", 35, S5_SALE[:39] + b"\x38" + S5_SALE[40:]),
        ("bcd", 35, S5_SALE[:39] + b"\x3a" + S5_SALE[40:]),
        ("bcd", 3, S5_SALE[:23] + b"\x0a" + S5_SALE[24:]),
        ("bcd", 35, S5_SALE[:57] + b"\x41" + S5_SALE[58:]),
        ("bcd", 0, S5_SALE[:13] + b"\x0a" + S5_SALE[14:]),
        ("bcd", None, S5_SALE[:8] + b"\x2f" + S5_SALE[9:]),
    ],
)
def test_same_reasons(reason, field, frame):
    with pytest.raises(device.DecodeError) as terminal:
        device.unpack(frame)
    with pytest.raises(cup8583.DecodeError) as host:
        cup8583.decode(frame)
    assert (terminal.value.reason, terminal.value.field) == (reason, field)
    assert (host.value.reason, host.value.field) == (reason, field)


# --- memory ---------------------------------------------------------------------------------


def test_import_from_romfs_retains_little_heap(tmp_path):
    # On the terminal the application is a ROMFS image: bytecode stays in flash and an import
    # costs the heap only its objects (functions, the field table, strings, new qstrs).
    src = tmp_path / "src" / "app" / "txn"
    src.mkdir(parents=True)
    (src.parent / "__init__.py").write_text("")
    (src / "__init__.py").write_text("")
    for name in ("iso8583.py", "textcopy.py"):  # the codec and its viper helpers
        shutil.copy(ROOT / "device" / "app" / "txn" / name, src / name)
    image = tmp_path / "iso8583.romfs"
    build.build_romfs(src.parent.parent, image, micropython.arch())
    code = (
        "import gc, vfs, sys\n"
        "f = open(%r, 'rb'); data = f.read(); f.close()\n"
        "vfs.mount(vfs.VfsRom(data), '/rom')\n"
        "sys.path[:] = ['.frozen', '/rom']\n"
        "gc.collect(); before = gc.mem_alloc()\n"
        "from app.txn import iso8583\n"
        "gc.collect(); print(gc.mem_alloc() - before)\n"
    ) % str(image)
    retained = int(micropython.run(code=code, heap=None).check().stdout.split()[-1])
    print("app.txn.iso8583 retains %d bytes after import from ROMFS" % retained)
    # Measured 5.5 KB on the 64-bit unix port, about 2 KB of it the growth of the qstr pool
    # (shared with every module); pointer-sized objects are half that size on the ESP32.
    assert retained < 6144, retained


def test_host_spec_is_a_plain_pyiso8583_spec():
    # The SPEC alone (no framing) decodes the body of a real frame.
    import iso8583

    doc, _ = iso8583.decode(S5_SALE[13:], cup8583.SPEC)
    assert doc["t"] == "0200" and doc["22"] == "021" and doc["35"].endswith("D151110185468015844")
    assert doc["41"] == "10421695" and doc["64"] == b"2F9D3E56".hex().upper()
