"""The period report's tallies, kept per UTC hour in the database (revision 0014).

A month's report counted from its calls reads the month's 150,000 rows several times
(0.3-0.6 s on a year of calls, docs/benchmarks.md). Here each UTC hour's counts
(`calllog.period.HourCounts`: calls by group, histograms of seconds, cases) are stored
once counted, and a report adds up the stored hours: about 700 hours of small rows.

Freshness is the database's: triggers on `calls` and `cases` (revision 0014) bump
`report_hours.version` of the hour(s) a write touches, whoever writes. An hour's stored
counts are good while `counted = version`; a report recounts the hours that are not
(changed since, or never counted: no row at all) from the calls, and stores them if
their version did not move in the meantime. A write that lands during the recount
bumps the version, so the hour stays stale and the next report counts it again; this
report then uses what it counted, like any report that starts a moment earlier.

The current hour is stale after nearly every call's write, and is simply recounted:
a few hundred rows at most.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Executable,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import as_utc
from calllog.period import (
    HOUR_FORMAT,
    GroupKey,
    HourCounts,
    PeriodCounts,
    PeriodTallies,
    count_hours,
    tallies,
)
from calllog.tables import ReportCaseRow, ReportDurationRow, ReportGroupRow, ReportHourRow

HOUR = timedelta(hours=1)
STORE_HOURS = 168
"""Hours stored per transaction: a week's, so that a first count of a long period does
not hold SQLite's write lock for long."""

_hours = cast(Table, ReportHourRow.__table__)
_groups = cast(Table, ReportGroupRow.__table__)
_durations = cast(Table, ReportDurationRow.__table__)
_cases = cast(Table, ReportCaseRow.__table__)
_GROUP_COLUMNS = ("branch_key", "branch_name", "agency", "outcome", "survey", "survey_score",
                  "callback", "callback_result")


async def period_tallies(
    sessionmaker: async_sessionmaker[AsyncSession], *, since: datetime, until: datetime
) -> PeriodTallies:
    """The tallies of the calls started in `since <= started_at < until` and the cases
    opened in it. Bounds on whole UTC hours (a report's local days, in a zone a whole
    number of hours from UTC) use the stored hours; others are counted from the calls."""
    since, until = as_utc(since, "since"), as_utc(until, "until")
    counts = PeriodCounts()
    if not (_whole_hour(since) and _whole_hour(until)):
        counts.add(await count_hours(sessionmaker, [(since, until)]))
        return tallies(counts)
    if until <= since:
        return tallies(counts)
    first, end = _key(since), _key(until)
    async with sessionmaker() as session:
        states = {r.hour: (r.version, r.counted) for r in await session.execute(
            select(_hours.c.hour, _hours.c.version, _hours.c.counted)
            .where(_hours.c.hour >= first, _hours.c.hour < end))}
    stale: dict[str, int | None] = {}
    hour = since
    while hour < until:
        state = states.get(key := _key(hour))
        if state is None or state[0] != state[1]:
            stale[key] = None if state is None else state[0]
        hour += HOUR
    fresh, unstored = HourCounts(), set[str]()
    if stale:
        fresh = await count_hours(sessionmaker, _ranges(sorted(stale)))
        keys = sorted(stale)
        stored: set[str] = set()
        for i in range(0, len(keys), STORE_HOURS):
            chunk = {k: stale[k] for k in keys[i:i + STORE_HOURS]}
            stored |= await _store(sessionmaker, fresh, chunk)
        unstored = set(stale) - stored
    counts = await _stored_counts(sessionmaker, first, end, excluding=unstored)
    counts.add(fresh, unstored)
    return tallies(counts)


