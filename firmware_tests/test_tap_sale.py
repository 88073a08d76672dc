"""A contactless sale through the transaction engine against the host simulator, in the
ESP32's heap on the 32-bit port: `poskit txn init`, a sign-on that downloads the IC sets, then
on the PN532 driver against the reader's emulator holding the card emulator's dual-interface
card, a tap within its e-cash (approved offline: app.txn.offline) and a tap over it (its ARQC
to `poskit hostsim` in a 0200 with app.txn.tap.TapCard, the PIN the card asks for), then the
settlement, which uploads the offline sale first (its TC checked by the host simulator).
"""

from chipdevice import txn_init

from hostlib import micropython
from hostlib.card import load_card
from hostlib.emulators.pn532 import Pn532Emulator
from hostlib.hostsim import HostSimulator
from hostlib.state import TerminalState

CODE = """
from board.unix_sim import SocketUART
from drivers.pn532 import PN532
from app.comm.frames import TcpBearer
from app.emv import qpboc
from app.store.icsets import ICSets
from app.txn import chip, offline, tap
from app.txn.engine import Engine, Request
e = Engine(1, store, storage_key, TcpBearer("127.0.0.1", @HOST@))
assert e.run(Request("sign_on")).approved
nfc = PN532(SocketUART("127.0.0.1", @NFC@))
nfc.wake()
out = []
for amount in (1234, 15000):
    nfc.power_up(5000)
    o = qpboc.transact(nfc, chip.terminal_data(e, amount), ICSets(store.root))
    nfc.power_off()
    if o.result == qpboc.APPROVED:
        out.append("offline:%d" % offline.approve(e, o, "01").stan)
    else:
        r = e.run(Request("sale", amount=amount, card=tap.TapCard(o), pin=bytearray(b"123456")))
        out.append("%s:%s:%s" % (o.result, r.response_code, r.entry.entry_mode))
    o = None
r = e.run(Request("settlement"))
out.append("settled:%s:%d" % (r.approved, r.settlement["uploaded"]))
out.append("to_upload:%d" % len(list(e.journal.to_upload(e.batch))))
print("@", " ".join(out))
"""


def test_a_tap_offline_and_a_tap_online_then_the_settlement_in_the_esp32_heap(tmp_path):
    # Modules from the ROMFS image; the ESP32's 110 KB on the 32-bit build (its objects are
    # the ESP32's size), 160 KB on the 64-bit one, where they are twice that.
    state = tmp_path / "term"
    txn_init(state)
    interpreter = micropython.binary32()
    heap = "110K" if interpreter else "160K"
    card = load_card("pboc-dual")
    with HostSimulator(db_path=str(tmp_path / "host.db"), seed=True) as host:
        with Pn532Emulator() as nfc, micropython.default(interpreter or micropython.binary()):
            nfc.tap(card)
            code = CODE.replace("@HOST@", str(host.address[1])).replace("@NFC@", str(nfc.port))
            run = TerminalState(state).run(code, heap=heap).check()
    line = run.stdout.split("@")[-1].split()
    assert line[0] == "offline:2", run.stdout
    assert line[1] == "online:00:071"  # the ARQC verified by the host; PIN entered
    assert line[2:] == ["settled:True:0", "to_upload:0"]  # the e-cash sale uploaded first
    assert card.applications[0].balance == 10000 - 1234
