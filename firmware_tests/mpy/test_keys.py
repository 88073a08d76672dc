# Key slots on MicroPython over a RAM flash (LittleFS v2): master keys by components, by TR-31
# block and by value, sign-on working keys (spec §3.3, §7), persistence, refusals that leave
# the flash untouched, and a scan of the flash image for clear keys.
# mpy-heap: 200K
# (The unix port compiles this module and the app modules from source into the heap; on the
# terminal they run from ROMFS. The key store's own peak heap is in docs/keys.md.)
import hashlib
from binascii import hexlify
from binascii import unhexlify as h

from ramflash import RAMFlash, mount_fresh

from app.crypto import mac, pinblock, tr31
from app.keys import layout as keylayout
from app.keys import slots as keys
from app.store.records import RecordStore

MOUNT = "/keyflash"
STORAGE_KEY = h("000102030405060708090A0B0C0D0E0F")

# Spec §4.4 / §7: TMK, the synthetic 60-byte field 62 (60.3 = 004) and the worked MAC example.
TMK = h("70F2A84CCBC2AE8625CBB0F2C22AB923")
PIK = h("0123456789ABCDEFFEDCBA9876543210")
MAK = h("C24A8FB57AA20123")
TDK = h("11111111111111112222222222222222")
F62_004 = h(
    "4C555721128EF42B482EF01EB4BA66AF08D7B4FB"
    "96D605EA176B7E9E00000000000000000547DB3E"
    "3C16484E68C96499F51E7191F2F7040BD2B91CC5"
)
MAB = h(
    "0200302004C020C0981100000000000000005100183402100006324392260009942820D131210112"
    "0084393136363838303134303030303030303030303030303031313536ACF46E73838A82F926000000"
    "00000000000822000001"
)
# 001 and 003 under the same TMK, built with pycryptodome (PIK 1A2B3C4D5E6F7081 / the 3DES
# PIK above; MAK C24A8FB57AA20123 / C24A8FB57AA201239876FEDCBA012345).
F62_001 = h("04CF6857F4413919A2AFCD7296D605EA176B7E9E0547DB3E")
F62_003 = h("4C555721128EF42B482EF01EB4BA66AF08D7B4FB96D605EA176B7E9EEAEEDC7392D2BE60A0D0F5B7")
MAK_003 = h("C24A8FB57AA201239876FEDCBA012345")
# SM4 (layout UNCONFIRMED, see app.keys.layout) under SM4 TMK 8A7B...6978, built with gmssl:
# PIK = the 3DES PIK bytes, MAK 3132...3536, TDK as above.
SM4_TMK = h("8A7B6C5D4E3F20110F1E2D3C4B5A6978")
SM4_MAK = h("31323334353637383930313233343536")
F62_SM4 = h(
    "0E26BF29C4D08BC066B5E6EBC7BC7FE82677F46B"
    "19928AB19B668A706548E344F91AC9D1D2D68ED9"
    "12F8377283A0B06664496786EDBB106E1EA7D571"
)
# The TMK under an AES-128 device KBPK (psec.tr31.wrap), and blocks that must be refused.
KBPK = h("89E88CF7931444F334BD7547FC3F380C")
TR31_TMK = (
    "D0112K0TD00N0000A46BE9B48CAC657C1FE9251226CA0B78BC82CCE4A4F34AD3FD32953FC468CE88"
    "19005B3D604FC7F5E26B0DCF54EEF8C4"
)
TR31_PIN = (
    "D0112P0TE00N00003B759337736F0E00E9ACDB3A0DCBCFE509A8B911CAD87C328EF257E9EB7DBAA9"
    "AF6427C60C1F2343529A077321F732E9"
)
TR31_MAC = (
    "D0112M3TC00N00000FA0A4F221EDBCEE872FFEAECFAD654F3CAF29E0EF01FC96FB1E9DA652BE1D90"
    "E93B0C3282A4375483799B6BA25289F5"
)
TR31_ENCRYPT_ONLY = (
    "D0112K0TE00N00000F6DEE065CC1B3DD1EEAE8687715E521429AA46BF92B0BCDFB4C5D67D953B4D9"
    "E9367028DA492A0C44C3C35D7728E0FB"
)
TR31_COMPONENT = (
    "D0112K0TDc1N00000C20E675FDCCDB04A0EB8146EC5D3AD0725847E6B0F7624B71AD615199DA3619"
    "3972D79CCCE905462FDABFB13E574FE7"
)
TR31_AES = (
    "D0144K0AD00N00004DD4F51921617999CF7DD66DBEFFCD8E768B2809668A32C101DF707A54914E3C"
    "5EEE952A2988E3771379F1242BC583B9E79872514F43474C3C0E6987B93BE1DA"
)
# TR-31:2018 A.7.2.1, version A: refused whatever it holds.
TR31_VERSION_A = "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701"

