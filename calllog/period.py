"""The period report's data as the database counts it: a few GROUP BY reads instead of
every call of the period (a month of 150,000 calls took 46-51 s as records, see
docs/benchmarks.md).

`PeriodTallies` is what `reports.figures` computes every figure from: calls per UTC hour
(the report maps hours to its local days), per branch and agency as the calls recorded
them, histograms of whole seconds of waiting and talk, survey answers, call-back states
and the cases' statuses. The definitions are `reports/figures.py`'s; this module only
counts them in SQL, and `tests/integration/test_report_tallies.py` checks that it counts
what the records give.

The only dialect-specific SQL of the call log lives here (`utc_hour`, `whole_seconds`):
SQLite keeps a `UTCDateTime` as text `YYYY-MM-DD HH:MM:SS.ffffff` (naive UTC),
PostgreSQL as `timestamptz`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Executable, Integer, String, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from calllog.model import Callback, CaseStatus, Outcome, SurveyResult, as_utc
from calllog.tables import CallRow, CaseRow

HOUR_FORMAT = "%Y-%m-%d %H"
CALLED_BACK = (Callback.PENDING.value, Callback.DONE.value)
"""The call-back states the report counts (a call needed one)."""


@dataclass(frozen=True)
class HourTally:
    """Calls that started in one UTC hour, by whether they chose a branch and outcome."""

    hour: datetime
    """The hour's start, aware UTC."""
    chose_branch: bool
    outcome: Outcome | None
    calls: int


@dataclass(frozen=True)
class GroupTally:
    """Calls by the branch and agency they recorded, and outcome."""

    branch_key: int | None
    branch_name: str | None
    agency: str | None
    outcome: Outcome | None
    calls: int


@dataclass(frozen=True)
class SurveyTally:
    survey: SurveyResult | None
    score: int | None
    """As recorded: the report leaves out scores off its scale."""
    calls: int


@dataclass(frozen=True)
class CallbackTally:
    """What staff's call backs of the period's calls did (`calllog.followup`)."""

    reached: int = 0
    wrong_number: int = 0
    attempts: int = 0
    """Call backs made for the pending and done calls, not_reached ones included."""
    median_seconds: int | None = None
    """Call to the call back that closed it, whole seconds (floored, at least 0),
    nearest-rank median over the done calls that have the time."""


@dataclass(frozen=True)
class PeriodTallies:
    hours: tuple[HourTally, ...]
    groups: tuple[GroupTally, ...]
    wait: Mapping[int, int]
    """Whole seconds waited -> connected calls."""
    talk: Mapping[int, int]
    """Whole seconds talked -> connected calls."""
    surveys: tuple[SurveyTally, ...]
    callbacks: Mapping[Callback, int]
    """Calls by their call-back state."""
    callback_results: CallbackTally | None
    """None when the call log keeps no call-back results (the in-memory log)."""
    cases: Mapping[tuple[str | None, CaseStatus], int] | None = field(default=None)
    """Cases opened in the period by (agency, status); None: the log keeps no cases."""


# --- the dialect-specific expressions ------------------------------------------------


class utc_hour(FunctionElement[str]):
    """`YYYY-MM-DD HH`, the UTC hour of a `UTCDateTime` column."""

    type = String()
    inherit_cache = True
    name = "utc_hour"


