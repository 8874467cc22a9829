"""The wallboard on real SQLite and PostgreSQL: today's figures from the call log
(`CallQueries.today_figures`), the page and its event stream in process, with the
service's `GET /live` faked through httpx.MockTransport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from calllog.db import make_engine, make_sessionmaker
from calllog.model import CallRecord, Case, CaseStatus, Outcome
from calllog.presence import PresenceStore
from calllog.queries import CallQueries
from calllog.store import CallLogStore
from calllog.today import latest_overdue_start
from calllog.users import InMemoryUserStore, Role
from console.app import create_app
from console.live_feed import WallboardFeed
from console.wallboard import RECHECK_S, day_figures, local_day, masked, today_counts
from routing.deadlines import callback_overdue_at
from tests.clock import FakeClock
from tests.console_client import SECRET, add_user, client, hotline_config, log_in
from tests.wallboard_fakes import EventStream, FakeLiveService, board_where, caller_of

NOW = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # Monday 14:30 in Vietnam
MIDNIGHT = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)  # Monday 00:00 in Vietnam


def call(call_id: str, started_at: datetime, outcome: Outcome | None,
         branch_key: int | None = 4, **fields: object) -> CallRecord:
    record = CallRecord(call_id=call_id, caller_number="0901234567", started_at=started_at)
    record.outcome, record.branch_key = outcome, branch_key
    for name, value in fields.items():
        setattr(record, name, value)
    return record


async def a_day_of_calls(sessions: async_sessionmaker[AsyncSession]) -> None:
    store = CallLogStore(sessions, case_deadline=lambda at: at + timedelta(days=2))
    for record in (
        call("yesterday-late", MIDNIGHT - timedelta(minutes=1), Outcome.CONNECTED),
        call("midnight", MIDNIGHT, Outcome.CONNECTED),
        call("morning", MIDNIGHT + timedelta(hours=8), Outcome.CONNECTED),
        call("missed", MIDNIGHT + timedelta(hours=9), Outcome.DESK_UNREACHABLE,
             callback="pending"),
        call("gave-up-ringing", MIDNIGHT + timedelta(hours=10),
             Outcome.ABANDONED_WHILE_RINGING, callback="pending"),
        call("menu", MIDNIGHT + timedelta(hours=11), Outcome.ABANDONED_IN_MENU, None),
        call("closed", MIDNIGHT + timedelta(hours=12), Outcome.CLOSED, None,
             callback="pending"),
        call("last-week", MIDNIGHT - timedelta(days=7), Outcome.CLOSED, None,
             callback="pending"),
        call("in-progress", NOW - timedelta(minutes=1), None, None),
    ):
        await store.save(record)
    late = await store.create_case(Case(None, "last-week", "Chung", NOW - timedelta(days=5),
                                        "lan"))
    await store.create_case(Case(None, "missed", "Chung", NOW - timedelta(hours=1), "lan"))
    done = await store.create_case(Case(None, "closed", "Chung", NOW - timedelta(days=4),
                                        "lan"))
    assert late.id is not None and done.id is not None
    await store.update_case(done.id, status=CaseStatus.REJECTED, by="lan", at=NOW,
                            note="Không thuộc thẩm quyền")


async def test_todays_figures_count_the_provinces_day_and_the_follow_ups_waiting(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await a_day_of_calls(sessions)
    since, until = local_day(NOW)
    assert (since, until) == (MIDNIGHT, MIDNIGHT + timedelta(days=1))
    overdue_at = callback_overdue_at(hotline_config())
    counts = await CallQueries(sessions).today_figures(since=since, until=until, now=NOW,
                                                       overdue_at=overdue_at)
    assert counts.by_outcome == {
        Outcome.CONNECTED: 2, Outcome.DESK_UNREACHABLE: 1,
        Outcome.ABANDONED_WHILE_RINGING: 1, Outcome.ABANDONED_IN_MENU: 1,
        Outcome.CLOSED: 1, None: 1}
    assert counts.received == 7
    assert counts.chose_branch == 4
    assert counts.callbacks_pending == 4  # last week's too
    # one working day (8 h): last week's is overdue; this morning's three are not yet
    assert counts.callbacks_overdue == 1
    assert counts.cases_overdue == 1  # open past its deadline; not the rejected one


async def test_overdue_call_backs_are_counted_as_the_policy_says_to_the_microsecond(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    overdue_at = callback_overdue_at(hotline_config())
    now = NOW + timedelta(days=1, hours=1, microseconds=3)  # Tuesday 15:30
    cutoff = latest_overdue_start(NOW - timedelta(days=20), now, overdue_at)
    assert cutoff is not None
    starts = [NOW - timedelta(days=20) + timedelta(minutes=97 * n, microseconds=n)
              for n in range(300)]
    starts += [cutoff, cutoff + timedelta(microseconds=1)]
    store = CallLogStore(sessions)
    for n, started in enumerate(starts):
        await store.save(call(f"c{n}", started, Outcome.CLOSED, None, callback="pending"))
    await store.save(call("done", NOW - timedelta(days=19), Outcome.CLOSED, None,
                          callback="done"))
    await store.save(call("none-owed", NOW - timedelta(days=19), Outcome.CONNECTED))

    expected = sum(overdue_at(s) <= now for s in starts)
    queries = CallQueries(sessions)
    assert await queries.count_overdue_callbacks(now=now, overdue_at=overdue_at) == expected
    since, until = local_day(now)
    counts = await queries.today_figures(since=since, until=until, now=now,
                                         overdue_at=overdue_at)
    assert (counts.callbacks_overdue, counts.callbacks_pending) == (expected, len(starts))
    assert 0 < expected < len(starts) - 1


@dataclass
class Wallboard:
    app: Starlette
    service: FakeLiveService
    feed: WallboardFeed


@asynccontextmanager
async def wallboard(db_url: str) -> AsyncIterator[Wallboard]:
    clock = FakeClock(NOW, running=False)
    engine = make_engine(db_url)
    service = FakeLiveService(clock)
    try:
        queries = CallQueries(make_sessionmaker(engine))
        users = InMemoryUserStore()
        for name, role in (("xem", Role.VIEWER), ("vanhanh", Role.OPERATOR)):
            await add_user(users, clock, name, role)
        async with service.client() as http:
            feed = WallboardFeed(http, "http://127.0.0.1:9180", clock, retry=0.02,
                                 figures=lambda: today_counts(
                                     queries, clock, callback_overdue_at(hotline_config())),
                                 figures_every=0.05, figures_min_gap=0.0)
            app = create_app(users=users, config=hotline_config(), clock=clock,
                             secret=SECRET, queries=queries, wallboard=feed)
            following = asyncio.create_task(feed.run())
            try:
                await board_where(feed, lambda b: b.live is not None
                                  and b.figures is not None, 10)
                yield Wallboard(app, service, feed)
            finally:
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
    finally:
        await engine.dispose()


async def test_the_wallboard_shows_calls_by_step_desks_and_todays_figures_to_a_viewer(
    db_url: str, sessions: async_sessionmaker[AsyncSession],
) -> None:
    await a_day_of_calls(sessions)
    async with wallboard(db_url) as board:
        board.service.step("1795456000.11", "talking", 4, ("1401",))
        board.service.step("1795456000.12", "menu")
        await board_where(board.feed, lambda b: b.live is not None and len(b.live.calls) == 2)
        async with client(board.app) as http:
            await log_in(http, "xem")
            page = (await http.get("/wallboard")).text
    assert '<h1>Bảng theo dõi</h1>' in page
    assert 'data-testid="step-talking">1<' in page and 'data-testid="step-menu">1<' in page
    assert 'data-testid="branch-4">1<' in page
    assert masked(caller_of("1795456000.11")) in page
    assert caller_of("1795456000.11") not in page  # the wall shows no full number
    assert 'data-testid="desk-1401" data-state="busy"' in page
    assert 'data-testid="desks-unregistered">' in page
    assert 'data-testid="received">7<' in page
    assert 'data-testid="connected">2<' in page
    assert 'data-testid="missed">2<' in page
    assert 'data-testid="abandoned">1<' in page
    assert 'data-testid="answer-rate">50<span class="wb-unit">&nbsp;%</span><' in page
    assert 'data-testid="callbacks-pending">4<' in page
    assert 'data-testid="callbacks-overdue">1<' in page
    assert 'data-testid="cases-overdue">1<' in page


async def test_the_event_stream_sends_the_board_again_when_a_call_moves(db_url: str) -> None:
    async with wallboard(db_url) as board:
        async with client(board.app) as http:
            await log_in(http, "vanhanh")
            cookies = http.cookies
        async with EventStream(board.app, "/wallboard/events", cookies) as stream:
            first = await stream.next_event()
            assert stream.status == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert first.startswith("event: board\nid: ")
            assert "Không có cuộc gọi nào đang diễn ra." in first
            board.service.step("1795456000.21", "menu")
            while "Đang nghe menu</td>" not in (event := await stream.next_event()):
                pass
            board.service.step("1795456000.21", "talking", 4, ("1401",))
            while "Đang đàm thoại</td>" not in (event := await stream.next_event()):
                pass
            board.service.step("1795456000.21", None)
            while "Không có cuộc gọi nào" not in (event := await stream.next_event()):
                pass
            assert all(line.startswith(("event:", "id:", "data:"))
                       for line in event.splitlines())


async def test_the_wallboard_says_plainly_when_the_service_is_down_and_recovers(
    db_url: str,
) -> None:
    async with wallboard(db_url) as board:
        async with client(board.app) as http:
            await log_in(http, "xem")
            cookies = http.cookies
            board.service.failure = httpx.ConnectError("Connection refused")
            board.service.step("1795456000.31", "menu")  # the long-poll now fails
            await board_where(board.feed, lambda b: b.down is not None)
            page = (await http.get("/wallboard")).text
        assert "Dịch vụ tổng đài không phản hồi" in page
        assert "Đang tự động thử kết nối lại" in page
        async with EventStream(board.app, "/wallboard/events", cookies) as stream:
            assert "Dịch vụ tổng đài không phản hồi" in await stream.next_event()
            board.service.failure = None
            while "không phản hồi" in (event := await stream.next_event()):
                pass
            assert "Đang nghe menu</td>" in event


@pytest.mark.parametrize("change", ["disabled", "made an agency user", "still an operator"])
async def test_an_open_stream_ends_once_its_user_may_no_longer_see_the_board(
    db_url: str, change: str,
) -> None:
    async with wallboard(db_url) as board:
        async with client(board.app) as http:
            await log_in(http, "vanhanh")
            cookies = http.cookies
        console = board.app.state.console
        users, clock = console.auth.users, console.clock
        async with EventStream(board.app, "/wallboard/events", cookies) as stream:
            await stream.next_event()
            clock.advance(60)
            if change == "disabled":
                await users.set_active("vanhanh", False, at=clock.now())
            elif change == "made an agency user":
                await users.set_role("vanhanh", Role.AGENCY, "Sở Tư pháp", at=clock.now())
            clock.advance(RECHECK_S)
            board.service.step("1795456000.41", "talking", 4, ("1401",))
            if change == "still an operator":
                while "Đang đàm thoại</td>" not in await stream.next_event():
                    pass
                assert not stream.task.done()  # type: ignore[union-attr]
                return
            assert stream.task is not None
            async with asyncio.timeout(10):
                await asyncio.shield(stream.task)  # the stream ended by itself
            sent = []
            while not stream.events.empty():
                sent.append(stream.events.get_nowait())
            assert not any("Đang đàm thoại" in event for event in sent)


async def test_todays_figures_bring_the_queue_waits_desks_talk_and_pauses(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = CallLogStore(sessions)
    joined = MIDNIGHT + timedelta(hours=9)
    await store.save(call("queued", joined - timedelta(seconds=30), Outcome.CONNECTED,
                          queue_joined_at=joined, queue_left_at=joined + timedelta(seconds=25),
                          queue_result="answered", desk_answered="1401",
                          bridged_at=joined + timedelta(seconds=25),
                          ended_at=joined + timedelta(seconds=85)))
    await store.save(call("gave-up", joined, Outcome.ABANDONED_WHILE_RINGING,
                          queue_joined_at=joined, queue_left_at=joined + timedelta(seconds=50),
                          queue_result="abandoned"))
    presence = PresenceStore(sessions)
    await presence.set_state("1402", logged_in=True, paused=True, pause_reason="2",
                             at=NOW - timedelta(minutes=20), by="desk")
    since, until = local_day(NOW)
    counts = await CallQueries(sessions).today_figures(since=since, until=until, now=NOW)

    figures = day_figures(counts)
    assert figures.queue is not None
    assert (figures.queue.queued, figures.queue.abandoned) == (2, 1)
    assert [(s.seconds, s.within) for s in figures.queue.service_levels] == [(20, 0), (30, 1)]
    assert counts.tallies is not None and counts.tallies.desk_talk == {"1401": {60: 1}}
    assert [d.extension for d in counts.desks if d.paused] == ["1402"]
    assert counts.presence is not None and len(counts.presence.changes) == 1
