"""Browsing the catalogue: activities with their sessions, places left and booking state."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from booking.models import (
    PLACE_TAKING,
    Activity,
    Booking,
    Category,
    OpeningWave,
    Session,
    Structure,
)
from booking.refusals import Refusal
from booking.services.eligibility import window_refusal


class Availability(enum.StrEnum):
    OPEN = "open"
    FULL = "full"
    WAITLIST = "waitlist"  # full, but the waitlist is open
    NOT_OPEN_YET = "not_open_yet"
    PAST_DEADLINE = "past_deadline"
    CANCELLED = "cancelled"


_WINDOW_STATES = {
    Refusal.NOT_OPEN_YET: Availability.NOT_OPEN_YET,
    Refusal.PAST_DEADLINE: Availability.PAST_DEADLINE,
    Refusal.SESSION_CANCELLED: Availability.CANCELLED,
}


@dataclass(frozen=True)
class SessionView:
    session: Session
    places_left: int
    availability: Availability


@dataclass(frozen=True)
class ActivityView:
    activity: Activity
    sessions: list[SessionView]


async def places_taken_by_session(db: AsyncSession, session_ids: Sequence[int]) -> dict[int, int]:
    if not session_ids:
        return {}
    rows = await db.execute(
        select(Booking.session_id, func.count(Booking.id))
        .where(Booking.session_id.in_(session_ids), Booking.state.in_(PLACE_TAKING))
        .group_by(Booking.session_id)
    )
    return {key: value for key, value in rows}


def availability_of(
    session: Session,
    activity: Activity,
    *,
    taken: int,
    waves: dict[str, datetime],
    household_group: str | None,
    now: datetime,
    tz: ZoneInfo,
) -> Availability:
    refusal = window_refusal(
        activity, session, waves=waves, household_group=household_group, now=now, tz=tz
    )
    if refusal is not None:
        return _WINDOW_STATES[refusal.code]
    if taken < session.capacity:
        return Availability.OPEN
    return Availability.WAITLIST if activity.waitlist_enabled else Availability.FULL


async def browse(
    db: AsyncSession,
    *,
    now: datetime,
    age: int | None = None,
    category: Category | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    activity_ids: Sequence[int] | None = None,
    household_group: str | None = None,
    include_past_deadline: bool = False,
) -> list[ActivityView]:
    """Activities (for an age, a category, between two dates) with their upcoming sessions.

    Three queries whatever the size of the catalogue: activities with sessions, places taken,
    opening waves.
    """
    today = now.date()
    query = (
        select(Session, Structure.timezone)
        .join(Activity, Activity.id == Session.activity_id)
        .options(contains_eager(Session.activity))
        .join(Structure, Structure.id == Activity.structure_id)
        .where(Session.day >= max(today, date_from or today), Session.cancelled_at.is_(None))
        .order_by(Activity.category, Activity.name, Session.starts_at)
    )
    if date_to is not None:
        query = query.where(Session.day <= date_to)
    if category is not None:
        query = query.where(Activity.category == category)
    if age is not None:
        query = query.where(
            Activity.min_age <= age, (Activity.max_age.is_(None)) | (Activity.max_age > age)
        )
    if activity_ids is not None:
        query = query.where(Activity.id.in_(activity_ids))
    rows = (await db.execute(query)).all()
    taken = await places_taken_by_session(db, [session.id for session, _ in rows])
    waves: dict[int, dict[str, datetime]] = {}
    for wave in await db.scalars(select(OpeningWave)):
        waves.setdefault(wave.activity_id, {})[wave.household_group] = wave.opens_at
    views: dict[int, ActivityView] = {}
    for session, timezone in rows:
        activity = session.activity
        used = taken.get(session.id, 0)
        state = availability_of(
            session,
            activity,
            taken=used,
            waves=waves.get(activity.id, {}),
            household_group=household_group,
            now=now,
            tz=ZoneInfo(timezone),
        )
        if state is Availability.PAST_DEADLINE and not include_past_deadline:
            continue
        view = views.setdefault(activity.id, ActivityView(activity, []))
        view.sessions.append(SessionView(session, max(0, session.capacity - used), state))
    return list(views.values())
