"""A chip sale through the transaction engine (app.txn.engine.Engine.run with
app.txn.chip.ChipCard) on MicroPython: the contact kernel on the TDA8029 driver against the
reader's emulator holding a built-in test card, the engine against the device tests' fake host
(firmware_tests/mpy/fakehost.py), the AIDs and CA keys those the host simulator downloads
(hostlib.hostsim.icsets' defaults, written with app.store.icsets as a download does). The
0200's frame is decoded here by pyiso8583 (hostlib.cup8583) and its field 55 checked with the
card's issuer keys (hostlib.card.issuer): the ARQC must verify; the fake host's answer carries
the ARPC this side computes.
"""

from pathlib import Path

from chipdevice import PRELUDE, converse, txn_init
from test_emv_kernel import approving, tags_of

from hostlib import cup8583, micropython
from hostlib.card import load_card
from hostlib.emulators.tda8029 import Tda8029Emulator
from hostlib.hostsim import HostSimulator, icsets
from hostlib.hostsim import chip as hostchip
from hostlib.state import TerminalState

ROOT = Path(__file__).resolve().parents[1]
MPY = Path(__file__).parent / "mpy"
HEAP = "1M"  # the engine, its test helpers and the kernel compile from source here

# A signed-on engine against the device tests' fake host, each frame it sends recorded.
ENGINE_SETUP = (
    PRELUDE
    + """
from test_txn import signed_on, pending
from board.unix_sim import SocketUART
from drivers import tda8029
from app.txn import chip, icdata
from app.txn.engine import Request


store, host, eng = signed_on()
frames = recorded(host)
"""
)

DEVICE = (
    ENGINE_SETUP
    + """
def on_request(mti, fields):
    if mti == "0200":
        reply = ask({"frame": frames[-1]})
        host.extra = {55: h(reply["host55"])} if reply["host55"] else {}
        if reply["fault"]:
            host.fault(reply["fault"], "0200")
host.on_request = on_request

# The IC sets as the host's download leaves them (app.store.icsets).
ic_sets(store.root)
reader = tda8029.Tda8029(SocketUART("127.0.0.1", cfg["port"]))
k = chip.start(eng, reader, cfg["amount"], pin=lambda: True)
say({"first": k.result, "reason": k.reason})
result = eng.run(Request("sale", amount=cfg["amount"], card=chip.ChipCard(k),
                         pin=bytearray(b"123456")))
k.finish()
say({"approved": result.approved, "error": result.error, "code": result.response_code,
     "kernel": k.result, "reason": k.reason, "note": result.reversal_note,
     "message": result.message_en, "pending": pending(store) is not None,
     "requests": [[mti, {str(n): x(v) for n, v in f.items()}] for mti, f in host.requests],
     "frames": frames, "journal": eng.journal.count(),
     "ic": [[r.stan, r.batch, r.psn, x(r.field55)] for r in icdata.entries(eng)]})
"""
)


def chip_sale(card, host):
    """Run a chip sale of 12.34 with `card`; `host(frame) -> (host55 or None, fault or None)`
    answers the 0200 (its frame bytes). Returns the device's last report."""
    config = {
        "mpy": str(MPY),
        "capks": [entry.tlv.hex() for entry in icsets.default_capks()],
        "aids": [entry.tlv.hex() for entry in icsets.default_aids()],
        "amount": 1234,
    }

    def answer(message, reports):
        if "frame" not in message:
            return None
        host55, fault = host(bytes.fromhex(message["frame"]))
        return {"host55": host55.hex() if host55 else None, "fault": fault}

    reports = converse(load_card(card), DEVICE, config, HEAP, answer)
    assert reports[0]["first"] == "online", reports
    return reports[-1]


def decoded(frame: bytes):
    return cup8583.decode(frame)


def issuer(code="00", spoil=False, fault=None):
    """A host answering `code` with the ARPC for the 0200's ARQC (checked first)."""
    answer = approving(code, spoil)

    def host(frame):
        message = decoded(frame)
        fields = message.fields
        state = {"field55": fields[55].hex(), "pan": fields[2], "psn": int(fields[23])}
        return answer(state)[0], fault or (None if code == "00" else "decline:" + code)

    return host


