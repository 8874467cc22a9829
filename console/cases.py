"""Phản ánh: complaint cases, from a call to their resolution, before their deadline.

GET  /cases                 the list, filtered (status, agency, channel, overdue, period)
GET  /cases/new?call_id=X   the form that opens a case for a call (the calls page links it)
POST /cases/open            open it (call_id, note)
GET  /cases/{id}            one case: its call, deadline, history, the next step's form
POST /cases/{id}            move it on (status, agency when forwarding, note)
(a case's Zalo conversation and its reply form: `console.zalo_chat`)

Agency users see and change their agency's cases only (`console.access.require_agency`):
another agency's case is 403 on every route, and they forward to their own agency only.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from calllog.cases import allowed_next
from calllog.model import CaseStatus
from calllog.queries import CallDetail, CaseFilter, CaseView
from console.access import Action, agency_scope, may, require, require_agency
from console.auth import csrf_token
from console.casework import FollowupWork, Refused
from console.csrf import read_form
from console.fmt import LOCAL
from console.pages import SECTIONS, sections_for
from console.zalo_chat import CHANNEL_LABELS, case_context
from reports.labels import CASE_STATUS_LABELS, OUTCOME_LABELS

if TYPE_CHECKING:
    from calllog.queries import CallQueries
    from calllog.users import User
    from console.app import Console

PAGE = 50
SECTION = next(s for s in SECTIONS if s.path == "/cases")


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _queries(console: Console) -> CallQueries:
    if console.queries is None:
        raise RuntimeError("the console was built without the call log")
    return console.queries


def _work(console: Console) -> FollowupWork:
    if console.followup is None:
        raise RuntimeError("the console was built without its follow-up actions")
    return console.followup


def _text(form: FormData | QueryParams, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _day(raw: str) -> date | None:
    """A day as people type it (dd/mm/yyyy), or yyyy-mm-dd; None if neither."""
    for parse in (lambda r: datetime.strptime(r, "%d/%m/%Y").date(), date.fromisoformat):
        try:
            return parse(raw) if raw else None
        except ValueError:
            continue
    return None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), LOCAL)


async def cases_page(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_CASES)
    params = request.query_params
    now = console.clock.now()
    status = _text(params, "status")
    agency = agency_scope(user) or _text(params, "agency") or None
    overdue = _text(params, "overdue") == "1"
    since, until = _day(_text(params, "from")), _day(_text(params, "to"))
    bad_day = (since is None and bool(_text(params, "from"))) or (
        until is None and bool(_text(params, "to")))
    try:
        offset = max(0, int(_text(params, "offset") or 0))
    except ValueError:
        offset = 0
    channel = _text(params, "channel")
    filters = CaseFilter(
        channel=channel if channel in CHANNEL_LABELS else None,
        status=status if status in {s.value for s in CaseStatus} else None,
        agency=agency, overdue_at=now if overdue else None,
        since=None if since is None else _midnight(since),
        until=None if until is None else _midnight(until + timedelta(days=1)))
    found = await _queries(console).cases(filters, limit=PAGE, offset=offset)
    return console.render(
        request, "cases.html", user=user, section=SECTION, sections=sections_for(user),
        csrf=csrf_token(request), found=found, filters=filters, overdue=overdue,
        since=since, until=until, statuses=CASE_STATUS_LABELS, channels=CHANNEL_LABELS,
        error="Ngày không hợp lệ: hãy nhập theo dạng dd/mm/yyyy." if bad_day else None,
        agencies=_work(console).agencies, scoped=agency_scope(user) is not None,
        next_url=(str(request.url.include_query_params(offset=offset + PAGE))
                  if offset + PAGE < found.total else None),
        previous_url=(str(request.url.include_query_params(offset=max(0, offset - PAGE)))
                      if offset else None))


async def _call_for_case(console: Console, user: User, call_id: str) -> CallDetail | None:
    detail = await _queries(console).call(call_id)
    if detail is not None:
        require_agency(user, detail.view.call.agency)
    return detail


async def new_case_form(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.CHANGE_CASES)
    detail = await _call_for_case(console, user, _text(request.query_params, "call_id"))
    return _render_new(console, request, user, detail)


def _render_new(console: Console, request: Request, user: User, detail: CallDetail | None,
                error: str | None = None, status_code: int = 200) -> Response:
    if detail is None:
        error, status_code = "Không tìm thấy cuộc gọi này.", 404
    return console.render(
        request, "case_new.html", status_code, user=user, section=SECTION,
        sections=sections_for(user), csrf=csrf_token(request), detail=detail, error=error,
        outcomes=OUTCOME_LABELS, statuses=CASE_STATUS_LABELS)


async def open_case(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.CHANGE_CASES)
    form = await read_form(request)
    detail = await _call_for_case(console, user, _text(form, "call_id"))
    if detail is None:
        return _render_new(console, request, user, None)
    if detail.cases and _text(form, "another") != "1":
        return RedirectResponse(f"/cases/{detail.cases[0].id}", status_code=303)
    try:
        case = await _work(console).open_case(
            detail.view.call, by=user.username, at=console.clock.now(),
            note=_text(form, "note"), agency=agency_scope(user))
    except Refused as exc:
        return _render_new(console, request, user, detail, str(exc), 400)
    await console.auth.record(request, "case_opened", username=user.username,
                              detail=f"case {case.id} for call {detail.view.call.call_id}")
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


async def _case_for(console: Console, user: User, case_id: int) -> CaseView | None:
    case = await _queries(console).case(case_id)
    if case is not None:
        require_agency(user, case.agency)
    return case


async def case_page(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_CASES)
    case = await _case_for(console, user, request.path_params["case_id"])
    return await _render_case(console, request, user, case)


async def _render_case(console: Console, request: Request, user: User,
                       case: CaseView | None, error: str | None = None,
                       status_code: int = 200, form: dict[str, str] | None = None) -> Response:
    if case is None:
        return console.render(request, "case_missing.html", 404, user=user, section=SECTION,
                              sections=sections_for(user), csrf=csrf_token(request))
    call = None
    if case.call_id is not None:
        detail = await _queries(console).call(case.call_id)
        call = None if detail is None else detail.view.call
    scope = agency_scope(user)
    return console.render(
        request, "case.html", status_code, user=user, section=SECTION,
        sections=sections_for(user), csrf=csrf_token(request), case=case, call=call,
        overdue=case.overdue(console.clock.now()), statuses=CASE_STATUS_LABELS,
        outcomes=OUTCOME_LABELS, next_steps=allowed_next(case.status),
        may_change=may(user, Action.CHANGE_CASES),
        agencies=(scope,) if scope else _work(console).agencies,
        error=error, form=form or {},
        **await case_context(console, user, case, request.query_params.get("zalo")))


async def change_case(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.CHANGE_CASES)
    case = await _case_for(console, user, request.path_params["case_id"])
    if case is None:
        return await _render_case(console, request, user, None)
    form = await read_form(request)
    wanted = {name: _text(form, name) for name in ("status", "agency", "note")}
    if wanted["status"] == CaseStatus.FORWARDED and wanted["agency"]:
        require_agency(user, wanted["agency"])  # an agency forwards to itself only
    try:
        await _work(console).change_case(
            case.id, case.status, status=wanted["status"], agency=wanted["agency"] or None,
            note=wanted["note"], by=user.username, at=console.clock.now())
    except Refused as exc:
        return await _render_case(console, request, user, case, str(exc), 400, wanted)
    await console.auth.record(
        request, "case_changed", username=user.username,
        detail=f"case {case.id}: {case.status.value} -> {wanted['status']}"
               + (f" ({wanted['agency']})" if wanted["status"] == "forwarded" else ""))
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/cases", cases_page, methods=["GET"], name="cases"),
        Route("/cases/new", new_case_form, methods=["GET"], name="new_case"),
        Route("/cases/open", open_case, methods=["POST"], name="open_case"),
        Route("/cases/{case_id:int}", case_page, methods=["GET"], name="case"),
        Route("/cases/{case_id:int}", change_case, methods=["POST"], name="change_case"),
    ]
