"""Text folding shared by every label matcher: accents, case, apostrophes and punctuation do not
matter."""

from __future__ import annotations

import re
import unicodedata

_LETTER_MAP = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
                             "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i"})
_APOSTROPHES = re.compile(r"['’ʻ`´]")
_CAMEL = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z]{2})|(?<=[a-z])(?=[A-Z])")
# Parenthesised parts of a credit or title: "(arr. Smith)", "(Reel)".
PARENTHESES = re.compile(r"\(([^()]*)\)")


def fold(text: str, split_camel: bool = False) -> str:
    """Lower-case ASCII with accents stripped and apostrophes dropped ("Dvořák" -> "dvorak");
    `split_camel` also splits run-together names at their capitals ("W.AMozart", "essenFolksong")."""
    text = _APOSTROPHES.sub("", text.translate(_LETTER_MAP))
    if split_camel:
        text = _CAMEL.sub(" ", text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def fold_joined(text: str) -> str:
    """Folded text with hyphen joins removed ("Nord - Deutschland" -> "norddeutschland"); a dash
    between spaces ("Peep O' Day -- Reel") is no join."""
    return re.sub(r"\s+", " ", re.sub(r"(?<=\w)\s*-\s*(?=\w)", "", fold(text))).strip()
