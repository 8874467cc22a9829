"""CallLogStore on real SQLite and PostgreSQL databases (see conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from calllog.db import downgrade_async, make_engine, make_sessionmaker, upgrade_async
from calllog.errors import UnknownCallError
from calllog.model import CallEvent, CallRecord, Outcome
from calllog.store import CallLogStore
from calllog.tables import metadata

ICT = timezone(timedelta(hours=7), "ICT")
T0 = datetime(2025, 3, 4, 2, 15, 30, 123456, tzinfo=UTC)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[CallLogStore]:
    engine = make_engine(db_url)
    try:
        yield CallLogStore(make_sessionmaker(engine))
    finally:
        await engine.dispose()


def new_call(call_id: str = "1741054530.42", started_at: datetime = T0) -> CallRecord:
    return CallRecord(call_id=call_id, caller_number="0901234567", started_at=started_at)


async def test_saving_again_at_each_milestone_updates_the_same_row(store: CallLogStore) -> None:
    call = new_call()
    await store.save(call)
    assert await store.get(call.call_id) == call

    call.caller_name = "Nguyễn Văn Ánh"
    call.answered_at = T0 + timedelta(seconds=1)
    call.branch_key, call.branch_name = 4, "Cải cách thủ tục hành chính"
    call.agency = "Văn phòng UBND tỉnh"
    call.desk_dialled = "2041,2042"
    await store.save(call)
    call.desk_answered, call.bridged_at = "2042", T0 + timedelta(seconds=20)
    call.ended_at = T0 + timedelta(minutes=3)
    call.outcome = Outcome.CONNECTED
    call.hangup_cause, call.hangup_cause_txt, call.hangup_by = 16, "Normal Clearing", "caller"
    await store.save(call)

    stored = await store.get(call.call_id)
    assert stored == call
    assert stored is not None and stored.outcome is Outcome.CONNECTED
    assert await store.list_calls() == [call]


async def test_save_overwrites_fields_that_went_back_to_none(store: CallLogStore) -> None:
    call = new_call()
    call.desk_dialled, call.outcome = "2041", Outcome.FAILED
    await store.save(call)
    call.desk_dialled, call.outcome = None, None
    await store.save(call)
    assert await store.get(call.call_id) == call


async def test_save_is_idempotent(store: CallLogStore) -> None:
    call = new_call()
    call.outcome = Outcome.NO_SELECTION
    for _ in range(3):
        await store.save(call)
    assert await store.list_calls() == [call]


async def test_concurrent_calls_are_all_logged(store: CallLogStore) -> None:
    calls = [new_call(f"c{i}", T0 + timedelta(seconds=i)) for i in range(20)]
    await asyncio.gather(*(store.save(call) for call in calls))
    await asyncio.gather(*(store.save(call) for call in calls))  # same rows, concurrently
    await asyncio.gather(*(store.append_event(CallEvent(c.call_id, T0, "answered")) for c in calls))

    assert sorted(c.call_id for c in await store.list_calls()) == sorted(c.call_id for c in calls)
    for call in calls:
        assert [e.kind for e in await store.events(call.call_id)] == ["answered"]


async def test_times_come_back_as_aware_utc(store: CallLogStore) -> None:
    local_start = datetime(2025, 3, 4, 9, 15, 30, 123456, tzinfo=ICT)  # == T0
    call = new_call(started_at=local_start)
    call.answered_at = local_start + timedelta(seconds=2)
    await store.save(call)
    await store.append_event(CallEvent(call.call_id, local_start, "answered"))

    stored = await store.get(call.call_id)
    assert stored is not None
    assert stored.started_at == T0 and stored.started_at.tzinfo is UTC
    assert stored.answered_at == T0 + timedelta(seconds=2)
    assert stored.answered_at is not None and stored.answered_at.tzinfo is UTC
    [event] = await store.events(call.call_id)
    assert event.at == T0 and event.at.tzinfo is UTC


async def test_naive_times_are_refused(store: CallLogStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.save(new_call(started_at=datetime(2025, 3, 4, 9, 0)))
    await store.save(new_call())
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.append_event(CallEvent("1741054530.42", datetime(2025, 3, 4), "answered"))
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.list_calls(since=datetime(2025, 3, 4))


async def test_ids_and_kinds_too_long_for_the_tables_are_refused(store: CallLogStore) -> None:
    with pytest.raises(ValueError, match="call_id"):
        await store.save(new_call("x" * 65))
    await store.save(new_call())
    with pytest.raises(ValueError, match="kind"):
        await store.append_event(CallEvent("1741054530.42", T0, "k" * 33))


async def test_events_come_back_in_append_order_with_their_detail(store: CallLogStore) -> None:
    await store.save(new_call("a"))
    await store.save(new_call("b"))
    timeline = [
        CallEvent("a", T0, "answered"),
        CallEvent("a", T0, "prompt", {"prompt": "menu-chinh", "attempt": 1}),
        CallEvent("b", T0, "answered"),
        CallEvent("a", T0 + timedelta(seconds=4), "digit", {"digit": "4"}),
        CallEvent("a", T0 + timedelta(seconds=4), "branch", {"key": 4, "name": "Cải cách TTHC"}),
        CallEvent("a", T0 + timedelta(seconds=5), "desk_dial", {"desk": "2041", "cause": None}),
    ]
    for event in timeline:
        await store.append_event(event)

    events = await store.events("a")
    assert [(e.kind, e.at, e.detail) for e in events] == [
        (e.kind, e.at, e.detail) for e in timeline if e.call_id == "a"
    ]
    seqs = [e.seq for e in events if e.seq is not None]
    assert len(seqs) == len(events)
    assert seqs == sorted(set(seqs))
    assert [e.kind for e in await store.events("b")] == ["answered"]
    assert await store.events("never-saved") == []


async def test_append_event_for_an_unsaved_call_raises(store: CallLogStore) -> None:
    with pytest.raises(UnknownCallError, match="never-saved"):
        await store.append_event(CallEvent("never-saved", T0, "answered"))


async def test_get_of_an_unknown_call_is_none(store: CallLogStore) -> None:
    assert await store.get("never-saved") is None


async def test_list_calls_filters_on_start_time_newest_first(store: CallLogStore) -> None:
    calls = [new_call(f"c{i}", T0 + timedelta(hours=i)) for i in range(5)]
    for call in calls:
        await store.save(call)

    assert [c.call_id for c in await store.list_calls()] == ["c4", "c3", "c2", "c1", "c0"]
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    assert [c.call_id for c in await store.list_calls(since=since)] == ["c4", "c3", "c2", "c1"]
    assert [c.call_id for c in await store.list_calls(until=until)] == ["c2", "c1", "c0"]
    in_window = await store.list_calls(since=since, until=until)
    assert [c.call_id for c in in_window] == ["c2", "c1"]
    assert [c.call_id for c in await store.list_calls(limit=2)] == ["c4", "c3"]
    # Bounds in another zone mean the same instants.
    local = await store.list_calls(since=since.astimezone(ICT), until=until.astimezone(ICT))
    assert local == in_window


async def test_migrations_go_down_to_base_and_up_again(db_url: str) -> None:
    await downgrade_async(db_url, "base")
    assert set(await _table_names(db_url)) <= {"alembic_version"}

    await upgrade_async(db_url)
    assert {"calls", "call_events"} <= set(await _table_names(db_url))
    engine = make_engine(db_url)
    try:
        store = CallLogStore(make_sessionmaker(engine))
        await store.save(new_call())
        assert await store.get("1741054530.42") == new_call()
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_mapping(db_url: str) -> None:
    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    engine = make_engine(db_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def _table_names(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda conn: inspect(conn).get_table_names())
    finally:
        await engine.dispose()
