"""Collect the test functions of firmware_tests/mpy/test_*.py and run them on MicroPython.

Each module runs once on the MicroPython unix port, with its heap capped at an ESP32-WROOM's
110 KB unless the module says otherwise in a `# mpy-heap: 200K` comment, and with device/
and this folder on its path. Every `def test_*():` is a pytest item; a failure shows the
MicroPython traceback. Functions whose names end in `_slow` are marked slow.
"""

import ast
import re
from pathlib import Path

import pytest

from hostlib import micropython

HERE = Path(__file__).resolve().parent
_HEAP_RE = re.compile(r"^#\s*mpy-heap:\s*(\S+)", re.M)


class MicroPythonFailure(Exception):
    pass


class MpyModule(pytest.Module):
    """A device-side test module: parsed (not imported) by CPython, run by MicroPython."""

    def collect(self):
        source = self.path.read_text()
        match = _HEAP_RE.search(source)
        self.heap = match.group(1) if match else micropython.ESP32_HEAP
        self._results = None
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                item = MpyItem.from_parent(self, name=node.name)
                item.lineno = node.lineno
                if node.name.endswith("_slow"):
                    item.add_marker(pytest.mark.slow)
                yield item

    def results(self):
        if self._results is None:
            names = [i.name for i in self.session.items if i.parent is self]
            run = micropython.run(
                HERE / "_runner.py",
                args=[self.path.stem] + names,
                path=[HERE, self.path.parent],
                heap=self.heap,
                timeout=900,
            )
            self._results = _parse(run, names)
        return self._results


def _parse(run, names):
    results = {}
    current = None
    for line in run.stdout.splitlines():
        if line.startswith("@@PASS "):
            parts = line.split()
            results[parts[1]] = ("pass", "%s us, %s bytes retained" % (parts[2], parts[3]))
            current = None
        elif line.startswith("@@FAIL "):
            current = line.split()[1]
            results[current] = ("fail", "")
        elif line.startswith("@@| ") and current:
            kind, text = results[current]
            results[current] = (kind, text + line[4:] + "\n")
    for name in names:
        if name not in results:
            results[name] = (
                "fail",
                "the module stopped before this test ran (status %d)\n%s%s"
                % (run.returncode, run.stdout[-3000:], run.stderr[-3000:]),
            )
    return results


class MpyItem(pytest.Item):
    lineno = 0

    def runtest(self):
        kind, text = self.parent.results()[self.name]
        if kind != "pass":
            raise MicroPythonFailure(text)
        self.user_properties.append(("micropython", text))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython traceback (heap %s):\n%s" % (self.parent.heap, excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, self.lineno, "[micropython] %s" % self.name


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.parent == HERE and module_path.name.startswith("test_"):
        return MpyModule.from_parent(parent, path=module_path)
    return None
