"""Writing notifications to the outbox, in the transaction of the change that causes them.

`notify` fans a notification out to every recipient of the household on the channels it
chose: each logged-in conversation (web chat, Telegram) in its own language, and the
household's e-mail addresses in the household's language. Each row has a delivery key made
of the notification's key and the recipient: a job that runs twice (two server processes)
writes it once. Non-urgent pushes wait for the end of the quiet hours.
`send_account_email` writes one e-mail about the account (a password reset link) to one
guardian's addresses instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from booking.models import (
    Booking,
    Conversation,
    Household,
    NoticeKind,
    OutboxMessage,
    OutboxState,
    Session,
)

QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(7, 30)
PUSH_CHANNELS = ("web", "telegram")
CHANNELS = (*PUSH_CHANNELS, "email")


def quiet_until(now: datetime, tz: ZoneInfo) -> datetime | None:
    """The end of the quiet hours (21:00–07:30, local time) when `now` is inside, else None."""
    local = now.astimezone(tz)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return None
    day = local.date() + timedelta(days=local.time() >= QUIET_FROM)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=tz)


async def notify(
    db: AsyncSession,
    *,
    household_id: int,
    kind: NoticeKind,
    key: str,
    data: dict[str, Any],
    now: datetime,
    urgent: bool = False,
    channels: Iterable[str] = CHANNELS,
    skip_conversation_id: int | None = None,
) -> int:
    """Write the notification for each recipient; returns how many rows are new.

    `urgent` (payment results) is pushed even in the quiet hours. `skip_conversation_id` is
    the conversation where the parent made the change and already read the answer.
    """
    household = await db.scalar(
        select(Household)
        .where(Household.id == household_id)
        .options(joinedload(Household.structure))
    )
    if household is None:
        return 0
    tz = ZoneInfo(household.structure.timezone)
    wanted = set(household.notify_channels or CHANNELS) & set(channels)
    rows: list[dict[str, Any]] = []

    def add(channel: str, address: str, locale: str, at: datetime) -> None:
        rows.append(
            {
                "household_id": household_id,
                "kind": kind,
                "channel": channel,
                "address": address,
                "locale": locale if locale in ("fr", "en") else "fr",
                "data": data,
                "delivery_key": f"{key}:{channel}:{address}"[:300],
                "urgent": urgent,
                "state": OutboxState.PENDING,
                "attempts": 0,
                "next_attempt_at": at,
                "created_at": now,
            }
        )

    push_at = now if urgent else (quiet_until(now, tz) or now)
    conversations = (
        await db.scalars(
            select(Conversation).where(
                Conversation.household_id == household_id,
                Conversation.blocked_at.is_(None),
                Conversation.channel.in_(PUSH_CHANNELS),
            )
        )
    ).all()
    for conversation in conversations:
        if conversation.channel in wanted and conversation.id != skip_conversation_id:
            locale = (conversation.state or {}).get("locale") or household.language
            add(conversation.channel, str(conversation.id), locale, push_at)
    if "email" in wanted and household.email_list:
        add("email", ";".join(household.email_list), household.language, now)
    return await _insert_new(db, rows)


#: E-mails about the account itself: they carry one-time links, go to one guardian's
#: addresses only, whatever channels the household chose, and at once (no quiet hours).
ACCOUNT_KINDS = (NoticeKind.PASSWORD_RESET, NoticeKind.EMAIL_CHANGE, NoticeKind.EMAIL_CHANGE_NOTICE)


async def send_account_email(
    db: AsyncSession,
    *,
    household_id: int,
    kind: NoticeKind,
    key: str,
    addresses: list[str],
    locale: str,
    data: dict[str, Any],
    now: datetime,
) -> int:
    """Write one e-mail (one outbox row) to `addresses`, not fanned out like `notify`.

    Returns 1 if written, 0 if there is no address or the key was already written.
    """
    if kind not in ACCOUNT_KINDS:
        raise ValueError(kind)
    if not addresses:
        return 0
    address = ";".join(addresses)
    row = {
        "household_id": household_id,
        "kind": kind,
        "channel": "email",
        "address": address,
        "locale": locale if locale in ("fr", "en") else "fr",
        "data": data,
        "delivery_key": f"{key}:email:{address}"[:300],
        "urgent": True,
        "state": OutboxState.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return await _insert_new(db, [row])


async def _insert_new(db: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert, skipping rows whose delivery key is already there (a job run twice)."""
    if not rows:
        return 0
    insert = pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
    statement = insert(OutboxMessage).on_conflict_do_nothing(index_elements=["delivery_key"])
    result = await db.execute(statement.returning(OutboxMessage.id), rows)
    return len(result.all())


def booking_item(booking: Booking, *, session: Session | None = None) -> dict[str, Any]:
    """A booking as a notification names it (its participant and session must be loaded)."""
    session = session or booking.session
    return {
        "booking_id": booking.id,
        "participant": booking.participant.first_name,
        "activity": session.activity.name,
        "day": session.day.isoformat(),
        "starts_at": session.starts_at.isoformat(),
        "amount_cents": booking.price_cents,
        "coupons": booking.coupons,
        "mode": session.activity.payment_mode.value,
    }


async def notification_settings(db: AsyncSession, household_id: int) -> Household:
    household = await db.get(Household, household_id)
    if household is None:
        raise LookupError(household_id)
    return household


async def set_notification_channel(
    db: AsyncSession, household_id: int, channel: str, wanted: bool
) -> list[str]:
    """Turn one channel on or off for the household; returns the channels now chosen.

    Payment results and waitlist offers still reach a conversation the parent is in: the
    choice is about being told, not about being able to pay.
    """
    if channel not in CHANNELS:
        raise ValueError(channel)
    household = await notification_settings(db, household_id)
    chosen = [c for c in CHANNELS if c in (household.notify_channels or CHANNELS)]
    chosen = [c for c in CHANNELS if (c == channel and wanted) or (c != channel and c in chosen)]
    household.notify_channels = chosen
    return chosen


async def set_email_language(db: AsyncSession, household_id: int, locale: str) -> None:
    household = await notification_settings(db, household_id)
    household.language = locale if locale in ("fr", "en") else "fr"
