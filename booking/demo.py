"""The demo town: a catalogue relative to today, households with logins, and a few bookings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking import rules
from booking.catalogue_file import WEEKDAYS, load_catalogue
from booking.clock import PARIS
from booking.db import Database
from booking.models import (
    Activity,
    Booking,
    BookingState,
    Channel,
    Dossier,
    Enrolment,
    EnrolmentStatus,
    Guardian,
    Household,
    LedgerKind,
    Participant,
    Session,
    StaffMember,
    StaffRole,
    Structure,
    WalletKind,
)
from booking.passwords import hash_password
from booking.providers import ProviderState, ProviderStatus
from booking.school_calendar import SchoolHoliday, school_holidays
from booking.services.basket import add_to_basket, confirm_basket, join_waitlist
from booking.services.common import Actor, confirm
from booking.services.payments import apply_status, start_basket_payment
from booking.services.pricing import price_of
from booking.services.wallets import post_entry

DEMO_SLUG = "ville-demo"
#: The town's back-office accounts (/staff/), one per role, all with STAFF_PASSWORD.
STAFF_ACCOUNTS = (
    ("mairie-admin", StaffRole.ADMIN, "Nadine Admin"),
    ("mairie-gestion", StaffRole.MANAGER, "Paul Gestion"),
    ("cantine", StaffRole.AGENT, "Aïcha Cantine"),
)
STAFF_PASSWORD = "demo-mairie-2026"
#: Families whose children eat at the canteen every school day (booked for the year).
CANTEEN_FAMILIES = ("petit", "richard", "durand", "leroy")
DEMO_ZONE = "A"  # whose real school holidays (vacances-scolaires-france) the demo town takes
FULL_WEDNESDAY_CAPACITY = 8


@dataclass(frozen=True)
class DemoPerson:
    first_name: str
    birth_date: date


@dataclass(frozen=True)
class DemoHousehold:
    login: str
    last_name: str
    guardian_first_name: str
    children: Sequence[DemoPerson]
    group: str = "resident"
    family_quotient: int | None = None
    adult: DemoPerson | None = None
    missing_items: Sequence[str] = field(default_factory=tuple)

    @property
    def password(self) -> str:
        return f"demo-{self.login}"

    @property
    def email(self) -> str:
        return f"{self.guardian_first_name.lower()}.{self.login}@example.org"


def demo_households(today: date) -> list[DemoHousehold]:
    """dupont, martin and bernard, then the families who fill the full Wednesday."""
    return [
        DemoHousehold(
            "dupont",
            "DUPONT",
            "Jean-Paul",
            children=[
                DemoPerson("Léa", date(2018, 5, 12)),
                DemoPerson("Paolo", date(2021, 2, 3)),
                DemoPerson("Amalia", date(2013, 10, 20)),
            ],
            adult=DemoPerson("Jean-Paul", date(1984, 6, 2)),
            family_quotient=850,
        ),
        DemoHousehold(
            "martin",
            "MARTIN",
            "Claire",
            children=[DemoPerson("Zoé", date(2019, 9, 3))],
            family_quotient=480,
            missing_items=("attestation d'assurance", "fiche sanitaire"),
        ),
        DemoHousehold(
            "bernard", "BERNARD", "Marc", children=[DemoPerson("Hugo", date(2017, 1, 22))]
        ),
        *_wednesday_families(today),
    ]


def _wednesday_families(today: date) -> list[DemoHousehold]:
    """Four resident families fill the full Wednesday; a non-resident one waits in line."""
    names = [
        ("petit", "PETIT", "Sophie", ("Chloé", "Nathan"), "resident"),
        ("richard", "RICHARD", "Karim", ("Inès", "Louis"), "resident"),
        ("durand", "DURAND", "Aline", ("Jade", "Gabriel"), "resident"),
        ("leroy", "LEROY", "Thomas", ("Léna", "Adam"), "resident"),
        ("moreau", "MOREAU", "Nadia", ("Rose", "Arthur"), "non_resident"),
    ]
    # Children between four and five years old on the next Wednesdays (3-6 ans).
    born = date(today.year - 4, today.month, 1)
    households = []
    for index, (login, last_name, guardian, children, group) in enumerate(names):
        kids = [
            DemoPerson(first, born - timedelta(days=40 * (2 * index + rank)))
            for rank, first in enumerate(children)
        ]
        households.append(
            DemoHousehold(login, last_name, guardian, kids, group=group, family_quotient=700)
        )
    return households


# --- Dates relative to today -----------------------------------------------------------------


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def full_wednesday(today: date) -> date:
    """The Wednesday of "Mercredis loisirs 3-6 ans" that the demo fills: next week's or later."""
    year = school_year(today)
    day = _monday(today) + timedelta(days=9)
    while day in rules.french_public_holidays(day.year) or year.on_holiday(day):
        day += timedelta(days=7)
    return day


