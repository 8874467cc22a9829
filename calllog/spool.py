"""`SpooledCallLog`: the call log off the call's critical path, and durable while the
database is down.

Calls must be answered and routed whether or not the database answers, and their log
must not be lost. So a write only appends one JSON line to a local journal and returns
once it is fsync'd (writers of the same moment share one write and one fsync); a
background writer applies the journal to the database in order, in batches of one
transaction each, and records how far it got in a marker file. While the database is
unreachable the writer retries with backoff and the journal grows; the next start (even
after SIGKILL) replays what was not applied. Replaying twice changes nothing: call rows
are upserts, and each event, opened case and config reload carries a unique key
("<spool id>:<seq>" unless the caller gave one, e.g. "desk-flag:<call id>") that the
store inserts ON CONFLICT DO NOTHING.

Memory stays bounded whatever the backlog: the writer keeps at most `memory_bytes` of
journal lines in memory and reads the rest back from the journal in batches (a replay
at start streams the file). Writes the disk refuses (ENOSPC, EIO) are not dropped: they
stay in memory, in order, and the flush is retried with backoff (`stats` says so).

The spool directory (mode 0700; files 0600, opened O_NOFOLLOW, see spool_files.py):

    journal.jsonl   one entry per line (spool_codec.py), seq increasing; a torn last
                    line is dropped; rewritten without the applied entries once they
                    are all applied (or when they are most of the file)
    applied.json    {"format":1,"spool_id":"<32 hex>","applied_seq":6}: every entry up
                    to applied_seq is in the database. Written atomically (temp file,
                    fsync, rename). Seqs continue from max(applied_seq, journal) + 1.
    rejected.jsonl  entries the database refused for a data reason, one per line:
                      {"rejected_at":..,"error":..,"entry":{<the journal entry>}}
    lock            flock'd by the one process using the directory
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Final, Literal, ParamSpec, Self, TypeVar

import structlog
from sqlalchemy import exc as sa_exc

from calllog.cases import CASE_LIST_LIMIT
from calllog.errors import UnknownCallError
from calllog.model import (
    FIND_CALL_LIMIT,
    CallEvent,
    CallRecord,
    Case,
    CaseStatus,
    CloseIfOpen,
    ConfigReload,
    Write,
    normalised_case,
    normalised_event,
    normalised_record,
    normalised_write,
)
from calllog.spool_codec import Entry, call_id_of, describe, encode, op
from calllog.spool_files import SpoolFiles
from calllog.store import BatchCallLog

if TYPE_CHECKING:
    from calllog.store import CallLog

__all__ = ["SpoolStats", "SpooledCallLog", "database_unavailable"]

log = structlog.get_logger(__name__)

KNOWN_CALLS_MAX: Final = 100_000
"""Call ids remembered for `append_event`'s unknown-call check (most recently saved)."""
STILL_DOWN_LOG_S: Final = 60.0
KNOWN_CHECK_TIMEOUT_S: Final = 2.0
MARKER_EVERY_S: Final = 1.0
# SQLSTATE classes meaning the data itself is refused (data exception, integrity
# constraint violation); any other database error is the database's state (down,
# restarting, locked, schema missing): retrying later can succeed.
_DATA_SQLSTATE_CLASSES = frozenset({"22", "23"})

_P = ParamSpec("_P")
_T = TypeVar("_T")


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database could not take the writes now (unreachable,
    restarting, timed out, locked...): retry later. False when it refused the data
    itself (constraint violation, invalid value, unknown call): retrying cannot help."""
    if isinstance(exc, OSError | TimeoutError | sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError):
        return False
    if isinstance(exc, sa_exc.DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return not (isinstance(sqlstate, str) and sqlstate[:2] in _DATA_SQLSTATE_CLASSES)
    return False


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """The spool at one moment, for monitoring (`SpooledCallLog.stats`)."""

    depth: int = 0
    """Writes taken, not yet in the database."""
    unwritten: int = 0
    """Writes taken, not yet in the journal (kept in memory while the disk refuses)."""
    journal_bytes: int = 0
    journal_ok: bool = True
    """False while the last write to the spool's files failed."""
    journal_failures: int = 0
    """Failed writes to the spool's files since start (each retried)."""
    database_ok: bool = True
    rejected: int = 0
    """Entries moved to rejected.jsonl since start."""
    rejected_at_start: int = 0
    """Lines rejected.jsonl held at start."""


