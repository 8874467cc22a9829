"""CallLogStore on real SQLite and PostgreSQL databases (see conftest.py): the shared
call-log scenarios (tests/calllog_contract.py, also run against InMemoryCallLog by
tests/unit/test_calllog_memory.py), concurrency, and the migrations."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from calllog.db import downgrade_async, make_engine, make_sessionmaker, upgrade_async
from calllog.model import CallEvent
from calllog.store import CallLogStore
from calllog.tables import metadata

# for this folder; asserts in the shared scenarios should report values like ours.
from tests.calllog_contract import CALL_SCENARIOS, T0, Scenario, new_call, scenario_id


@pytest.mark.parametrize("scenario", CALL_SCENARIOS, ids=scenario_id)
async def test_call_log_scenario(store: CallLogStore, scenario: Scenario) -> None:
    await scenario(store)


async def test_concurrent_calls_are_all_logged(store: CallLogStore) -> None:
    calls = [new_call(f"c{i}", T0 + timedelta(seconds=i)) for i in range(20)]
    await asyncio.gather(*(store.save(call) for call in calls))
    await asyncio.gather(*(store.save(call) for call in calls))  # same rows, concurrently
    await asyncio.gather(*(store.append_event(CallEvent(c.call_id, T0, "answered")) for c in calls))

    assert sorted(c.call_id for c in await store.list_calls()) == sorted(c.call_id for c in calls)
    for call in calls:
        assert [e.kind for e in await store.events(call.call_id)] == ["answered"]


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
