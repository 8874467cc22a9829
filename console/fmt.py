"""How the console writes times and numbers: Vietnamese habits, the province's time zone.

Times are stored in UTC; people read them in Asia/Ho_Chi_Minh as dd/mm/yyyy.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")


def local(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()}: times are stored in UTC")
    return at.astimezone(LOCAL)


def date_vn(at: datetime | date | None) -> str:
    """"07/12/2026"; an empty string for no date."""
    if at is None:
        return ""
    day = local(at) if isinstance(at, datetime) else at
    return day.strftime("%d/%m/%Y")


def datetime_vn(at: datetime | None) -> str:
    """"07/12/2026 21:46" in the province's time."""
    return "" if at is None else local(at).strftime("%d/%m/%Y %H:%M")


def weekday_vn(at: datetime) -> str:
    return WEEKDAYS[local(at).weekday()]


def number_vn(value: int) -> str:
    """Thousands separated by dots, as Vietnamese write them: 1.234.567."""
    return f"{value:,}".replace(",", ".")


FILTERS = {
    "date_vn": date_vn,
    "datetime_vn": datetime_vn,
    "weekday_vn": weekday_vn,
    "number_vn": number_vn,
}
