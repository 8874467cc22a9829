"""Call backs on real SQLite and PostgreSQL databases (see conftest.py): the fields
added by revision 0002, the call-back queue, `find_call`, and the migration itself."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, func, inspect, select
from sqlalchemy.exc import IntegrityError

from calllog.db import downgrade_async, make_engine, make_sessionmaker, upgrade_async
from calllog.model import Callback, CallEvent, CallRecord, Outcome
from calllog.store import CallLogStore
from calllog.tables import CallEventRow

ICT = timezone(timedelta(hours=7), "ICT")
T0 = datetime(2025, 3, 4, 2, 15, 30, 123456, tzinfo=UTC)
NEW_COLUMNS = {
    "caller_agency",
    "recording",
    "recording_seconds",
    "callback",
    "callback_done_at",
    "callback_note",
}


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[CallLogStore]:
    engine = make_engine(db_url)
    try:
        yield CallLogStore(make_sessionmaker(engine))
    finally:
        await engine.dispose()


def new_call(
    call_id: str = "1741054530.42", started_at: datetime = T0, callback: str | None = None
) -> CallRecord:
    return CallRecord(
        call_id=call_id, caller_number="0901234567", started_at=started_at, callback=callback
    )


def without_new_fields(call: CallRecord) -> CallRecord:
    """`call` as revision 0001 could store it."""
    return dataclasses.replace(
        call,
        caller_agency=None,
        recording=None,
        recording_seconds=None,
        callback=None,
        callback_done_at=None,
        callback_note=None,
    )


def closed_hours_call(call_id: str = "1741054530.42") -> CallRecord:
    call = new_call(call_id, callback="pending")
    call.caller_agency = "UBND xã Vị Tân"
    call.recording, call.recording_seconds = "vm-1795464328-0", 42
    call.ended_at, call.outcome = T0 + timedelta(minutes=1), Outcome.CLOSED
    return call


async def test_new_fields_round_trip(store: CallLogStore) -> None:
    call = closed_hours_call()
    await store.save(call)
    stored = await store.get(call.call_id)
    assert stored == call
    assert stored is not None
    assert stored.outcome is Outcome.CLOSED and stored.callback is Callback.PENDING

    call.callback = "done"
    call.callback_done_at = datetime(2025, 3, 4, 14, 0, tzinfo=ICT)
    call.callback_note = "Đã gọi lại, hướng dẫn nộp hồ sơ trực tuyến"
    await store.save(call)
    stored = await store.get(call.call_id)
    assert stored == call
    assert stored is not None and stored.callback_done_at is not None
    assert stored.callback_done_at.tzinfo is UTC
    assert stored.callback_done_at == datetime(2025, 3, 4, 7, 0, tzinfo=UTC)
    assert await store.list_calls() == [call]


async def test_save_overwrites_new_fields_that_went_back_to_none(store: CallLogStore) -> None:
    call = closed_hours_call()
    await store.save(call)
    call = without_new_fields(call)
    await store.save(call)
    assert await store.get(call.call_id) == call


async def test_unknown_callback_states_and_naive_times_are_refused(store: CallLogStore) -> None:
    with pytest.raises(ValueError, match="callback"):
        await store.save(new_call(callback="later"))
    call = new_call(callback="done")
    call.callback_done_at = datetime(2025, 3, 4, 9, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.save(call)
    await store.save(new_call(callback="pending"))
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.mark_callback_done("1741054530.42", at=datetime(2025, 3, 4, 9, 0))
    assert [c.callback for c in await store.list_callbacks()] == ["pending"]


async def test_list_callbacks_is_the_pending_queue_oldest_first(store: CallLogStore) -> None:
    states = ["pending", None, "done", "pending", "pending", None, "done"]
    for i, state in reversed(list(enumerate(states))):  # saved out of order
        await store.save(new_call(f"c{i}", T0 + timedelta(hours=i), callback=state))
    await store.save(new_call("c4-same-time", T0 + timedelta(hours=4), callback="pending"))

    assert [c.call_id for c in await store.list_callbacks()] == ["c0", "c3", "c4", "c4-same-time"]
    assert [c.call_id for c in await store.list_callbacks(include_done=True)] == [
        "c0",
        "c2",
        "c3",
        "c4",
        "c4-same-time",
        "c6",
    ]
    assert [c.call_id for c in await store.list_callbacks(limit=2)] == ["c0", "c3"]
    assert await store.list_callbacks(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        await store.list_callbacks(limit=-1)


async def test_mark_callback_done_takes_the_call_off_the_queue(store: CallLogStore) -> None:
    call = closed_hours_call("a")
    await store.save(call)
    await store.save(new_call("b", T0 + timedelta(minutes=5), callback="pending"))
    at = datetime(2025, 3, 4, 15, 30, tzinfo=ICT)

    assert await store.mark_callback_done("a", at=at, note="Đã gọi lại") is True

    stored = await store.get("a")
    assert stored is not None
    assert stored.callback is Callback.DONE
    assert stored.callback_done_at == at and stored.callback_done_at.tzinfo is UTC
    assert stored.callback_note == "Đã gọi lại"
    call.callback, call.callback_done_at, call.callback_note = "done", at, "Đã gọi lại"
    assert stored == call  # nothing else changed
    assert [c.call_id for c in await store.list_callbacks()] == ["b"]
    assert [c.call_id for c in await store.list_callbacks(include_done=True)] == ["a", "b"]

    assert await store.mark_callback_done("b", at=at) is True
    stored_b = await store.get("b")
    assert stored_b is not None and stored_b.callback_note is None
    assert await store.list_callbacks() == []


async def test_mark_callback_done_is_false_and_changes_nothing_otherwise(
    store: CallLogStore,
) -> None:
    first, later = T0 + timedelta(hours=8), T0 + timedelta(hours=9)
    await store.save(new_call("done", callback="pending"))
    assert await store.mark_callback_done("done", at=first, note="lần đầu") is True
    await store.save(new_call("served"))  # never needed a call back
    before = {c.call_id: c for c in await store.list_calls()}

    assert await store.mark_callback_done("done", at=later, note="lần hai") is False
    assert await store.mark_callback_done("served", at=later, note="?") is False
    assert await store.mark_callback_done("never-saved", at=later) is False
    assert await store.mark_callback_done("x" * 65, at=later) is False

    assert {c.call_id: c for c in await store.list_calls()} == before
    assert await store.get("never-saved") is None


async def test_of_concurrent_marks_exactly_one_wins(store: CallLogStore) -> None:
    await store.save(new_call(callback="pending"))
    results = await asyncio.gather(
        *(
            store.mark_callback_done("1741054530.42", at=T0 + timedelta(hours=i), note=f"n{i}")
            for i in range(1, 6)
        )
    )
    assert sorted(results) == [False, False, False, False, True]
    winner = results.index(True) + 1
    stored = await store.get("1741054530.42")
    assert stored is not None
    assert (stored.callback_done_at, stored.callback_note) == (
        T0 + timedelta(hours=winner),
        f"n{winner}",
    )


async def test_find_call_by_id_prefix_newest_first(store: CallLogStore) -> None:
    await store.save(new_call("1741054530.42", T0))
    await store.save(new_call("1741054530.420", T0 + timedelta(seconds=1)))
    await store.save(new_call("1741054531.7", T0 + timedelta(seconds=2)))
    await store.save(new_call("1799999999.1", T0 + timedelta(seconds=3)))

    assert [c.call_id for c in await store.find_call("17410545")] == [
        "1741054531.7",
        "1741054530.420",
        "1741054530.42",
    ]
    assert [c.call_id for c in await store.find_call("1741054530.42")] == [
        "1741054530.420",
        "1741054530.42",
    ]
    assert [c.call_id for c in await store.find_call("1741054530.420")] == ["1741054530.420"]
    assert await store.find_call("2") == []
    assert await store.find_call("41054530") == []  # a prefix, not a substring
    assert [c.call_id for c in await store.find_call("")] == [
        "1799999999.1",
        "1741054531.7",
        "1741054530.420",
        "1741054530.42",
    ]
    [found] = await store.find_call("17999")
    assert found == new_call("1799999999.1", T0 + timedelta(seconds=3))


async def test_find_call_is_exact_about_case_and_like_wildcards(store: CallLogStore) -> None:
    for call_id in ["abc-1", "ABC-2", "a%c-3", "a_c-4", "axc-5"]:
        await store.save(new_call(call_id))
    assert [c.call_id for c in await store.find_call("abc")] == ["abc-1"]
    assert [c.call_id for c in await store.find_call("ABC")] == ["ABC-2"]
    assert [c.call_id for c in await store.find_call("a%")] == ["a%c-3"]
    assert [c.call_id for c in await store.find_call("a_c")] == ["a_c-4"]


async def test_find_call_returns_at_most_twenty(store: CallLogStore) -> None:
    for i in range(25):
        await store.save(new_call(f"1741054530.{i:02d}", T0 + timedelta(seconds=i)))
    found = await store.find_call("1741054530.")
    assert [c.call_id for c in found] == [f"1741054530.{i:02d}" for i in range(24, 4, -1)]


async def test_downgrade_to_0001_and_up_again_keeps_existing_rows(db_url: str) -> None:
    served = new_call("served", T0)
    served.outcome, served.desk_answered = Outcome.CONNECTED, "2041"
    closed = closed_hours_call("closed")
    engine = make_engine(db_url)
    try:
        store = CallLogStore(make_sessionmaker(engine))
        for call in (served, closed):
            await store.save(call)
            await store.append_event(CallEvent(call.call_id, T0, "answered"))
        await store.append_event(CallEvent("closed", T0, "recording", {"name": "vm-1"}))
    finally:
        await engine.dispose()

    await downgrade_async(db_url, "0001")
    columns, indexes = await _calls_schema(db_url)
    assert not NEW_COLUMNS & columns
    assert "ix_calls_callback_started_at" not in indexes
    assert "ix_calls_started_at" in indexes

    await upgrade_async(db_url)
    columns, indexes = await _calls_schema(db_url)
    assert columns >= NEW_COLUMNS
    assert "ix_calls_callback_started_at" in indexes
    engine = make_engine(db_url)
    try:
        store = CallLogStore(make_sessionmaker(engine))
        assert await store.get("served") == served
        # The new fields' values went with their columns; the rest of the row stayed.
        assert await store.get("closed") == without_new_fields(closed)
        assert [e.kind for e in await store.events("closed")] == ["answered", "recording"]
        assert [e.kind for e in await store.events("served")] == ["answered"]
        assert await store.list_callbacks() == []
        await store.save(closed)
        assert await store.list_callbacks() == [closed]
        async with make_sessionmaker(engine)() as session:
            assert await session.scalar(select(func.count()).select_from(CallEventRow)) == 3
    finally:
        await engine.dispose()


async def test_foreign_keys_are_still_enforced_after_migrating(db_url: str) -> None:
    await downgrade_async(db_url, "0001")
    await upgrade_async(db_url)
    engine = make_engine(db_url)
    try:
        with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
            async with make_sessionmaker(engine).begin() as session:
                session.add(CallEventRow(call_id="never-saved", at=T0, kind="answered", detail={}))
        assert await CallLogStore(make_sessionmaker(engine)).events("never-saved") == []
    finally:
        await engine.dispose()


async def _calls_schema(url: str) -> tuple[set[str], set[str]]:
    def read(connection: Connection) -> tuple[set[str], set[str]]:
        inspector = inspect(connection)
        columns = {column["name"] for column in inspector.get_columns("calls")}
        indexes = {str(index["name"]) for index in inspector.get_indexes("calls")}
        return columns, indexes

    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()
