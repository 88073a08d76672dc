"""The screens' words (device/app/ui/text.py): every one fits a line of the 128-dot display
in both languages (16 columns; a Chinese character takes two), so none is cut off on the
glass."""

from app.ui import text


def columns(words: str) -> int:
    return sum(2 if ord(c) > 0x7F else 1 for c in words)


def test_every_word_fits_one_line_in_both_languages():
    pairs = {name: value for name, value in vars(text).items() if name.isupper()}
    assert len(pairs) > 50
    for name, pair in pairs.items():
        assert isinstance(pair, tuple) and len(pair) == 2, name
        chinese, english = pair
        assert chinese and english, name
        assert columns(chinese) <= 16, (name, chinese)
        assert columns(english) <= 16 and english.isascii(), (name, english)
