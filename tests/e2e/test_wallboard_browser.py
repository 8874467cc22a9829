"""The wallboard in real Chromium following a real call (issue 15): the embedded
Asterisk and the service of the e2e session (`hotline`), the real console process
pointed at that service's loopback `GET /live` and its database, a pjsua2 caller and
desk. The board moves from menu to talking to gone with no reload: the console's one
long-poll follower, then Server-Sent Events to the page. Likewise "Bàn của tôi": the
desk's user sees the caller's earlier call and open case when the desk answers.

With HOTLINE_SCREENSHOTS=1 the board with the call in progress is saved to
docs/console/wallboard.png.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Page, expect

from calllog.model import CallRecord, Case, Outcome
from calllog.store import CallLogStore
from console.wallboard import masked
from tests.browser.conftest import (  # the browser fixtures, shared
    RunningConsole,
    _free_port,
    browser,
    console_process,
    page,
    screenshot,
)
from tests.e2e.calls import dial
from tests.e2e.conftest import DeskBank, Hotline
from tests.e2e.phones import Phone, SipStack

__all__ = ["browser", "page"]
pytestmark = [pytest.mark.e2e, pytest.mark.browser]
VIEWER_PASSWORD = "mật khẩu xem bảng 2026"
T = TypeVar("T")


@pytest.fixture(scope="module")
def wallboard_console(hotline: Hotline, tmp_path_factory: pytest.TempPathFactory
                      ) -> Iterator[RunningConsole]:
    """The console process on the e2e service's database, following its `/live`."""
    tmp = tmp_path_factory.mktemp("wallboard-console")
    port = _free_port()
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": hotline.db_url,
        "HOTLINE_SECRETS_FILE": str(tmp / "no-secrets.env"),
        "HOTLINE_CONSOLE_SECRET": secrets.token_urlsafe(32),
        "HOTLINE_CONSOLE_HOST": "127.0.0.1",
        "HOTLINE_CONSOLE_PORT": str(port),
        "HOTLINE_CONSOLE_SERVICE_URL": f"http://127.0.0.1:{hotline.settings.health_port}",
        "HOTLINE_CONFIG": str(hotline.settings.config),
    }
    with console_process(port, env, tmp, "tuong", "viewer", VIEWER_PASSWORD) as running:
        yield running


def _logged_as_ended(hotline: Hotline, caller: Phone) -> bool:
    """The caller's call-log row is closed. Read on a thread of its own: Playwright's
    sync API keeps an event loop running on this one."""
    with ThreadPoolExecutor(1) as pool:
        record = pool.submit(hotline.call_record, caller.user).result()
    return record is not None and record.ended_at is not None


def _log_in(page: Page, console: RunningConsole, username: str = "tuong",
            password: str = VIEWER_PASSWORD) -> None:
    page.goto(console.url + "login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", name="Bảng điều khiển", exact=False)).to_be_visible()


def test_the_wallboard_shows_a_real_call_moving_from_menu_to_talking_to_gone(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    wallboard_console: RunningConsole, page: Page,
) -> None:
    desks = desk_bank.ensure(["1401", "1402"])
    desks["1401"].answer_after = 3.0
    _log_in(page, wallboard_console)
    page.goto(wallboard_console.url + "wallboard")
    expect(page.get_by_role("heading", name="Bảng theo dõi")).to_be_visible()
    loaded_at = page.evaluate("performance.timeOrigin")
    row = f'tr[data-caller="{masked(caller.user)}"]'
    steps: list[str | None] = []

    def step_shown() -> str | None:
        step: str | None = page.evaluate(
            "sel => { const r = document.querySelector(sel); return r ? r.dataset.step : null }",
            row)
        if not steps or steps[-1] != step:
            steps.append(step)
        return step

    def desk_shown(extension: str) -> str | None:
        state: str | None = page.evaluate(
            "ext => document.querySelector(`[data-testid=desk-${ext}]`)?.dataset.state ?? null",
            extension)
        return state

    sip.wait_until(lambda: step_shown() is None and desk_shown("1401") == "registered", 15,
                   "the wallboard to show desk 1401 registered and no call of ours")
    call = dial(sip, caller, hotline)
    sip.wait_until(lambda: step_shown() == "menu", 10, "the call in the menu on the wallboard")
    call.send_digits("4")
    sip.wait_until(lambda: step_shown() == "talking" and desk_shown("1401") == "busy", 20,
                   "the call talking to desk 1401 on the wallboard")
    expect(page.locator(row)).to_contain_text("Đang đàm thoại")
    expect(page.locator(row)).to_contain_text("4. Cải cách thủ tục hành chính")
    expect(page.get_by_test_id("step-talking")).not_to_have_text("0")
    # the desk rows (state from presence and the call) and today's queue figures
    expect(page.get_by_test_id("desk-row-1401")).to_have_attribute("data-presence", "talking")
    expect(page.get_by_test_id("desk-row-1401")).to_contain_text("Đang nghe máy")
    expect(page.get_by_test_id("service-level-20")).to_be_visible()
    screenshot(page, "wallboard")
    call.hangup_now()
    sip.wait_until(lambda: step_shown() is None, 15, "the call gone from the wallboard")
    sip.wait_until(lambda: _logged_as_ended(hotline, caller), 40, "the call's row closed")

    assert [s for s in steps if s not in ("answering", "ringing")] == [
        None, "menu", "talking", None]
    assert page.evaluate("performance.timeOrigin") == loaded_at  # never reloaded
    expect(page.get_by_role("alert")).to_have_count(0)  # the service answered throughout