MIN_SCHOOL_WEEKS = 4  # fewer weeks of school left than this: the demo runs to the next summer


@dataclass(frozen=True)
class SchoolYear:
    """The demo's calendar from `today`: school days up to `last_day`, the holidays between.

    `holidays` are the zone's periods from today to the end of the summer that closes the
    demo's school year (that summer included); `summers` are the summer holidays not begun yet.
    """

    today: date
    holidays: tuple[SchoolHoliday, ...]

    @property
    def summers(self) -> tuple[SchoolHoliday, ...]:
        return tuple(
            period for period in self.holidays if period.kind == "ete" and period.first > self.today
        )

    @property
    def summer(self) -> SchoolHoliday:
        """The summer holidays that end the demo's school year."""
        return self.summers[-1]

    @property
    def last_day(self) -> date:
        """The last day of school before that summer."""
        return self.summer.first - timedelta(days=1)

    def on_holiday(self, day: date) -> bool:
        return any(period.first <= day <= period.last for period in self.holidays)


def school_year(today: date) -> SchoolYear:
    """The zone's real school holidays from today to the end of the school year.

    The school year ends with the first summer holidays at least `MIN_SCHOOL_WEEKS` away: in
    June, July and August the demo runs on to the end of the next school year. Years the
    published calendar does not know yet get a summer from 4 July to 31 August and no other
    holidays.
    """
    known = school_holidays(DEMO_ZONE, today.year, today.year + 2)
    enough = today + timedelta(weeks=MIN_SCHOOL_WEEKS)
    summer = next((p for p in known if p.kind == "ete" and p.first >= enough), None)
    year = today.year
    while summer is None:
        if date(year, 7, 4) >= enough:
            summer = SchoolHoliday("ete", date(year, 7, 4), date(year, 8, 31))
        year += 1
    holidays = [p for p in known if p.last >= today and p.first < summer.first]
    return SchoolYear(today, (*holidays, summer))


_HOLIDAY_NAMES = {
    "toussaint": "vacances de la Toussaint",
    "noel": "vacances de Noël",
    "hiver": "vacances d'hiver",
    "printemps": "vacances de printemps",
    "ascension": "pont de l'Ascension",
    "ete": "vacances d'été",
}


def _holidays(year: SchoolYear) -> list[dict[str, Any]]:
    """The catalogue's `holidays`: the school year's holiday periods, named with their year."""
    return [
        {
            "name": f"{_HOLIDAY_NAMES[period.kind]} {period.first.year}",
            "from": period.first,
            "to": period.last,
        }
        for period in year.holidays
    ]


# --- The catalogue ---------------------------------------------------------------------------


def demo_catalogue(now: datetime) -> dict[str, Any]:
    """The demo town as a catalogue spec (what a YAML file would hold), relative to `now`."""
    today = now.astimezone(PARIS).date()
    year = school_year(today)
    return {
        "structure": {
            "slug": DEMO_SLUG,
            "name": "Ville de Ribambelle (démo)",
            "timezone": "Europe/Paris",
            "blocks_debtors": True,
            "hold_minutes": 60,
            "waitlist_hold_minutes": 24 * 60,
            "coupon_price": "2,50",
            "reminder_hour": 18,
            "school_zone": DEMO_ZONE,
            # The demo takes no money: it opts into the test-card sandbox explicitly.
            "payment": {"provider": "sandbox"},
        },
        "holidays": _holidays(year),
        "activities": [
            *_school_day_activities(year),
            *_wednesday_activities(year),
            *_summer_activities(year),
            _sports_school(year),
            _family_climbing(year),
        ],
    }


