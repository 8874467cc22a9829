"""Complaint cases on real SQLite and PostgreSQL databases (see conftest.py): the shared
case scenarios (tests/calllog_contract.py, also run against InMemoryCallLog by
tests/unit/test_calllog_cases_memory.py) on the store and through the spool, operators racing
on one case, revision 0006 down and up, and the foreign keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Inspector, inspect, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from calllog.cases import CaseTransitionError
from calllog.db import downgrade_async, make_engine, make_sessionmaker, upgrade_async
from calllog.model import Case, CaseStatus, Write
from calllog.spool import SpooledCallLog
from calllog.store import CallLogStore
from calllog.tables import CaseChangeRow, CaseRow

# for this folder; asserts in the shared scenarios should report values like ours.
from tests.calllog_contract import (
    CASE_SCENARIOS,
    T0,
    ReadsAfterFlush,
    Scenario,
    a_case_is_opened_once_per_key,
    a_desk_flag_opens_a_received_case_with_its_note,
    cases_that_cannot_be_opened_are_refused,
    desk_flag,
    new_call,
    operator_case,
    scenario_id,
)
from tests.clock import fixed_now

FAST_RETRIES: dict[str, Any] = {"retry_initial": 0.02, "retry_max": 0.2, "now": fixed_now}


@pytest.mark.parametrize("scenario", CASE_SCENARIOS, ids=scenario_id)
async def test_call_log_scenario(store: CallLogStore, scenario: Scenario) -> None:
    await scenario(store)


@pytest.fixture
async def spool(store: CallLogStore, tmp_path: Path) -> AsyncIterator[SpooledCallLog]:
    async with SpooledCallLog(store, tmp_path / "spool", **FAST_RETRIES) as log:
        yield log


# Where the spool's replay meets SQL: the insert of a case and its key.
THROUGH_THE_SPOOL = (
    a_desk_flag_opens_a_received_case_with_its_note,
    a_case_is_opened_once_per_key,
    cases_that_cannot_be_opened_are_refused,
)


@pytest.mark.parametrize("scenario", THROUGH_THE_SPOOL, ids=scenario_id)
async def test_call_log_scenario_through_the_spool(
    spool: SpooledCallLog, scenario: Scenario
) -> None:
    await scenario(ReadsAfterFlush(spool))
    assert await spool.flushed(10)
    assert spool.rejected == 0


class AcknowledgementLostOnce(CallLogStore):
    """The first batch commits, then the connection drops before the answer arrives."""

    lost = False

    async def apply(self, writes: Sequence[Write]) -> None:
        await super().apply(writes)
        if not self.lost:
            self.lost = True
            raise ConnectionResetError("connection reset by peer")


async def test_a_replayed_flag_opens_one_case(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    try:
        store = AcknowledgementLostOnce(make_sessionmaker(engine))
        async with SpooledCallLog(store, tmp_path, **FAST_RETRIES) as spool:
            await spool.save(new_call())
            await spool.open_case(desk_flag())
            await spool.open_case(operator_case())  # no key: the spool gives it one
            assert await spool.flushed(10)
            assert store.lost
        cases = await store.cases_for_call("1741054530.42")
        assert [c.key for c in cases] == ["desk-flag:1741054530.42", f"{spool.spool_id}:3"]
        for case in cases:
            stored = await store.get_case(case.id or 0)
            assert stored is not None and len(stored.history) == 1
    finally:
        await engine.dispose()


# --- operators racing on one case -----------------------------------------------------


async def test_of_operators_changing_a_case_at_once_exactly_one_wins(
    store: CallLogStore,
) -> None:
    await store.save(new_call())
    created = await store.create_case(operator_case())
    assert created.id is not None
    case_id = created.id
    # Each would be allowed from "received"; once one is in, the others are not (the
    # same status cannot change the agency), whether they looked before or after it.
    results = await asyncio.gather(
        *(
            store.update_case(case_id, status="rejected", by=f"op{i}",
                              at=T0 + timedelta(hours=2, seconds=i), agency=f"agency {i}",
                              note=f"n{i}")
            for i in range(6)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Case)]
    assert len(winners) == 1, results
    assert all(isinstance(r, CaseTransitionError) for r in results if r is not winners[0])
    winner = results.index(winners[0])
    stored = await store.get_case(case_id)
    assert stored == winners[0]
    assert stored is not None and stored.agency == f"agency {winner}"
    assert [(c.status, c.by) for c in stored.history] == [
        (CaseStatus.RECEIVED, "Lan"), (CaseStatus.REJECTED, f"op{winner}")
    ]


async def test_a_change_checked_against_a_status_changed_meanwhile_records_nothing(
    db_url: str, store: CallLogStore
) -> None:
    """Another transaction moves the case between update_case's read and its write."""
    await store.save(new_call())
    created = await store.create_case(operator_case())
    assert created.id is not None
    case_id = created.id
    engine = make_engine(db_url)
    try:
        async with engine.connect() as other:
            await other.execute(
                update(CaseRow).where(CaseRow.id == case_id).values(status="rejected")
            )  # not committed yet: update_case reads "received" and waits on the row
            task = asyncio.create_task(store.update_case(
                case_id, status="verifying", by="Lan", at=T0 + timedelta(hours=3)
            ))
            await _until_blocked(other, db_url, task)
            await other.commit()
        with pytest.raises(CaseTransitionError, match="changed by someone else meanwhile"):
            await task
    finally:
        await engine.dispose()
    stored = await store.get_case(case_id)
    assert stored is not None and stored.status is CaseStatus.REJECTED
    assert stored.history == created.history


