"""The call-centre figures of the period report and the wallboard (issue 17, item 7):
service level, the wait in the branches' queues, callers who gave up in a queue, and
the desks' calls, talk and pause time. Pure, like `reports.figures`, which calls these
from `report_from_tallies` (so the tallied report and the record-based one share them).

Definitions (the README's "Reports" section says the same):

- *Offered*: the calls that reached a branch's desks or its queue, i.e. those counted
  connected or "missed / no desk" (`connected`, `desk_unreachable`,
  `abandoned_while_ringing`). Calls that ended in the menu, outside hours or in our
  fault never reached a desk or a queue and are not offered.
- *Service level* at T seconds = calls answered within T s of joining the queue /
  calls offered. A connected call that never queued (a desk was free) counts as
  answered within T; one that queued counts when it waited at most T whole seconds
  (`queue_joined_at` to `queue_left_at`). Calls offered but not answered (abandoned,
  max wait, no desk) count in the denominator only. The report gives T = 20 and 30.
- *Queue wait*: `queue_joined_at` to `queue_left_at` in whole seconds (rounded down),
  of every call that joined a queue and left it, whatever the reason; median and p90
  nearest-rank as the other durations.
- *Abandoned in queue*: calls whose caller hung up while waiting in a queue
  (`queue_result = abandoned`; their outcome is `abandoned_while_ringing`).
- *Per desk*: calls = connected calls the desk answered (`desk_answered`), talk time =
  their talk (as the report's talk time), pause time = the seconds of the period the
  desk spent logged in and paused, from its presence changes (`desk_presence_changes`;
  a pause that began before the period counts from the period's start, one still
  running counts to the period's end or to `now`, whichever is first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Protocol

from calllog.model import Outcome, QueueResult
from reports.measures import MEDIAN, P90, rank, ratio, seconds_between

SERVICE_LEVEL_SECONDS = (20, 30)
OFFERED_OUTCOMES = frozenset({Outcome.CONNECTED, Outcome.DESK_UNREACHABLE,
                              Outcome.ABANDONED_WHILE_RINGING})


@dataclass(frozen=True)
class ServiceLevel:
    seconds: int
    within: int
    """Calls answered within `seconds` of joining the queue (or without queueing)."""
    offered: int
    rate: Fraction | None


@dataclass(frozen=True)
class WaitStats:
    count: int
    median: int | None
    p90: int | None


@dataclass(frozen=True)
class QueueStats:
    offered: int
    answered: int
    """Connected calls, queued or not."""
    queued: int
    """Calls that joined a queue and left it."""
    by_result: Mapping[str, int]
    """Why they left it: every `QueueResult`, then any other reason met."""
    abandoned: int
    wait: WaitStats
    service_levels: tuple[ServiceLevel, ...]

    def level(self, seconds: int) -> ServiceLevel | None:
        return next((s for s in self.service_levels if s.seconds == seconds), None)


@dataclass(frozen=True)
class DeskRow:
    extension: str
    calls: int
    talk_seconds: int
    pause_seconds: int | None
    """None when the presence history was not read."""


class PresenceChangeLike(Protocol):
    @property
    def extension(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def logged_in(self) -> bool: ...
    @property
    def paused(self) -> bool: ...


def queue_stats(
    outcomes: Mapping[Outcome | None, int], waits: Mapping[str, Mapping[int, int]],
    connected_waits: Mapping[int, int],
) -> QueueStats:
    """The queue figures from the calls by outcome, the histograms of seconds waited by
    why the caller left the queue, and that of the connected calls that queued."""
    offered = sum(n for outcome, n in outcomes.items() if outcome in OFFERED_OUTCOMES)
    answered = outcomes.get(Outcome.CONNECTED, 0)
    every_wait: Counter[int] = Counter()
    for histogram in waits.values():
        every_wait.update(histogram)
    by_result = {r.value: sum(waits.get(r.value, {}).values()) for r in QueueResult}
    by_result |= {r: sum(h.values()) for r, h in sorted(waits.items()) if r not in by_result}
    levels = []
    for limit in SERVICE_LEVEL_SECONDS:
        late = sum(n for s, n in connected_waits.items() if s > limit)
        within = answered - late
        levels.append(ServiceLevel(limit, within, offered, ratio(within, offered)))
    return QueueStats(
        offered=offered, answered=answered, queued=sum(every_wait.values()),
        by_result=by_result, abandoned=by_result[QueueResult.ABANDONED.value],
        wait=WaitStats(count=sum(every_wait.values()), median=rank(every_wait, MEDIAN),
                       p90=rank(every_wait, P90)),
        service_levels=tuple(levels),
    )


def desk_rows(
    talk: Mapping[str, Mapping[int, int]], pauses: Mapping[str, int] | None,
) -> tuple[DeskRow, ...]:
    """One row per desk that answered a call or paused, by extension."""
    desks = sorted(set(talk) | set(pauses or {}), key=lambda e: (len(e), e))
    return tuple(DeskRow(
        extension=desk,
        calls=sum(talk.get(desk, {}).values()),
        talk_seconds=sum(s * n for s, n in talk.get(desk, {}).items()),
        pause_seconds=None if pauses is None else pauses.get(desk, 0),
    ) for desk in desks)


def pause_seconds(
    changes: Iterable[PresenceChangeLike], since: datetime, until: datetime,
    now: datetime | None = None,
) -> dict[str, int]:
    """Whole seconds (rounded down, per desk) each desk spent logged in and paused in
    `[since, min(until, now))`, from its changes oldest first (its last change before
    `since` tells the state the period began in). Desks that never paused are left out."""
    end = until if now is None else max(since, min(until, now))
    state: dict[str, tuple[datetime, bool]] = {}
    paused: dict[str, timedelta] = {}

    def close(desk: str, at: datetime) -> None:
        began, was_paused = state[desk]
        if was_paused:
            span = min(at, end) - max(began, since)
            if span > timedelta(0):
                paused[desk] = paused.get(desk, timedelta(0)) + span

    for change in sorted(changes, key=lambda c: c.at):
        if change.at >= end:
            continue
        if change.extension in state:
            close(change.extension, change.at)
        state[change.extension] = (change.at, change.logged_in and change.paused)
    for desk in state:
        close(desk, end)
    return {desk: span // timedelta(seconds=1) for desk, span in sorted(paused.items())}


def queue_tallies(
    records: Iterable[_QueueRecord],
) -> tuple[dict[str, dict[int, int]], dict[int, int], dict[str, dict[int, int]]]:
    """What `calllog.period` counts in SQL for these figures, counted from records: seconds
    waited by queue result, seconds waited by connected calls that queued, talk by desk."""
    waits: dict[str, Counter[int]] = {}
    connected_waits: Counter[int] = Counter()
    talk: dict[str, Counter[int]] = {}
    for c in records:
        connected = c.outcome == Outcome.CONNECTED and c.bridged_at is not None
        waited = seconds_between(c.queue_joined_at, c.queue_left_at)
        if waited is not None and c.queue_result is not None:
            waits.setdefault(str(c.queue_result), Counter())[waited] += 1
        if waited is not None and connected:
            connected_waits[waited] += 1
        talked = seconds_between(c.bridged_at, c.talk_ended_at or c.ended_at)
        if connected and talked is not None and c.desk_answered is not None:
            talk.setdefault(c.desk_answered, Counter())[talked] += 1
    return ({r: dict(h) for r, h in waits.items()}, dict(connected_waits),
            {d: dict(h) for d, h in talk.items()})


class _QueueRecord(Protocol):
    outcome: Outcome | None
    bridged_at: datetime | None
    ended_at: datetime | None
    talk_ended_at: datetime | None
    desk_answered: str | None
    queue_joined_at: datetime | None
    queue_left_at: datetime | None
    queue_result: str | None
