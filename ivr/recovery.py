"""After our process restarts: find the calls it left behind, and close every row.

Asterisk keeps our channels and bridges when the service dies (SIGKILL, crash,
`drain` timeout): callers keep talking to their desk, callers in the menu wait in
Stasis. On (re)connect, `recover` looks at what Asterisk still has:

* a caller and a desk leg in one of our bridges: the call is adopted and watched
  to its end like any other (`ivr.call.resume_call`), with its row from the log;
* a bridge left with only one side (the other hung up while we were down): that
  side is hung up, the bridge destroyed;
* a caller waiting in a branch's queue (its channel's `HOTLINE_QUEUE` variable, else
  its timeline: `queue_joined` and no `queue_left`): put back in the queue at its
  original place, its old prompts stopped, once the log can be read (until then it
  keeps its music);
* a caller not bridged (menu, ringing): handed to the fallback dialplan, which
  serves it with the same menu and desks;
* a desk leg not bridged: hung up (nobody is waiting for it any more).

`CallTrail` (`ivr.calltrail`) then closes the rows nobody else will: calls handed
to the fallback and calls that ended while we were down. Asterisk's CEL trail says
how they ended (`ivr.cel`); without CEL the row is closed when the channel is gone,
with the time it was found gone.

While the call log cannot be read (the database is down, or the previous process's
journal is not replayed yet), the callers Asterisk holds are served at once: waiting
callers go to the fallback, half-empty bridges and lone desk legs are ended. Only
what needs the log waits, however long that takes, trying again with backoff:
adopting a bridged call (its row must be read first: a record made from ARI alone
would blank the row's branch, agency, desk and answer time at its first save) and
watching the rows left open. Bridged callers talk on meanwhile, untouched; each
round looks again, so a bridge one side left is ended within one round.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from calllog.callers import stored_caller_number
from calllog.model import CallEvent, CallRecord, Outcome
from calllog.store import CallLog
from ivr.ari.client import AriClient
from ivr.ari.errors import AriError, ChannelGone, NotFound
from ivr.ari.models import Channel
from ivr.calltrail import CallTrail, closed_from_cel
from ivr.cel import extension_of
from routing.clock import Clock
from routing.queue import read_queue_mark
from routing.trail import (
    BRIDGE_NAME_PREFIX,
    BRIDGE_PREFIX,
    CALLBACK_PREFIX,
    DESK_LEG_PREFIX,
    QUEUE_VARIABLE,
)

__all__ = ["Adoption", "CallTrail", "QueuedAdoption", "RecoveryHooks", "closed_from_cel",
           "queued_since", "recover"]

log = structlog.get_logger(__name__)

OPEN_ROWS_LOOKBACK = timedelta(days=2)
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0)
"""Seconds between rounds while the call log cannot be read (the last one repeats)."""


@dataclasses.dataclass(frozen=True)
class Adoption:
    record: CallRecord
    desk_channel: Channel
    bridge_id: str


@dataclasses.dataclass(frozen=True)
class QueuedAdoption:
    record: CallRecord
    branch: int
    joined_at: datetime


class RecoveryHooks(Protocol):
    """What `recover` needs from the application (kept small to test with fakes)."""

    def is_active(self, channel_id: str) -> bool: ...

    def adopt(self, adoption: Adoption) -> None: ...

    def adopt_queued(self, adoption: QueuedAdoption) -> bool: ...


def queued_since(events: Iterable[CallEvent]) -> tuple[int, datetime] | None:
    """(branch, join time) of a call its timeline shows waiting in a queue: joined
    and not left (a restart's rejoin keeps the first join time); None otherwise."""
    queued: tuple[int, datetime] | None = None
    for event in events:
        if event.kind == "queue_joined" and queued is None:
            try:
                at = datetime.fromisoformat(str(event.detail.get("joined_at")))
                queued = (int(str(event.detail.get("branch"))), at)
            except ValueError:
                queued = (int(str(event.detail.get("branch", 0)) or 0), event.at)
        elif event.kind == "queue_left":
            queued = None
    return queued


async def _log_is_ready() -> bool:
    return True


async def recover(
    *,
    ari: AriClient,
    calllog: CallLog,
    app_name: str,
    hooks: RecoveryHooks,
    trail: CallTrail,
    fallback_context: str,
    clock: Clock,
    log_ready: Callable[[], Awaitable[bool]] = _log_is_ready,
    retry_delays: Iterable[float] = RETRY_DELAYS,
) -> None:
    """Take over what a previous process left in Asterisk; see the module docstring.

    `log_ready`: whether what the previous process wrote is in the log (its journal
    replayed); `retry_delays`: the pauses between rounds while the log is unreadable."""
    delays = _backoff(retry_delays)
    handed_over: dict[str, datetime] = {}
    open_rows: dict[str, CallRecord] | None = None
    while True:
        await _take_over(ari, calllog, app_name, hooks, trail, fallback_context, clock,
                         open_rows, handed_over)
        if open_rows is not None:
            break
        open_rows = await _open_rows(calllog, hooks, clock, log_ready)
        if open_rows is None:
            await asyncio.sleep(next(delays))
    for call_id, at in handed_over.items():
        if call_id in open_rows:
            await calllog.append_event(CallEvent(
                call_id=call_id, at=at, kind="to_fallback",
                detail={"reason": "service restarted"},
            ))
    for call_id in open_rows:
        trail.watch(call_id)
    trail.recovered.set()
    log.info("recovered calls from a previous run", watched=len(trail.watched))


async def _open_rows(
    calllog: CallLog, hooks: RecoveryHooks, clock: Clock,
    log_ready: Callable[[], Awaitable[bool]],
) -> dict[str, CallRecord] | None:
    """The rows left open (None: the log cannot be read yet)."""
    try:
        if not await log_ready():
            log.warning("call log not replayed yet during recovery; retrying")
            return None
        recent = await calllog.list_calls(since=clock.now() - OPEN_ROWS_LOOKBACK,
                                          limit=10_000)
    except Exception:
        log.warning("call log unreadable during recovery; retrying", exc_info=True)
        return None
    return {r.call_id: r for r in recent if r.ended_at is None and not hooks.is_active(r.call_id)}


async def _take_over(
    ari: AriClient, calllog: CallLog, app_name: str, hooks: RecoveryHooks, trail: CallTrail,
    fallback_context: str, clock: Clock, open_rows: dict[str, CallRecord] | None,
    handed_over: dict[str, datetime],
) -> None:
    """One look at what Asterisk holds; bridged calls are adopted only with `open_rows`
    (the log read), else left talking until the next round."""
    channels = {c.id: c for c in await ari.list_channels()}
    ours = {
        cid: c for cid, c in channels.items()
        if c.dialplan is not None and c.dialplan.app_name.lower() == "stasis"
        and c.dialplan.app_data.split(",")[0] == app_name and not hooks.is_active(cid)
    }
    handled: set[str] = set()
    bridges = await ari.list_bridges()
    talking = {c for b in bridges if len(b.channels) >= 2 for c in b.channels}
    for bridge in bridges:
        if not bridge.id.startswith(BRIDGE_PREFIX):
            continue
        if any(hooks.is_active(c) for c in bridge.channels) or hooks.is_active(
            bridge.name.removeprefix(BRIDGE_NAME_PREFIX)
        ):
            continue  # a call of this process (recover runs at every reconnect)
        members = [ours[c] for c in bridge.channels if c in ours]
        callers = [c for c in members if not c.id.startswith(DESK_LEG_PREFIX)]
        desks = [c for c in members if c.id.startswith(DESK_LEG_PREFIX)]
        handled |= {c.id for c in members}
        if len(callers) == 1 and desks:
            if open_rows is None:
                log.info("bridged call left talking until the call log can be read",
                         call_id=callers[0].id, bridge=bridge.id)
                continue
            try:
                row = await _row_of(calllog, callers[0].id, open_rows)
            except Exception:  # the log went away again: adopted at the next round
                log.warning("call log unreadable while adopting a call",
                            call_id=callers[0].id, exc_info=True)
                continue
            record = adopted_record(row, callers[0], desks[0], clock)
            hooks.adopt(Adoption(record, desks[0], bridge.id))
            for extra in desks[1:]:
                await _hangup(ari, extra.id)
            continue
        log.info("bridge left half empty while we were down: ending it", bridge=bridge.id,
                 channels=bridge.channels)
        for channel in members:
            await _hangup(ari, channel.id)
            trail.watch(channel.id)
        with contextlib.suppress(AriError):
            await ari.destroy_bridge(bridge.id)
    for channel in ours.values():
        if channel.id in handled:
            continue
        if channel.id.startswith(CALLBACK_PREFIX):
            # A call back's leg (`ivr.callback`): bridged with the other side, it talks
            # on; else (ringing, or the other side gone) nothing of ours would ever end
            # it, and a citizen answering would reach a leg no one drives.
            if channel.id not in talking:
                log.info("call back leg left alone while we were down: hanging up",
                         channel=channel.id)
                await _hangup(ari, channel.id)
            continue
        if channel.id.startswith(DESK_LEG_PREFIX):
            log.info("desk leg left ringing while we were down: hanging up", channel=channel.id)
            await _hangup(ari, channel.id)
            continue
        marked = await _queue_mark(ari, channel.id)
        if marked is not None and open_rows is None:
            # Its row and timeline may still be in the old process's journal: it keeps
            # its music and its place until the log can be read (the next round).
            log.info("queued caller left waiting until the call log can be read",
                     call_id=channel.id)
            continue
        events = await _timeline(calllog, channel.id)
        # A prompt still playing would hold the caller in Stasis until it ends (and
        # delay a queued caller's next announcement: ARI plays one after the other).
        for playback_id in _unfinished_playbacks(events):
            await ari.stop_playback(playback_id)
        queued = marked or queued_since(events)
        if queued is not None and await _requeue(calllog, hooks, channel.id, queued, open_rows):
            continue
        log.info("caller left waiting while we were down: to the fallback", call_id=channel.id)
        with contextlib.suppress(ChannelGone):
            await ari.continue_in_dialplan(channel.id, context=fallback_context,
                                           extension="s", priority=1)
        handed_over.setdefault(channel.id, clock.now())
        trail.watch(channel.id)


async def _row_of(
    calllog: CallLog, call_id: str, open_rows: dict[str, CallRecord],
) -> CallRecord | None:
    """The call's row: open and recent, else read by id (a call longer than the
    lookback); None when the log has none."""
    if call_id in open_rows:
        return open_rows.pop(call_id)
    return await calllog.get(call_id)


def adopted_record(
    row: CallRecord | None, caller: Channel, desk: Channel, clock: Clock,
) -> CallRecord:
    """The record an adopted call goes on with: its row, with only the fields the row
    lacks filled from what ARI shows (the caller and desk bridged now). A known field
    is never replaced, so the adopted call's saves cannot blank the row."""
    now: datetime = clock.now()
    if row is None:  # the log never heard of it (its writes were lost)
        row = CallRecord(call_id=caller.id,
                         caller_number=stored_caller_number(caller.caller.number),
                         caller_name=caller.caller.name,
                         started_at=caller.creationtime or now)
    return dataclasses.replace(
        row,
        bridged_at=row.bridged_at or now,
        desk_answered=row.desk_answered or extension_of(desk.name),
        outcome=row.outcome or Outcome.CONNECTED,
    )


def _backoff(delays: Iterable[float]) -> Iterator[float]:
    """`delays`, then the last of them for ever."""
    last = 0.0
    for last in delays:
        yield last
    yield from itertools.repeat(last)


async def _timeline(calllog: CallLog, call_id: str) -> list[CallEvent]:
    try:
        return await calllog.events(call_id)
    except Exception:  # the database is down: nothing to go on
        log.warning("cannot read the timeline to stop its prompts", call_id=call_id)
        return []


async def _queue_mark(ari: AriClient, channel_id: str) -> tuple[int, datetime] | None:
    """(branch, joined at) when Asterisk's channel says it waits in a queue."""
    try:
        return read_queue_mark(await ari.get_variable(channel_id, QUEUE_VARIABLE))
    except AriError:  # unset (404), or the channel just went
        return None


async def _requeue(
    calllog: CallLog, hooks: RecoveryHooks, call_id: str, queued: tuple[int, datetime],
    open_rows: dict[str, CallRecord] | None,
) -> bool:
    """Put a caller who was queued back in their queue; False when their row cannot
    be read or the branch takes no queue now (the fallback serves them)."""
    try:
        row = open_rows.pop(call_id, None) if open_rows is not None else None
        row = row or await calllog.get(call_id)
    except Exception:
        log.warning("call log unreadable while requeueing a caller", call_id=call_id)
        return False
    if row is None:
        return False
    branch, joined_at = queued
    if not hooks.adopt_queued(QueuedAdoption(row, branch, joined_at)):
        return False
    log.info("queued caller put back in the queue", call_id=call_id, branch=branch,
             joined_at=joined_at.isoformat())
    return True


def _unfinished_playbacks(events: list[CallEvent]) -> list[str]:
    """Playbacks the timeline shows started and not ended (the newest last)."""
    ended = {e.detail.get("playback") for e in events if e.kind == "prompt_end"}
    return [str(e.detail["playback"]) for e in events
            if e.kind == "prompt" and e.detail.get("playback") not in ended]


async def _hangup(ari: AriClient, channel_id: str) -> None:
    with contextlib.suppress(ChannelGone, NotFound):
        await ari.hangup(channel_id)
