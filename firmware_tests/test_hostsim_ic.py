"""The IC downloads at sign-on (docs/iso8583.md §13; hostlib.hostsim.icsets): the simulator's
CA key and IC parameter sets as a test terminal written with pyiso8583 sees them (query,
download, end; the header's processing requirement 4 then 5 while a terminal's last download
differs from the host's set), and the device engine on MicroPython downloading them from the
simulator at its first sign-on, refusing a key whose check value is wrong, and asking again
after a download cut off."""

from __future__ import annotations

import hashlib

import pytest
from test_hostsim import MID, TID, host, term  # noqa: F401 (fixtures)
from test_hostsim import Terminal as PyTerminal
from test_txn_e2e import (  # noqa: F401 (fixtures)
    TRACK,
    approved,
    sale,
    state,
    template,
    terminal,
)

from hostlib.hostsim import HostSimError, HostSimulator, icsets
from hostlib.hostsim.icsets import ICSetError
from tools import hostsim as hostsim_cli

RID = "A000000333"


def digit6(t: PyTerminal) -> int:
    """The processing requirement of the last answer's header (spec §1, digit 6)."""
    return t.last_header[2] & 0x0F


def ic(t: PyTerminal, mti: str, code: str, f62: bytes | None = None) -> dict:
    fields = {"t": mti, "41": TID, "42": MID, "60": "00%06d%s" % (t.batch, code)}
    if f62 is not None:
        fields["62"] = f62.hex().upper()
    return t.request(fields)


def listing(f62: bytes) -> list[tuple[int, bytes]]:
    return icsets.parse(f62[1:])


def test_a_first_sign_on_is_asked_for_both_sets_and_gets_them(host, term):  # noqa: F811
    # The term fixture signed on: its answer asked for the CA keys.
    assert digit6(term) == 4
    r = ic(term, "0820", "372", b"100")
    assert r["t"] == "0830" and r["39"] == "00" and "11" not in r
    f62 = bytes.fromhex(r["62"])
    assert f62[:1] == b"1"  # the whole list in one answer
    listed = listing(f62)
    rids = [v.hex().upper() for t, v in listed if t == 0x9F06]
    indexes = [v[0] for t, v in listed if t == 0x9F22]
    assert rids == [RID] * 5 and indexes == [0x80, 0x81, 0x82, 0x83, 0x84]
    assert [v for t, v in listed if t == 0xDF05] == [b"20301231"] * 5
    sizes = []
    for index in indexes:
        r = ic(term, "0800", "370", bytes.fromhex("9F0605" + RID + "9F2201%02X" % index))
        f62 = bytes.fromhex(r["62"])
        assert r["39"] == "00" and f62[:1] == b"1"
        key = dict(icsets.parse(f62[1:]))
        assert key[0x9F22] == bytes([index]) and key[0xDF06] == b"\x01" == key[0xDF07]
        want = hashlib.sha1(
            bytes.fromhex(RID) + bytes([index]) + key[0xDF02] + key[0xDF04]
        ).digest()
        assert key[0xDF03] == want
        sizes.append(len(key[0xDF02]))
    assert sizes == [128, 144, 176, 248, 176]
    assert host.terminal(TID)["capk_check"] is None  # not before the end
    r = ic(term, "0800", "371")
    assert r["39"] == "00" and digit6(term) == 5  # the IC parameters next
    assert host.terminal(TID)["capk_check"] == host.ic_check("capk")
    r = ic(term, "0820", "382", b"100")
    aids = [v.hex().upper() for t, v in listing(bytes.fromhex(r["62"])) if t == 0x9F06]
    assert aids == ["A000000333010101", "A000000333010102", "A000000333010103"]
    r = ic(term, "0800", "380", bytes.fromhex("9F0608A000000333010102"))
    params = dict(icsets.parse(bytes.fromhex(r["62"])[1:]))
    assert params[0x9F06].hex().upper() == "A000000333010102"
    assert params[0xDF11] == bytes.fromhex("D84000A800")  # TAC default
    assert params[0xDF21] == bytes.fromhex("000000100000")  # contactless CVM limit 1,000.00
    r = ic(term, "0800", "381")
    assert r["39"] == "00" and digit6(term) == 0
    assert term.sign_on()["39"] == "00" and digit6(term) == 0  # nothing more to ask


