"""ARI event websocket: connect, reconnect with backoff, parse, hand over.

``EventStream.run`` is the reader.  It reconnects with the library's loop
(``async for ws in websockets.asyncio.client.connect(...)``), whose backoff
restarts after every successful session.  Asterisk drops a websocket whose
reader stalls (``websocket_write_timeout``), so ``on_event`` must only hand
the event over (put it in a per-call queue), never do the work itself.

While the socket is down Asterisk keeps the channels already in Stasis but
drops their events: ``on_connect`` runs after every (re)connect so the owner
can reconcile with ``GET /channels`` and ``GET /bridges``.

The same socket carries REST requests (``rest``, ARI REST over WebSocket,
Asterisk >= 22.4): their ``RESTResponse`` frames are matched by request id in
the reader.  That is why ``on_event`` must never wait for a REST answer, and
why requests go over HTTP until ``on_connect`` has returned (the reader is not
reading yet while it runs). Requests made in one turn of the event loop are
written together (``_send_outbox``: websockets' Sans-I/O ``protocol`` frames them,
one ``transport.writelines`` sends them), which saves a syscall and a wake-up of
Asterisk's reader per request under load.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import cast
from urllib.parse import urlencode

import orjson
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import backoff
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from ivr.ari.errors import AriConnectionError, AriError
from ivr.ari.models import Event, message_type, parse_event_json

__all__ = ["EventHandler", "EventStream", "Hook", "events_url"]

EventHandler = Callable[[Event], Awaitable[None]] | Callable[[Event], None]
Hook = Callable[[], Awaitable[None]]

log = structlog.get_logger(__name__)
LATENCY_SMOOTHING = 0.05


def events_url(url: str, app: str, user: str, password: str) -> str:
    """``ws://host:8088/ari`` -> the ``/events`` URL for one app, no ``subscribeAll``."""
    query = urlencode({"app": app, "api_key": f"{user}:{password}", "subscribeAll": "false"})
    return f"{url.rstrip('/')}/events?{query}"


