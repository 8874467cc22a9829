"""Business hours, holidays and make-up working days: is a branch open at an instant?

Pure: the instant is a parameter (aware datetime), the answer a value. Times are
local to the calendar's time zone (Asia/Ho_Chi_Minh by default); lunar holidays
(Tết, Giỗ Tổ Hùng Vương) are given as solar dates per year in the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from routing.text import Name

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_period(value: object) -> object:
    if isinstance(value, str) and "-" in value:
        start, _, end = value.partition("-")
        return {"start": start.strip(), "end": end.strip()}
    return value


class Period(BaseModel):
    """One opening period of a day, e.g. "07:00-11:30" ("24:00" means midnight)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: time
    end: time

    @field_validator("start", "end", mode="before")
    @classmethod
    def _midnight(cls, value: object) -> object:
        return time.max if value == "24:00" else value

    @model_validator(mode="after")
    def _starts_before_it_ends(self) -> Period:
        if self.start >= self.end:
            raise ValueError(
                f"period {self.start:%H:%M}-{self.end:%H:%M} ends before it starts "
                "(split a period that crosses midnight in two)"
            )
        return self

    def contains(self, moment: time) -> bool:
        return self.start <= moment < self.end


class Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    date: date
    name: Name


class Calendar(BaseModel):
    """When a branch takes calls: weekly periods, minus holidays, plus make-up days."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    timezone: str = "Asia/Ho_Chi_Minh"
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    periods: list[Annotated[Period, BeforeValidator(parse_period)]] = Field(
        default_factory=lambda: [
            Period(start=time(7, 0), end=time(11, 30)),
            Period(start=time(13, 30), end=time(17, 0)),
        ]
    )
    holidays: list[Holiday] = Field(default_factory=list)
    extra_working_days: list[Holiday] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Ho_Chi_Minh)") from exc
        return value


@dataclass(frozen=True)
class OpenState:
    open: bool
    reason: Literal["open", "closed_hours", "closed_day", "holiday"]
    holiday: str | None = None


def open_state(calendar: Calendar, at: datetime) -> OpenState:
    """Is `calendar` open at the aware instant `at`?"""
    if at.tzinfo is None:
        raise ValueError("open_state needs an aware datetime")
    local = at.astimezone(ZoneInfo(calendar.timezone))
    today = local.date()
    holiday = next((h for h in calendar.holidays if h.date == today), None)
    make_up = any(d.date == today for d in calendar.extra_working_days)
    if holiday is not None and not make_up:
        return OpenState(False, "holiday", holiday.name)
    if not make_up and WEEKDAYS[local.weekday()] not in calendar.days:
        return OpenState(False, "closed_day")
    moment = local.time().replace(tzinfo=None)
    if any(p.contains(moment) for p in calendar.periods):
        return OpenState(True, "open")
    return OpenState(False, "closed_hours")


def next_opening(calendar: Calendar, at: datetime, *, within_days: int = 366) -> datetime | None:
    """When `calendar` next opens from the aware instant `at`: `at` itself if it is open
    then, else the start of its next period (in the calendar's zone); None if it does not
    open in the next `within_days` days."""
    if open_state(calendar, at).open:
        return at
    zone = ZoneInfo(calendar.timezone)
    first_day = at.astimezone(zone).date()
    starts = sorted(p.start for p in calendar.periods)
    for offset in range(within_days + 1):
        day = date.fromordinal(first_day.toordinal() + offset)
        for start in starts:
            candidate = datetime.combine(day, start, zone)
            if candidate > at and open_state(calendar, candidate).open:
                return candidate
    return None
