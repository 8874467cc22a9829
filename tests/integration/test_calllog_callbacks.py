"""Call backs on real SQLite and PostgreSQL databases (see conftest.py): the shared
scenarios for the fields added by revision 0002, the call-back queue and `find_call`
(tests/calllog_contract.py, also run against InMemoryCallLog by
tests/unit/test_calllog_memory_callbacks.py), concurrent marks, and the migration."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Connection, func, inspect, select
from sqlalchemy.exc import IntegrityError

from calllog.db import downgrade_async, make_engine, make_sessionmaker, upgrade_async
from calllog.model import CallEvent, Outcome
from calllog.store import CallLogStore
from calllog.tables import CallEventRow

# for this folder; asserts in the shared scenarios should report values like ours.
from tests.calllog_contract import (
    CALLBACK_SCENARIOS,
    T0,
    Scenario,
    closed_hours_call,
    new_call,
    scenario_id,
    without_new_fields,
)

NEW_COLUMNS = {
    "caller_agency",
    "recording",
    "recording_seconds",
    "callback",
    "callback_done_at",
    "callback_note",
}


@pytest.mark.parametrize("scenario", CALLBACK_SCENARIOS, ids=scenario_id)
async def test_call_log_scenario(store: CallLogStore, scenario: Scenario) -> None:
    await scenario(store)


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