class EventStream:
    """Reads ARI events for one app, forever, until cancelled."""

    def __init__(
        self,
        *,
        url: str,
        app: str,
        user: str,
        password: str,
        on_event: EventHandler,
        monotonic: Callable[[], float],
        on_connect: Hook | None = None,
        on_disconnect: Hook | None = None,
        backoff_max: float = 5.0,
        backoff_min: float = 0.5,
        rest_timeout: float = 10.0,
    ) -> None:
        self._url = events_url(url, app, user, password)
        self._app = app
        self._on_event = on_event
        self._monotonic = monotonic
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._delays = functools.partial(
            backoff,
            initial_delay=min(backoff_min, backoff_max),
            min_delay=min(backoff_min, backoff_max),
            max_delay=backoff_max,
        )
        self._connected = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[tuple[int, str]]] = {}
        self._outbox: list[tuple[bytes, asyncio.Future[tuple[int, str]]]] = []
        self._request_ids = itertools.count(1)
        self.rest_timeout = rest_timeout
        self.rest_latency = 0.0
        """Smoothed time a REST request over the socket takes to be answered (s): how
        busy Asterisk and our own event loop are."""

    @property
    def connected(self) -> bool:
        """True while the websocket is open (Asterisk then knows our app)."""
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> None:
        """Return once connected; raises ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    async def run(self) -> None:
        """Connect and read until cancelled; connection errors are retried."""
        connector = connect(
            self._url,
            process_exception=_retry_or_raise,
            reconnect_delays=self._delays,
            close_timeout=2,
        )
        # __aiter__ is an async generator: close it here, not in a GC finalizer.
        sessions = cast(AsyncGenerator[ClientConnection, None], aiter(connector))
        try:
            async with aclosing(sessions):
                async for ws in sessions:
                    await self._session(ws)
        finally:
            self._connected.clear()

    @property
    def rest_ready(self) -> bool:
        """True while REST requests can go over this socket."""
        return self._ws is not None

    @property
    def rest_waiting(self) -> int:
        """REST requests sent over this socket and not answered yet."""
        return len(self._pending)

    async def rest(
        self, method: str, path: str, query: dict[str, str], body: str | None
    ) -> tuple[int, str]:
        """One REST request over the websocket: (status, body text)."""
        ws = self._ws
        if ws is None:
            raise AriConnectionError(f"{method} {path}: the ARI websocket is down")
        request_id = str(next(self._request_ids))
        message: dict[str, object] = {
            "type": "RESTRequest", "request_id": request_id, "method": method,
            "uri": path.lstrip("/"),
        }
        if query:
            message["query_strings"] = [{"name": k, "value": v} for k, v in query.items()]
        if body is not None:
            message["content_type"] = "application/json"
            message["message_body"] = body
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[int, str]] = loop.create_future()
        self._pending[request_id] = answer
        sent = self._monotonic()
        try:
            self._queue_frame(ws, orjson.dumps(message), answer)
            async with asyncio.timeout(self.rest_timeout):
                reply = await answer
            self.rest_latency += LATENCY_SMOOTHING * (self._monotonic() - sent - self.rest_latency)
            return reply
        except TimeoutError as exc:
            raise AriConnectionError(f"{method} {path}: no answer in "
                                     f"{self.rest_timeout:g} s") from exc
        finally:
            self._pending.pop(request_id, None)

    def _queue_frame(
        self, ws: ClientConnection, text: bytes, answer: asyncio.Future[tuple[int, str]]
    ) -> None:
        """Send `text` with the other requests made in this turn of the event loop: one
        write (one syscall, one wake-up of Asterisk's reader) for all of them."""
        self._outbox.append((text, answer))
        if len(self._outbox) == 1:
            asyncio.get_running_loop().call_soon(self._send_outbox, ws)

    def _send_outbox(self, ws: ClientConnection) -> None:
        outbox, self._outbox = self._outbox, []
        try:
            if ws.protocol.state is not State.OPEN:
                raise AriConnectionError("the ARI websocket is closing")
            for text, _ in outbox:
                ws.protocol.send_text(text)
            ws.transport.writelines(ws.protocol.data_to_send())
        except Exception as exc:
            for _, answer in outbox:
                if not answer.done():
                    answer.set_exception(AriConnectionError(f"could not send: {exc!r}"))

    async def _session(self, ws: ClientConnection) -> None:
        self._connected.set()
        log.info("ari.events.connected", app=self._app)
        await self._call_hook(self._on_connect, "on_connect")
        self._ws = ws
        try:
            async for message in ws:
                await self._dispatch(message)
        except ConnectionClosed:
            pass  # reported below; a clean close ends the loop without it
        finally:
            self._ws = None
            for answer in self._pending.values():
                if not answer.done():
                    answer.set_exception(AriConnectionError("the ARI websocket closed"))
        self._connected.clear()
        log.warning(
            "ari.events.disconnected",
            app=self._app,
            code=ws.close_code,
            reason=ws.close_reason or "",
        )
        await self._call_hook(self._on_disconnect, "on_disconnect")

    async def _dispatch(self, message: str | bytes) -> None:
        event_type = message_type(message)
        if event_type == "RESTResponse":
            try:
                data = orjson.loads(message)
            except ValueError:
                log.warning("ari.events.unparseable", error="not JSON",
                            message=_preview(message))
                return
            if isinstance(data, dict) and data.get("type") == "RESTResponse":
                self._answer(data)
                return
        try:
            event = parse_event_json(message, event_type)
        except AriError as exc:
            log.warning("ari.events.unparseable", error=str(exc), message=_preview(message))
            return
        try:
            result = self._on_event(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            # One bad event must not stop the events of every other call.
            log.exception("ari.events.handler_failed", event_type=event.type)

    def _answer(self, data: dict[str, object]) -> None:
        answer = self._pending.get(str(data.get("request_id")))
        if answer is None or answer.done():
            return  # timed out meanwhile
        status = data.get("status_code")
        body = data.get("message_body")
        answer.set_result((status if isinstance(status, int) else 500,
                           body if isinstance(body, str) else ""))

    async def _call_hook(self, hook: Hook | None, name: str) -> None:
        if hook is None:
            return
        try:
            await hook()
        except Exception:
            log.exception("ari.events.hook_failed", hook=name)


def _retry_or_raise(exc: Exception) -> Exception | None:
    """Retry what may heal: refused/reset sockets, a connection closed during the
    handshake (how a reset surfaces under uvloop), timeouts, and any failed
    handshake (401/404/503 while Asterisk and res_ari are still starting)."""
    if isinstance(exc, OSError | TimeoutError | InvalidHandshake | ConnectionClosed):
        status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
        if status == 401:
            # Retried (ari.conf may be reloading), but said loudly: nothing works until fixed.
            log.error("ari.events.credentials_refused", status=status,
                      hint="HOTLINE_ARI_USER / HOTLINE_ARI_PASSWORD do not match Asterisk's "
                      "ari.conf")
        else:
            log.warning("ari.events.connect_failed", error=str(exc), status=status)
        return None
    return exc


def _preview(message: str | bytes, limit: int = 200) -> str:
    text = message if isinstance(message, str) else message.decode("utf-8", "replace")
    return text[:limit]