def _opened(today: date) -> datetime:
    return datetime.combine(today - timedelta(days=30), time(8, 0))


def _weekly(
    year: SchoolYear, weekdays: list[str], *, to: date | None = None, **values: Any
) -> list[dict[str, Any]]:
    """Sessions on `weekdays` from today to the last day of school (or `to`), as a list of
    `sessions` entries: none when no such day is left (a Thursday in the last school week
    has no Wednesday before the summer)."""
    last = to or year.last_day
    wanted = {WEEKDAYS[name] for name in weekdays}
    skip_holidays = values.get("except_holidays", False)
    day = year.today
    while day <= last:
        if (
            day.weekday() in wanted
            and day not in rules.french_public_holidays(day.year)
            and not (skip_holidays and year.on_holiday(day))
        ):
            return [{"weekly": {"weekdays": weekdays, "from": year.today, "to": last, **values}}]
        day += timedelta(days=1)
    return []


_QUOTIENT_BANDS = [("QF 0-600", None, 600), ("QF 601-1200", 601, 1200)]


def _tariffs(*prices: str) -> list[dict[str, Any]]:
    return [
        {"label": label, "min_quotient": low, "max_quotient": high, "price": price}
        for (label, low, high), price in zip(_QUOTIENT_BANDS, prices, strict=True)
    ]


def _school_day(
    year: SchoolYear, start: str, end: str, capacity: int, price: str
) -> list[dict[str, Any]]:
    return _weekly(
        year,
        ["mon", "tue", "thu", "fri"],
        start=start,
        end=end,
        capacity=capacity,
        price=price,
        except_holidays=True,
    )


def _school_day_activities(year: SchoolYear) -> list[dict[str, Any]]:
    common = {
        "min_age": 3,
        "max_age": 12,
        "payment_mode": "invoice",
        "opens_at": _opened(year.today),
        "place": "École Jean Jaurès",
    }
    return [
        {
            "code": "periscolaire-matin",
            "name": "Accueil périscolaire du matin",
            "aliases": [
                "garderie du matin",
                "garderie matin",
                "garderie",
                "accueil du matin",
                "périscolaire matin",
                "morning care",
                "breakfast club",
            ],
            "category": "periscolaire",
            **common,
            "booking_deadline": {"days": 2},
            "cancellation_deadline": {"days": 2},
            "tariffs": _tariffs("0,80", "1,00"),
            "sessions": _school_day(year, "07:30", "08:30", 40, "1,20"),
        },
        {
            "code": "cantine",
            "name": "Restaurant scolaire",
            "aliases": [
                "cantine",
                "repas",
                "déjeuner",
                "midi",
                "restauration scolaire",
                "canteen",
                "lunch",
                "school meals",
            ],
            "category": "restauration",
            **common,
            "booking_deadline": {"working_days": 2, "at": "10:00"},
            "cancellation_deadline": {"working_days": 2, "at": "10:00"},
            "tariffs": _tariffs("1,50", "3,20"),
            "sessions": _school_day(year, "11:30", "13:30", 120, "4,10"),
        },
        {
            "code": "periscolaire-soir",
            "name": "Accueil périscolaire du soir",
            "aliases": [
                "garderie du soir",
                "garderie soir",
                "garderie",
                "étude",
                "accueil du soir",
                "périscolaire soir",
                "after-school",
                "after school club",
            ],
            "category": "periscolaire",
            **common,
            "booking_deadline": {"days": 1, "at": "12:00"},
            "cancellation_deadline": {"days": 1, "at": "12:00"},
            "tariffs": _tariffs("1,60", "2,00"),
            "sessions": _school_day(year, "16:30", "18:30", 40, "2,40"),
        },
    ]


def _wednesdays(year: SchoolYear, capacity: int, price: str) -> list[dict[str, Any]]:
    return _weekly(
        year,
        ["wed"],
        start="08:30",
        end="17:30",
        capacity=capacity,
        price=price,
        except_holidays=True,
    )


