"""The period report's data as the database counts it: a few GROUP BY reads instead of
every call of the period (a month of 150,000 calls took 46-51 s as records, see
docs/benchmarks.md).

`PeriodTallies` is what `reports.figures` computes every figure from: calls per UTC hour
(the report maps hours to its local days), per branch and agency as the calls recorded
them, histograms of whole seconds of waiting and talk (also in a branch's queue, by why
the caller left it, and talk by desk), survey answers, call-back states and the cases'
statuses. The definitions are `reports/figures.py`'s; this module only
counts them in SQL, per UTC hour (`count_hours`: additive, so `calllog.rollup` can keep
each hour's counts and add them up), and `tests/integration/test_report_tallies.py`
checks that it counts what the records give.

The dialect-specific expressions of the call log live here (`utc_hour`, `whole_seconds`;
revision 0016's triggers compute the same hour):
SQLite keeps a `UTCDateTime` as text `YYYY-MM-DD HH:MM:SS.ffffff` (naive UTC),
PostgreSQL as `timestamptz`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Executable, Integer, String, and_, func, or_, select
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
    by_result: Mapping[str, int] = field(default_factory=dict)
    """Pending and done calls by their last call back's result (`callback_result`)."""


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
    queue_waits: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    """Why callers left a queue (`queue_result`) -> whole seconds waited -> calls, of the
    calls that joined one and left it (`queue_joined_at` to `queue_left_at`)."""
    queue_connected: Mapping[int, int] = field(default_factory=dict)
    """Whole seconds waited in a queue -> connected calls that had queued."""
    desk_talk: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    """Desk that answered -> whole seconds talked -> connected calls."""


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


# --- counting hours from the calls -----------------------------------------------------

GroupKey = tuple[int | None, str | None, str | None, str | None, str | None, int | None,
                 str | None, str | None]
"""branch_key, branch_name, agency, outcome, survey, survey_score, callback,
callback_result, as stored."""
WAIT, TALK, CALLBACK_TIME = "wait", "talk", "callback"
"""The histograms' kinds: seconds waited and talked by connected calls, and from a call
to the call back that closed it (done calls with the time)."""
QUEUE_CONNECTED = "queue_connected"
"""Seconds waited in a queue by connected calls that queued."""
QUEUE_PREFIX, DESK_PREFIX = "queue:", "desk:"
"""Kinds made of a value: "queue:<queue_result>" (seconds waited in the queue, by why
the caller left it) and "desk:<extension>" (seconds talked, by the desk that answered)."""


@dataclass
class HourCounts:
    """What the report counts, per UTC hour (`YYYY-MM-DD HH`): additive, so any set of
    hours adds up to their period's `PeriodTallies` (`PeriodCounts.add`)."""

    groups: dict[tuple[str, GroupKey], tuple[int, int]] = field(default_factory=dict)
    """(hour, group) -> (calls, call backs made)"""
    durations: dict[tuple[str, str, int], int] = field(default_factory=dict)
    """(hour, kind, whole seconds) -> calls"""
    cases: dict[tuple[str, str | None, str], int] = field(default_factory=dict)
    """(hour of opening, agency, status) -> cases"""


@dataclass
class PeriodCounts:
    """The sums of some hours' counts, what `tallies` turns into `PeriodTallies`."""

    hours: Counter[tuple[str, bool, str | None]] = field(default_factory=Counter)
    """(hour, chose a branch, outcome) -> calls"""
    groups: Counter[GroupKey] = field(default_factory=Counter)
    attempts: Counter[GroupKey] = field(default_factory=Counter)
    durations: Counter[tuple[str, int]] = field(default_factory=Counter)
    cases: Counter[tuple[str | None, str]] = field(default_factory=Counter)

    def add(self, counted: HourCounts, hours: Container[str] | None = None) -> None:
        """Add the counts of `counted` in `hours` (None: all of them)."""
        hours = _EVERY_HOUR if hours is None else hours
        for (hour, group), (calls, attempts) in counted.groups.items():
            if hour in hours:
                self.hours[hour, group[0] is not None, group[3]] += calls
                self.groups[group] += calls
                self.attempts[group] += attempts
        for (hour, kind, seconds), calls in counted.durations.items():
            if hour in hours:
                self.durations[kind, seconds] += calls
        for (hour, agency, status), cases in counted.cases.items():
            if hour in hours:
                self.cases[agency, status] += cases


