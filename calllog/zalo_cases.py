"""Zalo messages as cases, the SQL side (revision 0014): the OA's followers, each case's
conversation, and the cases a follower's message opens or joins. SQLite and PostgreSQL;
dataclasses out. What a message means (a case, a lookup) is `zalo.cases`' to decide.

- `take_message` stores a follower's message and, in the same transaction, opens a case
  (channel `zalo`, with its code and deadline like any case) or joins the follower's open
  one. Keyed by the event: taking a message twice stores it once, in one case.
- `record_reply` stores a message out (an automatic answer or a staff reply) with what
  became of it, keyed too, so a retried answer updates its row instead of adding one.
- `phone_known` records a follower's phone and links them to the open phone cases whose
  call came from that number (the caller passes the number's written forms to match).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.codes import CaseDeadline, next_case_code
from calllog.model import CaseStatus, as_utc
from calllog.tables import CallRow, CaseChangeRow, CaseRow, ZaloFollowerRow, ZaloMessageRow

OPEN = (CaseStatus.RECEIVED.value, CaseStatus.FORWARDED.value, CaseStatus.VERIFYING.value)
LINK_NOTE = "Liên kết với Zalo của người gọi (cùng số điện thoại)."
TEXT_MAX = 4000


class Channel(StrEnum):
    PHONE = "phone"
    ZALO = "zalo"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class MessageKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    FILE = "file"


class ReplyStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # Zalo refused it or could not be reached
    REFUSED = "refused"  # not sent: outside the free-reply window, or Zalo not set up


@dataclass(frozen=True)
class Follower:
    user_id: str
    display_name: str | None
    phone: str | None
    following: bool
    last_message_at: datetime | None


@dataclass(frozen=True)
class IncomingMessage:
    key: str
    """The webhook event's key: the same event taken twice is stored once."""
    user_id: str
    at: datetime
    kind: MessageKind
    text: str = ""
    attachment_url: str | None = None
    attachment_name: str | None = None


@dataclass(frozen=True)
class ConversationMessage:
    id: int
    case_id: int | None
    user_id: str
    direction: Direction
    kind: str
    text: str
    at: datetime
    attachment_url: str | None = None
    attachment_name: str | None = None
    sent_by: str | None = None
    status: ReplyStatus | None = None
    reason: str | None = None


@dataclass(frozen=True)
class TakenMessage:
    case_id: int
    code: str
    due_at: datetime | None
    opened: bool
    """This message opened the case (also when it is taken again)."""
    duplicate: bool


@dataclass(frozen=True)
class LookupCase:
    """What a case lookup may tell, and what decides whether it may tell it."""

    code: str
    status: CaseStatus
    agency: str | None
    due_at: datetime | None
    zalo_user_id: str | None
    citizen_phone: str | None
    caller_number: str | None


