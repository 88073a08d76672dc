# The harness itself, on MicroPython: the interpreter, its heap cap and the modules the
# device code relies on.
import gc
import sys


def test_runs_on_micropython():
    assert sys.implementation.name == "micropython"
    assert sys.implementation.version[:2] >= (1, 29)


def test_heap_is_capped_like_an_esp32():
    gc.collect()
    total = gc.mem_alloc() + gc.mem_free()
    assert 100 * 1024 <= total <= 120 * 1024, total


def test_allocation_past_the_cap_raises_memoryerror():
    try:
        bytearray(200 * 1024)
    except MemoryError:
        pass
    else:
        raise AssertionError("a 200 KB buffer fitted in a 110 KB heap")


def test_platform_modules_present():
    import asyncio
    import binascii
    import cryptolib
    import hashlib
    import vfs

    assert hasattr(vfs, "VfsLfs2") and hasattr(vfs, "VfsRom")
    assert binascii.crc32(b"123456789") == 0xCBF43926
    assert hasattr(asyncio, "StreamReader")
    assert hasattr(cryptolib, "aes")
    assert len(hashlib.sha256(b"").digest()) == 32
