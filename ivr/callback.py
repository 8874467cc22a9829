"""Keep-your-place call-backs: the desk rings first, then the citizen through the trunk.

A queued caller presses `callback.key` (`CallbackChosen` out of `ivr.queue`): the call
keeps its place in the branch's queue (`QueueRoom`, by its join time), is written to
`callback_queue` (so a restarted service takes it back: `Callbacks.resume`), hears a
confirmation and is hung up. When the place reaches the head and a desk is free, the
desk rings showing "Gọi lại: <number>"; once it answers, it hears ringing while the
service originates the citizen through the outgoing trunk (ARI only), then both are
bridged. A citizen who does not answer is tried again `callback.attempts` times,
`callback.retry_seconds` apart; then the call back stays on the console's list. An
operator's request from the console (`callback_queue.desk`) runs the same way, their
own desk first, once.

Every step is in the original call's timeline (`callback_*` events); each try at the
citizen is a `callback_attempts` row and the summary is on the call's row
(`callback_result`, `callback_attempts`, `callback_last_at`; `callback` done once
reached), through `calllog.followup`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import structlog

from calllog.callback_queue import CallbackQueue, QueuedCallback
from calllog.followup import CallbackActions, CallbackResult
from calllog.model import Callback, CallRecord, Outcome
from ivr.ari.errors import AriError, AriHttpError
from ivr.ari.models import (
    ChannelDestroyed,
    ChannelHangupRequest,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from ivr.callback_offer import CallbackChosen
from ivr.context import CallContext, new_id
from ivr.desk import CALLERID_DELIMITERS, RINGBACK
from ivr.menu import play_and_collect
from ivr.prompts import Prompt
from ivr.queue import QueueOffer, QueueRoom
from ivr.session import CallSession, ChannelVanished
from routing.callback import (
    RESULT_TEXT,
    CitizenResult,
    after_attempt,
    check_number,
    citizen_result,
    desk_display,
)
from routing.clock import Clock
from routing.config import Branch, HotlineConfig
from routing.desks import plan_desks
from routing.trail import CALLBACK_PREFIX

log = structlog.get_logger(__name__)

SERVICE_BY = "tổng đài (tự động)"
"""Who made an automatic call back, as the call-back list shows it."""
TICK_SECONDS = 5.0
"""A waiting call back looks for a free desk at least this often (an offer may be lost)."""
GUARD_SECONDS = 3.0
TELL_DESK_SECONDS = 8.0
"""At most this long for the desk to hear that the citizen did not answer."""
OPERATOR_DESK_RING_SECONDS = 30
DESK_LEFT_TEXT = "Bàn trực gác máy khi đang gọi người dân"
"""The note of a try the desk left while the citizen's phone rang (it counts as a try)."""
DESK_LEG_ID = f"{CALLBACK_PREFIX}desk"
CITIZEN_LEG_ID = f"{CALLBACK_PREFIX}citizen"
BRIDGE_ID = f"{CALLBACK_PREFIX}bridge"


async def keep_place(ctx: CallContext, branch: Branch, chosen: CallbackChosen) -> None:
    """The caller pressed the key: keep their place for a call back, confirm, hang up."""
    record = ctx.record
    number = check_number(record.caller_number, ctx.config.callback.allowed).number
    record.outcome = Outcome.DESK_UNREACHABLE  # not served on this call: a call back owed
    record.callback = Callback.PENDING
    await ctx.save()
    entry = QueuedCallback(call_id=record.call_id, number=number, branch=branch.key,
                            joined_at=chosen.joined_at, requested_by="caller",
                            requested_at=ctx.clock.now())
    await ctx.note("callback_chosen", number=number, branch=branch.key,
                   joined_at=chosen.joined_at.isoformat())
    if ctx.callbacks is not None:
        await ctx.callbacks.keep(entry, ctx)
    ctx.log.info("caller keeps their place for a call back", number=number)
    await play_and_collect(ctx, [Prompt.CALLBACK_CONFIRMED], timeout=0.5)
    record.hangup_by = "system"
    await ctx.ari.hangup(ctx.channel_id)


@dataclass(frozen=True)
class _Legs:
    desk: str
    desk_channel: str


