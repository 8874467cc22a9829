"""The branch queues: who waits for which branch, in which order, and who may ring.

One first-come-first-served queue per branch. A caller joins when no desk of the
branch is free (`should_queue`); its place is its join time, so callers put back
after a restart (in any order, with the join times they had) are back where they
were. A desk that becomes free goes to the head of its branch's queue before anyone
else: a caller arriving at that moment joins behind the others (`may_ring`). The
expected wait comes from how long recent queued callers waited per place ahead of
them (`WaitHistory`); there is none until a queued call has been answered.

Pure: times and desk states are parameters; no I/O, no asyncio.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from routing.presence import Unavailable

HISTORY_SIZE = 20
"""Answered queued calls the expected wait is averaged over (per branch)."""
TAKEN = "TAKEN"
"""A desk's dial status when it was not rung because it talks in another of our calls."""
PAUSED = "PAUSED"
WRAP_UP = "WRAP_UP"
LOGGED_OUT = "LOGGED_OUT"
AWAY_STATUS: dict[Unavailable, str] = {
    "paused": PAUSED, "wrap_up": WRAP_UP, "logged_out": LOGGED_OUT}
"""A desk's "dial status" when presence kept it from being rung, by the reason."""
COMING_BACK = frozenset({"BUSY", TAKEN, PAUSED, WRAP_UP})
"""Statuses of a desk that will take calls again without anyone doing anything at
the desk's phone: it talks, or it rests (paused, in wrap-up). A logged-out desk, an
unregistered phone or one that rang out does not count: nobody is there."""


@dataclass(frozen=True, order=True)
class Waiting:
    """A caller in a branch's queue; ordered by when they joined (the call id breaks ties)."""

    joined_at: datetime
    call_id: str
    branch: int = field(compare=False)


@dataclass
class WaitHistory:
    """Recent waits of queued calls that reached a desk, as seconds per place ahead."""

    size: int = HISTORY_SIZE
    _per_place: deque[float] = field(default_factory=deque)

    def answered(self, waited_seconds: float, position_at_join: int) -> None:
        self._per_place.append(max(0.0, waited_seconds) / max(1, position_at_join))
        while len(self._per_place) > self.size:
            self._per_place.popleft()

    def expected_seconds(self, position: int) -> float | None:
        """The expected wait of the caller at `position` (1: next); None without history."""
        if not self._per_place:
            return None
        return position * sum(self._per_place) / len(self._per_place)


def expected_minutes(seconds: float | None) -> int | None:
    """What the caller is told: whole minutes, rounded up, at least 1 (None: say nothing)."""
    if seconds is None:
        return None
    return max(1, math.ceil(seconds / 60))


class BranchQueues:
    """Every branch's queue, the desks our calls hold, and each branch's wait history."""

    def __init__(self, history_size: int = HISTORY_SIZE) -> None:
        self._queues: dict[int, list[Waiting]] = {}
        self._where: dict[str, Waiting] = {}
        self._taken: dict[str, str] = {}
        """desk extension -> the call talking on it."""
        self._history_size = history_size
        self._history: dict[int, WaitHistory] = {}

    # --- the queues -----------------------------------------------------------------

    def join(self, branch: int, call_id: str, joined_at: datetime) -> int:
        """Put the call in `branch`'s queue by its join time; its position (1: head).
        Joining again (a rebuilt queue) keeps the first place."""
        if call_id in self._where:
            return self.position(call_id) or 0
        entry = Waiting(joined_at, call_id, branch)
        queue = self._queues.setdefault(branch, [])
        queue.append(entry)
        queue.sort()
        self._where[call_id] = entry
        return queue.index(entry) + 1

    def leave(self, call_id: str) -> Waiting | None:
        """Take the call out of its queue (answered, gave up, hung up); its entry."""
        entry = self._where.pop(call_id, None)
        if entry is not None:
            self._queues[entry.branch].remove(entry)
        return entry

    def position(self, call_id: str) -> int | None:
        entry = self._where.get(call_id)
        if entry is None:
            return None
        return self._queues[entry.branch].index(entry) + 1

    def waiting(self, branch: int) -> list[str]:
        """The calls waiting for `branch`, head first."""
        return [w.call_id for w in self._queues.get(branch, [])]

    def head(self, branch: int) -> str | None:
        queue = self._queues.get(branch)
        return queue[0].call_id if queue else None

    def entry(self, call_id: str) -> Waiting | None:
        return self._where.get(call_id)

    # --- the desks our calls hold ---------------------------------------------------

    def take(self, desk: str, call_id: str) -> None:
        self._taken[desk] = call_id

    def release(self, desk: str, call_id: str) -> bool:
        """The call's talk on `desk` ended; True when the desk was held by it (now free)."""
        if self._taken.get(desk) != call_id:
            return False
        del self._taken[desk]
        return True

    def taken(self) -> frozenset[str]:
        return frozenset(self._taken)

    def free_desks(self, desks: Iterable[str]) -> list[str]:
        """`desks` not talking in one of our calls (their phones may still be away)."""
        return [d for d in desks if d not in self._taken]

    def may_ring(self, branch: int, desks: Iterable[str], call_id: str) -> bool:
        """Whether the call may ring `branch`'s `desks` now: a desk is free, and nobody
        waits ahead of it (a free desk goes to the head of the queue first)."""
        if not self.free_desks(desks):
            return False
        head = self.head(branch)
        return head is None or head == call_id

    # --- expected waits -------------------------------------------------------------

    def answered(self, branch: int, waited_seconds: float, position_at_join: int) -> None:
        self._history_of(branch).answered(waited_seconds, position_at_join)

    def expected_seconds(self, branch: int, position: int) -> float | None:
        return self._history_of(branch).expected_seconds(position)

    def _history_of(self, branch: int) -> WaitHistory:
        return self._history.setdefault(branch, WaitHistory(self._history_size))


def should_queue(results: Mapping[str, str]) -> bool:
    """After ringing a branch found nobody: queue when a desk will be back (it answered
    busy, talks in one of our calls, is paused or in wrap-up); not when every desk was
    logged out, unregistered, rang out or failed (nobody is there to free up: the
    message path)."""
    return any(status in COMING_BACK for status in results.values())


def queue_mark(branch: int, joined_at: datetime) -> str:
    """The value of `routing.trail.QUEUE_VARIABLE` on a queued caller's channel."""
    return f"{branch},{joined_at.isoformat()}"


def read_queue_mark(value: str) -> tuple[int, datetime] | None:
    """(branch, joined at) from `QUEUE_VARIABLE`'s value; None when empty or unreadable."""
    branch, _, joined_at = value.partition(",")
    try:
        return int(branch), datetime.fromisoformat(joined_at)
    except ValueError:
        return None
