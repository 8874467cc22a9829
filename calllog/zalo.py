"""The Zalo channel's SQL side (tables of revision 0013): the OA's token pairs, the
webhook inbox and the ZNS sends. SQLite and PostgreSQL; dataclasses out.

Token rotation, and what is guaranteed
--------------------------------------
Zalo's refresh token can be used once: the refresh answers a new pair and the old
refresh token is dead at Zalo from that moment. The new pair exists only in the answer
until it is committed here, so no design can survive every crash: if the process dies
after Zalo spent the token and before the commit, the successor is gone with it. What
this store guarantees, and `zalo.tokens.TokenKeeper` relies on:

1. The successor is stored in the same transaction that retires its predecessor
   (`complete_refresh`): there is never a committed state where the old pair is marked
   spent (or wiped) and the new one is missing, nor two pairs where one was meant.
2. The old pair (both tokens) stays in the database, untouched, until that transaction
   commits. A crash, a failed commit or a lost answer leaves it `current`.
3. Before the token is sent, `claim_refresh` commits a marker: the request id and the
   time (`refreshing_id`, `refreshing_since`: a lease, so two processes never present
   the same single-use token at once) and `presented_at` (kept after the lease ends).
   A later start sees that the token was presented and that its answer was never
   stored. It presents it again: if the earlier request never reached Zalo, that
   works; if Zalo had spent it, Zalo refuses and the pair is marked `refused`
   (`mark_refused`), which `hotline zalo check` reports as "authorise the OA again"
   instead of failing sends silently. The old access token, kept by (2), still works
   until its own expiry (about 25 hours), which is the time left to do that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import as_utc
from calllog.tables import ZaloInboxRow, ZaloSendRow, ZaloTokenRow


class TokenStatus(StrEnum):
    CURRENT = "current"  # the pair in use
    SPENT = "spent"  # replaced by its successor; its tokens wiped
    REFUSED = "refused"  # Zalo refused its refresh token: the OA must be authorised again


@dataclass(frozen=True)
class NewTokens:
    """A pair as Zalo hands it out (authorisation or refresh)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime
    refresh_expires_at: datetime


@dataclass(frozen=True)
class TokenPair:
    id: int
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime
    refresh_expires_at: datetime
    obtained_at: datetime
    status: TokenStatus
    refreshing_id: str | None = None
    refreshing_since: datetime | None = None
    presented_at: datetime | None = None
    """When a refresh with this pair's token was last started (its answer never stored,
    or it would not be current any more)."""


class ZaloTokenStore:
    """The token pairs; see the module docstring for the refresh protocol."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def current(self) -> TokenPair | None:
        """The pair in use: the newest `current` row (None: never authorised)."""
        return await self._newest(ZaloTokenRow.status == TokenStatus.CURRENT)

    async def latest(self) -> TokenPair | None:
        """The newest pair whatever its status (a `refused` one says why nothing works)."""
        return await self._newest(None)

    async def _newest(self, where: Any) -> TokenPair | None:
        query = select(ZaloTokenRow).order_by(ZaloTokenRow.id.desc()).limit(1)
        if where is not None:
            query = query.where(where)
        async with self._sessions() as session:
            row = await session.scalar(query)
            return None if row is None else _pair(row)

    async def install(self, tokens: NewTokens, at: datetime) -> TokenPair:
        """An administrator's freshly authorised pair: it replaces whatever was current."""
        async with self._sessions() as session, session.begin():
            return await _replace_current(session, tokens, at, predecessor=None)

    async def claim_refresh(
        self, pair_id: int, request_id: str, at: datetime, *, stale_before: datetime
    ) -> bool:
        """Take the refresh lease of the current pair `pair_id` and record that its
        refresh token is being presented (committed before the request leaves). False:
        another refresh holds a lease younger than `stale_before`, or the pair is no
        longer current."""
        stmt = (
            update(ZaloTokenRow)
            .where(ZaloTokenRow.id == pair_id, ZaloTokenRow.status == TokenStatus.CURRENT,
                   or_(ZaloTokenRow.refreshing_since.is_(None),
                       ZaloTokenRow.refreshing_since < stale_before))
            .values(refreshing_id=request_id, refreshing_since=at, presented_at=at)
        )
        async with self._sessions() as session, session.begin():
            result = await session.execute(stmt)
            return _rowcount(result) == 1

    async def release_refresh(self, pair_id: int, request_id: str) -> None:
        """End the lease without a successor (the answer was an error or never came);
        `presented_at` stays."""
        stmt = (
            update(ZaloTokenRow)
            .where(ZaloTokenRow.id == pair_id, ZaloTokenRow.refreshing_id == request_id)
            .values(refreshing_id=None, refreshing_since=None)
        )
        async with self._sessions() as session, session.begin():
            await session.execute(stmt)

    async def complete_refresh(self, pair_id: int, tokens: NewTokens, at: datetime) -> TokenPair:
        """Store the successor of `pair_id` and retire it, in one transaction."""
        async with self._sessions() as session, session.begin():
            return await _replace_current(session, tokens, at, predecessor=pair_id)

    async def mark_refused(self, pair_id: int, at: datetime) -> None:
        """Zalo refused the pair's refresh token: nothing can renew it any more."""
        stmt = (
            update(ZaloTokenRow)
            .where(ZaloTokenRow.id == pair_id, ZaloTokenRow.status == TokenStatus.CURRENT)
            .values(status=TokenStatus.REFUSED, spent_at=at, refreshing_id=None,
                    refreshing_since=None)
        )
        async with self._sessions() as session, session.begin():
            await session.execute(stmt)


