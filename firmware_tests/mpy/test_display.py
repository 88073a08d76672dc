# The display drivers on MicroPython: the exact bytes of each chip's init sequence and of
# show(), and the pixels the text layer puts in the frame buffer (ASCII and Chinese glyphs
# against GNU Unifont's own bitmaps, inverse lines, alignment, wrapping, unknown characters).
# Compiling the font module (62 KB of source) and these tests from source needs more than the
# terminal's heap; the terminal loads them precompiled (docs/drivers.md has the heap figures).
# mpy-heap: 200K
import gc

from fakes_ui import FakeI2C, Recorder
from fonts import font16
from mptest import expect_error

from board.simbus import I2C_WRITE, RESET_LINE, SPI_WRITE, EmulatedSPI
from drivers.lcd import CENTER, RIGHT, DisplayError
from drivers.ssd1306 import SSD1306
from drivers.st7567 import ST7567

# Glyphs as GNU Unifont's .hex file has them (one row per byte or pair of bytes, leftmost
# pixel in the top bit): the font module must hold exactly these pictures.
HEX_A = "0000000018242442427E424242420000"  # U+0041 A
HEX_XIAO = "0040224811481150804043F84A080A0813F81208E20823F82208220822280210"  # U+6D88 消


def st7567(**options):
    link = Recorder()
    spi = EmulatedSPI(link)
    display = ST7567(spi, cs=spi.cs, dc=spi.dc, rst=spi.rst, **options)
    return display, link


def selected(records):
    # The SPI writes the chip takes (CS low) as (dc, bytes); RST changes as ("rst", level).
    out = []
    for kind, tag, payload in records:
        if kind == RESET_LINE:
            out.append(("rst", tag))
        elif kind == SPI_WRITE and not tag & 2:
            out.append((tag & 1, payload))
    return out


def pixel(display, x, y):
    return display.framebuf.pixel(x, y)


def hex_pixel(hexglyph, x, y):
    width = len(hexglyph) // 4
    step = width // 4
    row = int(hexglyph[y * step : (y + 1) * step], 16)
    return (row >> (width - 1 - x)) & 1


def glyph_matches(display, hexglyph, x0, y0):
    width = len(hexglyph) // 4
    for y in range(16):
        for x in range(width):
            if pixel(display, x0 + x, y0 + y) != hex_pixel(hexglyph, x, y):
                return False
    return True


def test_st7567_init_bytes_exact():
    display, link = st7567()
    writes = selected(link.records())
    pages = [(0, bytes((0xB0 | page, 0x10, 0x00))) for page in range(8)]  # page address, column 0
    expected = [
        ("rst", 0),
        ("rst", 1),
        (0, b"\xe2"),  # soft reset
        (0, b"\xa2\xa0\xc8\x40"),  # bias 1/9, segments normal, COM reversed, start line 0
        (0, b"\x2c"),  # booster
        (0, b"\x2e"),  # regulator
        (0, b"\x2f"),  # follower
        (0, b"\x23\x81\x28\xa6\xa4"),  # ratio 3, volume 0x28, normal, pixels from RAM
    ]
    for page in pages:
        expected.append(page)
        expected.append((1, bytes(128)))  # the RAM cleared
    expected.append((0, b"\xaf"))  # display on
    assert writes == expected, writes


def test_st7567_options_rotate_bias_contrast():
    display, link = st7567(rotate=True, bias=7, ratio=5, contrast=0x10)
    writes = selected(link.records())
    assert writes[3] == (0, b"\xa3\xa1\xc0\x40")
    assert writes[7] == (0, b"\x25\x81\x10\xa6\xa4")
    assert writes[8] == (0, b"\xb0\x10\x04")  # upside down: the glass shows RAM columns 4-131
    link.clear()
    display.contrast(63)
    display.power(False)
    display.invert(True)
    assert selected(link.records()) == [(0, b"\x81\x3f"), (0, b"\xae"), (0, b"\xa7")]
    expect_error(ValueError, ["0-63"], display.contrast, 64)
    expect_error(ValueError, ["bias"], st7567, bias=8)