# Components of TMK (3 parts) and of SM4_TMK (2 parts), as custodians would read them out.
C1 = "1111111111111111AAAAAAAAAAAAAAAA"
C2 = "0F0E0D0C0B0A09080706050403020100"
C3 = hexlify(bytes(TMK[i] ^ h(C1)[i] ^ h(C2)[i] for i in range(16))).decode().upper()
S1 = "0123012301230123ABCDABCDABCDABCD"
S2 = hexlify(bytes(SM4_TMK[i] ^ h(S1)[i] for i in range(16))).decode()  # lower case


DEVICE = RAMFlash(256, 64)


def fresh():
    """The RAM flash, erased, formatted and mounted at MOUNT; returns the device."""
    mount_fresh(DEVICE, MOUNT)
    return DEVICE


def open_keys(storage_key=STORAGE_KEY):
    return keys.KeyStore(RecordStore(MOUNT + "/data"), storage_key)


def signed_on():
    device = fresh()
    store = open_keys()
    store.set_tmk(1, 1, TMK, "3DES")
    store.load_working_keys(1, 1, F62_004, "004")
    return device, store


def expect(kind, words, fn, *args):
    try:
        fn(*args)
    except kind as exc:
        for word in words:
            assert word in str(exc), (word, str(exc))
        return exc
    raise AssertionError("no %s" % kind.__name__)


def unchanged(device, kind, words, fn, *args):
    """fn(*args) raises `kind` and writes nothing to flash."""
    before = hashlib.sha256(device.data).digest()  # no copy of the image on the heap
    expect(kind, words, fn, *args)
    assert hashlib.sha256(device.data).digest() == before, "a refused operation wrote to flash"


def test_sign_on_004_spec_vector():
    _, store = signed_on()
    assert store.kcv_table(1) == (
        ("TMK", 1, "3DES", "47F816"),
        ("PIK", 1, "3DES", "08D7B4FB"),
        ("MAK", 1, "DES", "0547DB3E"),
        ("TDK", 1, "3DES", "D2B91CC5"),
    )
    # The MAK is single length in 004; with it the worked example's MAC comes out (§4.4).
    assert mac.cup_mac(store.cipher(1, "MAK"), MAB) == b"8A9E91B8"
    assert store.cipher(1, "MAK").name == "DES"
    # The PIK encrypts the spec's PIN block to the §7 value.
    pik = store.cipher(1, "PIK")
    assert pinblock.encrypt(pik, b"123456", b"6224242900000113") == h("34A9CB2C1BA2AB3A")
    assert store.cipher(1, "TDK").encrypt(bytes(8)) == keys.ciphers.new("3DES", TDK).encrypt(
        bytes(8)
    )


def test_load_returns_check_values():
    fresh()
    store = open_keys()
    store.set_tmk(2, 7, TMK, "3DES")
    got = store.load_working_keys(2, 7, F62_004, "004")
    assert got == (("PIK", "08D7B4FB"), ("MAK", "0547DB3E"), ("TDK", "D2B91CC5"))