_WEDNESDAY_ALIASES = [
    "mercredi loisirs",
    "mercredis",
    "centre de loisirs du mercredi",
    "centre aéré",
    "ALSH",
    "accueil de loisirs",
    "Wednesday club",
    "Wednesday leisure centre",
]


def _wednesday_activities(year: SchoolYear) -> list[dict[str, Any]]:
    common = {
        "aliases": _WEDNESDAY_ALIASES,
        "category": "alsh",
        "place": "Centre de loisirs des Tilleuls",
        "payment_mode": "immediate",
        "opens_at": _opened(year.today),
        "booking_deadline": {"days": 2},
        "cancellation_deadline": {"days": 7},
        "waitlist": True,
    }
    return [
        {
            "code": "mercredis-3-6",
            "name": "Mercredis loisirs 3-6 ans",
            "min_age": 3,
            "max_age": 7,
            **common,
            "tariffs": _tariffs("6,00", "10,00"),
            "sessions": _wednesdays(year, FULL_WEDNESDAY_CAPACITY, "14,00"),
        },
        {
            "code": "mercredis-6-12",
            "name": "Mercredis loisirs 6-12 ans",
            "min_age": 6,
            "max_age": 13,
            **common,
            "tariffs": _tariffs("6,00", "10,00"),
            "sessions": _wednesdays(year, 12, "14,00"),
        },
    ]


def _summer_activities(year: SchoolYear) -> list[dict[str, Any]]:
    """Summer weeks (residents first, non-residents a week later) and a stay at the seaside
    in its second week, each summer not begun yet."""
    today = year.today
    weeks = [
        {
            "weeks": {
                "from": summer.first,
                "to": summer.last,
                "first_day": "mon",
                "last_day": "fri",
                "start": "09:00",
                "end": "17:00",
                "capacity": 48,
                "price": "80,00",
            }
        }
        for summer in year.summers
    ]
    stays = []
    for summer in year.summers:
        second_monday = summer.first + timedelta(days=(7 - summer.first.weekday()) % 7 + 7)
        stays.append(
            {
                "starts_at": datetime.combine(second_monday, time(9, 0)),
                "ends_at": datetime.combine(second_monday + timedelta(days=4), time(18, 0)),
                "place": "Pornic",
                "capacity": 16,
                "price": "320,00",
            }
        )
    return [
        {
            "code": "ete-centre-loisirs",
            "name": "Été au centre de loisirs (3-12 ans)",
            "aliases": [
                "centre aéré",
                "ALSH",
                "centre de loisirs",
                "vacances d'été",
                "summer camp",
                "summer club",
                "holiday club",
            ],
            "category": "alsh",
            "place": "Centre de loisirs des Tilleuls",
            "min_age": 3,
            "max_age": 12,
            "payment_mode": "immediate",
            "opens_at": _opened(today),
            "opening_waves": {"non_resident": datetime.combine(today + timedelta(days=7), time(8))},
            "booking_deadline": {"days": 14},
            "cancellation_deadline": {"days": 21},
            "waitlist": True,
            "tariffs": _tariffs("45,00", "65,00"),
            "supplements": [{"code": "piscine", "label": "Sortie piscine", "price": "4,00"}],
            "bus_routes": [
                {
                    "name": "Circuit des écoles",
                    "stops": [
                        {"name": "Mairie", "pickup": "08:15"},
                        {"name": "École Jean Jaurès", "pickup": "08:25"},
                        {"name": "Gymnase Coubertin", "pickup": "08:40"},
                    ],
                }
            ],
            "sessions": weeks,
        },
        {
            "code": "sejour-mer",
            "name": "Séjour à la mer (8-12 ans)",
            "aliases": ["séjour", "colonie", "colo", "camp", "stay at the seaside", "seaside camp"],
            "description": "Cinq jours à Pornic, transport et pension complète compris.",
            "category": "sejour",
            "min_age": 8,
            "max_age": 13,
            "payment_mode": "immediate",
            "opens_at": _opened(today),
            "booking_deadline": {"days": 21},
            "cancellation_deadline": {"days": 30},
            "waitlist": True,
            "sessions": stays,
        },
    ]


