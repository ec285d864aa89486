"""Builders that write real rows, so that domain tests say only what matters to them.

Every builder takes the unit of work (`db`, an `AsyncSession` from `Database.writing()`),
adds its row, flushes (so ids exist) and returns the model. Defaults describe an ordinary
town: a resident household, a child of seven with a complete dossier, an invoiced Wednesday
leisure-centre day for 3-12 year olds with ten places, booking open until the session starts.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.clock import PARIS
from booking.db import Database
from booking.models import (
    Activity,
    Booking,
    BookingEvent,
    BookingState,
    BusRoute,
    BusStop,
    Category,
    Channel,
    DeadlineKind,
    Dossier,
    Enrolment,
    EnrolmentStatus,
    EventKind,
    Guardian,
    Household,
    LedgerEntry,
    LedgerKind,
    OpeningWave,
    Participant,
    PaymentMode,
    Session,
    Structure,
    Supplement,
    Tariff,
    Wallet,
    WalletKind,
)
from booking.services.common import Actor, record_event
from booking.services.wallets import post_entry
from tests.conftest import POSTGRES_URL, _admin, _run_in_thread, _with_database

_serial = itertools.count(1)

#: The pinned clock's day is Monday 2027-03-01; this is the Wednesday after next.
WEDNESDAY = datetime(2027, 3, 10, 9, 0, tzinfo=PARIS)
CHILD_BIRTH = date(2019, 5, 12)  # seven on WEDNESDAY
ADULT_BIRTH = date(1985, 6, 1)


def _next(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}"


async def structure(
    db: AsyncSession,
    *,
    blocks_debtors: bool = True,
    hold_minutes: int = 60,
    waitlist_hold_minutes: int = 24 * 60,
    timezone: str = "Europe/Paris",
    school_zone: str | None = None,
) -> Structure:
    row = Structure(
        slug=_next("town"),
        name="Ville de Test",
        timezone=timezone,
        school_zone=school_zone,
        blocks_debtors=blocks_debtors,
        hold_minutes=hold_minutes,
        waitlist_hold_minutes=waitlist_hold_minutes,
        # Test towns opt into the test-card sandbox: no town gets it by default.
        payment_settings={"provider": "sandbox"},
    )
    db.add(row)
    await db.flush()
    return row


async def household(
    db: AsyncSession,
    town: Structure,
    *,
    group: str = "resident",
    quotient: int | None = None,
    name: str = "DUPONT",
) -> Household:
    row = Household(
        structure_id=town.id,
        reference=_next("household"),
        name=name,
        group=group,
        family_quotient=quotient,
    )
    db.add(row)
    await db.flush()
    return row


async def guardian(db: AsyncSession, family: Household, *, first_name: str = "Jean") -> Guardian:
    row = Guardian(
        household_id=family.id,
        login=_next("login"),
        password_hash="not-a-real-hash",
        first_name=first_name,
        last_name=family.name,
        must_change_password=False,
    )
    db.add(row)
    await db.flush()
    return row


async def participant(
    db: AsyncSession,
    family: Household,
    *,
    born: date = CHILD_BIRTH,
    first_name: str = "Léa",
    missing: Sequence[str] = (),
    validated: bool = True,
    dossier: bool = True,
) -> Participant:
    """A participant with a dossier: complete unless `missing` items or not `validated`."""
    row = Participant(
        household_id=family.id, first_name=first_name, last_name=family.name, birth_date=born
    )
    db.add(row)
    await db.flush()
    if dossier:
        db.add(
            Dossier(
                participant_id=row.id,
                structure_id=family.structure_id,
                missing_items=list(missing),
                validated_at=datetime(2027, 1, 5, 10, 0, tzinfo=PARIS) if validated else None,
            )
        )
        await db.flush()
    return row


async def activity(
    db: AsyncSession,
    town: Structure,
    *,
    name: str = "Mercredis loisirs",
    aliases: Sequence[str] = (),
    category: Category = Category.ALSH,
    mode: PaymentMode = PaymentMode.INVOICE,
    min_age: int = 3,
    max_age: int | None = 12,
    opens_at: datetime | None = None,
    waves: dict[str, datetime] | None = None,
    booking_days: int = 0,
    booking_working_days: bool = False,
    booking_time: time | None = None,
    cancellation_days: int = 0,
    cancellation_working_days: bool = False,
    cancellation_time: time | None = None,
    waitlist: bool = False,
    enrolment_required: bool = False,
    children_per_adult: int | None = None,
    tariffs: Sequence[dict] = (),
    supplements: dict[str, int] | None = None,
    bus_stops: Sequence[str] = (),
) -> Activity:
    """An activity with every option; `tariffs` are dicts of `Tariff` columns."""
    row = Activity(
        structure_id=town.id,
        code=_next("activity"),
        name=name,
        aliases=list(aliases),
        category=category,
        min_age=min_age,
        max_age=max_age,
        payment_mode=mode,
        opens_at=opens_at,
        booking_deadline_kind=DeadlineKind.WORKING_DAYS
        if booking_working_days
        else DeadlineKind.DAYS,
        booking_deadline_days=booking_days,
        booking_deadline_time=booking_time,
        cancellation_deadline_kind=(
            DeadlineKind.WORKING_DAYS if cancellation_working_days else DeadlineKind.DAYS
        ),
        cancellation_deadline_days=cancellation_days,
        cancellation_deadline_time=cancellation_time,
        waitlist_enabled=waitlist,
        enrolment_required=enrolment_required,
        children_per_adult=children_per_adult,
    )
    db.add(row)
    await db.flush()
    for group, instant in (waves or {}).items():
        db.add(OpeningWave(activity_id=row.id, household_group=group, opens_at=instant))
    for tariff in tariffs:
        db.add(Tariff(activity_id=row.id, **tariff))
    for code, price in (supplements or {}).items():
        db.add(Supplement(activity_id=row.id, code=code, label=code, price_cents=price))
    if bus_stops:
        route = BusRoute(activity_id=row.id, name="Circuit 1")
        db.add(route)
        await db.flush()
        for position, stop in enumerate(bus_stops):
            db.add(BusStop(route_id=route.id, name=stop, position=position))
    await db.flush()
    return row


async def session(
    db: AsyncSession,
    of: Activity,
    *,
    starts_at: datetime = WEDNESDAY,
    hours: float = 8,
    capacity: int = 10,
    price_cents: int = 1200,
    coupons: int = 0,
    label: str = "",
) -> Session:
    row = Session(
        activity_id=of.id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
        day=starts_at.astimezone(PARIS).date(),
        label=label,
        capacity=capacity,
        price_cents=price_cents,
        coupons=coupons,
    )
    db.add(row)
    await db.flush()
    return row


async def enrolment(
    db: AsyncSession,
    child: Participant,
    of: Activity,
    status: EnrolmentStatus = EnrolmentStatus.APPROVED,
) -> Enrolment:
    row = Enrolment(
        participant_id=child.id,
        activity_id=of.id,
        status=status,
        requested_at=datetime(2027, 1, 10, 10, 0, tzinfo=PARIS),
    )
    db.add(row)
    await db.flush()
    return row


async def credit(
    db: AsyncSession,
    family: Household,
    amount: int,
    *,
    kind: WalletKind = WalletKind.EUROS,
    at: datetime = WEDNESDAY - timedelta(days=30),
    entry_kind: LedgerKind = LedgerKind.TOP_UP,
) -> LedgerEntry:
    """Move a wallet through the ledger (a negative ACCOUNT amount is an unpaid invoice)."""
    entry = await post_entry(
        db, household_id=family.id, kind=kind, amount=amount, entry_kind=entry_kind, at=at
    )
    await db.flush()
    return entry


def parent(family: Household, adult: Guardian | None = None) -> Actor:
    """A guardian of `family` acting through the web chat."""
    return Actor(
        channel=Channel.WEB,
        household_id=family.id,
        guardian_id=adult.id if adult is not None else None,
    )


STAFF = Actor(channel=Channel.STAFF, staff="mairie")


async def mark_paid(db: AsyncSession, booking: Booking, now: datetime) -> Booking:
    """What the payment service does when the provider says paid: confirm a pending booking."""
    assert booking.state is BookingState.PENDING_PAYMENT
    booking.state = BookingState.CONFIRMED
    booking.confirmed_at = now
    booking.held_until = None
    record_event(db, kind=EventKind.PAID, at=now, actor=Actor.system(), booking=booking)
    await db.flush()
    return booking


@dataclass
class Family:
    """A household with its guardian, one child, and the actor that speaks for them."""

    household: Household
    guardian: Guardian
    child: Participant
    actor: Actor


async def family(
    db: AsyncSession,
    town: Structure,
    *,
    born: date = CHILD_BIRTH,
    group: str = "resident",
    quotient: int | None = None,
    missing: Sequence[str] = (),
    name: str = "DUPONT",
) -> Family:
    home = await household(db, town, group=group, quotient=quotient, name=name)
    adult = await guardian(db, home)
    child = await participant(db, home, born=born, missing=missing)
    return Family(home, adult, child, parent(home, adult))


# Reading back what the services wrote ------------------------------------------------------


async def reload(database: Database, model: type, row_id: int):  # noqa: ANN201
    async with database.reading() as db:
        return await db.get(model, row_id)


async def events_of(database: Database, booking_id: int) -> list[BookingEvent]:
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(BookingEvent)
                .where(BookingEvent.booking_id == booking_id)
                .order_by(BookingEvent.id)
            )
        )


async def all_events(database: Database) -> list[BookingEvent]:
    async with database.reading() as db:
        return list(await db.scalars(select(BookingEvent).order_by(BookingEvent.id)))


async def bookings_of(database: Database, session_id: int) -> list[Booking]:
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(Booking).where(Booking.session_id == session_id).order_by(Booking.id)
            )
        )


async def ledger_of(database: Database, household_id: int, kind: WalletKind) -> list[LedgerEntry]:
    async with database.reading() as db:
        return list(
            await db.scalars(
                select(LedgerEntry)
                .join(Wallet, Wallet.id == LedgerEntry.wallet_id)
                .where(Wallet.household_id == household_id, Wallet.kind == kind)
                .order_by(LedgerEntry.id)
            )
        )


async def balance_of(database: Database, household_id: int, kind: WalletKind) -> int:
    async with database.reading() as db:
        return (
            await db.scalar(
                select(Wallet.balance).where(
                    Wallet.household_id == household_id, Wallet.kind == kind
                )
            )
        ) or 0


async def ledger_mismatches(database: Database) -> list[tuple[int, int, int]]:
    """(wallet id, balance, ledger sum) for every wallet whose balance is not its ledger's sum."""
    async with database.reading() as db:
        rows = await db.execute(
            select(LedgerEntry.wallet_id, func.sum(LedgerEntry.amount)).group_by(
                LedgerEntry.wallet_id
            )
        )
        sums = {wallet_id: total for wallet_id, total in rows}
        wallets = (await db.execute(select(Wallet.id, Wallet.balance))).all()
    return [
        (wallet_id, balance, sums.get(wallet_id, 0))
        for wallet_id, balance in wallets
        if balance != sums.get(wallet_id, 0)
    ]


