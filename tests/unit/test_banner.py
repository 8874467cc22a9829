"""The `make run` banner says whether a test call now reaches the menu, and if not, when
the hotline opens (from the YAML's hours and holidays, at the clock's time) and how to
try it with a copy of the YAML."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from hotline import cli
from hotline.settings import Settings
from routing.config import HotlineConfig, load_config
from routing.hours import Calendar, Holiday, Period, next_opening

ROOT = Path(__file__).resolve().parents[2]
ICT = timezone(timedelta(hours=7))


@pytest.fixture(scope="module")
def config() -> HotlineConfig:
    return load_config(ROOT / "config" / "hotline.yaml")


def banner(config: HotlineConfig, now: datetime, capsys: pytest.CaptureFixture[str]) -> str:
    cli._print_banner(Settings(), config, 5062, now=now)
    return capsys.readouterr().out


def now_line(out: str) -> str:
    [line] = [line for line in out.splitlines() if line.startswith("  now ")]
    return line.split(": ", 1)[1]


@pytest.mark.parametrize(("now", "said"), [
    (datetime(2026, 12, 5, 20, 0, tzinfo=ICT),
     "closed (not a working day), opens Mon 07/12 07:00 ICT"),
    (datetime(2026, 12, 7, 17, 0, tzinfo=ICT),  # the afternoon period has just ended
     "closed (outside office hours), opens Tue 08/12 07:00 ICT"),
    (datetime(2026, 12, 8, 12, 0, tzinfo=ICT), "closed (outside office hours), opens Tue "
                                               "08/12 13:30 ICT"),
    (datetime(2026, 9, 1, 9, 0, tzinfo=ICT),  # Quốc khánh, two days
     "closed (holiday: Quốc khánh), opens Thu 03/09 07:00 ICT"),
])
def test_the_banner_says_closed_and_when_it_opens(
    config: HotlineConfig, now: datetime, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = banner(config, now, capsys)
    assert now_line(out) == said + ': a test call hears only "closed" and can leave a message'
    assert "HOTLINE_CONFIG=var/hotline-anytime.yaml make run" in out
    assert '  hours          : Mon, Tue, Wed, Thu, Fri 07:00-11:30, 13:30-17:00 ICT' in out


def test_the_banner_says_open_in_office_hours(
    config: HotlineConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    out = banner(config, datetime(2026, 12, 7, 2, 0, tzinfo=UTC), capsys)  # 09:00
    assert now_line(out) == "open: a test call reaches the menu"
    assert "HOTLINE_CONFIG" not in out


def test_next_opening_skips_holidays_and_takes_make_up_days() -> None:
    calendar = Calendar(
        periods=[Period(start=time(7), end=time(11, 30))],
        holidays=[Holiday(date=date(2026, 12, 7), name="Nghỉ bù")],
        extra_working_days=[Holiday(date=date(2026, 12, 12), name="Làm bù")],
    )
    friday_evening = datetime(2026, 12, 4, 18, 0, tzinfo=ICT)
    assert next_opening(calendar, friday_evening) == datetime(2026, 12, 8, 7, 0, tzinfo=ICT)
    saturday = datetime(2026, 12, 11, 18, 0, tzinfo=ICT)
    assert next_opening(calendar, saturday) == datetime(2026, 12, 12, 7, 0, tzinfo=ICT)
    open_now = datetime(2026, 12, 8, 8, 0, tzinfo=ICT)
    assert next_opening(calendar, open_now) == open_now
    assert next_opening(Calendar(days=[]), friday_evening) is None


def test_the_banner_gives_the_console_url_and_how_to_make_the_first_admin(
    config: HotlineConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    out = banner(config, datetime(2026, 12, 7, 2, 0, tzinfo=UTC), capsys)
    assert ("  console        : http://127.0.0.1:8080/  (first admin: `hotline users add admin"
            " --role admin`)") in out
