"""Working-time arithmetic: deadlines in working hours and days on the YAML's calendar."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from routing.hours import Calendar, Holiday
from routing.workdays import (
    NoWorkingTimeError,
    add_working_days,
    add_working_hours,
    is_working_day,
    working_day_hours,
    working_hours_between,
)

ICT = ZoneInfo("Asia/Ho_Chi_Minh")
# Mon-Fri 07:00-11:30 and 13:30-17:00 (the default), New Year's Day 2027 (a Friday)
# off, and Saturday 2027-01-09 worked in exchange.
CALENDAR = Calendar(
    holidays=[Holiday(date=date(2027, 1, 1), name="Tết Dương lịch"),
              Holiday(date=date(2026, 12, 24), name="Nghỉ bù")],
    extra_working_days=[Holiday(date=date(2027, 1, 9), name="Làm bù")],
)


def at(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=ICT)


def test_a_default_working_day_has_eight_hours() -> None:
    assert working_day_hours(CALENDAR) == 8.0


def test_working_hours_inside_one_period_add_plainly() -> None:
    assert add_working_hours(CALENDAR, at("2026-12-07", "08:00"), 2) == at("2026-12-07", "10:00")


def test_the_lunch_break_does_not_count() -> None:
    assert add_working_hours(CALENDAR, at("2026-12-07", "11:00"), 1) == at("2026-12-07", "14:00")


def test_a_start_during_lunch_counts_from_the_afternoon() -> None:
    assert add_working_hours(CALENDAR, at("2026-12-07", "12:15"), 1) == at("2026-12-07", "14:30")


def test_one_working_day_of_hours_is_the_same_time_next_working_day() -> None:
    assert add_working_hours(CALENDAR, at("2026-12-07", "15:00"), 8) == at("2026-12-08", "15:00")


def test_a_call_in_the_evening_starts_counting_at_the_next_opening() -> None:
    assert add_working_hours(CALENDAR, at("2026-12-07", "20:00"), 8) == at("2026-12-08", "17:00")


def test_the_weekend_is_skipped() -> None:
    assert add_working_hours(CALENDAR, at("2026-12-11", "16:00"), 2) == at("2026-12-14", "08:00")


def test_a_holiday_is_skipped() -> None:
    # Wednesday 23rd at 16:30; Thursday 24th is a holiday.
    assert add_working_hours(CALENDAR, at("2026-12-23", "16:30"), 1) == at("2026-12-25", "07:30")


def test_hours_cross_the_new_year_over_its_holiday_and_weekend() -> None:
    # Thursday 31 Dec 16:00 + 2 h: 1 h that day, Fri 1 Jan off, Sat-Sun off, Mon 07:00 +1 h.
    assert add_working_hours(CALENDAR, at("2026-12-31", "16:00"), 2) == at("2027-01-04", "08:00")


def test_a_make_up_saturday_counts_as_working_time() -> None:
    assert add_working_hours(CALENDAR, at("2027-01-08", "16:30"), 1) == at("2027-01-09", "07:30")


def test_an_aware_start_in_another_zone_is_counted_in_the_calendars_zone() -> None:
    start = at("2026-12-07", "08:00").astimezone(ZoneInfo("UTC"))
    assert add_working_hours(CALENDAR, start, 1) == at("2026-12-07", "09:00")


def test_zero_hours_on_a_closed_instant_is_the_next_opening() -> None:
    assert add_working_hours(CALENDAR, at("2026-12-12", "10:00"), 0) == at("2026-12-14", "07:00")


def test_working_days_count_from_the_day_after_receipt_to_closing_time() -> None:
    assert add_working_days(CALENDAR, at("2026-12-07", "09:00"), 1) == at("2026-12-08", "17:00")


def test_ten_working_days_skip_weekends_and_holidays() -> None:
    # Mon 14 Dec: 15,16,17,18, 21,22,23, (24 off) 25, 28,29 -> Tue 29 Dec.
    assert add_working_days(CALENDAR, at("2026-12-14", "10:00"), 10) == at("2026-12-29", "17:00")


def test_working_days_cross_the_year_and_count_the_make_up_saturday() -> None:
    # Thu 31 Dec: (1 Jan off) 4,5,6,7,8, Sat 9 (make-up) -> the 6th is Saturday 9 Jan.
    assert add_working_days(CALENDAR, at("2026-12-31", "10:00"), 6) == at("2027-01-09", "17:00")


def test_a_case_received_on_a_saturday_counts_from_monday() -> None:
    assert add_working_days(CALENDAR, at("2026-12-12", "10:00"), 1) == at("2026-12-14", "17:00")


def test_zero_working_days_is_the_end_of_the_same_or_next_working_day() -> None:
    assert add_working_days(CALENDAR, at("2026-12-07", "09:00"), 0) == at("2026-12-07", "17:00")
    assert add_working_days(CALENDAR, at("2026-12-12", "09:00"), 0) == at("2026-12-14", "17:00")


def test_make_up_day_beats_a_holiday_and_weekday_rules() -> None:
    assert is_working_day(CALENDAR, date(2027, 1, 9))
    assert not is_working_day(CALENDAR, date(2027, 1, 1))
    assert not is_working_day(CALENDAR, date(2027, 1, 10))


def test_working_hours_between_leave_out_lunch_nights_and_weekends() -> None:
    assert working_hours_between(CALENDAR, at("2026-12-11", "11:00"),
                                 at("2026-12-14", "08:00")) == 5.0
    assert working_hours_between(CALENDAR, at("2026-12-14", "08:00"),
                                 at("2026-12-14", "07:00")) == 0.0


def test_working_hours_between_inverts_add_working_hours() -> None:
    start = at("2026-12-30", "15:45")
    for hours in (0.5, 3, 8, 17.25, 40):
        end = add_working_hours(CALENDAR, start, hours)
        assert working_hours_between(CALENDAR, start, end) == pytest.approx(hours)


def test_a_calendar_without_working_days_raises_instead_of_looping() -> None:
    never = Calendar(days=[])
    with pytest.raises(NoWorkingTimeError):
        add_working_hours(never, at("2026-12-07", "08:00"), 1)
    with pytest.raises(NoWorkingTimeError):
        add_working_days(never, at("2026-12-07", "08:00"), 1)


def test_naive_and_negative_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_working_hours(CALENDAR, datetime(2026, 12, 7, 8), 1)
    with pytest.raises(ValueError, match="negative"):
        add_working_days(CALENDAR, at("2026-12-07", "08:00"), -1)


def test_the_yamls_deadlines_use_its_settings_and_hours() -> None:
    from routing.config import load_config
    from routing.deadlines import callback_overdue_at, case_deadline

    config = load_config("config/hotline.yaml")
    # Friday 11 Dec 2026 at 16:00: one working day (8 h) later is Monday 16:00; ten
    # working days from Monday 14th end on Friday 25th at closing.
    assert callback_overdue_at(config)(at("2026-12-11", "16:00")) == at("2026-12-14", "16:00")
    assert case_deadline(config)(at("2026-12-11", "16:00")) == at("2026-12-25", "17:00")
