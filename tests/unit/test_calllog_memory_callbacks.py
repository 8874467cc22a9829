"""InMemoryCallLog's call backs behave like CallLogStore's (same scenarios as
tests/integration/test_calllog_callbacks.py), so call-flow unit tests can trust it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from calllog.memory import InMemoryCallLog
from calllog.model import Callback, CallRecord, Outcome

ICT = timezone(timedelta(hours=7), "ICT")
T0 = datetime(2025, 3, 4, 2, 15, 30, 123456, tzinfo=UTC)


@pytest.fixture
def log() -> InMemoryCallLog:
    return InMemoryCallLog()


def new_call(
    call_id: str = "1741054530.42", started_at: datetime = T0, callback: str | None = None
) -> CallRecord:
    return CallRecord(
        call_id=call_id, caller_number="0901234567", started_at=started_at, callback=callback
    )


def closed_hours_call(call_id: str = "1741054530.42") -> CallRecord:
    call = new_call(call_id, callback="pending")
    call.caller_agency = "UBND xã Vị Tân"
    call.recording, call.recording_seconds = "vm-1795464328-0", 42
    call.ended_at, call.outcome = T0 + timedelta(minutes=1), Outcome.CLOSED
    return call


async def test_new_fields_round_trip(log: InMemoryCallLog) -> None:
    call = closed_hours_call()
    await log.save(call)
    stored = await log.get(call.call_id)
    assert stored == call
    assert stored is not None
    assert stored.outcome is Outcome.CLOSED and stored.callback is Callback.PENDING

    call.callback = "done"
    call.callback_done_at = datetime(2025, 3, 4, 14, 0, tzinfo=ICT)
    call.callback_note = "Đã gọi lại, hướng dẫn nộp hồ sơ trực tuyến"
    await log.save(call)
    stored = await log.get(call.call_id)
    assert stored == call
    assert stored is not None and stored.callback_done_at is not None
    assert stored.callback_done_at.tzinfo is UTC
    assert stored.callback_done_at == datetime(2025, 3, 4, 7, 0, tzinfo=UTC)
    assert await log.list_calls() == [call]


async def test_save_overwrites_new_fields_that_went_back_to_none(log: InMemoryCallLog) -> None:
    call = closed_hours_call()
    await log.save(call)
    call = dataclasses.replace(
        call, caller_agency=None, recording=None, recording_seconds=None, callback=None
    )
    await log.save(call)
    assert await log.get(call.call_id) == call


async def test_unknown_callback_states_and_naive_times_are_refused(log: InMemoryCallLog) -> None:
    with pytest.raises(ValueError, match="callback"):
        await log.save(new_call(callback="later"))
    call = new_call(callback="done")
    call.callback_done_at = datetime(2025, 3, 4, 9, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.save(call)
    await log.save(new_call(callback="pending"))
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.mark_callback_done("1741054530.42", at=datetime(2025, 3, 4, 9, 0))
    assert [c.callback for c in await log.list_callbacks()] == ["pending"]


async def test_list_callbacks_is_the_pending_queue_oldest_first(log: InMemoryCallLog) -> None:
    states = ["pending", None, "done", "pending", "pending", None, "done"]
    for i, state in reversed(list(enumerate(states))):  # saved out of order
        await log.save(new_call(f"c{i}", T0 + timedelta(hours=i), callback=state))
    await log.save(new_call("c4-same-time", T0 + timedelta(hours=4), callback="pending"))

    assert [c.call_id for c in await log.list_callbacks()] == ["c0", "c3", "c4", "c4-same-time"]
    assert [c.call_id for c in await log.list_callbacks(include_done=True)] == [
        "c0",
        "c2",
        "c3",
        "c4",
        "c4-same-time",
        "c6",
    ]
    assert [c.call_id for c in await log.list_callbacks(limit=2)] == ["c0", "c3"]
    assert await log.list_callbacks(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        await log.list_callbacks(limit=-1)


async def test_mark_callback_done_takes_the_call_off_the_queue(log: InMemoryCallLog) -> None:
    call = closed_hours_call("a")
    await log.save(call)
    await log.save(new_call("b", T0 + timedelta(minutes=5), callback="pending"))
    at = datetime(2025, 3, 4, 15, 30, tzinfo=ICT)

    assert await log.mark_callback_done("a", at=at, note="Đã gọi lại") is True

    stored = await log.get("a")
    assert stored is not None
    assert stored.callback is Callback.DONE
    assert stored.callback_done_at == at and stored.callback_done_at.tzinfo is UTC
    assert stored.callback_note == "Đã gọi lại"
    call.callback, call.callback_done_at, call.callback_note = "done", at, "Đã gọi lại"
    assert stored == call  # nothing else changed
    assert [c.call_id for c in await log.list_callbacks()] == ["b"]
    assert [c.call_id for c in await log.list_callbacks(include_done=True)] == ["a", "b"]

    assert await log.mark_callback_done("b", at=at) is True
    stored_b = await log.get("b")
    assert stored_b is not None and stored_b.callback_note is None
    assert await log.list_callbacks() == []


async def test_mark_callback_done_is_false_and_changes_nothing_otherwise(
    log: InMemoryCallLog,
) -> None:
    first, later = T0 + timedelta(hours=8), T0 + timedelta(hours=9)
    await log.save(new_call("done", callback="pending"))
    assert await log.mark_callback_done("done", at=first, note="lần đầu") is True
    await log.save(new_call("served"))  # never needed a call back
    before = {c.call_id: c for c in await log.list_calls()}

    assert await log.mark_callback_done("done", at=later, note="lần hai") is False
    assert await log.mark_callback_done("served", at=later, note="?") is False
    assert await log.mark_callback_done("never-saved", at=later) is False
    assert await log.mark_callback_done("x" * 65, at=later) is False

    assert {c.call_id: c for c in await log.list_calls()} == before
    assert await log.get("never-saved") is None


async def test_callback_queries_return_copies(log: InMemoryCallLog) -> None:
    await log.save(new_call(callback="pending"))
    (await log.list_callbacks())[0].callback_note = "changed"
    (await log.find_call("1741"))[0].callback = "done"
    stored = await log.get("1741054530.42")
    assert stored is not None
    assert (stored.callback, stored.callback_note) == ("pending", None)


async def test_find_call_by_id_prefix_newest_first(log: InMemoryCallLog) -> None:
    await log.save(new_call("1741054530.42", T0))
    await log.save(new_call("1741054530.420", T0 + timedelta(seconds=1)))
    await log.save(new_call("1741054531.7", T0 + timedelta(seconds=2)))
    await log.save(new_call("1799999999.1", T0 + timedelta(seconds=3)))

    assert [c.call_id for c in await log.find_call("17410545")] == [
        "1741054531.7",
        "1741054530.420",
        "1741054530.42",
    ]
    assert [c.call_id for c in await log.find_call("1741054530.42")] == [
        "1741054530.420",
        "1741054530.42",
    ]
    assert [c.call_id for c in await log.find_call("1741054530.420")] == ["1741054530.420"]
    assert await log.find_call("2") == []
    assert await log.find_call("41054530") == []  # a prefix, not a substring
    assert [c.call_id for c in await log.find_call("")] == [
        "1799999999.1",
        "1741054531.7",
        "1741054530.420",
        "1741054530.42",
    ]
    [found] = await log.find_call("17999")
    assert found == new_call("1799999999.1", T0 + timedelta(seconds=3))


async def test_find_call_is_exact_about_case_and_like_wildcards(log: InMemoryCallLog) -> None:
    for call_id in ["abc-1", "ABC-2", "a%c-3", "a_c-4", "axc-5"]:
        await log.save(new_call(call_id))
    assert [c.call_id for c in await log.find_call("abc")] == ["abc-1"]
    assert [c.call_id for c in await log.find_call("ABC")] == ["ABC-2"]
    assert [c.call_id for c in await log.find_call("a%")] == ["a%c-3"]
    assert [c.call_id for c in await log.find_call("a_c")] == ["a_c-4"]


async def test_find_call_returns_at_most_twenty(log: InMemoryCallLog) -> None:
    for i in range(25):
        await log.save(new_call(f"1741054530.{i:02d}", T0 + timedelta(seconds=i)))
    found = await log.find_call("1741054530.")
    assert [c.call_id for c in found] == [f"1741054530.{i:02d}" for i in range(24, 4, -1)]