def test_chip_sale_sends_the_ic_fields_and_the_card_approves_after_the_host():
    seen = []

    def host(frame):
        seen.append(decoded(frame))
        return issuer()(frame)

    report = chip_sale("pboc-debit", host)
    assert report["approved"] and report["kernel"] == "approved", report
    fields = seen[0].fields
    assert seen[0].mti == "0200"
    assert fields[2] == "6224242900001012" and fields[14] == "3012"
    assert fields[22] == "051" and fields[23] == "001"
    assert fields[35].startswith("6224242900001012=3012201")
    assert fields[60][8:] == "000500"  # 60.3 000, 60.4 5 contact IC, 60.5 0, 60.6 0
    tags = tags_of(fields[55].hex())
    assert [f"{t:X}" for t in tags][:5] == ["9F26", "9F27", "9F10", "9F37", "9F36"]
    assert tags[0x9F41] == bytes.fromhex("%08d" % int(fields[11]))  # the STAN
    assert report["journal"] == 1 and not report["pending"]
    # The TC's 55 and the PSN, kept for the batch's IC upload.
    ((stan, batch, psn, kept),) = report["ic"]
    assert stan == int(fields[11]) and psn == 1 and batch == int(fields[60][2:8])
    assert tags_of(kept)[0x9F27] == b"\x40" and tags_of(kept)[0x9F36] == tags[0x9F36]


def test_the_card_declining_after_the_host_approved_is_reversed_with_06_and_its_55():
    report = chip_sale("card-declines", issuer())
    assert not report["approved"] and report["error"] == "card_declined", report
    assert report["reason"] == "card_declined"
    mtis = [mti for mti, _ in report["requests"]]
    assert mtis == ["0200", "0400"]
    reversal = report["requests"][1][1]
    assert reversal["39"] == "06" and reversal["11"] == report["requests"][0][1]["11"]
    assert reversal["38"]  # the approval's auth code
    tags = tags_of(reversal["55"])
    assert sorted(tags) == sorted([0x95, 0x9F1E, 0x9F10, 0x9F36])
    assert "35" not in reversal and "52" not in reversal
    assert not report["pending"] and report["journal"] == 1  # the reversal's own record
    assert report["ic"] == []


def test_a_wrong_arpc_the_card_declines_and_the_sale_is_reversed():
    report = chip_sale("pboc-debit", issuer(spoil=True))
    assert not report["approved"] and report["error"] == "card_declined"
    assert [mti for mti, _ in report["requests"]] == ["0200", "0400"]


def test_host_decline_the_card_gets_an_aac_and_nothing_is_reversed():
    report = chip_sale("pboc-debit", issuer(code="51"))
    assert not report["approved"] and report["code"] == "51"
    assert report["kernel"] == "declined" and report["reason"] == "host_declined"
    assert [mti for mti, _ in report["requests"]] == ["0200"] and not report["pending"]


def test_no_answer_the_card_is_told_and_a_reversal_98_waits():
    report = chip_sale("pboc-debit", issuer(fault="no_answer"))
    assert not report["approved"] and report["error"] == "timeout"
    assert report["kernel"] == "declined" and report["reason"] == "unable_online"
    assert report["pending"]


def test_the_host_simulators_chip_code_checks_the_arqc_and_its_script_runs_on_the_card():
    # The acquirer side of `poskit hostsim` (hostlib.hostsim.chip): it finds the card's PSN
    # in field 23, checks the ARQC, answers 91 and a PIN unblock script after the second AC.
    def host(frame):
        fields = decoded(frame).fields
        tags = hostchip.parse(fields[55].hex())
        psn = hostchip.psn(fields[23], tags)
        assert hostchip.check(fields[2], psn, tags) == "" and hostchip.missing(tags) == []
        script = hostchip.Script.parse("72:pin_unblock")
        return hostchip.answer(fields[2], psn, tags, "00", script=script), None

    report = chip_sale("pboc-debit", host)
    assert report["approved"] and report["kernel"] == "approved", report
    ((_, _, _, kept),) = report["ic"]
    assert tags_of(kept)[0x9F27] == b"\x40"


# A chip sale as the terminal runs it (`poskit txn init`, a sign-on that downloads the IC
# sets, the kernel on the emulated reader) against `poskit hostsim`: modules from the ROMFS
# image, the ESP32's 110 KB heap on the 32-bit build (its objects are the ESP32's size; the
# 64-bit one, where they are twice that, gets 160 KB).
ON_HOST = """
from board.unix_sim import SocketUART
from drivers.tda8029 import Tda8029
from app.comm.frames import TcpBearer
from app.txn import chip
from app.txn.engine import Engine, Request
e = Engine(1, store, storage_key, TcpBearer("127.0.0.1", %d))
assert e.run(Request("sign_on")).approved
k = chip.start(e, Tda8029(SocketUART("127.0.0.1", %d)), 1234, pin=lambda: True)
r = e.run(Request("sale", amount=1234, card=chip.ChipCard(k), pin=bytearray(b"123456")))
k.finish()
"""


