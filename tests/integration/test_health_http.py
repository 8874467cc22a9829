"""The health server over a real loopback socket: what a unit test cannot show (the
request line as bytes on the wire)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from hotline.health import HealthServer, HealthSources


async def ask(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.fixture
async def port() -> AsyncIterator[int]:
    health = HealthServer(HealthSources(
        ari_connected=lambda: True, active_calls=lambda: 0,
        calls_by_outcome=dict, reloads=dict,
    ))
    server = await health.serve("127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    yield port
    server.close()
    await server.wait_closed()


async def test_a_100_kb_request_line_is_answered_414_without_a_traceback(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        answer = await ask(port, b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n")
        await asyncio.sleep(0.05)  # the handler's end, and anything it would log
    assert answer.startswith(b"HTTP/1.1 414 ")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_normal_request_is_still_answered(port: int) -> None:
    answer = await ask(port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"ready\n")
