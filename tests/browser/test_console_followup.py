"""Gọi lại and Phản ánh in real Chromium against the real console process: a call back
marked handled, a case moved to resolved, an agency user refused another agency's case.

The call log is seeded straight into the console's SQLite file (the console migrated it
at start); times are relative to the real clock, as the console's own is."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from calllog.db import make_engine, make_sessionmaker
from calllog.model import CallRecord, Case, CaseStatus, Outcome
from calllog.store import CallLogStore
from hotline.clock import SystemClock
from routing.deadlines import case_deadline
from tests.browser.conftest import ADMIN_PASSWORD, RunningConsole, screenshot
from tests.console_client import hotline_config

AGENCY_PASSWORD = "mật khẩu sở tư pháp 2026"
TU_PHAP, TAI_CHINH = "Sở Tư pháp", "Sở Tài chính"


@dataclass(frozen=True)
class Seeded:
    case_call: str
    theirs: int
    """A case forwarded to Sở Tài chính, which Sở Tư pháp's user may not see."""


def _call(call_id: str, started: datetime, number: str, **fields: object) -> CallRecord:
    record = CallRecord(call_id=call_id, caller_number=number, started_at=started)
    for name, value in fields.items():
        setattr(record, name, value)
    return record


async def _seed(url: str, now: datetime) -> Seeded:
    engine = make_engine(url)
    try:
        store = CallLogStore(make_sessionmaker(engine),
                             case_deadline=case_deadline(hotline_config()))
        calls = [
            _call("cb-old", now - timedelta(days=3, hours=2), "0939123456",
                  branch_name="Cải cách thủ tục hành chính", outcome=Outcome.DESK_UNREACHABLE,
                  callback="pending"),
            _call("cb-1", now - timedelta(days=2), "0912345678", branch_name="Doanh nghiệp",
                  outcome=Outcome.ABANDONED_WHILE_RINGING, callback="pending"),
            _call("cb-new", now - timedelta(minutes=12), "0987654321",
                  branch_name="Tài chính công", outcome=Outcome.CLOSED,
                  recording="vm-1-0", callback="pending"),
            _call("case-call", now - timedelta(hours=5), "0901222333",
                  branch_name="Công tác xây dựng và tổ chức triển khai văn bản",
                  outcome=Outcome.CONNECTED),
            _call("theirs", now - timedelta(days=20), "0907111222",
                  branch_name="Tài chính công", outcome=Outcome.CONNECTED),
            _call("late", now - timedelta(days=30), "0903444555",
                  branch_name="Cải cách thủ tục hành chính", outcome=Outcome.CONNECTED),
        ]
        for record in calls:
            await store.save(record)
        theirs = await store.create_case(Case(None, "theirs", "Tài chính công",
                                              now - timedelta(days=20), "admin"))
        assert theirs.id is not None
        await store.update_case(theirs.id, status=CaseStatus.FORWARDED, agency=TAI_CHINH,
                                by="admin", at=now - timedelta(days=19))
        late = await store.create_case(Case(None, "late", "Cải cách thủ tục hành chính",
                                            now - timedelta(days=30), "admin"))
        assert late.id is not None
        await store.update_case(late.id, status=CaseStatus.VERIFYING, by="admin",
                                at=now - timedelta(days=28), note="Đang xác minh với xã")
        return Seeded("case-call", theirs.id)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def seeded(console: RunningConsole) -> Iterator[Seeded]:
    url = console.env["HOTLINE_DATABASE_URL"]
    now = SystemClock().now()
    with ThreadPoolExecutor(1) as thread:  # its own event loop, beside playwright's
        data = thread.submit(asyncio.run, _seed(url, now)).result()
    added = console.hotline("users", "add", "tuphap", "--role", "agency", "--agency",
                            TU_PHAP, "--password-stdin", stdin=AGENCY_PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    yield data


def _log_in(page: Page, console: RunningConsole, username: str, password: str) -> None:
    page.goto(console.url + "login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading")).to_contain_text("Bảng điều khiển")


