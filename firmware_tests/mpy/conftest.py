"""Collect the test functions of firmware_tests/mpy/test_*.py and run them on MicroPython.

Each module runs once on each MicroPython unix port: the 64-bit one (`test_x[micropython]`)
and the 32-bit one, the ESP32's word size (`test_x[micropython32]`), with its heap capped at an
ESP32-WROOM's 110 KB unless the module says otherwise in a `# mpy-heap: 200K` comment, and
with device/ and this folder on its path. Every `def test_*():` is a pytest item per
interpreter; a failure shows the MicroPython traceback and names the interpreter. Where this
machine has no 32-bit interpreter, its items are skipped with the reason and how to get one
(hostlib.micropython.missing32). Functions whose names end in `_slow` are marked slow.
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
        self._results = {}
        functions = [
            node
            for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        ]
        # Every function on the 64-bit port, then every one on the 32-bit port: one run each.
        for interpreter in (micropython.NAME_64, micropython.NAME_32):
            for node in functions:
                item = MpyItem.from_parent(self, name="%s[%s]" % (node.name, interpreter))
                item.function_name = node.name
                item.interpreter = interpreter
                item.lineno = node.lineno
                if node.name.endswith("_slow"):
                    item.add_marker(pytest.mark.slow)
                yield item

    def results(self, interpreter):
        """{function name: (outcome, text)} of this module's selected functions on
        `interpreter` (NAME_64 or NAME_32), run once."""
        if interpreter not in self._results:
            path = micropython.named(interpreter)  # a wrong POSKIT_MICROPYTHON32 fails
            if path is None:
                pytest.skip("32-bit set skipped: " + micropython.missing32())
            names = [
                i.function_name
                for i in self.session.items
                if i.parent is self and i.interpreter == interpreter
            ]
            run = micropython.run(
                HERE / "_runner.py",
                args=[self.path.stem] + names,
                path=[HERE, self.path.parent],
                heap=self.heap,
                timeout=900,
                interpreter=path,
            )
            self._results[interpreter] = _parse(run, names)
        return self._results[interpreter]


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
    """One device test function on one interpreter (`function_name`, `interpreter`)."""

    lineno = 0
    function_name = ""
    interpreter = micropython.NAME_64

    def runtest(self):
        kind, text = self.parent.results(self.interpreter)[self.function_name]
        if kind != "pass":
            raise MicroPythonFailure(text)
        self.user_properties.append((self.interpreter, text))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython traceback (%s, heap %s):\n%s" % (
                self.interpreter,
                self.parent.heap,
                excinfo.value,
            )
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, self.lineno, "[%s] %s" % (self.interpreter, self.function_name)


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.parent == HERE and module_path.name.startswith("test_"):
        return MpyModule.from_parent(parent, path=module_path)
    return None
