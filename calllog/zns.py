"""The ZNS outbox (`zalo_sends`, revision 0015): which notifications are owed, and each
send's life from pending to sent, delivered or failed. SQLite and PostgreSQL.

What is owed is found in the call log itself, not pushed by the call flow (which knows
nothing of Zalo): cases opened from calls that have ended, cases resolved, connected
calls whose caller gave no keypad score, campaign entries. Only what happened since the
notification was switched on (`zalo_zns_switches`) is owed, so switching one on never
sends the old history. Each is entered once under its tracking id (the primary key:
`INSERT ... ON CONFLICT DO NOTHING`), then tried until sent or given up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import String, cast, delete, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from calllog.model import CaseStatus, Outcome
from calllog.tables import (
    CallRow,
    CampaignEntryRow,
    CaseChangeRow,
    CaseRow,
    ZaloSendRow,
    ZnsSwitchRow,
)
from calllog.zalo import SendStatus


class NoticeKind(StrEnum):
    CASE_OPENED = "case_opened"
    CASE_RESOLVED = "case_resolved"
    CALL_RATING = "call_rating"
    CAMPAIGN_RATING = "campaign_rating"


TRACKING_PREFIX = {
    NoticeKind.CASE_OPENED: "case-opened:",
    NoticeKind.CASE_RESOLVED: "case-resolved:",
    NoticeKind.CALL_RATING: "call-rating:",
    NoticeKind.CAMPAIGN_RATING: "campaign:",
}
TRACKING_MAX_LEN = 64


def tracking_id(kind: NoticeKind, subject: str | int) -> str:
    return f"{TRACKING_PREFIX[kind]}{subject}"


@dataclass(frozen=True)
class Owed:
    """A notification owed and not yet in the outbox, with what its message says."""

    kind: NoticeKind
    tracking_id: str
    number: str | None
    """The number as the call log has it (None: nothing to send to)."""
    from_station: bool = False
    call_id: str | None = None
    case_id: int | None = None
    entry_id: int | None = None
    case_code: str | None = None
    due_at: datetime | None = None
    result: str | None = None
    at: datetime | None = None
    """The call's start (call rating), the resolution (case resolved)."""
    agency: str | None = None
    procedure: str | None = None
    done_on: date | None = None


@dataclass(frozen=True)
class DueSend:
    tracking_id: str
    kind: NoticeKind
    phone: str
    template_id: str
    data: Mapping[str, str]
    attempts: int
    max_attempts: int


@dataclass(frozen=True)
class SendView:
    """A send as the console shows it."""

    tracking_id: str
    kind: NoticeKind | None
    status: SendStatus
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    call_id: str | None
    case_id: int | None
    entry_id: int | None


@dataclass(frozen=True)
class SendCounts:
    by_status: Mapping[SendStatus, int]
    failed_attempts: int
    """Every attempt that failed, those later retried successfully included."""


class ZnsOutbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def switches(self, on: Sequence[NoticeKind], at: datetime) -> dict[NoticeKind, datetime]:
        """Record `at` as the switch-on time of each kind in `on` not already on, forget
        the others (switched off: switching on again starts afresh); each kind's time."""
        async with self._sessions() as session, session.begin():
            await session.execute(delete(ZnsSwitchRow).where(
                ZnsSwitchRow.kind.not_in([k.value for k in on])))
            known = {row.kind: row.on_since for row in await session.scalars(
                select(ZnsSwitchRow))}
            for kind in on:
                if kind.value not in known:
                    session.add(ZnsSwitchRow(kind=kind.value, on_since=at))
                    known[kind.value] = at
            return {NoticeKind(k): v for k, v in known.items()}

    async def owed(self, kind: NoticeKind, since: datetime, limit: int = 100) -> list[Owed]:
        """The notifications of `kind` owed for what happened at or after `since`, oldest
        first, that are not in the outbox yet."""
        query = _OWED[kind](since).limit(limit)
        async with self._sessions() as session:
            return [_owed(kind, row) for row in (await session.execute(query)).all()]

    async def enqueue(
        self, owed: Owed, *, template_id: str, max_attempts: int, at: datetime,
        phone: str | None, data: Mapping[str, str], skip_reason: str | None = None,
    ) -> bool:
        """Put `owed` in the outbox: pending with `phone`, or skipped with the reason.
        False (nothing written) if its tracking id is already there."""
        values: dict[str, Any] = {
            "tracking_id": owed.tracking_id, "template_id": template_id,
            "status": (SendStatus.SKIPPED if skip_reason else SendStatus.PENDING).value,
            "attempts": 0, "created_at": at, "kind": owed.kind.value, "phone": phone,
            "call_id": owed.call_id, "case_id": owed.case_id, "entry_id": owed.entry_id,
            "data": dict(data), "max_attempts": max_attempts, "next_attempt_at": at,
            "error": skip_reason,
        }
        async with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = insert(ZaloSendRow).values(values).on_conflict_do_nothing(
                index_elements=[ZaloSendRow.tracking_id])
            result = await session.execute(stmt)
            return bool(getattr(result, "rowcount", 0) == 1)

    async def due(self, now: datetime, limit: int = 50) -> list[DueSend]:
        """Pending sends whose next try is due, oldest first."""
        query = (select(ZaloSendRow)
                 .where(ZaloSendRow.status == SendStatus.PENDING.value,
                        ZaloSendRow.kind.is_not(None), ZaloSendRow.phone.is_not(None),
                        or_(ZaloSendRow.next_attempt_at.is_(None),
                            ZaloSendRow.next_attempt_at <= now))
                 .order_by(ZaloSendRow.created_at, ZaloSendRow.tracking_id).limit(limit))
        async with self._sessions() as session:
            return [DueSend(
                tracking_id=row.tracking_id, kind=NoticeKind(row.kind or ""),
                phone=row.phone or "", template_id=row.template_id,
                data={str(k): str(v) for k, v in (row.data or {}).items()},
                attempts=row.attempts, max_attempts=row.max_attempts or 1)
                for row in await session.scalars(query)]

    async def sent(self, tracking_id: str, msg_id: str | None, at: datetime) -> None:
        await self._set(tracking_id, status=SendStatus.SENT.value, msg_id=msg_id,
                        sent_at=at, error=None, next_attempt_at=None,
                        attempts=ZaloSendRow.attempts + 1)

    async def attempt_failed(
        self, tracking_id: str, error: str, *, retry_at: datetime | None
    ) -> None:
        """A try failed: tried again at `retry_at`, or given up (None) as failed."""
        await self._set(tracking_id, attempts=ZaloSendRow.attempts + 1, error=error[:2000],
                        next_attempt_at=retry_at,
                        status=(SendStatus.PENDING if retry_at else SendStatus.FAILED).value)

    async def delivered(self, tracking_id: str, at: datetime) -> bool:
        """Zalo delivered it (`user_received_message`); False: not a send of ours."""
        stmt = (update(ZaloSendRow)
                .where(ZaloSendRow.tracking_id == tracking_id,
                       ZaloSendRow.status != SendStatus.SKIPPED.value)
                .values(status=SendStatus.DELIVERED.value, delivered_at=at, error=None,
                        next_attempt_at=None))
        async with self._sessions() as session, session.begin():
            return bool(getattr(await session.execute(stmt), "rowcount", 0))

    async def counts(self) -> SendCounts:
        """Sends by status and the failed attempts: what `/metrics` shows."""
        succeeded = ZaloSendRow.status.in_([SendStatus.SENT.value, SendStatus.DELIVERED.value])
        query = select(ZaloSendRow.status, func.count(),
                       func.coalesce(func.sum(ZaloSendRow.attempts), 0),
                       func.count().filter(succeeded)).group_by(ZaloSendRow.status)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        by_status = {status: 0 for status in SendStatus}
        failed_attempts = 0
        for status, n, attempts, ok in rows:
            by_status[SendStatus(status)] = int(n)
            failed_attempts += int(attempts) - int(ok)
        return SendCounts(by_status, failed_attempts)

    async def failed(self, limit: int = 50) -> list[SendView]:
        """The sends given up, newest first."""
        return await self._views(ZaloSendRow.status == SendStatus.FAILED.value, limit)

    async def of_case(self, case_id: int) -> list[SendView]:
        return await self._views(ZaloSendRow.case_id == case_id, 20)

    async def _views(self, where: ColumnElement[bool], limit: int) -> list[SendView]:
        query = (select(ZaloSendRow).where(where)
                 .order_by(ZaloSendRow.created_at.desc(), ZaloSendRow.tracking_id)
                 .limit(limit))
        async with self._sessions() as session:
            return [send_view(row) for row in await session.scalars(query)]

    async def _set(self, tracking_id: str, **values: object) -> None:
        stmt = update(ZaloSendRow).where(ZaloSendRow.tracking_id == tracking_id).values(**values)
        async with self._sessions() as session, session.begin():
            await session.execute(stmt)


