"""Bàn của tôi (/my-desk) on real SQLite and PostgreSQL, through the ASGI app with the
service's live state fed in (`FakeLiveService`): when the user's desk answers a call, the
panel shows the caller's calls of the last 7 days and open cases (an agency user: only
their agency's), live over Server-Sent Events; the user switches their own desk's
presence in one click; an admin binds a user to a configured desk, one user per desk."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from calllog.db import make_engine, make_sessionmaker
from calllog.model import CallRecord, Case, CaseStatus, Outcome
from calllog.presence import InMemoryPresenceStore
from calllog.queries import CallQueries
from calllog.store import CallLogStore
from calllog.users import InMemoryUserStore, Role
from console.app import create_app
from console.desks_page import install_desk_pages
from console.live_feed import WallboardFeed
from tests.clock import FakeClock
from tests.console_client import SECRET, add_user, client, csrf_of, hotline_config, log_in
from tests.wallboard_fakes import EventStream, FakeLiveService, board_where, caller_of

NOW = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # Monday 14:30 in Vietnam
CALL = "1795456000.31"
NUMBER = caller_of(CALL)
VAN_PHONG = "Văn phòng Ủy ban nhân dân tỉnh"
TU_PHAP = "Sở Tư pháp"


def record(call_id: str, started_at: datetime, number: str = NUMBER,
           agency: str | None = VAN_PHONG) -> CallRecord:
    row = CallRecord(call_id=call_id, caller_number=number, started_at=started_at)
    row.outcome, row.branch_key, row.branch_name, row.agency = (
        Outcome.CONNECTED, 4, "Chỉ đạo điều hành", agency)
    return row


async def a_callers_past(sessions: async_sessionmaker[AsyncSession]) -> None:
    store = CallLogStore(sessions, case_deadline=lambda at: at + timedelta(days=2))
    for row in (
        record("two-days-ago", NOW - timedelta(days=2)),
        record("five-days-ago", NOW - timedelta(days=5), agency=TU_PHAP),
        record("ten-days-ago", NOW - timedelta(days=10)),  # outside the 7 days
        record("someone-else", NOW - timedelta(days=1), number="0911222333"),
        record(CALL, NOW - timedelta(minutes=2)),  # the call in progress
    ):
        await store.save(row)
    await store.create_case(Case(None, "two-days-ago", "Chung", NOW - timedelta(days=2),
                                 "lan", agency=VAN_PHONG))
    await store.create_case(Case(None, "five-days-ago", "Hộ tịch", NOW - timedelta(days=5),
                                 "lan", agency=TU_PHAP))
    await store.create_case(Case(None, "ten-days-ago", "Cũ", NOW - timedelta(days=10), "lan",
                                 agency=VAN_PHONG))  # older than 7 days, still open: shown
    closed = await store.create_case(Case(None, "two-days-ago", "Đã xong",
                                          NOW - timedelta(days=2), "lan", agency=VAN_PHONG))
    assert closed.id is not None
    await store.update_case(closed.id, status=CaseStatus.REJECTED, by="lan", at=NOW,
                            note="Không thuộc thẩm quyền")
    await store.create_case(Case(None, "someone-else", "Khác", NOW, "lan", agency=VAN_PHONG))


@dataclass
class Desks:
    app: Starlette
    service: FakeLiveService
    feed: WallboardFeed
    users: InMemoryUserStore
    presence: InMemoryPresenceStore


@asynccontextmanager
async def console(db_url: str) -> AsyncIterator[Desks]:
    clock = FakeClock(NOW, running=False)
    engine = make_engine(db_url)
    service = FakeLiveService(clock)
    users, presence = InMemoryUserStore(), InMemoryPresenceStore()
    for name, role, agency, desk in (
        ("ban1401", Role.OPERATOR, None, "1401"), ("tuphap", Role.AGENCY, TU_PHAP, "1402"),
        ("xem", Role.VIEWER, None, "1403"), ("vanhanh", Role.OPERATOR, None, None),
        ("quantri", Role.ADMIN, None, None),
    ):
        await add_user(users, clock, name, role, agency)
        if desk is not None:
            await users.set_desk(name, desk, at=NOW)
    try:
        async with service.client() as http:
            feed = WallboardFeed(http, "http://127.0.0.1:9180", clock, retry=0.02)
            app = create_app(users=users, config=hotline_config(), clock=clock, secret=SECRET,
                             queries=CallQueries(make_sessionmaker(engine)), wallboard=feed)
            install_desk_pages(app, presence)
            following = asyncio.create_task(feed.run())
            try:
                await board_where(feed, lambda b: b.live is not None, 10)
                yield Desks(app, service, feed, users, presence)
            finally:
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
    finally:
        await engine.dispose()


async def talking_on(desks: Desks, desk: str) -> None:
    desks.service.step(CALL, "talking", 4, (desk,))
    await board_where(desks.feed, lambda b: b.live is not None and any(
        c.step == "talking" for c in b.live.calls))


def counted(html: str, name: str) -> int:
    found = re.search(rf'data-{name}="(\d+)"', html)
    assert found, f"no data-{name} in the panel"
    return int(found.group(1))


async def test_the_desks_user_sees_the_callers_calls_of_the_week_and_open_cases(
    db_url: str, sessions: async_sessionmaker[AsyncSession],
) -> None:
    await a_callers_past(sessions)
    async with console(db_url) as desks:
        await talking_on(desks, "1401")
        async with client(desks.app) as http:
            await log_in(http, "ban1401")
            page = (await http.get("/my-desk")).text
    assert "Cuộc gọi đang nghe" in page and f"Đang nghe: {NUMBER}" in page
    assert counted(page, "earlier-calls") == 2  # two and five days ago, not ten
    assert "/calls/two-days-ago" in page and "/calls/five-days-ago" in page
    assert "ten-days-ago" not in page and "someone-else" not in page
    assert counted(page, "open-cases") == 3  # not the rejected one, nor another number's
    assert "Đã xong" not in page and "Khác" not in page


async def test_an_agency_user_sees_only_their_agencys_calls_and_cases(
    db_url: str, sessions: async_sessionmaker[AsyncSession],
) -> None:
    await a_callers_past(sessions)
    async with console(db_url) as desks:
        await talking_on(desks, "1402")
        async with client(desks.app) as http:
            await log_in(http, "tuphap")
            page = (await http.get("/my-desk")).text
    assert counted(page, "earlier-calls") == 1 and "/calls/five-days-ago" in page
    assert counted(page, "open-cases") == 1 and "Hộ tịch" in page
    assert "Chung" not in page and "Cũ" not in page


async def test_the_panel_follows_the_desk_answering_and_ending_the_call(
    db_url: str, sessions: async_sessionmaker[AsyncSession],
) -> None:
    await a_callers_past(sessions)
    async with console(db_url) as desks:
        async with client(desks.app) as http:
            await log_in(http, "ban1401")
            cookies = http.cookies
        async with EventStream(desks.app, "/my-desk/events", cookies) as stream:
            first = await stream.next_event()
            assert stream.status == 200 and first.startswith("event: panel\n")
            assert 'data-talking="none"' in first
            desks.service.step(CALL, "ringing", 4, ("1401",))  # not answered yet
            desks.service.step("1795456000.99", "talking", 4, ("1402",))  # another desk's
            desks.service.step(CALL, "talking", 4, ("1401",))
            answered = await stream.next_event()
            assert f'data-talking="{CALL}"' in answered and NUMBER in answered
            assert counted(answered, "earlier-calls") == 2
            desks.service.step(CALL, None)
            ended = await stream.next_event()
            assert 'data-talking="none"' in ended


async def test_a_user_without_a_desk_or_who_may_not_see_calls_is_refused(
    db_url: str,
) -> None:
    async with console(db_url) as desks:
        for name in ("vanhanh", "xem"):
            async with client(desks.app) as http:
                await log_in(http, name)
                assert (await http.get("/my-desk")).status_code == 403
                assert (await http.get("/my-desk/events")).status_code == 403
                token = await csrf_of(http, "/")
                refused = await http.post("/my-desk/presence",
                                          data={"action": "pause", "csrf_token": token})
                assert refused.status_code == 403
        assert desks.presence.rows == {}


async def test_the_desks_user_pauses_and_resumes_their_own_desk_in_one_click(
    db_url: str,
) -> None:
    async with console(db_url) as desks:
        async with client(desks.app) as http:
            await log_in(http, "ban1401")
            token = await csrf_of(http, "/my-desk")
            done = await http.post("/my-desk/presence",
                                   data={"action": "pause", "csrf_token": token})
            assert done.status_code == 303
            row = desks.presence.rows["1401"]
            assert (row.paused, row.changed_by) == (True, "ban1401")
            page = (await http.get(done.headers["location"])).text
            assert "Tạm nghỉ" in page and 'value="resume"' in page
            await http.post("/my-desk/presence", data={"action": "resume", "csrf_token": token})
            assert not desks.presence.rows["1401"].paused
        assert list(desks.presence.rows) == ["1401"]


async def test_an_admin_binds_a_user_to_a_configured_desk_one_user_per_desk(
    db_url: str,
) -> None:
    async with console(db_url) as desks:
        target = await desks.users.by_name("vanhanh")
        assert target is not None
        async with client(desks.app) as http:
            await log_in(http, "quantri")
            token = await csrf_of(http, f"/users/{target.id}")
            path = f"/users/{target.id}/desk"
            unknown = await http.post(path, data={"desk": "9999", "csrf_token": token})
            assert unknown.status_code == 400 and "không có trong cấu hình" in unknown.text
            taken = await http.post(path, data={"desk": "1401", "csrf_token": token})
            assert taken.status_code == 400 and "ban1401" in taken.text
            bound = await http.post(path, data={"desk": "1501", "csrf_token": token})
            assert bound.status_code == 303
            assert (await desks.users.by_name("vanhanh")).desk == "1501"  # type: ignore[union-attr]
            page = (await http.get(f"/users/{target.id}")).text
            assert "<option selected>1501</option>" in page
            await http.post(path, data={"desk": "", "csrf_token": token})
            assert (await desks.users.by_name("vanhanh")).desk is None  # type: ignore[union-attr]
        async with client(desks.app) as http:
            await log_in(http, "ban1401")
            assert (await http.post(path, data={"desk": "1402", "csrf_token": await csrf_of(
                http, "/")})).status_code == 403