def test_a_call_back_marked_reached_leaves_the_pending_list(
    page: Page, console: RunningConsole, seeded: Seeded
) -> None:
    _log_in(page, console, "admin", ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
        "link", name="Gọi lại").click()
    expect(page.get_by_role("heading", name="Gọi lại", exact=True)).to_be_visible()
    row = page.locator('tr[data-call="cb-1"]')
    expect(row).to_contain_text("0912345678")
    expect(row).to_have_class("overdue")
    expect(page.locator('tr[data-call="cb-new"]')).not_to_have_class("overdue")
    row.get_by_label("Kết quả").select_option(label="Đã liên lạc được")
    row.get_by_label("Ghi chú").fill("Đã hướng dẫn hồ sơ đăng ký doanh nghiệp")
    row.get_by_role("button", name="Đã gọi lại").click()
    expect(page.get_by_role("status")).to_have_text(
        "Đã ghi nhận: đã liên lạc được với người dân.")
    expect(page.locator('tr[data-call="cb-1"]')).to_have_count(0)
    handled = page.get_by_role("region", name="Đã gọi lại gần đây")
    expect(handled).to_contain_text("0912345678")
    expect(handled).to_contain_text("Đã hướng dẫn hồ sơ đăng ký doanh nghiệp")
    screenshot(page, "callbacks")


def test_a_case_opened_from_a_call_moves_to_resolved_with_each_step_in_its_history(
    page: Page, console: RunningConsole, seeded: Seeded
) -> None:
    _log_in(page, console, "admin", ADMIN_PASSWORD)
    page.goto(console.url + f"cases/new?call_id={seeded.case_call}")
    page.get_by_label("Nội dung phản ánh, kiến nghị").fill(
        "Công dân phản ánh văn bản hướng dẫn chậm ban hành")
    page.get_by_role("button", name="Mở phản ánh").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Phản ánh PA-\d{4}-"))
    steps = [("Đã chuyển cơ quan xử lý", TU_PHAP, "Chuyển Sở Tư pháp xử lý"),
             ("Đang xác minh", None, "Sở đang xác minh với đơn vị soạn thảo"),
             ("Đã giải quyết", None, "Sở đã trả lời công dân qua điện thoại")]
    for status, agency, note in steps:
        page.get_by_label("Chuyển sang").select_option(label=status)
        if agency is not None:
            page.get_by_label("Cơ quan xử lý (khi chuyển cơ quan)").select_option(label=agency)
        page.get_by_role("textbox", name="Ghi chú").fill(note)
        page.get_by_role("button", name="Lưu").click()
        expect(page.locator(".case-status")).to_have_text(status)
    history = page.get_by_role("region", name="Diễn biến xử lý").locator("tbody tr")
    expect(history).to_have_count(4)
    expect(history.nth(0)).to_contain_text("Đã tiếp nhận")
    for i, (status, _, note) in enumerate(steps, start=1):
        expect(history.nth(i)).to_contain_text(status)
        expect(history.nth(i)).to_contain_text(note)
        expect(history.nth(i)).to_contain_text("admin")
    expect(history.nth(1)).to_contain_text(TU_PHAP)
    screenshot(page, "case")
    page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
        "link", name="Phản ánh").click()
    expect(page.locator("tr.overdue").first).to_be_visible()
    expect(page.locator(".case-table")).to_contain_text("Đã giải quyết")
    screenshot(page, "cases")


def test_an_agency_user_is_refused_another_agencys_case_in_vietnamese(
    page: Page, console: RunningConsole, seeded: Seeded
) -> None:
    _log_in(page, console, "tuphap", AGENCY_PASSWORD)
    response = page.goto(console.url + f"cases/{seeded.theirs}")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Không được phép")
    expect(page.get_by_role("alert")).to_have_text(
        "Tài khoản của quý vị không có quyền xem trang này.")
    page.goto(console.url + "cases")
    expect(page.get_by_text(f"phản ánh của {TU_PHAP}")).to_be_visible()
    expect(page.locator(f'a[href="/cases/{seeded.theirs}"]')).to_have_count(0)
