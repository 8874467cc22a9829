"""The wallboard's feed: ONE follower of the service's live state per console process,
fanned out to every browser watching.

    service GET /live?after=<v>  <--long-poll--  WallboardFeed.follow()   (one client)
    database (CallQueries)       <--every few s-- WallboardFeed.refresh_figures()
                                                    |  Board (latest state, generation)
                                                    v
    browsers  <--SSE /wallboard/events--  WallboardFeed.changes()  (one per browser)

The service is asked once per change however many browsers watch: the browsers only
wait on an `asyncio.Event` that the feed swaps at each new `Board`. A slow browser skips
boards it could not take in time and gets the latest one (a wallboard shows the present).

When the service does not answer (connection refused, timeout, an error status, an
answer that is no snapshot) the board says so (`ServiceDown`) and the feed keeps asking
every `retry` seconds; the first answer clears it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

import httpx
import structlog
from pydantic import ValidationError

from calllog.announcements import OverrideSwitch
from calllog.today import DayCounts
from routing.clock import Clock
from routing.live import LiveSnapshot

WAIT_S = 20.0
"""How long one long-poll waits for a change at the service."""
RETRY_S = 2.0
"""Between two tries while the service does not answer."""
FIGURES_EVERY_S = 5.0
"""Today's figures are read again this often, and after a live change (at most once a
`FIGURES_MIN_GAP_S`)."""
FIGURES_MIN_GAP_S = 1.0

log = structlog.get_logger("console.wallboard")


@dataclass(frozen=True)
class ServiceDown:
    reason: str
    """In Vietnamese, for the board."""
    since: datetime


@dataclass(frozen=True)
class Board:
    """What every browser shows; `generation` goes up with each change."""

    generation: int = 0
    live: LiveSnapshot | None = None
    """The service's latest snapshot (None: none yet since the console started)."""
    down: ServiceDown | None = None
    figures: DayCounts | None = None
    figures_at: datetime | None = None
    figures_failed: bool = False
    """The last read of today's figures failed (the figures shown are older)."""
    announcement: OverrideSwitch | None = None
    """The announcement override in force (read with the figures), for the banner."""


FiguresSource = Callable[[], Awaitable[DayCounts]]
AnnouncementSource = Callable[[], Awaitable[OverrideSwitch | None]]


class WallboardFeed:
    def __init__(
        self, client: httpx.AsyncClient, service_url: str, clock: Clock,
        figures: FiguresSource | None = None, *, wait: float = WAIT_S,
        retry: float = RETRY_S, figures_every: float = FIGURES_EVERY_S,
        figures_min_gap: float = FIGURES_MIN_GAP_S,
        announcement: AnnouncementSource | None = None,
    ) -> None:
        self.service_url = service_url.rstrip("/")
        self._client = client
        self._clock = clock
        self._figures = figures
        self._announcement = announcement
        self._wait = wait
        self._retry = retry
        self._figures_every = figures_every
        self._figures_min_gap = figures_min_gap
        self._board = Board()
        self._changed = asyncio.Event()
        self._live_changed = asyncio.Event()
        self._fragment: tuple[int, str] | None = None
        self.service_requests = 0
        """How many times the service was asked (for tests and the benchmark)."""

    @property
    def board(self) -> Board:
        return self._board

    @property
    def follows_announcement(self) -> bool:
        """Whether the boards carry the announcement in force (kept current)."""
        return self._announcement is not None

    async def changes(self) -> AsyncIterator[Board]:
        """The current board at once, then each newer one (the latest, when several
        came while the consumer was busy)."""
        seen = -1
        while True:
            board, changed = self._board, self._changed
            if board.generation != seen:
                seen = board.generation
                yield board
            await changed.wait()

    def fragment(self, board: Board, render: Callable[[Board], str]) -> str:
        """`render(board)`, once per generation however many browsers ask."""
        if self._fragment is None or self._fragment[0] != board.generation:
            self._fragment = (board.generation, render(board))
        return self._fragment[1]

    async def run(self) -> None:
        """Follow the service and refresh the figures until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.follow())
            if self._figures is not None or self._announcement is not None:
                tasks.create_task(self.refresh_figures())

    async def follow(self) -> None:
        version: int | None = None
        while True:
            snapshot = await self._ask(version)
            if snapshot is None:
                version = None
                await asyncio.sleep(self._retry)
                continue
            if self._board.down is not None:
                log.info("service answers again", url=self.service_url)
            changed = self._board.live is None or snapshot.version != self._board.live.version
            version = snapshot.version
            self._publish(live=snapshot, down=None)
            if changed:
                self._live_changed.set()

    async def _ask(self, version: int | None) -> LiveSnapshot | None:
        params = {} if version is None else {"after": str(version), "wait": str(self._wait)}
        self.service_requests += 1
        try:
            answer = await self._client.get(f"{self.service_url}/live", params=params,
                                            timeout=self._wait + 10.0)
            answer.raise_for_status()
            return LiveSnapshot.model_validate_json(answer.content)
        except (httpx.HTTPError, ValidationError) as exc:
            self._service_down(exc)
            return None

    def _service_down(self, exc: Exception) -> None:
        reason = describe(exc)
        down = self._board.down
        if down is None:
            log.warning("service does not answer", url=self.service_url, error=repr(exc))
            down = ServiceDown(reason, self._clock.now())
        self._publish(down=replace(down, reason=reason))

    def nudge(self) -> None:
        """Read the figures and the announcement again soon (something just changed)."""
        self._live_changed.set()

    async def refresh_figures(self) -> None:
        while True:
            self._live_changed.clear()
            if self._figures is not None:
                await self._read_figures(self._figures)
            if self._announcement is not None:
                await self._read_announcement(self._announcement)
            await asyncio.sleep(self._figures_min_gap)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, self._figures_every - self._figures_min_gap)):
                    await self._live_changed.wait()

    async def _read_figures(self, figures: FiguresSource) -> None:
        try:
            counts = await figures()
        except Exception as exc:  # the database is down or slow: keep the last ones
            log.warning("today's figures unreadable", error=repr(exc))
            self._publish(figures_failed=True)
        else:
            self._publish(figures=counts, figures_at=self._clock.now(), figures_failed=False)

    async def _read_announcement(self, announcement: AnnouncementSource) -> None:
        try:
            switch = await announcement()
        except Exception as exc:  # keep the banner as it was
            log.warning("the announcement in force is unreadable", error=repr(exc))
            return
        if switch != self._board.announcement:
            self._publish(announcement=switch)

    def _publish(self, **changes: object) -> None:
        self._board = replace(self._board, generation=self._board.generation + 1,
                              **changes)  # type: ignore[arg-type]
        self._changed.set()
        self._changed = asyncio.Event()


def describe(exc: Exception) -> str:
    """Why the service did not answer, in Vietnamese."""
    match exc:
        case httpx.ConnectError():
            return "không kết nối được (dịch vụ không chạy hoặc sai địa chỉ)"
        case httpx.TimeoutException():
            return "quá thời gian chờ trả lời"
        case httpx.RemoteProtocolError() | httpx.ReadError():
            return "kết nối bị ngắt giữa chừng"
        case httpx.HTTPStatusError():
            return f"trả lời lỗi {exc.response.status_code}"
        case ValidationError():
            return "câu trả lời không đúng định dạng"
        case _:
            return "lỗi kết nối"
