"""The pure booking rules, at their edges: birthdays, deadline minutes, holidays, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from booking.clock import PARIS
from booking.refusals import Refusal
from booking.rules import (
    TariffBand,
    age_on,
    age_refusal,
    days_before,
    deadline_at,
    french_public_holidays,
    is_adult,
    is_working_day,
    opening_for,
    overlaps,
    price_for,
)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


# Ages -------------------------------------------------------------------------------------


def test_a_birthday_on_the_session_day_counts():
    assert age_on(date(2021, 3, 10), date(2027, 3, 10)) == 6


def test_the_day_before_the_birthday_the_child_is_still_a_year_younger():
    assert age_on(date(2021, 3, 10), date(2027, 3, 9)) == 5


def test_a_child_born_on_the_twenty_ninth_of_february_ages_on_the_first_of_march():
    assert age_on(date(2020, 2, 29), date(2027, 2, 28)) == 6
    assert age_on(date(2020, 2, 29), date(2027, 3, 1)) == 7


def test_a_child_turning_six_on_the_session_day_may_book_the_six_to_twelve_group():
    assert age_refusal(6, 12, date(2021, 3, 10), date(2027, 3, 10)) is None


def test_a_child_turning_six_the_day_after_the_session_is_too_young():
    assert age_refusal(6, 12, date(2021, 3, 11), date(2027, 3, 10)) is Refusal.TOO_YOUNG


def test_a_child_turning_twelve_on_the_session_day_is_too_old_for_the_six_to_twelve_group():
    assert age_refusal(6, 12, date(2015, 3, 10), date(2027, 3, 10)) is Refusal.TOO_OLD


def test_the_day_before_turning_twelve_the_child_still_fits_the_six_to_twelve_group():
    assert age_refusal(6, 12, date(2015, 3, 11), date(2027, 3, 10)) is None


def test_an_activity_without_a_maximum_age_accepts_any_older_participant():
    assert age_refusal(3, None, date(1950, 1, 1), date(2027, 3, 10)) is None


def test_a_participant_is_an_adult_from_their_eighteenth_birthday():
    assert is_adult(date(2009, 3, 10), date(2027, 3, 10))
    assert not is_adult(date(2009, 3, 11), date(2027, 3, 10))


# Working days and public holidays ---------------------------------------------------------


def test_easter_monday_and_ascension_follow_easter():
    holidays = french_public_holidays(2027)
    assert date(2027, 3, 29) in holidays  # Easter Sunday 2027 is 28 March
    assert date(2027, 5, 6) in holidays  # Ascension, Easter + 39
    assert date(2027, 5, 17) in holidays  # Whit Monday, Easter + 50
    assert date(2027, 5, 8) in holidays
    assert date(2027, 3, 28) not in holidays  # a Sunday, not a holiday of its own


def test_weekends_and_public_holidays_are_not_working_days():
    assert is_working_day(date(2027, 3, 26))  # Friday
    assert not is_working_day(date(2027, 3, 27))  # Saturday
    assert not is_working_day(date(2027, 3, 28))  # Sunday
    assert not is_working_day(date(2027, 3, 29))  # Easter Monday
    assert not is_working_day(date(2026, 5, 8))  # Friday 8 May
    assert is_working_day(date(2027, 3, 30))


def test_calendar_days_before_count_weekends():
    assert days_before(date(2027, 3, 8), 2, working=False) == date(2027, 3, 6)


def test_working_days_before_a_monday_skip_the_weekend():
    assert days_before(date(2027, 3, 8), 1, working=True) == date(2027, 3, 5)
    assert days_before(date(2027, 3, 8), 2, working=True) == date(2027, 3, 4)


def test_working_days_before_skip_easter_monday_and_the_weekend():
    # Tuesday 30 March 2027: Monday 29 is Easter Monday, then the weekend.
    assert days_before(date(2027, 3, 30), 1, working=True) == date(2027, 3, 26)
    assert days_before(date(2027, 3, 30), 2, working=True) == date(2027, 3, 25)


def test_working_days_before_skip_the_eighth_of_may():
    # Monday 11 May 2026: Friday 8 May is a holiday, then the weekend.
    assert days_before(date(2026, 5, 11), 1, working=True) == date(2026, 5, 7)


def test_zero_days_before_is_the_session_day_itself():
    assert days_before(date(2027, 3, 10), 0, working=True) == date(2027, 3, 10)


# Deadlines --------------------------------------------------------------------------------

WEDNESDAY_9 = paris(2027, 3, 10, 9, 0)


def test_a_deadline_without_an_hour_ends_with_the_reference_day():
    deadline = deadline_at(WEDNESDAY_9, days=2, working_days=False, at=None, tz=PARIS)
    assert deadline == paris(2027, 3, 9, 0, 0)  # the whole of Monday 8 is allowed


def test_a_deadline_at_fifteen_the_day_before_allows_fourteen_fifty_nine_and_refuses_fifteen():
    deadline = deadline_at(WEDNESDAY_9, days=1, working_days=False, at=time(15, 0), tz=PARIS)
    assert deadline == paris(2027, 3, 9, 15, 0)
    allowed = lambda now: now < deadline  # noqa: E731 - the services' comparison
    assert allowed(paris(2027, 3, 9, 14, 59))
    assert allowed(paris(2027, 3, 9, 14, 59, 59))
    assert not allowed(paris(2027, 3, 9, 15, 0))


def test_a_deadline_in_working_days_skips_the_weekend_and_easter_monday():
    tuesday = paris(2027, 3, 30, 8, 30)
    deadline = deadline_at(tuesday, days=1, working_days=True, at=time(12, 0), tz=PARIS)
    assert deadline == paris(2027, 3, 26, 12, 0)


def test_a_deadline_in_calendar_days_does_not_skip_holidays():
    tuesday = paris(2027, 3, 30, 8, 30)
    deadline = deadline_at(tuesday, days=1, working_days=False, at=time(12, 0), tz=PARIS)
    assert deadline == paris(2027, 3, 29, 12, 0)


def test_a_deadline_is_never_after_the_session_starts():
    same_day = deadline_at(WEDNESDAY_9, days=0, working_days=False, at=None, tz=PARIS)
    assert same_day == WEDNESDAY_9
    evening = deadline_at(WEDNESDAY_9, days=0, working_days=False, at=time(18, 0), tz=PARIS)
    assert evening == WEDNESDAY_9
    morning = deadline_at(WEDNESDAY_9, days=0, working_days=False, at=time(8, 0), tz=PARIS)
    assert morning == paris(2027, 3, 10, 8, 0)


def test_a_session_start_read_back_in_utc_gives_the_same_local_deadline():
    in_utc = WEDNESDAY_9.astimezone(UTC)
    deadline = deadline_at(in_utc, days=1, working_days=False, at=time(15, 0), tz=PARIS)
    assert deadline == paris(2027, 3, 9, 15, 0)
    assert deadline.utcoffset() == timedelta(hours=1)


def test_a_late_evening_session_in_utc_belongs_to_its_local_day():
    # 23:30 in Paris on Wednesday is already Wednesday 22:30 UTC; in summer, 21:30 UTC.
    late = paris(2027, 7, 7, 23, 30).astimezone(UTC)
    deadline = deadline_at(late, days=1, working_days=False, at=None, tz=PARIS)
    assert deadline == paris(2027, 7, 7, 0, 0)


def test_a_deadline_the_day_before_the_clocks_go_forward_keeps_winter_time():
    # Clocks go forward on Sunday 28 March 2027 at 02:00 (CET → CEST).
    sunday = paris(2027, 3, 28, 10, 0)
    deadline = deadline_at(sunday, days=1, working_days=False, at=time(15, 0), tz=PARIS)
    assert deadline == paris(2027, 3, 27, 15, 0)
    assert deadline.utcoffset() == timedelta(hours=1)
    assert sunday.utcoffset() == timedelta(hours=2)
    assert sunday.astimezone(UTC) - deadline.astimezone(UTC) == timedelta(hours=18)


def test_the_end_of_the_day_the_clocks_go_forward_is_in_summer_time_after_23_hours():
    monday = paris(2027, 3, 29, 9, 0)
    deadline = deadline_at(monday, days=1, working_days=False, at=None, tz=PARIS)
    assert deadline == paris(2027, 3, 29, 0, 0)
    assert deadline.astimezone(UTC) == datetime(2027, 3, 28, 22, 0, tzinfo=UTC)
    start_of_sunday = paris(2027, 3, 28, 0, 0).astimezone(UTC)
    assert deadline.astimezone(UTC) - start_of_sunday == timedelta(hours=23)


def test_a_deadline_at_fifteen_on_the_day_the_clocks_go_back_is_in_winter_time():
    # Clocks go back on Sunday 31 October 2027 at 03:00 (CEST → CET).
    monday = paris(2027, 11, 2, 9, 0)
    deadline = deadline_at(monday, days=2, working_days=False, at=time(15, 0), tz=PARIS)
    assert deadline.astimezone(UTC) == datetime(2027, 10, 31, 14, 0, tzinfo=UTC)


# Openings ---------------------------------------------------------------------------------

ACTIVITY_OPENS = paris(2027, 3, 1, 8, 0)
WAVES = {"resident": paris(2027, 2, 22, 8, 0), "external": paris(2027, 3, 8, 8, 0)}


def test_residents_open_with_their_wave():
    assert opening_for(ACTIVITY_OPENS, WAVES, "resident") == paris(2027, 2, 22, 8, 0)


def test_other_towns_open_a_fortnight_later():
    assert opening_for(ACTIVITY_OPENS, WAVES, "external") == paris(2027, 3, 8, 8, 0)


def test_a_group_without_a_wave_opens_with_the_activity():
    assert opening_for(ACTIVITY_OPENS, WAVES, "staff") == ACTIVITY_OPENS
    assert opening_for(ACTIVITY_OPENS, WAVES, None) == ACTIVITY_OPENS


def test_an_activity_without_an_opening_is_open_unless_the_group_has_a_wave():
    assert opening_for(None, {}, "resident") is None
    assert opening_for(None, WAVES, "external") == paris(2027, 3, 8, 8, 0)


# Tariffs ----------------------------------------------------------------------------------

BANDS = [
    TariffBand(150, max_quotient=600, max_age=6),
    TariffBand(300, max_quotient=600),
    TariffBand(500, min_quotient=601, max_quotient=1000),
]


@pytest.mark.parametrize(
    ("quotient", "age", "price"),
    [
        (0, 4, 150),
        (600, 5, 150),  # the quotient maximum is inclusive
        (600, 6, 300),  # the age maximum is exclusive: six is no longer under six
        (601, 4, 500),
        (1000, 9, 500),
        (1001, 9, 800),  # above every band: the base price
    ],
)
def test_the_first_tariff_band_matching_quotient_and_age_sets_the_price(quotient, age, price):
    assert price_for(800, BANDS, quotient=quotient, age=age) == price


def test_a_household_without_a_known_quotient_pays_the_base_price():
    assert price_for(800, BANDS, quotient=None, age=4) == 800


def test_an_age_only_band_applies_whatever_the_quotient():
    bands = [TariffBand(400, min_age=3, max_age=6)]
    assert price_for(800, bands, quotient=None, age=3) == 400
    assert price_for(800, bands, quotient=2000, age=5) == 400
    assert price_for(800, bands, quotient=2000, age=6) == 800


def test_without_tariff_bands_everyone_pays_the_base_price():
    assert price_for(800, [], quotient=300, age=4) == 800


# Overlap ----------------------------------------------------------------------------------


def wednesday(start: str, end: str) -> tuple[datetime, datetime]:
    """A slot on Wednesday 10 March 2027, "09:00" to "17:00", in Paris."""
    day = date(2027, 3, 10)
    return (
        datetime.combine(day, time.fromisoformat(start), tzinfo=PARIS),
        datetime.combine(day, time.fromisoformat(end), tzinfo=PARIS),
    )


def test_sessions_sharing_a_moment_overlap():
    assert overlaps(*wednesday("09:00", "17:00"), *wednesday("12:00", "14:00"))
    assert overlaps(*wednesday("09:00", "12:00"), *wednesday("11:00", "14:00"))


def test_a_session_ending_when_the_next_starts_does_not_overlap_it():
    assert not overlaps(*wednesday("07:00", "08:30"), *wednesday("08:30", "12:00"))
    assert not overlaps(*wednesday("08:30", "12:00"), *wednesday("07:00", "08:30"))


def test_overlap_compares_instants_not_wall_clocks():
    # 10:00 in Paris is 09:00 UTC in winter: a 09:30-10:30 UTC slot overlaps 10:00-11:00 Paris.
    assert overlaps(
        paris(2027, 3, 10, 10),
        paris(2027, 3, 10, 11),
        datetime(2027, 3, 10, 9, 30, tzinfo=UTC),
        datetime(2027, 3, 10, 10, 30, tzinfo=UTC),
    )
