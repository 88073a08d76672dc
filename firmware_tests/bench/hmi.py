# Keypad and display figures on MicroPython, for `make bench`. Prints one JSON object per
# figure: {"name": ..., "value": ..., "unit": ...}. Heap figures are gc.mem_alloc() deltas
# after gc.collect(); the import ones depend on where the modules come from (the caller puts
# .py sources, .mpy files or a mounted ROMFS image on sys.path). MicroPython only.
import gc
import json
import time


def report(name, value, unit):
    print(json.dumps({"name": name, "value": value, "unit": unit}))


def heap_of(fn):
    gc.collect()
    before = gc.mem_alloc()
    keep = fn()
    gc.collect()
    used = gc.mem_alloc() - before
    return used, keep


def best_us(fn, runs=5, repeat=20):
    best = None
    for _ in range(runs):
        start = time.ticks_us()
        for _ in range(repeat):
            fn()
        per = time.ticks_diff(time.ticks_us(), start) / repeat
        best = per if best is None or per < best else best
    return best


class Sink:
    # An SPI bus that takes the bytes and does nothing (the LCD's time on the wire is
    # the SPI clock's, not the driver's).
    def write(self, buf):
        return len(buf)


def main():
    used, _ = heap_of(lambda: __import__("drivers.keypad"))
    report("keypad: import", used, "B")
    from board.simbus import EmulatedSPI, KeyMatrix
    from drivers.keypad import Keypad

    matrix = KeyMatrix()
    used, pad = heap_of(lambda: Keypad(matrix.drive, matrix.sense))
    report("keypad: instance (16-key ring buffer)", used, "B")
    report("keypad: one scan, no key down", best_us(pad.scan, repeat=200), "us")
    matrix.press(5)
    report("keypad: one scan, a key held", best_us(pad.scan, repeat=200), "us")
    matrix.release(5)

    used, _ = heap_of(lambda: __import__("fonts.font16"))
    report("font: import fonts.font16", used, "B")
    used, _ = heap_of(lambda: __import__("drivers.st7567"))
    report("display: import st7567 (+ lcd)", used, "B")
    used, _ = heap_of(lambda: __import__("drivers.ssd1306"))
    report("display: import ssd1306", used, "B")
    from drivers.st7567 import ST7567

    spi = EmulatedSPI(Sink())
    used, display = heap_of(lambda: ST7567(spi, cs=spi.cs, dc=spi.dc, rst=spi.rst))
    report("display: ST7567 instance (1 KB frame buffer)", used, "B")

    text = "请刷卡或插卡请输入密码结算成功交易失败请重新签到主管密码撤销消费"
    lines = [text[i * 8 : i * 8 + 8] for i in range(4)]

    def screen():
        for i in range(4):
            display.text(i, lines[i])

    report("display: render 4 lines x 8 Chinese characters", best_us(screen), "us")
    report("display: show() (1 KB to a null SPI bus)", best_us(display.show), "us")
    gc.collect()
    before = gc.mem_alloc()
    screen()
    display.show()
    report("display: heap allocated by one screen + show()", gc.mem_alloc() - before, "B")


main()
