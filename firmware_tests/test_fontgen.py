"""The display font: the generator's conversion of Unifont's .hex glyphs, and the checked-in
font module against the character list and the device's own text. Needs no font package;
with Debian's `unifont` installed, regenerating must give the checked-in file byte for byte.
"""

import importlib.util

import pytest

from tools import fontgen

# Unifont's 'A' (8x16) and 消 (16x16), as in unifont.hex.
HEX_A = "0000000018242442427E424242420000"
HEX_XIAO = "0040224811481150804043F84A080A0813F81208E20823F82208220822280210"


def load(path):
    spec = importlib.util.spec_from_file_location("generated_font", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pixels(bits):
    width = len(bits) // 4
    step = width // 4
    return [
        [(int(bits[y * step : (y + 1) * step], 16) >> (width - 1 - x)) & 1 for x in range(width)]
        for y in range(16)
    ]


def test_vlsb_is_the_display_page_layout():
    for bits in (HEX_A, HEX_XIAO):
        glyph = fontgen.vlsb(bits)
        width = len(glyph) // 2
        for y, row in enumerate(pixels(bits)):
            page, bit = divmod(y, 8)
            assert [(glyph[page * width + x] >> bit) & 1 for x in range(width)] == row
    # 'A': column 1 is the left leg, rows 7-13 (top byte bit 7, bottom byte bits 0-5).
    assert fontgen.vlsb(HEX_A)[1] == 0x80 and fontgen.vlsb(HEX_A)[9] == 0x3F


def test_generated_module_from_a_small_hex_file(tmp_path):
    hexfile = tmp_path / "font.hex"
    lines = ["%04X:%s" % (c, "00" * 16) for c in range(0x20, 0x7F) if c != 0x41]
    lines += ["0041:" + HEX_A, "6D88:" + HEX_XIAO, "4E00:" + "00" * 32]
    hexfile.write_text("\n".join(lines) + "\n")
    charset = tmp_path / "charset.txt"
    charset.write_text("# comment 一 is not taken\n消 A\n")
    text = fontgen.generate(hexfile, charset, source="test")
    out = tmp_path / "font16.py"
    out.write_text(text)
    font = load(out)
    assert (font.NARROW_COUNT, font.WIDE_COUNT) == (95, 1)
    assert font.WIDE_INDEX == b"\x6d\x88"
    assert font.WIDE_GLYPHS == fontgen.vlsb(HEX_XIAO)
    assert font.NARROW_GLYPHS[(0x41 - 0x20) * 16 :][:16] == fontgen.vlsb(HEX_A)
    assert text.count("# U+6D88 消") == 1


def test_missing_or_bad_characters_are_named(tmp_path):
    hexfile = tmp_path / "font.hex"
    hexfile.write_text("0041:%s\n" % HEX_A)
    charset = tmp_path / "charset.txt"
    charset.write_text("消\n")
    with pytest.raises(fontgen.FontError, match="U\\+6D88 消"):
        fontgen.generate(hexfile, charset)
    charset.write_text("\U0001f600\n")
    with pytest.raises(fontgen.FontError, match="Basic Multilingual Plane"):
        fontgen.read_charset(charset)


def test_font_module_holds_every_character_of_the_charset():
    from fonts import font16

    def codes(index):
        return {int.from_bytes(index[i : i + 2], "big") for i in range(0, len(index), 2)}

    narrow, wide = codes(font16.NARROW_INDEX), codes(font16.WIDE_INDEX)
    wanted = {ord(c) for c in fontgen.read_charset(fontgen.CHARSET)}
    assert narrow | wide == wanted
    assert len(font16.NARROW_GLYPHS) == 16 * len(narrow) == 16 * font16.NARROW_COUNT
    assert len(font16.WIDE_GLYPHS) == 32 * len(wide) == 32 * font16.WIDE_COUNT
    assert len(wanted) >= 95 + 200  # ASCII and at least 200 POS characters


def test_every_character_the_device_code_shows_is_in_the_charset():
    # A message added to device/ in a character the font lacks would draw as a box.
    missing = fontgen.used_characters() - set(fontgen.read_charset(fontgen.CHARSET))
    assert not missing, "add to device/ui/charset.txt and run python -m tools.fontgen: %s" % (
        "".join(sorted(missing))
    )


@pytest.mark.skipif(
    not fontgen.UNIFONT_HEX.exists(),
    reason="GNU Unifont not installed: apt-get install unifont (.ci/run does)",
)
def test_checked_in_font_is_what_the_generator_makes():
    assert fontgen.generate(fontgen.UNIFONT_HEX, fontgen.CHARSET) == fontgen.OUTPUT.read_text(
        encoding="utf-8"
    )
