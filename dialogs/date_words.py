"""French and English word tables and phrase patterns used by the date parser."""

from __future__ import annotations

from dataclasses import dataclass

from booking.school_calendar import SCHOOL_HOLIDAY_KINDS

# All patterns below apply to normalised text: lower-case, without accents, apostrophes and
# hyphens between letters replaced by spaces ("aujourd'hui" -> "aujourd hui").


@dataclass(frozen=True)
class Vocabulary:
    """The words and small phrase patterns of one language."""

    months: dict[str, int]  # full month names, also understood on their own ("en juillet")
    month_abbreviations: dict[str, int]  # only understood next to a day number ("12 sept")
    months_needing_preposition: frozenset[str]  # "may" alone is a verb, "in may" is a month
    weekdays: dict[str, int]  # Monday is 0; a trailing "s" (plural) is accepted
    numbers: dict[str, int]  # for "dans deux semaines" / "in two weeks"
    day_words: dict[str, int]  # "douze mars", "the twelfth of march"
    ordinal_suffix: str  # "1er", "3e" / "1st", "3rd"
    article: str  # in front of a day number: "le 12" / "the 12th"
    day_article: str  # in front of a day number alone: "le 17" / "on the 17th"
    plural_article: str  # "les 3" alone is a quantity ("les 3 activites"), "les 3 et 5" days
    day_needs_ordinal: bool  # "the 5" alone is not a day, "the 5th" (or "5th" alone) is
    list_separator: str  # between the days of a list: "3, 5 et 12"
    day_of: str  # between a day and a month: "" / "the 12th of march"
    month_first: bool  # "march 12" is a valid order
    range_from: str  # "du 6 au 10 juillet"
    range_article: str  # days without a month are a range only with it: "du 6 au 10"
    range_to: str
    bare_range_to: str  # "6 au 10 juillet", without the opening word
    between: str
    between_and: str
    until: str  # "jusqu'au 15 avril": from today until then
    week_of: str  # "la semaine du 6 juillet"
    week_offsets: tuple[tuple[str, int], ...]  # "la semaine prochaine" is 1 week ahead
    weeks_ahead: tuple[str, ...]  # "{n}" is replaced by a number pattern
    month_offsets: tuple[tuple[str, int], ...]
    attached_month_offsets: tuple[tuple[str, int], ...]  # only right after days or weekdays
    month_preposition: str
    day_offsets: tuple[tuple[str, int], ...]  # "demain" is 1 day ahead; longest first
    days_ahead: tuple[str, ...]
    this_weekend: str
    next_weekend: str  # the first Saturday and Sunday strictly after today
    of_month_offsets: tuple[tuple[str, int], ...]  # "le 12 du mois prochain": 1 month ahead
    weekday_filters: tuple[tuple[str, frozenset[int]], ...]  # "en semaine": Monday to Friday
    recurrence: str  # "tous les mercredis": every such weekday of the period
    nth_week: str  # "la première semaine de {month}": group "nth" is one of week_ordinals
    week_ordinals: dict[str, int]  # "premiere" 1 … "derniere" -1
    this_weekday: str  # "ce mercredi" may be today
    next_weekday: str  # "mercredi prochain", "next Wednesday": the first one after today
    later_weekday: tuple[tuple[str, int], ...]  # "mercredi en huit": one more week
    exception: str  # "sauf le 17"
    day_after: str  # "demain et le lendemain": the day after the one just named
    week_word: str  # units of "un mercredi sur deux", "les 2 prochaines semaines"
    day_word: str
    month_word: str
    every_nth: tuple[str, ...]  # "{unit}" and "{n}" are replaced; without "{n}", every other
    fortnightly: str  # "tous les quinze jours": every other week
    next_count: tuple[str, ...]  # "les {n} prochains {unit}": the next n of them
    school_holidays: tuple[tuple[str, tuple[str, ...]], ...]  # phrase -> kinds of period
    until_holidays: str  # "jusqu'aux vacances de printemps": from today to the day before
    public_holidays: tuple[tuple[str, str], ...]  # phrase -> the `holidays` library's name
    all_public_holidays: str  # "sauf les jours feries"
    connectors: str  # small words that belong to the date phrase they touch
    units: str  # words after a number that make it a quantity, not a day ("7 ans")
    fallback_marker: str  # what dateparser may still find ("in a fortnight")


