# Parameter and key packets on MicroPython over a RAM flash (LittleFS v2): the golden vectors
# verify and apply, every kind of bad packet is refused with its own reason and leaves the
# flash image untouched, versions never go back, and a power cut at any flash write of an
# apply leaves the old or the new parameters with the version that goes with them.
# mpy-heap: 256K
# (The heap is raised for the RAM flash image and its snapshot, which live in flash on the
# terminal, and for compiling the app modules from source; verify itself runs in the 110 KB
# of test_packet_fuzz.py, and what it allocates is checked below.)
import binascii
import gc
import hashlib
import json
import struct
import vfs

from blockdev import RAMBlockDevice

from app.crypto.mac import hmac_sha256
from app.store import packet
from app.store.packet import KEYS, PARAMETERS, PacketError, Versions, apply_parameters, verify
from app.store.params import ParamStore, put_tlv
from app.store.records import RecordStore

MOUNT = "/pktflash"
ROOT = MOUNT + "/data"
VECTORS = __file__.rsplit("/", 2)[0] + "/vectors/"
SERIAL = "PK-000123"
LINK_KEY = bytes(range(32))
STORAGE_KEY = bytes(range(16))


def read(name):
    with open(VECTORS + name, "rb") as f:
        return f.read()


APP1 = read("param_packet_v1.bin")  # application 1, version 3
TERMINAL = read("param_packet_v1_terminal.bin")  # terminal, version 3
KEY = read("key_packet_v1.bin")  # application 1, version 2


def pack(body, kind=PARAMETERS, app=1, version=4, serial=SERIAL, key=LINK_KEY, fmt=1):
    """A packet signed as the host signs one (written here from docs/packets.md)."""
    data = bytearray(29)
    struct.pack_into(">4sBBB16sIH", data, 0, b"PKIT", fmt, kind, app, serial, version, len(body))
    data.extend(body)
    data.extend(struct.pack(">I", binascii.crc32(data) & 0xFFFFFFFF))
    data.extend(hmac_sha256(key, data))
    return bytes(data)


def body_of(data):
    return data[29:-36]


def resign(data, version=None):
    """The packet's body in a newly signed packet (CRC and MAC good), optionally renumbered."""
    kind, app = data[5], data[6]
    current = struct.unpack_from(">I", data, 23)[0]
    return pack(body_of(data), kind, app, current if version is None else version)


# One flash image for the whole module, erased for each test: a new 32 KB buffer per test
# would fragment the heap.
IMAGE = bytearray(512 * 64)
_device = [None]


def fresh():
    try:
        vfs.umount(MOUNT)
    except OSError:
        pass
    if _device[0] is not None:
        _device[0].dead = True
    device = RAMBlockDevice(512, 64, image=IMAGE)
    vfs.VfsLfs2.mkfs(device)
    vfs.mount(vfs.VfsLfs2(device), MOUNT)
    _device[0] = device
    gc.collect()
    return device, RecordStore(ROOT)


def remount(device):
    vfs.umount(MOUNT)
    device = device.power_cycle()
    vfs.mount(vfs.VfsLfs2(device), MOUNT)
    _device[0] = device
    return device, RecordStore(ROOT)


def install(store, data):
    versions = Versions(store)
    p = verify(data, SERIAL, LINK_KEY, versions)
    return apply_parameters(p, ParamStore(store), versions)


def image_hash(device):
    return hashlib.sha256(device.image).digest()


def expect(reason, words, fn, *args):
    try:
        fn(*args)
    except PacketError as exc:
        assert exc.reason == reason, (exc.reason, reason, str(exc))
        for word in words:
            assert word in str(exc), (word, str(exc))
        return str(exc)
    raise AssertionError("packet accepted; expected refusal: " + reason)


