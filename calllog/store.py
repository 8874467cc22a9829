"""The call log repository: `CallLog` protocol, its SQL implementation `CallLogStore`.

`InMemoryCallLog` (the fake for unit tests) lives in `calllog.memory` and is
re-exported here. Every method is one short transaction: a call row is written at
each milestone of the call, never only at the end.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.errors import UnknownCallError
from calllog.memory import InMemoryCallLog
from calllog.model import (
    CallEvent,
    CallRecord,
    Outcome,
    as_utc,
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
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        query = select(CallRow)
        if since is not None:
            query = query.where(CallRow.started_at >= as_utc(since, "since"))
        if until is not None:
            query = query.where(CallRow.started_at < as_utc(until, "until"))
        query = query.order_by(CallRow.started_at.desc(), CallRow.call_id.desc()).limit(limit)
        async with self._sessionmaker() as session:
            rows = await session.scalars(query)
            return [_to_record(row) for row in rows]


def _row_values(call: CallRecord) -> dict[str, Any]:
    values = {name: getattr(call, name) for name in _RECORD_FIELDS}
    if call.outcome is not None:
        values["outcome"] = call.outcome.value
    return values


def _to_record(row: CallRow) -> CallRecord:
    values = {name: getattr(row, name) for name in _RECORD_FIELDS}
    if row.outcome is not None:
        values["outcome"] = Outcome(row.outcome)
    return CallRecord(**values)


def _to_event(row: CallEventRow) -> CallEvent:
    return CallEvent(
        call_id=row.call_id, at=row.at, kind=row.kind, detail=dict(row.detail), seq=row.id
    )


if TYPE_CHECKING:  # mypy proves both implementations satisfy the protocol

    def _both_are_call_logs(store: CallLogStore, fake: InMemoryCallLog) -> tuple[CallLog, CallLog]:
        return store, fake