@compiles(utc_hour, "sqlite")
def _utc_hour_sqlite(element: utc_hour, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f"substr({compiler.process(column, **kw)}, 1, 13)"


@compiles(utc_hour, "postgresql")
def _utc_hour_postgresql(element: utc_hour, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f"to_char({compiler.process(column, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"


class whole_seconds(FunctionElement[int]):
    """`end - start` in whole seconds, rounded down, 0 if negative (`figures._seconds`).
    Exact to the microsecond: no floating point. Callers leave out NULL times
    (PostgreSQL's GREATEST would make them 0)."""

    type = Integer()
    inherit_cache = True
    name = "whole_seconds"


@compiles(whole_seconds, "sqlite")
def _whole_seconds_sqlite(element: whole_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)

    def micros(t: str) -> str:
        # whole seconds from the text's first 19 characters (strftime would round a
        # fraction to milliseconds), microseconds from its last 6
        return (f"(CAST(strftime('%s', substr({t}, 1, 19)) AS INTEGER) * 1000000"
                f" + CAST(substr({t}, 21, 6) AS INTEGER))")

    return f"(max(0, {micros(end)} - {micros(start)}) / 1000000)"


@compiles(whole_seconds, "postgresql")
def _whole_seconds_postgresql(element: whole_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(GREATEST(0, FLOOR(EXTRACT(EPOCH FROM ({end} - {start})))) AS BIGINT)"


# --- the read ------------------------------------------------------------------------


async def period_tallies(
    sessionmaker: async_sessionmaker[AsyncSession], *, since: datetime, until: datetime
) -> PeriodTallies:
    """The tallies of the calls started in `since <= started_at < until` and the cases
    opened in it."""
    since, until = as_utc(since, "since"), as_utc(until, "until")
    inside = and_(CallRow.started_at >= since, CallRow.started_at < until)
    connected = CallRow.outcome == Outcome.CONNECTED.value
    n = func.count().label("n")
    hour = utc_hour(CallRow.started_at).label("hour")
    chose = (CallRow.branch_key.is_not(None)).label("chose")
    wait = whole_seconds(CallRow.started_at, CallRow.bridged_at).label("s")
    talk_end = func.coalesce(CallRow.talk_ended_at, CallRow.ended_at)
    talk = whole_seconds(CallRow.bridged_at, talk_end).label("s")
    callback_time = whole_seconds(CallRow.started_at, CallRow.callback_done_at)
    done = CallRow.callback == Callback.DONE.value
    with_time = and_(inside, done, CallRow.callback_done_at.is_not(None))
    grouped = (CallRow.branch_key, CallRow.branch_name, CallRow.agency, CallRow.outcome,
               CallRow.survey, CallRow.survey_score, CallRow.callback, CallRow.callback_result)
    attempts = func.coalesce(func.sum(CallRow.callback_attempts), 0).label("attempts")

    async def read(query: Executable) -> Sequence[Any]:
        async with sessionmaker() as session:
            return (await session.execute(query)).all()

    async def callback_median() -> int | None:
        async with sessionmaker() as session:
            timed = int(await session.scalar(
                select(func.count()).select_from(CallRow).where(with_time)) or 0)
            median = None if not timed else await session.scalar(
                select(callback_time).where(with_time).order_by(callback_time)
                .offset(_median_rank(timed) - 1).limit(1))
            return None if median is None else int(median)

    # Each read goes over the period's rows: side by side, on connections of their own,
    # they take about the longest one's time instead of the sum (docs/benchmarks.md).
    hours, rows, waits, talks, cases, median = await asyncio.gather(
        read(select(hour, chose, CallRow.outcome, n).where(inside)
             .group_by(hour, chose, CallRow.outcome)),
        # branches, survey answers and call backs in one pass (a few hundred groups)
        read(select(*grouped, n, attempts).where(inside).group_by(*grouped)),
        read(select(wait, n).where(inside, connected, CallRow.bridged_at.is_not(None))
             .group_by(wait)),
        read(select(talk, n).where(inside, connected, CallRow.bridged_at.is_not(None),
                                   talk_end.is_not(None)).group_by(talk)),
        read(select(CaseRow.agency, CaseRow.status, n)
             .where(CaseRow.opened_at >= since, CaseRow.opened_at < until)
             .group_by(CaseRow.agency, CaseRow.status)),
        callback_median(),
    )
    return PeriodTallies(
        hours=tuple(HourTally(_hour(r.hour), bool(r.chose), _outcome(r.outcome), r.n)
                    for r in hours),
        groups=tuple(GroupTally(key, name, agency, outcome, n)
                     for (key, name, agency, outcome), n in _sums(
                         rows, lambda r: (r.branch_key, r.branch_name, r.agency,
                                          _outcome(r.outcome))).items()),
        wait={int(r.s): r.n for r in waits},
        talk={int(r.s): r.n for r in talks},
        surveys=tuple(SurveyTally(survey, score, n) for (survey, score), n in _sums(
            rows, lambda r: (None if r.survey is None else SurveyResult(r.survey),
                             r.survey_score)).items()),
        callbacks={state: n for (state,), n in _sums(
            [r for r in rows if r.callback in CALLED_BACK],
            lambda r: (Callback(r.callback),)).items()},
        callback_results=_callback_tally(rows, median),
        cases={(r.agency, CaseStatus(r.status)): r.n for r in cases},
    )


def _median_rank(n: int) -> int:
    """The nearest-rank median's rank, ceil(n / 2)."""
    return (n + 1) // 2


def _hour(text: str) -> datetime:
    return datetime.strptime(text, HOUR_FORMAT).replace(tzinfo=UTC)


def _outcome(value: str | None) -> Outcome | None:
    return None if value is None else Outcome(value)


def _sums(rows: Sequence[Any], key: Callable[[Any], tuple[Any, ...]]
          ) -> dict[tuple[Any, ...], int]:
    """The rows' counts summed by `key`."""
    found: dict[tuple[Any, ...], int] = {}
    for row in rows:
        found[key(row)] = found.get(key(row), 0) + row.n
    return found


def _callback_tally(rows: Sequence[Any], median: int | None) -> CallbackTally:
    reached = wrong = attempts = 0
    for r in rows:
        if r.callback not in CALLED_BACK:
            continue
        attempts += int(r.attempts)
        if r.callback == Callback.DONE.value:
            reached += r.n if r.callback_result == "reached" else 0
            wrong += r.n if r.callback_result == "wrong_number" else 0
    return CallbackTally(reached=reached, wrong_number=wrong, attempts=attempts,
                         median_seconds=median)

