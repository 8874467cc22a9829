"""Thông báo in real Chromium against the real console process: the admin switches an
announcement on (synthesised by espeak-ng + sox), the wallboard shows it, and it is
switched off again."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN_PASSWORD, RunningConsole, screenshot

TEXT = "Chiều nay tổng đài tạm nghỉ để bảo trì."


def test_the_admin_switches_an_announcement_on_sees_it_on_the_wallboard_and_off(
    page: Page, console: RunningConsole
) -> None:
    page.goto(console.url + "login")
    page.get_by_label("Tên đăng nhập").fill("admin")
    page.get_by_label("Mật khẩu").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.get_by_role("navigation", name="Điều hướng chính").get_by_role(
        "link", name="Thông báo").click()
    expect(page.get_by_text("Không có thông báo nào đang phát.")).to_be_visible()
    page.get_by_label("Nội dung (hệ thống đọc)").fill(TEXT)
    page.get_by_label("Hết hạn (dd/mm/yyyy HH:MM)").fill("31/12/2099 17:00")
    page.get_by_role("button", name="Bật thông báo").click()
    active = page.locator('[data-announcement="on"]')
    expect(active).to_contain_text(TEXT)
    expect(active).to_contain_text("31/12/2099 17:00")
    screenshot(page, "announce")

    page.goto(console.url + "wallboard")
    expect(page.locator(".wb-announcement")).to_contain_text(TEXT)

    page.goto(console.url + "announce")
    page.get_by_role("button", name="Tắt thông báo").click()
    expect(page.get_by_text("Không có thông báo nào đang phát.")).to_be_visible()
    expect(page.locator("table.announcements tbody tr")).to_have_count(2)
