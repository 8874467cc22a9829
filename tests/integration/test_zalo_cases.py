"""Zalo messages become cases, on SQLite and PostgreSQL with the in-process fake Zalo:
a message opens a case answered with its code, later ones join it, a case lookup answers
only its owner, a follower's phone links their phone cases, replies are stored with
what became of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calllog.model import CallRecord, Case, CaseStatus
from calllog.queries import CaseFilter
from calllog.zalo_cases import Direction, ReplyStatus
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.zalo_cases_env import ZaloEnv, zalo_env
from tests.zalo_fake import USER_ID, FakeZalo
from zalo.cases import not_found

OTHER_USER = "9999888877776666555"


@pytest.fixture
async def env(sessions: async_sessionmaker[AsyncSession],
              clock: FakeClock) -> AsyncIterator[ZaloEnv]:
    fake = FakeZalo(clock)
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        yield await zalo_env(sessions, clock, http, fake)


def text_event(env: ZaloEnv, msg_id: str, text: str, user: str = USER_ID) -> dict[str, object]:
    """Changes to the recorded text event: a new message, now."""
    return {"timestamp": str(int(env.clock.now().timestamp() * 1000)),
            "sender": {"id": user}, "message": {"text": text, "msg_id": msg_id}}


async def zalo_cases(env: ZaloEnv) -> list[str]:
    page = await env.queries.cases(CaseFilter(channel="zalo"))
    return [c.code or "" for c in page.items]


async def test_a_message_opens_a_zalo_case_answered_with_its_code_and_deadline(
    env: ZaloEnv,
) -> None:
    await env.deliver("user_send_text")
    [case] = (await env.queries.cases(CaseFilter(channel="zalo"))).items
    assert (case.code, case.channel, case.category, case.opened_by, case.zalo_user_id) == (
        "PA-2026-00001", "zalo", "Phản ánh qua Zalo", "zalo", USER_ID)
    assert case.status is CaseStatus.RECEIVED and case.due_at is not None
    assert (await env.queries.cases(CaseFilter(channel="phone"))).items == []
    [first, ack] = await env.queries.conversation(case.id)
    assert (first.direction, first.kind, first.sent_by) == (Direction.IN, "text", None)
    assert first.text.startswith("Tôi nộp hồ sơ cấp giấy phép xây dựng")
    assert (ack.direction, ack.status, ack.sent_by) == (Direction.OUT, ReplyStatus.SENT, "zalo")
    [sent] = env.replies_sent()
    assert "mã số PA-2026-00001" in sent and case.due_at.strftime("%Y") in sent
    assert env.fake.cs_messages[0]["recipient"] == {"user_id": USER_ID}


async def test_later_messages_join_the_open_case_and_a_closed_case_makes_a_new_one(
    env: ZaloEnv,
) -> None:
    for name in ("user_send_text", "user_send_image", "user_send_file"):
        await env.deliver(name)
    assert await zalo_cases(env) == ["PA-2026-00001"]
    [case] = (await env.queries.cases(CaseFilter(channel="zalo"))).items
    messages = await env.queries.conversation(case.id)
    assert [(m.direction, m.kind) for m in messages] == [
        (Direction.IN, "text"), (Direction.OUT, "text"), (Direction.IN, "image"),
        (Direction.IN, "file")]
    assert messages[2].attachment_url == "https://photo-stal-1.zdn.vn/bien-nhan.jpg"
    assert (messages[3].attachment_url, messages[3].attachment_name) == (
        "https://f1-zfile.zdn.vn/to-khai.pdf", "to-khai.pdf")
    assert len(env.fake.cs_messages) == 1  # one answer per case, not per message

    await env.store.update_case(case.id, status=CaseStatus.VERIFYING, by="lan",
                                at=env.clock.now())
    await env.deliver("user_send_text", **text_event(env, "m-2", "Còn một việc nữa"))
    assert await zalo_cases(env) == ["PA-2026-00001"]  # verifying: still open
    await env.store.update_case(case.id, status=CaseStatus.RESOLVED, by="lan",
                                at=env.clock.now(), note="Đã trả kết quả")
    await env.deliver("user_send_text", **text_event(env, "m-3", "Tôi có việc khác"))
    assert await zalo_cases(env) == ["PA-2026-00002", "PA-2026-00001"]
    assert "PA-2026-00002" in env.replies_sent()[-1]


async def test_an_event_handled_twice_is_stored_once_and_answered_once(env: ZaloEnv) -> None:
    event = await env.received("user_send_text")
    assert await env.dispatch.handle(event) == "case_opened"
    assert await env.dispatch.handle(event) == "case_opened"
    [case] = (await env.queries.cases(CaseFilter(channel="zalo"))).items
    assert len(await env.queries.conversation(case.id)) == 2
    assert len(env.fake.cs_messages) == 1


async def test_an_answer_zalo_could_not_take_is_retried_with_the_event(env: ZaloEnv) -> None:
    event = await env.received("user_send_text")
    env.fake.cs_failures = 1
    with pytest.raises(Exception, match="HTTP 503"):
        await env.dispatch.handle(event)
    [case] = (await env.queries.cases(CaseFilter(channel="zalo"))).items
    assert [m.status for m in await env.queries.conversation(case.id)] == [
        None, ReplyStatus.FAILED]
    assert await env.dispatch.handle(event) == "case_opened"  # the worker's retry
    assert [m.status for m in await env.queries.conversation(case.id)] == [
        None, ReplyStatus.SENT]
    assert len(await zalo_cases(env)) == 1 and len(env.fake.cs_messages) == 1


async def test_follow_and_unfollow_update_the_follower(env: ZaloEnv) -> None:
    await env.deliver("follow")
    follower = await env.cases.follower(USER_ID)
    assert follower is not None and follower.following and follower.last_message_at is None
    await env.deliver("user_send_text")
    await env.deliver("unfollow")
    follower = await env.cases.follower(USER_ID)
    assert follower is not None and not follower.following
    assert follower.last_message_at == MONDAY_9AM_ICT


async def test_a_lookup_answers_its_owner_and_says_not_found_to_anyone_else(
    env: ZaloEnv,
) -> None:
    await env.deliver("user_send_text")
    [case] = (await env.queries.cases(CaseFilter(channel="zalo"))).items
    await env.store.update_case(case.id, status=CaseStatus.FORWARDED, agency="Sở Tư pháp",
                                by="lan", at=env.clock.now())
    await env.deliver("user_send_text", **text_event(env, "q-1", "pa-2026-00001"))
    answer = env.replies_sent()[-1]
    assert answer.startswith("Phản ánh PA-2026-00001: đã chuyển cơ quan xử lý.")
    assert "Cơ quan xử lý: Sở Tư pháp" in answer
    assert case.due_at is not None and f"Hạn giải quyết: {case.due_at:%d/%m/%Y}" in answer

    await env.deliver("user_send_text", **text_event(env, "q-2", "PA-2026-00001",
                                                     user=OTHER_USER))
    await env.deliver("user_send_text", **text_event(env, "q-3", "PA-2026-00999",
                                                     user=OTHER_USER))
    someone_elses, missing = env.replies_sent()[-2:]
    assert someone_elses == not_found("PA-2026-00001")
    assert missing == not_found("PA-2026-00999")
    assert someone_elses.replace("00001", "") == missing.replace("00999", "")
    assert await zalo_cases(env) == ["PA-2026-00001"]  # a lookup opens no case


async def phone_case(env: ZaloEnv, call_id: str, number: str, minutes: int) -> int:
    started = MONDAY_9AM_ICT - timedelta(days=1, minutes=minutes)
    await env.store.save(CallRecord(call_id=call_id, caller_number=number, started_at=started,
                                    branch_name="Tài chính công"))
    case = await env.store.create_case(Case(None, call_id, "Tài chính công", started, "lan"))
    assert case.id is not None
    return case.id


async def test_a_follower_s_phone_links_their_open_phone_cases_and_answers_lookups(
    env: ZaloEnv,
) -> None:
    mine = await phone_case(env, "c1", "0912345678", 30)
    mine_too = await phone_case(env, "c2", "+84912345678", 20)
    closed = await phone_case(env, "c3", "0912345678", 10)
    await env.store.update_case(closed, status=CaseStatus.REJECTED, by="lan",
                                at=env.clock.now(), note="Trùng")
    other = await phone_case(env, "c4", "0987654321", 5)
    await env.deliver("user_submit_info")

    follower = await env.cases.follower(USER_ID)
    assert follower is not None
    assert (follower.phone, follower.display_name) == ("84912345678", "Nguyễn Thị Lan")
    for case_id, linked in ((mine, True), (mine_too, True), (closed, False), (other, False)):
        case = await env.queries.case(case_id)
        assert case is not None and case.channel == "phone"
        assert (case.zalo_user_id == USER_ID) is linked, case_id
    linked_case = await env.queries.case(mine)
    assert linked_case is not None and linked_case.citizen_name == "Nguyễn Thị Lan"
    assert "Liên kết với Zalo" in linked_case.history[-1].note

    # The closed case is not linked, but its call came from the follower's phone.
    closed_case = await env.queries.case(closed)
    assert closed_case is not None and closed_case.code is not None
    await env.deliver("user_send_text", **text_event(env, "q-1", closed_case.code))
    assert env.replies_sent()[-1].startswith(f"Phản ánh {closed_case.code}: không thụ lý.")
    other_case = await env.queries.case(other)
    assert other_case is not None and other_case.code is not None
    await env.deliver("user_send_text", **text_event(env, "q-2", other_case.code))
    assert env.replies_sent()[-1] == not_found(other_case.code)


async def test_a_zalo_case_opened_after_the_phone_is_known_carries_it(env: ZaloEnv) -> None:
    await env.deliver("user_submit_info")
    await env.deliver("user_send_text", **text_event(env, "m-9", "Xin hỏi thủ tục"))
    [case] = (await env.queries.cases(CaseFilter(channel="zalo"))).items
    assert (case.citizen_name, case.citizen_phone) == ("Nguyễn Thị Lan", "84912345678")


async def test_a_reply_outside_the_window_is_refused_and_a_failed_one_is_stored_failed(
    env: ZaloEnv,
) -> None:
    await env.deliver("user_send_text")
    [case] = (await env.queries.cases(CaseFilter(channel="zalo"))).items
    assert await env.replies.refusal(USER_ID) is None
    sent = await env.replies.reply(case.id, USER_ID, "Hồ sơ đang được xử lý.", "lan")
    assert (sent.status, sent.sent_by) == (ReplyStatus.SENT, "lan")

    env.fake.cs_failures = 1
    failed = await env.replies.reply(case.id, USER_ID, "Lần hai.", "lan")
    assert failed.status is ReplyStatus.FAILED and failed.reason is not None
    assert "Không kết nối được với Zalo" in failed.reason

    env.clock.advance(timedelta(hours=48, seconds=1).total_seconds())
    reason = await env.replies.refusal(USER_ID)
    assert reason is not None and "quá 48 giờ" in reason
    refused = await env.replies.reply(case.id, USER_ID, "Quá hạn rồi.", "lan")
    assert (refused.status, refused.reason) == (ReplyStatus.REFUSED, reason)
    assert env.replies_sent() == [env.replies_sent()[0], "Hồ sơ đang được xử lý."]
    statuses = [m.status for m in await env.queries.conversation(case.id)]
    assert statuses == [None, ReplyStatus.SENT, ReplyStatus.SENT, ReplyStatus.FAILED,
                        ReplyStatus.REFUSED]
