"""The price of one booking: tariff band (quotient, age) plus supplements, or coupons."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from booking import rules
from booking.models import Household, Participant, PaymentMode, Session, Supplement, Tariff
from booking.refusals import Refusal, Refused


async def price_of(
    db: AsyncSession,
    *,
    session: Session,
    household: Household,
    participant: Participant,
    supplement_codes: Sequence[str] = (),
) -> tuple[int, int]:
    """(price in cents, coupons) for this participant in this session, fixed at booking time."""
    activity = session.activity
    if activity.payment_mode is PaymentMode.COUPONS:
        return 0, session.coupons
    tariffs = (
        await db.scalars(
            select(Tariff).where(Tariff.activity_id == activity.id).order_by(Tariff.id)
        )
    ).all()
    bands = [
        rules.TariffBand(t.price_cents, t.min_quotient, t.max_quotient, t.min_age, t.max_age)
        for t in tariffs
    ]
    price = rules.price_for(
        session.price_cents,
        bands,
        quotient=household.family_quotient,
        age=rules.age_on(participant.birth_date, session.day),
    )
    if supplement_codes:
        supplements = {
            s.code: s.price_cents
            for s in await db.scalars(
                select(Supplement).where(Supplement.activity_id == activity.id)
            )
        }
        for code in supplement_codes:
            if code not in supplements:
                raise Refused(Refusal.UNKNOWN_SUPPLEMENT, code=code)
            price += supplements[code]
    return price, 0
