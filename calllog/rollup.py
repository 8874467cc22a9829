"""The period report's tallies, kept per UTC hour in the database (revision 0016).

A month's report counted from its calls reads the month's 150,000 rows several times
(0.3-0.6 s on a year of calls, docs/benchmarks.md). Here each UTC hour's counts
(`calllog.period.HourCounts`: calls by group, histograms of seconds, cases) are stored
once counted, one JSON text per hour (`report_counts`), and a report adds up the stored
hours: a month is 720-744 rows. (As rows of their own, a month's groups and histograms
were 80,000 rows, and SQLite's GROUP BY over them took about as long as the calls' own.)

Freshness is the database's: triggers on `calls` and `cases` (revision 0016) bump
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

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
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
from calllog.tables import ReportCountsRow, ReportHourRow

HOUR = timedelta(hours=1)
STORE_HOURS = 168
"""Hours stored per transaction: a week's, so that a first count of a long period does
not hold SQLite's write lock for long."""

_hours = cast(Table, ReportHourRow.__table__)
_counts = cast(Table, ReportCountsRow.__table__)


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
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
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
            await session.execute(
                dialect_insert(_hours).on_conflict_do_nothing(index_elements=["hour"]),
                [{"hour": h, "version": 0, "counted": 0} for h in absent])
        mine = {r.hour for r in await session.execute(
            select(_hours.c.hour, _hours.c.version, _hours.c.counted)
            .where(_hours.c.hour.in_([*present, *absent])))
            if r.counted == r.version == (versions[r.hour] or 0)}
        if mine:
            stmt = dialect_insert(_counts)
            await session.execute(
                stmt.on_conflict_do_update(index_elements=["hour"],
                                           set_={"counts": stmt.excluded.counts}),
                [{"hour": hour, "counts": text} for hour, text in _as_json(counted, mine)])
    return mine


def _as_json(counted: HourCounts, hours: set[str]) -> list[tuple[str, str]]:
    """Each of `hours` with its counts as JSON: {"g": [[group..., calls, attempts]],
    "d": {kind: [[seconds, calls]]}, "c": [[agency, status, cases]]}."""
    each: dict[str, dict[str, Any]] = {h: {"g": [], "d": {}, "c": []} for h in hours}
    for (hour, group), (calls, attempts) in counted.groups.items():
        if hour in each:
            each[hour]["g"].append([*group, calls, attempts])
    for (hour, kind, seconds), calls in counted.durations.items():
        if hour in each:
            each[hour]["d"].setdefault(kind, []).append([seconds, calls])
    for (hour, agency, status), cases in counted.cases.items():
        if hour in each:
            each[hour]["c"].append([agency, status, cases])
    return [(hour, json.dumps(data, ensure_ascii=False, separators=(",", ":")))
            for hour, data in sorted(each.items())]


async def _stored_counts(
    sessionmaker: async_sessionmaker[AsyncSession], first: str, end: str, *,
    excluding: set[str],
) -> PeriodCounts:
    """The stored counts of the hours `first <= hour < end`, but `excluding`."""
    query = select(_counts.c.hour, _counts.c.counts).where(
        _counts.c.hour >= first, _counts.c.hour < end)
    if excluding:
        query = query.where(_counts.c.hour.not_in(excluding))
    async with sessionmaker() as session:
        rows = (await session.execute(query)).all()
    # Plain dicts and local names: a month is some 80,000 entries to add up.
    hours: dict[tuple[str, bool, str | None], int] = {}
    groups: dict[tuple[Any, ...], tuple[int, int]] = {}
    durations: dict[str, dict[int, int]] = {}
    cases: dict[tuple[str | None, str], int] = {}
    for hour, text in rows:
        data = json.loads(text)
        for entry in data["g"]:
            key, n = tuple(entry[:8]), entry[8]
            by_hour = (hour, key[0] is not None, key[3])
            hours[by_hour] = hours.get(by_hour, 0) + n
            calls, made = groups.get(key, (0, 0))
            groups[key] = (calls + n, made + entry[9])
        for kind, pairs in data["d"].items():
            histogram = durations.setdefault(kind, {})
            get = histogram.get
            for seconds, n in pairs:
                histogram[seconds] = get(seconds, 0) + n
        for agency, status, n in data["c"]:
            cases[agency, status] = cases.get((agency, status), 0) + n
    counts = PeriodCounts(hours=Counter(hours), cases=Counter(cases))
    for key, (calls, made) in groups.items():
        counts.groups[cast(GroupKey, key)] = calls
        counts.attempts[cast(GroupKey, key)] = made
    for kind, histogram in durations.items():
        counts.durations.update({(kind, seconds): n for seconds, n in histogram.items()})
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
