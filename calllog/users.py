"""The console's people and its audit log: who may log in, with which role, and what
happened (logins, failed logins, refusals, changes: who, when, from where, what).

`UserStore` is the SQL repository (SQLite / PostgreSQL, tables of revision 0009);
`InMemoryUserStore` the fake for unit tests. Both return dataclasses. Password hashes
arrive already made (argon2, by the console): this module never sees a password.

    CallLogError
    ├── UnknownUserError     (also a LookupError) no user with that name
    ├── DuplicateUserError   (also a ValueError) the name is taken
    ├── LastAdminError       (also a ValueError) the change would leave no active admin
    └── DeskTakenError       (also a ValueError) another user works at that desk

The last active admin can never be disabled or given another role, whoever asks (the
console or the CLI): someone must always be able to manage the users.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from calllog.errors import CallLogError
from calllog.model import as_utc
from calllog.tables import AuditRow, UserRow


class Role(StrEnum):
    ADMIN = "admin"  # users, everything
    OPERATOR = "operator"  # the operating team: every call, call-back and case
    AGENCY = "agency"  # one agency's cases and calls only
    VIEWER = "viewer"  # wallboard and reports


class UnknownUserError(CallLogError, LookupError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no console user {username!r}")
        self.username = username


class DuplicateUserError(CallLogError, ValueError):
    def __init__(self, username: str) -> None:
        super().__init__(f"console user {username!r} exists already")
        self.username = username


class LastAdminError(CallLogError, ValueError):
    def __init__(self, username: str) -> None:
        super().__init__(f"{username!r} is the last active admin: it stays an active admin")
        self.username = username


class DeskTakenError(CallLogError, ValueError):
    def __init__(self, desk: str, holder: str | None) -> None:
        super().__init__(f"desk {desk} is {holder!r}'s already")
        self.desk = desk
        self.holder = holder


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role
    agency: str | None
    password_hash: str
    active: bool
    created_at: datetime
    changed_at: datetime
    desk: str | None = None
    """The desk extension the user works at (at most one user per desk)."""


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    username: str | None
    address: str | None
    action: str
    detail: str = ""


def check_new_user(username: str, role: Role, agency: str | None) -> None:
    """An agency user is bound to exactly one agency; the other roles to none."""
    if not username.strip() or username != username.strip() or len(username) > 64:
        raise ValueError(f"a user name is 1-64 characters without surrounding spaces: "
                         f"{username!r}")
    check_role(role, agency)


def check_role(role: Role, agency: str | None) -> None:
    if role is Role.AGENCY and not (agency and agency.strip()):
        raise ValueError("an agency user needs the agency it belongs to")
    if role is not Role.AGENCY and agency is not None:
        raise ValueError(f"only agency users belong to an agency, not {role.value}")


class Users(Protocol):
    """What the console and the CLI need of the users and audit store."""

    async def add(self, username: str, role: Role, agency: str | None,
                  password_hash: str, *, at: datetime) -> User: ...
    async def by_name(self, username: str) -> User | None: ...
    async def by_id(self, user_id: int) -> User | None: ...
    async def all_users(self) -> list[User]: ...
    async def set_password(self, username: str, password_hash: str, *,
                           at: datetime) -> None: ...
    async def set_active(self, username: str, active: bool, *, at: datetime) -> None: ...
    async def set_role(self, username: str, role: Role, agency: str | None, *,
                       at: datetime) -> None: ...
    async def set_desk(self, username: str, desk: str | None, *, at: datetime) -> None:
        """Bind the user to `desk` (None: to none); `DeskTakenError` if another has it."""
        ...
    async def audit(self, entry: AuditEntry) -> None: ...
    async def recent_audit(self, limit: int = 100, *, actions: Collection[str] | None = None,
                           excluding: Collection[str] = ()) -> list[AuditEntry]:
        """The newest entries first: only of `actions` (None: any), none of `excluding`."""
        ...
    async def count_audit(self, action: str, since: datetime, *, username: str | None,
                          address: str | None, detail: str | None = None) -> int: ...


class UserStore:
    """`Users` on the call-log database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, username: str, role: Role, agency: str | None,
                  password_hash: str, *, at: datetime) -> User:
        check_new_user(username, role, agency)
        row = UserRow(username=username, role=role.value, agency=agency,
                      password_hash=password_hash, active=True,
                      created_at=as_utc(at, "at"), changed_at=as_utc(at, "at"))
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError as exc:
            raise DuplicateUserError(username) from exc
        return _user(row)

    async def by_name(self, username: str) -> User | None:
        async with self._sessions() as session:
            row = await session.scalar(select(UserRow).where(UserRow.username == username))
        return None if row is None else _user(row)

    async def by_id(self, user_id: int) -> User | None:
        async with self._sessions() as session:
            row = await session.get(UserRow, user_id)
        return None if row is None else _user(row)

    async def all_users(self) -> list[User]:
        async with self._sessions() as session:
            rows = await session.scalars(select(UserRow).order_by(UserRow.username))
            return [_user(r) for r in rows]

    async def set_password(self, username: str, password_hash: str, *,
                           at: datetime) -> None:
        await self._update(username, password_hash=password_hash, changed_at=as_utc(at, "at"))

    async def set_active(self, username: str, active: bool, *, at: datetime) -> None:
        await self._update(username, keeps_admin=active, active=active,
                           changed_at=as_utc(at, "at"))

    async def set_role(self, username: str, role: Role, agency: str | None, *,
                       at: datetime) -> None:
        check_role(role, agency)
        await self._update(username, keeps_admin=role is Role.ADMIN, role=role.value,
                           agency=agency, changed_at=as_utc(at, "at"))

    async def set_desk(self, username: str, desk: str | None, *, at: datetime) -> None:
        try:
            await self._update(username, desk=desk, changed_at=as_utc(at, "at"))
        except IntegrityError as exc:  # the unique index on the desk
            async with self._sessions() as session:
                holder = await session.scalar(select(UserRow.username)
                                              .where(UserRow.desk == desk))
            raise DeskTakenError(desk or "", holder) from exc

    async def _update(self, username: str, *, keeps_admin: bool = True,
                      **values: object) -> None:
        change = update(UserRow).where(UserRow.username == username).values(**values)
        if not keeps_admin:
            # One conditional UPDATE: the check and the change are one statement, which
            # SQLite runs under its single write lock. PostgreSQL (READ COMMITTED) would
            # evaluate the EXISTS on a snapshot taken before a concurrent change commits,
            # so there the active admins' rows are locked first (FOR UPDATE, in id order;
            # SQLAlchemy leaves it out on SQLite): two admins disabling each other at once
            # wait for one another, and the second statement sees the first one's change.
            other = aliased(UserRow)
            another_admin = exists().where(
                other.username != username, other.role == Role.ADMIN.value,
                other.active.is_(True))
            change = change.where(or_(UserRow.role != Role.ADMIN.value,
                                      UserRow.active.is_(False), another_admin))
        async with self._sessions.begin() as session:
            if not keeps_admin:
                await session.execute(
                    select(UserRow.id)
                    .where(UserRow.role == Role.ADMIN.value, UserRow.active.is_(True))
                    .order_by(UserRow.id).with_for_update())
            result = await session.execute(change)
            if getattr(result, "rowcount", 0) == 1:
                return
            known = await session.scalar(
                select(func.count()).select_from(UserRow).where(UserRow.username == username))
        if not known:
            raise UnknownUserError(username)
        raise LastAdminError(username)

    async def audit(self, entry: AuditEntry) -> None:
        async with self._sessions.begin() as session:
            session.add(AuditRow(at=as_utc(entry.at, "at"), username=entry.username,
                                 address=entry.address, action=entry.action,
                                 detail=entry.detail))

    async def recent_audit(self, limit: int = 100, *, actions: Collection[str] | None = None,
                           excluding: Collection[str] = ()) -> list[AuditEntry]:
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if actions is not None:
            query = query.where(AuditRow.action.in_(list(actions)))
        if excluding:
            query = query.where(AuditRow.action.not_in(list(excluding)))
        async with self._sessions() as session:
            rows = await session.scalars(query)
            return [AuditEntry(r.at, r.username, r.address, r.action, r.detail) for r in rows]

    async def count_audit(self, action: str, since: datetime, *, username: str | None,
                          address: str | None, detail: str | None = None) -> int:
        """Entries of `action` since `since` with each of user name, address and detail
        that is given (None: any)."""
        query = select(func.count()).select_from(AuditRow).where(
            AuditRow.action == action, AuditRow.at >= as_utc(since, "since"))
        if username is not None:
            query = query.where(AuditRow.username == username)
        if address is not None:
            query = query.where(AuditRow.address == address)
        if detail is not None:
            query = query.where(AuditRow.detail == detail)
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)


