"""Logging in to the real console process in real Chromium, and the CSRF guard seen from
the browser."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, RunningConsole, screenshot


def _log_in(page: Page, console: RunningConsole, password: str = ADMIN_PASSWORD) -> None:
    page.goto(console.url)
    page.get_by_label("Tên đăng nhập").fill("admin")
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def test_logging_in_through_the_form_opens_the_vietnamese_home_page(
    page: Page, console: RunningConsole
) -> None:
    page.goto(console.url)
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    screenshot(page, "login")
    _log_in(page, console)
    expect(page).to_have_url(console.url)
    expect(page.get_by_role("heading")).to_have_text(
        "Tổng đài hỗ trợ công tác cải cách hành chính tỉnh Hậu Giang — Bảng điều khiển")
    nav = page.get_by_role("navigation", name="Điều hướng chính")
    for title in ("Bảng theo dõi", "Cuộc gọi", "Gọi lại", "Phản ánh", "Báo cáo", "Cấu hình"):
        expect(nav.get_by_role("link", name=title)).to_be_visible()
    screenshot(page, "home")
    nav.get_by_role("link", name="Phản ánh").click()
    expect(page.get_by_role("heading", name="Phản ánh, kiến nghị")).to_be_visible()
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def test_a_wrong_password_shows_the_vietnamese_message(
    page: Page, console: RunningConsole
) -> None:
    _log_in(page, console, password="không phải mật khẩu")
    expect(page.get_by_role("alert")).to_have_text("Tên đăng nhập hoặc mật khẩu không đúng.")


def test_a_post_without_the_csrf_token_is_refused(page: Page, console: RunningConsole) -> None:
    _log_in(page, console)
    expect(page.get_by_role("heading")).to_contain_text("Bảng điều khiển")
    without = page.evaluate("fetch('/logout', {method: 'POST'}).then(r => r.status)")
    assert without == 403
    refused = page.request.post(console.url + "logout", form={"csrf_token": "đoán-bừa"})
    assert refused.status == 403
    page.reload()
    expect(page.get_by_role("heading")).to_contain_text("Bảng điều khiển")  # still in
    token = page.locator("body").get_attribute("hx-headers") or ""
    with_token = page.evaluate(
        "t => fetch('/logout', {method: 'POST', headers: JSON.parse(t)}).then(r => r.status)",
        token)
    assert with_token == 200  # followed the redirect to the login page