def test_the_wallboard_says_so_when_the_service_is_down_and_recovers_by_itself(
    hotline: Hotline, wallboard_console: RunningConsole, page: Page,
) -> None:
    _log_in(page, wallboard_console)
    page.goto(wallboard_console.url + "wallboard")
    expect(page.get_by_test_id("no-calls").or_(page.locator("tr[data-step]")).first
           ).to_be_visible()
    hotline.stop_service()
    try:
        expect(page.get_by_role("alert")).to_contain_text(
            "Dịch vụ tổng đài không phản hồi", timeout=15_000)
        screenshot(page, "wallboard-service-down")
    finally:
        hotline.start_service(Path(hotline.settings.config))
    expect(page.get_by_role("alert")).to_have_count(0, timeout=15_000)


DESK_PASSWORD = "mật khẩu bàn 1401 2026"


def _in_thread(work: Callable[[], T]) -> T:
    """Run blocking work (its own event loop) beside Playwright's sync API."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def _an_earlier_call_with_an_open_case(hotline: Hotline, number: str) -> None:
    async def write(store: CallLogStore) -> None:
        at = datetime.now(UTC) - timedelta(days=2)
        earlier = CallRecord(call_id=f"earlier-{number}", caller_number=number, started_at=at)
        earlier.outcome, earlier.branch_key, earlier.branch_name = (
            Outcome.CONNECTED, 4, "Cải cách thủ tục hành chính")
        earlier.ended_at = at + timedelta(minutes=3)
        await store.save(earlier)
        await store.create_case(Case(None, earlier.call_id, "Hồ sơ đất đai", at, "e2e"))

    _in_thread(lambda: hotline._read_log(write))


def test_the_desks_user_sees_the_callers_past_when_their_desk_answers_and_pauses_it(
    hotline: Hotline, sip: SipStack, desk_bank: DeskBank, caller: Phone,
    wallboard_console: RunningConsole, page: Page,
) -> None:
    for name, role, password in (("quantri", "admin", DESK_PASSWORD),
                                 ("ban1401", "operator", DESK_PASSWORD)):
        added = wallboard_console.hotline("users", "add", name, "--role", role,
                                          "--password-stdin", stdin=password + "\n")
        assert added.returncode == 0, added.stderr
    _an_earlier_call_with_an_open_case(hotline, caller.user)
    desks = desk_bank.ensure(["1401"])

    _log_in(page, wallboard_console, "quantri", DESK_PASSWORD)
    page.goto(wallboard_console.url + "users")
    page.get_by_role("link", name="ban1401").click()
    page.get_by_label("Số máy bàn").select_option("1401")
    page.get_by_role("button", name="Gán bàn").click()
    expect(page.get_by_role("status")).to_contain_text("Đã cập nhật bàn làm việc.")
    page.get_by_role("button", name="Đăng xuất").click()

    _log_in(page, wallboard_console, "ban1401", DESK_PASSWORD)
    page.get_by_role("link", name="Bàn của tôi", exact=False).click()
    panel = page.locator("#desk-panel")
    expect(panel).to_contain_text("không có cuộc gọi nào")
    loaded_at = page.evaluate("performance.timeOrigin")

    def talking_shown() -> str | None:
        shown: str | None = page.evaluate(
            "() => document.querySelector('#desk-panel [data-talking]')?.dataset.talking"
            " ?? null")
        return shown

    call = dial(sip, caller, hotline)
    call.send_digits("4")  # the phones answer only while pumped: wait with `sip`
    sip.wait_until(lambda: talking_shown() not in (None, "none"), 20,
                   "the desk's panel to show the call it answered")
    expect(panel).to_contain_text(f"Đang nghe: {caller.user}")
    expect(panel.locator("[data-earlier-calls]")).to_have_attribute("data-earlier-calls", "1")
    expect(panel.locator("[data-open-cases]")).to_have_attribute("data-open-cases", "1")
    expect(panel).to_contain_text("Hồ sơ đất đai")
    screenshot(page, "my-desk")
    assert desks["1401"].calls, "desk 1401 never rang"
    call.hangup_now()
    sip.wait_until(lambda: talking_shown() == "none", 15, "the panel to show the call ended")
    assert page.evaluate("performance.timeOrigin") == loaded_at  # never reloaded

    try:
        page.get_by_role("button", name="Tạm nghỉ").click()
        expect(page.locator("[data-state]")).to_contain_text("Tạm nghỉ")
    finally:
        page.get_by_role("button", name="Tiếp tục").click()  # the next tests find it free
    expect(page.locator("[data-state]")).to_have_text("Đăng nhập")
    sip.wait_until(lambda: _logged_as_ended(hotline, caller), 40, "the call's row closed")
