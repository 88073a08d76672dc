"""The virtual terminal as its users meet it: `poskit vterm` started as a program, its console
found from the `console:` line, and the real mpremote talking to it over the pseudo-terminal;
scripts that pass and fail; Ctrl-C; the emulated bearers reaching a host; clean shutdown.

Every wait is bounded: the vterm's start (60 s), each mpremote run (30 s), each stop (15 s).
"""

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hostlib.vterm import VirtualTerminal

ROOT = Path(__file__).resolve().parents[1]
MPREMOTE = str(Path(sys.executable).with_name("mpremote"))
# The command module runs on its own until `vterm` is in poskit's command table.
VTERM = [str(Path(sys.executable).with_name("poskit")), "vterm"]


class Vterm:
    """`poskit vterm` as a child process; `console` is the PTY path it announced."""

    def __init__(self, *args: str, start_timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen(
            [*VTERM, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        self.console = self._wait_console(start_timeout)

    def _wait_console(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buffer = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buffer += chunk
                *done, buffer = buffer.split(b"\n")
                for line in done:
                    self.lines.append(line.decode())
                    if line.startswith(b"console: "):
                        return line[len(b"console: ") :].decode()
        self.stop(signal.SIGKILL)
        stderr = self.proc.stderr.read().decode() if self.proc.stderr else ""
        raise AssertionError("no console line from the vterm: %r %s" % (self.lines, stderr))

    def stop(self, how=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(how)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError("the vterm did not stop within 15 s") from None


def mpremote(console: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MPREMOTE, "connect", console, *args], capture_output=True, timeout=timeout
    )


def interpreters(flash: Path) -> list[int]:
    """Processes running a virtual terminal on `flash` (its interpreter has POSKIT_FLASH)."""
    needle = b"\0POSKIT_FLASH=%s\0" % str(flash.resolve()).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if needle in b"\0" + environ:
                found.append(int(entry.name))
    return found


@pytest.fixture
def vterm(tmp_path):
    terminal = Vterm("--flash", str(tmp_path / "term" / "flash.img"))
    yield terminal
    assert terminal.stop() == 0


def test_exec_runs_on_the_device_in_an_esp32_heap(vterm):
    out = mpremote(
        vterm.console,
        "exec",
        "import gc, os, sys; gc.collect(); print(sys.implementation.name, os.getcwd(), "
        "sum(range(1000)), gc.mem_free() < 110 * 1024, gc.mem_free() + gc.mem_alloc())",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:4] == [b"micropython", b"/flash", b"499500", b"True"]
    # The heap beside the ROMFS image's buffer is the 110 KB asked for, less only its own
    # share of the collector's tables (as on the ESP32): the image's share is not taken
    # from it.
    from hostlib import build, micropython

    block = micropython.word_bits() // 2
    image = build.device_romfs(micropython.arch()).stat().st_size
    application = int(out.stdout.split()[4]) - (-(-image // block) + 1) * block
    assert 0.98 * 110 * 1024 <= application <= 112 * 1024, application


def test_files_copied_onto_the_flash_read_back_and_survive_a_soft_reset(vterm, tmp_path):
    text = tmp_path / "hello.py"
    text.write_text("# 签购单 sale slip\nprint('hello from the flash')\n", encoding="utf-8")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 16)
    # Longer than the console's buffers: mpremote reads it byte by byte, slower than the
    # device prints, so nothing of it may be dropped on the way.
    journal = tmp_path / "journal.txt"
    journal.write_text("".join("%06d SALE 0.01 APPROVED\n" % n for n in range(4000)))
    for local in (text, blob, journal):
        out = mpremote(vterm.console, "fs", "cp", str(local), ":" + local.name)
        assert out.returncode == 0, out.stderr

    for local in (text, journal):
        out = mpremote(vterm.console, "fs", "cat", ":" + local.name)
        assert out.returncode == 0, out.stderr
        assert out.stdout == local.read_bytes()
    back = tmp_path / "back.bin"
    out = mpremote(vterm.console, "fs", "cp", ":blob.bin", str(back))
    assert out.returncode == 0, out.stderr
    assert back.read_bytes() == blob.read_bytes()

    # RAM keeps a value between two connections (no reset), loses it on a soft reset.
    assert mpremote(vterm.console, "resume", "exec", "marker = 12345").returncode == 0
    out = mpremote(vterm.console, "resume", "exec", "print(marker)")
    assert out.stdout.strip() == b"12345"
    out = mpremote(vterm.console, "soft-reset")
    assert out.returncode == 0, out.stderr
    out = mpremote(vterm.console, "resume", "exec", "print('marker' in globals())")
    assert out.stdout.strip() == b"False"

    out = mpremote(vterm.console, "fs", "cat", ":hello.py")
    assert out.stdout == text.read_bytes()
    out = mpremote(vterm.console, "exec", "import hello")  # the flash is on the module path
    assert out.stdout.strip() == b"hello from the flash"


def test_flash_persists_across_restarts_and_no_process_is_left(tmp_path):
    flash = tmp_path / "term" / "flash.img"
    payload = tmp_path / "terminal.cfg"
    payload.write_bytes(b"TERMINAL_ID=12345678\nMERCHANT=898310048990001\n")

    first = Vterm("--flash", str(flash))
    assert (tmp_path / "term" / "storage.key").stat().st_size == 16  # made with the image
    assert mpremote(first.console, "fs", "cp", str(payload), ":terminal.cfg").returncode == 0
    assert interpreters(flash), "the interpreter should be running"
    assert first.stop(signal.SIGTERM) == 0
    assert interpreters(flash) == []

    second = Vterm("--flash", str(flash))
    out = mpremote(second.console, "fs", "cat", ":terminal.cfg")
    assert out.stdout == payload.read_bytes()
    assert second.stop(signal.SIGINT) == 0  # Ctrl-C
    assert interpreters(flash) == []


def test_a_killed_vterm_takes_its_interpreter_with_it(tmp_path):
    flash = tmp_path / "flash.img"
    terminal = Vterm("--flash", str(flash))
    assert interpreters(flash)
    terminal.stop(signal.SIGKILL)  # no clean-up at all: the hang-up must end the interpreter
    deadline = time.monotonic() + 10
    while interpreters(flash) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert interpreters(flash) == []


def test_a_flash_image_that_does_not_mount_is_reported_not_formatted(tmp_path):
    flash = tmp_path / "flash.img"
    garbage = os.urandom(1024 * 1024)
    flash.write_bytes(garbage)
    out = subprocess.run(
        [*VTERM, "--flash", str(flash)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert "the terminal cannot start" in out.stderr
    assert "is not a LittleFS v2 filesystem" in out.stderr
    assert flash.read_bytes() == garbage
    assert interpreters(flash) == []


def test_one_virtual_terminal_per_flash_image(vterm, tmp_path):
    out = subprocess.run(
        [*VTERM, "--flash", str(tmp_path / "term" / "flash.img")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "terminal busy" in out.stderr
    assert "poskit vterm (pid %d)" % vterm.proc.pid in out.stderr


def test_ctrl_c_interrupts_running_code_and_ctrl_d_soft_resets(tmp_path):
    with VirtualTerminal(tmp_path / "flash.img") as terminal:
        console = terminal.console
        assert console is not None
        _, at = console.expect(b">>> ")
        console.type(b"n = 0\rwhile True: n += 1\r\r")
        time.sleep(0.3)
        console.type(b"\x03")
        _, at = console.expect(b"KeyboardInterrupt", at)
        console.type(b"print(n > 0)\r")
        _, at = console.expect(b"True", at)
        console.type(b"\x04")  # Ctrl-D at the friendly REPL
        console.wait_reset(1, timeout=10)
        _, at = console.expect(b"MPY: soft reboot\r\n", at)
        _, at = console.expect(b">>> ", at)
        console.type(b"print('n' in globals())\r")
        _, at = console.expect(b"False", at)
        assert console.resets == 1
        assert b"killed by signal" not in console.output()


def run_script(tmp_path, text, *args, name="run.vts"):
    script = tmp_path / name
    script.write_text(text, encoding="utf-8")
    return subprocess.run(
        [*VTERM, "--flash", str(tmp_path / "flash.img"), "--script", str(script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_the_documented_script_passes_and_exits_0(tmp_path):
    example = ROOT / "docs" / "examples" / "vterm-smoke.vts"
    out = run_script(tmp_path, example.read_text(encoding="utf-8"), "--headless")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all 13 lines passed" in out.stdout
    assert re.search(r"^console: /dev/pts/\d+$", out.stdout, re.M)
    assert "app started" in out.stdout  # the console's output is shown


def test_mpremote_interrupts_a_running_app(tmp_path):
    app = tmp_path / "main.py"
    app.write_text("print('app ' + 'running')\nwhile True:\n    pass\n")
    with VirtualTerminal(tmp_path / "flash.img") as terminal:
        console = terminal.console
        assert console is not None
        assert mpremote(console.path, "fs", "cp", str(app), ":main.py").returncode == 0
        at = console.position()
        console.type(b"\x04")  # a soft reset from the friendly REPL runs main.py
        console.expect(b"app running", at)
        assert console.running()
        out = mpremote(console.path, "exec", "print('the app was ' + 'stopped')")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == b"the app was stopped"


def test_a_failing_script_exits_1_and_says_which_line_and_why(tmp_path):
    out = run_script(tmp_path, "timeout 1\nexec print('forty', 'one')\nexpect forty two\n")
    assert out.returncode == 1
    assert "line 3 (expect forty two): 'forty two' did not appear within 1.0 s" in out.stderr
    assert "forty one" in out.stderr  # the console's last output is shown

    out = run_script(tmp_path, "exec import nosuchmodule\n")
    assert out.returncode == 1
    assert "line 1 (exec import nosuchmodule): the device raised ImportError" in out.stderr

    out = run_script(tmp_path, "timeout 1\nprint-receipt-check TOTAL\n")
    assert out.returncode == 1
    assert "the printer printed no line holding 'TOTAL' within 1.0 s" in out.stderr


def test_sys_exit_in_boot_py_soft_resets_and_a_boot_loop_stops_the_terminal(tmp_path):
    out = run_script(
        tmp_path,
        "exec f = open('boot.py', 'w'); f.write('print(6 * 7)\\nimport sys\\nsys.exit()\\n'); "
        "f.close()\n"
        "reset\n"
        "expect 42\n"
        "expect MPY: soft reboot\n"
        "expect 42\n"
        "sleep 10\n",
    )
    assert out.returncode == 1
    assert (
        "line 6 (sleep 10): the virtual terminal stopped: boot loop: 5 starts in a row ended "
        "before any prompt" in out.stderr
    )


def test_a_malformed_script_is_refused_before_the_terminal_starts(tmp_path):
    for text, message in (
        ("timeout soon\n", "line 1: `timeout` needs a number of seconds"),
        ("sleep 1\ntimeout nan\n", "line 2: `timeout` needs a number of seconds (0 to 3600"),
        ("sleep inf\n", "line 1: `sleep` needs a number of seconds (0 to 3600"),
        ("sleep 1e9\n", "line 1: `sleep` needs a number of seconds (0 to 3600"),
        ("timeout -1\n", "line 1: `timeout` needs a number of seconds (0 to 3600"),
        ("\nfrobnicate 3\n", "line 2: unknown command 'frobnicate'"),
        ("swipe 6222021234567890123\n", "is neither a track 2 (PAN=YYMM..., with the '=')"),
        ("keys 1 2 OK CANCLE\n", "line 1: `keys`: no key 'CANCLE'"),
        ("pin 12\n", "line 1: `pin`: a PIN is 4 to 12 digits"),
        ("hold\n", "line 1: `hold` needs a text"),
        ("hold 250 150 80\n", "line 1: `hold`: hold PRESS_MS [GAP_MS], whole milliseconds"),
        ("hold 15\n", "line 1: `hold`: a key is held and released 40 to 2000 ms"),
    ):
        out = run_script(tmp_path, text)
        assert out.returncode == 1
        assert message in out.stderr
        assert not (tmp_path / "flash.img").exists()


def test_hold_sets_how_long_the_later_keys_are_held_and_released():
    from types import SimpleNamespace

    from hostlib import vterm_script
    from hostlib.emulators.keypad import KeypadEmulator

    keypad = KeypadEmulator()  # not started: the keys played stay queued, with their times
    waited = []
    keypad.wait_idle = waited.append
    terminal = SimpleNamespace(console=SimpleNamespace(failure=None), keypad=keypad)
    runner = vterm_script.ScriptRunner(terminal)
    runner.run(vterm_script.parse("keys 1\nhold 250 150\nkeys 1 1\n"))
    times = [at for at, _ in keypad._queue]
    steps = [round((b - a) * 1000) for a, b in zip(times, times[1:])]
    # 80 ms down and its 80 ms gap (or more, if the next line came later); after the hold
    # line 250 down, 150 up, 250 down
    assert steps[0] == 80 and steps[1] >= 80 and steps[2:] == [250, 150, 250]
    # each keys line waits for its own keys, at their new length, and the script's timeout
    assert [round(timeout - runner.timeout, 2) for timeout in waited] == [0.08, 0.65]


def test_a_binary_file_given_as_script_names_its_first_bad_line(tmp_path):
    script = tmp_path / "flash.bin"
    script.write_bytes(b"timeout 5\nexec print(1)\n\x00\x01\x02\x03" + bytes(range(256)))
    out = subprocess.run(
        [*VTERM, "--flash", str(tmp_path / "flash.img"), "--script", str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert out.stderr == "poskit: %s, line 3: holds a control character (a binary file?)\n" % (
        script
    )
    assert not (tmp_path / "flash.img").exists()


def test_a_state_folder_is_taken_as_every_command_takes_it(tmp_path):
    from hostlib.state import TerminalState

    folder = tmp_path / "term1"
    TerminalState(folder).create()  # as `poskit txn init` or `poskit provision` make it
    key = (folder / "storage.key").read_bytes()
    script = tmp_path / "run.vts"
    script.write_text("exec f = open('mark', 'w'); f.write('state'); f.close()\n")
    out = subprocess.run(
        [*VTERM, "--state", str(folder), "--script", str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "flash: %s" % (folder / "flash.img").resolve() in out.stdout
    assert (folder / "storage.key").read_bytes() == key  # the terminal's own, kept
    # --flash given the folder: the way out named, nothing started or made.
    out = subprocess.run(
        [*VTERM, "--flash", str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert out.stderr == (
        "poskit: --flash wants the flash image file; %s is a folder: for a terminal state "
        "folder (flash.img, storage.key) give --state %s\n" % (folder, folder)
    )
    out = subprocess.run(
        [*VTERM, "--state", str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert out.stderr == "poskit: --state wants a terminal state folder; %s is a file\n" % script


def test_what_is_typed_at_the_repl_is_not_kept_in_the_users_home(tmp_path, monkeypatch):
    # The unix port writes $HOME/.micropython.history whenever the interpreter ends, and a
    # soft reset ends it: a key typed at the console would stay in the installer's home.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    with VirtualTerminal(tmp_path / "flash.img") as terminal:
        console = terminal.console
        assert console is not None
        _, at = console.expect(b">>> ")
        console.type(b"tmk = '70F2A84CCBC2AE8625CBB0F2C22AB923'\r")
        _, at = console.expect(b">>> ", at)
        console.type(b"\x04")  # Ctrl-D: soft reset, the interpreter ends
        console.wait_reset(1, timeout=10)
        _, at = console.expect(b">>> ", at)
    assert list(home.iterdir()) == []
    assert not list(tmp_path.rglob("*history*"))


BEARERS = """\
timeout 10
exec from board import unix_sim; b = bytearray(4)
exec m = unix_sim.modem(); m.setup(); print('rate', m.dial('95555'))
expect rate 2400
exec m.write(b'ping'); m.read_exactly(b, 3000); print('modem', bytes(b))
expect modem b'ping'
exec g = unix_sim.gprs(); g.sync(); print('driver', type(g).__name__)
exec g.attach('CMNET'); g.open('posp.example', 1); g.send(b'pong')
exec n = g.readinto(b, 3000); print('gprs', bytes(b[:n]))
expect gprs b'pong'
gprs-signal 7
exec print('csq', g.signal())
expect csq (7, 0)
"""


@pytest.mark.parametrize("model, driver", [("sim800", "Sim800"), ("sim7600", "Sim7600")])
def test_the_modem_and_gprs_module_reach_the_host_given(tmp_path, echo_host, model, driver):
    out = run_script(tmp_path, BEARERS, "--host", echo_host.address, "--gprs", model)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "driver %s" % driver in out.stdout
    assert re.search(r"modem: 127\.0\.0\.1:\d+", out.stdout)
    assert re.search(r"gprs: 127\.0\.0\.1:\d+", out.stdout)


def test_the_device_check_drives_keypad_display_reader_pinpad_and_printer(tmp_path):
    example = (ROOT / "docs" / "examples" / "vterm-device-check.vts").read_text(encoding="utf-8")
    # The documented script, with two snapshots of the screen before the end.
    text = example.replace(
        "keys CANCEL\n", "snapshot screen.png\nsnapshot screen.txt\nkeys CANCEL\n"
    )
    out = run_script(tmp_path, text, "--headless")
    assert out.returncode == 0, out.stdout + out.stderr
    for name in ("printer", "display", "keypad", "pinpad", "cardreader"):
        assert re.search(r"^%s: 127\.0\.0\.1:\d+$" % name, out.stdout, re.M), name
    # What the device reported: every key, in order, the PIN pad's serial, one slip printed.
    seen = re.search(r"SEEN (\{.*\})", out.stdout)
    assert seen, out.stdout
    assert "'keys': ['1', '2', '3', 'F1', 'ENTER', 'ENTER', 'CANCEL']" in seen.group(1)
    assert "'pinpad': 'PP20240001'" in seen.group(1)
    assert "'printed': True" in seen.group(1)
    # The full card number and the track never reach the console.
    assert "6224242900000113" not in out.stdout + out.stderr
    assert "2806201394903" not in out.stdout + out.stderr
    # The snapshots: a PNG of the glass (4x scale) and the text read off it.
    png = (tmp_path / "screen.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(png[16:20], "big") == 512 and int.from_bytes(png[20:24], "big") == 256
    text = (tmp_path / "screen.txt").read_text(encoding="utf-8").splitlines()
    assert text[:4] == ["设备检测", "键 ENTER", "卡 LRC mismatch", "打印 OK"]
    assert len(text[5]) == 128 and set(text[5]) <= {"#", "."}
    # The slip, saved beside the flash image as text and as a picture of the paper.
    slip = (tmp_path / "receipts" / "receipt-001.txt").read_text(encoding="utf-8")
    assert "POSKIT DEVICE CHECK" in slip and "测试 设备检测" in slip
    assert (tmp_path / "receipts" / "receipt-001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_screen_check_that_fails_says_what_the_screen_shows(tmp_path):
    out = run_script(
        tmp_path,
        "timeout 1\n"
        "exec from board import unix_sim; d = unix_sim.display(); d.text(1, '请刷卡'); d.show()\n"
        "screen-check 请插卡\n",
        "--headless",
    )
    assert out.returncode == 1
    assert "line 3 (screen-check 请插卡): the screen did not show '请插卡' within 1.0 s" in (
        out.stderr
    )
    assert "'请刷卡'" in out.stderr


def test_a_scripted_pin_is_entered_on_the_pin_pad_and_only_its_block_reaches_the_terminal(
    tmp_path,
):
    from hostlib import vterm_script

    entry = "pad.enter_pin('6224242900000113', b'RMB 0.01', slot=1)"
    with VirtualTerminal(tmp_path / "flash.img") as terminal:
        pad, console = terminal.pinpad, terminal.console
        assert pad is not None and console is not None
        pad.working_keys[1] = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
        vterm_script.run_script(
            terminal,
            "timeout 10\n"
            "exec from board import unix_sim; pad = unix_sim.pinpad()\n"
            "pin 123456\n"
            "exec b = %s; print('block of', len(b))\n"
            "expect block of 8\n"
            "pin cancel\n" % entry,
        )
        with pytest.raises(vterm_script.ScriptError, match="the device raised PinPadCancelled"):
            vterm_script.run_script(terminal, "timeout 10\nexec %s\n" % entry)
        assert [e.outcome for e in pad.entries] == ["pin", "cancelled"]
        # A failing line quotes a PIN as stars, a card as on a slip.
        step = vterm_script.parse("pin 123456\n")[0]
        assert step.describe() == "pin ******"
        step = vterm_script.parse("swipe 6224242900000121=28062010000000000 lrc\n")[0]
        assert step.describe() == "swipe 622424******0121=... lrc"
        assert pad.entries[0].amount == "RMB 0.01"
        assert b"123456" not in console.output()


def test_in_a_text_terminal_the_lcd_is_drawn_and_keys_reach_the_device(tmp_path):
    """`poskit vterm` on a terminal: the frame is drawn, a key typed on the keyboard reaches
    the device's keypad driver, Ctrl-C stops it and gives the terminal back."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: poskit vterm on the pseudo-terminal, and nothing else
        try:
            os.chdir(ROOT)
            os.execv(VTERM[0], [*VTERM, "--flash", str(tmp_path / "flash.img")])
        finally:
            os._exit(127)
    seen = bytearray()

    def read_until(needle: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in seen:
            left = deadline - time.monotonic()
            assert left > 0, "no %r on the screen: %r" % (needle, bytes(seen[-400:]))
            if select.select([fd], [], [], min(left, 0.2))[0]:
                try:
                    seen.extend(os.read(fd, 65536))
                except OSError:
                    break

    try:
        read_until(b"console: /dev/pts/", 60)
        console = re.search(rb"console: (/dev/pts/\d+)", bytes(seen)).group(1).decode()
        read_until(b"keys: 0-9", 10)
        out = {}

        def device_reads_a_key():
            out["run"] = mpremote(
                console,
                "exec",
                "from board import unix_sim; k = unix_sim.keypad(); print('key', k.get(8000))",
            )

        reader = threading.Thread(target=device_reads_a_key)
        reader.start()
        time.sleep(2)  # the exec has started scanning
        os.write(fd, b"7")
        reader.join(timeout=30)
        assert out["run"].returncode == 0, out["run"].stderr
        assert out["run"].stdout.split() == [b"key", b"55"]  # '7'
        os.write(fd, b"\x03")
        read_until(b"\x1b[?1049l", 15)  # the screen given back
    finally:
        status = None
        deadline = time.monotonic() + 15
        while status is None and time.monotonic() < deadline:
            done, code = os.waitpid(pid, os.WNOHANG)
            status = code if done else None
            time.sleep(0.1)
        if status is None:  # a failed test must not leave a terminal running
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert status is not None and os.waitstatus_to_exitcode(status) == 0
