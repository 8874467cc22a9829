"""Reach a desk: ring the branch's desks (in order, or all at once) while the
caller hears ringback, fail over at once on busy/unreachable, after the ring
timeout on no answer, within the branch's overall limit; then bridge."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from calllog.callers import CALLER_NUMBER
from calllog.model import Case, CaseChange, CaseStatus, Outcome
from ivr.ari.errors import AriError, AriHttpError, ChannelGone, NotFound
from ivr.ari.models import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    StasisEnd,
    StasisStart,
)
from ivr.context import CallContext, new_id
from ivr.prompts import Prompt
from ivr.review import record_bridge
from ivr.session import ChannelVanished
from routing.clock import Clock
from routing.config import Branch
from routing.desks import DeskPlan, plan_desks, repeat_label
from routing.queue import AWAY_STATUS
from routing.trail import BRIDGE_ID, BRIDGE_NAME_PREFIX, DESK_LEG_ID

RINGBACK = "tone:ring"
DESK_BEEP = "sound:beep"
# Our own guard beyond Asterisk's dial timeout, in case its end is never reported.
GUARD_SECONDS = 3.0
# The repeat-caller count is skipped when the database is slower than this.
REPEAT_LOOKUP_S = 1.0
# Removed from what goes into a `"name" <number>` caller id string.
CALLERID_DELIMITERS = str.maketrans("", "", '"<>\\')
# Q.850 cause of a failed desk leg -> the dial status a telephony engineer expects.
CAUSE_DIALSTATUS = {16: "NOANSWER", 17: "BUSY", 18: "NOANSWER", 19: "NOANSWER", 21: "BUSY",
                    34: "CONGESTION", 38: "CONGESTION", 42: "CONGESTION"}


@dataclass(frozen=True)
class DeskLeg:
    extension: str
    channel_id: str


@dataclass
class _Ringback:
    """The caller's ringback playback, swapped once for the "still trying" message."""

    playback_id: str
    still_trying_at: float
    announced: bool = False
    quiet: bool = False
    """Play nothing: the caller keeps hearing what plays already (a queue's music)."""


async def ring_branch(
    ctx: CallContext, branch: Branch, skip: Collection[str] = (), *, ringback: bool = True,
) -> DeskLeg | None:
    """Ring the branch's desks per its strategy; the first to answer is returned.
    `skip`: desks talking in our other calls (not rung, not noted). Without `ringback`
    the caller hears no "connecting" and no ring tone (a queued caller keeps the music)."""
    if skip:
        branch = branch.model_copy(update={"desks": [d for d in branch.desks if d not in skip]})
        if not branch.desks:
            return None
    times = asyncio.create_task(_times_called(ctx))  # beside the registration checks
    try:
        plan = await _plan(ctx, branch)
        if not plan.waves:
            return None
        shown = _shown_to_desk(ctx.record.caller_number, branch, await times)
    finally:
        times.cancel()  # done by now, unless the call ended or nothing is rung
    # Started once the first desk is dialled: the desk's INVITE is not held up by it.
    tone = _Ringback("", ctx.clock.monotonic() + ctx.config.menu.still_trying_after_seconds,
                     announced=not ringback, quiet=not ringback)
    overall = ctx.clock.monotonic() + branch.max_wait_seconds
    try:
        for wave in plan.waves:
            remaining = overall - ctx.clock.monotonic()
            if remaining < 1:
                await ctx.note("desk_wait_limit", seconds=branch.max_wait_seconds)
                break
            leg = await _ring_wave(ctx, shown, wave, min(branch.ring_timeout_seconds, remaining),
                                   tone)
            if leg is not None:
                return leg
        return None
    finally:
        if tone.playback_id:
            await ctx.ari.stop_playback(tone.playback_id)


async def _plan(ctx: CallContext, branch: Branch) -> DeskPlan:
    """The desks to ring: registered, available (presence); the rest noted with why."""
    states = await asyncio.gather(*(_is_registered(ctx, ext) for ext in branch.desks))
    presence = ctx.desks.snapshot() if ctx.desks is not None else {}
    plan = plan_desks(branch, dict(zip(branch.desks, states, strict=True)), presence,
                      ctx.clock.now())
    for extension, why in plan.away.items():
        ctx.desk_results[extension] = AWAY_STATUS[why]  # whether to queue depends on why
        await ctx.note("desk_away", desk=extension, reason=why)
    for extension in plan.skipped:
        await _attempt_ended(ctx, extension, "CHANUNAVAIL", None, "not registered")
    return plan


