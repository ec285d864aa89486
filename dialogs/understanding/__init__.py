"""Understanding: a pure function from a parent's message to a request frame.

No database and no I/O: the household's children and the structure's catalogue come in as
plain values, so that the whole corpus (tests/corpus/) runs in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime

from booking import rules
from dialogs.dates import AmbiguousDate, DateSelection, InvalidDate, read_dates
from dialogs.understanding.activities import (
    age_ranges,
    find_activities,
    score_activities,
)
from dialogs.understanding.children import find_children, unknown_name
from dialogs.understanding.filler import DATE_HINTS, FILLER
from dialogs.understanding.frame import ActivityInfo, Catalogue, ChildInfo, Frame
from dialogs.understanding.intents import find_intent, find_modifier, intent_of
from dialogs.understanding.shorthand import expand
from dialogs.understanding.text import Token, aligned, fold, tokens

__all__ = [
    "ActivityInfo",
    "Catalogue",
    "ChildInfo",
    "Frame",
    "fold",
    "intent_of",
    "understand",
]

EMPTY_CATALOGUE = Catalogue()
_SOON = {"fr": "les 8 prochaines semaines", "en": "the next 8 weeks"}
_AGE = re.compile(r"(?<![\d-])(\d{1,2})[\s-]*(?:ans|an|years?[\s-]+olds?|years?|yo|y o)(?![\w-])")
# "tout" alone is every booking the rest names ("annule tout pour Paolo"); "tout le mois",
# "toute la semaine", "all next week", "all my kids" are periods and children, not this.
_EVERYTHING = re.compile(
    r"(?<![\w-])(?:tout(?! (?:le|la|les|l|de|du|ce|cet|cette|mon|ma|mes)\b)"
    r"|toutes? (?:les|ses|mes) reservations|everything"
    r"|all (?:of )?(?:the |my |\w+ s |\w+'s )?(?:bookings|reservations)"
    r"|all of them|all(?! (?:my|the|of|next|this|week|month|day|days|kids|children|three|two"
    r"|\d))(?! \w+ (?:kids|children)))(?![\w-])"
)


def understand(
    text: str,
    *,
    now: datetime,
    locale: str,
    children: Sequence[ChildInfo] = (),
    catalogue: Catalogue = EMPTY_CATALOGUE,
) -> Frame:
    """Read one message: intent, children, activities, dates, and what could not be placed."""
    text = expand(text[:2000])
    source = aligned(text)
    folded = source.folded
    words = tokens(source)
    used: list[tuple[int, int]] = []  # spans of the original text that something understood

    def use(spans: Sequence[tuple[int, int]]) -> None:
        used.extend(source.original_span(*span) for span in spans)

    intent, intent_spans = find_intent(folded)
    use(intent_spans)
    modifier, modifier_spans = find_modifier(folded)
    use(modifier_spans)
    everything = [m.span() for m in _EVERYTHING.finditer(folded)]
    use(everything)

    kids = find_children(words, folded, children)
    use(kids.folded_spans)
    used.extend(kids.spans)

    activities = catalogue.activities
    matches, age_spans = find_activities(words, folded, activities)
    matches = _yield_to_dates(matches, words, text, now, locale, catalogue)
    activity_spans = [(words[m.start].start, words[m.end - 1].end) for m in matches]
    used.extend(activity_spans)
    use(age_spans)
    scores = score_activities(matches, age_ranges(folded), activities)

    age_match = _AGE.search(folded)
    age = int(age_match.group(1)) if age_match and not age_spans else None
    if age_match:
        use([age_match.span()])

    # Dates are read with the names of activities and children blanked out, so that
    # "mercredis loisirs" or "Léa" are never read as dates.
    blanked = _blank(text, activity_spans + [source.original_span(*s) for s in age_spans])
    reading_locale = "en" if locale.startswith("en") else "fr"
    reading = read_dates(
        blanked, now=now, locale=reading_locale, school_holidays=catalogue.school_holidays
    )
    if reading.result is None and not reading.consumed and not reading.unbounded:
        other = "fr" if reading_locale == "en" else "en"
        second = read_dates(
            blanked, now=now, locale=other, school_holidays=catalogue.school_holidays
        )
        if second.result is not None or second.consumed or second.unbounded:
            reading, reading_locale = second, other
    used.extend(reading.consumed)

    child_ids = tuple(kids.ids)
    if kids.all_children:
        # "tous mes enfants": the minors (a parent may be a participant of family sessions)
        child_ids = tuple(
            child.id for child in children if rules.age_on(child.birth_date, now.date()) < 18
        )
    dates = ambiguous = None
    if isinstance(reading.result, DateSelection):
        dates = reading.result.dates
    elif isinstance(reading.result, AmbiguousDate):
        ambiguous = reading.result
    invalid = tuple(reading.invalid)
    if isinstance(reading.result, InvalidDate) and reading.result.text not in invalid:
        invalid += (reading.result.text,)

    if (
        intent == "menu"
        and _only_greeting(folded, intent_spans)
        and (child_ids or scores or dates or ambiguous or invalid)
    ):
        intent = None  # "bonjour, cantine pour Léa demain": a greeting, not the menu
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    deciding = dates
    if deciding is None and reading.unbounded:
        # "tous les mercredis": the coming weeks' Wednesdays decide between look-alikes
        # (the Wednesday club has some, the summer centre none), the period is asked later.
        soon = read_dates(
            f"{blanked} {_SOON[reading_locale]}",
            now=now,
            locale=reading_locale,
            school_holidays=catalogue.school_holidays,
        )
        if isinstance(soon.result, DateSelection):
            deciding = soon.result.dates
    best = _decide(ranked, activities, children, child_ids, deciding, now.date())
    if kids.all_children and best:
        # "les deux à la cantine": the children of an age the activity takes
        by_id = {activity.id: activity for activity in activities}
        fitting = tuple(
            child.id
            for child in children
            if child.id in child_ids
            and any(by_id[a].accepts(child.birth_date, now.date()) for a in best)
        )
        child_ids = fitting or child_ids

    unknown = unknown_name(text, children, used) if not child_ids else None
    if unknown:
        used.append((text.index(unknown), text.index(unknown) + len(unknown)))
    unplaced = _unplaced(words, used, text)
    date_like = tuple(f for f in unplaced if _looks_like_date(f))
    return Frame(
        intent=intent,
        modifier=modifier,
        child_ids=child_ids,
        all_children=kids.all_children,
        unknown_child=unknown,
        activity_candidates=tuple(ranked),
        activity_ids=best,
        dates=dates,
        ambiguous_dates=ambiguous.candidates if ambiguous else (),
        ambiguous_text=ambiguous.text if ambiguous else "",
        invalid_dates=invalid,
        unbounded=reading.unbounded and dates is None,
        recurring_text=" ".join(blanked.split()) if reading.unbounded and dates is None else "",
        recurring_words=" ".join(text[a:b] for a, b in sorted(reading.consumed))
        if reading.unbounded and dates is None
        else "",
        everything=bool(everything),
        age=age,
        unplaced=unplaced,
        date_like_unplaced=date_like,
    )


def _yield_to_dates(matches, words, text, now, locale, catalogue):  # noqa: ANN001, ANN202
    """A name that is also a period ("vacances d'été", a town's alias of its summer centre)
    is read as dates when the message names its activity otherwise ("centre aéré pendant les
    vacances d'été"); alone, it stays the activity's name."""
    if not matches:
        return matches
    plain = read_dates(
        text,
        now=now,
        locale="en" if locale.startswith("en") else "fr",
        school_holidays=catalogue.school_holidays,
    )
    if not plain.consumed:
        return matches

    def in_dates(match) -> bool:  # noqa: ANN001
        start, end = words[match.start].start, words[match.end - 1].end
        return any(a <= start and end <= b for a, b in plain.consumed)

    others = [match for match in matches if not in_dates(match)]
    return others or matches


def _decide(
    ranked: list[tuple[int, int]],
    activities: tuple[ActivityInfo, ...],
    children: Sequence[ChildInfo],
    child_ids: tuple[int, ...],
    dates: tuple[date, ...] | None,
    today: date,
) -> tuple[int, ...]:
    """The best activities: those the named children's ages and the dates allow, when any
    do, and among them the best scores (several only when they tie)."""
    if not ranked:
        return ()
    by_id = {activity.id: activity for activity in activities}
    candidates = [(activity_id, score) for activity_id, score in ranked if activity_id in by_id]
    named = [child for child in children if child.id in child_ids]
    if named:
        fitting = [
            (activity_id, score)
            for activity_id, score in candidates
            if any(by_id[activity_id].accepts(child.birth_date, today) for child in named)
        ]
        candidates = fitting or candidates
    if dates:
        wanted = set(dates)
        on_days = [(a, s) for a, s in candidates if by_id[a].session_days & wanted]
        candidates = on_days or candidates
    top = candidates[0][1]
    # With two children of different ages the tie stays: each child gets the activity of it
    # that fits them ("Léa et Paolo aux mercredis loisirs"), in the conversation.
    return tuple(activity_id for activity_id, score in candidates if score == top)


_GREETINGS = {"bonjour", "bonsoir", "salut", "hello", "hi", "hey", "coucou"}


def _only_greeting(folded: str, spans: Sequence[tuple[int, int]]) -> bool:
    return all(
        folded[a:b].strip() in _GREETINGS
        for a, b in spans
        if folded[a:b].strip() in {"menu", "main menu", "home", "start", "/start", *_GREETINGS}
    ) and any(folded[a:b].strip() in _GREETINGS for a, b in spans)


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for index in range(start, min(end, len(chars))):
            chars[index] = " "
    return "".join(chars)


def _unplaced(
    words: Sequence[Token], used: Sequence[tuple[int, int]], text: str
) -> tuple[str, ...]:
    """Fragments of the message (as written) that no rule used and that are not filler."""
    fragments: list[str] = []
    run: list[Token] = []

    def close() -> None:
        if run:
            fragments.append(text[run[0].start : run[-1].end])
            run.clear()

    for word in words:
        inside = any(start <= word.start and word.end <= end for start, end in used)
        if inside:
            close()
        elif word.text in FILLER or word.stem in FILLER:
            if run:
                run.append(word)  # "le 3 ou le 5": kept inside a quoted fragment
        else:
            run.append(word)
    close()
    cleaned = []
    for fragment in fragments:
        # A fragment never ends on a filler word ("mardi prochain pour" -> "mardi prochain").
        pieces = fragment.split()
        while pieces and fold(pieces[-1]).strip(",.;:!?") in FILLER:
            pieces.pop()
        if pieces:
            cleaned.append(" ".join(pieces).strip(",.;:!? "))
    return tuple(f for f in cleaned if f)


def _looks_like_date(fragment: str) -> bool:
    folded = fold(fragment)
    return bool(re.search(r"\d", folded)) or any(
        re.search(rf"(?<![\w-]){hint}", folded) for hint in DATE_HINTS
    )
