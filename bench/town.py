"""A generated town for the rush: the demo catalogue, one popular Wednesday, N households.

Loaded through the product's own code: the catalogue service (`load_catalogue`) and the
models, in one unit of work. One password hash serves every guardian: argon2 is meant to be
slow, and 500 hashes would take longer than the rush itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from booking import rules
from booking.catalogue_file import load_catalogue
from booking.clock import PARIS
from booking.db import Database
from booking.demo import demo_catalogue
from booking.models import Activity, Dossier, Guardian, Household, Participant, Session
from booking.passwords import hash_password

ACTIVITY_CODE = "rush-mercredis"
ACTIVITY_NAME = "Mercredis loisirs (rentrée)"
PASSWORD = "rush-parent-2027"
OTHER_WEDNESDAY_CAPACITY = 200


@dataclass(frozen=True)
class Town:
    """What the clients need to know: logins, the password, the activity and the day."""

    logins: list[str]
    password: str
    activity_name: str
    popular_day: date
    popular_session_id: int
    places: int
    session_ids: list[int]  # every session of the activity (the raw sqlite3 run uses them)
    sessions_in_catalogue: int
    activities_in_catalogue: int


def login_of(index: int) -> str:
    return f"parent{index:04d}"


def popular_wednesday(today: date) -> date:
    """Next week's Wednesday (or the first one after it that is not a public holiday)."""
    day = today - timedelta(days=today.weekday()) + timedelta(days=9)
    while day in rules.french_public_holidays(day.year):
        day += timedelta(days=7)
    return day


def catalogue(now: datetime, places: int) -> dict:
    """The demo town's catalogue with its Wednesdays replaced by one popular activity.

    Booking opens at `now` (the opening morning); every Wednesday of the term has room
    except the popular one, which has `places` places and a waitlist.
    """
    today = now.astimezone(PARIS).date()
    spec = demo_catalogue(now)
    spec["structure"] = {**spec["structure"], "slug": "ville-rush", "name": "Ville du rush"}
    popular = popular_wednesday(today)
    spec["activities"] = [
        activity for activity in spec["activities"] if not activity["code"].startswith("mercredis-")
    ] + [
        {
            "code": ACTIVITY_CODE,
            "name": ACTIVITY_NAME,
            "category": "alsh",
            "place": "Centre de loisirs des Tilleuls",
            "min_age": 3,
            "max_age": 12,
            "payment_mode": "invoice",
            "opens_at": now.astimezone(PARIS).replace(tzinfo=None),
            "booking_deadline": {"days": 2},
            "cancellation_deadline": {"days": 2},
            "waitlist": True,
            "sessions": [
                {
                    "weekly": {
                        "weekdays": ["wed"],
                        "from": today,
                        "to": today + timedelta(weeks=12),
                        "start": "08:30",
                        "end": "17:30",
                        "capacity": OTHER_WEDNESDAY_CAPACITY,
                        "price": "12,00",
                        "except": [popular],
                    }
                },
                {
                    "date": popular,
                    "start": "08:30",
                    "end": "17:30",
                    "capacity": places,
                    "price": "12,00",
                },
            ],
        }
    ]
    return spec


async def build_town(database: Database, *, parents: int, places: int, now: datetime) -> Town:
    """Load the catalogue and `parents` households (a guardian and a child of 6 to 10 each)."""
    password_hash = hash_password(PASSWORD)
    spec = catalogue(now, places)
    popular = popular_wednesday(now.astimezone(PARIS).date())
    async with database.writing() as db:
        await load_catalogue(db, spec, now)
        structure_id = await db.scalar(
            select(Activity.structure_id).where(Activity.code == ACTIVITY_CODE)
        )
        households = [
            Household(
                structure_id=structure_id,
                reference=f"rush-{index:04d}",
                name=f"Famille RUSH{index:04d}",
                group="resident",
                family_quotient=300 + (index * 37) % 1200,
                emails=f"{login_of(index)}@example.org",
                language="fr",
            )
            for index in range(parents)
        ]
        db.add_all(households)
        await db.flush()
        children = [
            Participant(
                household_id=household.id,
                first_name=f"Enfant{index:04d}",
                last_name=household.name,
                birth_date=date(popular.year - 6 - index % 5, 1 + index % 12, 1 + index % 28),
            )
            for index, household in enumerate(households)
        ]
        db.add_all(
            Guardian(
                household_id=household.id,
                login=login_of(index),
                password_hash=password_hash,
                first_name=f"Parent{index:04d}",
                last_name=household.name,
                email=f"{login_of(index)}@example.org",
                must_change_password=False,
                terms_accepted_at=now - timedelta(days=100),
            )
            for index, household in enumerate(households)
        )
        db.add_all(children)
        await db.flush()
        db.add_all(
            Dossier(
                participant_id=child.id,
                structure_id=structure_id,
                missing_items=[],
                validated_at=now - timedelta(days=60),
            )
            for child in children
        )
        activity_id = await db.scalar(select(Activity.id).where(Activity.code == ACTIVITY_CODE))
        sessions = (
            await db.execute(
                select(Session.id, Session.day)
                .where(Session.activity_id == activity_id)
                .order_by(Session.starts_at)
            )
        ).all()
        popular_id = next(session_id for session_id, day in sessions if day == popular)
        session_count = await db.scalar(select(func.count(Session.id)))
        activity_count = len(spec["activities"])
    return Town(
        logins=[login_of(index) for index in range(parents)],
        password=PASSWORD,
        activity_name=ACTIVITY_NAME,
        popular_day=popular,
        popular_session_id=popular_id,
        places=places,
        session_ids=[session_id for session_id, _ in sessions],
        sessions_in_catalogue=session_count or 0,
        activities_in_catalogue=activity_count,
    )


def opening_instant(day: date) -> datetime:
    """8:00 in the town on `day`: when booking opens."""
    return datetime.combine(day, time(8, 0), tzinfo=PARIS)