def test_st7567_show_writes_the_frame_buffer_page_by_page():
    display, link = st7567()
    display.framebuf.pixel(0, 0, 1)  # page 0, column 0, bit 0
    display.framebuf.pixel(127, 63, 1)  # page 7, column 127, bit 7
    link.clear()
    display.show()
    writes = selected(link.records())
    assert len(writes) == 16
    assert writes[1] == (1, b"\x01" + bytes(127))
    assert writes[14] == (0, b"\xb7\x10\x00")
    assert writes[15] == (1, bytes(127) + b"\x80")


def test_show_allocates_nothing():
    display, _ = st7567()

    class Sink:
        def write(self, buf):
            return len(buf)

    display._spi = EmulatedSPI(Sink())
    display.show()
    gc.collect()
    before = gc.mem_alloc()
    display.show()
    display.show()
    assert gc.mem_alloc() == before


def test_ssd1306_init_bytes_exact():
    i2c = FakeI2C()
    SSD1306(i2c)
    assert i2c.writes == [
        (
            0x3C,
            b"\x00"  # control byte: commands
            b"\xae\x20\x00\x40\xa1\xa8\x3f\xc8\xd3\x00\xda\x12"
            b"\xd5\x80\xd9\xf1\xdb\x30\x81\xff\xa4\xa6\x8d\x14",
        ),
        (0x3C, b"\x00\x21\x00\x7f\x22\x00\x07"),  # columns 0-127, pages 0-7
        (0x3C, b"\x40" + bytes(1024)),  # control byte: data; the RAM cleared
        (0x3C, b"\x00\xaf"),  # display on
    ]


def test_ssd1306_options_and_commands():
    i2c = FakeI2C(present=(0x3D,))
    display = SSD1306(i2c, addr=0x3D, contrast=0x7F, external_vcc=True, rotate=True)
    init = i2c.writes[0][1]
    assert init[5] == 0xA0 and init[8] == 0xC0  # rotated
    assert init[16] == 0x22 and init[20] == 0x7F and init[24] == 0x10  # external VCC
    i2c.writes = []
    display.contrast(0)
    display.power(False)
    assert i2c.writes == [(0x3D, b"\x00\x81\x00"), (0x3D, b"\x00\xae")]


def test_ssd1306_that_does_not_answer_is_a_display_error():
    expect_error(DisplayError, ["SSD1306", "0x3C"], SSD1306, FakeI2C(present=()))


def test_ascii_glyph_is_unifonts():
    display, _ = st7567()
    assert display.text(0, "A") == 8
    assert glyph_matches(display, HEX_A, 0, 0)
    # In the page layout: the 8 top bytes then the 8 bottom bytes of the font's glyph.
    glyph = font16.NARROW_GLYPHS[(0x41 - 0x20) * 16 :][:16]
    assert display.buffer[0:8] == glyph[:8]
    assert display.buffer[128:136] == glyph[8:]


def test_chinese_glyph_is_unifonts():
    display, _ = st7567()
    assert display.text(1, "消") == 16
    assert glyph_matches(display, HEX_XIAO, 0, 16)


def test_mixed_line_places_each_character():
    display, _ = st7567()
    assert display.text(1, "消费 0.01") == 2 * 16 + 5 * 8
    assert glyph_matches(display, HEX_XIAO, 0, 16)
    assert glyph_matches(display, HEX_A, 0, 0) is False  # line 0 untouched: blank
    reference, _ = st7567()
    for i, char in enumerate("0.01"):
        reference.text(0, char)
        for y in range(16):
            for x in range(8):
                assert pixel(display, 40 + 8 * i + x, 16 + y) == pixel(reference, x, y)
    for y in range(16):  # the space is blank
        for x in range(32, 40):
            assert not pixel(display, x, 16 + y)


def test_inverse_line_is_the_normal_line_inverted():
    normal, _ = st7567()
    inverse, _ = st7567()
    normal.text(2, "1 消费")
    inverse.text(2, "1 消费", inverse=True)
    for i in range(512, 768):  # pages 4 and 5: text line 2
        assert inverse.buffer[i] == normal.buffer[i] ^ 0xFF
    assert inverse.buffer[:512] == bytes(512) and inverse.buffer[768:] == bytes(256)


