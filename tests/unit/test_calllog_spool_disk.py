"""SpooledCallLog when its disk misbehaves (full, failing, a planted symbolic link) and
with a long backlog: nothing taken is dropped, files are never followed through a link,
and a day of journal replays in bounded memory. Failures are injected at the file
layer's seam (os.fsync, os.replace)."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from calllog.model import CallEvent, CallRecord, Outcome, Write
from calllog.spool import SpooledCallLog
from tests.calllog_contract import T0, new_call
from tests.unit.test_calllog_spool import (
    FakeStore,
    assert_logged_once_in_order,
    journal,
    log_a_call,
    open_spool,
)

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


class Disk:
    """os.fsync that fails while `full` (ENOSPC), and a directory fsync that fails once
    right after the journal is replaced (`fail_after_compaction`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        self.fail_after_compaction = False
        self._armed = False
        fsync, replace = os.fsync, os.replace

        def fake_fsync(fd: int) -> None:
            if self.full:
                raise ENOSPC
            if self._armed and stat.S_ISDIR(os.fstat(fd).st_mode):
                self._armed = False
                raise OSError(errno.EIO, "Input/output error")
            fsync(fd)

        def fake_replace(src: Any, dst: Any) -> None:
            replace(src, dst)
            if self.fail_after_compaction and Path(dst).name == "journal.jsonl":
                self.fail_after_compaction, self._armed = False, True

        monkeypatch.setattr(os, "fsync", fake_fsync)
        monkeypatch.setattr(os, "replace", fake_replace)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    return Disk(monkeypatch)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


async def later_steps(log: SpooledCallLog, call: CallRecord, events: int = 5) -> None:
    for i in range(events):
        await log.append_event(CallEvent(call.call_id, T0 + timedelta(seconds=i), f"step{i}"))
    call.ended_at, call.outcome = T0 + timedelta(minutes=1), Outcome.CONNECTED
    await log.save(call)


# --- a full disk --------------------------------------------------------------------


async def test_writes_that_did_not_wait_survive_a_full_disk_and_land_in_order(
    store: FakeStore, disk: Disk, tmp_path: Path
) -> None:
    async with open_spool(store, tmp_path, wait_for_disk=False) as log:
        call = new_call("c0")
        await log.save(call)  # the first save waits for the disk: on it
        disk.full = True
        await later_steps(log, call)  # returns at once, as on the call's path
        await asyncio.sleep(0.2)  # several failed flushes (retries every 5..20 ms)
        disk.full = False
        assert await log.flushed(5)
    stored = await store.get("c0")
    assert stored is not None and stored.outcome is Outcome.CONNECTED
    assert [e.kind for e in await store.events("c0")] == [f"step{i}" for i in range(5)]


async def test_a_full_disk_shows_in_the_stats_until_the_flush_succeeds(
    store: FakeStore, disk: Disk, tmp_path: Path
) -> None:
    async with open_spool(store, tmp_path, wait_for_disk=False) as log:
        call = new_call("c0")
        await log.save(call)
        disk.full = True
        await later_steps(log, call)
        await until(lambda: log.stats.journal_failures >= 2)
        stats = log.stats
        assert not stats.journal_ok and stats.unwritten == 6 and stats.depth >= 6
        disk.full = False
        await until(lambda: log.stats.unwritten == 0)
        assert log.stats.journal_ok
        assert await log.flushed(5)
        assert [e["op"] for e in journal(tmp_path)] == []  # compacted: all applied


async def test_a_write_that_waits_gets_the_disk_error_and_is_not_taken(
    store: FakeStore, disk: Disk, tmp_path: Path
) -> None:
    async with open_spool(store, tmp_path, wait_for_disk=False) as log:
        disk.full = True
        with pytest.raises(OSError, match="No space"):
            await log.save(new_call("c1"))  # a call's first save waits
        disk.full = False
        call = new_call("c1")
        await log.save(call)  # waits again: its row is on disk when it returns
        assert [e["op"] for e in journal(tmp_path)] == ["save"]
        await later_steps(log, call, events=1)
        assert await log.flushed(5)
    assert [e.kind for e in await store.events("c1")] == ["step0"]


async def test_after_a_failed_directory_fsync_in_compaction_writes_reach_the_journal(
    store: FakeStore, disk: Disk, tmp_path: Path
) -> None:
    async with open_spool(store, tmp_path) as log:
        disk.fail_after_compaction = True
        await log.save(new_call("c0"))
        assert await log.flushed(5)  # applied, then compacted (its directory fsync failed)
        store.down = ConnectionRefusedError("down")
        call = new_call("c1")
        await log.save(call)
        await later_steps(log, call, events=2)
        await log.close(timeout=0)
    assert [e["op"] for e in journal(tmp_path)] == ["save", "event", "event", "save"]
    store.down = None
    async with open_spool(store, tmp_path) as log:
        assert await log.flushed(5)
    assert [e.kind for e in await store.events("c1")] == ["step0", "step1"]


# --- planted symbolic links -----------------------------------------------------------


@pytest.mark.parametrize("name", ["journal.jsonl", "applied.json", "rejected.jsonl", "lock"])
async def test_a_planted_symbolic_link_is_refused_not_followed(
    store: FakeStore, tmp_path: Path, name: str
) -> None:
    directory, target = tmp_path / "spool", tmp_path / "elsewhere"
    directory.mkdir(mode=0o700)
    target.write_bytes(b"not yours\n")
    (directory / name).symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        await open_spool(store, directory).start()
    assert target.read_bytes() == b"not yours\n"


async def test_the_spool_files_are_created_private(
    store: FakeStore, tmp_path: Path
) -> None:
    old_umask = os.umask(0)
    try:
        store.refuse = lambda write: True
        async with open_spool(store, tmp_path) as log:
            await log.save(new_call("c0"))
            assert await log.flushed(5)
    finally:
        os.umask(old_umask)
    for name in ("journal.jsonl", "applied.json", "rejected.jsonl", "lock"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


# --- rejected.jsonl counted -------------------------------------------------------------


async def test_rejected_entries_are_counted_since_start_and_at_start(
    store: FakeStore, tmp_path: Path
) -> None:
    (tmp_path / "rejected.jsonl").write_bytes(b'{"old":1}\n{"old":2}\n')
    store.refuse = lambda write: isinstance(write, CallRecord) and write.call_id == "bad"
    async with open_spool(store, tmp_path) as log:
        await log.save(new_call("bad"))
        await log.save(new_call("good"))
        assert await log.flushed(5)
        assert (log.stats.rejected, log.stats.rejected_at_start) == (1, 2)
    assert len((tmp_path / "rejected.jsonl").read_bytes().splitlines()) == 3


# --- a day of journal -------------------------------------------------------------------


class CountingStore(FakeStore):
    """Keeps nothing, checks that events arrive once and in order (their keys' seqs)."""

    def __init__(self) -> None:
        super().__init__()
        self.next_seq = 1

    async def apply(self, writes: Sequence[Write]) -> None:
        for write in writes:
            assert isinstance(write, CallEvent) and write.key is not None
            seq = int(write.key.rsplit(":", 1)[1])
            assert seq == self.next_seq, f"entry {seq} after {self.next_seq - 1}"
            self.next_seq += 1


def journal_lines(count: int) -> Iterator[bytes]:
    detail = {"note": "x" * 1800}  # ~1.9 KB lines: 16,000 entries make 31 MB
    for seq in range(1, count + 1):
        event = {"call_id": f"c{seq // 15}", "at": T0.isoformat(), "kind": "step",
                 "detail": detail, "key": f"old:{seq}"}
        yield orjson.dumps({"seq": seq, "op": "event", "event": event},
                           option=orjson.OPT_APPEND_NEWLINE)


async def test_a_30_mb_journal_replays_in_bounded_memory_each_entry_once(
    tmp_path: Path,
) -> None:
    count = 0
    with (tmp_path / "journal.jsonl").open("wb") as out:
        chunk: list[bytes] = []
        for line in journal_lines(16_000):
            chunk.append(line)
            count += 1
            if len(chunk) == 5000:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))
    size = (tmp_path / "journal.jsonl").stat().st_size
    assert size > 30_000_000
    store = CountingStore()
    tracemalloc.start()
    try:
        async with open_spool(store, tmp_path, batch_max=500) as log:
            assert log.stats.journal_bytes == size
            assert await log.flushed(120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert store.next_seq == count + 1
    print(f"replayed {count} entries, {size / 1e6:.1f} MB: peak {peak / 1e6:.2f} MB traced")
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB journal"


async def test_a_backlog_past_the_memory_bound_is_read_back_from_the_journal_in_order(
    store: FakeStore, tmp_path: Path
) -> None:
    store.down = ConnectionRefusedError("down")
    call_ids = [f"c{i:02d}" for i in range(30)]
    async with open_spool(store, tmp_path, memory_bytes=2000, batch_max=7,
                          compact_bytes=3000) as log:
        for call_id in call_ids[:20]:
            await log_a_call(log, call_id)
        assert log.depth == 100
        store.down = None
        for call_id in call_ids[20:]:  # while it catches up
            await log_a_call(log, call_id)
        assert await log.flushed(5)
    await assert_logged_once_in_order(store, call_ids)
