"""Statements: a month's consumptions and payments, and wallet balances with a forecast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from booking.models import (
    Activity,
    Booking,
    BookingState,
    LedgerEntry,
    LedgerKind,
    PaymentMode,
    Session,
    Wallet,
    WalletKind,
)
from booking.services.wallets import balances

PAYMENT_KINDS = (LedgerKind.TOP_UP, LedgerKind.PAYMENT, LedgerKind.REFUND)


@dataclass(frozen=True)
class Consumption:
    day: date
    participant: str
    activity: str
    label: str
    price_cents: int
    coupons: int


@dataclass(frozen=True)
class Movement:
    at: datetime
    wallet: WalletKind
    kind: LedgerKind
    label: str
    amount: int


@dataclass(frozen=True)
class MonthStatement:
    year: int
    month: int
    consumptions: list[Consumption]
    payments: list[Movement]

    @property
    def consumed_cents(self) -> int:
        return sum(line.price_cents for line in self.consumptions)

    @property
    def consumed_coupons(self) -> int:
        return sum(line.coupons for line in self.consumptions)


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """First day of the month and first day of the next one."""
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following


async def month_statement(
    db: AsyncSession, household_id: int, year: int, month: int, tz: ZoneInfo
) -> MonthStatement:
    """Consumptions (confirmed bookings of sessions in the month) and payments (top-ups,
    payments, refunds recorded in the month), as today's portals show them."""
    first, following = month_bounds(year, month)
    bookings = (
        await db.scalars(
            select(Booking)
            .join(Session, Session.id == Booking.session_id)
            .where(
                Booking.household_id == household_id,
                Booking.state == BookingState.CONFIRMED,
                Session.day >= first,
                Session.day < following,
            )
            .options(
                joinedload(Booking.session).joinedload(Session.activity),
                joinedload(Booking.participant),
            )
            .order_by(Session.starts_at, Booking.participant_id)
        )
    ).all()
    consumptions = [
        Consumption(
            day=booking.session.day,
            participant=booking.participant.first_name,
            activity=booking.session.activity.name,
            label=booking.session.label,
            price_cents=booking.price_cents,
            coupons=booking.coupons,
        )
        for booking in bookings
    ]
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(following, time(0), tzinfo=tz)
    rows = await db.execute(
        select(LedgerEntry, Wallet.kind)
        .join(Wallet, Wallet.id == LedgerEntry.wallet_id)
        .where(
            Wallet.household_id == household_id,
            LedgerEntry.kind.in_(PAYMENT_KINDS),
            LedgerEntry.at >= start,
            LedgerEntry.at < end,
        )
        .order_by(LedgerEntry.at, LedgerEntry.id)
    )
    payments = [
        Movement(
            at=entry.at.astimezone(tz),
            wallet=kind,
            kind=entry.kind,
            label=entry.label,
            amount=entry.amount,
        )
        for entry, kind in rows
    ]
    return MonthStatement(year, month, consumptions, payments)


@dataclass(frozen=True)
class WalletForecast:
    """A wallet's balance, the estimated cost of bookings not yet debited, and what remains."""

    kind: WalletKind
    balance: int
    estimated_cost: int

    @property
    def projected(self) -> int:
        return self.balance - self.estimated_cost


async def wallet_forecasts(
    db: AsyncSession, household_id: int, *, today: date, until: date
) -> list[WalletForecast]:
    """Balance per wallet with the estimated cost of bookings from today up to `until`.

    Wallet and coupon bookings are debited when confirmed, so their estimate is zero;
    invoiced bookings are billed later to the account, and unpaid immediate ones are due.
    """
    current = await balances(db, household_id)
    rows = await db.execute(
        select(Booking.price_cents, Booking.state, Activity.payment_mode)
        .join(Session, Session.id == Booking.session_id)
        .join(Activity, Activity.id == Session.activity_id)
        .where(
            Booking.household_id == household_id,
            Booking.state.in_((BookingState.CONFIRMED, BookingState.PENDING_PAYMENT)),
            Session.day >= today,
            Session.day < until + timedelta(days=1),
        )
    )
    account_cost = 0
    for price, state, mode in rows:
        if (mode is PaymentMode.INVOICE and state is BookingState.CONFIRMED) or (
            state is BookingState.PENDING_PAYMENT
        ):
            account_cost += price
    return [
        WalletForecast(kind, current[kind], account_cost if kind is WalletKind.ACCOUNT else 0)
        for kind in WalletKind
    ]
