# The IC downloads at sign-on (app.txn.icdownload, app.store.icsets; docs/iso8583.md §13):
# the CA public keys (header processing requirement 4) and the IC application parameters (5)
# the host asks for, against fakehost.FakeHost on a RAM flash: each key's check value
# verified, the new set in place only once whole, the old one kept otherwise, and the host
# asked nothing when it asks for nothing.
# mpy-heap: 384K
# (test_txn's helpers are compiled from source into the heap with it.)
from fakehost import aid_entry, capk
from fakehost import black_entries as listed
from fakehost import contactless_limits as limits
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


# --- the black list (7) and the contactless parameters (9) -------------------------------------

CARD = "6224242900000113"  # test_txn.TRACK's card


def test_a_black_list_is_downloaded_a_page_at_a_time_and_a_listed_card_refused_unsent():
    from test_txn import sale

    from app.store.icsets import BLACKLIST

    store, host, eng = ic_host(page=2)
    host.blacklist = listed("622202", "6224242900000113", "9559")
    result = sign_on(eng, host, processing=7)
    assert result.approved
    assert codes(host) == [("0800", "004"), ("0800", "390"), ("0800", "390"), ("0800", "391")]
    assert [fields[62] for _, fields in host.requests[1:3]] == [b"1000", b"1002"]
    assert all(11 not in fields for _, fields in host.requests[1:])
    count, check, _ = ICSets(ROOT).summary(BLACKLIST)
    assert count == 3 and result.notes[1] == "Black list: 3 loaded, check %s" % check
    host.requests = []
    stan = eng.stan
    result = sale(eng)
    assert not result.approved and result.error == "blacklisted"
    assert result.detail == "card 622424... is on the acquirer's black list: nothing sent"
    assert result.message_zh == "拒绝名单中的卡,请换卡"
    assert host.requests == [] and eng.stan == stan
    # A card that is not listed goes as before.
    host.blacklist = listed("9559")
    sign_on(eng, host, processing=7)
    assert sale(eng).approved


def test_a_range_black_list_takes_its_layout_from_the_parameter():
    from test_txn import sale, signed_on

    store, host, eng = signed_on(profile=((0x5C, b"range"),))
    host.ic_page = 4
    host.blacklist = [b"06622400622499", b"0495599559"]
    result = sign_on(eng, host, processing=7)
    assert result.notes[1].startswith("Black list: 2 loaded")
    assert sale(eng).error == "blacklisted"


def test_a_bad_black_list_entry_is_refused_by_name_and_the_old_list_kept():
    from test_txn import sale

    from app.store.icsets import BLACKLIST

    store, host, eng = ic_host(page=8)
    host.blacklist = listed("9559")
    sign_on(eng, host, processing=7)
    before = ICSets(ROOT).summary(BLACKLIST)
    for bad, why in (
        (b"0662A202", "not 2 digits of length then digits"),
        (b"06622", "3 digits, the length says 6"),
        (b"00", "not 2 digits of length then digits"),
    ):
        host.blacklist = listed("622424") + [bad]
        result = sign_on(eng, host, processing=7)
        assert result.approved
        assert result.notes[1] == (
            "host request 7 failed: Black list: entry 2 (%s) refused: %s; the old list kept"
            % (bad.decode(), why)
        ), result.notes
        assert ICSets(ROOT).summary(BLACKLIST) == before
        assert ("0800", "391") not in codes(host)
    assert sale(eng).approved  # 622424 never made it into the list


def test_a_black_list_over_its_bound_is_refused_whole():
    from app.store.icsets import BLACKLIST, MAX_BLACKLIST

    store, host, eng = ic_host(page=50)
    host.blacklist = listed(*("%06d" % n for n in range(MAX_BLACKLIST + 1)))
    result = sign_on(eng, host, processing=7)
    assert result.notes[1] == (
        "host request 7 failed: Black list: the host lists more than %d, the old set kept"
        % MAX_BLACKLIST
    )
    assert ICSets(ROOT).summary(BLACKLIST) is None


def test_the_contactless_parameters_replace_every_aids_quick_pass_limits():
    from app.store.icsets import CONTACTLESS

    store, host, eng = ic_host()
    host.ic_after_capk = 5
    host.after_end = {"381": 9}
    host.contactless = limits(floor=20000, limit=300000, cvm=30000)
    result = sign_on(eng, host)
    assert codes(host)[-2:] == [("0800", "394"), ("0800", "395")]
    count, check, _ = ICSets(ROOT).summary(CONTACTLESS)
    assert count == 1 and result.notes[3] == "Contactless parameters: 1 loaded, check %s" % check
    credit = ICSets(ROOT).aid(CREDIT)
    assert credit[0xDF20] == b"\x00\x00\x00\x30\x00\x00" and credit[0x9F09] == b"\x00\x30"
    assert credit[0xDF21] == b"\x00\x00\x00\x03\x00\x00"
    # The contactless kernel's limits are the downloaded ones: 3,000.00 is refused (insert
    # or swipe), 2,999.99 goes on.
    from app.emv import qpboc

    assert qpboc.refused_amount(300000, ICSets(ROOT))
    assert not qpboc.refused_amount(299999, ICSets(ROOT))


def test_contactless_codes_and_bad_limits():
    from test_txn import signed_on

    from app.store.icsets import CONTACTLESS

    store, host, eng = signed_on(profile=((0x5D, b"396,397"),))
    host.contactless = limits()
    result = sign_on(eng, host, processing=9)
    # The fake host knows 394 only: 396 is answered without 62.
    assert codes(host)[1:] == [("0800", "396")]
    assert result.notes[1] == (
        "host request 9 failed: Contactless parameters 396: the host does not send it,"
        " the old set kept"
    )
    store, host, eng = ic_host()
    host.contactless = limits()
    assert sign_on(eng, host, processing=9).notes[1].startswith("Contactless parameters: 1 ")
    before = ICSets(ROOT).summary(CONTACTLESS)
    host.contactless = limits()[:-6] + b"\x00\x00\x00\x0a\x00\x00"
    result = sign_on(eng, host, processing=9)
    assert result.notes[1] == (
        "host request 9 failed: Contactless parameters: DF21 is not an amount of 12 digits,"
        " the old set kept"
    )
    assert ICSets(ROOT).summary(CONTACTLESS) == before
