"""The call log repository: `CallLog` protocol, its SQL implementation `CallLogStore`.

`InMemoryCallLog` (the fake for unit tests) lives in `calllog.memory` and is
re-exported here. Every method is one short transaction: a call row is written at
each milestone of the call, never only at the end.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.errors import UnknownCallError
from calllog.memory import InMemoryCallLog
from calllog.model import (
    FIND_CALL_LIMIT,
    Callback,
    CallEvent,
    CallRecord,
    Outcome,
    as_utc,
    check_limit,
    normalised_event,
    normalised_record,
)
from calllog.tables import CallEventRow, CallRow

__all__ = ["CallLog", "CallLogStore", "InMemoryCallLog"]

_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(CallRecord))


class CallLog(Protocol):
    """What the call flow needs from the call log."""

    async def save(self, call: CallRecord) -> None:
        """Insert the call, or overwrite every field of its existing row."""

    async def append_event(self, event: CallEvent) -> None:
        """Append to the call's timeline; raises `UnknownCallError` if it was never saved."""

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


class CallLogStore:
    """`CallLog` on SQLite or PostgreSQL (schema from the Alembic migrations)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def save(self, call: CallRecord) -> None:
        values = _row_values(normalised_record(call))
        async with self._sessionmaker.begin() as session:
            dialect = session.get_bind().dialect.name
            if dialect in ("postgresql", "sqlite"):
                insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
                stmt = insert(CallRow).values(values)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[CallRow.call_id],
                    set_={name: stmt.excluded[name] for name in values if name != "call_id"},
                )
                await session.execute(stmt)
            else:  # any other backend: read-then-write in the same transaction
                await session.merge(CallRow(**values))

    async def append_event(self, event: CallEvent) -> None:
        event = normalised_event(event)
        async with self._sessionmaker.begin() as session:
            known = await session.scalar(select(exists().where(CallRow.call_id == event.call_id)))
            if not known:
                raise UnknownCallError(event.call_id)
            session.add(
                CallEventRow(
                    call_id=event.call_id, at=event.at, kind=event.kind, detail=event.detail
                )
            )

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


def _row_values(call: CallRecord) -> dict[str, Any]:
    values = {name: getattr(call, name) for name in _RECORD_FIELDS}
    if call.outcome is not None:
        values["outcome"] = call.outcome.value
    if call.callback is not None:
        values["callback"] = Callback(call.callback).value
    return values


def _to_record(row: CallRow) -> CallRecord:
    values = {name: getattr(row, name) for name in _RECORD_FIELDS}
    if row.outcome is not None:
        values["outcome"] = Outcome(row.outcome)
    if row.callback is not None:
        values["callback"] = Callback(row.callback)
    return CallRecord(**values)


def _to_event(row: CallEventRow) -> CallEvent:
    return CallEvent(
        call_id=row.call_id, at=row.at, kind=row.kind, detail=dict(row.detail), seq=row.id
    )


if TYPE_CHECKING:  # mypy proves both implementations satisfy the protocol

    def _both_are_call_logs(store: CallLogStore, fake: InMemoryCallLog) -> tuple[CallLog, CallLog]:
        return store, fake
