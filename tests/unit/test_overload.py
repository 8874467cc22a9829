"""LoadGuard: when new calls are shed to the fallback IVR."""

from __future__ import annotations

import asyncio
import time

from hotline.overload import LoadGuard


def test_calls_are_taken_until_the_limit_of_calls_in_progress() -> None:
    active = [299]
    guard = LoadGuard(active_calls=lambda: active[0], max_active_calls=300, max_loop_lag=0.1)
    assert guard() is None
    active[0] = 300
    assert guard() == "300 calls in progress"
    assert guard.shed == 1


async def test_a_late_event_loop_sheds_new_calls_and_recovers() -> None:
    guard = LoadGuard(active_calls=lambda: 0, max_active_calls=300, max_loop_lag=0.05)
    task = asyncio.create_task(guard.run())
    try:
        await asyncio.sleep(0.25)
        assert guard() is None
        for _ in range(4):
            time.sleep(0.2)  # noqa: ASYNC251  # the point: block the loop, as a busy one is
            await asyncio.sleep(0)
        await asyncio.sleep(0.11)
        reason = guard()
        assert reason is not None and reason.startswith("event loop")
        await asyncio.sleep(1.5)  # no more blocking: the smoothed lag falls back
        assert guard() is None
    finally:
        task.cancel()
