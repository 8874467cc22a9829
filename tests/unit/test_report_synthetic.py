"""The synthetic month behind docs/example-report (scripts/synthetic_month.py): seeded, so
the example can be regenerated, and shaped like real traffic (what the report must show)."""

from __future__ import annotations

from collections import Counter
from datetime import date, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calllog.model import Callback, CallRecord, Outcome, SurveyResult
from routing.config import HotlineConfig, load_config
from scripts.synthetic_month import synthetic_month

ROOT = Path(__file__).resolve().parents[2]
ICT = ZoneInfo("Asia/Ho_Chi_Minh")
FIRST, LAST = date(2026, 9, 1), date(2026, 9, 30)
HOLIDAYS = {date(2026, 9, 1), date(2026, 9, 2)}


@pytest.fixture(scope="module")
def config() -> HotlineConfig:
    return load_config(ROOT / "config" / "hotline.yaml")


@pytest.fixture(scope="module")
def calls(config: HotlineConfig) -> list[CallRecord]:
    return synthetic_month(config, FIRST, LAST, seed=2026)[0]


def local_day(call: CallRecord) -> date:
    return call.started_at.astimezone(ICT).date()


def test_the_same_seed_gives_the_same_month(config: HotlineConfig) -> None:
    assert synthetic_month(config, FIRST, LAST, 2026) == synthetic_month(config, FIRST, LAST, 2026)
    assert synthetic_month(config, FIRST, LAST, 7)[0] != synthetic_month(config, FIRST, LAST, 8)[0]


def test_a_few_hundred_calls_in_the_month_by_start_time(calls: list[CallRecord]) -> None:
    assert 300 <= len(calls) <= 600
    assert {local_day(c) for c in calls} <= {date(2026, 9, d) for d in range(1, 31)}
    assert [c.started_at for c in calls] == sorted(c.started_at for c in calls)
    assert len({c.call_id for c in calls}) == len(calls)


def test_holidays_and_weekends_get_the_closed_message(calls: list[CallRecord]) -> None:
    off = [c for c in calls if local_day(c) in HOLIDAYS or local_day(c).weekday() >= 5]
    assert off
    assert {c.outcome for c in off} == {Outcome.CLOSED}
    assert all(c.branch_key is None and c.callback is not None for c in off)


def test_working_days_peak_in_office_hours(calls: list[CallRecord]) -> None:
    hours = Counter(c.started_at.astimezone(ICT).hour for c in calls
                    if local_day(c) not in HOLIDAYS and local_day(c).weekday() < 5)
    assert hours[9] > 3 * hours[12] and hours[15] > 3 * hours[18]


def test_every_kind_of_call_the_report_counts(calls: list[CallRecord]) -> None:
    assert set(Outcome) - {c.outcome for c in calls} == set()
    assert {c.callback for c in calls} == {None, Callback.PENDING, Callback.DONE}
    assert {c.survey for c in calls} == {None, *SurveyResult}
    assert {c.survey_score for c in calls} == {None, 1, 2, 3, 4, 5}
    spans = [c for c in calls if c.ended_at and c.ended_at.astimezone(ICT).date() != local_day(c)]
    assert [c.started_at.astimezone(ICT).time() for c in spans] == [time(23, 58, 40)]


def test_connected_calls_have_consistent_times(calls: list[CallRecord]) -> None:
    for c in calls:
        if c.outcome == Outcome.CONNECTED:
            assert c.bridged_at and c.ended_at and c.started_at < c.bridged_at < c.ended_at
            assert c.branch_key is not None and c.desk_answered is not None


def test_cases_come_from_connected_calls(config: HotlineConfig) -> None:
    calls, cases = synthetic_month(config, FIRST, LAST, 2026)
    connected = {c.call_id for c in calls if c.outcome == Outcome.CONNECTED}
    assert cases
    assert all(s.case.call_id in connected for s in cases)
    assert all(a.at < b.at for s in cases for a, b in zip(s.steps, s.steps[1:], strict=False))
