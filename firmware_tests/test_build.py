"""The deployable image: every device file compiles for the ESP32 and for the unix port,
a ROMFS image of device/ imports on MicroPython, the device modules also import under
CPython, and the type check against the ESP32 stubs catches what the ESP32 lacks."""

import importlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hostlib import build, micropython

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "device"
# Files the firmware runs by name at reset; importing them runs the application.
ENTRY_POINTS = {"boot.py", "main.py"}
# Board files build on MicroPython-only modules (vfs, machine): they import on MicroPython only.
MICROPYTHON_ONLY = {"board.unix_sim", "board.esp32_ref"}


def device_modules():
    names = []
    for path in build.sources(DEVICE):
        rel = path.relative_to(DEVICE)
        if str(rel) in ENTRY_POINTS:
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def test_every_device_file_compiles_for_the_esp32(tmp_path):
    written = build.compile_tree(DEVICE, tmp_path, build.ESP32_ARCH)
    assert len(written) == len(build.sources(DEVICE))
    native = []
    for mpy in written:
        data = mpy.read_bytes()
        # .mpy header: 'M', version 6, then 0 for bytecode only, or for files holding
        # native/viper code the architecture (high 6 bits; 10 = xtensawin) and sub-version 3.
        assert data[0:2] == b"M\x06", mpy
        if data[2]:
            assert data[2] == (10 << 2) | 3, "%s not built for xtensawin" % mpy
            native.append(mpy.name)
    assert "mac.mpy" in native, "the viper hot loops are compiled to Xtensa code"


def test_compile_error_names_the_file(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.py").write_text("match x:\n    case 1:\n        pass\n")
    with pytest.raises(build.BuildError, match="bad.py does not compile"):
        build.compile_tree(src, tmp_path / "out", build.ESP32_ARCH)


def test_romfs_image_imports_every_device_module(tmp_path, interpreter):
    # Built for the interpreter's native code: x64 for the 64-bit port, x86 for the 32-bit one.
    image = tmp_path / "device.romfs"
    size = build.build_romfs(DEVICE, image, micropython.arch(interpreter))
    assert size > 1000
    modules = device_modules()
    # Mount the image as the terminal does and import from it alone (device/ off the path).
    code = (
        "import vfs, sys\n"
        "f = open(%r, 'rb'); data = f.read(); f.close()\n"
        "vfs.mount(vfs.VfsRom(data), '/rom')\n"
        "sys.path[:] = ['.frozen', '/rom']\n"
        "out = {}\n"
        "for name in %r:\n"
        "    m = __import__(name, None, None, ['x'])\n"
        "    out[name] = m.__file__ if hasattr(m, '__file__') else ''\n"
        "import json; print(json.dumps(out))\n"
    ) % (str(image), modules)
    # The unix port must read the image into its heap (the terminal maps it from flash), so
    # the heap is not capped here; docs/benchmarks.md reports the heap as deployed.
    result = micropython.run(code=code, heap=None, interpreter=interpreter).check()
    loaded = json.loads(result.stdout)
    assert sorted(loaded) == sorted(modules)
    for name, file in loaded.items():
        assert file.startswith("/rom/") and file.endswith(".mpy"), (name, file)


def test_device_modules_import_under_cpython():
    for name in device_modules():
        if name not in MICROPYTHON_ONLY:
            importlib.import_module(name)


@pytest.mark.skipif(
    not (ROOT / ".venv-device" / "typings").exists(),
    reason="ESP32 stubs not installed (make typecheck installs them)",
)
def test_type_check_catches_apis_the_esp32_lacks(tmp_path):
    pyright = shutil.which("pyright", path=str(ROOT / ".venv" / "bin"))
    assert pyright, "pyright is installed with the dev extras"
    (tmp_path / "bad.py").write_text(
        "import pathlib\nimport machine\nmachine.UART(1).no_such_method()\n"
    )
    config = {
        "include": [str(tmp_path)],
        "typeshedPath": str(ROOT / ".venv-device" / "typings"),
        "stubPath": str(ROOT / ".venv-device" / "typings"),
        "venvPath": str(ROOT),
        "venv": ".venv-device",
        "reportMissingModuleSource": False,
    }
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    proc = subprocess.run(
        [pyright, "-p", str(tmp_path / "pyrightconfig.json")], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert 'Import "pathlib" could not be resolved' in proc.stdout
    assert "no_such_method" in proc.stdout
