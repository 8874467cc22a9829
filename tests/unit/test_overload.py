"""LoadGuard: when new calls go to the fallback IVR or are turned away."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from hotline.overload import HOLD_SECONDS, LoadGuard
from tests.clock import FakeClock

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def test_calls_past_the_limit_go_to_the_fallback_then_are_refused() -> None:
    active = [299]
    guard = LoadGuard(active_calls=lambda: active[0], max_active_calls=300,
                      max_loop_lag=0.1,
                      monotonic=FakeClock(START, running=False).monotonic)
    assert guard()[0] == "take"
    active[0] = 300
    assert guard() == ("fallback", "300 calls in progress (limit 300)")
    active[0] = 450
    assert guard()[0] == "refuse"
    assert guard.counts == {"take": 1, "fallback": 1, "refuse": 1}


def test_slow_ari_sheds_and_the_decision_holds_a_moment_after_it_recovers() -> None:
    latency = [0.0005]
    clock = FakeClock(START, running=False)
    guard = LoadGuard(active_calls=lambda: 10, max_active_calls=300, max_loop_lag=0.1,
                      ari_latency=lambda: latency[0], max_ari_latency=0.05,
                      monotonic=clock.monotonic)
    assert guard()[0] == "take"
    latency[0] = 0.08
    admission, why = guard()
    assert admission == "fallback" and "ARI" in why
    latency[0] = 0.001  # answers fast again (the shed calls no longer load it) ...
    clock.advance(HOLD_SECONDS / 2)
    assert guard()[0] == "fallback"  # ... but not for long enough yet
    clock.advance(HOLD_SECONDS)
    assert guard()[0] == "take"
    latency[0] = 0.3
    assert guard()[0] == "refuse"


async def test_a_late_event_loop_sheds_new_calls_and_recovers() -> None:
    guard = LoadGuard(active_calls=lambda: 0, max_active_calls=300, max_loop_lag=0.05,
                      monotonic=FakeClock(START).monotonic)
    task = asyncio.create_task(guard.run())
    try:
        await asyncio.sleep(0.25)
        assert guard()[0] == "take"
        for _ in range(4):
            time.sleep(0.2)  # noqa: ASYNC251  # the point: block the loop, as a busy one is
            await asyncio.sleep(0)
        await asyncio.sleep(0.11)
        admission, why = guard()
        assert admission != "take" and "event loop" in why
        await asyncio.sleep(1.5 + HOLD_SECONDS)  # no more blocking: lag and hold wear off
        assert guard()[0] == "take"
    finally:
        task.cancel()
