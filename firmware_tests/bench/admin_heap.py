# PosManage's peak heap (app/ui/admin*.py), for `make bench` (tools/bench.py): the smallest
# app heap in which each installer's visit runs, from the ROMFS image (not counted), on a
# terminal set up by `poskit txn init` (provisioned, parameters and TMK as packets), on the
# 32-bit MicroPython (an ESP32's word size: the budget) and the 64-bit one.
#
# Each visit runs admin.run() on a small stand-in Terminal (its screen on a display that
# draws nothing, its keys scripted, a printer that answers "ready"): the same few lines in
# every run, so the baseline row (the stand-in and the Screen, no PosManage) is what the
# rows have in common, and a row minus the baseline is what PosManage adds to the terminal
# at that moment. Prints a Markdown table.
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from hostlib import micropython  # noqa: E402
from hostlib.state import TerminalState  # noqa: E402

JOB = ROOT / "docs" / "examples" / "hostsim-job.toml"
TMK = "70F2A84CCBC2AE8625CBB0F2C22AB923"

_TERMINAL = """
from app.store.params import ParamStore
from app.ui.screen import Screen
from drivers import keypad as kp
class D:
    def clear(self): pass
    def text(self, *a, **k): pass
    def stars(self, *a, **k): pass
    def show(self): pass
class K(kp.Keypad):
    def __init__(self, codes): self.c = list(codes)
    def get(self, t=0): return self.c.pop(0) if self.c else None
    def flush(self): pass
class U:
    def __init__(self): self.q = 0
    def write(self, b):
        if b[:2] == b'\\x10\\x04': self.q += 1
        return len(b)
    def any(self): return self.q
    def readinto(self, buf, n=-1):
        self.q -= 1
        buf[0] = 0x12
        return 1
class T:
    def __init__(self, keys):
        self.board, self.store, self.storage_key = board, store, storage_key
        self.ui = Screen(D(), K(keys))
        self.params = ParamStore(store)
        self.training = False
    def terminal_params(self): return self.params.load(0)
    def applications(self): return [(1, 'CUP')]
    def printer(self):
        from drivers.escpos import Printer
        return Printer(U())
    def changed(self): pass
E, C, F = kp.ENTER, kp.CANCEL, kp.FUNC
L = list(b'01') + [E] + list(b'20240815') + [E]
"""
_RUN = "from app.ui import admin\nadmin.run(T(L + %s + [C]))\n"


def typed(hex_text: str) -> list[int]:
    """The key codes a custodian presses for `hex_text` (A-F: 2 or 3, then FUNC)."""
    out = []
    for c in hex_text:
        if c in "ABCDEF":
            base = "2" if c in "ABC" else "3"
            out += [ord(base)] + [0x80] * ((ord(c) - ord("A")) % 3 + 1)
        else:
            out.append(ord(c))
    return out


# The SM4 pair of docs/keys.md (KCVs A98FCC, 1A48D3; the key's BFD2EA) into slot 02.
_COMPONENTS = (
    typed("DC53CAE2D0B187E9DD0D0C472D33CEE6")
    + [0x0D]
    + typed("A98FCC")
    + [0x0D, 0x0D]
    + typed("5628A6BF9E8EA7F8D213217B6669A79E")
    + [0x0D]
    + typed("1A48D3")
    + [0x0D, 0x0D]
    + typed("BFD2EA")
    + [0x0D, 0x0D]
)

# name -> keys after the login, as a Python expression over E, C, F and b'' strings
VISITS = {
    "login, then the menu left": "[]",
    "version screen (build hash computed)": "[ord('1'), kp.F2, kp.F2, C]",
    "view all parameters, a field a screen": "list(b'211') + [kp.F2] * 25 + [C, C]",
    "edit the Ethernet port, save": "list(b'267') + list(b'6000') + [E, C, C, E, E]",
    "set the clock": "list(b'22') + list(b'20300102') + [E] + list(b'030405') + [E, E, C]",
    "key entry: 2 components, stored": "list(b'402') + [E] + list(b'31') + %r" % _COMPONENTS,
    "parameter slip printed": "[ord('5'), E]",
    "training mode on": "[ord('7'), E, E]",
    "clear the journal (engine read)": "[ord('8'), E]",
}


def init(folder: Path) -> Path:
    text = JOB.read_text().replace(
        'supervisor_password = "123456"',
        'supervisor_password = "123456"\nadmin_password = "20240815"',
    )
    job = folder / "job.toml"
    job.write_text(text)
    state = folder / "term"
    subprocess.run(
        [sys.executable, "-m", "tools.txn", "--state", str(state), "init", "--params", str(job)]
        + ["--serial", "PK-000001", "--keystore", str(folder / "ks.json"), "--tmk-fd", "0"],
        input=TMK + "\n",
        text=True,
        check=True,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "POSKIT_KEYSTORE_PASSPHRASE": "bench"},
    )
    return state


def peak(template: Path, folder: Path, code: str) -> int:
    def trial(heap: int) -> bool:
        state = folder / "trial"
        shutil.rmtree(state, ignore_errors=True)
        shutil.copytree(template, state)
        return TerminalState(state).run(code, heap=heap).ok

    low, high = 4096, 160 * 1024
    if not trial(high):
        raise RuntimeError("does not run in %d bytes:\n%s" % (high, code))
    while True:
        while high - low > 256:
            mid = (low + high) // 2
            if trial(mid):
                high = mid
            else:
                low = mid
        # As firmware_tests/bench/txn_reference.py: the figure stands once the next 1 and
        # 2 KB up pass as well (a fragmented heap need not be monotonic).
        above = [size for size in (high + 1024, high + 2048) if not trial(size)]
        if not above:
            return high
        low, high = above[-1], 160 * 1024


def figures() -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = init(folder)
        out["baseline"] = peak(template, folder, _TERMINAL + "t = T(L)\n")
        for name, keys in VISITS.items():
            out[name] = peak(template, folder, _TERMINAL + _RUN % keys)
    return out


def main() -> int:
    rows64 = figures()
    rows32 = {}
    b32 = micropython.binary32()
    if b32:
        with micropython.default(b32):
            rows32 = figures()
    print("| PosManage visit | peak heap, 32-bit | above baseline | 64-bit | above baseline |")
    print("|---|---:|---:|---:|---:|")
    base32, base64 = rows32.get("baseline"), rows64["baseline"]
    for name in ["baseline"] + list(VISITS):
        v64 = rows64[name]
        v32 = rows32.get(name)
        cells32 = ("-", "-") if v32 is None else ("%d" % v32, "%d" % (v32 - base32))
        print("| %s | %s | %s | %d | %d |" % ((name,) + cells32 + (v64, v64 - base64)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
