"""The real display drivers, on MicroPython, feeding the host-side display emulator: the bytes
they send become the picture a user would see on the glass, and the text on it is read back.

The device snippets record their link (board.simbus records) and print it as hex; the test
feeds it to the emulator's chip model. One test runs the whole path over TCP as the virtual
terminal does. The expected pictures are built here from GNU Unifont's own .hex bitmaps, not
from the generated font module.
"""

import binascii
import textwrap
import time
from pathlib import Path

import pngread
import pytest

from board.simbus import EmulatedSPI
from drivers import st7567
from drivers.lcd import CENTER, RIGHT
from hostlib import glyphs, micropython
from hostlib.emulators.display import SSD1306, ST7567, Decoder, DisplayEmulator, Picture

HERE = Path(__file__).resolve().parent
MPY_TESTS = HERE / "mpy"
# Compiling the drivers and the font from source needs more heap than the terminal has.
HEAP = "512K"

# GNU Unifont 15.0.01 bitmaps (unifont.hex): 消 费 and the ASCII of "0.01".
UNIFONT = {
    "消": "0040224811481150804043F84A080A0813F81208E20823F82208220822280210",
    "费": "04407FF804483FF824403FFC0844105420085FF010101110111002C00C303008",
    "0": "00000000182442464A52624224180000",
    ".": "00000000000000000000000018180000",
    "1": "000000000818280808080808083E0000",
    " ": "00000000000000000000000000000000",
}


def glyph_rows(char):
    bits = UNIFONT[char]
    width = len(bits) // 4
    step = width // 4
    rows = []
    for y in range(16):
        value = int(bits[y * step : (y + 1) * step], 16)
        rows.append([(value >> (width - 1 - x)) & 1 for x in range(width)])
    return rows


def expected_line(text, inverse=False):
    """Text line (128 x 16) as the Unifont glyphs draw it, left-aligned."""
    rows = [[] for _ in range(16)]
    for char in text:
        for y, row in enumerate(glyph_rows(char)):
            rows[y].extend(row)
    for y in range(16):
        rows[y] = (rows[y] + [0] * 128)[:128]
        if inverse:
            rows[y] = [1 - p for p in rows[y]]
    return Picture(rows)


def run_device(body):
    """Run `body` on MicroPython with `link` a recording stream; returns the bytes it sent."""
    code = textwrap.dedent(
        """
        import binascii
        from fakes_ui import Recorder
        from board.simbus import EmulatedSPI, EmulatedI2C
        from drivers.st7567 import ST7567
        from drivers.ssd1306 import SSD1306
        from drivers.lcd import CENTER, RIGHT
        link = Recorder()
        """
    ) + textwrap.dedent(body)
    code += "\nprint(binascii.hexlify(link.data).decode())\n"
    out = micropython.run(code=code, path=[MPY_TESTS], heap=HEAP).check()
    return binascii.unhexlify(out.stdout.strip())


def st7567_picture(body, chip=None):
    chip = chip or ST7567()
    Decoder(chip).feed(run_device("spi = EmulatedSPI(link)\n" + textwrap.dedent(body)))
    return chip


SALE = """
    display = ST7567(spi, cs=spi.cs, dc=spi.dc, rst=spi.rst)
    display.text(1, "消费 0.01")
    display.show()
"""


def test_st7567_sale_line_on_the_glass():
    chip = st7567_picture(SALE)
    assert chip.visible() and not chip.warnings
    picture = chip.picture()
    assert picture.line(1) == expected_line("消费 0.01")
    for n in (0, 2, 3):  # the rest of the glass is blank: the power-up noise was cleared
        assert picture.line(n).lit() == 0
    # What a person sees, as text: "0.01" (Unifont's zero is slashed) after the two
    # characters and the space.
    zero_dot_zero_one = picture.crop(40, 16 + 4, 32, 10).text()
    assert zero_dot_zero_one == "\n".join(
        [
            "...##..............##.......#...",
            "..#..#............#..#.....##...",
            ".#....#..........#....#...#.#...",
            ".#...##..........#...##.....#...",
            ".#..#.#..........#..#.#.....#...",
            ".#.#..#..........#.#..#.....#...",
            ".##...#..........##...#.....#...",
            ".#....#..........#....#.....#...",
            "..#..#.....##.....#..#......#...",
            "...##......##......##.....#####.",
        ]
    ), zero_dot_zero_one


def test_st7567_inverse_menu_line_and_rotation():
    chip = st7567_picture(
        """
        display = ST7567(spi, cs=spi.cs, dc=spi.dc, rst=spi.rst)
        display.text(0, "消费")
        display.text(2, "0.01", inverse=True)
        display.show()
        """
    )
    picture = chip.picture()
    assert picture.line(0) == expected_line("消费")
    assert picture.line(2) == expected_line("0.01", inverse=True)
    # rotate=True is for a module mounted upside down: on the emulator's upright module the
    # picture comes out turned by 180 degrees, every pixel of it (column offset included).
    rotated = st7567_picture(
        """
        display = ST7567(spi, cs=spi.cs, dc=spi.dc, rst=spi.rst, rotate=True)
        display.text(0, "消费")
        display.text(2, "0.01", inverse=True)
        display.show()
        """
    )
    assert rotated.segment_reverse and not rotated.com_reverse
    turned = Picture([row[::-1] for row in reversed(picture.rows)])
    assert rotated.picture() == turned


