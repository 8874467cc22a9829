"""EventStream against an in-process stand-in for Asterisk's ARI websocket.

Only protocol edge cases live here (drops, refused connections, 401 while
Asterisk starts); the real Asterisk is exercised by the e2e tests.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosedError
from websockets.http11 import Request, Response

from ivr.ari.client import AriClient
from ivr.ari.errors import AriConnectionError, NotFound
from ivr.ari.events import EventStream, _retry_or_raise
from ivr.ari.models import ChannelDtmfReceived, Event

CLOSE = object()  # in a script: close the socket cleanly (close frame 1000)
DROP = object()  # in a script: kill the TCP connection (no close frame)


def _dtmf(digit: str) -> str:
    return json.dumps(
        {
            "type": "ChannelDtmfReceived",
            "timestamp": "2026-11-23T17:53:02.185+0000",
            "application": "hotline",
            "digit": digit,
            "duration_ms": 100,
            "channel": {
                "id": "c1",
                "name": "PJSIP/trunk-00000002",
                "state": "Up",
                "caller": {"name": "", "number": "+84293"},
                "connected": {"name": "", "number": ""},
                "dialplan": {"context": "from-trunk", "exten": "1080", "priority": 2},
                "creationtime": "2026-11-23T17:52:59.537+0000",
            },
        }
    )


class FakeAri:
    """Plays one script per connection; a script ends by staying open or dropping."""

    def __init__(self, scripts: list[list[Any]], rejections: int = 0) -> None:
        self.scripts = scripts
        self.rejections = rejections
        self.paths: list[str] = []

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        if self.rejections > 0:
            self.rejections -= 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Authentication required\n")
        return None

    async def handler(self, ws: ServerConnection) -> None:
        script = self.scripts.pop(0) if self.scripts else []
        for item in script:
            if item is CLOSE:
                await ws.close()
                return
            if item is DROP:
                ws.transport.abort()
                return
            await ws.send(item)
        await ws.wait_closed()


@asynccontextmanager
async def fake_ari(fake: FakeAri, port: int = 0) -> AsyncIterator[Server]:
    async with serve(
        fake.handler, "127.0.0.1", port, process_request=fake.process_request
    ) as server:
        yield server


def _port(server: Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Recorder:
    """Collects what the stream reports, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.changed = asyncio.Event()

    def on_event(self, event: Event) -> None:
        assert isinstance(event, ChannelDtmfReceived)
        self._add(f"dtmf {event.digit}")

    async def on_connect(self) -> None:
        self._add("connect")

    async def on_disconnect(self) -> None:
        self._add("disconnect")

    def _add(self, entry: str) -> None:
        self.log.append(entry)
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(3):
            while len(self.log) < count:
                self.changed.clear()
                await self.changed.wait()


def _stream(port: int, recorder: Recorder, **kwargs: Any) -> EventStream:
    options: dict[str, Any] = {
        "on_event": recorder.on_event,
        "on_connect": recorder.on_connect,
        "on_disconnect": recorder.on_disconnect,
        **kwargs,
    }
    return EventStream(
        url=f"ws://127.0.0.1:{port}/ari",
        app="hotline",
        user="hotline",
        password="s3cr:t&x",
        monotonic=time.monotonic,
        backoff_min=0.05,
        backoff_max=0.2,
        **options,
    )


@asynccontextmanager
async def running(stream: EventStream) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run())
    try:
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_reconnects_after_drops_and_keeps_event_order() -> None:
    fake = FakeAri(
        [
            [_dtmf("1"), "{not json", _dtmf("2"), CLOSE],
            [_dtmf("3"), DROP],
            [_dtmf("4")],
        ]
    )
    recorder = Recorder()
    with structlog.testing.capture_logs() as logs:
        async with fake_ari(fake) as server, running(_stream(_port(server), recorder)):
            await recorder.wait_for(9)
            await asyncio.sleep(0.05)  # nothing more may arrive
    assert recorder.log == [
        "connect", "dtmf 1", "dtmf 2", "disconnect",
        "connect", "dtmf 3", "disconnect",
        "connect", "dtmf 4",
    ]  # fmt: skip
    assert any(entry["event"] == "ari.events.unparseable" for entry in logs)