def test_the_list_comes_a_page_at_a_time(host, term):  # noqa: F811
    host.engine.ic_page = 2
    got, controls = [], []
    while True:
        r = ic(term, "0820", "372", b"1%02d" % len(got))
        f62 = bytes.fromhex(r["62"])
        controls.append(f62[:1])
        got += [v[0] for t, v in listing(f62) if t == 0x9F22]
        if f62[:1] != b"2":
            break
    assert controls == [b"2", b"2", b"1"] and got == [0x80, 0x81, 0x82, 0x83, 0x84]


def test_a_key_the_host_lacks_a_bad_query_and_a_wrong_check_value(host, term):  # noqa: F811
    r = ic(term, "0800", "370", bytes.fromhex("9F0605" + RID + "9F220199"))
    assert r["39"] == "00" and bytes.fromhex(r["62"]) == b"0"
    assert ic(term, "0820", "372", b"1x")["39"] == "30"
    host.set_fault("bad_check", tid=TID)
    assert term.sign_on()["39"] == "00"  # a sign-on does not spend it
    r = ic(term, "0800", "370", bytes.fromhex("9F0605" + RID + "9F220180"))
    key = dict(icsets.parse(bytes.fromhex(r["62"])[1:]))
    want = icsets.check_value(bytes.fromhex(RID), 0x80, key[0xDF02], key[0xDF04])
    assert key[0xDF03] != want


def test_a_changed_set_is_asked_for_again(host, term):  # noqa: F811
    for code in ("371", "381"):
        ic(term, "0800", code)
    assert term.sign_on()["39"] == "00" and digit6(term) == 0
    host.set_ic_set("aid", host.ic_set("aid")[:2])
    assert term.sign_on()["39"] == "00" and digit6(term) == 5
    host.set_processing_requirement(TID, "3")  # what the operator sets goes first
    assert term.sign_on()["39"] == "00" and digit6(term) == 3


def test_the_test_ca_keys_are_certs_keys():
    from hostlib.card import certs

    assert sorted(icsets.TEST_CA_KEYS) == sorted(certs.TEST_CA_KEYS)
    for entry in icsets.default_capks():
        fields = entry.fields
        ca = certs.ca_key(fields[0x9F22][0])
        assert fields[0xDF02] == ca.key.modulus_bytes
        assert fields[0xDF04] == ca.key.exponent_bytes
        assert fields[0xDF03] == ca.check_value()
        assert fields[0xDF05].decode() == certs.TEST_CA_EXPIRY


def test_a_set_entry_must_parse_and_a_key_must_match_its_check_value():
    good = icsets.default_capks()[0].tlv
    assert icsets.entry("capk", good.hex()).key == RID + "80"
    with pytest.raises(ICSetError, match="line 2: check value DF03 does not match"):
        icsets.entry("capk", (good[:-1] + b"\x00").hex(), "line 2")
    with pytest.raises(ICSetError, match="not TLV in hex"):
        icsets.entry("aid", "9F06", "line 1")
    with HostSimulator() as sim:
        with pytest.raises(HostSimError, match="twice"):
            sim.set_ic_set("aid", sim.ic_set("aid")[:1] * 2)
        with pytest.raises(HostSimError, match="capk, aid, black or ctls"):
            sim.ic_set("keys")


def cli(db):
    """`poskit hostsim --db DB ARGS...` as a function of ARGS: its exit status."""
    parser = hostsim_cli.argparse.ArgumentParser()
    hostsim_cli.add_arguments(parser)

    def run(*argv: str) -> int:
        return hostsim_cli.run(parser.parse_args(["--db", str(db), *argv]))

    return run


def test_poskit_hostsim_lists_and_replaces_the_sets(tmp_path, capsys):
    db = tmp_path / "host.db"
    run = cli(db)
    assert run("--create", "--seed") == 0
    capsys.readouterr()
    assert run("ic-sets") == 0
    out = capsys.readouterr().out
    with HostSimulator(str(db), seed=False) as sim:
        check = sim.ic_check("capk")
    assert f"CA keys: 5, check {check}" in out and "A00000033383  1984 bits" in out
    assert "IC parameters: 3" in out and "terminal 12345678: CA keys never downloaded" in out
    keys = tmp_path / "capk.txt"
    keys.write_text(icsets.default_capks()[0].tlv.hex() + "\n")
    assert run("ic-sets", "--capk-file", str(keys)) == 0
    assert "CA keys: 1, check" in capsys.readouterr().out
    keys.write_text("9F0605A000000333\n")
    with pytest.raises(ICSetError, match="entry 1"):
        run("ic-sets", "--capk-file", str(keys))


