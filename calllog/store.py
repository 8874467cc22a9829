"""The call log repository: `CallLog` protocol, its SQL implementation `CallLogStore`.

`InMemoryCallLog` (the fake for unit tests) lives in `calllog.memory` and is
re-exported here. Every method is one short transaction: a call row is written at
each milestone of the call, never only at the end. `apply` puts many writes in one
transaction, for the spool (`calllog.spool`) that replays them in batches; replaying a
write twice changes nothing (saves are upserts, keyed events are appended once).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ColumnElement, case, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.errors import UnknownCallError
from calllog.memory import InMemoryCallLog
from calllog.model import (
    FIND_CALL_LIMIT,
    Callback,
    CallEvent,
    CallRecord,
    CloseIfOpen,
    ConfigReload,
    Outcome,
    SurveyResult,
    Write,
    as_utc,
    check_limit,
    normalised_write,
)
from calllog.tables import CallEventRow, CallRow, ConfigReloadRow

__all__ = ["BatchCallLog", "CallLog", "CallLogStore", "InMemoryCallLog"]

_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(CallRecord))
_CALLBACK_FIELDS = ("callback", "callback_done_at", "callback_note")
"""Once staff marked a call back done, a save (a late or replayed one) leaves these."""


class CallLog(Protocol):
    """What the call flow needs from the call log."""

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

    async def list_callbacks(
        self, *, include_done: bool = False, limit: int = 500
    ) -> list[CallRecord]:
        """Calls waiting for a call back (and those already called back when
        `include_done`), oldest first (the queue is worked oldest first), at most `limit`."""

    async def mark_callback_done(
        self, call_id: str, *, at: datetime, note: str | None = None
    ) -> bool:
        """Record that staff called back: callback "done", `callback_done_at`, `callback_note`.

        False, and nothing changed, if the call does not exist or has no call back pending
        (already done, or never needed)."""

    async def find_call(self, prefix: str) -> list[CallRecord]:
        """Calls whose id starts with `prefix` (an operator types a short id), newest
        first, at most `FIND_CALL_LIMIT` (20)."""

    async def close_if_open(self, call: CallRecord) -> None:
        """Save `call` only if the log has no row for it or its row is still open
        (see `CloseIfOpen`)."""

    async def record_reload(self, reload: ConfigReload) -> None:
        """Append one config reload attempt to the reload history."""

    async def list_reloads(self, *, limit: int = 100) -> list[ConfigReload]:
        """The reload history, oldest first (the last `limit` attempts)."""


class BatchCallLog(CallLog, Protocol):
    """A `CallLog` that can also apply many writes at once: what the spool needs."""

    async def apply(self, writes: Sequence[Write]) -> None:
        """Perform `writes` (saves, events, closes, reloads) in order, all or nothing
        (one transaction). Raises what `save` / `append_event` raise; then nothing of
        `writes` is in the log."""


class CallLogStore:
    """`CallLog` on SQLite or PostgreSQL (schema from the Alembic migrations)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

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
                         problems=r.problems, pbx_error=r.pbx_error)
            for r in reversed(rows)
        ]

    async def apply(self, writes: Sequence[Write]) -> None:
        normalised = [normalised_write(w) for w in writes]
        if not normalised:
            return
        async with self._sessionmaker.begin() as session:
            dialect = session.get_bind().dialect.name
            saved: set[str] = set()  # rows this transaction wrote: no need to look them up
            for write in normalised:
                if isinstance(write, CallRecord):
                    await _upsert_call(session, dialect, write)
                    saved.add(write.call_id)
                elif isinstance(write, CloseIfOpen):
                    await _upsert_call(session, dialect, write.call, only_if_open=True)
                    saved.add(write.call.call_id)
                elif isinstance(write, CallEvent):
                    await _insert_event(session, dialect, write, known=write.call_id in saved)
                else:
                    session.add(ConfigReloadRow(
                        at=write.at, file=write.file, sha256=write.sha256, status=write.status,
                        problems=write.problems, pbx_error=write.pbx_error,
                    ))

    async def get(self, call_id: str) -> CallRecord | None:
        async with self._sessionmaker() as session:
            row = await session.get(CallRow, call_id)
            return None if row is None else _to_record(row)

    async def events(self, call_id: str) -> list[CallEvent]:
        query = (
            select(CallEventRow).where(CallEventRow.call_id == call_id).order_by(CallEventRow.id)
        )
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [_to_event(row) for row in rows]

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
            return [_to_record(row) for row in rows]

    async def list_callbacks(
        self, *, include_done: bool = False, limit: int = 500
    ) -> list[CallRecord]:
        check_limit(limit)
        wanted = [Callback.PENDING.value]
        if include_done:
            wanted.append(Callback.DONE.value)
        query = (
            select(CallRow)
            .where(CallRow.callback.in_(wanted))
            .order_by(CallRow.started_at, CallRow.call_id)
            .limit(limit)
        )
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [_to_record(row) for row in rows]

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
            # LIKE can use an index on PostgreSQL, but on SQLite it ignores case: the
            # substr comparison keeps the match exact (as str.startswith) everywhere.
            .where(
                CallRow.call_id.startswith(prefix, autoescape=True),
                func.substr(CallRow.call_id, 1, len(prefix)) == prefix,
            )
            .order_by(CallRow.started_at.desc(), CallRow.call_id.desc())
            .limit(FIND_CALL_LIMIT)
        )
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [_to_record(row) for row in rows]


async def _upsert_call(
    session: AsyncSession, dialect: str, call: CallRecord, *, only_if_open: bool = False
) -> None:
    values = _row_values(call)
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(CallRow).values(values)
        existing = CallRow.__table__.c
        done = existing.callback == Callback.DONE.value
        set_: dict[str, ColumnElement[Any]] = {}
        for name in values:
            if name == "call_id":
                continue
            new: ColumnElement[Any] = stmt.excluded[name]
            if name in _CALLBACK_FIELDS:  # the table's columns are the row as it was
                new = case((done, existing[name]), else_=new)
            set_[name] = new
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[CallRow.call_id], set_=set_,
                where=existing.ended_at.is_(None) if only_if_open else None,
            )
        )
        return
    # Any other backend: read-then-write in the same transaction.
    row = await session.get(CallRow, call.call_id)
    if only_if_open and row is not None and row.ended_at is not None:
        return
    if row is not None and row.callback == Callback.DONE.value:
        values.update({name: getattr(row, name) for name in _CALLBACK_FIELDS})
    await session.merge(CallRow(**values))


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
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(CallEventRow).values(values)
        if event.key is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=[CallEventRow.key])
        await session.execute(stmt)
        return
    if event.key is not None and await session.scalar(
        select(exists().where(CallEventRow.key == event.key))
    ):
        return
    session.add(CallEventRow(**values))


def _row_values(call: CallRecord) -> dict[str, Any]:
    values = {name: getattr(call, name) for name in _RECORD_FIELDS}
    if call.outcome is not None:
        values["outcome"] = call.outcome.value
    if call.callback is not None:
        values["callback"] = Callback(call.callback).value
    if call.survey is not None:
        values["survey"] = SurveyResult(call.survey).value
    return values


def _to_record(row: CallRow) -> CallRecord:
    values = {name: getattr(row, name) for name in _RECORD_FIELDS}
    if row.outcome is not None:
        values["outcome"] = Outcome(row.outcome)
    if row.callback is not None:
        values["callback"] = Callback(row.callback)
    if row.survey is not None:
        values["survey"] = SurveyResult(row.survey)
    return CallRecord(**values)


def _to_event(row: CallEventRow) -> CallEvent:
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
