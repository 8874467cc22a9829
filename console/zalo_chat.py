"""A case's Zalo conversation on its page, and the reply form.

POST /cases/{id}/zalo   reply to the case's follower (a `cs` message)

Who may reply is who may act on the case: operators, admins and the case's own agency
(`console.access`: another agency's case is 403). Outside Zalo's 48-hour window the page
says why no reply can go, and a reply asked for anyway is stored as refused, not sent.
The sending itself is the Zalo channel's (`zalo.case_replies`), reached through
`ZaloReplies`: the console does not import `zalo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from calllog.zalo_cases import ConversationMessage, ReplyStatus
from console.access import Action, may, require, require_agency
from console.csrf import read_form

if TYPE_CHECKING:
    from calllog.queries import CaseView
    from calllog.users import User
    from console.app import Console

TEXT_MAX = 2000
CHANNEL_LABELS = {"phone": "Điện thoại", "zalo": "Zalo"}
STATUS_LABELS = {ReplyStatus.SENT: "Đã gửi", ReplyStatus.FAILED: "Gửi không thành công",
                 ReplyStatus.REFUSED: "Không gửi"}
NOTICES = {
    ReplyStatus.SENT.value: "Đã gửi tin trả lời qua Zalo.",
    ReplyStatus.FAILED.value: "Tin trả lời chưa gửi được: xem lý do trong hội thoại.",
    ReplyStatus.REFUSED.value: "Tin trả lời không được gửi: xem lý do trong hội thoại.",
    "empty": "Hãy nhập nội dung tin trả lời.",
    "long": f"Tin trả lời dài quá {TEXT_MAX} ký tự.",
}


class ZaloReplies(Protocol):
    """What the case page asks of the Zalo channel (`zalo.case_replies.CaseReplies`)."""

    async def refusal(self, user_id: str) -> str | None:
        """Why no reply can go to `user_id` now, in Vietnamese; None: one can."""
        ...

    async def reply(self, case_id: int, user_id: str, text: str, by: str) -> ConversationMessage:
        """Send (or refuse) and store the reply; what became of it."""
        ...


def link_of(message: ConversationMessage) -> str | None:
    """The attachment's address, if it is a web address (never a `javascript:` one)."""
    url = message.attachment_url
    return url if url is not None and url.startswith(("https://", "http://")) else None


async def case_context(console: Console, user: User, case: CaseView,
                       notice: str | None) -> dict[str, object]:
    """What case.html shows of the channel and the conversation."""
    context: dict[str, object] = {"channels": CHANNEL_LABELS, "reply_statuses": STATUS_LABELS,
                                  "conversation": [], "link_of": link_of}
    if case.zalo_user_id is None or console.queries is None:
        return context
    may_reply = may(user, Action.CHANGE_CASES)
    refusal = None
    if may_reply:
        refusal = (await console.zalo.refusal(case.zalo_user_id) if console.zalo is not None
                   else "Kênh Zalo chưa được cấu hình trên máy chủ này.")
    context.update(conversation=await console.queries.conversation(case.id),
                   may_reply=may_reply, refusal=refusal,
                   zalo_notice=NOTICES.get(notice or ""), zalo_ok=notice == "sent")
    return context


async def reply(request: Request) -> Response:
    console: Console = request.app.state.console
    user = await console.auth.signed_in(request)
    require(user, Action.CHANGE_CASES)
    if console.queries is None:
        raise RuntimeError("the console was built without the call log")
    case_id: int = request.path_params["case_id"]
    case = await console.queries.case(case_id)
    if case is not None:
        require_agency(user, case.agency)
    if case is None or case.zalo_user_id is None:
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    form = await read_form(request)
    raw = form.get("text")
    text = raw.strip() if isinstance(raw, str) else ""
    back = f"/cases/{case.id}?zalo={{}}#conversation"
    if not text:
        return RedirectResponse(back.format("empty"), status_code=303)
    if len(text) > TEXT_MAX:
        return RedirectResponse(back.format("long"), status_code=303)
    if console.zalo is None:
        return RedirectResponse(back.format(ReplyStatus.REFUSED.value), status_code=303)
    sent = await console.zalo.reply(case.id, case.zalo_user_id, text, user.username)
    status = sent.status or ReplyStatus.FAILED
    await console.auth.record(request, "zalo_reply", username=user.username,
                              detail=f"case {case.id}: {status.value}")
    return RedirectResponse(back.format(status.value), status_code=303)


def routes() -> list[BaseRoute]:
    return [Route("/cases/{case_id:int}/zalo", reply, methods=["POST"], name="zalo_reply")]
