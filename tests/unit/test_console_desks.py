"""Máy bàn: operators and admins log desks in or out and pause them from the console
(CSRF-checked, audited, stored for the service to pick up); other roles get 403."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from calllog.presence import DeskStatus, InMemoryPresenceStore
from calllog.users import InMemoryUserStore, Role
from console.desks_page import _talking, install_desk_pages
from routing.live import LiveCall, summarise
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import (
    add_user,
    client,
    console_app,
    csrf_of,
    hotline_config,
    log_in,
)


async def _console(role: Role) -> tuple[InMemoryUserStore, InMemoryPresenceStore, object]:
    users, presence = InMemoryUserStore(), InMemoryPresenceStore()
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    await add_user(users, clock, "lan", role, "Sở Tư pháp" if role is Role.AGENCY else None)
    app = console_app(users, clock)
    install_desk_pages(app, presence)
    return users, presence, app


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR])
async def test_operator_pauses_a_desk_and_it_is_stored_and_audited(role: Role) -> None:
    users, presence, app = await _console(role)
    async with client(app) as http:  # type: ignore[arg-type]
        await log_in(http, "lan")
        token = await csrf_of(http, "/desks")
        answer = await http.post("/desks/1401", data={"action": "pause", "csrf_token": token})
        assert answer.status_code == 303
        page = (await http.get(answer.headers["location"])).text
    row = presence.rows["1401"]
    assert (row.logged_in, row.paused, row.changed_by) == (True, True, "lan")
    assert "Máy 1401 tạm nghỉ." in page
    assert 'value="resume"' in page
    assert users.entries[-1].action == "desk_presence"
    assert users.entries[-1].detail == "desk 1401: pause"


async def test_the_page_shows_logged_out_and_wrap_up_states() -> None:
    _, presence, app = await _console(Role.OPERATOR)
    now = MONDAY_9AM_ICT
    presence.rows["1401"] = DeskStatus("1401", logged_in=False)
    presence.rows["1402"] = DeskStatus("1402", wrap_up_until=now + timedelta(seconds=30),
                                       calls_day=now.date(), calls_today=3)
    async with client(app) as http:  # type: ignore[arg-type]
        await log_in(http, "lan")
        page = (await http.get("/desks")).text
    assert "Đăng xuất" in page and "Vừa xong cuộc gọi, nhận lại từ 09:00:30" in page


@pytest.mark.parametrize("role", [Role.AGENCY, Role.VIEWER])
async def test_other_roles_may_not_change_a_desk(role: Role) -> None:
    users, presence, app = await _console(role)
    async with client(app) as http:  # type: ignore[arg-type]
        await log_in(http, "lan")
        token = await csrf_of(http, "/")
        answer = await http.post("/desks/1401", data={"action": "logout", "csrf_token": token})
    assert answer.status_code == 403
    assert presence.rows == {}
    assert users.entries[-1].action == "forbidden"


async def test_a_change_without_the_form_token_is_refused() -> None:
    _, presence, app = await _console(Role.ADMIN)
    async with client(app) as http:  # type: ignore[arg-type]
        await log_in(http, "lan")
        answer = await http.post("/desks/1401", data={"action": "logout"})
    assert answer.status_code == 403 and presence.rows == {}


@pytest.mark.parametrize(("desk", "action"), [("9999", "logout"), ("1401", "delete")])
async def test_unknown_desk_or_action_is_refused(desk: str, action: str) -> None:
    _, presence, app = await _console(Role.ADMIN)
    async with client(app) as http:  # type: ignore[arg-type]
        await log_in(http, "lan")
        token = await csrf_of(http, "/desks")
        answer = await http.post(f"/desks/{desk}", data={"action": action, "csrf_token": token})
    assert answer.status_code == 400 and presence.rows == {}


def test_a_talking_desk_links_to_its_call() -> None:
    at = MONDAY_9AM_ICT
    calls = [LiveCall(call_id="c1", caller_number="0939123456", started_at=at, step="talking",
                      step_since=at, desks=("1401",)),
             LiveCall(call_id="c2", caller_number="0911000000", started_at=at, step="ringing",
                      step_since=at, desks=("1402",))]
    live = summarise(version=1, service_started_at=at, at=at, calls=calls,
                     config=hotline_config(), registered={}, desks_checked_at=None)
    console = SimpleNamespace(wallboard=SimpleNamespace(board=SimpleNamespace(live=live)))
    assert _talking(console) == {"1401": ("c1", "0939123456")}  # type: ignore[arg-type]
