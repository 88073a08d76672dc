"""What the parameter, key and storage modules (and the SIM7600 driver) keep on the heap once
imported, as the terminal imports them (.mpy in a ROMFS image, bytecode in place), and the
packed tables that keep it small read back as the tuples they replaced.

A module's constants are built on the heap when it loads, used or not: every tuple, and every
string literal longer than 10 characters, is an object (about 20 bytes each on the ESP32, 40
on the 64-bit unix port). app.store.schema and app.keys.slots therefore pack their schema, field 62
layouts and messages into single literals, and the engine, the codec, the comm layer and the
bearers' drivers their messages; these tests fail if a table of tuples or a page of separate
message strings comes back.

Each figure is measured on the 32-bit MicroPython, whose objects are an ESP32's size, and on
the 64-bit one (test ids `[micropython32]`, `[micropython]`); the 32-bit limit is the budget.
"""

import re
import shutil
from pathlib import Path

import pytest

from app.comm import frames as comm
from app.keys import layout as keylayout
from app.keys import slots as keys
from app.store import params
from app.store import records as store
from app.store import schema as paramschema
from app.txn import engine as txn
from app.txn import iso8583
from app.txn import messages as txnmsg
from drivers import ethernet, hayes, sim800, sim7600
from hostlib import build, micropython

ROOT = Path(__file__).resolve().parents[1]

# Bytes retained after import: (32-bit port, an ESP32's figure; 64-bit port), each with room for
# small changes: 5%, and at least 256 bytes, because a figure moves by a 128-byte block with the
# heap's layout before the import (the measuring program's text, hence the image's path, once
# moved app.crypto.des on the 32-bit port and app.store.records on the 64-bit one; the image is
# now opened by its name alone). Measured when they were set, 32-bit / 64-bit: params 3629 / 6498,
# slots 3227 / 5811, layout 530 / 922, crc32 477 / 953, records 2936 / 5175, iso8583 2621 / 4376,
# des 1183 / 1843, at 1200 / 2304, hayes 2795 / 5263, sim800 4429 / 8185, sim7600 1828 / 3385,
# ethernet 2530 / 4575, txn 149 / 289 (the row's last module, its package's row apart). Before
# their messages were packed (64-bit): app.txn.iso8583 4.7 KB, app.crypto.des 3.9 KB (its S-box
# table a word array), drivers.hayes 5.3 KB, drivers.sim800 9.6 KB, drivers.sim7600 3.8 KB,
# drivers.ethernet 5.2 KB. Modules listed before the last are not counted, nor are the packages of
# the modules listed (each package has a row of its own).
LIMITS = {
    ("app.store.params",): (4032, 6848),  # imports app.store.schema
    ("app.crypto.mac", "app.crypto.cipher", "app.crypto.seal", "app.keys.slots"): (3488, 6112),
    # Field 62 layouts: loaded at sign-on, let go once read (test_keys.py).
    ("app.keys.slots", "app.keys.layout"): (800, 1184),
    ("app.crypto.crc32",): (864, 1216),
    # imports app.crypto.crc32; 2936 / 5175 until a save became one commit (its slot
    # bookkeeping: 3014 / 5325)
    ("app.store.records",): (3328, 5600),
    # imports app.txn.textcopy (its viper packing of a str's digits and text, 70 times
    # fewer instructions a 0200): 3039 / 5074 with it
    ("app.txn.iso8583",): (3296, 5376),
    ("app.crypto.blockcipher", "app.crypto.des"): (1408, 2112),
    ("drivers.at",): (1600, 2560),
    ("drivers.at", "drivers.hayes"): (3072, 5536),
    ("drivers.at", "drivers.sim800"): (4704, 8608),
    # The SIM7600 driver is a subclass of the SIM800 one: only its own part is counted.
    ("drivers.sim800", "drivers.sim7600"): (2112, 3648),
    ("drivers.ethernet",): (2816, 4832),
    # The EMV kernel's primitives (docs/emv.md); measured 1266 / 2185, 786 / 1434, 2390 / 4291.
    ("app.emv.tlv",): (1536, 2560),
    ("app.emv.tlv", "app.emv.dol"): (1152, 1792),
    ("app.emv.tlv", "app.emv.oda"): (2688, 4608),
    # The contact kernel's modules, each after what it imports (docs/emv.md); measured 2009 /
    # 3557, 1264 / 2272, 1496 / 2568, 3476 / 6244.
    ("app.emv.tlv", "app.emv.terminal"): (2304, 4096),
    ("app.emv.tlv", "app.emv.select"): (1472, 2560),
    ("app.emv.terminal", "app.emv.checks"): (1728, 2944),
    (
        "app.emv.dol",
        "app.emv.oda",
        "app.emv.checks",
        "app.emv.select",
        "drivers.cardchannel",
        "app.emv.kernel",
    ): (3968, 7040),
    # The contactless kernel (docs/emv.md, "Contactless"); measured 3214 / 5782.
    ("app.emv.tlv", "app.emv.dol", "app.emv.oda", "drivers.cardchannel", "app.emv.qpboc"): (
        3392,
        6080,
    ),
    # The sets the host downloads (docs/iso8583.md §13), after the TLV reader they share with
    # the kernels; and the black list's check at a sale. Measured 1673 / 2885, 406 / 739.
    ("app.store.records", "app.emv.tlv", "app.store.icsets"): (1920, 3200),
    ("app.store.records", "app.store.blacklist"): (640, 1024),
    # A package of app/ (a folder a concern, README's layout): its module object.
    ("app.txn",): (416, 576),
}

