"""What a follower's events mean for cases: the worker's handler (`Handler` of
`zalo.webhook`) for messages, follows and shared contact details; every other event
goes on to the handler it wraps.

- A message (text, image, file) opens a case with channel `zalo`, or joins the
  follower's open one (received, forwarded, verifying); a resolved or rejected case is
  over, so the next message opens a new one. A new case is answered at once with its
  code and deadline (a `cs` message: the follower just wrote, the window is open).
- A message that is only a case code ("PA-2026-00042", any case, spaces allowed) is a
  lookup: answered with the case's status, agency and deadline when the case is the
  sender's (its Zalo id, or the follower's known phone against the case's citizen phone
  or its call's caller number), else with the very words used for a code that does not
  exist. A lookup opens no case.
- `user_submit_info` records the follower's name and phone, and links them to the open
  phone cases whose call came from that number.

Handling an event twice changes nothing: the message is stored once (by its key), and
an answer already sent is not sent again.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog

from calllog.model import CaseStatus
from calllog.zalo_cases import IncomingMessage, LookupCase, MessageKind, ZaloCases
from zalo.case_replies import CaseReplies
from zalo.contract import EventName
from zalo.models import WebhookEvent
from zalo.phones import NotAMobileNumber, normalise_mobile
from zalo.webhook import Handler

CATEGORY = "Phản ánh qua Zalo"
OPENED_BY = "zalo"
"""Who opened a Zalo case, and who sent the automatic answers."""
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
_CODE = re.compile(r"PA-?(\d{4})-?(\d{5,})")
_KINDS = {EventName.USER_SEND_TEXT: MessageKind.TEXT, EventName.USER_SEND_IMAGE:
          MessageKind.IMAGE, EventName.USER_SEND_FILE: MessageKind.FILE}

STATUS_WORDS = {
    CaseStatus.RECEIVED: "đã tiếp nhận, đang chờ chuyển cơ quan xử lý",
    CaseStatus.FORWARDED: "đã chuyển cơ quan xử lý",
    CaseStatus.VERIFYING: "đang xác minh, xử lý",
    CaseStatus.RESOLVED: "đã giải quyết",
    CaseStatus.REJECTED: "không thụ lý",
}
"""A case's status as a citizen is told it."""

log = structlog.get_logger("zalo.cases")


def case_code_in(text: str) -> str | None:
    """The case code a message is, if it is only that: "pa-2026-00042", "PA 2026 00042"
    and "PA-2026-00042." all read as "PA-2026-00042"."""
    compact = re.sub(r"\s+", "", text).upper().rstrip(".!?")
    found = _CODE.fullmatch(compact)
    return None if found is None else f"PA-{found.group(1)}-{found.group(2)}"


def acknowledgement(code: str, due_at: datetime | None) -> str:
    due = "" if due_at is None else f", hạn giải quyết {_day(due_at)}"
    return (f"Tổng đài hỗ trợ cải cách hành chính tỉnh Hậu Giang đã tiếp nhận phản ánh của "
            f"quý vị, mã số {code}{due}. Quý vị có thể nhắn mã số này để tra cứu kết quả.")


def lookup_answer(case: LookupCase) -> str:
    agency = case.agency or "chưa phân công"
    due = "chưa xác định" if case.due_at is None else _day(case.due_at)
    return (f"Phản ánh {case.code}: {STATUS_WORDS[case.status]}. Cơ quan xử lý: {agency}. "
            f"Hạn giải quyết: {due}.")


def not_found(code: str) -> str:
    """The same words whether the case does not exist or is someone else's."""
    return (f"Không tìm thấy phản ánh mã số {code} của quý vị. Quý vị vui lòng kiểm tra "
            "lại mã số, hoặc gọi tổng đài để được hỗ trợ.")


def same_phone(a: str | None, b: str | None) -> bool:
    """Both are the same Vietnamese mobile number, whatever way each is written."""
    if not a or not b:
        return False
    try:
        return normalise_mobile(a) == normalise_mobile(b)
    except NotAMobileNumber:
        return False