async def any_registered(ctx: CallContext, desks: Collection[str]) -> bool:
    """Whether one of `desks` has a registered phone (Asterisk asked, or recently seen)."""
    return any(await asyncio.gather(*(_is_registered(ctx, ext) for ext in desks)))


async def _is_registered(ctx: CallContext, extension: str) -> bool:
    states = ctx.desk_states
    known = states.get(extension) if states is not None else None
    if known is not None:
        return known
    try:
        endpoint = await ctx.ari.get_endpoint("PJSIP", extension)
    except NotFound:
        registered = False
    except AriError:
        return True  # cannot tell (ARI slow or busy): try the desk rather than skip it
    else:
        registered = endpoint.state != "offline"
    if states is not None:
        states.put(extension, registered)
    return registered


async def _ring_wave(
    ctx: CallContext, shown: str, extensions: list[str], ring_timeout: float,
    ringback: _Ringback,
) -> DeskLeg | None:
    """Ring `extensions` together; return the one that answers, hang up the rest."""
    pending: dict[str, str] = {}  # channel id -> extension
    winner: DeskLeg | None = None
    try:
        for extension in extensions:
            channel_id = new_id(DESK_LEG_ID)
            pending[channel_id] = extension  # owned before it exists: never leaked
            if not await _dial_desk(ctx, shown, extension, channel_id, int(ring_timeout)):
                pending.pop(channel_id)
        if pending and not ringback.playback_id and not ringback.quiet:
            ringback.playback_id = await ctx.play("ringback", [Prompt.CONNECTING], RINGBACK)
        deadline = ctx.clock.monotonic() + ring_timeout + GUARD_SECONDS
        while pending:
            ctx.step("ringing", *pending.values())
            wake = min(deadline, ringback.still_trying_at) if not ringback.announced else deadline
            event = await ctx.session.events_until(wake)
            if (
                event is None
                and not ringback.announced
                and ctx.clock.monotonic() >= ringback.still_trying_at
            ):
                await _still_trying(ctx, ringback)
                continue
            if event is None:
                for channel_id, extension in list(pending.items()):
                    await _hangup_quietly(ctx, channel_id, "no_answer")
                    await _attempt_ended(ctx, extension, "NOANSWER", 19, "ring timeout")
                pending.clear()
                return None
            if isinstance(event, StasisStart) and event.channel.id in pending:
                # An originated leg enters Stasis only once it has answered.
                winner = DeskLeg(pending.pop(event.channel.id), event.channel.id)
                await _attempt_ended(ctx, winner.extension, "ANSWER", None, "answered")
                return winner
            elif isinstance(event, ChannelDestroyed) and event.channel.id in pending:
                # Its hangup cause says why (Asterisk's Dial events say no more).
                extension = pending.pop(event.channel.id)
                status = CAUSE_DIALSTATUS.get(event.cause, "CHANUNAVAIL")
                await _attempt_ended(ctx, extension, status, event.cause, event.cause_txt)
            elif isinstance(event, ChannelVanished) and event.channel_id in pending:
                extension = pending.pop(event.channel_id)
                await _attempt_ended(ctx, extension, "CHANUNAVAIL", None, "vanished")
        return None
    finally:
        for channel_id in pending:
            reason = "answered_elsewhere" if winner is not None else "normal"
            await _hangup_quietly(ctx, channel_id, reason)


async def _dial_desk(
    ctx: CallContext, shown: str, extension: str, channel_id: str, ring_timeout: int
) -> bool:
    """Dial the desk (one originate); False when Asterisk refused it (already recorded)."""
    ctx.session.own(channel_id)
    ctx.record.desk_dialled = extension
    await ctx.save()
    await ctx.note("desk_dial", desk=extension, channel=channel_id, timeout=ring_timeout)
    try:
        await ctx.ari.originate(
            f"PJSIP/{extension}",
            app_args=f"desk,{ctx.channel_id}",
            channel_id=channel_id,
            originator=ctx.channel_id,
            caller_id=shown,
            timeout=max(1, ring_timeout),
        )
    except AriHttpError as exc:
        # Asterisk refuses to dial an endpoint it cannot reach.
        await _attempt_ended(ctx, extension, "CHANUNAVAIL", None, f"HTTP {exc.status}")
        await _hangup_quietly(ctx, channel_id, "normal")
        return False
    return True