def test_golden_vectors_verify_and_decode():
    with open(VECTORS + "param_packet_v1.json") as f:
        expected = json.load(f)
    p = verify(APP1, SERIAL, LINK_KEY, 0)
    assert (p.kind, p.app_index, p.version, p.serial) == (PARAMETERS, 1, 3, SERIAL)
    for name, value in expected["params"].items():
        if name == "merchant_name":
            assert p.params[name] == binascii.unhexlify(expected["merchant_name_gb18030"])
        else:
            assert p.params[name] == value, name
    assert len(APP1) == expected["size"]
    with open(VECTORS + "param_packet_v1_terminal.json") as f:
        expected = json.load(f)
    p = verify(TERMINAL, SERIAL, LINK_KEY, 2)
    for name, value in expected["params"].items():
        if isinstance(value, dict):
            value = binascii.unhexlify(value["hex"])
        assert p.params[name] == value, name
    assert p.params.check_password("operator", expected["passwords"]["operator_password"][0])
    k = verify(KEY, SERIAL, LINK_KEY, 0)
    assert (k.kind, k.app_index, k.version) == (KEYS, 1, 2)
    with open(VECTORS + "key_packet_v1.json") as f:
        expected = json.load(f)
    entry = expected["entries"][0]
    assert k.entries == [
        (entry["slot"], entry["key_block"].encode(), binascii.unhexlify(entry["kcv"]))
    ]


def test_the_device_signs_as_the_host_does():
    # The test's own packer, written from docs/packets.md, reproduces the host's bytes.
    assert resign(APP1) == APP1
    assert resign(KEY) == KEY


def test_apply_then_replay_and_rollback_refused():
    device, store = fresh()
    params = install(store, APP1)
    assert params.merchant_id == "898310048161234"
    loaded = ParamStore(store).load(1)
    assert loaded.to_tlv() == bytes(body_of(APP1)) and loaded.packet_version == 3
    assert Versions(store).get(PARAMETERS, 1) == 3
    assert Versions(store).get(PARAMETERS, 0) == 0  # terminal-wide is separate
    before = image_hash(device)
    expect(
        "version", ["packet version 3 is not newer than installed version 3"], install, store, APP1
    )
    expect(
        "version",
        ["packet version 2 is not newer than installed version 3"],
        install,
        store,
        resign(APP1, 2),
    )
    assert image_hash(device) == before
    install(store, resign(APP1, 4))
    assert Versions(store).get(PARAMETERS, 1) == 4
    install(store, TERMINAL)
    assert Versions(store).items() == [(PARAMETERS, 0, 3), (PARAMETERS, 1, 4)]


REASONS = (
    "oversized",
    "truncated",
    "magic",
    "format",
    "kind",
    "application",
    "trailing",
    "crc",
    "serial",
    "mac",
    "version",
    "tlv",
    "tag",
    "duplicate",
    "missing",
    "value",
)


def bad_packets():
    """(reason, words in the message, packet): one of each kind of refusal."""
    body = body_of(APP1)
    good = resign(APP1, 4)
    flipped_body = bytearray(good)
    flipped_body[40] ^= 0x01
    bad_mac = bytearray(good)
    bad_mac[-1] ^= 0x80
    dup = bytearray(body)
    put_tlv(dup, 0x45, b"\x02")
    unknown = bytearray(body)
    put_tlv(unknown, 0x7E, b"x")  # no parameter has this tag
    return (
        (
            "oversized",
            ["8193 bytes exceeds the 8192-byte maximum"],
            good + bytes(8193 - len(good)),
        ),
        ("oversized", ["body of 8128 bytes"], pack(bytes(8128))[:200]),
        ("truncated", ["3 bytes"], good[:3]),
        ("truncated", ["the header alone is 29"], good[:20]),
        ("truncated", ["%d bytes of %d" % (len(good) - 1, len(good))], good[:-1]),
        ("magic", ["wrong magic"], b"PKIX" + good[4:]),
        ("format", ["unsupported format version 2"], pack(body, fmt=2)),
        ("kind", ["unknown packet kind 3"], pack(body, kind=3)),
        ("application", ["application index 9 out of range 0 to 8"], pack(body, app=9)),
        ("application", ["keys belong to an application"], pack(body_of(KEY), KEYS, app=0)),
        ("trailing", ["1 trailing bytes"], good + b"\x00"),
        ("crc", ["damaged in transit"], bytes(flipped_body)),
        (
            "serial",
            ["packet is for terminal PK-000124, this is PK-000123"],
            pack(body, serial="PK-000124"),
        ),
        ("mac", ["MAC does not verify"], bytes(bad_mac)),
        ("mac", ["MAC does not verify"], pack(body, key=bytes(32))),
        ("version", ["packet version 3 is not newer than installed version 3"], APP1),
        ("duplicate", ["duplicate tag 0x45 (tmk_slot)"], pack(dup)),
        ("tag", ["unknown mandatory tag 0x7e"], pack(unknown)),
        ("tlv", ["bad TLV length", "announces 16 bytes, 3 left"], pack(body + b"\x41\x10abc")),
        (
            "value",
            ["merchant_id: must be 15 digits, got 14"],
            pack(body.replace(b"\x41\x0f898310048161234", b"\x41\x0e89831004816123")),
        ),
        ("missing", ["merchant_name: missing"], pack(body[:32] + body[54:])),
    )


