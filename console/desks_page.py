"""Máy bàn: each desk's presence, and logging it in or out, pausing or resuming it.

GET /desks                 the desks of the YAML with their state
POST /desks/{extension}    action = login | logout | pause | resume, by the logged-in user

The console writes the `desk_presence` table; the service re-reads it every few seconds
(`hotline.serve.PRESENCE_POLL_SECONDS`), so a change reaches calls that soon.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from calllog.presence import DeskStatus, PresenceRepository
from calllog.users import User
from console.access import Action, require
from console.auth import csrf_token
from console.pages import SECTIONS, sections_for
from routing.presence import LOCAL_TZ

if TYPE_CHECKING:
    from console.app import Console

SECTION = next(s for s in SECTIONS if s.path == "/desks")
ACTIONS: dict[str, tuple[bool, bool]] = {
    # action -> (logged in, paused)
    "login": (True, False), "logout": (False, False),
    "pause": (True, True), "resume": (True, False),
}
NOTICES = {
    "login": "Đã đăng nhập máy {ext}.", "logout": "Đã đăng xuất máy {ext}.",
    "pause": "Máy {ext} tạm nghỉ.", "resume": "Máy {ext} tiếp tục nhận cuộc gọi.",
}


def install_desk_pages(app: Starlette, presence: PresenceRepository) -> None:
    app.state.presence = presence


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def presence_of(request: Request) -> PresenceRepository:
    presence: PresenceRepository | None = getattr(request.app.state, "presence", None)
    if presence is None:
        raise RuntimeError("the console was built without the desks' presence")
    return presence


def state_vn(status: DeskStatus | None, now: datetime) -> str:
    if status is None:
        return "Đăng nhập"
    if not status.logged_in:
        return "Đăng xuất"
    if status.paused:
        reason = f" (lý do {status.pause_reason})" if status.pause_reason else ""
        return f"Tạm nghỉ{reason}"
    if status.wrap_up_until is not None and now < status.wrap_up_until:
        until = status.wrap_up_until.astimezone(LOCAL_TZ)
        return f"Vừa xong cuộc gọi, nhận lại từ {until:%H:%M:%S}"
    return "Đăng nhập"


async def desks_page(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.MANAGE_DESKS)
    stored = {s.extension: s for s in await presence_of(request).all()}
    talking = _talking(console)
    now = console.clock.now()
    today = now.astimezone(LOCAL_TZ).date()
    rows = []
    for desk in console.config.desks:
        status = stored.get(desk.extension)
        rows.append({
            "extension": desk.extension, "name": desk.name,
            "branches": [b.key for b in console.config.branches if desk.extension in b.desks],
            "state": state_vn(status, now),
            "logged_in": status is None or status.logged_in,
            "paused": status is not None and status.paused,
            "calls_today": status.calls_today if status and status.calls_day == today else 0,
            "talking": talking.get(desk.extension),
        })
    done, ext = request.query_params.get("done", ""), request.query_params.get("ext", "")
    notice = NOTICES[done].format(ext=ext) if done in NOTICES and ext.isdigit() else None
    return console.render(request, "desks.html", user=user, section=SECTION,
                          sections=sections_for(user), csrf=csrf_token(request), rows=rows,
                          notice=notice)


def _talking(console: Console) -> dict[str, tuple[str, str]]:
    """Desk -> (call id, caller number) of the call it is talking to, from the live feed:
    the call's page lists the number's earlier calls and cases."""
    live = console.wallboard.board.live if console.wallboard is not None else None
    if live is None:
        return {}
    return {desk: (call.call_id, call.caller_number) for call in live.calls
            if call.step == "talking" for desk in call.desks}


async def change_desk(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.MANAGE_DESKS)
    extension = request.path_params["extension"]
    form = await request.form()
    action = form.get("action")
    if console.config.desk(extension) is None or not isinstance(action, str) \
            or action not in ACTIONS:
        return console.render(request, "refused.html", 400, user=user,
                              sections=sections_for(user), csrf=csrf_token(request),
                              message="Máy bàn hoặc thao tác không hợp lệ.")
    await set_presence(request, user, extension, action, f"desk {extension}: {action}")
    return RedirectResponse(f"/desks?done={action}&ext={extension}", status_code=303)


async def set_presence(
    request: Request, user: User, extension: str, action: str, audit: str,
) -> None:
    """Carry out `action` (one of `ACTIONS`) on the desk, and keep it in the audit log."""
    console = _console(request)
    logged_in, paused = ACTIONS[action]
    await presence_of(request).set_state(extension, logged_in=logged_in, paused=paused,
                                         pause_reason=None, at=console.clock.now(),
                                         by=user.username)
    await console.auth.record(request, "desk_presence", username=user.username,
                              detail=audit)


def routes() -> list[BaseRoute]:
    return [
        Route("/desks", desks_page, methods=["GET"], name="desks"),
        Route("/desks/{extension}", change_desk, methods=["POST"], name="change_desk"),
    ]
