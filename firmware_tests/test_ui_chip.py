"""The cashier's chip sale on the terminal's screens (app.ui.idle, app.ui.cashier,
app.ui.chipsale) on MicroPython: the device tests' fake board (firmware_tests/mpy/
fakeboard.py: screens recorded, a key script, the fake acquirer host, the printer) with a
real contact reader, the TDA8029 driver against the reader's emulator holding a test card of
the card emulator. The host side here inserts and removes the card when the key script says
so, and answers the 0200's ARQC with the issuer's ARPC (as test_chip_sale.py does).
"""

from pathlib import Path

import pytest
from chipdevice import CASHIER, PRELUDE, converse
from test_chip_sale import issuer

from hostlib import micropython
from hostlib.card import load_card
from hostlib.hostsim import icsets
from tools.demo import EXAMPLES, Bench, terminal_heap

MPY = Path(__file__).parent / "mpy"
HEAP = "1M"  # the application, the kernel and the fakes compile from source here
PIN = "123456"

DEVICE = (
    PRELUDE
    + CASHIER
    + """
from board.unix_sim import SocketUART
from app.ui import idle


line = SocketUART("127.0.0.1", cfg["port"])


def chip_reader():
    # Made as a board makes it: from the driver module the terminal has now (it lets the
    # module go between flows, and its errors with it).
    from drivers.tda8029 import Tda8029

    return Tda8029(line)


# The reader's line too (board.uart), which the idle screen watches.
board, term = cashier_board(chip_reader=chip_reader, uart={"chipreader": line}.get)

host = board.host
frames = recorded(host)
drivers_at_request = []  # the card readers' drivers on the heap as each request went
def on_request(mti, fields):
    drivers_at_request.append([m for m in sys.modules if m in cfg["reader_drivers"]])
    if mti == "0200" and 55 in fields:
        reply = ask({"frame": frames[-1]})
        host.extra = {55: h(reply["host55"])} if reply["host55"] else {}
    else:
        host.extra = {}
host.on_request = on_request
play(board)
board.run(idle.run, term)
say({"screens": board.screen.shown,
     "loaded": [m for m in sys.modules if m.startswith("app.emv") or m in cfg["chip_modules"]],
     "requests": [[mti, {str(n): x(v) for n, v in f.items()}] for mti, f in host.requests],
     "drivers_at_request": drivers_at_request,
     "slips": [x(line) for line in board.slips()]})
"""
)


def chip_sale(keys, card="pboc-debit", app=None, host=None, black=()):
    """Run the idle screen with `keys` (str: keys, "ENTER"/"CANCEL", None: a wait with no
    key, "swipe", "swipe-stripe" (a card without chip), "@insert", "@remove"); `card` the
    card the reader's emulator inserts. The 0200's ARQC answered by `host(frame)` (default:
    approved with its ARPC). Returns the device's report: screens, requests, slips, the
    readers' drivers loaded as each request went. `black`: the black list's entries as the host
    sends them ("06622424")."""
    host = host or issuer()
    config = {
        "mpy": str(MPY),
        "capks": [entry.tlv.hex() for entry in icsets.default_capks()],
        "aids": [entry.tlv.hex() for entry in icsets.default_aids()],
        "app": {str(tag): value.hex() for tag, value in (app or {}).items()},
        "keys": keys,
        "black": list(black),
        "chip_modules": ["app.ui.chipsale", "app.txn.chip", "app.store.icsets"],
        "reader_drivers": ["drivers.cardreader", "drivers.tda8029", "drivers.cardchannel"],
    }
    readers = []
    the_card = load_card(card)

    def answer(message, reports):
        if "card" in message:
            if message["card"] == "insert":
                readers[0].insert(the_card)
            else:
                readers[0].remove()
            return {}
        if "frame" in message:
            host55, _ = host(bytes.fromhex(message["frame"]))
            return {"host55": host55.hex() if host55 else None}
        return None

    reports = converse(the_card, DEVICE, config, HEAP, answer, fault=readers.append)
    report = reports[-1]
    report["slips"] = [bytes.fromhex(line).decode("gb18030") for line in report["slips"]]
    return report


def saw(report, text):
    return any(text in line for screen in report["screens"] for line in screen)


def mtis(report):
    return [mti for mti, _ in report["requests"]]


def test_a_chip_card_inserted_at_idle_is_a_sale_with_its_pin_slips_and_removal():
    report = chip_sale(["@insert", "1234", "ENTER", PIN, "ENTER", None, "ENTER", "@remove", None])
    assert saw(report, "金额:")
    assert ["消费", "交易成功", "RMB 12.34", "凭证号 000002"] in report["screens"], report
    assert saw(report, "请拔卡")
    assert report["screens"][-1][0] == "CUP"  # back at idle once the card is out
    ((mti, fields),) = report["requests"]
    assert mti == "0200" and fields["22"] == "051" and fields["23"] == "001"
    assert fields["2"] == "6224242900001012" and "55" in fields and "52" in fields
    slips = report["slips"]
    assert sum("MERCHANT COPY" in line for line in slips) == 1
    assert sum("CARDHOLDER COPY" in line for line in slips) == 1
    assert sum("622424******1012" in line for line in slips) == 2
    # The chip lines: how the card was read, its application, the card's TC after the host.
    assert sum(line == "ENTRY: IC 插卡" for line in slips) == 2
    assert sum(line == "APP LABEL: PBOC DEBIT" for line in slips) == 2
    assert sum(line == "AID: A000000333010101" for line in slips) == 2
    assert sum(line.startswith("TC: ") and len(line) == 20 for line in slips) == 2
    assert sum(line.startswith("TVR: ") and " TSI: " in line for line in slips) == 2
    assert not any("6224242900001012" in line for line in slips)
    assert report["loaded"] == []  # the kernel's modules let go: the idle heap as before


