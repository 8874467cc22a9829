"""The capacity benchmark's check of announced queue positions, on synthetic timelines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.queue_positions import Mismatch, QueueEvent, check_positions

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def joined(call: str, seconds: float, branch: int = 1) -> QueueEvent:
    return QueueEvent(call, at(seconds), "queue_joined",
                      {"branch": branch, "position": 0, "joined_at": at(seconds).isoformat()})


def announced(call: str, seconds: float, position: int) -> QueueEvent:
    return QueueEvent(call, at(seconds), "queue_position", {"position": position})


def left(call: str, seconds: float, branch: int = 1) -> QueueEvent:
    return QueueEvent(call, at(seconds), "queue_left", {"branch": branch, "reason": "abandoned"})


def test_positions_follow_the_callers_ahead_who_are_still_waiting() -> None:
    events = [
        joined("a", 0), announced("a", 0.1, 1),
        joined("b", 1), announced("b", 1.1, 2),
        joined("c", 2), announced("c", 2.1, 3),
        left("a", 5),
        announced("c", 6, 2), announced("b", 6.5, 1),
        left("b", 7), announced("c", 7, 1),  # the same instant as b leaving: b is gone
    ]

    result = check_positions(events)

    assert (result.checked, result.wrong, result.unplaced) == (6, [], 0)
    assert result.moved_up == 3  # c twice and b once, after a (and b) left


def test_a_position_that_counts_a_caller_who_already_left_is_wrong() -> None:
    events = [joined("a", 0), joined("b", 1), left("a", 3), announced("b", 4, 2)]

    result = check_positions(events)

    assert result.checked == 1
    assert result.wrong == [Mismatch("b", at(4), 1, announced=2, expected=1)]


def test_callers_of_other_branches_and_later_joiners_are_not_ahead() -> None:
    events = [
        joined("x", 0, branch=2), joined("a", 1), joined("y", 2, branch=2), joined("b", 3),
        announced("a", 4, 1), announced("y", 4.5, 2), announced("b", 5, 2),
    ]

    assert check_positions(events).wrong == []


def test_the_order_is_the_join_time_not_the_order_the_events_arrive_in() -> None:
    # Put back after a restart: b's stay was logged first, but a joined earlier.
    restored_b = QueueEvent("b", at(10), "queue_joined",
                            {"branch": 1, "position": 1, "joined_at": at(2).isoformat()})
    restored_a = QueueEvent("a", at(10.5), "queue_joined",
                            {"branch": 1, "position": 1, "joined_at": at(1).isoformat()})
    events = [restored_b, restored_a, announced("b", 11, 2), announced("a", 11.2, 1)]

    assert check_positions(events).wrong == []


def test_an_announcement_outside_a_stay_is_counted_apart() -> None:
    events = [announced("a", 1, 1), joined("a", 2), left("a", 3), announced("a", 4, 1)]

    result = check_positions(events)

    assert (result.checked, result.unplaced) == (0, 2)
