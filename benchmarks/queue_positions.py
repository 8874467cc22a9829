"""Were the announced queue positions right? Checked from the call log alone.

A caller's place is 1 + the callers of the same branch who joined before them (by
join time, the call id breaking ties, as `routing.queue.Waiting` orders them) and
were still waiting when the announcement was made. Each stay in a queue runs from
its `queue_joined` event to its `queue_left` event (none: still waiting when the log
was read); each `queue_position` event is one announcement.

The service writes `queue_joined` in the same event-loop step as it puts the caller
in the queue, `queue_left` in the same step as it takes them out, and reads the
position in the step that writes `queue_position`, so the events' times order these
moments exactly. Pure: the benchmark (`benchmarks.queue_capacity`) reads the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

QUEUE_KINDS = frozenset({"queue_joined", "queue_position", "queue_left"})


@dataclass(frozen=True)
class QueueEvent:
    """One queue step of one call's timeline (`detail` as the service wrote it)."""

    call_id: str
    at: datetime
    kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Mismatch:
    call_id: str
    at: datetime
    branch: int
    announced: int
    expected: int


@dataclass
class PositionCheck:
    checked: int = 0
    wrong: list[Mismatch] = field(default_factory=list)
    unplaced: int = 0
    """Announcements outside any stay in a queue (no `queue_joined` before them)."""
    moved_up: int = 0
    """Checked announcements made after a caller who was ahead on joining had left
    (the ones that prove the service follows the queue, not just the arrivals)."""


@dataclass
class _Stay:
    call_id: str
    branch: int
    joined_at: datetime
    entered: datetime
    left: datetime | None = None

    def waiting_at(self, at: datetime) -> bool:
        return self.entered <= at and (self.left is None or at < self.left)


def check_positions(events: Iterable[QueueEvent]) -> PositionCheck:
    """Compare every announced position with the callers ahead at that moment."""
    ordered = sorted((e for e in events if e.kind in QUEUE_KINDS), key=lambda e: e.at)
    stays: list[_Stay] = []
    open_stay: dict[str, _Stay] = {}
    announcements: list[tuple[QueueEvent, _Stay | None]] = []
    for event in ordered:
        if event.kind == "queue_joined":
            joined = _Stay(event.call_id, int(event.detail["branch"]),
                           datetime.fromisoformat(str(event.detail["joined_at"])), event.at)
            stays.append(joined)
            open_stay[event.call_id] = joined
        elif event.kind == "queue_left":
            left = open_stay.pop(event.call_id, None)
            if left is not None:
                left.left = event.at
        else:
            announcements.append((event, open_stay.get(event.call_id)))

    result = PositionCheck()
    for event, stay in announcements:
        if stay is None:
            result.unplaced += 1
            continue
        ahead = _ahead(stays, stay, event.at)
        result.checked += 1
        if ahead < _ahead(stays, stay, stay.entered):
            result.moved_up += 1
        announced = int(event.detail["position"])
        if announced != ahead + 1:
            result.wrong.append(Mismatch(event.call_id, event.at, stay.branch, announced,
                                         ahead + 1))
    return result


def _ahead(stays: list[_Stay], stay: _Stay, at: datetime) -> int:
    """The callers of `stay`'s branch before it in the queue and waiting at `at`."""
    return sum(
        1 for other in stays
        if other.branch == stay.branch and other.call_id != stay.call_id
        and (other.joined_at, other.call_id) < (stay.joined_at, stay.call_id)
        and other.waiting_at(at)
    )
