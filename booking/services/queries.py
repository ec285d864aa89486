"""Read models for the conversation: a household's children, what each may book, a month's
days of an activity for a child, and upcoming bookings with what can still be cancelled."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from booking.models import (
    ACTIVE,
    Activity,
    Basket,
    BasketState,
    Booking,
    BookingState,
    Household,
    Participant,
    Session,
    Tariff,
)
from booking.refusals import Refused
from booking.services.cancellation import cancellation_refusal, refund_due
from booking.services.catalogue import Availability, browse
from booking.services.eligibility import (
    eligibility_refusal,
    load_household,
)
from booking.services.statements import month_bounds

MAX_SESSION_DAYS = 31  # a stay or a week: sessions are never longer


async def household_with_children(
    db: AsyncSession, household_id: int
) -> tuple[Household, list[Participant]]:
    household = await load_household(db, household_id)
    participants = (
        await db.scalars(
            select(Participant)
            .where(Participant.household_id == household_id)
            .order_by(Participant.birth_date.desc(), Participant.id)
        )
    ).all()
    return household, list(participants)


@dataclass(frozen=True)
class ActivityChoice:
    """An activity for a child: bookable (refusal None) or why not, judged on its next session."""

    activity: Activity
    next_session: Session | None
    refusal: Refused | None


async def activities_for(
    db: AsyncSession, household: Household, participant: Participant, now: datetime
) -> list[ActivityChoice]:
    """Every activity with upcoming sessions, with the first reason this child cannot book it.

    A session that is open and not full is preferred; else the first upcoming session is
    judged, so that the reason is the one the parent can act on.
    """
    views = await browse(db, now=now, household_group=household.group, include_past_deadline=False)
    choices = []
    for view in views:
        bookable = [item for item in view.sessions if item.availability is Availability.OPEN]
        candidate = (bookable or view.sessions)[0].session if view.sessions else None
        refusal = None
        if candidate is not None:
            refusal = await eligibility_refusal(
                db, household=household, participant=participant, session=candidate, now=now
            )
        choices.append(ActivityChoice(view.activity, candidate, refusal))
    return choices


@dataclass(frozen=True)
class DayInfo:
    day: date
    session: Session
    availability: Availability
    places_left: int
    booking: Booking | None  # this child's active booking of that session


async def month_days(
    db: AsyncSession,
    *,
    household: Household,
    participant: Participant,
    activity_id: int,
    year: int,
    month: int,
    now: datetime,
) -> list[DayInfo]:
    """The sessions of an activity in a month, with their state for this child."""
    first, following = month_bounds(year, month)
    last = date.fromordinal(following.toordinal() - 1)
    views = await browse(
        db,
        now=now,
        date_from=first,
        date_to=last,
        activity_ids=[activity_id],
        household_group=household.group,
        include_past_deadline=True,
    )
    sessions = views[0].sessions if views else []
    bookings = await _active_bookings(db, participant.id, [item.session.id for item in sessions])
    return [
        DayInfo(
            day=item.session.day,
            session=item.session,
            availability=item.availability,
            places_left=item.places_left,
            booking=bookings.get(item.session.id),
        )
        for item in sessions
    ]


async def _active_bookings(
    db: AsyncSession, participant_id: int, session_ids: Sequence[int]
) -> dict[int, Booking]:
    if not session_ids:
        return {}
    rows = await db.scalars(
        select(Booking).where(
            Booking.participant_id == participant_id,
            Booking.session_id.in_(session_ids),
            Booking.state.in_(ACTIVE),
        )
    )
    return {booking.session_id: booking for booking in rows}


async def sessions_covering(
    db: AsyncSession, activity_id: int, days: Sequence[date], tz: ZoneInfo
) -> list[Session]:
    """The activity's sessions that take place on any of `days`: a day session on one of them,
    or a week-long session running through one ("du 6 au 10 juillet" finds the week that
    starts on Monday 5)."""
    if not days:
        return []
    first, last = min(days), max(days)
    wanted = set(days)
    candidates = (
        await db.scalars(
            select(Session)
            .where(
                Session.activity_id == activity_id,
                Session.day <= last,
                Session.day >= first - timedelta(days=MAX_SESSION_DAYS),
            )
            .options(joinedload(Session.activity))
            .order_by(Session.starts_at)
        )
    ).all()
    found = []
    for session in candidates:
        end = session.ends_at.astimezone(tz).date()
        span = {session.day + timedelta(days=n) for n in range((end - session.day).days + 1)}
        if span & wanted:
            found.append(session)
    return found


@dataclass(frozen=True)
class UpcomingBooking:
    booking: Booking
    cancel_refusal: Refused | None
    refund_cents: int
    refund_coupons: int


async def upcoming_bookings(
    db: AsyncSession,
    household_id: int,
    now: datetime,
    tz: ZoneInfo,
    *,
    participant_id: int | None = None,
    activity_id: int | None = None,
    days: Sequence[date] | None = None,
    ids: Sequence[int] | None = None,
    limit: int = 200,
) -> list[UpcomingBooking]:
    """Bookings not yet ended (confirmed, unpaid, waitlisted) from today on, with whether
    and with what refund each can still be cancelled."""
    query = (
        select(Booking)
        .join(Session, Session.id == Booking.session_id)
        .where(
            Booking.household_id == household_id,
            Booking.state.in_(
                (BookingState.CONFIRMED, BookingState.PENDING_PAYMENT, BookingState.WAITLISTED)
            ),
            Session.ends_at > now,
        )
        .options(
            joinedload(Booking.session).joinedload(Session.activity),
            joinedload(Booking.participant),
        )
        .order_by(Session.starts_at, Booking.participant_id)
        .limit(limit)
    )
    if participant_id is not None:
        query = query.where(Booking.participant_id == participant_id)
    if activity_id is not None:
        query = query.where(Session.activity_id == activity_id)
    if days is not None:
        query = query.where(Session.day.in_(list(days)))
    if ids is not None:
        query = query.where(Booking.id.in_(list(ids)))
    return _with_cancellation(await db.scalars(query), now, tz)


def _with_cancellation(bookings: Iterable[Booking], now: datetime, tz: ZoneInfo) -> list:
    result = []
    for booking in bookings:
        refusal = cancellation_refusal(booking, booking.session, now, tz)
        cents, coupons = (
            refund_due(booking, booking.session, now, tz) if refusal is None else (0, 0)
        )
        result.append(UpcomingBooking(booking, refusal, cents, coupons))
    return result


async def household_bookings(
    db: AsyncSession,
    household_id: int,
    now: datetime,
    tz: ZoneInfo,
    *,
    first: date | None = None,
    following: date | None = None,
    ids: Sequence[int] | None = None,
) -> list[UpcomingBooking]:
    """Every booking of the household that "Mes réservations" lists, none left out: without
    a period, those not yet ended (as `upcoming_bookings`); with one (`first` included,
    `following` excluded), the sessions of those days, past ones too: confirmed (what took
    place), and unpaid or waitlisted while their session is still to come. In session order,
    each with whether and with what refund it can still be cancelled."""
    query = (
        select(Booking)
        .join(Session, Session.id == Booking.session_id)
        .where(Booking.household_id == household_id)
        .options(
            joinedload(Booking.session).joinedload(Session.activity),
            joinedload(Booking.participant),
        )
        .order_by(Session.starts_at, Booking.participant_id, Booking.id)
    )
    waiting = (BookingState.PENDING_PAYMENT, BookingState.WAITLISTED)
    if first is None and following is None:
        query = query.where(
            Booking.state.in_((BookingState.CONFIRMED, *waiting)), Session.ends_at > now
        )
    else:
        if first is not None:
            query = query.where(Session.day >= first)
        if following is not None:
            query = query.where(Session.day < following)
        query = query.where(
            or_(
                Booking.state == BookingState.CONFIRMED,
                Booking.state.in_(waiting) & (Session.ends_at > now),
            )
        )
    if ids is not None:
        query = query.where(Booking.id.in_(list(ids)))
    return _with_cancellation(await db.scalars(query), now, tz)


async def lapsed_basket_items(db: AsyncSession, household_id: int) -> list[Booking]:
    """Items of the household's open basket whose hold ran out (or whose window closed)
    before the parent confirmed: the recap and the confirmation name them."""
    open_baskets = select(Basket.id).where(
        Basket.household_id == household_id, Basket.state == BasketState.OPEN
    )
    return list(
        (
            await db.scalars(
                select(Booking)
                .join(Session, Session.id == Booking.session_id)
                .where(
                    Booking.basket_id.in_(open_baskets),
                    Booking.state == BookingState.EXPIRED,
                )
                .options(
                    joinedload(Booking.session).joinedload(Session.activity),
                    joinedload(Booking.participant),
                )
                .order_by(Session.starts_at, Booking.participant_id)
            )
        ).all()
    )


async def activities_by_id(db: AsyncSession, ids: Sequence[int]) -> dict[int, Activity]:
    if not ids:
        return {}
    return {a.id: a for a in await db.scalars(select(Activity).where(Activity.id.in_(list(ids))))}


async def all_activities(db: AsyncSession) -> list[Activity]:
    return list((await db.scalars(select(Activity).order_by(Activity.name))).all())


async def quotient_prices(db: AsyncSession, activity_ids: Sequence[int]) -> dict[int, list[int]]:
    """For each activity priced by family quotient (a tariff with a quotient band), the prices
    of its bands: a household pays the one of its quotient, not the public price."""
    if not activity_ids:
        return {}
    rows = await db.execute(
        select(Tariff.activity_id, Tariff.price_cents).where(
            Tariff.activity_id.in_(list(activity_ids)),
            or_(Tariff.min_quotient.is_not(None), Tariff.max_quotient.is_not(None)),
        )
    )
    prices: dict[int, list[int]] = {}
    for activity_id, price in rows:
        prices.setdefault(activity_id, []).append(price)
    return prices
