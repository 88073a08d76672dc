# Deterministic pseudo-random bytes for the device tests (MicroPython and CPython alike).


class Rng:
    # xorshift32: deterministic pseudo-random bytes, the same on every run and port
    def __init__(self, seed):
        self.s = seed

    def byte(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s & 255

    def bytes(self, n):
        return bytes(self.byte() for _ in range(n))
