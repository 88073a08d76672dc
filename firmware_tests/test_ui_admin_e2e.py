"""PosManage end to end: the scripts of docs/examples (admin-versions.vts, admin-keys.vts,
training.vts) on the virtual terminal (`poskit vterm --script`), the terminal application
powering up from main.py as on a terminal, against the acquirer host simulator, on a state
folder set up with `poskit txn init --serial` from docs/examples/terminal-job.toml (Ethernet
to the simulator, sign-on at power-up) with a PosManage password added. Each script checks
the screens and the slips; a failing line fails the test with the script's own message.

They need the terminal application (device/app/ui/terminal.py, its main.py that `poskit txn
init` puts on the flash, its job and `tools.demo.terminal_heap`); until it is in the tree the
tests are skipped, saying so. What each costs (2-core machine, set-up included, run on the
terminal application merged in for a trial): admin-versions 25 s (a slip printed, a
restart), admin-keys 37 s (some 200 keys tapped at 80 ms each), training 19 s.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostlib.hostsim import HostSimulator

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
JOB = EXAMPLES / "terminal-job.toml"
TMK = "70F2A84CCBC2AE8625CBB0F2C22AB923"
ADMIN_PASSWORD = "20240815"  # the scripts' PosManage password
SERIAL = "PK-000001"  # provisioned by `poskit txn init --serial`: packets, not bare sets
POSKIT = str(Path(sys.executable).with_name("poskit"))

pytestmark = pytest.mark.skipif(
    not (ROOT / "device" / "app" / "ui" / "terminal.py").exists() or not JOB.exists(),
    reason="the terminal application (device/app/ui/terminal.py) is not in the tree yet",
)


@pytest.fixture
def host():
    with HostSimulator() as sim:
        yield sim


def terminal(tmp_path: Path, host: HostSimulator) -> Path:
    """A state folder: provisioned as PK-000001, terminal-job.toml's parameters (its Ethernet
    host the simulator, a PosManage password added) and the simulator's TMK in slot 1,
    applied as packets (version 1)."""
    text = JOB.read_text()
    assert "port = 5000\n" in text and 'supervisor_password = "123456"' in text
    text = text.replace("port = 5000\n", "port = %d\n" % host.address[1])
    text = text.replace(
        'supervisor_password = "123456"',
        'supervisor_password = "123456"\nadmin_password = "%s"' % ADMIN_PASSWORD,
    )
    job = tmp_path / "job.toml"
    job.write_text(text)
    state = tmp_path / "term"
    out = subprocess.run(
        [sys.executable, "-m", "tools.txn", "--state", str(state), "init", "--params", str(job)]
        + ["--serial", SERIAL, "--keystore", str(tmp_path / "ks.json"), "--tmk-fd", "0"],
        input=TMK + "\n",
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "POSKIT_KEYSTORE_PASSPHRASE": "correct horse battery"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return state


def run_script(name: str, state: Path, host: HostSimulator) -> None:
    from tools.demo import terminal_heap  # the terminal application's heap (110K on 32-bit)

    out = subprocess.run(
        [POSKIT, "vterm", "--state", str(state), "--host", "%s:%d" % host.address]
        + ["--heap", terminal_heap(), "--headless", "--script", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "lines passed" in out.stdout


def test_admin_versions(tmp_path, host):
    run_script("admin-versions.vts", terminal(tmp_path, host), host)


def test_admin_keys(tmp_path, host):
    run_script("admin-keys.vts", terminal(tmp_path, host), host)


def test_training(tmp_path, host):
    run_script("training.vts", terminal(tmp_path, host), host)
