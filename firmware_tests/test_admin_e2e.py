"""The terminal end to end, the installer's and supervisor's side: the power-up checks,
PosManage's version screen and key entry, training mode, each on a fresh virtual terminal
against a fresh host simulator (examplescript.py); the lockdown that keeps Ctrl-C from
stopping the application; a heap the application does not fit; each application signing on
over its own bearer. test_ui_e2e.py has the cashier's scripts.

To add a script: write it under docs/examples/ (docs/vterm.md has the commands, docs/menus.md
the screens and keys) and add a line to SCRIPTS with the job it needs, here or in
test_ui_e2e.py, whichever keeps the two files' times level (examplescript.py has each
script's). Each costs a fresh host simulator and terminal (about 3 s) plus its own run.
"""

import time
from pathlib import Path

import pytest
from examplescript import run_example

from hostlib.vterm import VirtualTerminal
from tools.demo import EXAMPLES, JOB, Bench, terminal_heap

# `make test` runs these after the rest, two at a time (pyproject.toml's markers, the Makefile).
pytestmark = pytest.mark.e2e

# (script, job, serial): with a serial the terminal is provisioned as it and its parameters
# loaded as packets (PosManage's version screen shows their versions).
SCRIPTS = [
    ("power-up-checks.vts", "terminal-job.toml", None),
    ("admin-versions.vts", "terminal-job.toml", "PK-000001"),
    ("admin-keys.vts", "terminal-job.toml", "PK-000001"),
    ("training.vts", "terminal-job.toml", "PK-000001"),
]


@pytest.mark.parametrize("script, job, serial", SCRIPTS, ids=[row[0] for row in SCRIPTS])
def test_the_script_passes_against_the_host_simulator(script, job, serial, tmp_path):
    run_example(script, job, serial, tmp_path)


def test_locked_down_ctrl_c_does_not_stop_the_terminal(tmp_path):
    job = tmp_path / "locked.toml"
    job.write_text(
        JOB.read_text().replace('bearer = "ethernet"', 'bearer = "ethernet"\nlockdown = true')
    )
    with Bench(tmp_path / "bench", job) as bench:
        vt = VirtualTerminal(bench.state / "flash.img", heap=terminal_heap())
        with vt:
            assert vt.display is not None and vt.console is not None
            vt.display.wait_for_picture(
                lambda picture: "开机检查" in picture.read_text()[0], timeout=30
            )
            start = vt.console.position()
            vt.console.type(b"\x03\r\x03\r\x01")  # Ctrl-C, as mpremote sends it
            time.sleep(1)
            # the application goes on: the idle screen, and ENTER opens the cashier menu
            vt.display.wait_for_picture(lambda p: "打印纸 正常" in p.read_text(), timeout=30)
            assert vt.keypad is not None
            vt.keypad.play("ENTER")
            vt.display.wait_for_picture(lambda p: "1 消费" in p.read_text(), timeout=10)
            assert b">>>" not in vt.console.output(start)
            assert b"raw REPL" not in vt.console.output(start)
    # not locked down (the same job without it), Ctrl-C reaches the REPL
    with Bench(tmp_path / "open", JOB) as bench:
        with VirtualTerminal(bench.state / "flash.img", heap=terminal_heap()) as vt:
            assert vt.display is not None and vt.console is not None
            vt.display.wait_for_picture(
                lambda picture: "开机检查" in picture.read_text()[0], timeout=30
            )
            start = vt.console.position()
            vt.console.type(b"\x03")
            vt.console.expect(b">>> ", start, timeout=10)


def test_a_heap_the_application_does_not_fit_is_said_on_screen(tmp_path):
    # The ROMFS image's application in about 80% of the heap it needs: power-up fails on an
    # import, and the screen says so and stays (before, the console's traceback and the REPL
    # were all there was; the glass kept its last screen).
    from hostlib import micropython

    heap = "80K" if micropython.word_bits() == 32 else "128K"
    with Bench(tmp_path / "bench", heap=heap) as bench:
        with VirtualTerminal(bench.state / "flash.img", heap=heap) as vt:
            assert vt.display is not None and vt.console is not None
            vt.display.wait_for_picture(lambda p: "内存不足" in p.read_text(), timeout=60)
            picture = vt.display.wait_for_picture(lambda p: "请报修" in p.read_text(), timeout=5)
            assert picture.read_text()[0].strip() == "暂停服务"
            time.sleep(2)  # and it stays out of service
            assert "内存不足" in vt.display.picture().read_text()
            assert b"MemoryError" in vt.console.output(0)


def test_each_application_signs_on_over_its_own_bearer(tmp_path):
    # docs/examples/two-bearer-job.toml: application 1 over the terminal's Ethernet,
    # application 2 over GPRS (its own bearer). Both sign on at power-up; the GPRS module
    # carries application 2's sign-on and nothing of application 1's.
    import subprocess
    import sys

    from hostlib.hostsim import HostSimulator
    from tools.demo import TMK

    job = EXAMPLES / "two-bearer-job.toml"
    with Bench(tmp_path / "bench", job) as bench:
        bench.stop()  # the same host, in this process, with application 2's terminal too
        init = subprocess.run(
            [str(Path(sys.executable).with_name("poskit")), "txn", "--state", str(bench.state)]
            + ["--app", "2", "init", "--tmk-fd", "0"],
            input=TMK + "\n",
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert init.returncode == 0, init.stdout + init.stderr
        with HostSimulator(
            db_path=str(bench.folder / "host.db"), seed=True, port=bench.port
        ) as host:
            host.add_terminal("12345679", "123456789012346", TMK)
            vt = VirtualTerminal(
                bench.state / "flash.img",
                host=("127.0.0.1", bench.port),
                heap=terminal_heap(),
            )
            with vt:
                assert vt.display is not None and vt.gprs is not None
                vt.display.wait_for_picture(lambda p: "打印纸 正常" in p.read_text(), timeout=90)
                carried = bytes(vt.gprs.host_bytes)
                commands = list(vt.gprs.commands)
            signed_on = [tid for tid in ("12345678", "12345679") if host.working_keys(tid)]
    assert signed_on == ["12345678", "12345679"]  # each application signed on at the host
    assert any("CIPSTART" in command for command in commands)
    # GPRS carried application 2's sign-on (its 41 and 42), nothing of application 1's
    assert b"12345679123456789012346" in carried
    assert b"12345678123456789012345" not in carried
