"""Natural-language date understanding for chat messages (French and English)."""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from dateparser.search import search_dates

from booking.school_calendar import public_holidays
from dialogs.date_words import EVERY_DAY, VOCABULARIES, Vocabulary

__all__ = [
    "AmbiguousDate",
    "DateReading",
    "DateSelection",
    "InvalidDate",
    "parse_dates",
    "read_dates",
]

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


@dataclass(frozen=True)
class InvalidDate:
    text: str  # a date that names no day, as the parent wrote it: "31 avril"


@dataclass(frozen=True)
class DateReading:
    """Everything `read_dates` understood of a message, so that the dialog can quote the rest."""

    result: DateSelection | AmbiguousDate | InvalidDate | None
    consumed: tuple[tuple[int, int], ...]  # (start, end) in the original text, invalid ones too
    invalid: tuple[str, ...]  # fragments naming no day: "31 avril", holidays without a calendar
    unbounded: bool  # a recurrence without a period ("tous les mercredis"): which period?


class SchoolHolidayPeriod(Protocol):
    """One school holiday period, as booking/school_calendar.py gives them."""

    @property
    def kind(self) -> str: ...  # "toussaint", "noel", "hiver", "printemps", "ete", "ascension"

    @property
    def first(self) -> date: ...

    @property
    def last(self) -> date: ...


SchoolHolidays = Sequence[tuple[str, date, date] | SchoolHolidayPeriod]


def parse_dates(
    text: str, *, now: datetime, locale: str, school_holidays: SchoolHolidays = ()
) -> DateSelection | AmbiguousDate | InvalidDate | None:
    """Find the days a chat message talks about: `read_dates(...).result`."""
    return read_dates(text, now=now, locale=locale, school_holidays=school_holidays).result


def read_dates(
    text: str, *, now: datetime, locale: str, school_holidays: SchoolHolidays = ()
) -> DateReading:
    """Read the days a chat message talks about, and which of its words said so.

    Every date is today or in the future: a day or month without a year is the next one
    ("mars" in November is next March), a range is taken when its last day is still to come
    (days already gone are dropped), explicit dates in the past are dropped. The result is
    None when no date is found, InvalidDate when the only dates written name no day ("31
    avril", "le 32 mars", "45/13", "les vacances de printemps" without `school_holidays`).

    - "mercredi" / "on Wednesday" / "mercredi prochain" / "next Wednesday": the first
      Wednesday strictly after today; "ce mercredi" / "this Wednesday" may be today.
    - Weekdays next to a period filter it: "tous les mercredis de mars", "lundi et jeudi de
      la semaine prochaine", "du lundi au jeudi la semaine prochaine", "tous les lundis du
      mois prochain". A recurrence without a period ("tous les mercredis", "tous les jours",
      "un mercredi sur deux") cannot be bounded: result None, `unbounded` True.
    - "un mercredi sur deux" / "every other Wednesday": every second week of the period,
      counted from its first day still to come.
    - "les 3 prochains mercredis" / "the next 3 Wednesdays": strictly after today;
      "les 2 prochaines semaines": the two whole weeks after this one.
    - Weeks run Monday to Sunday; "dans 2 semaines" is the whole week containing today + 14.
    - School holidays ("les vacances de printemps", "spring break") are the next period of
      that kind in `school_holidays` that has not ended; public holidays ("le lundi de
      Paques", "Whit Monday") the next such day.
    - "sauf ..." / "except ..." removes days: a bare day number ("sauf le 17") removes that
      day of every month of the selection, a weekday ("sauf le mercredi") every such
      weekday, "sauf les jours feries" the public holidays. A period written after the
      exception of an unbounded recurrence bounds both: "every day except Wednesday next week".
    - English numeric dates with two readings ("03/04") give AmbiguousDate, unless another
      numeric date of the message settles the order ("03/04 to 15/04"); French is day/month.
    """
    zone_now = now.astimezone(PARIS) if now.tzinfo is not None else now
    grammar = _grammar_for(locale)
    source = grammar.prepare(_MappedText.normalized(text[:MAX_TEXT_LENGTH]))
    parser = _Parser(grammar, zone_now.date(), source, _school_periods(school_holidays))
    main, excluded = parser.read()
    days = parser.resolve(main)
    consumed = parser.consumed_spans()
    if days is not None and not main.recognized:
        days, fragment = _dateparser_fallback(text, zone_now, grammar)
        consumed = _merged(consumed + fragment)
    result: DateSelection | AmbiguousDate | InvalidDate | None = parser.ambiguous
    if result is None and days is not None:
        result = parser.select(days, main, excluded)
    return DateReading(result, consumed, tuple(parser.invalid), days is None)


def normalize(text: str) -> str:
    """Lower-case, strip accents, keep only letters, digits and date punctuation."""
    return _MappedText.normalized(text).text


# --- Normalised text that remembers where each character came from ---------------------

_KEPT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789,/.:&- ")
_ASCII_FOLD = str.maketrans({chr(n): " " for n in range(128) if chr(n) not in _KEPT})
_HYPHEN_BETWEEN_LETTERS = re.compile(r"(?<=[a-z])-(?=[a-z])")
_WORD = re.compile(r"\S+")


