"""What the `make run` banner says about the hotline's hours: its weekly hours, whether it
takes calls now, and if not when it opens and how to try the menu anyway.

A first test call outside Vietnamese office hours (most of a European or American day)
hears only "closed": the banner says so before the call is made. Trying the menu now
takes a copy of the YAML with wider hours, named by the existing `HOTLINE_CONFIG`
setting; nothing here can open the real hotline.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from routing.config import HotlineConfig
from routing.hours import Calendar, OpenState, next_opening, open_state

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_ZONE_LABELS = {"Asia/Ho_Chi_Minh": "ICT"}
_TRY_COPY = "var/hotline-anytime.yaml"


def banner_hours(config: HotlineConfig, now: datetime, config_path: Path) -> list[str]:
    """The banner's lines about hours at the aware instant `now`."""
    calendar = config.calendar()
    lines = [f"  hours          : {_weekly(calendar)}"]
    # As the call flow decides: the menu plays if any branch takes calls now.
    calendars = [config.calendar(branch) for branch in config.branches]
    if any(open_state(c, now).open for c in calendars):
        return [*lines, "  now            : open: a test call reaches the menu"]
    openings = [t for c in calendars if (t := next_opening(c, now)) is not None]
    opens = f", opens {_when(min(openings), calendar)}" if openings else ", opens not this year"
    why = _why(open_state(calendar, now))
    return [
        *lines,
        f"  now            : closed ({why}){opens}: a test call hears only \"closed\" "
        "and can leave a message",
        f"  to try it now  : copy {config_path} to {_TRY_COPY}; in its hours: set",
        "                   days: [mon, tue, wed, thu, fri, sat, sun], periods: "
        "[\"00:00-24:00\"], holidays: []",
        "                   (and in any branch's own hours:), then run",
        f"                   HOTLINE_CONFIG={_TRY_COPY} make run",
    ]


def _weekly(calendar: Calendar) -> str:
    days = ", ".join(day.capitalize() for day in calendar.days) or "no day"
    periods = ", ".join(
        f"{p.start:%H:%M}-{'24:00' if p.end == time.max else f'{p.end:%H:%M}'}"
        for p in calendar.periods
    )
    holidays = f", {len(calendar.holidays)} holidays" if calendar.holidays else ""
    return f"{days} {periods} {_zone(calendar)}{holidays}"


def _why(state: OpenState) -> str:
    match state.reason:
        case "holiday":
            return f"holiday: {state.holiday}"
        case "closed_day":
            return "not a working day"
        case "closed_hours":
            return "outside office hours"
        case _:
            return "no branch takes calls now"


def _when(moment: datetime, calendar: Calendar) -> str:
    local = moment.astimezone(ZoneInfo(calendar.timezone))
    return f"{_DAYS[local.weekday()]} {local:%d/%m %H:%M} {_zone(calendar)}"


def _zone(calendar: Calendar) -> str:
    return _ZONE_LABELS.get(calendar.timezone, calendar.timezone)