async def _replace_current(
    session: AsyncSession, tokens: NewTokens, at: datetime, *, predecessor: int | None
) -> TokenPair:
    row = ZaloTokenRow(
        access_token=tokens.access_token, refresh_token=tokens.refresh_token,
        access_expires_at=tokens.access_expires_at,
        refresh_expires_at=tokens.refresh_expires_at, obtained_at=at,
        status=TokenStatus.CURRENT)
    session.add(row)
    await session.flush()
    # Every older current pair is retired and wiped in this same transaction.
    await session.execute(
        update(ZaloTokenRow)
        .where(ZaloTokenRow.status == TokenStatus.CURRENT, ZaloTokenRow.id != row.id)
        .values(status=TokenStatus.SPENT, spent_at=at, access_token="", refresh_token="",
                refreshing_id=None, refreshing_since=None, replaced_by=row.id))
    if predecessor is not None:
        await session.execute(
            update(ZaloTokenRow)
            .where(ZaloTokenRow.id == predecessor, ZaloTokenRow.status != TokenStatus.CURRENT)
            .values(replaced_by=row.id))
    return _pair(row)


def _pair(row: ZaloTokenRow) -> TokenPair:
    return TokenPair(
        id=row.id, access_token=row.access_token, refresh_token=row.refresh_token,
        access_expires_at=row.access_expires_at, refresh_expires_at=row.refresh_expires_at,
        obtained_at=row.obtained_at, status=TokenStatus(row.status),
        refreshing_id=row.refreshing_id, refreshing_since=row.refreshing_since,
        presented_at=row.presented_at)


# --- the webhook inbox ------------------------------------------------------------------


class InboxStatus(StrEnum):
    QUEUED = "queued"
    PROCESSED = "processed"
    FAILED = "failed"  # gave up after the worker's attempts


@dataclass(frozen=True)
class InboxEvent:
    """A verified webhook event, as stored before Zalo is answered."""

    key: str
    event_name: str
    user_id: str | None
    event_at: datetime
    received_at: datetime
    body: str = field(repr=False)
    """The raw body, as signed (it holds names, messages, maybe phone numbers)."""


@dataclass(frozen=True)
class StoredEvent:
    id: int
    event: InboxEvent
    status: InboxStatus
    attempts: int
    outcome: str | None
    processed_at: datetime | None


class ZaloInbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, event: InboxEvent) -> bool:
        """Store `event` queued; False (and nothing written) if its key is already in."""
        values = {
            "key": event.key, "event_name": event.event_name, "user_id": event.user_id,
            "event_at": event.event_at, "received_at": event.received_at,
            "body": event.body, "status": InboxStatus.QUEUED.value, "attempts": 0,
        }
        async with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            if dialect not in ("postgresql", "sqlite"):
                if await session.scalar(select(ZaloInboxRow.id).where(
                        ZaloInboxRow.key == event.key)) is not None:
                    return False
                session.add(ZaloInboxRow(**values))
                return True
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = insert(ZaloInboxRow).values(values).on_conflict_do_nothing(
                index_elements=[ZaloInboxRow.key])
            return _rowcount(await session.execute(stmt)) == 1

    async def queued(self, limit: int = 50) -> list[StoredEvent]:
        """The events waiting for the worker, oldest first."""
        query = (select(ZaloInboxRow).where(ZaloInboxRow.status == InboxStatus.QUEUED)
                 .order_by(ZaloInboxRow.id).limit(limit))
        async with self._sessions() as session:
            return [_stored(row) for row in await session.scalars(query)]

    async def by_key(self, key: str) -> list[StoredEvent]:
        query = select(ZaloInboxRow).where(ZaloInboxRow.key == key).order_by(ZaloInboxRow.id)
        async with self._sessions() as session:
            return [_stored(row) for row in await session.scalars(query)]

    async def processed(self, event_id: int, at: datetime, outcome: str) -> None:
        await self._set(event_id, status=InboxStatus.PROCESSED, processed_at=at,
                        outcome=outcome, error=None)

    async def failed(self, event_id: int, at: datetime, error: str, *, give_up: bool) -> None:
        """An attempt failed: the event stays queued, unless `give_up`."""
        await self._set(event_id, status=InboxStatus.FAILED if give_up else InboxStatus.QUEUED,
                        processed_at=at if give_up else None, error=error[:2000])

    async def _set(self, event_id: int, **values: object) -> None:
        stmt = (update(ZaloInboxRow).where(ZaloInboxRow.id == event_id)
                .values(attempts=ZaloInboxRow.attempts + 1, **values))
        async with self._sessions() as session, session.begin():
            await session.execute(stmt)

    async def last_message_at(self, user_id: str) -> datetime | None:
        """When the follower last wrote to the OA (any `user_send_*` event)."""
        query = select(func.max(ZaloInboxRow.event_at)).where(and_(
            ZaloInboxRow.user_id == user_id, ZaloInboxRow.event_name.like("user_send_%")))
        async with self._sessions() as session:
            at = await session.scalar(query)
            return None if at is None else as_utc(at, "event_at")


def _stored(row: ZaloInboxRow) -> StoredEvent:
    event = InboxEvent(key=row.key, event_name=row.event_name, user_id=row.user_id,
                       event_at=row.event_at, received_at=row.received_at, body=row.body)
    return StoredEvent(id=row.id, event=event, status=InboxStatus(row.status),
                       attempts=row.attempts, outcome=row.outcome,
                       processed_at=row.processed_at)


# --- ZNS sends ----------------------------------------------------------------------


class SendStatus(StrEnum):
    PENDING = "pending"  # not (yet) accepted by Zalo
    SENT = "sent"  # accepted: Zalo answered a msg_id
    FAILED = "failed"  # given up
    DELIVERED = "delivered"  # Zalo reported it delivered (`user_received_message`)
    SKIPPED = "skipped"  # never sent: no mobile number (the reason in `error`)


@dataclass(frozen=True)
class SendRecord:
    tracking_id: str
    template_id: str
    status: SendStatus
    attempts: int
    msg_id: str | None
    error: str | None


class ZaloSends:
    """ZNS sends by our `tracking_id`, so a send is made once however often it is asked."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def begin(self, tracking_id: str, template_id: str, at: datetime) -> SendRecord:
        """The send's record, created pending if it is new."""
        async with self._sessions() as session, session.begin():
            row = await session.get(ZaloSendRow, tracking_id)
            if row is None:
                row = ZaloSendRow(tracking_id=tracking_id, template_id=template_id,
                                  status=SendStatus.PENDING, attempts=0, created_at=at)
                session.add(row)
                await session.flush()
            return _send(row)

    async def attempt_failed(self, tracking_id: str, error: str, *, give_up: bool) -> None:
        await self._set(tracking_id, attempts=ZaloSendRow.attempts + 1, error=error[:2000],
                        status=SendStatus.FAILED if give_up else SendStatus.PENDING)

    async def sent(self, tracking_id: str, msg_id: str, at: datetime) -> None:
        await self._set(tracking_id, attempts=ZaloSendRow.attempts + 1, msg_id=msg_id,
                        sent_at=at, status=SendStatus.SENT, error=None)

    async def get(self, tracking_id: str) -> SendRecord | None:
        async with self._sessions() as session:
            row = await session.get(ZaloSendRow, tracking_id)
            return None if row is None else _send(row)

    async def _set(self, tracking_id: str, **values: object) -> None:
        stmt = update(ZaloSendRow).where(ZaloSendRow.tracking_id == tracking_id).values(**values)
        async with self._sessions() as session, session.begin():
            await session.execute(stmt)


def _send(row: ZaloSendRow) -> SendRecord:
    return SendRecord(tracking_id=row.tracking_id, template_id=row.template_id,
                      status=SendStatus(row.status), attempts=row.attempts,
                      msg_id=row.msg_id, error=row.error)


def _rowcount(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0
