# Manual master key entry in PosManage (app/ui/admin_keys.py): the key index, the algorithm,
# 2 or 3 components typed as stars with FUNC for A-F, each checked against its form's KCV,
# the combined KCV, the key stored through KeyStore.set_tmk_from_components, refusals that
# store nothing, and no digit of a component on any screen; on a fake Terminal.
# mpy-heap: 384K
from admin_fakes import LOGIN, Terminal
from mptest import expect_error

from app.keys.slots import KeyStore
from app.ui import admin
from app.ui.screen import Idle
from drivers import keypad as kp

F = kp.FUNC
KEYS = ("4",)  # the menu item
# The custodians' form of docs/keys.md: 3DES key 70F2A84CCBC2AE8625CBB0F2C22AB923 (KCV 47F816)
# as three components.
C1 = "3BC3E7E8E63CF3796264121308D77BF9"
C2 = "17863DC75FA81B23A7AED7DBF96E2C11"
C3 = "5CB77263725646DCE001753A3393EECB"
KCV1, KCV2, KCV3, KCV = "A9FEB5", "1C2EF6", "4ED225", "47F816"
# The SM4 pair of docs/keys.md (KCV BFD2EA).
S1, S2 = "DC53CAE2D0B187E9DD0D0C472D33CEE6", "5628A6BF9E8EA7F8D213217B6669A79E"


def typed(hex_text):
    """The keys a custodian presses for `hex_text`: digits as they are, A-F as 2 or 3 then
    FUNC 1-3 times (the letters printed on the keys)."""
    out = []
    for c in hex_text:
        if c in "ABC":
            out.extend((ord("2"),) + (F,) * (ord(c) - ord("A") + 1))
        elif c in "DEF":
            out.extend((ord("3"),) + (F,) * (ord(c) - ord("D") + 1))
        else:
            out.append(ord(c))
    return tuple(out)


def component(hex_text, kcv):
    return typed(hex_text) + (kp.ENTER,) + typed(kcv) + (kp.ENTER, kp.ENTER)


def stored(term, slot):
    for row in KeyStore(term.store, b"0123456789abcdef").tmk_slots(1):
        if row[0] == slot:
            return row
    return None


def no_component_on_screen(term, *parts):
    for screen in term.display.shown:
        text = "".join(screen)
        for part in parts:
            for i in range(0, len(part) - 5):
                assert part[i : i + 6] not in text, screen


def test_three_components_into_a_new_slot():
    script = LOGIN + KEYS + ("2", kp.ENTER, "2", "2")  # slot 2, 3DES, 3 components
    script += component(C1, KCV1) + component(C2, KCV2) + component(C3, KCV3)
    script += typed(KCV) + (kp.ENTER, kp.ENTER, kp.CANCEL)
    term = Terminal(script)
    admin.run(term)
    assert stored(term, 2) == (2, "3DES", KCV)
    assert term.display.saw("已存储 索引02") and term.display.saw("3DES KCV 47F816")
    assert ["分量 1/3", "输入分量", "****************", "32"] in term.display.shown
    assert term.display.saw("校验值正确")
    no_component_on_screen(term, C1, C2, C3)
    assert term.changes == 1


def test_the_slot_in_use_is_named_and_replaced_only_after_enter():
    script = LOGIN + KEYS + (kp.ENTER, kp.CANCEL, kp.CANCEL)  # slot 01 offered: it holds one
    term = Terminal(script)
    admin.run(term)
    assert ["手输密钥", "索引01 有密钥", "3DES 47F816", "确认键替换"] in term.display.shown
    assert stored(term, 1) == (1, "3DES", KCV)


def test_a_component_with_a_wrong_kcv_is_typed_again():
    # The SM4 pair into slot 3 (not the application's slot: any algorithm), the second
    # component typed wrong first (its last digit), then right.
    wrong = S2[:-1] + "F"
    script = LOGIN + KEYS + ("3", kp.ENTER, "3", "1")
    script += component(S1, "A98FCC")
    script += typed(wrong) + (kp.ENTER,) + typed("1A48D3") + (kp.ENTER, kp.ENTER)
    script += component(S2, "1A48D3") + typed("BFD2EA") + (kp.ENTER, kp.ENTER, kp.CANCEL)
    term = Terminal(script)
    admin.run(term)
    assert term.display.saw("校验值不符") and term.display.saw("表上 1A48D3")
    assert stored(term, 3) == (3, "SM4", "BFD2EA")
    no_component_on_screen(term, S1, S2, wrong)


def test_three_wrong_tries_store_nothing():
    script = LOGIN + KEYS + ("3", kp.ENTER, "2", "1")
    script += (typed(C1) + (kp.ENTER,) + typed("000000") + (kp.ENTER, kp.ENTER)) * 3
    script += (kp.ENTER, kp.CANCEL)
    term = Terminal(script)
    admin.run(term)
    assert term.display.saw("已试 3 次") and stored(term, 3) is None


def test_a_wrong_combined_kcv_and_cancelling_components_are_refused():
    script = LOGIN + KEYS + ("3", kp.ENTER, "2", "1")
    script += component(C1, KCV1) + component(C2, KCV2) + typed("123456")
    script += (kp.ENTER, kp.ENTER, kp.ENTER, kp.CANCEL)
    term = Terminal(script)
    admin.run(term)
    assert term.display.saw("未存储 1/2") and term.display.saw("failed: TMK has")
    assert stored(term, 3) is None
    script = LOGIN + KEYS + ("3", kp.ENTER, "2", "1")
    script += component(C1, KCV1) + component(C1, KCV1) + typed("000000")
    script += (kp.ENTER, kp.ENTER, kp.CANCEL)
    term = Terminal(script)
    admin.run(term)
    assert term.display.saw("zeros") and stored(term, 3) is None


def test_the_application_s_slot_takes_only_its_algorithm():
    term = Terminal(LOGIN + KEYS + (kp.ENTER, kp.ENTER, "3", kp.ENTER, kp.CANCEL))
    admin.run(term)
    assert term.display.saw("应用用 3DES") and term.display.saw("算法不符")


def test_cancel_at_every_step_stores_nothing_and_wipes():
    steps = (
        (kp.CANCEL,),  # the index
        ("3", kp.ENTER, kp.CANCEL),  # the algorithm
        ("3", kp.ENTER, "2", kp.CANCEL),  # how many
        ("3", kp.ENTER, "2", "1", "12", kp.CANCEL),  # in component 1
        ("3", kp.ENTER, "2", "1") + typed(C1) + (kp.ENTER, kp.CANCEL),  # at its KCV
        ("3", kp.ENTER, "2", "1")
        + component(C1, KCV1)
        + typed(C2)
        + (kp.ENTER,)
        + typed(KCV2)
        + (kp.ENTER, kp.ENTER, kp.CANCEL),  # at the combined KCV
    )
    for step in steps:
        term = Terminal(LOGIN + KEYS + step + (kp.CANCEL,))
        admin.run(term)
        assert stored(term, 3) is None
        assert term.display.shown[-1][0] == "管理", (step, term.display.shown[-1])
    term = Terminal(LOGIN + KEYS + ("3", kp.ENTER, "2", "1") + typed(C1))
    expect_error(Idle, [], admin.run, term)  # no key: Idle, back to the idle screen
    assert stored(term, 3) is None
