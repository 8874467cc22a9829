"""The day's figures for the wallboard: how many calls ended how, and the follow-ups
waiting (call backs pending and overdue, open cases past their deadline). Counts only,
grouped by the database; `reports.labels.BUCKET_OF` says which outcome counts as what
(the console does that sum, so the wallboard and the period report cannot disagree).

An overdue call back is one whose `overdue_at(started_at)` (the YAML's working hours,
passed in) is at or before `now`. That policy only grows with `started_at`, so the
overdue call backs are the pending ones started up to one instant: found by bisection
on the policy (a few dozen pure calls), then counted by the database, instead of
applying the policy to each of what can be 100,000 pending rows every few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import Callback, CaseStatus, Outcome, as_utc
from calllog.period import PeriodCounts, PeriodTallies, count_hours, tallies
from calllog.presence import DeskStatus, PresenceHistory, PresenceStore, presence_changes
from calllog.tables import CallRow, CaseRow

OPEN_CASES = (CaseStatus.RECEIVED, CaseStatus.FORWARDED, CaseStatus.VERIFYING)
OverdueAt = Callable[[datetime], datetime]
"""When a call back of a call started at the given instant becomes overdue (must not
decrease as the instant grows, as a deadline counted in working time does not)."""
RESOLUTION = timedelta(microseconds=1)
"""The databases keep instants to the microsecond."""


@dataclass(frozen=True)
class DayCounts:
    by_outcome: dict[Outcome | None, int]
    """Calls started in the period, by outcome (None: still in progress)."""
    chose_branch: int
    """Of those, the calls that chose a branch (the answer rate's denominator)."""
    callbacks_pending: int
    """Every call back still to make, whenever its call was."""
    cases_overdue: int
    """Open cases whose deadline has passed at `now`."""
    callbacks_overdue: int = 0
    """Of the call backs pending, those overdue at `now` (0 when no policy was given)."""
    tallies: PeriodTallies | None = None
    """The day's tallies as the period report counts them (the queue and desk figures)."""
    presence: PresenceHistory | None = None
    """The desks' presence changes of the day up to `now` (their pause time)."""
    desks: tuple[DeskStatus, ...] = ()
    """Every desk's stored presence now (a desk with none is logged in and free)."""

    @property
    def received(self) -> int:
        return sum(self.by_outcome.values())


async def day_counts(
    sessionmaker: async_sessionmaker[AsyncSession], *, since: datetime, until: datetime,
    now: datetime, overdue_at: OverdueAt | None = None,
) -> DayCounts:
    in_period = (CallRow.started_at >= as_utc(since, "since"),
                 CallRow.started_at < as_utc(until, "until"))
    outcomes = select(CallRow.outcome, func.count()).where(*in_period).group_by(CallRow.outcome)
    chose = select(func.count()).select_from(CallRow).where(
        *in_period, CallRow.branch_key.is_not(None))
    pending = select(func.count()).select_from(CallRow).where(
        CallRow.callback == Callback.PENDING.value)
    overdue = select(func.count()).select_from(CaseRow).where(
        CaseRow.status.in_([s.value for s in OPEN_CASES]), CaseRow.due_at < as_utc(now, "now"))
    async with sessionmaker() as session:
        rows = (await session.execute(outcomes)).all()
        chose_branch = await session.scalar(chose)
        callbacks = await session.scalar(pending)
        cases = await session.scalar(overdue)
        late = 0 if overdue_at is None else await overdue_callbacks(session, now, overdue_at)
    counted = PeriodCounts()
    # counted from the day's calls, not stored (`calllog.rollup`): the wallboard reads
    # every few seconds, and the current hour changes with nearly every call
    counted.add(await count_hours(sessionmaker, [(since, until)]))
    changes = await presence_changes(sessionmaker, since, max(since, min(until, now)))
    return DayCounts(
        by_outcome={(None if o is None else Outcome(o)): int(n) for o, n in rows},
        chose_branch=int(chose_branch or 0), callbacks_pending=int(callbacks or 0),
        cases_overdue=int(cases or 0), callbacks_overdue=late, tallies=tallies(counted),
        presence=PresenceHistory(tuple(changes), as_of=now),
        desks=tuple(await PresenceStore(sessionmaker).all()))


async def overdue_callbacks(session: AsyncSession, now: datetime, overdue_at: OverdueAt) -> int:
    """How many pending call backs are overdue at `now`."""
    now = as_utc(now, "now")
    pending = CallRow.callback == Callback.PENDING.value
    oldest = await session.scalar(select(func.min(CallRow.started_at)).where(pending))
    cutoff = None if oldest is None else latest_overdue_start(oldest, now, overdue_at)
    if cutoff is None:
        return 0
    late = select(func.count()).select_from(CallRow).where(pending, CallRow.started_at <= cutoff)
    return int(await session.scalar(late) or 0)


def latest_overdue_start(oldest: datetime, now: datetime, overdue_at: OverdueAt
                         ) -> datetime | None:
    """The latest start instant, not before `oldest`, whose call back is overdue at `now`
    (None: not even `oldest`'s is), to the microsecond."""
    if overdue_at(oldest) > now:
        return None
    late, early = oldest, max(now, oldest) + RESOLUTION
    while early - late > RESOLUTION:  # overdue at `late`, not yet at `early`
        middle = late + (early - late) // 2
        if overdue_at(middle) <= now:
            late = middle
        else:
            early = middle
    return late
