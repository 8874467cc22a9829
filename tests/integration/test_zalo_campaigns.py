"""Survey campaigns through the console in process (SQLite and PostgreSQL): a CSV and an
xlsx uploaded, the rows accepted and refused with why, the campaign listed with its
counts; viewers refused; and the report's figures by channel from stored Zalo data."""

from __future__ import annotations

import contextlib
import io
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest_asyncio
from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from calllog.campaigns import Campaigns, Rating, Ratings
from calllog.channels import CaseTally, channel_tallies
from calllog.model import CallRecord, Outcome, SurveyResult
from calllog.rollup import period_tallies
from calllog.store import CallLogStore
from calllog.tables import CaseChangeRow, CaseRow
from calllog.users import Role, UserStore
from calllog.zalo import InboxEvent, SendStatus, ZaloInbox
from calllog.zns import NoticeKind, Owed, ZnsOutbox
from console.app import create_app
from console.campaigns import install_campaign_pages
from reports.figures import channel_stats
from routing.config import ZaloConfig, ZnsConfig, ZnsNotice
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import SECRET, add_user, client, csrf_of, hotline_config, log_in
from zalo.campaign_file import read_campaign_file

CSV = """Số điện thoại;Thủ tục;Cơ quan;Ngày
0912 345 678;Cấp phiếu lý lịch tư pháp;Sở Tư pháp;02/01/2026
+84987654321;Đăng ký kinh doanh;Sở Kế hoạch và Đầu tư;2026-01-03
02933876543;Cấp phiếu lý lịch tư pháp;Sở Tư pháp;02/01/2026
0912345678;Chứng thực bản sao;Sở Tư pháp;02/01/2026
0977000111;;Sở Tư pháp;02/01/2026
0977000222;Chứng thực bản sao;Sở Tư pháp;31/02/2026
"""


@dataclass
class Env:
    app: Starlette
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock

    @contextlib.asynccontextmanager
    async def as_user(self, username: str) -> AsyncIterator[httpx.AsyncClient]:
        async with client(self.app) as http:
            assert (await log_in(http, username)).status_code == 303
            yield http


@pytest_asyncio.fixture
async def env(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Env]:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    config = hotline_config().model_copy(update={"zalo": ZaloConfig(zns=ZnsConfig(
        campaign_rating=ZnsNotice(template_id="300003")))})
    users = UserStore(sessions)
    app = create_app(users=users, config=config, clock=clock, secret=SECRET)
    install_campaign_pages(app, Campaigns(sessions), ZnsOutbox(sessions), read_campaign_file)
    await add_user(users, clock, "lan", Role.OPERATOR)
    await add_user(users, clock, "xem", Role.VIEWER)
    yield Env(app, sessions, clock)


async def upload(http: httpx.AsyncClient, name: str, content: bytes) -> httpx.Response:
    token = await csrf_of(http, "/campaigns")
    return await http.post("/campaigns", data={"csrf_token": token, "name": "Tháng 1"},
                           files={"file": (name, content)})


def rows(html: str, table: str) -> list[str]:
    found = re.search(rf'<table class="{table}">(.*?)</table>', html, re.S)
    assert found, table
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).strip()
            for r in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)[1:]]


async def test_a_csv_upload_shows_accepted_and_refused_rows_and_lists_the_campaign(
    env: Env,
) -> None:
    async with env.as_user("lan") as http:
        answer = await upload(http, "thang1.csv", CSV.encode("utf-8-sig"))
        assert answer.status_code == 200, answer.text
        accepted = rows(answer.text, "accepted")
        refused = rows(answer.text, "refused")
        listing = (await http.get("/campaigns")).text
    assert [r.split(" ")[:2] for r in accepted] == [["2", "84912345678"], ["3", "84987654321"]]
    assert [r.split(" ")[0] for r in refused] == ["4", "5", "6", "7"]
    assert "không phải số di động" in refused[0]
    assert "Trùng số điện thoại với dòng 2" in refused[1]
    assert "Thiếu thủ tục" in refused[2]
    assert "Ngày không hợp lệ" in refused[3]
    [summary] = await Campaigns(env.sessions).summaries()
    assert (summary.name, summary.entries, summary.refused, summary.created_by) == (
        "Tháng 1", 2, 4, "lan")
    assert 'data-campaign="' in listing and "thang1.csv" in listing


async def test_an_xlsx_upload_reads_excel_numbers_and_dates(env: Env) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["phone", "procedure", "agency", "date"])
    sheet.append([912345678, "Cấp phiếu lý lịch tư pháp", "Sở Tư pháp", datetime(2026, 1, 2)])
    sheet.append(["0912345678", "Cấp phiếu lý lịch tư pháp", "Sở Tư pháp", "02/01/2026"])
    sheet.append(["0987654321", "Đăng ký kinh doanh", None, "03/01/2026"])
    buffer = io.BytesIO()
    book.save(buffer)
    async with env.as_user("lan") as http:
        answer = await upload(http, "thang1.xlsx", buffer.getvalue())
    assert answer.status_code == 200, answer.text
    assert [r.split(" ")[:2] for r in rows(answer.text, "accepted")] == [["2", "84912345678"]]
    refused = rows(answer.text, "refused")
    assert "Trùng số điện thoại" in refused[0] and "Thiếu cơ quan" in refused[1]