def test_modes_001_and_003():
    fresh()
    store = open_keys()
    store.set_tmk(1, 0, TMK, "3DES")
    store.load_working_keys(1, 0, F62_001, "001")
    assert store.cipher(1, "PIK").name == "DES" and store.cipher(1, "MAK").name == "DES"
    assert mac.cup_mac(store.cipher(1, "MAK"), MAB) == b"8A9E91B8"
    expect(keys.NoKeyError, ["no TDK", "sign on"], store.cipher, 1, "TDK")
    store.load_working_keys(1, 0, F62_003, "003")
    assert store.cipher(1, "MAK").name == "3DES"
    expected = keys.ciphers.new("3DES", MAK_003).encrypt(MAB[:8])
    assert store.cipher(1, "MAK").encrypt(MAB[:8]) == expected
    # 003 has no TDK: the TDK of an earlier sign-on must not linger.
    expect(keys.NoKeyError, [], store.cipher, 1, "TDK")


def test_sm4_mode():
    fresh()
    store = open_keys()
    kcv = keys.ciphers.kcv("SM4", SM4_TMK, 3)
    store.set_tmk_from_components(3, 2, [S1, S2], "SM4", kcv)
    got = store.load_working_keys(3, 2, F62_SM4, "SM4")
    assert [row[0] for row in got] == ["PIK", "MAK", "TDK"]
    assert store.cipher(3, "MAK").name == "SM4"
    assert store.cipher(3, "MAK").encrypt(bytes(16)) == keys.ciphers.new("SM4", SM4_MAK).encrypt(
        bytes(16)
    )
    # 006 is the same layout under its S2 code.
    assert store.load_working_keys(3, 2, F62_SM4, "006") == got


def test_persisted_and_reloaded():
    signed_on()
    again = open_keys()  # a new store object over the same flash: as after a reboot
    assert again.kcv_table(1)[2] == ("MAK", 1, "DES", "0547DB3E")
    assert mac.cup_mac(again.cipher(1, "MAK"), MAB) == b"8A9E91B8"
    assert again.tmk_slots(1) == ((1, "3DES", "47F816"),)
    assert again.verify() == 4


def test_reload_reads_the_record_again_and_drops_the_cache():
    _, store = signed_on()
    assert not store._ciphers  # the sign-on's checks cache nothing: keys open on first use
    mak = store.cipher(1, "MAK")
    assert mac.cup_mac(mak, MAB) == b"8A9E91B8"
    other = open_keys()  # another store object changes the record
    other.set_tmk(2, 0, TMK, "3DES")
    assert store.tmk_slots(2) == ()
    store.reload()
    assert store.tmk_slots(2) == ((0, "3DES", "47F816"),)
    assert store.cipher(1, "MAK") is not mak
    assert mac.cup_mac(store.cipher(1, "MAK"), MAB) == b"8A9E91B8"


def test_wrong_check_value_keeps_previous_keys():
    device, store = signed_on()
    bad = bytearray(F62_004)
    bad[37] ^= 0x01  # MAK check value
    bad_args = (1, 1, bytes(bad), "004")
    unchanged(
        device, keys.KeyCheckError, ["key check failed: MAK"], store.load_working_keys, *bad_args
    )
    bad = bytearray(F62_004)
    bad[3] ^= 0x80  # encrypted PIK
    bad[58] ^= 0x01  # TDK check value
    exc = expect(keys.KeyCheckError, [], store.load_working_keys, 1, 1, bytes(bad), "004")
    assert str(exc) == "key check failed: PIK, TDK"
    assert isinstance(exc, ValueError)
    # The keys in use are still the old ones, in memory and on flash.
    assert mac.cup_mac(store.cipher(1, "MAK"), MAB) == b"8A9E91B8"
    assert mac.cup_mac(open_keys().cipher(1, "MAK"), MAB) == b"8A9E91B8"


def test_sign_on_refusals():
    device, store = signed_on()
    args = (1, 1, F62_004 + b"\x00", "004")
    unchanged(device, ValueError, ["must be 60 bytes", "got 61"], store.load_working_keys, *args)
    args = (1, 1, F62_004, "005")
    unchanged(device, ValueError, ["005 is not a sign-on layout"], store.load_working_keys, *args)
    args = (1, 9, F62_004, "004")
    unchanged(device, keys.NoKeyError, ["no master key in slot 9"], store.load_working_keys, *args)
    args = (1, 1, F62_SM4, "SM4")
    unchanged(device, ValueError, ["needs an SM4 master key"], store.load_working_keys, *args)
    args = (9, 1, F62_004, "004")
    unchanged(device, ValueError, ["application must be 1 to 8"], store.load_working_keys, *args)


