"""The clock: the only way code reads the time of day or the monotonic clock.

The wiring (`hotline.clock.SystemClock`) passes the real one in; tests pass a
clock of their own, so no decision depends on the date a test runs on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The time of day, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never steps back (deadlines, rates, ages)."""
        ...
