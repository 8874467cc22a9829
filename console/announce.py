"""Thông báo: the announcement override, switched on and off by the operating team.

GET  /announce        the announcement in force (or none), the form, the last switches
POST /announce        switch one on: a text (synthesised) or an uploaded WAV, an expiry
                      (dd/mm/yyyy HH:MM, Asia/Ho_Chi_Minh), after the greeting or instead
                      of the menu (the hotline suspended: callers may leave a message)
POST /announce/off    switch it off

Operators and admins only (`Action.ANNOUNCE`): what every caller hears is the operating
team's call, not an agency's or a leader's. Every switch is a row of `announcements`
(who, when, what) and an audit entry. The audio is made by the wiring's functions
(`install_announce_page`: espeak-ng + sox into the prompts directory Asterisk reads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from calllog.announcements import AnnouncementStore, OverrideMode, OverrideSwitch
from calllog.users import User
from console.access import Action, require
from console.auth import csrf_token
from console.pages import SECTIONS, sections_for
from routing.clock import Clock
from routing.override import override_in_force

if TYPE_CHECKING:
    from console.app import Console

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
SECTION = next(s for s in SECTIONS if s.path == "/announce")
MODE_LABELS = {
    OverrideMode.AFTER_GREETING: "Phát sau lời chào, rồi vào menu",
    OverrideMode.REPLACE_MENU: "Thay menu: tạm ngưng, mời để lại lời nhắn",
}

log = structlog.get_logger("console.announce")


class AudioRefused(Exception):
    """The text or the recording cannot be made into an announcement (message in Vietnamese)."""


@dataclass(frozen=True)
class AnnouncePage:
    store: AnnouncementStore
    from_text: Callable[[str], str]
    """The media name of `text` synthesised (raises AudioRefused)."""
    from_wav: Callable[[bytes], str]
    """The media name of an uploaded WAV, converted (raises AudioRefused)."""
    parse_until: Callable[[str, datetime], datetime]
    """The expiry typed in the form (raises AudioRefused)."""


def install_announce_page(app: Starlette, page: AnnouncePage) -> None:
    app.state.announce_page = page


def _page(request: Request) -> AnnouncePage:
    page: AnnouncePage | None = getattr(request.app.state, "announce_page", None)
    if page is None:
        raise RuntimeError("the console was built without its announcement page")
    return page


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


async def announce_page(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.ANNOUNCE)
    return await _render(request, console, user)


async def switch_on(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.ANNOUNCE)
    page, now = _page(request), console.clock.now()
    async with request.form(max_part_size=MAX_UPLOAD_BYTES) as form:
        text = str(form.get("text") or "").strip()
        until_text = str(form.get("until") or "")
        mode = (OverrideMode.REPLACE_MENU if form.get("mode") == OverrideMode.REPLACE_MENU
                else OverrideMode.AFTER_GREETING)
        upload = form.get("file")
        data = await upload.read() if isinstance(upload, UploadFile) and upload.filename else None
    try:
        until = page.parse_until(until_text, now)
        if data is not None:
            media, text_kept = page.from_wav(data), None
        elif text:
            media, text_kept = page.from_text(text), text
        else:
            raise AudioRefused("Vui lòng nhập nội dung thông báo hoặc chọn tệp ghi âm WAV.")
    except AudioRefused as exc:
        return await _render(request, console, user, 400, error=str(exc))
    switch = OverrideSwitch(at=now, by=user.username, on=True, mode=mode, text=text_kept,
                            media=media, until=until)
    await page.store.switch(switch)
    await console.auth.record(request, "announcement_on", username=user.username,
                              detail=f"{mode.value} until {until.isoformat()}: "
                                     f"{(text_kept or 'recording ' + media)[:200]}")
    log.info("announcement switched on", by=user.username, mode=mode.value, media=media)
    _banner_changed(console)
    return RedirectResponse("/announce", status_code=303)


async def switch_off(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.ANNOUNCE)
    await _page(request).store.switch(
        OverrideSwitch(at=console.clock.now(), by=user.username, on=False))
    await console.auth.record(request, "announcement_off", username=user.username)
    log.info("announcement switched off", by=user.username)
    _banner_changed(console)
    return RedirectResponse("/announce", status_code=303)


def _banner_changed(console: Console) -> None:
    """The wallboards show the switch within a second, not at the feed's next read."""
    if console.wallboard is not None:
        console.wallboard.nudge()


async def _render(request: Request, console: Console, user: User, status: int = 200, *,
                  error: str | None = None) -> Response:
    history = await _page(request).store.history(20)
    now = console.clock.now()
    latest = history[0] if history else None
    active = latest if latest and override_in_force(latest.on, latest.until, now) else None
    return console.render(
        request, "announce.html", status, user=user, section=SECTION,
        sections=sections_for(user), csrf=csrf_token(request), active=active,
        history=history, modes=MODE_LABELS, error=error)


async def active_announcement(request: Request) -> OverrideSwitch | None:
    """The announcement in force, for the wallboard (None without the page)."""
    page: AnnouncePage | None = getattr(request.app.state, "announce_page", None)
    if page is None:
        return None
    return await announcement_in_force(page.store, _console(request).clock)


async def announcement_in_force(store: AnnouncementStore,
                                clock: Clock) -> OverrideSwitch | None:
    """The newest switch when it is on and not expired (the wallboard's live banner reads
    this through its feed, `console.live_feed`)."""
    latest = await store.latest()
    return latest if latest and override_in_force(latest.on, latest.until, clock.now()) \
        else None


def routes() -> list[BaseRoute]:
    return [
        Route("/announce", announce_page, methods=["GET"], name="announce"),
        Route("/announce", switch_on, methods=["POST"], name="announce_on"),
        Route("/announce/off", switch_off, methods=["POST"], name="announce_off"),
    ]