def _sports_school(year: SchoolYear) -> dict[str, Any]:
    """Saturday mornings of the school year, not in the holidays."""
    return {
        "code": "ems-multisport",
        "name": "École municipale des sports — multisport",
        "aliases": ["école des sports", "EMS", "multisport", "sport", "sports school"],
        "category": "ems",
        "place": "Gymnase Coubertin",
        "min_age": 6,
        "max_age": 16,
        "payment_mode": "invoice",
        "opens_at": _opened(year.today),
        "enrolment_required": True,
        "booking_deadline": {"days": 1},
        "cancellation_deadline": {"days": 1},
        "sessions": _weekly(
            year,
            ["sat"],
            start="10:00",
            end="11:30",
            capacity=20,
            price="3,00",
            except_holidays=True,
        ),
    }


def _family_climbing(year: SchoolYear) -> dict[str, Any]:
    """Saturday afternoons all year round, holidays included, until the end of the summer."""
    return {
        "code": "escalade-en-famille",
        "name": "Escalade en famille",
        "aliases": ["escalade", "grimpe", "mur d'escalade", "climbing", "family climbing"],
        "description": "Parents et enfants grimpent ensemble, encadrés par un moniteur.",
        "category": "sport",
        "place": "Mur d'escalade du gymnase Coubertin",
        "min_age": 6,
        "payment_mode": "coupons",
        "children_per_adult": 2,
        "opens_at": _opened(year.today),
        "booking_deadline": {"days": 1, "at": "18:00"},
        "cancellation_deadline": {"days": 2},
        "sessions": _weekly(
            year, ["sat"], to=year.summer.last, start="14:00", end="16:00", capacity=12, coupons=2
        ),
    }


# --- Households, money and bookings ----------------------------------------------------------


@cache
def _demo_hash(password: str) -> str:
    """Demo passwords are hashed once per process: loading the demo twice stays quick."""
    return hash_password(password)


async def load_demo(database: Database, now: datetime) -> bool:
    """Load the demo town into a database that holds no structure yet.

    Args:
        database: the application's database.
        now: the clock's reading; every date of the demo is relative to its day.

    Returns:
        True when the demo was loaded, False (and nothing written) when a structure exists.
    """
    async with database.reading() as db:
        if await db.scalar(select(Structure.id).limit(1)) is not None:
            return False
    households = demo_households(now.astimezone(PARIS).date())
    hashes = await asyncio.gather(
        *(asyncio.to_thread(_demo_hash, household.password) for household in households)
    )
    staff_hash = await asyncio.to_thread(_demo_hash, STAFF_PASSWORD)
    async with database.writing() as db:
        if await db.scalar(select(Structure.id).limit(1)) is not None:
            return False
        await load_catalogue(db, demo_catalogue(now), now)
        structure = await db.scalar(select(Structure).where(Structure.slug == DEMO_SLUG))
        assert structure is not None
        made = {
            spec.login: await _add_household(db, structure, spec, password_hash, now)
            for spec, password_hash in zip(households, hashes, strict=True)
        }
        await _add_enrolments(db, made["dupont"], now)
        await _add_money(db, made, now)
        await _add_bookings(db, made, now)
        await _add_canteen_routine(db, structure, made, now)
        await _add_staff(db, structure, staff_hash, now)
        await _add_door_details(db, made)
    return True


@dataclass
class _Made:
    """A household created by the demo, its guardian and its participants by first name."""

    household: Household
    guardian: Guardian
    participants: dict[str, Participant]
    adult_name: str | None = None  # an adult who takes part (family sessions)

    @property
    def actor(self) -> Actor:
        return Actor(
            channel=Channel.CLI, household_id=self.household.id, guardian_id=self.guardian.id
        )


