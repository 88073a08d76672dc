"""The build hash PosManage's version screen shows (device/app/ui/admin_version.py), computed
by the terminal over the ROMFS image it runs, is the one the kit computes over the compiled
tree the image packs (hostlib.build.image_hash): an installer can tell a build from another,
and a changed file shows."""

import shutil

from hostlib import build, micropython


def test_the_terminal_and_the_kit_agree_on_the_build_hash(tmp_path, interpreter):
    arch = micropython.arch(interpreter)
    image = build.device_romfs(arch)  # packs build/mpy-ARCH/, brought up to date
    tree = build.compiled_device(arch)
    code = (
        "import vfs, sys\n"
        "f = open(%r, 'rb'); data = f.read(); f.close()\n"
        "vfs.mount(vfs.VfsRom(data), '/rom')\n"
        "sys.path[:] = ['.frozen', '/rom']\n"
        "from app.ui import admin_version\n"
        "print(admin_version.image_root(), admin_version.image_hash())\n"
    ) % str(image)
    result = micropython.run(code=code, heap=None, interpreter=interpreter).check()
    root, device_hash = result.stdout.split()
    assert root == "/rom"
    assert device_hash == build.image_hash(tree)
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    assert build.image_hash(copy) == device_hash
    (copy / "app" / "selftest.mpy").write_bytes(b"changed")
    assert build.image_hash(copy) != device_hash


def test_the_version_screen_names_the_kit_s_release():
    from app.ui import admin_version
    from hostlib import __version__

    assert admin_version.VERSION == __version__
