"""The announcement override at the start of a call: after the greeting, or instead
of the menu (the hotline is suspended: the caller may leave a message).

The newest switch is read from the database at each call through a short cache, so
an operator's switch needs no reload; when the database cannot be read (or is slow to
answer: `READ_SECONDS`), the last known switch stays in force and the call goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from calllog.announcements import OverrideMode, OverrideSwitch
from ivr.ari.models import PlaybackFinished
from ivr.context import CallContext, new_id
from ivr.prompts import Prompt
from routing.clock import Clock
from routing.override import override_in_force

log = structlog.get_logger(__name__)

CACHE_SECONDS = 2.0
READ_SECONDS = 0.5
"""A database that does not answer within this costs a call no more (last known kept)."""
# An announcement longer than this is cut short (the caller still reaches the menu).
LONGEST_ANNOUNCEMENT_SECONDS = 180.0


class OverrideSource:
    """The newest switch, asked of the database at most every `ttl` s."""

    def __init__(self, read: Callable[[], Awaitable[OverrideSwitch | None]], clock: Clock,
                 ttl: float = CACHE_SECONDS) -> None:
        self._read = read
        self._clock = clock
        self._ttl = ttl
        self._latest: OverrideSwitch | None = None
        self._read_at: float | None = None

    async def current(self) -> OverrideSwitch | None:
        """The announcement in force now, if any."""
        now = self._clock.monotonic()
        if self._read_at is None or now - self._read_at >= self._ttl:
            self._read_at = now
            try:
                async with asyncio.timeout(READ_SECONDS):
                    self._latest = await self._read()
            except Exception:
                log.warning("could not read the announcement override; keeping the last "
                            "known", exc_info=True)
        latest = self._latest
        if latest is None or latest.media is None:
            return None
        return latest if override_in_force(latest.on, latest.until, self._clock.now()) else None


async def play_announcement(ctx: CallContext) -> OverrideSwitch | None:
    """Play the greeting and the announcement in force (if any); returns it."""
    source = ctx.override
    announcement = await source.current() if source is not None else None
    if announcement is None or announcement.media is None:
        return None
    mode = announcement.mode or OverrideMode.AFTER_GREETING
    await ctx.note("override", mode=mode.value, media=announcement.media,
                   by=announcement.by)
    playback_id = new_id("override")
    await ctx.note("prompt", playback=playback_id,
                   prompts=f"{Prompt.GREETING.value},{announcement.media}")
    await ctx.ari.play(ctx.channel_id, [*ctx.media(Prompt.GREETING),
                                        ctx.prompts.file(announcement.media)],
                       playback_id=playback_id)
    deadline = ctx.clock.monotonic() + LONGEST_ANNOUNCEMENT_SECONDS
    while True:
        event = await ctx.session.events_until(deadline)
        if event is None:
            await ctx.ari.stop_playback(playback_id)
            break
        if isinstance(event, PlaybackFinished) and event.playback.id == playback_id:
            break
    await ctx.note("prompt_end", playback=playback_id, reason="finished")
    return announcement
