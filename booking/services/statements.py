"""Statements: a month's consumptions, bookings to come and money movements, a year's lines
for download, wallet balances with a forecast, and when invoiced bookings are billed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from booking.models import (
    Activity,
    Booking,
    BookingState,
    Category,
    LedgerEntry,
    LedgerKind,
    PaymentMode,
    Session,
    Wallet,
    WalletKind,
)
from booking.services.wallets import balances

#: Money coming in or going out of the household's wallets (not the debits of bookings,
#: which the consumptions already show): top-ups, payments, refunds, refunds sent to the card.
PAYMENT_KINDS = (LedgerKind.TOP_UP, LedgerKind.PAYMENT, LedgerKind.REFUND, LedgerKind.PAYOUT)


def billing_day(mode: PaymentMode, day: date) -> date | None:
    """When a booking of a session on `day` is billed to the household's account: an invoiced
    activity at the end of the session's month; other modes are paid when booked (None)."""
    if mode is not PaymentMode.INVOICE:
        return None
    return month_bounds(day.year, day.month)[1] - timedelta(days=1)


@dataclass(frozen=True)
class Consumption:
    """A confirmed booking as a statement line: consumed once its session has begun."""

    day: date
    participant: str
    activity: str
    label: str
    price_cents: int
    coupons: int
    category: Category | None = None
    mode: PaymentMode | None = None


@dataclass(frozen=True)
class Movement:
    """Money in (positive) or out (negative) of one wallet."""

    at: datetime
    wallet: WalletKind
    kind: LedgerKind
    label: str
    amount: int
    payment_id: int | None = None


@dataclass(frozen=True)
class MonthStatement:
    year: int
    month: int
    consumptions: list[Consumption]
    payments: list[Movement]
    upcoming: list[Consumption] = field(default_factory=list)  # booked, not begun yet

    @property
    def consumed_cents(self) -> int:
        return sum(line.price_cents for line in self.consumptions)

    @property
    def consumed_coupons(self) -> int:
        return sum(line.coupons for line in self.consumptions)

    @property
    def upcoming_cents(self) -> int:
        return sum(line.price_cents for line in self.upcoming)

    @property
    def upcoming_coupons(self) -> int:
        return sum(line.coupons for line in self.upcoming)


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """First day of the month and first day of the next one."""
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following


async def month_statement(
    db: AsyncSession,
    household_id: int,
    year: int,
    month: int,
    tz: ZoneInfo,
    *,
    now: datetime | None = None,
) -> MonthStatement:
    """Consumptions (confirmed bookings of sessions in the month that have begun by `now`),
    the month's bookings still to come, and money movements (top-ups, payments, refunds)
    recorded in the month, as today's portals show them. Without `now` every confirmed
    booking of the month counts as consumed."""
    first, following = month_bounds(year, month)
    lines = await _consumptions(db, household_id, first, following)
    consumed = [line for begun, line in lines if now is None or begun <= now]
    upcoming = [line for begun, line in lines if now is not None and begun > now]
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(following, time(0), tzinfo=tz)
    payments = await _movements(db, household_id, start, end, tz)
    return MonthStatement(year, month, consumed, payments, upcoming)


async def _consumptions(
    db: AsyncSession, household_id: int, first: date, following: date
) -> list[tuple[datetime, Consumption]]:
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
    return [
        (
            booking.session.starts_at,
            Consumption(
                day=booking.session.day,
                participant=booking.participant.first_name,
                activity=booking.session.activity.name,
                label=booking.session.label,
                price_cents=booking.price_cents,
                coupons=booking.coupons,
                category=booking.session.activity.category,
                mode=booking.session.activity.payment_mode,
            ),
        )
        for booking in bookings
    ]


async def _movements(
    db: AsyncSession, household_id: int, start: datetime, end: datetime, tz: ZoneInfo
) -> list[Movement]:
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
    return [
        Movement(
            at=entry.at.astimezone(tz),
            wallet=kind,
            kind=entry.kind,
            label=entry.label,
            amount=entry.amount,
            payment_id=entry.payment_id,
        )
        for entry, kind in rows
    ]


@dataclass(frozen=True)
class YearStatement:
    """A calendar year's consumptions (begun by `now`) and money movements, for download."""

    year: int
    consumptions: list[Consumption]
    movements: list[Movement]


async def year_statement(
    db: AsyncSession, household_id: int, year: int, tz: ZoneInfo, *, now: datetime
) -> YearStatement:
    """Every consumption and money movement of the household in `year` (only its own)."""
    first, following = date(year, 1, 1), date(year + 1, 1, 1)
    lines = await _consumptions(db, household_id, first, following)
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(following, time(0), tzinfo=tz)
    return YearStatement(
        year,
        [line for begun, line in lines if begun <= now],
        await _movements(db, household_id, start, end, tz),
    )


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