async def test_connects_with_app_and_url_encoded_api_key() -> None:
    fake = FakeAri([[]])
    recorder = Recorder()
    async with fake_ari(fake) as server:
        stream = _stream(_port(server), recorder)
        async with running(stream):
            await stream.wait_connected(3)
            assert stream.connected
    url = urlsplit(fake.paths[0])
    assert url.path == "/ari/events"
    assert parse_qs(url.query) == {
        "app": ["hotline"],
        "api_key": ["hotline:s3cr:t&x"],
        "subscribeAll": ["false"],
    }


async def test_retries_until_asterisk_listens() -> None:
    port = _free_port()  # nothing listens yet: connection refused
    recorder = Recorder()
    stream = _stream(port, recorder)
    async with running(stream) as task:
        await asyncio.sleep(0.3)
        assert not stream.connected and not task.done()
        async with fake_ari(FakeAri([[_dtmf("9")]]), port):
            await recorder.wait_for(2)
    assert recorder.log[:2] == ["connect", "dtmf 9"]


def test_a_connection_closed_during_the_handshake_is_retried() -> None:
    # How a reset mid-handshake surfaces under uvloop (the service's event loop).
    assert _retry_or_raise(ConnectionClosedError(None, None)) is None
    assert _retry_or_raise(ConnectionResetError()) is None
    bug = ValueError("a bug, not the network")
    assert _retry_or_raise(bug) is bug


async def test_retries_401_while_asterisk_starts() -> None:
    fake = FakeAri([[_dtmf("5")]], rejections=2)
    recorder = Recorder()
    async with fake_ari(fake) as server, running(_stream(_port(server), recorder)):
        await recorder.wait_for(2)
    assert recorder.log[:2] == ["connect", "dtmf 5"]
    assert len(fake.paths) == 3


async def test_failing_handler_does_not_stop_the_stream() -> None:
    seen: list[str] = []
    second_seen = asyncio.Event()

    async def flaky(event: Event) -> None:
        assert isinstance(event, ChannelDtmfReceived)
        seen.append(event.digit)
        if event.digit == "1":
            raise RuntimeError("bug in a handler")
        second_seen.set()

    fake = FakeAri([[_dtmf("1"), _dtmf("2")]])
    recorder = Recorder()
    with structlog.testing.capture_logs() as logs:
        async with fake_ari(fake) as server:
            stream = _stream(_port(server), recorder, on_event=flaky)
            async with running(stream):
                async with asyncio.timeout(3):
                    await second_seen.wait()
    assert seen == ["1", "2"]
    assert any(entry["event"] == "ari.events.handler_failed" for entry in logs)


async def test_cancelling_run_closes_the_socket_and_reports_disconnected() -> None:
    closed = asyncio.Event()

    class Watching(FakeAri):
        async def handler(self, ws: ServerConnection) -> None:
            await ws.wait_closed()
            closed.set()

    recorder = Recorder()
    async with fake_ari(Watching([])) as server:
        stream = _stream(_port(server), recorder)
        async with running(stream):
            await stream.wait_connected(3)
        assert not stream.connected
        async with asyncio.timeout(3):
            await closed.wait()
    assert recorder.log == ["connect"]


async def test_wait_connected_times_out() -> None:
    stream = _stream(_free_port(), Recorder())
    with pytest.raises(TimeoutError):
        await stream.wait_connected(0.05)


async def _rest_ready(stream: EventStream) -> None:
    """REST goes over the socket once `on_connect` has returned: a moment after connect."""
    for _ in range(300):
        if stream.rest_ready:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("REST over the websocket never became ready")


