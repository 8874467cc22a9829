"""`hotline report`: the period's figures in Vietnamese as Markdown, CSV or XLSX, with PNGs.

The figures and their definitions are `calllog.report`'s (local Asia/Ho_Chi_Minh days,
`--from`/`--to` inclusive, a call counted on the day it started, nearest-rank
percentiles, ...). Here they are fetched from the call log and written; the layout and
the renderings are in `hotline.report_tables` (the tables), `report_markdown`,
`report_csv`, `report_xlsx` and `report_charts`:

    report.md            the report, charts embedded       (--format md, the default)
    report.csv           every figure, one per line        (--format csv)
    report.xlsx          one sheet per table               (--format xlsx)
    calls-per-day.png, calls-per-branch.png                (always)
    details.csv, details-cases.csv                         (--details: what each figure counts)

Reproducible: the same command on the same database writes the same bytes. Nothing
says when it was generated; rows are in a fixed order; charts are drawn by Agg at a
fixed size and DPI with the bundled DejaVu Sans and no PNG metadata; the XLSX has its
dates set from the period (the first instant after it) and fixed zip entry times.
CSV files are UTF-8 with a BOM (Excel then reads the Vietnamese right).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable
from zoneinfo import ZoneInfo

import structlog

from calllog.db import make_engine, make_sessionmaker, upgrade_async
from calllog.model import CallRecord, Case
from reports.figures import BranchInfo, Report, ReportPeriod, ReportSetup, compute_report
from calllog.store import CallLogStore
from reports.charts import render_charts
from reports.csv_files import render_case_details, render_csv, render_details
from reports.markdown import render_markdown
from reports.tables import report_tables
from reports.xlsx import render_xlsx
from hotline.settings import Settings
from routing.config import HotlineConfig, load_config
from routing.hours import open_state

log = structlog.get_logger(__name__)

FORMATS = ("md", "csv", "xlsx")
FETCH_PAGE = 10_000
_T = TypeVar("_T")
DEFAULT_SURVEY_SCALE = 5


# --- inputs --------------------------------------------------------------------------


class CallSource(Protocol):
    """What the report reads of the call log (`CallLogStore`, `InMemoryCallLog`)."""

    async def list_calls(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = ...
    ) -> Sequence[CallRecord]: ...


@runtime_checkable
class CaseSource(Protocol):
    """A call log that can also list complaint cases (checked at run time: logs from
    before cases were stored have no `list_cases`, and the report then says so)."""

    async def list_cases(
        self, *, since: datetime | None = None, until: datetime | None = None, limit: int = ...
    ) -> Sequence[Case]: ...


def report_setup(config: HotlineConfig, period: ReportPeriod) -> ReportSetup:
    """The plain values the computation needs: branches, each day's note, the scale."""
    calendar = config.calendar()
    zone = ZoneInfo(calendar.timezone)
    notes: dict[date, str] = {}
    closed: set[date] = set()
    for day in period.days():
        state = open_state(calendar, datetime.combine(day, time(12), zone))
        if state.reason in ("holiday", "closed_day"):
            notes[day] = (state.holiday or "Ngày lễ") if state.reason == "holiday" else "Ngày nghỉ"
            closed.add(day)
        elif make_up := next((d for d in calendar.extra_working_days if d.date == day), None):
            notes[day] = f"Làm bù ({make_up.name})"
    return ReportSetup(
        hotline_name=config.hotline.name,
        hotline_number=config.hotline.number,
        branches=tuple(BranchInfo(b.key, b.name, b.agency) for b in config.branches),
        day_notes=notes,
        non_working_days=frozenset(closed),
        timezone=calendar.timezone,
        survey_scale=_survey_scale(config),
    )


def _survey_scale(config: HotlineConfig) -> int:
    """`survey.scale` of the YAML; 5 for a configuration without a survey section."""
    scale = getattr(getattr(config, "survey", None), "scale", None)
    return scale if isinstance(scale, int) else DEFAULT_SURVEY_SCALE


async def fetch_records(
    store: CallSource, period: ReportPeriod, timezone: str
) -> tuple[list[CallRecord], list[Case] | None]:
    """Every call started in the period, and its cases (None if the log has no cases)."""
    since, until = period.bounds(timezone)
    calls = await _all(lambda limit: store.list_calls(since=since, until=until, limit=limit))
    if not isinstance(store, CaseSource):
        return calls, None
    cases = await _all(lambda limit: store.list_cases(since=since, until=until, limit=limit))
    return calls, cases


async def _all(fetch: Callable[[int], Awaitable[Sequence[_T]]]) -> list[_T]:
    """All rows of a listing that takes a limit: asked again with a larger one while full."""
    limit = FETCH_PAGE
    while len(rows := await fetch(limit)) == limit:
        limit *= 4
    return list(rows)


async def load_report(url: str, config: HotlineConfig, period: ReportPeriod) -> Report:
    setup = report_setup(config, period)
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        calls, cases = await fetch_records(
            CallLogStore(make_sessionmaker(engine)), period, setup.timezone
        )
    finally:
        await engine.dispose()
    log.info("report.fetched", calls=len(calls), cases=None if cases is None else len(cases))
    return compute_report(calls, cases, setup, period)


# --- writing and the command ---------------------------------------------------------


def write_report(
    report: Report, out: Path, formats: Sequence[str] = ("md",), *, details: bool = False
) -> list[Path]:
    """Write the report's files into `out` (created); return their paths in order."""
    out.mkdir(parents=True, exist_ok=True)
    tables = report_tables(report)
    files: dict[str, bytes] = {}
    if "md" in formats:
        files["report.md"] = render_markdown(report, tables).encode()
    if "csv" in formats:
        files["report.csv"] = render_csv(tables).encode("utf-8-sig")
    if "xlsx" in formats:
        files["report.xlsx"] = render_xlsx(report, tables)
    files.update(render_charts(report))
    if details:
        files["details.csv"] = render_details(report).encode("utf-8-sig")
        if report.cases is not None:
            files["details-cases.csv"] = render_case_details(report).encode("utf-8-sig")
    for name, data in files.items():
        (out / name).write_bytes(data)
    log.info("report.written", out=str(out), files=sorted(files))
    return [out / name for name in files]


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True,
                        metavar="YYYY-MM-DD", help="first day (local time), included")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True,
                        metavar="YYYY-MM-DD", help="last day (local time), included")
    parser.add_argument("--format", dest="formats", action="append", choices=FORMATS,
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
    report = asyncio.run(load_report(settings.database_url, config, period))
    out = args.out or Path("var/reports") / f"{period.first}_{period.last}"
    for path in write_report(report, out, args.formats or ["md"], details=args.details):
        print(path)
    return 0
