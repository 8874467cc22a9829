"""InMemoryCallLog behaves like CallLogStore (same scenarios as
tests/integration/test_calllog_store.py), so call-flow unit tests can trust it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from calllog.errors import UnknownCallError
from calllog.memory import InMemoryCallLog
from calllog.model import CallEvent, CallRecord, Outcome

ICT = timezone(timedelta(hours=7), "ICT")
T0 = datetime(2025, 3, 4, 2, 15, 30, 123456, tzinfo=UTC)


@pytest.fixture
def log() -> InMemoryCallLog:
    return InMemoryCallLog()


def new_call(call_id: str = "1741054530.42", started_at: datetime = T0) -> CallRecord:
    return CallRecord(call_id=call_id, caller_number="0901234567", started_at=started_at)


async def test_saving_again_at_each_milestone_updates_the_same_row(log: InMemoryCallLog) -> None:
    call = new_call()
    await log.save(call)
    assert await log.get(call.call_id) == call

    call.answered_at = T0 + timedelta(seconds=1)
    call.branch_key, call.branch_name = 4, "Cải cách thủ tục hành chính"
    call.desk_dialled = "2041,2042"
    await log.save(call)
    call.desk_answered, call.bridged_at = "2042", T0 + timedelta(seconds=20)
    call.ended_at, call.outcome = T0 + timedelta(minutes=3), Outcome.CONNECTED
    call.hangup_cause, call.hangup_cause_txt, call.hangup_by = 16, "Normal Clearing", "caller"
    await log.save(call)

    assert await log.get(call.call_id) == call
    assert await log.list_calls() == [call]


async def test_keeps_copies_not_the_callers_objects(log: InMemoryCallLog) -> None:
    call = new_call()
    await log.save(call)
    call.outcome = Outcome.FAILED  # changed but not saved
    stored = await log.get(call.call_id)
    assert stored is not None and stored.outcome is None
    stored.outcome = Outcome.CONNECTED
    assert (await log.list_calls())[0].outcome is None

    detail: dict[str, str | int | None] = {"digit": "4"}
    await log.append_event(CallEvent(call.call_id, T0, "digit", detail))
    detail["digit"] = "9"
    (await log.events(call.call_id))[0].detail["digit"] = "7"
    assert (await log.events(call.call_id))[0].detail == {"digit": "4"}


async def test_save_overwrites_fields_that_went_back_to_none(log: InMemoryCallLog) -> None:
    call = new_call()
    call.desk_dialled, call.outcome = "2041", Outcome.FAILED
    await log.save(call)
    call.desk_dialled, call.outcome = None, None
    await log.save(call)
    assert await log.get(call.call_id) == call


async def test_save_is_idempotent(log: InMemoryCallLog) -> None:
    call = new_call()
    call.outcome = Outcome.NO_SELECTION
    for _ in range(3):
        await log.save(call)
    assert await log.list_calls() == [call]


async def test_times_come_back_as_aware_utc(log: InMemoryCallLog) -> None:
    local_start = datetime(2025, 3, 4, 9, 15, 30, 123456, tzinfo=ICT)  # == T0
    call = new_call(started_at=local_start)
    await log.save(call)
    await log.append_event(CallEvent(call.call_id, local_start, "answered"))

    stored = await log.get(call.call_id)
    assert stored is not None
    assert stored.started_at == T0 and stored.started_at.tzinfo is UTC
    [event] = await log.events(call.call_id)
    assert event.at == T0 and event.at.tzinfo is UTC


async def test_naive_times_are_refused(log: InMemoryCallLog) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.save(new_call(started_at=datetime(2025, 3, 4, 9, 0)))
    await log.save(new_call())
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.append_event(CallEvent("1741054530.42", datetime(2025, 3, 4), "answered"))
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.list_calls(since=datetime(2025, 3, 4))


async def test_ids_and_kinds_too_long_for_the_tables_are_refused(log: InMemoryCallLog) -> None:
    with pytest.raises(ValueError, match="call_id"):
        await log.save(new_call("x" * 65))
    await log.save(new_call())
    with pytest.raises(ValueError, match="kind"):
        await log.append_event(CallEvent("1741054530.42", T0, "k" * 33))


async def test_events_come_back_in_append_order_with_their_detail(log: InMemoryCallLog) -> None:
    await log.save(new_call("a"))
    await log.save(new_call("b"))
    timeline = [
        CallEvent("a", T0, "answered"),
        CallEvent("a", T0, "prompt", {"prompt": "menu-chinh", "attempt": 1}),
        CallEvent("b", T0, "answered"),
        CallEvent("a", T0 + timedelta(seconds=4), "digit", {"digit": "4"}),
        CallEvent("a", T0 + timedelta(seconds=5), "desk_dial", {"desk": "2041", "cause": None}),
    ]
    for event in timeline:
        await log.append_event(event)

    events = await log.events("a")
    assert [(e.kind, e.at, e.detail) for e in events] == [
        (e.kind, e.at, e.detail) for e in timeline if e.call_id == "a"
    ]
    seqs = [e.seq for e in events if e.seq is not None]
    assert len(seqs) == len(events)
    assert seqs == sorted(set(seqs))
    assert [e.kind for e in await log.events("b")] == ["answered"]
    assert await log.events("never-saved") == []


async def test_append_event_for_an_unsaved_call_raises(log: InMemoryCallLog) -> None:
    with pytest.raises(UnknownCallError, match="never-saved"):
        await log.append_event(CallEvent("never-saved", T0, "answered"))


async def test_get_of_an_unknown_call_is_none(log: InMemoryCallLog) -> None:
    assert await log.get("never-saved") is None


async def test_list_calls_filters_on_start_time_newest_first(log: InMemoryCallLog) -> None:
    for i in range(5):
        await log.save(new_call(f"c{i}", T0 + timedelta(hours=i)))

    assert [c.call_id for c in await log.list_calls()] == ["c4", "c3", "c2", "c1", "c0"]
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    assert [c.call_id for c in await log.list_calls(since=since)] == ["c4", "c3", "c2", "c1"]
    assert [c.call_id for c in await log.list_calls(until=until)] == ["c2", "c1", "c0"]
    in_window = await log.list_calls(since=since, until=until)
    assert [c.call_id for c in in_window] == ["c2", "c1"]
    assert [c.call_id for c in await log.list_calls(limit=2)] == ["c4", "c3"]
    local = await log.list_calls(since=since.astimezone(ICT), until=until.astimezone(ICT))
    assert local == in_window
