"""Monthly invoices of `invoice` activities: what a month bills each household, issuing one
invoice per household and month numbered without gaps, and credit notes that correct them.

What is billed, and when: a confirmed booking of an `invoice` activity is billed in the month
of its `billing_day` (booking/services/statements.py); cancelled bookings are not. Where the
structure bills what was consumed (`Structure.invoice_basis == "attendance"`), the pointage
decides per booking: present or absent without notice is billed, excused is not, and a
booking not marked (yet) is billed as booked.

An invoice, once issued, never changes: its lines and the household's name are copied in, and
a credit note (its own number, a negative total, `corrects_id`) corrects it. Both post to the
household's invoice account (`WalletKind.ACCOUNT`), so the chat's balance and the debtors'
block see them. Numbers ("F2027-00001") follow the year of issue, per structure, from the
`InvoiceSequence` row locked for the whole issuing transaction (SELECT … FOR UPDATE on
PostgreSQL; SQLite has one writer at a time): two staff issuing at once queue there, and the
second sees the first's invoices, so neither a gap nor a second invoice for one household and
month can appear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as OrmSession

from booking.models import (
    Activity,
    Attendance,
    AttendanceStatus,
    Booking,
    BookingState,
    Household,
    Invoice,
    InvoiceKind,
    InvoiceSequence,
    LedgerKind,
    NoticeKind,
    Participant,
    PaymentMode,
    Session,
    Structure,
    WalletKind,
)
from booking.services.outbox import notify
from booking.services.staff_accounts import StaffContext, record_staff_change
from booking.services.statements import billing_day, month_bounds
from booking.services.wallets import post_entry

BASES = ("bookings", "attendance")
#: Attendance that is not billed where the structure bills what was consumed.
NOT_BILLED = (AttendanceStatus.EXCUSED,)


class InvoiceRefused(Exception):
    """An invoicing rule said no; `code` is stable, the page translates it."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Line:
    """One billed booking: day, child, activity, unit price, quantity and amount."""

    booking_id: int
    day: date
    child: str
    activity: str
    unit_cents: int
    quantity: int = 1
    attendance: str | None = None  # the pointage, where the structure bills it

    @property
    def amount_cents(self) -> int:
        return self.unit_cents * self.quantity

    def as_json(self) -> dict[str, Any]:
        return {
            "booking_id": self.booking_id,
            "day": self.day.isoformat(),
            "child": self.child,
            "activity": self.activity,
            "unit_cents": self.unit_cents,
            "quantity": self.quantity,
            "amount_cents": self.amount_cents,
            "attendance": self.attendance,
        }


@dataclass
class Bill:
    """What a month bills one household (the preview of its invoice)."""

    household_id: int
    name: str
    reference: str
    lines: list[Line] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


@event.listens_for(OrmSession, "before_flush")
def _refuse_changes_to_issued_invoices(session: OrmSession, _context: Any, _items: Any) -> None:
    """An issued invoice is never changed nor deleted: a credit note corrects it."""
    for instance in list(session.dirty) + list(session.deleted):
        if isinstance(instance, Invoice) and (
            instance in session.deleted or session.is_modified(instance)
        ):
            raise ValueError("an issued invoice never changes: issue a credit note")


def invoice_number(year: int, sequence: int, prefix: str = "F") -> str:
    return f"{prefix}{year}-{sequence:05d}"


def month_is_over(year: int, month: int, today: date) -> bool:
    """A month is invoiced once its billing day is past: every session of it has taken place
    (and the balance forecast no longer counts its bookings as to come)."""
    last = billing_day(PaymentMode.INVOICE, date(year, month, 1))
    return last is not None and today > last


async def month_bills(db: AsyncSession, structure_id: int, year: int, month: int) -> list[Bill]:
    """Per household of the structure, the lines the month bills (households billing nothing
    are left out), by household name; whether already invoiced or not."""
    structure = await db.get(Structure, structure_id)
    if structure is None:
        return []
    first, following = month_bounds(year, month)
    rows = await db.execute(
        select(Booking, Session.day, Activity, Participant.first_name, Household, Attendance.status)
        .join(Session, Session.id == Booking.session_id)
        .join(Activity, Activity.id == Session.activity_id)
        .join(Participant, Participant.id == Booking.participant_id)
        .join(Household, Household.id == Booking.household_id)
        .outerjoin(Attendance, Attendance.booking_id == Booking.id)
        .where(
            Activity.structure_id == structure_id,
            Household.structure_id == structure_id,
            Activity.payment_mode == PaymentMode.INVOICE,
            Booking.state == BookingState.CONFIRMED,
            Session.day >= first,
            Session.day < following,
        )
        .order_by(Household.name, Household.id, Session.day, Session.starts_at, Participant.id)
    )
    by_attendance = structure.invoice_basis == "attendance"
    bills: dict[int, Bill] = {}
    for booking, day, activity, child, household, attended in rows:
        billed = billing_day(activity.payment_mode, day)
        if billed is None or (billed.year, billed.month) != (year, month):
            continue
        if by_attendance and attended in NOT_BILLED:
            continue
        bill = bills.setdefault(
            household.id, Bill(household.id, household.name, household.reference)
        )
        bill.lines.append(
            Line(
                booking_id=booking.id,
                day=day,
                child=child,
                activity=activity.name,
                unit_cents=booking.price_cents,
                attendance=(attended.value if attended else None) if by_attendance else None,
            )
        )
    return list(bills.values())


