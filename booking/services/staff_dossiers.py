"""The staff's decisions on what families send: dossiers to validate and enrolment requests,
approved or refused with a reason that the parent is told at once and reads in the chat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import (
    Activity,
    Dossier,
    Enrolment,
    EnrolmentStatus,
    Household,
    NoticeKind,
    Participant,
)
from booking.services.outbox import notify
from booking.services.staff_accounts import StaffContext, record_staff_change

MAX_REASON = 500  # Dossier.refusal_reason, Enrolment.refusal_reason
MAX_NOTES = 4000
MAX_ITEMS = 20
MAX_ITEM = 100


class DecisionError(ValueError):
    """A decision the staff must correct: `field` is the form field, `code` what is wrong
    ("required", "too_long")."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code


@dataclass(frozen=True)
class DossierItem:
    """A dossier as the staff reads it: the child, the household, what is missing."""

    id: int
    participant_id: int
    first_name: str
    last_name: str
    birth_date: date
    school_class: str
    household_id: int
    household_name: str
    household_reference: str
    missing_items: list[str]
    notes: str
    refusal_reason: str | None
    validated_at: datetime | None


@dataclass(frozen=True)
class EnrolmentItem:
    id: int
    participant_id: int
    first_name: str
    last_name: str
    birth_date: date
    household_id: int
    household_name: str
    household_reference: str
    activity: str
    requested_at: datetime


def _dossiers():  # noqa: ANN202
    return (
        select(Dossier, Participant, Household)
        .join(Participant, Participant.id == Dossier.participant_id)
        .join(Household, Household.id == Participant.household_id)
    )


def _dossier_item(dossier: Dossier, child: Participant, household: Household) -> DossierItem:
    return DossierItem(
        id=dossier.id,
        participant_id=child.id,
        first_name=child.first_name,
        last_name=child.last_name,
        birth_date=child.birth_date,
        school_class=child.school_class,
        household_id=household.id,
        household_name=household.name,
        household_reference=household.reference,
        missing_items=list(dossier.missing_items or []),
        notes=dossier.notes or "",
        refusal_reason=dossier.refusal_reason,
        validated_at=dossier.validated_at,
    )


async def dossiers_to_validate(db: AsyncSession, structure_id: int) -> list[DossierItem]:
    """The structure's dossiers not validated yet, refused ones included (they wait for the
    family's corrections), oldest households first."""
    rows = await db.execute(
        _dossiers()
        .where(
            Dossier.structure_id == structure_id,
            Household.structure_id == structure_id,
            Dossier.validated_at.is_(None),
            Household.erased_at.is_(None),
        )
        .order_by(Household.name, Participant.first_name, Dossier.id)
    )
    return [_dossier_item(*row) for row in rows]


async def dossier_item(db: AsyncSession, structure_id: int, dossier_id: int) -> DossierItem | None:
    """One dossier of the structure (None for another structure's: the page says 404)."""
    row = (
        await db.execute(
            _dossiers().where(
                Dossier.id == dossier_id,
                Dossier.structure_id == structure_id,
                Household.structure_id == structure_id,
            )
        )
    ).first()
    return _dossier_item(*row) if row is not None else None


async def _lock_dossier(
    db: AsyncSession, structure_id: int, dossier_id: int
) -> tuple[Dossier, Participant, Household] | None:
    row = (
        await db.execute(
            _dossiers()
            .where(
                Dossier.id == dossier_id,
                Dossier.structure_id == structure_id,
                Household.structure_id == structure_id,
            )
            .with_for_update(of=Dossier)
        )
    ).first()
    return (row[0], row[1], row[2]) if row is not None else None


def clean_reason(reason: str) -> str:
    """Rule: a refusal names its reason (the parent reads it), at most MAX_REASON characters."""
    reason = " ".join(reason.split())
    if not reason:
        raise DecisionError("reason", "required")
    if len(reason) > MAX_REASON:
        raise DecisionError("reason", "too_long")
    return reason


async def approve_dossier(
    db: AsyncSession, staff: StaffContext, dossier_id: int, now: datetime
) -> DossierItem | None:
    """Validate a dossier: nothing missing any more, no refusal; the family is told.

    Returns None when the dossier is not the staff's structure's.
    """
    found = await _lock_dossier(db, staff.structure_id, dossier_id)
    if found is None:
        return None
    dossier, child, household = found
    dossier.validated_at = now
    dossier.missing_items = []
    dossier.refusal_reason = None
    await _decided(db, staff, now, "dossier", dossier.id, child, household, approved=True)
    return _dossier_item(dossier, child, household)


async def refuse_dossier(
    db: AsyncSession, staff: StaffContext, dossier_id: int, reason: str, now: datetime
) -> DossierItem | None:
    """Refuse a dossier as sent, with the reason the parent reads in the chat; it stays not
    validated (the child cannot book) until a later approval.

    Raises:
        DecisionError: no reason, or one too long.
    """
    reason = clean_reason(reason)
    found = await _lock_dossier(db, staff.structure_id, dossier_id)
    if found is None:
        return None
    dossier, child, household = found
    dossier.validated_at = None
    dossier.refusal_reason = reason
    await _decided(
        db, staff, now, "dossier", dossier.id, child, household, approved=False, reason=reason
    )
    return _dossier_item(dossier, child, household)


