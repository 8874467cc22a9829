"""The wallboard (Bảng theo dõi): the live state of the hotline on a wall screen.

    GET /wallboard          the page, drawn with the board as it is now
    GET /wallboard/events   Server-Sent Events: `board` with the board's HTML at each
                            change (console/static/wallboard.js swaps it in)

Both for admin, operator and viewer (`Action.VIEW_WALLBOARD`). The live state comes
from the console's one `WallboardFeed` (console/live_feed.py); the routes only render.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from calllog.period import CallbackTally
from calllog.queries import CallQueries
from calllog.today import DayCounts, OverdueAt
from console.access import Action, may, require
from console.auth import csrf_token
from console.fmt import LOCAL
from console.live_feed import Board
from reports.labels import (
    BUCKET_OF,
    DESK_STATE_LABELS,
    PRESENCE_STATE_LABELS,
    STEP_LABELS,
    Bucket,
)
from reports.queue_figures import QueueStats, desk_rows, pause_seconds, queue_stats
from routing.clock import Clock
from routing.live import STEPS, LiveCall, LiveSnapshot, PresenceState, Step, presence_state

if TYPE_CHECKING:
    from console.app import Console

RECHECK_S = 5.0
"""How often an open stream asks again whether its user may still see the board."""
SSE_RETRY_MS = 2000
"""How soon a browser reconnects when the stream breaks (the console restarted)."""
SHOWN_STEPS: tuple[tuple[str, tuple[Step, ...]], ...] = (
    (STEP_LABELS["menu"], ("answering", "menu")),
    *((STEP_LABELS[s], (s,)) for s in STEPS if s not in ("answering", "menu")),
)
"""The board's tiles: a call being greeted counts with the menu (a second or two)."""


@dataclass(frozen=True)
class DayFigures:
    """Today's figures as the period report defines them (`reports.labels.BUCKET_OF`):
    missed = a branch chosen, no desk talked; abandoned = hung up in the menu."""

    received: int
    connected: int
    missed: int
    abandoned: int
    answer_rate: float | None
    """connected / calls that chose a branch; None when none did."""
    callbacks_pending: int
    callbacks_overdue: int
    """Of those pending, the ones waiting past the YAML's limit (`callbacks:`)."""
    cases_overdue: int
    queue: QueueStats | None = None
    """Service level, queue wait, abandoned in queue (`reports.queue_figures`)."""
    callbacks: CallbackTally | None = None
    """The call backs of today's calls: by result, time to call back."""


@dataclass(frozen=True)
class DeskFigures:
    """One desk row of the board: its state now, its calls, talk and pause time today."""

    extension: str
    name: str
    state: PresenceState
    calls: int
    talk_seconds: int
    pause_seconds: int


def day_figures(counts: DayCounts) -> DayFigures:
    buckets = dict.fromkeys(Bucket, 0)
    for outcome, n in counts.by_outcome.items():
        buckets[BUCKET_OF[outcome]] += n
    connected = buckets[Bucket.CONNECTED]
    tallied = counts.tallies
    return DayFigures(
        received=counts.received, connected=connected, missed=buckets[Bucket.MISSED],
        abandoned=buckets[Bucket.MENU],
        answer_rate=connected / counts.chose_branch if counts.chose_branch else None,
        callbacks_pending=counts.callbacks_pending, callbacks_overdue=counts.callbacks_overdue,
        cases_overdue=counts.cases_overdue,
        queue=None if tallied is None else queue_stats(
            counts.by_outcome, tallied.queue_waits, tallied.queue_connected),
        callbacks=None if tallied is None else tallied.callback_results)


def desk_figures(live: LiveSnapshot, counts: DayCounts | None) -> tuple[DeskFigures, ...]:
    """The configured desks (as the live state lists them) with their state as of the
    snapshot and, when today's figures were read, their calls, talk and pause time."""
    stored = {} if counts is None else {d.extension: d for d in counts.desks}
    rows = {} if counts is None or counts.tallies is None else {r.extension: r for r in desk_rows(
        counts.tallies.desk_talk, None if counts.presence is None else pause_seconds(
            counts.presence.changes, *local_day(live.at), now=counts.presence.as_of))}
    shown = []
    for desk in live.desks:
        status, row = stored.get(desk.extension), rows.get(desk.extension)
        state = presence_state(desk.state, now=live.at) if status is None else presence_state(
            desk.state, logged_in=status.logged_in, paused=status.paused,
            wrap_up_until=status.wrap_up_until, now=live.at)
        shown.append(DeskFigures(
            extension=desk.extension, name=desk.name, state=state,
            calls=0 if row is None else row.calls,
            talk_seconds=0 if row is None else row.talk_seconds,
            pause_seconds=0 if row is None else row.pause_seconds or 0))
    return tuple(shown)


