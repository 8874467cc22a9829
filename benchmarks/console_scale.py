"""The console's reads on a year of calls (issue 15): p50/p95 of what its pages ask.

    .venv/bin/python -m benchmarks.console_scale               # a year, SQLite and PostgreSQL
    .venv/bin/python -m benchmarks.console_scale --days 30 --backend sqlite
    .venv/bin/python -m benchmarks.console_scale --sqlite-db var/bench/year.db --reuse

Generates `--days` days of `--per-day` calls (default 365 x 5,000: about 1.8 M calls,
13 M events, 70,000 cases; `benchmarks/scale_data.py`, from the synthetic month's
generator), written in bulk into a migrated SQLite file and a throw-away PostgreSQL
cluster (`tests/pg.py`; or `--pg-url` for a server of your own, which it fills), then
times, through `calllog.queries.CallQueries` as the console calls it:

    search ...     the calls page's first page (50 calls and the total, counted up to
                   the console's cap of 10,000) for a few filters
    call page      `call(id)` + `earlier_calls(id)` of a random call
    call-backs     the first page of pending call backs, oldest first, with the total
    month report   the report's read (`CallQueries.period_data`, its tallies) and
                   `reports.build_from_data` for the last whole month generated, what
                   the console's page and `hotline report` without --details do: its
                   first time (counting the month's hours, revision 0014), then again,
                   then again with one call saved before each run (one hour to recount)

Each is run `--runs` times after one warm-up (the report `--report-runs` times);
prints p50 and p95 (nearest rank) in milliseconds, and asserts nothing. The target
(issue 15) is p95 under 300 ms each.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from benchmarks.scale_data import Counter, generate, write_postgres, write_sqlite
from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.queries import CallFilter, CallQueries
from calllog.store import CallLogStore
from console.call_search import COUNT_CAP
from reports import ReportPeriod, build_from_data
from routing.config import HotlineConfig, load_config
from routing.deadlines import callback_overdue_at

REPO = Path(__file__).resolve().parents[1]
FIRST_DAY = date(2025, 12, 1)


@dataclass(frozen=True)
class Timing:
    name: str
    samples: list[float]

    def rank(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


async def timed(name: str, runs: int, step: Callable[[int], Awaitable[object]]) -> Timing:
    await step(-1)  # warm-up: connections, statement caches
    samples = []
    for run in range(runs):
        began = time.perf_counter()
        await step(run)
        samples.append((time.perf_counter() - began) * 1000)
    return Timing(name, samples)


async def measure(url: str, config: HotlineConfig, first: date, days: int, runs: int,
                  report_runs: int, report_only: bool = False) -> list[Timing]:
    began = time.perf_counter()
    await upgrade_async(url)  # a reused database gets the newest indexes and tables
    print(f"migrations: {time.perf_counter() - began:.1f} s", flush=True)
    engine = make_engine(url)
    zone = ZoneInfo(config.calendar().timezone)
    end = datetime.combine(first + timedelta(days=days), datetime.min.time(), zone)
    month_start = end - timedelta(days=30)
    queries = CallQueries(make_sessionmaker(engine))
    rng = random.Random(7)
    try:
        sample = await _sample_calls(queries, first, days, zone, rng)
        station = next(c.caller_number for c in sample if c.caller_agency)
        searches = {
            "search: no filter": CallFilter(),
            "search: last 30 days": CallFilter(since=month_start, until=end),
            "search: a number (a station's)": CallFilter(number=station),
            "search: number prefix 0912": CallFilter(number="0912", number_prefix=True),
            "search: branch 4, last 30 days": CallFilter(since=month_start, until=end,
                                                         branch_key=4),
            "search: agency Sở Tư pháp": CallFilter(agency="Sở Tư pháp"),
            "search: outcome missed, 30 days": CallFilter(
                since=month_start, until=end, outcome="desk_unreachable"),
        }
        timings: list[Timing] = []
        if report_only:
            searches = {}
        for name, filters in searches.items():
            timings.append(await timed(
                name, runs, lambda _, f=filters: queries.search_calls(  # type: ignore[misc]
                    f, count_cap=COUNT_CAP)))

        async def call_page(run: int) -> None:
            call_id = sample[run % len(sample)].call_id
            await queries.call(call_id)
            await queries.earlier_calls(call_id)

        overdue_at = callback_overdue_at(config)
        if not report_only:
            timings.append(await timed("call page + earlier calls", runs, call_page))
            timings.append(await timed("pending call-backs, first page", runs,
                                       lambda _: queries.pending_callbacks(
                                           now=end, overdue_at=overdue_at)))
        if report_runs == 0:
            return timings
        last = (end - timedelta(days=1)).date()
        month_first = last.replace(day=1)
        if (last + timedelta(days=1)).day != 1:  # the last whole month
            last = month_first - timedelta(days=1)
            month_first = last.replace(day=1)
        if month_first < first:  # fewer days than that: all of them
            month_first, last = first, (end - timedelta(days=1)).date()
        period = ReportPeriod(month_first, last)
        since, until = period.bounds(config.calendar().timezone)
        fetched: list[float] = []

        async def month_report(_: int) -> None:
            began = time.perf_counter()
            data = await queries.period_data(since=since, until=until)
            fetched.append((time.perf_counter() - began) * 1000)
            build_from_data(data, period, config)

        # The first report after revision 0014 counts and stores every hour of the month
        # (`calllog.rollup`); the next ones recount only the hours written since.
        began = time.perf_counter()
        await month_report(-1)
        timings.append(Timing("month report, first run (counts uncounted hours)",
                              [(time.perf_counter() - began) * 1000]))
        fetched.clear()
        timings.append(await timed(f"month report {period.first}..{period.last}", report_runs,
                                   month_report))
        timings.append(Timing("  of which the data fetch", fetched[1:]))
        month = await queries.search_calls(CallFilter(since=since, until=until), limit=200)
        store = CallLogStore(make_sessionmaker(engine))

        written: list[float] = []
        for run in range(-1, report_runs):  # -1: the warm-up
            call = month.items[run % len(month.items)].call
            await store.save(replace(call, survey_score=1 + run % 5))  # not timed
            began = time.perf_counter()
            await month_report(run)
            written.append((time.perf_counter() - began) * 1000)
        timings.append(Timing("month report, 1 hour written before each", written[1:]))
        return timings
    finally:
        await engine.dispose()


async def _sample_calls(queries: CallQueries, first: date, days: int, zone: ZoneInfo,
                        rng: random.Random) -> list[object]:
    """A few hundred calls from random days (for the call page), station callers included."""
    sample: list[object] = []
    for _ in range(8):
        day = first + timedelta(days=rng.randrange(days))
        since = datetime.combine(day, datetime.min.time(), zone)
        page = await queries.search_calls(CallFilter(since=since + timedelta(hours=8),
                                                     until=since + timedelta(hours=17)))
        sample += [v.call for v in page.items]
    rng.shuffle(sample)
    return sample


def fill(backend: str, url: str, config: HotlineConfig, days: int, per_day: int,
         seed: int) -> Counter:
    began = time.perf_counter()
    asyncio.run(upgrade_async(url))
    batches = generate(config, FIRST_DAY, days, per_day, seed)
    if backend == "sqlite":
        counter = write_sqlite(url.removeprefix("sqlite+aiosqlite:///"), batches)
    else:
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        counter = asyncio.run(write_postgres(dsn, batches))
    seconds = time.perf_counter() - began
    print(f"{backend}: generated and wrote {counter.calls:,} calls, {counter.events:,} events, "
          f"{counter.cases:,} cases, {counter.changes:,} case changes in {seconds:.0f} s "
          f"({counter.calls / seconds:,.0f} calls/s)", flush=True)
    return counter


def report(backend: str, timings: list[Timing]) -> None:
    print(f"\n{backend}")
    print(f"{'query':44} {'p50 ms':>8} {'p95 ms':>8} {'runs':>5}")
    for t in timings:
        mark = "" if t.rank(0.95) < 300 else "  > 300"
        print(f"{t.name:44} {t.rank(0.5):8.1f} {t.rank(0.95):8.1f} {len(t.samples):5}{mark}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--report-runs", type=int, default=5,
                        help="0: no month report (it takes long)")
    parser.add_argument("--report-only", action="store_true",
                        help="time the month report only, not the searches and pages")
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument("--config", type=Path, default=REPO / "config" / "hotline.yaml")
    parser.add_argument("--sqlite-db", type=Path, default=None,
                        help="the SQLite file (default var/bench/console-scale-<days>d.db)")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the existing --sqlite-db / --pg-url without generating")
    parser.add_argument("--pg-url", default=None,
                        help="postgresql+asyncpg://... of an empty database to fill "
                             "(default: a throw-away cluster)")
    parser.add_argument("--pg-dir", type=Path, default=None,
                        help="keep the cluster in this directory (e.g. var/bench/pg-365d) "
                             "instead of throwing it away, for --reuse")
    args = parser.parse_args(argv)
    if args.pg_dir and (args.pg_dir / "data").exists() and not args.reuse:
        parser.error(f"{args.pg_dir} holds a cluster already: --reuse it, or remove it")
    config = load_config(args.config)
    for backend in args.backend or ["sqlite", "postgresql"]:
        if backend == "sqlite":
            path = args.sqlite_db or REPO / "var" / "bench" / f"console-scale-{args.days}d.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite+aiosqlite:///{path}"
            if not args.reuse:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                fill(backend, url, config, args.days, args.per_day, args.seed)
            _measure_and_print(backend, url, config, args)
        elif args.pg_url:
            if not args.reuse:
                fill(backend, args.pg_url, config, args.days, args.per_day, args.seed)
            _measure_and_print(backend, args.pg_url, config, args)
        else:
            from tests.pg import StoppablePostgres, pg_bindir

            cluster = StoppablePostgres(pg_bindir(), args.pg_dir)
            try:
                cluster.start()
                if not (args.reuse and args.pg_dir):
                    fill(backend, cluster.url, config, args.days, args.per_day, args.seed)
                _measure_and_print(backend, cluster.url, config, args)
            finally:
                if args.pg_dir:
                    if cluster.running:
                        cluster.stop()
                else:
                    cluster.destroy()
    return 0


def _measure_and_print(backend: str, url: str, config: HotlineConfig,
                       args: argparse.Namespace) -> None:
    timings = asyncio.run(measure(url, config, FIRST_DAY, args.days, args.runs,
                                  args.report_runs, args.report_only))
    report(f"{backend}, {args.days} days x {args.per_day} calls "
           f"({datetime.now(UTC):%Y-%m-%d})", timings)


if __name__ == "__main__":
    raise SystemExit(main())
