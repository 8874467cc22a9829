"""Người dùng in real Chromium against the real console process: the admin adds an agency
user, who logs in in a fresh browser context and sees only what an agency user may; the
admin disables them, and their next page load goes to the login form."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, RunningConsole, screenshot

AGENCY_USER = "tuphap.lan"
AGENCY_PASSWORD = "mật khẩu của chị Lan 2026"
TU_PHAP = "Sở Tư pháp"


def _log_in(page: Page, console: RunningConsole, username: str, password: str) -> None:
    page.goto(console.url + "login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bảng điều khiển")


def test_an_agency_user_added_by_the_admin_logs_in_sees_their_part_and_is_disabled(
    page: Page, browser: Browser, console: RunningConsole
) -> None:
    _log_in(page, console, "admin", ADMIN_PASSWORD)
    page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
        "link", name="Người dùng").click()
    expect(page.get_by_role("heading", name="Người dùng", exact=True)).to_be_visible()
    adding = page.locator('form[action="/users"]')
    adding.get_by_label("Tên đăng nhập").fill(AGENCY_USER)
    adding.locator('select[name="role"]').select_option(label="Cơ quan")
    adding.locator('select[name="agency"]').select_option(label=TU_PHAP)
    adding.get_by_label("Mật khẩu (ít nhất 10 ký tự)").fill(AGENCY_PASSWORD)
    adding.get_by_label("Nhập lại mật khẩu").fill(AGENCY_PASSWORD)
    adding.get_by_role("button", name="Thêm người dùng").click()
    expect(page.get_by_role("status")).to_have_text("Đã thêm người dùng.")
    row = page.locator(".users-table tr", has_text=AGENCY_USER)
    expect(row).to_contain_text("Cơ quan")
    expect(row).to_contain_text(TU_PHAP)
    expect(row).to_contain_text("Đang hoạt động")
    expect(row).to_contain_text(re.compile(r"\d{2}/\d{2}/\d{4}"))

    agency_context = browser.new_context(viewport={"width": 1366, "height": 768},
                                          locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    try:
        theirs = agency_context.new_page()
        _log_in(theirs, console, AGENCY_USER, AGENCY_PASSWORD)
        expect(theirs.locator(".who")).to_contain_text(f"{AGENCY_USER} · Cơ quan · {TU_PHAP}")
        nav = theirs.get_by_role("navigation", name="Điều hướng chính")
        expect(nav.get_by_role("link")).to_have_text(["Cuộc gọi", "Phản ánh"])
        theirs.goto(console.url + "cases")
        expect(theirs.get_by_text(f"phản ánh của {TU_PHAP}")).to_be_visible()
        refused = theirs.goto(console.url + "users")
        assert refused is not None and refused.status == 403
        expect(theirs.get_by_role("alert")).to_have_text(
            "Tài khoản của quý vị không có quyền xem trang này.")
        theirs.goto(console.url + "cases")

        page.goto(console.url + "users")
        refusals = page.get_by_role("region", name="Nhật ký từ chối")
        expect(refusals.locator("tbody tr").first).to_contain_text("Từ chối: không có quyền")
        expect(page.get_by_role("region", name="Nhật ký thay đổi và đăng nhập")).to_contain_text(
            "Thêm người dùng")
        screenshot(page, "users")
        page.get_by_role("link", name=AGENCY_USER).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            f"Người dùng {AGENCY_USER}")
        page.get_by_role("button", name="Vô hiệu hóa").click()
        expect(page.get_by_role("status")).to_contain_text("Đã vô hiệu hóa.")
        expect(page.locator(".case-facts")).to_contain_text("Đã vô hiệu hóa")

        theirs.reload()
        expect(theirs).to_have_url(re.compile(r"/login$"))
        theirs.get_by_label("Tên đăng nhập").fill(AGENCY_USER)
        theirs.get_by_label("Mật khẩu").fill(AGENCY_PASSWORD)
        theirs.get_by_role("button", name="Đăng nhập").click()
        expect(theirs.get_by_role("alert")).to_have_text(
            "Tên đăng nhập hoặc mật khẩu không đúng.")
    finally:
        agency_context.close()