WEEKDAYS_OFF = frozenset({5, 6})
WORKING_DAYS = frozenset({0, 1, 2, 3, 4})
EVERY_DAY = frozenset(range(7))
_EN_HOLIDAY = r"(?:half\s+term|holidays?|break|vacations?)"


def _fr_school(name: str) -> str:
    """ "les vacances (scolaires) de printemps", the article and "scolaires" optional."""
    return rf"(?:les\s+)?vacances\s+(?:scolaires\s+)?(?:{name})"


FR_MONTHS = {
    "janvier": 1,
    "fevrier": 2,
    "mars": 3,
    "avril": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "aout": 8,
    "septembre": 9,
    "octobre": 10,
    "novembre": 11,
    "decembre": 12,
}
EN_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}

FR_WEEKDAYS = {
    "lundi": 0,
    "mardi": 1,
    "mercredi": 2,
    "jeudi": 3,
    "vendredi": 4,
    "samedi": 5,
    "dimanche": 6,
}
EN_WEEKDAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}

_FR_UNITS = ["un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"]
_FR_TEENS = ["dix", "onze", "douze", "treize", "quatorze", "quinze", "seize"]
_EN_CARDINALS = [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_EN_ORDINALS = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
]


def _french_day_words() -> dict[str, int]:
    """ "premier", "deux" ... "trente et un"."""
    words = {"premier": 1}
    words.update({word: n for n, word in enumerate(_FR_UNITS[1:], start=2)})
    words.update({word: n for n, word in enumerate(_FR_TEENS, start=10)})
    words.update({"dix sept": 17, "dix huit": 18, "dix neuf": 19})
    for tens, base in (("vingt", 20), ("trente", 30)):
        words[tens] = base
        words[f"{tens} et un"] = base + 1
        if base == 20:
            words.update({f"vingt {word}": 20 + n for n, word in enumerate(_FR_UNITS[1:], 2)})
    return words


def _english_day_words() -> dict[str, int]:
    """ "first" ... "thirty-first" (hyphens are spaces once normalised)."""
    words = {word: n for n, word in enumerate(_EN_ORDINALS, start=1)}
    words.update({"twentieth": 20, "thirtieth": 30, "thirty first": 31})
    words.update({f"twenty {word}": 20 + n for n, word in enumerate(_EN_ORDINALS[:9], 1)})
    return words