def test_every_bad_packet_refused_with_its_reason_and_nothing_changes():
    device, store = fresh()
    install(store, APP1)
    install(store, TERMINAL)
    before = image_hash(device)
    stored = (store.load("app1"), store.load("terminal"), store.load("versions"))
    seen = []
    for reason, words, data in bad_packets():
        expect(reason, words, install, store, data)
        seen.append(reason)
        assert image_hash(device) == before, reason
    assert (store.load("app1"), store.load("terminal"), store.load("versions")) == stored
    # Every reason app.store.packet documents, each met at least once.
    assert sorted(set(seen)) == sorted(REASONS), seen


def test_truncation_at_every_length_is_refused():
    for n in range(len(APP1)):
        try:
            verify(APP1[:n], SERIAL, LINK_KEY, 0)
        except PacketError as exc:
            assert exc.reason == "truncated", (n, exc.reason)
        else:
            raise AssertionError("truncated packet of %d bytes accepted" % n)


def test_power_cut_at_every_flash_write_of_an_apply():
    newer = resign(APP1, 4)
    new_body = bytes(body_of(APP1))
    cuts = 0
    while True:
        device, store = fresh()
        install(store, APP1)
        device.cut(cuts + 1)
        try:
            install(store, newer)
            finished = True
        except OSError:
            finished = False
        device, store = remount(device)
        store.recover()
        params = ParamStore(store).load(1)
        version = Versions(store).get(PARAMETERS, 1)
        # Whatever survived, the installed version is the one of the parameters stored.
        assert params.packet_version == version, (cuts, params.packet_version, version)
        assert params.to_tlv() == new_body
        if version == 3:
            install(store, newer)  # the interrupted packet can be applied again
        else:
            expect("version", ["not newer"], install, store, newer)
        assert Versions(store).get(PARAMETERS, 1) == 4
        if finished:
            break
        cuts += 1
    assert cuts > 3, cuts  # a save and a versions record: several flash writes each
    print("power cuts tried:", cuts)


def test_key_packet_applies_through_the_key_store():
    from app.crypto.tr31 import KeyBlockError
    from app.keys.slots import KeyStore

    with open(VECTORS + "key_packet_v1.json") as f:
        expected = json.load(f)
    kbpk = binascii.unhexlify(expected["kbpk"])
    device, store = fresh()
    keys = KeyStore(store, STORAGE_KEY)
    versions = Versions(store)
    # A damaged block (one hex digit changed, CRC and MAC redone) refuses the whole packet.
    entry = expected["entries"][0]
    block = entry["key_block"]
    damaged = block[:40] + ("0" if block[40] != "0" else "1") + block[41:]
    body = bytearray()
    put_tlv(body, 0x01, b"\x01")
    put_tlv(body, 0x02, block.encode())
    put_tlv(body, 0x01, b"\x02")
    put_tlv(body, 0x02, damaged.encode())
    bad = verify(pack(bytes(body), KEYS, 1, 3), SERIAL, LINK_KEY, versions)
    before = image_hash(device)
    try:
        packet.apply_keys(bad, keys, kbpk, versions)
    except KeyBlockError as exc:
        assert "MAC does not verify" in str(exc)
    else:
        raise AssertionError("damaged key block loaded")
    assert image_hash(device) == before and keys.tmk_slots(1) == ()
    p = verify(KEY, SERIAL, LINK_KEY, versions)
    assert packet.apply_keys(p, keys, kbpk, versions) == [(1, "3DES", entry["kcv"])]
    assert [row[0] for row in KeyStore(store, STORAGE_KEY).tmk_slots(1)] == [1]
    assert versions.get(KEYS, 1) == 2 and versions.get(PARAMETERS, 1) == 0
    expect(
        "version", ["not newer than installed version 2"], verify, KEY, SERIAL, LINK_KEY, versions
    )


