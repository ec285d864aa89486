"""GET /api/catalogue: the public catalogue as JSON, on the real app and a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from booking.clock import PARIS, FrozenClock
from booking.db import Database
from booking.models import Category, PaymentMode
from booking.services.basket import add_to_basket, confirm_basket
from bot.app import build_app
from bot.settings import Settings
from tests import builders


@dataclass
class Catalogue:
    cantine: str
    judo: str
    stage: str


def paris(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2027, month, day, hour, 0, tzinfo=PARIS)


@pytest.fixture
async def catalogue(sqlite_database: Database, clock: FrozenClock) -> Catalogue:
    """A canteen (one day full), a judo class with a waitlist (full), a stage not open yet."""
    now = clock.now()
    async with sqlite_database.writing() as db:
        town = await builders.structure(db)
        family = await builders.family(db, town)
        cantine = await builders.activity(
            db,
            town,
            name="Cantine",
            aliases=["restaurant scolaire", "repas"],
            category=Category.RESTAURATION,
            min_age=3,
            max_age=12,
        )
        await builders.session(db, cantine, starts_at=paris(2, 26), price_cents=335)  # past
        await builders.session(db, cantine, starts_at=paris(3, 1, 8), price_cents=335)  # begun
        for day in (2, 3, 4):
            capacity = 1 if day == 3 else 20
            await builders.session(
                db, cantine, starts_at=paris(3, day), hours=1.5, capacity=capacity, price_cents=335
            )
        judo = await builders.activity(
            db,
            town,
            name="Judo",
            category=Category.SPORT,
            mode=PaymentMode.INVOICE,
            min_age=6,
            max_age=11,
            waitlist=True,
        )
        full_judo = await builders.session(
            db, judo, starts_at=paris(3, 6, 10), capacity=1, price_cents=1000
        )
        await builders.session(db, judo, starts_at=paris(4, 3, 10), price_cents=1000)
        stage = await builders.activity(
            db, town, name="Stage nature", opens_at=paris(3, 15, 8), min_age=3, max_age=12
        )
        await builders.session(db, stage, starts_at=paris(4, 19, 9), price_cents=2050)
        full_cantine = await builders.session(
            db, cantine, starts_at=paris(3, 5), capacity=1, price_cents=335
        )
        for session_id in (full_judo.id, full_cantine.id):
            await add_to_basket(
                db,
                actor=family.actor,
                participant_id=family.child.id,
                session_id=session_id,
                now=now,
            )
        await confirm_basket(db, actor=family.actor, now=now)
    return Catalogue(cantine.code, judo.code, stage.code)


@pytest.fixture
async def client(
    sqlite_database: Database, clock: FrozenClock, catalogue: Catalogue
) -> AsyncIterator[TestClient]:
    app = build_app(Settings(), database=sqlite_database, clock=clock, run_scheduler=False)
    async with TestClient(TestServer(app)) as client:
        yield client


async def get(client: TestClient, **params: str) -> list[dict]:
    response = await client.get("/api/catalogue", params=params)
    assert response.status == 200, await response.text()
    return (await response.json())["activities"]


def by_code(activities: list[dict]) -> dict[str, dict]:
    return {activity["code"]: activity for activity in activities}


def spaces(text: str) -> str:
    """Babel separates the amount and the sign with a no-break space."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


async def test_the_catalogue_lists_upcoming_sessions_with_places_left_state_and_price(
    client: TestClient, catalogue: Catalogue
) -> None:
    activities = by_code(await get(client))
    assert set(activities) == {catalogue.cantine, catalogue.judo, catalogue.stage}

    cantine = activities[catalogue.cantine]
    assert cantine["name"] == "Cantine"
    assert cantine["aliases"] == ["restaurant scolaire", "repas"]
    assert cantine["category"] == "restauration"
    assert (cantine["min_age"], cantine["max_age"]) == (3, 12)
    sessions = cantine["sessions"]
    assert [s["starts_at"][:10] for s in sessions] == [
        "2027-03-02",
        "2027-03-03",
        "2027-03-04",
        "2027-03-05",
    ]  # neither the past day nor the one that has begun
    assert [(s["places_left"], s["state"]) for s in sessions] == [
        (20, "open"),
        (1, "open"),
        (20, "open"),
        (0, "full"),
    ]
    assert {spaces(s["price"]) for s in sessions} == {"3,35 €"}
    first = sessions[0]
    assert {key: value for key, value in first.items() if key not in ("id", "price")} == {
        "label": "",
        "starts_at": "2027-03-02T12:00:00+01:00",  # local time in Paris, with its offset
        "ends_at": "2027-03-02T13:30:00+01:00",
        "place": "",
        "capacity": 20,
        "places_left": 20,
        "price_cents": 335,
        "coupons": 0,
        "state": "open",
    }

    judo = activities[catalogue.judo]
    assert judo["aliases"] == []
    assert judo["waitlist"] is True
    assert [(s["places_left"], s["state"]) for s in judo["sessions"]] == [
        (0, "waitlist"),
        (10, "open"),
    ]
    stage = activities[catalogue.stage]
    assert [s["state"] for s in stage["sessions"]] == ["not_open_yet"]
    assert spaces(stage["sessions"][0]["price"]) == "20,50 €"


