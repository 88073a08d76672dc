"""The version screen (版本信息, procedure §3.1): what the installer checks and records before
anything else, and what the parameter slip prints.

    admin_version.run(term)
    facts(term)              # [(label, value)], the screen's and the slip's content
    image_hash(root)         # SHA-256 hex of the application image under `root`

The screen, three lines at a time (F2/ENTER the next page, F1 back, CANCEL back to the menu):

    MPY 1.29.0            the MicroPython version the application runs on
    应用 0.1.0            the application's release (the kit's version, pyproject.toml)
    摘要 1A2B3C4D         its build hash: the first 8 hex digits of image_hash()
    序列号 PK-000123       the terminal serial (identity, set once by provisioning)
    终端参数 v3 改         the terminal parameters' packet version; 改: edited on site
    CAPK 5 750046DB       the CA public keys the host downloaded: how many, the set's check
    AID 3 29F3CB09        value; the IC (AID) parameters likewise ("-": none downloaded yet)
    应用1 CUP v3          each application: its parameter version,
    应用1密钥 v2           its key packet version (0: keys entered by hand only),
    T01 3DES 47F816       each master key slot with its algorithm and check value,
    MAK 0DA91C4E          the working keys from its last sign-on, with their check values

The build hash is computed on the terminal from the files it runs: every file under the
folder the application was loaded from (/rom, the ROMFS image, on a terminal), depth
first, each folder's names in byte order; for each file its path from that folder ("app/
__init__.mpy"), a zero byte, its size as 4 bytes big-endian, then its bytes, all through one
SHA-256. A build of the same files gives the same hash on the installer's laptop
(hostlib.build.image_hash over the compiled tree); a file changed, missing or added gives
another. Computed, not stored: a stored hash would say what the image should be, not what it
is. About 100 KB of .mpy: a fraction of a second.
"""

import hashlib
import os
import sys

from app.ui import admin_ui

VERSION = "0.1.0"  # the application's release: the kit's version (pyproject.toml, tested)
TITLE = ("版本信息", "Versions")
_CHUNK = 512
_DIR = 0x4000


def image_root():
    """The folder the application was loaded from ("/rom" on a terminal)."""
    import app

    path = getattr(app, "__file__", "") or ""
    at = path.rfind("/app/")
    return path[:at] if at > 0 else "."


def _walk(digest, root, rel, buf):
    folder = root + "/" + rel if rel else root
    names = []
    for entry in os.ilistdir(folder):
        name = entry[0]
        if name[:1] != "." and name != "__pycache__":
            names.append((name, entry[1] == _DIR))
    names.sort()
    for name, is_dir in names:
        path = rel + "/" + name if rel else name
        if is_dir:
            _walk(digest, root, path, buf)
            continue
        with open(root + "/" + path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            digest.update(path.encode())
            digest.update(b"\x00")
            digest.update(size.to_bytes(4, "big"))
            view = memoryview(buf)
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                digest.update(view[:n])


def image_hash(root=None):
    """SHA-256 (64 hex digits, upper case) of the application image under `root` (default
    image_root()); see the module docstring."""
    import binascii

    digest = hashlib.sha256()
    _walk(digest, root or image_root(), "", bytearray(_CHUNK))
    return binascii.hexlify(digest.digest()).decode().upper()


def facts(term, build_hash=None):
    """The version screen's content as (label, value) pairs of texts: MicroPython, the
    application, its build hash (`build_hash`, computed when None), the serial, then the
    parameter and key versions and check values of the terminal and each application."""
    from app.keys.identity import Identity
    from app.keys.slots import KeyStore
    from app.store import edits
    from app.store.packet import KEYS, PARAMETERS, Versions

    store = term.store
    versions = Versions(store)
    out = [
        ("MPY", "%d.%d.%d" % sys.implementation.version[:3]),
        (("应用", "App"), VERSION),
        (("摘要", "Build"), build_hash or image_hash()),
        (("序列号", "Serial"), Identity(store, term.storage_key).serial() or "-"),
    ]
    edited = (" 改", " edited")
    mark = edited if edits.edited(store, 0) else ("", "")
    version = versions.get(PARAMETERS, 0)
    out.append(
        (("终端参数", "Terminal"), ("v%d%s" % (version, mark[0]), "v%d%s" % (version, mark[1])))
    )
    out.extend(_ic_sets(store))
    keys = KeyStore(store, term.storage_key)
    for index, name in term.applications():
        mark = edited if edits.edited(store, index) else ("", "")
        version = versions.get(PARAMETERS, index)
        label = ("应用%d" % index, "App %d" % index)
        out.append(
            (label, ("%s v%d%s" % (name, version, mark[0]), "%s v%d%s" % (name, version, mark[1])))
        )
        out.append(
            (("应用%d密钥" % index, "App %d keys" % index), "v%d" % versions.get(KEYS, index))
        )
        for usage, slot, algorithm, kcv in keys.kcv_table(index):
            if usage == "TMK":
                out.append(("T%02d" % slot, "%s %s" % (algorithm, kcv)))
            else:
                out.append((usage, kcv))
    return out


def _ic_sets(store):
    # The sets the host downloaded (app.store.icsets): count and check value, which the
    # host's `poskit hostsim ic-sets` shows too.
    from app.store.icsets import AID, BLACKLIST, CAPK, CONTACTLESS, ICSets

    sets = ICSets(store.root)
    out = []
    # BL the card black list, CTLS the contactless (qPBOC) parameters.
    for kind, label in ((CAPK, "CAPK"), (AID, "AID"), (BLACKLIST, "BL"), (CONTACTLESS, "CTLS")):
        try:
            summary = sets.summary(kind)
            value = "-" if summary is None else "%d %s" % summary[:2]
        except (OSError, ValueError):  # a set whose file is damaged: downloaded again
            value = ("损坏", "damaged")
        out.append(((label, label), value))
    return out


def line(ui, label, value):
    """A fact as one screen line: label, a space, value (the screen clips past 16)."""
    return "%s %s" % (ui.t(label), ui.t(value))


def run(term):
    ui = term.ui
    ui.show(TITLE, (("计算中...", "Computing..."),))
    build = image_hash()[:8]
    lines = []
    for label, value in facts(term, build):
        text = line(ui, label, value)
        if admin_ui.columns(text) <= 16:
            lines.append(text)
        else:  # a long serial or application name: the value on a line of its own
            lines.append(ui.t(label))
            lines.append(ui.t(value))
    admin_ui.pages(ui, TITLE, lines)
