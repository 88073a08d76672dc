"""tools/frozen.py, the frozen builds' bookkeeping (the builds and the day they run are
`make frozen`'s, which .ci/run runs after `make test`): a build is used only while it matches
device/ as it is, and a missing source is said, not a traceback."""

import subprocess
import sys

from tools import frozen


def test_a_build_is_stale_once_a_device_file_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(frozen, "ROOT", tmp_path)
    source = tmp_path / "src.tgz"
    source.write_bytes(b"source")
    (tmp_path / "device" / "app").mkdir(parents=True)
    module = tmp_path / "device" / "app" / "engine.py"
    module.write_text("x = 1\n")
    first = frozen._fingerprint(source, 32)
    assert frozen._fingerprint(source, 64) != first  # each word size its own build

    (tmp_path / "device" / "app" / "__pycache__").mkdir()
    (tmp_path / "device" / "app" / "__pycache__" / "engine.pyc").write_bytes(b"cache")
    assert frozen._fingerprint(source, 32) == first  # not part of the application

    module.write_text("x = 2\n")
    assert frozen._fingerprint(source, 32) != first


def test_a_build_from_another_device_tree_is_not_used(tmp_path, monkeypatch):
    source = tmp_path / "src.tgz"
    source.write_bytes(b"source")
    monkeypatch.setenv(frozen.SOURCE_VARIABLE, str(source))
    monkeypatch.setattr(frozen, "OUT", tmp_path / "out")
    (tmp_path / "out").mkdir()
    for bits in (32, 64):
        frozen.binary_path(bits).write_bytes(b"")
        frozen._stamp(bits).write_text(frozen._fingerprint(source, bits) + "\n")
    assert sorted(frozen.interpreters()) == [32, 64]

    frozen._stamp(64).write_text("0" * 64 + "\n")  # built from device/ as it was before
    assert sorted(frozen.interpreters()) == [32]


def test_without_the_source_it_says_where_to_point(tmp_path):
    env = {"PATH": "/usr/bin:/bin", frozen.SOURCE_VARIABLE: str(tmp_path / "none.tgz")}
    out = subprocess.run(
        [sys.executable, "-m", "tools.frozen", "--build"],
        capture_output=True,
        text=True,
        cwd=frozen.ROOT,
        env=env,
        timeout=60,
    )
    assert out.returncode == 1
    assert "no MicroPython source at %s" % (tmp_path / "none.tgz") in out.stderr
    assert frozen.SOURCE_VARIABLE in out.stderr
    assert "Traceback" not in out.stderr


def test_each_bearers_day_is_the_demo_job_over_that_bearer(tmp_path):
    from hostlib import jobs

    demo = jobs.load(frozen.JOB)
    for bearer, (_, module) in frozen.BEARERS.items():
        job = jobs.load(frozen.bearer_job(bearer, tmp_path))
        kind = job.terminal["bearer"]
        assert kind == ("gprs" if module else bearer)
        assert job.applications == demo.applications  # the same acquirer, keys, limits
        assert job.terminal[kind + ".tpdu"] == demo.terminal["ethernet.tpdu"]


def test_a_day_whose_terminal_ran_out_of_heap_fails_though_its_script_held(
    tmp_path, monkeypatch, capsys
):
    # The void's slip record not saved once both copies printed: no line of the day looks
    # there, the console says MemoryError.
    import tools.demo

    console = "Traceback (most recent call last):\nMemoryError: memory allocation failed\n"
    outputs = []

    class Bench:
        def __init__(self, folder, job, heap):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def vterm(self, script, gprs=None):
            stdout = outputs.pop(0) + "script cashier-day.vts: all 57 lines passed\n"
            return subprocess.CompletedProcess([], 0, stdout, "")

    monkeypatch.setattr(tools.demo, "Bench", Bench)
    monkeypatch.setattr(frozen, "OUT", tmp_path)
    outputs[:] = ["", console]
    assert frozen.check(32, sys.executable, "ethernet")
    assert not frozen.check(32, sys.executable, "ethernet")
    said = capsys.readouterr().out.splitlines()
    assert said[-1].endswith("the terminal ran out of heap (MemoryError on its console)")
