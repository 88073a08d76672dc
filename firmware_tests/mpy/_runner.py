# Runs test functions of one module on MicroPython and reports each on its own lines, for
# the pytest collector in conftest.py. Runs on the device interpreter: MicroPython only.
import gc
import io
import sys
import time


def main():
    module_name = sys.argv[1]
    names = sys.argv[2:]
    module = __import__(module_name)
    for name in names:
        fn = getattr(module, name, None)
        gc.collect()
        before = gc.mem_alloc()
        start = time.ticks_us()
        try:
            if fn is None:
                raise NameError("no test function " + name)
            fn()
        except Exception as exc:  # report every failure, keep running the others
            buf = io.StringIO()
            sys.print_exception(exc, buf)
            print("@@FAIL", name)
            for line in buf.getvalue().split("\n"):
                print("@@|", line)
        else:
            elapsed = time.ticks_diff(time.ticks_us(), start)
            gc.collect()
            print("@@PASS", name, elapsed, gc.mem_alloc() - before)


main()
