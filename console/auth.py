"""Logging in and out, and who the request's user is.

A failed login counts against the user name typed and against the client's address:
`MAX_FAILURES` of either within `WINDOW` (read from the audit log, so the limit holds
across console restarts) refuse further tries until the window has passed. Every
login, failed login, refusal and logout is written to the audit log.

The session (a signed cookie, `SessionMiddleware`) holds the user's id, the time their
account last changed (a new password or a disabled account ends every session made
before) and the CSRF token.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

import structlog
from starlette.requests import Request

from calllog.users import AuditEntry, User, Users
from console.passwords import needs_rehash, verify_password
from routing.clock import Clock

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOGIN_FAILED = "login_failed"

log = structlog.get_logger("console.auth")


class LoginRefused(Enum):
    WRONG = "wrong"  # unknown name, wrong password or disabled account: one answer
    LIMITED = "limited"  # too many failures lately


class LoginRequired(Exception):
    """No user logged in: a page redirects to the login form."""


@dataclass(frozen=True)
class Auth:
    users: Users
    clock: Clock

    async def login(self, request: Request, username: str, password: str) -> User | LoginRefused:
        address = client_address(request)
        username = username.strip()[:64]
        since = self.clock.now() - WINDOW
        failures = max(
            await self.users.count_audit(LOGIN_FAILED, since, username=username, address=None),
            await self.users.count_audit(LOGIN_FAILED, since, username=None, address=address),
        )
        if failures >= MAX_FAILURES:
            await self.record(request, "login_limited", username=username)
            log.warning("login refused: too many failures", username=username, address=address)
            return LoginRefused.LIMITED
        user = await self.users.by_name(username)
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
                               csrf=secrets.token_urlsafe(32))
        await self.record(request, "login", username=username)
        log.info("logged in", username=username, address=address)
        return user

    async def logout(self, request: Request, user: User) -> None:
        request.session.clear()
        await self.record(request, "logout", username=user.username)

    async def current_user(self, request: Request) -> User | None:
        uid = request.session.get("uid")
        if not isinstance(uid, int):
            return None
        user = await self.users.by_id(uid)
        if user is None or not user.active or request.session.get("v") != (
                user.changed_at.isoformat()):
            request.session.clear()
            return None
        return user

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
            at=self.clock.now(), username=username, address=client_address(request),
            action=action, detail=detail))


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