def _not_queued(kind: NoticeKind, subject: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    key = literal(TRACKING_PREFIX[kind]) + cast(subject, String)
    return ~exists().where(ZaloSendRow.tracking_id == key)


def _case_opened(since: datetime) -> Any:
    return (select(CaseRow.id, CaseRow.code, CaseRow.due_at, CaseRow.call_id,
                   CallRow.caller_number, CallRow.caller_agency)
            .join(CallRow, CallRow.call_id == CaseRow.call_id)
            .where(CaseRow.opened_at >= since, CallRow.ended_at.is_not(None),
                   _not_queued(NoticeKind.CASE_OPENED, CaseRow.id))
            .order_by(CaseRow.opened_at, CaseRow.id))


def _case_resolved(since: datetime) -> Any:
    resolved = (select(CaseChangeRow.case_id, func.min(CaseChangeRow.id).label("change_id"))
                .where(CaseChangeRow.status == CaseStatus.RESOLVED.value,
                       CaseChangeRow.at >= since)
                .group_by(CaseChangeRow.case_id).subquery())
    return (select(CaseRow.id, CaseRow.code, CaseRow.call_id, CallRow.caller_number,
                   CallRow.caller_agency, CaseChangeRow.note, CaseChangeRow.at)
            .join(resolved, resolved.c.case_id == CaseRow.id)
            .join(CaseChangeRow, CaseChangeRow.id == resolved.c.change_id)
            .outerjoin(CallRow, CallRow.call_id == CaseRow.call_id)
            .where(_not_queued(NoticeKind.CASE_RESOLVED, CaseRow.id))
            .order_by(CaseChangeRow.at, CaseRow.id))


def _call_rating(since: datetime) -> Any:
    return (select(CallRow.call_id, CallRow.caller_number, CallRow.caller_agency,
                   CallRow.started_at, CallRow.agency)
            .where(CallRow.started_at >= since, CallRow.outcome == Outcome.CONNECTED.value,
                   CallRow.ended_at.is_not(None), CallRow.survey_score.is_(None),
                   _not_queued(NoticeKind.CALL_RATING, CallRow.call_id))
            .order_by(CallRow.started_at, CallRow.call_id))


def _campaign_rating(since: datetime) -> Any:
    return (select(CampaignEntryRow.id, CampaignEntryRow.phone, CampaignEntryRow.procedure,
                   CampaignEntryRow.agency, CampaignEntryRow.done_on)
            .where(CampaignEntryRow.created_at >= since,
                   _not_queued(NoticeKind.CAMPAIGN_RATING, CampaignEntryRow.id))
            .order_by(CampaignEntryRow.id))


_OWED = {
    NoticeKind.CASE_OPENED: _case_opened,
    NoticeKind.CASE_RESOLVED: _case_resolved,
    NoticeKind.CALL_RATING: _call_rating,
    NoticeKind.CAMPAIGN_RATING: _campaign_rating,
}


def _owed(kind: NoticeKind, row: Any) -> Owed:
    match kind:
        case NoticeKind.CASE_OPENED:
            return Owed(kind, tracking_id(kind, row.id), row.caller_number,
                        row.caller_agency is not None, call_id=row.call_id, case_id=row.id,
                        case_code=row.code, due_at=row.due_at)
        case NoticeKind.CASE_RESOLVED:
            return Owed(kind, tracking_id(kind, row.id), row.caller_number,
                        row.caller_agency is not None, call_id=row.call_id, case_id=row.id,
                        case_code=row.code, result=row.note, at=row.at)
        case NoticeKind.CALL_RATING:
            return Owed(kind, tracking_id(kind, row.call_id), row.caller_number,
                        row.caller_agency is not None, call_id=row.call_id,
                        at=row.started_at, agency=row.agency)
        case NoticeKind.CAMPAIGN_RATING:
            return Owed(kind, tracking_id(kind, row.id), row.phone, entry_id=row.id,
                        agency=row.agency, procedure=row.procedure, done_on=row.done_on)
    raise AssertionError(kind)


def send_view(row: ZaloSendRow) -> SendView:
    return SendView(
        tracking_id=row.tracking_id, kind=None if row.kind is None else NoticeKind(row.kind),
        status=SendStatus(row.status), attempts=row.attempts, error=row.error,
        created_at=row.created_at, sent_at=row.sent_at, delivered_at=row.delivered_at,
        call_id=row.call_id, case_id=row.case_id, entry_id=row.entry_id)

