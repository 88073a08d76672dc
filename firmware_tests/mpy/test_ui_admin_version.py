# PosManage's version screen (app/ui/admin_version.py), the parameter slip (app/ui/
# admin_print.py) and the device check from the menu: what the installer reads and keeps,
# secrets never on either; on a fake Terminal with the real ESC/POS driver and printer fake.
# mpy-heap: 512K
import binascii

from admin_fakes import LOGIN, Terminal

from app.store import edits
from app.store.params import ParamStore
from app.txn.api import Request
from app.ui import admin, admin_print, admin_version
from drivers import keypad as kp

BUILD = "1A2B3C4D5E6F708192A3B4C5D6E7F8091A2B3C4D5E6F708192A3B4C5D6E7F809"


def lines_of(term):
    return [
        admin_version.line(term.ui, label, value)
        for label, value in admin_version.facts(term, BUILD[:8])
    ]


def test_the_version_screen_says_every_version_and_check_value():
    term = Terminal(apps=2)
    term.engine(1).run(Request("sign_on"))
    import sys

    lines = lines_of(term)
    version = "MPY %d.%d.%d" % sys.implementation.version[:3]
    assert lines[:4] == [version, "应用 0.1.0", "摘要 1A2B3C4D", "序列号 PK-000123"]
    assert lines[4:] == [
        "终端参数 v3",
        "CAPK -",
        "AID -",
        "BL -",
        "CTLS -",
        "应用1 CUP v2",
        "应用1密钥 v0",
        "T01 3DES 47F816",
        "PIK 08D7B4FB",
        "MAK 0547DB3E",
        "TDK D2B91CC5",
        "应用2 ACQ2 v2",
        "应用2密钥 v0",
    ]


def test_the_ic_sets_the_host_downloaded_are_counted_with_their_check_values():
    from fakehost import aid_entry, capk

    from app.store.icsets import AID, CAPK, ICSets

    term = Terminal()
    rid = b"\xa0\x00\x00\x03\x33"
    term.host.capks = [capk(rid, index, bytes(range(index, index + 128))) for index in (1, 2)]
    term.host.aids = [aid_entry(rid + b"\x01\x01\x01")]
    term.host.ic_after_capk = 5
    lines = downloaded(term, 4)
    sets = ICSets(term.store.root)
    assert "CAPK 2 %s" % sets.summary(CAPK)[1] in lines
    assert "AID 1 %s" % sets.summary(AID)[1] in lines


def downloaded(term, processing):
    # The version screen's lines after a sign-on whose answer asked for `processing`.
    term.host.fault("processing:%d" % processing, "0800")
    assert term.engine(1).run(Request("sign_on")).approved
    return lines_of(term)


def test_the_black_list_and_contactless_parameters_are_counted_too():
    from fakehost import black_entries, contactless_limits

    from app.store.icsets import BLACKLIST, CONTACTLESS, ICSets

    term = Terminal()
    term.host.blacklist = black_entries("622202", "9559")
    term.host.contactless = contactless_limits()
    term.host.after_end = {"391": 9}
    lines = downloaded(term, 7)
    sets = ICSets(term.store.root)
    assert "BL 2 %s" % sets.summary(BLACKLIST)[1] in lines
    assert "CTLS 1 %s" % sets.summary(CONTACTLESS)[1] in lines


def test_an_edit_on_site_is_marked():
    term = Terminal()
    terminal = ParamStore(term.store).load(0)
    terminal.set("dialup.prefix", "0")
    edits.save(term.store, 0, terminal, ("dialup.prefix",))
    assert "终端参数 v3 改" in lines_of(term)


def test_the_screen_pages_three_lines_at_a_time():
    term = Terminal(LOGIN + ("1", kp.F2, kp.F2, kp.F1, kp.CANCEL, kp.CANCEL), language="en")
    admin.run(term)
    titles = [s[0] for s in term.display.shown if s[0].startswith("Versions")]
    assert titles[0] == "Versions" and titles[1:] == [
        "Versions 1/4",
        "Versions 2/4",
        "Versions 3/4",
        "Versions 2/4",
    ]
    assert term.display.saw("Serial PK-000123")


