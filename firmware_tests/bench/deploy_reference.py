"""`make bench`'s "Deploy" section: bytes `poskit deploy` writes to a virtual terminal's
console for a full deploy, a redeploy with nothing changed and one with one file changed,
each beside the application's own size measured in the same run; then the heap the
application's modules take from .mpy files beside a ROMFS image."""

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The script folder holds an iso8583.py of its own: the library of that name comes first.
sys.path[0] = str(ROOT)

from hostlib import build, deploy, micropython  # noqa: E402
from hostlib.vterm import VirtualTerminal  # noqa: E402

CODE = "from app.ui import terminal\n"


def figures(interpreter: str) -> tuple[int, int]:
    arch = micropython.arch(interpreter)
    tree = build.compiled_device(arch)
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "device.romfs"
        size = build.build_romfs(ROOT / "device", image, arch)
        rom = (
            "import vfs, sys\n"
            "f = open(%r, 'rb'); rom = f.read(); f.close()\n"
            "vfs.mount(vfs.VfsRom(rom), '/rom'); sys.path[:] = ['.frozen', '/rom']\n" % str(image)
        )
        files = "import sys\nsys.path[:] = ['.frozen', %r]\n" % str(tree)
        from_rom = micropython.min_heap(rom + CODE, interpreter=interpreter) - size
        from_files = micropython.min_heap(files + CODE, interpreter=interpreter)
    return from_rom, from_files


def heap_table() -> None:
    rows = [("32-bit", micropython.binary32()), ("64-bit", micropython.binary())]
    print("| MicroPython | from the ROMFS image B | from .mpy files B | difference B |")
    print("|---|---:|---:|---:|")
    for name, interpreter in rows:
        if interpreter is None:
            print("| %s | - | - | - |" % name)
            continue
        rom, files = figures(interpreter)
        print("| %s | %d | %d | %d |" % (name, rom, files, files - rom))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "device"
        shutil.copytree(ROOT / "device", source, ignore=shutil.ignore_patterns("__pycache__"))
        with VirtualTerminal(Path(tmp) / "term" / "flash.img") as vt:
            full = deploy.deploy(vt.console.path, source)
            again = deploy.deploy(vt.console.path, source)
            with open(source / "app" / "selftest.py", "a") as f:
                f.write("\n_CHANGED = 1\n")
            one = deploy.deploy(vt.console.path, source)
        with VirtualTerminal(Path(tmp) / "rom" / "flash.img", romfs="512K") as vt:
            rom_full = deploy.deploy(vt.console.path, source)
            rom_again = deploy.deploy(vt.console.path, source)
    app = full["app_bytes"]
    print("## Deploy (poskit deploy, hostlib/deploy.py)")
    print()
    print(
        "Bytes written to the console of a virtual terminal (64-bit unix port; .mpy files on "
        "its flash when it has no ROMFS partition, else the image), everything counted (raw "
        "REPL, commands, the files deflated and base64-encoded), beside the compiled "
        "application's size (%d files, %d B, x64) measured in the same run. The time "
        "includes compiling what changed (the whole source tree the first time)."
        % (full["files"], app)
    )
    print()
    print("| deploy | files sent | bytes written | of the application | time s |")
    print("|---|---:|---:|---:|---:|")
    for label, f in (
        ("full (blank flash)", full),
        ("again, nothing changed", again),
        ("one module changed (app/selftest.py)", one),
        ("ROMFS partition (`--romfs 512K`): the image, full", rom_full),
        ("ROMFS partition: again, nothing changed", rom_again),
    ):
        print(
            "| %s | %d | %d | %.2f%% | %.1f |"
            % (label, f["files_sent"], f["bytes_sent"], 100 * f["bytes_sent"] / app, f["seconds"])
        )
    print()
    print(
        "The smallest heap in which the terminal application (`from app.ui import terminal`) "
        "imports, from a ROMFS image (bytecode run in place; the image's own size taken off, "
        "as on the terminal it is mapped flash) and from .mpy files on a filesystem (each "
        "module's bytecode loaded into the heap):"
    )
    print()
    heap_table()


if __name__ == "__main__":
    main()
