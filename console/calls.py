"""Calls (Cuộc gọi): the search, a call's page, and its voice message.

Admins and the operating team see every call; an agency user sees its agency's calls
only (the calls to it, and those from its station): the search is scoped to it, and
another agency's call, or its recording, is refused 403.

The voice message is served from the recording spool (`Console.recordings`): the file
name comes from the call's row, never from the URL, and must be a plain name there.
Starlette's `FileResponse` answers a `Range` request with 206 and `Content-Range`
(checked in the pinned 1.10), so the browser's player can seek.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from calllog.model import CallRecord, Outcome
from calllog.queries import CallDetail
from calllog.users import User
from console.access import (
    Action,
    agency_scope,
    may,
    may_see_agency,
    require,
    require_agency,
)
from console.auth import csrf_token
from console.call_search import COUNT_CAP, PAGE_SIZE, parse_search
from console.pages import SECTIONS, sections_for
from console.timeline import cause_vn, timeline
from reports.labels import (
    CALLBACK_RESULT_LABELS,
    CALLBACK_STATE_LABELS,
    CASE_STATUS_LABELS,
    HANGUP_BY_LABELS,
    OUTCOME_LABELS,
    SURVEY_LABELS,
)

if TYPE_CHECKING:
    from calllog.queries import CallQueries
    from console.app import Console

SECTION = next(s for s in SECTIONS if s.path == "/calls")
RECORDING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LABELS = {
    "outcomes": {o: OUTCOME_LABELS[o] for o in Outcome},
    "outcome_of": OUTCOME_LABELS,
    "survey_of": SURVEY_LABELS,
    "callback_state": CALLBACK_STATE_LABELS,
    "callback_result": CALLBACK_RESULT_LABELS,
    "case_status": CASE_STATUS_LABELS,
    "hangup_by": HANGUP_BY_LABELS,
}


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _queries(console: Console) -> CallQueries:
    if console.queries is None:
        raise HTTPException(503, "Bảng điều khiển chưa nối với nhật ký cuộc gọi.")
    return console.queries


def require_call(user: User, call: CallRecord) -> None:
    """An agency user sees a call to its agency or from its station; 403 otherwise."""
    if not may_see_agency(user, call.caller_agency):
        require_agency(user, call.agency)


def agencies(console: Console) -> list[str]:
    """Every agency of the YAML (branches' and stations'), for the filter."""
    names = {b.agency for b in console.config.branches}
    names |= {s.agency for s in console.config.stations if s.agency}
    return sorted(names)


async def search(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_CALLS)
    scope = agency_scope(user)
    form = parse_search(request.query_params, scope)
    if form.values["agency"]:
        require_agency(user, form.values["agency"])
    found = await _queries(console).search_calls(
        form.filters, limit=PAGE_SIZE, offset=form.offset, count_cap=COUNT_CAP)
    pages = max(1, -(-found.total // PAGE_SIZE))
    if found.capped:  # pages past the count go on while they are full
        pages = max(pages, form.page + (len(found.items) == PAGE_SIZE))
    return console.render(
        request, "calls.html", 400 if form.errors else 200, user=user, section=SECTION,
        sections=sections_for(user), csrf=csrf_token(request), form=form, found=found,
        pages=pages, agencies=[scope] if scope else agencies(console), labels=LABELS)


async def _visible_call(request: Request, console: Console, user: User) -> CallDetail:
    detail = await _queries(console).call(request.path_params["call_id"])
    if detail is None:
        raise HTTPException(404, "Không có cuộc gọi này.")
    require_call(user, detail.view.call)
    return detail


async def call_page(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_CALLS)
    detail = await _visible_call(request, console, user)
    call = detail.view.call
    earlier = [c for c in await _queries(console).earlier_calls(call.call_id)
               if may_see_agency(user, c.caller_agency) or may_see_agency(user, c.agency)]
    cases = [c for c in detail.cases if may_see_agency(user, c.agency)]
    has_voice = _recording_path(console, call) is not None
    review = _review(console, detail) if may(user, Action.PLAY_REVIEW_RECORDINGS) else None
    return console.render(
        request, "call.html", user=user, section=SECTION, sections=sections_for(user),
        csrf=csrf_token(request), detail=detail, call=call, lines=timeline(
            detail.events, console.config),
        earlier=earlier, cases=cases, has_voice=has_voice, review=review, labels=LABELS,
        cause=cause_vn(call.hangup_cause), may_open_case=may(user, Action.CHANGE_CASES))


def _recording_path(console: Console, call: CallRecord) -> Path | None:
    """The call's voice message in the spool, if it is a plain name and is there."""
    return _spool_file(console, call.recording)


def _spool_file(console: Console, name: str | None) -> Path | None:
    """`<name>.wav` in the recording spool, if `name` is a plain name and it is there."""
    spool = console.recordings
    if spool is None or not name or not RECORDING_NAME.fullmatch(name) or ".." in name:
        return None
    path = spool / f"{name}.wav"
    if path.resolve().parent != spool.resolve() or not path.is_file():
        return None
    return path


@dataclass(frozen=True)
class ReviewRecording:
    name: str
    path: Path | None
    purged: bool

    @property
    def playable(self) -> bool:
        return self.path is not None


def _review(console: Console, detail: CallDetail) -> ReviewRecording | None:
    """The call's quality-review recording, as its timeline names it (None: not recorded)."""
    names = [str(e.detail.get("name")) for e in detail.events if e.kind == "review_recording"]
    if not names:
        return None
    purged = any(e.kind == "review_recording_purged" for e in detail.events)
    return ReviewRecording(names[-1], _spool_file(console, names[-1]), purged)


async def review_recording(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_CALLS)
    detail = await _visible_call(request, console, user)
    require(user, Action.PLAY_REVIEW_RECORDINGS)
    review = _review(console, detail)
    if review is None or review.path is None:
        raise HTTPException(404, "Cuộc gọi này không có tệp ghi âm.")
    return FileResponse(review.path, media_type="audio/wav",
                        headers={"Cache-Control": "private, no-store"})


async def recording(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_CALLS)
    detail = await _visible_call(request, console, user)
    path = _recording_path(console, detail.view.call)
    if path is None:
        raise HTTPException(404, "Cuộc gọi này không có tin nhắn thoại.")
    return FileResponse(path, media_type="audio/wav",
                        headers={"Cache-Control": "private, no-store"})


def routes() -> list[BaseRoute]:
    return [
        Route("/calls", search, methods=["GET"], name="calls"),
        Route("/calls/{call_id}", call_page, methods=["GET"], name="call"),
        Route("/calls/{call_id}/recording", recording, methods=["GET"], name="call_recording"),
        Route("/calls/{call_id}/review-recording", review_recording, methods=["GET"],
              name="call_review_recording"),
    ]
