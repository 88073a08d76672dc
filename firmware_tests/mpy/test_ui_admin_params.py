# PosManage's terminal parameters (app/ui/admin_params.py) and the keypad text entry they use
# (app/ui/admin_ui.py): every value shown, the installer's edits checked by the schema with
# its own words, stored power-safely with the packet version kept (the next packet taken, an
# old one refused), marked as edited, and the clock set; on a fake Terminal (admin_fakes.py).
# mpy-heap: 384K
from admin_fakes import LOGIN, Terminal, tlv
from admin_fakes import TERMINAL as TERMINAL_ITEMS
from mptest import expect_error

from app.store import edits
from app.store.packet import PARAMETERS, Packet, PacketError, Versions, apply_parameters
from app.store.params import Params, ParamStore
from app.txn.clock import Clock
from app.ui import admin, admin_ui
from app.ui.screen import Cancelled, Idle
from drivers import keypad as kp

F = kp.FUNC
PARAMS = ("2",)  # the menu item


def entry(*items):
    term = Terminal(items)
    return term.ui, term.display


# --- typing on the keypad ---------------------------------------------------------------------


def test_func_steps_a_key_through_its_letters():
    ui, display = entry("2", F, F, "6", F, F, F, "3", F, kp.ENTER)
    assert admin_ui.text(ui, "T", "apn") == "BOD"
    ui, _ = entry("2", F, F, F, F, "0", F, "9", F, F, F, F, F, kp.ENTER)
    assert admin_ui.text(ui, "T", "x") == "a w"  # upper, then lower case; 0 F is a space
    ui, _ = entry("2", F, F, F, F, F, F, F, kp.ENTER)
    assert admin_ui.text(ui, "T", "x") == "2"  # round to the digit again


def test_characters_the_entry_does_not_allow_are_skipped():
    ui, _ = entry("2", F, F, F, F, "3", F, F, F, F, kp.ENTER)
    assert admin_ui.text(ui, "T", "hex", chars=admin_ui.HEX) == "23"  # C then 2; F then 3
    ui, _ = entry("95", ".", "5", kp.ENTER)
    assert admin_ui.text(ui, "T", "phone", chars=admin_ui.PHONE) == "95,5"  # . types a pause
    ui, _ = entry("10", ".", "1", kp.ENTER)
    assert admin_ui.text(ui, "T", "ip", chars=admin_ui.IPV4) == "10.1"
    ui, _ = entry(".", "99", "#", kp.ENTER)
    assert admin_ui.text(ui, "T", "dial", chars=admin_ui.DIAL) == "*99#"  # . types a star


def test_the_value_set_now_is_kept_replaced_or_mended():
    ui, display = entry(kp.ENTER)
    assert admin_ui.text(ui, "T", "host", initial="10.1.1.5") == "10.1.1.5"
    assert display.shown[-1] == ["T", "host", "10.1.1.5", ""]
    ui, _ = entry("7", kp.ENTER)
    assert admin_ui.text(ui, "T", "host", initial="10.1.1.5") == "7"  # a key replaces it
    ui, _ = entry(kp.CLEAR, "6", kp.ENTER)
    assert admin_ui.text(ui, "T", "host", initial="10.1.1.5") == "10.1.1.6"  # CLEAR mends


def test_length_rules_cancel_and_idle():
    ui, _ = entry("123", kp.ENTER, "4", kp.ENTER)
    assert admin_ui.text(ui, "T", "x", min_len=4, max_len=4) == "1234"
    ui, _ = entry("12345", kp.ENTER)
    assert admin_ui.text(ui, "T", "x", max_len=4) == "1234"
    ui, _ = entry("12", kp.CANCEL)
    expect_error(Cancelled, [], admin_ui.text, ui, "T", "x")
    ui, _ = entry("12")
    expect_error(Idle, [], admin_ui.text, ui, "T", "x")


def test_a_secret_is_stars_and_wiped_when_left():
    ui, display = entry("1234", kp.ENTER)
    buf = bytearray(8)
    n = admin_ui.text_into(ui, "T", "c", buf, lengths=(4, 8), chars=admin_ui.HEX, secret=True)
    assert n == 4 and buf[:4] == b"1234"
    assert ["T", "c", "****", "4"] in display.shown
    for screen in display.shown:
        assert "1234" not in "".join(screen)
    ui, _ = entry("12", kp.ENTER, "3", F, kp.CANCEL)  # ENTER with 2 of 4 is not taken
    buf = bytearray(4)
    expect_error(Cancelled, [], admin_ui.text_into, ui, "T", "c", buf, lengths=(4,), secret=True)
    assert buf == bytearray(4)
    ui, _ = entry("12")
    buf = bytearray(4)
    expect_error(Idle, [], admin_ui.text_into, ui, "T", "c", buf, lengths=(4,), secret=True)
    assert buf == bytearray(4)