FRENCH = Vocabulary(
    months=FR_MONTHS,
    month_abbreviations={
        "janv": 1,
        "fev": 2,
        "fevr": 2,
        "avr": 4,
        "juil": 7,
        "sept": 9,
        "oct": 10,
        "nov": 11,
        "dec": 12,
    },
    months_needing_preposition=frozenset(),
    weekdays=FR_WEEKDAYS,
    numbers={
        "un": 1,
        "une": 1,
        **{word: n for n, word in enumerate(_FR_UNITS[1:], start=2)},
        **{word: n for n, word in enumerate(_FR_TEENS, start=10)},
    },
    day_words=_french_day_words(),
    ordinal_suffix=r"er|re|eme|e",
    article=r"le|les",
    day_article=r"le|les|du",
    plural_article="les",
    day_needs_ordinal=False,
    list_separator=r"(?:\s*,\s*(?:et\s+)?|\s+(?:et|&)\s+)(?:le\s+)?",
    day_of=r"(?:du\s+mois\s+d(?:e\s+|\s*))?",  # "le 12 du mois de mars"
    month_first=False,
    range_from=r"du|de|d|depuis\s+le|a\s+partir\s+du",
    range_article=r"du|le|les",
    range_to=r"au|a|jusqu\s*au|jusqu\s*a",
    bare_range_to=r"au",
    between=r"entre",
    between_and=r"et",
    until=r"jusqu\s*(?:au|a)",
    week_of=r"(?:la\s+)?semaine\s+(?:du|de)",
    week_offsets=(
        (
            r"(?:la\s+)?semaine\s+(?:prochaine|suivante|d\s*apres|qui\s+vient)"
            r"|(?:la\s+)?prochaine\s+semaine",
            1,
        ),
        (r"cette\s+semaine(?:\s+ci)?|(?:la\s+)?semaine\s+(?:en\s+cours|courante)", 0),
    ),
    weeks_ahead=(r"dans\s+{n}\s+semaines?",),
    month_offsets=(
        (r"(?:le\s+)?mois\s+(?:prochain|suivant|d\s*apres)|(?:le\s+)?prochain\s+mois", 1),
        (r"ce\s+mois(?:\s+ci)?|(?:le|du)\s+mois\s+en\s+cours|tout\s+le\s+mois(?!\s+(?:de|d)\b)", 0),
    ),
    # "du mois" is this month only after days: "tous les mercredis du mois", not "le prix du mois"
    attached_month_offsets=((r"du\s+mois(?!\s+(?:de|d|dernier|precedent)\b)", 0),),
    month_preposition=r"en|de|d|(?:tout\s+le\s+|le\s+|du\s+)?mois\s+(?:de|d)|pour",
    day_offsets=(
        (r"demain\s+en\s+huit", 8),
        (r"aujourd\s*hui\s+en\s+huit", 7),
        (r"apres\s+demain", 2),
        (r"demain", 1),
        (r"aujourd\s*hui|ce\s+(?:soir|matin|midi)|cet\s+apres\s+midi", 0),
    ),
    days_ahead=(r"dans\s+{n}\s+jours?",),
    this_weekend=r"ce\s+week\s*end",
    next_weekend=r"(?:le\s+)?week\s*end\s+prochain|(?:le\s+)?prochain\s+week\s*end",
    of_month_offsets=(
        (r"du\s+mois\s+(?:prochain|suivant)", 1),
        (
            r"(?:du|de\s+ce)\s+mois(?:\s+ci|\s+en\s+cours)?"
            r"(?!\s+(?:de|d|dernier|precedent|prochain|suivant)\b)",
            0,
        ),
    ),
    weekday_filters=(
        (r"en\s+semaine|(?:les\s+)?jours?\s+de\s+semaine|(?:les\s+)?jours\s+ouvres", WORKING_DAYS),
        (r"(?:le|les)\s+week\s*ends?", WEEKDAYS_OFF),
        (r"(?:tous|toutes)\s+les\s+jours|chaque\s+jour", EVERY_DAY),
    ),
    recurrence=r"(?:(?:tous|toutes)\s+les|chaque)\s+(?:{weekday}|jours?)",
    nth_week=r"(?:la\s+)?(?P<nth>{ordinal})\s+semaine\s+(?:de|d|du\s+mois\s+de)",
    week_ordinals={
        "premiere": 1,
        "1re": 1,
        "1ere": 1,
        "deuxieme": 2,
        "seconde": 2,
        "2e": 2,
        "troisieme": 3,
        "3e": 3,
        "quatrieme": 4,
        "4e": 4,
        "derniere": -1,
    },
    this_weekday=r"ce|cet",
    next_weekday=r"prochaine?s?|suivante?s?|qui\s+vient",
    later_weekday=((r"en\s+huit", 7), (r"en\s+quinze", 14)),
    exception=(r"sauf|excepte|hormis|a\s+part|mais\s+pas|a\s+l\s+exception\s+(?:du|des|de)|hors"),
    day_after=r"(?:le\s+)?lendemain|le\s+jour\s+suivant",
    week_word=r"semaines?",
    day_word=r"jours?",
    month_word=r"mois",
    every_nth=(
        r"une?\s+{unit}\s+sur\s+{n}",
        r"(?:tous|toutes)\s+les\s+{n}\s+{unit}",
    ),
    fortnightly=r"(?:tous|toutes)\s+les\s+(?:quinze|15)\s+jours|chaque\s+quinzaine",
    next_count=(
        r"(?:les|des|aux)\s+{n}\s+prochain(?:e)?s\s+{unit}",
        r"(?:les|des|aux)\s+{n}\s+{unit}\s+(?:prochain(?:e)?s|suivant(?:e)?s|a\s+venir)",
    ),
    school_holidays=(
        (_fr_school(r"(?:de\s+)?(?:la\s+)?toussaint|d\s*automne"), ("toussaint",)),
        (_fr_school(r"de\s+noel|de\s+fin\s+d\s*annee|des\s+fetes"), ("noel",)),
        (_fr_school(r"d\s*hiver|de\s+fevrier|de\s+ski"), ("hiver",)),
        (_fr_school(r"de\s+printemps|de\s+paques|d\s*avril"), ("printemps",)),
        (
            _fr_school(r"d\s*ete") + r"|(?:les\s+)?grandes\s+vacances|cet\s+ete|l\s*ete\s+prochain",
            ("ete",),
        ),
        (
            r"(?:le\s+)?pont\s+de\s+l\s*ascension|" + _fr_school(r"de\s+l\s*ascension"),
            ("ascension",),
        ),
        (
            r"(?:les\s+)?prochaines\s+vacances(?:\s+scolaires)?|(?:les\s+)?vacances\s+scolaires"
            r"|pendant\s+les\s+vacances",
            SCHOOL_HOLIDAY_KINDS,
        ),
    ),
    until_holidays=r"jusqu\s*(?:aux|au|a)|avant",
    public_holidays=(
        (r"(?:le\s+)?lundi\s+de\s+paques", "Easter Monday"),
        (r"(?:le\s+)?(?:jeudi\s+de\s+)?l\s*ascension", "Ascension Day"),
        (r"(?:le\s+)?(?:lundi\s+de\s+)?(?:la\s+)?pentecote", "Pentecost Monday"),
        (r"(?:la\s+)?fete\s+du\s+travail", "Labor Day"),
        (r"(?:la\s+)?fete\s+de\s+la\s+victoire|(?:le\s+)?jour\s+de\s+la\s+victoire", "Victory Day"),
        (r"(?:la\s+)?fete\s+nationale", "National Day"),
        (r"l\s*assomption", "Assumption Day"),
        (r"(?:la\s+)?toussaint", "All Saints' Day"),
        (r"l\s*armistice", "Armistice Day"),
        # "Noel" alone, or "pour Noel", may be a child's first name
        (r"(?:le\s+)?jour\s+de\s+noel", "Christmas Day"),
        (r"(?:le\s+)?jour\s+de\s+l\s*an|(?:le\s+)?nouvel\s+an", "New Year's Day"),
    ),
    all_public_holidays=r"(?:les\s+)?jours?\s+feries?|(?:les\s+)?feries",
    connectors=r"et|de|du|des|d|le|la|les|l|a|au|aux|en|pendant|durant|pour|sur|tous|toutes|chaque",
    units=(
        r"ans?\b|annees?\b|mois\b|jours?\b|semaines?\b|h\b|heures?\b|min|secondes?\b"
        r"|euros?\b|eur\b|centimes?\b|enfants?\b|places?\b|personnes?\b|fois\b|%|kg\b|km\b"
    ),
    fallback_marker=r"\b(?:dans|d\s*ici)\b.*\b(?:jours?|semaines?|quinzaine)\b",
)

