"""SpooledCallLog over CallLogStore on real SQLite and PostgreSQL (see conftest.py): the
shared scenarios where the spool meets SQL (all of them run through the spool over the
fake in tests/unit/test_calllog_spool.py), `apply`, replays that duplicate nothing (a lost
commit acknowledgement, processes SIGKILLed while writing and while replaying), the
schema prepared by the spool, revision 0003 down and up, and a PostgreSQL server really
stopped and started while calls go on."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Connection, func, inspect, select

from calllog.db import downgrade_async, make_engine, make_sessionmaker, upgrade_async
from calllog.model import CallEvent, ConfigReload, Outcome, Write
from calllog.spool import SpooledCallLog
from calllog.store import CallLogStore
from calllog.tables import CallEventRow

# for this folder; asserts in the shared scenarios should report values like ours.
from tests.calllog_contract import (
    BATCH_SCENARIOS,
    T0,
    BatchScenario,
    ReadsAfterFlush,
    Scenario,
    a_later_save_does_not_undo_a_done_call_back,
    an_event_whose_key_is_in_the_log_is_not_appended_again,
    events_come_back_in_append_order_with_their_detail,
    new_call,
    saving_again_at_each_milestone_updates_the_same_row,
    scenario_id,
    times_come_back_as_aware_utc,
)
from tests.clock import fixed_now

if TYPE_CHECKING:
    from tests.integration.conftest import StoppablePostgres

ROOT = Path(__file__).resolve().parents[2]
FAST_RETRIES: dict[str, Any] = {"retry_initial": 0.02, "retry_max": 0.2, "now": fixed_now}


@asynccontextmanager
async def spooled(
    url: str, directory: Path, store_class: type[CallLogStore] = CallLogStore, **options: Any
) -> AsyncIterator[tuple[SpooledCallLog, CallLogStore]]:
    engine = make_engine(url)
    try:
        store = store_class(make_sessionmaker(engine))
        async with SpooledCallLog(store, directory, **{**FAST_RETRIES, **options}) as spool:
            yield spool, store
    finally:
        await engine.dispose()


async def log_a_call(log: SpooledCallLog, call_id: str) -> None:
    call = new_call(call_id)
    await log.save(call)
    for step in range(3):
        await log.append_event(CallEvent(call_id, T0 + timedelta(seconds=step), f"step{step}"))
    call.ended_at, call.outcome = T0 + timedelta(minutes=1), Outcome.CONNECTED
    await log.save(call)


async def assert_each_call_logged_once(
    store: CallLogStore, call_ids: Sequence[str], unfinished: Sequence[str] = ()
) -> None:
    """Every call complete, each event once, and the events in the order written; no
    other calls but `unfinished` ones."""
    stored = [c.call_id for c in await store.list_calls(limit=100_000)]
    assert sorted(stored) == sorted([*call_ids, *unfinished])
    for call_id in call_ids:
        stored = await store.get(call_id)
        assert stored is not None and stored.outcome is Outcome.CONNECTED, call_id
        events = await store.events(call_id)
        assert [e.kind for e in events] == ["step0", "step1", "step2"], call_id
    keys = [e.key for call_id in call_ids for e in await store.events(call_id)]
    assert len(set(keys)) == len(keys)


async def all_events_in_id_order(url: str) -> list[CallEventRow]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list(await session.scalars(select(CallEventRow).order_by(CallEventRow.id)))
    finally:
        await engine.dispose()


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


def spool_seq(event: CallEventRow) -> int:
    assert event.key is not None
    return int(event.key.rsplit(":", 1)[1])


@pytest.fixture
async def spool(store: CallLogStore, tmp_path: Path) -> AsyncIterator[SpooledCallLog]:
    async with SpooledCallLog(store, tmp_path / "spool", **FAST_RETRIES) as log:
        yield log


# --- the shared scenarios -----------------------------------------------------------


# The spool's own side of every scenario is shown over the fake (the unit tests); over
# the databases, those where the spool's replay meets SQL: upserts, keys, call backs.
THROUGH_THE_SPOOL = (
    saving_again_at_each_milestone_updates_the_same_row,
    times_come_back_as_aware_utc,
    events_come_back_in_append_order_with_their_detail,
    an_event_whose_key_is_in_the_log_is_not_appended_again,
    a_later_save_does_not_undo_a_done_call_back,
)


@pytest.mark.parametrize("scenario", THROUGH_THE_SPOOL, ids=scenario_id)
async def test_call_log_scenario_through_the_spool(
    spool: SpooledCallLog, scenario: Scenario
) -> None:
    await scenario(ReadsAfterFlush(spool))
    assert await spool.flushed(10)
    assert spool.rejected == 0


@pytest.mark.parametrize("scenario", BATCH_SCENARIOS, ids=scenario_id)
async def test_batch_scenario_on_the_store(store: CallLogStore, scenario: BatchScenario) -> None:
    await scenario(store)


# --- exactly once, in order ---------------------------------------------------------


async def test_concurrent_calls_reach_the_database_once_in_order(
    db_url: str, tmp_path: Path
) -> None:
    call_ids = [f"c{i:02d}" for i in range(20)]
    async with spooled(db_url, tmp_path) as (spool, store):
        await asyncio.gather(*(log_a_call(spool, call_id) for call_id in call_ids))
        assert await spool.flushed(10)
        await assert_each_call_logged_once(store, call_ids)
        assert (tmp_path / "journal.jsonl").stat().st_size == 0
    seqs = [spool_seq(event) for event in await all_events_in_id_order(db_url)]
    assert seqs == sorted(seqs)


class AcknowledgementLostOnce(CallLogStore):
    """The first batch commits, then the connection drops before the answer arrives."""

    lost = False

    async def apply(self, writes: Sequence[Write]) -> None:
        await super().apply(writes)
        if not AcknowledgementLostOnce.lost:
            AcknowledgementLostOnce.lost = True
            raise ConnectionResetError("connection reset by peer")


async def test_a_lost_commit_acknowledgement_duplicates_nothing(
    db_url: str, tmp_path: Path
) -> None:
    AcknowledgementLostOnce.lost = False
    async with spooled(db_url, tmp_path, AcknowledgementLostOnce) as (spool, store):
        await log_a_call(spool, "c0")
        await log_a_call(spool, "c1")
        assert await spool.flushed(10)
        assert AcknowledgementLostOnce.lost
        await assert_each_call_logged_once(store, ["c0", "c1"])


async def test_a_reload_journaled_once_is_one_row_however_often_it_is_replayed(
    db_url: str, tmp_path: Path
) -> None:
    """A crash between the commit and the marker: the next start replays the entry."""
    spool_dir = tmp_path / "spool"
    reload = ConfigReload(at=T0, file="config/hotline.yaml", sha256="a" * 64,
                          status="applied")
    async with spooled(db_url, spool_dir, NeverReachable) as (spool, _):
        await spool.record_reload(reload)
        await spool.close(timeout=0)
    left_behind = {path.name: path.read_bytes() for path in spool_dir.iterdir()
                   if path.name != "lock"}
    for _ in range(2):
        for name, data in left_behind.items():  # as the crashed process left it
            (spool_dir / name).write_bytes(data)
        async with spooled(db_url, spool_dir) as (spool, store):
            assert await spool.flushed(10)
            reloads = await store.list_reloads()
    assert [(r.sha256, r.status) for r in reloads] == [("a" * 64, "applied")]


class NeverReachable(CallLogStore):
    async def apply(self, writes: Sequence[Write]) -> None:
        raise ConnectionRefusedError("the database is down")


CHILD = """
import asyncio, sys
from datetime import UTC, datetime
from calllog.db import make_engine, make_sessionmaker
from calllog.model import CallEvent, CallRecord
from calllog.spool import SpooledCallLog
from calllog.store import CallLogStore
from tests.clock import fixed_now

