"""Natural-language date understanding for chat messages (French and English)."""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateparser.search import search_dates

from dialogs.date_words import VOCABULARIES, Vocabulary

__all__ = ["AmbiguousDate", "DateSelection", "parse_dates"]

PARIS = ZoneInfo("Europe/Paris")
MAX_TEXT_LENGTH = 2000  # a chat message; longer text is cut, never rejected
MAX_RANGE_DAYS = 400  # longer ranges are typos ("du 6/07/2027 au 10/07/2072")
FALLBACK_MAX_LENGTH = 300  # dateparser only looks at short messages
FALLBACK_HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class DateSelection:
    dates: tuple[date, ...]  # sorted, unique


@dataclass(frozen=True)
class AmbiguousDate:
    candidates: tuple[date, ...]  # the readings to ask the parent about
    text: str  # the fragment that was ambiguous


def parse_dates(text: str, *, now: datetime, locale: str) -> DateSelection | AmbiguousDate | None:
    """Find the days a chat message talks about. None when no date is found in the text.

    Every date is today or in the future: a day or month without a year is the next one
    ("mars" in November is next March), a range is taken when its last day is still to come
    (days already gone are dropped), explicit dates in the past are dropped.

    - "mercredi" / "on Wednesday" / "mercredi prochain" / "next Wednesday": the first
      Wednesday strictly after today; "ce mercredi" / "this Wednesday" may be today.
    - Weekdays next to a period filter it: "tous les mercredis de mars", "lundi et jeudi de
      la semaine prochaine". A recurring weekday without a period ("tous les mercredis")
      cannot be bounded and gives None, so the dialog asks for the period.
    - Weeks run Monday to Sunday; "dans 2 semaines" is the whole week containing today + 14.
    - "sauf ..." / "except ..." removes days: a bare day number ("sauf le 17") removes that
      day of every month of the selection, a weekday removes that weekday.
    - English numeric dates with two readings ("03/04") give AmbiguousDate, unless another
      numeric date of the message settles the order ("03/04 to 15/04"); French is day/month.
    """
    zone_now = now.astimezone(PARIS) if now.tzinfo is not None else now
    grammar = _grammar_for(locale)
    normalized = grammar.prepare(normalize(text[:MAX_TEXT_LENGTH]))
    main_text, exception_text = grammar.split_exception(normalized)
    parser = _Parser(grammar, zone_now.date(), normalized)
    main = parser.scan(main_text, exception=False)
    excluded = parser.scan(exception_text, exception=True)
    if parser.ambiguous is not None:
        return parser.ambiguous
    days = parser.resolve(main)
    if days is None:
        return None
    if not main.recognized:
        days = _dateparser_fallback(text, zone_now, grammar)
    days = {day for day in days if day >= zone_now.date() and not parser.excludes(excluded, day)}
    return DateSelection(tuple(sorted(days))) if days else None


