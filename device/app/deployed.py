"""What `poskit deploy` put on this terminal's flash, and the deploy's last step.

    deployed.build()     # "3F2A...": the build hash of the application deployed, as
                         # hostlib.deploy.build_hash() gives it on the installer's laptop
    deployed.finish()    # boot.py: completes a deploy a reset cut short (True if it did)

A deploy (hostlib/deploy.py) keeps a manifest in the terminal's working directory (the
flash: "/" on an ESP32, /flash on the virtual terminal):

    deploy.json          {"build": "<hex>", "files": {"app/ui/idle.mpy": "<sha256 hex>", ...}}
    deploy.new           the next manifest, while a deploy is being committed

It stages every changed file under .deploy/ (same relative path) and checks each by hash
there, while the application on the flash is untouched. Then it writes the new manifest as
deploy.new (a temp file in .deploy/, then renamed: that rename is the commit) and calls
finish(): each staged file is renamed over the live one (an atomic rename on LittleFS), the
files the old manifest listed and the new one does not are removed, the staging folder is
cleared, and deploy.new is renamed over deploy.json last. A reset before the commit leaves
the old application (the staged files are ignored; the next deploy reuses those whose hash
is right). A reset after it is rolled forward by boot.py's finish() at the next start-up,
before the application is imported, so the terminal runs the old application or the new
one, never a mixture.
"""

import json
import os

MANIFEST = "deploy.json"
STAGE = ".deploy"
COMMIT = "deploy.new"
# Written into a ROMFS image by the deploy: the build it was made with.
IMAGE_BUILD = "/rom/BUILD"
_DIR = 0x4000


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def build():
    """The build hash of the application this terminal runs: the manifest's, else the one
    its ROMFS image was made with, else "unknown"."""
    manifest = _read(MANIFEST)
    if isinstance(manifest, dict) and manifest.get("build"):
        return manifest["build"]
    try:
        with open(IMAGE_BUILD) as f:
            return f.read().strip() or "unknown"
    except OSError:
        return "unknown"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _make_parents(path):
    at = path.find("/")
    while at > 0:
        if not _exists(path[:at]):
            os.mkdir(path[:at])
        at = path.find("/", at + 1)


def _remove_tree(path):
    try:
        mode = os.stat(path)[0]
    except OSError:
        return
    if mode & _DIR:
        for entry in os.ilistdir(path):
            _remove_tree(path + "/" + entry[0])
        os.rmdir(path)
    else:
        os.remove(path)


def finish():
    """Complete a committed deploy: move its staged files into place, remove the files it
    dropped, make its manifest the terminal's. Does nothing (False) without a commit.
    Safe to run again after a reset at any point within it."""
    new = _read(COMMIT)
    if not isinstance(new, dict):
        return False
    files = new.get("files", {})
    for path in files:
        staged = STAGE + "/" + path
        if _exists(staged):
            _make_parents(path)
            os.rename(staged, path)
    old = _read(MANIFEST)
    if isinstance(old, dict):
        for path in old.get("files", {}):
            if path not in files and _exists(path):
                os.remove(path)
    _remove_tree(STAGE)
    os.rename(COMMIT, MANIFEST)
    return True
