"""Waiting for a busy branch: the caller joins the branch's queue, hears their place
and music, and is put through when their turn comes (`routing.queue` decides).

`QueueRoom` is the service's one set of queues, shared by the calls: it knows which
desks our calls talk on, and wakes the head of a branch's queue (an event in its
call's session) when one of the branch's desks becomes free, or comes back (its wrap-up
over, logged in, resumed: `DeskBoard.on_available`), or the head before it leaves.
`reach_desk` replaces a plain `ring_branch` in the call: ring when the call may, else
(or when the ring found the desks busy, paused or in wrap-up) wait in the queue until a
desk answers or `max_wait_seconds` pass (then the call goes on to the message path).

Every step is in the call's timeline: `queue_joined` (branch, position, when),
`queue_position` (each announcement), `queue_left` (why: answered, max_wait,
abandoned), and nothing more when the service stops under a waiting caller: the
caller stays in Stasis with the music and the next start puts them back in their
place (`ivr.recovery`, `ivr.call.resume_queued`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import datetime

from calllog.model import Outcome, QueueResult
from ivr.ari.errors import AriError
from ivr.ari.models import ChannelDtmfReceived, Event, PlaybackFinished
from ivr.callback_offer import CallbackChosen, offer_media, offers_callback
from ivr.context import CallContext, new_id
from ivr.desk import DeskLeg, any_registered, ring_branch
from ivr.queue_prompts import announcement
from ivr.session import CallSession
from routing.config import Branch
from routing.presence import available_now
from routing.queue import (
    TAKEN,
    BranchQueues,
    Waiting,
    expected_minutes,
    queue_mark,
    should_queue,
)
from routing.trail import QUEUE_VARIABLE


class QueueOffer(Event):
    """Not from Asterisk: a desk of the branch may be free for the head of its queue."""

    branch: int


class QueueRoom:
    def __init__(self) -> None:
        self.queues = BranchQueues()
        self._sessions: dict[str, CallSession] = {}
        self._desks: dict[int, tuple[str, ...]] = {}
        """Each branch's desks, as the calls waiting for it know them."""
        self.left_waiting: set[str] = set()
        """Calls still waiting when the service stopped (left in Stasis for the next start)."""

    def join(self, branch: Branch, session: CallSession, joined_at: datetime) -> int:
        self._sessions[session.channel_id] = session
        self._desks[branch.key] = tuple(branch.desks)
        return self.queues.join(branch.key, session.channel_id, joined_at)

    def leave(self, call_id: str) -> Waiting | None:
        self._sessions.pop(call_id, None)
        entry = self.queues.leave(call_id)
        if entry is not None:
            self._offer(entry.branch)  # the next caller may be the head now
        return entry

    @contextlib.contextmanager
    def desk_in_use(self, call_id: str, desk: str) -> Iterator[None]:
        """The call talks on `desk`: nobody else is offered it until the talk ends."""
        self.queues.take(desk, call_id)
        try:
            yield
        finally:
            if self.queues.release(desk, call_id):
                for branch, desks in self._desks.items():
                    if desk in desks:
                        self._offer(branch)

    def desk_available(self, desk: str) -> None:
        """A desk came back (wrap-up over, logged in, unpaused): offer it to the head
        of each queue it serves."""
        for branch, desks in self._desks.items():
            if desk in desks and desk not in self.queues.taken():
                self._offer(branch)

    def _offer(self, branch: int) -> None:
        head = self.queues.head(branch)
        session = self._sessions.get(head) if head is not None else None
        if session is not None:
            session.deliver(QueueOffer(type="QueueOffer", branch=branch))


async def reach_desk(ctx: CallContext, branch: Branch) -> DeskLeg | None:
    """A desk for the call: rung at once when one is free and nobody waits ahead, else
    after waiting in the branch's queue; None when nobody can take the call."""
    room = ctx.queue
    if room is None or not branch.queue.enabled:
        return await ring_branch(ctx, branch)
    if room.queues.may_ring(branch.key, branch.desks, ctx.record.call_id):
        leg = await _ring(ctx, room, branch)
        if leg is not None:
            return leg
        if not should_queue(_results(ctx, room, branch)):
            return None
    return await wait_in_queue(ctx, branch, ctx.clock.now())


async def _ring(
    ctx: CallContext, room: QueueRoom, branch: Branch, *, queued: bool = False,
) -> DeskLeg | None:
    ctx.desk_results.clear()
    return await ring_branch(ctx, branch, skip=room.queues.taken(), ringback=not queued)


async def _may_ring(ctx: CallContext, room: QueueRoom, branch: Branch) -> bool:
    """The queued call may ring now and one of the free desks could answer: available
    (presence) and registered. Else the caller keeps the music: a desk in wrap-up,
    paused or away is offered to the head of the queue when it is back."""
    if not room.queues.may_ring(branch.key, branch.desks, ctx.record.call_id):
        return False
    free = room.queues.free_desks(branch.desks)
    if ctx.desks is not None:
        presence, now = ctx.desks.snapshot(), ctx.clock.now()
        free = [d for d in free if available_now(presence.get(d), now)]
    return await any_registered(ctx, free)


def _results(ctx: CallContext, room: QueueRoom, branch: Branch) -> dict[str, str]:
    taken = room.queues.taken()
    return {**ctx.desk_results, **{d: TAKEN for d in branch.desks if d in taken}}


