"""The CSRF guard: every POST, PUT, PATCH and DELETE carries the session's token, in the
`X-CSRF-Token` header (htmx sends it from `hx-headers`) or a form's `csrf_token` field.
Without it, or with another one, the request is refused 403 before any route runs.

A pure ASGI middleware (after `SessionMiddleware`): a form body is read once, checked,
and handed on unchanged to the route.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "x-csrf-token"
FIELD = "csrf_token"
MAX_FORM_BYTES = 5 * 1024 * 1024
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

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
        given = headers.get(HEADER)
        if given is None and headers.get("content-type", "").startswith(FORMS):
            body = await _read_body(receive)
            if body is None:
                await PlainTextResponse("Dữ liệu gửi lên quá lớn.", 413)(scope, receive, send)
                return
            form = await Request(scope, _replay(body, receive)).form()
            field = form.get(FIELD)
            given = field if isinstance(field, str) else None
            await form.close()
            receive = _replay(body, receive)  # the route reads the same body again
        if not (isinstance(expected, str) and given
                and hmac.compare_digest(expected.encode(), given.encode())):
            reason = "no CSRF token" if not given else "wrong CSRF token"
            response = await self.refuse(Request(scope, receive), reason)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


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
