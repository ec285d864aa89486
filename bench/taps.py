"""How many taps and typed messages the everyday tasks take, from the menu of a logged-in chat.

    .venv/bin/python bench/taps.py [--today 2027-03-01]

Runs each task through the engine (no server) in the demo town, pressing buttons by their
label and tapping calendar days as a parent would, and counts what the parent did: taps
(buttons, calendar days) and typed messages. Prints a table beside the portals' clicks for
the same task (counted from the smartphone procedure in ../shared/reference/, guide 001:
planning, activity, "modifier", the days, "valider", "terminer les modifications",
"terminer", then "payer" for paid activities) and writes it to docs/BENCHMARKS.md.
tests/integration/test_taps.py holds the product to its targets with the same tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import replace_section  # noqa: E402
from booking.clock import PARIS, FrozenClock  # noqa: E402
from booking.db import Database  # noqa: E402
from booking.demo import load_demo  # noqa: E402
from booking.migrate import upgrade  # noqa: E402
from dialogs.engine import Engine, Incoming, TurnResult  # noqa: E402
from dialogs.i18n import Translator  # noqa: E402
from dialogs.replies import Button  # noqa: E402

MEAL_DAYS: list[date] = []  # booked by "book 3 meal days", one cancelled by "cancel one day"
PORTAL_CLICKS = {  # guide 001, after logging in
    "book 3 meal days": 9,
    "book a month of Wednesdays": 12,
    "cancel one day": 7,
}


class Parent:
    """One web conversation, counting what the parent does."""

    def __init__(self, engine: Engine, key: str) -> None:
        self.engine = engine
        self.key = key
        self.result: TurnResult | None = None
        self.taps = 0
        self.typed = 0

    async def _turn(self, incoming: Incoming) -> None:
        self.result = await self.engine.handle("web", self.key, incoming)

    async def type(self, text: str, *, count: bool = True) -> None:
        self.typed += count
        await self._turn(Incoming(text=text))

    def _buttons(self) -> list[Button]:
        found = []
        for reply in self.result.replies:
            for row in reply.buttons:
                found += row
            if reply.calendar is not None:
                found += [b for b in (reply.calendar.previous, reply.calendar.next) if b]
        return found

    async def press(self, label: str) -> None:
        for button in self._buttons():
            if button.label.startswith(label):
                self.taps += 1
                await self._turn(Incoming(button=button.payload))
                return
        raise LookupError(f"no button {label!r}: {[b.label for b in self._buttons()]}")

    def tappable_days(self, weekdays: set[int] | None = None) -> list[tuple[date, str]]:
        calendar = next(r.calendar for r in reversed(self.result.replies) if r.calendar)
        return [
            (cell.day, cell.payload)
            for week in calendar.weeks
            for cell in week
            if cell is not None
            and cell.state == "open"
            and cell.payload
            and (weekdays is None or cell.day.weekday() in weekdays)
        ]

    async def tap_day(self, payload: str) -> None:
        self.taps += 1
        await self._turn(Incoming(button=payload))

    @property
    def text(self) -> str:
        return "\n".join(reply.text for reply in self.result.replies)

    @property
    def link(self) -> str | None:
        return next((r.link.url for r in self.result.replies if r.link), None)


async def logged_in(engine: Engine, key: str) -> Parent:
    parent = Parent(engine, key)
    await parent.type("connexion", count=False)
    await parent.type("dupont", count=False)
    await parent.type("demo-dupont", count=False)
    parent.taps = parent.typed = 0
    return parent


async def three_meal_days(parent: Parent) -> str:
    """The usual child and activity from the menu, three days, confirm."""
    await parent.press("Cantine pour Léa")
    for day, payload in parent.tappable_days({0, 1, 3, 4})[3:6]:
        await parent.tap_day(payload)
        MEAL_DAYS.append(day)
    await parent.press("Confirmer")
    return parent.text


async def three_meal_days_typed(parent: Parent) -> str:
    await parent.type("cantine pour Léa lundi, mardi et jeudi de la semaine prochaine")
    await parent.press("Confirmer")
    return parent.text


async def month_of_wednesdays(parent: Parent) -> str:
    """Book, the child, the activity, every Wednesday of the month shown, confirm: a link."""
    await parent.press("Réserver")
    await parent.press("Léa")
    await parent.press("Mercredis loisirs 6-12")
    await parent.press("Tous les mer")
    await parent.press("Confirmer")
    return parent.text


async def month_of_wednesdays_typed(parent: Parent) -> str:
    await parent.type("inscris Léa au mercredi loisirs tous les mercredis du mois prochain")
    if "Récapitulatif" not in parent.text:
        raise RuntimeError(parent.text)
    await parent.press("Confirmer")
    return parent.text


async def cancel_one_day(parent: Parent) -> str:
    """The cancel list, a meal booked by the first task: billed later, it is cancelled at
    once ("Rétablir" puts it back); a paid day would show the recap to confirm its refund."""
    await parent.press("Annuler")
    await parent.press(f"Annuler Léa {Translator('fr').short_day(MEAL_DAYS[0])}")
    if "annulé" not in parent.text:
        await parent.press("Confirmer")
    return parent.text


async def cancel_one_day_typed(parent: Parent) -> str:
    await parent.type("annule la cantine de Léa lundi prochain")
    await parent.press("Confirmer")
    return parent.text


@dataclass(frozen=True)
class Task:
    name: str
    tapping: Callable[[Parent], Awaitable[str]]
    typing: Callable[[Parent], Awaitable[str]]
    done: str  # what the last answer says when the task is done


TASKS = [
    Task("book 3 meal days", three_meal_days, three_meal_days_typed, "confirmé"),
    Task("book a month of Wednesdays", month_of_wednesdays, month_of_wednesdays_typed, "Payer"),
    Task("cancel one day", cancel_one_day, cancel_one_day_typed, "annulé"),
]


@dataclass(frozen=True)
class Count:
    task: str
    how: str
    taps: int
    typed: int
    answer: str


async def count_tasks(database: Database, clock: FrozenClock) -> list[Count]:
    """Each task twice (tapping only, then typing), each in a fresh conversation."""
    engine = Engine(database, clock)
    counts = []
    for index, task in enumerate(TASKS):
        for how, run in (("taps", task.tapping), ("words", task.typing)):
            parent = await logged_in(engine, f"{how}-{index}")
            answer = await run(parent)
            if task.done not in answer and not (task.done == "Payer" and parent.link):
                raise RuntimeError(f"{task.name} ({how}) did not finish:\n{answer}")
            counts.append(Count(task.name, how, parent.taps, parent.typed, answer))
            await parent.type("abandonner", count=False)
    return counts


def table(counts: list[Count]) -> str:
    rows = [
        "| task | tapping only | typing | a portal (clicks) |",
        "|---|---|---|---|",
    ]
    for task in TASKS:
        tapping = next(c for c in counts if c.task == task.name and c.how == "taps")
        typing = next(c for c in counts if c.task == task.name and c.how == "words")
        rows.append(
            f"| {task.name} | {tapping.taps} taps | {typing.typed} message + {typing.taps} tap "
            f"| {PORTAL_CLICKS[task.name]} |"
        )
    return "\n".join(rows)


async def main(today: date) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/taps.db"
        await asyncio.to_thread(upgrade, url)
        database = Database.from_url(url)
        clock = FrozenClock(datetime.combine(today, time(9, 0), tzinfo=PARIS))
        await load_demo(database, clock.now())
        counts = await count_tasks(database, clock)
        await database.dispose()
    body = "\n".join(
        [
            f"From the menu of a logged-in web chat, demo town, {today.isoformat()} 09:00. "
            "Paying adds the pay link and the provider's page (2 taps and the card). "
            "Portal clicks: counted from guide 001 of ../shared/reference/, after logging in.",
            "",
            table(counts),
        ]
    )
    print(body)
    replace_section(
        ROOT / "docs" / "BENCHMARKS.md",
        "taps",
        body,
        "## Taps and messages per task (generated by `bench/taps.py`)",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--today", type=date.fromisoformat, default=date(2027, 3, 1))
    asyncio.run(main(parser.parse_args().today))
