"""`SpooledCallLog`: the call log off the call's critical path, and durable while the
database is down.

Calls must be answered and routed whether or not the database answers, and their log
must not be lost. So a write only appends one JSON line to a local journal and returns
once it is fsync'd (writers of the same moment share one write and one fsync); a
background writer applies the journal to the database in order, in batches of one
transaction each, and records how far it got in a marker file. While the database is
unreachable the writer retries with backoff and the journal grows; the next start (even
after SIGKILL) replays what was not applied. Replaying twice changes nothing: call rows
are upserts, and each event and each opened case carries a unique key ("<spool id>:<seq>"
unless the caller gave one, e.g. "desk-flag:<call id>") that the store inserts ON CONFLICT
DO NOTHING.

The spool directory (mode 0700) holds:

    journal.jsonl   one entry per line, seq increasing; a torn last line is dropped
                      {"seq":7,"op":"save","call":{<CallRecord fields>}}
                      {"seq":8,"op":"event","event":{"call_id":..,"at":..,"kind":..,
                                                     "detail":{..},"key":"<spool id>:8"}}
                      {"seq":9,"op":"open_case","case":{<Case fields>,"history":[{"at":..,
                                                     "by":..,"status":"received",..}]}}
                    (times are ISO 8601 in UTC); rewritten without the applied entries
                    once they are all applied (or when they are most of the file)
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
import fcntl
import itertools
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, ParamSpec, Self, TypeVar

import orjson
import structlog
from sqlalchemy import exc as sa_exc

from calllog.cases import CASE_LIST_LIMIT
from calllog.errors import UnknownCallError
from calllog.model import (
    CallEvent,
    CallRecord,
    Case,
    CaseChange,
    CaseStatus,
    CloseIfOpen,
    ConfigReload,
    Write,
    normalised_case,
    normalised_event,
    normalised_record,
    normalised_write,
)
from calllog.store import BatchCallLog

if TYPE_CHECKING:
    from calllog.store import CallLog

__all__ = ["SpooledCallLog", "database_unavailable"]

log = structlog.get_logger(__name__)

JOURNAL_NAME: Final = "journal.jsonl"
MARKER_NAME: Final = "applied.json"
REJECTED_NAME: Final = "rejected.jsonl"
LOCK_NAME: Final = "lock"
MARKER_FORMAT: Final = 1
KNOWN_CALLS_MAX: Final = 100_000
"""Call ids remembered for `append_event`'s unknown-call check (most recently saved)."""
STILL_DOWN_LOG_S: Final = 60.0
KNOWN_CHECK_TIMEOUT_S: Final = 2.0
MARKER_EVERY_S: Final = 1.0

_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(CallRecord))
_RECORD_TIMES = frozenset(
    {"started_at", "answered_at", "ended_at", "bridged_at", "callback_done_at", "talk_ended_at"}
)
_EVENT_FIELDS = ("call_id", "at", "kind", "detail", "key")
_RELOAD_FIELDS = tuple(f.name for f in dataclasses.fields(ConfigReload))
_CASE_FIELDS = tuple(f.name for f in dataclasses.fields(Case) if f.name != "history")
_CHANGE_FIELDS = tuple(f.name for f in dataclasses.fields(CaseChange))
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
class _Entry:
    seq: int
    write: Write
    line: bytes
    """The journal line, newline included."""


