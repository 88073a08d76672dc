"""Chip cards on the virtual terminal: the script lines `insert CARD`, `tap CARD [SECONDS]` and
`remove` (the same lines `poskit vterm`'s control interface runs) reach the TDA8029 and PN532
emulators, and the device's own drivers, through board.unix_sim, read the card.

The cards come from hostlib.card (load_card); here a stand-in module gives the test card of
test_chip_readers.py, so these tests hold with or without the card emulator installed.
"""

import types

import pytest
from test_chip_readers import FCI, SELECT, FakeCard

from hostlib import vterm_script
from hostlib.vterm import VirtualTerminal
from hostlib.vterm_control import ControlServer, VtermControl


@pytest.fixture
def cards(monkeypatch):
    """hostlib.card as a module whose load_card() knows one card, "pboc-debit"."""
    loaded = []

    def load_card(name):
        if name != "pboc-debit":
            raise ValueError("no test card called %r" % name)
        card = FakeCard(t0=True)
        loaded.append(card)
        return card

    module = types.ModuleType("hostlib.card")
    module.load_card = load_card  # pyright: ignore[reportAttributeAccessIssue]
    monkeypatch.setitem(__import__("sys").modules, "hostlib.card", module)
    return loaded


def test_insert_tap_and_remove_reach_the_readers_and_the_device_reads_the_card(
    tmp_path, cards, monkeypatch
):
    with VirtualTerminal(tmp_path / "flash.img") as terminal:
        assert set(terminal.peripherals()) >= {"chipreader", "contactless"}
        vterm_script.run_script(
            terminal,
            "timeout 10\n"
            "insert pboc-debit\n"
            "exec import binascii; from board import unix_sim; r = unix_sim.chip_reader()\n"
            "exec print('ATR', binascii.hexlify(r.power_up(3000)).decode())\n"
            "expect ATR 3b021450\n"
            "exec d, sw = r.transmit(binascii.unhexlify('%s')); "
            "print('SW %%04X' %% sw, binascii.hexlify(d).decode())\n"
            "expect SW 9000 %s\n"
            "remove\n"
            "exec print('PRESENT', r.present())\n"
            "expect PRESENT False\n"
            "tap pboc-debit 30\n"
            "exec n = unix_sim.contactless_reader(); n.wake()\n"
            "exec print('ATS', binascii.hexlify(n.power_up(3000)).decode())\n"
            "expect ATS 0578807002\n"
            "remove\n"
            "exec print('LOST', n.present())\n"
            "expect LOST False\n" % (SELECT.hex(), FCI.hex()),
        )
        contact, contactless = cards
        # Over the contacts the card was spoken to in T=0: SELECT without Le, GET RESPONSE.
        assert contact.received == [SELECT[:-1], bytes.fromhex("00C0000012")]
        assert contactless.resets == 1
        assert terminal.chip_reader is not None and not terminal.chip_reader.present
        # The same lines from another program, through `poskit vterm`'s control interface.
        server = ControlServer(terminal).start()
        try:
            control = VtermControl.find(tmp_path)
            control.do("insert pboc-debit")
            assert terminal.chip_reader.present
            control.do("remove")
            assert not terminal.chip_reader.present
        finally:
            server.stop()
        # A card the emulator does not know, and no card emulator at all: readable errors.
        with pytest.raises(vterm_script.ScriptError, match="cannot load card 'no-such-card'"):
            vterm_script.run_script(terminal, "insert no-such-card\n")
        monkeypatch.setitem(__import__("sys").modules, "hostlib.card", None)
        with pytest.raises(vterm_script.ScriptError, match=r"card emulator \(hostlib.card\)"):
            vterm_script.run_script(terminal, "tap pboc-debit\n")


def test_chip_card_lines_are_checked_before_the_terminal_starts():
    steps = vterm_script.parse(
        "insert pboc-debit\ntap cards/visa.json 2.5\ntap pboc-debit\nremove\n"
    )
    assert [(s.command, s.argument) for s in steps] == [
        ("insert", "pboc-debit"),
        ("tap", "cards/visa.json 2.5"),
        ("tap", "pboc-debit"),
        ("remove", ""),
    ]
    for text, message in (
        ("insert\n", "`insert` needs a text"),
        ("tap\n", "`tap` needs a text"),
        ("remove now\n", "`remove` takes no argument"),
        ("tap pboc-debit 9999\n", "a tap lasts at most 3600 seconds"),
    ):
        with pytest.raises(vterm_script.ScriptError, match=message):
            vterm_script.parse(text)
