"""Every state-changing request carries the session's CSRF token, or is refused 403 and
audited before any route runs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from httpx import AsyncClient
from structlog.testing import capture_logs

from calllog.users import InMemoryUserStore, Role
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import PASSWORD, add_user, client, console_app, csrf_of, log_in


@pytest.fixture
def users() -> InMemoryUserStore:
    return InMemoryUserStore()


@pytest_asyncio.fixture
async def http(users: InMemoryUserStore) -> AsyncIterator[AsyncClient]:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    await add_user(users, clock, "lan", Role.OPERATOR)
    async with client(console_app(users, clock)) as http:
        yield http


async def test_login_without_the_csrf_token_is_refused(
    http: AsyncClient, users: InMemoryUserStore
) -> None:
    await http.get("/login")
    answer = await http.post("/login", data={"username": "lan", "password": PASSWORD})
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    assert (await http.get("/")).status_code == 303  # not logged in
    entry = users.entries[-1]
    assert entry.action == "csrf_refused" and entry.detail == "POST /login: no CSRF token"


async def test_post_without_the_token_from_a_logged_in_user_is_refused_and_logged(
    http: AsyncClient, users: InMemoryUserStore
) -> None:
    await log_in(http, "lan")
    with capture_logs() as logs:
        answer = await http.post("/logout")
    assert answer.status_code == 403
    assert (await http.get("/")).status_code == 200  # still logged in
    assert users.entries[-1].username == "lan"
    assert any(e["event"] == "request refused" and e["log_level"] == "warning" for e in logs)


async def test_a_token_of_another_session_is_refused(
    http: AsyncClient, users: InMemoryUserStore
) -> None:
    await log_in(http, "lan")
    async with client(http._transport.app) as other:  # type: ignore[attr-defined]
        foreign = await csrf_of(other)
    answer = await http.post("/logout", data={"csrf_token": foreign})
    assert answer.status_code == 403
    assert users.entries[-1].detail == "POST /logout: wrong CSRF token"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_every_state_changing_method_needs_the_token(
    http: AsyncClient, method: str
) -> None:
    await log_in(http, "lan")
    answer = await http.request(method, "/cases")
    assert answer.status_code == 403


async def test_the_token_in_the_header_is_accepted(http: AsyncClient) -> None:
    await log_in(http, "lan")
    token = await csrf_of(http, "/")
    answer = await http.post("/logout", headers={"X-CSRF-Token": token})
    assert answer.status_code == 303
    assert (await http.get("/")).status_code == 303


async def test_pages_carry_the_token_for_htmx_requests(http: AsyncClient) -> None:
    await log_in(http, "lan")
    token = await csrf_of(http, "/")
    home = await http.get("/")
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in home.text


async def test_the_token_in_a_multipart_form_with_a_file_is_accepted(
    http: AsyncClient,
) -> None:
    await log_in(http, "lan")
    token = await csrf_of(http, "/")
    answer = await http.post("/logout", data={"csrf_token": token},
                             files={"yaml": ("hotline.yaml", b"hotline: {}\n", "text/yaml")})
    assert answer.status_code == 303
    assert (await http.get("/")).status_code == 303


async def test_an_oversized_form_is_refused_before_any_route(http: AsyncClient) -> None:
    await log_in(http, "lan")
    answer = await http.post("/logout", content=b"a=" + b"x" * (6 * 1024 * 1024),
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413
    assert (await http.get("/")).status_code == 200
