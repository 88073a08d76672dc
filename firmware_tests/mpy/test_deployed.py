"""app.deployed on LittleFS (a RAM flash): the manifest's build, and a committed deploy rolled
forward after a reset at every step of finish(): the terminal ends with the new application
whole, the dropped file gone, the staging folder cleared."""

import json
import os

from ramflash import RAMFlash, mount_fresh

from app import deployed

MOUNT = "/deploytest"

OLD = {"app/a.mpy": b"A1", "app/b.mpy": b"B1", "old.mpy": b"O1"}
NEW = {"app/a.mpy": b"A2", "app/b.mpy": b"B1", "app/sub/n.mpy": b"N2"}


def _write(path, data):
    at = path.rfind("/")
    if at > 0:
        deployed._make_parents(path[: at + 1])
    with open(path, "wb") as f:
        f.write(data)


def _manifest(files, build):
    return {"build": build, "files": {p: "h-" + files[p].decode() for p in files}}


def _setup():
    """The old application deployed, the new one staged (only what differs) and committed."""
    mount_fresh(RAMFlash(), MOUNT)
    os.chdir(MOUNT)
    for path, data in OLD.items():
        _write(path, data)
    _write(deployed.MANIFEST, json.dumps(_manifest(OLD, "old")).encode())
    for path, data in NEW.items():
        if OLD.get(path) != data:
            _write(deployed.STAGE + "/" + path, data)
    _write(deployed.COMMIT, json.dumps(_manifest(NEW, "new")).encode())


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


class _CutOs:
    """os, whose flash writes stop (a reset) after `budget` of them."""

    def __init__(self, budget):
        self.budget = budget

    def _spend(self):
        if self.budget == 0:
            raise KeyboardInterrupt  # the reset: nothing after it runs
        self.budget -= 1

    def rename(self, a, b):
        self._spend()
        os.rename(a, b)

    def remove(self, path):
        self._spend()
        os.remove(path)

    def mkdir(self, path):
        self._spend()
        os.mkdir(path)

    def rmdir(self, path):
        self._spend()
        os.rmdir(path)

    def stat(self, path):
        return os.stat(path)

    def ilistdir(self, path):
        return os.ilistdir(path)


def _finished_as_new():
    for path, data in NEW.items():
        assert _read(path) == data, path
    assert _read("old.mpy") is None
    assert deployed.build() == "new"
    try:
        os.stat(deployed.STAGE)
        raise AssertionError("the staging folder is left")
    except OSError:
        pass


def test_finish_moves_the_staged_files_in_and_the_dropped_ones_out():
    _setup()
    assert deployed.build() == "old"
    assert deployed.finish() is True
    _finished_as_new()
    assert deployed.finish() is False  # nothing left to do
    os.chdir("/")


def test_a_reset_at_every_step_of_finish_is_completed_at_the_next_start():
    steps = 0
    while True:
        _setup()
        deployed.os = _CutOs(steps)
        try:
            deployed.finish()
            cut = False
        except KeyboardInterrupt:
            cut = True
        finally:
            deployed.os = os
        # Whatever the step, the next start-up's finish() gives the new application whole.
        deployed.finish()
        _finished_as_new()
        os.chdir("/")
        if not cut:
            break
        steps += 1
    assert steps >= 6  # 2 renames in, a folder made, 1 removal, the stage cleared, the commit


def test_without_a_commit_nothing_changes():
    _setup()
    os.remove(deployed.COMMIT)  # a reset before the commit: only staged files
    assert deployed.finish() is False
    for path, data in OLD.items():
        assert _read(path) == data
    assert deployed.build() == "old"
    os.chdir("/")
