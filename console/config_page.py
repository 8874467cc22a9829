"""Cấu hình: the YAML in force as tables, the recent reloads, and an admin's new file.

    GET  /config            branches -> agencies -> desks, hours, holidays, stations
                            (filtered by `q` and `kind`), the recent reloads
    POST /config/check      an uploaded YAML (multipart `file`): `config check`'s messages
    POST /config/apply      the checked file (`yaml_b64`), checked again, then written
                            atomically to the configured path; the service reloads it

The YAML stays the source of truth: the page shows the configured file as it is now
(the service runs it once its reload accepted it; the reload list says so), and applying
only writes that file. Operators see the page without the upload form; the POSTs are
the admin's (`Action.APPLY_CONFIG`), and each apply is audited.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from calllog.users import User
from console.access import Action, may, require
from console.auth import csrf_token
from console.config_file import check, write_atomically
from console.csrf import read_form
from console.pages import SECTIONS, sections_for
from routing.config import ConfigError, HotlineConfig, Station, load_config

if TYPE_CHECKING:
    from console.app import Console

SECTION = next(s for s in SECTIONS if s.path == "/config")
RELOADS_SHOWN = 20
STATION_KINDS = {
    "department": "Sở, ban, ngành",
    "district": "Huyện, thị xã, thành phố",
    "commune": "Xã, phường, thị trấn",
    "other": "Khác",
}
STRATEGIES = {"sequential": "Lần lượt từng máy", "ringall": "Đổ chuông cùng lúc"}
WEEKDAYS = {"mon": "Thứ Hai", "tue": "Thứ Ba", "wed": "Thứ Tư", "thu": "Thứ Năm",
            "fri": "Thứ Sáu", "sat": "Thứ Bảy", "sun": "Chủ nhật"}
RELOAD_STATUSES = {"applied": "Đã áp dụng", "refused": "Bị từ chối"}

log = structlog.get_logger("console.config")


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def config_in_force(console: Console) -> tuple[HotlineConfig, Path | None, tuple[str, ...]]:
    """The configured file as it is now, or (when it cannot be read or is invalid) the one
    the console started with, with the file's problems."""
    path = console.config_path
    if path is None:
        return console.config, None, ()
    try:
        return load_config(path), path, ()
    except ConfigError as exc:
        return console.config, path, tuple(exc.problems)


def stations_matching(stations: list[Station], text: str, kind: str) -> list[Station]:
    words = text.casefold().split()
    return [s for s in stations
            if (not kind or s.kind == kind)
            and all(w in f"{s.extension} {s.agency}".casefold() for w in words)]


async def _page(request: Request, console: Console, user: User, status: int = 200,
                **extra: object) -> Response:
    # Parsing and validating the YAML takes ~170 ms: off the loop that feeds the wallboards.
    config, path, problems = await asyncio.to_thread(config_in_force, console)
    text = request.query_params.get("q", "").strip()[:100]
    kind = request.query_params.get("kind", "")
    kind = kind if kind in STATION_KINDS else ""
    reloads = ([] if console.queries is None else
               await console.queries.recent_reloads(limit=RELOADS_SHOWN))
    return console.render(
        request, "config.html", status, user=user, section=SECTION,
        sections=sections_for(user), csrf=csrf_token(request), shown=config, path=path,
        file_problems=problems, desk_names={d.extension: d.name for d in config.desks},
        stations=stations_matching(config.stations, text, kind), q=text, kind=kind,
        reloads=reloads, may_apply=may(user, Action.APPLY_CONFIG),
        applied=request.query_params.get("applied", "")[:12],
        station_kinds=STATION_KINDS, strategies=STRATEGIES, weekdays=WEEKDAYS,
        reload_statuses=RELOAD_STATUSES, **extra)


async def config_page(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_CONFIG)
    return await _page(request, console, user)


async def check_upload(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.APPLY_CONFIG)
    async with read_form(request) as form:  # closes the upload's temporary file
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            data, name = None, ""
        else:
            data, name = await upload.read(), upload.filename
    if data is None:
        return await _page(request, console, user, 400,
                           upload_error="Vui lòng chọn một tệp YAML để tải lên.")
    checked = check(data, name)
    log.info("config checked", username=user.username, file=checked.name, ok=checked.ok,
             problems=len(checked.problems))
    return await _page(request, console, user, 200 if checked.ok else 422, checked=checked,
                       checked_b64=base64.b64encode(checked.data).decode("ascii"))


async def apply_upload(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.APPLY_CONFIG)
    async with read_form(request) as form:
        encoded, name = form.get("yaml_b64"), form.get("name")
    try:
        data = base64.b64decode(encoded if isinstance(encoded, str) else "", validate=True)
    except binascii.Error:
        data = b""
    if not data:
        return await _page(request, console, user, 400,
                           upload_error="Không nhận được tệp cấu hình. Vui lòng tải lên lại.")
    checked = check(data, name if isinstance(name, str) else "hotline.yaml")
    if not checked.ok:  # checked again: what is written is what was checked
        return await _page(request, console, user, 422, checked=checked,
                           checked_b64=base64.b64encode(data).decode("ascii"))
    path = console.config_path
    if path is None:
        return await _page(request, console, user, 503,
                           upload_error="Bảng điều khiển không được cấu hình đường dẫn tệp "
                                        "YAML (HOTLINE_CONFIG): không thể ghi.")
    await asyncio.to_thread(write_atomically, path, data)
    await console.auth.record(request, "config_applied", username=user.username,
                              detail=f"{path} sha256={checked.sha256} from {checked.name}")
    log.info("config written", username=user.username, path=str(path),
             sha256=checked.sha256)
    return RedirectResponse(f"/config?applied={checked.sha256[:12]}", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/config", config_page, methods=["GET"], name="config"),
        Route("/config/check", check_upload, methods=["POST"], name="config_check"),
        Route("/config/apply", apply_upload, methods=["POST"], name="config_apply"),
    ]

