"""The wallboard's announcement banner follows the override live: the feed reads the
announcement in force with the figures (and at once when nudged by a switch), publishes a
new board only when it changed, keeps the banner when the read fails, and the board's
HTML carries the banner."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from calllog.announcements import OverrideMode, OverrideSwitch
from calllog.users import InMemoryUserStore
from console.wallboard import render_board
from tests.clock import MONDAY_9AM_ICT, FakeClock
from tests.console_client import console_app
from tests.unit.test_wallboard_feed import following
from tests.wallboard_fakes import FakeLiveService, board_where

SWITCH = OverrideSwitch(at=MONDAY_9AM_ICT, by="lan", on=True, mode=OverrideMode.REPLACE_MENU,
                        text="Chiều nay tổng đài nghỉ.", media="override-text",
                        until=MONDAY_9AM_ICT + timedelta(hours=8))


class Switches:
    def __init__(self) -> None:
        self.current: OverrideSwitch | None = None
        self.reads = 0
        self.down = False
        self._read = asyncio.Event()

    async def reads_reach(self, count: int) -> None:
        async with asyncio.timeout(5):
            while self.reads < count:
                self._read.clear()
                await self._read.wait()

    async def __call__(self) -> OverrideSwitch | None:
        self.reads += 1
        self._read.set()
        if self.down:
            raise OSError("database unreachable")
        return self.current


async def test_the_board_carries_the_announcement_switched_on_and_off() -> None:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    switches = Switches()
    async with following(FakeLiveService(clock), clock, announcement=switches,
                         figures_every=0.05, figures_min_gap=0.0) as feed:
        assert feed.follows_announcement
        await switches.reads_reach(1)
        assert feed.board.announcement is None
        switches.current = SWITCH
        feed.nudge()
        on = await board_where(feed, lambda b: b.announcement is not None)
        assert on.announcement == SWITCH
        generation = feed.board.generation
        reads = switches.reads
        await switches.reads_reach(reads + 3)
        assert feed.board.generation == generation  # unchanged: nothing sent again
        switches.down = True
        await switches.reads_reach(reads + 5)
        assert feed.board.announcement == SWITCH  # a failed read keeps the banner
        switches.down, switches.current = False, None
        feed.nudge()
        await board_where(feed, lambda b: b.announcement is None)


async def test_the_boards_html_shows_the_banner() -> None:
    clock = FakeClock(MONDAY_9AM_ICT, running=False)
    app = console_app(InMemoryUserStore(), clock)
    console = app.state.console
    switches = Switches()
    switches.current = SWITCH
    async with following(FakeLiveService(clock), clock, announcement=switches) as feed:
        board = await board_where(feed, lambda b: b.announcement is not None)
    html = render_board(console, board)
    assert 'data-announcement="on"' in html
    assert "Đang phát thông báo thay menu (tạm ngưng tổng đài)" in html
    assert "Chiều nay tổng đài nghỉ." in html
    assert "data-announcement" not in render_board(console, feed.board.__class__())
