"""Logging in to the console: sessions, wrong passwords, the failed-login limit, logout
(the app in process on the in-memory users store)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from httpx import AsyncClient
from starlette.applications import Starlette

from calllog.users import InMemoryUserStore, Role
from console.app import create_app
from console.auth import MAX_FAILURES, WINDOW
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import (
    SECRET,
    add_user,
    client,
    console_app,
    csrf_of,
    hotline_config,
    log_in,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_9AM_ICT, running=False)


@pytest.fixture
def users() -> InMemoryUserStore:
    return InMemoryUserStore()


@pytest_asyncio.fixture
async def app(users: InMemoryUserStore, clock: FakeClock) -> Starlette:
    await add_user(users, clock, "lan", Role.OPERATOR)
    return console_app(users, clock)


@pytest_asyncio.fixture
async def http(app: Starlette) -> AsyncIterator[AsyncClient]:
    async with client(app) as http:
        yield http


async def test_visitor_is_sent_to_the_vietnamese_login_page(http: AsyncClient) -> None:
    home = await http.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/login"
    page = await http.get("/login")
    assert page.status_code == 200
    assert "Đăng nhập" in page.text and "Mật khẩu" in page.text
    assert '<html lang="vi">' in page.text


async def test_right_password_opens_the_home_page_with_the_navigation(
    http: AsyncClient, users: InMemoryUserStore
) -> None:
    answer = await log_in(http, "lan")
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    home = await http.get("/")
    assert home.status_code == 200
    assert "Tổng đài hỗ trợ công tác cải cách hành chính tỉnh Hậu Giang — Bảng điều khiển" \
        in home.text
    for title in ("Bảng theo dõi", "Cuộc gọi", "Gọi lại", "Phản ánh", "Báo cáo", "Cấu hình"):
        assert title in home.text
    assert "05/01/2026" in home.text  # the injected clock's day, dd/mm/yyyy
    assert [e.action for e in users.entries] == ["login"]
    assert users.entries[0].address == "192.0.2.10"


async def test_session_cookie_is_httponly_and_samesite_lax(http: AsyncClient) -> None:
    answer = await log_in(http, "lan")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie


async def test_secure_cookies_setting_marks_the_session_cookie_secure(
    users: InMemoryUserStore, clock: FakeClock
) -> None:
    await add_user(users, clock, "lan", Role.OPERATOR)
    app = create_app(users=users, config=hotline_config(), clock=clock, secret=SECRET,
                     secure_cookies=True)
    async with client(app, base_url="https://console.test") as http:  # behind TLS
        answer = await log_in(http, "lan")
    assert "secure" in answer.headers["set-cookie"].lower()


async def test_wrong_password_is_refused_in_vietnamese_and_audited(
    http: AsyncClient, users: InMemoryUserStore
) -> None:
    answer = await log_in(http, "lan", password="sai mật khẩu rồi")
    assert answer.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in answer.text
    assert (await http.get("/")).status_code == 303
    entry = users.entries[-1]
    assert (entry.action, entry.username, entry.detail) == (
        "login_failed", "lan", "wrong password")


async def test_unknown_user_gets_the_same_answer_as_a_wrong_password(
    http: AsyncClient,
) -> None:
    answer = await log_in(http, "khong-co")
    assert answer.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in answer.text


async def test_failed_logins_for_one_name_are_limited_until_the_window_passes(
    app: Starlette, clock: FakeClock, users: InMemoryUserStore
) -> None:
    # From different addresses: the limit follows the name too.
    for i in range(MAX_FAILURES):
        async with client(app, address=f"192.0.2.{100 + i}") as http:
            assert (await log_in(http, "lan", password="sai mật khẩu")).status_code == 401
    async with client(app, address="192.0.2.200") as http:
        limited = await log_in(http, "lan")  # even the right password
        assert limited.status_code == 429
        assert "Quá nhiều lần đăng nhập sai" in limited.text
        assert users.entries[-1].action == "login_limited"
        clock.advance(WINDOW.total_seconds() + 1)
        assert (await log_in(http, "lan")).status_code == 303


async def test_failed_logins_from_one_address_are_limited_whatever_the_name(
    http: AsyncClient, app: Starlette
) -> None:
    for i in range(MAX_FAILURES):
        await log_in(http, f"ten-{i}", password="sai mật khẩu")
    assert (await log_in(http, "lan")).status_code == 429
    async with client(app, address="192.0.2.99") as other:
        assert (await log_in(other, "lan")).status_code == 303


async def test_logout_ends_the_session_and_is_audited(
    http: AsyncClient, users: InMemoryUserStore
) -> None:
    await log_in(http, "lan")
    token = await csrf_of(http, "/")
    answer = await http.post("/logout", data={"csrf_token": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert (await http.get("/")).status_code == 303
    assert users.entries[-1].action == "logout"


async def test_disabling_a_user_ends_their_open_session(
    http: AsyncClient, users: InMemoryUserStore, clock: FakeClock
) -> None:
    await log_in(http, "lan")
    clock.advance(60)
    await users.set_active("lan", False, at=clock.now())
    assert (await http.get("/")).status_code == 303
    assert (await log_in(http, "lan")).status_code == 401


async def test_a_new_password_ends_sessions_opened_with_the_old_one(
    http: AsyncClient, users: InMemoryUserStore, clock: FakeClock
) -> None:
    await log_in(http, "lan")
    clock.advance(60)
    user = await users.by_name("lan")
    assert user is not None
    await users.set_password("lan", user.password_hash, at=clock.now())
    assert (await http.get("/")).status_code == 303


async def test_the_session_is_renewed_at_login(http: AsyncClient) -> None:
    before = await csrf_of(http)
    await log_in(http, "lan")
    assert await csrf_of(http, "/") != before


async def test_static_assets_are_served_from_the_package(http: AsyncClient) -> None:
    css = await http.get("/static/console.css")
    assert css.status_code == 200 and "wall screen" in css.text
    htmx = await http.get("/static/vendor/htmx-2.0.11.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text
