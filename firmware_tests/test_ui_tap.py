"""The cashier's contactless sale on the terminal's screens (app.ui.cashier, app.ui.tapsale)
on MicroPython: the device tests' fake board (screens recorded, a key script, the fake
acquirer host, the printer) with a real contactless reader, the PN532 driver against the
reader's emulator, where this side taps a test card of the card emulator when the key script
says so. The 0200 of an online tap is decoded here by pyiso8583 (hostlib.cup8583) and its
ARQC checked with the card's issuer keys, as the acquirer's host checks it.
"""

from pathlib import Path

import pyemv
from chipdevice import CASHIER, PRELUDE, converse

from hostlib import cup8583
from hostlib.card import issuer, load_card
from hostlib.emulators.pn532 import Pn532Emulator
from hostlib.hostsim import icsets

MPY = Path(__file__).parent / "mpy"
HEAP = "1M"  # the application, the kernel and the fakes compile from source here
PIN = "123456"
DUAL_PAN = "6224242900001038"

DEVICE = (
    PRELUDE
    + CASHIER
    + """
from board.unix_sim import SocketUART
from app.ui import idle, batch


def contactless_reader():
    from drivers.pn532 import PN532  # imported when the sale asks for it, as on the board
    return PN532(SocketUART("127.0.0.1", cfg["port"]))
board, term = cashier_board(contactless_reader=contactless_reader)

host = board.host
frames = recorded(host)
if cfg["fault"]:
    host.fault(cfg["fault"], "0200")
if cfg["cut"]:  # a tap cut off by a power cut: its pre-tap record left behind
    term.store.save("tapping1", b"00000000123420261207185500")
play(board)
board.run(idle.run, term)
printed = len(board.slips())
if cfg["reprint"]:
    board.keys.play(kp.ENTER, None)
    board.run(batch.reprint, term, None)
journal = term.engine(1).journal
def reversal():
    from app.txn.reversal import PendingReversal
    from fakeboard import KEY
    got = PendingReversal(term.store, 1, KEY).load()
    return got and [got[0], got[1], {str(n): x(v) for n, v in got[2].items()}]
say({"screens": board.screen.shown,
     "loaded": [m for m in sys.modules if m.startswith("app.emv") or m in cfg["tap_modules"]],
     "requests": [[mti, {str(n): x(v) for n, v in f.items()}] for mti, f in host.requests],
     "frames": frames,
     "journal": [[e.kind, e.stan, e.amount, e.entry_mode] for e in journal.entries(1)],
     "printed": printed,
     "in_flight": term.store.load("tapping1") is not None,
     "reversal": reversal(),
     "slips": [x(line) for line in board.slips()]})
"""
)


def tap_sale(keys, card="pboc-dual", app=None, reprint=False, cut=False, fault=None, black=()):
    """Run the idle screen with `keys` (str: keys, "ENTER"/"CANCEL", None: a wait with no
    key, "swipe", "@tap", "@tap-lost": tapped, the card leaving at the first command,
    "@remove"); the application takes taps unless `app` says otherwise. Returns the device's
    report: screens, requests (and their frames), journal, slips (and the reprint's after
    the first `printed` lines with `reprint`). `black`: the black list's entries as the host
    sends them ("06622424")."""
    config = {
        "mpy": str(MPY),
        "capks": [entry.tlv.hex() for entry in icsets.default_capks()],
        "aids": [entry.tlv.hex() for entry in icsets.default_aids()],
        "app": {str(tag): value.hex() for tag, value in ({0x5E: b"\x01"} | (app or {})).items()},
        "keys": keys,
        "reprint": reprint,
        "cut": cut,
        "fault": fault,
        "black": list(black),
        "tap_modules": ["app.ui.tapsale", "app.txn.tap", "app.txn.offline", "drivers.pn532"],
    }
    readers = []
    the_card = load_card(card)

    def answer(message, reports):
        if "card" not in message:
            return None
        nfc = readers[0]
        if message["card"] == "remove":
            nfc.remove()
        else:
            nfc.tap(the_card)
            if message["card"] == "tap-lost":
                nfc.lose_during_next_exchange()
        return {}

    reports = converse(
        None, DEVICE, config, HEAP, answer, fault=readers.append, emulator=Pn532Emulator
    )
    report = reports[-1]
    report["slips"] = [bytes.fromhex(line).decode("gb18030") for line in report["slips"]]
    report["card"] = the_card
    return report


