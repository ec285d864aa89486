"""Which children a message names: first names (typos allowed), "les deux", "tous mes enfants"."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from dialogs.understanding.filler import FILLER
from dialogs.understanding.frame import ChildInfo
from dialogs.understanding.text import Token, fold, phrase_stems

_COUNT = r"(?:deux|trois|quatre|2|3|4|two|three|four)"
ALL_CHILDREN = re.compile(
    rf"(?<![\w-])(?:(?:tous|toutes) (?:les|mes) (?:{_COUNT} )?(?:enfants|gamins|petits)"
    rf"|(?:tous|toutes) (?:les|mes) {_COUNT}|(?:les|mes|des) {_COUNT} (?:enfants|gamins|petits)"
    r"|les (?:deux|trois|quatre)(?![,/])|(?:mes|des|les) (?:enfants|gamins|filles|fils|petits)"
    rf"|(?:all|both) (?:of )?(?:my |the )?(?:{_COUNT} )?(?:kids|children|girls|boys)"
    rf"|(?:all|both) (?:of )?them|all {_COUNT}|both"
    rf"|my (?:{_COUNT} )?(?:kids|children)|the (?:{_COUNT} )?(?:kids|children)|everyone"
    r"|tout le monde)"
    r"(?![\w-])(?! (?:prochaine?s|premiers|derniers|semaines|jours|mois|lundis|mardis|mercredis"
    r"|jeudis|vendredis|samedis|et|ou|,))"
)
# After these words a capitalised word is a child's name ("inscris Tom", "pour Tom").
_NAME_AFTER = re.compile(
    r"\b(?:inscris|inscrire|inscrivez|reserve|réserve|réserver|reserver|book|pour|for|enrol"
    r"|enroll|annule|cancel|de|et|and)\s+([A-ZÀ-Ý][a-zà-ÿ'-]{2,})"
)
NAME_CUTOFF = 85


@dataclass
class FoundChildren:
    ids: list[int] = field(default_factory=list)
    all_children: bool = False
    spans: list[tuple[int, int]] = field(default_factory=list)  # in the original text
    folded_spans: list[tuple[int, int]] = field(default_factory=list)  # in the folded text


def find_children(
    words: Sequence[Token], folded: str, children: Sequence[ChildInfo], original: str = ""
) -> FoundChildren:
    found = FoundChildren()
    for match in ALL_CHILDREN.finditer(folded):
        found.all_children = True
        found.folded_spans.append(match.span())
    for child in children:
        name = phrase_stems(child.name)
        if not name:
            continue
        for start in range(len(words) - len(name) + 1):
            window = tuple(word.text for word in words[start : start + len(name)])
            exact = window == tuple(phrase_stems(child.name)) or window == tuple(
                w for w in _plain_words(child.name)
            )
            close = (
                len(name) == 1
                and len(window[0]) >= 4
                and fuzz.ratio(window[0], _plain_words(child.name)[0]) >= NAME_CUTOFF
            )
            if exact or close:
                if child.id not in found.ids:
                    found.ids.append(child.id)
                found.spans.append((words[start].start, words[start + len(name) - 1].end))
    return found


def _plain_words(name: str) -> list[str]:

    return re.findall(r"[a-z0-9]+", fold(name))


def unknown_name(
    text: str, children: Sequence[ChildInfo], used: Sequence[tuple[int, int]]
) -> str | None:
    """A capitalised first name after "inscris"/"pour"/"book" that no rule understood and
    that is no child of ours."""
    from dialogs.understanding.text import fold

    names = [fold(child.name) for child in children]
    for match in _NAME_AFTER.finditer(text):
        start, end = match.span(1)
        folded = fold(match[1])
        if any(a <= start and end <= b for a, b in used) or folded in FILLER:
            continue
        if any(fuzz.ratio(folded, known) >= NAME_CUTOFF for known in names):
            continue
        return match[1]
    return None
