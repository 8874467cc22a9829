"""Báo cáo in the console, in process, on real SQLite and PostgreSQL: the page shows the
figures `hotline report` writes for the same data (one read, one build), each download
has its content type and file name, the charts are served inline, and only the roles
that may read reports get them."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
import pytest

from calllog.db import make_engine, make_sessionmaker
from calllog.queries import CallQueries
from calllog.users import Role, UserStore
from console.app import create_app
from hotline.report import load_report
from reports import FORMATS, PeriodReport, ReportPeriod, download_name, render
from reports.tables import cell_text
from scripts import synthetic_month
from tests.clock import FakeClock
from tests.console_client import SECRET, add_user, client, hotline_config, log_in

SEPTEMBER = ReportPeriod(date(2026, 9, 1), date(2026, 9, 30))
QUERY = "from=2026-09-01&to=2026-09-30"
NOW = datetime(2026, 10, 14, 3, 0, tzinfo=UTC)  # Wednesday 14/10/2026 10:00 in Vietnam


@pytest.fixture
async def console(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The console over the call log at `db_url`, with a user of each role."""
    config = hotline_config()
    engine = make_engine(db_url)
    clock = FakeClock(NOW)
    try:
        sessions = make_sessionmaker(engine)
        users = UserStore(sessions)
        for name, role, agency in (("admin", Role.ADMIN, None), ("op", Role.OPERATOR, None),
                                   ("xem", Role.VIEWER, None),
                                   ("tc", Role.AGENCY, "Sở Tài chính")):
            await add_user(users, clock, name, role, agency)
        app = create_app(users=users, config=config, clock=clock, secret=SECRET,
                         queries=CallQueries(sessions))
        async with client(app) as http:
            yield http
    finally:
        await engine.dispose()


@pytest.fixture
async def cli_report(db_url: str, console: httpx.AsyncClient) -> PeriodReport:
    """The synthetic September (docs/example-report) stored, and what `hotline report
    --from 2026-09-01 --to 2026-09-30` builds from it."""
    calls, cases = synthetic_month.synthetic_month(
        hotline_config(), SEPTEMBER.first, SEPTEMBER.last, seed=2026)
    await synthetic_month.fill(db_url, calls, cases)
    return await load_report(db_url, hotline_config(), SEPTEMBER)


def _table_rows(page: str) -> list[list[str]]:
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return rows


async def test_the_page_shows_the_figures_the_cli_report_gives(
    console: httpx.AsyncClient, cli_report: PeriodReport,
) -> None:
    await log_in(console, "xem")
    page = await console.get(f"/reports?{QUERY}")
    assert page.status_code == 200
    assert "từ ngày 01/09/2026 đến ngày 30/09/2026" in page.text
    shown = _table_rows(page.text)
    expected: list[list[str]] = []
    for table in cli_report.tables:
        assert html.escape(table.title) in page.text
        expected.append(list(table.columns))
        expected += [[cell_text(c) for c in row] for row in table.rows]
    assert shown == expected
    assert cli_report.figures.callbacks.results is not None
    assert cli_report.figures.total.received == 426


async def test_this_month_so_far_is_the_default_and_quick_links_name_the_months(
    console: httpx.AsyncClient,
) -> None:
    await log_in(console, "op")
    page = await console.get("/reports")
    assert page.status_code == 200
    assert "từ ngày 01/10/2026 đến ngày 14/10/2026" in page.text
    assert 'href="/reports?from=2026-10-01&amp;to=2026-10-31">Tháng này' in page.text
    assert 'href="/reports?from=2026-09-01&amp;to=2026-09-30">Tháng trước' in page.text


async def test_days_typed_as_dd_mm_yyyy_give_the_same_report(
    console: httpx.AsyncClient,
) -> None:
    await log_in(console, "op")
    page = await console.get("/reports", params={"from": "01/09/2026", "to": "30/09/2026"})
    assert page.status_code == 200
    assert "từ ngày 01/09/2026 đến ngày 30/09/2026" in page.text
    assert 'name="from" value="01/09/2026"' in page.text
    wrong = await console.get("/reports", params={"from": "31/02/2026", "to": "30/09/2026"})
    assert wrong.status_code == 400
    assert "dd/mm/yyyy" in wrong.text


async def test_a_period_ending_before_it_starts_is_refused_in_vietnamese(
    console: httpx.AsyncClient,
) -> None:
    await log_in(console, "op")
    page = await console.get("/reports?from=2026-09-30&to=2026-09-01")
    assert page.status_code == 400
    assert "Ngày kết thúc trước ngày bắt đầu." in page.text


async def test_each_download_has_its_type_its_file_name_and_the_cli_bytes(
    console: httpx.AsyncClient, cli_report: PeriodReport,
) -> None:
    await log_in(console, "admin")
    page = await console.get(f"/reports?{QUERY}")
    for fmt in ("md", "csv", "xlsx", "day-chart", "branch-chart", "details", "zip"):
        assert f"/reports/download/{fmt}?{QUERY.replace('&', '&amp;')}" in page.text, fmt
    for fmt, spec in FORMATS.items():
        answer = await console.get(f"/reports/download/{fmt}?{QUERY}")
        assert answer.status_code == 200, fmt
        assert answer.headers["content-type"] == spec.media_type, fmt
        name = download_name(cli_report, fmt)
        assert answer.headers["content-disposition"] == f'attachment; filename="{name}"'
        assert answer.content == render(cli_report, fmt), fmt
    assert download_name(cli_report, "md") == "2026-09-01_2026-09-30-report.md"


async def test_the_charts_are_served_inline_for_the_page(
    console: httpx.AsyncClient, cli_report: PeriodReport,
) -> None:
    await log_in(console, "xem")
    for name in ("day-chart", "branch-chart"):
        chart = await console.get(f"/reports/chart/{name}?{QUERY}")
        assert chart.status_code == 200
        assert chart.headers["content-type"] == "image/png"
        assert chart.headers["content-disposition"].startswith("inline;")
        assert chart.content.startswith(b"\x89PNG")
    assert (await console.get(f"/reports/chart/md?{QUERY}")).status_code == 404
    assert (await console.get(f"/reports/download/pdf?{QUERY}")).status_code == 404


@pytest.mark.parametrize("path", ["/reports", f"/reports/download/csv?{QUERY}",
                                  f"/reports/chart/day-chart?{QUERY}"])
async def test_an_agency_user_is_refused_reports(
    console: httpx.AsyncClient, path: str,
) -> None:
    await log_in(console, "tc")
    answer = await console.get(path)
    assert answer.status_code == 403
    assert "không có quyền" in answer.text
