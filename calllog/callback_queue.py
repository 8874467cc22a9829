"""The call backs the service still has to make (`callback_queue`, revision 0020).

Two writers: the service adds a keep-your-place call back when a queued caller presses
the key (with the join time that is their place), counts its tries and removes it when
done; the console adds an operator's request (with the operator's `desk`), which the
service takes (`take_requests`, one conditional UPDATE per row: taken once). The
results themselves go to the call's row and `callback_attempts` (`calllog.followup`).

`CallbackQueueStore` is the SQL repository, `InMemoryCallbackQueue` the fake for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import Callback, as_utc
from calllog.tables import CallbackAttemptRow, CallbackQueueRow, CallRow


@dataclass(frozen=True)
class QueuedCallback:
    call_id: str
    number: str
    branch: int | None
    joined_at: datetime
    requested_by: str
    requested_at: datetime
    desk: str | None = None
    attempts: int = 0
    next_at: datetime | None = None


class CallbackQueue(Protocol):
    async def add(self, entry: QueuedCallback) -> None:
        """Add or replace the call's entry."""

    async def request(self, entry: QueuedCallback) -> bool:
        """An operator's request (`entry.desk` set); False when the call's call back is
        not pending (done meanwhile, or never owed)."""

    async def waiting(self) -> list[QueuedCallback]:
        """Keep-your-place entries (no desk), oldest place first."""

    async def take_requests(self, at: datetime) -> list[QueuedCallback]:
        """Operators' requests not yet taken; each is marked taken (returned once)."""

    async def kept(self, call_id: str) -> bool:
        """Whether the call's keep-your-place call back is still the service's to make
        (not made, given up, or taken over by an operator's request)."""

    async def release_taken(self) -> None:
        """Requests taken by a service that stopped: to be taken again."""

    async def attempted(self, call_id: str, attempts: int, next_at: datetime | None) -> None: ...

    async def remove(self, call_id: str) -> None: ...

    async def tries_since(self, number: str, since: datetime, by: str) -> int:
        """Call-back tries made by `by` (the service) at the national `number` since
        `since`, from `callback_attempts` (whichever call they were for)."""

    async def refuse(self, call_id: str, reason: str) -> None:
        """The service will not make this call back (`reason`, for the operator): the
        entry goes, the call stays on the call-back list with the reason as its note."""


class CallbackQueueStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def add(self, entry: QueuedCallback) -> None:
        async with self._sessionmaker.begin() as session:
            await session.execute(delete(CallbackQueueRow)
                                  .where(CallbackQueueRow.call_id == entry.call_id))
            await session.execute(insert(CallbackQueueRow).values(_values(entry)))

    async def request(self, entry: QueuedCallback) -> bool:
        async with self._sessionmaker.begin() as session:
            pending = await session.scalar(select(CallRow.callback)
                                           .where(CallRow.call_id == entry.call_id))
            if pending != Callback.PENDING.value:
                return False
            row = await session.get(CallbackQueueRow, entry.call_id)
            if row is None:
                await session.execute(insert(CallbackQueueRow).values(_values(entry)))
            else:  # a keep-your-place call back: the operator's desk goes first now
                row.desk, row.requested_by = entry.desk, entry.requested_by
                row.requested_at, row.taken_at = as_utc(entry.requested_at, "at"), None
        return True

    async def waiting(self) -> list[QueuedCallback]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(select(CallbackQueueRow)
                                         .where(CallbackQueueRow.desk.is_(None))
                                         .order_by(CallbackQueueRow.joined_at))
            return [_entry(row) for row in rows]

    async def kept(self, call_id: str) -> bool:
        async with self._sessionmaker() as session:
            desk = await session.execute(select(CallbackQueueRow.desk)
                                         .where(CallbackQueueRow.call_id == call_id))
            row = desk.first()
            return row is not None and row[0] is None

    async def take_requests(self, at: datetime) -> list[QueuedCallback]:
        taken: list[QueuedCallback] = []
        async with self._sessionmaker.begin() as session:
            rows = list(await session.scalars(
                select(CallbackQueueRow).where(CallbackQueueRow.desk.is_not(None),
                                               CallbackQueueRow.taken_at.is_(None))))
            for row in rows:
                won = await session.execute(
                    update(CallbackQueueRow)
                    .where(CallbackQueueRow.call_id == row.call_id,
                           CallbackQueueRow.taken_at.is_(None))
                    .values(taken_at=as_utc(at, "at"))
                    .execution_options(synchronize_session=False))
                if won.rowcount:  # type: ignore[attr-defined]
                    taken.append(_entry(row))
        return taken

    async def release_taken(self) -> None:
        async with self._sessionmaker.begin() as session:
            await session.execute(update(CallbackQueueRow)
                                  .where(CallbackQueueRow.taken_at.is_not(None))
                                  .values(taken_at=None))

    async def attempted(self, call_id: str, attempts: int, next_at: datetime | None) -> None:
        async with self._sessionmaker.begin() as session:
            await session.execute(update(CallbackQueueRow)
                                  .where(CallbackQueueRow.call_id == call_id)
                                  .values(attempts=attempts, next_at=next_at))

    async def remove(self, call_id: str) -> None:
        async with self._sessionmaker.begin() as session:
            await session.execute(delete(CallbackQueueRow)
                                  .where(CallbackQueueRow.call_id == call_id))

    async def tries_since(self, number: str, since: datetime, by: str) -> int:
        async with self._sessionmaker() as session:
            count = await session.scalar(
                select(func.count()).select_from(CallbackAttemptRow)
                .join(CallRow, CallRow.call_id == CallbackAttemptRow.call_id)
                .where(CallRow.caller_number.in_(_forms(number)),
                       CallbackAttemptRow.by == by,
                       CallbackAttemptRow.at >= as_utc(since, "since")))
            return int(count or 0)

    async def refuse(self, call_id: str, reason: str) -> None:
        async with self._sessionmaker.begin() as session:
            await session.execute(delete(CallbackQueueRow)
                                  .where(CallbackQueueRow.call_id == call_id))
            await session.execute(update(CallRow)
                                  .where(CallRow.call_id == call_id,
                                         CallRow.callback == Callback.PENDING.value)
                                  .values(callback_note=reason)
                                  .execution_options(synchronize_session=False))