ENGLISH = Vocabulary(
    months=EN_MONTHS,
    month_abbreviations={
        "jan": 1,
        "feb": 2,
        "mar": 3,
        "apr": 4,
        "jun": 6,
        "jul": 7,
        "aug": 8,
        "sep": 9,
        "sept": 9,
        "oct": 10,
        "nov": 11,
        "dec": 12,
    },
    months_needing_preposition=frozenset({"may"}),
    weekdays=EN_WEEKDAYS,
    numbers={
        "a": 1,
        "an": 1,
        **{word: n for n, word in enumerate(_EN_CARDINALS, start=1)},
    },
    day_words=_english_day_words(),
    ordinal_suffix=r"st|nd|rd|th",
    article=r"the",
    day_article=r"the|on\s+the",
    plural_article="",
    day_needs_ordinal=True,
    list_separator=r"(?:\s*,\s*(?:and\s+)?|\s+(?:and|&)\s+)(?:the\s+)?",
    day_of=r"(?:of\s+)?",
    month_first=True,
    range_from=r"from|starting(?:\s+from)?",
    range_article=r"the",
    range_to=r"to|through|thru|till|until|up\s+to",
    bare_range_to=r"to|through|thru|till|until",
    between=r"between",
    between_and=r"and",
    until=r"until|till|up\s+to|through",
    week_of=r"(?:the\s+)?week\s+(?:of|starting|beginning|commencing)(?:\s+on)?",
    week_offsets=(
        (r"(?:the\s+)?week\s+after\s+next", 2),
        (r"next\s+week|the\s+following\s+week|the\s+week\s+after", 1),
        (r"this\s+week|the\s+current\s+week", 0),
    ),
    weeks_ahead=(r"in\s+{n}\s+weeks?(?:\s+time)?", r"{n}\s+weeks?\s+from\s+(?:now|today)"),
    month_offsets=(
        (r"next\s+month|the\s+following\s+month", 1),
        (r"this\s+month|the\s+current\s+month|(?:all|the\s+whole)\s+month", 0),
    ),
    attached_month_offsets=((r"(?:of|in)\s+the\s+month(?!\s+of\b)", 0),),
    month_preposition=r"(?:in|for|during|throughout)\s+the\s+month\s+of|in|of|during|for|throughout",
    day_offsets=(
        (r"a\s+week\s+from\s+tomorrow", 8),
        (r"a\s+week\s+from\s+today", 7),
        (r"(?:the\s+)?day\s+after\s+tomorrow", 2),
        (r"tomorrow", 1),
        (r"today|tonight|this\s+(?:morning|afternoon|evening)", 0),
    ),
    days_ahead=(r"in\s+{n}\s+days?(?:\s+time)?", r"{n}\s+days?\s+from\s+(?:now|today)"),
    this_weekend=r"this\s+week\s*end",
    next_weekend=r"next\s+week\s*end",
    of_month_offsets=(
        (r"of\s+(?:next|the\s+following)\s+month", 1),
        (r"of\s+(?:this|the|the\s+current)\s+month(?!\s+of\b)", 0),
    ),
    weekday_filters=(
        (r"(?:on\s+)?weekdays|working\s+days|school\s+days|(?:every\s+)?weekday", WORKING_DAYS),
        (r"(?:on\s+)?(?:the\s+)?week\s*ends?", WEEKDAYS_OFF),
        (r"(?:every|each)\s*day|daily|all\s+days", EVERY_DAY),
    ),
    recurrence=r"(?:every|each)\s+(?:{weekday}|days?)",
    nth_week=r"(?:the\s+)?(?P<nth>{ordinal})\s+week\s+(?:of|in)",
    week_ordinals={
        "first": 1,
        "1st": 1,
        "second": 2,
        "2nd": 2,
        "third": 3,
        "3rd": 3,
        "fourth": 4,
        "4th": 4,
        "last": -1,
    },
    this_weekday=r"this",
    next_weekday=r"next|coming",
    later_weekday=((r"after\s+next", 7), (r"week\b", 7)),  # "Thursday week"
    exception=r"except(?:\s+for|\s+on)?|excluding|but\s+not|apart\s+from|other\s+than|not\s+on",
    day_after=r"the\s+(?:day\s+after|next\s+day|following\s+day)(?!\s+tomorrow)",
    week_word=r"weeks?",
    day_word=r"days?",
    month_word=r"months?",
    every_nth=(
        r"every\s+(?:other|second|alternate)\s+{unit}",
        r"alternate\s+{unit}",
        r"(?:one|a)\s+{unit}\s+(?:in|out\s+of)\s+{n}",
        r"every\s+{n}\s+{unit}",
    ),
    fortnightly=r"every\s+fortnight|fortnightly",
    next_count=(r"(?:the\s+)?next\s+{n}\s+{unit}", r"the\s+{n}\s+(?:next|following)\s+{unit}"),
    school_holidays=(
        (
            r"(?:autumn|fall|october|all\s+saints|toussaint|halloween)\s+"
            + _EN_HOLIDAY
            + r"|half\s+term\s+(?:in\s+)?october|october\s+half\s+term",
            ("toussaint",),
        ),
        (r"(?:christmas|xmas|new\s+year)\s+" + _EN_HOLIDAY, ("noel",)),
        (
            r"(?:winter|february|ski)\s+" + _EN_HOLIDAY + r"|half\s+term\s+(?:in\s+)?february",
            ("hiver",),
        ),
        (r"(?:spring|easter|april)\s+" + _EN_HOLIDAY, ("printemps",)),
        (r"(?:summer)\s+" + _EN_HOLIDAY + r"|this\s+summer|next\s+summer", ("ete",)),
        (
            r"(?:the\s+)?ascension\s+(?:bridge|long\s+weekend|weekend|holidays?|break)",
            ("ascension",),
        ),
        (r"(?:the\s+)?half\s+terms?", ("toussaint", "hiver")),
        (
            r"(?:the\s+)?(?:next\s+)?school\s+(?:holidays?|vacations?)|(?:the\s+)?next\s+holidays"
            r"|during\s+the\s+holidays",
            SCHOOL_HOLIDAY_KINDS,
        ),
    ),
    until_holidays=r"until|till|up\s+to|before",
    public_holidays=(
        (r"easter\s+monday", "Easter Monday"),
        (r"ascension(?:\s+day|\s+thursday)?", "Ascension Day"),
        (r"(?:whit|pentecost|whitsun)\s*monday|whitsun|pentecost", "Pentecost Monday"),
        (r"labou?r\s+day|may\s+day", "Labor Day"),
        (r"v\s*e\s+day|victory\s+(?:in\s+europe\s+)?day", "Victory Day"),
        (r"bastille\s+day|(?:french\s+)?national\s+day", "National Day"),
        (r"assumption\s+day|(?:the\s+)?feast\s+of\s+the\s+assumption", "Assumption Day"),
        (r"all\s+saints\s*s?\s+day", "All Saints' Day"),
        (r"armistice\s+day", "Armistice Day"),
        (r"christmas\s+day|(?:on|at)\s+christmas(?!\s+eve)", "Christmas Day"),
        (r"new\s+year\s*s?\s+day", "New Year's Day"),
    ),
    all_public_holidays=r"(?:the\s+)?(?:public|bank|national)\s+holidays?",
    connectors=r"and|of|the|on|in|at|for|during|from|every|each",
    units=(
        r"years?\b|yrs?\b|months?\b|days?\b|weeks?\b|h\b|hours?\b|hrs?\b|min|seconds?\b"
        r"|[ap]\.?m\b|o\s*clock\b|euros?\b|dollars?\b|pounds?\b|kids?\b|child|children\b"
        r"|people\b|persons?\b|places?\b|spots?\b|seats?\b|times?\b|%|of\s+(?:us|them|you)\b"
        r"|grade\b|floor\b|birthday\b|anniversary\b"
    ),
    fallback_marker=r"\b(?:in|from|after)\b.*\b(?:days?|weeks?|fortnight)\b",
)

VOCABULARIES = {"fr": FRENCH, "en": ENGLISH}
