"""Host-link mode's heap: the smallest application heap in which a whole installer's session
over the console runs on a virtual terminal (the 32-bit MicroPython gives the ESP32's
figure; POSKIT_MICROPYTHON names the interpreter).

    POSKIT_MICROPYTHON=../shared/micropython32/micropython \\
        python firmware_tests/bench/hostlink_heap.py [--low 40] [--high 110]

The terminal is set up as `make demo` sets one up (provisioned, the job's parameters, its
TMK, the application on its flash), powers up into its application, and the session enters
host-link mode over the raw REPL: identify, a key packet of 8 master keys (9 parts, the
largest request), sign-on, a sale with the card swiped on the terminal's reader and the PIN
on its keypad, the journal, the last slip. A heap passes when every step answers and the
sale is approved. Bisection in 2 KB steps.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hostlib import keys, micropython, packets  # noqa: E402
from hostlib.errors import PoskitError  # noqa: E402
from hostlib.keystore import KeyStore  # noqa: E402
from hostlib.terminal import Terminal  # noqa: E402
from hostlib.vterm import VirtualTerminal  # noqa: E402
from hostlib.vterm_script import ScriptError, run_script  # noqa: E402
from tools.demo import TMK, Bench  # noqa: E402

SERIAL = "PK-000001"
PASSPHRASE = "correct horse battery"


def key_packet(folder: Path) -> bytes:
    terminal = KeyStore.open(folder / "keystore.json", PASSPHRASE).terminal(SERIAL)
    check = keys.kcv("3DES", bytes.fromhex(TMK))
    entries = []
    for slot in range(1, 9):
        block = keys.tr31_wrap(terminal["kbpk"].hex(), TMK, "K0", "T", "D", version_id="D")
        entries.append((slot, block, check))
    return packets.build_key_packet(entries, SERIAL, terminal["link_key"], 2, 1)


def session(bench: Bench, heap_k: int, packet: bytes) -> str | None:
    """None when the whole session ran in `heap_k` KB, else what failed."""
    with tempfile.TemporaryDirectory(prefix="poskit-hlheap-") as tmp:
        term_dir = Path(tmp) / "term"
        shutil.copytree(bench.state, term_dir)
        for lock in term_dir.glob("*.lock"):
            lock.unlink()
        vt = VirtualTerminal(term_dir / "flash.img", heap="%dK" % heap_k).start()
        try:
            try:
                run_script(vt, "timeout 60\nscreen-check 打印纸 正常\n", "power-up")
            except ScriptError as exc:
                return "power-up: %s" % exc
            assert vt.console is not None
            errors: list = []

            def cashier() -> None:
                try:
                    run_script(
                        vt,
                        "timeout 60\nscreen-check 请刷卡\nswipe\nscreen-check 确认键继续\n"
                        "keys ENTER/250\nscreen-check 密码\n"
                        "keys 1/250 2/250 3/250 4/250 5/250 6/250 ENTER/250\n"
                        "screen-check 请撕下\nkeys ENTER/250\n",
                        "cashier",
                    )
                except ScriptError as exc:
                    errors.append(exc)

            try:
                with Terminal.open(vt.console.path, timeout=120) as term:
                    term.identify()
                    term.load(packet)
                    if not term.txn({"kind": "sign_on", "app": 1})["approved"]:
                        return "sign-on not approved"
                    thread = threading.Thread(target=cashier)
                    thread.start()
                    sale = term.txn({"kind": "sale", "amount": 1, "card": "reader", "app": 1})
                    thread.join(timeout=90)
                    if not sale["approved"] or errors:
                        return "sale: %s %s" % (sale.get("error"), errors)
                    term.journal(1)
                    term.slips(1)
            except PoskitError as exc:
                tail = vt.console.output()[-1500:].decode("utf-8", "replace")
                return "%s\nthe console's last output:\n%s" % (exc, tail)
            return None
        finally:
            vt.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--low", type=int, default=40, help="KB known too small")
    parser.add_argument("--high", type=int, default=110, help="KB to start from")
    args = parser.parse_args()
    bits = micropython.word_bits()
    with tempfile.TemporaryDirectory(prefix="poskit-hlbench-") as tmp:
        with Bench(Path(tmp) / "bench", heap="%dK" % args.high, serial=SERIAL) as bench:
            packet = key_packet(bench.folder)
            failed = session(bench, args.high, packet)
            if failed:
                print("fails at %d KB: %s" % (args.high, failed))
                return 1
            low, high = args.low, args.high
            while high - low > 2:
                middle = (low + high) // 2
                failed = session(bench, middle, packet)
                print("%d KB: %s" % (middle, failed or "passes"), flush=True)
                if failed:
                    low = middle
                else:
                    high = middle
    print(
        "host-link session on the %d-bit MicroPython: runs in %d KB, not in %d KB"
        % (bits, high, low)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
