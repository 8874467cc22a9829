"""Whether a free reply (`cs` message) may still go to a follower: Zalo allows one only
within 48 hours of the follower's last message (`zalo.contract.FREE_REPLY_WINDOW`).
The reason is in Vietnamese, for the console to show as it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from zalo.contract import FREE_REPLY_WINDOW

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class ReplyRefused:
    reason: str


def free_reply_refused(last_message_at: datetime | None, now: datetime) -> ReplyRefused | None:
    """None when a free reply may go now; else why not."""
    if last_message_at is None:
        return ReplyRefused("Người dân chưa nhắn tin cho Zalo OA, nên chưa thể gửi tin trả "
                            "lời qua Zalo.")
    if now - last_message_at <= FREE_REPLY_WINDOW:
        return None
    local = last_message_at.astimezone(LOCAL)
    hours = int(FREE_REPLY_WINDOW.total_seconds() // 3600)
    return ReplyRefused(
        f"Tin nhắn cuối của người dân lúc {local:%H:%M %d/%m/%Y}, đã quá {hours} giờ: Zalo "
        "không cho phép gửi tin trả lời miễn phí. Hãy chờ người dân nhắn lại, hoặc liên "
        "hệ qua điện thoại.")


class OutsideReplyWindow(Exception):
    """A free reply asked for outside the window; `reason` is for the console."""

    def __init__(self, refused: ReplyRefused) -> None:
        super().__init__(refused.reason)
        self.reason = refused.reason
