"""Admission control: what happens to a new call when this box is past what it carries.

A call costs our event loop and Asterisk a few tens of ms of CPU over its life. When
calls arrive faster than that, every call in progress slows down (late digits, late
desk INVITEs, talk cut short): the degradation spiral. So each new call is decided,
before it is answered, in one of three ways:

* take it (the hotline service runs it);
* "fallback": send it, unanswered, to the generated fallback dialplan IVR (same menu,
  desks and hours, run by Asterisk alone at about half the CPU; the CEL import logs
  it), when `max_active_calls` calls are in progress, or ARI answers late (REST
  requests over the websocket take more than `max_ari_latency` s from send to answer,
  smoothed; normally well under 1 ms, so Asterisk or our loop is saturated), or our
  event loop runs more than `max_loop_lag` s late;
* "refuse": turn it away before answering (SIP 503 to the caller, logged as
  `refused` with a call back pending) when even that is too much: 1.5 x the calls,
  or 4 x the latency or lag limits. Calls in progress keep their CPU.

A limit seen exceeded holds its decision for `HOLD_SECONDS`, so the load does not
swing between taking every call and shedding every call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ivr.app import Admission

TICK_SECONDS = 0.1
SMOOTHING = 0.3
HOLD_SECONDS = 2.0
REFUSE_FACTOR = 4.0
REFUSE_CALLS_FACTOR = 1.5


class LoadGuard:
    def __init__(
        self, *, active_calls: Callable[[], int], max_active_calls: int, max_loop_lag: float,
        ari_latency: Callable[[], float] = lambda: 0.0, max_ari_latency: float = 0.05,
        monotonic: Callable[[], float],
    ) -> None:
        self._active_calls = active_calls
        self._ari_latency = ari_latency
        self._monotonic = monotonic
        self.max_active_calls = max_active_calls
        self.max_loop_lag = max_loop_lag
        self.max_ari_latency = max_ari_latency
        self.loop_lag = 0.0
        """Smoothed lateness of the loop's ticks, in seconds."""
        self.counts: dict[Admission, int] = {"take": 0, "fallback": 0, "refuse": 0}
        self._held: dict[Admission, tuple[float, str]] = {}

    def __call__(self) -> tuple[Admission, str]:
        """What to do with a new call now, and why."""
        now = self._monotonic()
        calls, latency, lag = self._active_calls(), self._ari_latency(), self.loop_lag
        admission: Admission = "take"
        reason = ""
        levels: tuple[tuple[Admission, float, float], ...] = (
            ("refuse", REFUSE_FACTOR, REFUSE_CALLS_FACTOR), ("fallback", 1.0, 1.0))
        for level, factor, calls_factor in levels:
            why = _over(calls, self.max_active_calls * calls_factor, "calls in progress", ".0f") \
                or _over(latency, self.max_ari_latency * factor, "s for ARI to answer") \
                or _over(lag, self.max_loop_lag * factor, "s event loop lag")
            if why:
                self._held[level] = (now + HOLD_SECONDS, why)
            held_until, held_why = self._held.get(level, (0.0, ""))
            if now < held_until:
                admission, reason = level, why or f"{held_why} (held)"
                break
        self.counts[admission] += 1
        return admission, reason

    async def run(self) -> None:
        """Measure the loop's lateness, forever (a task of its own)."""
        while True:
            before = self._monotonic()
            await asyncio.sleep(TICK_SECONDS)
            late = max(0.0, self._monotonic() - before - TICK_SECONDS)
            self.loop_lag += SMOOTHING * (late - self.loop_lag)


def _over(value: float, limit: float, what: str, shown: str = ".3f") -> str:
    if value < limit:
        return ""
    return f"{value:{shown}} {what} (limit {limit:g})"