def test_long_texts_wrap_and_page():
    lines = admin_ui.wrap("dialup.prefix: an extension line needs the outside-line prefix")
    assert lines == ["dialup.prefix:", "an extension", "line needs the", "outside-line", "prefix"]
    assert admin_ui.wrap("终端参数终端参数终端") == ["终端参数终端参数", "终端"]
    ui, display = entry(kp.F2, kp.F1, kp.ENTER, kp.ENTER)
    assert admin_ui.pages(ui, "E", lines) == kp.ENTER
    assert [s[0] for s in display.shown] == ["E 1/2", "E 2/2", "E 1/2", "E 2/2"]


# --- viewing ----------------------------------------------------------------------------------


def test_every_terminal_value_is_shown_passwords_never():
    term = Terminal(
        LOGIN + PARAMS + ("1", "1") + (kp.F2,) * 30 + (kp.CANCEL, kp.CANCEL, kp.CANCEL)
    )
    admin.run(term)
    shown = term.display.shown
    assert ["终端 1/22", "language", "zh", ""] in shown
    assert ["终端 12/22", "bearer", "ethernet", ""] in shown
    assert ["终端 4/22", "operator_passwor", "d", "(已设)"] in shown  # a name wraps too
    assert ["终端 22/22", "ethernet.tpdu", "6000030000", ""] in shown
    assert ["终端 1/22", "language", "zh", ""] == shown[
        shown.index(["终端 22/22", "ethernet.tpdu", "6000030000", ""]) + 1
    ]


def test_an_application_s_values_with_its_merchant_name_by_size():
    term = Terminal(LOGIN + PARAMS + ("1", "2") + (kp.F2,) * 3 + (kp.CANCEL,) * 3, language="en")
    admin.run(term)
    assert ["App 1 CUP 2/9", "merchant_id", "123456789012345", ""] in term.display.shown
    assert ["App 1 CUP 4/9", "merchant_name", "GB18030, 10", "bytes"] in term.display.shown


# --- editing ----------------------------------------------------------------------------------


def saved(term):
    return ParamStore(term.store).load(0)


def test_an_extension_line_needs_its_prefix_and_the_schema_says_so():
    # Dial-up: line type -> extension; prefix emptied; leave: the set is refused in the
    # schema's words and the menu comes back; prefix 0; leave: saved.
    script = LOGIN + PARAMS + ("4", "1", "2")  # 4 dial-up, 1 line type, 2 extension
    script += ("2", kp.CLEAR, kp.ENTER)  # 2 prefix: emptied
    script += (kp.CANCEL, kp.CANCEL, kp.ENTER)  # leave both menus, save
    script += (kp.ENTER, kp.ENTER)  # the refusal read (two pages)
    script += ("4", "2", "0", kp.ENTER, kp.CANCEL, kp.CANCEL, kp.ENTER, kp.ENTER, kp.CANCEL)
    term = Terminal(script)
    admin.run(term)
    assert term.display.saw("dialup.prefix:") and term.display.saw("outside-line")
    assert term.display.saw("已保存")
    terminal = saved(term)
    assert terminal["dialup.line"] == "extension" and terminal["dialup.prefix"] == "0"
    assert edits.edited(term.store, 0) == ["dialup.line", "dialup.prefix"]
    assert term.changes == 1


def test_a_bad_value_is_refused_in_the_schema_s_words_and_can_be_mended():
    # Ethernet: DHCP off needs an address: 300.1.1.1 refused at once, then 10.0.0.7 taken.
    script = LOGIN + PARAMS + ("6", "2", "300.1.1.1", kp.ENTER, kp.ENTER)
    script += (kp.CLEAR,) * 9 + ("10.0.0.7", kp.ENTER)
    script += ("3", "255.255.255.0", kp.ENTER, "4", "10.0.0.1", kp.ENTER, "1", "2")
    script += (kp.CANCEL, kp.CANCEL, kp.ENTER, kp.ENTER, kp.CANCEL)
    term = Terminal(script)
    admin.run(term)
    assert term.display.saw("300.1.1.1 is not") and term.display.saw("an IPv4")
    terminal = saved(term)
    assert terminal["ethernet.dhcp"] is False and terminal["ethernet.ip"] == "10.0.0.7"
    assert terminal["ethernet.gateway"] == "10.0.0.1"


