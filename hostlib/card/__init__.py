"""Test cards for the virtual terminal: personalised PBOC 3.0 cards that answer APDUs, and the
keys and certificates of a test PBOC card.

    from hostlib.card import load_card, list_cards
    card = load_card("pboc-debit")      # a built-in card by name, or a card file's path
    card.atr, card.contactless, card.track2
    card.apdu(bytes.fromhex("00A404000E315041592E5359532E444446303100"))
    card.reset()
    list_cards()                        # [(name, one-line description), ...]

    from hostlib.card import issuer_keys
    issuer_keys(pan, psn)               # the card's ICC master keys from the TEST issuer

docs/cards.md describes the cards, the card file, the commands and the key derivation.
"""

from __future__ import annotations

import os

from hostlib.card.issuer import issuer_keys, issuer_master_keys
from hostlib.card.pboc import Card
from hostlib.card.profiles import CardFileError, builtin, list_cards, read_card_file


def load_card(name_or_path: str | os.PathLike) -> Card:
    """A fresh card: a built-in one by name (list_cards()), or one from a TOML card file.
    CardFileError says what is wrong with an unknown name or a bad file."""
    text = os.fspath(name_or_path)
    if text.endswith(".toml") or os.sep in text or os.path.exists(text):
        return Card(read_card_file(text))
    return Card(builtin(text))


__all__ = [
    "Card",
    "CardFileError",
    "issuer_keys",
    "issuer_master_keys",
    "list_cards",
    "load_card",
]
