"""The wallboard's one follower of the service's live state, and its fan-out to the
browsers: against a fake `GET /live` through httpx.MockTransport (no socket)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from calllog.model import Outcome
from calllog.today import DayCounts
from console.live_feed import Board, WallboardFeed, describe
from console.wallboard import day_figures, masked, mmss, percent
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.wallboard_fakes import FakeLiveService, board_where

SERVICE = "http://127.0.0.1:9180"


@asynccontextmanager
async def following(
    service: FakeLiveService, clock: FakeClock, **options: object
) -> AsyncIterator[WallboardFeed]:
    async with service.client() as http:
        feed = WallboardFeed(http, SERVICE, clock, retry=0.02, **options)  # type: ignore[arg-type]
        task = asyncio.create_task(feed.run())
        try:
            yield feed
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _step_of(board: Board, call_id: str) -> str | None:
    assert board.live is not None
    return next((c.step for c in board.live.calls if c.call_id == call_id), None)


async def test_the_feed_follows_a_call_from_menu_to_talking_to_gone() -> None:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    service = FakeLiveService(clock)
    async with following(service, clock) as feed:
        await board_where(feed, lambda _: feed.board.live is not None)
        seen: list[str | None] = []
        for step, branch, desks in (("menu", None, ()), ("ringing", 4, ("1401",)),
                                    ("talking", 4, ("1401",)), (None, None, ())):
            service.step("1795456000.1", step, branch, desks)  # type: ignore[arg-type]
            await board_where(feed, lambda _: feed.board.live is not None
                        and feed.board.live.version == service.version)
            seen.append(_step_of(feed.board, "1795456000.1"))
    assert seen == ["menu", "ringing", "talking", None]


async def test_fifty_browsers_cost_the_service_one_request_per_change() -> None:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    service = FakeLiveService(clock)
    async with following(service, clock) as feed:
        await board_where(feed, lambda b: b.live is not None)
        seen: list[list[int]] = [[] for _ in range(50)]

        async def browser(n: int, last: int) -> None:
            async for board in feed.changes():
                assert board.live is not None
                seen[n].append(board.live.version)
                if board.live.version == last:
                    return

        before = service.requests
        browsers = [asyncio.create_task(browser(n, service.version + 5)) for n in range(50)]
        await asyncio.sleep(0)
        for n in range(5):
            service.step(f"1795456000.{n}", "menu")
            await board_where(feed, lambda b: b.live is not None
                              and b.live.version == service.version)
        async with asyncio.timeout(5):
            await asyncio.gather(*browsers)
        asked = service.requests - before
    assert asked <= 5 + 1  # one long-poll per change (and the one waiting now)
    assert all(versions[-1] == service.version for versions in seen)


async def test_a_slow_browser_gets_the_latest_board_not_every_one_in_between() -> None:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    service = FakeLiveService(clock)
    async with following(service, clock) as feed:
        await board_where(feed, lambda _: feed.board.live is not None)
        changes = feed.changes()
        first = await anext(changes)
        for n in range(5):
            service.step(f"1795456000.{n}", "menu")
        await board_where(feed, lambda _: feed.board.live is not None
                    and feed.board.live.version == service.version)
        latest = await anext(changes)
        await changes.aclose()
    assert latest.generation > first.generation
    assert latest.live is not None and latest.live.version == service.version


async def test_a_refused_connection_shows_the_service_down_and_the_feed_recovers_by_itself(
) -> None:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    service = FakeLiveService(clock)
    service.failure = httpx.ConnectError("Connection refused")
    async with following(service, clock) as feed:
        await board_where(feed, lambda _: feed.board.down is not None)
        down = feed.board.down
        assert down is not None
        assert down.reason == "không kết nối được (dịch vụ không chạy hoặc sai địa chỉ)"
        assert down.since == MONDAY_9AM_ICT
        tries = service.requests
        await board_where(feed, lambda _: service.requests >= tries + 3)  # keeps trying
        service.failure = None
        await board_where(feed, lambda _: feed.board.down is None)
        assert feed.board.live is not None and feed.board.live.version == service.version


async def test_the_service_going_away_while_followed_is_shown_and_its_snapshot_kept() -> None:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    service = FakeLiveService(clock)
    async with following(service, clock) as feed:
        service.step("1795456000.1", "talking", 4, ("1401",))
        await board_where(feed, lambda _: feed.board.live is not None
                    and feed.board.live.version == service.version)
        service.failure = httpx.ReadTimeout("timed out")
        service.step("1795456000.1", None)  # wakes the waiting long-poll: it now fails
        await board_where(feed, lambda _: feed.board.down is not None)
    assert feed.board.down is not None
    assert feed.board.down.reason == "quá thời gian chờ trả lời"
    assert _step_of(feed.board, "1795456000.1") == "talking"  # the last known, marked stale


def test_an_error_status_or_a_wrong_answer_is_named_plainly() -> None:
    request = httpx.Request("GET", SERVICE + "/live")
    status = httpx.HTTPStatusError("503", request=request,
                                   response=httpx.Response(503, request=request))
    assert describe(status) == "trả lời lỗi 503"
    assert describe(httpx.RemoteProtocolError("closed")) == "kết nối bị ngắt giữa chừng"
    assert describe(httpx.UnsupportedProtocol("ftp")) == "lỗi kết nối"


async def test_todays_figures_are_read_again_after_a_live_change() -> None:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    service = FakeLiveService(clock)
    reads: list[int] = []

    async def figures() -> DayCounts:
        reads.append(service.version)
        return DayCounts({Outcome.CONNECTED: len(reads)}, len(reads), 0, 0)

    async with following(service, clock, figures=figures, figures_every=60.0,
                         figures_min_gap=0.0) as feed:
        await board_where(feed, lambda _: feed.board.figures is not None)
        service.step("1795456000.1", "menu")
        await board_where(feed, lambda _: len(reads) >= 2 and reads[-1] == service.version)
    assert feed.board.figures_at == MONDAY_9AM_ICT


async def test_a_failing_figures_read_keeps_the_last_figures_marked_stale() -> None:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    service = FakeLiveService(clock)
    answers: list[DayCounts | Exception] = [DayCounts({}, 0, 3, 1), OSError("database down")]

    async def figures() -> DayCounts:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with following(service, clock, figures=figures, figures_every=0.01,
                         figures_min_gap=0.0) as feed:
        await board_where(feed, lambda _: feed.board.figures_failed)
    assert feed.board.figures == DayCounts({}, 0, 3, 1)


def test_todays_figures_count_missed_and_abandoned_as_the_period_report_does() -> None:
    counts = DayCounts(
        {Outcome.CONNECTED: 6, Outcome.DESK_UNREACHABLE: 1,
         Outcome.ABANDONED_WHILE_RINGING: 1, Outcome.ABANDONED_IN_MENU: 2,
         Outcome.NO_SELECTION: 1, Outcome.CLOSED: 3, None: 2},
        chose_branch=8, callbacks_pending=4, cases_overdue=2, callbacks_overdue=3)
    figures = day_figures(counts)
    assert (figures.received, figures.connected, figures.missed, figures.abandoned) == (
        16, 6, 2, 3)
    assert figures.answer_rate == 6 / 8
    assert (figures.callbacks_pending, figures.callbacks_overdue, figures.cases_overdue) == (
        4, 3, 2)
    assert day_figures(DayCounts({}, 0, 0, 0)).answer_rate is None


def test_the_wall_screen_hides_the_middle_of_callers_numbers() -> None:
    assert masked("0939123456") == "0939***456"
    assert masked("unknown") == "Không rõ số"
    assert masked("1101") == "1101"  # a desk or station extension


def test_durations_and_rates_are_written_the_vietnamese_way() -> None:
    assert mmss(65.9) == "1:05"
    assert mmss(3723) == "1:02:03"
    assert percent(0.876) == "88"
    assert percent(1.0) == "100"
