"""Natural-language dates: French and English phrasings, holidays, ambiguity, invalid, non-dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs.dates import (
    AmbiguousDate,
    DateReading,
    DateSelection,
    InvalidDate,
    parse_dates,
    read_dates,
)

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


def but(selection: tuple[date, ...], *, weekday: int) -> tuple[date, ...]:
    """The days of `selection` that are not on `weekday` (Monday is 0)."""
    return tuple(day for day in selection if day.weekday() != weekday)


MARCH = span("03-01", "03-31")
MAY_WITHOUT_PUBLIC_HOLIDAYS = tuple(
    day for day in span("05-01", "05-31") if day not in days("05-01", "05-06", "05-08", "05-17")
)
MARCH_WEDNESDAYS = days("03-03", "03-10", "03-17", "03-24", "03-31")
APRIL_MONDAYS = days("04-05", "04-12", "04-19", "04-26")
EVERY_OTHER_MARCH_WEDNESDAY = days("03-03", "03-17", "03-31")
EVERY_OTHER_WEEK_OF_MARCH = span("03-01", "03-07") + span("03-15", "03-21") + span("03-29", "03-31")
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
    ("le 1er", days("03-01")),
    # weekdays of a month named by its offset
    ("tous les mercredis du mois", MARCH_WEDNESDAYS),
    ("les mercredis de ce mois", MARCH_WEDNESDAYS),
    ("tous les mercredis de ce mois-ci", MARCH_WEDNESDAYS),
    ("tous les lundis du mois prochain", APRIL_MONDAYS),
    ("le 12 de ce mois", days("03-12")),
    ("le 12 du mois de mars", days("03-12")),
    ("tout le mois d'avril", span("04-01", "04-30")),
    # an exception's day number takes the months of the selection
    ("du 6 au 10 juillet sauf le 8", days("07-06", "07-07", "07-09", "07-10")),
    ("tous les mercredis d'avril sauf le 14", days("04-07", "04-21", "04-28")),
    ("les 4 prochains mercredis sauf le 10", days("03-03", "03-17", "03-24")),
    # an exception's weekday, with or without its article, removes every such day
    ("tous les jours de mars sauf le mercredi", but(MARCH, weekday=2)),
    ("tous les jours de la semaine prochaine sauf le mercredi", but(NEXT_WEEK, weekday=2)),
    ("la semaine prochaine sauf les mercredis", but(NEXT_WEEK, weekday=2)),
    ("tous les jours sauf le mercredi la semaine prochaine", but(NEXT_WEEK, weekday=2)),
    ("tous les mercredis sauf le 17 de mars", days("03-03", "03-10", "03-24", "03-31")),
    ("tous les jours de mars sauf les mercredis de la semaine prochaine",
     tuple(day for day in MARCH if day != d("03-10"))),
    # one in two, counted from the first day of the period still to come
    ("un mercredi sur deux en mars", EVERY_OTHER_MARCH_WEDNESDAY),
    ("un mercredi sur deux en avril", days("04-07", "04-21")),
    ("un mercredi sur deux du 10 mars au 30 avril", days("03-10", "03-24", "04-07", "04-21")),
    ("une semaine sur deux en mars", EVERY_OTHER_WEEK_OF_MARCH),
    ("toutes les deux semaines en mars", EVERY_OTHER_WEEK_OF_MARCH),
    ("le lundi une semaine sur deux en mars", days("03-01", "03-15", "03-29")),
    ("un jour sur deux la semaine prochaine", days("03-08", "03-10", "03-12", "03-14")),
    ("le mercredi tous les quinze jours en mars", EVERY_OTHER_MARCH_WEDNESDAY),
    # the next n weekdays (strictly after today), weeks (after this one) or days
    ("les 3 prochains mercredis", days("03-03", "03-10", "03-17")),
    ("les trois prochains mercredis", days("03-03", "03-10", "03-17")),
    ("les 2 prochains lundis", days("03-08", "03-15")),
    ("les 2 prochaines semaines", span("03-08", "03-21")),
    ("les deux prochaines semaines", span("03-08", "03-21")),
    ("les mercredis des 3 prochaines semaines", days("03-10", "03-17", "03-24")),
    ("les 3 prochains jours", days("03-02", "03-03", "03-04")),
    # two days in a row
    ("demain et après-demain", days("03-02", "03-03")),
    ("aujourd'hui et demain", days("03-01", "03-02")),
    ("demain et le lendemain", days("03-02", "03-03")),
    ("le 12 mars et le lendemain", days("03-12", "03-13")),
    ("jeudi en huit", days("03-11")),
    # a run of weekdays within a period
    ("du lundi au jeudi la semaine prochaine", span("03-08", "03-11")),
    ("de lundi à jeudi de la semaine prochaine", span("03-08", "03-11")),
    ("lundi au jeudi la semaine prochaine", span("03-08", "03-11")),
    ("du mercredi au vendredi de la semaine du 12 avril", span("04-14", "04-16")),
    # public holidays
    ("le lundi de Pâques", days("03-29")),
    ("lundi de Pâques", days("03-29")),
    ("l'Ascension", days("05-06")),
    ("le jeudi de l'Ascension", days("05-06")),
    ("la Pentecôte", days("05-17")),
    ("le lundi de Pentecôte", days("05-17")),
    ("le 14 juillet", days("07-14")),
    ("la Toussaint", days("11-01")),
    ("le jour de Noël", days("12-25")),
    ("tous les jours de mai sauf les jours fériés", MAY_WITHOUT_PUBLIC_HOLIDAYS),
    ("du 3 au 9 mai sauf les jours fériés", days("05-03", "05-04", "05-05", "05-07", "05-09")),
    ("tous les lundis de mars et d'avril sauf le lundi de Pâques",
     days("03-01", "03-08", "03-15", "03-22") + APRIL_MONDAYS),
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
    ("the 1st", days("03-01")),
    ("the 1st of April", days("04-01")),
    ("every Wednesday this month", MARCH_WEDNESDAYS),
    ("every Wednesday of the month", MARCH_WEDNESDAYS),
    ("every Monday next month", APRIL_MONDAYS),
    ("the 12th of this month", days("03-12")),
    ("in the month of May", span("05-01", "05-31")),
    ("every Monday in March except the 15th", days("03-01", "03-08", "03-22", "03-29")),
    ("from July 6 to 10 except the 8th", days("07-06", "07-07", "07-09", "07-10")),
    ("every day in March except Wednesdays", but(MARCH, weekday=2)),
    ("every day except Wednesday next week", but(NEXT_WEEK, weekday=2)),
    ("every other Wednesday in March", EVERY_OTHER_MARCH_WEDNESDAY),
    ("one Wednesday in two in March", EVERY_OTHER_MARCH_WEDNESDAY),
    ("every second Wednesday in April", days("04-07", "04-21")),
    ("every other week in March", EVERY_OTHER_WEEK_OF_MARCH),
    ("every 2 weeks in March", EVERY_OTHER_WEEK_OF_MARCH),
    ("Wednesdays fortnightly in March", EVERY_OTHER_MARCH_WEDNESDAY),
    ("the next 3 Wednesdays", days("03-03", "03-10", "03-17")),
    ("the next three Wednesdays", days("03-03", "03-10", "03-17")),
    ("next 2 Mondays", days("03-08", "03-15")),
    ("the next 2 weeks", span("03-08", "03-21")),
    ("the next two weeks", span("03-08", "03-21")),
    ("tomorrow and the day after", days("03-02", "03-03")),
    ("today and tomorrow", days("03-01", "03-02")),
    ("March 12 and the day after", days("03-12", "03-13")),
    ("Monday to Thursday next week", span("03-08", "03-11")),
    ("Easter Monday", days("03-29")),
    ("Whit Monday", days("05-17")),
    ("Ascension Day", days("05-06")),
    ("every day in May except public holidays", MAY_WITHOUT_PUBLIC_HOLIDAYS),
    ("from May 3 to 9 except bank holidays", days("05-03", "05-04", "05-05", "05-07", "05-09")),
    ("lea wednesday club 10th", days("03-03", "03-10")),  # a bare ordinal is a day
    ("lunch for Paolo Thursday week", days("03-11")),
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
    ("fr", "tous les mercredis du mois", days("2026-11-25")),
    ("fr", "les 3 prochains lundis", days("2026-11-30", "2026-12-07", "2026-12-14")),
    ("fr", "la Toussaint", days("2027-11-01")),  # this year's is over
    ("fr", "le lundi de Pâques", days("2027-03-29")),
    ("en", "Easter Monday", days("2027-03-29")),
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
    ("fr", "2 enfants"),
    ("fr", "les 3 prochaines activités"),
    ("fr", "un mercredi sur deux"),
    ("fr", "une semaine sur deux"),
    ("fr", "tous les jours"),
    ("fr", "tous les jours sauf le mercredi"),
    ("fr", "je pars en vacances"),
    ("fr", "les jours fériés"),
    ("fr", "le mois dernier"),
    ("fr", "le prix du mois"),
    ("fr", "5 euros le mois"),
    ("fr", "un enfant sur deux"),
    ("fr", "réserve pour Noël"),  # a child's first name
    ("fr", "le 12/03/2020"),  # in the past
    ("en", "hello"),
    ("en", "my balance"),
    ("en", "activities for a 7 year old"),
    ("en", "I may come later"),
    ("en", "the 5 best activities"),
    ("en", "from 6 to 10"),
    ("en", "every Wednesday"),
    ("en", "every other Wednesday"),
    ("en", "every day"),
    ("en", "2 kids"),
    ("en", "a week in a row"),
    ("en", "on the assumption that"),
    ("en", "the price of the month"),
    ("en", "the Christmas show"),
    ("en", "my son is in 5th grade"),
]

IMPOSSIBLE = [  # (locale, text, the fragment quoted back)
    ("fr", "le 31 février", "31 février"),
    ("fr", "le 30 février", "30 février"),
    ("fr", "31 avril", "31 avril"),
    ("fr", "le trente et un avril", "trente et un avril"),
    ("fr", "31/04", "31/04"),
    ("fr", "31/02/2027", "31/02/2027"),
    ("fr", "le 29 février 2027", "29 février 2027"),
    ("fr", "du 30 février au 3 mars", "30 février"),
    ("fr", "du 28 au 31 avril", "31 avril"),
    ("fr", "le 31 du mois prochain", "31 du mois prochain"),  # April has 30 days
    ("en", "February 30", "February 30"),
    ("en", "April 31st", "April 31st"),
    ("en", "the 31st of April", "31st of April"),
    ("en", "31/04", "31/04"),
    ("fr", "le 45/13", "45/13"),
    ("en", "13/13", "13/13"),
    ("fr", "le 32 mars", "32 mars"),
    ("en", "on March 32nd", "March 32nd"),
]

SCHOOL_HOLIDAYS = (
    ("hiver", date(2027, 2, 6), date(2027, 2, 21)),
    ("printemps", date(2027, 4, 10), date(2027, 4, 25)),
    ("ascension", date(2027, 5, 6), date(2027, 5, 9)),
    ("ete", date(2027, 7, 3), date(2027, 8, 31)),
    ("toussaint", date(2027, 10, 16), date(2027, 11, 1)),
    ("noel", date(2027, 12, 18), date(2028, 1, 2)),
    ("hiver", date(2028, 2, 12), date(2028, 2, 27)),
)
SPRING = span("04-10", "04-25")
SUMMER = span("07-03", "08-31")
WINTER = span("2028-02-12", "2028-02-27")  # this year's are over

SCHOOL = [
    ("fr", "pendant les vacances de printemps", SPRING),
    ("fr", "aux vacances de la Toussaint", span("10-16", "11-01")),
    ("fr", "les vacances de Noël", span("12-18", "2028-01-02")),
    ("fr", "les vacances d'hiver", WINTER),
    ("fr", "les vacances de février", WINTER),
    ("fr", "cet été", SUMMER),
    ("fr", "les grandes vacances", SUMMER),
    ("fr", "pendant les vacances d'été", SUMMER),
    ("fr", "le pont de l'Ascension", span("05-06", "05-09")),
    ("fr", "pendant les vacances", SPRING),  # the next ones, whatever their kind
    ("fr", "tous les mercredis des vacances de printemps", days("04-14", "04-21")),
    ("fr", "tous les mercredis d'avril sauf pendant les vacances de printemps",
     days("04-07", "04-28")),
    ("fr", "tous les mercredis jusqu'aux vacances de printemps", MARCH_WEDNESDAYS + days("04-07")),
    ("en", "during the spring holidays", SPRING),
    ("en", "spring break", SPRING),
    ("en", "Christmas holidays", span("12-18", "2028-01-02")),
    ("en", "summer holidays", SUMMER),
    ("en", "half term (February)", WINTER),
    ("en", "February half term", WINTER),
    ("en", "every Wednesday until the spring holidays", MARCH_WEDNESDAYS + days("04-07")),
]  # fmt: skip


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


@pytest.mark.parametrize(("locale", "text", "fragment"), IMPOSSIBLE)
def test_a_date_no_month_has_is_quoted_back(locale: str, text: str, fragment: str) -> None:
    assert parse_dates(text, now=NOW, locale=locale) == InvalidDate(fragment)


@pytest.mark.parametrize(
    ("text", "expected", "invalid"),
    [
        ("le 12 mars et le 31 avril", days("03-12"), ("31 avril",)),
        ("les 30 et 31 avril", days("04-30"), ("31 avril",)),
        ("tous les mercredis de mars sauf le 31 février", MARCH_WEDNESDAYS, ("31 février",)),
    ],
)
def test_valid_dates_are_kept_beside_impossible_ones(
    text: str, expected: tuple[date, ...], invalid: tuple[str, ...]
) -> None:
    reading = read_dates(text, now=NOW, locale="fr")
    assert (reading.result, reading.invalid) == (DateSelection(expected), invalid)


@pytest.mark.parametrize(("locale", "text", "expected"), SCHOOL)
def test_school_holidays(locale: str, text: str, expected: tuple[date, ...]) -> None:
    result = parse_dates(text, now=NOW, locale=locale, school_holidays=SCHOOL_HOLIDAYS)
    assert result == DateSelection(expected)


@dataclass(frozen=True)
class SchoolHoliday:
    kind: str
    first: date
    last: date


def test_school_holidays_in_progress_start_today_and_may_be_objects() -> None:
    during = datetime(2027, 4, 20, 9, 0, tzinfo=PARIS)
    holidays = [SchoolHoliday("printemps", date(2027, 4, 10), date(2027, 4, 25))]
    result = parse_dates(
        "les vacances de printemps", now=during, locale="fr", school_holidays=holidays
    )
    assert result == DateSelection(span("04-20", "04-25"))


@pytest.mark.parametrize(
    ("locale", "text", "fragment"),
    [
        ("fr", "pendant les vacances de printemps", "vacances de printemps"),
        ("fr", "les vacances de la Toussaint", "vacances de la Toussaint"),  # not 1 November
        ("en", "spring break", "spring break"),
    ],
)
def test_school_holidays_without_a_calendar_are_not_understood(
    locale: str, text: str, fragment: str
) -> None:
    assert parse_dates(text, now=NOW, locale=locale) == InvalidDate(fragment)


def test_school_holidays_without_a_calendar_are_quoted_beside_other_dates() -> None:
    reading = read_dates(
        "tous les mercredis de mars et les vacances de printemps", now=NOW, locale="fr"
    )
    assert reading.result == DateSelection(MARCH_WEDNESDAYS)
    assert reading.invalid == ("vacances de printemps",)


@pytest.mark.parametrize(
    ("locale", "text", "unbounded"),
    [
        ("fr", "tous les mercredis", True),
        ("fr", "un mercredi sur deux", True),
        ("fr", "tous les jours sauf le mercredi", True),
        ("en", "every other Wednesday", True),
        ("en", "every day except Wednesdays", True),
        ("fr", "tous les mercredis sauf la semaine prochaine", True),
        ("fr", "mercredi", False),
        ("fr", "tous les mercredis de mars", False),
        ("fr", "bonjour", False),
    ],
)
def test_a_recurrence_without_a_period_is_unbounded(
    locale: str, text: str, unbounded: bool
) -> None:
    reading = read_dates(text, now=NOW, locale=locale)
    assert reading.unbounded is unbounded
    if unbounded:
        assert reading.result is None  # the dialog asks for the period


@pytest.mark.parametrize(
    ("locale", "text", "fragments"),
    [
        ("fr", "inscris Léa à la cantine tous les lundis et jeudis de mars sauf le 17",
         ["tous les lundis et jeudis de mars sauf le 17"]),
        ("fr", "Réserve après-demain pour Léa", ["après-demain"]),
        ("fr", "Peux-tu inscrire Paolo le douze mars ?", ["le douze mars"]),
        ("fr", "Paolo le 12 mars, Léa demain", ["le 12 mars", "demain"]),
        ("fr", "🎉 Léa pendant les vacances de printemps !", ["pendant les vacances de printemps"]),
        ("fr", "ÇA SERA LE 3 MARS", ["LE 3 MARS"]),
        ("fr", "ＤＥＭＡＩＮ", ["ＤＥＭＡＩＮ"]),  # full-width letters fold to one each
        ("fr", "le 31 avril pour Léa", ["le 31 avril"]),
        ("fr", "les 3 activités pour mes 2 enfants", []),
        ("en", "Book Leo on the 12th of March please", ["on the 12th of March"]),
        ("en", "every day except Wednesday next week", ["every day except Wednesday next week"]),
    ],
)  # fmt: skip
def test_consumed_spans_point_into_the_original_text(
    locale: str, text: str, fragments: list[str]
) -> None:
    reading = read_dates(text, now=NOW, locale=locale, school_holidays=SCHOOL_HOLIDAYS)
    assert [text[start:end] for start, end in reading.consumed] == fragments


def test_parse_dates_is_the_result_of_read_dates() -> None:
    text = "tous les mercredis de mars sauf le 17"
    reading = read_dates(text, now=NOW, locale="fr")
    assert isinstance(reading, DateReading)
    assert parse_dates(text, now=NOW, locale="fr") == reading.result


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
    "demain aujourd'hui tomorrow today ans years h weekend en huit un sur prochains other "
    "vacances printemps feries holidays lendemain avril 30 31/04 paques".split()
)


def _assert_well_formed(result: object) -> None:
    if isinstance(result, DateSelection):
        assert result.dates
        assert list(result.dates) == sorted(set(result.dates))
        assert result.dates[0] >= NOW.date()
    elif isinstance(result, AmbiguousDate):
        assert len(result.candidates) >= 2
    elif isinstance(result, InvalidDate):
        assert result.text
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


@settings(max_examples=200, deadline=None)
@given(words=st.lists(_WORDS, max_size=12), locale=st.sampled_from(["fr", "en"]))
def test_consumed_spans_are_ordered_and_inside_the_text(words: list[str], locale: str) -> None:
    text = " ".join(words)
    reading = read_dates(text, now=NOW, locale=locale, school_holidays=SCHOOL_HOLIDAYS)
    bounds = [bound for span_ in reading.consumed for bound in span_]
    assert bounds == sorted(bounds)
    assert all(0 <= bound <= len(text) for bound in bounds)
    assert all(start < end for start, end in reading.consumed)