def done_ic(t: PyTerminal) -> None:
    # The CA keys and IC parameters marked downloaded: the answers ask for the rest only.
    for code in ("371", "381"):
        ic(t, "0800", code)


def test_the_black_list_is_asked_for_then_sent_a_page_at_a_time(host, term):  # noqa: F811
    done_ic(term)
    assert term.sign_on()["39"] == "00" and digit6(term) == 0  # an empty list: nothing
    host.engine.black_page = 2
    listed = ["622202", "6224242900000113", "9559"]
    host.set_ic_set("black", [icsets.black_entry(text) for text in listed])
    assert term.sign_on()["39"] == "00" and digit6(term) == 7
    got, controls = b"", []
    while True:
        r = ic(term, "0800", "390", b"1%03d" % (len(controls) * 2))
        assert r["t"] == "0810" and r["39"] == "00" and "11" not in r
        f62 = bytes.fromhex(r["62"])
        controls.append(f62[:1])
        got += f62[1:]
        if f62[:1] != b"2":
            break
    assert controls == [b"2", b"1"] and got == b"06622202166224242900000113049559"
    assert ic(term, "0800", "390", b"1x")["39"] == "30"
    r = ic(term, "0800", "391")
    assert r["39"] == "00" and digit6(term) == 0
    assert host.terminal(TID)["black_check"] == host.ic_check("black")
    # Emptied: a terminal that has a list is asked to take the empty one.
    host.set_ic_set("black", [])
    assert term.sign_on()["39"] == "00" and digit6(term) == 7
    assert bytes.fromhex(ic(term, "0800", "390", b"1000")["62"]) == b"0"
    ic(term, "0800", "391")
    assert term.sign_on()["39"] == "00" and digit6(term) == 0


def test_the_contactless_parameters_are_one_entry(host, term):  # noqa: F811
    done_ic(term)
    host.set_ic_set("ctls", [icsets.contactless_entry(20_000, 300_000, 30_000)])
    assert term.sign_on()["39"] == "00" and digit6(term) == 9
    f62 = bytes.fromhex(ic(term, "0800", "394")["62"])
    assert f62[:1] == b"1" and dict(icsets.parse(f62[1:])) == {
        0xDF19: bytes.fromhex("000000020000"),
        0xDF20: bytes.fromhex("000000300000"),
        0xDF21: bytes.fromhex("000000030000"),
    }
    assert ic(term, "0800", "395")["39"] == "00" and digit6(term) == 0
    assert host.terminal(TID)["ctls_check"] == host.ic_check("ctls")


def test_black_list_entries_are_checked():
    assert icsets.black_entry("622202").tlv == b"06622202"
    assert icsets.black_entry("622200-622299", "range").tlv == b"06622200622299"
    assert icsets.black_entry("9559", "range").tlv == b"0495599559"
    for text, layout, why in (
        ("62A2", "prefix", "not 1 to 19 digits"),
        ("622200-622299", "prefix", "the layout must be range"),
        ("622299-622200", "range", "the first lower"),
        ("6222-622299", "range", "same length"),
        ("1" * 20, "prefix", "not 1 to 19 digits"),
    ):
        with pytest.raises(ICSetError, match=why):
            icsets.black_entry(text, layout)
    with HostSimulator() as sim:
        mixed = [icsets.black_entry("6222"), icsets.black_entry("9559-9560", "range")]
        with pytest.raises(HostSimError, match="two layouts"):
            sim.set_ic_set("black", mixed)
        many = [icsets.black_entry("%06d" % n) for n in range(icsets.MAX_BLACKLIST + 1)]
        with pytest.raises(HostSimError, match="terminals take 200"):
            sim.set_ic_set("black", many)
        assert sim.ic_set("black") == []