def _forms(number: str) -> list[str]:
    """The caller ids a national number may have come as (`+84...`, `84...`, `0...`)."""
    if not number.startswith("0"):
        return [number]
    return [number, "+84" + number[1:], "84" + number[1:]]


def _values(entry: QueuedCallback) -> dict[str, object]:
    return {
        "call_id": entry.call_id, "number": entry.number, "branch": entry.branch,
        "joined_at": as_utc(entry.joined_at, "joined_at"), "desk": entry.desk,
        "requested_by": entry.requested_by,
        "requested_at": as_utc(entry.requested_at, "requested_at"),
        "attempts": entry.attempts, "next_at": entry.next_at, "taken_at": None,
    }


def _entry(row: CallbackQueueRow) -> QueuedCallback:
    return QueuedCallback(call_id=row.call_id, number=row.number, branch=row.branch,
                           joined_at=row.joined_at, requested_by=row.requested_by,
                           requested_at=row.requested_at, desk=row.desk,
                           attempts=row.attempts, next_at=row.next_at)


class InMemoryCallbackQueue:
    """The fake: entries in a dict; `pending` says which calls owe a call back."""

    def __init__(self, pending: set[str] | None = None) -> None:
        self.entries: dict[str, QueuedCallback] = {}
        self.taken: set[str] = set()
        self.pending = pending
        self.refused: dict[str, str] = {}
        self.tries: list[tuple[str, datetime, str]] = []
        """(number, at, by) of each try, as `callback_attempts` would hold them."""

    async def add(self, entry: QueuedCallback) -> None:
        self.entries[entry.call_id] = entry
        self.taken.discard(entry.call_id)

    async def request(self, entry: QueuedCallback) -> bool:
        if self.pending is not None and entry.call_id not in self.pending:
            return False
        old = self.entries.get(entry.call_id)
        self.entries[entry.call_id] = entry if old is None else replace(
            old, desk=entry.desk, requested_by=entry.requested_by,
            requested_at=entry.requested_at)
        self.taken.discard(entry.call_id)
        return True

    async def waiting(self) -> list[QueuedCallback]:
        return sorted((e for e in self.entries.values() if e.desk is None),
                      key=lambda e: e.joined_at)

    async def kept(self, call_id: str) -> bool:
        entry = self.entries.get(call_id)
        return entry is not None and entry.desk is None

    async def take_requests(self, at: datetime) -> list[QueuedCallback]:
        new = [e for e in self.entries.values()
               if e.desk is not None and e.call_id not in self.taken]
        self.taken.update(e.call_id for e in new)
        return new

    async def release_taken(self) -> None:
        self.taken.clear()

    async def attempted(self, call_id: str, attempts: int, next_at: datetime | None) -> None:
        entry = self.entries.get(call_id)
        if entry is not None:
            self.entries[call_id] = replace(entry, attempts=attempts, next_at=next_at)

    async def remove(self, call_id: str) -> None:
        self.entries.pop(call_id, None)
        self.taken.discard(call_id)

    async def tries_since(self, number: str, since: datetime, by: str) -> int:
        return sum(1 for n, at, who in self.tries if n == number and at >= since and who == by)

    async def refuse(self, call_id: str, reason: str) -> None:
        await self.remove(call_id)
        self.refused[call_id] = reason
