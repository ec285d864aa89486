"""Messages from the town's staff to the families of a session, an activity or a day (a closed
school, a change of place), delivered through the outbox on each household's channels.

The families are those with a place (held, awaiting payment or confirmed) in a session that
is not cancelled: of the session; of the activity's sessions from today on; of every session
of the structure that day. Delivery counts are read back from the outbox rows, whose delivery
keys start with `staff_message:<id>:`.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import (
    PLACE_TAKING,
    Activity,
    Booking,
    NoticeKind,
    OutboxMessage,
    Session,
    StaffMessage,
    Structure,
)
from booking.services.outbox import notify
from booking.services.staff_accounts import StaffContext, record_staff_change

MAX_SUBJECT = 200
MAX_TEXT = 3000  # the frame and the text stay under Telegram's 4,096 characters


class Scope(enum.StrEnum):
    SESSION = "session"
    ACTIVITY = "activity"
    DAY = "day"


class MessageRefusal(enum.StrEnum):
    TEXT_REQUIRED = "text_required"
    TOO_LONG = "too_long"  # limit
    BAD_TARGET = "bad_target"  # a day that is not a date, an unknown scope
    NOBODY = "nobody"  # no family concerned


class MessageRefused(Exception):
    def __init__(self, code: MessageRefusal, /, **params: object) -> None:
        super().__init__(code.value)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Target:
    scope: Scope
    key: str  # a session or activity id, an ISO day
    label: str  # what the staff reads: "Cantine — 2027-03-10", an activity, a day


@dataclass
class Delivery:
    """A sent message and where its outbox rows are: counts[channel][state]."""

    message: StaffMessage
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def total(self, state: str) -> int:
        return sum(states.get(state, 0) for states in self.counts.values())


async def resolve_target(db: AsyncSession, structure_id: int, scope: str, key: str) -> Target:
    """The scope's target, checked to be the structure's: LookupError for another one's id,
    MessageRefused(BAD_TARGET) for a malformed one."""
    try:
        chosen = Scope(scope)
    except ValueError:
        raise MessageRefused(MessageRefusal.BAD_TARGET) from None
    if chosen is Scope.DAY:
        try:
            day = date.fromisoformat(key)
        except ValueError:
            raise MessageRefused(MessageRefusal.BAD_TARGET) from None
        return Target(chosen, day.isoformat(), day.isoformat())
    if not key.isdigit():
        raise MessageRefused(MessageRefusal.BAD_TARGET)
    if chosen is Scope.ACTIVITY:
        name = await db.scalar(
            select(Activity.name).where(
                Activity.id == int(key), Activity.structure_id == structure_id
            )
        )
        if name is None:
            raise LookupError(key)
        return Target(chosen, key, name)
    row = (
        await db.execute(
            select(Activity.name, Session.day)
            .join(Session, Session.activity_id == Activity.id)
            .where(Session.id == int(key), Activity.structure_id == structure_id)
        )
    ).first()
    if row is None:
        raise LookupError(key)
    return Target(chosen, key, f"{row[0]} — {row[1].isoformat()}")


async def recipients(
    db: AsyncSession, structure_id: int, target: Target, now: datetime
) -> list[int]:
    """The ids of the households concerned by the target (see the module's docstring)."""
    query = (
        select(Booking.household_id)
        .join(Session, Session.id == Booking.session_id)
        .join(Activity, Activity.id == Session.activity_id)
        .where(
            Activity.structure_id == structure_id,
            Booking.state.in_(PLACE_TAKING),
            Session.cancelled_at.is_(None),
        )
        .distinct()
    )
    if target.scope is Scope.SESSION:
        query = query.where(Session.id == int(target.key))
    elif target.scope is Scope.ACTIVITY:
        tz = ZoneInfo(
            await db.scalar(select(Structure.timezone).where(Structure.id == structure_id))
            or "Europe/Paris"
        )
        query = query.where(
            Session.activity_id == int(target.key), Session.day >= now.astimezone(tz).date()
        )
    else:
        query = query.where(Session.day == date.fromisoformat(target.key))
    return sorted(await db.scalars(query))


def _checked(subject: str, text: str) -> tuple[str, str]:
    subject, text = subject.strip(), text.strip()
    if not text:
        raise MessageRefused(MessageRefusal.TEXT_REQUIRED)
    if len(subject) > MAX_SUBJECT:
        raise MessageRefused(MessageRefusal.TOO_LONG, limit=MAX_SUBJECT)
    if len(text) > MAX_TEXT:
        raise MessageRefused(MessageRefusal.TOO_LONG, limit=MAX_TEXT)
    return subject, text


async def send_message(
    db: AsyncSession,
    staff: StaffContext,
    *,
    scope: str,
    key: str,
    subject: str,
    text: str,
    now: datetime,
    urgent: bool = False,
) -> StaffMessage:
    """Write to the families of a session, an activity or a day of the staff's structure.

    Rules: a text is required (subject up to 200 characters, text up to 3,000); at least one
    family must be concerned; each household gets the message on each of its channels in
    its language (`notify`, key `staff_message:<id>:<household>`), after the quiet hours
    unless `urgent`. The message, its families' count and a StaffAudit row are recorded.
    """
    subject, text = _checked(subject, text)
    target = await resolve_target(db, staff.structure_id, scope, key)
    households = await recipients(db, staff.structure_id, target, now)
    if not households:
        raise MessageRefused(MessageRefusal.NOBODY)
    town = await db.scalar(select(Structure.name).where(Structure.id == staff.structure_id))
    message = StaffMessage(
        structure_id=staff.structure_id,
        staff_id=staff.id,
        scope=target.scope.value,
        target=target.key,
        subject=subject,
        text=text,
        household_count=len(households),
        created_at=now,
    )
    db.add(message)
    await db.flush()
    for household_id in households:
        await notify(
            db,
            household_id=household_id,
            kind=NoticeKind.STAFF_MESSAGE,
            key=f"staff_message:{message.id}:{household_id}",
            data={"subject": subject, "text": text, "town": town or ""},
            now=now,
            urgent=urgent,
        )
    record_staff_change(
        db,
        staff,
        now,
        "message_sent",
        f"staff_message:{message.id}",
        scope=target.scope.value,
        key=target.key,
        households=len(households),
        urgent=urgent,
    )
    return message


async def sent_messages(db: AsyncSession, structure_id: int, *, limit: int = 30) -> list[Delivery]:
    """The structure's latest messages, newest first, with their outbox rows counted by
    channel and state (pending, sent, dead, skipped)."""
    messages = list(
        await db.scalars(
            select(StaffMessage)
            .where(StaffMessage.structure_id == structure_id)
            .order_by(StaffMessage.id.desc())
            .limit(limit)
        )
    )
    if not messages:
        return []
    deliveries = {message.id: Delivery(message) for message in messages}
    # One pass over the kind's rows since the oldest listed message (ix_outbox_kind_created);
    # the delivery key names the message.
    rows = await db.execute(
        select(OutboxMessage.delivery_key, OutboxMessage.channel, OutboxMessage.state).where(
            OutboxMessage.kind == NoticeKind.STAFF_MESSAGE,
            OutboxMessage.created_at >= min(message.created_at for message in messages),
        )
    )
    counts: dict[int, dict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(int))
    )
    for key, channel, state in rows:
        parts = key.split(":", 2)
        if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) in deliveries:
            counts[int(parts[1])][channel][str(getattr(state, "value", state))] += 1
    for message_id, by_channel in counts.items():
        deliveries[message_id].counts = {
            channel: dict(states) for channel, states in sorted(by_channel.items())
        }
    return list(deliveries.values())


async def target_labels(
    db: AsyncSession, structure_id: int, messages: list[StaffMessage]
) -> dict[int, Target]:
    """What each message was sent to, as the staff reads it (a target gone stays its id)."""
    labels = {}
    for message in messages:
        try:
            labels[message.id] = await resolve_target(
                db, structure_id, message.scope, message.target
            )
        except (LookupError, MessageRefused):
            labels[message.id] = Target(Scope.DAY, message.target, message.target)
    return labels