async def _add_household(
    db: AsyncSession, structure: Structure, spec: DemoHousehold, password_hash: str, now: datetime
) -> _Made:
    household = Household(
        structure_id=structure.id,
        reference=spec.login,
        name=f"Famille {spec.last_name}",
        group=spec.group,
        family_quotient=spec.family_quotient,
        emails=spec.email,
        language="fr",
    )
    db.add(household)
    await db.flush()
    guardian = Guardian(
        household_id=household.id,
        login=spec.login,
        password_hash=password_hash,
        first_name=spec.guardian_first_name,
        last_name=spec.last_name,
        email=spec.email,
        must_change_password=False,
        terms_accepted_at=now,
    )
    people = [*spec.children, *([spec.adult] if spec.adult else [])]
    participants = {
        person.first_name: Participant(
            household_id=household.id,
            first_name=person.first_name,
            last_name=spec.last_name,
            birth_date=person.birth_date,
        )
        for person in people
    }
    db.add_all([guardian, *participants.values()])
    await db.flush()
    db.add_all(
        Dossier(
            participant_id=participant.id,
            structure_id=structure.id,
            missing_items=list(spec.missing_items),
            validated_at=None if spec.missing_items else now,
        )
        for participant in participants.values()
    )
    return _Made(household, guardian, participants, spec.adult.first_name if spec.adult else None)


async def _activity_id(db: AsyncSession, code: str) -> int:
    activity_id = await db.scalar(select(Activity.id).where(Activity.code == code))
    assert activity_id is not None, code
    return activity_id


async def _add_enrolments(db: AsyncSession, dupont: _Made, now: datetime) -> None:
    """Sports school: Léa is approved, Amalia's request waits for the staff."""
    activity_id = await _activity_id(db, "ems-multisport")
    db.add_all(
        [
            Enrolment(
                participant_id=dupont.participants["Léa"].id,
                activity_id=activity_id,
                status=EnrolmentStatus.APPROVED,
                requested_at=now - timedelta(days=20),
                decided_at=now - timedelta(days=18),
            ),
            Enrolment(
                participant_id=dupont.participants["Amalia"].id,
                activity_id=activity_id,
                status=EnrolmentStatus.PENDING,
                requested_at=now - timedelta(days=2),
            ),
        ]
    )
    await db.flush()


async def _add_money(db: AsyncSession, made: dict[str, _Made], now: datetime) -> None:
    """dupont: 25,00 € and 10 coupons; bernard owes 85,40 € on his invoice account."""
    entries = [
        ("dupont", WalletKind.EUROS, 2500, LedgerKind.TOP_UP, "Rechargement du porte-monnaie"),
        ("dupont", WalletKind.COUPONS, 10, LedgerKind.TOP_UP, "Carnet de coupons"),
        ("bernard", WalletKind.ACCOUNT, -8540, LedgerKind.INVOICE, "Facture impayée"),
    ]
    for login, kind, amount, entry_kind, label in entries:
        await post_entry(
            db,
            household_id=made[login].household.id,
            kind=kind,
            amount=amount,
            entry_kind=entry_kind,
            at=now - timedelta(days=10),
            label=label,
        )


async def _first_session(db: AsyncSession, code: str, on_or_after: date) -> Session:
    session = await db.scalar(
        select(Session)
        .join(Activity, Activity.id == Session.activity_id)
        .where(Activity.code == code, Session.day >= on_or_after)
        .order_by(Session.starts_at)
        .limit(1)
    )
    assert session is not None, code
    return session


async def _add_bookings(db: AsyncSession, made: dict[str, _Made], now: datetime) -> None:
    """dupont's cantine a week from now; the full Wednesday with two families in line."""
    today = now.astimezone(PARIS).date()
    cantine = await _first_session(db, "cantine", today + timedelta(days=7))
    dupont = made["dupont"]
    for name in ("Léa", "Paolo"):
        await _book(db, dupont, name, cantine, now)
    await confirm_basket(db, actor=dupont.actor, now=now)
    wednesday = await _first_session(db, "mercredis-3-6", full_wednesday(today))
    for login in ("petit", "richard", "durand", "leroy"):
        family = made[login]
        for name in family.participants:
            await _book(db, family, name, wednesday, now)
        checkout = await confirm_basket(db, actor=family.actor, now=now)
        await _pay(db, family, checkout.pending_payment, now)
    moreau = made["moreau"]
    for participant in moreau.participants.values():
        await join_waitlist(
            db, actor=moreau.actor, participant_id=participant.id, session_id=wednesday.id, now=now
        )
    await db.flush()


async def _book(db: AsyncSession, made: _Made, name: str, session: Session, now: datetime) -> None:
    await add_to_basket(
        db,
        actor=made.actor,
        participant_id=made.participants[name].id,
        session_id=session.id,
        now=now,
    )