async def test_prices_follow_the_language(client: TestClient, catalogue: Catalogue) -> None:
    activities = by_code(await get(client, lang="en"))
    assert activities[catalogue.cantine]["sessions"][0]["price"] == "€3.35"


async def test_the_age_filter_keeps_activities_that_accept_the_age(
    client: TestClient, catalogue: Catalogue
) -> None:
    assert set(by_code(await get(client, age="4"))) == {catalogue.cantine, catalogue.stage}
    assert set(by_code(await get(client, age="7"))) == {
        catalogue.cantine,
        catalogue.judo,
        catalogue.stage,
    }
    assert set(by_code(await get(client, age="11"))) == {catalogue.cantine, catalogue.stage}
    assert await get(client, age="12") == []  # max_age is excluded
    assert await get(client, age="0") == []


async def test_the_category_filter(client: TestClient, catalogue: Catalogue) -> None:
    assert list(by_code(await get(client, category="sport"))) == [catalogue.judo]
    assert list(by_code(await get(client, category="restauration"))) == [catalogue.cantine]
    assert await get(client, category="sejour") == []


async def test_the_date_filters_keep_sessions_between_from_and_to(
    client: TestClient, catalogue: Catalogue
) -> None:
    activities = by_code(await get(client, **{"from": "2027-03-03", "to": "2027-03-04"}))
    assert list(activities) == [catalogue.cantine]
    assert [s["starts_at"][:10] for s in activities[catalogue.cantine]["sessions"]] == [
        "2027-03-03",
        "2027-03-04",
    ]
    activities = by_code(await get(client, **{"from": "2027-04-01"}))
    assert set(activities) == {catalogue.judo, catalogue.stage}
    activities = by_code(await get(client, to="2027-03-02"))
    assert list(activities) == [catalogue.cantine]
    assert await get(client, **{"from": "2027-05-01"}) == []
    assert await get(client, **{"from": "2027-03-10", "to": "2027-03-01"}) == []


async def test_filters_combine(client: TestClient, catalogue: Catalogue) -> None:
    activities = await get(client, age="7", category="sport", **{"from": "2027-04-01"})
    assert [a["code"] for a in activities] == [catalogue.judo]
    assert [s["starts_at"][:10] for s in activities[0]["sessions"]] == ["2027-04-03"]


async def test_past_dates_show_only_upcoming_sessions(
    client: TestClient, catalogue: Catalogue
) -> None:
    activities = by_code(await get(client, **{"from": "2027-01-01", "to": "2027-03-02"}))
    assert [s["starts_at"][:10] for s in activities[catalogue.cantine]["sessions"]] == [
        "2027-03-02"
    ]


async def test_empty_filters_are_ignored(client: TestClient, catalogue: Catalogue) -> None:
    assert len(await get(client, age="", category="", **{"from": "", "to": ""})) == 3


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"age": "abc"}, "age"),
        ({"age": "-1"}, "age"),
        ({"age": "121"}, "age"),
        ({"age": "7.5"}, "age"),
        ({"age": "²"}, "age"),
        ({"age": "9" * 40}, "age"),
        ({"category": "piscine"}, "category must be one of: periscolaire"),
        ({"category": "SPORT"}, "category"),
        ({"from": "2027-13-01"}, "from must be a date"),
        ({"from": "demain"}, "from must be a date"),
        ({"to": "01/03/2027"}, "to must be a date"),
        ({"colour": "red"}, "unknown parameter: colour"),
        ({"age": "7", "page": "2"}, "unknown parameter: page"),
    ],
)
async def test_a_bad_filter_is_400_with_a_message(
    client: TestClient, params: dict[str, str], words: str
) -> None:
    response = await client.get("/api/catalogue", params=params)
    assert response.status == 400
    error = await response.json()
    assert error["error"] == "bad_query"
    assert words in error["message"]
    assert "invalid literal" not in error["message"]
