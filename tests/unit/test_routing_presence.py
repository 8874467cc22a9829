"""Desk presence decisions: who may be offered a call, and in which order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from routing.config import Branch
from routing.desks import plan_desks
from routing.presence import (
    DeskPresence,
    after_call,
    available_now,
    calls_today,
    toggle_login,
    toggle_pause,
)

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # 10:00 in Hậu Giang


def branch(strategy: str = "sequential", wrap_up: int = 0) -> Branch:
    return Branch.model_validate(
        {"key": 4, "name": "Cải cách thủ tục hành chính", "agency": "Văn phòng UBND tỉnh",
         "desks": ["1401", "1402", "1403"], "strategy": strategy, "wrap_up_seconds": wrap_up}
    )


def test_a_desk_nobody_touched_is_available() -> None:
    assert available_now(None, NOW)
    assert available_now(DeskPresence("1401"), NOW)


def test_logged_out_desk_is_not_rung() -> None:
    plan = plan_desks(branch(), {}, {"1401": DeskPresence("1401", logged_in=False)}, NOW)
    assert plan.waves == [["1402"], ["1403"]]
    assert plan.away == {"1401": "logged_out"}


def test_paused_desk_is_not_rung_and_the_call_goes_to_the_next_desk() -> None:
    paused = DeskPresence("1402", paused=True, pause_reason="2")
    plan = plan_desks(branch("ringall"), {}, {"1402": paused}, NOW)
    assert plan.waves == [["1401", "1403"]]
    assert plan.away == {"1402": "paused"}


def test_desk_in_wrap_up_is_not_offered_a_call_until_it_passes() -> None:
    ended = NOW - timedelta(seconds=10)
    states = {"1401": after_call(None, "1401", ended, wrap_up_seconds=30)}
    assert plan_desks(branch(), {}, states, NOW).away == {"1401": "wrap_up"}
    later = NOW + timedelta(seconds=20)
    assert plan_desks(branch(), {}, states, later).waves == [["1401"], ["1402"], ["1403"]]


def test_no_wrap_up_configured_means_available_at_once() -> None:
    assert available_now(after_call(None, "1401", NOW, wrap_up_seconds=0), NOW)


def test_least_recent_rings_the_desk_idle_longest_first() -> None:
    states = {
        "1401": DeskPresence("1401", last_call_ended_at=NOW - timedelta(minutes=1)),
        "1402": DeskPresence("1402", last_call_ended_at=NOW - timedelta(minutes=30)),
        "1403": DeskPresence("1403", last_call_ended_at=NOW - timedelta(minutes=5)),
    }
    assert plan_desks(branch("least_recent"), {}, states, NOW).waves == [
        ["1402"], ["1403"], ["1401"]]


def test_least_recent_counts_a_desk_without_calls_as_idle_longest() -> None:
    states = {"1401": DeskPresence("1401", last_call_ended_at=NOW - timedelta(hours=5))}
    assert plan_desks(branch("least_recent"), {}, states, NOW).waves[0] == ["1402"]


def test_fewest_calls_rings_the_desk_with_fewest_calls_today_first() -> None:
    today = NOW.date()
    states = {
        "1401": DeskPresence("1401", calls_day=today, calls_today=5),
        "1402": DeskPresence("1402", calls_day=today, calls_today=2),
        "1403": DeskPresence("1403", calls_day=today, calls_today=3),
    }
    assert plan_desks(branch("fewest_calls"), {}, states, NOW).waves == [
        ["1402"], ["1403"], ["1401"]]


def test_calls_of_an_earlier_day_do_not_count_today() -> None:
    yesterday = DeskPresence("1401", calls_day=NOW.date() - timedelta(days=1), calls_today=9)
    assert calls_today(yesterday, NOW) == 0
    assert after_call(yesterday, "1401", NOW, 0).calls_today == 1


def test_calls_today_follow_the_hotline_day_not_utc() -> None:
    # 23:30 UTC is already the next day in Asia/Ho_Chi_Minh.
    late = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    state = after_call(None, "1401", late, 0)
    assert str(state.calls_day) == "2026-03-11"
    assert calls_today(state, datetime(2026, 3, 11, 1, 0, tzinfo=UTC)) == 1


def test_after_call_counts_the_call_and_starts_wrap_up() -> None:
    state = after_call(DeskPresence("1401", calls_day=NOW.date(), calls_today=2), "1401",
                       NOW, 45)
    assert state.calls_today == 3
    assert state.last_call_ended_at == NOW
    assert state.wrap_up_until == NOW + timedelta(seconds=45)


def test_login_code_toggles_and_logging_in_clears_a_pause() -> None:
    out, change = toggle_login(None, "1401")
    assert change == "logged_out" and not out.logged_in
    back, change = toggle_login(DeskPresence("1401", logged_in=False, paused=True,
                                             pause_reason="1"), "1401")
    assert change == "logged_in" and back.logged_in and not back.paused
    assert back.pause_reason is None


def test_pause_code_toggles_with_an_optional_reason() -> None:
    paused, change = toggle_pause(None, "1401", "3")
    assert change == "paused" and paused.paused and paused.pause_reason == "3"
    resumed, change = toggle_pause(paused, "1401", "5")
    assert change == "resumed" and not resumed.paused and resumed.pause_reason is None


def test_without_now_presence_is_not_consulted() -> None:
    plan = plan_desks(branch(), {}, {"1401": DeskPresence("1401", paused=True)})
    assert plan.waves == [["1401"], ["1402"], ["1403"]]