async def _until_blocked(other: AsyncConnection, db_url: str, task: asyncio.Task[Case]) -> None:
    """Until `task` waits for the other transaction's row lock (PostgreSQL shows it;
    SQLite's busy wait does not, so give it time to get there)."""
    if not db_url.startswith("postgresql"):
        await asyncio.sleep(1.0)
        return
    engine = make_engine(db_url)
    try:
        async with asyncio.timeout(10), engine.connect() as watcher:
            while not task.done():
                waiting = await watcher.scalar(text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE cases%'"
                ))
                if waiting:
                    return
                await asyncio.sleep(0.02)
    finally:
        await engine.dispose()


# --- revision 0006 --------------------------------------------------------------------


async def test_downgrade_to_0005_and_up_again_keeps_the_calls(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        store = CallLogStore(make_sessionmaker(engine))
        await store.save(new_call())
        await store.open_case(desk_flag())
    finally:
        await engine.dispose()

    await downgrade_async(db_url, "0005")
    assert not {"cases", "case_changes"} & await _table_names(db_url)

    await upgrade_async(db_url)
    assert {"cases", "case_changes"} <= await _table_names(db_url)
    indexes = await _index_names(db_url, "cases")
    assert {"ix_cases_key", "ix_cases_call_id", "ix_cases_status_opened_at"} <= indexes
    engine = make_engine(db_url)
    try:
        store = CallLogStore(make_sessionmaker(engine))
        assert await store.get("1741054530.42") == new_call()
        assert await store.list_cases() == []  # the cases went with their tables
        await store.open_case(desk_flag())
        [case] = await store.list_cases()
        assert case.id is not None and case.key == "desk-flag:1741054530.42"
    finally:
        await engine.dispose()


async def test_case_foreign_keys_are_enforced(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        sessionmaker = make_sessionmaker(engine)
        with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
            async with sessionmaker.begin() as session:
                session.add(CaseRow(call_id="never-saved", category="Chung", status="received",
                                    opened_at=T0, opened_by="Lan"))
        with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
            async with sessionmaker.begin() as session:
                session.add(CaseChangeRow(case_id=12345, at=T0, by="Lan", status="received"))
    finally:
        await engine.dispose()


async def _table_names(url: str) -> set[str]:
    return set(await _inspect(url, lambda inspector: inspector.get_table_names()))


async def _index_names(url: str, table: str) -> set[str]:
    return {
        str(index["name"])
        for index in await _inspect(url, lambda inspector: inspector.get_indexes(table))
    }


async def _inspect(url: str, read: Callable[[Inspector], Sequence[Any]]) -> list[Any]:
    def run(connection: Connection) -> list[Any]:
        return list(read(inspect(connection)))

    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(run)
    finally:
        await engine.dispose()
