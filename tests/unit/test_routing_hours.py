"""Business hours, holidays and make-up days, decided without a PBX."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from routing.config import HoursOverride, load_config
from routing.hours import Calendar, Holiday, open_state

# 2026-11-23 is a Monday; Vietnam is UTC+7 all year.
MONDAY = date(2026, 11, 23)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    """A Ho Chi Minh City wall-clock time, as the aware UTC instant a PBX would give."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=UTC) - timedelta(hours=7)


DEFAULT = Calendar()


@pytest.mark.parametrize(
    ("hh", "mm", "is_open"),
    [(6, 59, False), (7, 0, True), (11, 29, True), (11, 30, False), (12, 0, False),
     (13, 29, False), (13, 30, True), (16, 59, True), (17, 0, False), (23, 0, False)],
)
def test_default_hours_are_the_morning_and_afternoon_sessions(
    hh: int, mm: int, is_open: bool
) -> None:
    state = open_state(DEFAULT, at(MONDAY, hh, mm))
    assert state.open is is_open
    assert state.reason == ("open" if is_open else "closed_hours")


@pytest.mark.parametrize("offset", [5, 6])
def test_weekend_is_closed_all_day(offset: int) -> None:
    state = open_state(DEFAULT, at(MONDAY + timedelta(days=offset), 9))
    assert (state.open, state.reason) == (False, "closed_day")


def test_holiday_closes_a_working_day_and_names_it() -> None:
    calendar = Calendar(holidays=[Holiday(date=MONDAY, name="Tết")])
    state = open_state(calendar, at(MONDAY, 9))
    assert (state.open, state.reason, state.holiday) == (False, "holiday", "Tết")
    assert open_state(calendar, at(MONDAY + timedelta(days=1), 9)).open


def test_make_up_saturday_opens_with_the_usual_sessions() -> None:
    saturday = MONDAY + timedelta(days=5)
    calendar = Calendar(extra_working_days=[Holiday(date=saturday, name="Làm bù")])
    assert open_state(calendar, at(saturday, 9)).open
    assert not open_state(calendar, at(saturday, 12)).open
    assert not open_state(calendar, at(saturday + timedelta(days=1), 9)).open


def test_local_date_not_utc_date_decides_the_holiday() -> None:
    # 06:30 local on the holiday is still the previous day in UTC.
    calendar = Calendar(holidays=[Holiday(date=MONDAY, name="Lễ")])
    instant = at(MONDAY, 6, 30)
    assert instant.astimezone(UTC).date() == MONDAY - timedelta(days=1)
    assert open_state(calendar, instant).reason == "holiday"


def test_round_the_clock_period_covers_midnight_to_midnight() -> None:
    calendar = Calendar.model_validate(
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "periods": ["00:00-24:00"]}
    )
    assert open_state(calendar, at(MONDAY, 0, 0)).open
    assert open_state(calendar, at(MONDAY, 23, 59)).open


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        open_state(DEFAULT, datetime(2026, 11, 23, 9))


def test_branch_override_inherits_what_it_leaves_out() -> None:
    config = load_config("config/hotline.yaml")
    branch = config.branches[0].model_copy(update={"hours": HoursOverride(days=["sat"])})
    calendar = config.calendar(branch)
    assert calendar.days == ["sat"]
    assert calendar.periods == config.hours.periods
    assert calendar.holidays == config.hours.holidays
    assert config.calendar(config.branches[1]) == config.hours


def test_shipped_calendar_closes_tet_2027() -> None:
    config = load_config("config/hotline.yaml")
    state = open_state(config.calendar(), at(date(2027, 2, 8), 9))
    assert state.reason == "holiday" and state.holiday and "Tết" in state.holiday


def test_branch_override_of_periods_and_holidays_gives_a_working_calendar() -> None:
    config = load_config("config/hotline.yaml")
    override = HoursOverride.model_validate(
        {"periods": ["08:00-10:00"], "holidays": [{"date": "2026-11-24", "name": "Lễ"}],
         "extra_working_days": [{"date": "2026-11-28", "name": "Làm bù"}]}
    )
    branch = config.branches[0].model_copy(update={"hours": override})
    calendar = config.calendar(branch)
    assert open_state(calendar, at(MONDAY, 9)).open
    assert not open_state(calendar, at(MONDAY, 10, 30)).open
    assert open_state(calendar, at(MONDAY + timedelta(days=1), 9)).reason == "holiday"
    assert open_state(calendar, at(MONDAY + timedelta(days=5), 9)).open
