"""The Stasis application: one task per call, events routed to calls in order.

`HotlineApp.on_event` runs on the websocket reader, so it only routes: a new
inbound channel starts a call task; every other event goes to the queue of
the call that owns one of its channels (or the playback's target channel).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Literal

import structlog

from calllog.callback_queue import CallbackQueue
from calllog.callers import callback_for, number_as_given, stored_caller_number
from calllog.followup import CallbackActions
from calllog.model import CallEvent, CallRecord, EventDetail, Outcome
from calllog.store import CallLog
from ivr.ari.client import AriClient
from ivr.ari.errors import AriError, ChannelGone
from ivr.ari.models import (
    ApplicationReplaced,
    Channel,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisStart,
)
from ivr.call import handle_call, resume_call, resume_queued
from ivr.callback import Callbacks
from ivr.cel import extension_of
from ivr.context import CallContext, DeskStates
from ivr.desk import DeskLeg
from ivr.live import LiveCalls
from ivr.override import OverrideSource
from ivr.presence import DeskBoard, feature_code
from ivr.prompts import PromptLibrary
from ivr.queue import QueueRoom
from ivr.recovery import Adoption, QueuedAdoption
from ivr.session import CallSession
from routing.clock import Clock
from routing.config import HotlineConfig
from routing.trail import PRESENCE_ARG

log = structlog.get_logger(__name__)

DESK_LEG_ARG = "desk"
Admission = Literal["take", "fallback", "refuse"]
"""What to do with a new call: run it, send it to the fallback IVR, turn it away."""
EVENTS_USED = (
    "StasisStart", "StasisEnd", "ChannelHangupRequest", "ChannelDestroyed",
    "ChannelDtmfReceived", "PlaybackFinished", "RecordingFinished",
    "RecordingFailed", "ApplicationReplaced",
)
"""The event types the call flows wait for: Asterisk is asked for these only (a
call otherwise brings ~30 more: Varset, CallerId, ConnectedLine, StateChange, ...)."""


class HotlineApp:
    def __init__(
        self,
        *,
        ari: AriClient,
        config: Callable[[], HotlineConfig],
        prompts: PromptLibrary,
        calllog: CallLog,
        fallback_context: str,
        clock: Clock,
        on_left_open: Callable[[str], None] = lambda call_id: None,
        admit: Callable[[], tuple[Admission, str]] = lambda: ("take", ""),
        live: LiveCalls | None = None,
        override: OverrideSource | None = None,
        desks: DeskBoard | None = None,
        callbacks: tuple[CallbackQueue, CallbackActions] | None = None,
    ) -> None:
        self._ari = ari
        self._override = override
        self._config = config
        self._prompts = prompts
        self._calllog = calllog
        self._fallback_context = fallback_context
        self._clock = clock
        self._calls: dict[str, CallSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._handovers: set[asyncio.Task[None]] = set()
        """Shed calls being handed over: a stopping service lets them finish."""
        self._draining = False
        self._admit = admit
        """Whether a new call is ours, the fallback IVR's or turned away (overload)."""
        self._desk_states = DeskStates(clock)
        self.queue = QueueRoom()
        """The branches' queues, shared by the calls."""
        self._desks = desks
        if desks is not None:
            desks.on_available(self.queue.desk_available)
        self.live = live if live is not None else LiveCalls(clock, config)
        """The calls in progress, step by step, for the wallboard."""
        self.calls_by_outcome: collections.Counter[str] = collections.Counter()
        self.callbacks = None if callbacks is None else Callbacks(
            store=callbacks[0], actions=callbacks[1], room=self.queue, clock=clock,
            context=self._context, routes=self._calls, config=self._config)
        """Keep-your-place and operators' call backs (None: not offered)."""
        # A call task ended with its row still open (handed to the fallback dialplan).
        self._on_left_open = on_left_open

    @property
    def active_calls(self) -> int:
        return len(self._tasks)

    def is_active(self, channel_id: str) -> bool:
        return channel_id in self._calls

    def adopt(self, adoption: Adoption) -> None:
        """Watch a call bridged by a previous run of the service to its end."""
        record, desk = adoption.record, adoption.desk_channel
        session = CallSession(record.call_id, self._clock, routes=self._calls)
        self._calls[record.call_id] = session
        session.own(desk.id)
        session.seen.add(desk.id)
        extension = record.desk_answered or extension_of(desk.name)
        ctx = self._context(session, record)
        self._spawn(resume_call(ctx, DeskLeg(extension, desk.id), adoption.bridge_id), ctx)

    def adopt_queued(self, adoption: QueuedAdoption) -> bool:
        """Put a caller who was waiting in a queue when a previous run stopped back in
        their place (their join time keeps it); False when the branch is gone."""
        record = adoption.record
        branch = self._config().branch(adoption.branch)
        if branch is None or not branch.queue.enabled:
            return False
        session = CallSession(record.call_id, self._clock, routes=self._calls)
        self._calls[record.call_id] = session
        ctx = self._context(session, record)
        # In the queue now, before any task runs: the callers put back keep their order.
        self.queue.join(branch, session, adoption.joined_at)
        self._spawn(resume_queued(ctx, branch, adoption.joined_at), ctx)
        return True

    async def reconcile(self) -> None:
        """After a (re)connect: calls whose channels vanished while we were deaf are
        told so, so no call task waits for ever for a hangup event that was lost."""
        if not self._calls:
            return
        # Only channels known to exist before the list was asked for: a call that
        # starts, or a desk leg being created, while the request is out is not in it.
        known = [(s, set(s.seen)) for s in {id(s): s for s in self._calls.values()}.values()]
        try:
            live = {channel.id for channel in await self._ari.list_channels()}
        except AriError:
            log.warning("could not list channels to reconcile calls")
            return
        for session, seen in known:
            for channel_id in sorted(seen - live):
                log.info("channel vanished while disconnected", call_id=session.channel_id,
                         channel=channel_id)
                session.vanished(channel_id)

    def on_event(self, event: Event) -> None:
        if isinstance(event, ApplicationReplaced):
            log.error("another connection took over the ARI application: no more events "
                      "reach this service", app=event.application)
            return
        if isinstance(event, StasisStart) and event.args[:1] == [PRESENCE_ARG]:
            self._feature_code(event)
            return
        if isinstance(event, StasisStart) and self._is_new_call(event):
            if self._draining:
                self._shed(event, "service stopping")
                return
            admission, why = self._admit()
            if admission == "fallback":
                log.warning("overloaded: new call sent to the fallback IVR",
                            channel=event.channel.id, reason=why)
                self._shed(event, why)
            elif admission == "refuse":
                log.warning("overloaded: new call turned away", channel=event.channel.id,
                            caller=event.channel.caller.number, reason=why)
                self._turn_away(event, why)
            else:
                self._start_call(event)
            return
        ids = _channels_named(event)
        session = self._owner(ids)
        if session is not None:
            session.deliver(event, ids)
        else:
            log.debug("ari event for no call", type=event.type)

    def _is_new_call(self, event: StasisStart) -> bool:
        if event.args and event.args[0] == DESK_LEG_ARG:
            return False
        return event.channel.id not in self._calls

    def _owner(self, ids: set[str]) -> CallSession | None:
        # Desk legs are in the table from the moment their call owns them.
        for channel_id in ids:
            session = self._calls.get(channel_id)
            if session is not None:
                return session
        return None

    def _start_call(self, event: StasisStart) -> None:
        channel = event.channel
        session = CallSession(channel.id, self._clock, routes=self._calls)
        self._calls[channel.id] = session
        record, given = new_record(channel, self._clock.now())
        ctx = self._context(session, record)
        ctx.caller_as_given = given
        self._spawn(handle_call(ctx), ctx)

    def _feature_code(self, event: StasisStart) -> None:
        """A desk dialled its log in/out or pause code (not a citizen's call)."""
        channel = event.channel
        extension = extension_of(channel.name)
        if self._desks is None or channel.id in self._calls:
            return
        if self._config().desk(extension) is None:
            log.warning("feature code from a phone that is no desk", channel=channel.name)
            self._background(self._hangup_quietly(channel.id))
            return
        session = CallSession(channel.id, self._clock, routes=self._calls)
        self._calls[channel.id] = session

        async def run() -> None:
            assert self._desks is not None
            try:
                await feature_code(ari=self._ari, session=session, channel=channel,
                                   args=event.args, board=self._desks, prompts=self._prompts,
                                   clock=self._clock, extension=extension)
            except Exception:
                log.exception("desk feature code failed", channel=channel.id)
            finally:
                self._calls.pop(channel.id, None)

        self._background(run(), name=f"presence-{channel.id}")

    async def _hangup_quietly(self, channel_id: str) -> None:
        with contextlib.suppress(AriError):
            await self._ari.hangup(channel_id)

    def _context(self, session: CallSession, record: CallRecord) -> CallContext:
        return CallContext(
            ari=self._ari,
            session=session,
            record=record,
            calllog=self._calllog,
            config=self._config(),
            prompts=self._prompts,
            clock=self._clock,
            log=log.bind(call_id=record.call_id, caller=record.caller_number),
            fallback_context=self._fallback_context,
            desk_states=self._desk_states,
            live=self.live,
            override=self._override,
            queue=self.queue,
            desks=self._desks,
            callbacks=self.callbacks,
        )

    def _spawn(self, flow: Coroutine[None, None, None], ctx: CallContext) -> None:
        self._background(self._run_call(flow, ctx), name=f"call-{ctx.channel_id}")

    def _background(
        self, work: Coroutine[None, None, None], name: str | None = None, *,
        handover: bool = False,
    ) -> None:
        """Run `work` as a task the app keeps (and `drain` waits for) until it ends; a
        `handover` is never cancelled by `drain` (it would leave a caller in silence)."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if handover:
            self._handovers.add(task)
            task.add_done_callback(self._handovers.discard)

    def _shed(self, event: StasisStart, reason: str) -> None:
        """A call arriving while we stop or are overloaded: its row first (caller, time,
        why), then the fallback dialplan takes it unanswered and the call trail closes
        the row (from CEL). If the fallback cannot take it, it is turned away."""
        record, given = new_record(event.channel, self._clock.now())

        async def shed() -> None:
            await self._log_call(record, ("shed", {"reason": reason}), _given(given))
            try:
                await self._ari.continue_in_dialplan(record.call_id,
                                                     context=self._fallback_context,
                                                     extension="s", priority=1)
            except ChannelGone:
                record.outcome, record.hangup_by = Outcome.ABANDONED_IN_MENU, "caller"
                await self._close(record)
            except AriError as exc:
                log.error("could not hand a shed call to the fallback: turning it away",
                          channel=record.call_id, error=str(exc))
                await self._congestion(record, ("shed_failed", {"error": str(exc)[:200]}))
            else:
                self._on_left_open(record.call_id)

        self._background(shed(), name=f"shed-{record.call_id}", handover=True)

    def _turn_away(self, event: StasisStart, reason: str) -> None:
        """Past even what the fallback can take: SIP 503 before answering, and a row
        with a call back owed (the citizen was not served)."""
        record, given = new_record(event.channel, self._clock.now())
        self._background(
            self._congestion(record, ("turned_away", {"reason": reason}), _given(given)),
            name=f"refuse-{record.call_id}", handover=True,
        )

    async def _congestion(self, record: CallRecord, *events: LogEvent | None) -> None:
        """Hang an unanswered call up as congestion (Q.850 34: SIP 503, the caller hears
        the line is busy), then close its row: refused, a call back owed."""
        try:
            await self._ari.hangup(record.call_id, reason="congestion")
        except ChannelGone:
            pass
        except AriError as exc:
            log.error("could not turn a call away", channel=record.call_id, error=str(exc))
        record.outcome, record.hangup_cause, record.hangup_by = Outcome.REFUSED, 34, "system"
        record.callback = callback_for(record.caller_number)
        await self._close(record, *events)

    async def _close(self, record: CallRecord, *events: LogEvent | None) -> None:
        record.ended_at = self._clock.now()
        await self._log_call(record, *events, ("ended", {
            "outcome": str(record.outcome), "hangup_by": record.hangup_by,
            "cause": record.hangup_cause}))
        self.calls_by_outcome[str(record.outcome)] += 1

    async def _log_call(self, record: CallRecord, *events: LogEvent | None) -> None:
        """Save `record` and append `events`; a failing call log never stops a caller
        being handed over or hung up (the spool normally takes every write)."""
        try:
            await self._calllog.save(record)
            for kind, detail in (e for e in events if e is not None):
                await self._calllog.append_event(CallEvent(
                    call_id=record.call_id, at=self._clock.now(), kind=kind, detail=detail))
        except Exception:
            log.exception("could not log a call sent away", channel=record.call_id)

    async def _run_call(self, flow: Coroutine[None, None, None], ctx: CallContext) -> None:
        structlog.contextvars.bind_contextvars(call_id=ctx.channel_id)
        try:
            await flow
        except Exception:
            # handle_call has its own safety net; this only catches a failing call log.
            ctx.log.exception("call task failed")
        finally:
            self.live.forget(ctx.record.call_id)
            for channel_id in ctx.session.channel_ids:
                self._calls.pop(channel_id, None)
            if ctx.record.ended_at is not None:
                self.calls_by_outcome[str(ctx.record.outcome)] += 1
            else:
                self._on_left_open(ctx.record.call_id)

    async def drain(self, timeout: float) -> None:
        """On shutdown: stop taking calls, let calls in progress finish for up to
        `timeout` s, then stop the rest (each hands its caller to the fallback
        dialplan; bridged calls are left talking in Asterisk)."""
        self._draining = True
        if self.callbacks is not None:
            self.callbacks.stop()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in self._tasks - self._handovers:
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)


LogEvent = tuple[str, EventDetail]
"""One timeline step of a call sent away: (kind, detail)."""


def new_record(channel: Channel, now: datetime) -> tuple[CallRecord, str | None]:
    """A new call's row, and its caller id as given when that is no phone number (it is
    then stored as unknown: `calllog.callers`)."""
    given = channel.caller.number
    number = stored_caller_number(given)
    record = CallRecord(call_id=channel.id, caller_number=number,
                        caller_name=channel.caller.name, started_at=now)
    return record, None if number == given else number_as_given(given)


def _given(given: str | None) -> LogEvent | None:
    """The timeline step keeping an unusable caller id as given (None: it was usable)."""
    return None if given is None else ("caller_number", {"given": given})


def _channels_named(event: Event) -> set[str]:
    """The channels an event is about, a playback's or recording's target included."""
    ids = event.channel_ids()
    target_uri = ""
    if isinstance(event, PlaybackStarted | PlaybackFinished):
        target_uri = event.playback.target_uri
    elif isinstance(event, RecordingStarted | RecordingFinished | RecordingFailed):
        target_uri = event.recording.target_uri
    kind, _, target = target_uri.partition(":")
    if kind == "channel":
        ids.add(target)
    return ids
