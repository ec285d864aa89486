"""Payments by link: asking, applying exactly once, top-ups, debts and refunds.

A payment is created with a secret link token when the parent is asked to pay; the link is
opened in a browser and the provider takes over. Whatever then arrives (the provider's
notification, the payer's return, a reconciliation) only leads to `apply_status` with the
state read from the provider. `apply_status` locks the payment row, so replays and
concurrent callbacks queue there, and applies a success once: a later "paid" is ignored, a
later failure never undoes it.

A refused or abandoned card payment keeps the places for the rest of their hold and asks
again with a new link (`details["retry_of"]`); a basket payment can also be paid from the
porte-monnaie when it holds enough (`pay_from_wallet`).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from booking import rules
from booking.models import (
    ACTIVE,
    Booking,
    BookingState,
    EventKind,
    Household,
    LedgerEntry,
    LedgerKind,
    NoticeKind,
    Payment,
    PaymentPurpose,
    PaymentState,
    Session,
    Structure,
    Wallet,
    WalletKind,
)
from booking.providers import ProviderState, ProviderStatus
from booking.refusals import Refusal, Refused
from booking.services.common import Actor, confirm, lock_session, places_taken, record_event, reread
from booking.services.holds import end_booking, give_freed_places
from booking.services.outbox import booking_item, notify
from booking.services.wallets import amount_owed, post_entry

log = logging.getLogger(__name__)

MIN_TOP_UP_CENTS = 100
MAX_TOP_UP_CENTS = 500_00
MAX_COUPONS = 100
#: A payment never opened, or still "pending" at the provider this long after its link
#: expired, is given up.
GIVE_UP_AFTER = timedelta(hours=2)
#: How long a top-up or debt link stays valid.
LINK_LIFETIME = timedelta(hours=1)
FAILED = (PaymentState.REFUSED, PaymentState.ABANDONED, PaymentState.EXPIRED)
#: Failures after which the payer may try again while the places are held.
RETRYABLE = (PaymentState.REFUSED, PaymentState.ABANDONED)


def order_id(payment: Payment) -> str:
    """Our short reference for the provider (PayFiP's refdet: alphanumeric, ≤ 30)."""
    return f"RIB{payment.id:08d}"


def receipt_number(payment: Payment, now: datetime) -> str:
    return f"R{now.year}-{payment.id:06d}"


@dataclass
class Outcome:
    """What applying a provider's answer did, for the parent's message."""

    payment: Payment
    state: PaymentState
    confirmed: list[Booking] = field(default_factory=list)
    lost: list[Booking] = field(default_factory=list)  # paid too late: credited to the wallet
    released: list[Booking] = field(default_factory=list)  # payment failed: places freed
    kept: list[Booking] = field(default_factory=list)  # payment failed: places kept to retry
    retry: Payment | None = None  # the new link for the places kept
    credited_cents: int = 0  # paid for places that could not be kept
    coupons: int = 0
    late: bool = False  # paid after the link's hold ran out


def outcome_data(outcome: Outcome) -> dict[str, Any]:
    """The payment's result as the parent's notification tells it (plain JSON values)."""
    payment = outcome.payment

    def items(bookings: list[Booking]) -> list[dict[str, Any]]:
        return [booking_item(booking) for booking in bookings]

    retry = outcome.retry
    return {
        "payment_id": payment.id,
        "state": outcome.state.value,
        "purpose": payment.purpose.value,
        "amount_cents": payment.amount_cents,
        "coupons": payment.coupons,
        "receipt": payment.receipt_number,
        "settled_at": (payment.settled_at or payment.created_at).isoformat(),
        "paid_from": paid_from(payment),
        "confirmed": items(outcome.confirmed),
        "lost": items(outcome.lost),
        "released": items(outcome.released),
        "kept": items(outcome.kept),
        "credited_cents": outcome.credited_cents,
        "retry_token": retry.token if retry is not None else None,
        "retry_amount_cents": retry.amount_cents if retry is not None else 0,
        "held_until": retry.expires_at.isoformat() if retry and retry.expires_at else None,
    }


def paid_from(payment: Payment) -> str:
    """ "wallet" for a payment made from the porte-monnaie, else "card" (through a provider)."""
    return "wallet" if payment.details.get("paid_from") == "wallet" else "card"


async def _tell(
    db: AsyncSession, outcome: Outcome, now: datetime, *, skip_conversation_id: int | None = None
) -> Outcome:
    """Write the result to the outbox: pushed at once, even in the quiet hours."""
    await notify(
        db,
        household_id=outcome.payment.household_id,
        kind=NoticeKind.PAYMENT_RESULT,
        key=f"payment:{outcome.payment.id}:{outcome.state.value}",
        data=outcome_data(outcome),
        now=now,
        urgent=True,
        skip_conversation_id=skip_conversation_id,
    )
    return outcome


async def _structure_of(db: AsyncSession, household_id: int) -> Structure:
    household = await db.scalar(
        select(Household)
        .where(Household.id == household_id)
        .options(joinedload(Household.structure))
    )
    if household is None:
        raise Refused(Refusal.UNKNOWN_BASKET)
    return household.structure


def _new_payment(
    *,
    household_id: int,
    purpose: PaymentPurpose,
    amount_cents: int,
    now: datetime,
    expires_at: datetime,
    provider: str,
    coupons: int = 0,
    basket_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> Payment:
    return Payment(
        household_id=household_id,
        basket_id=basket_id,
        purpose=purpose,
        amount_cents=amount_cents,
        coupons=coupons,
        currency="EUR",
        provider=provider,
        state=PaymentState.CREATED,
        created_at=now,
        expires_at=expires_at,
        token=secrets.token_urlsafe(16),
        details=details or {},
    )


def provider_of(structure: Structure) -> str:
    """The town's payment provider; a town that names none takes no money online (the
    sandbox is opt-in: the demo town and the tests name it)."""
    provider = rules.online_provider(structure.payment_settings)
    if provider is None:
        raise Refused(Refusal.PAYMENT_NOT_OPEN)
    return provider


def _item(booking: Booking, session: Session) -> dict[str, Any]:
    return {
        "participant": booking.participant.first_name,
        "activity": session.activity.name,
        "day": session.day.isoformat(),
        "amount_cents": booking.price_cents,
    }


def _basket_details(bookings: list[Booking]) -> dict[str, Any]:
    """What a basket payment pays (sessions and participants loaded): kept with the payment,
    so that its page and its receipt still say it once the bookings have moved on."""
    return {
        "booking_ids": [booking.id for booking in bookings],
        "items": [_item(booking, booking.session) for booking in bookings],
    }


async def start_basket_payment(
    db: AsyncSession, *, actor: Actor, bookings: list[Booking], now: datetime
) -> Payment:
    """Ask the household to pay its bookings in pending_payment; the link lives as long as
    their hold. `bookings` come from `confirm_basket` (sessions and participants loaded)."""
    if actor.household_id is None or not bookings:
        raise Refused(Refusal.BASKET_EMPTY)
    structure = await _structure_of(db, actor.household_id)
    holds = [booking.held_until for booking in bookings if booking.held_until is not None]
    payment = _new_payment(
        household_id=actor.household_id,
        purpose=PaymentPurpose.BASKET,
        amount_cents=sum(booking.price_cents for booking in bookings),
        now=now,
        expires_at=min(holds) if holds else now + LINK_LIFETIME,
        provider=provider_of(structure),
        basket_id=bookings[0].basket_id,
        details=_basket_details(bookings),
    )
    db.add(payment)
    await db.flush()
    return payment


async def start_offer_payment(
    db: AsyncSession, booking: Booking, session: Session, now: datetime
) -> Payment:
    """The payment link of a waitlist place offered to a family: valid while it is held."""
    structure = await _structure_of(db, booking.household_id)
    payment = _new_payment(
        household_id=booking.household_id,
        purpose=PaymentPurpose.BASKET,
        amount_cents=booking.price_cents,
        now=now,
        expires_at=booking.held_until or now + LINK_LIFETIME,
        provider=provider_of(structure),
        basket_id=booking.basket_id,
        details={"booking_ids": [booking.id], "items": [_item(booking, session)]},
    )
    db.add(payment)
    await db.flush()
    return payment


async def start_top_up(
    db: AsyncSession,
    *,
    actor: Actor,
    now: datetime,
    amount_cents: int = 0,
    coupons: int = 0,
) -> Payment:
    """Ask for a top-up of the euro wallet (`amount_cents`) or a purchase of `coupons` at
    the structure's coupon price."""
    if actor.household_id is None:
        raise Refused(Refusal.BASKET_EMPTY)
    structure = await _structure_of(db, actor.household_id)
    if coupons:
        if structure.coupon_price_cents <= 0:
            raise Refused(Refusal.COUPONS_NOT_SOLD)
        if not 1 <= coupons <= MAX_COUPONS:
            raise Refused(Refusal.INVALID_AMOUNT, minimum=1, maximum=MAX_COUPONS, coupons=True)
        amount_cents = coupons * structure.coupon_price_cents
    elif not MIN_TOP_UP_CENTS <= amount_cents <= MAX_TOP_UP_CENTS:
        raise Refused(Refusal.INVALID_AMOUNT, minimum=MIN_TOP_UP_CENTS, maximum=MAX_TOP_UP_CENTS)
    payment = _new_payment(
        household_id=actor.household_id,
        purpose=PaymentPurpose.TOP_UP,
        amount_cents=amount_cents,
        coupons=coupons,
        now=now,
        expires_at=now + LINK_LIFETIME,
        provider=provider_of(structure),
        details={"coupon_price_cents": structure.coupon_price_cents} if coupons else {},
    )
    db.add(payment)
    await db.flush()
    return payment


async def start_debt_payment(db: AsyncSession, *, actor: Actor, now: datetime) -> Payment:
    """Ask the household to pay what it owes the town."""
    if actor.household_id is None:
        raise Refused(Refusal.BASKET_EMPTY)
    owed = await amount_owed(db, actor.household_id)
    if owed <= 0:
        raise Refused(Refusal.NOTHING_OWED)
    structure = await _structure_of(db, actor.household_id)
    payment = _new_payment(
        household_id=actor.household_id,
        purpose=PaymentPurpose.DEBT,
        amount_cents=owed,
        now=now,
        expires_at=now + LINK_LIFETIME,
        provider=provider_of(structure),
    )
    db.add(payment)
    await db.flush()
    return payment


async def payment_by_token(db: AsyncSession, token: str) -> Payment | None:
    if not token or len(token) > 64:
        return None
    return await db.scalar(select(Payment).where(Payment.token == token))


async def payment_by_reference(db: AsyncSession, provider: str, reference: str) -> Payment | None:
    return await db.scalar(
        select(Payment).where(
            Payment.provider == provider,
            Payment.provider_reference == reference,
            Payment.purpose != PaymentPurpose.REFUND,
        )
    )


async def attach_reference(
    db: AsyncSession, payment_id: int, reference: str, redirect_url: str | None = None
) -> Payment:
    """Record the provider's id of a payment just opened there, unless another tap opened it
    first; returns the payment as it now is (its `details["redirect_url"]` is where to go)."""
    payment = await _lock_payment(db, payment_id)
    if payment.provider_reference is None:
        payment.provider_reference = reference
        payment.details = {**payment.details, "redirect_url": redirect_url}
    return payment


async def _lock_payment(db: AsyncSession, payment_id: int) -> Payment:
    payment = await db.scalar(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if payment is None:
        raise LookupError(f"payment {payment_id}")
    return payment


async def apply_status(
    db: AsyncSession, payment_id: int, status: ProviderStatus, *, now: datetime, source: str
) -> Outcome | None:
    """Apply what the provider says of a payment; None when nothing changed.

    Rules: only "paid" with the right amount and currency applies a payment, once; a paid
    payment never goes back. Refused or abandoned keeps a basket's places for the rest of
    their hold and asks again with a new link (places whose hold is over are released); an
    expired payment releases them. "Pending" changes nothing until the link is long expired,
    then the payment is given up. A late success (after a failure, or after the hold ran out)
    keeps the places still free and credits the wallet for the others. A card payment that
    succeeds after the porte-monnaie paid the same link is credited to the porte-monnaie.
    """
    payment = await _lock_payment(db, payment_id)
    payment.checked_at = now
    if payment.purpose is PaymentPurpose.REFUND:
        return None
    if payment.state is PaymentState.PAID or payment.state is PaymentState.REFUNDED:
        if status.state is ProviderState.PAID and _card_after_wallet(payment, status):
            await _credit_card_after_wallet(db, payment, now, source)
        elif status.state is not ProviderState.PAID:
            log.warning(
                "payment %s already paid; %s now says %s: ignored", payment.id, source, status.state
            )
        return None
    if status.state is ProviderState.PAID:
        if (status.amount_cents is not None and status.amount_cents != payment.amount_cents) or (
            status.currency is not None and status.currency.upper() != payment.currency
        ):
            log.error(
                "payment %s: %s says paid %s %s, expected %s %s: not applied, left for the staff",
                payment.id,
                source,
                status.amount_cents,
                status.currency,
                payment.amount_cents,
                payment.currency,
            )
            payment.details = {
                **payment.details,
                "anomaly": f"paid {status.amount_cents} {status.currency}",
            }
            return None
        return await _apply_paid(db, payment, status, now, source)
    if payment.state is not PaymentState.CREATED:
        return None  # already failed: only a late success can change it
    failed = {
        ProviderState.REFUSED: PaymentState.REFUSED,
        ProviderState.ABANDONED: PaymentState.ABANDONED,
        ProviderState.EXPIRED: PaymentState.EXPIRED,
    }.get(status.state)
    if failed is None:  # pending
        if payment.expires_at is not None and now >= payment.expires_at + GIVE_UP_AFTER:
            failed = PaymentState.EXPIRED
        else:
            return None
    return await _apply_failed(db, payment, failed, now, source)


async def expire_unopened(db: AsyncSession, payment_id: int, now: datetime) -> Outcome | None:
    """Give up a payment whose link was never opened and has expired."""
    payment = await _lock_payment(db, payment_id)
    if payment.state is not PaymentState.CREATED or payment.provider_reference is not None:
        return None
    if payment.expires_at is None or now < payment.expires_at:
        return None
    return await _apply_failed(db, payment, PaymentState.EXPIRED, now, "expiry")


async def _basket_bookings(db: AsyncSession, payment: Payment) -> list[Booking]:
    ids = list(payment.details.get("booking_ids") or [])
    if not ids:
        return []
    return list(
        (
            await db.scalars(
                select(Booking)
                .where(Booking.id.in_(ids), Booking.household_id == payment.household_id)
                .options(
                    joinedload(Booking.session).joinedload(Session.activity),
                    joinedload(Booking.participant),
                )
                .order_by(Booking.session_id, Booking.id)
            )
        ).all()
    )


async def _apply_failed(
    db: AsyncSession, payment: Payment, state: PaymentState, now: datetime, source: str
) -> Outcome:
    payment.state = state
    payment.settled_at = now
    outcome = Outcome(payment, state)
    actor = Actor.system()
    retry = payment.purpose is PaymentPurpose.BASKET and state in RETRYABLE
    for booking in await _basket_bookings(db, payment):
        session = await lock_session(db, booking.session_id)
        await reread(db, booking)
        if booking.state is not BookingState.PENDING_PAYMENT:
            continue
        if retry and booking.held_until is not None and booking.held_until > now:
            outcome.kept.append(booking)  # the sweep frees it when its hold is over
            continue
        end_booking(booking, BookingState.EXPIRED, now)
        record_event(
            db,
            kind=EventKind.EXPIRED,
            at=now,
            actor=actor,
            booking=booking,
            reason=f"payment_{state.value}",
            payment_id=payment.id,
        )
        outcome.released.append(booking)
        await give_freed_places(db, session, now, actor)
    if outcome.kept:
        outcome.retry = await _ask_again(db, payment, outcome.kept, now)
    log.info("payment %s %s (%s)", payment.id, state.value, source)
    if state is PaymentState.EXPIRED and payment.purpose is not PaymentPurpose.BASKET:
        return outcome  # a top-up or debt link left unused: nothing was lost, nothing to tell
    return await _tell(db, outcome, now)


async def _ask_again(
    db: AsyncSession, failed: Payment, bookings: list[Booking], now: datetime
) -> Payment:
    """A new link for the places a failed payment leaves held, valid while they are."""
    holds = [booking.held_until for booking in bookings if booking.held_until is not None]
    retry = _new_payment(
        household_id=failed.household_id,
        purpose=PaymentPurpose.BASKET,
        amount_cents=sum(booking.price_cents for booking in bookings),
        now=now,
        expires_at=min(holds) if holds else now + LINK_LIFETIME,
        provider=failed.provider,
        basket_id=failed.basket_id,
        details={**_basket_details(bookings), "retry_of": failed.id},
    )
    db.add(retry)
    await db.flush()
    failed.details = {**failed.details, "retried_by": retry.id}
    return retry


async def _drop_unused_retry(db: AsyncSession, payment: Payment, now: datetime) -> None:
    """A failed payment that succeeds after all: its retry link, never opened, pays nothing."""
    retry_id = payment.details.get("retried_by")
    if retry_id is None:
        return
    retry = await _lock_payment(db, retry_id)
    if retry.state is PaymentState.CREATED and retry.provider_reference is None:
        retry.state = PaymentState.EXPIRED
        retry.settled_at = now
        retry.details = {**retry.details, "dropped": "the failed payment succeeded after all"}


def _card_after_wallet(payment: Payment, status: ProviderStatus) -> bool:
    return (
        paid_from(payment) == "wallet"
        and payment.provider_reference is not None
        and not payment.details.get("card_credited")
        and (status.amount_cents is None or status.amount_cents == payment.amount_cents)
    )


async def _credit_card_after_wallet(
    db: AsyncSession, payment: Payment, now: datetime, source: str
) -> None:
    """The payer finished paying by card a link the porte-monnaie had already paid: the
    money is theirs, kept as credit."""
    await post_entry(
        db,
        household_id=payment.household_id,
        kind=WalletKind.EUROS,
        amount=payment.amount_cents,
        entry_kind=LedgerKind.PAYMENT,
        at=now,
        label=payment.receipt_number or "",
        payment_id=payment.id,
    )
    payment.details = {**payment.details, "card_credited": now.isoformat()}
    log.warning(
        "payment %s paid from the wallet, then by card (%s): %s credited to the wallet",
        payment.id,
        source,
        payment.amount_cents,
    )


async def _apply_paid(
    db: AsyncSession, payment: Payment, status: ProviderStatus, now: datetime, source: str
) -> Outcome:
    late = payment.state in FAILED or (payment.expires_at is not None and now > payment.expires_at)
    if payment.state in FAILED:
        await _drop_unused_retry(db, payment, now)
    payment.state = PaymentState.PAID
    payment.settled_at = now
    payment.receipt_number = receipt_number(payment, now)
    outcome = Outcome(payment, PaymentState.PAID, late=late)
    actor = Actor.system()
    # Coupons go to the coupon wallet, a debt's payment to the invoice account; a top-up or a
    # basket comes into the euro wallet, then each booking kept is debited from it (what pays
    # for a place that was lost stays there as credit).
    if payment.purpose is PaymentPurpose.TOP_UP and payment.coupons:
        wallet, amount, entry_kind = WalletKind.COUPONS, payment.coupons, LedgerKind.TOP_UP
        outcome.coupons = payment.coupons
    elif payment.purpose is PaymentPurpose.DEBT:
        wallet, amount, entry_kind = WalletKind.ACCOUNT, payment.amount_cents, LedgerKind.PAYMENT
    elif payment.purpose is PaymentPurpose.TOP_UP:
        wallet, amount, entry_kind = WalletKind.EUROS, payment.amount_cents, LedgerKind.TOP_UP
    else:
        wallet, amount, entry_kind = WalletKind.EUROS, payment.amount_cents, LedgerKind.PAYMENT
    await post_entry(
        db,
        household_id=payment.household_id,
        kind=wallet,
        amount=amount,
        entry_kind=entry_kind,
        at=now,
        label=payment.receipt_number,
        payment_id=payment.id,
    )
    if payment.purpose is PaymentPurpose.BASKET:
        for booking in await _basket_bookings(db, payment):
            await _settle_booking(db, payment, booking, now, actor, outcome)
    payment.details = {
        **payment.details,
        "ticket": {
            "receipt": payment.receipt_number,
            "paid_at": now.isoformat(),
            "amount_cents": payment.amount_cents,
            "source": source,
            "provider": dict(status.details),
            "credited_cents": outcome.credited_cents,
        },
    }
    log.info(
        "payment %s paid (%s): receipt %s, %d confirmed, %d credited",
        payment.id,
        source,
        payment.receipt_number,
        len(outcome.confirmed),
        len(outcome.lost),
    )
    return await _tell(db, outcome, now)


async def _settle_booking(
    db: AsyncSession,
    payment: Payment,
    booking: Booking,
    now: datetime,
    actor: Actor,
    outcome: Outcome,
) -> None:
    """Confirm one paid booking, or credit the wallet when its place is gone."""
    session = await lock_session(db, booking.session_id)
    await reread(db, booking)
    record_event(
        db, kind=EventKind.PAID, at=now, actor=actor, booking=booking, payment_id=payment.id
    )
    keep = booking.state is BookingState.PENDING_PAYMENT or (
        booking.state is BookingState.EXPIRED and await _place_still_free(db, booking, session, now)
    )
    if keep:
        await post_entry(
            db,
            household_id=booking.household_id,
            kind=WalletKind.EUROS,
            amount=-booking.price_cents,
            entry_kind=LedgerKind.DEBIT,
            at=now,
            label=session.activity.name,
            booking_id=booking.id,
            payment_id=payment.id,
        )
        confirm(db, booking, now=now, actor=actor, mode="immediate", payment_id=payment.id)
        outcome.confirmed.append(booking)
        return
    record_event(
        db,
        kind=EventKind.REFUNDED,
        at=now,
        actor=actor,
        booking=booking,
        refund_cents=booking.price_cents,
        to="wallet",
        payment_id=payment.id,
    )
    outcome.lost.append(booking)
    outcome.credited_cents += booking.price_cents


async def _place_still_free(
    db: AsyncSession, booking: Booking, session: Session, now: datetime
) -> bool:
    """A booking whose hold ran out before its payment came can still be kept."""
    if session.cancelled_at is not None or now >= session.starts_at:
        return False
    if session.capacity - await places_taken(db, session.id) <= 0:
        return False
    other = await db.scalar(
        select(Booking.id).where(
            Booking.participant_id == booking.participant_id,
            Booking.session_id == booking.session_id,
            Booking.state.in_(ACTIVE),
            Booking.id != booking.id,
        )
    )
    return other is None


async def payments_to_check(db: AsyncSession, now: datetime, *, quiet: timedelta) -> list[int]:
    """Payments still open at the provider and not checked for `quiet`: for reconciliation.

    Also failed payments whose link was opened, for a little while, since a refusal can be
    followed by a successful retry on the provider's page.
    """
    rows = await db.scalars(
        select(Payment.id)
        .where(
            Payment.purpose != PaymentPurpose.REFUND,
            Payment.provider_reference.is_not(None),
            or_(
                Payment.state == PaymentState.CREATED,
                Payment.state.in_(FAILED) & (Payment.settled_at > now - GIVE_UP_AFTER),
            ),
            or_(Payment.checked_at.is_(None), Payment.checked_at <= now - quiet),
        )
        .order_by(Payment.id)
        .limit(200)
    )
    return list(rows)


async def unopened_expired(db: AsyncSession, now: datetime) -> list[int]:
    rows = await db.scalars(
        select(Payment.id)
        .where(
            Payment.state == PaymentState.CREATED,
            Payment.provider_reference.is_(None),
            Payment.purpose != PaymentPurpose.REFUND,
            Payment.expires_at <= now,
        )
        .order_by(Payment.id)
        .limit(200)
    )
    return list(rows)


async def paying_payment_of(db: AsyncSession, booking_id: int) -> Payment | None:
    """The provider payment that paid this booking, if any."""
    return await db.scalar(
        select(Payment)
        .join(LedgerEntry, LedgerEntry.payment_id == Payment.id)
        .where(
            LedgerEntry.booking_id == booking_id,
            LedgerEntry.kind == LedgerKind.DEBIT,
            Payment.state == PaymentState.PAID,
        )
        .limit(1)
    )


async def request_provider_refund(
    db: AsyncSession, *, booking: Booking, amount_cents: int, label: str, now: datetime
) -> Payment | None:
    """Record a refund to send through the provider for a paid booking; None when the
    booking was not paid through one (the caller then credits the wallet).

    The money first comes back to the wallet (REFUND) and leaves it when the provider has
    sent it (PAYOUT), so the wallet never holds it twice nor loses it if the provider fails.
    """
    paid_by = await paying_payment_of(db, booking.id)
    if paid_by is None or paid_by.provider_reference is None:
        return None
    refund = Payment(
        household_id=booking.household_id,
        purpose=PaymentPurpose.REFUND,
        amount_cents=amount_cents,
        currency=paid_by.currency,
        provider=paid_by.provider,
        state=PaymentState.CREATED,
        created_at=now,
        refund_of_id=paid_by.id,
        details={"booking_id": booking.id, "label": label},
    )
    db.add(refund)
    await db.flush()
    await post_entry(
        db,
        household_id=booking.household_id,
        kind=WalletKind.EUROS,
        amount=amount_cents,
        entry_kind=LedgerKind.REFUND,
        at=now,
        label=label,
        booking_id=booking.id,
        payment_id=refund.id,
    )
    return refund


async def refunds_to_send(db: AsyncSession) -> list[tuple[int, str, str, int, dict]]:
    """(refund id, provider, original reference, amount, structure settings) to send."""
    original = Payment.__table__.alias("original")
    rows = await db.execute(
        select(
            Payment.id,
            Payment.provider,
            original.c.provider_reference,
            Payment.amount_cents,
            Structure.payment_settings,
        )
        .join(original, original.c.id == Payment.refund_of_id)
        .join(Household, Household.id == Payment.household_id)
        .join(Structure, Structure.id == Household.structure_id)
        .where(Payment.purpose == PaymentPurpose.REFUND, Payment.state == PaymentState.CREATED)
        .order_by(Payment.id)
        .limit(100)
    )
    return [(row[0], row[1], row[2], row[3], dict(row[4] or {})) for row in rows]


async def settle_refund(
    db: AsyncSession, refund_id: int, *, sent: bool, now: datetime, reason: str = ""
) -> Payment | None:
    """Record the provider's answer to a refund: sent (the money leaves the wallet) or not
    possible (the money stays in the wallet as credit)."""
    refund = await _lock_payment(db, refund_id)
    if refund.purpose is not PaymentPurpose.REFUND or refund.state is not PaymentState.CREATED:
        return None
    refund.settled_at = now
    booking_id = refund.details.get("booking_id")
    if sent:
        refund.state = PaymentState.REFUNDED
        await post_entry(
            db,
            household_id=refund.household_id,
            kind=WalletKind.EUROS,
            amount=-refund.amount_cents,
            entry_kind=LedgerKind.PAYOUT,
            at=now,
            label=str(refund.details.get("label") or ""),
            booking_id=booking_id,
            payment_id=refund.id,
        )
    else:
        refund.state = PaymentState.REFUSED
        refund.details = {**refund.details, "kept_in_wallet": reason or "not supported"}
    if booking_id is not None:
        booking = await db.get(Booking, booking_id)
        if booking is not None:
            record_event(
                db,
                kind=EventKind.REFUNDED,
                at=now,
                actor=Actor.system(),
                booking=booking,
                refund_cents=refund.amount_cents,
                to="card" if sent else "wallet",
                payment_id=refund.id,
            )
    return refund


async def open_payment(db: AsyncSession, household_id: int, now: datetime) -> Payment | None:
    """The household's latest payment link still valid for places it holds, if any."""
    return await db.scalar(
        select(Payment)
        .where(
            Payment.household_id == household_id,
            Payment.purpose == PaymentPurpose.BASKET,
            Payment.state == PaymentState.CREATED,
            Payment.expires_at > now,
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )


async def payment_history(db: AsyncSession, household_id: int, limit: int = 10) -> list[Payment]:
    """The household's last settled payments and refunds, newest first."""
    return list(
        (
            await db.scalars(
                select(Payment)
                .where(
                    Payment.household_id == household_id,
                    Payment.state.in_((PaymentState.PAID, PaymentState.REFUNDED)),
                )
                .order_by(Payment.settled_at.desc(), Payment.id.desc())
                .limit(limit)
            )
        ).all()
    )


async def pay_from_wallet(
    db: AsyncSession, *, actor: Actor, payment_id: int, now: datetime
) -> Outcome:
    """Pay a basket's link from the porte-monnaie: its places are confirmed at once.

    Rules: the payment is the household's, still asked and its link still valid; every place
    it pays is still held for it; the euro wallet holds the whole amount (checked under the
    wallet's lock, so it never goes below zero and a short wallet debits nothing). The payment
    gets its receipt number like a card payment; the result is told on the other channels.
    """
    payment = await _lock_payment(db, payment_id)
    if payment.household_id != actor.household_id or payment.purpose is not PaymentPurpose.BASKET:
        raise Refused(Refusal.UNKNOWN_BASKET)
    if payment.state is not PaymentState.CREATED or (
        payment.expires_at is not None and now >= payment.expires_at
    ):
        raise Refused(Refusal.HOLD_EXPIRED, held_until=payment.expires_at)
    bookings = await _basket_bookings(db, payment)
    for booking in bookings:
        await lock_session(db, booking.session_id)
        await reread(db, booking)
        if booking.state is not BookingState.PENDING_PAYMENT or (
            booking.held_until is not None and booking.held_until <= now
        ):
            raise Refused(Refusal.HOLD_EXPIRED, held_until=booking.held_until)
    wallet = await db.scalar(
        select(Wallet)
        .where(Wallet.household_id == payment.household_id, Wallet.kind == WalletKind.EUROS)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    balance = wallet.balance if wallet is not None else 0
    if balance < payment.amount_cents:
        raise Refused(
            Refusal.INSUFFICIENT_BALANCE,
            wallet=WalletKind.EUROS.value,
            balance=balance,
            needed=payment.amount_cents,
        )
    payment.state = PaymentState.PAID
    payment.settled_at = now
    payment.receipt_number = receipt_number(payment, now)
    payment.details = {
        **payment.details,
        "paid_from": "wallet",
        "ticket": {
            "receipt": payment.receipt_number,
            "paid_at": now.isoformat(),
            "amount_cents": payment.amount_cents,
            "source": "wallet",
        },
    }
    outcome = Outcome(payment, PaymentState.PAID)
    for booking in bookings:
        record_event(
            db, kind=EventKind.PAID, at=now, actor=actor, booking=booking, payment_id=payment.id
        )
        await post_entry(
            db,
            household_id=booking.household_id,
            kind=WalletKind.EUROS,
            amount=-booking.price_cents,
            entry_kind=LedgerKind.DEBIT,
            at=now,
            label=booking.session.activity.name,
            booking_id=booking.id,
            payment_id=payment.id,
        )
        confirm(db, booking, now=now, actor=actor, mode="wallet", payment_id=payment.id)
        outcome.confirmed.append(booking)
    log.info("payment %s paid from the wallet: receipt %s", payment.id, payment.receipt_number)
    return await _tell(db, outcome, now, skip_conversation_id=actor.conversation_id)


async def wallet_covers(db: AsyncSession, household_id: int, amount_cents: int) -> int | None:
    """The porte-monnaie's balance when it holds `amount_cents`, else None."""
    balance = await db.scalar(
        select(Wallet.balance).where(
            Wallet.household_id == household_id, Wallet.kind == WalletKind.EUROS
        )
    )
    return balance if balance is not None and balance >= amount_cents > 0 else None