class ZaloCases:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, category: str,
        opened_by: str = "zalo", case_deadline: CaseDeadline | None = None,
    ) -> None:
        self._sessions = sessions
        self._category = category
        self._opened_by = opened_by
        self._deadline = case_deadline

    # --- followers ---------------------------------------------------------------------

    async def follower(self, user_id: str) -> Follower | None:
        async with self._sessions() as session:
            row = await session.get(ZaloFollowerRow, user_id)
            return None if row is None else _follower(row)

    async def follow(self, user_id: str, at: datetime, *, following: bool) -> None:
        stamp = {"followed_at": at} if following else {"unfollowed_at": at}
        async with self._sessions.begin() as session:
            await _upsert_follower(session, user_id, at, following=following, **stamp)

    async def phone_known(
        self, user_id: str, phone: str, name: str | None, at: datetime,
        caller_numbers: Sequence[str],
    ) -> list[int]:
        """Record the follower's phone (and name), fill it in on their open Zalo cases,
        and link them to the open phone cases whose call came from one of
        `caller_numbers` (the phone's written forms) and that no follower is linked to
        yet: those cases' ids."""
        values: dict[str, Any] = {"phone": phone}
        if name:
            values["display_name"] = name
        async with self._sessions.begin() as session:
            await _upsert_follower(session, user_id, at, **values)
            await session.execute(
                update(CaseRow).where(CaseRow.zalo_user_id == user_id,
                                      CaseRow.channel == Channel.ZALO,
                                      CaseRow.status.in_(OPEN), CaseRow.citizen_phone.is_(None))
                .values(citizen_phone=phone, citizen_name=name or CaseRow.citizen_name)
                .execution_options(synchronize_session=False))
            if not caller_numbers:
                return []
            found = await session.execute(
                select(CaseRow.id, CaseRow.status, CaseRow.agency).join(
                    CallRow, CallRow.call_id == CaseRow.call_id)
                .where(CallRow.caller_number.in_(list(caller_numbers)),
                       CaseRow.channel == Channel.PHONE, CaseRow.status.in_(OPEN),
                       CaseRow.zalo_user_id.is_(None))
                .order_by(CaseRow.id))
            linked = [(r.id, r.status, r.agency) for r in found]
            for case_id, status, agency in linked:
                await session.execute(
                    update(CaseRow).where(CaseRow.id == case_id)
                    .values(zalo_user_id=user_id, citizen_phone=phone,
                            citizen_name=name or CaseRow.citizen_name)
                    .execution_options(synchronize_session=False))
                await session.execute(insert(CaseChangeRow).values(
                    case_id=case_id, at=at, by=self._opened_by, status=status, agency=agency,
                    note=LINK_NOTE))
            return [case_id for case_id, _, _ in linked]

    # --- messages in -------------------------------------------------------------------

    async def take_message(self, message: IncomingMessage) -> TakenMessage:
        """Store the follower's message in their open Zalo case, or in a new case."""
        at = as_utc(message.at, "at")
        async with self._sessions.begin() as session:
            seen = await session.scalar(select(ZaloMessageRow).where(
                ZaloMessageRow.key == message.key))
            if seen is not None and seen.case_id is not None:
                return await _taken(session, seen.case_id, message.key, duplicate=True)
            follower = await session.get(ZaloFollowerRow, message.user_id)
            case_id = await session.scalar(
                select(CaseRow.id).where(CaseRow.zalo_user_id == message.user_id,
                                         CaseRow.channel == Channel.ZALO,
                                         CaseRow.status.in_(OPEN))
                .order_by(CaseRow.id.desc()).limit(1))
            if case_id is None:
                case_id = await self._open_case(session, at, message.user_id, follower)
            await session.execute(insert(ZaloMessageRow).values(
                key=message.key, case_id=case_id, user_id=message.user_id,
                direction=Direction.IN.value, kind=message.kind.value,
                text=message.text[:TEXT_MAX], attachment_url=message.attachment_url,
                attachment_name=message.attachment_name, at=at))
            last = None if follower is None else follower.last_message_at
            await _upsert_follower(session, message.user_id, at,
                                   last_message_at=at if last is None else max(last, at))
            return await _taken(session, case_id, message.key, duplicate=False)

    async def _open_case(
        self, session: AsyncSession, at: datetime, user_id: str,
        follower: ZaloFollowerRow | None,
    ) -> int:
        dialect = session.get_bind().dialect.name
        due = None if self._deadline is None else as_utc(self._deadline(at), "due_at")
        case_id: int = (await session.execute(insert(CaseRow).values(
            category=self._category, status=CaseStatus.RECEIVED.value, opened_at=at,
            opened_by=self._opened_by, due_at=due, channel=Channel.ZALO.value,
            zalo_user_id=user_id,
            citizen_name=None if follower is None else follower.display_name,
            citizen_phone=None if follower is None else follower.phone,
        ).returning(CaseRow.id))).scalar_one()
        code = await next_case_code(session, dialect, at)
        await session.execute(update(CaseRow).where(CaseRow.id == case_id)
                              .values(code=code).execution_options(synchronize_session=False))
        await session.execute(insert(CaseChangeRow).values(
            case_id=case_id, at=at, by=self._opened_by, status=CaseStatus.RECEIVED.value,
            agency=None, note="Tiếp nhận qua Zalo."))
        return case_id

    async def touch(self, user_id: str, at: datetime) -> None:
        """The follower wrote (a message that is no case's: a lookup)."""
        async with self._sessions.begin() as session:
            follower = await session.get(ZaloFollowerRow, user_id)
            last = None if follower is None else follower.last_message_at
            await _upsert_follower(session, user_id, at,
                                   last_message_at=at if last is None else max(last, at))

    # --- messages out ------------------------------------------------------------------

    async def reply_record(self, key: str) -> ConversationMessage | None:
        async with self._sessions() as session:
            row = await session.scalar(select(ZaloMessageRow).where(ZaloMessageRow.key == key))
            return None if row is None else _message(row)

    async def record_reply(
        self, key: str, *, case_id: int | None, user_id: str, text: str, at: datetime,
        by: str, status: ReplyStatus, reason: str | None = None, msg_id: str | None = None,
    ) -> ConversationMessage:
        """Store a message out and what became of it (the same `key` again: its row is
        updated, for an answer sent again after a failure)."""
        at = as_utc(at, "at")
        async with self._sessions.begin() as session:
            row = await session.scalar(select(ZaloMessageRow).where(ZaloMessageRow.key == key))
            if row is None:
                row = ZaloMessageRow(key=key, case_id=case_id, user_id=user_id,
                                     direction=Direction.OUT.value, kind=MessageKind.TEXT.value)
                session.add(row)
            row.text, row.at, row.sent_by = text[:TEXT_MAX], at, by
            row.status, row.reason, row.msg_id = status.value, reason, msg_id
            await session.flush()
            return _message(row)

    # --- reads -------------------------------------------------------------------------

    async def lookup(self, code: str) -> LookupCase | None:
        query = (select(CaseRow, CallRow.caller_number)
                 .outerjoin(CallRow, CallRow.call_id == CaseRow.call_id)
                 .where(CaseRow.code == code))
        async with self._sessions() as session:
            found = (await session.execute(query)).one_or_none()
        if found is None:
            return None
        row, caller = found
        return LookupCase(code=code, status=CaseStatus(row.status), agency=row.agency,
                          due_at=row.due_at, zalo_user_id=row.zalo_user_id,
                          citizen_phone=row.citizen_phone, caller_number=caller)


