"""Which activity a message names: its name, the town's aliases, category words, an age range,
with or without accents, singular or plural, and with typos (rapidfuzz)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from rapidfuzz import fuzz, process

from dialogs.understanding.frame import ActivityInfo
from dialogs.understanding.text import Token, phrase_stems, stem

EXACT = 100
CATEGORY_SCORE = 90  # a generic word ("centre de loisirs") is below a name or an alias
AGE_RANGE_SCORE = 95
FUZZY_CUTOFF = 86  # under it, a word is no activity: the parent is asked, never guessed for
FUZZY_MIN_LENGTH = 5  # shorter words must be written exactly ("ALSH", "EMS", "midi")

# Words that point at a whole category of activity, French and English.
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "restauration": (
        "cantine",
        "repas",
        "restauration",
        "restauration scolaire",
        "restaurant scolaire",
        "dejeuner",
        "canteen",
        "lunch",
        "meal",
        "school meal",
    ),
    "periscolaire": (
        "garderie",
        "periscolaire",
        "accueil periscolaire",
        "after school",
        "before school",
        "childcare",
    ),
    "alsh": ("centre de loisirs", "accueil de loisirs", "alsh", "leisure centre", "leisure center"),
    "ems": ("ecole des sports", "ecole municipale des sports", "ems", "sports school"),
    "sejour": ("sejour", "colonie", "colo", "stay", "camp"),
    "sport": ("sport en famille", "family sport"),
}

_WEEKDAYS = frozenset(
    {
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    }
)

# Small words dropped from names and messages alike before matching: "accueil du soir" is
# "accueil soir", "mercredis loisirs" is "mercredi loisir".
FUNCTION_WORDS = {
    "de",
    "du",
    "des",
    "la",
    "le",
    "les",
    "l",
    "d",
    "au",
    "aux",
    "a",
    "the",
    "of",
    "at",
    "in",
}

# Words of names that say nothing about which activity is meant, and weekday words, which
# belong to dates ("tous les mercredis") unless written with the rest of a name.
NAME_STOPWORDS = (
    _WEEKDAYS
    | FUNCTION_WORDS
    | {
        "accueil",
        "en",
        "et",
        "an",
        "and",
        "for",
        "ecole",
        "ete",
        "summer",
        "centre",
        "center",
        "club",
        "sport",
        "famille",
        "family",
        "matin",
        "soir",
        "morning",
        "evening",
    }
)

# "3-6 ans", "3-6", "6 à 12 ans", "6 to 12 years": an age group ("du 15 au 19" is no age).
_AGE_RANGE = re.compile(
    r"(?<![\d/])(\d{1,2})\s*-\s*(\d{1,2})(?![\d/])(?:\s*ans?\b|\s*years?\b)?"
    r"|(?<![\d/])(\d{1,2})\s+(?:a|to)\s+(\d{1,2})\s*(?:ans?|years?)\b"
)


@dataclass(frozen=True)
class Match:
    activity_id: int
    score: int
    start: int  # token index
    end: int


@dataclass(frozen=True)
class _Phrase:
    stems: tuple[str, ...]
    joined: str
    activity_id: int
    score: int


def _content(stems: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(word for word in stems if word not in FUNCTION_WORDS)


@cache
def _phrases(activities: tuple[ActivityInfo, ...]) -> tuple[_Phrase, ...]:
    """Every way the catalogue lets a parent name each activity, as stemmed word sequences."""
    phrases: dict[tuple[tuple[str, ...], int], int] = {}

    def add(text: str, activity_id: int, score: int) -> None:
        stems = _content(phrase_stems(text))
        if not stems or all(is_weekday_word(word) for word in stems):
            return  # "mercredis" alone is a date, not a name
        key = (stems, activity_id)
        phrases[key] = max(phrases.get(key, 0), score)

    for activity in activities:
        add(activity.name, activity.id, EXACT)
        add(_AGE_RANGE.sub(" ", activity.name), activity.id, EXACT)
        for alias in activity.aliases:
            add(alias, activity.id, EXACT)
        for word in phrase_stems(activity.name):
            if len(word) > 3 and word not in NAME_STOPWORDS and not word.isdigit():
                add(word, activity.id, CATEGORY_SCORE)  # one distinctive word of the name
        for word in CATEGORY_WORDS.get(activity.category, ()):
            add(word, activity.id, CATEGORY_SCORE)
    return tuple(
        _Phrase(stems, " ".join(stems), activity_id, score)
        for (stems, activity_id), score in phrases.items()
    )


WORD_CUTOFF = 80  # one word of a several-word name, with a typo ("mercredi loisir", "centre aere")


def find_activities(
    words: Sequence[Token], folded: str, activities: tuple[ActivityInfo, ...]
) -> tuple[list[Match], list[tuple[int, int]]]:
    """Activity mentions (token ranges) and age-range spans (in `folded`) found in a message.

    A name is matched word by word: each word written as in the name, or close to it
    (rapidfuzz) when it is long enough; a word alone must be closer than a word in a phrase.
    """
    phrases = _phrases(activities)
    kept = [index for index, word in enumerate(words) if word.stem not in FUNCTION_WORDS]
    stems = [words[index].stem for index in kept]
    close = _close_words(tuple(stems), _vocabulary(phrases))
    near: dict[str, list[str]] = {}
    for written, wanted in close:
        near.setdefault(written, []).append(wanted)
    by_first = _by_first_word(phrases)
    matches: list[Match] = []
    for start, first_word in enumerate(stems):
        for first in (first_word, *near.get(first_word, ())):
            for phrase in by_first.get(first, ()):
                length = len(phrase.stems)
                window = stems[start : start + length]
                if len(window) < length:
                    continue
                if tuple(window) != phrase.stems and all(w in NAME_STOPWORDS for w in window):
                    continue  # "mercredi" alone is a date, "ecole" alone no activity
                ratios = []
                for written, wanted in zip(window, phrase.stems, strict=True):
                    ratio = 100 if written == wanted else close.get((written, wanted), 0)
                    if ratio < (FUZZY_CUTOFF if length == 1 else WORD_CUTOFF):
                        break
                    ratios.append(ratio)
                else:
                    typo = min(ratios) < 100
                    score = int(sum(ratios) / length * phrase.score / 100) - typo
                    last = kept[start + length - 1] + 1
                    matches.append(Match(phrase.activity_id, score, kept[start], last))
    age_spans = [m.span() for m in _AGE_RANGE.finditer(folded)]
    return _absorb(_longest(matches), words, phrases), age_spans


@cache
def _by_first_word(phrases: tuple[_Phrase, ...]) -> dict[str, tuple[_Phrase, ...]]:
    grouped: dict[str, list[_Phrase]] = {}
    for phrase in phrases:
        grouped.setdefault(phrase.stems[0], []).append(phrase)
    return {word: tuple(group) for word, group in grouped.items()}


@cache
def _vocabulary(phrases: tuple[_Phrase, ...]) -> tuple[str, ...]:
    return tuple(sorted({word for phrase in phrases for word in phrase.stems}))


def _close_words(stems: tuple[str, ...], vocabulary: tuple[str, ...]) -> dict[tuple[str, str], int]:
    """(written, name word) pairs that differ by a typo, with rapidfuzz's ratio."""
    close = {}
    for written in set(stems):
        if len(written) < FUZZY_MIN_LENGTH or written.isdigit():
            continue
        for word, ratio, _index in process.extract(
            written, vocabulary, scorer=fuzz.ratio, score_cutoff=WORD_CUTOFF, limit=None
        ):
            if len(word) >= FUZZY_MIN_LENGTH and word != written:
                close[(written, word)] = int(ratio)
    return close


