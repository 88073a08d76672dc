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