def test_st7567_display_off_and_contrast():
    chip = st7567_picture(textwrap.dedent(SALE) + "display.contrast(40)\ndisplay.power(False)\n")
    assert chip.volume == 40
    assert chip.picture().lit() == 0  # off: blank glass
    assert chip.ram[2][0:16] != bytes(16)  # the RAM still holds the picture


def test_ssd1306_sale_line_on_the_panel():
    chip = SSD1306()
    data = run_device(
        """
        display = SSD1306(EmulatedI2C(link))
        display.text(1, "消费 0.01")
        display.text(3, "1", inverse=True)
        display.show()
        """
    )
    Decoder(chip).feed(data)
    assert chip.visible() and not chip.warnings
    picture = chip.picture()
    assert picture.line(1) == expected_line("消费 0.01")
    assert picture.line(3) == expected_line("1", inverse=True)
    assert picture.line(0).lit() == 0


def test_emulator_shows_what_a_wrong_driver_would_show():
    # Without the power-up steps the LCD stays blank; with the segments reversed and no
    # column offset the picture is mirrored; uncleared RAM shows noise.
    chip = ST7567()
    for byte in b"\xe2\xa2\xa0\xc8\x40\x23\x81\x28\xaf":  # no 2C/2E/2F
        chip.command(byte)
    assert not chip.visible() and chip.picture().lit() == 0
    chip.command(0x2F)
    assert chip.picture().lit() > 1000  # power-up noise
    oled = SSD1306()
    oled.transfer(b"\x00\xae\xda\x02\xa8\x1f\xaf")  # wrong COM pins and height, no pump
    assert len(oled.warnings) == 2 and oled.picture().lit() == 0
    # micropython-lib's one-command-per-transaction style (Co = 1) reads the same.
    a, b = SSD1306(), SSD1306()
    a.transfer(b"\x00\x81\x40\x8d\x14\xaf")
    for byte in b"\x81\x40\x8d\x14\xaf":
        b.transfer(bytes((0x80, byte)))
    assert (a.contrast, a.charge_pump, a.display_on) == (b.contrast, b.charge_pump, True)


def test_png_is_a_valid_image():
    chip = st7567_picture(SALE)
    width, height, rows = pngread.decode(chip.picture().png())
    assert (width, height) == (128, 64)
    # Row 16 + 1 of the picture, pixel 2 (inside 消): dark on the LCD's grey-green.
    assert rows[17][2] == (0x1E, 0x28, 0x1E)
    assert rows[17][0] == (0xB4, 0xC8, 0xA0)
    width, height, big = pngread.decode(chip.picture().png(scale=4))
    assert (width, height) == (512, 256)
    assert big[4 * 17 + 3][4 * 2 + 3] == (0x1E, 0x28, 0x1E)


def test_emulator_over_tcp_as_on_the_virtual_terminal(tmp_path):
    with DisplayEmulator("st7567") as emulator:
        code = textwrap.dedent(
            """
            from board.unix_sim import SocketUART
            from board.simbus import EmulatedSPI
            from drivers.st7567 import ST7567
            link = SocketUART("127.0.0.1", %d)
            spi = EmulatedSPI(link)
            display = ST7567(spi, cs=spi.cs, dc=spi.dc, rst=spi.rst)
            display.text(1, "消费 0.01")
            display.show()
            link.deinit()
            """
            % emulator.port
        )
        micropython.run(code=code, heap=HEAP).check()
        want = expected_line("消费 0.01")
        picture = emulator.wait_for_picture(lambda p: p.line(1) == want)
        path = picture.save_png(tmp_path / "screen.png")
        assert pngread.decode(path.read_bytes())[:2] == (512, 256)
        assert "▀" in picture.blocks() or "▄" in picture.blocks()


@pytest.mark.parametrize("char", ["消", "费", "0", ".", "1", " "])
def test_unifont_bitmaps_here_are_the_fonts(char):
    # The expectations above come from unifont.hex; the checked-in font must hold the same.
    import fonts.font16 as font

    cp = ord(char)
    if len(UNIFONT[char]) == 32:
        index, glyphs, size = font.NARROW_INDEX, font.NARROW_GLYPHS, 16
    else:
        index, glyphs, size = font.WIDE_INDEX, font.WIDE_GLYPHS, 32
    codes = [int.from_bytes(index[i : i + 2], "big") for i in range(0, len(index), 2)]
    glyph = glyphs[codes.index(cp) * size :][:size]
    width = size // 2
    for y, row in enumerate(glyph_rows(char)):
        page, bit = divmod(y, 8)
        assert [(glyph[page * width + x] >> bit) & 1 for x in range(width)] == row