def test_a_card_on_the_black_list_is_refused_once_its_records_are_read():
    # As a swiped one: the engine's screen, no PIN asked, nothing sent; the card asked out.
    report = chip_sale(["@insert", "1234", "ENTER", "ENTER", "@remove", None], black=["06622424"])
    assert ["消费", "拒绝名单中的卡,", "请换卡", ""] in report["screens"], report["screens"]
    assert not saw(report, "密码")
    assert report["requests"] == [] and saw(report, "请拔卡")
    assert report["screens"][-1][0] == "CUP"
    assert report["loaded"] == []


def test_a_card_with_two_applications_is_asked_which():
    report = chip_sale(
        ["@insert", "1234", "ENTER", "2", PIN, "ENTER", None, "ENTER", "@remove", None],
        card="two-apps",
    )
    menus = [s for s in report["screens"] if s[0] == "选择卡应用"]
    assert menus and menus[0][1].startswith("1 ") and menus[0][2].startswith("2 "), menus
    assert mtis(report) == ["0200"]
    assert saw(report, "交易成功")


def test_cancel_at_the_application_menu_sends_nothing_and_asks_for_the_card_out():
    report = chip_sale(
        ["@insert", "1234", "ENTER", "CANCEL", None, "@remove", None], card="two-apps"
    )
    assert saw(report, "选择卡应用") and saw(report, "请拔卡")
    assert report["requests"] == [] and report["screens"][-1][0] == "CUP"
    assert report["loaded"] == []


def test_a_dead_chip_asks_for_the_swipe_and_the_sale_goes_as_a_fallback():
    report = chip_sale(
        ["@insert", "1234", "ENTER", None, "@remove", "swipe"]
        + ["ENTER", PIN, "ENTER", None, "ENTER", None],
        card="chip-dead",
    )
    assert saw(report, "IC卡失败请刷卡"), report["screens"]
    ((mti, fields),) = report["requests"]
    assert mti == "0200" and fields["22"] == "021" and "55" not in fields
    assert fields["60"][8:] == "000520"  # 60.4 5 (IC capable), 60.5 2: a fallback
    assert report["loaded"] == []
    assert fields["4"] == "000000001234"
    assert saw(report, "交易成功")
    assert sum(line == "ENTRY: SWIPE 刷卡(降级)" for line in report["slips"]) == 2


def test_a_chip_card_swiped_is_asked_to_be_inserted_where_the_application_says_so():
    report = chip_sale(["1", "swipe", None, None], app={0x5B: b"\x01"})
    assert saw(report, "IC卡请插卡") and saw(report, "请刷卡或插卡")
    assert report["requests"] == []
    # Swiped at idle: the sale says so, then asks for the card.
    report = chip_sale(["swipe", "1", None, None], app={0x5B: b"\x01"})
    assert saw(report, "IC卡请插卡") and saw(report, "请刷卡或插卡")
    assert not saw(report, "金额:") and report["requests"] == []
    # Without chip_first, the stripe is taken as ever.
    report = chip_sale(["1", "swipe", None])
    assert not saw(report, "IC卡请插卡") and saw(report, "金额:")


def test_a_swiped_sale_goes_to_the_host_without_the_card_readers_drivers_on_the_heap():
    # The heap a sale's peak has: neither reader's driver is carried into it, the card
    # swiped at idle or at the sale's prompt (about 2 KB each: docs/board.md, "Heap").
    sale = ["100", "ENTER", "ENTER", PIN, "ENTER", None, "ENTER", None]
    chip_first = {0x5B: b"\x01"}  # the sale asks after the chip reader first
    for keys, app in (
        (["swipe", "1"] + sale, None),
        (["1", "swipe"] + sale, None),
        (["swipe-stripe", "1"] + sale, chip_first),
    ):
        report = chip_sale(keys, app=app)
        assert mtis(report) == ["0200"] and saw(report, "交易成功"), report["screens"]
        assert report["drivers_at_request"] == [[]]


def test_the_card_declining_after_the_host_approved_is_shown_reversed():
    report = chip_sale(
        ["@insert", "1234", "ENTER", PIN, "ENTER", None, "@remove", None],
        card="card-declines",
    )
    assert mtis(report) == ["0200", "0400"]
    assert saw(report, "卡片拒绝交易"), report["screens"]
    assert not saw(report, "交易成功") and report["slips"] == [""]


@pytest.mark.e2e
def test_the_chip_sale_script_passes_against_the_host_simulator(tmp_path):
    # docs/examples/chip-sale.vts on the virtual terminal (the card emulator's pboc-debit in
    # the TDA8029's emulator, the host simulator's ARPC). The heap: the ESP32's on a 32-bit
    # interpreter (the frozen 32-bit build runs it in 110K); on a 64-bit one, from the ROMFS
    # image, a chip sale needs more than the 192K the other scripts run in (the kernel held
    # through the host's answer, about 31 KB on the 32-bit port: docs/emv.md), and 224K.
    heap = terminal_heap() if micropython.word_bits() == 32 else "224K"
    script = EXAMPLES / "chip-sale.vts"
    with Bench(tmp_path / "bench", EXAMPLES / "terminal-job.toml", heap=heap) as bench:
        run = bench.vterm(script)
    lines = sum(1 for line in script.read_text().splitlines() if line.strip() and line[0] != "#")
    assert run.returncode == 0, (run.stdout[-4000:], run.stderr[-4000:])
    assert "all %d lines passed" % lines in run.stdout
