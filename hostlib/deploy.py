"""Put the terminal application (device/) onto a terminal over its USB console.

    figures = deploy("/dev/ttyUSB0", source="device", progress=callback)
    figures["bytes_sent"], figures["files_sent"], figures["build"]
    build_hash("device")        # the build the terminal reports once deployed (app_build)

What it does, over mpremote's raw REPL (mpremote's SerialTransport, so a USB-UART and the
virtual terminal's pseudo-terminal work alike):

1. asks the terminal its MicroPython's `sys.implementation._mpy`: the native architecture
   (xtensawin on the ESP32) and the .mpy version it loads, and whether its firmware has a
   ROMFS partition (`vfs.rom_ioctl`);
2. compiles `source` with mpy-cross for that architecture (boot.py and main.py stay source:
   the firmware runs them by name);
3. with a ROMFS partition: packs the tree into an image (its build in a file `BUILD`) and
   writes it with mpremote's `romfs deploy`, unless the partition already holds that build;
   without one: hashes (SHA-256) the files on the terminal, sends only those that differ,
   into a staging folder, each checked by its hash read back from the flash, then commits
   (device/app/deployed.py says how a reset at any point leaves the old or the new
   application, and how the next start-up or deploy completes a cut-short one);
4. soft-resets the terminal into its friendly REPL, so boot.py and main.py start the
   application deployed.

Bytes are sent deflate-compressed and base64-encoded where the firmware can inflate (as
mpremote's romfs deploy does). Every failure is a DeployError with one readable line.
"""

import binascii
import contextlib
import hashlib
import io
import json
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from hostlib import build, micropython
from hostlib.errors import PoskitError

ROOT = Path(__file__).resolve().parents[1]
DEVICE = ROOT / "device"
# Kept as source on the terminal: the firmware runs them by name from its filesystem.
KEEP_PY = ("boot.py", "main.py")
# The .mpy version mpy-cross 1.29 writes (MicroPython 1.22 and later load it).
MPY_VERSION = 6
MANIFEST = "deploy.json"
STAGE = ".deploy"
COMMIT = "deploy.new"
# Raw bytes per chunk sent: a few KB of heap on the terminal to receive and inflate.
_CHUNK = 4096
# How long the terminal may take to answer the raw REPL, each of _REPL_TRIES times: a
# terminal still starting up (just reset) lets the first Ctrl-C go by.
_REPL_TIMEOUT = 2
_REPL_TRIES = 3
_DEPLOYED_PY = DEVICE / "app" / "deployed.py"

# Defined once in the raw REPL's globals, then called by the short commands below.
# _h: SHA-256 hex of a file; _w: "path hash" of every file under a path; _o/_d: open a file
# (making its folders) and append a chunk (base64, deflated when the firmware can inflate).
_SESSION = """\
import os,sys,json,hashlib,binascii
try:
 from deflate import DeflateIO,RAW
 from io import BytesIO
except ImportError:
 DeflateIO=None
try:
 import vfs
 _r=hasattr(vfs,'rom_ioctl')
except ImportError:
 _r=False
def _h(p):
 d=hashlib.sha256();b=bytearray(512);v=memoryview(b)
 with open(p,'rb') as f:
  while 1:
   n=f.readinto(b)
   if not n:break
   d.update(v[:n])
 return binascii.hexlify(d.digest()).decode()
def _w(p):
 try:m=os.stat(p)[0]
 except OSError:return
 if m&0x4000:
  for e in os.ilistdir(p):_w(p+'/'+e[0])
 else:print(p,_h(p))
def _o(p):
 global _f
 i=p.find('/')
 while i>0:
  try:os.mkdir(p[:i])
  except OSError:pass
  i=p.find('/',i+1)
 _f=open(p,'wb')
def _d(b):
 b=binascii.a2b_base64(b)
 _f.write(DeflateIO(BytesIO(b),RAW,9).read() if DeflateIO else b)
def _m():
 try:
  with open('deploy.json') as f:return json.load(f)
 except (OSError,ValueError):return None
print(sys.implementation._mpy,_r,DeflateIO is not None,os.getcwd())
"""


