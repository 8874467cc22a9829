"""Logging in to the console: sessions, wrong passwords, the failed-login limit, logout
(the app in process on the in-memory users store)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from httpx import AsyncClient
from starlette.applications import Starlette

from calllog.users import InMemoryUserStore, Role
from console.app import create_app
from console.auth import MAX_ADDRESS_FAILURES, MAX_FAILURES, WINDOW, Auth, KeyedLocks
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import (
    PASSWORD,
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


async def test_failed_logins_for_one_name_from_one_address_are_limited_until_the_window_passes(
    app: Starlette, clock: FakeClock, users: InMemoryUserStore
) -> None:
    async with client(app, address="203.0.113.9") as http:
        for _ in range(MAX_FAILURES):
            assert (await log_in(http, "lan", password="sai mật khẩu")).status_code == 401
        limited = await log_in(http, "lan")  # even the right password
        assert limited.status_code == 429
        assert "Quá nhiều lần đăng nhập sai" in limited.text
        assert users.entries[-1].action == "login_limited"
        clock.advance(WINDOW.total_seconds() + 1)
        assert (await log_in(http, "lan")).status_code == 303


async def test_someone_elses_wrong_guesses_never_lock_the_user_out_from_their_address(
    app: Starlette,
) -> None:
    async with client(app, address="203.0.113.9") as attacker:
        for _ in range(MAX_FAILURES + 2):
            await log_in(attacker, "lan", password="sai mật khẩu")
        assert (await log_in(attacker, "lan")).status_code == 429
    async with client(app) as real:  # 192.0.2.10
        assert (await log_in(real, "lan")).status_code == 303


async def test_failed_logins_from_one_address_are_limited_whatever_the_name(
    http: AsyncClient, app: Starlette
) -> None:
    for i in range(MAX_ADDRESS_FAILURES):
        assert (await log_in(http, f"ten-{i}", password="sai mật khẩu")).status_code == 401
    assert (await log_in(http, "lan")).status_code == 429
    async with client(app, address="192.0.2.99") as other:
        assert (await log_in(other, "lan")).status_code == 303


async def test_a_limited_login_is_audited_once_per_address_and_window(
    http: AsyncClient, users: InMemoryUserStore
) -> None:
    for _ in range(MAX_FAILURES + 20):
        await log_in(http, "lan", password="sai mật khẩu")
    actions = [e.action for e in users.entries]
    assert (actions.count("login_failed"), actions.count("login_limited")) == (
        MAX_FAILURES, 1)


async def test_a_new_password_lets_a_locked_out_user_back_in_at_once(
    http: AsyncClient, users: InMemoryUserStore, clock: FakeClock
) -> None:
    for _ in range(MAX_FAILURES):
        await log_in(http, "lan", password="sai mật khẩu")
    assert (await log_in(http, "lan")).status_code == 429
    clock.advance(60)
    user = await users.by_name("lan")
    assert user is not None
    await users.set_password("lan", user.password_hash, at=clock.now())  # hotline users passwd
    assert (await log_in(http, "lan")).status_code == 303


async def test_parallel_logins_cannot_pass_the_limit(
    app: Starlette, users: InMemoryUserStore
) -> None:
    async with client(app) as http:
        token = await csrf_of(http)

        async def attempt(i: int) -> int:
            password = PASSWORD if i == 39 else f"sai mật khẩu {i}"
            answer = await http.post("/login", data={
                "username": "lan", "password": password, "csrf_token": token})
            return answer.status_code

        codes = await asyncio.gather(*(attempt(i) for i in range(40)))
    assert Counter(codes) == {401: MAX_FAILURES, 429: 40 - MAX_FAILURES}
    assert sum(e.action == "login_failed" for e in users.entries) == MAX_FAILURES
    auth: Auth = app.state.console.auth
    assert len(auth.locks) == 0  # nobody waits: no lock left behind


async def test_keyed_locks_serialise_one_key_and_forget_it_when_free() -> None:
    locks = KeyedLocks()
    inside: set[str] = set()
    order: list[str] = []

    async def hold(key: str, name: str) -> None:
        async with locks.hold(key):
            assert key not in inside  # one holder per key
            inside.add(key)
            await asyncio.sleep(0)
            order.append(name)
            inside.remove(key)

    await asyncio.gather(hold("a", "a1"), hold("a", "a2"), hold("b", "b1"))
    assert order.index("a1") < order.index("a2")
    assert len(locks) == 0
    waiting = asyncio.ensure_future(hold("a", "a3"))
    async with locks.hold("a"):
        await asyncio.sleep(0)
        waiting.cancel()  # a waiter that gives up drops its share of the key
    await asyncio.gather(waiting, return_exceptions=True)
    assert len(locks) == 0


async def test_a_copied_session_cookie_is_refused_after_logout(
    app: Starlette, http: AsyncClient
) -> None:
    await log_in(http, "lan")
    copied = dict(http.cookies)
    token = await csrf_of(http, "/")
    assert (await http.post("/logout", data={"csrf_token": token})).status_code == 303
    async with client(app) as thief:
        for name, value in copied.items():
            thief.cookies.set(name, value, domain="console.test")
        assert (await thief.get("/")).status_code == 303
    async with client(app) as again:  # logging in again opens a new, valid session
        await log_in(again, "lan")
        assert (await again.get("/")).status_code == 200


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
