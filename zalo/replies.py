"""Replies to followers within Zalo's free-reply window: the window is read from the
inbox (the follower's last message), the reply goes out as a `cs` message."""

from __future__ import annotations

from calllog.zalo import ZaloInbox
from routing.clock import Clock
from zalo.client import Sent, ZaloClient
from zalo.window import OutsideReplyWindow, free_reply_refused


class Replier:
    def __init__(self, client: ZaloClient, inbox: ZaloInbox, clock: Clock) -> None:
        self._client = client
        self._inbox = inbox
        self._clock = clock

    async def reply(self, user_id: str, text: str) -> Sent:
        """Send `text` to the follower; `OutsideReplyWindow` (a Vietnamese reason) when
        Zalo would not allow a free reply now."""
        refused = free_reply_refused(await self._inbox.last_message_at(user_id),
                                     self._clock.now())
        if refused is not None:
            raise OutsideReplyWindow(refused)
        return await self._client.send_text(user_id, text)
