"""Chat shorthand written out before a message is read: "ts les jeudis pr Léa", "lunch tmrw"."""

from __future__ import annotations

import re

# Only abbreviations that mean nothing else in either language ("mon" is French for "my",
# "sam" a first name, "mar" may be March or Tuesday): those stay as written.
SHORTHAND = {
    "pr": "pour",
    "ts": "tous",
    "tte": "toute",
    "ttes": "toutes",
    "tt": "tout",
    "bjr": "bonjour",
    "slt": "salut",
    "dem1": "demain",
    "2main": "demain",
    "ajd": "aujourd'hui",
    "auj": "aujourd'hui",
    "ouais": "oui",
    "ouai": "oui",
    "ouep": "oui",
    "nan": "non",
    "nn": "non",
    "mrc": "merci",
    "mci": "merci",
    "qd": "quand",
    "sem pro": "semaine prochaine",
    "c bon": "c'est bon",
    "cé bon": "c'est bon",
    "u": "you",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "tmw": "tomorrow",
    "2moro": "tomorrow",
    "2morrow": "tomorrow",
    "thurs": "thursday",
    "thur": "thursday",
    "thu": "thursday",
    "tues": "tuesday",
    "tue": "tuesday",
    "weds": "wednesday",
    "wed": "wednesday",
    "fri": "friday",
    "sat": "saturday",
    "nxt": "next",
    "wk": "week",
    "yep": "yes",
    "yup": "yes",
    "nope": "no",
}

_PATTERN = re.compile(
    r"(?<![\w'])("
    + "|".join(re.escape(k) for k in sorted(SHORTHAND, key=len, reverse=True))
    + r")(?![\w'])",
    re.IGNORECASE,
)


def expand(text: str) -> str:
    return _PATTERN.sub(lambda match: SHORTHAND[match.group(1).lower()], text)