# A faster PostgreSQL database per test ----------------------------------------------------


@pytest.fixture(scope="session")
def postgres_scratch(postgres_template: str) -> Iterator[str]:
    """One database copied from the migrated template, reused (emptied) by each test.

    Copying the template costs ~0.4 s a test; emptying the tables costs a few milliseconds.
    A module opts in by overriding `postgres_url` with `emptied_postgres_url`.
    """
    name = f"ribambelle_scratch_{uuid.uuid4().hex[:8]}"
    _run_in_thread(lambda: _admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    # A test database need not survive a crash: commits stop waiting for the disk.
    _run_in_thread(lambda: _admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    yield _with_database(POSTGRES_URL, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    _run_in_thread(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def emptied_postgres_url(url: str) -> str:
    """Empty every table of the scratch database; ids restart at 1, as in a fresh copy.

    DELETE with the foreign-key triggers off is ten times faster than TRUNCATE on tables
    this small.
    """
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        sequences = await connection.fetch(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        )
        await connection.execute(
            "SET session_replication_role = replica;"
            + "".join(f'DELETE FROM "{row["tablename"]}";' for row in tables)
            + "".join(f'ALTER SEQUENCE "{row["sequencename"]}" RESTART;' for row in sequences)
            + "SET session_replication_role = DEFAULT;"
        )
    finally:
        await connection.close()
    return url