def test_layout_parameter():
    # An acquirer whose 60.3=004 block put the TDK first: described, not coded.
    fresh()
    store = open_keys()
    store.set_tmk(1, 1, TMK, "3DES")
    swapped = F62_004[40:60] + F62_004[20:40] + F62_004[0:20]
    got = store.load_working_keys(1, 1, swapped, "004", layout="TDK16 CV4 MAK8 PAD8 CV4 PIK16 CV4")
    assert got[0] == ("TDK", "D2B91CC5")
    assert mac.cup_mac(store.cipher(1, "MAK"), MAB) == b"8A9E91B8"


def test_the_61_byte_layout_of_spec_7_3_needs_no_code():
    # Spec §7.3: 60.3 = 003 answered with 61 bytes: one leading byte, then three keys.
    fresh()
    store = open_keys()
    store.set_tmk(1, 1, TMK, "3DES")
    block = b"\x01" + F62_003 + F62_004[40:60]
    layout = "PAD1 PIK16 CV4 MAK16 CV4 TDK16 CV4"
    got = store.load_working_keys(1, 1, block, "003", layout=layout)
    assert got == (("PIK", "08D7B4FB"), ("MAK", "A0D0F5B7"), ("TDK", "D2B91CC5"))
    # The layouts' module is not kept once read: its heap is not the transactions'.
    import sys

    import app

    assert "app.keys.layout" not in sys.modules and not hasattr(app.keys, "layout")
    assert store.cipher(1, "MAK").name == "3DES"
    expect(
        ValueError,
        ["must be 61 bytes", "got 60"],
        store.load_working_keys,
        *(1, 1, F62_004, "003", layout),
    )
    # A fixed layout under another 60.3 code: 003 asked, the 004 block answered.
    got = store.load_working_keys(1, 1, F62_004, "003", layout="004")
    assert got[1] == ("MAK", "0547DB3E")
    # Check values of another length are read from the description.
    block = F62_004[:19] + F62_004[20:39] + F62_004[40:59]
    got = store.load_working_keys(1, 1, block, "004", "PIK16 CV3 MAK8 PAD8 CV3 TDK16 CV3")
    assert got[2] == ("TDK", "D2B91CC5")


def test_layout_descriptions():
    assert keylayout.parse("004") == (
        60,
        (("PIK", 0, 16, 16, 4), ("MAK", 20, 8, 36, 4), ("TDK", 40, 16, 56, 4)),
    )
    assert keylayout.parse("SM4") == keylayout.parse("006")
    assert keylayout.parse("MAK16 PAD2 CV8 PIK8 CV2") == (
        36,
        (("MAK", 0, 16, 18, 8), ("PIK", 26, 8, 34, 2)),
    )
    for text, words in (
        ("PIK16 CV4 MAC8 CV4", ["MAC8 is not PIK, MAK, TDK, CV or PAD"]),
        ("PIK16 CV4 MAK CV4", ["MAK is not"]),
        ("PIK16 CV04 MAK8 CV4", ["CV04 is not"]),
        ("005", ["005 is not a sign-on layout: 001, 003, 004, 006 or a description"]),
        ("PIK12 CV4 MAK8 CV4", ["PIK12: keys are 8, 16 or 24 bytes"]),
        ("PIK16 CV9 MAK8 CV4", ["CV9: keys are"]),
        ("PAD65 PIK16 CV4 MAK8 CV4", ["PAD65: keys are"]),
        ("CV4 PIK16 CV4 MAK8 CV4", ["CV4 is not after a key"]),
        ("PIK16 CV4 CV4 MAK8", ["CV4 is not after a key"]),
        ("PIK16 MAK8 CV4", ["PIK has no check value after it"]),
        ("PIK16 CV4 MAK8", ["MAK has no check value after it"]),
        ("PIK16 CV4 MAK8 CV4 PIK8 CV4", ["PIK appears twice"]),
        ("PIK16 CV4 TDK16 CV4", ["a layout needs a PIK and a MAK"]),
        ("", ["a layout needs a PIK and a MAK"]),
    ):
        expect(ValueError, words, keylayout.parse, text)
    expect(ValueError, ["PIK8: SM4 keys are 16 bytes"], keylayout.parse, "001", True)


