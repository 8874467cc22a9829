"""Clocks for tests: the code under test reads time only through one of these
(`routing.clock.Clock`), so no test depends on the date or the machine's speed."""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Starts at `start`. With `running` (the default) it goes on at real speed, so
    asyncio timeouts and the clock agree; without, it moves only by `advance`.
    `script(...)` makes the next monotonic readings exactly these values."""

    def __init__(self, start: datetime, *, running: bool = True) -> None:
        self.start = start
        self.running = running
        self._t0 = time.monotonic()
        self._offset = 0.0
        self._scripted: deque[float] = deque()

    def _elapsed(self) -> float:
        return (time.monotonic() - self._t0 if self.running else 0.0) + self._offset

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self._elapsed())

    def monotonic(self) -> float:
        if self._scripted:
            return self._scripted.popleft()
        return 1000.0 + self._elapsed()

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def script(self, *readings: float) -> None:
        self._scripted.extend(readings)


class TickingClock(FakeClock):
    """A fixed start that moves on one second at every reading of `now`: times are
    deterministic and each milestone is later than the one before. Its monotonic
    clock runs at real speed."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start, running=False)
        self._ticks = 0

    def now(self) -> datetime:
        now = self.start + timedelta(seconds=self._ticks)
        self._ticks += 1
        return now

    def monotonic(self) -> float:
        if self._scripted:
            return self._scripted.popleft()
        return time.monotonic()


MONDAY_9AM_ICT = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
"""A working-day morning in Hậu Giang, for tests that need some "now"."""


def fixed_now() -> datetime:
    """A `now` callable that always answers `MONDAY_9AM_ICT`."""
    return MONDAY_9AM_ICT