# --- reading the text back off the glass --------------------------------------------------------
# The same driver on CPython (conftest.py puts device/ and the framebuf stand-in on the path),
# its SPI records fed straight into the chip model: quick enough to draw many screens.


class ChipLink:
    """The far end of board.simbus's stream: every record straight into a chip model."""

    def __init__(self, chip):
        self.decoder = Decoder(chip)

    def write(self, data):
        self.decoder.feed(bytes(data))
        return len(data)


@pytest.fixture
def lcd(monkeypatch):
    """(driver, chip): the real ST7567 driver wired to the emulator's ST7567."""
    # MicroPython's time.sleep_ms: the driver's power-up settling waits, nothing a model
    # needs to wait for.
    monkeypatch.setattr(time, "sleep_ms", lambda ms: None, raising=False)
    chip = ST7567()
    spi = EmulatedSPI(ChipLink(chip))
    return st7567.ST7567(spi, cs=spi.cs, dc=spi.dc, rst=spi.rst), chip


def test_read_text_english_and_chinese(lcd):
    display, chip = lcd
    display.text(0, "消费 Sale")
    display.text(1, "金额: RMB 0.01")
    display.show()
    assert chip.picture().read_text() == ["消费 Sale", "金额: RMB 0.01", "", ""]
    assert chip.picture().inverse_lines() == []
    display.clear()
    display.show()
    assert chip.picture().read_text() == ["", "", "", ""]


@pytest.mark.parametrize("text", ["请刷卡", "RMB 0.01", "1 消费", "请插卡 OK", "0"])
def test_read_text_wherever_the_driver_aligns_it(lcd, text):
    display, chip = lcd
    display.text(0, text)
    display.text(1, text, align=CENTER)
    display.text(2, text, align=RIGHT)
    display.show()
    picture = chip.picture()
    assert picture.read_text()[:3] == [text, text, text]
    # The three lines really are drawn at different places.
    assert picture.line(0).rows != picture.line(2).rows
    # A label and, beside it, a right-aligned value drawn over the same line.
    display.text(3, "金额:")
    display.text(3, text, align=RIGHT, clear=False)
    display.show()
    assert chip.picture().read_line(3) == "金额: " + text


def test_read_text_at_any_pixel_offset(lcd):
    display, chip = lcd
    display.text(1, "请刷卡 Card")
    display.show()
    rows = chip.picture().rows
    for shift in range(1, 9):  # the same line moved right pixel by pixel
        moved = Picture([[0] * shift + row[: 128 - shift] for row in rows])
        assert moved.read_line(1) == "请刷卡 Card", shift


def test_selected_menu_line_reads_as_text_and_is_reported(lcd):
    display, chip = lcd
    display.text(0, "1 消费 Sale")
    display.text(1, "2 撤销 Void", inverse=True)
    display.text(2, "3 退货 Refund")
    display.stars(3, 4)  # PIN entry: four digits typed
    display.show()
    picture = chip.picture()
    assert picture.read_text() == ["1 消费 Sale", "2 撤销 Void", "3 退货 Refund", "****"]
    assert picture.inverse_lines() == [1]
    # An inverse line with nothing on it is still a selected line, and reads empty.
    display.text(3, "", inverse=True)
    display.show()
    assert chip.picture().inverse_lines() == [1, 3] and chip.picture().read_line(3) == ""


def test_ink_that_is_no_glyph_reads_as_a_question_mark(lcd):
    display, chip = lcd
    display.text(0, "RMB€5")  # € is not in the terminal's font: the driver draws a box
    display.text(1, "金额")
    display.framebuf.fill_rect(100, 20, 7, 9, 1)  # a blob beside the text
    display.text(2, "消费", inverse=True)
    display.framebuf.fill_rect(90, 36, 5, 5, 0)  # a dark blob on a selected line
    display.show()
    assert chip.picture().read_text()[:3] == ["RMB?5", "金额 ?", "消费 ?"]


@pytest.mark.parametrize("between", ["", " "])
def test_every_glyph_of_the_font_reads_back_as_itself(lcd, between):
    # All of font16 as the driver draws it, a line at most 112 pixels wide, the characters
    # touching or a space apart: none is read as another, whatever is beside it.
    display, chip = lcd
    font = glyphs.font16()
    lines = [""]
    for c in font:
        if c == " ":
            continue
        if display.width(lines[-1] + between + c) > 112:
            lines.append("")
        lines[-1] += (between if lines[-1] else "") + c
    for first in range(0, len(lines), 4):
        screen = lines[first : first + 4]
        display.clear()
        for n, text in enumerate(screen):
            display.text(n, text, inverse=n == 1)
        display.show()
        assert chip.picture().read_text()[: len(screen)] == screen