class DeployError(PoskitError):
    """The application could not be deployed: the port, the terminal or the build."""


Progress = Callable[[int, int, str], None]


def _tree_hash(files: dict[str, bytes]) -> str:
    """SHA-256 over files given as {relative path: bytes}, in path order: each its path, a
    zero byte, its size (4 bytes, big-endian), its bytes."""
    digest = hashlib.sha256()
    for path in sorted(files, key=str.encode):
        data = files[path]
        digest.update(path.encode() + b"\x00" + len(data).to_bytes(4, "big") + data)
    return digest.hexdigest()


def build_hash(source: str | Path = DEVICE) -> str:
    """The build of the application in `source`: SHA-256 (hex) over its .py files (see
    _tree_hash), the same for every architecture it is compiled for. A terminal reports it
    as `app_build` (app.deployed.build()) once deployed from this source."""
    source = Path(source)
    if not source.is_dir():
        raise DeployError(f"no application folder {source}")
    return _tree_hash(
        {p.relative_to(source).as_posix(): p.read_bytes() for p in build.sources(source)}
    )


def compile_app(source: str | Path, arch: str) -> dict[str, bytes]:
    """`source` compiled for `arch`: {path on the terminal: bytes}. Compiled files are kept
    between deploys (build/mpy-ARCH/ for device/, as the virtual terminal keeps them), and
    only sources changed since are compiled again."""
    source = Path(source).resolve()
    if not source.is_dir():
        raise DeployError(f"no application folder {source}")
    if source == DEVICE.resolve():
        cache = None  # build.compiled_device's own: build/mpy-ARCH/
    else:
        named = hashlib.sha256(str(source).encode()).hexdigest()[:12]
        cache = ROOT / "build" / "deploy" / f"{named}-{arch}"
    tree = build.compiled_device(arch, source, cache)
    files = {}
    for path in sorted(tree.rglob("*.mpy")):
        rel = path.relative_to(tree).as_posix()
        if rel[:-4] + ".py" not in KEEP_PY:
            files[rel] = path.read_bytes()
    for name in KEEP_PY:
        if (source / name).exists():
            files[name] = (source / name).read_bytes()
    return files


def _encode(data: bytes, deflate: bool) -> bytes:
    if deflate:
        packer = zlib.compressobj(wbits=-9)
        data = packer.compress(data) + packer.flush()
    return binascii.b2a_base64(data, newline=False)


class _Counting:
    """The serial port, counting the bytes written to it."""

    def __init__(self, port) -> None:
        self._port = port
        self.sent = 0

    def write(self, data) -> int | None:
        self.sent += len(data)
        return self._port.write(data)

    def __getattr__(self, name):
        return getattr(self._port, name)