def test_set_tmk_with_and_without_kcv():
    device = fresh()
    store = open_keys()
    assert store.set_tmk(1, 3, TMK, "3DES", kcv="47f816") == "47F816"
    des_kcv = keys.ciphers.kcv("DES", TMK[:8], 3)
    assert store.set_tmk(1, 4, TMK[:8], "DES", kcv=des_kcv) == hexlify(des_kcv).decode().upper()
    args = (1, 5, TMK, "3DES", "47F817")
    unchanged(device, keys.KeyCheckError, ["key check failed", "47F816"], store.set_tmk, *args)
    unchanged(
        device,
        ValueError,
        ["3DES key must be 16 or 24 bytes"],
        store.set_tmk,
        1,
        5,
        TMK[:8],
        "3DES",
    )
    unchanged(device, ValueError, ["DES, 3DES or SM4"], store.set_tmk, 1, 5, TMK, "AES")
    unchanged(device, ValueError, ["all zeros"], store.set_tmk, 1, 5, bytes(16), "3DES")
    unchanged(device, ValueError, ["key slot must be 0 to 99"], store.set_tmk, 1, 100, TMK, "3DES")
    assert [row[0] for row in store.tmk_slots(1)] == [3, 4]


# A TMK whose two halves are equal (70F2...AE86 twice), as a key block under KBPK (psec).
TR31_EQUAL_HALVES = (
    "D0112K0TD00N000069797CF2233EDDF4567BE79F47944F2F44FC4C07669F6793573232380D789A91EB"
    "CB8B6FAA76E92B981B855607373455"
)


def test_weak_master_keys_are_refused_with_the_reason():
    device = fresh()
    store = open_keys()
    store.set_tmk(1, 1, TMK, "3DES")
    k1 = TMK[:8]
    cases = (
        (h("0101010101010101"), "DES", "the key is a weak DES key"),
        (h("0000000000000001"), "DES", "the key is a weak DES key"),  # parity bits ignored
        (h("E0E0E0E0F1F1F1F1"), "DES", "the key is a weak DES key"),
        (h("1FE01FE00EF10EF1"), "DES", "the key is a semi-weak DES key"),
        (k1 + h("FEE0FEE0FEF1FEF1"), "3DES", "key part 2 is a semi-weak DES key"),
        (k1 + k1, "3DES", "key parts 1 and 2 are equal"),
        (k1 + bytes(b ^ 1 for b in k1), "3DES", "key parts 1 and 2 are equal"),
        (TMK + TMK[8:], "3DES", "key parts 2 and 3 are equal"),
    )
    for key, algorithm, reason in cases:
        exc = expect(ValueError, [reason], store.set_tmk, 1, 2, key, algorithm)
        assert hexlify(key).decode().upper()[:6] not in str(exc)
        unchanged(device, ValueError, [reason], store.set_tmk, 1, 1, key, algorithm)
    # The same refusals whichever way the key comes: components, a key block.
    weak = hexlify(k1 + k1).decode()
    unchanged(
        device,
        ValueError,
        ["key parts 1 and 2 are equal"],
        store.set_tmk_from_components,
        1,
        1,
        [C1, hexlify(bytes(a ^ b for a, b in zip(h(C1), h(weak)))).decode()],
        "3DES",
        keys.ciphers.kcv("3DES", h(weak), 3),
    )
    unchanged(
        device,
        ValueError,
        ["key parts 1 and 2 are equal"],
        store.load_tmk_tr31,
        1,
        1,
        KBPK,
        TR31_EQUAL_HALVES,
    )
    # Key parts 1 and 3 equal is 2-key 3DES, and SM4 has no such rule: both are loaded.
    store.set_tmk(1, 3, TMK + TMK[:8], "3DES")
    store.set_tmk(1, 4, SM4_TMK[:8] + SM4_TMK[:8], "SM4")
    assert [row[0] for row in store.tmk_slots(1)] == [1, 3, 4]


