"""Desks' presence as stored: the service reads it at start and keeps it current, the
console writes it. Two writers, each with its own columns, so neither undoes the other:
log in/out and pause (`set_state`: the desk's codes or the console) and what a call
leaves behind (`record_call_end`: the service).

`PresenceStore` is the SQL repository (table `desk_presence`, revision 0017; every
`set_state` is also kept in `desk_presence_changes`, revision 0021, for the pause time
of a period); `InMemoryPresenceStore` the fake for unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import Table, func, select
from sqlalchemy import insert as sql_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import as_utc
from calllog.tables import DeskPresenceChangeRow, DeskPresenceRow


@dataclass(frozen=True)
class DeskStatus:
    extension: str
    logged_in: bool = True
    paused: bool = False
    pause_reason: str | None = None
    wrap_up_until: datetime | None = None
    calls_day: date | None = None
    calls_today: int = 0
    last_call_ended_at: datetime | None = None
    changed_at: datetime | None = None
    changed_by: str = ""


@dataclass(frozen=True)
class PresenceChange:
    """One log in/out or pause/resume of a desk."""

    extension: str
    at: datetime
    logged_in: bool
    paused: bool
    pause_reason: str | None = None
    by: str = ""


@dataclass(frozen=True)
class PresenceHistory:
    """The desks' changes a period's pause time is counted from (`presence_changes`)."""

    changes: tuple[PresenceChange, ...]
    as_of: datetime | None = None
    """When they were read: a pause still running counts up to here (None: to the end
    of the period)."""


class PresenceRepository(Protocol):
    async def all(self) -> list[DeskStatus]: ...

    async def set_state(self, extension: str, *, logged_in: bool, paused: bool,
                        pause_reason: str | None, at: datetime, by: str) -> None:
        """Log the desk in or out, pause or resume it (`by`: "desk" or a console user)."""

    async def record_call_end(self, extension: str, *, wrap_up_until: datetime | None,
                              calls_day: date, calls_today: int,
                              last_call_ended_at: datetime) -> None:
        """What a call the desk answered leaves behind."""


class PresenceStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def all(self) -> list[DeskStatus]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(select(DeskPresenceRow)
                                         .order_by(DeskPresenceRow.extension))
            return [_status(row) for row in rows]

    async def set_state(self, extension: str, *, logged_in: bool, paused: bool,
                        pause_reason: str | None, at: datetime, by: str) -> None:
        values = {"logged_in": logged_in, "paused": paused, "pause_reason": pause_reason,
                  "changed_at": as_utc(at, "at"), "changed_by": by}
        change = {"extension": extension, "at": as_utc(at, "at"), "logged_in": logged_in,
                  "paused": paused, "pause_reason": pause_reason, "by": by}
        await self._upsert(extension, values, values, change=change)

    async def changes(self, since: datetime, until: datetime) -> list[PresenceChange]:
        return await presence_changes(self._sessionmaker, since, until)

    async def record_call_end(self, extension: str, *, wrap_up_until: datetime | None,
                              calls_day: date, calls_today: int,
                              last_call_ended_at: datetime) -> None:
        ended = as_utc(last_call_ended_at, "last_call_ended_at")
        values: dict[str, Any] = {"wrap_up_until": wrap_up_until, "calls_day": calls_day,
                                  "calls_today": calls_today, "last_call_ended_at": ended}
        new_row = {**values, "logged_in": True, "paused": False, "changed_at": ended,
                   "changed_by": "desk"}
        await self._upsert(extension, new_row, values)

    async def _upsert(self, extension: str, row: dict[str, Any],
                      update: dict[str, Any], change: dict[str, Any] | None = None) -> None:
        async with self._sessionmaker() as session, session.begin():
            if change is not None:
                await session.execute(sql_insert(DeskPresenceChangeRow).values(**change))
            dialect = session.get_bind().dialect.name
            table: Table = DeskPresenceRow.__table__  # type: ignore[assignment]
            if dialect in ("postgresql", "sqlite"):
                insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
                stmt = insert(table).values(extension=extension, **row)
                await session.execute(stmt.on_conflict_do_update(
                    index_elements=[table.c.extension], set_=update))
                return
            existing = await session.get(DeskPresenceRow, extension)
            if existing is None:
                session.add(DeskPresenceRow(extension=extension, **row))
            else:
                for name, value in update.items():
                    setattr(existing, name, value)


class InMemoryPresenceStore:
    def __init__(self) -> None:
        self.rows: dict[str, DeskStatus] = {}
        self.history: list[PresenceChange] = []

    async def all(self) -> list[DeskStatus]:
        return [self.rows[e] for e in sorted(self.rows)]

    async def set_state(self, extension: str, *, logged_in: bool, paused: bool,
                        pause_reason: str | None, at: datetime, by: str) -> None:
        current = self.rows.get(extension, DeskStatus(extension))
        self.rows[extension] = replace(current, logged_in=logged_in, paused=paused,
                                       pause_reason=pause_reason, changed_at=at, changed_by=by)
        self.history.append(PresenceChange(extension, at, logged_in, paused, pause_reason, by))

    async def changes(self, since: datetime, until: datetime) -> list[PresenceChange]:
        before: dict[str, PresenceChange] = {}
        for c in self.history:
            if c.at < since:
                before[c.extension] = c
        inside = [c for c in self.history if since <= c.at < until]
        return sorted([*before.values(), *inside], key=lambda c: c.at)

    async def record_call_end(self, extension: str, *, wrap_up_until: datetime | None,
                              calls_day: date, calls_today: int,
                              last_call_ended_at: datetime) -> None:
        current = self.rows.get(extension, DeskStatus(extension, changed_at=last_call_ended_at,
                                                      changed_by="desk"))
        self.rows[extension] = replace(current, wrap_up_until=wrap_up_until,
                                       calls_day=calls_day, calls_today=calls_today,
                                       last_call_ended_at=last_call_ended_at)


async def presence_changes(
    sessionmaker: async_sessionmaker[AsyncSession], since: datetime, until: datetime,
) -> list[PresenceChange]:
    """Each desk's changes in `[since, until)`, oldest first, after its last change
    before `since` (the state it was in when the period began)."""
    since, until = as_utc(since, "since"), as_utc(until, "until")
    t = DeskPresenceChangeRow
    last_before = (select(func.max(t.id)).where(t.at < since).group_by(t.extension)
                   .scalar_subquery())
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(t).where(t.id.in_(last_before) | ((t.at >= since) & (t.at < until)))
            .order_by(t.at, t.id))
        return [PresenceChange(extension=r.extension, at=r.at, logged_in=r.logged_in,
                               paused=r.paused, pause_reason=r.pause_reason, by=r.by)
                for r in rows]


def _status(row: DeskPresenceRow) -> DeskStatus:
    return DeskStatus(
        extension=row.extension, logged_in=row.logged_in, paused=row.paused,
        pause_reason=row.pause_reason, wrap_up_until=row.wrap_up_until,
        calls_day=row.calls_day, calls_today=row.calls_today,
        last_call_ended_at=row.last_call_ended_at, changed_at=row.changed_at,
        changed_by=row.changed_by,
    )