async def test_a_viewer_may_not_open_or_upload_a_campaign(env: Env) -> None:
    async with env.as_user("xem") as http:
        assert (await http.get("/campaigns")).status_code == 403
        token = await csrf_of(http, "/")
        answer = await http.post("/campaigns", data={"csrf_token": token},
                                 files={"file": ("x.csv", CSV.encode())})
    assert answer.status_code == 403
    assert await Campaigns(env.sessions).summaries() == []


async def test_an_upload_without_csrf_is_refused(env: Env) -> None:
    async with env.as_user("lan") as http:
        answer = await http.post("/campaigns", files={"file": ("x.csv", CSV.encode())})
    assert answer.status_code == 403
    assert await Campaigns(env.sessions).summaries() == []


async def test_figures_by_channel_count_calls_messages_ratings_and_campaigns(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    t0 = MONDAY_9AM_ICT
    store = CallLogStore(sessions)
    for i, score in enumerate([5, 2, None]):
        await store.save(CallRecord(
            call_id=f"c{i}", caller_number="0912345678", started_at=t0 + timedelta(minutes=i),
            ended_at=t0 + timedelta(minutes=i + 2), outcome=Outcome.CONNECTED,
            survey=SurveyResult.ANSWERED if score else None, survey_score=score))
    inbox = ZaloInbox(sessions)
    for i, name in enumerate(["user_send_text", "user_send_image", "follow",
                              "user_feedback"]):
        await inbox.add(InboxEvent(f"k{i}", name, "u1", t0 + timedelta(minutes=i), t0, "{}"))
    lines = [row.entry for row in read_campaign_file("t.csv", CSV.encode()).accepted]
    await Campaigns(sessions).create("Tháng 1", "t.csv", lines, refused=0, by="lan", at=t0)
    outbox = ZnsOutbox(sessions)
    for entry_id in (1, 2):
        await outbox.enqueue(Owed(NoticeKind.CAMPAIGN_RATING, f"campaign:{entry_id}", "x",
                                  entry_id=entry_id), template_id="3", max_attempts=1,
                             at=t0, phone="84912345678", data={})
    await outbox.enqueue(Owed(NoticeKind.CALL_RATING, "call-rating:c2", "x", call_id="c2"),
                         template_id="3", max_attempts=1, at=t0, phone="84912345678",
                         data={})
    ratings = Ratings(sessions)
    for key, score in [("campaign:1", 5), ("campaign:2", 3), ("call-rating:c2", 4)]:
        await ratings.record(Rating(f"zns:{key}", score, "", t0 + timedelta(hours=1), "u1",
                                    key))
    tallies = await channel_tallies(sessions, since=t0 - timedelta(hours=1),
                                    until=t0 + timedelta(days=1))
    calls = await period_tallies(sessions, since=t0 - timedelta(hours=1),
                                 until=t0 + timedelta(days=1))
    stats = channel_stats(
        tallies, phone_scale=5, phone_received=sum(t.calls for t in calls.hours),
        phone_scores=sum((Counter({t.score: t.calls}) for t in calls.surveys
                          if t.score is not None), Counter()))
    phone, zalo = stats.channels
    assert (phone.channel, phone.received, phone.ratings.scored, phone.ratings.satisfied) == (
        "phone", 3, 2, 1)
    assert (zalo.channel, zalo.received, zalo.ratings.scored, zalo.ratings.satisfied) == (
        "zalo", 2, 1, 1)
    assert [(a, r.scored, r.satisfied) for a, r in stats.campaign_by_agency] == [
        ("Sở Kế hoạch và Đầu tư", 1, 0), ("Sở Tư pháp", 1, 1)]
    assert [p for p, _ in stats.campaign_by_procedure] == [
        "Cấp phiếu lý lịch tư pháp", "Đăng ký kinh doanh"]
    assert (await outbox.counts()).by_status[SendStatus.PENDING] == 3


async def test_cases_resolved_within_their_deadline_are_counted_by_channel(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A case counts as resolved in time when its FIRST change to resolved came by its
    deadline: a later reopening and resolving again does not move it."""
    t0 = MONDAY_9AM_ICT
    due = t0 + timedelta(days=10)
    cases = [  # (channel, due, resolved at ...)
        ("phone", due, [due - timedelta(days=1)]),  # in time
        ("phone", due, [due + timedelta(minutes=1)]),  # late
        ("phone", due, [due - timedelta(days=2), due + timedelta(days=3)]),  # first in time
        ("phone", None, [t0 + timedelta(days=1)]),  # no deadline: never in time
        ("zalo", due, [due]),  # at the deadline: in time
        ("zalo", due, []),  # still open
    ]
    async with sessions.begin() as session:
        for i, (channel, due_at, resolved) in enumerate(cases, start=1):
            session.add(CaseRow(id=i, category="x", status="resolved" if resolved else "received",
                                opened_at=t0, opened_by="x", due_at=due_at, channel=channel))
            await session.flush()
            for at in resolved:
                session.add(CaseChangeRow(case_id=i, at=at, by="x", status="resolved"))
    tallies = await channel_tallies(sessions, since=t0 - timedelta(hours=1),
                                    until=t0 + timedelta(hours=1))
    assert tallies.cases == {"phone": CaseTally(4, 2), "zalo": CaseTally(2, 1)}