# The device prints, after each import: the heap in use and the qstr pool's figures.
MEASURE = """
import gc, sys, vfs, micropython
f = open(%r, "rb")
rom = f.read()
f.close()
vfs.mount(vfs.VfsRom(rom), "/rom")
sys.path[:] = [".frozen", "/rom"]
import app
# The packages of the modules measured are imported first: each module's row is the module's
# own heap, and each package has a row of its own.
for name in %r:
    while "." in name:
        name = name.rpartition(".")[0]
        __import__(name)
def scrub(depth):
    # Overwrite the C stack below: a stale pointer left there by the import would keep a
    # garbage object alive through the collection, and where one lands depends on the
    # environment's size (pytest's or a shell's).
    if depth:
        scrub(depth - 1)
for name in %r:
    scrub(%d)
    gc.collect()
    print("heap", gc.mem_alloc())
    micropython.qstr_info()
    __import__(name)
scrub(%d)
gc.collect()
print("heap", gc.mem_alloc())
micropython.qstr_info()
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory, interpreter):
    # app/ and drivers/ only: the modules measured and what they import, compiled for the
    # interpreter's native code (x64 or x86).
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "device" / "app", src / "app")
    shutil.copytree(ROOT / "device" / "drivers", src / "drivers")
    out = tmp_path_factory.mktemp("rom") / "app.romfs"
    build.build_romfs(src, out, micropython.arch(interpreter))
    return out


def retained(image, names, interpreter=None):
    """Heap kept by importing the last of `names` (after the others), counting the qstrs it
    adds at their size rather than the qstr pool's growth: the pool grows by doubling, and
    which module happens to trigger a new pool depends on import order.

    The collector is conservative: a stale word that happens to point into a freed block keeps
    it (a CI run once counted 128 bytes more for app.crypto.des than any run here). Such a
    pointer only adds, so the figure is the smaller of two runs whose stacks differ."""
    return min(_retained(image, names, interpreter, depth) for depth in (40, 67))


def _retained(image, names, interpreter, depth):
    out = (
        micropython.run(
            # The image by its name from its folder: the program's text, and so the heap's
            # layout before the import, is the same whatever the temporary folder is called.
            code=MEASURE % (image.name, names, names, depth, depth),
            heap=None,
            interpreter=interpreter,
            cwd=image.parent,
        )
        .check()
        .stdout
    )
    heap = [int(n) for n in re.findall(r"^heap (\d+)", out, re.M)]
    pool = [
        tuple(map(int, found))
        for found in re.findall(r"n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)", out)
    ]
    (qstrs0, data0, total0), (qstrs1, data1, total1) = pool[-2], pool[-1]
    qstr_entry = 3 + micropython.word_bits(interpreter) // 8  # hash (2), length (1), pointer
    used = (qstrs1 - qstrs0) * qstr_entry + (data1 - data0)
    return heap[-1] - heap[-2] - (total1 - total0) + used


@pytest.mark.parametrize("names", list(LIMITS), ids=lambda names: names[-1])
def test_retained_heap_after_import(image, names, interpreter):
    used = retained(image, names, interpreter)
    bits = micropython.word_bits(interpreter)
    print("%s keeps %d bytes (%d-bit)" % (names[-1], used, bits))
    assert used <= LIMITS[names][bits == 64], (names[-1], bits, used)


def catalogue(module):
    # (_M_ constant value, the name its line of _MESSAGES is marked with), in table order.
    source = Path(module.__file__).read_text()
    table = source[source.index("_MESSAGES = (") :]
    table = table[: table.index("\n)\n")]
    # The marker ends the message's line, or has the next line to itself (a long message).
    marked = re.findall(r"^    [\"']\|.*[\"'](?:  |\n    )# (_M_\w+)$", table, re.M)
    return [(getattr(module, name), name) for name in marked]


@pytest.mark.parametrize(
    "module",
    [
        paramschema,
        keys,
        keylayout,
        params,
        store,
        txn,
        txnmsg,
        comm,
        iso8583,
        sim800,
        sim7600,
        hayes,
        ethernet,
    ],
    ids=lambda m: m.__name__,
)
def test_message_numbers_match_their_lines(module):
    marked = catalogue(module)
    constants = [name for name in vars(module) if name.startswith("_M_")]
    assert [value for value, _ in marked] == list(range(len(marked)))
    assert sorted(name for _, name in marked) == sorted(constants)
    assert module._MESSAGES.count("|") == len(marked) + 1


def test_messages_read_back_whole():
    assert paramschema._text(paramschema._MESSAGES, paramschema._M_RANGE) == (
        "%s: must be %d to %d, got %d"
    )
    assert keys._message(keys._M_NO_TMK, (9, 1)) == "no master key in slot 9 of application 1"
    assert keys._message(keys._M_ZERO_KEY, ()) == "a master key of all zeros is refused"
    assert txn._text(txn._M_QUEUED, (7, "98")) == "reversal of 000007 queued (98)"
    assert txn._text(txn._M_NEED_CARD) == "card data is needed"
    assert sim800._text(sim800._M_NO_ANSWER, "AT+CPIN?") == "no answer to AT+CPIN?"
    assert sim7600._text(sim7600._M_STILL_ON) == "module still answers after PWRKEY"
    assert hayes._text(hayes._M_NO_DATA) == "no data from the far end"
    assert ethernet._text(ethernet._M_DNS) == "DNS server"
    assert iso8583._text(iso8583._M_LENGTH, (20, 19)) == "length 20, maximum 19"
    assert comm._text(comm._M_CONNECT, ("h", 5, 111)) == "cannot connect to h:5 (111)"


def test_layouts_read_back_as_tuples():
    # docs/keys.md, "Field 62 of the sign-on response".
    sm4 = (60, (("PIK", 0, 16, 16, 4), ("MAK", 20, 16, 36, 4), ("TDK", 40, 16, 56, 4)))
    assert {code: keylayout.parse(code) for code in ("001", "003", "004", "006", "SM4")} == {
        "001": (24, (("PIK", 0, 8, 8, 4), ("MAK", 12, 8, 20, 4))),
        "003": (40, (("PIK", 0, 16, 16, 4), ("MAK", 20, 16, 36, 4))),
        "004": (60, (("PIK", 0, 16, 16, 4), ("MAK", 20, 8, 36, 4), ("TDK", 40, 16, 56, 4))),
        "SM4": sm4,
        "006": sm4,
    }
    for code in ("005", "00", "0040"):
        with pytest.raises(ValueError, match="is not a sign-on layout"):
            keylayout.parse(code)


def test_schema_rows_read_back():
    schema = paramschema.SCHEMA
    assert len(schema) == 71 and [row[0] for row in schema] == sorted(row[0] for row in schema)
    assert schema[0] == (0x01, "language", paramschema._CHOICE, 0, 0, 0x01, ("zh", "en"))
    apn = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-."
    assert schema[12] == (0x0D, "lockdown", paramschema._BOOL, 0, 1, 0x05, None)
    assert schema[13][:2] == (0x0E, "admin_password")
    assert schema[21][:6] == (0x21, "gprs.apn", paramschema._TEXT, 1, 63, 0x21)
    assert schema[21][6] == (apn, "letters, digits, '-' and '.'")
    assert schema[25] == (0x25, "gprs.port", paramschema._U16, 1, 65535, 0x21, None)
    bearers = ("dialup", "gprs", "ethernet")
    assert schema[-6] == (0x5A, "bearer", paramschema._CHOICE, 0, 0, 0x06, bearers)
    assert schema[-5][:2] == (0x5B, "chip_first")
    assert schema[-4][:2] == (0x5C, "blacklist_layout")
    assert schema[-3][:2] == (0x5D, "contactless_codes")
    assert schema[-2][:2] == (0x5E, "contactless")
    assert schema[-1][:2] == (0x80, "job_reference") and schema[-1][6][0] is None
    for tag, name, *_ in schema:
        scope = paramschema.TERMINAL if tag < 0x40 or tag >= 0x80 else paramschema._APPLICATION
        assert paramschema.tag_of(name, scope) == tag and paramschema.name_of(tag) == name
    assert paramschema.tag_of("key_algorithm", paramschema._APPLICATION) == 0x44
    assert paramschema.tag_of("gprs.apn", paramschema._APPLICATION) == 0
    assert paramschema.tag_of("language|receipt_copies", paramschema.TERMINAL) == 0
