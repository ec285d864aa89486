"""A town for roster and attendance tests: a canteen lunch on Tuesday 2 March 2027 (the day
after the pinned clock's Monday) with children in every booking state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.clock import PARIS
from booking.models import (
    Booking,
    BookingState,
    Category,
    Dossier,
    Participant,
    Session,
    Structure,
)
from tests import builders

TUESDAY_LUNCH = datetime(2027, 3, 2, 11, 30, tzinfo=PARIS)


async def book(
    db: AsyncSession,
    session: Session,
    child: Participant,
    state: BookingState = BookingState.CONFIRMED,
) -> Booking:
    """A booking row as the booking services leave it (the roster only reads them)."""
    row = Booking(
        session_id=session.id,
        participant_id=child.id,
        household_id=child.household_id,
        state=state,
        price_cents=session.price_cents,
        created_at=session.starts_at - timedelta(days=5),
        confirmed_at=(
            session.starts_at - timedelta(days=5) if state is BookingState.CONFIRMED else None
        ),
    )
    db.add(row)
    await db.flush()
    return row


async def child(
    db: AsyncSession,
    town: Structure,
    name: str,
    first_name: str,
    *,
    phone: str = "",
    school_class: str = "",
    notes: str = "",
    born=builders.CHILD_BIRTH,  # noqa: ANN001
) -> Participant:
    family = await builders.family(db, town, name=name, born=born)
    family.guardian.phone = phone
    family.child.first_name = first_name
    family.child.school_class = school_class
    dossier = await db.scalar(select(Dossier).where(Dossier.participant_id == family.child.id))
    dossier.notes = notes
    await db.flush()
    return family.child


@dataclass
class CanteenTown:
    town_id: int
    canteen_id: int
    lunch_id: int
    lea: int  # booking ids
    paolo: int
    zoe: int  # pending payment
    held: int
    waiting: int
    lea_household: int


async def canteen_town(database, *, capacity: int = 5, timezone: str = "Europe/Paris"):  # noqa: ANN001, ANN201
    """Léa (allergy, CE1 B, phone) and Paolo confirmed, Zoé pending payment, one held place,
    one child waitlisted and one cancelled booking, on Tuesday's lunch."""
    async with database.writing() as db:
        town = await builders.structure(db, timezone=timezone)
        canteen = await builders.activity(
            db, town, name="Cantine", category=Category.RESTAURATION, waitlist=True
        )
        lunch = await builders.session(
            db, canteen, starts_at=TUESDAY_LUNCH, hours=2, capacity=capacity
        )
        lea = await child(
            db,
            town,
            "DUPONT",
            "Léa",
            phone="06 12 34 56 78",
            school_class="CE1 B",
            notes="Allergie arachide (PAI)",
        )
        paolo = await child(db, town, "ROSSI", "Paolo", phone="+33 6 98 76 54 32")
        zoe = await child(db, town, "MARTIN", "Zoé")
        held = await child(db, town, "PETIT", "Hugo")
        waiting = await child(db, town, "LEROY", "Inès")
        gone = await child(db, town, "MOREAU", "Nina")
        bookings = [
            await book(db, lunch, lea),
            await book(db, lunch, paolo),
            await book(db, lunch, zoe, BookingState.PENDING_PAYMENT),
            await book(db, lunch, held, BookingState.HELD),
            await book(db, lunch, waiting, BookingState.WAITLISTED),
        ]
        await book(db, lunch, gone, BookingState.CANCELLED)
        return CanteenTown(
            town.id,
            canteen.id,
            lunch.id,
            *(item.id for item in bookings),
            lea_household=lea.household_id,
        )


async def other_town(database):  # noqa: ANN001, ANN201
    """Another structure with its own lunch on the same day and a confirmed child."""
    async with database.writing() as db:
        town = await builders.structure(db)
        canteen = await builders.activity(
            db, town, name="Cantine d'ailleurs", category=Category.RESTAURATION
        )
        lunch = await builders.session(db, canteen, starts_at=TUESDAY_LUNCH, hours=2)
        kid = await child(db, town, "AILLEURS", "Oscar", notes="Secret d'ailleurs")
        booking = await book(db, lunch, kid)
        return town.id, lunch.id, booking.id
