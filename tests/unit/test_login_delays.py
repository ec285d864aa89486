"""The wait after wrong passwords grows with each failure and stops at fifteen minutes."""

from __future__ import annotations

from datetime import timedelta

from booking.services.accounts import MAX_DELAY, retry_delay


def test_the_first_four_wrong_passwords_cost_no_wait():
    assert [retry_delay(failures) for failures in range(5)] == [None] * 5


def test_the_wait_doubles_from_one_minute_after_the_fifth_and_stops_at_fifteen():
    waits = [retry_delay(failures) for failures in range(5, 11)]
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 15)]
    assert retry_delay(10_000) == MAX_DELAY
