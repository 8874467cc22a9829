"""Working-time arithmetic on a `Calendar`: deadlines counted in working hours or days.

Pure, like `routing.hours`: the instant is a parameter. Working time is the calendar's
opening periods (so the lunch break does not count), on its working weekdays, minus its
holidays, plus its make-up working days (a Saturday worked in exchange for a bridge day).

- `add_working_hours(calendar, start, hours)`: the instant `hours` of working time after
  `start` (time before the next opening does not count: a call at 20:00 starts counting
  at 07:00 the next working day). A call-back is overdue once this has passed.
- `add_working_days(calendar, start, days)`: the end of the `days`-th working day after
  the day of `start` (the day of receipt is not counted, as administrative deadlines in
  Vietnam are counted). A case's deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from routing.hours import WEEKDAYS, Calendar

SEARCH_DAYS = 3660
"""A calendar with no working day in ten years has none: give up rather than loop."""


class NoWorkingTimeError(ValueError):
    """The calendar has no working time to count (no working weekday, no period)."""


def is_working_day(calendar: Calendar, day: date) -> bool:
    """Is `day` (local to the calendar) a working day: a working weekday that is no
    holiday, or a make-up working day?"""
    if any(d.date == day for d in calendar.extra_working_days):
        return True
    if any(h.date == day for h in calendar.holidays):
        return False
    return WEEKDAYS[day.weekday()] in calendar.days


def working_day_hours(calendar: Calendar) -> float:
    """How many working hours one working day has (the periods put together)."""
    return sum(
        (_seconds(p.end) - _seconds(p.start)) for p in calendar.periods
    ) / 3600


def add_working_hours(calendar: Calendar, start: datetime, hours: float) -> datetime:
    """The aware instant at which `hours` of working time have passed since `start`."""
    if hours < 0:
        raise ValueError(f"hours must not be negative, got {hours}")
    remaining = timedelta(hours=hours)
    for begin, end in _working_spans(calendar, start):
        begin = max(begin, start)
        if begin + remaining <= end:
            return begin + remaining
        remaining -= end - begin
    raise NoWorkingTimeError(f"no working time in the {SEARCH_DAYS} days after {start}")


def add_working_days(calendar: Calendar, start: datetime, days: int) -> datetime:
    """The end of the `days`-th working day after the (local) day of `start`: e.g. a
    case received on a Friday with 1 day is due Monday at closing time (17:00). With 0,
    the end of the day of `start` if it is a working day, else of the next one."""
    if days < 0:
        raise ValueError(f"days must not be negative, got {days}")
    if start.tzinfo is None:
        raise ValueError("add_working_days needs an aware datetime")
    if not calendar.periods:
        raise NoWorkingTimeError("the calendar has no opening periods")
    zone = ZoneInfo(calendar.timezone)
    received = start.astimezone(zone).date()
    first = received if days == 0 else received + timedelta(days=1)
    closing = max(p.end for p in calendar.periods)
    counted = 0
    for offset in range(SEARCH_DAYS):
        day = first + timedelta(days=offset)
        if is_working_day(calendar, day):
            counted += 1
            if counted >= days:
                return datetime.combine(day, closing, zone)
    raise NoWorkingTimeError(f"no working day in the {SEARCH_DAYS} days after {start}")


def working_hours_between(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Working hours from `start` to `end` (0 if `end` is not after `start`)."""
    if end <= start:
        return 0.0
    total = timedelta()
    for begin, stop in _working_spans(calendar, start):
        if begin >= end:
            break
        total += min(stop, end) - max(begin, start)
    return total.total_seconds() / 3600


def _working_spans(calendar: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The calendar's working periods as aware instants, from the day of `start` on,
    each ending after `start`."""
    if start.tzinfo is None:
        raise ValueError("working time needs an aware datetime")
    if not calendar.periods:
        raise NoWorkingTimeError("the calendar has no opening periods")
    zone = ZoneInfo(calendar.timezone)
    day = start.astimezone(zone).date()
    periods = sorted(calendar.periods, key=lambda p: p.start)
    for offset in range(SEARCH_DAYS):
        current = day + timedelta(days=offset)
        if not is_working_day(calendar, current):
            continue
        for period in periods:
            end = datetime.combine(current, period.end, zone)
            if end > start:
                yield datetime.combine(current, period.start, zone), end


def _seconds(moment: time) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