def test_key_packet_layout_refusals():
    def keys_body(*items):
        body = bytearray()
        for tag, value in items:
            put_tlv(body, tag, value)
        return pack(bytes(body), KEYS, 1)

    block = b"D0112K0TD00N0000" + b"0" * 96
    for reason, words, data in (
        ("missing", ["holds no key block"], keys_body()),
        ("missing", ["slot 1 has no key block"], keys_body((1, b"\x01"))),
        ("tlv", ["does not follow a slot"], keys_body((2, block))),
        (
            "duplicate",
            ["duplicate slot 1"],
            keys_body((1, b"\x01"), (2, block), (1, b"\x01"), (2, block)),
        ),
        ("value", ["slot: must be 0 to 99, got 100"], keys_body((1, bytes((100,))), (2, block))),
        (
            "value",
            ["key_block: must be 16 to 1024 characters, got 15"],
            keys_body((1, b"\x01"), (2, block[:15])),
        ),
        (
            "value",
            ["key_block: must be printable ASCII"],
            keys_body((1, b"\x01"), (2, block[:-1] + b"\n")),
        ),
        (
            "tlv",
            ["check value", "does not follow a key block"],
            keys_body((1, b"\x01"), (3, b"\x01\x02\x03")),
        ),
        ("tag", ["unknown mandatory tag 0x04"], keys_body((1, b"\x01"), (2, block), (4, b""))),
    ):
        expect(reason, words, verify, data, SERIAL, LINK_KEY, 0)
    ok = verify(
        keys_body((1, b"\x01"), (2, block), (3, b"\xab\xcd\xef"), (0x90, b"note")),
        SERIAL,
        LINK_KEY,
        0,
    )
    assert ok.entries == [(1, block, b"\xab\xcd\xef")]


def test_verify_copies_no_packet():
    # A maximum-size packet (an 8 KB unknown optional item) is checked through memoryviews.
    body = body_of(APP1)
    data = bytearray(8192)
    filler = 8127 - len(body) - 3
    struct.pack_into(">4sBBB16sIH", data, 0, b"PKIT", 1, PARAMETERS, 1, SERIAL, 4, 8127)
    data[29 : 29 + len(body)] = body
    struct.pack_into(">BH", data, 29 + len(body), 0xF0, 0x8000 | filler)
    struct.pack_into(">I", data, 8156, binascii.crc32(memoryview(data)[:8156]) & 0xFFFFFFFF)
    data[8160:] = hmac_sha256(LINK_KEY, memoryview(data)[:8160])
    small = resign(APP1, 4)

    def allocated(packet_bytes):
        # No collection in between (app sets gc.threshold): it would hide what was allocated.
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        p = verify(packet_bytes, SERIAL, LINK_KEY, 0)
        used = gc.mem_alloc() - before
        gc.enable()
        assert p.params.name == "CUP"
        return used

    used_small, used_big = allocated(small), allocated(data)
    # The 8 KB item costs no more than a small packet: nothing of it is copied.
    assert used_big - used_small < 512, (used_small, used_big)
    print("verify allocated", used_small, "bytes (147-byte packet),", used_big, "(8192)")


def test_an_application_s_own_bearer_needs_its_section_in_the_terminal_s_set():
    # The terminal's set has GPRS and Ethernet sections, no dial-up one.
    device, store = fresh()
    install(store, TERMINAL)
    before = image_hash(device)
    body = bytearray(body_of(APP1))
    put_tlv(body, 0x5A, b"dialup")
    words = ["bearer: application 1 goes over dialup", "no dialup section"]
    expect("value", words, install, store, pack(bytes(body), app=1, version=4))
    assert image_hash(device) == before and store.load("app1") is None
    body = bytearray(body_of(APP1))
    put_tlv(body, 0x5A, b"gprs")
    assert install(store, pack(bytes(body), app=1, version=4))["bearer"] == "gprs"