def written_forms(phone: str) -> list[str]:
    """How a call's caller number may be written for the mobile `84xxxxxxxxx`."""
    national = phone[2:]
    return [f"0{national}", phone, f"+{phone}", f"00{phone}"]


def _day(at: datetime) -> str:
    return f"{at.astimezone(LOCAL):%d/%m/%Y}"


class CaseDispatch:
    def __init__(self, cases: ZaloCases, replies: CaseReplies, *, others: Handler) -> None:
        self._cases = cases
        self._replies = replies
        self._others = others

    async def handle(self, event: WebhookEvent) -> str:
        user_id = event.user_id
        match event.event_name:
            case EventName.USER_SEND_TEXT | EventName.USER_SEND_IMAGE | \
                    EventName.USER_SEND_FILE if user_id:
                return await self._message(event, user_id)
            case EventName.FOLLOW | EventName.UNFOLLOW if user_id:
                await self._cases.follow(user_id, self._at(event),
                                         following=event.event_name == EventName.FOLLOW)
                return "follower"
            case EventName.USER_SUBMIT_INFO if user_id:
                return await self._submitted(event, user_id)
            case _:
                return await self._others.handle(event)

    async def _message(self, event: WebhookEvent, user_id: str) -> str:
        message = event.message
        text = (message.text or "") if message is not None else ""
        code = case_code_in(text) if event.event_name == EventName.USER_SEND_TEXT else None
        if code is not None:
            await self._cases.touch(user_id, self._at(event))
            await self._replies.send_once(_answer_key("lookup", event), None, user_id,
                                          await self._lookup(code, user_id), OPENED_BY)
            return "lookup"
        url, name = _attachment(event)
        taken = await self._cases.take_message(IncomingMessage(
            key=event.key, user_id=user_id, at=self._at(event),
            kind=_KINDS[EventName(event.event_name)], text=text, attachment_url=url,
            attachment_name=name))
        log.info("zalo message taken", case=taken.case_id, opened=taken.opened,
                 duplicate=taken.duplicate)
        if not taken.opened:
            return "case_joined"
        await self._replies.send_once(_answer_key("ack", event), taken.case_id, user_id,
                                      acknowledgement(taken.code, taken.due_at), OPENED_BY)
        return "case_opened"

    async def _lookup(self, code: str, user_id: str) -> str:
        case = await self._cases.lookup(code)
        if case is None:
            return not_found(code)
        if case.zalo_user_id == user_id:
            return lookup_answer(case)
        follower = await self._cases.follower(user_id)
        phone = None if follower is None else follower.phone
        if same_phone(phone, case.citizen_phone) or same_phone(phone, case.caller_number):
            return lookup_answer(case)
        return not_found(code)

    async def _submitted(self, event: WebhookEvent, user_id: str) -> str:
        info = event.info
        if info is None or not info.phone:
            return "no_phone"
        try:
            phone = normalise_mobile(info.phone)
        except NotAMobileNumber:
            log.info("zalo follower shared a number that is no mobile")
            return "no_phone"
        linked = await self._cases.phone_known(user_id, phone, info.name, self._at(event),
                                               written_forms(phone))
        log.info("zalo follower phone known", linked_cases=linked)
        return "phone_linked" if linked else "phone_known"

    @staticmethod
    def _at(event: WebhookEvent) -> datetime:
        return event.at


def _answer_key(kind: str, event: WebhookEvent) -> str:
    """The key of the automatic answer to `event` (the column holds 160 characters)."""
    return f"{kind}:{event.key}"[:160]


def _attachment(event: WebhookEvent) -> tuple[str | None, str | None]:
    """The first attachment's URL and file name (kept, never downloaded)."""
    if event.message is None or not event.message.attachments:
        return None, None
    payload = event.message.attachments[0].payload
    url, name = payload.get("url"), payload.get("name")
    return (url if isinstance(url, str) else None, name if isinstance(name, str) else None)
