"""Receipts: the household's payments received (by card or from the porte-monnaie), as a
notification, a page or an e-mail tells them, and sending one again on request."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.models import (
    Household,
    NoticeKind,
    OutboxMessage,
    OutboxState,
    Payment,
    PaymentPurpose,
    PaymentState,
)
from booking.services.payments import paid_from


async def receipts_of(db: AsyncSession, household_id: int, limit: int = 200) -> list[Payment]:
    """The household's receipts (payments received, by card or from the porte-monnaie),
    newest first."""
    return list(
        (
            await db.scalars(
                select(Payment)
                .where(
                    Payment.household_id == household_id,
                    Payment.purpose != PaymentPurpose.REFUND,
                    Payment.state == PaymentState.PAID,
                    Payment.receipt_number.is_not(None),
                )
                .order_by(Payment.settled_at.desc(), Payment.id.desc())
                .limit(limit)
            )
        ).all()
    )


async def receipt_of(db: AsyncSession, household_id: int, payment_id: int) -> Payment | None:
    """One receipt of the household; None for another household's or an unpaid payment."""
    payment = await db.get(Payment, payment_id)
    if (
        payment is None
        or payment.household_id != household_id
        or payment.purpose is PaymentPurpose.REFUND
        or payment.state is not PaymentState.PAID
        or payment.receipt_number is None
    ):
        return None
    return payment


def receipt_data(payment: Payment) -> dict[str, Any]:
    """A receipt as a notification or a page tells it (plain JSON values)."""
    ticket = payment.details.get("ticket") or {}
    return {
        "payment_id": payment.id,
        "state": PaymentState.PAID.value,
        "purpose": payment.purpose.value,
        "amount_cents": payment.amount_cents,
        "coupons": payment.coupons,
        "receipt": payment.receipt_number,
        "settled_at": (payment.settled_at or payment.created_at).isoformat(),
        "paid_from": paid_from(payment),
        "items": list(payment.details.get("items") or []),
        "credited_cents": int(ticket.get("credited_cents") or 0),
    }


async def send_receipt_again(
    db: AsyncSession, *, household_id: int, payment_id: int, now: datetime
) -> list[str]:
    """Write a receipt's e-mail to the outbox for the household's addresses (asked by the
    parent: sent even when e-mail notifications are off); returns the addresses, none when
    the household has no address or the receipt is not its own."""
    payment = await receipt_of(db, household_id, payment_id)
    household = await db.get(Household, household_id)
    if payment is None or household is None or not household.email_list:
        return []
    addresses = ";".join(household.email_list)
    db.add(
        OutboxMessage(
            household_id=household_id,
            kind=NoticeKind.PAYMENT_RESULT,
            channel="email",
            address=addresses,
            locale=household.language if household.language in ("fr", "en") else "fr",
            data={**receipt_data(payment), "again": True},
            # Each request is a new e-mail: a parent asking twice gets it twice.
            delivery_key=f"receipt:{payment.id}:{secrets.token_urlsafe(8)}:email",
            urgent=True,
            state=OutboxState.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    await db.flush()
    return household.email_list
