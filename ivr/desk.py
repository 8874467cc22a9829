"""Reach a desk: ring the branch's desks in turn while the caller hears ringback,
then bridge the caller with the desk that answers."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from ivr.ari.errors import AriHttpError, ChannelGone
from ivr.ari.models import ChannelDestroyed, ChannelHangupRequest, Dial, StasisEnd, StasisStart
from ivr.context import CallContext, new_id
from ivr.prompts import Prompt
from routing.config import Branch
from routing.menu import desks_to_ring

RINGBACK = "tone:ring"
# Dial states that end an attempt without an answer (Dial's DIALSTATUS values).
FAILED_DIALSTATUS = {"BUSY", "NOANSWER", "CHANUNAVAIL", "CONGESTION", "CANCEL", "DONTCALL"}


@dataclass(frozen=True)
class DeskLeg:
    extension: str
    channel_id: str


@dataclass(frozen=True)
class DeskAttempt:
    extension: str
    dialstatus: str
    cause: int | None = None


async def ring_branch(ctx: CallContext, branch: Branch) -> DeskLeg | None:
    """Ring the branch's desks one after another; the first to answer is returned."""
    ringback_id = new_id("ringback")
    await ctx.ari.play(
        ctx.channel_id, [ctx.prompts.media(Prompt.CONNECTING), RINGBACK], playback_id=ringback_id
    )
    try:
        for extension in desks_to_ring(branch):
            ctx.record.desk_dialled = extension
            await ctx.save()
            leg = await _ring_desk(ctx, extension, branch.ring_timeout_seconds)
            if leg is not None:
                return leg
        return None
    finally:
        await ctx.ari.stop_playback(ringback_id)


async def _ring_desk(ctx: CallContext, extension: str, ring_timeout: int) -> DeskLeg | None:
    channel_id = new_id("desk")
    ctx.session.own(channel_id)
    await ctx.note("desk_dial", desk=extension, channel=channel_id)
    try:
        await ctx.ari.create_channel(
            f"PJSIP/{extension}",
            app_args=f"desk,{ctx.channel_id}",
            channel_id=channel_id,
            originator=ctx.channel_id,
        )
        await ctx.ari.dial(channel_id, timeout=ring_timeout)
    except AriHttpError as exc:
        # Asterisk refuses to create a leg to an endpoint with no contact.
        await _attempt_failed(ctx, DeskAttempt(extension, "CHANUNAVAIL"), f"{exc.status}")
        return None
    # Our own guard in case Asterisk never reports the end of the dial.
    deadline = time.monotonic() + ring_timeout + 5
    dialstatus = ""
    while True:
        event = await ctx.session.events_until(deadline)
        if event is None:
            await _hangup_quietly(ctx, channel_id)
            await _attempt_failed(ctx, DeskAttempt(extension, "NOANSWER"), "guard timeout")
            return None
        if isinstance(event, Dial) and event.peer.id == channel_id and event.dialstatus:
            dialstatus = event.dialstatus
            if dialstatus == "ANSWER":
                await ctx.note("desk_result", desk=extension, dialstatus=dialstatus)
                return DeskLeg(extension, channel_id)
        elif isinstance(event, StasisStart) and event.channel.id == channel_id:
            return DeskLeg(extension, channel_id)
        elif isinstance(event, ChannelDestroyed) and event.channel.id == channel_id:
            status = dialstatus if dialstatus in FAILED_DIALSTATUS else "CHANUNAVAIL"
            await _attempt_failed(ctx, DeskAttempt(extension, status, event.cause), event.cause_txt)
            return None


async def _attempt_failed(ctx: CallContext, attempt: DeskAttempt, why: str) -> None:
    await ctx.note(
        "desk_result", desk=attempt.extension, dialstatus=attempt.dialstatus,
        cause=attempt.cause, detail=why,
    )
    ctx.log.info("desk did not answer", desk=attempt.extension, dialstatus=attempt.dialstatus)


async def talk(ctx: CallContext, leg: DeskLeg) -> str:
    """Bridge caller and desk until one hangs up; returns who hung up ("caller"/"desk")."""
    bridge_id = new_id("bridge")
    await ctx.ari.create_bridge(bridge_id, bridge_type="mixing", name=f"hotline-{ctx.channel_id}")
    try:
        await ctx.ari.add_channel(bridge_id, ctx.channel_id)
        await ctx.ari.add_channel(bridge_id, leg.channel_id)
        ctx.record.desk_answered = leg.extension
        ctx.record.bridged_at = ctx.clock()
        await ctx.save()
        await ctx.note("bridged", desk=leg.extension, bridge=bridge_id)
        while True:
            event = await ctx.session.next_event(None)
            if (
                isinstance(event, ChannelHangupRequest | StasisEnd | ChannelDestroyed)
                and event.channel.id == leg.channel_id
            ):
                cause = event.cause if isinstance(event, ChannelHangupRequest) else None
                if cause is not None:
                    ctx.record.hangup_cause = cause
                await _hangup_quietly(ctx, ctx.channel_id)
                return "desk"
    finally:
        await _hangup_quietly(ctx, leg.channel_id)
        await ctx.ari.destroy_bridge(bridge_id)


async def _hangup_quietly(ctx: CallContext, channel_id: str) -> None:
    with contextlib.suppress(ChannelGone):
        await ctx.ari.hangup(channel_id)