def test_poskit_hostsim_sets_the_black_list_and_contactless_parameters(tmp_path, capsys):
    db = tmp_path / "host.db"
    run = cli(db)
    assert run("--create", "--seed") == 0
    listed = tmp_path / "black.txt"
    listed.write_text("622200-622299\n9559-9559\n")
    assert run("ic-sets", "--blacklist-file", str(listed), "--blacklist-layout", "range") == 0
    out = capsys.readouterr().out
    assert "black list (range): 2, check" in out and "  622200-622299" in out
    assert run("ic-sets", "--contactless", "200,3000,300") == 0
    out = capsys.readouterr().out
    assert "contactless parameters: 1, check" in out
    assert "floor 200.00, limit 3,000.00, CVM limit 300.00" in out
    listed.write_text("622200-622299\n")
    with pytest.raises(ICSetError, match="entry 1: 622200-622299 is a range"):
        run("ic-sets", "--blacklist-file", str(listed))
    with pytest.raises(HostSimError, match="FLOOR,LIMIT,CVM"):
        run("ic-sets", "--contactless", "200")
    assert run("ic-sets", "--contactless", "none") == 0
    assert "contactless parameters: 0" in capsys.readouterr().out


# --- the device engine against the simulator ---------------------------------------------------


def notes(result: dict) -> list[str]:
    starts = ("CA keys", "IC parameters", "Black list", "Contactless", "host")
    return [n for n in result["notes"] if n.startswith(starts)]


SET_NAMES = {
    "capk": "CA keys",
    "aid": "IC parameters",
    "black": "Black list",
    "ctls": "Contactless parameters",
}


def loaded(sim: HostSimulator, result: dict, **counts: int) -> None:
    """The sign-on `result` loaded each set named with its count, in that order, and the
    simulator recorded each as the terminal's."""
    assert notes(result) == [
        "%s: %d loaded, check %s" % (SET_NAMES[kind], count, sim.ic_check(kind))
        for kind, count in counts.items()
    ]
    for kind in counts:
        assert sim.terminal(TID)[kind + "_check"] == sim.ic_check(kind)


def test_the_terminal_downloads_both_sets_at_its_first_sign_on_and_nothing_after(
    terminal,  # noqa: F811
    host,  # noqa: F811 (test_hostsim's, which the terminal fixture takes too)
):
    loaded(host, approved(terminal("sign_on")), capk=5, aid=3)
    messages = host.messages
    again = approved(terminal("sign_on"))
    assert notes(again) == [] and host.messages == messages + 1


def test_the_terminal_refuses_a_wrong_check_value_and_asks_again_after_a_cut(
    terminal,  # noqa: F811
    host,  # noqa: F811 (test_hostsim's, which the terminal fixture takes too)
):
    host.set_fault("bad_check", tid=TID)
    first = approved(terminal("sign_on"))
    assert notes(first) == [
        "host request 4 failed: CA keys A000000333 80: check value (DF03) does not match:"
        " refused, the old set kept"
    ]
    assert host.terminal(TID)["capk_check"] is None
    host.set_fault("close", tid=TID, txn="capk_download")
    cut = approved(terminal("sign_on"))
    assert notes(cut)[0].startswith("host request 4 failed: ")
    assert host.terminal(TID)["capk_check"] is None
    whole = approved(terminal("sign_on"))
    assert notes(whole)[0] == "CA keys: 5 loaded, check %s" % host.ic_check("capk")


def test_the_terminal_takes_the_black_list_and_refuses_a_listed_card_unsent(
    terminal,  # noqa: F811
    host,  # noqa: F811 (test_hostsim's, which the terminal fixture takes too)
):
    approved(terminal("sign_on"))
    host.set_ic_set("black", [icsets.black_entry(TRACK[:6])])
    host.set_ic_set("ctls", [icsets.contactless_entry(20_000, 300_000, 30_000)])
    loaded(host, approved(terminal("sign_on")), black=1, ctls=1)
    messages = host.messages
    refused = sale(terminal)
    assert not refused["approved"] and refused["error"] == "blacklisted", refused
    assert host.messages == messages  # nothing went out
    host.set_ic_set("black", [])
    approved(terminal("sign_on"))
    approved(sale(terminal))