async def _still_trying(ctx: CallContext, ringback: _Ringback) -> None:
    ringback.announced = True
    await ctx.ari.stop_playback(ringback.playback_id)
    await ctx.note("still_trying")
    ringback.playback_id = await ctx.play("ringback", [Prompt.STILL_TRYING], RINGBACK)


async def _attempt_ended(
    ctx: CallContext, extension: str, dialstatus: str, cause: int | None, why: str
) -> None:
    ctx.desk_results[extension] = dialstatus
    await ctx.note("desk_result", desk=extension, dialstatus=dialstatus, cause=cause, detail=why)
    if dialstatus != "ANSWER":
        ctx.log.info("desk did not answer", desk=extension, dialstatus=dialstatus, cause=cause)


async def _times_called(ctx: CallContext) -> int:
    """This call's rank among the number's calls in the repeat window (1: the first)."""
    number = ctx.record.caller_number
    if not CALLER_NUMBER.fullmatch(number):
        return 1
    since = ctx.clock.now() - timedelta(days=ctx.config.presence.repeat_caller_days)
    try:
        async with asyncio.timeout(REPEAT_LOOKUP_S):
            earlier = await ctx.calllog.count_calls_from(number, since=since,
                                                         excluding=ctx.record.call_id)
    except Exception:
        # The display is a courtesy: the desk rings without it.
        ctx.log.warning("could not count the caller's earlier calls")
        return 1
    return earlier + 1


def _shown_to_desk(caller_number: str, branch: Branch, times: int = 1) -> str:
    """What the desk phone shows (the caller id and connected line of its leg, which
    make the INVITE's From): the citizen's number and the branch, and how many times
    the number called lately when it called before."""
    name = f"{branch.key}. {branch.name}{repeat_label(times)}".translate(CALLERID_DELIMITERS)
    number = caller_number.translate(CALLERID_DELIMITERS) or "anonymous"
    return f'"{name}" <{number}>'


class DeskLost(Exception):
    """The desk that answered was gone before the caller could be bridged to it."""


async def talk(ctx: CallContext, leg: DeskLeg, bridge_id: str | None = None) -> str:
    """Bridge caller and desk until one hangs up; returns who hung up ("caller"/"desk").

    The call counts as connected from the moment both are in the bridge. With
    `bridge_id`, they already are (a call adopted after our process restarted).
    When the desk hangs up, the caller stays (out of the bridge) for the survey.
    The desk may flag the call as a complaint with its code (`complaints.desk_code`)."""
    leave_talking = False
    try:
        if bridge_id is None:
            bridge_id = new_id(BRIDGE_ID)
            await _bridge(ctx, leg, bridge_id)
        keys = _DeskKeys(ctx.config.complaints.desk_code, ctx.clock)
        while True:
            event = await ctx.session.next_event(None)
            if isinstance(event, ChannelVanished) and event.channel_id == leg.channel_id:
                return "desk"
            if isinstance(event, ChannelDtmfReceived) and event.channel.id == leg.channel_id:
                if keys.pressed(event.digit):
                    await flag_complaint(ctx, leg)
                continue
            if (
                isinstance(event, ChannelHangupRequest | StasisEnd | ChannelDestroyed)
                and event.channel.id == leg.channel_id
            ):
                if isinstance(event, ChannelDestroyed):
                    ctx.record.hangup_cause = event.cause
                    ctx.record.hangup_cause_txt = event.cause_txt
                elif isinstance(event, ChannelHangupRequest) and not event.soft:
                    # With soft=true, `cause` is Asterisk's soft-hangup flag, not Q.850.
                    ctx.record.hangup_cause = event.cause
                return "desk"
    except asyncio.CancelledError:
        # Our service stops: a bridged call talks on in Asterisk, untouched.
        leave_talking = ctx.record.bridged_at is not None
        raise
    finally:
        if not leave_talking:
            if ctx.record.bridged_at is not None:
                ctx.record.talk_ended_at = ctx.clock.now()
                await _desk_freed(ctx, leg.extension)
            hangup = _hangup_quietly(ctx, leg.channel_id, "normal")
            if bridge_id is None:
                await hangup
            else:  # independent: one write, one wait
                await asyncio.gather(hangup, ctx.ari.destroy_bridge(bridge_id))