class InMemoryUserStore:
    """`Users` in memory: the fake for unit tests."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self.entries: list[AuditEntry] = []

    async def add(self, username: str, role: Role, agency: str | None,
                  password_hash: str, *, at: datetime) -> User:
        check_new_user(username, role, agency)
        if username in self._users:
            raise DuplicateUserError(username)
        user = User(len(self._users) + 1, username, role, agency, password_hash, True, at, at)
        self._users[username] = user
        return user

    async def by_name(self, username: str) -> User | None:
        return self._users.get(username)

    async def by_id(self, user_id: int) -> User | None:
        return next((u for u in self._users.values() if u.id == user_id), None)

    async def all_users(self) -> list[User]:
        return sorted(self._users.values(), key=lambda u: u.username)

    async def set_password(self, username: str, password_hash: str, *,
                           at: datetime) -> None:
        self._users[self._known(username)] = replace(
            self._users[username], password_hash=password_hash, changed_at=at)

    async def set_active(self, username: str, active: bool, *, at: datetime) -> None:
        self._known(username, keeps_admin=active)
        self._users[username] = replace(self._users[username], active=active, changed_at=at)

    async def set_role(self, username: str, role: Role, agency: str | None, *,
                       at: datetime) -> None:
        check_role(role, agency)
        self._known(username, keeps_admin=role is Role.ADMIN)
        self._users[username] = replace(self._users[username], role=role, agency=agency,
                                        changed_at=at)

    async def set_desk(self, username: str, desk: str | None, *, at: datetime) -> None:
        self._known(username)
        holder = next((u.username for u in self._users.values()
                       if desk is not None and u.desk == desk and u.username != username), None)
        if holder is not None:
            raise DeskTakenError(desk or "", holder)
        self._users[username] = replace(self._users[username], desk=desk, changed_at=at)

    def _known(self, username: str, *, keeps_admin: bool = True) -> str:
        if username not in self._users:
            raise UnknownUserError(username)
        admins = [u.username for u in self._users.values()
                  if u.role is Role.ADMIN and u.active]
        if not keeps_admin and admins == [username]:
            raise LastAdminError(username)
        return username

    async def audit(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    async def recent_audit(self, limit: int = 100, *, actions: Collection[str] | None = None,
                           excluding: Collection[str] = ()) -> list[AuditEntry]:
        return [e for e in reversed(self.entries) if e.action not in excluding
                and (actions is None or e.action in actions)][:limit]

    async def count_audit(self, action: str, since: datetime, *, username: str | None,
                          address: str | None, detail: str | None = None) -> int:
        return sum(1 for e in self.entries if e.action == action and e.at >= since
                   and username in (None, e.username) and address in (None, e.address)
                   and detail in (None, e.detail))


def _user(row: UserRow) -> User:
    return User(row.id, row.username, Role(row.role), row.agency, row.password_hash,
                row.active, row.created_at, row.changed_at, row.desk)

