"""Scheduled notifications: reminders, basket and payment warnings, the daily report.

Each job may run any number of times, in several processes: what it writes is keyed (a
household and a day, a basket and its expiry, a payment), so the outbox keeps it once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from booking.models import (
    Booking,
    BookingEvent,
    BookingState,
    EventKind,
    Household,
    NoticeKind,
    OutboxMessage,
    OutboxState,
    Payment,
    PaymentPurpose,
    PaymentState,
    Session,
    Structure,
)
from booking.services.cancellation import cancellation_refusal
from booking.services.outbox import booking_item, notify, quiet_until

#: A notification to write: the arguments of `outbox.notify`.
Notice = dict[str, Any]

BASKET_WARNING = timedelta(minutes=10)
PAYMENT_REMINDER_AFTER = timedelta(minutes=15)
REPORT_HOUR = 20
KEEP_DELIVERED = timedelta(days=60)
#: What the daily report tells, per activity and child.
REPORTED = (
    EventKind.CONFIRMED,
    EventKind.CANCELLED,
    EventKind.CANCELLED_BY_TOWN,
    EventKind.WAITLISTED,
    EventKind.WAITLIST_PROMOTED,
    EventKind.EXPIRED,
    EventKind.REFUNDED,
)


async def plan_send_reminders(db: AsyncSession, now: datetime) -> list[Notice]:
    """The evening before, from each structure's reminder hour: tomorrow's bookings."""
    planned: list[Notice] = []
    for structure in (await db.scalars(select(Structure))).all():
        tz = ZoneInfo(structure.timezone)
        local = now.astimezone(tz)
        if local.hour < structure.reminder_hour:
            continue
        tomorrow = local.date() + timedelta(days=1)
        told = _told_today(NoticeKind.REMINDER, local)
        bookings = (
            await db.scalars(
                select(Booking)
                .join(Session, Session.id == Booking.session_id)
                .join(Household, Household.id == Booking.household_id)
                .where(
                    Household.structure_id == structure.id,
                    Booking.state == BookingState.CONFIRMED,
                    Session.day == tomorrow,
                    Session.cancelled_at.is_(None),
                    Booking.household_id.not_in(told),
                )
                .options(
                    joinedload(Booking.session).joinedload(Session.activity),
                    joinedload(Booking.participant),
                )
                .order_by(Booking.household_id, Session.starts_at)
            )
        ).all()
        by_household: dict[int, list[Booking]] = defaultdict(list)
        for booking in bookings:
            by_household[booking.household_id].append(booking)
        for household_id, items in by_household.items():
            planned.append(
                dict(
                    household_id=household_id,
                    kind=NoticeKind.REMINDER,
                    key=f"reminder:{household_id}:{tomorrow.isoformat()}",
                    data={
                        "day": tomorrow.isoformat(),
                        "items": [
                            {
                                **booking_item(booking),
                                "cancellable": cancellation_refusal(
                                    booking, booking.session, now, tz
                                )
                                is None,
                            }
                            for booking in items
                        ],
                    },
                    now=now,
                )
            )
    return planned


async def plan_warn_expiring_baskets(db: AsyncSession, now: datetime) -> list[Notice]:
    """10 minutes before a basket's first hold runs out (not in the quiet hours: the warning
    would come too late)."""
    rows = await db.execute(
        select(
            Booking.basket_id,
            Booking.household_id,
            Structure.timezone,
            func.min(Booking.held_until),
            func.count(),
        )
        .join(Household, Household.id == Booking.household_id)
        .join(Structure, Structure.id == Household.structure_id)
        .where(
            Booking.state == BookingState.HELD,
            Booking.held_until > now,
            Booking.held_until <= now + BASKET_WARNING,
            Booking.basket_id.is_not(None),
        )
        .group_by(Booking.basket_id, Booking.household_id, Structure.timezone)
    )
    planned: list[Notice] = []
    for basket_id, household_id, timezone, held_until, count in rows.all():
        if quiet_until(now, ZoneInfo(timezone)) is not None:
            continue  # the town's night, not Paris's (overseas towns)
        planned.append(
            dict(
                household_id=household_id,
                kind=NoticeKind.BASKET_EXPIRING,
                key=f"basket_expiring:{basket_id}:{held_until.isoformat()}",
                data={"held_until": held_until.isoformat(), "count": count},
                now=now,
                channels=("web", "telegram"),
            )
        )
    return planned


async def plan_remind_unpaid(db: AsyncSession, now: datetime) -> list[Notice]:
    """Once per payment link still unpaid a while after it was given, while it is valid."""
    payments = (
        await db.scalars(
            select(Payment).where(
                Payment.state == PaymentState.CREATED,
                Payment.purpose != PaymentPurpose.REFUND,
                Payment.created_at <= now - PAYMENT_REMINDER_AFTER,
                Payment.expires_at > now + timedelta(minutes=5),
            )
        )
    ).all()
    planned: list[Notice] = []
    for payment in payments:
        planned.append(
            dict(
                household_id=payment.household_id,
                kind=NoticeKind.PAYMENT_REMINDER,
                key=f"payment_reminder:{payment.id}",
                data={
                    "amount_cents": payment.amount_cents,
                    "pay_token": payment.token,
                    "expires_at": payment.expires_at.isoformat(),
                    "purpose": payment.purpose.value,
                },
                now=now,
            )
        )
    return planned


async def plan_send_daily_reports(db: AsyncSession, now: datetime) -> list[Notice]:
    """From 20:00: each household whose bookings moved today gets the day's movements by
    e-mail (the portals' compte rendu, the same evening). Nothing moved, nothing sent."""
    planned: list[Notice] = []
    for structure in (await db.scalars(select(Structure))).all():
        tz = ZoneInfo(structure.timezone)
        local = now.astimezone(tz)
        if local.hour < REPORT_HOUR:
            continue
        start = datetime.combine(local.date(), time(0), tzinfo=tz)
        rows = await db.execute(
            select(BookingEvent, Booking)
            .join(Booking, Booking.id == BookingEvent.booking_id)
            .join(Household, Household.id == Booking.household_id)
            .where(
                Household.structure_id == structure.id,
                BookingEvent.at >= start,
                BookingEvent.at <= now,
                BookingEvent.kind.in_(REPORTED),
                Booking.household_id.not_in(_told_today(NoticeKind.DAILY_REPORT, local)),
            )
            .options(
                joinedload(Booking.session).joinedload(Session.activity),
                joinedload(Booking.participant),
            )
            .order_by(Booking.household_id, BookingEvent.at, BookingEvent.id)
        )
        by_household: dict[int, list[dict]] = defaultdict(list)
        for event, booking in rows.unique().all():
            by_household[booking.household_id].append(
                {
                    **booking_item(booking),
                    "event": event.kind.value,
                    "at": event.at.isoformat(),
                    "actor": event.actor,
                }
            )
        for household_id, movements in by_household.items():
            planned.append(
                dict(
                    household_id=household_id,
                    kind=NoticeKind.DAILY_REPORT,
                    key=f"daily_report:{household_id}:{local.date().isoformat()}",
                    data={"day": local.date().isoformat(), "movements": movements},
                    now=now,
                    channels=("email",),
                )
            )
    return planned


def _told_today(kind: NoticeKind, local: datetime) -> Select:
    """Households already written this kind of daily notice today: the job runs every few
    seconds all evening, and should not rebuild what the outbox already holds."""
    midnight = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)
    return select(OutboxMessage.household_id).where(
        OutboxMessage.kind == kind, OutboxMessage.created_at >= midnight
    )


