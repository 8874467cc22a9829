"""A fake of the service's `GET /live` for the wallboard's tests: an httpx handler (for
`httpx.MockTransport`, no socket) that long-polls like `hotline.health` does, can be
made to refuse connections or time out, and counts the requests it gets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

from console.live_feed import Board, WallboardFeed
from routing.clock import Clock
from routing.live import LiveBranch, LiveCall, LiveSnapshot, Step, summarise
from tests.console_client import hotline_config


def caller_of(call_id: str) -> str:
    """The caller's number the fake gives a call: 0939 and the call id's last digits."""
    return "0939" + "".join(c for c in call_id if c.isdigit())[-6:].rjust(6, "0")


class FakeLiveService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.started_at = clock.now()
        self.calls: dict[str, LiveCall] = {}
        self.version = 1
        self.requests = 0
        self.failure: Exception | None = None
        """Raised for every request while set (httpx.ConnectError: the service is down)."""
        self._changed = asyncio.Event()

    def snapshot(self) -> LiveSnapshot:
        config = hotline_config()
        return summarise(version=self.version, service_started_at=self.started_at,
                         at=self.clock.now(), calls=self.calls.values(), config=config,
                         registered={d.extension: d.extension.startswith("14")
                                     for d in config.desks},
                         desks_checked_at=self.clock.now())

    def step(self, call_id: str, step: Step | None, branch: int | None = None,
             desks: tuple[str, ...] = ()) -> None:
        """Move a call to `step` (None: it ended)."""
        if step is None:
            self.calls.pop(call_id, None)
        else:
            chosen = None if branch is None else next(
                b for b in hotline_config().branches if b.key == branch)
            self.calls[call_id] = LiveCall(
                call_id=call_id, caller_number=caller_of(call_id),
                started_at=self.clock.now() - timedelta(seconds=42), step=step,
                step_since=self.clock.now(), desks=desks,
                branch=None if chosen is None else LiveBranch(
                    key=chosen.key, name=chosen.name, agency=chosen.agency))
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.failure is not None:
            raise self.failure
        assert request.url.path == "/live"
        after = request.url.params.get("after")
        if after is not None and int(after) == self.version:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(float(request.url.params["wait"])):
                    await changed.wait()
            if self.failure is not None:  # went away while the client waited
                raise self.failure
        return httpx.Response(200, content=self.snapshot().model_dump_json(),
                              headers={"content-type": "application/json"})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


class EventStream:
    """A GET of an event stream straight through the ASGI app (httpx's ASGITransport
    waits for the whole body, which an event stream never ends): the events as they
    come, and a disconnect like a closed browser tab's."""

    def __init__(self, app: ASGIApp, path: str, cookies: httpx.Cookies) -> None:
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        self.scope: dict[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("192.0.2.10", 40000),
            "server": ("console.test", 80),
            "headers": [(b"host", b"console.test"), (b"cookie", cookie.encode())],
        }
        self.app = app
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.events: asyncio.Queue[str] = asyncio.Queue()
        self._buffer = ""
        self._requested = False
        self._gone = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventStream:
        self.task = asyncio.create_task(self.app(self.scope, self._receive, self._send))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._gone.set()
        assert self.task is not None
        async with asyncio.timeout(5):
            await self.task

    async def next_event(self, seconds: float = 5.0) -> str:
        async with asyncio.timeout(seconds):
            return await self.events.get()

    async def _receive(self) -> Message:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            self._buffer += message.get("body", b"").decode()
            while "\n\n" in self._buffer:
                event, self._buffer = self._buffer.split("\n\n", 1)
                if event.startswith("retry:"):
                    continue
                self.events.put_nowait(event)
            if not message.get("more_body", False) and self._buffer:
                self.events.put_nowait(self._buffer)


async def board_where(feed: WallboardFeed, holds: Callable[[Board], bool],
                      seconds: float = 5.0) -> Board:
    """The feed's first board (from now) for which `holds` is true."""
    async with asyncio.timeout(seconds):
        async for board in feed.changes():
            if holds(board):
                return board
    raise AssertionError("the feed ended")