def local_day(now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the province's day holding `now`."""
    day = now.astimezone(LOCAL).date()
    start = datetime.combine(day, time(), LOCAL)
    return start, datetime.combine(day + timedelta(days=1), time(), LOCAL)


async def today_counts(queries: CallQueries, clock: Clock, overdue_at: OverdueAt) -> DayCounts:
    """Today's figures at the clock's now; `overdue_at`: `routing.deadlines.callback_overdue_at`."""
    now = clock.now()
    since, until = local_day(now)
    return await queries.today_figures(since=since, until=until, now=now,
                                       overdue_at=overdue_at)


def masked(number: str) -> str:
    """A caller's number as a wall screen shows it: "0939***456"."""
    if number == "unknown" or not number:
        return "Không rõ số"
    return number if len(number) < 8 else f"{number[:4]}***{number[-3:]}"


def seconds(since: datetime, at: datetime) -> int:
    return max(0, int((at - since).total_seconds()))


def step_count(live: LiveSnapshot, steps: tuple[Step, ...]) -> int:
    return sum(live.by_step.get(s, 0) for s in steps)


def call_desks(call: LiveCall) -> str:
    return ", ".join(call.desks)


def mmss(value: float) -> str:
    """A duration as "4:05" (minutes:seconds), "1:02:03" past an hour."""
    total = max(0, int(value))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def time_vn(at: datetime | None) -> str:
    """"14:05:09" in the province's time."""
    return "" if at is None else at.astimezone(LOCAL).strftime("%H:%M:%S")


def percent(rate: float) -> str:
    """"88" (%): whole percents, big on a wall screen (the period report has decimals)."""
    return f"{100 * rate:.0f}"


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def render_board(console: Console, board: Board) -> str:
    template = console.templates.env.get_template("wallboard_board.html")
    return template.render(
        board=board, live=board.live, announcement=board.announcement,
        figures=None if board.figures is None else day_figures(board.figures),
        desk_rows=() if board.live is None else desk_figures(board.live, board.figures),
        presence_labels=PRESENCE_STATE_LABELS,
        shown_steps=SHOWN_STEPS, step_labels=STEP_LABELS, desk_labels=DESK_STATE_LABELS,
        step_count=step_count, masked=masked, seconds=seconds, call_desks=call_desks,
        mmss=mmss, time_vn=time_vn, percent=percent,
        service_url=None if console.wallboard is None else console.wallboard.service_url)


async def page(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_WALLBOARD)
    from console.announce import active_announcement
    from console.pages import SECTIONS, sections_for  # the navigation (pages imports us)

    feed = console.wallboard
    board = Board() if feed is None else feed.board
    # The banner comes with the board when the feed follows the announcement (then it
    # changes live); otherwise it is read for the page, as it is at load.
    carried = feed is not None and feed.follows_announcement
    return console.render(
        request, "wallboard.html", user=user, sections=sections_for(user),
        section=next(s for s in SECTIONS if s.path == "/wallboard"), csrf=csrf_token(request),
        board_html=render_board(console, board), live=feed is not None,
        kiosk=request.query_params.get("kiosk") == "1",
        announcement=None if carried else await active_announcement(request))


async def events(request: Request) -> Response:
    console = _console(request)
    user = await console.auth.signed_in(request)
    require(user, Action.VIEW_WALLBOARD)
    feed = console.wallboard
    if feed is None:
        return Response("no live feed in this console\n", 503, media_type="text/plain")

    async def still_allowed() -> bool:
        again = await console.auth.current_user(request)
        return again is not None and may(again, Action.VIEW_WALLBOARD)

    async def stream() -> AsyncIterator[str]:
        yield f"retry: {SSE_RETRY_MS}\n\n"
        async for board in checked_boards(feed.changes(), still_allowed, console.clock):
            html = feed.fragment(board, lambda b: render_board(console, b))
            data = "".join(f"data: {line}\n" for line in html.splitlines())
            yield f"event: board\nid: {board.generation}\n{data}\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def checked_boards(boards: AsyncIterator[Board], allowed: Callable[[], Awaitable[bool]],
                   clock: Clock) -> AsyncIterator[Board]:
    """`boards` while `allowed()`, asked again before a board goes out once `RECHECK_S`
    have passed since the last answer, and every `RECHECK_S` while no board comes: a user
    disabled, given another role or logged out (or whose password changed) stops
    receiving the board within `RECHECK_S`, and their stream ends."""
    checked = clock.monotonic()
    coming: asyncio.Task[Board] = asyncio.ensure_future(anext(boards))
    try:
        while True:
            await asyncio.wait({coming}, timeout=RECHECK_S)
            if clock.monotonic() - checked >= RECHECK_S:
                if not await allowed():
                    return
                checked = clock.monotonic()
            if coming.done():
                yield coming.result()
                coming = asyncio.ensure_future(anext(boards))
    finally:
        coming.cancel()
        await asyncio.gather(coming, return_exceptions=True)
        await boards.aclose()  # type: ignore[attr-defined]


def routes() -> list[BaseRoute]:
    return [
        Route("/wallboard", page, methods=["GET"], name="wallboard"),
        Route("/wallboard/events", events, methods=["GET"], name="wallboard_events"),
    ]