async def purge_outbox(db: AsyncSession, now: datetime) -> int:
    """Forget notifications delivered (or skipped) more than KEEP_DELIVERED ago; dead ones
    stay for the operator."""
    result = await db.execute(
        delete(OutboxMessage).where(
            OutboxMessage.state.in_((OutboxState.SENT, OutboxState.SKIPPED)),
            OutboxMessage.created_at < now - KEEP_DELIVERED,
        )
    )
    return result.rowcount


async def plan_notices(db: AsyncSession, now: datetime) -> list[Notice]:
    """Every scheduled notification due now (a read: nothing is written yet)."""
    return [
        *await plan_send_reminders(db, now),
        *await plan_warn_expiring_baskets(db, now),
        *await plan_remind_unpaid(db, now),
        *await plan_send_daily_reports(db, now),
    ]


async def write_notices(db: AsyncSession, notices: list[Notice]) -> int:
    written = 0
    for notice in notices:
        written += await notify(db, **notice)
    return written


async def run_notice_jobs(db: AsyncSession, now: datetime) -> int:
    """Plan and write in one transaction (the scheduler writes in small chunks instead)."""
    written = await write_notices(db, await plan_notices(db, now))
    await purge_outbox(db, now)
    return written


async def send_reminders(db: AsyncSession, now: datetime) -> int:
    return await write_notices(db, await plan_send_reminders(db, now))


async def warn_expiring_baskets(db: AsyncSession, now: datetime) -> int:
    return await write_notices(db, await plan_warn_expiring_baskets(db, now))


async def remind_unpaid(db: AsyncSession, now: datetime) -> int:
    return await write_notices(db, await plan_remind_unpaid(db, now))


async def send_daily_reports(db: AsyncSession, now: datetime) -> int:
    return await write_notices(db, await plan_send_daily_reports(db, now))
