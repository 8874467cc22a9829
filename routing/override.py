"""The announcement override and the quality-review recordings' retention: pure decisions.

An operator switches an announcement on (text or a recording, until a time) or off;
every switch is kept, and the newest one says what callers hear now. A switch on
either plays after the greeting or replaces the menu (the hotline is suspended:
callers may leave a message).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


def override_in_force(on: bool, until: datetime | None, now: datetime) -> bool:
    """Whether the newest switch (on or off, `until` its expiry) still applies at `now`."""
    return on and (until is None or now < until)


@dataclass(frozen=True)
class StoredRecording:
    name: str
    recorded_at: datetime
    size: int


def expired_recordings(
    recordings: Iterable[StoredRecording], now: datetime, retention_days: int
) -> list[StoredRecording]:
    """The recordings older than `retention_days` at `now`, oldest first."""
    cutoff = now - timedelta(days=retention_days)
    return sorted((r for r in recordings if r.recorded_at < cutoff),
                  key=lambda r: r.recorded_at)