def on_host_simulator(tmp_path, tail, host_setup=None, check=None):
    """Run ON_HOST then `tail` against a host simulator (`host_setup(host)` first); returns
    the words of the last line printed after "@", after `check(host, words)`."""
    state = tmp_path / "term"
    txn_init(state)
    interpreter = micropython.binary32()
    heap = "110K" if interpreter else "160K"
    with HostSimulator(db_path=str(tmp_path / "host.db"), seed=True) as host:
        if host_setup is not None:
            host_setup(host)
        with Tda8029Emulator() as reader, micropython.default(interpreter or micropython.binary()):
            reader.insert(load_card("pboc-debit"))
            code = (ON_HOST + tail) % (host.address[1], reader.port)
            run = TerminalState(state).run(code, heap=heap).check()
        line = run.stdout.split("@")[-1].split()
        if check is not None:
            check(host, line)
        return line


def test_a_chip_sale_against_the_host_simulator_in_the_esp32_heap(tmp_path):
    # The sale verified and answered by the host simulator.
    tail = 'print("@", r.approved, r.response_code, k.result, k.aid.hex(), e.journal.count())'
    line = on_host_simulator(tmp_path, tail)
    assert line == ["True", "00", "approved", "a000000333010101", "1"]


def test_the_script_notice_and_the_ic_detail_reach_the_host_simulator_in_the_esp32_heap(
    tmp_path,
):
    # After the sale, the issuer's script (72) runs at the second GENERATE AC and its result
    # goes to `poskit hostsim` in an 0620 (60.3 951); the settlement uploads the sale's TC in
    # an 0320 (60.3 203) the host matches to the sale and verifies. Both decoded by the host
    # simulator's pyiso8583 codec; the 32-bit build in the ESP32's 110 KB.
    tail = """k = None
s = e.run(Request("settlement"))
print("@", r.approved, r.stan, s.approved, s.settlement["ic_uploaded"], e.batch)
"""

    def script(host):
        host.set_fault("issuer_script", script="72:pin_unblock")

    def booked(host, line):
        tid = "12345678"
        rows = host.transactions(tid)
        sale = next(t for t in rows if t["type"] == "sale")
        assert sale["stan"] == int(line[1]) and sale["script_result"][:2] == "20"
        (notice,) = [t for t in rows if t["type"] == "script_notice"]
        assert notice["orig_id"] == sale["id"]
        (detail,) = [u for u in host.uploads(tid, sale["batch"]) if u["icc_data"]]
        assert (detail["stan"], detail["matched"], detail["cryptogram_ok"]) == (sale["stan"], 1, 1)

    line = on_host_simulator(tmp_path, tail, script, booked)
    assert line[0] == "True" and line[2:] == ["True", "1", "2"]


AFTER = (
    ENGINE_SETUP
    + """
def on_request(mti, fields):
    host.extra = {}
    if 55 in fields and mti in ("0100", "0200", "0220"):
        reply = ask({"frame": frames[-1]})
        host.extra = {55: h(reply["host55"])} if reply["host55"] else {}
host.on_request = on_request
ic_sets(store.root)
reader = tda8029.Tda8029(SocketUART("127.0.0.1", cfg["port"]))
done = {}
for name, kind, amount, by_chip, ref in cfg["steps"]:
    card = k = None
    if by_chip:
        k = chip.start(eng, reader, amount, pin=lambda: True, kind=chip.emv_kind(kind))
        card = chip.ChipCard(k)
    first = done.get(ref)
    request = Request(kind, amount=amount, card=card, pin=bytearray(b"123456") if card else None,
                      supervisor_password=b"123456")
    if first is not None:
        request.original_stan, request.rrn = first.stan, first.rrn
        request.auth_code = first.auth_code
        request.original_date = first.date[4:]
    elif kind == "refund":
        request.rrn, request.original_date = "052010000001", "0520"  # a sale of another day
    before = len(host.requests)
    result = eng.run(request)
    if k is not None:
        k.finish()
    done[name] = result
    say({"step": name, "approved": result.approved, "error": result.error,
         "notes": result.notes, "kernel": k.result if k else None,
         "requests": [[mti, {str(n): x(v) for n, v in f.items()}]
                      for mti, f in host.requests[before:]]})
say({"pending": pending(store) is not None, "journal": eng.journal.count(),
     "ic": [[r.stan, x(r.field55)] for r in icdata.entries(eng)]})
"""
)


def after_sale(steps, card="pboc-debit"):
    """Run `steps` (name, request kind, amount, read by chip, the step whose result is the
    original) on one engine with the debit card in the reader; the host approves, answering
    each chip request's ARQC with its ARPC. Returns the reports by step name, and the last."""
    config = {
        "mpy": str(MPY),
        "capks": [entry.tlv.hex() for entry in icsets.default_capks()],
        "aids": [entry.tlv.hex() for entry in icsets.default_aids()],
        "steps": steps,
    }
    host = issuer()

    def answer(message, reports):
        if "frame" not in message:
            return None
        return {"host55": host(bytes.fromhex(message["frame"]))[0].hex()}

    reports = converse(load_card(card), AFTER, config, HEAP, answer)
    return {r["step"]: r for r in reports[:-1]}, reports[-1]