async def conversation(session: AsyncSession, case_id: int) -> list[ConversationMessage]:
    """A case's messages in and out, oldest first (`calllog.queries` reads it)."""
    rows = await session.scalars(select(ZaloMessageRow).where(ZaloMessageRow.case_id == case_id)
                                 .order_by(ZaloMessageRow.at, ZaloMessageRow.id))
    return [_message(r) for r in rows]


async def _taken(session: AsyncSession, case_id: int, key: str, *,
                 duplicate: bool) -> TakenMessage:
    case = (await session.execute(select(CaseRow.code, CaseRow.due_at)
                                  .where(CaseRow.id == case_id))).one()
    first = await session.scalar(select(ZaloMessageRow.key).where(
        ZaloMessageRow.case_id == case_id, ZaloMessageRow.direction == Direction.IN.value)
        .order_by(ZaloMessageRow.id).limit(1))
    return TakenMessage(case_id=case_id, code=case.code or "", due_at=case.due_at,
                        opened=first == key, duplicate=duplicate)


async def _upsert_follower(session: AsyncSession, user_id: str, at: datetime,
                           **values: Any) -> None:
    dialect = session.get_bind().dialect.name
    changes = {**values, "updated_at": at}
    if dialect in ("postgresql", "sqlite"):
        insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert_(ZaloFollowerRow).values(
            user_id=user_id, following=values.get("following", True), **{
                k: v for k, v in changes.items() if k != "following"})
        await session.execute(stmt.on_conflict_do_update(
            index_elements=[ZaloFollowerRow.user_id], set_=changes))
        return
    row = await session.get(ZaloFollowerRow, user_id)
    if row is None:
        row = ZaloFollowerRow(user_id=user_id, following=True)
        session.add(row)
    for name, value in changes.items():
        setattr(row, name, value)


def _follower(row: ZaloFollowerRow) -> Follower:
    return Follower(user_id=row.user_id, display_name=row.display_name, phone=row.phone,
                    following=row.following, last_message_at=row.last_message_at)


def _message(row: ZaloMessageRow) -> ConversationMessage:
    return ConversationMessage(
        id=row.id, case_id=row.case_id, user_id=row.user_id,
        direction=Direction(row.direction), kind=row.kind, text=row.text, at=row.at,
        attachment_url=row.attachment_url, attachment_name=row.attachment_name,
        sent_by=row.sent_by, status=None if row.status is None else ReplyStatus(row.status),
        reason=row.reason)
