# Helpers shared by the device tests (MicroPython; the harness puts this folder on the path).


def expect_error(kind, words, fn, *args, **kwargs):
    """fn(*args) must raise `kind` with every one of `words` in its message; returns it."""
    try:
        fn(*args, **kwargs)
    except kind as exc:
        for word in words:
            assert word in str(exc), (word, str(exc))
        return exc
    raise AssertionError("no %s for %r" % (kind.__name__, args))


def objects(esp32_bytes):
    """An allocation bound stated in an ESP32's bytes (the 32-bit port's), for the port this
    runs on: objects are twice the size on a 64-bit one."""
    import sys

    return esp32_bytes if sys.maxsize >> 32 == 0 else 2 * esp32_bytes