class RestAri(FakeAri):
    """Answers RESTRequest frames (ARI REST over WebSocket), events in between; drops
    the socket instead of answering a request for `drop_on`."""

    def __init__(self, drop_on: str = "") -> None:
        super().__init__([])
        self.requests: list[dict[str, Any]] = []
        self.drop_on = drop_on

    async def handler(self, ws: ServerConnection) -> None:
        async for message in ws:
            request = json.loads(message)
            self.requests.append(request)
            if request["uri"] == self.drop_on:
                ws.transport.abort()
                return
            await ws.send(_dtmf("5"))  # an event may come before the answer
            await ws.send(json.dumps({
                "type": "RESTResponse", "request_id": request["request_id"],
                "status_code": 404 if "missing" in request["uri"] else 200,
                "reason_phrase": "", "uri": request["uri"],
                "content_type": "application/json",
                "message_body": json.dumps({"uri": request["uri"],
                                            "query": request.get("query_strings", [])}),
            }))


async def test_rest_requests_go_over_the_websocket_once_on_connect_returned() -> None:

    fake = RestAri()
    recorder = Recorder()
    over_http: list[str] = []

    def http_handler(request: httpx.Request) -> httpx.Response:
        over_http.append(request.url.path)
        return httpx.Response(200, json={"id": "b1", "technology": "simple_bridge",
                                         "bridge_type": "mixing", "channels": []})

    async with httpx.AsyncClient(transport=httpx.MockTransport(http_handler),
                                 base_url="http://pbx/ari") as http, fake_ari(fake) as server:
        stream = _stream(_port(server), recorder)
        ari = AriClient(http, "hotline")
        ari.use_websocket(stream)
        await ari.create_bridge("b1")  # not connected yet: HTTP
        async with running(stream):
            await stream.wait_connected(3)
            await recorder.wait_for(1)
            await _rest_ready(stream)
            await ari.set_variable("c1", "CALLERID(num)", "0901 234")
            with pytest.raises(NotFound):
                await ari.get_channel("missing")
            await recorder.wait_for(3)  # the events in between were dispatched
    assert over_http == ["/ari/bridges/b1"]
    assert [(r["method"], r["uri"]) for r in fake.requests] == [
        ("POST", "channels/c1/variable"), ("GET", "channels/missing")]
    assert fake.requests[0]["query_strings"] == [
        {"name": "variable", "value": "CALLERID(num)"}, {"name": "value", "value": "0901 234"}]
    assert recorder.log[:3] == ["connect", "dtmf 5", "dtmf 5"]


@asynccontextmanager
async def _rest_stream(fake: RestAri) -> AsyncIterator[EventStream]:
    """An event stream connected to `fake`, ready for REST requests."""
    async with fake_ari(fake) as server:
        stream = _stream(_port(server), Recorder())
        async with running(stream):
            await stream.wait_connected(3)
            await _rest_ready(stream)
            yield stream


async def test_a_rest_request_in_flight_fails_when_the_socket_drops() -> None:
    async with _rest_stream(RestAri(drop_on="channels/c1/answer")) as stream:
        with pytest.raises(AriConnectionError):
            await stream.rest("POST", "/channels/c1/answer", {}, None)


async def test_requests_made_together_go_out_together_and_are_each_answered() -> None:
    """Requests made in one turn of the event loop are written in one go; the socket
    still carries one frame per request and every caller gets its own answer."""
    fake = RestAri()
    async with _rest_stream(fake) as stream:
        writes: list[int] = []
        ws = stream._ws
        assert ws is not None
        real_writelines = ws.transport.writelines

        def counted(frames: Any) -> None:
            writes.append(1)
            real_writelines(frames)

        ws.transport.writelines = counted  # type: ignore[method-assign]
        answers = await asyncio.gather(*(
            stream.rest("GET", f"/channels/c{n}", {}, None) for n in range(5)))
    assert len(writes) == 1
    assert [r["uri"] for r in fake.requests] == [f"channels/c{n}" for n in range(5)]
    assert [json.loads(body)["uri"] for _, body in answers] == [
        f"channels/c{n}" for n in range(5)]