def _longest(matches: list[Match]) -> list[Match]:
    """A mention inside a longer one is not a mention of its own: "garderie du soir" names the
    evening care, not every "garderie"."""
    return [
        match
        for match in matches
        if not any(
            other.start <= match.start
            and match.end <= other.end
            and (other.end - other.start) > (match.end - match.start)
            and other.score >= match.score
            for other in matches
        )
    ]


def age_ranges(folded: str) -> list[tuple[int, int]]:
    return [(int(m[1] or m[3]), int(m[2] or m[4])) for m in _AGE_RANGE.finditer(folded)]


def score_activities(
    matches: Sequence[Match],
    ranges: Sequence[tuple[int, int]],
    activities: tuple[ActivityInfo, ...],
) -> dict[int, int]:
    """Each activity's score: its best mention, plus an age range written in the message."""
    scores: dict[int, int] = {}
    for match in matches:
        scores[match.activity_id] = max(scores.get(match.activity_id, 0), match.score)
    for low, high in ranges:
        for activity in activities:
            if _range_fits(activity, low, high):
                if activity.id in scores:
                    scores[activity.id] += 10  # "mercredis loisirs 3-6 ans"
                else:
                    scores[activity.id] = AGE_RANGE_SCORE  # "plutôt le 3-6 ans"
    return scores


def _range_fits(activity: ActivityInfo, low: int, high: int) -> bool:
    written = {(int(a), int(b)) for a, b in re.findall(r"(\d+)\s*-\s*(\d+)", activity.name)}
    if (low, high) in written:
        return True
    return activity.min_age == low and activity.max_age is not None and activity.max_age - 1 == high


def is_weekday_word(word: str) -> bool:
    return word in _WEEKDAYS or stem(word) in _WEEKDAYS


@cache
def _own_words(phrases: tuple[_Phrase, ...]) -> dict[int, frozenset[str]]:
    """Each activity's words that may join a mention of it (not numbers, not weekdays)."""
    vocabulary: dict[int, set[str]] = {}
    for phrase in phrases:
        vocabulary.setdefault(phrase.activity_id, set()).update(
            word
            for word in phrase.stems
            if not word.isdigit() and word not in ("an", "year") and not is_weekday_word(word)
        )
    return {activity_id: frozenset(words) for activity_id, words in vocabulary.items()}


def _absorb(
    matches: list[Match], words: Sequence[Token], phrases: tuple[_Phrase, ...]
) -> list[Match]:
    """Words of an activity's own names next to a mention of it belong to the mention:
    "l'étude du soir", "seaside stay" (the alias is "stay at the seaside")."""
    vocabulary = _own_words(phrases)

    def joins(index: int, own: set[str]) -> bool:
        return words[index].stem in own or words[index].stem in FUNCTION_WORDS

    grown = []
    for match in matches:
        own = vocabulary.get(match.activity_id, frozenset())
        start, end = match.start, match.end
        while end < len(words) and joins(end, own):
            end += 1
        while end > match.end and words[end - 1].stem in FUNCTION_WORDS:
            end -= 1
        while start > 0 and joins(start - 1, own):
            start -= 1
        while start < match.start and words[start].stem in FUNCTION_WORDS:
            start += 1
        grown.append(Match(match.activity_id, match.score, start, end))
    return grown
