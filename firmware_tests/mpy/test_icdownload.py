# The IC downloads at sign-on (app.txn.icdownload, app.store.icsets; docs/iso8583.md §13):
# the CA public keys (header processing requirement 4) and the IC application parameters (5)
# the host asks for, against fakehost.FakeHost on a RAM flash: each key's check value
# verified, the new set in place only once whole, the old one kept otherwise, and the host
# asked nothing when it asks for nothing.
# mpy-heap: 384K
# (test_txn's helpers are compiled from source into the heap with it.)
from fakehost import aid_entry, capk
from test_txn import ROOT, Request, signed_on

from app.store.icsets import AID, CAPK, ICSets

RID = b"\xa0\x00\x00\x03\x33"
DEBIT = RID + b"\x01\x01\x01"
CREDIT = RID + b"\x01\x01\x02"
QUASI = RID + b"\x01\x01\x03"


def modulus(index, size):
    # A deterministic stand-in: the download checks the SHA-1, not the key's arithmetic.
    return bytes((index * 7 + i) & 0xFF | 0x80 for i in range(size))


KEYS = [capk(RID, index, modulus(index, size)) for index, size in ((2, 128), (3, 176), (8, 248))]
AIDS = [aid_entry(DEBIT), aid_entry(CREDIT), aid_entry(QUASI)]


def ic_host(page=2):
    store, host, eng = signed_on()
    host.capks = list(KEYS)
    host.aids = list(AIDS)
    host.ic_page = page
    host.ic_after_capk = 5
    return store, host, eng


def codes(host):
    return [(mti, fields[60][8:11]) for mti, fields in host.requests]


def sign_on(eng, host, processing=4):
    if processing:
        host.fault("processing:%d" % processing, "0800")
    host.requests = []
    return eng.run(Request("sign_on"))


def test_a_sign_on_asking_for_ca_keys_downloads_them_then_the_ic_parameters():
    store, host, eng = ic_host()
    stan = eng.stan
    result = sign_on(eng, host)
    assert result.approved
    assert codes(host) == [
        ("0800", "004"),
        ("0820", "372"),
        ("0820", "372"),
        ("0800", "370"),
        ("0800", "370"),
        ("0800", "370"),
        ("0800", "371"),
        ("0820", "382"),
        ("0820", "382"),
        ("0800", "380"),
        ("0800", "380"),
        ("0800", "380"),
        ("0800", "381"),
    ]
    # No STAN for the downloads: no field 11, the counter moved by the sign-on alone.
    assert all(11 not in fields for _, fields in host.requests[1:])
    assert eng.stan == stan + 1
    queries = [fields[62] for _, fields in host.requests if fields[60][8:11] == "372"]
    assert queries == [b"100", b"102"]
    assert host.requests[3][1][62] == b"\x9f\x06\x05" + RID + b"\x9f\x22\x01\x02"
    assert host.requests[9][1][62] == b"\x9f\x06\x08" + DEBIT
    sets = ICSets(ROOT)
    key = sets.ca_key(RID, 8)
    assert key is not None and len(key[0xDF02]) == 248 and key[0xDF04] == b"\x03"
    assert sets.ca_key(RID, 9) is None
    assert sets.aid_list() == [DEBIT, CREDIT, QUASI]
    assert sets.aid(CREDIT)[0x9F09] == b"\x00\x30"
    count, check, when = sets.summary(CAPK)
    assert count == 3 and len(check) == 8 and len(when) == 14
    assert sets.summary(AID)[0] == 3
    assert result.notes[1] == "CA keys: 3 loaded, check %s" % check
    assert result.notes[2].startswith("IC parameters: 3 loaded, check ")


def test_a_sign_on_that_asks_for_nothing_downloads_nothing():
    store, host, eng = ic_host()
    assert sign_on(eng, host).approved
    before = ICSets(ROOT).summary(CAPK)
    result = sign_on(eng, host, processing=0)
    assert result.approved and codes(host) == [("0800", "004")]
    assert ICSets(ROOT).summary(CAPK) == before


def test_a_key_whose_check_value_is_wrong_is_refused_and_the_old_set_kept():
    store, host, eng = ic_host()
    host.ic_after_capk = 0
    assert sign_on(eng, host).approved
    before = ICSets(ROOT).summary(CAPK)
    host.capks.append(capk(RID, 9, modulus(9, 144), check=bytes(20)))
    result = sign_on(eng, host)
    assert result.approved  # the sign-on stands; the download is a note on it
    assert result.notes[1] == (
        "host request 4 failed: CA keys A000000333 09: check value (DF03) does not match:"
        " refused, the old set kept"
    )
    assert ("0800", "371") not in codes(host)  # no end: the host asks again next time
    sets = ICSets(ROOT)
    assert sets.summary(CAPK) == before and sets.ca_key(RID, 9) is None
    assert sets.ca_key(RID, 8) is not None


def test_a_line_lost_mid_download_keeps_the_old_set_and_the_next_sign_on_loads_it():
    store, host, eng = ic_host()
    host.ic_after_capk = 0
    host.capks = KEYS[:1]
    assert sign_on(eng, host).approved
    before = ICSets(ROOT).summary(CAPK)
    assert before[0] == 1
    host.capks = list(KEYS)
    seen = []

    def drop_the_second_key(mti, fields):
        if fields[60][8:11] == "370":
            seen.append(1)
            if len(seen) == 2:
                host.fault("close", "0800")

    host.on_request = drop_the_second_key
    result = sign_on(eng, host)
    host.on_request = None
    assert result.approved and result.notes[1].startswith("host request 4 failed: ")
    assert ICSets(ROOT).summary(CAPK) == before
    result = sign_on(eng, host)
    assert result.notes[1].startswith("CA keys: 3 loaded")
    assert ICSets(ROOT).summary(CAPK)[0] == 3


def test_a_host_that_refuses_or_lacks_an_entry_leaves_the_old_set():
    store, host, eng = ic_host()
    host.ic_after_capk = 0
    assert sign_on(eng, host).approved
    before = ICSets(ROOT).summary(CAPK)
    host.fault("decline:40", "0820")
    result = sign_on(eng, host)
    assert result.notes[1] == (
        "host request 4 failed: CA keys: the host answered 40 to 372, the old set kept"
    )

    # Listed, then not sent: the host's set changed between the two.
    def forget_the_keys(mti, fields):
        if fields[60][8:11] == "370":
            host.capks = []

    host.on_request = forget_the_keys
    result = sign_on(eng, host)
    assert result.notes[1] == (
        "host request 4 failed: CA keys A000000333 02: the host does not send it, the old set kept"
    )
    assert ICSets(ROOT).summary(CAPK) == before
    assert not any(code == "371" for _, code in codes(host))


def test_every_entry_is_read_back_as_the_host_sent_it():
    store, host, eng = ic_host()
    assert sign_on(eng, host).approved
    entries = list(ICSets(ROOT).entries(CAPK))
    assert [entry[0x9F22] for entry in entries] == [b"\x02", b"\x03", b"\x08"]
    assert all(entry[0xDF05] == b"20301231" and entry[0xDF06] == b"\x01" for entry in entries)
