"""Báo cáo and Cấu hình in real Chromium against the real console process: the synthetic
September's report with its charts and a download, and an admin uploading a bad then a
good YAML and applying it. With HOTLINE_SCREENSHOTS=1: docs/console/reports.png and
docs/console/config.png."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from calllog.db import make_engine, make_sessionmaker
from calllog.model import ConfigReload
from calllog.store import CallLogStore
from routing.config import load_config
from scripts import synthetic_month
from tests.browser.conftest import (
    ADMIN_PASSWORD,
    ROOT,
    SCREENSHOTS,
    RunningConsole,
    _free_port,
    console_process,
)

SEPTEMBER = "from=2026-09-01&to=2026-09-30"
SHOT_HEIGHT = 1700
"""These pages run long (a report's tables, a hundred stations): the screenshot shows
their top, where the period and downloads, or the upload and reloads, are."""


def screenshot(page: Page, name: str) -> None:
    """docs/console/<name>.png (its top SHOT_HEIGHT pixels), when HOTLINE_SCREENSHOTS=1."""
    if os.environ.get("HOTLINE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"] if page.viewport_size else 1366
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True,
                        clip={"x": 0, "y": 0, "width": width, "height": SHOT_HEIGHT})


async def _september(url: str, config_file: Path) -> None:
    config = load_config(config_file)
    calls, cases = synthetic_month.synthetic_month(
        config, date(2026, 9, 1), date(2026, 9, 30), seed=2026)
    await synthetic_month.fill(url, calls, cases)
    engine = make_engine(url)
    try:
        await CallLogStore(make_sessionmaker(engine)).apply([ConfigReload(
            at=datetime(2026, 9, 30, 1, 0, tzinfo=UTC), file=config_file.name,
            sha256="0" * 64, status="applied")])
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningConsole]:
    """The console on the synthetic September, with its own copy of the YAML to apply to."""
    tmp = tmp_path_factory.mktemp("console-reports")
    config_file = tmp / "hotline.yaml"
    shutil.copyfile(ROOT / "config" / "hotline.yaml", config_file)
    url = f"sqlite+aiosqlite:///{tmp / 'hotline.db'}"
    # Playwright's sync API already runs an event loop on this thread.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, _september(url, config_file)).result()
    port = _free_port()
    env = {**os.environ, "HOTLINE_DATABASE_URL": url,
           "HOTLINE_SECRETS_FILE": str(tmp / "no-secrets.env"),
           "HOTLINE_CONSOLE_SECRET": secrets.token_urlsafe(32),
           "HOTLINE_CONSOLE_HOST": "127.0.0.1", "HOTLINE_CONSOLE_PORT": str(port),
           "HOTLINE_CONFIG": str(config_file)}
    with console_process(port, env, tmp, "admin", "admin", ADMIN_PASSWORD) as running:
        yield running


def _log_in(page: Page, console: RunningConsole) -> None:
    page.goto(console.url)
    page.get_by_label("Tên đăng nhập").fill("admin")
    page.get_by_label("Mật khẩu").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).to_have_url(console.url)


def test_the_report_of_a_month_shows_its_tables_charts_and_downloads(
    page: Page, console: RunningConsole,
) -> None:
    _log_in(page, console)
    page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
        "link", name="Báo cáo").click()
    page.get_by_label("Từ ngày").fill("01/09/2026")
    page.get_by_label("Đến ngày").fill("30/09/2026")
    page.get_by_role("button", name="Xem báo cáo").click()
    expect(page).to_have_url(f"{console.url}reports?from=01%2F09%2F2026&to=30%2F09%2F2026")
    expect(page.get_by_text("từ ngày 01/09/2026 đến ngày 30/09/2026")).to_be_visible()
    expect(page.get_by_role("heading", name="1. Tổng quan")).to_be_visible()
    expect(page.get_by_role("heading", name="6. Gọi lại cho người dân")).to_be_visible()
    for alt in ("Số cuộc gọi theo ngày", "Số cuộc gọi theo nhánh"):
        chart = page.get_by_alt_text(alt)
        chart.scroll_into_view_if_needed()
        expect(chart).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                               arg=chart.element_handle())
    with page.expect_download() as download:
        page.get_by_role("link", name="Bảng tính (Excel)").click()
    assert download.value.suggested_filename == "2026-09-01_2026-09-30-report.xlsx"
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
    screenshot(page, "reports")


def test_an_admin_sees_a_bad_files_messages_then_applies_a_good_file(
    page: Page, console: RunningConsole, tmp_path: Path,
) -> None:
    config_file = Path(console.env["HOTLINE_CONFIG"])
    good = config_file.read_bytes()
    bad = tmp_path / "sai.yaml"
    bad.write_bytes(good.replace(b'desks: ["1401", "1402"]', b'desks: ["14x01"]', 1))
    new = tmp_path / "moi.yaml"
    new.write_bytes(good.replace("Tổng đài".encode(), "Tổng đài mới".encode(), 1))
    _log_in(page, console)
    page.goto(console.url + "config")
    expect(page.get_by_role("heading", name="Nhánh, cơ quan và máy bàn")).to_be_visible()
    expect(page.get_by_text("Đã áp dụng")).to_be_visible()

    page.get_by_label("Tệp YAML").set_input_files(str(bad))
    page.get_by_role("button", name="Kiểm tra tệp").click()
    expect(page.get_by_text("sai.yaml:112 branches[3].desks[0]:")).to_be_visible()
    expect(page.get_by_role("button", name="Áp dụng cấu hình này")).to_have_count(0)
    assert config_file.read_bytes() == good

    page.get_by_label("Tệp YAML").set_input_files(str(new))
    page.get_by_role("button", name="Kiểm tra tệp").click()
    expect(page.get_by_text("moi.yaml: hợp lệ")).to_be_visible()
    page.get_by_role("button", name="Áp dụng cấu hình này").click()
    expect(page.get_by_text("Đã ghi tệp cấu hình mới")).to_be_visible()
    assert config_file.read_bytes() == new.read_bytes()

    page.get_by_label("Tìm (số máy, cơ quan)").fill("Vị Thanh")
    page.get_by_role("button", name="Lọc").click()
    expect(page.locator("table.stations tbody tr").first).to_contain_text("Vị Thanh")
    page.goto(console.url + "config")
    screenshot(page, "config")