async def invoices_of_month(
    db: AsyncSession, structure_id: int, year: int, month: int
) -> list[Invoice]:
    """The invoices and credit notes of a billed month, in number order."""
    return list(
        (
            await db.scalars(
                select(Invoice)
                .where(
                    Invoice.structure_id == structure_id,
                    Invoice.year == year,
                    Invoice.month == month,
                )
                .order_by(Invoice.issued_at, Invoice.sequence)
            )
        ).all()
    )


async def invoice_of(db: AsyncSession, structure_id: int, invoice_id: int) -> Invoice | None:
    """One invoice of the structure; None for another structure's (never shown)."""
    invoice = await db.get(Invoice, invoice_id)
    if invoice is None or invoice.structure_id != structure_id:
        return None
    return invoice


async def credit_notes_of(db: AsyncSession, invoice: Invoice) -> list[Invoice]:
    return list(
        (
            await db.scalars(
                select(Invoice).where(Invoice.corrects_id == invoice.id).order_by(Invoice.sequence)
            )
        ).all()
    )


async def household_invoices(db: AsyncSession, household_id: int, limit: int = 12) -> list[Invoice]:
    """A household's invoices and credit notes, newest first (for the chat's balance)."""
    return list(
        (
            await db.scalars(
                select(Invoice)
                .where(Invoice.household_id == household_id)
                .order_by(Invoice.issued_at.desc(), Invoice.sequence.desc())
                .limit(limit)
            )
        ).all()
    )


async def household_invoice(db: AsyncSession, household_id: int, invoice_id: int) -> Invoice | None:
    """One invoice of the household; None for another household's."""
    invoice = await db.get(Invoice, invoice_id)
    if invoice is None or invoice.household_id != household_id:
        return None
    return invoice


