"""Báo cáo: the period report of `hotline report`, as a page, inline charts and downloads.

One implementation: the page reads the period through `CallQueries.period_data` and
builds it with `reports.build_from_data`, exactly as the CLI does (every call of the
period is read only for the downloads that list them); the tables shown are the
report's own (`PeriodReport.tables`), the downloads are `reports.render`'s bytes under
`reports.download_name`.

    GET /reports?from=DAY&to=DAY                    the page (default: this month so far);
                                                    a day is dd/mm/yyyy or yyyy-mm-dd
    GET /reports/chart/{day-chart|branch-chart}     a chart, shown inline
    GET /reports/download/{format}                  md, csv, xlsx, charts, details, zip
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from console.access import Action, require
from console.auth import csrf_token
from console.fmt import local
from console.pages import SECTIONS, sections_for
from reports import (
    DETAILED,
    FORMATS,
    PeriodReport,
    ReportPeriod,
    build_from_data,
    download_name,
    render,
)
from reports.tables import Table, cell_text

if TYPE_CHECKING:
    from console.app import Console

MAX_DAYS = 366
CHARTS = ("day-chart", "branch-chart")
DOWNLOADS = (
    ("md", "Báo cáo (Markdown)"),
    ("csv", "Số liệu (CSV)"),
    ("xlsx", "Bảng tính (Excel)"),
    ("day-chart", "Biểu đồ theo ngày (PNG)"),
    ("branch-chart", "Biểu đồ theo nhánh (PNG)"),
    ("details", "Chi tiết từng cuộc gọi (CSV)"),
    ("zip", "Tất cả (ZIP)"),
)
SECTION = next(s for s in SECTIONS if s.path == "/reports")

log = structlog.get_logger("console.reports")


class BadPeriod(ValueError):
    """The period asked for cannot be reported: the Vietnamese message says why."""


@dataclass(frozen=True)
class ShownTable:
    title: str
    columns: tuple[str, ...]
    rows: list[list[tuple[str, bool]]]
    """Each cell's text and whether it is a number (right-aligned)."""


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def month_of(day: date) -> ReportPeriod:
    first = day.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return ReportPeriod(first, last)


def parse_day(text: str) -> date:
    """A day as people type it (dd/mm/yyyy) or as the links carry it (yyyy-mm-dd)."""
    text = text.strip()
    if "/" in text:
        return datetime.strptime(text, "%d/%m/%Y").date()
    return date.fromisoformat(text)


def asked_period(request: Request, today: date) -> ReportPeriod:
    """The period in the query (`from`, `to`), this month so far by default."""
    first, last = request.query_params.get("from"), request.query_params.get("to")
    if not first and not last:
        return ReportPeriod(today.replace(day=1), today)
    try:
        period = ReportPeriod(parse_day(first or ""), parse_day(last or ""))
    except ValueError as exc:
        message = ("Ngày kết thúc trước ngày bắt đầu." if "before" in str(exc) else
                   "Vui lòng chọn cả ngày bắt đầu và ngày kết thúc (dd/mm/yyyy).")
        raise BadPeriod(message) from exc
    if (period.last - period.first).days + 1 > MAX_DAYS:
        raise BadPeriod(f"Kỳ báo cáo dài nhất {MAX_DAYS} ngày.")
    return period


def period_query(period: ReportPeriod) -> str:
    return urlencode({"from": period.first.isoformat(), "to": period.last.isoformat()})


async def period_report(
    console: Console, period: ReportPeriod, *, details: bool = False
) -> PeriodReport:
    """The report `hotline report --from --to` makes, from the same read; every call and
    case of the period only with `details` (the page and most files need the figures)."""
    if console.queries is None:
        raise RuntimeError("the console has no call log")
    since, until = period.bounds(console.config.calendar().timezone)
    data = await console.queries.period_data(since=since, until=until, details=details,
                                             now=console.clock.now())
    return build_from_data(data, period, console.config)


def shown(table: Table) -> ShownTable:
    return ShownTable(table.title, table.columns, [
        [(cell_text(cell), not isinstance(cell, str)) for cell in row] for row in table.rows])


async def reports_page(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_REPORTS)
    today = local(console.clock.now()).date()
    this_month = month_of(today)
    last_month = month_of(this_month.first - timedelta(days=1))

    def page(status: int = 200, **extra: object) -> Response:
        return console.render(
            request, "reports.html", status, user=user, section=SECTION,
            sections=sections_for(user), csrf=csrf_token(request),
            this_month=period_query(this_month), last_month=period_query(last_month), **extra)

    try:
        period = asked_period(request, today)
    except BadPeriod as exc:
        return page(400, error=str(exc), report=None,
                    first=request.query_params.get("from", ""),
                    last=request.query_params.get("to", ""))
    report = await period_report(console, period)
    query = period_query(period)
    return page(
        report=report, tables=[shown(t) for t in report.tables],
        first=period.first.strftime("%d/%m/%Y"), last=period.last.strftime("%d/%m/%Y"),
        charts=[(f"/reports/chart/{name}?{query}", FORMATS[name].filename) for name in CHARTS],
        downloads=[(f"/reports/download/{fmt}?{query}", label) for fmt, label in DOWNLOADS])


async def _file(request: Request, *, attachment: bool) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_REPORTS)
    fmt = request.path_params["fmt"]
    if fmt not in FORMATS or (not attachment and fmt not in CHARTS):
        return Response("Không có định dạng này.", 404, media_type="text/plain; charset=utf-8")
    try:
        period = asked_period(request, local(console.clock.now()).date())
    except BadPeriod as exc:
        return Response(str(exc), 400, media_type="text/plain; charset=utf-8")
    report = await period_report(console, period, details=fmt in DETAILED)
    # Charts and the XLSX take tens of milliseconds of CPU: off the event loop.
    data = await asyncio.to_thread(render, report, fmt)
    name = download_name(report, fmt)
    log.info("report file", fmt=fmt, first=str(period.first), last=str(period.last),
             username=user.username, attachment=attachment)
    disposition = "attachment" if attachment else "inline"
    return Response(data, media_type=FORMATS[fmt].media_type, headers={
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "Cache-Control": "private, no-store"})


async def chart(request: Request) -> Response:
    return await _file(request, attachment=False)


async def download(request: Request) -> Response:
    return await _file(request, attachment=True)


def routes() -> list[BaseRoute]:
    return [
        Route("/reports", reports_page, name="reports"),
        Route("/reports/chart/{fmt}", chart, name="report_chart"),
        Route("/reports/download/{fmt}", download, name="report_download"),
    ]
