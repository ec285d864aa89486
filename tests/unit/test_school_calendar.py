"""Public and school holidays: the libraries' data, as periods per zone."""

from __future__ import annotations

from datetime import date

import pytest

from booking.rules import french_public_holidays
from booking.school_calendar import (
    SCHOOL_HOLIDAY_KINDS,
    SchoolHoliday,
    public_holidays,
    school_holidays,
)


def test_easter_monday_and_ascension_2027_have_their_english_names():
    holidays = public_holidays(2027)

    assert holidays[date(2027, 3, 29)] == "Easter Monday"
    assert holidays[date(2027, 5, 6)] == "Ascension Day"
    assert holidays[date(2027, 7, 14)] == "National Day"
    assert len(holidays) == 11


def test_a_caller_changing_the_holidays_does_not_change_them_for_the_next():
    public_holidays(2027).clear()

    assert date(2027, 3, 29) in public_holidays(2027)


def test_the_rules_read_the_same_public_holidays():
    assert french_public_holidays(2027) == frozenset(public_holidays(2027))


def test_zone_a_spring_holidays_2027_run_from_10_to_25_april():
    spring = [h for h in school_holidays("A", 2027, 2027) if h.kind == "printemps"]

    assert spring == [SchoolHoliday("printemps", date(2027, 4, 10), date(2027, 4, 25))]


def test_each_zone_has_its_own_dates():
    def spring(zone: str) -> SchoolHoliday:
        return next(h for h in school_holidays(zone, 2027, 2027) if h.kind == "printemps")

    assert spring("B").first == date(2027, 4, 17)
    assert spring("c") == SchoolHoliday("printemps", date(2027, 4, 3), date(2027, 4, 18))


def test_a_year_has_every_kind_of_school_holiday_in_date_order():
    holidays = school_holidays("A", 2027, 2027)

    assert {holiday.kind for holiday in holidays} == set(SCHOOL_HOLIDAY_KINDS)
    assert [holiday.first for holiday in holidays] == sorted(h.first for h in holidays)
    assert all(holiday.first <= holiday.last for holiday in holidays)


def test_the_christmas_holidays_across_new_year_are_one_period_in_both_years():
    christmas = SchoolHoliday("noel", date(2026, 12, 19), date(2027, 1, 3))

    assert christmas in school_holidays("A", 2026, 2026)
    assert christmas in school_holidays("A", 2027, 2027)
    assert school_holidays("A", 2026, 2027).count(christmas) == 1


def test_no_zone_has_no_school_holidays():
    assert school_holidays(None, 2027, 2027) == ()


def test_years_the_data_does_not_know_give_what_it_knows():
    assert school_holidays("A", 2200, 2201) == ()
    assert school_holidays("A", 1900, 1900) == ()
    known = school_holidays("A", 2027, 2200)
    assert known[0].first.year == 2026  # Christmas 2026-2027
    assert known[-1].last.year < 2200


def test_an_unknown_zone_is_refused():
    with pytest.raises(ValueError, match="zone"):
        school_holidays("D", 2027, 2027)