def saw(report, text):
    return any(text in line for screen in report["screens"] for line in screen)


def balance(card) -> int:
    return card.applications[0].balance


def test_a_tap_within_the_e_cash_balance_is_an_offline_sale_with_its_chip_lines():
    report = tap_sale(["1", "1234", "ENTER", "@tap", None, "ENTER", None])
    screens = report["screens"]
    assert ["消费", "金额:"] == screens[1][:2] or saw(report, "金额:")
    assert saw(report, "请挥卡/插卡/刷卡")
    assert ["消费", "电子现金 离线", "RMB 12.34", "凭证号 000002"] in screens, screens
    assert report["requests"] == []  # offline: nothing sent, uploaded at settlement
    assert report["journal"] == [[36, 2, 1234, "072"]]
    assert balance(report["card"]) == 10000 - 1234
    slips = report["slips"]
    assert sum("MERCHANT COPY" in line for line in slips) == 1
    assert not any("REPRINT" in line for line in slips)  # the first print of the slips
    assert sum("622424******1038 C" in line for line in slips) == 2
    assert not any(DUAL_PAN in line for line in slips)  # never the full card number
    assert sum("ENTRY: CONTACTLESS 非接" in line for line in slips) == 2
    assert sum(line.startswith("TC: ") and len(line) == 20 for line in slips) == 2
    assert sum(line == "AID: A000000333010101" for line in slips) == 2
    assert sum(line.startswith("APP LABEL: ") for line in slips) == 2
    assert sum(line == "EC BAL 余额: RMB 87.66" for line in slips) == 2, slips
    assert any(line.startswith("TVR: ") for line in slips)
    assert report["loaded"] == []  # the kernel and the reader's driver let go
    assert not report["in_flight"]  # the pre-tap record gone with the tap's journal record


def test_a_tap_cut_off_by_a_power_cut_is_reported_at_the_next_tap_sale():
    report = tap_sale(["1", "1234", "ENTER", None, "CANCEL"], cut=True)
    assert ["消费", "上笔挥卡未完成", "RMB 12.34", "12-07 18:55"] in report["screens"]
    assert saw(report, "请挥卡/插卡/刷卡") and not report["in_flight"]
    assert report["journal"] == []


def test_the_reprint_of_a_tap_shows_the_same_chip_lines():
    report = tap_sale(["1", "1234", "ENTER", "@tap", None, "ENTER", None], reprint=True)
    first, again = report["slips"][: report["printed"]], report["slips"][report["printed"] :]
    chip = [line for line in first[: first.index("SIGNATURE 持卡人签名:")] if ":" in line]
    assert "*** REPRINT 重打印 ***" in again
    for line in chip:
        if not line.startswith("DATE/TIME"):
            assert line in again, (line, again)
    assert any(line.startswith("TC: ") for line in again)


