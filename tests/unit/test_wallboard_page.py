"""Who may open the wallboard and its event stream (in process, no live feed)."""

from __future__ import annotations

import pytest

from calllog.users import InMemoryUserStore, Role
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import add_user, client, console_app, log_in

SO_TU_PHAP = "Sở Tư pháp"


async def _app(role: Role) -> tuple[InMemoryUserStore, object]:
    users = InMemoryUserStore()
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    await add_user(users, clock, "u", role, SO_TU_PHAP if role is Role.AGENCY else None)
    return users, console_app(users, clock)


@pytest.mark.parametrize("path", ["/wallboard", "/wallboard/events"])
async def test_an_agency_user_is_refused_the_wallboard_403(path: str) -> None:
    users, app = await _app(Role.AGENCY)
    async with client(app) as http:  # type: ignore[arg-type]
        await log_in(http, "u")
        answer = await http.get(path)
    assert answer.status_code == 403
    assert users.entries[-1].action == "forbidden"


@pytest.mark.parametrize("path", ["/wallboard", "/wallboard/events"])
async def test_a_visitor_is_sent_to_log_in_before_the_wallboard(path: str) -> None:
    _, app = await _app(Role.VIEWER)
    async with client(app) as http:  # type: ignore[arg-type]
        answer = await http.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR, Role.VIEWER])
async def test_a_console_without_a_live_feed_says_so_instead_of_streaming(role: Role) -> None:
    _, app = await _app(role)
    async with client(app) as http:  # type: ignore[arg-type]
        await log_in(http, "u")
        page = await http.get("/wallboard")
        events = await http.get("/wallboard/events")
    assert page.status_code == 200
    assert "Đang kết nối với dịch vụ tổng đài" in page.text
    assert "data-events" not in page.text
    assert events.status_code == 503
