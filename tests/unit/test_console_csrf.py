"""Every state-changing request carries the session's CSRF token, or is refused 403 before
any route runs: audited for a logged-in user, only logged (rate-limited) for a visitor.
Every state-changing request's body is held to the size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from httpx import AsyncClient
from structlog.testing import capture_logs

from calllog.users import InMemoryUserStore, Role
from console.auth import MAX_DETAIL
from console.csrf import MAX_FIELDS, PerAddressLog
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
    assert users.entries == []  # a visitor's refusals are logged, not audited


async def test_a_visitors_refusals_are_logged_once_a_minute_per_address_never_audited(
    http: AsyncClient, users: InMemoryUserStore
) -> None:
    with capture_logs() as logs:
        for _ in range(60):
            answer = await http.post("/" + "A" * 4000)
            assert answer.status_code == 403
    assert users.entries == []
    refused = [e for e in logs if e["event"] == "anonymous request refused"]
    assert len(refused) == 1 and len(refused[0]["path"]) == MAX_DETAIL
    assert refused[0]["address"] == "192.0.2.10"


def test_the_per_address_log_counts_what_it_left_out_and_forgets_old_addresses() -> None:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    quiet = PerAddressLog(clock, every=60, max_addresses=3)
    assert [quiet.allow("a"), quiet.allow("a"), quiet.allow("a")] == [0, None, None]
    clock.advance(60)
    assert quiet.allow("a") == 2
    for address in ("b", "c", "d", "e"):
        assert quiet.allow(address) == 0
    assert len(quiet) <= 3


async def test_a_logged_in_users_refusal_is_audited_with_the_path_cut_to_200(
    http: AsyncClient, users: InMemoryUserStore
) -> None:
    await log_in(http, "lan")
    assert (await http.post("/" + "A" * 4000)).status_code == 403
    entry = users.entries[-1]
    assert entry.action == "csrf_refused" and len(entry.detail) <= MAX_DETAIL
    assert entry.detail.startswith("POST /AAAA")


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


async def test_an_oversized_body_with_the_header_token_is_refused_413(
    http: AsyncClient,
) -> None:
    token = await csrf_of(http)  # a visitor's token, from the login form
    parts = {f"f{i}": ("x", b"x" * (1024 * 1024), "text/plain") for i in range(6)}
    answer = await http.post("/login", headers={"X-CSRF-Token": token}, files=parts)
    assert answer.status_code == 413


async def test_an_oversized_chunked_body_is_refused_413_while_the_route_reads_it(
    http: AsyncClient,
) -> None:
    token = await csrf_of(http)

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: chunked
        yield b"username=lan"
        for i in range(8):  # each field under the part limit, together over the body's
            yield f"&f{i}=".encode() + b"x" * (900 * 1024)

    answer = await http.post("/login", content=chunks(), headers={
        "X-CSRF-Token": token, "content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413


async def test_a_multipart_form_with_too_many_fields_is_refused(http: AsyncClient) -> None:
    token = await csrf_of(http)
    fields = {f"f{i}": ("x", b"x", "text/plain") for i in range(MAX_FIELDS + 1)}
    answer = await http.post("/login", headers={"X-CSRF-Token": token}, files=fields)
    assert answer.status_code == 400