@dataclass(frozen=True, slots=True)
class _Recovered:
    spool_id: str
    applied_seq: int
    last_seq: int
    entries: list[_Entry]
    """Entries after `applied_seq`, in journal order."""
    journal_bytes: int


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
        self._files = _SpoolFiles(Path(directory), now)
        self._ensure_schema = ensure_schema
        self._batch_max = batch_max
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._apply_timeout = apply_timeout
        self._compact_bytes = compact_bytes
        self._wait_for_disk = wait_for_disk
        self._flush_linger = flush_linger
        self._batch_linger = batch_linger

        self._state: Literal["new", "opening", "open", "closing", "closed"] = "new"
        self._ready = asyncio.Event()
        """Set once opening is over (open, or failed)."""
        self._executor: ThreadPoolExecutor | None = None
        self._spool_id = ""
        self._next_seq = 1
        self._applied_seq = 0
        self._done_seq = 0  # applied to the database; the marker may say less
        self._marker_at = 0.0
        self._buffer: list[tuple[_Entry, asyncio.Future[None] | None]] = []
        """Taken, not yet in the journal."""
        self._pending: collections.deque[_Entry] = collections.deque()
        """In the journal, not yet in the database."""
        self._pending_bytes = 0
        self._applied_bytes = 0
        """Journal bytes already applied: compaction drops them."""
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
        self._rejected = 0

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
        self._pending.extend(recovered.entries)
        self._pending_bytes = sum(len(entry.line) for entry in recovered.entries)
        self._applied_bytes = recovered.journal_bytes - self._pending_bytes
        if not self._pending:
            self._drained.set()
        self._state = "open"
        self._ready.set()
        log.info(
            "call log spool open",
            directory=str(self._files.directory),
            spool_id=self._spool_id,
            replaying=len(self._pending),
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
        return len(self._buffer) + len(self._pending)

    @property
    def db_ok(self) -> bool:
        """False while the database is unreachable (the last attempt failed for that)."""
        return self._db_ok

    @property
    def rejected(self) -> int:
        """Entries moved to rejected.jsonl since start (the database refused them)."""
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
        await self._take(record, durable=first)

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

    async def list_calls(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[CallRecord]:
        return await self._store.list_calls(since=since, until=until, limit=limit)

    async def list_callbacks(
        self, *, include_done: bool = False, limit: int = 500
    ) -> list[CallRecord]:
        return await self._store.list_callbacks(include_done=include_done, limit=limit)

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
        entry = _Entry(seq, write, _encode(seq, write))
        self._next_seq = seq + 1
        wait = self._wait_for_disk or durable
        done = asyncio.get_running_loop().create_future() if wait else None
        self._buffer.append((entry, done))
        self._drained.clear()
        if durable:
            self._flush_now.set()  # cut the flush's linger short
        if self._flusher is None:
            # Runs from the next loop iteration (or after `flush_linger`): every write
            # taken until then shares its write and fsync.
            self._flusher = asyncio.create_task(self._flush(), name="calllog-spool-flush")
        if done is not None:
            await done

    async def _flush(self) -> None:
        try:
            if self._flush_linger > 0 and self._state == "open":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush_now.wait(), self._flush_linger)
            self._flush_now.clear()
            while self._buffer:
                batch, self._buffer = self._buffer, []
                data = b"".join(entry.line for entry, _ in batch)
                try:
                    async with self._io_lock:
                        await self._in_thread(self._files.append, data)
                        self._pending.extend(entry for entry, _ in batch)
                        self._pending_bytes += len(data)
                except Exception as exc:
                    log.error(
                        "call log spool: journal write failed, writes lost",
                        error=_describe(exc),
                        writes=len(batch),
                    )
                    for _, done in batch:
                        if done is not None and not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if done is not None and not done.done():
                            done.set_result(None)
                self._wake.set()
        finally:
            self._flusher = None

    # --- the writer: journal -> database ------------------------------------------------

    async def _run(self) -> None:
        await self._prepare_schema()
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug: keep the entries, keep trying
                log.exception("call log spool writer failed, retrying")
                await asyncio.sleep(self._retry_max)

    async def _step(self) -> None:
        self._wake.clear()
        if not self._pending:
            if self._applied_bytes:
                await self._compact()
            if not self._pending and not self._buffer:
                self._drained.set()
            if not self._pending:
                await self._wake.wait()
            return
        if self._batch_linger > 0 and len(self._pending) < self._batch_max \
                and self._state == "open":
            # Under load: fewer, larger transactions (and the same rows saved once).
            await asyncio.sleep(self._batch_linger)
        batch = list(itertools.islice(self._pending, self._batch_max))
        await self._apply_batch(batch)
        self._done_seq = batch[-1].seq
        now = asyncio.get_running_loop().time()
        # The marker may lag (a replay after a crash re-applies a little, idempotently):
        # written at most every MARKER_EVERY_S under load, and at once when caught up.
        if len(self._pending) <= len(batch) or now - self._marker_at >= MARKER_EVERY_S:
            await self._record_applied(self._done_seq)
            self._marker_at = now
        for _ in batch:
            line = self._pending.popleft().line
            self._pending_bytes -= len(line)
            self._applied_bytes += len(line)
        if self._applied_bytes >= max(self._compact_bytes, self._pending_bytes):
            await self._compact()  # under steady load the journal never runs empty

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

    async def _apply_batch(self, batch: list[_Entry]) -> None:
        error = await self._apply_retrying(batch)
        if error is None:
            return
        if len(batch) == 1:
            await self._reject(batch[0], error)
            return
        log.warning(
            "call log batch refused by the database, applying it entry by entry",
            entries=len(batch),
            error=_describe(error),
        )
        for entry in batch:
            error = await self._apply_retrying([entry])
            if error is not None:
                await self._reject(entry, error)

    async def _apply_retrying(self, batch: list[_Entry]) -> Exception | None:
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

    async def _reject(self, entry: _Entry, error: Exception) -> None:
        self._rejected += 1
        write = entry.write
        log.error(
            "call log entry refused by the database, moved to rejected.jsonl",
            seq=entry.seq,
            op=_op(write),
            call_id=_call_id(write),
            error=_describe(error),
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
            log.error("could not write rejected.jsonl", error=_describe(exc), entry=line)

    async def _record_applied(self, seq: int) -> None:
        for delay in self._backoff():
            try:
                await self._in_thread(self._files.write_marker, self._spool_id, seq)
            except OSError as exc:
                log.error("could not record call log spool progress", error=_describe(exc))
                await asyncio.sleep(delay)
            else:
                self._applied_seq = seq
                return

    async def _compact(self) -> None:
        if self._applied_seq < self._done_seq:
            # Entries leave the journal only once the marker says they are applied.
            await self._record_applied(self._done_seq)
        async with self._io_lock:  # no append in flight: _pending is the journal's tail
            data = b"".join(entry.line for entry in self._pending)
            try:
                await self._in_thread(self._files.rewrite, data)
            except OSError as exc:
                log.error("could not compact the call log journal", error=_describe(exc))
                return
            self._applied_bytes = 0

    def _backoff(self) -> itertools.chain[float]:
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
                error=_describe(exc),
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


class _SpoolFiles:
    """The spool directory's files. Blocking: only called from the spool's thread."""

    def __init__(self, directory: Path, now: Callable[[], datetime]) -> None:
        self.directory = directory
        self._now = now
        self.journal = directory / JOURNAL_NAME
        self.marker = directory / MARKER_NAME
        self.rejected = directory / REJECTED_NAME
        self._journal_fd = -1
        self._journal_size = 0
        self._lock_fd = -1

    def open(self) -> _Recovered:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock()
        try:
            return self._recover()
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(
                f"the call log spool {self.directory} is in use by another process"
            ) from None
        self._lock_fd = fd

    def _recover(self) -> _Recovered:
        spool_id, applied_seq = self._read_marker()
        data = self.journal.read_bytes() if self.journal.exists() else b""
        *lines, tail = data.split(b"\n")
        if tail:
            log.warning(
                "torn last line of the call log journal ignored (a crash while writing "
                "it; it was never acknowledged)",
                journal=str(self.journal),
                line=tail[:200].decode(errors="replace"),
            )
        good_size = len(data) - len(tail)
        entries: list[_Entry] = []
        last_seq = applied_seq
        for raw in lines:
            line = raw + b"\n"
            try:
                entry = _decode(line)
            except (ValueError, TypeError, KeyError) as exc:
                self._set_aside_unreadable(line, exc)
                continue
            last_seq = max(last_seq, entry.seq)
            if entry.seq > applied_seq:
                entries.append(entry)
        fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._journal_fd = fd
        if good_size < len(data):
            os.ftruncate(fd, good_size)
            os.fsync(fd)
        self._journal_size = good_size
        if not self.marker.exists():
            self.write_marker(spool_id, applied_seq)  # before any entry gets its key
        _fsync_directory(self.directory)
        return _Recovered(spool_id, applied_seq, last_seq, entries, good_size)

    def _read_marker(self) -> tuple[str, int]:
        try:
            body = json.loads(self.marker.read_bytes())
            spool_id, applied_seq = body["spool_id"], body["applied_seq"]
            if body["format"] != MARKER_FORMAT:
                raise ValueError(f"unknown marker format {body['format']!r}")
            if not isinstance(spool_id, str) or not spool_id:
                raise ValueError(f"bad spool_id {spool_id!r}")
            if not isinstance(applied_seq, int) or applied_seq < 0:
                raise ValueError(f"bad applied_seq {applied_seq!r}")
        except FileNotFoundError:
            return uuid.uuid4().hex, 0
        except (ValueError, TypeError, KeyError) as exc:
            # Safe to start afresh: events keep the keys they were journaled with, so
            # replaying the whole journal duplicates nothing, and a new spool id keeps
            # new keys apart from the old ones.
            log.error(
                "unreadable call log spool marker: replaying the whole journal",
                marker=str(self.marker),
                error=_describe(exc),
            )
            self.marker.unlink()
            return uuid.uuid4().hex, 0
        return spool_id, applied_seq

    def _set_aside_unreadable(self, line: bytes, exc: Exception) -> None:
        log.error(
            "unreadable call log journal line, moved to rejected.jsonl",
            journal=str(self.journal),
            error=_describe(exc),
        )
        record = {
            "rejected_at": self._now().isoformat(),
            "error": f"unreadable journal line: {type(exc).__name__}: {exc}",
            "line": line.decode(errors="replace"),
        }
        self.append_rejected(
            (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        )

    def append(self, data: bytes) -> None:
        """Append `data` at the end of the journal and fsync; on failure cut the journal
        back, so that no torn line is left before the next entries."""
        size = self._journal_size
        try:
            _write_all(self._journal_fd, data, size)
            os.fsync(self._journal_fd)
        except BaseException:
            try:
                os.ftruncate(self._journal_fd, size)
            except OSError as exc:
                log.error("could not cut back the call log journal", error=_describe(exc))
            raise
        self._journal_size = size + len(data)

    def rewrite(self, data: bytes) -> None:
        """Replace the journal, atomically, by `data` (its entries not yet applied)."""
        tmp = self.journal.with_name(JOURNAL_NAME + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, data, 0)
            os.fsync(fd)
            os.replace(tmp, self.journal)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        _fsync_directory(self.directory)
        os.close(self._journal_fd)
        self._journal_fd, self._journal_size = fd, len(data)

    def write_marker(self, spool_id: str, applied_seq: int) -> None:
        body = {"format": MARKER_FORMAT, "spool_id": spool_id, "applied_seq": applied_seq}
        tmp = self.marker.with_name(MARKER_NAME + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, (json.dumps(body) + "\n").encode(), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.marker)
        _fsync_directory(self.directory)

    def append_rejected(self, data: bytes) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(self.rejected, flags, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_directory(self.directory)

    def close(self) -> None:
        for fd in (self._journal_fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)  # closing the lock's file releases the flock
        self._journal_fd = self._lock_fd = -1


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _op(write: Write) -> str:
    if isinstance(write, CallRecord):
        return "save"
    if isinstance(write, CallEvent):
        return "event"
    if isinstance(write, Case):
        return "open_case"
    return "close_if_open" if isinstance(write, CloseIfOpen) else "reload"


def _call_id(write: Write) -> str | None:
    if isinstance(write, CallRecord | CallEvent | Case):
        return write.call_id
    return write.call.call_id if isinstance(write, CloseIfOpen) else None


def _encode(seq: int, write: Write) -> bytes:
    """One journal line. orjson writes the dataclasses as they are (times in ISO
    8601, enums by value, UTF-8): the same line `json` wrote from their fields, at a
    tenth of the cost (a call writes about fifteen)."""
    body: dict[str, Any] = {"seq": seq, "op": _op(write)}
    if isinstance(write, CallRecord):
        body["call"] = write
    elif isinstance(write, CloseIfOpen):
        body["call"] = write.call
    elif isinstance(write, CallEvent):
        body["event"] = {name: getattr(write, name) for name in _EVENT_FIELDS}  # no seq
    elif isinstance(write, Case):
        body["case"] = write
    else:
        body["reload"] = write
    return orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE)


def _decode(line: bytes) -> _Entry:
    body = json.loads(line)
    seq = body["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError(f"bad seq {seq!r}")
    write: Write
    if body["op"] in ("save", "close_if_open"):
        values = _fields_from_json(body["call"], _RECORD_FIELDS, _RECORD_TIMES)
        write = normalised_record(CallRecord(**values))
        if body["op"] == "close_if_open":
            write = CloseIfOpen(write)
    elif body["op"] == "reload":
        values = _fields_from_json(body["reload"], _RELOAD_FIELDS, frozenset({"at"}))
        write = normalised_write(ConfigReload(**values))
    elif body["op"] == "event":
        values = _fields_from_json(body["event"], _EVENT_FIELDS, frozenset({"at"}))
        write = normalised_event(CallEvent(**values))
    elif body["op"] == "open_case":
        values = _fields_from_json(body["case"], _CASE_FIELDS, frozenset({"opened_at"}))
        history = body["case"]["history"]
        if not isinstance(history, list):
            raise TypeError(f"expected a list of case changes, got {history!r}")
        values["history"] = tuple(
            CaseChange(**_fields_from_json(change, _CHANGE_FIELDS, frozenset({"at"})))
            for change in history
        )
        write = normalised_case(Case(**values))
    else:
        raise ValueError(f"unknown op {body['op']!r}")
    return _Entry(seq, write, line)


def _fields_from_json(
    fields: object, names: Sequence[str], times: frozenset[str]
) -> dict[str, Any]:
    if not isinstance(fields, dict):
        raise TypeError(f"expected an object, got {fields!r}")
    values = {name: fields[name] for name in names if name in fields}
    for name in times & values.keys():
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    return values


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


if TYPE_CHECKING:  # mypy proves the spool is a CallLog

    def _is_a_call_log(spool: SpooledCallLog) -> CallLog:
        return spool