@lru_cache(maxsize=2048)
def _fold_char(char: str) -> str:
    """One character lower-cased without its accents; a space unless a letter, a digit or date
    punctuation."""
    decomposed = unicodedata.normalize("NFKD", char)
    lowered = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return "".join(c if c in _KEPT else " " for c in lowered)


@dataclass(frozen=True)
class _MappedText:
    """Normalised text; character i came from original[starts[i]:ends[i]]."""

    text: str
    starts: list[int]
    ends: list[int]
    original: str

    @classmethod
    def normalized(cls, original: str) -> _MappedText:
        """Lower-case, strip accents, keep only letters, digits and date punctuation,
        one space between words, remembering each character's place in `original`."""
        if original.isascii():
            folded = original.lower().translate(_ASCII_FOLD)
            index: Sequence[int] = range(len(original))
        else:
            pieces, positions = [], []
            for position, char in enumerate(original):
                piece = _fold_char(char)
                pieces.append(piece)
                positions += [position] * len(piece)
            folded, index = "".join(pieces), positions
        folded = _HYPHEN_BETWEEN_LETTERS.sub(" ", folded)
        words: list[str] = []
        starts: list[int] = []
        for match in _WORD.finditer(folded):
            if words:
                words.append(" ")
                starts.append(index[match.start() - 1])
            words.append(match.group())
            starts += index[match.start() : match.end()]
        return cls("".join(words), starts, [start + 1 for start in starts], original)

    def sub(
        self, pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str], group: int
    ) -> _MappedText:
        """Replace `group` of each match; the new characters map to what it replaced."""
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        last = 0
        for match in pattern.finditer(self.text):
            start, end = match.span(group)
            new = replace(match)
            pieces += [self.text[last:start], new]
            starts += self.starts[last:start] + [self.starts[start]] * len(new)
            ends += self.ends[last:start] + [self.ends[end - 1]] * len(new)
            last = end
        if not pieces:
            return self
        pieces.append(self.text[last:])
        starts += self.starts[last:]
        ends += self.ends[last:]
        return _MappedText("".join(pieces), starts, ends, self.original)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that text[start:end] came from."""
        return self.starts[start], self.ends[end - 1]

    def quote(self, start: int, end: int) -> str:
        first, last = self.span(start, end)
        return self.original[first:last]


# --- Calendar helpers -------------------------------------------------------------------

_LONGEST_MONTHS = [calendar.monthrange(2028, month)[1] for month in range(1, 13)]  # leap year


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


def _every_nth(days: list[date], step: int, unit_days: int) -> list[date]:
    """Every `step`-th week (unit 7) or day (unit 1) of sorted `days`, from the first one."""
    if not days:
        return days

    def unit_start(day: date) -> date:
        return day - timedelta(days=day.weekday()) if unit_days == 7 else day

    origin = unit_start(days[0])
    return [day for day in days if (unit_start(day) - origin).days // unit_days % step == 0]


# --- Holidays ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Period:
    kind: str
    first: date
    last: date


def _school_periods(periods: SchoolHolidays) -> tuple[_Period, ...]:
    """School holidays as given: (kind, first, last) tuples or objects with those fields."""
    read = []
    for period in periods:
        if isinstance(period, tuple):
            kind, first, last = period
        else:
            kind, first, last = period.kind, period.first, period.last
        read.append(_Period(str(getattr(kind, "value", kind)), first, last))
    return tuple(read)


@lru_cache(maxsize=16)
def _public_holidays(year: int) -> tuple[tuple[date, str], ...]:
    """France's public holidays that year, with the `holidays` library's English names; a day
    with two of them is named "Ascension Day; Labor Day"."""
    return tuple(sorted(public_holidays(year).items()))


def _is_public_holiday(day: date) -> bool:
    return any(holiday == day for holiday, _ in _public_holidays(day.year))


def _next_public_holiday(name: str, today: date) -> date | None:
    """The next day, from today on, of the public holiday named `name` ("Easter Monday")."""
    for year in (today.year, today.year + 1):
        for day, names in _public_holidays(year):
            if day >= today and name in names.split("; "):
                return day
    return None


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

    def exists(self) -> bool:
        """Whether some month has this day: "31 avril", "29 fevrier 2027", "45/13" do not."""
        if self.month is None or not 1 <= self.month <= 12:
            return self.month is None and 1 <= self.day <= 31
        if self.year is not None:
            return _safe_date(self.year, self.month, self.day) is not None
        return 1 <= self.day <= _LONGEST_MONTHS[self.month - 1]


@dataclass(frozen=True)
class _WeekdayRef:
    weekday: int
    include_today: bool = False
    extra_days: int = 0


@dataclass
class _Found:
    """Everything one part of a message mentions, before it is turned into days."""

    exception: bool = False  # the part after "sauf" / "except"
    specs: list[_DaySpec] = field(default_factory=list)
    spans: set[date] = field(default_factory=set)  # months, weeks, ranges, holidays
    weekday_refs: list[_WeekdayRef] = field(default_factory=list)
    weekday_runs: list[tuple[int, int]] = field(default_factory=list)
    weekday_filter: set[int] = field(default_factory=set)
    step: tuple[int, int] | None = None  # (n, 7): every n-th week; (n, 1): every n-th day
    public_holidays: bool = False  # "sauf les jours feries"
    recurring: bool = False
    recognized: bool = False

    def weekdays(self) -> set[int]:
        days = set(self.weekday_filter) | {ref.weekday for ref in self.weekday_refs}
        for first, last in self.weekday_runs:
            days |= _weekday_run(first, last)
        return days


def _lend_period(main: _Found, excluded: _Found) -> None:
    """ "every day except Wednesday next week": a period written after the exception of a
    recurrence bounds both when the exception names days in it ("sauf la semaine prochaine"
    alone is what is excluded)."""
    names_days = excluded.weekdays() or excluded.specs or excluded.public_holidays
    if main.recurring and not main.spans and excluded.spans and names_days:
        main.spans, excluded.spans = excluded.spans, set()


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
        self.week_word = re.compile(rf"(?:{words.week_word})$")
        self.day_word = re.compile(rf"(?:{words.day_word})$")
        self.month_unit = re.compile(rf"(?:{words.month_word})$")
        self.year = re.compile(blocks.year)
        self.day = re.compile(blocks.day)
        self.numeric = re.compile(blocks.numeric)
        self.ordinal = re.compile(rf"\d(?:{words.ordinal_suffix})\b")
        self.articled = re.compile(rf"\b(?:{words.range_article})\b|\d(?:{words.ordinal_suffix})\b")
        self.leading_article = re.compile(rf"(?:{words.day_article}|{words.article})\s+")
        self.exception = re.compile(rf"\b(?:{words.exception})\b")
        self.recurrence = re.compile(rf"\b(?:{words.recurrence.format(weekday=blocks.weekday)})")
        self.relative_days = [(re.compile(rf"^(?:{p})$"), n) for p, n in words.day_offsets]
        self.fallback_marker = re.compile(words.fallback_marker)
        self.connectors_before = re.compile(rf"(?<![a-z0-9])(?:(?:{words.connectors})\s+)+$")
        self.glue = re.compile(rf"(?:[\s,&]|\b(?:{words.connectors})\b)*")
        day_words = _alternation(words.day_words)
        months = _alternation(self.month_names)
        self.day_word_then_month = re.compile(rf"\b({day_words})(?=\s+{words.day_of}{months}\b)")
        self.month_then_day_word = re.compile(
            rf"\b(?:{months})\s+(?:{blocks.article})?({day_words})\b"
        )
        # Order matters: each pass consumes its matches, so the ones holding dates (holidays,
        # ranges, weeks) go before lists of days, which go before bare month and weekday names.
        passes = self._holiday_passes(words) + self._count_passes(words, blocks)
        passes += self._period_passes(words, blocks) + self._day_passes(words, blocks)
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
    def _holiday_passes(words: Vocabulary) -> list[tuple[str, str]]:
        """ "les vacances de printemps", "sauf les jours feries", "le lundi de Paques"."""
        until = rf"\b(?:(?P<until>{words.until_holidays})\s+(?:(?:{words.article})\s+)?)?"
        school = [
            (rf"{until}(?P<holiday>{pattern})\b", f"school_holiday:{i}")
            for i, (pattern, _) in enumerate(words.school_holidays)
        ]
        # One pattern for all public holidays (they do not overlap): group "h3" is the fourth.
        public = "|".join(
            f"(?P<h{i}>{pattern})" for i, (pattern, _) in enumerate(words.public_holidays)
        )
        return [
            *school,
            (rf"\b(?:{words.all_public_holidays})\b", "all_public_holidays"),
            (rf"\b(?:{public})\b", "public_holiday"),
        ]

    @staticmethod
    def _count_passes(words: Vocabulary, b: _Blocks) -> list[tuple[str, str]]:
        """ "un mercredi sur deux", "every other week", "les 3 prochains mercredis"."""
        units = rf"{_alternation(words.weekdays)}s?|{words.week_word}|{words.day_word}"
        every = rf"(?P<unit>{units})\b"
        counted = rf"(?P<unit>{units}|{words.month_word})\b"
        return [
            (rf"\b(?:{words.fortnightly})\b", "fortnightly"),
            *[(rf"\b{p.format(unit=every, n=b.number)}\b", "every_nth") for p in words.every_nth],
            *[(rf"\b{p.format(unit=counted, n=b.number)}", "next_count") for p in words.next_count],
        ]

    @staticmethod
    def _period_passes(words: Vocabulary, b: _Blocks) -> list[tuple[str, str]]:
        """Ranges and weeks: "du 6 au 10 juillet", "la semaine du 6 juillet"."""
        range_to = rf"(?:\s+(?:{words.range_to})\s+|\s*-\s*)(?:{b.article})?"
        bare_to = rf"(?:\s+(?:{words.bare_range_to})\s+|\s*-\s*)(?:{b.article})?"
        between = rf"\b(?:{words.between})\s+(?P<a>{b.endpoint})\s+(?:{words.between_and})\s+"
        and_next = rf"(?:\s*,\s*|\s+)(?:(?:{words.between_and})\s+)?(?:{words.day_after})\b"
        return [
            (
                rf"\b(?:{words.range_from})\s+(?P<a>{b.endpoint}){range_to}(?P<b>{b.endpoint})",
                "range",
            ),
            (rf"{between}(?:{b.article})?(?P<b>{b.endpoint})", "range"),
            (rf"\b(?P<a>{b.weekday}){range_to}(?P<b>{b.weekday})", "weekday_range"),
            (rf"\b(?P<a>{b.full}|{b.partial}){bare_to}(?P<b>{b.full}|{b.partial})", "bare_range"),
            (rf"\b(?:{words.until})\s+(?:{b.article})?(?P<b>{b.full}|{b.partial})", "until"),
            (rf"\b(?:{words.week_of})\s+(?:{b.article})?(?P<a>{b.full}|{b.partial})", "week_of"),
            (
                rf"\b{words.nth_week.format(ordinal=_alternation(words.week_ordinals))}"
                rf"\s+(?P<m>{_alternation(words.months)})\b(?:\s+(?P<y>{b.year}))?",
                "nth_week",
            ),
            (rf"\b(?P<a>{b.endpoint}){and_next}", "day_and_next"),
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
        no_day = rf"(?<![\d/.:])(?:{b.article})?(?:3[2-9]|[4-9]\d)(?:{words.ordinal_suffix})?\b"
        passes = [
            (rf"{no_day}\s+{words.day_of}{b.month}", "no_such_day"),  # "le 32 mars"
            (rf"(?P<days>{b.days_list})\s+{words.day_of}{b.month}{year}", "list"),
        ]
        if words.month_first:
            month_days = rf"(?>(?:{b.article})?{b.day}(?:{words.list_separator}{b.day})*)"
            passes.append((rf"\b{b.month}\s+{no_day}", "no_such_day"))
            passes.append((rf"{b.weekday_prefix}{b.month}\s+(?P<days>{month_days}){year}", "list"))
        of_month = rf"\b(?:{words.day_article})\s+(?P<d>{b.day})\s+"
        ordinal_day = rf"(?<![\d/.:])(?:3[01]|[12]\d|0?[1-9])(?:{words.ordinal_suffix})\b"  # "10th"
        return passes + [
            *[(rf"{of_month}(?:{p})\b", f"day_of_month:{n}") for p, n in words.of_month_offsets],
            (b.numeric, "numeric"),
            (rf"\b(?P<days>{b.weekday},?\s+(?:{b.article})?{b.day}){units}", "day_only"),
            (rf"\b(?P<art>{words.day_article})\s+(?P<days>{b.days_list}){units}", "day_only"),
            *(
                [(rf"\b(?P<days>{ordinal_day}){units}", "day_only")]
                if words.day_needs_ordinal
                else []
            ),
        ]

    @staticmethod
    def _word_passes(words: Vocabulary, b: _Blocks) -> list[tuple[str, str]]:
        """Months, relative days, weekdays: "en juillet", "demain", "mercredi prochain"."""
        month = rf"(?:(?P<prep>{words.month_preposition})\s+)?(?P<m>{_alternation(words.months)})"
        later = "|".join(pattern for pattern, _ in words.later_weekday)
        weekday = (
            rf"\b(?:(?P<this>{words.this_weekday})\s+|(?:le\s+|the\s+)?(?:{words.next_weekday})\s+)?"
            rf"(?P<wd>{_alternation(words.weekdays)})(?P<plural>s)?\b"
            rf"(?:\s+(?P<later>{later})|\s+(?:{words.next_weekday})\b)?"
        )
        return [
            *[(rf"\b(?:{p})\b", f"month_offset:{n}") for p, n in words.month_offsets],
            (rf"\b{month}\b(?:\s+(?P<y>{b.year}))?", "month"),
            *[(rf"\b(?:{p})\b", f"day_offset:{n}") for p, n in words.day_offsets],
            *[(rf"\b{p.format(n=b.number)}\b", "days_ahead") for p in words.days_ahead],
            *[(rf"\b(?:{p})\b", f"filter:{i}") for i, (p, _) in enumerate(words.weekday_filters)],
            (weekday, "weekday"),
            # after what the passes above consumed (now "#"): "les mercredis du mois"
            *[
                (rf"(?<=#\s)(?:{p})\b", f"month_offset:{n}")
                for p, n in words.attached_month_offsets
            ],
        ]

    def prepare(self, text: _MappedText) -> _MappedText:
        """Turn day words into digits: "le douze mars" -> "le 12 mars"."""
        day_words = self.words.day_words

        def digits(match: re.Match[str]) -> str:
            return str(day_words[_squash(match[1])])

        text = text.sub(self.day_word_then_month, digits, 1)
        return text.sub(self.month_then_day_word, digits, 1)


def _merged(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted spans, the overlapping ones joined."""
    joined: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return tuple(joined)


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

