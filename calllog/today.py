"""The day's figures for the wallboard: how many calls ended how, and the follow-ups
waiting (call backs pending, open cases past their deadline). Counts only, grouped by
the database; `reports.labels.BUCKET_OF` says which outcome counts as what (the console
does that sum, so the wallboard and the period report cannot disagree)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import Callback, CaseStatus, Outcome, as_utc
from calllog.tables import CallRow, CaseRow

OPEN_CASES = (CaseStatus.RECEIVED, CaseStatus.FORWARDED, CaseStatus.VERIFYING)


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

    @property
    def received(self) -> int:
        return sum(self.by_outcome.values())


async def day_counts(
    sessionmaker: async_sessionmaker[AsyncSession], *, since: datetime, until: datetime,
    now: datetime,
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
    return DayCounts(
        by_outcome={(None if o is None else Outcome(o)): int(n) for o, n in rows},
        chose_branch=int(chose_branch or 0), callbacks_pending=int(callbacks or 0),
        cases_overdue=int(cases or 0))