def test_the_image_hash_covers_every_file():
    import os

    root = "/adminhash"
    try:
        os.mkdir(root)
    except OSError:
        pass
    for name, data in (("b.mpy", b"bee"), ("a.mpy", b"a")):
        with open(root + "/" + name, "wb") as f:
            f.write(data)
    first = admin_version.image_hash(root)
    assert len(first) == 64
    import hashlib

    expected = hashlib.sha256(b"a.mpy\x00\x00\x00\x00\x01a" + b"b.mpy\x00\x00\x00\x00\x03bee")
    assert first == binascii.hexlify(expected.digest()).decode().upper()
    with open(root + "/a.mpy", "wb") as f:
        f.write(b"A")
    assert admin_version.image_hash(root) != first  # a file changed, another hash


# --- the parameter slip -----------------------------------------------------------------------


def test_the_slip_holds_every_parameter_but_no_secret():
    term = Terminal(LOGIN + ("5", kp.ENTER, kp.CANCEL))
    term.engine(1).run(Request("sign_on"))
    admin.run(term)
    printed = term.printed()
    text = b"\n".join(printed)
    assert b"\xb2\xce\xca\xfd\xb5\xa5 PARAMETERS" in printed  # 参数单
    assert b"SERIAL                 PK-000123" in printed
    assert b"TERMINAL                      v3" in printed
    assert b"bearer                  ethernet" in printed
    assert b"operator_password          (set)" in printed
    assert b"admin_password             (set)" in printed
    assert b"merchant_id      123456789012345" in printed
    assert b"merchant_name         POSKIT\xb2\xe2\xca\xd4" in printed  # GB18030, as it is
    assert b"TMK 01 3DES               47F816" in printed
    assert b"MAK 01 DES              0547DB3E" in printed  # 004: a single-length MAK
    for line in printed:
        assert len(line) <= 32, line
    # no password hash, in any form
    terminal = ParamStore(term.store).load(0)
    for name in ("operator_password", "supervisor_password", "admin_password"):
        digest = bytes(terminal[name])
        assert digest[17:25] not in text
        assert binascii.hexlify(digest[17:25]).upper() not in text.upper()
    assert term.display.saw("打印完成")


def test_an_edited_value_is_marked_on_the_slip():
    term = Terminal()
    terminal = ParamStore(term.store).load(0)
    terminal.set("dialup.prefix", "0")
    edits.save(term.store, 0, terminal, ("dialup.prefix",))
    lines = admin_print.slip(term, BUILD)
    assert b"*dialup.prefix                 0" in lines
    assert b"* EDITED ON SITE (not in the job)" in lines


def test_paper_out_mid_slip_asks_for_paper_and_goes_on_without_a_line_lost():
    def load_paper():
        term.paper.paper(None)  # the installer loads a roll, then presses ENTER
        return kp.ENTER

    term = Terminal(LOGIN + ("5", load_paper, kp.ENTER, kp.CANCEL))
    term.paper.paper_lines = 12  # the roll ends part-way through the slip
    admin.run(term)
    assert term.display.saw("缺纸或盖打开") and term.display.saw("打印完成")
    expected = admin_print.slip(term, admin_version.image_hash())
    printed = [line for line in term.printed() if line]
    assert printed == [line if isinstance(line, bytes) else line[1] for line in expected if line]


def test_cancel_at_paper_out_leaves_the_slip_unfinished_and_says_so():
    term = Terminal(LOGIN + ("5", kp.CANCEL, kp.ENTER, kp.CANCEL))
    term.paper.paper_lines = 5
    admin.run(term)
    assert term.display.saw("未打完")


def test_the_device_check_runs_on_the_terminal_s_own_screen_and_keys():
    term = Terminal(LOGIN + ("6", "5", kp.CANCEL, kp.CANCEL))
    admin.run(term)
    assert ["设备检测", "键 5", "卡 无", "ENTER打印 F1键盘"] in term.display.shown
    assert term.display.shown[-1][0] == "管理"  # back in the menu after CANCEL