_Handler = Callable[[re.Match[str], _Found, str], bool]


class _Parser:
    """Reads one message with a grammar, relative to `today`."""

    def __init__(
        self, grammar: _Grammar, today: date, source: _MappedText, school: tuple[_Period, ...]
    ) -> None:
        self.grammar = grammar
        self.words = grammar.words
        self.today = today
        self.source = source
        self.school = school
        self.ambiguous: AmbiguousDate | None = None
        self.invalid: list[str] = []
        self.consumed: list[tuple[int, int]] = []  # spans of source.text
        self.offset = 0  # where the part being scanned starts in source.text
        self.day_first = self._numeric_order(source.text)
        self.handlers: dict[str, _Handler] = {
            "school_holiday": self._on_school_holiday,
            "all_public_holidays": self._on_all_public_holidays,
            "public_holiday": self._on_public_holiday,
            "every_nth": self._on_every_nth,
            "fortnightly": self._on_fortnightly,
            "next_count": self._on_next_count,
            "range": self._on_range,
            "weekday_range": self._on_weekday_range,
            "bare_range": self._on_bare_range,
            "until": self._on_until,
            "week_of": self._on_week_of,
            "nth_week": self._on_nth_week,
            "day_and_next": self._on_day_and_next,
            "weekend": self._on_weekend,
            "week_offset": self._on_week_offset,
            "weeks_ahead": self._on_weeks_ahead,
            "list": self._on_list,
            "day_of_month": self._on_day_of_month,
            "no_such_day": self._on_no_such_day,
            "numeric": self._on_numeric,
            "day_only": self._on_day_only,
            "month_offset": self._on_month_offset,
            "month": self._on_month,
            "day_offset": self._on_day_offset,
            "days_ahead": self._on_days_ahead,
            "filter": self._on_filter,
            "weekday": self._on_weekday,
        }

    # Scanning: each pattern consumes what it understood, so later ones cannot reuse it.

    def read(self) -> tuple[_Found, _Found]:
        """The main part of the message and its exception: "... sauf le 17"."""
        text = self.source.text
        keyword = self.grammar.exception.search(text)
        if keyword is None:
            return self.scan(text, 0, exception=False), _Found(exception=True)
        main = self.scan(text[: keyword.start()], 0, exception=False)
        excluded = self.scan(text[keyword.end() :], keyword.end(), exception=True)
        if excluded.recognized:
            self.consumed.append(keyword.span())
        _lend_period(main, excluded)
        return main, excluded

    def scan(self, text: str, offset: int, *, exception: bool) -> _Found:
        found = _Found(exception=exception)
        self.offset = offset
        if not text:
            return found
        for match in self.grammar.recurrence.finditer(text):
            found.recurring = True
            self.consumed.append((offset + match.start(), offset + match.end()))
        for pattern, kind in self.grammar.passes:
            text = self._consume(text, pattern, kind, found)
        return found

    def _consume(self, text: str, pattern: re.Pattern[str], kind: str, found: _Found) -> str:
        name, _, value = kind.partition(":")
        handler = self.handlers[name]
        pieces, last = [], 0
        for match in pattern.finditer(text):
            if handler(match, found, value):
                found.recognized = True
                self.consumed.append((self.offset + match.start(), self.offset + match.end()))
                pieces += [text[last : match.start()], "#" * (match.end() - match.start())]
                last = match.end()
        return "".join(pieces) + text[last:] if pieces else text

    def _impossible(self, match: re.Match[str], group: int | str = 0) -> bool:
        """Keep a date that names no day ("31 avril") to quote it; it is still consumed."""
        start, end = match.span(group)
        article = self.grammar.leading_article.match(match.string, start, end)
        self.invalid.append(self._quote(article.end() if article else start, end))
        return True

    def _quote(self, start: int, end: int) -> str:
        return self.source.quote(self.offset + start, self.offset + end).strip()

    def consumed_spans(self) -> tuple[tuple[int, int], ...]:
        """The consumed spans in the original text, with the small words around them
        ("pendant les", "lundi et jeudi"), merged."""
        text, merged = self.source.text, []
        for start, end in sorted(self.consumed):
            before = self.grammar.connectors_before.search(text, max(0, start - 60), start)
            start = before.start() if before else start
            if merged and self.grammar.glue.fullmatch(
                text, merged[-1][1], max(start, merged[-1][1])
            ):
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return _merged(self.source.span(start, end) for start, end in merged if start < end)

    # Handlers: each returns True when it understood (and so consumes) the match.

    def _on_school_holiday(self, match: re.Match[str], found: _Found, value: str) -> bool:
        kinds = self.words.school_holidays[int(value)][1]
        periods = [period for period in self.school if period.kind in kinds]
        if not found.exception:  # the next one; an exception removes them all
            upcoming = [period for period in periods if period.last >= self.today]
            periods = [min(upcoming, key=lambda period: period.first)] if upcoming else []
        if not periods:
            return self._impossible(match, "holiday")
        if match["until"]:  # "jusqu'aux vacances de printemps"
            found.spans |= _days_between(self.today, periods[0].first - timedelta(days=1))
            return True
        for period in periods:
            found.spans |= _days_between(period.first, period.last)
        return True

    def _on_all_public_holidays(self, match: re.Match[str], found: _Found, value: str) -> bool:
        found.public_holidays = found.exception
        return found.exception

    def _on_public_holiday(self, match: re.Match[str], found: _Found, value: str) -> bool:
        index = next(int(name[1:]) for name, text in match.groupdict().items() if text)
        day = _next_public_holiday(self.words.public_holidays[index][1], self.today)
        if day is None:
            return self._impossible(match)
        found.specs.append(self._spec_for(day))
        return True

    def _on_every_nth(self, match: re.Match[str], found: _Found, value: str) -> bool:
        count = match.groupdict().get("n")
        step = self._number(count) if count else 2
        if step < 2:
            return False  # "a week in a row"
        unit = match["unit"]
        weekday = self._weekday_in(unit)
        if weekday is not None:
            found.weekday_refs.append(_WeekdayRef(weekday))
        found.step = (step, 1 if self.grammar.day_word.match(unit) else 7)
        found.recurring = True
        return True

    def _on_fortnightly(self, match: re.Match[str], found: _Found, value: str) -> bool:
        found.step, found.recurring = (2, 7), True
        return True

    def _on_next_count(self, match: re.Match[str], found: _Found, value: str) -> bool:
        """ "les 3 prochains mercredis" (strictly after today), "the next 2 weeks" (after this
        one), "les 3 prochains jours" (from tomorrow), "les 2 prochains mois"."""
        count, unit = self._number(match["n"]), match["unit"]
        weekday = self._weekday_in(unit)
        if not 1 <= count <= (12 if self.grammar.month_unit.match(unit) else 52):
            return False
        if weekday is not None:
            first = _next_weekday(self.today, weekday, include_today=False)
            found.specs += [self._spec_for(first + timedelta(weeks=n)) for n in range(count)]
        elif self.grammar.week_word.match(unit):
            for n in range(1, count + 1):
                found.spans |= _week_of(self.today + timedelta(weeks=n))
        elif self.grammar.day_word.match(unit):
            found.spans |= _days_between(
                self.today + timedelta(days=1), self.today + timedelta(days=count)
            )
        else:
            for n in range(1, count + 1):
                found.spans |= _whole_month(*_add_months(self.today.year, self.today.month, n))
        return True

    def _on_range(self, match: re.Match[str], found: _Found, value: str) -> bool:
        first, last = self._endpoint(match["a"]), self._endpoint(match["b"])
        if first is None or last is None:
            return True  # an ambiguous numeric date: nothing to add
        if isinstance(first, _DaySpec) and isinstance(last, _DaySpec):
            if first.month is None and last.month is None:
                if not self.grammar.articled.search(match.group(0)):
                    return False  # "de 9 a 17", "entre 5 et 7 ans": not days
                if found.exception:
                    found.specs += [_DaySpec(n) for n in range(first.day, last.day + 1)]
                    return True
        return self._add_range(match, first, last, found)

    def _on_weekday_range(self, match: re.Match[str], found: _Found, value: str) -> bool:
        first, last = self._weekday_in(match["a"]), self._weekday_in(match["b"])
        found.weekday_runs.append((first, last))
        return True

    def _on_bare_range(self, match: re.Match[str], found: _Found, value: str) -> bool:
        first, last = self._endpoint(match["a"]), self._endpoint(match["b"])
        if not (isinstance(first, _DaySpec) and isinstance(last, _DaySpec)):
            return True
        if first.month is None and last.month is None:
            return False  # "3 - 5" is not a date without a month
        return self._add_range(match, first, last, found)

    def _add_range(
        self, match: re.Match[str], first: _DaySpec | int, last: _DaySpec | int, found: _Found
    ) -> bool:
        for group, end in (("a", first), ("b", last)):
            if isinstance(end, _DaySpec) and not end.exists():
                return self._impossible(match, group)
        found.spans |= self._range_days(first, last, found)
        return True

    def _on_until(self, match: re.Match[str], found: _Found, value: str) -> bool:
        last = self._endpoint(match["b"])
        if not isinstance(last, _DaySpec):
            return True
        if not last.exists():
            return self._impossible(match, "b")
        end = self._resolve(last)
        if end is not None:
            found.spans |= _days_between(self.today, end)
        return True

    def _on_week_of(self, match: re.Match[str], found: _Found, value: str) -> bool:
        spec = self._endpoint(match["a"])
        if not isinstance(spec, _DaySpec):
            return True
        if not spec.exists():
            return self._impossible(match, "a")
        day = self._resolve(spec)
        if day is not None:
            found.spans |= _week_of(day)
        return True

    def _on_nth_week(self, match: re.Match[str], found: _Found, value: str) -> bool:
        """ "la première semaine d'avril", "the last week of March": the weeks (Monday to
        Sunday) whose Monday falls in that month, counted from the first or the last."""
        month = self.grammar.words.months[_squash(match["m"])]
        year = int(match["y"]) if match["y"] else self.today.year + (month < self.today.month)
        mondays = [day for day in _whole_month(year, month) if day.weekday() == 0]
        index = self.grammar.words.week_ordinals[_squash(match["nth"])]
        if not mondays or abs(index) > len(mondays) or index == 0:
            return True
        monday = sorted(mondays)[index - 1 if index > 0 else index]
        found.spans |= _week_of(monday)
        return True

    def _on_day_and_next(self, match: re.Match[str], found: _Found, value: str) -> bool:
        """ "demain et le lendemain", "tomorrow and the day after", "le 12 mars et le lendemain"."""
        first = self._endpoint(match["a"])
        if isinstance(first, int):
            day: date | None = _next_weekday(self.today, first, include_today=False)
        elif first is None:
            return True
        elif not first.exists():
            return self._impossible(match, "a")
        else:
            day = self._resolve(first)
        if day is not None:
            found.specs += [self._spec_for(day), self._spec_for(day + timedelta(days=1))]
        return True

    def _on_weekend(self, match: re.Match[str], found: _Found, value: str) -> bool:
        """This weekend (today if it is Sunday), or the first one strictly after today."""
        if value == "1":
            saturday = _next_weekday(self.today, 5, include_today=False)
        else:
            saturday = self.today + timedelta(days=5 - self.today.weekday())
        found.spans |= {saturday, saturday + timedelta(days=1)}
        return True

    def _on_week_offset(self, match: re.Match[str], found: _Found, value: str) -> bool:
        found.spans |= _week_of(self.today + timedelta(weeks=int(value)))
        return True

    def _on_weeks_ahead(self, match: re.Match[str], found: _Found, value: str) -> bool:
        found.spans |= _week_of(self.today + timedelta(weeks=self._number(match["n"])))
        return True

    def _on_list(self, match: re.Match[str], found: _Found, value: str) -> bool:
        month_match = self.grammar.month_word.search(match.group(0))
        if month_match is None:
            return False
        month = self.grammar.month_names[_squash(month_match[1])]
        year = int(match["y"]) if match["y"] else None
        numbers = list(re.finditer(r"(?<!\d)\d{1,2}(?!\d)", match["days"]))
        for number in numbers:
            spec = _DaySpec(int(number.group(0)), month, year)
            if spec.exists():
                found.specs.append(spec)
            elif len(numbers) == 1:
                return self._impossible(match)
            else:  # "les 30 et 31 avril": quote "31 avril"
                day_at = match.start("days") + number.start()
                month_at = match.start() + month_match.start(1)
                day = self._quote(day_at, day_at + len(number.group(0)))
                month_name = self._quote(month_at, month_at + len(month_match[1]))
                self.invalid.append(
                    f"{day} {month_name}" if day_at < month_at else f"{month_name} {day}"
                )
        return True

    def _on_no_such_day(self, match: re.Match[str], found: _Found, value: str) -> bool:
        return self._impossible(match)  # "le 32 mars", "March 32nd"

    def _on_day_of_month(self, match: re.Match[str], found: _Found, value: str) -> bool:
        """ "le 12 du mois prochain", "the 12th of this month"."""
        year, month = _add_months(self.today.year, self.today.month, int(value))
        spec = _DaySpec(int(re.match(r"\d+", match["d"]).group(0)), month, year)
        if not spec.exists():
            return self._impossible(match)
        found.specs.append(spec)
        return True

    def _on_numeric(self, match: re.Match[str], found: _Found, value: str) -> bool:
        spec = self._numeric_spec(match.group(0))
        if spec is None:
            return True  # ambiguous: the parent is asked
        if not spec.exists():
            return self._impossible(match)
        found.specs.append(spec)
        return True

    def _on_day_only(self, match: re.Match[str], found: _Found, value: str) -> bool:
        numbers = re.findall(r"(?<!\d)\d{1,2}(?!\d)", match["days"])
        article = match.groupdict().get("art") or ""
        if article and article == self.words.plural_article and len(numbers) == 1:
            return False  # "les 3 activites"
        if self.words.day_needs_ordinal and article == self.words.article and not found.exception:
            if not self.grammar.ordinal.search(match.group(0)):
                return False  # "the 5 best activities"
        weekday = self._weekday_in(match["days"]) if len(numbers) == 1 else None
        found.specs += [_DaySpec(int(number), weekday=weekday) for number in numbers]
        return True

    def _on_month_offset(self, match: re.Match[str], found: _Found, value: str) -> bool:
        found.spans |= _whole_month(*_add_months(self.today.year, self.today.month, int(value)))
        return True

    def _on_month(self, match: re.Match[str], found: _Found, value: str) -> bool:
        name = _squash(match["m"])
        if name in self.words.months_needing_preposition:
            if not (match["prep"] or match["y"]):
                return False
        month = self.words.months[name]
        if match["y"]:
            year = int(match["y"])
        else:
            year = self.today.year + (month < self.today.month)
        found.spans |= _whole_month(year, month)
        return True

    def _on_day_offset(self, match: re.Match[str], found: _Found, value: str) -> bool:
        found.specs.append(self._spec_for(self.today + timedelta(days=int(value))))
        return True

    def _on_days_ahead(self, match: re.Match[str], found: _Found, value: str) -> bool:
        found.specs.append(self._spec_for(self.today + timedelta(days=self._number(match["n"]))))
        return True

    def _on_filter(self, match: re.Match[str], found: _Found, value: str) -> bool:
        weekdays = self.words.weekday_filters[int(value)][1]
        found.weekday_filter |= weekdays
        found.recurring |= weekdays == EVERY_DAY  # "tous les jours": which period?
        return True

    def _on_weekday(self, match: re.Match[str], found: _Found, value: str) -> bool:
        later = match["later"] or ""
        extra = sum(n for p, n in self.words.later_weekday if re.fullmatch(p, later))
        weekday = self.words.weekdays[match["wd"]]
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

    def _weekday_in(self, text: str) -> int | None:
        match = self.grammar.weekday_word.search(text)
        return self.words.weekdays[match[1]] if match else None

    def _number(self, text: str) -> int:
        return int(text) if text.isdigit() else self.words.numbers[_squash(text)]

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
        """The day of "12/03", maybe one that no month has ("31/04", "45/13"); None when it
        has two upcoming readings (then `ambiguous` is set)."""
        parts = [int(part) for part in re.split(r"[/.\-]", text)]
        if re.match(r"\d{4}-", text):
            year, month, day = parts
            return _DaySpec(day, month, year)
        year = None if len(parts) == 2 else (parts[2] + 2000 if parts[2] < 100 else parts[2])
        first, second = parts[0], parts[1]
        if self.day_first is not None:
            day, month = (first, second) if self.day_first else (second, first)
            return _DaySpec(day, month, year)
        readings: dict[date, _DaySpec] = {}
        others: list[_DaySpec] = []  # past or impossible readings
        for spec in (_DaySpec(first, second, year), _DaySpec(second, first, year)):
            day = self._resolve(spec) if spec.exists() else None
            if day is not None and day >= self.today:
                readings[day] = spec
            else:
                others.append(spec)
        if len(readings) > 1:
            if self.ambiguous is None:
                self.ambiguous = AmbiguousDate(tuple(sorted(readings)), text)
            return None
        if readings:
            return next(iter(readings.values()))
        return min(others, key=lambda spec: not spec.exists())  # a past day before no day

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
        elif found.recurring:
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

    def select(
        self, days: set[date], main: _Found, excluded: _Found
    ) -> DateSelection | InvalidDate | None:
        """The days to come, one unit in n ("un mercredi sur deux"), exceptions removed."""
        upcoming = sorted(day for day in days if day >= self.today)
        if main.step is not None:
            upcoming = _every_nth(upcoming, *main.step)
        kept = tuple(day for day in upcoming if not self.excludes(excluded, day))
        if kept:
            return DateSelection(kept)
        return InvalidDate(self.invalid[0]) if self.invalid else None

    def excludes(self, excluded: _Found, day: date) -> bool:
        """Whether the exception names `day`: its weekdays within its period if it has one
        ("sauf les mercredis de la semaine prochaine"), a day number in any month."""
        weekdays = excluded.weekdays()
        if excluded.spans:
            named = day in excluded.spans and (not weekdays or day.weekday() in weekdays)
        else:
            named = day.weekday() in weekdays
        return (
            named
            or any(spec.matches(day) for spec in excluded.specs)
            or (excluded.public_holidays and _is_public_holiday(day))
        )


