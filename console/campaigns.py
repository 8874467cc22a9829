"""Khảo sát Zalo: survey campaigns (seed 000) and the ZNS sends that failed.

GET /campaigns    the campaigns with their sends (sent, delivered, failed, rated), the
                  upload form, and every ZNS send given up (case notices included)
POST /campaigns   upload a CSV or xlsx of (phone, procedure, agency, date): the rows
                  accepted and refused (with why); the accepted ones become a campaign,
                  each number sent the rating template once

Operators and admins only (`Action.RUN_CAMPAIGNS`). The page's stores are installed on
the app by the wiring (`install_campaign_pages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from calllog.campaigns import CampaignFile, Campaigns, ReadCampaignFile, UnreadableFile
from calllog.users import User
from calllog.zns import NoticeKind, ZnsOutbox
from console.access import Action, require
from console.auth import csrf_token
from console.pages import SECTIONS, sections_for
from reports.labels import SEND_STATUS_LABELS

if TYPE_CHECKING:
    from console.app import Console

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
SECTION = next(s for s in SECTIONS if s.path == "/campaigns")
KIND_LABELS = {
    NoticeKind.CASE_OPENED: "Mã phản ánh sau cuộc gọi",
    NoticeKind.CASE_RESOLVED: "Kết quả giải quyết phản ánh",
    NoticeKind.CALL_RATING: "Đánh giá sau cuộc gọi",
    NoticeKind.CAMPAIGN_RATING: "Khảo sát",
}

log = structlog.get_logger("console.campaigns")


@dataclass(frozen=True)
class CampaignPages:
    campaigns: Campaigns
    outbox: ZnsOutbox
    read_file: ReadCampaignFile
    """`zalo.campaign_file.read_campaign_file`, passed in (the console imports no zalo)."""


def install_campaign_pages(
    app: Starlette, campaigns: Campaigns, outbox: ZnsOutbox, read_file: ReadCampaignFile
) -> None:
    app.state.campaign_pages = CampaignPages(campaigns, outbox, read_file)


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _pages(request: Request) -> CampaignPages:
    pages: CampaignPages | None = getattr(request.app.state, "campaign_pages", None)
    if pages is None:
        raise RuntimeError("the console was built without its campaign pages")
    return pages


async def campaigns_page(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.RUN_CAMPAIGNS)
    return await _render(request, console, user)


async def upload(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.RUN_CAMPAIGNS)
    if console.config.zalo.zns.campaign_rating is None:
        return await _render(request, console, user, 409, error=(
            "Chưa bật mẫu ZNS khảo sát (zalo.zns.campaign_rating trong tệp cấu hình): "
            "danh sách chưa thể gửi."))
    async with request.form(max_files=1, max_fields=10, max_part_size=MAX_UPLOAD_BYTES) as form:
        file, name = form.get("file"), form.get("name")
        if not isinstance(file, UploadFile) or not file.filename:
            return await _render(request, console, user, 400,
                                 error="Vui lòng chọn tệp CSV hoặc xlsx để tải lên.")
        content, filename = await file.read(), file.filename
    title = name.strip() if isinstance(name, str) and name.strip() else filename
    try:
        parsed = _pages(request).read_file(filename, content)
    except UnreadableFile as exc:
        return await _render(request, console, user, 400, error=str(exc))
    created = None
    if parsed.accepted:
        created = await _pages(request).campaigns.create(
            title[:200], filename[:200], [row.entry for row in parsed.accepted],
            refused=len(parsed.refused), by=user.username, at=console.clock.now())
        await console.auth.record(request, "campaign_created", username=user.username,
                                  detail=f"campaign {created}: {len(parsed.accepted)} "
                                         f"accepted, {len(parsed.refused)} refused")
        log.info("campaign created", campaign=created, accepted=len(parsed.accepted),
                 refused=len(parsed.refused), by=user.username)
    return await _render(request, console, user, 200 if created else 400, result=parsed,
                         created=created,
                         error=None if created else "Không có dòng nào hợp lệ trong tệp.")


async def _render(
    request: Request, console: Console, user: User, status: int = 200, *,
    result: CampaignFile | None = None, created: int | None = None, error: str | None = None,
) -> Response:
    pages = _pages(request)
    summaries = await pages.campaigns.summaries()
    failed = {s.id: await pages.campaigns.failed_sends(s.id) for s in summaries if s.failed}
    return console.render(
        request, "campaigns.html", status, user=user, section=SECTION,
        sections=sections_for(user), csrf=csrf_token(request), campaigns=summaries,
        campaign_failures=failed, failed_sends=await pages.outbox.failed(),
        kinds=KIND_LABELS, statuses=SEND_STATUS_LABELS, result=result, created=created,
        error=error, enabled=console.config.zalo.zns.campaign_rating is not None)


def routes() -> list[BaseRoute]:
    return [
        Route("/campaigns", campaigns_page, methods=["GET"], name="campaigns"),
        Route("/campaigns", upload, methods=["POST"], name="campaign_upload"),
    ]
