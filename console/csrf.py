"""The CSRF guard: every POST, PUT, PATCH and DELETE carries the session's token, in the
`X-CSRF-Token` header (htmx sends it from `hx-headers`) or a form's `csrf_token` field.
Without it, or with another one, the request is refused 403 before any route runs.

A pure ASGI middleware (after `SessionMiddleware`): a form body is read once, checked,
and handed on unchanged to the route. It also holds every unsafe request's body to
`MAX_FORM_BYTES`, whichever way the token came: a declared larger body is refused 413 at
once, and a body that grows past the limit while a route reads it raises a 413
`HTTPException` there. Routes read forms with `read_form`, which bounds the multipart
parser too (parts, files, size of a part).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from starlette._utils import AwaitableOrContextManager
from starlette.datastructures import FormData, Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routing.clock import Clock

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "x-csrf-token"
FIELD = "csrf_token"
MAX_FORM_BYTES = 5 * 1024 * 1024
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_FIELDS = 100
MAX_FILES = 2
MAX_PART_BYTES = 1024 * 1024
TOO_LARGE = "Dữ liệu gửi lên quá lớn."

Refusal = Callable[[Request, str], Awaitable[Response]]


class CsrfGuard:
    def __init__(self, app: ASGIApp, refuse: Refusal) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        expected = scope.get("session", {}).get("csrf")
        headers = Headers(scope=scope)
        if _declared_size(headers) > MAX_FORM_BYTES:
            await PlainTextResponse(TOO_LARGE, 413)(scope, receive, send)
            return
        given = headers.get(HEADER)
        if given is None and headers.get("content-type", "").startswith(FORMS):
            body = await _read_body(receive)
            if body is None:
                await PlainTextResponse(TOO_LARGE, 413)(scope, receive, send)
                return
            try:
                async with read_form(Request(scope, _replay(body, receive))) as form:
                    field = form.get(FIELD)
            except HTTPException as exc:  # a malformed or oversized multipart body
                await PlainTextResponse(exc.detail, exc.status_code)(scope, receive, send)
                return
            given = field if isinstance(field, str) else None
            receive = _replay(body, receive)  # the route reads the same body again
        else:
            receive = _limited(receive)
        if not (isinstance(expected, str) and given
                and hmac.compare_digest(expected.encode(), given.encode())):
            reason = "no CSRF token" if not given else "wrong CSRF token"
            response = await self.refuse(Request(scope, receive), reason)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def read_form(request: Request) -> AwaitableOrContextManager[FormData]:
    """`request.form()` with the parser bounded (no console form has more than a few dozen
    fields or more than one file, nor a text field of a megabyte): `await read_form(r)`,
    or `async with read_form(r) as form:` to close an upload's temporary file."""
    return request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS,
                        max_part_size=MAX_PART_BYTES)


def _declared_size(headers: Headers) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0


def _limited(receive: Receive) -> Receive:
    """`receive`, raising 413 once the body passes `MAX_FORM_BYTES` (a chunked body, or one
    longer than it said)."""
    size = 0

    async def limited() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > MAX_FORM_BYTES:
                raise HTTPException(413, TOO_LARGE)
        return message

    return limited


class PerAddressLog:
    """Says whether to log one more anonymous refusal from an address: the first one in
    each `every` seconds (monotonic clock), with how many were left out before it. Anyone
    can send refusals, so they go to the log, never the audit table, and the table of
    addresses is pruned to those seen within `every` (and cut at `max_addresses`)."""

    def __init__(self, clock: Clock, every: float = 60.0, max_addresses: int = 10_000) -> None:
        self._clock = clock
        self._every = every
        self._max = max_addresses
        self._seen: dict[str, tuple[float, int]] = {}  # address: (logged at, left out since)

    def __len__(self) -> int:
        return len(self._seen)

    def allow(self, address: str) -> int | None:
        """None: leave this one out; else the number left out since the last logged."""
        now = self._clock.monotonic()
        seen = self._seen.get(address)
        if seen is not None and now - seen[0] < self._every:
            self._seen[address] = (seen[0], seen[1] + 1)
            return None
        if seen is None and len(self._seen) >= self._max:
            self._prune(now)
        self._seen[address] = (now, 0)
        return 0 if seen is None else seen[1]

    def _prune(self, now: float) -> None:
        for address, (at, _) in list(self._seen.items()):
            if now - at >= self._every:
                del self._seen[address]
        while len(self._seen) >= self._max:  # dicts keep insertion order: oldest first
            del self._seen[next(iter(self._seen))]


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
