"""Desk presence in the service: the desks' states kept in memory for the call flows,
loaded from the database at start and re-read every few seconds (the console writes
there), written through on every change the service makes (a call's end, a desk's
feature code). The database down costs nothing but persistence: the states in memory
stay in force and a warning is logged.

Also the desk's feature codes: the generated dialplan sends `*45` / `*46[digit]` from a
desk phone to our Stasis app with the args `presence,login` / `presence,pause[,digit]`;
`feature_code` toggles the state and plays the short confirmation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from datetime import datetime

import structlog

from calllog.presence import DeskStatus, PresenceRepository
from ivr.ari.client import AriClient
from ivr.ari.errors import AriError
from ivr.ari.models import Channel, PlaybackFinished
from ivr.context import new_id
from ivr.prompts import Prompt, PromptLibrary
from ivr.session import CallerHungUp, CallSession
from routing.clock import Clock
from routing.presence import (
    DeskPresence,
    PresenceChange,
    after_call,
    available_now,
    back_from_wrap_up_at,
    became_available,
    toggle_login,
    toggle_pause,
)
from routing.trail import PRESENCE_ARG

log = structlog.get_logger(__name__)

CONFIRMATION = {
    "logged_in": Prompt.DESK_LOGGED_IN, "logged_out": Prompt.DESK_LOGGED_OUT,
    "paused": Prompt.DESK_PAUSED, "resumed": Prompt.DESK_RESUMED,
}
CONFIRMATION_LIMIT_S = 10.0
WAKE_MARGIN_S = 0.05


class DeskBoard:
    """The desks' presence, shared by the service's call flows."""

    def __init__(self, store: PresenceRepository | None, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._desks: dict[str, DeskPresence] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._writes = 0
        """Bumped by each change made here: a re-read begun before one is dropped."""
        self._listeners: list[Callable[[str], None]] = []
        self._wakes: dict[str, asyncio.Task[None]] = {}
        """Per desk in wrap-up: the timer that tells the listeners when it ends."""

    def on_available(self, listener: Callable[[str], None]) -> None:
        """Call `listener(extension)` whenever a desk becomes available: its wrap-up
        ended, it logged in or was unpaused (here or, at the next re-read, from the
        console). The queues offer it to the head of its branch's queue."""
        self._listeners.append(listener)

    def snapshot(self) -> dict[str, DeskPresence]:
        return dict(self._desks)

    def get(self, extension: str) -> DeskPresence | None:
        return self._desks.get(extension)

    async def refresh(self) -> None:
        if self._store is None:
            return
        writes = self._writes
        try:
            rows = await self._store.all()
        except Exception:
            log.warning("could not read the desks' presence; keeping the last known")
            return
        if writes == self._writes:
            before, self._desks = self._desks, {row.extension: _presence(row) for row in rows}
            for extension, state in self._desks.items():
                if state != before.get(extension):
                    self._changed(before.get(extension), state)

    async def watch(self, every_seconds: float) -> None:
        """Re-read the stored states for ever (the console's changes reach calls so)."""
        while True:
            await self.refresh()
            await asyncio.sleep(every_seconds)

    async def call_ended(self, extension: str, wrap_up_seconds: int) -> None:
        now = self._clock.now()
        state = after_call(self._desks.get(extension), extension, now, wrap_up_seconds)
        self._put(state)
        assert state.calls_day is not None and state.last_call_ended_at is not None
        if self._store is not None:
            self._persist(extension, self._store.record_call_end(
                extension, wrap_up_until=state.wrap_up_until, calls_day=state.calls_day,
                calls_today=state.calls_today, last_call_ended_at=state.last_call_ended_at))

    async def toggle(self, extension: str, action: str, reason: str | None,
                     by: str = "desk") -> PresenceChange:
        current = self._desks.get(extension)
        if action == "login":
            state, change = toggle_login(current, extension)
        else:
            state, change = toggle_pause(current, extension, reason)
        self._put(state)
        if self._store is not None:
            self._persist(extension, self._store.set_state(
                extension, logged_in=state.logged_in, paused=state.paused,
                pause_reason=state.pause_reason, at=self._clock.now(), by=by))
        return change

    def _persist(self, extension: str, write: Coroutine[None, None, None]) -> None:
        """Store a change in the background: a slow database never holds up a call."""
        async def run() -> None:
            try:
                await write
            except Exception:
                log.warning("could not store the desk's presence", desk=extension)

        task = asyncio.create_task(run(), name=f"presence-{extension}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flushed(self) -> None:
        """Wait for the writes under way (tests; a stopping service)."""
        while self._pending:
            await asyncio.gather(*self._pending)

    def _put(self, state: DeskPresence) -> None:
        self._writes += 1
        before = self._desks.get(state.extension)
        self._desks[state.extension] = state
        self._changed(before, state)

    def _changed(self, before: DeskPresence | None, after: DeskPresence) -> None:
        now = self._clock.now()
        if became_available(before, after, now):
            self._tell(after.extension)
        wake = self._wakes.pop(after.extension, None)
        if wake is not None:
            wake.cancel()
        until = back_from_wrap_up_at(after, now)
        if until is not None:
            self._wakes[after.extension] = asyncio.create_task(
                self._wrap_up_ends(after.extension, until), name=f"wrap-up-{after.extension}")

    async def _wrap_up_ends(self, extension: str, until: datetime) -> None:
        # A hair late rather than early: the wall clock and the loop's may differ.
        await asyncio.sleep((until - self._clock.now()).total_seconds() + WAKE_MARGIN_S)
        if self._wakes.get(extension) is asyncio.current_task():
            del self._wakes[extension]
        if available_now(self._desks.get(extension), self._clock.now()):
            log.debug("desk back from wrap-up", desk=extension)
            self._tell(extension)

    def _tell(self, extension: str) -> None:
        for listener in self._listeners:
            listener(extension)

    def close(self) -> None:
        """Stop the wrap-up timers (a stopping service)."""
        for wake in self._wakes.values():
            wake.cancel()
        self._wakes.clear()


def _presence(row: DeskStatus) -> DeskPresence:
    fields = asdict(row)
    del fields["changed_at"], fields["changed_by"]
    return DeskPresence(**fields)


def parse_feature_args(args: list[str]) -> tuple[str, str | None] | None:
    """`["presence", "login"]` / `["presence", "pause", "3"]` -> (action, reason digit)."""
    if len(args) < 2 or args[0] != PRESENCE_ARG or args[1] not in ("login", "pause"):
        return None
    reason = args[2] if len(args) > 2 and len(args[2]) == 1 and args[2].isdigit() else None
    return args[1], reason


async def feature_code(
    *, ari: AriClient, session: CallSession, channel: Channel, args: list[str],
    board: DeskBoard, prompts: PromptLibrary, clock: Clock, extension: str,
) -> None:
    """A desk dialled its log in/out or pause code: toggle, confirm, hang up."""
    parsed = parse_feature_args(args)
    try:
        if parsed is None:
            return
        action, reason = parsed
        change = await board.toggle(extension, action, reason)
        log.info("desk presence changed", desk=extension, change=change, reason=reason)
        await ari.answer(channel.id)
        playback_id = new_id("presence")
        await ari.play(channel.id, [prompts.media(CONFIRMATION[change])],
                       playback_id=playback_id)
        deadline = clock.monotonic() + CONFIRMATION_LIMIT_S
        while clock.monotonic() < deadline:
            event = await session.events_until(deadline)
            if isinstance(event, PlaybackFinished) and event.playback.id == playback_id:
                break
    except CallerHungUp:
        return
    finally:
        with contextlib.suppress(AriError):
            await ari.hangup(channel.id)