class SpooledCallLog:
    """`CallLog` whose writes go to a local fsync'd journal, applied to `store` by a
    background task; reads and the operators' actions (`mark_callback_done`,
    `create_case`, `update_case`) go straight to `store`.

    Use ``async with SpooledCallLog(store, directory) as calllog:``, or `start()` and
    `close()`, or a task running `run()` and then `close()`. `ensure_schema` (e.g. the
    Alembic upgrade) is awaited, and retried while it fails, before the first write
    reaches the database; writes are taken meanwhile.

    Durability knobs (the defaults are the strictest):
    - `wait_for_disk`: a write returns once its line is fsync'd. False (the service,
      where writes are on the call's path): it returns once queued, in order, and
      the line reaches the journal at most `flush_linger` s later, except a call's
      first save, which still waits for the disk (and flushes at once). A process
      kill then loses at most that window of a call's later steps, never its row.
    - `flush_linger`: how long the journal flush waits to gather writes (one write
      and one fsync for all of them).
    - `batch_linger`: how long the writer waits to gather entries into one
      transaction when fewer than `batch_max` are waiting.
    - `memory_bytes`: journal lines the writer keeps in memory while the database is
      behind; past that, it reads them back from the journal.

    If the journal cannot be written (disk full, I/O error), a write that waits for the
    disk raises the `OSError` and is not taken; writes that did not wait are kept in
    memory, in order, without a bound, and flushed once the disk takes them again
    (retried with backoff, and at once by any write that waits).
    """

    def __init__(
        self,
        store: BatchCallLog,
        directory: Path | str,
        *,
        ensure_schema: Callable[[], Awaitable[None]] | None = None,
        batch_max: int = 200,
        retry_initial: float = 0.5,
        retry_max: float = 5.0,
        apply_timeout: float = 30.0,
        compact_bytes: int = 4 * 1024 * 1024,
        wait_for_disk: bool = True,
        flush_linger: float = 0.0,
        batch_linger: float = 0.0,
        memory_bytes: int = 1024 * 1024,
        now: Callable[[], datetime],
    ) -> None:
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {batch_max}")
        if not 0 < retry_initial <= retry_max:
            raise ValueError(
                f"need 0 < retry_initial <= retry_max, got {retry_initial}, {retry_max}"
            )
        self._store = store
        self._now = now
        self._files = SpoolFiles(Path(directory), now)
        self._ensure_schema = ensure_schema
        self._batch_max = batch_max
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._apply_timeout = apply_timeout
        self._compact_bytes = compact_bytes
        self._wait_for_disk = wait_for_disk
        self._flush_linger = flush_linger
        self._batch_linger = batch_linger
        self._memory_bytes = memory_bytes

        self._state: Literal["new", "opening", "open", "closing", "closed"] = "new"
        self._ready = asyncio.Event()
        """Set once opening is over (open, or failed)."""
        self._executor: ThreadPoolExecutor | None = None
        self._spool_id = ""
        self._next_seq = 1
        self._applied_seq = 0
        self._done_seq = 0  # applied to the database; the marker may say less
        self._marker_at = 0.0
        self._buffer: list[tuple[Entry, asyncio.Future[None] | None]] = []
        """Taken, not yet in the journal."""
        # The journal by offsets that never go back ("positions"); the file's byte 0 is
        # at position `_file_base` (compaction moves it on).
        self._file_base = 0
        self._applied_at = 0
        """Position of the first journal entry not yet in the database."""
        self._journal_end = 0
        self._pending: collections.deque[tuple[Entry, int]] = collections.deque()
        """The first entries not in the database, each with the position after its
        line (read into memory, at most `memory_bytes` of lines)."""
        self._pending_bytes = 0
        self._disk_from: int | None = None
        """Position from which the entries are on disk only (None: all in memory)."""
        self._disk_lines = 0
        self._known_calls: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._io_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._drained = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._db_ok = True
        self._down_since: float | None = None
        self._down_logged_at = 0.0
        self._journal_ok = True
        self._journal_failures = 0
        self._failing_logged_at = 0.0
        self._rejected = 0
        self._rejected_at_start = 0

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the directory (replaying what a previous process left) and start the
        writer task. Raises `RuntimeError` if another process uses the directory."""
        await self._open()
        self._writer = asyncio.create_task(self._run(), name="calllog-spool-writer")

    async def run(self) -> None:
        """`start()` if not started, then wait while the writer works: for a task of
        its own. Cancelling it stops the writer; it returns when `close()` stops it."""
        if self._state == "new":
            await self.start()
        writer = self._writer
        if writer is None:
            raise RuntimeError(f"run() on a {self._state} spool")
        try:
            await writer
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if writer.cancelled() and task is not None and not task.cancelling():
                return  # close() stopped the writer, not our caller
            raise

    async def close(self, timeout: float = 5.0) -> bool:
        """Refuse new writes, finish journaling those taken, let the writer drain for
        at most `timeout` seconds, then stop it. Whatever is not in the database yet
        stays in the journal for the next start. True if everything was applied."""
        if self._state == "new":
            self._state = "closed"
            return True
        if self._state == "opening":
            await self._ready.wait()
        if self._state != "open":
            return self.depth == 0
        self._state = "closing"
        if self._flusher is not None:
            await asyncio.wait([self._flusher])
        writer = self._writer
        if writer is not None and not writer.done():
            drained = await self.flushed(timeout)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        else:  # the writer's task was cancelled (or never started)
            drained = self.depth == 0
        await self._in_thread(self._files.close)  # after any file work still in the thread
        assert self._executor is not None
        self._executor.shutdown(wait=False)
        self._state = "closed"
        if drained:
            log.info("call log spool closed", applied_seq=self._applied_seq)
        else:
            log.warning(
                "call log spool closed with entries not in the database yet: "
                "they are replayed at the next start",
                depth=self.depth,
                directory=str(self._files.directory),
            )
        return drained

    async def _open(self) -> None:
        if self._state != "new":
            raise RuntimeError(f"start() on a {self._state} spool")
        self._state = "opening"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calllog-spool")
        try:
            recovered = await self._in_thread(self._files.open)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._state = "closed"
            self._ready.set()
            raise
        self._spool_id = recovered.spool_id
        self._applied_seq = self._done_seq = recovered.applied_seq
        self._next_seq = recovered.last_seq + 1
        self._applied_at = recovered.pending_from
        self._journal_end = recovered.journal_bytes
        if recovered.pending_lines:  # replayed from the file, a batch at a time
            self._disk_from, self._disk_lines = recovered.pending_from, recovered.pending_lines
        self._rejected, self._rejected_at_start = recovered.set_aside, recovered.rejected_at_start
        if not recovered.pending_lines:
            self._drained.set()
        self._state = "open"
        self._ready.set()
        log.info(
            "call log spool open",
            directory=str(self._files.directory),
            spool_id=self._spool_id,
            replaying=self._disk_lines,
            journal_bytes=recovered.journal_bytes,
            next_seq=self._next_seq,
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def flushed(self, timeout: float | None = None) -> bool:
        """Wait until every write taken so far is in the database (and the journal
        compacted); False if that took longer than `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._drained.wait()
        except TimeoutError:
            return False
        return True

    @property
    def depth(self) -> int:
        """Writes taken but not yet in the database (a gauge for monitoring)."""
        return len(self._buffer) + len(self._pending) + self._disk_lines

    @property
    def stats(self) -> SpoolStats:
        """A snapshot for monitoring."""
        return SpoolStats(
            depth=self.depth,
            unwritten=len(self._buffer),
            journal_bytes=self._journal_end - self._file_base,
            journal_ok=self._journal_ok,
            journal_failures=self._journal_failures,
            database_ok=self._db_ok,
            rejected=self._rejected,
            rejected_at_start=self._rejected_at_start,
        )

    @property
    def db_ok(self) -> bool:
        """False while the database is unreachable (the last attempt failed for that)."""
        return self._db_ok

    @property
    def rejected(self) -> int:
        """Entries moved to rejected.jsonl since start (the database refused them, or
        their journal line was unreadable)."""
        return self._rejected

    @property
    def spool_id(self) -> str:
        return self._spool_id

    @property
    def directory(self) -> Path:
        return self._files.directory

    # --- CallLog: writes go to the journal ------------------------------------------

    async def save(self, call: CallRecord) -> None:
        record = normalised_record(call)
        await self._check_open()
        first = record.call_id not in self._known_calls
        self._remember(record.call_id)
        # A call's first save always waits for the disk: a row lost to a kill before
        # it reached the journal could not be found again (CEL imports only the calls
        # the service never saw). Later writes of the call may ride the next flush.
        try:
            await self._take(record, durable=first)
        except OSError:
            if first:  # not taken: the call's next save waits for the disk again
                self._known_calls.pop(record.call_id, None)
            raise

    def _remember(self, call_id: str) -> None:
        self._known_calls[call_id] = None
        self._known_calls.move_to_end(call_id)
        if len(self._known_calls) > KNOWN_CALLS_MAX:
            self._known_calls.popitem(last=False)

    async def append_event(self, event: CallEvent) -> None:
        stored = normalised_event(event)
        await self._check_open()
        if stored.call_id not in self._known_calls:
            await self._check_known(stored.call_id)
        await self._take(stored)

    async def _check_known(self, call_id: str) -> None:
        """A call this spool never saved (e.g. one a previous process left open): known
        if the database has it. If the database cannot say, the event is journaled
        anyway; should the call really be unknown, the writer rejects it then."""
        try:
            found = await asyncio.wait_for(self._store.get(call_id), KNOWN_CHECK_TIMEOUT_S)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            return
        if found is None:
            raise UnknownCallError(call_id)
        self._remember(call_id)

    async def close_if_open(self, call: CallRecord) -> None:
        write = CloseIfOpen(normalised_record(call))
        await self._check_open()
        self._remember(write.call.call_id)
        await self._take(write)

    async def record_reload(self, reload: ConfigReload) -> None:
        write = normalised_write(reload)
        await self._check_open()
        await self._take(write)

    async def open_case(self, case: Case) -> None:
        write = normalised_case(case)
        await self._check_open()
        if write.call_id is not None and write.call_id not in self._known_calls:
            await self._check_known(write.call_id)
        await self._take(write)

    # --- CallLog: reads and the operator's action go to the store ---------------------

    async def list_reloads(self, *, limit: int = 100) -> list[ConfigReload]:
        return await self._store.list_reloads(limit=limit)

    async def get(self, call_id: str) -> CallRecord | None:
        return await self._store.get(call_id)

    async def events(self, call_id: str) -> list[CallEvent]:
        return await self._store.events(call_id)

    async def count_calls_from(self, number: str, *, since: datetime, excluding: str) -> int:
        """From the database: calls still in the journal are not counted."""
        return await self._store.count_calls_from(number, since=since, excluding=excluding)

    async def list_calls(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[CallRecord]:
        return await self._store.list_calls(since=since, until=until, limit=limit)

    async def list_callbacks(
        self, *, include_done: bool = False, limit: int = 500, offset: int = 0
    ) -> list[CallRecord]:
        return await self._store.list_callbacks(
            include_done=include_done, limit=limit, offset=offset
        )

    async def count_callbacks(self, *, include_done: bool = False) -> int:
        return await self._store.count_callbacks(include_done=include_done)

    async def pending_callbacks_matching(
        self, prefix: str, *, limit: int = FIND_CALL_LIMIT
    ) -> list[CallRecord]:
        return await self._store.pending_callbacks_matching(prefix, limit=limit)

    async def mark_callback_done(
        self, call_id: str, *, at: datetime, note: str | None = None
    ) -> bool:
        return await self._store.mark_callback_done(call_id, at=at, note=note)

    async def find_call(self, prefix: str) -> list[CallRecord]:
        return await self._store.find_call(prefix)

    async def create_case(self, case: Case) -> Case:
        return await self._store.create_case(case)

    async def update_case(
        self,
        case_id: int,
        *,
        status: CaseStatus | str,
        by: str,
        at: datetime,
        agency: str | None = None,
        note: str = "",
    ) -> Case:
        return await self._store.update_case(
            case_id, status=status, by=by, at=at, agency=agency, note=note
        )

    async def get_case(self, case_id: int) -> Case | None:
        return await self._store.get_case(case_id)

    async def list_cases(
        self,
        *,
        status: CaseStatus | str | None = None,
        agency: str | None = None,
        category: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = CASE_LIST_LIMIT,
    ) -> list[Case]:
        return await self._store.list_cases(
            status=status, agency=agency, category=category, since=since, until=until,
            limit=limit,
        )

    async def cases_for_call(self, call_id: str) -> list[Case]:
        return await self._store.cases_for_call(call_id)

    # --- journaling (group commit) ------------------------------------------------------

    async def _check_open(self) -> None:
        if self._state == "opening":  # a write while `run()` is opening: wait for it
            await self._ready.wait()
        if self._state == "new":
            raise RuntimeError("the call log spool is not open: start() or run() it first")
        if self._state != "open":
            raise RuntimeError(f"the call log spool is {self._state}: writes are refused")

    async def _take(self, write: Write, *, durable: bool = False) -> None:
        seq = self._next_seq
        if isinstance(write, CallEvent | Case | ConfigReload) and write.key is None:
            write = dataclasses.replace(write, key=f"{self._spool_id}:{seq}")
        entry = Entry(seq, write, encode(seq, write))
        self._next_seq = seq + 1
        wait = self._wait_for_disk or durable
        done = asyncio.get_running_loop().create_future() if wait else None
        self._buffer.append((entry, done))
        self._drained.clear()
        if wait:
            self._flush_now.set()  # cut the flush's linger (or its retry's wait) short
        if self._flusher is None:
            # Runs from the next loop iteration (or after `flush_linger`): every write
            # taken until then shares its write and fsync.
            self._flusher = asyncio.create_task(self._flush(), name="calllog-spool-flush")
        if done is not None:
            await done

    async def _flush(self) -> None:
        """Write the buffer to the journal; while the disk refuses, keep it and retry."""
        try:
            if self._flush_linger > 0 and self._state == "open":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush_now.wait(), self._flush_linger)
            self._flush_now.clear()
            delays = self._backoff()
            while self._buffer:
                count = len(self._buffer)
                data = b"".join(entry.line for entry, _ in self._buffer[:count])
                try:
                    async with self._io_lock:
                        await self._in_thread(self._files.append, data)
                        batch = self._buffer[:count]
                        del self._buffer[:count]
                        self._journaled([entry for entry, _ in batch], len(data))
                except Exception as exc:
                    self._flush_failed(count, exc)
                    if self._state != "open":
                        self._give_up(exc)
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._flush_now.wait(), next(delays))
                    self._flush_now.clear()
                    continue
                delays = self._backoff()
                self._journal_written()
                for _, done in batch:
                    if done is not None and not done.done():
                        done.set_result(None)
                self._wake.set()
        finally:
            self._flusher = None

    def _journaled(self, entries: list[Entry], size: int) -> None:
        """`entries` (`size` bytes) are at the journal's end now: in memory for the
        writer while they fit, else left for it to read back."""
        position = self._journal_end
        self._journal_end += size
        if self._disk_from is None and self._pending_bytes + size <= self._memory_bytes:
            for entry in entries:
                position += len(entry.line)
                self._pending.append((entry, position))
            self._pending_bytes += size
            return
        if self._disk_from is None:
            self._disk_from = position
        self._disk_lines += len(entries)

    def _flush_failed(self, count: int, exc: Exception) -> None:
        """The journal refused the first `count` buffered writes: those that wait get the
        error (they are not taken); the others stay, in order, for the next attempt."""
        self._journal_failures += 1
        batch = self._buffer[:count]
        for _, done in batch:
            if done is not None and not done.done():
                done.set_exception(exc)
        self._buffer[:count] = [(entry, done) for entry, done in batch if done is None]
        self._journal_failing(exc, "writing the journal")

    def _give_up(self, exc: Exception) -> None:
        if self._buffer:
            log.error(
                "call log journal not writable while closing: writes lost",
                error=describe(exc),
                writes=len(self._buffer),
                calls=sorted({call_id_of(entry.write) or "" for entry, _ in self._buffer}),
            )
        self._buffer.clear()

    def _journal_failing(self, exc: Exception, doing: str) -> None:
        now = asyncio.get_running_loop().time()
        if self._journal_ok or now - self._failing_logged_at >= STILL_DOWN_LOG_S:
            log.error(
                "call log spool cannot write its files: writes kept in memory, retrying",
                doing=doing,
                error=describe(exc),
                waiting_for_disk=len(self._buffer),
                directory=str(self._files.directory),
            )
            self._failing_logged_at = now
        self._journal_ok = False

    def _journal_written(self) -> None:
        if not self._journal_ok:
            log.info("call log spool writes its files again", failures=self._journal_failures)
        self._journal_ok = True

    # --- the writer: journal -> database ------------------------------------------------

    async def _run(self) -> None:
        await self._prepare_schema()
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug, or the journal unreadable: keep trying
                log.exception("call log spool writer failed, retrying")
                await asyncio.sleep(self._retry_max)

    async def _step(self) -> None:
        self._wake.clear()
        if not self._pending:
            # Everything before is in the database (or set aside as unreadable).
            self._applied_at = self._disk_from if self._disk_from is not None \
                else self._journal_end
            if self._disk_from is not None:
                await self._read_back()
        if not self._pending:
            if self._applied_at > self._file_base:
                await self._compact()
            if not self._pending and not self._buffer and self._disk_from is None:
                self._drained.set()
            if not self._pending and self._disk_from is None:
                await self._wake.wait()
            return
        if self._batch_linger > 0 and len(self._pending) < self._batch_max \
                and self._state == "open":
            # Under load: fewer, larger transactions (and the same rows saved once).
            await asyncio.sleep(self._batch_linger)
        batch = [entry for entry, _ in itertools.islice(self._pending, self._batch_max)]
        await self._apply_batch(batch)
        self._done_seq = batch[-1].seq
        now = asyncio.get_running_loop().time()
        # The marker may lag (a replay after a crash re-applies a little, idempotently):
        # written at most every MARKER_EVERY_S under load, and at once when caught up.
        caught_up = len(self._pending) + self._disk_lines <= len(batch)
        if caught_up or now - self._marker_at >= MARKER_EVERY_S:
            await self._record_applied(self._done_seq)
            self._marker_at = now
        for _ in batch:
            entry, self._applied_at = self._pending.popleft()
            self._pending_bytes -= len(entry.line)
        applied = self._applied_at - self._file_base
        if applied >= max(self._compact_bytes, self._journal_end - self._applied_at):
            await self._compact()  # under steady load the journal never runs empty

    async def _read_back(self) -> None:
        """The next batch of entries that are on disk only, into memory."""
        assert self._disk_from is not None
        start, base = self._disk_from, self._file_base
        read = await self._in_thread(
            self._files.read, start - base, self._journal_end - base, self._batch_max
        )
        self._rejected += read.set_aside
        self._disk_lines -= read.lines
        for entry, end in read.entries:
            self._pending.append((entry, end + base))
            self._pending_bytes += len(entry.line)
        end = start + read.size
        if end >= self._journal_end:
            self._disk_from, self._disk_lines = None, 0
        else:
            self._disk_from = end
        if not read.entries:
            self._applied_at = end  # only unreadable lines, set aside

    async def _prepare_schema(self) -> None:
        if self._ensure_schema is None:
            return
        for delay in self._backoff():
            try:
                await self._ensure_schema()
            except Exception as exc:
                self._database_down(exc, "preparing the schema")
                await asyncio.sleep(delay)
            else:
                self._database_up()
                return

    async def _apply_batch(self, batch: list[Entry]) -> None:
        error = await self._apply_retrying(batch)
        if error is None:
            return
        if len(batch) == 1:
            await self._reject(batch[0], error)
            return
        log.warning(
            "call log batch refused by the database, applying it entry by entry",
            entries=len(batch),
            error=describe(error),
        )
        for entry in batch:
            error = await self._apply_retrying([entry])
            if error is not None:
                await self._reject(entry, error)

    async def _apply_retrying(self, batch: list[Entry]) -> Exception | None:
        """Apply `batch` in one transaction, retrying while the database is unavailable;
        None once applied, or the error by which the database refused the data."""
        for delay in self._backoff():
            try:
                async with asyncio.timeout(self._apply_timeout):
                    await self._store.apply([entry.write for entry in batch])
            except Exception as exc:
                if not database_unavailable(exc):
                    self._database_up()  # it answered
                    return exc
                self._database_down(exc, "applying the journal")
                await asyncio.sleep(delay)
            else:
                self._database_up()
                return None
        raise AssertionError("unreachable: the backoff never ends")

    async def _reject(self, entry: Entry, error: Exception) -> None:
        self._rejected += 1
        write = entry.write
        log.error(
            "call log entry refused by the database, moved to rejected.jsonl",
            seq=entry.seq,
            op=op(write),
            call_id=call_id_of(write),
            error=describe(error),
        )
        record = {
            "rejected_at": self._now().isoformat(),
            "error": f"{type(error).__name__}: {error}",
            "entry": json.loads(entry.line),
        }
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            await self._in_thread(self._files.append_rejected, line.encode())
        except OSError as exc:
            self._journal_failures += 1
            self._journal_failing(exc, "writing rejected.jsonl")
            log.error("could not write rejected.jsonl", error=describe(exc), entry=line)

    async def _record_applied(self, seq: int) -> None:
        for delay in self._backoff():
            try:
                await self._in_thread(self._files.write_marker, self._spool_id, seq)
            except OSError as exc:
                self._journal_failures += 1
                self._journal_failing(exc, "recording the spool's progress")
                await asyncio.sleep(delay)
            else:
                self._applied_seq = seq
                return

    async def _compact(self) -> None:
        if self._applied_seq < self._done_seq:
            # Entries leave the journal only once the marker says they are applied.
            await self._record_applied(self._done_seq)
        async with self._io_lock:  # no append in flight
            try:
                await self._in_thread(self._files.rewrite, self._applied_at - self._file_base)
            except OSError as exc:
                self._journal_failures += 1
                self._journal_failing(exc, "compacting the journal")
                return
            self._file_base = self._applied_at

    def _backoff(self) -> Iterator[float]:
        """Delays between attempts: doubling from retry_initial up to retry_max, for ever."""
        doubling = itertools.takewhile(
            lambda delay: delay < self._retry_max,
            (self._retry_initial * 2**n for n in itertools.count()),
        )
        return itertools.chain(doubling, itertools.repeat(self._retry_max))

    def _database_down(self, exc: Exception, doing: str) -> None:
        now = asyncio.get_running_loop().time()
        if self._db_ok or now - self._down_logged_at >= STILL_DOWN_LOG_S:
            log.warning(
                "call log database unavailable, keeping writes in the spool",
                doing=doing,
                error=describe(exc),
                depth=self.depth,
            )
            self._down_logged_at = now
        if self._db_ok:
            self._down_since = now
        self._db_ok = False

    def _database_up(self) -> None:
        if not self._db_ok:
            down_for = 0.0
            if self._down_since is not None:
                down_for = asyncio.get_running_loop().time() - self._down_since
            log.info(
                "call log database available again",
                depth=self.depth,
                down_seconds=round(down_for, 1),
            )
        self._db_ok = True
        self._down_since = None

    async def _in_thread(
        self, function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """Run blocking file work in the spool's one thread: in order, off the loop."""
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))


if TYPE_CHECKING:  # mypy proves the spool is a CallLog

    def _is_a_call_log(spool: SpooledCallLog) -> CallLog:
        return spool
