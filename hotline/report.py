"""`hotline report`: the period's figures in Vietnamese as Markdown, CSV or XLSX, with PNGs.

The command's part only: its arguments, reading the period's calls, cases and call backs
through the call log's query side (`CallQueries.period_data`: the tallies the database
counts, and every call only with `--details`; the read the console makes too), and
writing the files. The figures, their definitions (local Asia/Ho_Chi_Minh days,
`--from`/`--to` inclusive, a call counted on the day it started, nearest-rank percentiles,
...) and every rendering are the `reports` package's, the same code the console calls:

    report.md            the report, charts embedded       (--format md, the default)
    report.csv           every figure, one per line        (--format csv)
    report.xlsx          one sheet per table               (--format xlsx)
    calls-per-day.png, calls-per-branch.png                (always)
    details.csv, details-cases.csv                         (--details: what each figure counts)

Reproducible: the same command on the same database writes the same bytes (see
`reports/__init__.py` for how).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import structlog

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.queries import CallQueries
from hotline.settings import Settings
from reports import DOCUMENTS, PeriodReport, ReportPeriod, build_from_data, files
from routing.config import HotlineConfig, load_config

log = structlog.get_logger(__name__)


# --- inputs --------------------------------------------------------------------------


async def load_report(
    url: str, config: HotlineConfig, period: ReportPeriod, *, details: bool = True
) -> PeriodReport:
    """The period's report from the database at `url` (migrated first), read the way the
    console reads it (`CallQueries.period_data`); without `details`, its figures only
    (the database counts them), no per-call rows."""
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        since, until = period.bounds(config.calendar().timezone)
        data = await CallQueries(make_sessionmaker(engine)).period_data(
            since=since, until=until, details=details)
    finally:
        await engine.dispose()
    tallies = data.tallies
    log.info("report.fetched", calls=sum(t.calls for t in tallies.hours),
             cases=sum((tallies.cases or {}).values()), details=details)
    return build_from_data(data, period, config)


# --- writing and the command ---------------------------------------------------------


def write_report(
    report: PeriodReport, out: Path, formats: Sequence[str] = ("md",), *, details: bool = False
) -> list[Path]:
    """Write the report's files (`reports.files`) into `out` (created); return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = files(report, formats, details=details)
    for name, data in written.items():
        (out / name).write_bytes(data)
    log.info("report.written", out=str(out), files=sorted(written))
    return [out / name for name in written]


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True,
                        metavar="YYYY-MM-DD", help="first day (local time), included")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True,
                        metavar="YYYY-MM-DD", help="last day (local time), included")
    parser.add_argument("--format", dest="formats", action="append", choices=DOCUMENTS,
                        help="md (default), csv or xlsx; repeat for several")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory to write into (default var/reports/FROM_TO)")
    parser.add_argument("--details", action="store_true",
                        help="also write details.csv: one line per call counted")


def report_command(args: argparse.Namespace, settings: Settings) -> int:
    """`hotline report`: print the files written, one per line."""
    if args.last < args.first:
        print(f"--to {args.last} is before --from {args.first}", file=sys.stderr)
        return 2
    period = ReportPeriod(args.first, args.last)
    config = load_config(settings.config)
    report = asyncio.run(load_report(settings.database_url, config, period,
                                     details=args.details))
    out = args.out or Path("var/reports") / f"{period.first}_{period.last}"
    for path in write_report(report, out, args.formats or ["md"], details=args.details):
        print(path)
    return 0
