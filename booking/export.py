"""Exports for the town's staff: bookings (one row per booking) and payments (one row per
online payment or refund, for the régie's reconciliation), as CSV (`;`, UTF-8) or JSON."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from booking.clock import PARIS
from booking.db import Database
from booking.models import (
    Activity,
    Booking,
    BusStop,
    Household,
    Participant,
    Payment,
    Session,
    Structure,
)

COLUMNS = (
    "booking_id",
    "household",
    "participant_last_name",
    "participant_first_name",
    "birth_date",
    "activity_code",
    "activity_name",
    "session_starts_at",
    "session_ends_at",
    "state",
    "price_cents",
    "price_euros",
    "coupons",
    "supplements",
    "bus_stop",
    "created_at",
    "confirmed_at",
    "ended_at",
)


async def export_bookings(
    database: Database,
    fmt: Literal["csv", "json"] | str,
    out: TextIO,
    *,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> int:
    """Write every booking (any state) whose session starts in the period, in session order.

    Instants are ISO 8601 in the structure's local time, with their offset; prices are
    given in cents (`price_cents`, for sums) and in euros with a decimal comma
    (`price_euros`, e.g. "3,20"). CSV uses `;` and a header row, as French spreadsheets
    expect; open `out` with `newline=""` (and `encoding="utf-8-sig"` for Excel).

    Args:
        database: the application's database.
        fmt: "csv" or "json" (a list of objects with the CSV's columns as keys).
        out: the text stream to write to.
        since: sessions starting at or after this instant (a date: that day's midnight).
        until: sessions starting before this instant (a date: that day is included).

    Returns:
        The number of bookings written.

    Raises:
        ValueError: an unknown format.
    """
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}: csv or json")
    async with database.reading() as db:
        rows = await _rows(db, since, until)
    _write(rows, fmt, out, COLUMNS)
    return len(rows)


PAYMENT_COLUMNS = (
    "payment_id",
    "household",
    "purpose",
    "state",
    "amount_cents",
    "amount_euros",
    "coupons",
    "currency",
    "provider",
    "provider_reference",
    "receipt_number",
    "refund_of",
    "created_at",
    "settled_at",
)


async def export_payments(
    database: Database, fmt: Literal["csv", "json"] | str, out: TextIO
) -> int:
    """Write every payment asked by link and every refund through a provider, oldest first,
    in the same formats as `export_bookings`; returns how many."""
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}: csv or json")
    async with database.reading() as db:
        found = await db.execute(
            select(Payment, Household.reference, Structure.timezone)
            .join(Household, Household.id == Payment.household_id)
            .join(Structure, Structure.id == Household.structure_id)
            .order_by(Payment.created_at, Payment.id)
        )
        rows = [
            {
                "payment_id": payment.id,
                "household": household,
                "purpose": payment.purpose.value,
                "state": payment.state.value,
                "amount_cents": payment.amount_cents,
                "amount_euros": _euros(payment.amount_cents),
                "coupons": payment.coupons,
                "currency": payment.currency,
                "provider": payment.provider,
                "provider_reference": payment.provider_reference,
                "receipt_number": payment.receipt_number,
                "refund_of": payment.refund_of_id,
                "created_at": _local(payment.created_at, ZoneInfo(timezone)),
                "settled_at": _local(payment.settled_at, ZoneInfo(timezone)),
            }
            for payment, household, timezone in found.all()
        ]
    _write(rows, fmt, out, PAYMENT_COLUMNS)
    return len(rows)


def _write(rows: Sequence[dict[str, Any]], fmt: str, out: TextIO, columns: Sequence[str]) -> None:
    if fmt == "csv":
        _write_csv(rows, out, columns)
    else:
        json.dump(rows, out, ensure_ascii=False, indent=2)
        out.write("\n")


def _instant(value: date | datetime, *, end_of_day: bool) -> datetime:
    """A bound as an aware instant; a bare date is a day in Paris time."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=PARIS)
    day = value + timedelta(days=1) if end_of_day else value
    return datetime.combine(day, time(0, 0), tzinfo=PARIS)


def _query(since: date | datetime | None, until: date | datetime | None) -> Select[Any]:
    query = (
        select(
            Booking,
            Session.starts_at,
            Session.ends_at,
            Activity.code,
            Activity.name,
            Participant.first_name,
            Participant.last_name,
            Participant.birth_date,
            Household.reference,
            Structure.timezone,
            BusStop.name,
        )
        .join(Session, Session.id == Booking.session_id)
        .join(Activity, Activity.id == Session.activity_id)
        .join(Participant, Participant.id == Booking.participant_id)
        .join(Household, Household.id == Booking.household_id)
        .join(Structure, Structure.id == Household.structure_id)
        .outerjoin(BusStop, BusStop.id == Booking.bus_stop_id)
        .order_by(
            Session.starts_at,
            Activity.code,
            Participant.last_name,
            Participant.first_name,
            Booking.id,
        )
    )
    if since is not None:
        query = query.where(Session.starts_at >= _instant(since, end_of_day=False))
    if until is not None:
        query = query.where(Session.starts_at < _instant(until, end_of_day=True))
    return query


async def _rows(
    db: AsyncSession, since: date | datetime | None, until: date | datetime | None
) -> list[dict[str, Any]]:
    rows = []
    for (
        booking,
        starts_at,
        ends_at,
        code,
        activity_name,
        first_name,
        last_name,
        birth_date,
        reference,
        timezone,
        stop,
    ) in await db.execute(_query(since, until)):
        tz = ZoneInfo(timezone)
        rows.append(
            {
                "booking_id": booking.id,
                "household": reference,
                "participant_last_name": last_name,
                "participant_first_name": first_name,
                "birth_date": birth_date.isoformat(),
                "activity_code": code,
                "activity_name": activity_name,
                "session_starts_at": _local(starts_at, tz),
                "session_ends_at": _local(ends_at, tz),
                "state": booking.state.value,
                "price_cents": booking.price_cents,
                "price_euros": _euros(booking.price_cents),
                "coupons": booking.coupons,
                "supplements": list(booking.supplement_codes or []),
                "bus_stop": stop,
                "created_at": _local(booking.created_at, tz),
                "confirmed_at": _local(booking.confirmed_at, tz),
                "ended_at": _local(booking.ended_at, tz),
            }
        )
    return rows


def _local(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat(timespec="seconds") if value is not None else None


def _euros(cents: int) -> str:
    """1035 → "10,35": a number French spreadsheets read, without a currency sign."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100},{abs(cents) % 100:02d}"


def _write_csv(rows: Sequence[dict[str, Any]], out: TextIO, columns: Sequence[str]) -> None:
    writer = csv.writer(out, delimiter=";")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in columns])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)