def read_items(text: str) -> list[str]:
    """Missing items typed one per line (or separated by ";"), blanks and repeats dropped."""
    items: list[str] = []
    for part in text.replace(";", "\n").splitlines():
        item = " ".join(part.split())
        if item and item not in items:
            items.append(item)
    if len(items) > MAX_ITEMS or any(len(item) > MAX_ITEM for item in items):
        raise DecisionError("missing_items", "too_long")
    return items


async def update_dossier(
    db: AsyncSession,
    staff: StaffContext,
    dossier_id: int,
    *,
    notes: str,
    missing_items: list[str],
    now: datetime,
) -> DossierItem | None:
    """Change what the staff must know (notes: allergies, PAI…) and what is missing.

    Rules: a validated dossier that now misses an item is no longer validated (the child
    cannot book until it is approved again); the family is not told (the staff calls them).
    """
    notes = notes.strip()
    if len(notes) > MAX_NOTES:
        raise DecisionError("notes", "too_long")
    found = await _lock_dossier(db, staff.structure_id, dossier_id)
    if found is None:
        return None
    dossier, child, household = found
    before = {"notes": dossier.notes or "", "missing_items": list(dossier.missing_items or [])}
    dossier.notes = notes
    dossier.missing_items = list(missing_items)
    if missing_items and dossier.validated_at is not None:
        dossier.validated_at = None
    record_staff_change(
        db,
        staff,
        now,
        "dossier_updated",
        f"dossier:{dossier.id}",
        household_id=household.id,
        participant_id=child.id,
        notes_changed=before["notes"] != notes,
        missing_before=before["missing_items"],
        missing_after=list(missing_items),
    )
    return _dossier_item(dossier, child, household)


def _enrolments():  # noqa: ANN202
    return (
        select(Enrolment, Participant, Household, Activity)
        .join(Participant, Participant.id == Enrolment.participant_id)
        .join(Household, Household.id == Participant.household_id)
        .join(Activity, Activity.id == Enrolment.activity_id)
    )


def _enrolment_item(
    enrolment: Enrolment, child: Participant, household: Household, activity: Activity
) -> EnrolmentItem:
    return EnrolmentItem(
        id=enrolment.id,
        participant_id=child.id,
        first_name=child.first_name,
        last_name=child.last_name,
        birth_date=child.birth_date,
        household_id=household.id,
        household_name=household.name,
        household_reference=household.reference,
        activity=activity.name,
        requested_at=enrolment.requested_at,
    )


async def enrolments_to_decide(db: AsyncSession, structure_id: int) -> list[EnrolmentItem]:
    """Pending enrolment requests to the structure's activities, oldest first."""
    rows = await db.execute(
        _enrolments()
        .where(
            Activity.structure_id == structure_id,
            Household.structure_id == structure_id,
            Enrolment.status == EnrolmentStatus.PENDING,
            Household.erased_at.is_(None),
        )
        .order_by(Enrolment.requested_at, Enrolment.id)
    )
    return [_enrolment_item(*row) for row in rows]


async def decide_enrolment(
    db: AsyncSession,
    staff: StaffContext,
    enrolment_id: int,
    *,
    approved: bool,
    now: datetime,
    reason: str = "",
) -> EnrolmentItem | None:
    """Approve or refuse (with a reason) an enrolment request; the family is told at once.

    Rules: a refusal names its reason (`clean_reason`); a decision may be changed later (a
    refused request approved after a call). Returns None for another structure's request.

    Raises:
        DecisionError: a refusal without a reason, or one too long.
    """
    if not approved:
        reason = clean_reason(reason)
    row = (
        await db.execute(
            _enrolments()
            .where(
                Enrolment.id == enrolment_id,
                Activity.structure_id == staff.structure_id,
                Household.structure_id == staff.structure_id,
            )
            .with_for_update(of=Enrolment)
        )
    ).first()
    if row is None:
        return None
    enrolment, child, household, activity = row
    enrolment.status = EnrolmentStatus.APPROVED if approved else EnrolmentStatus.REFUSED
    enrolment.decided_at = now
    enrolment.refusal_reason = None if approved else reason
    await _decided(
        db,
        staff,
        now,
        "enrolment",
        enrolment.id,
        child,
        household,
        approved=approved,
        reason=None if approved else reason,
        activity=activity.name,
    )
    return _enrolment_item(enrolment, child, household, activity)


async def _decided(
    db: AsyncSession,
    staff: StaffContext,
    now: datetime,
    what: str,
    row_id: int,
    child: Participant,
    household: Household,
    *,
    approved: bool,
    reason: str | None = None,
    activity: str | None = None,
) -> None:
    """The audit row naming the staff member, and the family's notification."""
    verdict = "approved" if approved else "refused"
    record_staff_change(
        db,
        staff,
        now,
        f"{what}_{verdict}",
        f"{what}:{row_id}",
        household_id=household.id,
        participant_id=child.id,
        reason=reason,
    )
    data = {"participant": child.first_name, "approved": approved, "reason": reason}
    if activity is not None:
        data["activity"] = activity
    await notify(
        db,
        household_id=household.id,
        kind=NoticeKind.DOSSIER_DECIDED if what == "dossier" else NoticeKind.ENROLMENT_DECIDED,
        key=f"{what}:{row_id}:{verdict}:{now.isoformat()}",
        data=data,
        now=now,
    )
