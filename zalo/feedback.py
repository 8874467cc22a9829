"""What Zalo tells us about our ZNS sends: a delivery (`user_received_message`) marks the
send delivered; an answer to the rating template (`user_feedback`) is stored as a rating
with channel `zalo`, once per send, linked through the send's tracking id to the call,
case or campaign entry it rates. Every other event goes on to the next handler.
"""

from __future__ import annotations

import structlog

from calllog.campaigns import Rating, Ratings
from calllog.zns import ZnsOutbox
from zalo.contract import EventName
from zalo.models import WebhookEvent
from zalo.webhook import Handler

log = structlog.get_logger("zalo.feedback")

SCALE = 5
"""Zalo's rating template answers 1 to 5 stars."""


class ZnsEvents:
    def __init__(self, outbox: ZnsOutbox, ratings: Ratings, then: Handler) -> None:
        self._outbox = outbox
        self._ratings = ratings
        self._then = then

    async def handle(self, event: WebhookEvent) -> str:
        match event.event_name:
            case EventName.USER_RECEIVED_MESSAGE:
                return await self._delivered(event)
            case EventName.USER_FEEDBACK:
                return await self._rating(event)
        return await self._then.handle(event)

    async def _delivered(self, event: WebhookEvent) -> str:
        tracking_id = None if event.message is None else event.message.tracking_id
        if not tracking_id:
            return "delivered-unknown"
        known = await self._outbox.delivered(tracking_id, event.at)
        log.info("zns delivered", tracking_id=tracking_id, known=known)
        return "delivered" if known else "delivered-unknown"

    async def _rating(self, event: WebhookEvent) -> str:
        message = event.message
        score = None if message is None else message.rate
        if message is None or score is None or not 1 <= score <= SCALE:
            log.warning("zalo rating without a score on the 1-5 scale: ignored",
                        key=event.key)
            return "rating-ignored"
        tracking_id = message.tracking_id or None
        note = "; ".join([*message.feedbacks, *([message.note] if message.note else [])])
        new = await self._ratings.record(Rating(
            key=f"zns:{tracking_id}" if tracking_id else event.key, score=score,
            note=note[:2000], rated_at=event.at,
            user_id=event.user_id, tracking_id=tracking_id))
        log.info("zalo rating stored" if new else "zalo rating already stored",
                 tracking_id=tracking_id, score=score)
        return "rating"