def test_components():
    key, parts, kcv = keys.combine_components([C1, C2, C3], "3DES")
    assert key == TMK and isinstance(key, bytearray)
    assert kcv == "47F816" and len(parts) == 3
    assert parts[0] == hexlify(keys.ciphers.kcv("3DES", h(C1), 3)).decode().upper()
    key, parts, kcv = keys.combine_components([S1, S2], "SM4")
    assert key == SM4_TMK
    expect(ValueError, ["2 or 3 components"], keys.combine_components, [C1], "3DES")
    expect(ValueError, ["2 or 3 components"], keys.combine_components, [C1, C2, C3, C1], "3DES")
    exc = expect(
        ValueError, ["component 2 is not hex"], keys.combine_components, [C1, "X" + C2[1:]], "3DES"
    )
    assert C2[1:] not in str(exc)  # a refusal never repeats key material
    expect(
        ValueError,
        ["component 2 is 30 hex digits"],
        keys.combine_components,
        [C1, C2[:30]],
        "3DES",
    )
    # Blanks among the digits: MicroPython's unhexlify would skip them (CPython's refuses),
    # and a 34-character component would pass for a 32-digit one.
    for spaced in (C2[:16] + "  " + C2[16:], C2 + "  ", C2[:8] + "\t" + C2[8:] + "\n"):
        expect(
            ValueError, ["component 2 is not hex"], keys.combine_components, [C1, spaced], "3DES"
        )
    fresh()
    expect(
        ValueError, ["check value is not hex"], open_keys().set_tmk, 1, 1, TMK, "3DES", "47  F8"
    )
    expect(ValueError, ["must be 8 bytes"], keys.combine_components, [C1, C2], "DES")
    expect(ValueError, ["all zeros"], keys.combine_components, [C1, C1], "3DES")
    assert keys.KeyStore.combine_components is keys.combine_components


def test_tmk_from_components():
    device = fresh()
    store = open_keys()
    assert store.set_tmk_from_components(1, 2, [C1, C2, C3], "3DES", "47F816") == "47F816"
    args = (1, 3, [C1, C2, C3], "3DES", "000000")
    unchanged(
        device, keys.KeyCheckError, ["key check failed"], store.set_tmk_from_components, *args
    )
    store.load_working_keys(1, 2, F62_004, "004")
    assert mac.cup_mac(store.cipher(1, "MAK"), MAB) == b"8A9E91B8"
    assert store.kcv_table(1)[0] == ("TMK", 2, "3DES", "47F816")


def test_several_tr31_master_keys_load_all_or_nothing():
    device = fresh()
    store = open_keys()
    items = ((2, TR31_TMK, None), (3, TR31_PIN, None))
    unchanged(
        device,
        keys.KeyUsageError,
        ["a PIN key block cannot become a master key"],
        store.load_tmk_tr31_all,
        1,
        items,
        KBPK,
    )
    assert store.tmk_slots(1) == ()
    loaded = store.load_tmk_tr31_all(1, ((2, TR31_TMK, None), (3, TR31_TMK, "47F816")), KBPK)
    assert loaded == [(2, "3DES", "47F816"), (3, "3DES", "47F816")]
    assert [row[0] for row in open_keys().tmk_slots(1)] == [2, 3]


