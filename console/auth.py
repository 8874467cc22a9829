"""Logging in and out, and who the request's user is.

Failed logins are counted from the audit log (so the limits hold across console
restarts) within `WINDOW`: `MAX_FAILURES` for one user name from one address, and
`MAX_ADDRESS_FAILURES` from one address whatever the name, refuse further tries until the
window has passed. A user name is never locked for everyone: the real user logging in from
another address is not kept out by someone else's guesses. A new password (`hotline users
passwd`) clears that name's count at every address. The check, the slow password
verification and the recording of a failure run under one lock per user name and one per
address (`KeyedLocks`; the console is one process), so parallel tries cannot all read
"no failures yet". Every login, failed login, logout and change is written to the audit
log; a limited login once per address and window.

The session is a signed cookie (`SessionMiddleware`) holding the user's id, the time their
account last changed (a new password or a disabled account ends every session made
before), the CSRF token, and a random session id with the time of the login. Logging out
writes the audit row `logout` whose detail names that session id; a cookie whose session
id has such a row since its login is refused, so a copy of the cookie taken before the
logout is worth nothing afterwards (the lookup rides the audit log's (action, at) index:
only the logouts since that login are looked at).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

import structlog
from starlette.requests import Request

from calllog.users import AuditEntry, User, Users
from console.passwords import needs_rehash, verify_password
from routing.clock import Clock

MAX_FAILURES = 5
"""Failed logins for one user name from one address within `WINDOW`."""
MAX_ADDRESS_FAILURES = 10
"""Failed logins from one address, whatever the names, within `WINDOW`."""
WINDOW = timedelta(minutes=15)
LOGIN_FAILED = "login_failed"
LOGIN_LIMITED = "login_limited"
LOGOUT = "logout"
MAX_DETAIL = 200
"""An audit row's detail (and the path it may hold) is cut to this many characters."""

log = structlog.get_logger("console.auth")


class LoginRefused(Enum):
    WRONG = "wrong"  # unknown name, wrong password or disabled account: one answer
    LIMITED = "limited"  # too many failures lately


class LoginRequired(Exception):
    """No user logged in: a page redirects to the login form."""


@dataclass
class _Held:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    """Tasks holding or waiting for the lock: at 0 the key's entry is dropped."""


class KeyedLocks:
    """One asyncio lock per key, made on first use and dropped once nobody holds or waits
    for it: the table holds only the keys in use, however many names are tried."""

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        held = self._held.setdefault(key, _Held())
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if held.users == 0:
                del self._held[key]


@dataclass(frozen=True)
class Auth:
    users: Users
    clock: Clock
    locks: KeyedLocks = field(default_factory=KeyedLocks)

    async def login(self, request: Request, username: str, password: str) -> User | LoginRefused:
        address = client_address(request)
        username = username.strip()[:64]
        # Always the name's lock before the address's: no two logins wait for each other
        # in a circle.
        async with self.locks.hold(f"name:{username}"), self.locks.hold(f"address:{address}"):
            return await self._login(request, username, password, address)

    async def _login(self, request: Request, username: str, password: str,
                     address: str) -> User | LoginRefused:
        user = await self.users.by_name(username)
        window_start = self.clock.now() - WINDOW
        # Failures before the user's last change (a new password) no longer count.
        since = window_start if user is None else max(window_start, user.changed_at)
        if (await self.users.count_audit(LOGIN_FAILED, since, username=username,
                                         address=address) >= MAX_FAILURES
                or await self.users.count_audit(LOGIN_FAILED, window_start, username=None,
                                                address=address) >= MAX_ADDRESS_FAILURES):
            if not await self.users.count_audit(LOGIN_LIMITED, window_start, username=None,
                                                address=address):
                await self.record(request, LOGIN_LIMITED, username=username)
            log.warning("login refused: too many failures", username=username, address=address)
            return LoginRefused.LIMITED
        # argon2 takes tens of milliseconds of CPU: off the event loop.
        ok = await asyncio.to_thread(
            verify_password, user.password_hash if user else None, password)
        if user is None or not ok or not user.active:
            reason = "unknown user" if user is None else (
                "wrong password" if not ok else "disabled")
            await self.record(request, LOGIN_FAILED, username=username, detail=reason)
            log.info("login failed", username=username, address=address, reason=reason)
            return LoginRefused.WRONG
        if needs_rehash(user.password_hash):
            log.info("password hash parameters are outdated", username=username)
        request.session.clear()
        request.session.update(uid=user.id, v=user.changed_at.isoformat(),
                               csrf=secrets.token_urlsafe(32),
                               sid=secrets.token_urlsafe(16), t=self.clock.now().isoformat())
        await self.record(request, "login", username=username)
        log.info("logged in", username=username, address=address)
        return user

    async def logout(self, request: Request, user: User) -> None:
        sid = request.session.get("sid")
        request.session.clear()
        await self.record(request, LOGOUT, username=user.username, detail=_ended(str(sid)))

    async def current_user(self, request: Request) -> User | None:
        uid, sid, since = (request.session.get(k) for k in ("uid", "sid", "t"))
        if not (isinstance(uid, int) and isinstance(sid, str) and isinstance(since, str)):
            return None
        user = await self.users.by_id(uid)
        if user is None or not user.active or request.session.get("v") != (
                user.changed_at.isoformat()) or await self._logged_out(sid, since):
            request.session.clear()
            return None
        return user

    async def _logged_out(self, sid: str, since: str) -> bool:
        try:
            login_at = datetime.fromisoformat(since)
        except ValueError:
            return True
        return await self.users.count_audit(LOGOUT, login_at, username=None, address=None,
                                            detail=_ended(sid)) > 0

    def keep_session(self, request: Request, user: User) -> None:
        """After a change to the session's own user (their new password): this session
        goes on, every other one of theirs ends at its next request."""
        request.session["v"] = user.changed_at.isoformat()

    async def signed_in(self, request: Request) -> User:
        user = await self.current_user(request)
        if user is None:
            raise LoginRequired
        return user

    async def record(self, request: Request, action: str, *, username: str | None,
                     detail: str = "") -> None:
        await self.users.audit(AuditEntry(
            at=self.clock.now(), username=None if username is None else username[:64],
            address=client_address(request)[:64], action=action,
            detail=detail[:MAX_DETAIL]))


def _ended(sid: str) -> str:
    """The detail of the `logout` row that ends session `sid`."""
    return f"session {sid}"


def client_address(request: Request) -> str:
    # Behind the TLS reverse proxy, uvicorn's proxy_headers (trusted from 127.0.0.1)
    # already put the browser's address here.
    return request.client.host if request.client else "unknown"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (visitors get one for the login form)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token