async def _desk_freed(ctx: CallContext, extension: str) -> None:
    """The desk's call is over: its wrap-up starts, its calls today and idle time move."""
    if ctx.desks is None:
        return
    key = ctx.record.branch_key
    branch = ctx.config.branch(key) if key is not None else None
    await ctx.desks.call_ended(extension, branch.wrap_up_seconds if branch else 0)


async def _bridge(ctx: CallContext, leg: DeskLeg, bridge_id: str) -> None:
    # dtmf_events: Asterisk decodes the media, so the desk's keys reach us.
    await ctx.ari.create_bridge(bridge_id, bridge_type="mixing,dtmf_events",
                                name=f"{BRIDGE_NAME_PREFIX}{ctx.channel_id}")
    try:
        await ctx.ari.add_channel(bridge_id, ctx.channel_id, leg.channel_id)
    except AriHttpError as exc:
        # One of the two is gone (or, 422, left Stasis). Adding the caller alone says
        # which: it raises if the caller is the one gone.
        if not (isinstance(exc, ChannelGone) or exc.status == 422):
            raise
        await ctx.ari.add_channel(bridge_id, ctx.channel_id)
        raise DeskLost(leg.extension) from exc
    ctx.record.desk_answered = leg.extension
    ctx.record.bridged_at = ctx.clock.now()
    ctx.record.outcome = Outcome.CONNECTED
    ctx.step("talking", leg.extension)
    await ctx.save()
    await ctx.note("bridged", desk=leg.extension, bridge=bridge_id)
    branch = ctx.config.branch(ctx.record.branch_key) if ctx.record.branch_key else None
    if branch is not None and branch.record_calls:
        await record_bridge(ctx, bridge_id)


class _DeskKeys:
    """The desk's last keys, to spot its complaint code (e.g. "*9") in them."""

    WINDOW_SECONDS = 3.0

    def __init__(self, code: str, clock: Clock) -> None:
        self.code = code
        self.clock = clock
        self.keys = ""
        self.last = 0.0

    def pressed(self, digit: str) -> bool:
        now = self.clock.monotonic()
        if now - self.last > self.WINDOW_SECONDS:
            self.keys = ""
        self.keys, self.last = (self.keys + digit)[-len(self.code):], now
        if self.keys == self.code:
            self.keys = ""
            return True
        return False


async def flag_complaint(ctx: CallContext, leg: DeskLeg) -> None:
    """The desk marked this call as a complaint: open a case (once per call) and
    confirm with a beep the desk alone hears."""
    now = ctx.clock.now()
    by = f"desk {leg.extension}"
    try:
        await _open_case(ctx, now, by)
    except Exception:
        # The conversation matters more than the flag: say so in the log, carry on.
        ctx.log.exception("could not open the complaint case", desk=leg.extension)
        await ctx.note("complaint_flag_failed", desk=leg.extension)
        return
    await ctx.note("complaint_flagged", desk=leg.extension)
    ctx.log.info("call flagged as a complaint", desk=leg.extension)
    with contextlib.suppress(AriError):
        await ctx.ari.play(leg.channel_id, [DESK_BEEP], playback_id=new_id("beep"))


async def _open_case(ctx: CallContext, now: datetime, by: str) -> None:
    await ctx.calllog.open_case(Case(
        id=None, call_id=ctx.record.call_id,
        category=ctx.record.branch_name or "Chung", opened_at=now, opened_by=by,
        agency=None, key=f"desk-flag:{ctx.record.call_id}",
        history=(CaseChange(at=now, by=by, status=CaseStatus.RECEIVED,
                            note="flagged by the desk during the call"),),
    ))


async def _hangup_quietly(ctx: CallContext, channel_id: str, reason: str) -> None:
    with contextlib.suppress(ChannelGone):
        await ctx.ari.hangup(channel_id, reason=reason)
