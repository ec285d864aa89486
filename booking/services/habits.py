"""What a household usually books: its most frequent child and activity pairs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import ACTIVE, Activity, Booking, Participant, Session

LOOK_BACK = timedelta(days=120)


@dataclass(frozen=True)
class Habit:
    participant: Participant
    activity: Activity
    count: int


async def usual_bookings(
    db: AsyncSession, household_id: int, now: datetime, *, limit: int = 2
) -> list[Habit]:
    """The child and activity pairs this household booked most in the last four months,
    among activities that still have sessions to come (an offer of one tap in the menu)."""
    upcoming = select(Session.activity_id).where(
        Session.starts_at > now, Session.cancelled_at.is_(None)
    )
    count = func.count(Booking.id)
    rows = (
        await db.execute(
            select(Booking.participant_id, Session.activity_id, count)
            .join(Session, Session.id == Booking.session_id)
            .where(
                Booking.household_id == household_id,
                Booking.state.in_(ACTIVE),
                Booking.created_at >= now - LOOK_BACK,
                Session.activity_id.in_(upcoming),
            )
            .group_by(Booking.participant_id, Session.activity_id)
            .order_by(count.desc(), Booking.participant_id, Session.activity_id)
            .limit(limit)
        )
    ).all()
    habits = []
    for participant_id, activity_id, times in rows:
        participant = await db.get(Participant, participant_id)
        activity = await db.get(Activity, activity_id)
        if participant is not None and activity is not None:
            habits.append(Habit(participant, activity, times))
    return habits
