"""The webhook Zalo posts events to: verify, store, answer; the work is done later.

A request is verified (`zalo.contract.verify_event`: signature in constant time, then
the event's timestamp against the clock); unsigned, badly signed and stale ones are
refused 401 and logged with the reason. A verified event is stored in the inbox (one
row per event key, so a second delivery changes nothing) and answered 200 at once:
storing is the only work done before the answer, bounded well inside Zalo's 2 s.
`InboxWorker` then takes the queued events in order and hands each to a `Handler`.

The console process serves it: `in_front_of(console_app, webhook_app(intake))` sends
this one path here and everything else to the console, so the console's session and
CSRF middleware never see Zalo's requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from calllog.zalo import InboxEvent, StoredEvent, ZaloInbox
from routing.clock import Clock
from zalo.contract import SIGNATURE_HEADER, EventName, Refused, verify_event
from zalo.models import WebhookEvent

WEBHOOK_PATH = "/zalo/webhook"
MAX_BODY_BYTES = 256 * 1024
STORE_BUDGET_SECONDS = 1.5
"""Storing may take this long; Zalo wants its answer within 2 s."""

log = structlog.get_logger("zalo.webhook")


@dataclass(frozen=True)
class WebhookSecrets:
    app_id: str
    oa_secret_key: str = field(repr=False)
    max_age: timedelta = timedelta(minutes=5)
    """How far the event's timestamp may be from now (older: a replay)."""


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


class Intake:
    def __init__(
        self, inbox: ZaloInbox, secrets: WebhookSecrets, clock: Clock, *,
        wake: asyncio.Event | None = None, store_budget: float = STORE_BUDGET_SECONDS,
    ) -> None:
        if not secrets.app_id or not secrets.oa_secret_key:
            raise ValueError("the Zalo webhook needs the app id and the OA secret key")
        self._inbox = inbox
        self._secrets = secrets
        self._clock = clock
        self.wake = wake or asyncio.Event()
        self._store_budget = store_budget

    async def receive(self, raw_body: bytes, signature_header: str | None, *,
                      source: str = "unknown") -> Answer:
        verdict = verify_event(
            raw_body, signature_header, app_id=self._secrets.app_id,
            oa_secret_key=self._secrets.oa_secret_key, now=self._clock.now(),
            max_age=self._secrets.max_age)
        if isinstance(verdict, Refused):
            log.warning("zalo webhook refused", reason=verdict.reason.name,
                        why=verdict.reason.value, detail=verdict.detail, source=source)
            return Answer(401, "refused")
        try:
            event = WebhookEvent.model_validate(verdict.payload)
        except ValidationError:
            log.warning("zalo webhook refused", reason="NOT_AN_EVENT",
                        why="signed, but no event_name", source=source)
            return Answer(400, "not an event")
        stored = InboxEvent(
            key=event.key, event_name=event.event_name, user_id=event.user_id,
            event_at=verdict.at, received_at=self._clock.now(),
            body=raw_body.decode("utf-8", errors="replace"))
        try:
            new = await asyncio.wait_for(self._inbox.add(stored), self._store_budget)
        except (TimeoutError, SQLAlchemyError, OSError) as exc:
            log.error("zalo event not stored", kind=event.event_name, key=event.key,
                      error=type(exc).__name__)
            return Answer(503, "try again")
        if new:
            log.info("zalo event queued", kind=event.event_name, key=event.key)
            self.wake.set()
        else:
            log.info("zalo event delivered again, already stored", kind=event.event_name,
                     key=event.key)
        return Answer(200, "ok")


def routes(intake: Intake) -> list[Route]:
    async def webhook(request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return JSONResponse({"error": "too large"}, 413)
        answer = await intake.receive(
            body, request.headers.get(SIGNATURE_HEADER),
            source=request.client.host if request.client else "unknown")
        return JSONResponse({"status": answer.text}, answer.status)

    return [Route(WEBHOOK_PATH, webhook, methods=["POST"])]


async def _body(request: Request) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_app(intake: Intake) -> Starlette:
    return Starlette(routes=routes(intake))


def in_front_of(app: ASGIApp, webhook: ASGIApp) -> ASGIApp:
    """`app` with the webhook's path answered by `webhook` (lifespan and the rest: `app`)."""

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH:
            await webhook(scope, receive, send)
        else:
            await app(scope, receive, send)

    return dispatch


# --- after the answer: the worker ----------------------------------------------------


class Handler(Protocol):
    async def handle(self, event: WebhookEvent) -> str:
        """Do what `event` asks; a short outcome word recorded in the inbox."""
        ...


class Dispatch:
    """The last handler in the chain (`hotline.zalo.zalo_parts`: ZNS deliveries and
    ratings, then cases, then this): what nobody before took is recorded as processed
    with its kind."""

    async def handle(self, event: WebhookEvent) -> str:
        match event.event_name:
            case EventName.FOLLOW | EventName.UNFOLLOW:
                return "follower"
            case EventName.USER_SEND_TEXT | EventName.USER_SEND_IMAGE | EventName.USER_SEND_FILE:
                return "message"
            case EventName.USER_FEEDBACK:
                return "rating"
            case EventName.USER_RECEIVED_MESSAGE:
                return "delivered"
            case name if name.startswith("oa_"):
                return "echo"
            case _:
                return "ignored"


class InboxWorker:
    def __init__(
        self, inbox: ZaloInbox, handler: Handler, clock: Clock, *,
        wake: asyncio.Event | None = None, poll_seconds: float = 5.0, max_attempts: int = 5,
    ) -> None:
        self._inbox = inbox
        self._handler = handler
        self._clock = clock
        self.wake = wake or asyncio.Event()
        self._poll = poll_seconds
        self._max_attempts = max_attempts

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("zalo inbox unreadable, retrying", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self._poll)
            self.wake.clear()

    async def run_once(self) -> int:
        """Process what is queued now; how many events were taken."""
        queued = await self._inbox.queued()
        for stored in queued:
            await self._process(stored)
        return len(queued)

    async def _process(self, stored: StoredEvent) -> None:
        try:
            event = WebhookEvent.model_validate_json(stored.event.body)
            outcome = await self._handler.handle(event)
        except Exception as exc:
            give_up = isinstance(exc, ValidationError) or (
                stored.attempts + 1 >= self._max_attempts)
            log.warning("zalo event not processed", id=stored.id, key=stored.event.key,
                        error=type(exc).__name__, give_up=give_up)
            await self._inbox.failed(stored.id, self._clock.now(), type(exc).__name__,
                                     give_up=give_up)
            return
        await self._inbox.processed(stored.id, self._clock.now(), outcome)
