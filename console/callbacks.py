"""Gọi lại: citizens waiting for a call back, oldest first, and "Đã gọi lại".

GET /callbacks                 the pending list (overdue ones marked) and the latest handled
POST /callbacks/{call_id}      record one call back: result and note, by the logged-in user
POST /callbacks/{call_id}/dial ask the service to ring the operator's desk, then the citizen

"Gọi lại" writes a request row (`callback_queue`) that the service picks up within a
couple of seconds (`ivr.callback`): the console and the service share the database
already, the request survives either restarting, and the console needs no way into the
service's process.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from console.access import Action, may, require, require_agency
from console.auth import csrf_token
from console.casework import FollowupWork, Refused
from console.csrf import read_form
from console.pages import SECTIONS, sections_for
from reports.labels import CALLBACK_RESULT_LABELS, OUTCOME_LABELS
from routing.deadlines import callback_overdue_at

if TYPE_CHECKING:
    from console.app import Console

PENDING_PAGE = 100
HANDLED_SHOWN = 20
SECTION = next(s for s in SECTIONS if s.path == "/callbacks")
NOTICES = {
    "reached": "Đã ghi nhận: đã liên lạc được với người dân.",
    "wrong_number": "Đã ghi nhận: sai số, cuộc gọi rời danh sách chờ.",
    "not_reached": "Đã ghi nhận lần gọi không liên lạc được; cuộc gọi vẫn chờ gọi lại.",
    "stale": "Cuộc gọi này không còn chờ gọi lại (có thể người khác vừa ghi nhận).",
    "dialling": "Tổng đài đang đổ chuông máy bàn của quý vị; khi nhấc máy, tổng đài gọi "
                "người dân và nối máy. Kết quả được ghi tự động.",
}


def duration_vn(span: timedelta) -> str:
    """"2 ngày 3 giờ", "4 giờ 5 phút", "12 phút": an age as people say it."""
    minutes = max(0, int(span.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} ngày {hours} giờ" if hours else f"{days} ngày"
    if hours:
        return f"{hours} giờ {minutes} phút" if minutes else f"{hours} giờ"
    return f"{minutes} phút"


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _work(console: Console) -> FollowupWork:
    if console.followup is None:
        raise RuntimeError("the console was built without its follow-up actions")
    return console.followup


async def callbacks_page(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_CALLBACKS)
    assert console.queries is not None, "the console was built without the call log"
    offset = _offset(request.query_params.get("offset"))
    now = console.clock.now()
    pending = await console.queries.pending_callbacks(
        now=now, overdue_at=callback_overdue_at(console.config), limit=PENDING_PAGE,
        offset=offset)
    handled = await console.queries.handled_callbacks(limit=HANDLED_SHOWN)
    return console.render(
        request, "callbacks.html", user=user, section=SECTION, sections=sections_for(user),
        csrf=csrf_token(request), pending=pending, handled=handled,
        notice=NOTICES.get(request.query_params.get("done", "")),
        results=CALLBACK_RESULT_LABELS, outcomes=OUTCOME_LABELS, age=duration_vn,
        overdue_hours=console.config.callbacks.overdue_after_working_hours,
        may_handle=may(user, Action.HANDLE_CALLBACKS),
        may_dial=console.config.callback.enabled, desks=console.config.desks,
        next_offset=offset + PENDING_PAGE if offset + PENDING_PAGE < pending.total else None,
        previous_offset=max(0, offset - PENDING_PAGE) if offset else None)


async def record_callback(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.HANDLE_CALLBACKS)
    form = await read_form(request)
    result, note = form.get("result"), form.get("note")
    try:
        recorded = await _work(console).record_callback(
            request.path_params["call_id"], result=result if isinstance(result, str) else "",
            note=note if isinstance(note, str) else "", by=user.username,
            at=console.clock.now())
    except Refused as exc:
        return console.render(request, "refused.html", 400, user=user,
                              sections=sections_for(user), csrf=csrf_token(request),
                              message=str(exc))
    done = result if recorded and isinstance(result, str) else "stale"
    if recorded:
        await console.auth.record(request, "callback_recorded", username=user.username,
                                  detail=f"call {request.path_params['call_id']}: {done}")
    return RedirectResponse(f"/callbacks?done={done}", status_code=303)


async def dial_callback(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.HANDLE_CALLBACKS)
    assert console.queries is not None, "the console was built without the call log"
    call_id = request.path_params["call_id"]
    detail = await console.queries.call(call_id)
    if detail is None:
        return RedirectResponse("/callbacks?done=stale", status_code=303)
    require_agency(user, detail.view.call.agency)
    form = await read_form(request)
    # The user's own desk rings first; a user with none (a shared office) names one.
    desk = user.desk or form.get("desk")
    try:
        requested = await _work(console).request_callback(
            detail.view.call, desk=desk if isinstance(desk, str) else "", by=user.username,
            at=console.clock.now(), config=console.config)
    except Refused as exc:
        return console.render(request, "refused.html", 400, user=user,
                              sections=sections_for(user), csrf=csrf_token(request),
                              message=str(exc))
    if requested:
        await console.auth.record(request, "callback_dialled", username=user.username,
                                  detail=f"call {call_id}: desk {desk}")
    return RedirectResponse(f"/callbacks?done={'dialling' if requested else 'stale'}",
                            status_code=303)


def _offset(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


def routes() -> list[BaseRoute]:
    return [
        Route("/callbacks", callbacks_page, methods=["GET"], name="callbacks"),
        Route("/callbacks/{call_id}", record_callback, methods=["POST"],
              name="record_callback"),
        Route("/callbacks/{call_id}/dial", dial_callback, methods=["POST"],
              name="dial_callback"),
    ]
