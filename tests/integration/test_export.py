"""Exporting bookings for the town's staff, as French-spreadsheet CSV and as JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from booking.demo import CANTEEN_FAMILIES, load_demo
from booking.export import COLUMNS, PAYMENT_COLUMNS, export_bookings, export_payments


@pytest.fixture
async def demo(database, clock):
    assert await load_demo(database, clock.now())
    return database


async def test_the_csv_has_a_header_and_one_semicolon_separated_row_per_booking(demo):
    out = io.StringIO(newline="")

    written = await export_bookings(demo, "csv", out)

    rows = list(csv.reader(io.StringIO(out.getvalue(), newline=""), delimiter=";"))
    assert rows[0] == list(COLUMNS)
    bookings = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    routine = [row for row in bookings if row["household"] in CANTEEN_FAMILIES]
    routine = [row for row in routine if row["activity_code"] == "cantine"]
    assert routine  # the canteen families' school days since the first of last month
    # dupont's two cantine days, eight children on the full Wednesday, two in line
    assert written == len(bookings) == 12 + len(routine)
    lea = next(row for row in bookings if row["household"] == "dupont")
    assert lea == {
        **lea,
        "household": "dupont",
        "participant_first_name": "Léa",
        "participant_last_name": "DUPONT",
        "birth_date": "2018-05-12",
        "activity_code": "cantine",
        "activity_name": "Restaurant scolaire",
        "session_starts_at": "2027-03-08T11:30:00+01:00",
        "session_ends_at": "2027-03-08T13:30:00+01:00",
        "state": "confirmed",
        "price_cents": "320",
        "price_euros": "3,20",
        "coupons": "0",
        "bus_stop": "",
        "created_at": "2027-03-01T09:00:00+01:00",
        "confirmed_at": "2027-03-01T09:00:00+01:00",
        "ended_at": "",
    }


async def test_the_json_lists_the_same_bookings_with_typed_values(demo):
    out = io.StringIO()

    await export_bookings(demo, "json", out)

    bookings = json.loads(out.getvalue())
    bookings = [
        booking
        for booking in bookings
        if not (booking["household"] in CANTEEN_FAMILIES and booking["activity_code"] == "cantine")
    ]
    assert len(bookings) == 12
    assert set(bookings[0]) == set(COLUMNS)
    states = [booking["state"] for booking in bookings]
    assert states.count("confirmed") == 10 and states.count("waitlisted") == 2
    in_line = [booking for booking in bookings if booking["state"] == "waitlisted"]
    assert {booking["household"] for booking in in_line} == {"moreau"}
    assert in_line[0]["activity_code"] == "mercredis-3-6"
    assert (in_line[0]["price_cents"], in_line[0]["price_euros"]) == (1000, "10,00")
    assert in_line[0]["supplements"] == [] and in_line[0]["confirmed_at"] is None


async def test_the_export_can_be_limited_to_a_period_of_sessions(demo):
    monday, wednesday = io.StringIO(), io.StringIO()

    routine = await export_bookings(demo, "json", io.StringIO(), until=date(2027, 3, 7))
    assert routine > 0  # the canteen families' days up to the first school days of March
    assert await export_bookings(demo, "json", monday, until=date(2027, 3, 8)) == 2 + routine
    assert await export_bookings(demo, "json", wednesday, since=date(2027, 3, 9)) == 10

    assert {row["activity_code"] for row in json.loads(wednesday.getvalue())} == {"mercredis-3-6"}


async def test_an_unknown_format_is_refused(sqlite_database):
    with pytest.raises(ValueError, match="csv or json"):
        await export_bookings(sqlite_database, "xlsx", io.StringIO())


async def test_the_payments_export_lists_each_online_payment_with_its_receipt(demo):
    out = io.StringIO(newline="")

    written = await export_payments(demo, "csv", out)

    rows = list(csv.reader(io.StringIO(out.getvalue(), newline=""), delimiter=";"))
    assert rows[0] == list(PAYMENT_COLUMNS)
    assert written == len(rows) - 1 == 4  # the four families who paid the full Wednesday
    first = dict(zip(PAYMENT_COLUMNS, rows[1], strict=True))
    assert first == {
        **first,
        "household": "petit",
        "purpose": "basket",
        "state": "paid",
        "amount_euros": first["amount_euros"],
        "currency": "EUR",
        "receipt_number": f"R2027-{int(first['payment_id']):06d}",
        "settled_at": "2027-03-01T09:00:00+01:00",
    }
    assert int(first["amount_cents"]) > 0
    as_json = io.StringIO()
    assert await export_payments(demo, "json", as_json) == 4
    assert [row["receipt_number"] for row in json.loads(as_json.getvalue())] == [
        dict(zip(PAYMENT_COLUMNS, row, strict=True))["receipt_number"] for row in rows[1:]
    ]
