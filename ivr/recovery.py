"""After our process restarts: find the calls it left behind, and close every row.

Asterisk keeps our channels and bridges when the service dies (SIGKILL, crash,
`drain` timeout): callers keep talking to their desk, callers in the menu wait in
Stasis. On (re)connect, `recover` looks at what Asterisk still has:

* a caller and a desk leg in one of our bridges: the call is adopted and watched
  to its end like any other (`ivr.call.resume_call`);
* a bridge left with only one side (the other hung up while we were down): that
  side is hung up, the bridge destroyed;
* a caller not bridged (menu, ringing): handed to the fallback dialplan, which
  serves it with the same menu and desks;
* a desk leg not bridged: hung up (nobody is waiting for it any more).

`CallTrail` then closes the rows nobody else will: calls handed to the fallback
and calls that ended while we were down. Asterisk's CEL trail says how they
ended (`ivr.cel`); without CEL the row is closed when the channel is gone, with
the time it was found gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import structlog

from calllog.callers import callback_for
from calllog.model import CallEvent, CallRecord, Outcome
from calllog.store import CallLog
from ivr.ari.client import AriClient
from ivr.ari.errors import AriError, ChannelGone, NotFound
from ivr.ari.models import Channel
from ivr.cel import (
    CelRow,
    CelSummary,
    cel_last_id,
    first_row,
    read_cel_after,
    split_calls,
    summarise,
    use_wal,
)
from routing.clock import Clock
from routing.config import HotlineConfig

log = structlog.get_logger(__name__)

DESK_LEG_PREFIX = "desk-"
BRIDGE_PREFIX = "bridge-"
OPEN_ROWS_LOOKBACK = timedelta(days=2)
FALLBACK_MARK = "hotline_fallback"
"""The CEL user event the fallback dialplan raises first (dialplan.generate)."""


@dataclasses.dataclass(frozen=True)
class Adoption:
    record: CallRecord
    desk_channel: Channel
    bridge_id: str


class RecoveryHooks(Protocol):
    """What `recover` needs from the application (kept small to test with fakes)."""

    def is_active(self, channel_id: str) -> bool: ...

    def adopt(self, adoption: Adoption) -> None: ...


async def recover(
    *,
    ari: AriClient,
    calllog: CallLog,
    app_name: str,
    hooks: RecoveryHooks,
    trail: CallTrail,
    fallback_context: str,
    clock: Clock,
) -> None:
    """Take over what a previous process left in Asterisk; see the module docstring."""
    channels = {c.id: c for c in await ari.list_channels()}
    ours = {
        cid: c for cid, c in channels.items()
        if c.dialplan is not None and c.dialplan.app_name.lower() == "stasis"
        and c.dialplan.app_data.split(",")[0] == app_name and not hooks.is_active(cid)
    }
    try:
        recent = await calllog.list_calls(since=clock.now() - OPEN_ROWS_LOOKBACK, limit=10_000)
    except Exception:
        # The database is down: still serve the callers Asterisk holds; a bridged call
        # is adopted with what ARI tells (its row is completed when it ends).
        log.warning("call log unreadable during recovery; going on with ARI alone",
                    exc_info=True)
        recent = []
    open_rows = {
        r.call_id: r for r in recent if r.ended_at is None and not hooks.is_active(r.call_id)
    }
    handled: set[str] = set()
    for bridge in await ari.list_bridges():
        if not bridge.id.startswith(BRIDGE_PREFIX):
            continue
        if any(hooks.is_active(c) for c in bridge.channels) or hooks.is_active(
            bridge.name.removeprefix("hotline-")
        ):
            continue  # a call of this process (recover runs at every reconnect)
        members = [ours[c] for c in bridge.channels if c in ours]
        callers = [c for c in members if not c.id.startswith(DESK_LEG_PREFIX)]
        desks = [c for c in members if c.id.startswith(DESK_LEG_PREFIX)]
        handled |= {c.id for c in members}
        if len(callers) == 1 and desks:
            caller = callers[0]
            record = open_rows.pop(caller.id, None) or _minimal_record(caller, clock)
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
        if channel.id.startswith(DESK_LEG_PREFIX):
            log.info("desk leg left ringing while we were down: hanging up", channel=channel.id)
            await _hangup(ari, channel.id)
            continue
        log.info("caller left waiting while we were down: to the fallback", call_id=channel.id)
        # A prompt still playing would hold the caller in Stasis until it ends.
        for playback_id in await _unfinished_playbacks(calllog, channel.id):
            await ari.stop_playback(playback_id)
        with contextlib.suppress(ChannelGone):
            await ari.continue_in_dialplan(channel.id, context=fallback_context,
                                           extension="s", priority=1)
        if channel.id in open_rows:
            await calllog.append_event(CallEvent(
                call_id=channel.id, at=clock.now(), kind="to_fallback",
                detail={"reason": "service restarted"},
            ))
        trail.watch(channel.id)
    for call_id in open_rows:
        trail.watch(call_id)
    trail.recovered.set()
    log.info("recovered calls from a previous run", bridged_channels=len(handled),
             watched=len(trail.watched))


class CallTrail:
    """Closes the rows of calls the service no longer handles (see module docstring).

    `watch(call_id)`: a row left open (handed to the fallback, or found open after
    a restart). Calls the fallback IVR took alone (no row at all) are found in CEL.
    """

    def __init__(
        self,
        *,
        ari: AriClient,
        calllog: CallLog,
        config: Callable[[], HotlineConfig],
        cel_db: Path | None,
        mark_file: Path,
        is_active: Callable[[str], bool],
        clock: Clock,
    ) -> None:
        self._ari = ari
        self._calllog = calllog
        self._config = config
        self._cel_db = cel_db
        self._mark_file = mark_file
        self._is_active = is_active
        self._clock = clock
        self.watched: set[str] = set()
        self.imported = 0
        self._grace: set[str] = set()
        # CEL is read only once `recover` has said which open rows to watch: a call that
        # ended while we were down must not be passed over as "handled by the service".
        self.recovered = asyncio.Event()
        self._cel_in_wal = False
        self._read_to: int | None = None
        self.cel_page = 5000
        """CEL rows read per query (a pass reads every new row, a page at a time)."""
        self._carried: list[CelRow] = []

    def watch(self, call_id: str) -> None:
        self.watched.add(call_id)

    async def run(self, interval: float = 5.0) -> None:
        await self.recovered.wait()
        while True:
            try:
                await self.sweep()
            except Exception:  # the database may be down: try again next round
                log.warning("call trail sweep failed; retrying", exc_info=True)
            await asyncio.sleep(interval)

    async def sweep(self) -> None:
        if self._cel_db is not None and self.recovered.is_set():
            await self.import_cel()
        await self._close_gone_without_cel()

    async def import_cel(self) -> int:
        """One pass over new CEL rows; returns how many calls were written."""
        assert self._cel_db is not None
        if not self._cel_in_wal and self._cel_db.is_file():
            self._cel_in_wal = await asyncio.to_thread(use_wal, self._cel_db)
        start = self._read_to if self._read_to is not None else self._read_mark()
        new_rows = await asyncio.to_thread(read_cel_after, self._cel_db, start, self.cel_page)
        if not new_rows and start and await asyncio.to_thread(cel_last_id, self._cel_db) < start:
            log.warning("Asterisk's CEL file was reset: reading it from the start")
            self._write_mark(0)
            self._read_to, self._carried = None, []
            return 0
        # Calls still going are carried to the next pass in memory, so reading goes
        # on past them: rereading from the oldest call still going each pass stalled
        # the import once one call lived longer than a read (a long talk, a busy hour).
        rows = self._carried + new_rows
        done, going = split_calls(rows, now=self._clock.now())
        written = 0
        for linkedid, group in sorted(done.items(), key=lambda kv: kv[1][0].id):
            if self._is_active(linkedid) or not (
                linkedid in self.watched or any(r.eventtype == FALLBACK_MARK for r in group)
            ):
                continue  # the service logged it itself: not worth summarising
            summary = summarise(group, self._config())
            if summary is None:
                continue
            if await self._apply(summary):
                written += 1
        if new_rows:
            self._read_to = new_rows[-1].id
            # Restart-safe: a new process rereads from the oldest call still going.
            first_pending = first_row(going)
            self._write_mark(first_pending - 1 if first_pending is not None else rows[-1].id)
        self._carried = sorted((r for call in going for r in call), key=lambda r: r.id)
        self.imported += written
        return written

    async def _apply(self, summary: CelSummary) -> bool:
        call_id = summary.record.call_id
        existing = await self._calllog.get(call_id)
        if existing is not None and existing.ended_at is not None:
            self.watched.discard(call_id)
            return False
        if existing is None:
            record = summary.record
            events = summary.events
        else:
            record = closed_from_cel(existing, summary)
            # What the service saw itself, CEL's events would say twice.
            seen = {kind for kind, at in (("bridged", existing.bridged_at),
                                          ("answered", existing.answered_at)) if at}
            events = [*(e for e in summary.events if e.kind not in seen), CallEvent(
                call_id=call_id, at=self._clock.now(), kind="reconciled",
                detail={"source": "cel", "outcome": str(record.outcome)},
                key=f"cel:{call_id}:reconciled",
            )]
        await self._calllog.close_if_open(record)
        for event in events:
            await self._calllog.append_event(event)
        self.watched.discard(call_id)
        log.info("call closed from Asterisk's CEL", call_id=call_id, outcome=str(record.outcome),
                 fallback=summary.fallback)
        return True

    async def _close_gone_without_cel(self) -> None:
        """Watched calls whose channel is gone and that CEL did not close."""
        for call_id in sorted(self.watched):
            if self._is_active(call_id):
                self.watched.discard(call_id)
                continue
            try:
                await self._ari.get_channel(call_id)
                continue  # still up (talking in the fallback dialplan)
            except (ChannelGone, NotFound):
                pass
            cel_may_know = self._cel_db is not None and self._cel_db.is_file()
            if cel_may_know and call_id not in self._grace:
                # Give CEL one more sweep: its rows are written as the call ends.
                self._grace.add(call_id)
                continue
            existing = await self._calllog.get(call_id)
            self.watched.discard(call_id)
            self._grace.discard(call_id)
            if existing is None or existing.ended_at is not None:
                continue
            record = dataclasses.replace(
                existing, ended_at=self._clock.now(),
                outcome=Outcome.CONNECTED if existing.bridged_at else Outcome.FAILED,
                hangup_by=existing.hangup_by or "system",
                # Not known to have been served (shed, or handed to the fallback): a call back.
                callback=existing.callback or (
                    None if existing.bridged_at else callback_for(existing.caller_number)),
            )
            await self._calllog.close_if_open(record)
            await self._calllog.append_event(CallEvent(
                call_id=call_id, at=self._clock.now(), kind="reconciled",
                detail={"source": "ari", "note": "ended while the service was down; "
                        "end time is when it was found gone"},
                key=f"ari:{call_id}:reconciled",
            ))
            log.warning("call closed without its end time", call_id=call_id)

    def _read_mark(self) -> int:
        try:
            return int(self._mark_file.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _write_mark(self, mark: int) -> None:
        tmp = self._mark_file.with_suffix(".tmp")
        tmp.write_text(f"{mark}\n")
        tmp.replace(self._mark_file)


def closed_from_cel(existing: CallRecord, summary: CelSummary) -> CallRecord:
    """An open row closed with what CEL says about the call's end."""
    cel = summary.record
    record = dataclasses.replace(
        existing, ended_at=cel.ended_at, hangup_cause=cel.hangup_cause,
        hangup_by=cel.hangup_by,
    )
    if summary.fallback:
        # The fallback dialplan served the caller: what it did is the outcome.
        for name in ("branch_key", "branch_name", "agency", "desk_dialled", "desk_answered",
                     "bridged_at", "recording", "callback"):
            value = getattr(cel, name)
            if value is not None:
                setattr(record, name, value)
        record.outcome = cel.outcome
    elif record.bridged_at is not None:
        record.outcome = Outcome.CONNECTED
    else:
        # Our process died before the caller was served.
        record.outcome = Outcome.FAILED
    return record


def _minimal_record(channel: Channel, clock: Clock) -> CallRecord:
    """A row for a bridged call the log never heard of (its writes were lost)."""
    now: datetime = clock.now()
    return CallRecord(call_id=channel.id, caller_number=channel.caller.number,
                      caller_name=channel.caller.name, started_at=channel.creationtime or now,
                      outcome=Outcome.CONNECTED, bridged_at=now)


async def _unfinished_playbacks(calllog: CallLog, call_id: str) -> list[str]:
    """Playbacks the timeline shows started and not ended (the newest last)."""
    try:
        events = await calllog.events(call_id)
    except Exception:  # the database is down: nothing to go on
        log.warning("cannot read the timeline to stop its prompts", call_id=call_id)
        return []
    ended = {e.detail.get("playback") for e in events if e.kind == "prompt_end"}
    return [str(e.detail["playback"]) for e in events
            if e.kind == "prompt" and e.detail.get("playback") not in ended]


async def _hangup(ari: AriClient, channel_id: str) -> None:
    with contextlib.suppress(ChannelGone, NotFound):
        await ari.hangup(channel_id)