def normalize(text: str) -> str:
    """Lower-case, strip accents, keep only letters, digits and date punctuation."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    lowered = stripped.lower()
    lowered = re.sub(r"[’'`´]", " ", lowered)
    lowered = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", lowered)
    lowered = re.sub(r"[^a-z0-9,/.:&\- ]", " ", lowered)
    return re.sub(r"\s+", " ", lowered).strip()


# --- Calendar helpers -------------------------------------------------------------------


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_day_month(day: int, month: int, today: date) -> date | None:
    """The first (day, month) from today on; 29 February waits for a leap year."""
    for year in range(today.year, today.year + 9):
        found = _safe_date(year, month, day)
        if found is not None and found >= today:
            return found
    return None


def _last_day_month(day: int, month: int, until: date) -> date | None:
    """The last (day, month) on or before `until`."""
    for year in range(until.year, until.year - 9, -1):
        found = _safe_date(year, month, day)
        if found is not None and found <= until:
            return found
    return None


def _next_month_day(day: int, today: date, weekday: int | None = None) -> date | None:
    """The next day numbered `day` ("le 17"), preferring one on `weekday` ("vendredi 13")."""
    candidates = []
    for offset in range(15):
        month_index = today.month - 1 + offset
        found = _safe_date(today.year + month_index // 12, month_index % 12 + 1, day)
        if found is not None and found >= today:
            candidates.append(found)
    if weekday is not None:
        for found in candidates:
            if found.weekday() == weekday:
                return found
    return candidates[0] if candidates else None


def _next_weekday(today: date, weekday: int, include_today: bool) -> date:
    delta = (weekday - today.weekday()) % 7
    if delta == 0 and not include_today:
        delta = 7
    return today + timedelta(days=delta)


def _days_between(first: date, last: date) -> set[date]:
    if last < first or (last - first).days > MAX_RANGE_DAYS:
        return set()
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


def _week_of(day: date) -> set[date]:
    monday = day - timedelta(days=day.weekday())
    return _days_between(monday, monday + timedelta(days=6))


def _whole_month(year: int, month: int) -> set[date]:
    last = calendar.monthrange(year, month)[1]
    return _days_between(date(year, month, 1), date(year, month, last))


def _add_months(year: int, month: int, count: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + count
    return index // 12, index % 12 + 1


def _weekday_run(first: int, last: int) -> set[int]:
    """Weekdays from `first` to `last`, wrapping over Sunday ("du vendredi au lundi")."""
    return {(first + n) % 7 for n in range((last - first) % 7 + 1)}


# --- What a message mentions ------------------------------------------------------------


@dataclass(frozen=True)
class _DaySpec:
    """A day as written: "le 17" has no month, "12 mars" no year."""

    day: int
    month: int | None = None
    year: int | None = None
    weekday: int | None = None

    def matches(self, candidate: date) -> bool:
        return (
            candidate.day == self.day
            and self.month in (None, candidate.month)
            and self.year in (None, candidate.year)
        )


@dataclass(frozen=True)
class _WeekdayRef:
    weekday: int
    include_today: bool = False
    extra_days: int = 0


@dataclass
class _Found:
    """Everything one part of a message mentions, before it is turned into days."""

    specs: list[_DaySpec] = field(default_factory=list)
    spans: set[date] = field(default_factory=set)  # months, weeks and ranges
    weekday_refs: list[_WeekdayRef] = field(default_factory=list)
    weekday_runs: list[tuple[int, int]] = field(default_factory=list)
    weekday_filter: set[int] = field(default_factory=set)
    recurring: bool = False
    recognized: bool = False

    def weekdays(self) -> set[int]:
        days = set(self.weekday_filter) | {ref.weekday for ref in self.weekday_refs}
        for first, last in self.weekday_runs:
            days |= _weekday_run(first, last)
        return days


# --- Grammar ----------------------------------------------------------------------------


def _alternation(words: Iterable[str]) -> str:
    ordered = sorted(words, key=len, reverse=True)
    return "(?:" + "|".join(re.escape(word).replace(r"\ ", r"\s+") for word in ordered) + ")"


@dataclass(frozen=True)
class _Blocks:
    """Regular-expression pieces shared by the patterns of one language."""

    month: str  # any month name, abbreviations included
    weekday: str  # a weekday, maybe plural
    day: str  # a day number, maybe with an ordinal suffix: "1er", "3rd"
    year: str
    numeric: str  # "12/03", "12/03/2027", "12.03.2027", "2027-03-12"
    article: str  # "le " / "the "
    weekday_prefix: str  # an optional "mercredi " in front of a day
    full: str  # a date with its month
    partial: str  # a day number without its month: "le 6" in "du 6 au 10 juillet"
    endpoint: str  # one end of a range
    number: str  # "2" or "deux", in group "n"
    days_list: str  # "3, 5 et 12", "le 3 et le 5"


class _Grammar:
    """The compiled patterns of one language (built once per locale)."""

    def __init__(self, words: Vocabulary, locale: str) -> None:
        self.words = words
        self.locale = locale
        self.month_names = {**words.months, **words.month_abbreviations}
        blocks = self._blocks(words)
        self.month_word = re.compile(rf"\b({_alternation(self.month_names)})\b")
        self.weekday_word = re.compile(rf"\b({_alternation(words.weekdays)})s?\b")
        self.year = re.compile(blocks.year)
        self.day = re.compile(blocks.day)
        self.numeric = re.compile(blocks.numeric)
        self.ordinal = re.compile(rf"\d(?:{words.ordinal_suffix})\b")
        self.articled = re.compile(rf"\b(?:{words.range_article})\b|\d(?:{words.ordinal_suffix})\b")
        self.exception = re.compile(rf"\b(?:{words.exception})\b")
        self.recurrence = re.compile(rf"\b(?:{words.recurrence.format(weekday=blocks.weekday)})")
        self.relative_days = [(re.compile(rf"^(?:{p})$"), n) for p, n in words.day_offsets]
        self.fallback_marker = re.compile(words.fallback_marker)
        day_words = _alternation(words.day_words)
        months = _alternation(self.month_names)
        self.day_word_then_month = re.compile(rf"\b({day_words})(?=\s+{words.day_of}{months}\b)")
        self.month_then_day_word = re.compile(
            rf"\b({months})\s+(?:{blocks.article})?({day_words})\b"
        )
        # Order matters: each pass consumes its matches, so the ones holding dates (ranges,
        # weeks) go before lists of days, which go before bare month and weekday names.
        passes = self._period_passes(words, blocks) + self._day_passes(words, blocks)
        passes += self._word_passes(words, blocks)
        self.passes = [(re.compile(pattern), kind) for pattern, kind in passes]

    @staticmethod
    def _blocks(words: Vocabulary) -> _Blocks:
        month = rf"{_alternation({**words.months, **words.month_abbreviations})}\b\.?"
        weekday = rf"{_alternation(words.weekdays)}s?\b"
        day = rf"(?<![\d/.:])(?:3[01]|[12]\d|0?[1-9])(?:{words.ordinal_suffix})?\b(?![/.:]\d)"
        year = r"(?<!\d)20\d\d(?!\d)"
        numeric = (
            r"(?<![\d/.:\-])(?:20\d\d-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}(?:/(?:20)?\d\d)?"
            r"|\d{1,2}[.\-]\d{1,2}[.\-](?:20)?\d\d)(?![\d/:]|[.\-]\d)"
        )
        article = rf"(?:{words.article})\s+"
        weekday_prefix = rf"(?:{weekday},?\s+)?"
        year_suffix = rf"(?:,?\s+{year})?"
        text_date = rf"{weekday_prefix}(?:{article})?{day}\s+{words.day_of}{month}{year_suffix}"
        if words.month_first:
            text_date += rf"|{weekday_prefix}{month}\s+(?:{article})?{day}{year_suffix}"
        full = rf"(?:{numeric}|{text_date})"
        partial = rf"(?:{weekday_prefix}(?:{article})?{day})"
        relative_day = "|".join(pattern for pattern, _ in words.day_offsets)
        return _Blocks(
            month=month,
            weekday=weekday,
            day=day,
            year=year,
            numeric=numeric,
            article=article,
            weekday_prefix=weekday_prefix,
            full=full,
            partial=partial,
            endpoint=rf"(?:{full}|{partial}|{relative_day}|{weekday})",
            number=rf"(?P<n>\d{{1,2}}|{_alternation(words.numbers)})",
            days_list=(
                rf"(?>{weekday_prefix}(?:{article})?{day}"
                rf"(?:{words.list_separator}{weekday_prefix}{day})*)"
            ),
        )

    @staticmethod
    def _period_passes(words: Vocabulary, b: _Blocks) -> list[tuple[str, str]]:
        """Ranges and weeks: "du 6 au 10 juillet", "la semaine du 6 juillet"."""
        range_to = rf"(?:\s+(?:{words.range_to})\s+|\s*-\s*)(?:{b.article})?"
        bare_to = rf"(?:\s+(?:{words.bare_range_to})\s+|\s*-\s*)(?:{b.article})?"
        between = rf"\b(?:{words.between})\s+(?P<a>{b.endpoint})\s+(?:{words.between_and})\s+"
        return [
            (
                rf"\b(?:{words.range_from})\s+(?P<a>{b.endpoint}){range_to}(?P<b>{b.endpoint})",
                "range",
            ),
            (rf"{between}(?:{b.article})?(?P<b>{b.endpoint})", "range"),
            (rf"(?P<a>{b.full}|{b.partial}){bare_to}(?P<b>{b.full}|{b.partial})", "bare_range"),
            (rf"\b(?:{words.until})\s+(?:{b.article})?(?P<b>{b.full}|{b.partial})", "until"),
            (rf"\b(?:{words.week_of})\s+(?:{b.article})?(?P<a>{b.full}|{b.partial})", "week_of"),
            (rf"\b(?:{words.this_weekend})\b", "weekend:0"),
            (rf"\b(?:{words.next_weekend})\b", "weekend:1"),
            *[(rf"\b(?:{p})\b", f"week_offset:{n}") for p, n in words.week_offsets],
            *[(rf"\b{p.format(n=b.number)}\b", "weeks_ahead") for p in words.weeks_ahead],
        ]

    @staticmethod
    def _day_passes(words: Vocabulary, b: _Blocks) -> list[tuple[str, str]]:
        """Days: "les 3, 5 et 12 mars", "March 3, 5 and 12", "12/03", "le 17"."""
        year = rf"(?:,?\s+(?P<y>{b.year}))?"
        units = rf"(?!\s*(?:{words.units}))"
        passes = [(rf"(?P<days>{b.days_list})\s+{words.day_of}{b.month}{year}", "list")]
        if words.month_first:
            month_days = rf"(?>(?:{b.article})?{b.day}(?:{words.list_separator}{b.day})*)"
            passes.append((rf"{b.weekday_prefix}{b.month}\s+(?P<days>{month_days}){year}", "list"))
        return passes + [
            (
                rf"\b(?:{words.day_article})\s+(?P<d>{b.day})\s+(?:{words.of_next_month})\b",
                "next_month",
            ),
            (b.numeric, "numeric"),
            (rf"\b(?P<days>{b.weekday},?\s+(?:{b.article})?{b.day}){units}", "day_only"),
            (rf"\b(?P<art>{words.day_article})\s+(?P<days>{b.days_list}){units}", "day_only"),
        ]

    @staticmethod
    def _word_passes(words: Vocabulary, b: _Blocks) -> list[tuple[str, str]]:
        """Months, relative days, weekdays: "en juillet", "demain", "mercredi prochain"."""
        month = rf"(?:(?P<prep>{words.month_preposition})\s+)?(?P<m>{_alternation(words.months)})"
        later = "|".join(pattern for pattern, _ in words.later_weekday)
        weekday = (
            rf"\b(?:(?P<this>{words.this_weekday})\s+)?(?P<wd>{_alternation(words.weekdays)})"
            rf"(?P<plural>s)?\b(?:\s+(?P<later>{later}))?"
        )
        return [
            *[(rf"\b(?:{p})\b", f"month_offset:{n}") for p, n in words.month_offsets],
            (rf"\b{month}\b(?:\s+(?P<y>{b.year}))?", "month"),
            *[(rf"\b(?:{p})\b", f"day_offset:{n}") for p, n in words.day_offsets],
            *[(rf"\b{p.format(n=b.number)}\b", "days_ahead") for p in words.days_ahead],
            *[(rf"\b(?:{p})\b", f"filter:{i}") for i, (p, _) in enumerate(words.weekday_filters)],
            (weekday, "weekday"),
        ]

    def prepare(self, text: str) -> str:
        """Turn day words into digits: "le douze mars" -> "le 12 mars"."""
        day_words = self.words.day_words

        def word_to_digits(match: re.Match[str]) -> str:
            return match.group(0).replace(match.group(1), str(day_words[_squash(match[1])]))

        text = self.day_word_then_month.sub(word_to_digits, text)
        return self.month_then_day_word.sub(lambda m: f"{m[1]} {day_words[_squash(m[2])]}", text)

    def split_exception(self, text: str) -> tuple[str, str]:
        """Split "tous les mercredis de mars sauf le 17" at "sauf"."""
        match = self.exception.search(text)
        if match is None:
            return text, ""
        return text[: match.start()], text[match.end() :]


def _borrow_month(day: int, other: _DaySpec, shift: int) -> _DaySpec:
    """The day `day` in the month of `other`, moved by `shift` months."""
    year, month = _add_months(other.year or 0, other.month, shift)
    return _DaySpec(day, month, year if other.year is not None else None)


def _squash(words: str) -> str:
    return re.sub(r"\s+", " ", words)


_GRAMMARS = {locale: _Grammar(words, locale) for locale, words in VOCABULARIES.items()}


def _grammar_for(locale: str) -> _Grammar:
    return _GRAMMARS.get((locale or "fr")[:2].lower(), _GRAMMARS["fr"])


# --- Parser -----------------------------------------------------------------------------


class _Parser:
    """Reads one message with a grammar, relative to `today`."""

    def __init__(self, grammar: _Grammar, today: date, whole_text: str) -> None:
        self.grammar = grammar
        self.today = today
        self.ambiguous: AmbiguousDate | None = None
        self.day_first = self._numeric_order(whole_text)
        self.handlers: dict[str, Callable[[re.Match[str], _Found, bool], bool]] = {
            "range": self._on_range,
            "bare_range": self._on_bare_range,
            "until": self._on_until,
            "week_of": self._on_week_of,
            "weeks_ahead": self._on_weeks_ahead,
            "list": self._on_list,
            "numeric": self._on_numeric,
            "day_only": self._on_day_only,
            "month": self._on_month,
            "days_ahead": self._on_days_ahead,
            "next_month": self._on_day_of_next_month,
            "weekday": self._on_weekday,
        }

    # Scanning: each pattern consumes what it understood, so later ones cannot reuse it.

    def scan(self, text: str, *, exception: bool) -> _Found:
        found = _Found()
        if not text:
            return found
        found.recurring = self.grammar.recurrence.search(text) is not None
        for pattern, kind in self.grammar.passes:
            text = self._consume(text, pattern, kind, found, exception)
        return found

    def _consume(
        self, text: str, pattern: re.Pattern[str], kind: str, found: _Found, exception: bool
    ) -> str:
        pieces, last = [], 0
        for match in pattern.finditer(text):
            if self._handle(kind, match, found, exception):
                found.recognized = True
                pieces += [text[last : match.start()], "#" * (match.end() - match.start())]
                last = match.end()
        return "".join(pieces) + text[last:] if pieces else text

    def _handle(self, kind: str, match: re.Match[str], found: _Found, exception: bool) -> bool:
        name, _, value = kind.partition(":")
        if name == "week_offset":
            found.spans |= _week_of(self.today + timedelta(weeks=int(value)))
        elif name == "month_offset":
            year, month = _add_months(self.today.year, self.today.month, int(value))
            found.spans |= _whole_month(year, month)
        elif name == "day_offset":
            found.specs.append(self._spec_for(self.today + timedelta(days=int(value))))
        elif name == "weekend":
            found.spans |= self._weekend(next_one=value == "1")
        elif name == "filter":
            found.weekday_filter |= self.grammar.words.weekday_filters[int(value)][1]
        else:
            return self.handlers[name](match, found, exception)
        return True

    # Handlers: each returns True when it understood (and so consumes) the match.

    def _on_range(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        first, last = self._endpoint(match["a"]), self._endpoint(match["b"])
        if first is None or last is None:
            return True  # an invalid or ambiguous numeric date: nothing to add
        if isinstance(first, _DaySpec) and isinstance(last, _DaySpec):
            if first.month is None and last.month is None:
                if not self.grammar.articled.search(match.group(0)):
                    return False  # "de 9 a 17", "entre 5 et 7 ans": not days
                if exception:
                    found.specs += [_DaySpec(n) for n in range(first.day, last.day + 1)]
                    return True
        found.spans |= self._range_days(first, last, found)
        return True

    def _on_bare_range(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        first, last = self._endpoint(match["a"]), self._endpoint(match["b"])
        if not (isinstance(first, _DaySpec) and isinstance(last, _DaySpec)):
            return True
        if first.month is None and last.month is None:
            return False  # "3 - 5" is not a date without a month
        found.spans |= self._range_days(first, last, found)
        return True

    def _on_until(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        last = self._endpoint(match["b"])
        if not isinstance(last, _DaySpec):
            return True
        end = self._resolve(last)
        if end is not None:
            found.spans |= _days_between(self.today, end)
        return True

    def _on_week_of(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        spec = self._endpoint(match["a"])
        if not isinstance(spec, _DaySpec):
            return True
        day = self._resolve(spec)
        if day is not None:
            found.spans |= _week_of(day)
        return True

    def _on_weeks_ahead(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        found.spans |= _week_of(self.today + timedelta(weeks=self._number(match["n"])))
        return True

    def _on_days_ahead(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        found.specs.append(self._spec_for(self.today + timedelta(days=self._number(match["n"]))))
        return True

    def _on_list(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        month_match = self.grammar.month_word.search(match.group(0))
        if month_match is None:
            return False
        month = self.grammar.month_names[_squash(month_match[1])]
        year = int(match["y"]) if match["y"] else None
        for number in re.findall(r"(?<!\d)\d{1,2}(?!\d)", match["days"]):
            found.specs.append(_DaySpec(int(number), month, year))
        return True

    def _on_numeric(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        spec = self._numeric_spec(match.group(0))
        if spec is not None:
            found.specs.append(spec)
        return True

    def _on_day_only(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        numbers = re.findall(r"(?<!\d)\d{1,2}(?!\d)", match["days"])
        words = self.grammar.words
        article = match.groupdict().get("art") or ""
        if article and article == words.plural_article and len(numbers) == 1:
            return False  # "les 3 activites"
        if words.day_needs_ordinal and article == words.article and not exception:
            if not self.grammar.ordinal.search(match.group(0)):
                return False  # "the 5 best activities"
        weekday = self._weekday_in(match["days"]) if len(numbers) == 1 else None
        found.specs += [_DaySpec(int(number), weekday=weekday) for number in numbers]
        return True

    def _on_month(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        name = _squash(match["m"])
        if name in self.grammar.words.months_needing_preposition:
            if not (match["prep"] or match["y"]):
                return False
        month = self.grammar.words.months[name]
        if match["y"]:
            year = int(match["y"])
        else:
            year = self.today.year + (month < self.today.month)
        found.spans |= _whole_month(year, month)
        return True

    def _on_day_of_next_month(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        year, month = _add_months(self.today.year, self.today.month, 1)
        number = int(re.match(r"\d+", match["d"]).group(0))
        if _safe_date(year, month, number) is not None:
            found.specs.append(_DaySpec(number, month, year))
        return True

    def _on_weekday(self, match: re.Match[str], found: _Found, exception: bool) -> bool:
        later = match["later"] or ""
        extra = sum(n for p, n in self.grammar.words.later_weekday if re.fullmatch(p, later))
        weekday = self.grammar.words.weekdays[match["wd"]]
        found.weekday_refs.append(_WeekdayRef(weekday, bool(match["this"]), extra))
        found.recurring |= bool(match["plural"])
        return True

    # Endpoints and numbers.

    def _endpoint(self, text: str) -> _DaySpec | int | None:
        """A range end: a day (maybe without month or year), or a weekday alone (an int)."""
        text = text.strip(" ,")
        for pattern, offset in self.grammar.relative_days:
            if pattern.match(text):
                return self._spec_for(self.today + timedelta(days=offset))
        if self.grammar.numeric.fullmatch(text):
            return self._numeric_spec(text)
        day = self.grammar.day.search(text)
        weekday = self._weekday_in(text)
        if day is None:
            return weekday
        month_match = self.grammar.month_word.search(text)
        month = self.grammar.month_names[_squash(month_match[1])] if month_match else None
        year_match = self.grammar.year.search(text)
        year = int(year_match.group(0)) if year_match else None
        number = int(re.match(r"\d+", day.group(0)).group(0))
        return _DaySpec(number, month, year, weekday)

    def _weekend(self, *, next_one: bool) -> set[date]:
        """This weekend (today if it is Sunday), or the first one strictly after today."""
        if next_one:
            saturday = _next_weekday(self.today, 5, include_today=False)
        else:
            saturday = self.today + timedelta(days=5 - self.today.weekday())
        return {saturday, saturday + timedelta(days=1)}

    def _weekday_in(self, text: str) -> int | None:
        match = self.grammar.weekday_word.search(text)
        return self.grammar.words.weekdays[match[1]] if match else None

    def _number(self, text: str) -> int:
        return int(text) if text.isdigit() else self.grammar.words.numbers[text]

    def _numeric_order(self, text: str) -> bool | None:
        """Whether numeric dates are day first: always in French; in English, when the
        message itself tells (a "15/04" somewhere), otherwise None (ambiguous)."""
        if self.grammar.locale != "en":
            return True
        orders = set()
        for match in self.grammar.numeric.finditer(text):
            parts = re.split(r"[/.\-]", match.group(0))
            if len(parts[0]) == 4:
                continue
            first, second = int(parts[0]), int(parts[1])
            if first > 12 >= second:
                orders.add(True)
            elif second > 12 >= first:
                orders.add(False)
        return orders.pop() if len(orders) == 1 else None

    def _numeric_spec(self, text: str) -> _DaySpec | None:
        parts = [int(part) for part in re.split(r"[/.\-]", text)]
        if re.match(r"\d{4}-", text):
            year, month, day = parts
            return _DaySpec(day, month, year) if _safe_date(year, month, day) else None
        year = None if len(parts) == 2 else (parts[2] + 2000 if parts[2] < 100 else parts[2])
        first, second = parts[0], parts[1]
        if self.day_first is not None:
            day, month = (first, second) if self.day_first else (second, first)
            return self._valid_spec(day, month, year)
        readings: dict[date, _DaySpec] = {}
        for spec in (self._valid_spec(first, second, year), self._valid_spec(second, first, year)):
            day = self._resolve(spec) if spec is not None else None
            if day is not None and day >= self.today:
                readings[day] = spec
        if len(readings) > 1:
            if self.ambiguous is None:
                self.ambiguous = AmbiguousDate(tuple(sorted(readings)), text)
            return None
        return next(iter(readings.values()), None)

    def _valid_spec(self, day: int, month: int, year: int | None) -> _DaySpec | None:
        if not 1 <= month <= 12 or _safe_date(year or 2028, month, day) is None:
            return None
        return _DaySpec(day, month, year)

    def _spec_for(self, day: date) -> _DaySpec:
        return _DaySpec(day.day, day.month, day.year)

    # Resolution: from what was written to actual days.

    def _resolve(self, spec: _DaySpec) -> date | None:
        if spec.month is None:
            return _next_month_day(spec.day, self.today, spec.weekday)
        if spec.year is not None:
            return _safe_date(spec.year, spec.month, spec.day)
        return _next_day_month(spec.day, spec.month, self.today)

    def _range_days(self, first: _DaySpec | int, last: _DaySpec | int, found: _Found) -> set[date]:
        """Days of "du 6 au 10 juillet", "from Monday to Friday", "du 28/02 au 3/03"."""
        if isinstance(first, int) and isinstance(last, int):
            found.weekday_runs.append((first, last))
            return set()
        if isinstance(last, int):
            start = self._resolve(first)
            return _days_between(start, _next_weekday(start, last, True)) if start else set()
        if isinstance(first, int):
            end = self._resolve(last)
            if end is None:
                return set()
            return _days_between(end - timedelta(days=(end.weekday() - first) % 7), end)
        first, last = self._complete_months(first, last)
        end = self._range_end(first, last)
        if end is None:
            return set()
        if first.year is not None:
            start = _safe_date(first.year, first.month, first.day)
        else:
            start = _last_day_month(first.day, first.month, end)
        return _days_between(start, end) if start else set()

    def _complete_months(self, first: _DaySpec, last: _DaySpec) -> tuple[_DaySpec, _DaySpec]:
        """Lend a month to the end that has none: "du 28 au 3 mars" starts on 28 February."""
        if first.month is None and last.month is None:
            start = _next_month_day(first.day, self.today)
            if start is None:
                return first, last
            first = _DaySpec(first.day, start.month, start.year)
        if first.month is None:
            first = _borrow_month(first.day, last, -1 if first.day > last.day else 0)
        if last.month is None:
            last = _borrow_month(last.day, first, 1 if last.day < first.day else 0)
        return first, last

    def _range_end(self, first: _DaySpec, last: _DaySpec) -> date | None:
        """A range is upcoming when its end is: the end is the next one, or follows a start
        that has an explicit year."""
        if last.year is not None:
            return _safe_date(last.year, last.month, last.day)
        if first.year is not None:
            start = _safe_date(first.year, first.month, first.day)
            return _next_day_month(last.day, last.month, start) if start else None
        return _next_day_month(last.day, last.month, self.today)

    def resolve(self, found: _Found) -> set[date] | None:
        """The days of the main part of a message; None when they cannot be bounded."""
        weekdays = found.weekdays()
        if found.spans:
            days = {day for day in found.spans if not weekdays or day.weekday() in weekdays}
        elif found.recurring and weekdays:
            return None  # "tous les mercredis": which period?
        else:
            days = {
                _next_weekday(self.today, ref.weekday, ref.include_today)
                + timedelta(days=ref.extra_days)
                for ref in found.weekday_refs
            }
            for first, last in found.weekday_runs:
                start = _next_weekday(self.today, first, False)
                days |= _days_between(start, start + timedelta(days=(last - first) % 7))
        days |= {day for day in map(self._resolve, found.specs) if day is not None}
        return days

    def excludes(self, excluded: _Found, day: date) -> bool:
        return (
            day in excluded.spans
            or day.weekday() in excluded.weekdays()
            or any(spec.matches(day) for spec in excluded.specs)
        )


# --- dateparser, for the few relative phrasings the grammar leaves ("dans une quinzaine") ---

_DATEPARSER_SETTINGS = {
    "fr": {"PREFER_DATES_FROM": "future", "DATE_ORDER": "DMY", "RETURN_AS_TIMEZONE_AWARE": False},
    "en": {"PREFER_DATES_FROM": "future", "DATE_ORDER": "MDY", "RETURN_AS_TIMEZONE_AWARE": False},
}


_DURATION = re.compile(
    r"\b(?:ans?|annees?|mois|heures?|h|min\w*|years?|months?|hours?)\b|\d\s*h\b|[/.:]"
)


def _dateparser_fallback(text: str, now: datetime, grammar: _Grammar) -> set[date]:
    """Ask dateparser about short messages with a relative phrase the grammar skipped."""
    normalized = normalize(text)
    if len(text) > FALLBACK_MAX_LENGTH or not grammar.fallback_marker.search(normalized):
        return set()
    settings = dict(_DATEPARSER_SETTINGS[grammar.locale], RELATIVE_BASE=now.replace(tzinfo=None))
    try:
        results = search_dates(text, languages=[grammar.locale], settings=settings) or []
    except Exception:  # dateparser has no documented exceptions; a message must never crash
        return set()
    today = now.date()
    for fragment, value in results:
        if _DURATION.search(normalize(fragment)):
            continue  # "7 ans", "14h", "12/03": quantities, or dates the grammar refused
        if today <= value.date() <= today + FALLBACK_HORIZON:
            return {value.date()}
    return set()