def test_tmk_from_tr31_key_block():
    device = fresh()
    store = open_keys()
    assert store.load_tmk_tr31(1, 5, KBPK, TR31_TMK) == ("3DES", "47F816")
    store.load_working_keys(1, 5, F62_004, "004")
    assert mac.cup_mac(store.cipher(1, "MAK"), MAB) == b"8A9E91B8"
    assert store.load_tmk_tr31(1, 6, KBPK, TR31_TMK, kcv="47F816")[1] == "47F816"
    args = (1, 7, KBPK, TR31_PIN)
    unchanged(
        device,
        keys.KeyUsageError,
        ["a PIN key block cannot become a master key"],
        store.load_tmk_tr31,
        *args,
    )
    args = (1, 7, KBPK, TR31_MAC)
    unchanged(
        device,
        keys.KeyUsageError,
        ["a MAC key block cannot become a master key"],
        store.load_tmk_tr31,
        *args,
    )
    args = (1, 7, KBPK, TR31_ENCRYPT_ONLY)
    unchanged(device, keys.KeyUsageError, ["mode of use E"], store.load_tmk_tr31, *args)
    args = (1, 7, KBPK, TR31_COMPONENT)
    unchanged(device, keys.KeyUsageError, ["component"], store.load_tmk_tr31, *args)
    args = (1, 7, KBPK, TR31_AES)
    unchanged(
        device,
        keys.KeyUsageError,
        ["a A key cannot become a master key"],
        store.load_tmk_tr31,
        *args,
    )
    args = (1, 7, KBPK, TR31_VERSION_A)
    unchanged(
        device,
        tr31.KeyBlockError,
        ["version A key blocks are not accepted"],
        store.load_tmk_tr31,
        *args,
    )
    args = (1, 7, bytes(16), TR31_TMK)
    unchanged(device, tr31.KeyBlockError, ["MAC does not verify"], store.load_tmk_tr31, *args)
    args = (1, 7, KBPK, TR31_TMK, "123456")
    unchanged(device, keys.KeyCheckError, ["key check failed"], store.load_tmk_tr31, *args)
    assert [row[0] for row in store.tmk_slots(1)] == [5, 6]


def test_replacing_master_key_drops_its_working_keys():
    _, store = signed_on()
    store.set_tmk(1, 2, TMK, "3DES")  # another slot: working keys stay
    assert store.cipher(1, "MAK") is not None
    store.set_tmk(1, 1, SM4_TMK, "SM4")  # the slot they came from: they go
    expect(keys.NoKeyError, ["no MAK for application 1"], store.cipher, 1, "MAK")
    expect(keys.NoKeyError, [], open_keys().cipher, 1, "PIK")
    assert [row[0] for row in store.kcv_table(1)] == ["TMK", "TMK"]


def test_applications_are_separate():
    _, store = signed_on()
    store.set_tmk(2, 1, SM4_TMK, "SM4")
    expect(keys.NoKeyError, [], store.cipher, 2, "MAK")
    store.load_working_keys(2, 1, F62_SM4, "SM4")
    assert store.cipher(1, "MAK").name == "DES" and store.cipher(2, "MAK").name == "SM4"
    store.erase(2)
    assert store.kcv_table(2) == ()
    assert mac.cup_mac(store.cipher(1, "MAK"), MAB) == b"8A9E91B8"
    store.erase()
    assert store.kcv_table(1) == () and open_keys().kcv_table(1) == ()


def test_another_terminals_storage_key_opens_nothing():
    signed_on()
    other = open_keys(h("FF" * 16))
    assert other.kcv_table(1)[0] == ("TMK", 1, "3DES", "47F816")  # metadata is clear
    expect(keys.KeyStoreError, ["does not verify"], other.cipher, 1, "MAK")
    expect(keys.KeyStoreError, ["stored", "does not verify"], other.verify)
    expect(keys.KeyStoreError, [], other.load_working_keys, 1, 1, F62_004, "004")
    # What a sign-on checks before it sends anything.
    expect(keys.KeyStoreError, ["TMK in slot 1"], other.check_tmk, 1, 1)
    expect(keys.NoKeyError, ["no master key in slot 2"], other.check_tmk, 1, 2)
    open_keys().check_tmk(1, 1)


