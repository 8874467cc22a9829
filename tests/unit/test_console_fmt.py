"""Times and numbers as the console writes them: dd/mm/yyyy in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from console.fmt import date_vn, datetime_vn, number_vn, weekday_vn


def test_a_utc_evening_is_the_next_day_in_the_province() -> None:
    at = datetime(2026, 12, 31, 18, 30, tzinfo=UTC)  # 01:30 on 1 January in ICT
    assert date_vn(at) == "01/01/2027"
    assert datetime_vn(at) == "01/01/2027 01:30"
    assert weekday_vn(at) == "Thứ Sáu"


def test_a_plain_date_and_no_date() -> None:
    assert date_vn(date(2026, 3, 9)) == "09/03/2026"
    assert date_vn(None) == "" and datetime_vn(None) == ""


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        datetime_vn(datetime(2026, 1, 1, 9, 0))


def test_thousands_are_separated_by_dots() -> None:
    assert number_vn(1825000) == "1.825.000" and number_vn(273) == "273"
