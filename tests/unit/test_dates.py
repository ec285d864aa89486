"""Natural-language dates: French and English phrasings, ambiguity, invalid and non-dates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs.dates import AmbiguousDate, DateSelection, parse_dates

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=PARIS)  # a Monday
NOVEMBER = datetime(2026, 11, 23, 9, 0, tzinfo=PARIS)  # a Monday, before the new year


def d(text: str) -> date:
    """ "03-12" is 12 March 2027; "2028-03-12" names its year."""
    parts = [int(part) for part in text.split("-")]
    return date(*parts) if len(parts) == 3 else date(2027, *parts)


def days(*texts: str) -> tuple[date, ...]:
    return tuple(d(text) for text in texts)


def span(first: str, last: str) -> tuple[date, ...]:
    start, end = d(first), d(last)
    return tuple(start + timedelta(days=n) for n in range((end - start).days + 1))


MARCH_WEDNESDAYS = days("03-03", "03-10", "03-17", "03-24", "03-31")
MARCH_MONDAYS_THURSDAYS = days(
    "03-01", "03-04", "03-08", "03-11", "03-15", "03-18", "03-22", "03-25", "03-29"
)
JULY_6_TO_10 = span("07-06", "07-10")
NEXT_WEEK = span("03-08", "03-14")

FRENCH = [
    # single relative days
    ("demain", days("03-02")),
    ("DEMAIN !!!", days("03-02")),
    ("après-demain", days("03-03")),
    ("apres demain", days("03-03")),
    ("aujourd'hui", days("03-01")),
    ("aujourd’hui", days("03-01")),
    ("dans 3 jours", days("03-04")),
    ("demain en huit", days("03-09")),
    # explicit dates
    ("le 12/03", days("03-12")),
    ("12/03/2027", days("03-12")),
    ("le 12/03/27", days("03-12")),
    ("le 12.03.2027", days("03-12")),
    ("2027-03-12", days("03-12")),
    ("le 12 mars", days("03-12")),
    ("LE 12 MARS", days("03-12")),
    ("le 12 mars 2028", days("2028-03-12")),
    ("le 1er avril", days("04-01")),
    ("le premier avril", days("04-01")),
    ("le douze mars", days("03-12")),
    ("le 12 mars à 14h", days("03-12")),
    ("mon fils a 10 ans le 12 mars", days("03-12")),
    ("mercredi 17 mars", days("03-17")),
    ("le 17", days("03-17")),
    ("vendredi 13", days("08-13")),  # the next Friday the 13th
    ("le 29 février", days("2028-02-29")),
    ("Peux-tu inscrire Paolo le 12 mars et le 3 avril ?", days("03-12", "04-03")),
    # weekdays: strictly after today, unless "ce"
    ("mercredi", days("03-03")),
    ("mercredi prochain", days("03-03")),
    ("lundi", days("03-08")),
    ("ce lundi", days("03-01")),
    ("mercredi en huit", days("03-10")),
    ("annule mercredi pour Paolo", days("03-03")),
    ("lundi et jeudi prochains", days("03-04", "03-08")),
    ("lundi et jeudi", days("03-04", "03-08")),
    ("lundi et jeudi de la semaine prochaine", days("03-08", "03-11")),
    # ranges
    ("du 6 au 10 juillet", JULY_6_TO_10),
    ("du 6 juillet au 10 juillet", JULY_6_TO_10),
    ("du 6/07 au 10/07", JULY_6_TO_10),
    ("entre le 6 et le 10 juillet", JULY_6_TO_10),
    ("6-10 juillet", JULY_6_TO_10),
    ("du 1er au 15 juillet", span("07-01", "07-15")),
    ("du 30/06 au 03/07", span("06-30", "07-03")),
    ("du 28 février au 3 mars", span("03-01", "03-03")),  # 28 February is already gone
    ("d'aujourd'hui à vendredi", span("03-01", "03-05")),
    ("du lundi au vendredi de la semaine prochaine", span("03-08", "03-12")),
    ("du lundi au vendredi", span("03-08", "03-12")),
    # recurring weekdays in a period
    ("tous les mercredis de mars", MARCH_WEDNESDAYS),
    ("les mercredis de mars", MARCH_WEDNESDAYS),
    ("Tous les Mercredis de Mars", MARCH_WEDNESDAYS),
    ("tous les lundis et jeudis de mars", MARCH_MONDAYS_THURSDAYS),
    ("inscris Léa à la cantine tous les lundis et jeudis de mars", MARCH_MONDAYS_THURSDAYS),
    (
        "tous les mercredis du 4 mars au 15 avril",
        days("03-10", "03-17", "03-24", "03-31", "04-07", "04-14"),
    ),
    (
        "tous les mercredis jusqu'au 15 avril",
        days("03-03", "03-10", "03-17", "03-24", "03-31", "04-07", "04-14"),
    ),
    (
        "les mercredis de mars et d'avril",
        MARCH_WEDNESDAYS + days("04-07", "04-14", "04-21", "04-28"),
    ),
    # exceptions
    ("tous les mercredis de mars sauf le 17", days("03-03", "03-10", "03-24", "03-31")),
    ("tous les mercredis de mars sauf le 17 mars", days("03-03", "03-10", "03-24", "03-31")),
    ("tous les mercredis de mars sauf le 17 et le 24", days("03-03", "03-10", "03-31")),
    ("du 6 au 17 juillet sauf le 14 juillet", span("07-06", "07-13") + span("07-15", "07-17")),
    ("du 6 au 17 juillet sauf du 10 au 12", span("07-06", "07-09") + span("07-13", "07-17")),
    (
        "tous les jours de la semaine prochaine sauf mercredi",
        days("03-08", "03-09") + span("03-11", "03-14"),
    ),
    # weeks
    ("la semaine prochaine", NEXT_WEEK),
    ("tous les jours de la semaine prochaine", NEXT_WEEK),
    ("cette semaine", span("03-01", "03-07")),
    ("dans 2 semaines", span("03-15", "03-21")),
    ("dans deux semaines", span("03-15", "03-21")),
    ("la semaine du 6 juillet", span("07-05", "07-11")),
    ("en semaine la semaine prochaine", span("03-08", "03-12")),
    ("ce week-end", days("03-06", "03-07")),
    ("le week-end prochain", days("03-06", "03-07")),
    # months
    ("en juillet", span("07-01", "07-31")),
    ("juillet", span("07-01", "07-31")),
    ("le mois prochain", span("04-01", "04-30")),
    ("le 12 du mois prochain", days("04-12")),
    ("quelles activités pour un enfant de 7 ans en juillet ?", span("07-01", "07-31")),
    (
        "les week-ends de mars",
        days("03-06", "03-07", "03-13", "03-14", "03-20", "03-21", "03-27", "03-28"),
    ),
    ("tous les mercredis de mars 2028", days("2028-03-01", "2028-03-08", "2028-03-15",
                                             "2028-03-22", "2028-03-29")),
    # lists
    ("les 3, 5 et 12 mars", days("03-03", "03-05", "03-12")),
    ("le 3 et le 5 mars", days("03-03", "03-05")),
    ("le mercredi 3 et le jeudi 4 mars", days("03-03", "03-04")),
    ("le 3 mars et le 5 avril", days("03-03", "04-05")),
]  # fmt: skip

ENGLISH = [
    ("tomorrow", days("03-02")),
    ("today", days("03-01")),
    ("the day after tomorrow", days("03-03")),
    ("in 3 days", days("03-04")),
    ("a week from tomorrow", days("03-09")),
    ("March 12", days("03-12")),
    ("12 March", days("03-12")),
    ("March 12th", days("03-12")),
    ("the 12th of March", days("03-12")),
    ("the twelfth of March", days("03-12")),
    ("March 3, 2027", days("03-03")),
    ("Can you book Leo on March 12?", days("03-12")),
    ("13/04", days("04-13")),
    ("04/13", days("04-13")),
    ("on the 17th", days("03-17")),
    ("Wednesday the 17th", days("03-17")),
    ("on Wednesday", days("03-03")),
    ("next Wednesday", days("03-03")),
    ("this Monday", days("03-01")),
    ("Monday and Thursday next week", days("03-08", "03-11")),
    ("from 6 to 10 July", JULY_6_TO_10),
    ("July 6 to July 10", JULY_6_TO_10),
    ("July 6-10", JULY_6_TO_10),
    ("between July 6 and 10", JULY_6_TO_10),
    ("from the 6th to the 10th", span("03-06", "03-10")),
    ("from 03/04 to 15/04", span("04-03", "04-15")),  # 15/04 tells the order
    ("from Monday to Friday next week", span("03-08", "03-12")),
    ("every Wednesday in March", MARCH_WEDNESDAYS),
    ("Every Monday and Thursday in March except the 17th", MARCH_MONDAYS_THURSDAYS),
    (
        "every Monday and Thursday in March except the 18th",
        days("03-01", "03-04", "03-08", "03-11", "03-15", "03-22", "03-25", "03-29"),
    ),
    ("every day next week except Wednesday", days("03-08", "03-09") + span("03-11", "03-14")),
    ("next week", NEXT_WEEK),
    ("in two weeks", span("03-15", "03-21")),
    ("in 2 weeks", span("03-15", "03-21")),
    ("the week of July 6", span("07-05", "07-11")),
    ("in July", span("07-01", "07-31")),
    ("in May", span("05-01", "05-31")),
    ("this weekend", days("03-06", "03-07")),
    ("next weekend", days("03-06", "03-07")),
    ("the 12th of next month", days("04-12")),
    ("March 3rd to 5th", days("03-03", "03-04", "03-05")),
    ("from March 30 to April 2", span("03-30", "04-02")),
    ("Wednesdays in April", days("04-07", "04-14", "04-21", "04-28")),
    ("on Monday, Wednesday and Friday next week", days("03-08", "03-10", "03-12")),
    ("March 3, 5 and 12", days("03-03", "03-05", "03-12")),
    ("in a fortnight", days("03-15")),  # left to dateparser
]

ROLL_OVER = [  # now: Monday 23 November 2026
    ("fr", "mars", span("2027-03-01", "2027-03-31")),
    ("fr", "le 12/03", days("2027-03-12")),
    ("fr", "le 12 mars", days("2027-03-12")),
    ("fr", "le 20 novembre", days("2027-11-20")),
    ("fr", "en novembre", span("2026-11-23", "2026-11-30")),
    ("fr", "lundi", days("2026-11-30")),
    ("fr", "du 28 décembre au 3 janvier", span("2026-12-28", "2027-01-03")),
    ("fr", "du 28 au 3 janvier", span("2026-12-28", "2027-01-03")),
    ("fr", "du 28 février au 3 mars", span("2027-02-28", "2027-03-03")),
    ("fr", "la semaine du 28 décembre", span("2026-12-28", "2027-01-03")),
    ("fr", "tous les mercredis de janvier", days("2027-01-06", "2027-01-13", "2027-01-20",
                                                 "2027-01-27")),
    ("fr", "le mois prochain", span("2026-12-01", "2026-12-31")),
    ("en", "March 12", days("2027-03-12")),
    ("en", "every Wednesday in January", days("2027-01-06", "2027-01-13", "2027-01-20",
                                              "2027-01-27")),
]  # fmt: skip

NO_DATE = [
    ("fr", ""),
    ("fr", "   "),
    ("fr", "bonjour"),
    ("fr", "mon solde"),
    ("fr", "7 ans"),
    ("fr", "un enfant de 7 ans"),
    ("fr", "j'ai 3 enfants de 4, 6 et 9 ans"),
    ("fr", "les 3 activités"),
    ("fr", "de 9h à 17h"),
    ("fr", "entre 5 et 7 ans"),
    ("fr", "je paierai 12.50 euros"),
    ("fr", "06 12 34 56 78"),
    ("fr", "hier"),
    ("fr", "à 14h30"),
    ("fr", "il y a 3 semaines"),
    ("fr", "combien ça coûte pour 3 jours ?"),
    ("fr", "marsupilami"),
    ("fr", "🎉🎈"),
    ("fr", "SELECT * FROM bookings; DROP TABLE children;--"),
    ("fr", "tous les mercredis"),  # no period: the dialog asks which one
    ("en", "hello"),
    ("en", "my balance"),
    ("en", "activities for a 7 year old"),
    ("en", "I may come later"),
    ("en", "the 5 best activities"),
    ("en", "from 6 to 10"),
    ("en", "every Wednesday"),
]

INVALID = [
    ("fr", "le 31 février"),
    ("fr", "le 30 février"),
    ("fr", "le 45/13"),
    ("fr", "31/02/2027"),
    ("fr", "du 30 février au 3 mars"),
    ("fr", "le 12/03/2020"),  # in the past
    ("en", "February 30"),
    ("en", "13/13"),
]


@pytest.mark.parametrize(("text", "expected"), FRENCH, ids=[case[0] for case in FRENCH])
def test_french(text: str, expected: tuple[date, ...]) -> None:
    assert parse_dates(text, now=NOW, locale="fr") == DateSelection(expected)


@pytest.mark.parametrize(("text", "expected"), ENGLISH, ids=[case[0] for case in ENGLISH])
def test_english(text: str, expected: tuple[date, ...]) -> None:
    assert parse_dates(text, now=NOW, locale="en") == DateSelection(expected)


@pytest.mark.parametrize(("locale", "text", "expected"), ROLL_OVER)
def test_year_roll_over(locale: str, text: str, expected: tuple[date, ...]) -> None:
    assert parse_dates(text, now=NOVEMBER, locale=locale) == DateSelection(expected)


@pytest.mark.parametrize(("locale", "text"), NO_DATE)
def test_text_without_dates(locale: str, text: str) -> None:
    assert parse_dates(text, now=NOW, locale=locale) is None


@pytest.mark.parametrize(("locale", "text"), INVALID)
def test_invalid_dates_are_skipped(locale: str, text: str) -> None:
    assert parse_dates(text, now=NOW, locale=locale) is None


@pytest.mark.parametrize(
    ("text", "candidates", "fragment"),
    [
        ("03/04", days("03-04", "04-03"), "03/04"),
        ("please book 03/04 for Leo", days("03-04", "04-03"), "03/04"),
        ("03/04/2027", days("03-04", "04-03"), "03/04/2027"),
        ("02/03", days("03-02", "2028-02-03"), "02/03"),  # 3 February is gone this year
        ("from 03/04 to 03/10", days("03-04", "04-03"), "03/04"),
    ],
)
def test_english_numeric_dates_can_be_ambiguous(
    text: str, candidates: tuple[date, ...], fragment: str
) -> None:
    assert parse_dates(text, now=NOW, locale="en") == AmbiguousDate(candidates, fragment)


@pytest.mark.parametrize(
    ("locale", "text", "expected"),
    [
        ("fr", "03/04", days("04-03")),  # French numeric dates are day/month
        ("en", "04/04", days("04-04")),  # both readings agree
        ("en", "03/04/2026", ()),  # past either way: nothing to ask
    ],
)
def test_numeric_dates_without_ambiguity(
    locale: str, text: str, expected: tuple[date, ...]
) -> None:
    result = parse_dates(text, now=NOW, locale=locale)
    assert result == (DateSelection(expected) if expected else None)


def test_now_is_read_in_paris_time() -> None:
    late_utc = datetime(2027, 2, 28, 23, 30, tzinfo=ZoneInfo("UTC"))  # 00:30 on 1 March in Paris
    assert parse_dates("aujourd'hui", now=late_utc, locale="fr") == DateSelection(days("03-01"))


def test_regional_locales_fall_back_to_their_language() -> None:
    assert parse_dates("tomorrow", now=NOW, locale="en_GB") == DateSelection(days("03-02"))
    assert parse_dates("demain", now=NOW, locale="fr-FR") == DateSelection(days("03-02"))


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_very_long_text_does_not_raise(locale: str) -> None:
    assert parse_dates("x" * 10_000, now=NOW, locale=locale) is None
    assert parse_dates("1, " * 4_000, now=NOW, locale=locale) is None
    result = parse_dates("demain tomorrow " + "blabla " * 2_000, now=NOW, locale=locale)
    assert result == DateSelection(days("03-02"))


_WORDS = st.sampled_from(
    "le les du au et entre sauf tous chaque mercredis lundi prochain semaine dans deux "
    "jours mois mars juillet fevrier 1er 3 12 17 31 45 2027 12/03 03/04 31/02 - , / . "
    "the from to between and every except next week in march july 17th 2nd on this "
    "demain aujourd'hui tomorrow today ans years h weekend en huit".split()
)


def _assert_well_formed(result: object) -> None:
    if isinstance(result, DateSelection):
        assert result.dates
        assert list(result.dates) == sorted(set(result.dates))
        assert result.dates[0] >= NOW.date()
    elif isinstance(result, AmbiguousDate):
        assert len(result.candidates) >= 2
    else:
        assert result is None


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200), locale=st.sampled_from(["fr", "en"]))
def test_arbitrary_text_never_raises(text: str, locale: str) -> None:
    _assert_well_formed(parse_dates(text, now=NOW, locale=locale))


@settings(max_examples=300, deadline=None)
@given(words=st.lists(_WORDS, max_size=12), locale=st.sampled_from(["fr", "en"]))
def test_date_like_word_salad_never_raises(words: list[str], locale: str) -> None:
    _assert_well_formed(parse_dates(" ".join(words), now=NOW, locale=locale))
