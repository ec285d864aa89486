"""Forty corpus sentences end to end: each one, typed in the demo town's web chat, reaches the
recap with exactly the days it asked for (those without a session left out, those refused
named with their reason)."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from booking.clock import PARIS
from booking.models import Activity, Session
from tests.corpus.lines import CorpusLine, parse_days, read_corpus
from tests.corpus.town import corpus_context, fold
from tests.integration.test_understanding_journeys import Parent, client, demo  # noqa: F401

MONTHS = {
    "janv": 1,
    "janvier": 1,
    "févr": 2,
    "février": 2,
    "mars": 3,
    "avr": 4,
    "avril": 4,
    "mai": 5,
    "juin": 6,
    "juil": 7,
    "juillet": 7,
    "août": 8,
    "sept": 9,
    "septembre": 9,
    "oct": 10,
    "octobre": 10,
    "nov": 11,
    "novembre": 11,
    "déc": 12,
    "décembre": 12,
}
TODAY = date(2027, 3, 1)
SHORT_DAY = re.compile(r"^• \w+\. \d")  # "• mer. 10 mars : complet"
DAY = re.compile(r"(\d{1,2})(?:er)? (" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?")


def complete_requests() -> list[CorpusLine]:
    """Lines naming one child, one activity and their days, and nothing else."""
    chosen = []
    for line in read_corpus("fr"):
        e = line.expected
        if (
            e.get("intent") in ("book", None)
            and len(e.get("children") or []) == 1
            and len(e.get("activities") or []) == 1
            and e.get("dates")
            and not any(e.get(k) for k in ("unplaced", "invalid", "modifier", "all_children"))
            and not e.get("ambiguous")
        ):
            chosen.append(line)
    return chosen[:40]


LINES = complete_requests()


def test_forty_complete_requests_are_chosen() -> None:
    assert len(LINES) == 40


def _month_days(text: str) -> set[date]:
    """ "   mars : 4, 8, 11 ; avril : 1er" -> the days."""
    days = set()
    for part in text.strip().split(" ; "):
        month, _, numbers = part.partition(" : ")
        for number in numbers.split(", "):
            days.add(date(2027, MONTHS[month], int(number.removesuffix("er"))))
    return days


def _days_in(text: str) -> set[date]:
    return {date(2027, MONTHS[month], int(day)) for day, month in DAY.findall(text)}


async def session_days(database, code: str, asked: set[date]) -> set[date]:
    """The first day of each session of the activity that covers a day asked for."""
    async with database.reading() as db:
        sessions = await db.scalars(
            select(Session).join(Activity).where(Activity.code == code, Session.day >= TODAY)
        )
        return {
            s.day
            for s in sessions
            if any(s.day <= day <= s.ends_at.astimezone(PARIS).date() for day in asked)
        }


async def test_forty_complete_sentences_reach_the_recap_with_their_days(client, demo):  # noqa: F811
    """One logged-in conversation; "abandonner" empties the basket between two sentences."""
    _now, children, catalogue = corpus_context()
    parent = Parent(client)
    await parent.log_in()
    misses = []
    for line in LINES:
        code = line.expected["activities"][0]
        activity = next(a for a in catalogue.activities if a.code == code)
        name = fold(line.expected["children"][0])
        child = next(c.name for c in children if fold(c.name) == name)
        asked = await session_days(demo, code, set(parse_days(line.expected["dates"])))
        await parent.say("abandonner")
        await parent.say(line.say)
        text = parent.text
        rows = text.splitlines()
        booked = {
            day
            for row in rows
            if row.startswith(f"• {child} — {activity.name} — ")
            for day in _days_in(row)
        }
        for index, row in enumerate(rows[:-1]):  # many days said short, months on the next line
            if row.startswith(f"• {child} — {activity.name} : "):
                booked |= _month_days(rows[index + 1])
        refused = {
            day for row in rows if SHORT_DAY.match(row) for day in _days_in(row.split(" : ")[0])
        }
        if f"{child} — {activity.name} : " in text:
            refused |= asked  # refused for the whole activity (an enrolment), said once
        if not asked:
            if "Pas de séance" not in text:
                misses.append(f"{line.say!r}: no session expected\n{text}")
        elif booked | refused != asked:
            misses.append(f"{line.say!r}: asked {sorted(map(str, asked))}\n{text}")
    assert misses == [], "\n\n".join(misses)
