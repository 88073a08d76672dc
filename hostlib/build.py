"""Build what goes onto a terminal's flash: .mpy files (mpy-cross) and a ROMFS image.

`mpremote romfs build` compiles .py files without `-march`, which rejects the viper and
native code the crypto core uses, so the tree is compiled here for the target architecture
first and then packed with `mpremote romfs --no-mpy build`.

Native code compiled for one architecture does not load on another, so every output kept
between runs is named by its `-march`: `build/mpy-x64/` and `build/device-x64.romfs` for the
64-bit unix port, `build/mpy-x86/` and `build/device-x86.romfs` for the 32-bit one
(hostlib.micropython.arch(interpreter) names it), `xtensawin` for the ESP32.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hostlib.errors import PoskitError

# The ESP32 (Xtensa LX6, windowed ABI) target of the reference terminal.
ESP32_ARCH = "xtensawin"


class BuildError(PoskitError):
    """A device file does not compile for MicroPython, or an image could not be built."""


def sources(src: Path) -> list[Path]:
    """Every .py file under `src`, sorted, skipping caches."""
    return sorted(p for p in Path(src).rglob("*.py") if "__pycache__" not in p.parts)


def mpy_cross() -> str:
    beside = Path(sys.executable).with_name("mpy-cross")
    if beside.exists():
        return str(beside)
    found = shutil.which("mpy-cross")
    if not found:
        raise BuildError("mpy-cross is not installed: run `make test`, which installs it")
    return found


def compile_file(src_root: Path, rel: Path, out: Path, arch: str) -> None:
    """Compile one file; the source name in tracebacks is its path relative to device/."""
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [mpy_cross(), "-march=%s" % arch, "-o", str(out), str(rel)],
        cwd=src_root,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BuildError(
            "%s does not compile for MicroPython (%s):\n%s"
            % (rel, arch, (proc.stderr or proc.stdout).strip())
        )


def compile_tree(src: Path, dst: Path, arch: str, *, keep_py: tuple = ()) -> list[Path]:
    """Compile every .py under `src` into `dst` as .mpy, mirroring the tree.

    Files named in `keep_py` (relative paths such as "main.py") are copied as source: the
    firmware runs boot.py and main.py by name.
    """
    src, dst = Path(src), Path(dst)
    written = []
    for path in sources(src):
        rel = path.relative_to(src)
        if str(rel) in keep_py:
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        else:
            target = (dst / rel).with_suffix(".mpy")
            compile_file(src, rel, target, arch)
        written.append(target)
    return written


def compiled_device(arch: str, src: Path | None = None, cache: Path | None = None) -> Path:
    """device/ compiled to .mpy for `arch` in build/mpy-ARCH/, brought up to date (a file is
    recompiled when its source is newer). The virtual terminal runs this, as a terminal runs
    its precompiled image: compiling .py on the device would cost heap the terminal never
    spends."""
    root = Path(__file__).resolve().parents[1]
    src = Path(src or root / "device")
    cache = Path(cache or root / "build" / ("mpy-%s" % arch))
    wanted = set()
    for path in sources(src):
        rel = path.relative_to(src)
        target = (cache / rel).with_suffix(".mpy")
        wanted.add(target)
        if not target.exists() or target.stat().st_mtime < path.stat().st_mtime:
            # A name of its own: test workers may bring the same cache up to date at once.
            tmp = target.with_suffix(".mpy.%d.tmp" % os.getpid())
            compile_file(src, rel, tmp, arch)
            tmp.replace(target)
    for stale in cache.rglob("*.mpy"):
        if stale not in wanted:
            stale.unlink(missing_ok=True)
    return cache


def image_hash(tree: Path) -> str:
    """The build hash of the application image holding the files of `tree` (a compiled tree,
    as `compiled_device` makes it): SHA-256 over every file, depth first, each folder's names
    in byte order; for each its path from `tree`, a zero byte, its size (4 bytes, big-endian)
    and its bytes. The terminal's version screen computes the same over what it runs
    (device/app/ui/admin_version.py) and shows the first 8 hex digits."""
    digest = hashlib.sha256()

    def walk(folder: Path, rel: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda p: p.name.encode()):
            if entry.name.startswith(".") or entry.name == "__pycache__":
                continue
            path = rel + "/" + entry.name if rel else entry.name
            if entry.is_dir():
                walk(entry, path)
                continue
            data = entry.read_bytes()
            digest.update(path.encode() + b"\x00" + len(data).to_bytes(4, "big") + data)

    walk(Path(tree), "")
    return digest.hexdigest().upper()


def _pack_romfs(stage: Path, out: Path) -> int:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpremote",
            "romfs",
            "--no-mpy",
            "--output",
            str(out),
            "build",
            str(stage),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not Path(out).exists():
        raise BuildError("mpremote romfs build failed:\n%s%s" % (proc.stdout, proc.stderr))
    return Path(out).stat().st_size


def build_romfs(src: Path, out: Path, arch: str) -> int:
    """Compile `src` for `arch` and pack it into a ROMFS image at `out`; returns its size."""
    with tempfile.TemporaryDirectory(prefix="poskit-romfs-") as tmp:
        stage = Path(tmp) / "stage"
        compile_tree(src, stage, arch)
        return _pack_romfs(stage, out)


def device_romfs(arch: str) -> Path:
    """The ROMFS image of device/ for `arch` at build/device-ARCH.romfs, rebuilt when a
    source changed (compiling only the changed files)."""
    root = Path(__file__).resolve().parents[1]
    stage = compiled_device(arch)
    image = root / "build" / ("device-%s.romfs" % arch)
    newest = max(p.stat().st_mtime for p in stage.rglob("*.mpy"))
    if not image.exists() or image.stat().st_mtime < newest:
        tmp = image.with_suffix(".%d.tmp" % os.getpid())
        _pack_romfs(stage, tmp)
        tmp.replace(image)
    return image