class Session:
    """The raw REPL on a terminal's console, with the deploy's helpers defined in it."""

    def __init__(self, port: str) -> None:
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        self.port = port
        try:
            # A read timeout: on a pseudo-terminal mpremote's reads would otherwise wait for
            # ever on a port that never answers.
            self.transport = SerialTransport(port, baudrate=115200, timeout=1)
        except TransportError as exc:
            raise DeployError(f"cannot open {port}: {exc}") from None
        self._counter = _Counting(self.transport.serial)
        self.transport.serial = self._counter
        # A soft reset first: the application stopped, its heap given back (modules loaded
        # from .mpy files keep their bytecode there), boot.py run (it completes a deploy cut
        # short after its commit). An application starting up may miss the first Ctrl-C:
        # tried again. mpremote prints what it read when the raw REPL does not answer: kept
        # for the message instead.
        seen = io.StringIO()
        for attempt in range(_REPL_TRIES):
            try:
                with contextlib.redirect_stdout(seen):
                    self.transport.enter_raw_repl(soft_reset=True, timeout_overall=_REPL_TIMEOUT)
                break
            except TransportError:
                if attempt == _REPL_TRIES - 1:
                    self.close()
                    heard = seen.getvalue().strip()[-60:] or "nothing"
                    raise DeployError(
                        f"{port} is not a terminal's console: no MicroPython raw REPL "
                        f"answered (heard {heard}); is it the right port, and is the terminal "
                        "not locked down?"
                    ) from None
        mpy, rom, inflate, cwd = self.run(_SESSION).split()
        self.mpy, self.has_romfs, self.inflate, self.cwd = (
            int(mpy),
            rom == "True",
            inflate == "True",
            cwd,
        )

    @property
    def sent(self) -> int:
        return self._counter.sent

    def run(self, code: str) -> str:
        """Run `code` in the raw REPL; its output. A device exception is a DeployError."""
        from mpremote.transport import TransportError, TransportExecError

        try:
            return self.transport.exec(code).decode("utf-8", "replace")
        except TransportExecError as exc:
            last = exc.error_output.strip().splitlines()[-1:] or ["(no message)"]
            raise DeployError(f"the terminal failed: {last[0]}") from None
        except (TransportError, OSError) as exc:
            raise DeployError(f"lost the terminal on {self.port}: {exc}") from None

    def write_file(self, path: str, data: bytes, progress: Callable[[int], None]) -> str:
        """Write `data` to `path` on the terminal in chunks; returns its hash read back."""
        chunks = [data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK)] or [b""]
        for i, chunk in enumerate(chunks):
            code = "_d(%s)" % _encode(chunk, self.inflate)
            if i == 0:
                code = "_o(%r);" % path + code
            if i == len(chunks) - 1:
                code += ";_f.close();print(_h(%r))" % path
            out = self.run(code)
            progress(len(chunk))
        return out.strip()

    def soft_reset(self) -> None:
        """Restart the terminal into its friendly REPL: boot.py, then main.py, run."""
        try:
            self.transport.exit_raw_repl()
            self.transport.serial.write(b"\x04")
        except OSError as exc:
            raise DeployError(f"lost the terminal on {self.port}: {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.transport.close()


def _arch(session: Session) -> str:
    version = session.mpy & 0xFF
    if version != MPY_VERSION:
        raise DeployError(
            f"the terminal's MicroPython loads .mpy version {version}, this kit builds "
            f"version {MPY_VERSION} (MicroPython 1.22 or later): write a newer MicroPython "
            "first (--firmware)"
        )
    arch = micropython.arch_name(session.mpy)
    if arch is None:
        raise DeployError(
            "the terminal's MicroPython has no native code emitter (sys.implementation._mpy "
            f"= {session.mpy:#x}): the application's crypto core needs one"
        )
    return arch


def _device_hashes(session: Session, roots: list[str]) -> dict[str, str]:
    """{path: sha256} of every file on the terminal under `roots` and under the staging
    folder (as ".deploy/path")."""
    walk = ";".join("_w(%r);_w(%r)" % (r, STAGE + "/" + r) for r in roots)
    found = {}
    for line in session.run(walk).splitlines():
        path, _, digest = line.strip().rpartition(" ")
        if path:
            found[path] = digest
    return found


def _finish(session: Session) -> None:
    """Complete a committed deploy on the terminal with finish() of app/deployed.py, sent
    whole: the firmware may hold no application yet, or an older one."""
    code = _DEPLOYED_PY.read_text().split('"""', 2)[2]  # without its docstring
    session.run(code + "\nfinish()\n")


def _deploy_files(session, files, build_id, progress) -> tuple[int, int]:
    """The staged, hashed, committed copy of `files`; returns (files sent, bytes of them)."""
    pending = "try:\n os.stat('deploy.new');print(1)\nexcept OSError:print(0)"
    if session.run(pending).strip() == "1":
        _finish(session)  # a deploy cut short after its commit: completed first
    roots = sorted({path.split("/")[0] for path in files})
    on_device = _device_hashes(session, roots)
    wanted = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    to_send = [
        path
        for path in files
        if on_device.get(path) != wanted[path]
        and on_device.get(STAGE + "/" + path) != wanted[path]
    ]
    staged = [
        p
        for p in files
        if on_device.get(STAGE + "/" + p) == wanted[p] and on_device.get(p) != wanted[p]
    ]
    total = sum(len(files[p]) for p in to_send)
    done = 0
    for path in to_send:
        progress(done, total, path)

        def step(n: int, path: str = path) -> None:
            nonlocal done
            done += n
            progress(done, total, path)

        for attempt in (1, 2):
            read_back = session.write_file(STAGE + "/" + path, files[path], step)
            if read_back == wanted[path]:
                break
            if attempt == 2:
                raise DeployError(
                    f"{path} reads back from the terminal's flash with another hash "
                    f"({read_back[:16]}... for {wanted[path][:16]}...) after two writes: "
                    "is its flash failing?"
                )
    progress(done, total, "")
    manifest = json.loads(session.run("print(json.dumps(_m()))") or "null")
    new = {"build": build_id, "files": wanted}
    if to_send or staged or manifest != new:
        record = json.dumps(new, separators=(",", ":"), sort_keys=True).encode()
        tmp = STAGE + "/commit.tmp"
        session.write_file(tmp, record, lambda n: None)
        session.run("os.rename(%r,%r)" % (tmp, COMMIT))
        _finish(session)
    return len(to_send), total


def deploy(
    port: str,
    source: str | Path = DEVICE,
    progress: Progress | None = None,
) -> dict:
    """Deploy the application in `source` onto the terminal on `port`. `progress(done,
    total, path)` is called as bytes of the application go out (`path` "" at the end).

    Returns the figures: `files_sent`, `bytes_sent` (every byte written to the port),
    `app_bytes` (the compiled application), `files` (its file count), `seconds`, `build`,
    `arch`, `mode` ("files" or "romfs")."""
    started = time.monotonic()
    progress = progress or (lambda done, total, path: None)
    build_id = build_hash(source)
    session = Session(port)
    try:
        arch = _arch(session)
        files = compile_app(source, arch)
        with tempfile.TemporaryDirectory(prefix="poskit-deploy-") as tmp:
            if session.has_romfs:
                mode = "romfs"
                files_sent, _ = _deploy_romfs(session, Path(tmp), files, build_id, progress)
            else:
                mode = "files"
                files_sent, _ = _deploy_files(session, files, build_id, progress)
        session.soft_reset()
        return {
            "files_sent": files_sent,
            "bytes_sent": session.sent,
            "app_bytes": sum(len(d) for d in files.values()),
            "files": len(files),
            "seconds": time.monotonic() - started,
            "build": build_id,
            "arch": arch,
            "mode": mode,
        }
    finally:
        session.close()


def _deploy_romfs(session, tmp: Path, files, build_id, progress) -> tuple[int, int]:
    """The application as a ROMFS image in the firmware's partition 0, written by mpremote's
    romfs deploy; boot.py and main.py as files beside it, in a manifest of their own (which
    removes the files a files deploy left on the flash: they would shadow the image)."""
    import argparse

    from mpremote.commands import CommandError, _do_romfs_deploy

    on_rom = session.run(
        "try:\n with open('/rom/BUILD') as f:print(f.read())\nexcept OSError:print()"
    ).strip()
    sent = 0
    if on_rom != build_id:
        stage = tmp / "app"
        for path, data in files.items():
            if path in KEEP_PY:
                continue
            (stage / path).parent.mkdir(parents=True, exist_ok=True)
            (stage / path).write_bytes(data)
        (stage / "BUILD").write_text(build_id)
        image = tmp / "app.romfs"
        size = build._pack_romfs(stage, image)
        progress(0, size, "ROMFS image")

        class _State:
            transport = session.transport

            def ensure_raw_repl(self):
                pass

            def did_action(self):
                pass

        args = argparse.Namespace(path=str(image), partition=0, mpy=False)
        try:
            with contextlib.redirect_stdout(io.StringIO()) as said:
                _do_romfs_deploy(_State(), args)
        except (CommandError, SystemExit):
            raise DeployError(
                "mpremote romfs deploy failed: %s" % said.getvalue().strip().splitlines()[-1:]
            ) from None
        progress(size, size, "")
        sent = len(files)
    # The firmware runs boot.py and main.py from its filesystem only.
    _deploy_files(session, {p: files[p] for p in KEEP_PY if p in files}, build_id, progress)
    return sent, 0
