"""`GET /live` over a real loopback socket: a long-poll is answered when a call
changes, as HTTP the console's client can read."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from calllog.model import CallRecord
from hotline.health import HealthServer, HealthSources
from ivr.live import LiveCalls
from routing.config import load_config
from tests.clock import FakeClock, fixed_now

CONFIG = load_config("config/hotline.yaml")


@pytest.fixture
async def served() -> AsyncIterator[tuple[LiveCalls, str]]:
    live = LiveCalls(FakeClock(fixed_now()), lambda: CONFIG)
    health = HealthServer(HealthSources(
        ari_connected=lambda: True, active_calls=lambda: len(live),
        calls_by_outcome=dict, reloads=dict,
    ), live=live.json_after)
    server = await health.serve("127.0.0.1", 0)
    yield live, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/live"
    server.close()
    await server.wait_closed()


async def test_a_long_poll_over_http_is_answered_with_the_call_that_started(
    served: tuple[LiveCalls, str],
) -> None:
    live, url = served
    async with httpx.AsyncClient(timeout=10) as client:
        first = (await client.get(url)).json()
        waiting = asyncio.create_task(
            client.get(url, params={"after": first["version"], "wait": 5}))
        await asyncio.sleep(0.1)
        assert not waiting.done()

        live.step(CallRecord(call_id="c1", caller_number="0939123456",
                             started_at=fixed_now()), "menu")
        answer = await asyncio.wait_for(waiting, 2)

    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = json.loads(answer.content)
    assert body["version"] > first["version"]
    assert [(c["call_id"], c["step"]) for c in body["calls"]] == [("c1", "menu")]