class _EveryHour:
    def __contains__(self, hour: object) -> bool:
        return True


_EVERY_HOUR = _EveryHour()


async def count_hours(
    sessionmaker: async_sessionmaker[AsyncSession], ranges: Sequence[tuple[datetime, datetime]]
) -> HourCounts:
    """The counts of the calls started, and cases opened, in the `[start, end)` ranges,
    per UTC hour, from the calls and cases themselves."""
    calls_in = or_(*(and_(CallRow.started_at >= as_utc(a, "start"),
                          CallRow.started_at < as_utc(b, "end")) for a, b in ranges))
    cases_in = or_(*(and_(CaseRow.opened_at >= as_utc(a, "start"),
                          CaseRow.opened_at < as_utc(b, "end")) for a, b in ranges))
    connected = and_(CallRow.outcome == Outcome.CONNECTED.value, CallRow.bridged_at.is_not(None))
    n = func.count().label("n")
    hour = utc_hour(CallRow.started_at).label("hour")
    talk_end = func.coalesce(CallRow.talk_ended_at, CallRow.ended_at)
    grouped = (CallRow.branch_key, CallRow.branch_name, CallRow.agency, CallRow.outcome,
               CallRow.survey, CallRow.survey_score, CallRow.callback, CallRow.callback_result)
    attempts = func.coalesce(func.sum(CallRow.callback_attempts), 0).label("attempts")
    queued = and_(CallRow.queue_joined_at.is_not(None), CallRow.queue_left_at.is_not(None))
    waited = whole_seconds(CallRow.queue_joined_at, CallRow.queue_left_at)
    talked = whole_seconds(CallRow.bridged_at, talk_end)
    histograms: dict[str, tuple[Any, Any, Any]] = {
        # kind (or prefix): seconds, which calls, the column whose value ends the kind
        WAIT: (whole_seconds(CallRow.started_at, CallRow.bridged_at), connected, None),
        TALK: (talked, and_(connected, talk_end.is_not(None)), None),
        CALLBACK_TIME: (whole_seconds(CallRow.started_at, CallRow.callback_done_at),
                        and_(CallRow.callback == Callback.DONE.value,
                             CallRow.callback_done_at.is_not(None)), None),
        QUEUE_CONNECTED: (waited, and_(connected, queued), None),
        QUEUE_PREFIX: (waited, and_(queued, CallRow.queue_result.is_not(None)),
                       CallRow.queue_result),
        DESK_PREFIX: (talked, and_(connected, talk_end.is_not(None),
                                   CallRow.desk_answered.is_not(None)),
                      CallRow.desk_answered),
    }

    async def read(query: Executable) -> Sequence[Any]:
        async with sessionmaker() as session:
            return (await session.execute(query)).all()

    def histogram(kind: str) -> Executable:
        seconds, which, by = histograms[kind]
        s = seconds.label("s")
        if by is None:
            return select(hour, s, n).where(calls_in, which).group_by(hour, s)
        value = by.label("value")
        return select(hour, s, n, value).where(calls_in, which).group_by(hour, s, value)

    # Each read goes over the hours' rows: side by side, on connections of their own,
    # they take about the longest one's time instead of the sum (docs/benchmarks.md).
    case_hour = utc_hour(CaseRow.opened_at).label("hour")
    groups, cases, *durations = await asyncio.gather(
        read(select(hour, *grouped, n, attempts).where(calls_in).group_by(hour, *grouped)),
        read(select(case_hour, CaseRow.agency, CaseRow.status, n).where(cases_in)
             .group_by(case_hour, CaseRow.agency, CaseRow.status)),
        *(read(histogram(kind)) for kind in histograms),
    )
    return HourCounts(
        groups={(r.hour, tuple(r[1:9])): (r.n, int(r.attempts)) for r in groups},
        durations={(r.hour, _kind(kind, r), int(r.s)): r.n
                   for kind, rows in zip(histograms, durations, strict=True) for r in rows},
        cases={(r.hour, r.agency, r.status): r.n for r in cases},
    )


