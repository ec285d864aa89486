"""Who may book what and when: eligibility and booking-window checks, as refusals."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from booking import rules
from booking.models import (
    Activity,
    DeadlineKind,
    Dossier,
    Enrolment,
    EnrolmentStatus,
    Household,
    OpeningWave,
    Participant,
    PaymentMode,
    Session,
)
from booking.refusals import Refusal, Refused
from booking.services.wallets import amount_owed


async def load_household(db: AsyncSession, household_id: int) -> Household:
    household = await db.scalar(
        select(Household)
        .where(Household.id == household_id)
        .options(joinedload(Household.structure))
    )
    if household is None:
        raise Refused(Refusal.UNKNOWN_PARTICIPANT)
    return household


async def load_participant(db: AsyncSession, household_id: int, participant_id: int) -> Participant:
    """The participant if it belongs to this household; the same refusal for any other id."""
    participant = await db.get(Participant, participant_id)
    if participant is None or participant.household_id != household_id:
        raise Refused(Refusal.UNKNOWN_PARTICIPANT, participant_id=participant_id)
    return participant


def booking_deadline(activity: Activity, session: Session, tz: ZoneInfo) -> datetime:
    return rules.deadline_at(
        session.starts_at,
        days=activity.booking_deadline_days,
        working_days=activity.booking_deadline_kind is DeadlineKind.WORKING_DAYS,
        at=activity.booking_deadline_time,
        tz=tz,
    )


def cancellation_deadline(activity: Activity, session: Session, tz: ZoneInfo) -> datetime:
    return rules.deadline_at(
        session.starts_at,
        days=activity.cancellation_deadline_days,
        working_days=activity.cancellation_deadline_kind is DeadlineKind.WORKING_DAYS,
        at=activity.cancellation_deadline_time,
        tz=tz,
    )


async def opening_waves(db: AsyncSession, activity_id: int) -> dict[str, datetime]:
    rows = await db.execute(
        select(OpeningWave.household_group, OpeningWave.opens_at).where(
            OpeningWave.activity_id == activity_id
        )
    )
    return {key: value for key, value in rows}


def window_refusal(
    activity: Activity,
    session: Session,
    *,
    waves: dict[str, datetime],
    household_group: str | None,
    now: datetime,
    tz: ZoneInfo,
) -> Refused | None:
    """Booking is open from the household group's opening until the booking deadline."""
    if session.cancelled_at is not None:
        return Refused(Refusal.SESSION_CANCELLED)
    opens_at = rules.opening_for(activity.opens_at, waves, household_group)
    if opens_at is not None and now < opens_at:
        return Refused(Refusal.NOT_OPEN_YET, opens_at=opens_at)
    deadline = booking_deadline(activity, session, tz)
    if now >= deadline:
        return Refused(Refusal.PAST_DEADLINE, deadline=deadline)
    return None


async def eligibility_refusal(
    db: AsyncSession,
    *,
    household: Household,
    participant: Participant,
    session: Session,
    now: datetime,
) -> Refused | None:
    """Why this participant may not book this session now, or None.

    Rules, in the order a parent can act on them: the session is not cancelled, the age on
    the session's day fits, the dossier is complete, the enrolment is approved where needed,
    the household is not in debt where the town blocks debtors, and booking is open.
    """
    activity = session.activity
    structure = household.structure
    tz = ZoneInfo(structure.timezone)
    if session.cancelled_at is not None:
        return Refused(Refusal.SESSION_CANCELLED)
    if activity.payment_mode is PaymentMode.IMMEDIATE and not rules.online_provider(
        structure.payment_settings
    ):
        return Refused(Refusal.PAYMENT_NOT_OPEN)  # refused before any place is held
    code = rules.age_refusal(
        activity.min_age, activity.max_age, participant.birth_date, session.day
    )
    if code is not None:
        return Refused(code, min_age=activity.min_age, max_age=activity.max_age)
    dossier = await db.scalar(
        select(Dossier).where(
            Dossier.participant_id == participant.id, Dossier.structure_id == structure.id
        )
    )
    if dossier is None or not dossier.is_complete:
        missing = list(dossier.missing_items) if dossier is not None else []
        refused = dossier is not None and dossier.refusal_reason
        reason = {"reason": dossier.refusal_reason} if refused else {}  # the staff's words
        return Refused(Refusal.DOSSIER_INCOMPLETE, missing=missing, **reason)
    if activity.enrolment_required:
        enrolment = await db.scalar(
            select(Enrolment).where(
                Enrolment.participant_id == participant.id, Enrolment.activity_id == activity.id
            )
        )
        if enrolment is None:
            return Refused(Refusal.ENROLMENT_REQUIRED, activity=activity.name)
        if enrolment.status is EnrolmentStatus.PENDING:
            return Refused(Refusal.ENROLMENT_PENDING, activity=activity.name)
        if enrolment.status is EnrolmentStatus.REFUSED:
            reason = {"reason": enrolment.refusal_reason} if enrolment.refusal_reason else {}
            return Refused(Refusal.ENROLMENT_REFUSED, activity=activity.name, **reason)
    if structure.blocks_debtors:
        owed = await amount_owed(db, household.id)
        if owed > 0:
            return Refused(Refusal.IN_DEBT, owed_cents=owed)
    return window_refusal(
        activity,
        session,
        waves=await opening_waves(db, activity.id),
        household_group=household.group,
        now=now,
        tz=tz,
    )
