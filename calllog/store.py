"""The call log repository: `CallLog` protocol, its SQL implementation `CallLogStore`.

`InMemoryCallLog` (the fake for unit tests) lives in `calllog.memory` and is
re-exported here. Every method is one short transaction: a call row is written at
each milestone of the call, never only at the end. `apply` puts many writes in one
transaction, for the spool (`calllog.spool`) that replays them in batches; replaying a
write twice changes nothing (saves are upserts, keyed events are appended once, a case
is opened once per key).

Complaint cases: `open_case` is a write like a save (the desk's flag during a call, so
the spool journals it); the operator's `create_case` and `update_case` go straight to
the database, like `mark_callback_done`, because the CLI needs their answer.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.base import Executable

from calllog.cases import (
    CASE_LIST_LIMIT,
    CaseTransitionError,
    UnknownCaseError,
    check_case_change,
    checked_update_args,
)
from calllog.codes import CaseDeadline, next_case_code
from calllog.errors import UnknownCallError
from calllog.memory import InMemoryCallLog
from calllog.model import (
    FIND_CALL_LIMIT,
    Callback,
    CallEvent,
    CallRecord,
    Case,
    CaseChange,
    CaseStatus,
    CloseIfOpen,
    ConfigReload,
    Outcome,
    QueueResult,
    SurveyResult,
    Write,
    as_utc,
    check_limit,
    check_offset,
    close_queue,
    normalised_case,
    normalised_write,
    parse_case_status,
)
from calllog.tables import CallEventRow, CallRow, CaseChangeRow, CaseRow, ConfigReloadRow

__all__ = ["BatchCallLog", "CallLog", "CallLogStore", "InMemoryCallLog", "OperatorCallLog"]

_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(CallRecord))
_CALLBACK_FIELDS = ("callback", "callback_done_at", "callback_note")
"""Once staff marked a call back done, a save (a late or replayed one) leaves these."""


class CallLog(Protocol):
    """What the call flow needs from the call log (writes, and the reads recovery and
    the flow make); the operator's side is `OperatorCallLog` and `calllog.queries`."""

    async def save(self, call: CallRecord) -> None:
        """Insert the call, or overwrite every field of its existing row, except the
        call-back fields of a row whose call back is already "done" (staff's
        `mark_callback_done` is never undone by a save)."""

    async def append_event(self, event: CallEvent) -> None:
        """Append to the call's timeline; raises `UnknownCallError` if it was never saved.

        An event with a `key` already in the log is not appended again."""

    async def get(self, call_id: str) -> CallRecord | None: ...

    async def events(self, call_id: str) -> list[CallEvent]:
        """The call's timeline in the order it was appended."""

    async def list_calls(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[CallRecord]:
        """Calls with `since <= started_at < until`, newest first, at most `limit`."""

    async def count_calls_from(self, number: str, *, since: datetime, excluding: str) -> int:
        """How many calls from `number` started at or after `since`, not counting the call
        `excluding` (the one asking): a repeat caller shows on the desk's display."""

    async def close_if_open(self, call: CallRecord) -> None:
        """Save `call` only if the log has no row for it or its row is still open
        (see `CloseIfOpen`)."""

    async def record_reload(self, reload: ConfigReload) -> None:
        """Append one config reload attempt to the reload history."""

    async def open_case(self, case: Case) -> None:
        """Open a complaint case for a call or a recorded message (a desk's flag during
        the call): the case, status received, and its first history entry, `history[0]`
        as given (it carries the opening note) or else one made from `opened_at`,
        `opened_by` and `agency`. Nothing happens if a case with the same `key` is in the
        log. `id` must be None (the store numbers cases). Raises `UnknownCallError` for a
        `call_id` never saved. A write like `save`: the spool journals it."""



class OperatorCallLog(CallLog, Protocol):
    """The call flow's port plus the operator's reads and writes that the spool passes
    through to the database (the CLI's). New pages read through `calllog.queries`."""

    async def list_callbacks(
        self, *, include_done: bool = False, limit: int = 500, offset: int = 0
    ) -> list[CallRecord]:
        """Calls waiting for a call back, oldest first (the queue is worked oldest first),
        then, when `include_done`, those already called back, oldest first: at most `limit`
        of them after skipping `offset` (a page; `count_callbacks` says how many there are)."""

    async def count_callbacks(self, *, include_done: bool = False) -> int:
        """How many calls `list_callbacks` has in all (its pages put together)."""

    async def pending_callbacks_matching(
        self, prefix: str, *, limit: int = FIND_CALL_LIMIT
    ) -> list[CallRecord]:
        """Calls waiting for a call back whose id starts with `prefix` (exactly: case and
        LIKE wildcards count as typed), oldest first, at most `limit`."""

    async def mark_callback_done(
        self, call_id: str, *, at: datetime, note: str | None = None
    ) -> bool:
        """Record that staff called back: callback "done", `callback_done_at`, `callback_note`.

        False, and nothing changed, if the call does not exist or has no call back pending
        (already done, or never needed)."""

    async def find_call(self, prefix: str) -> list[CallRecord]:
        """Calls whose id starts with `prefix` (an operator types a short id), newest
        first, at most `FIND_CALL_LIMIT` (20)."""

    async def list_reloads(self, *, limit: int = 100) -> list[ConfigReload]:
        """The reload history, oldest first (the last `limit` attempts)."""

    async def create_case(self, case: Case) -> Case:
        """`open_case` straight to the database, for an operator: the case as stored,
        with its id and history (the existing case if its `key` is already in the log)."""

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
        """Move the case to `status` (allowed by `CASE_TRANSITIONS`; the same status only
        adds `note`), forwarded to `agency` when given, and append that change to its
        history; the case as it now is. `CaseTransitionError` if the workflow does not
        allow it, or another change came first (nothing recorded); `UnknownCaseError` for
        an unknown id; `ValueError` for a same-status change without a note, a forward
        without an agency, a naive `at` or an empty `by`."""

    async def get_case(self, case_id: int) -> Case | None:
        """The case with its whole history, oldest first."""

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
        """Cases matching every filter given (exact values; `since <= opened_at < until`),
        newest first, at most `limit`, without their history (see `get_case`)."""

    async def cases_for_call(self, call_id: str) -> list[Case]:
        """The call's cases in the order they were opened, without their history."""


class BatchCallLog(OperatorCallLog, Protocol):
    """A `CallLog` that can also apply many writes at once: what the spool needs."""

    async def apply(self, writes: Sequence[Write]) -> None:
        """Perform `writes` (saves, events, closes, reloads, cases) in order, all or nothing
        (one transaction). Raises what `save` / `append_event` raise; then nothing of
        `writes` is in the log."""


class CallLogStore:
    """`CallLog` on SQLite or PostgreSQL (schema from the Alembic migrations)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        case_deadline: CaseDeadline | None = None,
    ) -> None:
        """`case_deadline` gives a new case's deadline from when it was opened (the
        wiring builds it from the YAML's working days); None: cases open without one."""
        self._sessionmaker = sessionmaker
        self._case_deadline = case_deadline

    async def save(self, call: CallRecord) -> None:
        await self.apply([call])

    async def append_event(self, event: CallEvent) -> None:
        await self.apply([event])

    async def close_if_open(self, call: CallRecord) -> None:
        await self.apply([CloseIfOpen(call)])

    async def record_reload(self, reload: ConfigReload) -> None:
        await self.apply([reload])

    async def list_reloads(self, *, limit: int = 100) -> list[ConfigReload]:
        check_limit(limit)
        query = select(ConfigReloadRow).order_by(ConfigReloadRow.id.desc()).limit(limit)
        async with self._sessionmaker() as session:
            rows = list(await session.scalars(query))
        return [
            ConfigReload(at=r.at, file=r.file, sha256=r.sha256, status=r.status,
                         problems=r.problems, pbx_error=r.pbx_error, key=r.key)
            for r in reversed(rows)
        ]

    async def apply(self, writes: Sequence[Write]) -> None:
        normalised = _coalesced([normalised_write(w) for w in writes])
        if not normalised:
            return
        async with self._sessionmaker.begin() as session:
            dialect = session.get_bind().dialect.name
            saved: set[str] = set()  # rows this transaction wrote: no need to look them up
            # Runs of saves, and events of calls saved in this transaction, go in one
            # statement each (saves first: the events refer to their rows).
            saves: list[CallRecord] = []
            events: list[CallEvent] = []
            # Calls of this batch's events already in the log: asked once, not per event
            # (a call's save may come after its events in a batch: saves are coalesced).
            existing = await _existing_calls(
                session, {w.call_id for w in normalised if isinstance(w, CallEvent)})

            async def flush() -> None:
                if saves:
                    await _upsert_calls(session, dialect, saves)
                    saves.clear()
                if events:
                    await _insert_events(session, dialect, events)
                    events.clear()

            for write in normalised:
                if isinstance(write, CallRecord):
                    saves.append(write)
                    saved.add(write.call_id)
                    continue
                if isinstance(write, CallEvent) and (
                        write.call_id in saved or write.call_id in existing):
                    events.append(write)
                    continue
                await flush()
                if isinstance(write, CloseIfOpen):
                    await _upsert_call(session, dialect, write.call, only_if_open=True)
                    saved.add(write.call.call_id)
                elif isinstance(write, CallEvent):
                    await _insert_event(session, dialect, write, known=False)
                elif isinstance(write, Case):
                    await _insert_case(session, dialect, write, known=write.call_id in saved,
                                       deadline=self._case_deadline)
                else:
                    await _insert_reload(session, dialect, write)
            await flush()

    async def get(self, call_id: str) -> CallRecord | None:
        async with self._sessionmaker() as session:
            row = await session.get(CallRow, call_id)
            return None if row is None else record_from_row(row)

    async def events(self, call_id: str) -> list[CallEvent]:
        query = (
            select(CallEventRow).where(CallEventRow.call_id == call_id).order_by(CallEventRow.id)
        )
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [event_from_row(row) for row in rows]

    async def count_calls_from(self, number: str, *, since: datetime, excluding: str) -> int:
        query = select(func.count()).select_from(CallRow).where(
            CallRow.caller_number == number, CallRow.started_at >= as_utc(since, "since"),
            CallRow.call_id != excluding)
        async with self._sessionmaker() as session:
            return int(await session.scalar(query) or 0)

    async def list_calls(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[CallRecord]:
        check_limit(limit)
        query = select(CallRow)
        if since is not None:
            query = query.where(CallRow.started_at >= as_utc(since, "since"))
        if until is not None:
            query = query.where(CallRow.started_at < as_utc(until, "until"))
        query = query.order_by(CallRow.started_at.desc(), CallRow.call_id.desc()).limit(limit)
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [record_from_row(row) for row in rows]

    async def list_callbacks(
        self, *, include_done: bool = False, limit: int = 500, offset: int = 0
    ) -> list[CallRecord]:
        check_limit(limit)
        check_offset(offset)
        query = (
            select(CallRow)
            .where(_callback_wanted(include_done))
            .order_by(
                case((CallRow.callback == Callback.PENDING.value, 0), else_=1),
                CallRow.started_at,
                CallRow.call_id,
            )
            .offset(offset)
            .limit(limit)
        )
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [record_from_row(row) for row in rows]

    async def count_callbacks(self, *, include_done: bool = False) -> int:
        query = select(func.count()).select_from(CallRow).where(_callback_wanted(include_done))
        async with self._sessionmaker() as session:
            return int(await session.scalar(query) or 0)

    async def pending_callbacks_matching(
        self, prefix: str, *, limit: int = FIND_CALL_LIMIT
    ) -> list[CallRecord]:
        check_limit(limit)
        query = (
            select(CallRow)
            .where(CallRow.callback == Callback.PENDING.value, *_id_starts_with(prefix))
            .order_by(CallRow.started_at, CallRow.call_id)
            .limit(limit)
        )
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [record_from_row(row) for row in rows]

    async def mark_callback_done(
        self, call_id: str, *, at: datetime, note: str | None = None
    ) -> bool:
        # One conditional UPDATE: of two staff marking the same call, exactly one wins.
        stmt = (
            update(CallRow)
            .where(CallRow.call_id == call_id, CallRow.callback == Callback.PENDING.value)
            .values(
                callback=Callback.DONE.value,
                callback_done_at=as_utc(at, "at"),
                callback_note=note,
            )
            .returning(CallRow.call_id)
            .execution_options(synchronize_session=False)
        )
        async with self._sessionmaker.begin() as session:
            updated = (await session.execute(stmt)).scalar_one_or_none()
        return updated is not None

    async def find_call(self, prefix: str) -> list[CallRecord]:
        query = (
            select(CallRow)
            .where(*_id_starts_with(prefix))
            .order_by(CallRow.started_at.desc(), CallRow.call_id.desc())
            .limit(FIND_CALL_LIMIT)
        )
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [record_from_row(row) for row in rows]

    async def find_recording(self, name: str) -> list[CallRecord]:
        """Calls whose voice message is `name` (the operator's CLI), newest first."""
        query = (
            select(CallRow)
            .where(CallRow.recording == name)
            .order_by(CallRow.started_at.desc(), CallRow.call_id.desc())
            .limit(FIND_CALL_LIMIT)
        )
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [record_from_row(row) for row in rows]

    # --- complaint cases ------------------------------------------------------------

    async def open_case(self, case: Case) -> None:
        await self.apply([case])

    async def create_case(self, case: Case) -> Case:
        case = normalised_case(case)
        async with self._sessionmaker.begin() as session:
            dialect = session.get_bind().dialect.name
            case_id = await _insert_case(session, dialect, case, known=False,
                                         deadline=self._case_deadline)
            if case_id is None:  # opened before under this key
                case_id = await session.scalar(select(CaseRow.id).where(CaseRow.key == case.key))
            stored = None if case_id is None else await _load_case(session, case_id)
        if stored is None:
            raise AssertionError(f"case {case.key!r} neither inserted nor found")
        return stored

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
        at, _ = checked_update_args(at, by, status)
        async with self._sessionmaker.begin() as session:
            query = select(CaseRow.status, CaseRow.agency).where(CaseRow.id == case_id)
            current = (await session.execute(query)).one_or_none()
            if current is None:
                raise UnknownCaseError(case_id)
            new = check_case_change(
                case_id, current.status, current.agency, status=status, agency=agency, note=note
            )
            # Conditional on the status just checked: of two operators changing the case
            # at once, the second finds it changed and records nothing.
            values: dict[str, str] = {"status": new.value}
            if agency is not None:
                values["agency"] = agency
            stmt = (
                update(CaseRow)
                .where(CaseRow.id == case_id, CaseRow.status == current.status)
                .values(values)
                .returning(CaseRow.agency)
                .execution_options(synchronize_session=False)
            )
            updated = (await session.execute(stmt)).one_or_none()
            if updated is None:
                now = await session.scalar(select(CaseRow.status).where(CaseRow.id == case_id))
                raise CaseTransitionError(
                    case_id, parse_case_status(now or current.status), new, meanwhile=True
                )
            await session.execute(insert(CaseChangeRow).values(
                case_id=case_id, at=at, by=by, status=new.value, agency=updated.agency, note=note,
            ))
            stored = await _load_case(session, case_id)
        assert stored is not None
        return stored

    async def get_case(self, case_id: int) -> Case | None:
        async with self._sessionmaker() as session:
            return await _load_case(session, case_id)

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
        check_limit(limit)
        query = select(CaseRow)
        if status is not None:
            query = query.where(CaseRow.status == parse_case_status(status).value)
        if agency is not None:
            query = query.where(CaseRow.agency == agency)
        if category is not None:
            query = query.where(CaseRow.category == category)
        if since is not None:
            query = query.where(CaseRow.opened_at >= as_utc(since, "since"))
        if until is not None:
            query = query.where(CaseRow.opened_at < as_utc(until, "until"))
        query = query.order_by(CaseRow.opened_at.desc(), CaseRow.id.desc()).limit(limit)
        return await self._cases(query)

    async def cases_for_call(self, call_id: str) -> list[Case]:
        query = select(CaseRow).where(CaseRow.call_id == call_id)
        return await self._cases(query.order_by(CaseRow.opened_at, CaseRow.id))

    async def _cases(self, query: Select[CaseRow]) -> list[Case]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [case_from_row(row, ()) for row in rows]


def _callback_wanted(include_done: bool) -> ColumnElement[bool]:
    wanted = [Callback.PENDING.value]
    if include_done:
        wanted.append(Callback.DONE.value)
    return CallRow.callback.in_(wanted)


def _id_starts_with(prefix: str) -> tuple[ColumnElement[bool], ...]:
    """The call's id starts with `prefix`, as `str.startswith` says. LIKE (wildcards
    escaped) can use an index on PostgreSQL, but on SQLite it ignores case: the substr
    comparison keeps the match exact everywhere."""
    return (
        CallRow.call_id.startswith(prefix, autoescape=True),
        func.substr(CallRow.call_id, 1, len(prefix)) == prefix,
    )


async def _existing_calls(session: AsyncSession, call_ids: set[str]) -> set[str]:
    if not call_ids:
        return set()
    query = select(CallRow.call_id).where(CallRow.call_id.in_(sorted(call_ids)))
    return set(await session.scalars(query))


def _queue_kept(new: Any, row: Any) -> dict[str, ColumnElement[Any]]:
    """A close from outside the call's flow (CEL, recovery) knows nothing of its queue:
    the row's wait is kept, and a caller still queued when the call ended without us hung
    up while waiting (`calllog.model.close_queue`)."""
    queued = and_(row.queue_joined_at.is_not(None), row.queue_left_at.is_(None))
    return {
        "queue_joined_at": func.coalesce(new.queue_joined_at, row.queue_joined_at),
        "queue_left_at": func.coalesce(new.queue_left_at, case(
            (queued, new.ended_at), else_=row.queue_left_at)),
        "queue_result": func.coalesce(new.queue_result, case(
            (queued & new.ended_at.is_not(None), literal(QueueResult.ABANDONED.value)),
            else_=row.queue_result)),
    }


@functools.cache
def _upsert_statement(dialect: str, only_if_open: bool = False) -> Executable:
    """One INSERT .. ON CONFLICT DO UPDATE for every save (compiled once, run with one
    row or many). A row marked "call back done" keeps its callback fields; with
    `only_if_open`, a closed row is left as it is."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = cast(Table, CallRow.__table__)
    stmt = insert(table)
    existing = table.c
    done = existing.callback == Callback.DONE.value
    set_: dict[str, ColumnElement[Any]] = {}
    for name in _RECORD_FIELDS:
        if name == "call_id":
            continue
        new: ColumnElement[Any] = stmt.excluded[name]
        if name in _CALLBACK_FIELDS:  # the table's columns are the row as it was
            new = case((done, existing[name]), else_=new)
        set_[name] = new
    if only_if_open:
        set_ |= _queue_kept(stmt.excluded, existing)
    return stmt.on_conflict_do_update(
        index_elements=[existing.call_id], set_=set_,
        where=existing.ended_at.is_(None) if only_if_open else None,
    )


async def _upsert_calls(session: AsyncSession, dialect: str, calls: list[CallRecord]) -> None:
    if dialect not in ("postgresql", "sqlite"):
        for call in calls:
            await _upsert_call(session, dialect, call)
        return
    await session.execute(_upsert_statement(dialect), [_row_values(c) for c in calls])


async def _upsert_call(
    session: AsyncSession, dialect: str, call: CallRecord, *, only_if_open: bool = False
) -> None:
    values = _row_values(call)
    if dialect in ("postgresql", "sqlite"):
        await session.execute(_upsert_statement(dialect, only_if_open), values)
        return
    # Any other backend: read-then-write in the same transaction.
    row = await session.get(CallRow, call.call_id)
    if only_if_open and row is not None and row.ended_at is not None:
        return
    if only_if_open and row is not None:
        values = _row_values(close_queue(record_from_row(row), call))
    if row is not None and row.callback == Callback.DONE.value:
        values.update({name: getattr(row, name) for name in _CALLBACK_FIELDS})
    await session.merge(CallRow(**values))


def _coalesced(writes: list[Write]) -> list[Write]:
    """The same writes, with the saves of a call in one batch folded into its first
    save, holding its last state: inside one transaction nothing can see the
    states in between, and a call saves itself at every milestone (most of a
    batch under load). Calls with a `CloseIfOpen` in the batch are left as they are."""
    closing = {w.call.call_id for w in writes if isinstance(w, CloseIfOpen)}
    last: dict[str, CallRecord] = {}
    for write in writes:
        if isinstance(write, CallRecord) and write.call_id not in closing:
            last[write.call_id] = write
    folded: list[Write] = []
    done: set[str] = set()
    for write in writes:
        if isinstance(write, CallRecord) and write.call_id in last:
            if write.call_id in done:
                continue
            done.add(write.call_id)
            write = last[write.call_id]
        folded.append(write)
    return folded


async def _insert_events(session: AsyncSession, dialect: str, events: list[CallEvent]) -> None:
    """Events of calls known to be in the log, in one statement (keys still dedupe)."""
    if dialect not in ("postgresql", "sqlite"):
        for event in events:
            await _insert_event(session, dialect, event, known=True)
        return
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [
        {"call_id": e.call_id, "at": e.at, "kind": e.kind, "detail": e.detail, "key": e.key}
        for e in events
    ]
    table = cast(Table, CallEventRow.__table__)
    stmt = insert(table).on_conflict_do_nothing(index_elements=[table.c.key])
    await session.execute(stmt, rows)


async def _insert_reload(session: AsyncSession, dialect: str, reload: ConfigReload) -> None:
    """Record `reload`, unless one with its key is already in the log."""
    values = {
        "at": reload.at, "file": reload.file, "sha256": reload.sha256,
        "status": reload.status, "problems": reload.problems, "pbx_error": reload.pbx_error,
        "key": reload.key,
    }
    await _insert_keyed(session, dialect, ConfigReloadRow, values)


async def _insert_event(
    session: AsyncSession, dialect: str, event: CallEvent, *, known: bool
) -> None:
    if not known:
        exists_query = select(exists().where(CallRow.call_id == event.call_id))
        if not await session.scalar(exists_query):
            raise UnknownCallError(event.call_id)
    values = {
        "call_id": event.call_id,
        "at": event.at,
        "kind": event.kind,
        "detail": event.detail,
        "key": event.key,
    }
    await _insert_keyed(session, dialect, CallEventRow, values)


async def _insert_keyed(
    session: AsyncSession, dialect: str, row: type[CallEventRow] | type[ConfigReloadRow],
    values: dict[str, Any],
) -> None:
    """Insert `values`, unless a row with the same non-null `key` is already there
    (a journal entry applied twice writes once)."""
    key = values["key"]
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(row).values(values)
        if key is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=[row.key])
        await session.execute(stmt)
        return
    if key is not None and await session.scalar(select(exists().where(row.key == key))):
        return
    session.add(row(**values))


async def _insert_case(
    session: AsyncSession, dialect: str, case: Case, *, known: bool,
    deadline: CaseDeadline | None = None,
) -> int | None:
    """Insert a normalised case and its first history entry, with its code (the next of
    its year) and its deadline: its id, or None if a case with its key is already in the
    log (then nothing is written, and no number is used up)."""
    if case.call_id is not None and not known and not await session.scalar(
        select(exists().where(CallRow.call_id == case.call_id))
    ):
        raise UnknownCallError(case.call_id)
    values = {
        "call_id": case.call_id,
        "recording": case.recording,
        "category": case.category,
        "status": CaseStatus(case.status).value,
        "agency": case.agency,
        "opened_at": case.opened_at,
        "opened_by": case.opened_by,
        "key": case.key,
        "due_at": None if deadline is None else as_utc(deadline(case.opened_at), "due_at"),
    }
    case_id: int | None
    if dialect in ("postgresql", "sqlite"):
        insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert_(CaseRow).values(values)
        if case.key is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=[CaseRow.key])
        case_id = (await session.execute(stmt.returning(CaseRow.id))).scalar_one_or_none()
    else:  # any other backend: look, then insert, in the same transaction
        if case.key is not None and await session.scalar(
            select(exists().where(CaseRow.key == case.key))
        ):
            return None
        case_id = (
            await session.execute(insert(CaseRow).values(values).returning(CaseRow.id))
        ).scalar_one()
    if case_id is None:
        return None
    code = await next_case_code(session, dialect, case.opened_at)
    await session.execute(update(CaseRow).where(CaseRow.id == case_id).values(code=code)
                          .execution_options(synchronize_session=False))
    first = case.history[0]
    await session.execute(insert(CaseChangeRow).values(
        case_id=case_id, at=first.at, by=first.by, status=CaseStatus(first.status).value,
        agency=first.agency, note=first.note,
    ))
    return case_id


async def _load_case(session: AsyncSession, case_id: int) -> Case | None:
    query = select(CaseRow).where(CaseRow.id == case_id).execution_options(populate_existing=True)
    row = await session.scalar(query)
    if row is None:
        return None
    changes = await session.scalars(
        select(CaseChangeRow).where(CaseChangeRow.case_id == case_id).order_by(CaseChangeRow.id)
    )
    return case_from_row(row, tuple(
        CaseChange(at=c.at, by=c.by, status=CaseStatus(c.status), agency=c.agency, note=c.note)
        for c in changes
    ))


def case_from_row(row: CaseRow, history: tuple[CaseChange, ...]) -> Case:
    return Case(
        id=row.id,
        call_id=row.call_id,
        category=row.category,
        opened_at=row.opened_at,
        opened_by=row.opened_by,
        status=CaseStatus(row.status),
        agency=row.agency,
        recording=row.recording,
        key=row.key,
        history=history,
    )


def _row_values(call: CallRecord) -> dict[str, Any]:
    values = {name: getattr(call, name) for name in _RECORD_FIELDS}
    if call.outcome is not None:
        values["outcome"] = call.outcome.value
    if call.callback is not None:
        values["callback"] = Callback(call.callback).value
    if call.survey is not None:
        values["survey"] = SurveyResult(call.survey).value
    return values


def record_from_row(row: CallRow) -> CallRecord:
    values = {name: getattr(row, name) for name in _RECORD_FIELDS}
    if row.outcome is not None:
        values["outcome"] = Outcome(row.outcome)
    if row.callback is not None:
        values["callback"] = Callback(row.callback)
    if row.survey is not None:
        values["survey"] = SurveyResult(row.survey)
    return CallRecord(**values)


def event_from_row(row: CallEventRow) -> CallEvent:
    return CallEvent(
        call_id=row.call_id,
        at=row.at,
        kind=row.kind,
        detail=dict(row.detail),
        seq=row.id,
        key=row.key,
    )


if TYPE_CHECKING:  # mypy proves both implementations satisfy the protocols

    def _both_are_batch_call_logs(
        store: CallLogStore, fake: InMemoryCallLog
    ) -> tuple[BatchCallLog, BatchCallLog]:
        return store, fake