def _kind(kind: str, row: Any) -> str:
    return kind + str(row.value) if kind in (QUEUE_PREFIX, DESK_PREFIX) else kind


def tallies(counts: PeriodCounts) -> PeriodTallies:
    """The period's tallies from its counts."""
    groups = [_Group(*key, n=n, attempts=counts.attempts[key])
              for key, n in counts.groups.items()]

    def histogram(kind: str) -> dict[int, int]:
        return {s: n for (k, s), n in counts.durations.items() if k == kind}

    def histograms(prefix: str) -> dict[str, dict[int, int]]:
        found: dict[str, dict[int, int]] = {}
        for (kind, s), n in counts.durations.items():
            if kind.startswith(prefix):
                found.setdefault(kind.removeprefix(prefix), {})[s] = n
        return found

    return PeriodTallies(
        hours=tuple(HourTally(_hour(hour), chose, _outcome(outcome), n)
                    for (hour, chose, outcome), n in sorted(counts.hours.items(),
                                                            key=lambda i: i[0][0])),
        groups=tuple(GroupTally(key, name, agency, outcome, n)
                     for (key, name, agency, outcome), n in _sums(
                         groups, lambda r: (r.branch_key, r.branch_name, r.agency,
                                            _outcome(r.outcome))).items()),
        wait=histogram(WAIT),
        talk=histogram(TALK),
        surveys=tuple(SurveyTally(survey, score, n) for (survey, score), n in _sums(
            groups, lambda r: (None if r.survey is None else SurveyResult(r.survey),
                               r.survey_score)).items()),
        callbacks={state: n for (state,), n in _sums(
            [r for r in groups if r.callback in CALLED_BACK],
            lambda r: (Callback(str(r.callback)),)).items()},
        callback_results=_callback_tally(groups, _median(histogram(CALLBACK_TIME))),
        cases={(agency, CaseStatus(status)): n for (agency, status), n in counts.cases.items()},
        queue_waits=histograms(QUEUE_PREFIX),
        queue_connected=histogram(QUEUE_CONNECTED),
        desk_talk=histograms(DESK_PREFIX),
    )


class _Group(NamedTuple):
    branch_key: int | None
    branch_name: str | None
    agency: str | None
    outcome: str | None
    survey: str | None
    survey_score: int | None
    callback: str | None
    callback_result: str | None
    n: int
    attempts: int


def _median(histogram: Mapping[int, int]) -> int | None:
    """The nearest-rank median, rank ceil(n / 2), of the values `histogram` counts."""
    wanted, seen = (sum(histogram.values()) + 1) // 2, 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= wanted:
            return value
    return None


def _hour(text: str) -> datetime:
    return datetime.strptime(text, HOUR_FORMAT).replace(tzinfo=UTC)


def _outcome(value: str | None) -> Outcome | None:
    return None if value is None else Outcome(value)


def _sums(rows: Sequence[_Group], key: Callable[[_Group], tuple[Any, ...]]
          ) -> dict[tuple[Any, ...], int]:
    """The rows' counts summed by `key`."""
    found: dict[tuple[Any, ...], int] = {}
    for row in rows:
        found[key(row)] = found.get(key(row), 0) + row.n
    return found


def _callback_tally(rows: Sequence[_Group], median: int | None) -> CallbackTally:
    reached = wrong = attempts = 0
    by_result: dict[str, int] = {}
    for r in rows:
        if r.callback not in CALLED_BACK:
            continue
        attempts += int(r.attempts)
        if r.callback_result is not None:
            by_result[r.callback_result] = by_result.get(r.callback_result, 0) + r.n
        if r.callback == Callback.DONE.value:
            reached += r.n if r.callback_result == "reached" else 0
            wrong += r.n if r.callback_result == "wrong_number" else 0
    return CallbackTally(reached=reached, wrong_number=wrong, attempts=attempts,
                         median_seconds=median, by_result=by_result)