async def _pay(db: AsyncSession, made: _Made, bookings: Sequence[Booking], now: datetime) -> None:
    """Pay pending bookings as a parent would by link, the provider saying "paid"."""
    payment = await start_basket_payment(db, actor=made.actor, bookings=list(bookings), now=now)
    status = ProviderStatus(ProviderState.PAID, payment.amount_cents, payment.currency)
    await apply_status(db, payment.id, status, now=now, source="demo")


async def _add_staff(
    db: AsyncSession, structure: Structure, password_hash: str, now: datetime
) -> None:
    db.add_all(
        StaffMember(
            structure_id=structure.id,
            login=login,
            role=role,
            name=name,
            email=f"{login}@ville-demo.example.org",
            password_hash=password_hash,
            created_at=now,
        )
        for login, role, name in STAFF_ACCOUNTS
    )
    await db.flush()


async def _add_door_details(db: AsyncSession, made: dict[str, _Made]) -> None:
    """What the staff read at the door: phones, classes, Léa's allergy."""
    for index, family in enumerate(made.values()):
        family.guardian.phone = f"06 12 34 {index:02d} {10 + index:02d}"
    classes = {"Léa": "CP A", "Paolo": "PS", "Amalia": "4e B", "Zoé": "MS", "Hugo": "CE2"}
    for family in made.values():
        for name, participant in family.participants.items():
            if family.adult_name != name:  # Jean-Paul climbs with his children: no class
                participant.school_class = classes.get(name, "MS")
    lea = await db.scalar(
        select(Dossier).where(Dossier.participant_id == made["dupont"].participants["Léa"].id)
    )
    assert lea is not None
    lea.notes = "Allergie à l'arachide (PAI) : trousse d'urgence dans le sac."
    await db.flush()


def _canteen_days(today: date) -> list[date]:
    """School days of the canteen from the first of last month to the next two school days."""
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    holidays = school_holidays(DEMO_ZONE, first.year - 1, today.year + 1)
    days, day, ahead = [], first, 0
    while ahead < 3:
        open_day = (
            day.weekday() in (0, 1, 3, 4)  # the canteen's days (_school_day)
            and day not in rules.french_public_holidays(day.year)
            and not any(period.first <= day <= period.last for period in holidays)
        )
        if open_day:
            days.append(day)
            ahead += day >= today
        day += timedelta(days=1)
    return days


async def _add_canteen_routine(
    db: AsyncSession, structure: Structure, made: dict[str, _Made], now: datetime
) -> None:
    """CANTEEN_FAMILIES' children eat at the canteen every school day since the first of last
    month (registered for the year, so booked before the deadlines): rosters for today and
    the next days, and a past month to invoice. Past days get their sessions here (the
    catalogue starts today)."""
    today = now.astimezone(PARIS).date()
    activity = await db.scalar(select(Activity).where(Activity.code == "cantine"))
    assert activity is not None
    existing = {
        session.day: session
        for session in await db.scalars(select(Session).where(Session.activity_id == activity.id))
    }
    actor = Actor(channel=Channel.SYSTEM)
    for day in _canteen_days(today):
        session = existing.get(day)
        if session is None:
            session = Session(
                activity_id=activity.id,
                day=day,
                starts_at=datetime.combine(day, time(11, 30), PARIS),
                ends_at=datetime.combine(day, time(13, 30), PARIS),
                capacity=120,
                price_cents=410,
            )
            db.add(session)
            await db.flush()
        session.activity = activity
        booked_at = min(now, datetime.combine(day, time(8, 0), PARIS) - timedelta(days=14))
        for login in CANTEEN_FAMILIES:
            family = made[login]
            for participant in family.participants.values():
                price, coupons = await price_of(
                    db, session=session, household=family.household, participant=participant
                )
                booking = Booking(
                    session_id=session.id,
                    participant_id=participant.id,
                    household_id=family.household.id,
                    state=BookingState.HELD,
                    price_cents=price,
                    coupons=coupons,
                    created_at=booked_at,
                )
                db.add(booking)
                await db.flush()
                confirm(db, booking, now=booked_at, actor=actor, mode="invoice")
    await db.flush()
