"""The host's glyph source (hostlib/glyphs.py): the terminal's display font read on CPython,
with GNU Unifont behind it for what the subset lacks.

The expected bitmaps are GNU Unifont 15.0.01's own .hex lines, not the generated module.
"""

from pathlib import Path

from hostlib import glyphs
from hostlib.glyphs import Font

# unifont.hex lines: 消 (wide), 0 (narrow), and 购, which the terminal's subset does not carry.
UNIFONT_LINES = {
    "消": "0040224811481150804043F84A080A0813F81208E20823F82208220822280210",
    "0": "00000000182442464A52624224180000",
    "购": "00807C80448054FC5504550456445444548454A4551411F42814240444288010",
}
CHARSET = Path(__file__).resolve().parents[1] / "device" / "ui" / "charset.txt"


def hex_rows(bits):
    width = len(bits) // 4
    step = width // 4
    return width, [
        [int(b) for b in bin(int(bits[y * step : (y + 1) * step], 16))[2:].zfill(width)]
        for y in range(16)
    ]


def pixels(found):
    width, rows = found
    return width, [[(row >> (width - 1 - x)) & 1 for x in range(width)] for row in rows]


def test_display_font_glyphs_are_unifonts():
    assert pixels(glyphs.font16()["消"]) == hex_rows(UNIFONT_LINES["消"])
    assert pixels(glyphs.font16()["0"]) == hex_rows(UNIFONT_LINES["0"])


def test_every_character_the_screens_use_has_a_glyph():
    subset_only = Font(fallback=None)
    lines = CHARSET.read_text(encoding="utf-8").splitlines()
    wanted = {c for line in lines if not line.startswith("#") for c in line if not c.isspace()}
    assert wanted and not [c for c in wanted if subset_only.glyph(c) is None]


def test_unifont_fills_in_what_the_subset_lacks(tmp_path):
    hex_file = tmp_path / "unifont.hex"
    hex_file.write_text("".join("%04X:%s\n" % (ord(c), bits) for c, bits in UNIFONT_LINES.items()))
    assert Font(fallback=None).glyph("购") is None
    found = Font(fallback=hex_file).glyph("购")
    assert found is not None and pixels(found) == hex_rows(UNIFONT_LINES["购"])
    # A missing fallback file is the subset alone, not an error.
    assert Font(fallback=tmp_path / "absent.hex").glyph("购") is None
    assert Font(fallback=hex_file).glyph("\U0001f4b3") is None
