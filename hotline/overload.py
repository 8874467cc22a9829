"""Admission control: above what this box carries, new calls go to the fallback IVR.

A new call costs our event loop a few tens of ms of CPU over its life. When calls
arrive faster than the loop can serve them, every call in progress slows down
(late digits, late desk INVITEs, hung channels): the degradation spiral. So a new
call is shed, before we answer it, to the generated fallback dialplan IVR (same
menu, same desks, same hours; Asterisk alone runs it, and the CEL import logs it)
when either

* `max_active_calls` calls are already in progress, or
* the event loop is late: a 100 ms tick measured more than `max_loop_lag` seconds
  late, smoothed, meaning the loop is saturated.

Nothing is refused outright: the caller is served by the cheaper path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

TICK_SECONDS = 0.1
SMOOTHING = 0.3


class LoadGuard:
    def __init__(
        self, *, active_calls: Callable[[], int], max_active_calls: int, max_loop_lag: float
    ) -> None:
        self._active_calls = active_calls
        self.max_active_calls = max_active_calls
        self.max_loop_lag = max_loop_lag
        self.loop_lag = 0.0
        """Smoothed lateness of the loop's ticks, in seconds."""
        self.shed = 0

    def __call__(self) -> str | None:
        """Why a new call must be shed now, or None to take it."""
        reason = None
        if self._active_calls() >= self.max_active_calls:
            reason = f"{self.max_active_calls} calls in progress"
        elif self.loop_lag > self.max_loop_lag:
            reason = f"event loop {self.loop_lag * 1000:.0f} ms late"
        if reason is not None:
            self.shed += 1
        return reason

    async def run(self) -> None:
        """Measure the loop's lateness, forever (a task of its own)."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(TICK_SECONDS)
            late = max(0.0, loop.time() - before - TICK_SECONDS)
            self.loop_lag += SMOOTHING * (late - self.loop_lag)