# --- dateparser, for the few relative phrasings the grammar leaves ("dans une quinzaine") ---

_DATEPARSER_SETTINGS = {
    "fr": {"PREFER_DATES_FROM": "future", "DATE_ORDER": "DMY", "RETURN_AS_TIMEZONE_AWARE": False},
    "en": {"PREFER_DATES_FROM": "future", "DATE_ORDER": "MDY", "RETURN_AS_TIMEZONE_AWARE": False},
}


_DURATION = re.compile(
    r"\b(?:ans?|annees?|mois|heures?|h|min\w*|years?|months?|hours?)\b|\d\s*h\b|[/.:]"
)


def _dateparser_fallback(
    text: str, now: datetime, grammar: _Grammar
) -> tuple[set[date], tuple[tuple[int, int], ...]]:
    """Ask dateparser about short messages with a relative phrase the grammar skipped; the
    day found and where its words are."""
    normalized = normalize(text)
    if len(text) > FALLBACK_MAX_LENGTH or not grammar.fallback_marker.search(normalized):
        return set(), ()
    settings = dict(_DATEPARSER_SETTINGS[grammar.locale], RELATIVE_BASE=now.replace(tzinfo=None))
    try:
        results = search_dates(text, languages=[grammar.locale], settings=settings) or []
    except Exception:  # dateparser has no documented exceptions; a message must never crash
        return set(), ()
    today = now.date()
    for fragment, value in results:
        if _DURATION.search(normalize(fragment)):
            continue  # "7 ans", "14h", "12/03": quantities, or dates the grammar refused
        if today <= value.date() <= today + FALLBACK_HORIZON:
            start = text.find(fragment)
            return {value.date()}, (((start, start + len(fragment)),) if start >= 0 else ())
    return set(), ()
