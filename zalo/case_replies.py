"""Messages out to a follower about their case: the automatic answers (case code,
lookups) and the staff's replies from the console. Each goes out as a `cs` message
through `zalo.replies.Replier` (the 48-hour window checked there) and is stored in the
case's conversation with what became of it: sent, failed (with Zalo's reason) or
refused (outside the window, or Zalo not set up), every reason in Vietnamese.

The console reaches this through its own protocol (`console.zalo_chat.ZaloReplies`):
the console does not import `zalo`.
"""

from __future__ import annotations

import uuid

import structlog

from calllog.zalo import ZaloInbox
from calllog.zalo_cases import ConversationMessage, ReplyStatus, ZaloCases
from routing.clock import Clock
from zalo.client import ZaloApiError, ZaloUnavailable
from zalo.replies import Replier
from zalo.tokens import TokenError
from zalo.window import OutsideReplyWindow, free_reply_refused

NOT_SET_UP = ("Kênh Zalo chưa được cấu hình đầy đủ (thiếu khóa ứng dụng Zalo), nên chưa "
              "thể gửi tin trả lời qua Zalo.")

log = structlog.get_logger("zalo.case_replies")


class CaseReplies:
    def __init__(self, cases: ZaloCases, inbox: ZaloInbox, clock: Clock,
                 replier: Replier | None) -> None:
        self._cases = cases
        self._inbox = inbox
        self._clock = clock
        self._replier = replier

    async def refusal(self, user_id: str) -> str | None:
        """Why a reply to `user_id` cannot go now (Vietnamese); None: it can."""
        if self._replier is None:
            return NOT_SET_UP
        refused = free_reply_refused(await self._inbox.last_message_at(user_id),
                                     self._clock.now())
        return None if refused is None else refused.reason

    async def reply(self, case_id: int, user_id: str, text: str, by: str) -> ConversationMessage:
        """A staff member's reply on the case page: one message each time it is asked;
        a failure is stored and returned as such (the page shows it)."""
        key = f"reply:{uuid.uuid4().hex}"
        try:
            return await self.send_once(key, case_id, user_id, text, by)
        except ZaloUnavailable:
            failed = await self._cases.reply_record(key)
            assert failed is not None
            return failed

    async def send_once(self, key: str, case_id: int | None, user_id: str, text: str,
                        by: str) -> ConversationMessage:
        """Send `text` unless the message `key` already went; store what became of it.
        `ZaloUnavailable` is raised after the failure is stored (worth trying again)."""
        before = await self._cases.reply_record(key)
        if before is not None and before.status is ReplyStatus.SENT:
            return before
        if self._replier is None:
            return await self._record(key, case_id, user_id, text, by, ReplyStatus.REFUSED,
                                      NOT_SET_UP)
        try:
            sent = await self._replier.reply(user_id, text)
        except OutsideReplyWindow as exc:
            return await self._record(key, case_id, user_id, text, by, ReplyStatus.REFUSED,
                                      exc.reason)
        except ZaloUnavailable as exc:
            await self._record(key, case_id, user_id, text, by, ReplyStatus.FAILED,
                               f"Không kết nối được với Zalo ({exc}); tin chưa được gửi.")
            raise
        except ZaloApiError as exc:
            return await self._record(key, case_id, user_id, text, by, ReplyStatus.FAILED,
                                      f"Zalo không nhận tin: {exc}.")
        except TokenError as exc:
            return await self._record(
                key, case_id, user_id, text, by, ReplyStatus.FAILED,
                f"Mã truy cập Zalo OA không dùng được, cần cấp quyền lại cho OA ({exc}).")
        return await self._record(key, case_id, user_id, text, by, ReplyStatus.SENT,
                                  msg_id=sent.msg_id)

    async def _record(self, key: str, case_id: int | None, user_id: str, text: str, by: str,
                      status: ReplyStatus, reason: str | None = None,
                      msg_id: str | None = None) -> ConversationMessage:
        stored = await self._cases.record_reply(
            key, case_id=case_id, user_id=user_id, text=text, at=self._clock.now(), by=by,
            status=status, reason=reason, msg_id=msg_id)
        log.info("zalo reply", case=case_id, status=status.value, by=by)
        return stored