def test_a_chip_sale_voided_by_its_record_goes_without_the_cards_data():
    # No card read: 2 + 14 from the journal, 22 01x, neither 23 nor 55 (spec §3.5: they come
    # from the card), and the card's AAC rule does not apply.
    steps, end = after_sale(
        [["sale", "sale", 1234, True, None], ["void", "sale_void", None, False, "sale"]]
    )
    assert steps["sale"]["approved"] and steps["void"]["approved"], steps
    ((mti, void),) = steps["void"]["requests"]
    assert mti == "0200" and void["3"] == "200000" and void["60"][:2] == "23"
    assert "23" not in void and "55" not in void and "35" not in void
    assert void["2"] == "6224242900001012" and void["22"] == "012"
    assert void["61"][6:12] == steps["sale"]["requests"][0][1]["11"]
    assert not end["pending"] and end["journal"] == 2


def test_chip_pre_authorisation_and_its_cancel_by_record():
    steps, end = after_sale(
        [["pre", "preauth", 500, True, None], ["cancel", "preauth_cancel", None, False, "pre"]]
    )
    assert steps["pre"]["approved"] and steps["pre"]["kernel"] == "approved", steps
    ((mti, pre),) = steps["pre"]["requests"]
    assert mti == "0100" and pre["25"] == "06" and pre["22"] == "051" and pre["23"] == "001"
    tags = tags_of(pre["55"])
    assert tags[0x9C] == b"\x03" and tags[0x9F02] == bytes.fromhex("000000000500")
    ((mti, cancel),) = steps["cancel"]["requests"]
    assert mti == "0100" and cancel["3"] == "200000" and cancel["4"] == "000000000500"
    assert "23" not in cancel and "55" not in cancel
    # The pre-authorisation's TC waits for the IC details at settlement.
    ((stan, kept),) = end["ic"]
    assert stan == int(pre["11"]) and tags_of(kept)[0x9F27] == b"\x40"


def test_a_chip_refund_goes_by_the_kernel_as_20_and_the_card_does_not_undo_it():
    steps, end = after_sale(
        [["sale", "sale", 1234, True, None], ["refund", "refund", 300, True, "sale"]]
    )
    refund = steps["refund"]
    assert refund["approved"] and refund["kernel"] == "approved", refund
    ((mti, fields),) = refund["requests"]
    assert mti == "0220" and fields["3"] == "200000" and fields["63"] == "CUP"
    assert fields["22"] == "051" and fields["23"] == "001"
    tags = tags_of(fields["55"])
    assert tags[0x9C] == b"\x20" and tags[0x9F27] == b"\x80"  # an ARQC over a refund
    assert not end["pending"] and end["journal"] == 2
    # A card that declines at its second GENERATE AC: the refund the host approved stands
    # (no reversal exists for a 0220; the money goes back to the cardholder all the same).
    steps, end = after_sale([["refund", "refund", 300, True, None]], card="card-declines")
    refund = steps["refund"]
    assert refund["approved"] and refund["kernel"] == "declined", refund
    assert "card: AAC; the host's approval stands" in refund["notes"]
    assert not end["pending"] and end["journal"] == 1 and end["ic"] == []  # no TC to upload


def test_a_decline_with_an_issuer_script_is_followed_by_its_result_notice():
    # The issuer declines (51) and blocks the application (72): the card ran the script at
    # its second GENERATE AC, and the 0620 (decoded here by pyiso8583) tells the host.
    def host(frame):
        fields = decoded(frame).fields
        tags = hostchip.parse(fields[55].hex())
        psn = hostchip.psn(fields[23], tags)
        script = hostchip.Script.parse("72:block")
        return hostchip.answer(fields[2], psn, tags, "51", script=script), "decline:51"

    report = chip_sale("pboc-debit", host)
    assert not report["approved"] and report["code"] == "51"
    assert [mti for mti, _ in report["requests"]] == ["0200", "0620"]
    sale, notice = (decoded(bytes.fromhex(frame)) for frame in report["frames"][-2:])
    fields = notice.fields
    assert notice.mti == "0620" and fields[60] == "00" + sale.fields[60][2:8] + "951"
    assert fields[61][:12] == sale.fields[60][2:8] + sale.fields[11]
    assert fields[2] == sale.fields[2] and fields[4] == sale.fields[4] and 64 in fields
    assert fields[11] != sale.fields[11] and 35 not in fields and 52 not in fields
    results = tags_of(fields[55].hex())[0xDF31]
    assert results[0] >> 4 == 2 and results[1:] == hostchip.SCRIPT_ID  # done, script 1
    assert report["ic"] == []  # declined: no TC to upload
