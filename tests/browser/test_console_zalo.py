"""The Zalo channel end to end: a signed webhook message posted to the real console
process becomes a case, an operator opens it in real headless Chromium and replies, and
the fake Zalo (a real loopback server, its base URL in the console's settings) receives
the `cs` message with that text.

Times are the real clock's, as the console's own is: the webhook refuses an event whose
timestamp is not within minutes of now."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from hotline.clock import SystemClock
from tests.browser.conftest import ROOT, RunningConsole, _free_port, console_process, screenshot
from tests.zalo_fake import (
    APP_ID,
    APP_SECRET,
    OA_SECRET_KEY,
    USER_ID,
    FakeZalo,
    event_body,
    serving,
    sign,
)

OPERATOR_PASSWORD = "mật khẩu tổ vận hành 2026"
REPLY = "Sở Xây dựng đang xử lý hồ sơ của quý vị, dự kiến có kết quả trong tuần này."


@pytest.fixture(scope="module")
def fake() -> FakeZalo:
    return FakeZalo(SystemClock())


@pytest.fixture(scope="module")
def zalo_console(tmp_path_factory: pytest.TempPathFactory,
                 fake: FakeZalo) -> Iterator[RunningConsole]:
    tmp: Path = tmp_path_factory.mktemp("zalo-console")
    port = _free_port()
    with serving(fake) as zalo_url:
        env = {
            **os.environ,
            "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'hotline.db'}",
            "HOTLINE_SECRETS_FILE": str(tmp / "no-secrets.env"),
            "HOTLINE_CONSOLE_SECRET": secrets.token_urlsafe(32),
            "HOTLINE_CONSOLE_HOST": "127.0.0.1",
            "HOTLINE_CONSOLE_PORT": str(port),
            "HOTLINE_CONFIG": str(ROOT / "config" / "hotline.yaml"),
            "HOTLINE_ZALO_APP_ID": APP_ID,
            "HOTLINE_ZALO_APP_SECRET": APP_SECRET,
            "HOTLINE_ZALO_OA_SECRET_KEY": OA_SECRET_KEY,
            "HOTLINE_ZALO_OPENAPI_URL": zalo_url,
            "HOTLINE_ZALO_OAUTH_URL": zalo_url,
            "HOTLINE_ZALO_BUSINESS_URL": zalo_url,
        }
        grant = fake.grant()
        with console_process(port, env, tmp, "lan", "operator", OPERATOR_PASSWORD) as running:
            stored = running.hotline("zalo", "tokens",
                                     stdin=f"{grant.access_token}\n{grant.refresh_token}\n")
            assert stored.returncode == 0, stored.stderr
            yield running


def test_a_zalo_message_becomes_a_case_and_the_operator_s_reply_reaches_zalo(
    page: Page, zalo_console: RunningConsole, fake: FakeZalo
) -> None:
    now_ms = int(SystemClock().now().timestamp() * 1000)
    body = event_body("user_send_text", timestamp=str(now_ms))
    posted = httpx.post(zalo_console.url + "zalo/webhook", content=body, timeout=5.0,
                        headers={"X-ZEvent-Signature": sign(body),
                                 "Content-Type": "application/json"})
    assert posted.status_code == 200, posted.text

    page.goto(zalo_console.url + "login")
    page.get_by_label("Tên đăng nhập").fill("lan")
    page.get_by_label("Mật khẩu").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading")).to_contain_text("Bảng điều khiển")

    # The worker takes the event in the console process: the case shows once it has.
    row = page.locator("table.case-table tbody tr").filter(has_text="Zalo")
    for _ in range(50):
        page.goto(zalo_console.url + "cases?channel=zalo")
        if row.count():
            break
        page.wait_for_timeout(200)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Phản ánh qua Zalo")
    code = row.locator("td.code").inner_text()
    assert re.fullmatch(r"PA-\d{4}-\d{5}", code)
    row.get_by_role("link", name=code).click()

    expect(page.get_by_role("heading", name=f"Phản ánh {code}")).to_be_visible()
    conversation = page.locator("table.conversation")
    expect(conversation).to_contain_text("Tôi nộp hồ sơ cấp giấy phép xây dựng")
    expect(conversation).to_contain_text("Trả lời tự động")
    page.get_by_label("Trả lời qua Zalo").fill(REPLY)
    page.get_by_role("button", name="Gửi qua Zalo").click()
    expect(page.get_by_role("status")).to_have_text("Đã gửi tin trả lời qua Zalo.")
    expect(conversation.locator("tbody tr").last).to_contain_text(REPLY)
    expect(conversation.locator("tbody tr").last).to_contain_text("lan")
    screenshot(page, "case-zalo")

    replies = [m for m in fake.cs_messages
               if m["message"] == {"text": REPLY}]  # type: ignore[comparison-overlap]
    assert [m["recipient"] for m in replies] == [{"user_id": USER_ID}]
    assert code in str(fake.cs_messages[0]["message"])  # the automatic answer came first
