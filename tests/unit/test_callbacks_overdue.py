"""Which pending call backs the wallboard counts as overdue: the latest start instant
whose call back is due (`calllog.today.latest_overdue_start`), found by bisection on the
YAML's working-hours policy, agrees with applying the policy to every call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calllog.today import latest_overdue_start
from routing.deadlines import callback_overdue_at
from tests.console_client import hotline_config

MONDAY_0900_ICT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
TET_2027_EVE = datetime(2027, 2, 4, 9, 0, tzinfo=UTC)  # Thursday 16:00, before five days off


@pytest.mark.parametrize("now", [
    MONDAY_0900_ICT,
    MONDAY_0900_ICT + timedelta(hours=5, minutes=17, seconds=3, microseconds=7),  # 14:17
    MONDAY_0900_ICT + timedelta(days=5, hours=3),  # Saturday noon
    TET_2027_EVE + timedelta(days=6, hours=1),  # the Wednesday after Tết's first days
])
def test_the_overdue_call_backs_are_those_started_up_to_the_cutoff(now: datetime) -> None:
    overdue_at = callback_overdue_at(hotline_config())
    oldest = now - timedelta(days=12)
    starts = [oldest + timedelta(minutes=13 * n, microseconds=n) for n in range(1, 1300)]
    cutoff = latest_overdue_start(oldest, now, overdue_at)

    assert cutoff is not None
    assert [s for s in starts if overdue_at(s) <= now] == [s for s in starts if s <= cutoff]
    assert overdue_at(cutoff) <= now < overdue_at(cutoff + timedelta(microseconds=1))


def test_no_cutoff_when_even_the_oldest_call_back_is_not_yet_due() -> None:
    overdue_at = callback_overdue_at(hotline_config())
    now = MONDAY_0900_ICT + timedelta(hours=2)
    assert latest_overdue_start(now - timedelta(hours=3), now, overdue_at) is None


def test_the_cutoff_is_exact_to_the_microsecond() -> None:
    due = MONDAY_0900_ICT + timedelta(hours=1, microseconds=1)
    overdue_at = lambda started: started + timedelta(hours=8)  # noqa: E731
    cutoff = latest_overdue_start(due - timedelta(days=3), due + timedelta(hours=8), overdue_at)
    assert cutoff == due
