"""A Zalo case on the console, in process, on SQLite and PostgreSQL with the fake Zalo:
the conversation on the case page, a reply from it, the 48-hour window, a failed send,
the agency boundary and CSRF on the reply form, the cases list by channel."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from calllog.followup import CallbackActions
from calllog.model import CallRecord, Case, CaseStatus
from calllog.queries import CaseFilter
from calllog.users import Role, UserStore
from console.app import create_app
from console.casework import FollowupWork, agencies_of
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import SECRET, add_user, client, csrf_of, hotline_config, log_in
from tests.zalo_cases_env import ZaloEnv, zalo_env
from tests.zalo_fake import USER_ID, FakeZalo

TU_PHAP, TAI_CHINH = "Sở Tư pháp", "Sở Tài chính"


@dataclass
class Console:
    app: Starlette
    zalo: ZaloEnv
    case_id: int

    async def as_user(self, username: str) -> httpx.AsyncClient:
        http = client(self.app)
        assert (await log_in(http, username)).status_code == 303
        return http


@pytest.fixture
async def console(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Console]:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    fake = FakeZalo(clock)
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        env = await zalo_env(sessions, clock, http, fake)
        users = UserStore(sessions)
        config = hotline_config()
        app = create_app(users=users, config=config, clock=clock, secret=SECRET,
                         queries=env.queries, zalo_replies=env.replies,
                         followup=FollowupWork(CallbackActions(sessions), env.store,
                                               agencies_of(config)))
        for name, role, agency in [("lan", Role.OPERATOR, None), ("xem", Role.VIEWER, None),
                                   ("tuphap", Role.AGENCY, TU_PHAP),
                                   ("taichinh", Role.AGENCY, TAI_CHINH)]:
            await add_user(users, clock, name, role, agency)
        await env.deliver("user_send_text")
        [case] = (await env.queries.cases(CaseFilter(channel="zalo"))).items
        await env.store.update_case(case.id, status=CaseStatus.FORWARDED, agency=TU_PHAP,
                                    by="lan", at=clock.now())
        yield Console(app, env, case.id)


def conversation_rows(html: str) -> list[str]:
    body = re.search(r'<table class="case-table conversation">.*?<tbody>(.*?)</tbody>', html,
                     re.S)
    assert body is not None, "no conversation table"
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).strip()
            for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)]


async def reply(http: httpx.AsyncClient, case_id: int, text: str) -> httpx.Response:
    token = await csrf_of(http, f"/cases/{case_id}")
    return await http.post(f"/cases/{case_id}/zalo", data={"text": text, "csrf_token": token})


async def test_the_case_page_shows_the_conversation_and_an_operator_s_reply_goes_out(
    console: Console,
) -> None:
    lan = await console.as_user("lan")
    page = (await lan.get(f"/cases/{console.case_id}")).text
    assert "Hội thoại Zalo" in page and 'action="/cases/1/zalo"' in page
    assert "<dd class=\"case-channel\">Zalo</dd>" in page
    first, ack = conversation_rows(page)
    assert first.startswith("05/01/2026 09:00 Người dân Tôi nộp hồ sơ")
    assert ack.startswith("05/01/2026 09:00 Trả lời tự động") and ack.endswith("Đã gửi")

    console.zalo.clock.advance(90 * 60)
    answer = await reply(lan, console.case_id, "Hồ sơ của quý vị đang được Sở Tư pháp xử lý.")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/cases/{console.case_id}?zalo=sent#conversation"
    assert console.zalo.replies_sent()[-1] == "Hồ sơ của quý vị đang được Sở Tư pháp xử lý."
    page = (await lan.get(answer.headers["location"])).text
    assert "Đã gửi tin trả lời qua Zalo." in page
    assert conversation_rows(page)[-1] == (
        "05/01/2026 10:30 lan Hồ sơ của quý vị đang được Sở Tư pháp xử lý. Đã gửi")


async def test_outside_the_window_the_page_says_why_and_nothing_is_sent(
    console: Console,
) -> None:
    console.zalo.clock.advance(timedelta(hours=49).total_seconds())
    lan = await console.as_user("lan")
    page = (await lan.get(f"/cases/{console.case_id}")).text
    assert "đã quá 48 giờ" in page and "09:00 05/01/2026" in page
    assert 'action="/cases/1/zalo"' not in page
    sent_before = len(console.zalo.fake.cs_messages)
    answer = await reply(lan, console.case_id, "Vẫn gửi thử")
    assert answer.headers["location"].endswith("?zalo=refused#conversation")
    assert len(console.zalo.fake.cs_messages) == sent_before
    row = conversation_rows((await lan.get(answer.headers["location"])).text)[-1]
    assert row.startswith("07/01/2026 10:00 lan Vẫn gửi thử Không gửi: Tin nhắn cuối")


async def test_a_failed_send_shows_as_failed(console: Console) -> None:
    console.zalo.fake.cs_failures = 1
    tuphap = await console.as_user("tuphap")  # the case's own agency may reply
    answer = await reply(tuphap, console.case_id, "Sở đã nhận hồ sơ.")
    assert answer.headers["location"].endswith("?zalo=failed#conversation")
    page = (await tuphap.get(answer.headers["location"])).text
    assert "Tin trả lời chưa gửi được" in page
    assert conversation_rows(page)[-1].startswith(
        "05/01/2026 09:00 tuphap Sở đã nhận hồ sơ. Gửi không thành công: Không kết nối được")


async def test_another_agency_and_a_viewer_may_not_reply_and_csrf_is_required(
    console: Console,
) -> None:
    taichinh = await console.as_user("taichinh")
    token = await csrf_of(taichinh, "/cases")
    refused = await taichinh.post(f"/cases/{console.case_id}/zalo",
                                  data={"text": "Không phải việc của tôi", "csrf_token": token})
    assert refused.status_code == 403
    assert (await taichinh.get(f"/cases/{console.case_id}")).status_code == 403
    viewer = await console.as_user("xem")
    token = await csrf_of(viewer, "/")
    assert (await viewer.post(f"/cases/{console.case_id}/zalo",
                              data={"text": "?", "csrf_token": token})).status_code == 403
    lan = await console.as_user("lan")
    no_token = await lan.post(f"/cases/{console.case_id}/zalo", data={"text": "Xin chào"})
    assert no_token.status_code == 403
    assert len(console.zalo.fake.cs_messages) == 1  # only the automatic answer


async def test_the_cases_list_shows_and_filters_the_channel_and_a_linked_phone_case(
    console: Console,
) -> None:
    store = console.zalo.store
    started = MONDAY_9AM_ICT - timedelta(hours=2)
    await store.save(CallRecord(call_id="c1", caller_number="0912345678", started_at=started))
    phone = await store.create_case(Case(None, "c1", "Tài chính công", started, "lan"))
    await console.zalo.deliver("user_submit_info")
    lan = await console.as_user("lan")
    listed = (await lan.get("/cases")).text
    assert '<td class="channel">Zalo</td>' in listed
    assert '<td class="channel">Điện thoại</td>' in listed
    only_zalo = (await lan.get("/cases?channel=zalo")).text
    assert "Điện thoại</td>" not in only_zalo and '<option value="zalo" selected>' in only_zalo
    assert "PA-2026-00001" in only_zalo and "PA-2026-00002" not in only_zalo
    only_phone = (await lan.get("/cases?channel=phone")).text
    assert "PA-2026-00002" in only_phone and "PA-2026-00001" not in only_phone
    page = (await lan.get(f"/cases/{phone.id}")).text
    assert "Đã liên kết với Zalo của người gọi (Nguyễn Thị Lan)" in page
    assert "Hội thoại Zalo" in page and "Chưa có tin nhắn Zalo nào." in page
    assert USER_ID not in page
