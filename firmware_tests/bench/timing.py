# Timing for the MicroPython bench scripts (MicroPython only; the script's folder is on the
# path when a bench script runs).
import gc
import time


def timed(fn, target_us=300000):
    fn()
    n = 1
    while True:
        start = time.ticks_us()
        for _ in range(n):
            fn()
        elapsed = time.ticks_diff(time.ticks_us(), start)
        if elapsed >= target_us // 10 or n >= 1 << 20:
            break
        n *= 4
    n = max(1, n * target_us // max(elapsed, 1) // 3)
    best = None
    for _ in range(3):
        start = time.ticks_us()
        for _ in range(n):
            fn()
        per = time.ticks_diff(time.ticks_us(), start) / n
        best = per if best is None or per < best else best
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn()
    allocated = gc.mem_alloc() - before
    gc.enable()
    return best, allocated
