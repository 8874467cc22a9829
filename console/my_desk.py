"""Bàn của tôi: the console of a user bound to a desk (`console_users.desk`).

GET  /my-desk            the desk's presence with one-click log in/out and pause/resume,
                         and the "cuộc gọi đang nghe" panel
GET  /my-desk/events     Server-Sent Events: `panel` with the panel's HTML each time the
                         desk's call changes (answered, ended; console/static/my_desk.js)
POST /my-desk/presence   action = login | logout | pause | resume, for the user's own desk

The panel shows, while the desk talks (the service's live state: a call at the step
"talking" on this desk), the caller's calls of the last `HISTORY_DAYS` days (at most
`HISTORY_LIMIT`) and their open cases; an agency user sees only their agency's. The
live state comes from the console's one `WallboardFeed`; the database is read once per
call the desk answers, per open page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from calllog.queries import CallerHistory
from calllog.users import User
from console.access import agency_scope, require_desk
from console.auth import csrf_token
from console.desks_page import ACTIONS, NOTICES, presence_of, set_presence, state_vn
from console.pages import sections_for
from console.wallboard import SSE_RETRY_MS, checked_boards
from reports.labels import CASE_STATUS_LABELS, OUTCOME_LABELS
from routing.live import LiveCall, LiveSnapshot

if TYPE_CHECKING:
    from console.app import Console

HISTORY_DAYS = 7
HISTORY_LIMIT = 10


@dataclass(frozen=True)
class Panel:
    """What the panel shows: the desk's call (None: not talking) and its caller's past."""

    desk: str
    call: LiveCall | None = None
    history: CallerHistory | None = None
    failed: bool = False
    """The caller's history could not be read (the call is still shown)."""


def talking_call(live: LiveSnapshot | None, desk: str) -> LiveCall | None:
    """The call `desk` talks in now, from the service's live state (None: none)."""
    if live is None:
        return None
    return next((c for c in live.calls if c.step == "talking" and desk in c.desks), None)


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


async def _desk_user(request: Request) -> tuple[Console, User, str]:
    console = _console(request)
    user = await console.auth.signed_in(request)
    return console, user, require_desk(user)


async def panel_for(console: Console, user: User, desk: str, call: LiveCall | None) -> Panel:
    if call is None or console.queries is None:
        return Panel(desk, call)
    since = console.clock.now() - timedelta(days=HISTORY_DAYS)
    try:
        history = await console.queries.caller_history(
            call.call_id, since=since, limit=HISTORY_LIMIT, agency=agency_scope(user))
    except Exception:
        return Panel(desk, call, failed=True)
    return Panel(desk, call, history)


def render_panel(console: Console, panel: Panel) -> str:
    template = console.templates.env.get_template("my_desk_panel.html")
    return template.render(panel=panel, now=console.clock.now(), outcomes=OUTCOME_LABELS,
                           statuses=CASE_STATUS_LABELS)


def _live(console: Console) -> LiveSnapshot | None:
    return console.wallboard.board.live if console.wallboard is not None else None


async def page(request: Request) -> Response:
    console, user, desk = await _desk_user(request)
    stored = {s.extension: s for s in await presence_of(request).all()}
    status = stored.get(desk)
    panel = await panel_for(console, user, desk, talking_call(_live(console), desk))
    done = request.query_params.get("done", "")
    return console.render(
        request, "my_desk.html", user=user, sections=sections_for(user),
        csrf=csrf_token(request), desk=desk, state=state_vn(status, console.clock.now()),
        logged_in=status is None or status.logged_in,
        paused=status is not None and status.paused,
        notice=NOTICES[done].format(ext=desk) if done in NOTICES else None,
        panel_html=render_panel(console, panel), live=console.wallboard is not None)


async def events(request: Request) -> Response:
    console, user, desk = await _desk_user(request)
    feed = console.wallboard
    if feed is None:
        return Response("no live feed in this console\n", 503, media_type="text/plain")

    async def still_allowed() -> bool:
        again = await console.auth.current_user(request)
        return again is not None and again.desk == desk and again.id == user.id

    async def stream() -> AsyncIterator[str]:
        yield f"retry: {SSE_RETRY_MS}\n\n"
        shown: tuple[str | None, bool] | None = None
        async for board in checked_boards(feed.changes(), still_allowed, console.clock):
            call = talking_call(board.live, desk)
            key = (call.call_id if call else None, board.down is not None)
            if key == shown:
                continue
            shown = key
            html = render_panel(console, await panel_for(console, user, desk, call))
            data = "".join(f"data: {line}\n" for line in html.splitlines())
            yield f"event: panel\nid: {board.generation}\n{data}\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def change_presence(request: Request) -> Response:
    console, user, desk = await _desk_user(request)
    form = await request.form()
    action = form.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        return console.render(request, "refused.html", 400, user=user,
                              sections=sections_for(user), csrf=csrf_token(request),
                              message="Thao tác không hợp lệ.")
    await set_presence(request, user, desk, action, f"desk {desk}: {action} (own desk)")
    return RedirectResponse(f"/my-desk?done={action}", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/my-desk", page, methods=["GET"], name="my_desk"),
        Route("/my-desk/events", events, methods=["GET"], name="my_desk_events"),
        Route("/my-desk/presence", change_presence, methods=["POST"],
              name="my_desk_presence"),
    ]