def test_alignment():
    display, _ = st7567()
    display.text(0, "AB", align=RIGHT)
    assert glyph_matches(display, HEX_A, 112, 0)
    display.text(0, "A", align=CENTER)
    assert glyph_matches(display, HEX_A, 60, 0)
    assert display.width("消费 0.01") == 72


def test_text_replaces_the_line_and_clear_false_keeps_it():
    display, _ = st7567()
    display.text(0, "消消消消消消消消")
    display.text(0, "A")
    assert glyph_matches(display, HEX_A, 0, 0)
    assert display.buffer[8:128] == bytes(120)
    display.text(0, "A", align=RIGHT, clear=False)
    assert glyph_matches(display, HEX_A, 0, 0) and glyph_matches(display, HEX_A, 120, 0)


def test_unknown_characters_are_boxes_never_errors():
    display, _ = st7567()
    assert display.text(0, "\u2603") == 16  # a snowman: not in the font, a 16-wide box
    assert pixel(display, 1, 2) and pixel(display, 14, 13)  # corners of the box
    assert not pixel(display, 7, 7) and not pixel(display, 0, 0)
    assert display.text(1, "\x01") == 8  # a control character: an 8-wide box
    # Malformed UTF-8 (bytes are taken as UTF-8): one box per bad sequence, then text again.
    assert display.text(2, b"\xff\xe6\xb6A") == 16 + 16 + 8
    assert glyph_matches(display, HEX_A, 32, 32)


def test_long_text_is_cut_at_the_edge():
    display, _ = st7567()
    assert display.text(0, "消" * 10) == 160
    assert glyph_matches(display, HEX_XIAO, 112, 0)
    assert display.buffer[256:] == bytes(768)  # nothing spilled into the next line
    assert display.text(3, "A" * 20) == 160


def test_paragraph_wraps_chinese_anywhere_and_english_at_spaces():
    display, _ = st7567()
    assert display.paragraph(0, "操作有误或超出交易允许天数") == 2  # 13 characters: 8 + 5
    line0 = display.width("操作有误或超出交")
    assert line0 == 128
    reference, _ = st7567()
    reference.text(0, "操作有误或超出交")
    reference.text(1, "易允许天数")
    assert display.buffer == reference.buffer
    display.clear()
    assert display.paragraph(1, "Insufficient funds: use another card") == 3
    reference.clear()
    reference.text(1, "Insufficient")
    reference.text(2, "funds: use")
    reference.text(3, "another card")
    assert display.buffer == reference.buffer
    assert display.paragraph(3, "one\ntwo") == 1  # no room for the second line


def test_stars_echo_a_pin_without_its_digits():
    display, _ = st7567()
    assert display.stars(2, 4) == 32
    reference, _ = st7567()
    reference.text(2, "****", align=CENTER)
    assert display.buffer == reference.buffer


def test_text_allocation_does_not_grow_with_the_text():
    display, _ = st7567()
    short = "消"
    long = "消费撤销退货结算签到" * 2
    display.text(0, short)
    gc.collect()
    before = gc.mem_alloc()
    display.text(0, short)
    one = gc.mem_alloc() - before
    gc.collect()
    before = gc.mem_alloc()
    display.text(0, long)
    display.text(1, long, inverse=True, align=CENTER)
    assert gc.mem_alloc() - before <= 2 * one


def test_bad_line_is_refused():
    display, _ = st7567()
    expect_error(ValueError, ["0-3"], display.text, 4, "x")
    expect_error(ValueError, ["0-3"], display.paragraph, -1, "x")


def test_i2c_records_carry_the_transactions():
    # The emulated I2C bus (board.simbus) the virtual terminal's SSD1306 uses.
    from board.simbus import EmulatedI2C

    link = Recorder()
    SSD1306(EmulatedI2C(link))
    records = link.records()
    assert [(kind, addr) for kind, addr, _ in records] == [(I2C_WRITE, 0x3C)] * 4
    assert records[2][2] == b"\x40" + bytes(1024)
