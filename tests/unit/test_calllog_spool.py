"""SpooledCallLog over the in-memory store: writes journaled and fsync'd without the
database, applied in order and exactly once (also across restarts, outages, a crash in
the middle of a replay, a torn journal line and refused entries); the shared call-log
scenarios through the spool; `apply` on the fake (tests/calllog_contract.py)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from structlog.testing import capture_logs

from calllog.errors import UnknownCallError
from calllog.memory import InMemoryCallLog
from calllog.model import CallEvent, CallRecord, Outcome, Write
from calllog.spool import SpooledCallLog, database_unavailable
from calllog.spool_codec import decode, encode

# for this folder; asserts in the shared scenarios should report values like ours.
from tests.calllog_contract import (
    BATCH_SCENARIOS,
    CALL_SCENARIOS,
    CALLBACK_SCENARIOS,
    CASE_SCENARIOS,
    T0,
    BatchScenario,
    ReadsAfterFlush,
    Scenario,
    new_call,
    scenario_id,
)
from tests.clock import fixed_now


class FakeStore(InMemoryCallLog):
    """The in-memory store with an outage switch, refusals and a record of batches."""

    def __init__(self) -> None:
        super().__init__()
        self.down: BaseException | None = None
        """Raised by `apply` while set: the database is unreachable."""
        self.refuse: Callable[[Write], bool] = lambda write: False
        self.hang_after_commit = False
        """`apply` commits, then never returns (the process dies before it hears)."""
        self.lose_ack_once = False
        """`apply` commits, then the connection drops before the answer arrives."""
        self.attempts = 0
        self.batches: list[int] = []

    async def apply(self, writes: Sequence[Write]) -> None:
        self.attempts += 1
        if self.down is not None:
            raise self.down
        if any(self.refuse(write) for write in writes):
            raise IntegrityError("INSERT INTO calls ...", {}, Exception("refused"))
        await super().apply(writes)
        self.batches.append(len(writes))
        if self.lose_ack_once:
            self.lose_ack_once = False
            raise ConnectionResetError("connection reset by peer")
        if self.hang_after_commit:
            await asyncio.Event().wait()


def open_spool(store: FakeStore, directory: Path, **options: Any) -> SpooledCallLog:
    options = {"retry_initial": 0.005, "retry_max": 0.02, "now": fixed_now, **options}
    return SpooledCallLog(store, directory, **options)


def journal(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / "journal.jsonl").read_text().splitlines()]


def marker(directory: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((directory / "applied.json").read_text())
    return body


async def log_a_call(log: SpooledCallLog, call_id: str, events: int = 3) -> None:
    """What the call flow writes for one call: a save, events, a final save."""
    call = new_call(call_id)
    await log.save(call)
    for i in range(events):
        await log.append_event(CallEvent(call_id, T0 + timedelta(seconds=i), f"step{i}"))
    call.ended_at, call.outcome = T0 + timedelta(minutes=1), Outcome.CONNECTED
    await log.save(call)


async def assert_logged_once_in_order(
    store: FakeStore, call_ids: list[str], events: int = 3
) -> None:
    for call_id in call_ids:
        stored = await store.get(call_id)
        assert stored is not None and stored.outcome is Outcome.CONNECTED, call_id
        assert [e.kind for e in await store.events(call_id)] == [
            f"step{i}" for i in range(events)
        ], call_id


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
async def spool(store: FakeStore, tmp_path: Path) -> AsyncIterator[SpooledCallLog]:
    async with open_spool(store, tmp_path / "spool") as log:
        yield log


# --- the shared scenarios -----------------------------------------------------------


@pytest.mark.parametrize(
    "scenario", CALL_SCENARIOS + CALLBACK_SCENARIOS + CASE_SCENARIOS, ids=scenario_id
)
async def test_call_log_scenario_through_the_spool(
    spool: SpooledCallLog, store: FakeStore, scenario: Scenario
) -> None:
    await scenario(ReadsAfterFlush(spool))
    assert await spool.flushed(5)
    assert spool.rejected == 0


@pytest.mark.parametrize("scenario", BATCH_SCENARIOS, ids=scenario_id)
async def test_batch_scenario_on_the_fake(scenario: BatchScenario) -> None:
    await scenario(InMemoryCallLog())


# --- writing ------------------------------------------------------------------------


async def test_writes_reach_the_store_in_order_and_the_journal_is_compacted(
    spool: SpooledCallLog, store: FakeStore
) -> None:
    call_ids = [f"c{i}" for i in range(5)]
    await asyncio.gather(*(log_a_call(spool, call_id) for call_id in call_ids))
    assert await spool.flushed(5)

    await assert_logged_once_in_order(store, call_ids)
    # The store's append order is the spool's seq order, across calls too.
    events = sorted(
        [e for call_id in call_ids for e in await store.events(call_id)],
        key=lambda e: e.seq or 0,
    )
    keys = [e.key or "" for e in events]
    assert all(key.startswith(f"{spool.spool_id}:") for key in keys)
    seqs = [int(key.rsplit(":", 1)[1]) for key in keys]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    assert spool.depth == 0 and spool.db_ok
    assert (spool.directory / "journal.jsonl").stat().st_size == 0
    assert marker(spool.directory) == {
        "format": 1,
        "spool_id": spool.spool_id,
        "applied_seq": 5 * 5,
    }


async def test_writers_of_the_same_moment_share_one_fsync(
    spool: SpooledCallLog, store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.down = ConnectionRefusedError("down")  # keep the writer off the files
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    await asyncio.gather(*(spool.save(new_call(f"c{i}")) for i in range(50)))
    assert len(fsyncs) == 1
    assert [entry["seq"] for entry in journal(spool.directory)] == list(range(1, 51))

    for i in range(3):  # one after the other: one fsync each
        await spool.save(new_call(f"d{i}"))
    assert len(fsyncs) == 4
    assert spool.depth == 53
    store.down = None
    assert await spool.flushed(5)


async def test_while_the_database_is_down_writes_return_and_wait_in_the_journal(
    spool: SpooledCallLog, store: FakeStore
) -> None:
    store.down = OperationalError("SELECT 1", {}, Exception("connection refused"))
    started = time.monotonic()
    await asyncio.gather(*(log_a_call(spool, f"c{i}") for i in range(10)))
    assert time.monotonic() - started < 2
    assert spool.depth == 10 * 5
    assert len(journal(spool.directory)) == 10 * 5
    assert not await spool.flushed(0.1)
    assert not spool.db_ok
    assert store.attempts > 1  # retrying
    assert await store.list_calls() == []

    with capture_logs() as logs:
        store.down = None
        assert await spool.flushed(5)
    assert spool.db_ok and spool.depth == 0
    await assert_logged_once_in_order(store, [f"c{i}" for i in range(10)])
    assert "call log database available again" in [e["event"] for e in logs]


async def test_entries_of_a_previous_process_are_replayed_first(
    store: FakeStore, tmp_path: Path
) -> None:
    store.down = ConnectionRefusedError("down")
    first = open_spool(store, tmp_path)
    await first.start()
    await log_a_call(first, "before")
    assert await first.close(timeout=0.05) is False  # not applied: kept
    assert len(journal(tmp_path)) == 5

    store.down = None
    async with open_spool(store, tmp_path) as second:
        assert second.spool_id == first.spool_id
        await log_a_call(second, "after")
        assert await second.flushed(5)
    await assert_logged_once_in_order(store, ["before", "after"])
    [before, after] = [await store.events(c) for c in ("before", "after")]
    assert max(e.seq or 0 for e in before) < min(e.seq or 0 for e in after)


async def test_a_crash_in_the_middle_of_a_replay_duplicates_nothing(
    store: FakeStore, tmp_path: Path
) -> None:
    store.hang_after_commit = True  # the batch commits; the process dies before the marker
    first = open_spool(store, tmp_path)
    await first.start()
    await log_a_call(first, "c0")
    await log_a_call(first, "c1")
    assert await first.close(timeout=0.1) is False
    assert marker(tmp_path)["applied_seq"] < 10
    assert store.batches and sum(store.batches) > 0  # some of it is in the database

    store.hang_after_commit = False
    async with open_spool(store, tmp_path) as second:
        assert await second.flushed(5)
    await assert_logged_once_in_order(store, ["c0", "c1"])
    assert marker(tmp_path)["applied_seq"] == 10


async def test_a_lost_commit_acknowledgement_duplicates_nothing(
    spool: SpooledCallLog, store: FakeStore
) -> None:
    store.lose_ack_once = True
    await log_a_call(spool, "c0")
    assert await spool.flushed(5)
    assert sum(store.batches) > 5  # applied again after the connection error
    await assert_logged_once_in_order(store, ["c0"])


async def test_a_torn_last_line_is_ignored(store: FakeStore, tmp_path: Path) -> None:
    store.down = ConnectionRefusedError("down")
    first = open_spool(store, tmp_path)
    await first.start()
    await log_a_call(first, "c0")
    await first.close(timeout=0)
    whole = (tmp_path / "journal.jsonl").read_bytes()
    with (tmp_path / "journal.jsonl").open("ab") as file:
        file.write(b'{"seq":6,"op":"save","call":{"call_id":"torn","cal')  # crash mid-write

    with capture_logs() as logs:
        second = open_spool(store, tmp_path)
        await second.start()
    assert any("torn last line" in e["event"] and e["log_level"] == "warning" for e in logs)
    assert (tmp_path / "journal.jsonl").read_bytes() == whole  # cut before the next write
    await second.save(new_call("next"))
    assert [entry["seq"] for entry in journal(tmp_path)] == [1, 2, 3, 4, 5, 6]

    store.down = None
    assert await second.flushed(5)
    await second.close()
    await assert_logged_once_in_order(store, ["c0"])
    assert await store.get("next") == new_call("next")
    assert await store.get("torn") is None


async def test_an_entry_the_database_refuses_is_set_aside_and_the_rest_continue(
    store: FakeStore, tmp_path: Path
) -> None:
    store.refuse = lambda write: isinstance(write, CallRecord) and write.call_id == "bad"
    store.down = ConnectionRefusedError("down")  # all in one batch once it is back
    async with open_spool(store, tmp_path) as spool:
        await log_a_call(spool, "good1")
        await spool.save(new_call("bad"))
        await spool.append_event(CallEvent("bad", T0, "answered"))
        await log_a_call(spool, "good2")
        with capture_logs() as logs:
            store.down = None
            assert await spool.flushed(5)
        assert spool.rejected == 2

    await assert_logged_once_in_order(store, ["good1", "good2"])
    assert await store.get("bad") is None
    rejected = [json.loads(line) for line in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [(r["entry"]["op"], r["entry"]["seq"]) for r in rejected] == [("save", 6), ("event", 7)]
    assert rejected[0]["error"].startswith("IntegrityError")
    assert rejected[1]["error"].startswith("UnknownCallError")
    assert rejected[0]["entry"]["call"]["call_id"] == "bad"
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["seq"] for e in errors] == [6, 7]


async def test_seq_and_keys_keep_increasing_across_restarts_and_compaction(
    store: FakeStore, tmp_path: Path
) -> None:
    ids: list[str] = []
    for round_ in range(3):
        async with open_spool(store, tmp_path) as spool:
            ids.append(spool.spool_id)
            await log_a_call(spool, f"c{round_}", events=1)
            assert await spool.flushed(5)
            assert (tmp_path / "journal.jsonl").stat().st_size == 0
            assert marker(tmp_path)["applied_seq"] == 3 * (round_ + 1)
    assert len(set(ids)) == 1
    keys = [e.key for c in ("c0", "c1", "c2") for e in await store.events(c)]
    assert keys == [f"{ids[0]}:2", f"{ids[0]}:5", f"{ids[0]}:8"]


async def test_a_long_backlog_is_applied_in_batches(store: FakeStore, tmp_path: Path) -> None:
    store.down = ConnectionRefusedError("down")
    first = open_spool(store, tmp_path)
    await first.start()
    await asyncio.gather(*(first.save(new_call(f"c{i:03d}")) for i in range(450)))
    await first.close(timeout=0)

    store.down = None
    async with open_spool(store, tmp_path, batch_max=200) as second:
        assert second.depth == 450
        assert await second.flushed(5)
    assert store.batches == [200, 200, 50]
    assert len(await store.list_calls()) == 450


async def test_a_long_replay_compacts_the_journal_on_the_way(
    store: FakeStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.down = ConnectionRefusedError("down")
    first = open_spool(store, tmp_path)
    await first.start()
    await asyncio.gather(*(first.save(new_call(f"c{i:03d}")) for i in range(100)))
    await first.close(timeout=0)

    store.down = None
    second = open_spool(store, tmp_path, batch_max=5, compact_bytes=1000)
    kept: list[int] = []  # entries left in the journal by each compaction
    rewrite = second._files.rewrite

    def recording_rewrite(keep_from: int) -> None:
        rewrite(keep_from)
        kept.append(len(journal(tmp_path)))

    monkeypatch.setattr(second._files, "rewrite", recording_rewrite)
    async with second:
        assert await second.flushed(5)
    # Once the applied part outweighs the rest: the rewrites stay linear in total.
    assert 40 <= kept[0] <= 50 and kept[-1] == 0
    assert kept == sorted(kept, reverse=True) and len(kept) <= 7
    assert len(await store.list_calls()) == 100


async def test_the_schema_is_prepared_first_and_retried_while_it_fails(
    store: FakeStore, tmp_path: Path
) -> None:
    attempts = 0

    async def ensure_schema() -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionRefusedError("down")

    async with open_spool(store, tmp_path, ensure_schema=ensure_schema) as spool:
        await log_a_call(spool, "c0")
        assert await spool.flushed(5)
        assert attempts == 3 and spool.db_ok
    await assert_logged_once_in_order(store, ["c0"])


async def test_the_writer_waits_for_the_schema_before_applying(
    store: FakeStore, tmp_path: Path
) -> None:
    schema_ready = asyncio.Event()
    async with open_spool(store, tmp_path, ensure_schema=schema_ready.wait) as spool:
        await log_a_call(spool, "c0")
        assert not await spool.flushed(0.05)
        assert store.attempts == 0
        schema_ready.set()
        assert await spool.flushed(5)


async def test_a_failed_journal_write_raises_and_leaves_no_torn_line(
    spool: SpooledCallLog, store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.down = ConnectionRefusedError("down")
    await spool.save(new_call("c0"))
    size = (spool.directory / "journal.jsonl").stat().st_size

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", full_disk)
        with pytest.raises(OSError, match="No space"):
            await spool.save(new_call("c1"))
    assert (spool.directory / "journal.jsonl").stat().st_size == size
    await spool.save(new_call("c2"))
    assert [e["call"]["call_id"] for e in journal(spool.directory)] == ["c0", "c2"]
    assert spool.depth == 2
    store.down = None
    assert await spool.flushed(5)
    assert [c.call_id for c in await store.list_calls()] == ["c2", "c0"]


async def test_an_unreadable_marker_replays_the_whole_journal_without_duplicates(
    store: FakeStore, tmp_path: Path
) -> None:
    store.hang_after_commit = True
    first = open_spool(store, tmp_path)
    await first.start()
    await log_a_call(first, "c0")
    await first.close(timeout=0.1)
    (tmp_path / "applied.json").write_text("{not json")

    store.hang_after_commit = False
    with capture_logs() as logs:
        async with open_spool(store, tmp_path) as second:
            assert second.spool_id != first.spool_id  # new keys cannot meet the old ones
            await log_a_call(second, "c1")
            assert await second.flushed(5)
    assert any("unreadable call log spool marker" in e["event"] for e in logs)
    await assert_logged_once_in_order(store, ["c0", "c1"])
    assert marker(tmp_path)["applied_seq"] == 10


# --- lifecycle ----------------------------------------------------------------------


async def test_the_directory_is_private_and_used_by_one_process(
    store: FakeStore, tmp_path: Path
) -> None:
    directory = tmp_path / "var" / "spool"
    async with open_spool(store, directory):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE((directory / "journal.jsonl").stat().st_mode) == 0o600
        with pytest.raises(RuntimeError, match="in use"):
            await open_spool(store, directory).start()
    async with open_spool(store, directory):  # released by close()
        pass


async def test_writes_before_start_and_after_close_are_refused(
    store: FakeStore, tmp_path: Path
) -> None:
    spool = open_spool(store, tmp_path)
    with pytest.raises(RuntimeError, match="start"):
        await spool.save(new_call())
    await spool.start()
    await spool.save(new_call())
    assert await spool.close() is True
    with pytest.raises(RuntimeError, match="closed"):
        await spool.append_event(CallEvent("1741054530.42", T0, "answered"))
    assert await store.get("1741054530.42") == new_call()


async def test_run_in_a_task_of_its_own_takes_writes_at_once_and_ends_at_close(
    store: FakeStore, tmp_path: Path
) -> None:
    spool = open_spool(store, tmp_path)
    runner = asyncio.create_task(spool.run())
    await asyncio.sleep(0)  # run() has begun opening the directory
    await log_a_call(spool, "c0")  # waits for the opening, not refused
    assert await spool.flushed(5)
    assert await spool.close() is True
    await runner  # returns: close() stopped the writer
    await assert_logged_once_in_order(store, ["c0"])


async def test_close_after_the_run_task_was_cancelled_does_not_wait(
    store: FakeStore, tmp_path: Path
) -> None:
    store.down = ConnectionRefusedError("down")
    spool = open_spool(store, tmp_path)
    runner = asyncio.create_task(spool.run())
    await asyncio.sleep(0)
    await log_a_call(spool, "c0")
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert runner.cancelled()
    started = time.monotonic()
    assert await spool.close(timeout=5) is False
    assert time.monotonic() - started < 1
    assert len(journal(tmp_path)) == 5  # for the next start


async def test_close_is_bounded_while_the_database_is_down(
    store: FakeStore, tmp_path: Path
) -> None:
    store.down = ConnectionRefusedError("down")
    spool = open_spool(store, tmp_path, retry_initial=0.01, retry_max=10.0)
    await spool.start()
    await spool.save(new_call())
    started = time.monotonic()
    with capture_logs() as logs:
        assert await spool.close(timeout=0.2) is False
    assert time.monotonic() - started < 1
    assert any("replayed at the next start" in e["event"] for e in logs)
    assert len(journal(tmp_path)) == 1


async def test_invalid_writes_raise_at_once_and_are_not_journaled(
    spool: SpooledCallLog,
) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await spool.save(new_call(started_at=datetime(2025, 3, 4, 9, 0)))
    with pytest.raises(UnknownCallError):
        await spool.append_event(CallEvent("never-saved", T0, "answered"))
    assert spool.depth == 0
    assert (spool.directory / "journal.jsonl").stat().st_size == 0


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (ConnectionRefusedError("refused"), True),
        (TimeoutError(), True),
        (OSError("network unreachable"), True),
        (OperationalError("x", {}, Exception("database is locked")), True),
        (DBAPIError("x", {}, type("E", (Exception,), {"sqlstate": "57P01"})()), True),
        (DBAPIError("x", {}, type("E", (Exception,), {"sqlstate": "22001"})()), False),
        (IntegrityError("x", {}, Exception("duplicate key")), False),
        (UnknownCallError("c0"), False),
        (ValueError("bad"), False),
    ],
)
def test_which_errors_mean_the_database_is_unavailable(
    error: BaseException, unavailable: bool
) -> None:
    assert database_unavailable(error) is unavailable


async def test_off_the_call_path_a_calls_first_save_still_waits_for_the_disk(
    store: FakeStore, tmp_path: Path
) -> None:
    """The service's mode: later writes return at once and ride the next flush; the
    first save of a call is on disk when it returns (a kill cannot lose the row)."""
    directory = tmp_path / "spool"
    async with open_spool(store, directory, wait_for_disk=False, flush_linger=30.0,
                          batch_linger=30.0) as log:
        call = new_call("c1")
        async with asyncio.timeout(5):  # not the 30 s linger
            await log.save(call)
        assert [e["op"] for e in journal(directory)] == ["save"]
        await log.append_event(CallEvent("c1", T0, "step0"))
        call.outcome = Outcome.CONNECTED
        await log.save(call)
        assert len(journal(directory)) == 1  # queued, not written yet
        assert log.depth == 3
    # Closing writes what was queued; the writer had it all in the store by then or it
    # stays in the journal for the next start: either way, nothing is lost.
    stored = await store.get("c1")
    if stored is not None and stored.outcome is Outcome.CONNECTED:
        assert [e.kind for e in await store.events("c1")] == ["step0"]
    else:
        assert [e["op"] for e in journal(directory)][-2:] == ["event", "save"]


def test_a_journal_line_carries_the_queue_wait() -> None:
    call = CallRecord(call_id="q1", caller_number="0911000000", started_at=T0,
                      queue_joined_at=T0 + timedelta(seconds=20),
                      queue_left_at=T0 + timedelta(seconds=45.5), queue_result="abandoned")
    assert decode(encode(3, call)).write == call