async def _lock_sequence(db: AsyncSession, structure_id: int, year: int) -> InvoiceSequence:
    """The year's numbering row, created if missing, locked until the transaction ends."""
    insert = pg_insert if db.bind.dialect.name == "postgresql" else sqlite_insert
    await db.execute(
        insert(InvoiceSequence)
        .values(structure_id=structure_id, year=year, last_number=0)
        .on_conflict_do_nothing(index_elements=["structure_id", "year"])
    )
    sequence = await db.scalar(
        select(InvoiceSequence)
        .where(InvoiceSequence.structure_id == structure_id, InvoiceSequence.year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert sequence is not None
    return sequence


async def _tz(db: AsyncSession, structure_id: int) -> ZoneInfo:
    structure = await db.get(Structure, structure_id)
    return ZoneInfo(structure.timezone if structure is not None else "Europe/Paris")


async def issue_month(
    db: AsyncSession,
    *,
    structure_id: int,
    year: int,
    month: int,
    staff: StaffContext | None,
    now: datetime,
) -> list[Invoice]:
    """Issue the month's invoices of every household not invoiced for it yet.

    Rules: only a month that is over (`month_is_over`); one invoice per household and month
    (issuing again issues only the households not invoiced yet); numbers without gaps per
    structure and year of issue, under the sequence lock; each invoice is posted to the
    household's account (money owed) and the household is told through the outbox.

    Raises:
        InvoiceRefused: "month_not_over".
    """
    tz = await _tz(db, structure_id)
    local = now.astimezone(tz)
    if not month_is_over(year, month, local.date()):
        raise InvoiceRefused("month_not_over", year=year, month=month)
    sequence = await _lock_sequence(db, structure_id, local.year)
    # Read under the lock: a concurrent issuer's invoices are committed and seen here.
    invoiced = set(
        (
            await db.scalars(
                select(Invoice.household_id).where(
                    Invoice.structure_id == structure_id,
                    Invoice.year == year,
                    Invoice.month == month,
                    Invoice.kind == InvoiceKind.INVOICE,
                )
            )
        ).all()
    )
    issued = []
    for bill in await month_bills(db, structure_id, year, month):
        if bill.household_id in invoiced or bill.total_cents <= 0:
            continue
        sequence.last_number += 1
        invoice = Invoice(
            structure_id=structure_id,
            household_id=bill.household_id,
            number=invoice_number(local.year, sequence.last_number),
            sequence=sequence.last_number,
            kind=InvoiceKind.INVOICE,
            year=year,
            month=month,
            household_name=bill.name,
            household_reference=bill.reference,
            lines=[line.as_json() for line in bill.lines],
            total_cents=bill.total_cents,
            issued_at=now,
            issued_by=staff.id if staff is not None else None,
            sent_at=now,  # told through the outbox in this transaction
        )
        db.add(invoice)
        await db.flush()
        await _post_and_tell(db, invoice, staff, now)
        issued.append(invoice)
    await db.flush()
    return issued


async def _post_and_tell(
    db: AsyncSession, invoice: Invoice, staff: StaffContext | None, now: datetime
) -> None:
    """Post the invoice (or credit note) to the household's account, tell the household,
    and record who issued it."""
    credit = invoice.kind is InvoiceKind.CREDIT_NOTE
    await post_entry(
        db,
        household_id=invoice.household_id,
        kind=WalletKind.ACCOUNT,
        amount=-invoice.total_cents,
        entry_kind=LedgerKind.INVOICE,
        at=now,
        label=invoice.number,
    )
    await notify(
        db,
        household_id=invoice.household_id,
        kind=NoticeKind.INVOICE_ISSUED,
        key=f"invoice:{invoice.id}",
        data=invoice_data(invoice),
        now=now,
    )
    record_staff_change(
        db,
        staff,
        now,
        "credit_note_issued" if credit else "invoice_issued",
        f"invoice:{invoice.id}",
        structure_id=invoice.structure_id,
        household_id=invoice.household_id,
        number=invoice.number,
        total_cents=invoice.total_cents,
        corrects_id=invoice.corrects_id,
    )


def invoice_data(invoice: Invoice) -> dict[str, Any]:
    """An invoice as its notification tells it (plain JSON values)."""
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "kind": invoice.kind.value,
        "year": invoice.year,
        "month": invoice.month,
        "amount_cents": invoice.total_cents,
    }


def credited_lines(notes: Sequence[Invoice]) -> set[int]:
    """The indexes of an invoice's lines that its credit notes already gave back."""
    return {
        int(line["credits_line"])
        for note in notes
        for line in note.lines
        if line.get("credits_line") is not None
    }


async def issue_credit_note(
    db: AsyncSession,
    *,
    structure_id: int,
    invoice_id: int,
    staff: StaffContext | None,
    now: datetime,
    reason: str,
    line_indexes: Sequence[int] = (),
    amount_cents: int = 0,
) -> Invoice:
    """Correct an issued invoice with a credit note of some of its lines or of an amount.

    Rules: the invoice stays as issued; the credit note has its own number in the same
    sequence, a negative total, the reason, and gives back at most what the invoice still
    bills (a line is credited once); it is posted to the household's account.

    Raises:
        InvoiceRefused: "unknown_invoice", "not_an_invoice", "reason_missing",
            "nothing_to_credit", "line_already_credited", "too_much".
    """
    reason = " ".join(reason.split())[:200]
    invoice = await invoice_of(db, structure_id, invoice_id)
    if invoice is None:
        raise InvoiceRefused("unknown_invoice")
    if invoice.kind is not InvoiceKind.INVOICE:
        raise InvoiceRefused("not_an_invoice")
    if not reason:
        raise InvoiceRefused("reason_missing")
    local = now.astimezone(await _tz(db, structure_id))
    sequence = await _lock_sequence(db, structure_id, local.year)
    notes = await credit_notes_of(db, invoice)  # under the lock: no two notes of one line
    already = credited_lines(notes)
    remaining = invoice.total_cents + sum(note.total_cents for note in notes)
    lines: list[dict[str, Any]] = []
    for index in sorted(set(line_indexes)):
        if not 0 <= index < len(invoice.lines):
            raise InvoiceRefused("nothing_to_credit")
        if index in already:
            raise InvoiceRefused("line_already_credited", line=index + 1)
        original = invoice.lines[index]
        lines.append(
            {
                **original,
                "unit_cents": -int(original["unit_cents"]),
                "amount_cents": -int(original["amount_cents"]),
                "credits_line": index,
                "reason": reason,
            }
        )
    if amount_cents > 0:
        lines.append({"label": reason, "amount_cents": -amount_cents, "reason": reason})
    total = -sum(int(line["amount_cents"]) for line in lines)
    if total <= 0:
        raise InvoiceRefused("nothing_to_credit")
    if total > remaining:
        raise InvoiceRefused("too_much", remaining_cents=remaining)
    sequence.last_number += 1
    note = Invoice(
        structure_id=structure_id,
        household_id=invoice.household_id,
        number=invoice_number(local.year, sequence.last_number),
        sequence=sequence.last_number,
        kind=InvoiceKind.CREDIT_NOTE,
        year=invoice.year,
        month=invoice.month,
        corrects_id=invoice.id,
        household_name=invoice.household_name,
        household_reference=invoice.household_reference,
        lines=lines,
        total_cents=-total,
        issued_at=now,
        issued_by=staff.id if staff is not None else None,
        sent_at=now,
    )
    db.add(note)
    await db.flush()
    await _post_and_tell(db, note, staff, now)
    await db.flush()
    return note
