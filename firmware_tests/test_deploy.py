"""`poskit deploy` against a virtual terminal, with the real mpremote on its console: a full
deploy runs on the terminal; a redeploy sends nothing; a changed file is all that is sent; a
file tampered with on the terminal is sent again; a reset mid-deploy leaves the old
application running and the next deploy completes it; a port with no terminal is told so.

The tests share one virtual terminal (per test worker); each first deploys what it starts
from, so they run in any order. The applications deployed are device/ with a module of
their own (app/edition.py) and a main.py that prints it, so what runs after a reset is seen
on the console.
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hostlib import deploy
from hostlib.vterm import VirtualTerminal

ROOT = Path(__file__).resolve().parents[1]
MPREMOTE = str(Path(sys.executable).with_name("mpremote"))
POSKIT = str(Path(sys.executable).with_name("poskit"))
MAIN = "from app import edition\nprint('running edition', edition.EDITION)\n"
# Modules changed together in the edition a reset interrupts: several files to send.
TOUCHED = ("app/crypto/des.py", "app/crypto/sm4.py", "app/crypto/mac.py", "app/txn/iso8583.py")


def _edition(base: Path, name: str, touched=()) -> Path:
    """device/ with app/edition.py saying `name` and main.py printing it; `touched` modules
    get a constant more (another .mpy)."""
    tree = base / name
    shutil.copytree(ROOT / "device", tree, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "app" / "edition.py").write_text("EDITION = %r\n" % name)
    (tree / "main.py").write_text(MAIN)
    for rel in touched:
        with open(tree / rel, "a") as f:
            f.write("\n_EDITION = %r\n" % name)
    return tree


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    base = tmp_path_factory.mktemp("apps")
    return {
        name: _edition(base, name, TOUCHED if name == "v3" else ()) for name in ("v1", "v2", "v3")
    }


@pytest.fixture(scope="module")
def terminal(tmp_path_factory):
    with VirtualTerminal(tmp_path_factory.mktemp("deploy") / "flash.img") as vt:
        yield vt


def _device(terminal, code: str) -> str:
    out = subprocess.run(
        [MPREMOTE, "connect", terminal.console.path, "exec", code],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _deployed(terminal, source):
    """deploy(); then waits for the application deployed to start (its main.py)."""
    at = terminal.console.position()
    figures = deploy.deploy(terminal.console.path, source)
    terminal.console.expect(b"running edition %s\n" % source.name.encode(), at)
    return figures


def _blank(terminal) -> None:
    """Remove every deployed file from the terminal's flash."""
    _device(
        terminal,
        "import os\n"
        "def rm(p):\n"
        " try:\n  m = os.stat(p)[0]\n except OSError:\n  return\n"
        " if m & 0x4000:\n  [rm(p + '/' + e[0]) for e in os.ilistdir(p)]; os.rmdir(p)\n"
        " else:\n  os.remove(p)\n"
        "for p in ('app', 'board', 'drivers', 'fonts', 'boot.py', 'main.py', 'deploy.json',"
        " '.deploy'):\n rm(p)",
    )


def test_a_full_deploy_runs_on_the_terminal(terminal, apps):
    _blank(terminal)
    figures = _deployed(terminal, apps["v1"])
    assert figures["files_sent"] == figures["files"] > 80
    assert figures["mode"] == "files" and figures["arch"] in ("x64", "x86")
    # The application runs from its .mpy files on the flash, not from the image in /rom:
    # the build it reports is v1's, and its viper-compiled DES answers as the standard's.
    out = _device(
        terminal,
        "import app; from app import deployed, edition; from app.crypto import cipher\n"
        "b = bytearray(b'Now is t'); cipher.new('DES', bytes.fromhex('0123456789abcdef'))"
        ".encrypt_into(b)\n"
        "print(app.__file__, deployed.build(), edition.EDITION, b.hex())",
    ).split()
    assert out == ["app/__init__.mpy", deploy.build_hash(apps["v1"]), "v1", "3fa40e8a984d4815"]


