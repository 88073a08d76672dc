"""The screens' words (device/app/ui/text.py): names, numbers and the lines of the packed
table agree, and every word fits a line of the 128-dot display in both languages (16
columns; a Chinese character takes two), so none is cut off on the glass."""

import re
from pathlib import Path

from app.ui import text

SOURCE = Path(text.__file__).read_text()


def columns(words: str) -> int:
    return sum(2 if ord(c) > 0x7F else 1 for c in words)


def test_names_numbers_and_lines_agree():
    names = re.findall(r"^([A-Z_]+) = const\((\d+)\)$", SOURCE, re.M)
    assert [int(number) for _, number in names] == list(range(len(names)))
    marked = re.findall(r'^    "\|[^"]*"  # ([A-Z_]+)$', SOURCE, re.M)
    assert marked == [name for name, _ in names]
    assert text._WORDS.count("|") == 2 * len(names) + 1
    assert len(names) > 80


def test_every_word_fits_one_line_in_both_languages():
    for name, value in vars(text).items():
        if not name.isupper() or name.startswith("_"):
            continue
        chinese, english = text.pair(value)
        assert chinese and english, name
        assert columns(chinese) <= 16, (name, chinese)
        assert columns(english) <= 16 and english.isascii(), (name, english)
    assert text.pair(text.SALE) == ("消费", "Sale")
    assert text.word(text.TRACE, True) == "Trace "  # a space at the end is kept
    assert text.phrase("CUP ", text.SIGNED_ON) == ("CUP 已签到", "CUP signed on")


def test_the_flows_own_words_fit_one_line_and_their_menu_items_with_a_number():
    # app.ui.payments and app.ui.batch keep their words in a table of their own; a menu item
    # has its number and a space before it on the line.
    from app.ui import batch, payments

    items = {payments: range(payments._PREAUTH, payments._COMPLETION_VOID + 1)}
    items[batch] = range(batch._LAST, batch._LAST_SETTLEMENT + 1)
    for module in (payments, batch):
        words = module._WORDS.split("|")[1:-1]
        assert len(words) % 2 == 0 and words
        for i, word in enumerate(words):
            width = 14 if i // 2 in items[module] else 16
            assert columns(word) <= width, (module.__name__, word)
            assert i % 2 == 0 or word.isascii(), (module.__name__, word)