async def wait_in_queue(ctx: CallContext, branch: Branch, joined_at: datetime) -> DeskLeg | None:
    """Wait in `branch`'s queue (joined at `joined_at`: earlier for a caller put back
    after a restart) until a desk answers (its leg) or the wait is too long (None).

    The caller rings the desks when offered one (`QueueOffer`) and at each announcement
    tick after the first (a desk busy outside our calls may have become free); the
    first tick only announces (the caller has just found every desk busy)."""
    room = ctx.queue
    assert room is not None
    settings, call_id = branch.queue, ctx.record.call_id
    position = joined_position = room.join(branch, ctx.session, joined_at)
    ctx.record.queue_joined_at, ctx.record.queue_left_at = joined_at, None
    waited = (ctx.clock.now() - joined_at).total_seconds()
    deadline = ctx.clock.monotonic() + settings.max_wait_seconds - waited
    next_announce = ctx.clock.monotonic()
    playback: str | None = None
    first, left = True, QueueResult.ABANDONED
    stopping, offered, just_failed = False, False, True
    try:
        await ctx.note("queue_joined", branch=branch.key, position=position,
                       joined_at=joined_at.isoformat())
        ctx.step("queued")
        await ctx.ari.set_variable(ctx.channel_id, QUEUE_VARIABLE,
                                   queue_mark(branch.key, joined_at))
        while True:
            if ctx.clock.monotonic() >= deadline:
                left = QueueResult.MAX_WAIT
                return None
            if ctx.clock.monotonic() >= next_announce and not just_failed:
                offered = True  # each tick tries the desks again (one may be free)
            if offered and await _may_ring(ctx, room, branch):
                offered = False
                # The caller keeps the music while the desks ring (no "connecting").
                leg = await _ring(ctx, room, branch, queued=True)
                if leg is not None:
                    if playback is not None:
                        with contextlib.suppress(AriError):
                            await ctx.ari.stop_playback(playback)
                        playback = None
                    # Held from now (released when the talk ends, `desk_in_use`): the
                    # next head, woken as this call leaves, must not ring it.
                    room.queues.take(leg.extension, call_id)
                    waited = (ctx.clock.now() - joined_at).total_seconds()
                    room.queues.answered(branch.key, waited, joined_position)
                    left = QueueResult.ANSWERED
                    return leg
                ctx.step("queued")
                if playback is None:  # the music ended meanwhile: the place, then music
                    just_failed, next_announce = True, ctx.clock.monotonic()
            if ctx.clock.monotonic() >= next_announce:
                if playback is not None:
                    await ctx.ari.stop_playback(playback)
                # Read after the await: a caller ahead may have left meanwhile.
                position = room.queues.position(call_id) or position
                playback = await _announce(ctx, branch, position, first)
                first, just_failed = False, False
                next_announce = ctx.clock.monotonic() + settings.announce_every_seconds
            event = await ctx.session.events_until(min(deadline, next_announce))
            if isinstance(event, QueueOffer):
                offered = True
            elif isinstance(event, PlaybackFinished) and event.playback.id == playback:
                playback = None
            elif (isinstance(event, ChannelDtmfReceived) and event.channel.id == ctx.channel_id
                  and event.digit == ctx.config.callback.key and offers_callback(ctx)):
                left = QueueResult.CALLBACK  # the place is kept: the call back waits in it
                raise CallbackChosen(joined_at)
    except asyncio.CancelledError:
        # The service stops: the caller stays in Stasis with the music playing, and
        # keeps their place (the next start puts them back: `ivr.recovery`).
        stopping = True
        room.left_waiting.add(call_id)
        raise
    finally:
        if left != QueueResult.CALLBACK:
            room.leave(call_id)
        if not stopping:
            await _left(ctx, branch, left, joined_at, playback)


async def _left(
    ctx: CallContext, branch: Branch, why: QueueResult, joined_at: datetime,
    playback: str | None,
) -> None:
    if why == QueueResult.ABANDONED:
        ctx.record.outcome = ctx.record.outcome or Outcome.ABANDONED_WHILE_RINGING
    else:
        with contextlib.suppress(AriError):
            if playback is not None:
                await ctx.ari.stop_playback(playback)
            await ctx.ari.set_variable(ctx.channel_id, QUEUE_VARIABLE, "")
    # on the row for the figures (the call's next save carries them)
    ctx.record.queue_left_at, ctx.record.queue_result = ctx.clock.now(), why
    waited = (ctx.record.queue_left_at - joined_at).total_seconds()
    await ctx.note("queue_left", branch=branch.key, reason=why, waited=round(waited))


async def _announce(ctx: CallContext, branch: Branch, position: int, joined: bool) -> str:
    """Say the caller's position (and the expected wait when there is history), then music."""
    minutes = expected_minutes(ctx.queue.queues.expected_seconds(branch.key, position)
                               if ctx.queue is not None else None)
    media = announcement(ctx.prompts, position, minutes, joined=joined,
                         music=branch.queue.music == "tone", offer=offer_media(ctx))
    playback_id = new_id("queue")
    await ctx.note("queue_position", position=position, minutes=minutes, playback=playback_id)
    await ctx.note("prompt", playback=playback_id, prompts="queue_position")
    await ctx.ari.play(ctx.channel_id, media, playback_id=playback_id)
    return playback_id