def test_a_redeploy_with_nothing_changed_sends_almost_nothing(terminal, apps):
    _deployed(terminal, apps["v1"])
    proc = subprocess.run(
        [POSKIT, "deploy", "--port", terminal.console.path, "--source", str(apps["v1"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert " 0 of " in proc.stdout, proc.stdout
    sent, app = (
        int(proc.stdout.split(" bytes written")[0].split()[-1]),
        int(proc.stdout.split(" bytes of application")[0].split()[-1]),
    )
    assert sent < app // 100, proc.stdout  # under 1% of the application


def test_one_changed_file_is_all_that_is_sent(terminal, apps):
    _deployed(terminal, apps["v1"])
    figures = _deployed(terminal, apps["v2"])
    assert figures["files_sent"] == 1


def test_a_file_tampered_with_on_the_terminal_is_sent_again(terminal, apps):
    _deployed(terminal, apps["v2"])
    _device(
        terminal, "f = open('app/crypto/des.mpy', 'r+b'); f.seek(40); f.write(b'X'); f.close()"
    )
    figures = _deployed(terminal, apps["v2"])
    assert figures["files_sent"] == 1  # des.mpy, whose hash no longer matched
    out = _device(
        terminal,
        "from app.crypto import cipher; b = bytearray(8)\n"
        "cipher.new('DES', bytes(8)).encrypt_into(b); print(b.hex())",
    )
    assert out.split() == ["8ca64de9c1b123a7"]


def test_a_reset_mid_deploy_leaves_the_old_application_and_the_next_deploy_completes(
    terminal, apps
):
    _deployed(terminal, apps["v2"])
    started = []

    def reset_at_the_second_file(done, total, path):
        if path and path not in started:
            started.append(path)
            if len(started) == 2:  # the first file staged: the terminal loses power
                os.kill(terminal.console.pid, signal.SIGKILL)

    at = terminal.console.position()
    with pytest.raises(deploy.DeployError):
        deploy.deploy(terminal.console.path, apps["v3"], progress=reset_at_the_second_file)
    terminal.console.expect(b"running edition v2", at)  # the old application started
    assert _device(terminal, "from app import edition; print(edition.EDITION)").split() == ["v2"]

    figures = _deployed(terminal, apps["v3"])
    # The file staged before the reset is not sent again.
    assert figures["files_sent"] == len(TOUCHED)  # of len(TOUCHED) + 1 changed


def _deploy_on_a_silent_port(*args: str) -> tuple[subprocess.CompletedProcess, str]:
    """`poskit deploy ARGS --port P` on a serial port (a pseudo-terminal) nothing answers on;
    the run and P."""
    controller, port = os.openpty()
    name = os.ttyname(port)
    try:
        proc = subprocess.run(
            [POSKIT, "deploy", *args, "--port", name],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.close(port)
        os.close(controller)
    return proc, name


def test_a_port_with_no_terminal_behind_it_is_told_so():
    proc, _ = _deploy_on_a_silent_port()
    assert proc.returncode == 1
    assert proc.stderr.startswith("poskit: ") and "is not a terminal's console" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def romfs_terminal(tmp_path_factory):
    """A virtual terminal whose firmware has a ROMFS partition (vfs.rom_ioctl)."""
    with VirtualTerminal(tmp_path_factory.mktemp("romfs") / "flash.img", romfs="512K") as vt:
        yield vt


def test_with_a_romfs_partition_the_image_is_written_there_and_runs_in_place(romfs_terminal, apps):
    figures = _deployed(romfs_terminal, apps["v1"])
    assert figures["mode"] == "romfs"
    out = _device(
        romfs_terminal,
        "import app, os; from app import deployed, edition\n"
        "print(app.__file__, deployed.build(), edition.EDITION, sorted(os.listdir()))",
    )
    # The application from the image in the partition; only boot.py and main.py (which the
    # firmware runs by name) and the manifest on the flash.
    assert out.split() == [
        "/rom/app/__init__.mpy",
        deploy.build_hash(apps["v1"]),
        "v1",
        "['boot.py',",
        "'data',",
        "'deploy.json',",
        "'main.py']",
    ]
    query = subprocess.run(
        [MPREMOTE, "connect", romfs_terminal.console.path, "romfs", "query"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "ROMFS0 partition has size 524288 bytes" in query.stdout
    assert "Not a valid ROMFS" not in query.stdout

    again = _deployed(romfs_terminal, apps["v1"])
    assert again["files_sent"] == 0 and again["bytes_sent"] < again["app_bytes"] // 100

    changed = _deployed(romfs_terminal, apps["v2"])  # a new image, whole
    assert changed["mode"] == "romfs" and changed["bytes_sent"] > changed["app_bytes"] // 2
    assert _device(romfs_terminal, "from app import edition; print(edition.EDITION)") == "v2\n"


def test_firmware_is_written_with_esptool_and_its_failure_is_one_line(tmp_path):
    firmware = tmp_path / "ESP32_GENERIC.bin"
    missing = subprocess.run(
        [POSKIT, "deploy", "--port", "/dev/null", "--firmware", str(firmware)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1
    assert missing.stderr == "poskit: no firmware file %s\n" % firmware

    firmware.write_bytes(b"\xe9" + bytes(4095))
    proc, name = _deploy_on_a_silent_port("--firmware", str(firmware))  # no ESP32 bootloader
    assert proc.returncode == 1
    assert proc.stderr == (
        "poskit: esptool write-flash failed on %s: Failed to connect to Espressif device: "
        "No serial data received.\n" % name
    )


def test_an_image_larger_than_the_romfs_partition_is_refused_in_one_line(tmp_path, apps):
    with VirtualTerminal(tmp_path / "flash.img", romfs="64K") as vt:
        with pytest.raises(deploy.DeployError) as refused:
            deploy.deploy(vt.console.path, apps["v1"])
    assert str(refused.value) == (
        "mpremote romfs deploy failed on %s: ROMFS image is too big for the target partition"
        % vt.console.path
    )
