"""Key scripts from the host-side keypad emulator, played into the real keypad driver on
MicroPython: at the Pin level on a virtual clock (bounce and glitches exactly as scripted),
and over TCP in real time as on the virtual terminal."""

import json
import textwrap
from pathlib import Path

import pytest

from hostlib import micropython
from hostlib.emulators.keypad import (
    LAYOUT,
    POSITIONS,
    KeypadEmulator,
    KeyScriptError,
    position,
    timeline,
)

MPY_TESTS = Path(__file__).resolve().parent / "mpy"
HEAP = "512K"  # the driver compiled from source


def keys_from(script, **options):
    """The key codes the device's driver reads from `script` (virtual clock)."""
    events = timeline(script, **options)
    code = textwrap.dedent(
        """
        from fakes_ui import FakeClock, ScriptedMatrix
        from drivers.keypad import Keypad
        clock = FakeClock()
        matrix = ScriptedMatrix(clock, %s)
        pad = Keypad(matrix.drive, matrix.sense, clock=clock)
        out = []
        while True:
            code = pad.get(1000)
            if code is None:
                break
            out.append(code)
        print(bytes(out).hex())
        """
        % json.dumps(events)
    )
    run = micropython.run(code=code, path=[MPY_TESTS], heap=HEAP).check()
    return bytes.fromhex(run.stdout.strip())


def test_layout_is_the_drivers_keymap():
    from drivers.keypad import KEYMAP

    names = {0x1B: "CANCEL", 0x08: "CLEAR", 0x0D: "ENTER", 0x80: "FUNC"}
    names.update({0x81 + i: "F%d" % (i + 1) for i in range(4)})
    for index, code in enumerate(KEYMAP):
        assert POSITIONS[names.get(code, chr(code))] == index
    assert len(POSITIONS) == len(KEYMAP) == 4 * 5
    assert LAYOUT[0] == ("1", "2", "3", "CANCEL", "F1")


def test_timeline_of_a_script():
    one, two = 1 << position("1"), 1 << position("2")
    assert timeline("1 2", press_ms=50, gap_ms=30) == [(0, one), (50, 0), (80, two), (130, 0)]
    chord = timeline("+1 wait/20 +2 wait/5 -1 -2")
    assert chord == [(0, one), (20, one | two), (25, 0)]
    assert timeline("12") == timeline("1 2")
    assert timeline("ok esc bs *") == timeline("ENTER CANCEL CLEAR .")
    bounce = timeline("5~")
    assert len(bounce) > 4 and bounce[-1][1] == 0
    assert timeline("+3")[-1] == (0, 0)  # a key left down is released at the end


def test_bad_scripts_are_named():
    with pytest.raises(KeyScriptError, match="no key 'X'"):
        timeline("1 X")
    with pytest.raises(KeyScriptError, match="wait"):
        timeline("wait/soon")


def test_driver_reads_a_script_with_bounce_and_glitches():
    # 5~ and ENTER~ bounce on press and release: one key each. 7/15 is a 15 ms glitch: never
    # a key. 9/35 is held long enough (three scans).
    got = keys_from("1 2 3 5~ 7/15 9/35 ENTER~")
    assert got == b"12359\r"


def test_driver_reads_chords_and_ghosts_from_a_script():
    # Rollover: 4 is still down when 5 goes down: both. 1+2 at once: neither. 1, 2 and 4
    # down make 5 a ghost: neither 4 nor 5.
    assert keys_from("+4 wait/40 +5 wait/40 -4 -5 wait/40") == b"45"
    assert keys_from("+1 +2 wait/100 -1 wait/100 -2 wait/50 3") == b"3"
    assert keys_from("+1 wait/40 +2 wait/40 +4 wait/100 -1 -2 -4 wait/40") == b"12"


def test_emulator_over_tcp_as_on_the_virtual_terminal():
    with KeypadEmulator(press_ms=60, gap_ms=60) as keypad:
        code = textwrap.dedent(
            """
            from board.unix_sim import SocketUART
            from board.simbus import EmulatedKeyMatrix
            from drivers.keypad import Keypad
            matrix = EmulatedKeyMatrix(SocketUART("127.0.0.1", %d))
            pad = Keypad(matrix.drive, matrix.sense)
            print("ready")
            digits = bytearray(12)
            counts = []
            n = pad.read_pin(digits, timeout_ms=10000, show=counts.append)
            print(n, counts)
            print(pad.read_amount(timeout_ms=10000))
            """
            % keypad.port
        )
        proc = micropython.popen(code, heap=HEAP)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            keypad.wait_for(lambda: keypad.connections == 1, 10, "the device")
            keypad.play("1 2 3 4 ENTER")
            keypad.play("10000 CLEAR 5 ENTER")
            keypad.wait_idle(30)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert out.split("\n")[:2] == ["4 [0, 1, 2, 3, 4, 4]", "10005"]