async def _store(
    sessionmaker: async_sessionmaker[AsyncSession], counted: HourCounts,
    versions: dict[str, int | None],
) -> set[str]:
    """Store the counts of the hours in `versions` whose version is still the one read
    before counting (None: no row yet), and mark them counted; returns those hours."""
    present = {h: v for h, v in versions.items() if v is not None}
    absent = [h for h, v in versions.items() if v is None]
    async with sessionmaker.begin() as session:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql" and present:
            # Hours a writer holds now are about to change: leave them stale rather
            # than wait for the writer (and never deadlock with one).
            locked = set(await session.scalars(
                select(_hours.c.hour).where(_hours.c.hour.in_(list(present)))
                .with_for_update(skip_locked=True)))
            present = {h: v for h, v in present.items() if h in locked}
        # On SQLite this first write takes the write lock: what the select below reads
        # then stays true until the commit.
        if present:
            await session.execute(
                update(_hours).where(_hours.c.hour == bindparam("h"),
                                     _hours.c.version == bindparam("v"))
                .values(counted=_hours.c.version),
                [{"h": h, "v": v} for h, v in present.items()])
        if absent:
            dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            await session.execute(
                dialect_insert(_hours).on_conflict_do_nothing(index_elements=["hour"]),
                [{"hour": h, "version": 0, "counted": 0} for h in absent])
        mine = {r.hour for r in await session.execute(
            select(_hours.c.hour, _hours.c.version, _hours.c.counted)
            .where(_hours.c.hour.in_([*present, *absent])))
            if r.counted == r.version == (versions[r.hour] or 0)}
        if not mine:
            return mine
        for table in (_groups, _durations, _cases):
            await session.execute(delete(table).where(table.c.hour.in_(mine)))
        await _insert(session, _groups, [
            {"hour": hour, **dict(zip(_GROUP_COLUMNS, group, strict=True)),
             "calls": calls, "attempts": attempts}
            for (hour, group), (calls, attempts) in counted.groups.items() if hour in mine])
        await _insert(session, _durations, [
            {"hour": hour, "kind": kind, "seconds": seconds, "calls": calls}
            for (hour, kind, seconds), calls in counted.durations.items() if hour in mine])
        await _insert(session, _cases, [
            {"hour": hour, "agency": agency, "status": status, "cases": cases}
            for (hour, agency, status), cases in counted.cases.items() if hour in mine])
    return mine


async def _insert(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(table), rows)


async def _stored_counts(
    sessionmaker: async_sessionmaker[AsyncSession], first: str, end: str, *,
    excluding: set[str],
) -> PeriodCounts:
    """The stored counts of the hours `first <= hour < end`, but `excluding`."""

    def within(table: Table) -> ColumnElement[bool]:
        inside = and_(table.c.hour >= first, table.c.hour < end)
        return and_(inside, table.c.hour.not_in(excluding)) if excluding else inside

    async def read(query: Executable) -> Sequence[Any]:
        async with sessionmaker() as session:
            return (await session.execute(query)).all()

    chose = _groups.c.branch_key.is_not(None).label("chose")
    group_columns = [_groups.c[name] for name in _GROUP_COLUMNS]
    calls = func.sum(_groups.c.calls).label("calls")
    hours, groups, durations, cases = await asyncio.gather(
        read(select(_groups.c.hour, chose, _groups.c.outcome, calls).where(within(_groups))
             .group_by(_groups.c.hour, chose, _groups.c.outcome)),
        read(select(*group_columns, calls, func.sum(_groups.c.attempts).label("attempts"))
             .where(within(_groups)).group_by(*group_columns)),
        read(select(_durations.c.kind, _durations.c.seconds,
                    func.sum(_durations.c.calls).label("calls"))
             .where(within(_durations)).group_by(_durations.c.kind, _durations.c.seconds)),
        read(select(_cases.c.agency, _cases.c.status, func.sum(_cases.c.cases).label("cases"))
             .where(within(_cases)).group_by(_cases.c.agency, _cases.c.status)),
    )
    counts = PeriodCounts()
    for r in hours:
        counts.hours[r.hour, bool(r.chose), r.outcome] += int(r.calls)
    for r in groups:
        key = cast(GroupKey, tuple(r[:8]))
        counts.groups[key] += int(r.calls)
        counts.attempts[key] += int(r.attempts)
    for r in durations:
        counts.durations[r.kind, int(r.seconds)] += int(r.calls)
    for r in cases:
        counts.cases[r.agency, r.status] += int(r.cases)
    return counts


def _whole_hour(t: datetime) -> bool:
    return t.minute == t.second == t.microsecond == 0


def _key(t: datetime) -> str:
    return t.astimezone(UTC).strftime(HOUR_FORMAT)


def _ranges(hours: Sequence[str]) -> list[tuple[datetime, datetime]]:
    """Sorted hour keys as `[start, end)` ranges, consecutive hours merged."""
    ranges: list[tuple[datetime, datetime]] = []
    for key in hours:
        start = datetime.strptime(key, HOUR_FORMAT).replace(tzinfo=UTC)
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], start + HOUR)
        else:
            ranges.append((start, start + HOUR))
    return ranges