class SlowStore(CallLogStore):  # a replay that lasts long enough to be killed in
    async def apply(self, writes):
        await asyncio.sleep(0.005)
        await super().apply(writes)

async def main(url, directory, prefix, calls):
    engine = make_engine(url)
    spool = SpooledCallLog(SlowStore(make_sessionmaker(engine)), directory, batch_max=7,
                           retry_initial=0.05, retry_max=0.2, now=fixed_now)
    await spool.start()
    at = datetime(2025, 3, 4, 2, 15, 30, tzinfo=UTC)
    for i in range(int(calls)):
        call = CallRecord(f"{prefix}{i:04d}", "0901234567", at)
        await spool.save(call)
        for step in range(3):
            await spool.append_event(CallEvent(call.call_id, at, f"step{step}"))
        call.outcome = "connected"
        await spool.save(call)
        print(call.call_id, file=sys.stderr, flush=True)
    print("written", file=sys.stderr, flush=True)
    await asyncio.Event().wait()

asyncio.run(main(*sys.argv[1:]))
"""


async def start_child(url: str, directory: Path, prefix: str, calls: int) -> Any:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        url,
        str(directory),
        prefix,
        str(calls),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def acknowledged(child: Any, until: str | None = None) -> list[str]:
    """Call ids the child logged (its writes returned), up to `until` or its end."""
    done: list[str] = []
    other: list[str] = []
    while line := (await child.stderr.readline()).decode().strip():
        if line == until:
            break
        if line[:1] in ("c", "n") and line[1:].isdigit():
            done.append(line)
        else:
            other.append(line)
    assert until is None or line == until, "\n".join(other)
    return done


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_processes_killed_while_writing_and_while_replaying_lose_and_repeat_nothing(
    db_url: str, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    # 1. The database is unreachable: 100 calls go to the journal, then SIGKILL.
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/hotline"
    first = await start_child(nowhere, spool_dir, "c", 100)
    backlog = await acknowledged(first, until="written")
    first.send_signal(signal.SIGKILL)
    await first.wait()
    assert len(backlog) == 100

    # 2. The next process replays that (slowly) while new calls come in; SIGKILL it
    #    in the middle of the replay.
    second = await start_child(db_url, spool_dir, "n", 200)
    reading = asyncio.create_task(acknowledged(second))
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            seen = 0
            deadline = time.monotonic() + 60
            while seen < 60 and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
                seen = await session.scalar(select(func.count()).select_from(CallEventRow)) or 0
                await session.rollback()
    finally:
        await engine.dispose()
    second.send_signal(signal.SIGKILL)
    await second.wait()
    new_calls = await reading
    assert 60 <= seen < 100 * 3  # it was killed in the middle of the replay

    # 3. This process replays the rest: everything acknowledged is there exactly once.
    async with spooled(db_url, spool_dir) as (spool, store):
        assert await spool.flushed(30)
        assert spool.rejected == 0
        stored = {c.call_id for c in await store.list_calls(limit=100_000)}
        # A call whose writes had not all returned when its process died may be partial.
        unfinished = sorted(stored - set(backlog) - set(new_calls))
        assert len(unfinished) <= 1
        await assert_each_call_logged_once(store, backlog + new_calls, unfinished)
        for call_id in unfinished:
            kinds = [e.kind for e in await store.events(call_id)]
            assert kinds == ["step0", "step1", "step2"][: len(kinds)]
    events = await all_events_in_id_order(db_url)
    assert [spool_seq(e) for e in events] == sorted(spool_seq(e) for e in events)
    assert not (spool_dir / "rejected.jsonl").exists()


# --- schema -------------------------------------------------------------------------


async def test_the_spool_prepares_the_schema_of_an_empty_database(
    empty_db_url: str, tmp_path: Path
) -> None:
    async def ensure_schema() -> None:
        await upgrade_async(empty_db_url)

    async with spooled(empty_db_url, tmp_path, ensure_schema=ensure_schema) as (spool, store):
        await log_a_call(spool, "c0")
        assert await spool.flushed(30)
        await assert_each_call_logged_once(store, ["c0"])


async def test_migration_0003_goes_down_and_up_keeping_the_events(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        store = CallLogStore(make_sessionmaker(engine))
        await store.save(new_call())
        await store.append_event(CallEvent("1741054530.42", T0, "answered", key="s:1"))
        await store.append_event(CallEvent("1741054530.42", T0, "prompt"))
    finally:
        await engine.dispose()

    await downgrade_async(db_url, "0002")
    columns, indexes = await _events_schema(db_url)
    assert "key" not in columns and "ix_call_events_key" not in indexes
    assert "ix_call_events_call_id_id" in indexes

    await upgrade_async(db_url)
    columns, indexes = await _events_schema(db_url)
    assert "key" in columns and indexes["ix_call_events_key"] is True  # unique
    engine = make_engine(db_url)
    try:
        store = CallLogStore(make_sessionmaker(engine))
        events = await store.events("1741054530.42")
        assert [(e.kind, e.key) for e in events] == [("answered", None), ("prompt", None)]
        for _ in range(2):
            await store.append_event(CallEvent("1741054530.42", T0, "hangup", key="s:1"))
        assert [e.kind for e in await store.events("1741054530.42")] == [
            "answered",
            "prompt",
            "hangup",
        ]
    finally:
        await engine.dispose()


async def _events_schema(url: str) -> tuple[set[str], dict[str, bool]]:
    def read(connection: Connection) -> tuple[set[str], dict[str, bool]]:
        inspector = inspect(connection)
        columns = {column["name"] for column in inspector.get_columns("call_events")}
        indexes = {
            str(index["name"]): bool(index["unique"])
            for index in inspector.get_indexes("call_events")
        }
        return columns, indexes

    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


# --- a real outage ------------------------------------------------------------------


async def test_calls_go_on_while_postgresql_is_stopped_and_started(
    stoppable_pg: StoppablePostgres, tmp_path: Path
) -> None:
    url = stoppable_pg.url
    slowest = 0.0

    async def call(call_id: str) -> None:
        nonlocal slowest
        started = time.monotonic()
        await log_a_call(spool, call_id)
        slowest = max(slowest, (time.monotonic() - started) / 5)

    async def ensure_schema() -> None:
        await upgrade_async(url)

    await asyncio.to_thread(stoppable_pg.stop)  # the service starts with the database down
    options = {"ensure_schema": ensure_schema, "retry_initial": 0.05, "retry_max": 0.5}
    async with spooled(url, tmp_path, **options) as (spool, store):
        await asyncio.gather(*(call(f"c{i:03d}") for i in range(10)))
        await asyncio.sleep(0.3)
        assert spool.depth == 10 * 5 and not spool.db_ok

        await asyncio.to_thread(stoppable_pg.start)
        assert await spool.flushed(30)
        assert spool.db_ok

        written = [f"c{i:03d}" for i in range(10)]
        enough = asyncio.Event()

        async def traffic() -> None:
            while not enough.is_set():
                written.append(f"c{len(written):03d}")
                await call(written[-1])
                await asyncio.sleep(0.01)

        calls = asyncio.create_task(traffic())
        await until(lambda: len(written) >= 25 and spool.depth < 5)  # applied as they come
        await asyncio.to_thread(stoppable_pg.stop)  # in the middle of the traffic
        await until(lambda: not spool.db_ok and spool.depth >= 50)
        down_calls = len(written)
        await asyncio.to_thread(stoppable_pg.start)
        await until(lambda: len(written) >= down_calls + 10)
        enough.set()
        await calls
        assert await spool.flushed(30)
        assert spool.db_ok and spool.rejected == 0
        await assert_each_call_logged_once(store, written)
    seqs = [spool_seq(event) for event in await all_events_in_id_order(url)]
    assert seqs == sorted(seqs) and len(seqs) == len(written) * 3
    assert slowest < 0.5  # no write waited for the database
