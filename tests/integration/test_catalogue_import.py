"""Importing a YAML catalogue: the example file, idempotent re-imports, errors naming the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from booking.catalogue_file import (
    CatalogueError,
    import_catalogue_file,
    load_catalogue,
    parse_catalogue,
    planned_sessions,
    read_catalogue_file,
)
from booking.clock import PARIS
from booking.db import Database
from booking.models import (
    Activity,
    Booking,
    BookingState,
    BusStop,
    DeadlineKind,
    Household,
    OpeningWave,
    Participant,
    Session,
    Structure,
    Supplement,
    Tariff,
)

EXAMPLE = Path(__file__).parents[2] / "docs" / "catalogue-example.yaml"
EXAMPLE_SESSIONS = {
    "periscolaire-matin-jaures": 61,
    "cantine-ecole-jaures": 60,
    "mercredis-3-6-tilleuls": 16,
    "ete-tilleuls": 8,
    "sejour-mer-8-12": 1,
    "ems-coubertin": 12,
    "escalade-coubertin": 3,
}
CANTINE = "activities[1] (cantine-ecole-jaures)"
CANTINE_WEEKLY = f"{CANTINE}.sessions[0].weekly"


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


async def count(database: Database, model: type, *conditions: Any) -> int:
    async with database.reading() as db:
        return await db.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


async def session_days(database: Database, code: str) -> list[date]:
    async with database.reading() as db:
        days = await db.scalars(
            select(Session.day)
            .join(Activity, Activity.id == Session.activity_id)
            .where(Activity.code == code)
            .order_by(Session.starts_at)
        )
        return list(days)


async def test_the_example_file_imports_every_activity_and_its_sessions(database, clock):
    report = await import_catalogue_file(database, EXAMPLE, clock.now())

    assert report.structure_created
    assert report.activities_created == len(EXAMPLE_SESSIONS)
    assert report.sessions_created == sum(EXAMPLE_SESSIONS.values())
    for code, expected in EXAMPLE_SESSIONS.items():
        assert len(await session_days(database, code)) == expected, code
    assert await count(database, Tariff) == 9
    assert await count(database, Supplement) == 1
    assert await count(database, BusStop) == 3
    assert await count(database, OpeningWave) == 2
    async with database.reading() as db:
        cantine = await db.scalar(select(Activity).where(Activity.code == "cantine-ecole-jaures"))
        structure = await db.scalar(select(Structure))
    assert cantine.booking_deadline_kind is DeadlineKind.WORKING_DAYS
    assert (cantine.booking_deadline_days, cantine.booking_deadline_time) == (2, time(10, 0))
    assert cantine.opens_at == datetime(2027, 1, 4, 8, 0, tzinfo=PARIS)
    assert cantine.aliases == [
        "cantine",
        "repas",
        "déjeuner",
        "restauration scolaire",
        "canteen",
        "lunch",
    ]
    assert structure.coupon_price_cents == 250
    assert structure.school_zone == "A"


async def test_a_reimport_replaces_the_aliases_and_the_school_zone(database, clock):
    await import_catalogue_file(database, EXAMPLE, clock.now())
    data = example()
    data["structure"]["school_zone"] = "c"
    data["activities"][1]["aliases"] = ["  Cantine  ", "self"]
    del data["activities"][5]["aliases"]

    async with database.writing() as db:
        report = await load_catalogue(db, data, clock.now())

    assert report.activities_updated == 2
    async with database.reading() as db:
        aliases = dict(
            (await db.execute(select(Activity.code, Activity.aliases).order_by(Activity.id))).all()
        )
        zone = await db.scalar(select(Structure.school_zone))
    assert aliases["cantine-ecole-jaures"] == ["Cantine", "self"]
    assert aliases["ems-coubertin"] == []
    assert aliases["escalade-coubertin"] == ["escalade", "grimpe", "mur d'escalade", "climbing"]
    assert zone == "C"


async def test_importing_the_same_file_twice_changes_nothing(database, clock):
    await import_catalogue_file(database, EXAMPLE, clock.now())
    async with database.reading() as db:
        ids_before = set(await db.scalars(select(Session.id)))

    report = await import_catalogue_file(database, EXAMPLE, clock.now())

    assert not report.structure_created
    assert report.activities_created == report.activities_updated == 0
    assert report.activities_unchanged == len(EXAMPLE_SESSIONS)
    assert report.sessions_created == report.sessions_updated == report.sessions_deleted == 0
    assert report.sessions_unchanged == sum(EXAMPLE_SESSIONS.values())
    async with database.reading() as db:
        assert set(await db.scalars(select(Session.id))) == ids_before
    assert await count(database, Tariff) == 9
    assert await count(database, Structure) == 1


async def _book_someone_on(database: Database, code: str, day: date, now: datetime) -> None:
    async with database.writing() as db:
        structure = await db.scalar(select(Structure))
        session = await db.scalar(
            select(Session)
            .join(Activity, Activity.id == Session.activity_id)
            .where(Activity.code == code, Session.day == day)
        )
        household = Household(structure_id=structure.id, reference="h1", name="Famille Test")
        db.add(household)
        await db.flush()
        child = Participant(
            household_id=household.id,
            first_name="Noé",
            last_name="TEST",
            birth_date=date(2019, 1, 1),
        )
        db.add(child)
        await db.flush()
        db.add(
            Booking(
                session_id=session.id,
                participant_id=child.id,
                household_id=household.id,
                state=BookingState.CONFIRMED,
                price_cents=410,
                created_at=now,
                confirmed_at=now,
            )
        )


async def test_a_changed_file_updates_sessions_in_place_and_keeps_the_booked_ones(database, clock):
    await import_catalogue_file(database, EXAMPLE, clock.now())
    await _book_someone_on(database, "cantine-ecole-jaures", date(2027, 7, 1), clock.now())
    changed = example()
    weekly = changed["activities"][1]["sessions"][0]["weekly"]
    weekly["capacity"] = 100
    weekly["to"] = date(2027, 6, 30)  # drops Thursday 1st (booked) and Friday 2nd July

    async with database.writing() as db:
        report = await load_catalogue(db, changed, clock.now())

    assert report.sessions_updated == 58
    assert (report.sessions_deleted, report.sessions_kept) == (1, 1)
    assert any("2027-07-01" in warning and "kept" in warning for warning in report.warnings)
    days = await session_days(database, "cantine-ecole-jaures")
    assert date(2027, 7, 1) in days
    assert date(2027, 7, 2) not in days
    assert await count(database, Session, Session.capacity == 100) == 58


async def test_weekly_patterns_skip_holidays_public_holidays_and_listed_dates(database, clock):
    await import_catalogue_file(database, EXAMPLE, clock.now())

    cantine = await session_days(database, "cantine-ecole-jaures")
    assert date(2027, 3, 1) in cantine and date(2027, 4, 1) in cantine
    assert date(2027, 4, 2) not in cantine  # listed in `except`
    assert not [day for day in cantine if date(2027, 4, 10) <= day <= date(2027, 4, 25)]
    assert date(2027, 3, 29) not in cantine  # Easter Monday
    assert date(2027, 5, 6) not in cantine  # Ascension Day
    assert {day.weekday() for day in cantine} == {0, 1, 3, 4}
    wednesdays = await session_days(database, "mercredis-3-6-tilleuls")
    assert date(2027, 4, 14) not in wednesdays and date(2027, 4, 28) in wednesdays


def test_public_holidays_can_be_kept_on_request():
    data = example()
    data["activities"][1]["sessions"][0]["weekly"]["except_public_holidays"] = False
    spec = parse_catalogue(data)

    days = [session.starts_at.date() for session in planned_sessions(spec, spec.activities[1])]

    assert date(2027, 3, 29) in days


def test_the_school_zone_is_optional_and_read_in_either_case():
    data = example()
    data["structure"]["school_zone"] = " b"
    assert parse_catalogue(data).structure.school_zone == "B"
    del data["structure"]["school_zone"]
    assert parse_catalogue(data).structure.school_zone is None
    data["structure"]["school_zone"] = None
    assert parse_catalogue(data).structure.school_zone is None


def test_a_weeks_pattern_makes_one_monday_to_friday_session_per_week():
    spec = read_catalogue_file(EXAMPLE)

    weeks = planned_sessions(spec, spec.activities[3])

    assert [week.starts_at.date() for week in weeks][:2] == [date(2027, 7, 5), date(2027, 7, 12)]
    assert all(week.starts_at.weekday() == 0 and week.ends_at.weekday() == 4 for week in weeks)
    assert weeks[0].starts_at == datetime(2027, 7, 5, 9, 0, tzinfo=PARIS)
    assert weeks[0].ends_at == datetime(2027, 7, 9, 17, 0, tzinfo=PARIS)
    assert weeks[-1].ends_at.date() == date(2027, 8, 27)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the example data at a dotted path (numbers index lists)."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
        target: Any = data
        for part in parents:
            target = target[part]
        target[last] = value

    return change


def _duplicate_second_climbing_session(data: dict[str, Any]) -> None:
    sessions = data["activities"][6]["sessions"]
    sessions[1] = copy.deepcopy(sessions[0])


ERRORS = [
    (
        _set("activities.1.sessions.0.weekly.capacity", -1),
        f"{CANTINE_WEEKLY}.capacity: must be ≥ 0",
    ),
    (
        _set("activities.1.sessions.0.weekly.capacity", 20_000),
        f"{CANTINE_WEEKLY}.capacity: must be ≤ 10000",
    ),
    (
        _set("activities.1.sessions.0.weekly.price", "20000,00"),
        f"{CANTINE_WEEKLY}.price: must be at most 10000 €",
    ),
    (
        _set("activities.1.sessions.0.weekly.price", 4.1),
        f'{CANTINE_WEEKLY}.price: must be an amount in euros between quotes, e.g. "3,20"',
    ),
    (_set("activities.1.category", "garderie"), f"{CANTINE}.category: must be one of"),
    (_set("activities.1.max_age", 3), f"{CANTINE}.max_age: must be greater than min_age (3)"),
    (
        _set("activities.1.sessions.0.weekly.end", "11:00"),
        f"{CANTINE_WEEKLY}.end: must be after start (11:30)",
    ),
    (
        _set("activities.4.sessions.0.ends_at", "2027-07-11 18:00"),
        "activities[4] (sejour-mer-8-12).sessions[0].ends_at: must be after starts_at",
    ),
    (
        _set("activities.1.sessions.0.weekly.except_holidays", ["noel"]),
        f"{CANTINE_WEEKLY}.except_holidays[0]: unknown holiday 'noel'",
    ),
    (
        _set("activities.2.code", "cantine-ecole-jaures"),
        "activities[2] (cantine-ecole-jaures).code: duplicate of activities[1]",
    ),
    (_set("activities.1.colour", "blue"), f"{CANTINE}.colour: unknown field"),
    (_set("activities.1.aliases", "cantine"), f"{CANTINE}.aliases: must be a list"),
    (_set("activities.1.aliases", ["cantine", " "]), f"{CANTINE}.aliases[1]: must not be empty"),
    (_set("activities.1.aliases", ["cantine", 12]), f"{CANTINE}.aliases[1]: must be text"),
    (
        _set("activities.1.aliases", ["x" * 101]),
        f"{CANTINE}.aliases[0]: must be at most 100 characters",
    ),
    (
        _set("activities.1.aliases", [f"nom {n}" for n in range(31)]),
        f"{CANTINE}.aliases: must have at most 30 item(s)",
    ),
    (
        _set("activities.1.aliases", ["cantine", "repas", "cantine"]),
        f"{CANTINE}.aliases[2]: duplicate of aliases[0]",
    ),
    (
        _set("structure.school_zone", "D"),
        "structure.school_zone: must be A, B or C (the school holiday zone)",
    ),
    (_set("holidays.1.to", date(2027, 4, 1)), "holidays[1].to: must be on or after from"),
    (
        _set("activities.1.sessions.0.weekly.start", 690),
        f"{CANTINE_WEEKLY}.start: must be a time of day between quotes",
    ),
    (
        _set("activities.1.sessions.0.weekly.weekdays", ["monday", "fun"]),
        f"{CANTINE_WEEKLY}.weekdays[1]: must be a weekday",
    ),
    (
        _set("activities.6.sessions.0.price", "5,00"),
        "activities[6] (escalade-coubertin).sessions[0].price: not used when payment_mode is "
        "coupons",
    ),
    (
        _set("activities.1.booking_deadline", {"days": 1, "working_days": 2}),
        f"{CANTINE}.booking_deadline: give days or working_days, not both",
    ),
    (
        _set("activities.1.tariffs.1.min_quotient", 2000),
        f"{CANTINE}.tariffs[1].max_quotient: must be ≥ min_quotient (2000)",
    ),
    (
        _duplicate_second_climbing_session,
        "activities[6] (escalade-coubertin).sessions[1]: a session already starts at "
        "2027-03-13 14:00 (sessions[0])",
    ),
    (
        _set("activities.1.sessions.0.weekly.from", date(2020, 1, 1)),
        f"{CANTINE_WEEKLY}.to: the pattern covers more than 731 days",
    ),
]


@pytest.mark.parametrize(("change", "expected"), ERRORS)
def test_each_kind_of_mistake_names_the_entry_and_the_field(change, expected):
    data = example()
    change(data)

    with pytest.raises(CatalogueError) as raised:
        parse_catalogue(data)

    assert any(error.startswith(expected) for error in raised.value.errors), raised.value.errors


def test_every_mistake_of_the_file_is_reported_at_once():
    data = example()
    data["activities"][0]["sessions"][0]["weekly"]["capacity"] = -5
    data["activities"][5]["min_age"] = "six"
    del data["activities"][6]["payment_mode"]

    with pytest.raises(CatalogueError) as raised:
        parse_catalogue(data)

    assert raised.value.errors == [
        "activities[0] (periscolaire-matin-jaures).sessions[0].weekly.capacity: must be ≥ 0",
        "activities[5] (ems-coubertin).min_age: must be a whole number",
        "activities[6] (escalade-coubertin).payment_mode: is required",
    ]


async def test_a_file_with_a_mistake_writes_nothing(database, clock, tmp_path):
    data = example()
    data["activities"][6]["sessions"][2]["capacity"] = 99_999
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    with pytest.raises(CatalogueError) as raised:
        await import_catalogue_file(database, bad, clock.now())

    assert raised.value.errors == [
        "activities[6] (escalade-coubertin).sessions[2].capacity: must be ≤ 10000"
    ]
    assert await count(database, Structure) == 0
    assert await count(database, Session) == 0


async def test_an_activity_code_of_another_town_is_refused_and_nothing_is_written(database, clock):
    await import_catalogue_file(database, EXAMPLE, clock.now())
    other = example()
    other["structure"]["slug"] = "autre-ville"
    other["activities"] = [other["activities"][5], other["activities"][1]]

    with pytest.raises(CatalogueError) as raised:
        async with database.writing() as db:
            await load_catalogue(db, other, clock.now())

    assert raised.value.errors == [
        "activities[0] (ems-coubertin).code: already used by structure 'saint-exemple'",
        "activities[1] (cantine-ecole-jaures).code: already used by structure 'saint-exemple'",
    ]
    assert await count(database, Structure) == 1


def test_yaml_mistakes_are_reported_with_their_line(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("structure:\n  slug: x\n  name: [unclosed\n", encoding="utf-8")
    repeated = tmp_path / "repeated.yaml"
    repeated.write_text("structure:\n  slug: x\n  slug: y\n", encoding="utf-8")

    with pytest.raises(CatalogueError) as syntax:
        read_catalogue_file(broken)
    with pytest.raises(CatalogueError) as duplicate:
        read_catalogue_file(repeated)

    assert "line " in syntax.value.errors[0]
    assert duplicate.value.errors == [f"{repeated}: line 3, column 3: duplicate key 'slug'"]


def test_times_of_day_may_be_written_without_quotes(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8").replace('start: "11:30"', "start: 11:30")
    unquoted = tmp_path / "unquoted.yaml"
    unquoted.write_text(text, encoding="utf-8")

    spec = read_catalogue_file(unquoted)

    assert spec.activities[1].sessions[0].weekly.start == time(11, 30)


def test_the_documentation_shows_the_example_file_as_it_is():
    documentation = (EXAMPLE.parent / "catalogue.md").read_text(encoding="utf-8")

    assert EXAMPLE.read_text(encoding="utf-8") in documentation


async def test_the_example_town_can_live_next_to_the_demo_town(sqlite_database, clock):
    from booking.demo import load_demo

    assert await load_demo(sqlite_database, clock.now())

    report = await import_catalogue_file(sqlite_database, EXAMPLE, clock.now())

    assert report.structure_created and report.activities_created == len(EXAMPLE_SESSIONS)
