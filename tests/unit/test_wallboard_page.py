"""Who may open the wallboard and its event stream, and what the board draws (in
process, no live feed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from starlette.applications import Starlette

from calllog.model import Outcome
from calllog.presence import DeskStatus, PresenceChange, PresenceHistory
from calllog.today import DayCounts
from calllog.users import InMemoryUserStore, Role
from console.live_feed import Board
from console.wallboard import render_board
from reports.figures import tally_records
from routing.live import LiveCall, summarise
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import add_user, client, console_app, hotline_config, log_in

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


def _tile(html: str, testid: str) -> str:
    """The `<li>` of the tile whose number has `data-testid=testid`."""
    start = html.rindex("<li", 0, html.index(f'data-testid="{testid}"'))
    return html[start:html.index("</li>", start)]


async def test_overdue_call_backs_get_a_red_tile_of_their_own() -> None:
    _, app = await _app(Role.VIEWER)
    assert isinstance(app, Starlette)
    console = app.state.console
    figures = DayCounts({}, 0, callbacks_pending=5, cases_overdue=0, callbacks_overdue=2)
    html = render_board(console, Board(generation=1, figures=figures))
    tile = _tile(html, "callbacks-overdue")
    assert "Gọi lại quá hạn" in tile and 'data-testid="callbacks-overdue">2<' in tile
    assert "wb-bad" in tile
    assert "wb-warn" in _tile(html, "callbacks-pending")

    none_late = render_board(console, Board(generation=2, figures=DayCounts(
        {}, 0, callbacks_pending=5, cases_overdue=0, callbacks_overdue=0)))
    assert 'data-testid="callbacks-overdue">0<' in none_late
    assert "wb-bad" not in _tile(none_late, "callbacks-overdue")


async def test_the_board_shows_the_queue_figures_and_each_desk_with_its_day() -> None:
    _, app = await _app(Role.VIEWER)
    assert isinstance(app, Starlette)
    console = app.state.console
    config = hotline_config()
    first, second, third = (d.extension for d in config.desks[:3])
    now = MONDAY_9AM_ICT
    live = summarise(
        version=3, service_started_at=now - timedelta(hours=1), at=now, config=config,
        calls=[LiveCall(call_id="c1", caller_number="0911000000", started_at=now,
                        step="talking", step_since=now, desks=(first,))],
        registered={d.extension: True for d in config.desks}, desks_checked_at=now)
    tallies = tally_records([], None)
    tallies = replace(tallies, queue_waits={"answered": {10: 1, 40: 1}, "abandoned": {70: 1}},
                      queue_connected={10: 1, 40: 1}, desk_talk={first: {125: 2}})
    minutes = timedelta(minutes=1)
    figures = DayCounts(
        {Outcome.CONNECTED: 3, Outcome.ABANDONED_WHILE_RINGING: 1}, 4, callbacks_pending=0,
        cases_overdue=0, tallies=tallies,
        presence=PresenceHistory((PresenceChange(second, now - 30 * minutes, True, True),),
                                 as_of=now),
        desks=(DeskStatus(second, paused=True), DeskStatus(third, wrap_up_until=now + minutes)))
    html = render_board(console, Board(generation=1, live=live, figures=figures))

    # connected 3 (one after 40 s) of 4 offered: 2 within 20 s, 2 within 30 s
    assert 'data-testid="service-level-20">50<' in html
    assert 'data-testid="queue-abandoned">1<' in html
    assert 'data-testid="queue-wait">0:40 / 1:10<' in html

    def row(extension: str) -> str:
        start = html.index(f'data-testid="desk-row-{extension}"')
        return html[start:html.index("</tr>", start)]

    assert 'data-presence="talking"' in row(first) and ">2<" in row(first)
    assert ">4:10<" in row(first)  # talk time today
    assert 'data-presence="paused"' in row(second) and ">30:00<" in row(second)
    assert 'data-presence="wrap_up"' in row(third)
