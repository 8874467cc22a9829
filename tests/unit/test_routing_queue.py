"""The branch queues' rules (`routing.queue`) and numbers said as spliced clips
(`routing.spoken`): pure, no clock but the times passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routing.queue import (
    TAKEN,
    BranchQueues,
    WaitHistory,
    expected_minutes,
    should_queue,
)
from routing.spoken import number_clips, number_text

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DESKS = ["1401", "1402"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_callers_are_queued_first_come_first_served_with_their_positions() -> None:
    queues = BranchQueues()
    assert queues.join(4, "a", at(0)) == 1
    assert queues.join(4, "b", at(1)) == 2
    assert queues.join(4, "c", at(2)) == 3
    assert queues.waiting(4) == ["a", "b", "c"]
    assert [queues.position(c) for c in "abc"] == [1, 2, 3]
    assert queues.head(4) == "a"


def test_leaving_moves_everyone_behind_up_one_place() -> None:
    queues = BranchQueues()
    for i, call in enumerate("abc"):
        queues.join(4, call, at(i))
    left = queues.leave("b")
    assert left is not None and left.call_id == "b" and left.joined_at == at(1)
    assert (queues.position("a"), queues.position("c")) == (1, 2)
    assert queues.position("b") is None
    assert queues.leave("b") is None  # leaving twice is harmless


def test_each_branch_has_its_own_queue() -> None:
    queues = BranchQueues()
    queues.join(4, "a", at(0))
    assert queues.join(7, "b", at(1)) == 1
    assert (queues.head(4), queues.head(7)) == ("a", "b")
    assert queues.waiting(1) == [] and queues.head(1) is None


def test_joining_again_keeps_the_first_place() -> None:
    queues = BranchQueues()
    queues.join(4, "a", at(0))
    queues.join(4, "b", at(1))
    assert queues.join(4, "a", at(5)) == 1
    assert queues.waiting(4) == ["a", "b"]


def test_a_caller_may_ring_when_a_desk_is_free_and_nobody_waits() -> None:
    queues = BranchQueues()
    assert queues.may_ring(4, DESKS, "new")


def test_a_caller_may_not_ring_when_every_desk_talks_in_our_calls() -> None:
    queues = BranchQueues()
    queues.take("1401", "x")
    queues.take("1402", "y")
    assert queues.free_desks(DESKS) == []
    assert not queues.may_ring(4, DESKS, "new")


def test_a_desk_that_becomes_free_goes_to_the_head_not_to_a_new_caller() -> None:
    queues = BranchQueues()
    queues.take("1401", "x")
    queues.take("1402", "y")
    queues.join(4, "head", at(0))
    queues.join(4, "second", at(1))
    assert queues.release("1401", "x")
    assert queues.free_desks(DESKS) == ["1401"]
    assert queues.may_ring(4, DESKS, "head")
    assert not queues.may_ring(4, DESKS, "second")
    assert not queues.may_ring(4, DESKS, "arriving now")


def test_a_desk_is_released_only_by_the_call_holding_it() -> None:
    queues = BranchQueues()
    queues.take("1401", "x")
    assert not queues.release("1401", "other")
    assert queues.taken() == frozenset({"1401"})
    assert queues.release("1401", "x")
    assert queues.taken() == frozenset()


@pytest.mark.parametrize(("results", "queue"), [
    ({"1401": "BUSY", "1402": "BUSY"}, True),
    ({"1401": TAKEN, "1402": "CHANUNAVAIL"}, True),
    ({"1401": "BUSY", "1402": "NOANSWER"}, True),
    ({"1401": "NOANSWER", "1402": "NOANSWER"}, False),
    ({"1401": "CHANUNAVAIL", "1402": "CHANUNAVAIL"}, False),
    ({}, False),
], ids=["all-busy", "taken-and-away", "busy-and-rang-out", "rang-out", "away", "none"])
def test_a_busy_desk_means_wait_in_the_queue_nobody_there_means_a_message(
    results: dict[str, str], queue: bool,
) -> None:
    assert should_queue(results) is queue


def test_no_expected_wait_until_there_is_history() -> None:
    queues = BranchQueues()
    assert queues.expected_seconds(4, 1) is None
    assert expected_minutes(None) is None


def test_expected_wait_is_the_recent_wait_per_place_times_the_position() -> None:
    queues = BranchQueues()
    queues.answered(4, waited_seconds=60, position_at_join=1)
    queues.answered(4, waited_seconds=240, position_at_join=2)  # 120 s per place
    assert queues.expected_seconds(4, 1) == 90
    assert queues.expected_seconds(4, 3) == 270
    assert queues.expected_seconds(7, 1) is None  # another branch's history is its own


def test_the_history_keeps_only_the_recent_waits() -> None:
    history = WaitHistory(size=2)
    history.answered(600, 1)
    history.answered(60, 1)
    history.answered(60, 1)
    assert history.expected_seconds(1) == 60


@pytest.mark.parametrize(("seconds", "minutes"), [(1, 1), (60, 1), (61, 2), (150, 3)])
def test_the_expected_wait_is_said_in_whole_minutes_rounded_up(
    seconds: float, minutes: int,
) -> None:
    assert expected_minutes(seconds) == minutes


def test_a_caller_put_back_late_still_goes_before_those_who_joined_after_them() -> None:
    queues = BranchQueues()
    queues.join(4, "later", at(10))
    assert queues.join(4, "earlier", at(0)) == 1
    assert queues.waiting(4) == ["earlier", "later"]


@pytest.mark.parametrize(("n", "words"), [
    (1, "một"), (2, "hai"), (10, "mười"), (11, "mười một"), (15, "mười lăm"),
    (20, "hai mươi"), (21, "hai mươi mốt"), (24, "hai mươi tư"), (25, "hai mươi lăm"),
    (99, "chín mươi chín"), (100, "một trăm"), (105, "một trăm linh năm"),
    (115, "một trăm mười lăm"), (231, "hai trăm ba mươi mốt"), (5000, "chín trăm chín mươi chín"),
])
def test_numbers_are_said_in_vietnamese_from_word_clips(n: int, words: str) -> None:
    assert number_text(n) == words


@pytest.mark.parametrize(("n", "words"), [(1, "nhất"), (2, "hai"), (4, "tư"), (14, "mười bốn"),
                                          (21, "hai mươi mốt")])
def test_positions_are_said_as_ordinals(n: int, words: str) -> None:
    assert number_text(n, ordinal=True) == words


def test_a_number_is_a_few_clips_not_one_clip_per_number() -> None:
    assert number_clips(21) == ["2", "muoi", "mot"]
