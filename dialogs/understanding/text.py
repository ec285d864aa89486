"""Folding and tokens with their place in the original text, so that what is not understood
can be quoted as the parent wrote it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache


@cache
def _fold_char(char: str) -> str:
    if char in "’`´":
        return "'"
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def fold(text: str) -> str:
    """Lower case, without accents, apostrophes unified, spaces collapsed."""
    return re.sub(r"\s+", " ", "".join(map(_fold_char, text))).strip()


@dataclass(frozen=True)
class Token:
    text: str  # folded
    stem: str  # folded, singular ("mercredis" -> "mercredi")
    start: int  # in the original text
    end: int


_WORD = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A crude singular shared by French and English: enough to match "mercredis loisirs"
    with "mercredi loisir", applied alike to the text and to the catalogue's names."""
    if len(word) > 3 and word[-1] in "sx" and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    if len(word) > 4 and word.endswith("is") and not word.endswith("ois"):
        return word[:-1]  # "mercredis"
    return word


@dataclass(frozen=True)
class Aligned:
    """`text` folded character by character, with where each folded character came from."""

    text: str
    folded: str
    origin: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if start >= end:
            return (0, 0)
        return self.origin[start], self.origin[end - 1] + 1


def aligned(text: str) -> Aligned:
    folded_chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for piece in _fold_char(char):
            folded_chars.append(piece)
            origin.append(index)
    return Aligned(text, "".join(folded_chars), tuple(origin))


def tokens(text: Aligned) -> list[Token]:
    """The words of the text, folded, each with its span in the original text."""
    found = []
    for match in _WORD.finditer(text.folded):
        word = match.group(0)
        start, end = text.original_span(*match.span())
        found.append(Token(word, stem(word), start, end))
    return found


def phrase_stems(phrase: str) -> tuple[str, ...]:
    return tuple(stem(word) for word in _WORD.findall(fold(phrase)))
