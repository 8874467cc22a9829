"""ZNS notifications: the worker that finds what is owed and sends it, once.

It runs in the console process beside the webhook's worker; the call flow knows nothing
of it. Each round it

1. records which notifications the YAML switches on (`zalo.zns`) and since when: only
   what happened after that is owed, so switching one on never floods old history;
2. enters what is owed in the outbox under its tracking id (`case-opened:<case id>`,
   `case-resolved:<case id>`, `call-rating:<call id>`, `campaign:<entry id>`), with the
   number normalised to `84...`, or skipped with the reason (a landline, an unknown or
   withheld number, a station);
3. sends what is due. A failed try is tried again after a backoff (1, 2, 4 ... minutes)
   until the notification's `max_attempts`, then marked failed (shown in the console
   and in `/metrics`). A send Zalo accepted is never made again: the tracking id is
   the outbox's key.

No tokens (the OA not authorised, or to be authorised again) stop the round without
counting a try: nothing can be sent until an administrator acts.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.exc import SQLAlchemyError

from calllog.zns import TRACKING_MAX_LEN, DueSend, NoticeKind, Owed, ZnsOutbox
from routing.clock import Clock
from routing.config import ZnsConfig, ZnsNotice
from zalo.client import Sent, ZaloApiError, ZaloUnavailable
from zalo.phones import NotAMobileNumber, normalise_mobile
from zalo.tokens import TokenError

log = structlog.get_logger("zalo.notify")

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
TEXT_LIMIT = 100
"""Characters of a free text (a case's result) put in a template parameter."""


class TemplateSender(Protocol):
    async def send_template(
        self, phone: str, template_id: str, data: dict[str, str], tracking_id: str
    ) -> Sent: ...


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(minutes=1)
    factor: float = 2.0

    def delay(self, attempt: int) -> timedelta:
        """The wait after the `attempt`-th failed try (1-based)."""
        return self.first_delay * (self.factor ** (attempt - 1))


@dataclass(frozen=True)
class Round:
    """What one round did (for tests and the log)."""

    queued: int = 0
    skipped: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def notices_on(config: ZnsConfig) -> dict[NoticeKind, ZnsNotice]:
    found = {kind: getattr(config, kind.value) for kind in NoticeKind}
    return {kind: notice for kind, notice in found.items() if notice is not None}


def template_data(owed: Owed) -> dict[str, str]:
    """The template's parameters (the names the YAML's comment lists)."""
    match owed.kind:
        case NoticeKind.CASE_OPENED:
            return {"case_code": owed.case_code or "", "due_date": _day(owed.due_at)}
        case NoticeKind.CASE_RESOLVED:
            return {"case_code": owed.case_code or "",
                    "result": _cut(owed.result or "Đã giải quyết")}
        case NoticeKind.CALL_RATING:
            return {"date": _day(owed.at), "agency": _cut(owed.agency or ""),
                    "procedure": ""}
        case NoticeKind.CAMPAIGN_RATING:
            return {"date": "" if owed.done_on is None else f"{owed.done_on:%d/%m/%Y}",
                    "agency": _cut(owed.agency or ""), "procedure": _cut(owed.procedure or "")}
    raise AssertionError(owed.kind)


def recipient(owed: Owed) -> tuple[str | None, str | None]:
    """(the `84...` number, None) or (None, why it is skipped)."""
    if owed.from_station:
        return None, "cuộc gọi từ máy trạm của cơ quan"
    if owed.number is None or not owed.number.strip():
        return None, "không có số điện thoại"
    if len(owed.tracking_id) > TRACKING_MAX_LEN:
        return None, "mã theo dõi quá dài"
    try:
        return normalise_mobile(owed.number), None
    except NotAMobileNumber:
        return None, "không phải số di động (số bàn, số ẩn hoặc không rõ)"


class ZnsWorker:
    def __init__(
        self, outbox: ZnsOutbox, sender: TemplateSender, config: ZnsConfig, clock: Clock, *,
        retry: RetryPolicy = RetryPolicy(), poll_seconds: float = 30.0, batch: int = 100,
        wake: asyncio.Event | None = None,
    ) -> None:
        self._outbox = outbox
        self._sender = sender
        self._notices = notices_on(config)
        self._clock = clock
        self._retry = retry
        self._poll = poll_seconds
        self._batch = batch
        self.wake = wake or asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("zns outbox unreadable, retrying", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self._poll)
            self.wake.clear()

    async def run_once(self) -> Round:
        now = self._clock.now()
        since = await self._outbox.switches(list(self._notices), now)
        queued = skipped = 0
        for kind, notice in self._notices.items():
            for owed in await self._outbox.owed(kind, since[kind], self._batch):
                phone, reason = recipient(owed)
                if await self._outbox.enqueue(
                        owed, template_id=notice.template_id,
                        max_attempts=notice.max_attempts, at=now, phone=phone,
                        data=template_data(owed), skip_reason=reason):
                    queued += reason is None
                    skipped += reason is not None
                    if reason is not None:
                        log.info("zns skipped", tracking_id=owed.tracking_id, reason=reason)
        sent = retrying = failed = 0
        for due in await self._outbox.due(now, self._batch):
            outcome = await self._send(due)
            if outcome is None:
                break
            sent += outcome == "sent"
            retrying += outcome == "retrying"
            failed += outcome == "failed"
        return Round(queued, skipped, sent, retrying, failed)

    async def _send(self, due: DueSend) -> str | None:
        """"sent", "retrying", "failed"; None: no usable token, stop the round."""
        try:
            answer = await self._sender.send_template(
                due.phone, due.template_id, dict(due.data), due.tracking_id)
        except TokenError as exc:
            log.error("zns not sent: no usable Zalo token", error=str(exc))
            return None
        except (ZaloUnavailable, ZaloApiError) as exc:
            return await self._failed(due, str(exc))
        await self._outbox.sent(due.tracking_id, answer.msg_id, self._clock.now())
        log.info("zns notice sent", tracking_id=due.tracking_id, kind=due.kind.value,
                 attempts=due.attempts + 1)
        return "sent"

    async def _failed(self, due: DueSend, error: str) -> str:
        attempt = due.attempts + 1
        give_up = attempt >= due.max_attempts
        retry_at = None if give_up else self._clock.now() + self._retry.delay(attempt)
        await self._outbox.attempt_failed(due.tracking_id, error, retry_at=retry_at)
        log.warning("zns notice failed" if give_up else "zns notice not sent, will retry",
                    tracking_id=due.tracking_id, attempt=attempt, error=error)
        return "failed" if give_up else "retrying"


def _day(at: datetime | None) -> str:
    return "" if at is None else f"{at.astimezone(LOCAL):%d/%m/%Y}"


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT - 1] + "…"