class Callbacks:
    """The service's call backs: kept places, operators' requests, each one's task.

    A call back runs in a session of its own named like its call (the queue knows places
    by call id), which owns only the desk and citizen legs it dials: the citizen's first
    channel is long gone, and its last events still go to its own call's task."""

    def __init__(
        self, *, store: CallbackQueue, actions: CallbackActions, room: QueueRoom,
        clock: Clock, context: Callable[[CallSession, CallRecord], CallContext],
        routes: dict[str, CallSession], config: Callable[[], HotlineConfig] | None = None,
    ) -> None:
        self.store, self.actions, self.room = store, actions, room
        self._clock, self._context, self._routes = clock, context, routes
        self.config = config
        """The current config (reloads included), read again just before the citizen is
        dialled; None: each call back's own snapshot."""
        self._running: set[str] = set()
        self._kept_numbers: dict[str, str] = {}
        """Number -> the call whose kept place waits for it (one kept place per number)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.unstored: set[str] = set()
        """Kept places the database did not take: this process makes them anyway."""

    def stop(self) -> None:
        """The service stops: waiting call backs stay stored (the next start resumes
        them); one talking is left talking in Asterisk."""
        for task in self._tasks:
            task.cancel()

    def keeps(self, number: str) -> bool:
        """Whether a kept place already waits to call `number` back."""
        return number in self._kept_numbers

    async def keep(self, entry: QueuedCallback, ctx: CallContext | None = None) -> bool:
        """A queued caller's call back: stored first (a restart finds it), then run.
        False when the number already has a kept place (the call stays on the list)."""
        holder = self._kept_numbers.get(entry.number)
        if holder is not None and holder != entry.call_id:
            reason = "Số máy này đã có một lượt giữ chỗ gọi lại đang chờ"
            if ctx is not None:
                await ctx.note("callback_refused", number=entry.number, reason=reason)
            log.warning("second kept place for a number refused", call_id=entry.call_id,
                        waiting=holder)
            await self.store.refuse(entry.call_id, reason)
            return False
        try:
            await self.store.add(entry)
        except Exception:
            # The place is kept in this process anyway; only a restart would lose it.
            log.exception("could not store a call back", call_id=entry.call_id)
            self.unstored.add(entry.call_id)
        self._start(entry)
        return True

    async def resume(self) -> None:
        """At start: the call backs a previous run left, back in their places."""
        await self.store.release_taken()
        for entry in await self.store.waiting():
            self._start(entry)

    async def poll_requests(self) -> None:
        """Start the operators' requests the console wrote since the last poll."""
        for entry in await self.store.take_requests(self._clock.now()):
            self._start(entry)

    def _start(self, entry: QueuedCallback) -> None:
        key = f"{entry.call_id}:{entry.desk or ''}"
        if key in self._running:
            return
        self._running.add(key)
        if entry.desk is None:
            self._kept_numbers.setdefault(entry.number, entry.call_id)
        session = CallSession(entry.call_id, self._clock, routes=self._routes)
        record = CallRecord(call_id=entry.call_id, caller_number=entry.number,
                            caller_name="", started_at=entry.requested_at)
        ctx = self._context(session, record)
        ctx.log = ctx.log.bind(callback=entry.desk or "queue")

        async def run() -> None:
            try:
                await _call_back(ctx, self, entry)
            except Exception:
                ctx.log.exception("call back failed")
            finally:
                for channel_id in session.channel_ids - {entry.call_id}:
                    self._routes.pop(channel_id, None)
                self._running.discard(key)
                if self._kept_numbers.get(entry.number) == entry.call_id:
                    del self._kept_numbers[entry.number]
                if entry.desk is None:
                    # However it ended (made, given up, refused, failed), the place is
                    # free: a kept place left behind would hold up the branch's queue.
                    self.room.leave(entry.call_id)

        task = asyncio.create_task(run(), name=f"callback-{entry.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _call_back(ctx: CallContext, callbacks: Callbacks, entry: QueuedCallback) -> None:
    settings = ctx.config.callback
    verdict = check_number(entry.number, settings.allowed)
    if not settings.enabled or not verdict.allowed:
        reason = verdict.reason if settings.enabled else "Chưa cấu hình đường gọi ra (trunk)"
        await ctx.note("callback_refused", number=entry.number, reason=reason)
        ctx.log.warning("call back refused", number=entry.number, reason=reason)
        await callbacks.store.refuse(entry.call_id, reason)
        return
    if entry.desk is not None:
        await _operator_call_back(ctx, callbacks, entry, verdict.number)
        return
    branch = ctx.config.branch(entry.branch) if entry.branch is not None else None
    if branch is None:
        await ctx.note("callback_refused", number=entry.number, reason="branch gone")
        await callbacks.store.refuse(entry.call_id, "Nhánh không còn trong cấu hình")
        return
    attempts = entry.attempts
    if entry.next_at is not None:
        await _sleep_until(ctx, entry.next_at)
    while True:
        _config, refusal = await _may_dial(ctx, callbacks, verdict.number, automatic=True)
        if refusal:  # no desk rings for a call back that would be refused at its turn
            await ctx.note("callback_refused", number=entry.number, reason=refusal)
            ctx.log.warning("call back refused", number=entry.number, reason=refusal)
            await callbacks.store.refuse(entry.call_id, refusal)
            return
        legs = await _wait_for_desk(ctx, callbacks, branch, verdict.number, entry.joined_at)
        if legs is None:
            await ctx.note("callback_taken_over")
            return
        attempts += 1
        with callbacks.room.desk_in_use(entry.call_id, legs.desk):
            result = await _ring_citizen(
                ctx, callbacks, legs, verdict.number, branch.wrap_up_seconds,
                reached=_reached(ctx, callbacks, entry.call_id, SERVICE_BY, attempts),
                automatic=True)
        if result == "answered" or result == "refused":
            return
        if result is None:
            # The desk left while the citizen's phone rang: the citizen was dialled, so it
            # counts as a try (else a desk hanging up again and again redials them).
            if attempts >= settings.attempts:
                reason = f"{DESK_LEFT_TEXT} ({attempts} lần gọi lại tự động)"
                await _record(ctx, callbacks, entry.call_id, "no_answer", SERVICE_BY, reason)
                await ctx.note("callback_done", result="desk_left", attempts=attempts,
                               reason=reason)
                await callbacks.store.remove(entry.call_id)
                return
            await _record(ctx, callbacks, entry.call_id, "no_answer", SERVICE_BY,
                          DESK_LEFT_TEXT)
            await callbacks.store.attempted(entry.call_id, attempts, None)
            continue
        step = after_attempt(result, attempts, attempts=settings.attempts,
                             retry_seconds=settings.retry_seconds, now=ctx.clock.now())
        await _record(ctx, callbacks, entry.call_id, result, SERVICE_BY, step.reason)
        if not step.retry:
            await ctx.note("callback_done", result=result, attempts=attempts, reason=step.reason)
            await callbacks.store.remove(entry.call_id)
            return
        assert step.at is not None
        await callbacks.store.attempted(entry.call_id, attempts, step.at)
        await ctx.note("callback_retry", attempts=attempts, at=step.at.isoformat())
        await _sleep_until(ctx, step.at)


async def _operator_call_back(
    ctx: CallContext, callbacks: Callbacks, entry: QueuedCallback, number: str,
) -> None:
    """An operator's request: their desk rings first (once), then the citizen (once)."""
    assert entry.desk is not None
    if ctx.config.desk(entry.desk) is None:
        # Only the console checks the desk it writes: a row naming anything else (a
        # number, `x@trunk`) must not be dialled.
        reason = "Bàn trực yêu cầu gọi lại không có trong cấu hình"
        await ctx.note("callback_refused", number=entry.number, desk=entry.desk,
                       reason=reason)
        ctx.log.warning("operator's call back refused: unknown desk", desk=entry.desk)
        await callbacks.store.refuse(entry.call_id, reason)
        return
    await ctx.note("callback_requested", by=entry.requested_by, desk=entry.desk)
    legs = await _ring_desks(ctx, [[entry.desk]], number, OPERATOR_DESK_RING_SECONDS)
    if legs is None:
        await ctx.note("callback_desk_unanswered", desk=entry.desk)
    else:
        with callbacks.room.desk_in_use(entry.call_id, legs.desk):
            result = await _ring_citizen(
                ctx, callbacks, legs, number, 0,
                reached=_reached(ctx, callbacks, entry.call_id, entry.requested_by, 1),
                automatic=False)
        if result == "refused":
            return
        if result is not None and result != "answered":
            reason = RESULT_TEXT[result]
            await _record(ctx, callbacks, entry.call_id, result, entry.requested_by, reason)
            await ctx.note("callback_done", result=result, attempts=1, reason=reason)
    await callbacks.store.remove(entry.call_id)


def _reached(
    ctx: CallContext, callbacks: Callbacks, call_id: str, by: str, attempts: int,
) -> Callable[[], Awaitable[None]]:
    """What the citizen answering settles, at once (not when the talk ends: a service
    restarting meanwhile must not call them again): reached, off both lists."""
    async def settle() -> None:
        await _record(ctx, callbacks, call_id, "answered", by, "")
        await ctx.note("callback_done", result="answered", attempts=attempts, reason="")
        await callbacks.store.remove(call_id)
    return settle


async def _wait_for_desk(
    ctx: CallContext, callbacks: Callbacks, branch: Branch, number: str, joined_at: datetime,
) -> _Legs | None:
    """Wait in the branch's queue in the call's place until a desk answers for it; None
    when the call back is no longer ours to make (an operator took it over, or it was
    made meanwhile)."""
    call_id, room = ctx.record.call_id, callbacks.room
    room.join(branch, ctx.session, joined_at)
    await ctx.note("callback_queued", branch=branch.key,
                   position=room.queues.position(call_id), joined_at=joined_at.isoformat())
    try:
        while True:
            if room.queues.may_ring(branch.key, branch.desks, call_id):
                if not await _still_kept(ctx, callbacks):
                    return None
                waves = await _free_desks(ctx, room, branch)
                legs = await _ring_desks(ctx, waves, number, branch.ring_timeout_seconds)
                if legs is not None:
                    room.queues.take(legs.desk, call_id)  # before the next head is woken
                    return legs
            event = await ctx.session.next_event(TICK_SECONDS)
            if event is not None and not isinstance(event, QueueOffer):
                ctx.log.debug("event while waiting for a desk", type=event.type)
    finally:
        room.leave(call_id)


async def _still_kept(ctx: CallContext, callbacks: Callbacks) -> bool:
    if ctx.record.call_id in callbacks.unstored:
        return True
    try:
        return await callbacks.store.kept(ctx.record.call_id)
    except Exception:
        ctx.log.warning("could not check the call back is still ours; making it",
                        exc_info=True)
        return True


async def _free_desks(ctx: CallContext, room: QueueRoom, branch: Branch) -> list[list[str]]:
    """The branch's desks to ring for a call back: registered, available, not talking."""
    taken = room.queues.taken()
    branch = branch.model_copy(update={"desks": [d for d in branch.desks if d not in taken]})
    registered: dict[str, bool] = {}
    for extension in branch.desks:
        try:
            registered[extension] = (await ctx.ari.get_endpoint("PJSIP", extension)).state \
                != "offline"
        except AriError:
            registered[extension] = False
    presence = ctx.desks.snapshot() if ctx.desks is not None else {}
    return plan_desks(branch, registered, presence, ctx.clock.now()).waves


async def _ring_desks(
    ctx: CallContext, waves: list[list[str]], number: str, ring_seconds: int,
) -> _Legs | None:
    """Ring the desks wave by wave, showing "Gọi lại: <number>"; the first that answers."""
    shown = f'"{desk_display(number).translate(CALLERID_DELIMITERS)}" <{number}>'
    for wave in waves:
        pending: dict[str, str] = {}
        try:
            for extension in wave:
                channel_id = new_id(DESK_LEG_ID)
                ctx.session.own(channel_id)
                pending[channel_id] = extension
                await ctx.note("callback_desk_dial", desk=extension, channel=channel_id)
                try:
                    await ctx.ari.originate(f"PJSIP/{extension}", channel_id=channel_id,
                                            app_args=f"desk,{ctx.channel_id}",
                                            caller_id=shown, timeout=ring_seconds)
                except AriHttpError as exc:
                    pending.pop(channel_id)
                    await ctx.note("callback_desk_result", desk=extension,
                                   result=f"HTTP {exc.status}")
            deadline = ctx.clock.monotonic() + ring_seconds + GUARD_SECONDS
            while pending:
                event = await ctx.session.events_until(deadline)
                if event is None:
                    break
                if isinstance(event, StasisStart) and event.channel.id in pending:
                    extension = pending.pop(event.channel.id)
                    await ctx.note("callback_desk_result", desk=extension, result="answered")
                    return _Legs(extension, event.channel.id)
                if isinstance(event, ChannelDestroyed) and event.channel.id in pending:
                    extension = pending.pop(event.channel.id)
                    await ctx.note("callback_desk_result", desk=extension,
                                   result=event.cause_txt or str(event.cause))
        finally:
            for channel_id in pending:
                await _hangup_quietly(ctx, channel_id)
    return None


async def _may_dial(
    ctx: CallContext, callbacks: Callbacks, number: str, *, automatic: bool,
) -> tuple[HotlineConfig, str]:
    """Just before the citizen is dialled: the config now (a reload may have removed the
    trunk or narrowed `allowed`) and, for an automatic call back, the number's tries in
    the last 24 hours. The config to dial with, and the reason to refuse ("" to dial)."""
    config = callbacks.config() if callbacks.config is not None else ctx.config
    settings = config.callback
    if not settings.enabled:
        return config, "Đường gọi ra (trunk) đã bị tắt trong cấu hình"
    verdict = check_number(number, settings.allowed)
    if not verdict.allowed:
        return config, verdict.reason
    if automatic:
        now = ctx.clock.now()
        try:
            tries = await callbacks.store.tries_since(number, now - timedelta(days=1),
                                                      SERVICE_BY)
        except Exception:
            ctx.log.warning("could not count the number's call-back tries; not dialling",
                            exc_info=True)
            return config, "Không kiểm tra được số lần gọi lại trong ngày"
        if tries >= settings.max_tries_per_number_per_day:
            return config, (f"Đã gọi lại tự động số này {tries} lần trong 24 giờ: "
                            "để điện thoại viên gọi lại")
    return config, ""


async def _ring_citizen(
    ctx: CallContext, callbacks: Callbacks, legs: _Legs, number: str, wrap_up_seconds: int,
    *, reached: Callable[[], Awaitable[None]], automatic: bool,
) -> CitizenResult | Literal["refused"] | None:
    """The desk answered: it hears ringing while the citizen's phone rings through the
    trunk; bridged once the citizen answers. The result of the try, None when the desk
    hung up first (the citizen's leg is then hung up too), "refused" when the current
    config or the number's tries today no longer allow dialling (refused in the store)."""
    desk = legs.desk_channel
    ringing = new_id("ringback")
    with contextlib.suppress(AriError):
        await ctx.ari.play(desk, RINGBACK, playback_id=ringing)
    config, refusal = await _may_dial(ctx, callbacks, number, automatic=automatic)
    settings = config.callback
    if refusal or settings.trunk is None:
        await ctx.note("callback_refused", number=number, reason=refusal)
        ctx.log.warning("call back refused before dialling the citizen", number=number,
                        reason=refusal)
        await callbacks.store.refuse(ctx.record.call_id, refusal)
        try:
            await _tell_desk(ctx, desk, ringing, "unreachable")
        finally:
            await _hangup_quietly(ctx, desk)
        return "refused"
    citizen = new_id(CITIZEN_LEG_ID)
    ctx.session.own(citizen)
    await ctx.note("callback_dial", number=number, trunk=settings.trunk, channel=citizen,
                   desk=legs.desk)
    bridge_id: str | None = None
    try:
        try:
            await ctx.ari.originate(f"PJSIP/{number}@{settings.trunk}", channel_id=citizen,
                                    app_args=f"desk,{ctx.channel_id}",
                                    caller_id=_hotline_caller_id(config),
                                    timeout=settings.ring_seconds)
        except AriHttpError as exc:
            await ctx.note("callback_result", result="unreachable", detail=f"HTTP {exc.status}")
            return await _tell_desk(ctx, desk, ringing, "unreachable")
        deadline = ctx.clock.monotonic() + settings.ring_seconds + GUARD_SECONDS
        while True:
            event = await ctx.session.events_until(deadline)
            if event is None:
                await ctx.note("callback_result", result="no_answer", detail="ring timeout")
                return await _tell_desk(ctx, desk, ringing, "no_answer")
            if isinstance(event, StasisStart) and event.channel.id == citizen:
                break
            if isinstance(event, ChannelDestroyed) and event.channel.id == citizen:
                result = citizen_result(event.cause)
                await ctx.note("callback_result", result=result, cause=event.cause)
                return await _tell_desk(ctx, desk, ringing, result)
            if _gone(event, desk):
                await ctx.note("callback_desk_left", desk=legs.desk)
                return None
        with contextlib.suppress(AriError):
            await ctx.ari.stop_playback(ringing)
        bridge_id = new_id(BRIDGE_ID)
        await ctx.ari.create_bridge(bridge_id, bridge_type="mixing",
                                    name=f"{CALLBACK_PREFIX}{ctx.record.call_id}")
        await ctx.ari.add_channel(bridge_id, desk, citizen)
        await ctx.note("callback_bridged", desk=legs.desk, bridge=bridge_id)
        ctx.log.info("call back bridged", desk=legs.desk, number=number)
        await reached()
        while True:
            event = await ctx.session.next_event(None)
            if _gone(event, desk):
                await ctx.note("callback_ended", hangup_by="desk")
                break
            if _gone(event, citizen):
                await ctx.note("callback_ended", hangup_by="citizen")
                break
        if ctx.desks is not None:
            await ctx.desks.call_ended(legs.desk, wrap_up_seconds)
        return "answered"
    except asyncio.CancelledError:
        # Our service stops: a bridged call back talks on in Asterisk, untouched.
        if bridge_id is not None:
            bridge_id, citizen, desk = None, "", ""
        raise
    finally:
        if citizen:
            await _hangup_quietly(ctx, citizen)
        if desk:
            await _hangup_quietly(ctx, desk)
        if bridge_id is not None:
            with contextlib.suppress(AriError):
                await ctx.ari.destroy_bridge(bridge_id)


async def _tell_desk(
    ctx: CallContext, desk: str, ringing: str, result: CitizenResult,
) -> CitizenResult:
    """The citizen did not answer: the desk hears so (not just a hang-up), then goes."""
    with contextlib.suppress(AriError):
        await ctx.ari.stop_playback(ringing)
        told = new_id("callback-told")
        await ctx.ari.play(desk, ctx.media(Prompt.CALLBACK_NOT_REACHED), playback_id=told)
        deadline = ctx.clock.monotonic() + TELL_DESK_SECONDS
        while (event := await ctx.session.events_until(deadline)) is not None:
            if _gone(event, desk) or (isinstance(event, PlaybackFinished)
                                      and event.playback.id == told):
                break
    return result


def _gone(event: object, channel_id: str) -> bool:
    if isinstance(event, ChannelVanished):
        return event.channel_id == channel_id
    return (isinstance(event, StasisEnd | ChannelDestroyed | ChannelHangupRequest)
            and event.channel.id == channel_id)


def _hotline_caller_id(config: HotlineConfig) -> str:
    name = config.hotline.name.translate(CALLERID_DELIMITERS)
    return f'"{name}" <{config.hotline.number}>'


async def _record(
    ctx: CallContext, callbacks: Callbacks, call_id: str, result: CitizenResult, by: str,
    reason: str,
) -> None:
    outcome = CallbackResult.REACHED if result == "answered" else CallbackResult.NOT_REACHED
    try:
        recorded = await callbacks.actions.record(call_id, at=ctx.clock.now(), by=by,
                                                  result=outcome, note=reason)
    except Exception:
        ctx.log.exception("could not record the call back's result", result=result)
        return
    if not recorded:
        ctx.log.info("call back result not recorded: no longer pending", result=result)


async def _sleep_until(ctx: CallContext, at: datetime) -> None:
    deadline = ctx.clock.monotonic() + max(0.0, (at - ctx.clock.now()).total_seconds())
    while ctx.clock.monotonic() < deadline:
        await ctx.session.events_until(deadline)


async def _hangup_quietly(ctx: CallContext, channel_id: str) -> None:
    with contextlib.suppress(AriError):
        await ctx.ari.hangup(channel_id)
