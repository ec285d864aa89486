"""The wait after wrong passwords grows with each failure and stops at fifteen minutes, per login
and (more leniently) per client address."""

from __future__ import annotations

from datetime import timedelta

from booking.services.accounts import ADDRESS_THROTTLE, MAX_DELAY, retry_delay
from booking.services.login_throttles import address_key


def test_the_first_four_wrong_passwords_cost_no_wait():
    assert [retry_delay(failures) for failures in range(5)] == [None] * 5


def test_the_wait_doubles_from_one_minute_after_the_fifth_and_stops_at_fifteen():
    waits = [retry_delay(failures) for failures in range(5, 11)]
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 15)]
    assert retry_delay(10_000) == MAX_DELAY


def test_an_address_gets_twenty_wrong_passwords_before_the_same_growing_waits():
    assert [ADDRESS_THROTTLE.delay(failures) for failures in range(20)] == [None] * 20
    waits = [ADDRESS_THROTTLE.delay(failures) for failures in range(20, 26)]
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 15, 15)]
    assert ADDRESS_THROTTLE.delay(10_000) == timedelta(minutes=15)


def test_an_ipv6_client_is_counted_with_its_slash_64_and_other_clients_as_they_are():
    assert address_key("2001:db8:1:2:a:b:c:d") == "2001:db8:1:2::/64"
    assert address_key("2001:DB8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("telegram:5001") == "telegram:5001"