def test_mak_halves_for_the_x9_19_mac():
    # Spec §7: X9.19 of the §4.4 MAB with K = 0123...3210 is D2E1D279C4F95777; a MAK of 8
    # bytes gives X9.9 (both halves the same key), 756FED7EEB9F572C.
    device = fresh()
    store = open_keys()
    store.set_tmk(1, 1, TMK, "3DES")
    store.load_working_keys(1, 1, F62_003, "003")
    left, right = store.halves(1, "MAK")
    assert mac.retail_mac_halves(left, right, MAB) == mac.retail_mac(MAK_003, MAB)
    assert mac.retail_mac(PIK, MAB) == h("D2E1D279C4F95777")
    store.load_working_keys(1, 1, F62_004, "004")
    left, right = store.halves(1, "MAK")
    assert mac.retail_mac_halves(left, right, MAB) == h("756FED7EEB9F572C")
    assert (1, "MAK/2") in store._ciphers
    store.forget(1)
    assert not store._ciphers
    store.set_tmk(2, 1, SM4_TMK, "SM4")
    store.load_working_keys(2, 1, F62_SM4, "SM4")
    unchanged(device, ValueError, ["X9.19 needs a DES key", "SM4"], store.halves, 2, "MAK")


def test_tampered_record_refused():
    signed_on()
    records = RecordStore(MOUNT + "/data")
    version, payload = records.load("keys")
    # The clear check value of the first entry (the TMK) changed: it no longer matches the
    # sealed copy of its metadata.
    changed = bytearray(payload)
    changed[6] ^= 0x01
    records.save("keys", bytes(changed), version)
    expect(keys.KeyStoreError, ["does not match its sealed copy"], open_keys().verify)
    # A sealed byte changed: the tag fails.
    changed = bytearray(payload)
    changed[40] ^= 0x01
    records.save("keys", bytes(changed), version)
    expect(keys.KeyStoreError, ["does not verify"], open_keys().verify)
    records.save("keys", payload[:-3], version)
    expect(keys.KeyStoreError, ["malformed"], open_keys)
    records.save("keys", payload, 2)
    expect(keys.KeyStoreError, ["version 2"], open_keys)


def test_cipher_is_cached_and_holds_no_raw_key():
    _, store = signed_on()
    assert store.cipher(1, "PIK") is store.cipher(1, "PIK")
    again = open_keys()
    pik = again.cipher(1, "PIK")
    for name in dir(pik):
        value = getattr(pik, name)
        if isinstance(value, (bytes, bytearray)):
            assert PIK[:8] not in value and PIK[8:] not in value


def test_no_clear_key_reaches_flash():
    device = fresh()
    store = open_keys()
    store.set_tmk_from_components(1, 1, [C1, C2, C3], "3DES", "47F816")
    store.load_working_keys(1, 1, F62_004, "004")
    store.load_tmk_tr31(2, 3, KBPK, TR31_TMK)
    store.load_working_keys(2, 3, F62_001, "001")
    store.set_tmk_from_components(3, 1, [S1, S2], "SM4", keys.ciphers.kcv("SM4", SM4_TMK, 3))
    store.load_working_keys(3, 1, F62_SM4, "SM4")
    store.set_tmk(4, 0, TMK, "3DES")
    image = device.data
    secrets = [TMK, PIK, MAK, TDK, SM4_TMK, SM4_MAK, h("1A2B3C4D5E6F7081"), h(C1), h(C2), h(C3)]
    secrets += [h(S1), h(S2)]
    for secret in secrets:
        # Any 6-byte run of a key would be a leak (a random match in 16 KB: about 2^-34).
        for i in range(len(secret) - 5):
            assert secret[i : i + 6] not in image, "clear key bytes on flash"
        assert hexlify(secret) not in image and hexlify(secret).upper() not in image
    # The record is there, with the check values in clear.
    for check in (b"\x47\xf8\x16\x83", h("08D7B4FB"), h("0547DB3E"), h("D2B91CC5")):
        assert check in image
    assert RecordStore(MOUNT + "/data").load("keys") is not None


def test_errors_name_no_key_material():
    _, store = signed_on()
    bad = bytearray(F62_004)
    bad[37] ^= 1
    exc = expect(keys.KeyCheckError, [], store.load_working_keys, 1, 1, bytes(bad), "004")
    text = str(exc)
    for secret in (TMK, PIK, MAK, TDK):
        assert hexlify(secret).decode().upper() not in text.upper()
