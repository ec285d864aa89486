"""Every example sentence of the README and of the bot's help, typed into the demo town's web
chat (logged in as dupont) on several days of the school year, gets a sensible answer.

The README's convention: a sentence between French guillemets is an example; sentences joined
by → follow each other in one conversation; ⇒ `text` after them is what the last answer says
instead of a success (a sentence shown being misread). Fenced code blocks are not read.
A sensible answer says none of `NOT_SENSIBLE` ("Je n'ai pas compris", "Pas de séance"…).

The help's examples are read from its answer to "aide", and typed where they belong: dates alone
("demain") at the calendar of each of a few activities, one of which must reach a recap; a
correction ("enlève le 17") at a recap of each, one of which it must change; anything else
alone.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.demo import load_demo
from bot.app import build_app
from bot.settings import Settings
from dialogs.i18n import Translator
from tests.integration.test_understanding_journeys import Parent

README = Path(__file__).resolve().parents[2] / "README.md"

# School days in September, January and May, on three different weekdays, at 09:00 in Paris
# (the corpus's tests use Monday 1 March 2027).
DAYS = {
    "tue-2026-09-15": datetime(2026, 9, 15, 9, 0, tzinfo=PARIS),
    "thu-2027-01-14": datetime(2027, 1, 14, 9, 0, tzinfo=PARIS),
    "fri-2027-05-21": datetime(2027, 5, 21, 9, 0, tzinfo=PARIS),
}


def _both_languages(*messages: str) -> tuple[str, ...]:
    """Each message in French and in English, without its final full stop (a prefix)."""
    return tuple(
        Translator(locale)._(message).rstrip(".") for message in messages for locale in ("fr", "en")
    )


NOT_SENSIBLE = _both_languages(
    "Je n'ai pas compris.",
    "Pas de séance de cette activité à ces dates.",
    "Je ne trouve pas de réservation à venir qui corresponde.",
    "Je ne trouve pas cet enfant dans votre compte famille.",
    "Votre panier est vide.",
)
RECAP = _both_languages("Récapitulatif :")
WHICH_CHILD = _both_languages("Pour quel enfant ?")

# Where the help's dates and corrections are tried: one activity of the demo town per kind of
# day (school days, Wednesdays, the summer weeks, Saturdays all year round).
ACTIVITIES = (
    "inscris Léa à la garderie du soir",
    "inscris Léa aux mercredis loisirs",
    "inscris Léa à l'été au centre de loisirs",
    "inscris Léa et Jean-Paul à l'escalade",
)

# The help's examples (dialogs/flows/common.py, show_help: the lead's) that find nothing on some
# of `DAYS`, and why (issue 17: examples must work whatever the day). Keyed by the example as
# the dupont household reads it; a sentence no longer in the help is simply not typed.
EVERY_DAY = frozenset(DAYS)
HELP_KNOWN_TO_FAIL: dict[str, tuple[frozenset[str], str]] = {}


# --- The README's examples -------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """Sentences typed one after the other in one conversation, and what the last answer says
    when it is not a success."""

    sentences: tuple[str, ...]
    expected: str | None = None

    def __str__(self) -> str:
        text = " → ".join(self.sentences)
        return f"{text} ⇒ {self.expected}" if self.expected else text


_FENCED = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.S | re.M)
_TOKEN = re.compile(r"⇒\s*`(?P<expected>[^`]+)`|`[^`]*`|«\s*(?P<sentence>[^«»]+?)\s*»|(?P<arrow>→)")


def _spaced(text: str) -> str:
    return " ".join(text.split())


def readme_examples(markdown: str) -> list[Example]:
    """The examples of a README written with the convention above, in their order."""
    text = _FENCED.sub("", markdown)
    examples: list[Example] = []
    chain: list[str] = []
    follows = False  # an arrow came right after the chain's last sentence
    end = 0

    def close(expected: str | None = None) -> None:
        if chain:
            examples.append(Example(tuple(chain), expected))
            chain.clear()

    for token in _TOKEN.finditer(text):
        adjacent = not text[end : token.start()].strip()
        end = token.end()
        if token["sentence"] is not None:
            if not (chain and follows and adjacent):
                close()
            chain.append(_spaced(token["sentence"]))
            follows = False
        elif token["arrow"] is not None:
            follows = bool(chain) and adjacent
        elif token["expected"] is not None and chain and adjacent:
            close(_spaced(token["expected"]))
        else:  # a code span, or ⇒ after nothing: the chain ends there
            close()
    close()
    return examples


EXAMPLES = list(dict.fromkeys(readme_examples(README.read_text(encoding="utf-8"))))


def test_the_readme_convention_is_read_as_written():
    markdown = """
    Try « mon solde », then « inscris Léa à la cantine
    jeudi prochain » → « oui ». `a « code » span` is not one, nor
    ```sh
    echo « a command »
    ```
    « à la saint-glinglin » ⇒ `Je n'ai pas compris « saint-glinglin »` and « menu ».
    """
    assert readme_examples(markdown) == [
        Example(("mon solde",)),
        Example(("inscris Léa à la cantine jeudi prochain", "oui")),
        Example(("à la saint-glinglin",), "Je n'ai pas compris « saint-glinglin »"),
        Example(("menu",)),
    ]


def test_the_readme_has_examples_and_none_names_a_fixed_month():
    assert len(EXAMPLES) >= 25
    months = re.compile(
        r"\b(janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre"
        r"|décembre|january|february|march|april|june|july|august|september|october|november"
        r"|december)\b",
        re.I,
    )
    dated = [
        sentence
        for example in EXAMPLES
        for sentence in example.sentences
        if months.search(sentence) and example.expected is None
    ]
    assert dated == [], "an example naming a month works only part of the year"


# --- The demo town on each day, a parent logged in ------------------------------------------

SETTINGS = Settings(database_url="sqlite://unused", chat_turns_per_second=100, chat_burst=200)


@dataclass(frozen=True)
class Template:
    """The demo town loaded on a day, with a web conversation logged in as dupont."""

    now: datetime
    data: bytes  # the SQLite file
    conversation: str


@asynccontextmanager
async def serving(path: Path, now: datetime) -> AsyncIterator[TestClient]:
    """The real app on a copy of the demo town, its clock pinned at `now`."""
    database = Database.from_url(f"sqlite+aiosqlite:///{path}")
    clock = FrozenClock(now)
    client = TestClient(TestServer(build_app(SETTINGS, database=database, clock=clock)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await database.dispose()


@pytest.fixture(scope="session")
def templates(
    sqlite_template: bytes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Template]]:
    """The demo town on each day, loaded and logged into once (argon2 takes its time), then
    copied into each test."""
    folder = tmp_path_factory.mktemp("readme-demo")

    async def prepare(name: str, now: datetime) -> Template:
        path = folder / f"{name}.db"
        path.write_bytes(sqlite_template)
        database = Database.from_url(f"sqlite+aiosqlite:///{path}")
        try:
            assert await load_demo(database, now)
        finally:
            await database.dispose()
        async with serving(path, now) as client:
            parent = Parent(client)
            await parent.log_in()
        assert parent.token is not None
        return Template(now, path.read_bytes(), parent.token)

    with ThreadPoolExecutor(max_workers=1) as pool:  # session fixtures start inside a loop
        yield {
            name: pool.submit(asyncio.run, prepare(name, now)).result()
            for name, now in DAYS.items()
        }


@asynccontextmanager
async def logged_in(template: Template, folder: Path) -> AsyncIterator[Parent]:
    """dupont's conversation on a fresh copy of the day's demo town."""
    path = folder / f"{uuid.uuid4().hex}.db"
    path.write_bytes(template.data)
    async with serving(path, template.now) as client:
        parent = Parent(client)
        parent.token = template.conversation
        yield parent


def unsensible(parent: Parent) -> list[str]:
    return [fragment for fragment in NOT_SENSIBLE if fragment in parent.text]


@pytest.mark.parametrize("day", list(DAYS))
@pytest.mark.parametrize("example", EXAMPLES, ids=str)
async def test_a_readme_example_gets_a_sensible_answer(
    templates: dict[str, Template], tmp_path: Path, example: Example, day: str
):
    async with logged_in(templates[day], tmp_path) as parent:
        await says_something_sensible(parent, example)


async def says_something_sensible(parent: Parent, example: Example) -> None:
    for position, sentence in enumerate(example.sentences, start=1):
        await parent.say(sentence)
        assert parent.last and parent.text.strip(), f"{sentence!r}: no answer"
        if position == len(example.sentences) and example.expected is not None:
            assert example.expected in parent.text, f"{sentence!r}:\n{parent.text}"
        else:
            assert not unsensible(parent), f"{sentence!r}:\n{parent.text}"


# --- The help's examples ---------------------------------------------------------------------

_QUOTED = re.compile(r"«\s*([^«»]+?)\s*»")


CORRECTIONS = ("ajoute", "enlève", "enleve", "retire", "plutôt", "plutot", "et pour", "sauf")


async def unanswered(template: Template, folder: Path, example: str) -> str | None:
    """None when the example gets a sensible answer where it belongs, else the answer it got.

    A correction ("ajoute le 24") belongs at a recap and must change it; dates alone ("demain")
    belong at an activity's calendar and must reach a recap; both are tried for each activity
    of `ACTIVITIES`. Anything else is typed alone.
    """
    async with logged_in(template, folder) as parent:
        if not _spaced(example).lower().startswith(CORRECTIONS):
            await parent.say(example)
            alone = parent.text
            if not any(question in alone for question in WHICH_CHILD):
                return alone if unsensible(parent) else None
            steps = ACTIVITIES  # dates alone ask for a child: try them at each calendar
        else:
            alone = "(a correction: no recap changed by it)"
            steps = tuple(
                f"{activity} {dates}"
                for activity in ACTIVITIES
                for dates in ("la semaine prochaine", "jusqu'aux prochaines vacances")
            )
        for step in steps:
            await parent.say("abandonner")
            await parent.say(step)
            before = parent.text
            await parent.say(example)
            changed = parent.text != before
            if changed and any(r in parent.text for r in RECAP) and not unsensible(parent):
                return None
        return alone


@pytest.mark.parametrize("day", list(DAYS))
async def test_each_example_of_the_help_gets_a_sensible_answer(
    templates: dict[str, Template], tmp_path: Path, day: str
):
    template = templates[day]
    async with logged_in(template, tmp_path) as parent:
        await parent.say("aide")
        examples = [_spaced(quoted) for quoted in _QUOTED.findall(parent.last[0]["text"])]
    assert len(examples) >= 5, parent.text
    failures = {
        example: answer
        for example in dict.fromkeys(examples)
        if (answer := await unanswered(template, tmp_path, example)) is not None
    }
    known = {e for e, (days, _why) in HELP_KNOWN_TO_FAIL.items() if day in days}
    unexpected = {example: text for example, text in failures.items() if example not in known}
    assert not unexpected, "\n\n".join(f"{e!r}:\n{text}" for e, text in unexpected.items())
    if failures:
        pytest.xfail(
            "the help's examples (dialogs/flows/common.py, show_help) get no sensible answer: "
            + "; ".join(f"{e!r}: {HELP_KNOWN_TO_FAIL[e][1]}" for e in failures)
        )
