"""The installer's commands over a terminal's console, end to end: a virtual terminal (its
console a pseudo-terminal, as a USB serial port is) in host-link mode, the `poskit` commands
given `--port`, and hostlib.terminal.Terminal.

One terminal and one acquirer host simulator serve the whole module, in order: identify on a
blank terminal, provision, the job's packets loaded and read back, a tampered packet and
another terminal's refused with nothing changed, the link through a line that loses and
doubles bytes, a terminal reset in the middle of a packet, then sign-on and a sale with the
card swiped through the card-reader emulator and the PIN typed on the keypad.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import pytest

from hostlib import build, jobs, keys, micropython, packets
from hostlib.consolelink import LinkError
from hostlib.keystore import KeyStore
from hostlib.terminal import Terminal
from hostlib.vterm import VirtualTerminal
from hostlib.vterm_script import run_script
from tools.demo import JOB, TMK, free_port, install_heap

# Its tests share one terminal (the module's bench), in order: `make test` gives the file to
# one worker (`--dist loadfile`).
pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
POSKIT = str(Path(sys.executable).with_name("poskit"))
SERIAL = "PK-000001"
PASSPHRASE = "correct horse battery"


class Bench:
    """The host simulator and a blank virtual terminal, in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.keystore = folder / "keystore.json"
        self.env = dict(
            os.environ, POSKIT_KEYSTORE_PASSPHRASE=PASSPHRASE, POSKIT_KEYSTORE=str(self.keystore)
        )
        log = open(folder / "hostsim.log", "w")  # noqa: SIM115 (kept open while it runs)
        self.host = subprocess.Popen(
            [POSKIT, "hostsim", "--listen", "127.0.0.1:%d" % self.port]
            + ["--db", str(folder / "host.db"), "--create", "--seed"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while "listening" not in (folder / "hostsim.log").read_text():
            assert self.host.poll() is None and time.monotonic() < deadline, "no hostsim"
            time.sleep(0.05)
        self.job = folder / "job.toml"
        self.job.write_text(JOB.read_text().replace("port = 5000\n", "port = %d\n" % self.port))
        self.vt = VirtualTerminal(folder / "term" / "flash.img", heap=install_heap()).start()
        assert self.vt.console is not None
        self.console = self.vt.console.path

    def poskit(self, *args: str, stdin: str | None = None, timeout: float = 120):
        return subprocess.run(
            [POSKIT, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=self.env,
        )

    def link_key(self) -> bytes:
        return KeyStore.open(self.keystore, PASSPHRASE).terminal(SERIAL)["link_key"]

    def stop(self) -> None:
        self.vt.stop()
        self.host.terminate()
        self.host.wait(timeout=10)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    bench = Bench(tmp_path_factory.mktemp("hostlink"))
    yield bench
    bench.stop()


class LossyLine:
    """A pseudo-terminal whose other end is relayed to the terminal's console, losing or
    doubling one byte (in turn) of every `every` bytes relayed each way while `damage` is
    set: a frame is damaged on one sending in three, never on every one."""

    def __init__(self, console: str, every: int = 1500) -> None:
        self._host, client = os.openpty()
        tty.setraw(client)
        self.path = os.ttyname(client)
        self._client = client
        self._term = os.open(console, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._term)
        self.damage = False
        self.damaged = 0
        self.damaged_way: dict[str, int] = {}
        self._every = every
        self._count = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _mangle(self, fd: int, data: bytes) -> bytes:
        if not self.damage:
            return data
        count = self._count.get(fd, self._every // 2)  # the first after half of `every`
        self._count[fd] = count + len(data)
        at = self._every - 1 - count % self._every
        if at >= len(data):
            return data
        self.damaged += 1
        way = "to terminal" if fd == self._host else "to host"
        self.damaged_way[way] = self.damaged_way.get(way, 0) + 1
        if self.damaged % 2:
            return data[:at] + data[at + 1 :]  # a byte lost
        return data[: at + 1] + data[at:]  # a byte doubled

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._host, self._term], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 64)
                except OSError:
                    continue
                other = self._term if fd == self._host else self._host
                os.write(other, self._mangle(fd, data))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._host, self._client, self._term):
            os.close(fd)


def _key_packet(bench: Bench, folder: Path, version: int, slots: int = 1) -> Path:
    """A key packet with the simulator's TMK in slot 1 (and copies in more slots)."""
    store = KeyStore.open(bench.keystore, PASSPHRASE)
    terminal = store.terminal(SERIAL)
    tmk = bytes.fromhex(TMK)
    entries = []
    for slot in range(1, slots + 1):
        block = keys.tr31_wrap(terminal["kbpk"].hex(), TMK, "K0", "T", "D", version_id="D")
        entries.append((slot, block, keys.kcv("3DES", tmk)))
    path = folder / ("keys-v%d.bin" % version)
    path.write_bytes(packets.build_key_packet(entries, SERIAL, terminal["link_key"], version, 1))
    return path


def test_identify_and_provision_a_blank_terminal_over_its_console(bench):
    with Terminal.open(bench.console) as term:
        info = term.identify()
        assert term.via_repl  # the virtual terminal gives a REPL: entered through it
    assert info["serial"] is None and info["applications"] == []
    assert info["key_check_values"] == {} and info["lockdown"] is False
    assert info["micropython"] == micropython.version()
    # With no deploy manifest, the build is the hash of the image it runs (the version
    # screen's), the same the host computes over the compiled tree.
    assert info["app_build"] == build.image_hash(build.compiled_device(micropython.arch()))
    out = bench.poskit("provision", "--serial", SERIAL, "--port", bench.console)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("provisioned %s\n  KBPK      AES-128, KCV " % SERIAL)
    again = bench.poskit("provision", "--serial", "PK-000002", "--port", bench.console)
    assert again.returncode == 1
    assert "already provisioned as %s; wipe it first" % SERIAL in again.stderr
    with Terminal.open(bench.console) as term:
        info = term.identify()
    assert info["serial"] == SERIAL
    kbpk_kcv = out.stdout.split("KCV ")[1].split()[0]
    assert info["key_check_values"]["KBPK"] == kbpk_kcv


def test_the_jobs_packets_load_over_the_port_and_read_back(bench, tmp_path):
    job = jobs.load(bench.job)
    files = []
    for index, data in job.packets(SERIAL, bench.link_key(), 1):
        path = tmp_path / ("params-%d.bin" % index)
        path.write_bytes(data)
        files.append(str(path))
    files.append(str(_key_packet(bench, tmp_path, 1)))
    out = bench.poskit("load", "--port", bench.console, *files)
    assert out.returncode == 0, out.stderr
    kcv = keys.kcv("3DES", bytes.fromhex(TMK)).hex().upper()
    assert out.stdout.splitlines() == [
        "applied %s parameters for terminal, version 1" % files[0],
        "applied %s parameters for application 1, version 1" % files[1],
        "applied %s keys for application 1, version 1: slot 1 3DES KCV %s" % (files[2], kcv),
    ]
    with Terminal.open(bench.console) as term:
        info = term.identify()
    assert info["terminal_params_version"] == 1
    (app,) = info["applications"]
    assert (app["index"], app["params_version"], app["keys_version"]) == (1, 1, 1)
    assert app["merchant_name"] == "POSKIT测试商户" and app["terminal_id"] == "12345678"
    assert info["key_check_values"]["app1 TMK 01 3DES"] == kcv


def test_a_tampered_packet_and_another_terminals_are_refused_and_nothing_changes(bench, tmp_path):
    job = jobs.load(bench.job)
    (_, data) = job.packets(SERIAL, bench.link_key(), 2, app_index=1)[0]
    tampered = bytearray(data)
    tampered[40] ^= 0x20
    (tmp_path / "tampered.bin").write_bytes(tampered)
    other = packets.build_parameter_packet(
        job.applications[1], "PK-000999", bench.link_key(), 2, 1
    )
    (tmp_path / "other.bin").write_bytes(other)
    with Terminal.open(bench.console) as term:
        before = term.identify()
    out = bench.poskit(
        "load",
        "--port",
        bench.console,
        str(tmp_path / "tampered.bin"),
        str(tmp_path / "other.bin"),
    )
    assert out.returncode == 1 and out.stdout == ""
    refused = out.stderr.splitlines()
    assert refused[0].startswith("refused %s CRC does not match" % (tmp_path / "tampered.bin"))
    assert refused[1] == "refused %s packet is for terminal PK-000999, this is %s" % (
        tmp_path / "other.bin",
        SERIAL,
    )
    with Terminal.open(bench.console) as term:
        after = term.identify()
    before.pop("heap_free")  # the one figure that may move between two sessions
    after.pop("heap_free")
    assert after == before


def test_the_link_survives_lost_and_doubled_bytes(bench, tmp_path):
    line = LossyLine(bench.console)
    try:
        with Terminal.open(line.path) as term:
            line.damage = True
            for _ in range(6):
                assert term.identify()["serial"] == SERIAL
            # A key packet of 8 master keys: longer than a frame, sent in parts.
            packet = _key_packet(bench, tmp_path, 2, slots=8).read_bytes()
            assert len(packet) > 1024
            back = term.load(packet)
            assert back["version"] == 2 and [row[0] for row in back["keys"]] == list(range(1, 9))
            line.damage = False
        assert line.damaged >= 3 and set(line.damaged_way) == {"to terminal", "to host"}
    finally:
        line.close()
    with Terminal.open(bench.console) as term:
        assert term.identify()["applications"][0]["keys_version"] == 2


def test_a_reset_in_the_middle_of_a_packet_leaves_nothing_half_applied(bench, tmp_path):
    packet = _key_packet(bench, tmp_path, 3, slots=8).read_bytes()
    body = b"\x00\x0f" + b'{"cmd": "load"}' + packet
    assert len(body) > 1020
    console = bench.vt.console
    assert console is not None
    with Terminal.open(bench.console, timeout=10) as term:
        # The first part of the request, then the terminal restarts (its interpreter killed,
        # as a power cut or a watchdog would): the rest goes nowhere.
        term.link.send(bytes((0x51, 99, 0, 2)) + body[:1020])
        boots = console.boots
        pid = console.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        console.wait_ready(30, boots + 1)
        with pytest.raises(LinkError, match="did not acknowledge after 5 tries"):
            term.link.send(bytes((0x51, 99, 1, 2)) + body[1020:])
        term._open = False  # nothing to leave: the terminal restarted
    with Terminal.open(bench.console) as term:
        info = term.identify()
    assert info["applications"][0]["keys_version"] == 2


def _cashier(bench: Bench, errors: list) -> None:
    # At the terminal: the card swiped when asked, the sale confirmed, the PIN typed, the
    # merchant copy torn off.
    try:
        run_script(
            bench.vt,
            "timeout 60\nscreen-check 请刷卡\nswipe\nscreen-check 确认键继续\nkeys ENTER/250\n"
            "screen-check 密码\nkeys 1/250 2/250 3/250 4/250 5/250 6/250 ENTER/250\n"
            "screen-check 请撕下\nkeys ENTER/250\n",
            "cashier",
        )
    except Exception as exc:  # the test thread reports it
        errors.append(exc)


def test_txn_sign_on_and_a_sale_with_the_card_on_the_terminals_reader(bench):
    out = bench.poskit("txn", "--port", bench.console, "sign-on", timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("sign_on APPROVED 00"), out.stdout
    errors: list = []
    cashier = threading.Thread(target=_cashier, args=(bench, errors))
    cashier.start()
    out = bench.poskit(
        "txn", "--port", bench.console, "sale", "--amount", "0.01", "--reader", timeout=240
    )
    cashier.join(timeout=120)
    assert not errors, errors
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("sale APPROVED 00"), out.stdout
    assert "  card      622424******0113" in out.stdout
    assert "  | MERCHANT COPY 商户存根" in out.stdout
    assert "  | AMOUNT: RMB 0.01" in out.stdout
    with Terminal.open(bench.console) as term:
        summary = term.journal(app=1)
        (slip,) = term.slips(count=1)
    assert summary["transactions"] == 1 and summary["debit"] == [1, 1]
    assert any("AMOUNT: RMB 0.01" in line for line in slip)
    # Nothing secret went by: no full track in what the command printed, nor in anything
    # the terminal wrote on its console.
    from hostlib.emulators.cardreader import TEST_TRACK2

    assert TEST_TRACK2 not in out.stdout
    assert TEST_TRACK2.encode() not in bench.vt.console.output()  # type: ignore[union-attr]


def test_a_host_that_goes_away_leaves_the_terminal_in_its_application(bench):
    # A request sent, then the tool gone before its answer: the terminal's answer goes
    # unacknowledged, and the terminal starts its application rather than wait at a REPL.
    term = Terminal.open(bench.console)
    assert term.via_repl
    term.link.send(bytes((0x51, 1, 0, 1)) + b"\x00\x13" + b'{"cmd": "identify"}')
    term.stream.close()
    run_script(bench.vt, "timeout 60\nscreen-check 打印纸 正常\n", "application")


def test_a_locked_down_terminal_takes_the_host_at_its_idle_screen(bench, tmp_path):
    # The application on the flash (as deploy leaves it), the terminal parameters with
    # lockdown, then a reset: the terminal powers up into its application, REPL closed.
    main = tmp_path / "main.py"
    main.write_text((ROOT / "device" / "main.py").read_text())
    text = bench.job.read_text().replace(
        'bearer = "ethernet"\n', 'bearer = "ethernet"\nlockdown = true\n'
    )
    job = jobs.loads(text, "locked.toml")
    (_, data) = job.packets(SERIAL, bench.link_key(), 2, app_index=0)[0]
    mpremote = str(Path(sys.executable).with_name("mpremote"))
    out = subprocess.run(
        [mpremote, "connect", bench.console, "fs", "cp", str(main), ":main.py"],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    with Terminal.open(bench.console) as term:
        assert term.load(data)["version"] == 2
        term.reset()
    run_script(bench.vt, "timeout 90\nscreen-check 打印纸 正常\n", "power-up")
    with Terminal.open(bench.console) as term:
        assert not term.via_repl  # no REPL: the idle screen took the RESET frame
        info = term.identify()
        assert info["lockdown"] is True and info["serial"] == SERIAL
        run_script(bench.vt, "screen-check 主机连接\n", "host link")
    # Left: the idle screen again, and a cashier's key works.
    run_script(
        bench.vt,
        "timeout 30\nscreen-check 打印纸 正常\nkeys ENTER/250\nscreen-check 1 消费\n"
        "keys CANCEL/250\n",
        "idle",
    )


def test_wipe_over_the_port_is_authenticated_and_keeps_an_unsettled_journal(bench):
    # The link key's token opens the wipe; the journal still holds the sale: refused.
    out = bench.poskit("wipe", "--port", bench.console)
    assert out.returncode == 1
    assert "terminal refused the wipe: journal" in out.stderr
    assert "settle before wiping" in out.stderr
    with Terminal.open(bench.console) as term:
        assert term.identify()["serial"] == SERIAL