def test_a_tap_over_the_e_cash_goes_online_with_its_arqc_pin_and_field_22_071():
    # 150.00: over the card's 100.00 of e-cash, under the CVM limit; the card asks for an
    # online PIN (its CTQ).
    report = tap_sale(["1", "15000", "ENTER", "@tap", PIN, "ENTER", None, "ENTER", None])
    assert saw(report, "交易成功"), report["screens"]
    ((mti, _),) = report["requests"]
    assert mti == "0200"
    message = cup8583.decode(bytes.fromhex(report["frames"][-1]))
    fields = message.fields
    assert fields[22] == "071" and fields[2] == DUAL_PAN and fields[23] == "001"
    assert fields[35].startswith(DUAL_PAN + "=3012") and 52 in fields
    assert fields[60][8:11] == "000" and fields[60][11] == "6"  # 60.4: contactless
    tags = {int(t, 16): v for t, v in pyemv.tlv.decode(fields[55]).items()}
    assert tags[0x9F27] == b"\x80"  # the card's ARQC, checked as the issuer does
    assert issuer.check_cryptogram(DUAL_PAN, "01", tags)
    assert tags[0x9F02] == bytes.fromhex("000000015000")
    assert balance(report["card"]) == 10000  # nothing spent offline
    assert [e[0] for e in report["journal"]] == [22]
    slips = report["slips"]
    assert sum(line.startswith("ARQC: ") for line in slips) == 2, slips
    assert sum("ENTRY: CONTACTLESS" in line for line in slips) == 2
    assert not any("EC BAL" in line for line in slips)  # no e-cash spent: no balance
    assert report["loaded"] == []


def test_an_online_tap_of_a_card_on_the_black_list_asks_no_pin_and_sends_nothing():
    report = tap_sale(["1", "15000", "ENTER", "@tap", "ENTER", None], black=["06622424"])
    assert ["消费", "拒绝名单中的卡,", "请换卡", ""] in report["screens"], report["screens"]
    assert not saw(report, "密码")
    assert report["requests"] == [] and report["journal"] == []
    assert report["loaded"] == []


def test_over_the_contactless_limit_no_tap_is_offered():
    # 5,000.00: at the contactless transaction limit (DF20) of every AID.
    report = tap_sale(["1", "500000", "ENTER", None, None, "CANCEL"])
    assert not saw(report, "请挥卡") and saw(report, "请刷卡")
    assert report["requests"] == [] and report["journal"] == []


def test_a_card_leaving_the_field_too_early_is_asked_to_tap_again():
    report = tap_sale(["1", "1234", "ENTER", "@tap-lost", None, "@tap", None, "ENTER", None])
    assert saw(report, "请重新挥卡"), report["screens"]
    assert saw(report, "电子现金 离线")
    assert report["journal"] == [[36, 2, 1234, "072"]]
    assert not report["in_flight"]


def test_without_the_parameter_the_sale_asks_for_the_card_first_as_before():
    report = tap_sale(["1", None, "CANCEL"], app={0x5E: b"\x00"})
    assert not saw(report, "请挥卡") and not saw(report, "金额:")
    assert report["loaded"] == []


def test_a_card_declining_the_tap_sends_nothing(tmp_path):
    # The card's fDDA signature does not hold and its CTQ asks for neither "online" nor
    # "switch interface" then: declined by the terminal for the card.
    path = tmp_path / "bad-fdda.toml"
    path.write_text(
        f'pan = "{DUAL_PAN}"\ncontactless = true\necash_balance = "100.00"\n'
        '[behaviour]\nfault = "sdad"\n'
    )
    report = tap_sale(["1", "1234", "ENTER", "@tap", None, None], card=str(path))
    assert saw(report, "卡片拒绝交易"), report["screens"]
    assert report["requests"] == [] and report["journal"] == [] and report["slips"] == [""]
    assert not report["in_flight"]


def test_an_online_tap_with_no_answer_leaves_its_reversal_with_the_tap_s_55():
    report = tap_sale(["1", "15000", "ENTER", "@tap", PIN, "ENTER", None, None], fault="no_answer")
    assert [mti for mti, _ in report["requests"]] == ["0200"]
    assert not saw(report, "交易成功") and report["journal"] == []
    reason, mti, fields = report["reversal"]
    assert (reason, mti) == ("98", "0200") and fields["22"] == "071"
    tags = {int(t, 16) for t in pyemv.tlv.decode(bytes.fromhex(fields["55"]))}
    assert tags == {0x95, 0x9F1E, 0x9F10, 0x9F36}  # spec §3.5's reversal 55
