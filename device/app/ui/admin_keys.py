"""Manual master key entry in PosManage (手输密钥, procedure §3.4): the key custodians type 2 or
3 clear components of an acquirer's master key (TMK), each checked against the check value
on its form, into the key slot the acquirer gave.

    admin_keys.run(term)

The steps, each ended by CANCEL with nothing stored (docs/menus.md has the screens):

1. the application (when the terminal has several);
2. the key index (密钥索引): the slot, 00-99, the application's tmk_slot offered; a slot
   that holds a key is named with its check value and is replaced only after ENTER;
3. the algorithm: DES, 3DES or SM4, the application's key_algorithm offered; for the slot
   the application signs on with, another algorithm is refused (its sign-on could not use
   the key);
4. 2 or 3 components;
5. each component in turn: its hex digits as stars (DES 16, 3DES 32 or 48, SM4 32; letters
   with FUNC, docs/keys.md "Typing a component"), then the check value from its form
   (shown: it is no secret). The terminal computes the component's check value; a mismatch
   shows both and the custodian types the component again (3 tries);
6. the combined key's check value from the form: the components are combined and stored
   through app.keys.slots.KeyStore.set_tmk_from_components, which refuses a combined check
   value that differs, components that cancel out, and weak DES keys, with their reasons;
   nothing is stored then.

Components live in bytearrays that are wiped as soon as the key is stored or the entry ends,
whichever way it ends; the screen shows stars and counts, never a digit of a component; no
message names a digit either (app.keys.slots words them so).
"""

from app.ui import admin, admin_ui
from app.ui.screen import Cancelled
from drivers import keypad as kp

TITLE = ("手输密钥", "Key entry")
_ALGORITHMS = ("DES", "3DES", "SM4")
_LENGTHS = ((16,), (32, 48), (32,))  # hex digits of a component, by algorithm
_TRIES = 3  # a custodian's tries at one component
_KCV_LENGTHS = (4, 6, 8)  # hex digits of a check value as forms print them


def _kcv(ui, title, prompt):
    return admin_ui.text(ui, title, prompt, chars=admin_ui.HEX, min_len=4, max_len=8)


def _component(term, number, parts, algorithm, lengths, buf):
    """Component `number` into `buf`, checked against its form's KCV; returns its length.
    Cancelled after CANCEL, Idle, or `_TRIES` mismatches (the screen has said)."""
    from app.keys.slots import component_kcv

    ui = term.ui
    title = ("分量 %d/%d" % (number, parts), "Component %d/%d" % (number, parts))
    for attempt in range(_TRIES):
        count = admin_ui.text_into(
            ui,
            title,
            ("输入分量", "Type component"),
            buf,
            lengths=lengths,
            chars=admin_ui.HEX,
            secret=True,
        )
        typed = memoryview(buf)[:count]
        try:
            found = component_kcv(typed, algorithm, number)
        except ValueError as exc:
            admin_ui.pages(ui, title, admin_ui.wrap(str(exc)))
            continue
        expected = _kcv(ui, title, ("分量校验值", "Its KCV"))
        if found.startswith(expected):
            ui.message(title, ("校验值正确", "KCV matches"), found, wait_ms=1500)
            return count
        ui.message(
            title,
            ("校验值不符", "KCV differs"),
            ("算得 " + found, "Gives " + found),
            ("表上 " + expected, "Form " + expected),
        )
    ui.message(title, ("已试 %d 次" % _TRIES, "%d tries" % _TRIES), ("未存储", "Nothing stored"))
    raise Cancelled()


def run(term):
    from app.keys.slots import KeyStore

    ui = term.ui
    apps = term.applications()
    if not apps:
        ui.message(TITLE, ("无应用", "No application"), ("请先装载参数", "Load them first"))
        return
    index, name = apps[0]
    if len(apps) > 1:
        choice = ui.menu(TITLE, ["%d %s" % app for app in apps[:10]])
        if choice is None:
            return
        index, name = apps[choice]
    params = term.params.load(index)
    keys = KeyStore(term.store, term.storage_key)

    # 2. the slot
    typed = admin_ui.text(
        ui,
        TITLE,
        ("密钥索引 00-99", "Key index 00-99"),
        initial="%02d" % params.tmk_slot,
        chars=admin_ui.DIGITS,
        min_len=1,
        max_len=2,
    )
    slot = int(typed)
    for held, algorithm, kcv in keys.tmk_slots(index):
        if held == slot:
            lines = (
                ("索引%02d 有密钥" % slot, "Slot %02d holds" % slot),
                "%s %s" % (algorithm, kcv),
                ("确认键替换", "ENTER replaces"),
            )
            if not ui.confirm(TITLE, lines):
                return

    # 3. the algorithm
    choice = ui.menu(("算法", "Algorithm"), _ALGORITHMS, _ALGORITHMS.index(params.key_algorithm))
    if choice is None:
        return
    algorithm = _ALGORITHMS[choice]
    if slot == params.tmk_slot and algorithm != params.key_algorithm:
        ui.message(
            TITLE,
            ("应用用 " + params.key_algorithm, "App uses " + params.key_algorithm),
            ("算法不符", "Not " + algorithm),
        )
        return

    # 4. how many components
    choice = ui.menu(
        ("分量个数", "Components"), (("2 个分量", "2 components"), ("3 个分量", "3 components"))
    )
    if choice is None:
        return
    parts = 2 + choice

    buffers = []
    try:
        views = []
        lengths = _LENGTHS[_ALGORITHMS.index(algorithm)]
        for number in range(1, parts + 1):
            buf = bytearray(48)
            buffers.append(buf)
            count = _component(term, number, parts, algorithm, lengths, buf)
            lengths = (count,)  # the others as long as the first
            views.append(memoryview(buf)[:count])
        expected = _kcv(ui, TITLE, ("合成校验值", "Key KCV (form)"))
        try:
            kcv = keys.set_tmk_from_components(index, slot, views, algorithm, expected)
        except ValueError as exc:  # KeyCheckError, weak or cancelling components
            admin_ui.pages(ui, ("未存储", "Not stored"), admin_ui.wrap(str(exc)))
            return
    finally:
        for buf in buffers:
            kp.wipe(buf)
    admin.changed(term)
    ui.message(
        TITLE,
        ("已存储 索引%02d" % slot, "Stored in slot %02d" % slot),
        "%s KCV %s" % (algorithm, kcv),
        ("%d 个分量" % parts, "from %d parts" % parts),
    )