def test_the_bearer_and_gprs_settings_with_letters():
    # Bearer GPRS needs the GPRS group: its APN typed with FUNC (CMNET), host, port, access
    # number and TPDU; then the bearer.
    script = LOGIN + PARAMS + ("5",)
    script += ("1", "2", F, F, F, "6", F, "6", F, F, "3", F, F, "8", F, kp.ENTER)  # CMNET
    script += ("4", ".", "99", "#", kp.ENTER)
    script += ("5", "10.1.1.9", kp.ENTER, "6", "5000", kp.ENTER)
    script += ("9", "6000030000", kp.ENTER, kp.CANCEL)
    script += ("3", "2", kp.CANCEL, kp.ENTER, kp.ENTER, kp.CANCEL)
    term = Terminal(script)
    admin.run(term)
    terminal = saved(term)
    assert terminal["bearer"] == "gprs" and terminal["gprs.apn"] == "CMNET"
    assert terminal["gprs.port"] == 5000 and terminal["gprs.access_number"] == "*99#"
    assert "bearer" in edits.edited(term.store, 0)


def test_an_edit_keeps_the_packet_version_so_the_next_packet_is_taken_and_an_old_refused():
    term = Terminal(
        LOGIN
        + PARAMS
        + ("4", "2", "0", kp.ENTER, kp.CANCEL, kp.CANCEL, kp.ENTER, kp.ENTER, kp.CANCEL)
    )
    admin.run(term)
    store = term.store
    versions = Versions(store)
    assert versions.get(PARAMETERS, 0) == 3 and saved(term)["dialup.prefix"] == "0"
    body = tlv(TERMINAL_ITEMS)
    old = Packet(PARAMETERS, 0, 3, body, params=Params.from_tlv(body, 0))
    expect_error(
        PacketError,
        ["not newer than installed version 3"],
        apply_parameters,
        old,
        ParamStore(store),
        versions,
    )
    assert saved(term)["dialup.prefix"] == "0"  # the replay changed nothing
    new = Packet(PARAMETERS, 0, 4, body, params=Params.from_tlv(body, 0))
    apply_parameters(new, ParamStore(store), versions)
    assert saved(term)["dialup.prefix"] == "9"  # the job's value again
    assert edits.edited(store, 0) == []  # and no mark of the edit it replaced


def test_cancel_at_save_and_idle_drop_the_changes():
    term = Terminal(LOGIN + PARAMS + ("4", "2", "0", kp.ENTER) + (kp.CANCEL,) * 5)
    admin.run(term)
    assert term.display.saw("已放弃修改") and saved(term)["dialup.prefix"] == "9"
    term = Terminal(LOGIN + PARAMS + ("4", "2", "0", kp.ENTER))  # then nothing: Idle
    expect_error(Idle, [], admin.run, term)
    assert saved(term)["dialup.prefix"] == "9" and edits.edited(term.store, 0) == []
    term = Terminal(LOGIN + PARAMS + ("4", "2", "7", kp.CANCEL, kp.CANCEL, kp.CANCEL, kp.CANCEL))
    admin.run(term)  # CANCEL in the entry: nothing changed, nothing asked
    assert not term.display.saw("保存修改?")


def test_the_clock_is_set_from_the_date_and_time_typed():
    term = Terminal(
        LOGIN
        + PARAMS
        + ("2", "20300102", kp.ENTER, "030405", kp.ENTER, kp.ENTER, kp.CANCEL, kp.CANCEL)
    )
    admin.run(term)
    assert Clock(term.store).now()[:5] == (2030, 1, 2, 3, 4)
    assert term.changes == 1
    term = Terminal(
        LOGIN
        + PARAMS
        + ("2", "20300230", kp.ENTER, "030405", kp.ENTER, kp.ENTER, kp.CANCEL, kp.CANCEL)
    )
    admin.run(term)
    assert term.display.saw("a date and time") and term.changes == 0


def test_edits_marks_follow_the_packet_version():
    term = Terminal()
    store = term.store
    terminal = saved(term)
    terminal.set("dialup.prefix", "8")
    edits.save(store, 0, terminal, ("dialup.prefix",))
    edits.save(store, 0, terminal, ("dialup.phone1", "dialup.prefix"))
    assert edits.edited(store, 0) == ["dialup.prefix", "dialup.phone1"]
    terminal.set("dialup.line", "extension")
    terminal.set("dialup.prefix", "")
    expect_error(
        ValueError,
        ["needs the outside-line prefix"],
        edits.save,
        store,
        0,
        terminal,
        ("dialup.line",),
    )
    assert edits.edited(store, 0) == ["dialup.prefix", "dialup.phone1"]  # nothing marked
    ParamStore(store).save(0, saved(term), 5)  # a newer packet
    assert edits.edited(store, 0) == []
