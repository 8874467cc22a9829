"""One citizen's call, top to bottom: answer, check the hours, menu, ring the
branch's desks, talk, wrap up. Every path ends with a defined outcome in the
call log, and no path leaves the caller in silence or hangs up without a word."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from calllog.announcements import OverrideMode
from calllog.model import Outcome
from ivr.ari.errors import AriError, ChannelGone
from ivr.callback import keep_place
from ivr.callback_offer import CallbackChosen
from ivr.context import CallContext
from ivr.desk import DeskLeg, DeskLost, talk
from ivr.menu import choose_branch, play_and_collect
from ivr.override import play_announcement
from ivr.prompts import Prompt
from ivr.queue import reach_desk, wait_in_queue
from ivr.review import recording_notice
from ivr.session import CallerHungUp
from ivr.survey import ask_rating
from ivr.voicemail import take_message
from routing.config import Branch
from routing.hours import OpenState, open_state


async def handle_call(ctx: CallContext) -> None:
    record = ctx.record
    station = ctx.config.station(record.caller_number)
    record.caller_agency = station.agency if station else None
    ctx.log.info("call started", caller=record.caller_number, agency=record.caller_agency)
    async with _to_its_end(ctx):
        ctx.step("answering")
        await ctx.save()
        if ctx.caller_as_given is not None:
            await ctx.note("caller_number", given=ctx.caller_as_given)
        await answer(ctx)
        closed = _hotline_closed(ctx)
        if closed is not None:
            await _closed(ctx, closed)
            return
        announcement = await play_announcement(ctx)
        if announcement is not None and announcement.mode == OverrideMode.REPLACE_MENU:
            record.outcome = Outcome.CLOSED  # suspended: counted with closed hours
            await take_message(ctx, None)
            return
        branch = await _choose(ctx, greeted=announcement is not None)
        if branch is None:
            record.outcome = Outcome.NO_SELECTION
            await say_goodbye(ctx, Prompt.GOODBYE)
            return
        state = open_state(ctx.config.calendar(branch), ctx.clock.now())
        if not state.open:
            await _closed(ctx, state)
            return
        if branch.record_calls:
            await recording_notice(ctx)
        try:
            leg = await reach_desk(ctx, branch)
        except CallbackChosen as chosen:
            await keep_place(ctx, branch, chosen)
            return
        await _connect(ctx, branch, leg)


@contextlib.asynccontextmanager
async def _to_its_end(ctx: CallContext) -> AsyncIterator[None]:
    """However the call's steps end (the caller gone, a fault, our stop), it gets an
    outcome and its row is closed."""
    try:
        yield
    except CallerHungUp as exc:
        _caller_hung_up(ctx, exc)
    except ChannelGone as exc:
        if exc.channel_id not in (None, ctx.channel_id):
            await _safety_net(ctx)
        else:
            _caller_hung_up(ctx, exc)
    except Exception:
        await _safety_net(ctx)
    except asyncio.CancelledError:
        await _service_stopping(ctx)
        raise
    finally:
        await _wrap_up(ctx)


async def _connect(ctx: CallContext, branch: Branch, leg: DeskLeg | None) -> None:
    """Talk to the desk that answered, then the survey; the message path without one."""
    record = ctx.record
    if leg is not None:
        try:
            with _desk_in_use(ctx, leg):
                record.hangup_by = await talk(ctx, leg)
        except DeskLost:
            ctx.log.info("desk gone before the bridge", desk=leg.extension)
        else:
            if record.hangup_by == "desk":
                if branch.survey:
                    await ask_rating(ctx)
                await ctx.ari.hangup(ctx.channel_id)
            return
    record.outcome = Outcome.DESK_UNREACHABLE
    await take_message(ctx, Prompt.DESK_UNREACHABLE)


def _desk_in_use(ctx: CallContext, leg: DeskLeg) -> contextlib.AbstractContextManager[None]:
    if ctx.queue is None:
        return contextlib.nullcontext()
    return ctx.queue.desk_in_use(ctx.record.call_id, leg.extension)


async def resume_queued(ctx: CallContext, branch: Branch, joined_at: datetime) -> None:
    """A caller waiting in a queue before our process restarted: back in their place."""
    async with _to_its_end(ctx):
        await ctx.save()
        ctx.log.info("queued caller adopted after a restart", branch=branch.key)
        await ctx.note("adopted", queued=branch.key)
        try:
            leg = await wait_in_queue(ctx, branch, joined_at)
        except CallbackChosen as chosen:
            await keep_place(ctx, branch, chosen)
            return
        await _connect(ctx, branch, leg)


async def resume_call(ctx: CallContext, leg: DeskLeg, bridge_id: str) -> None:
    """A call bridged before our process restarted: see it to its end and close its row."""
    try:
        await ctx.save()  # the row may be new: its writes were lost with the old process
        await ctx.note("adopted", desk=leg.extension, bridge=bridge_id)
        ctx.log.info("bridged call adopted after a restart", desk=leg.extension)
        ctx.step("talking", leg.extension)
        with _desk_in_use(ctx, leg):
            ctx.record.hangup_by = await talk(ctx, leg, bridge_id)
        if ctx.record.hangup_by == "desk":
            await ctx.ari.hangup(ctx.channel_id)
    except CallerHungUp as exc:
        _caller_hung_up(ctx, exc)
    except ChannelGone as exc:
        _caller_hung_up(ctx, exc)
    except Exception:
        ctx.log.exception("adopted call failed; hanging the caller up")
        ctx.record.hangup_by = ctx.record.hangup_by or "system"
        with contextlib.suppress(AriError):
            await ctx.ari.hangup(ctx.channel_id)
    finally:
        await _wrap_up(ctx)


async def _wrap_up(ctx: CallContext) -> None:
    record = ctx.record
    if _left_waiting(ctx):
        await ctx.note("service_stopped")
        await ctx.save()
        ctx.log.info("caller left waiting in the queue in Asterisk")
        return
    if record.bridged_at is not None and record.hangup_by is None:
        # Our service stopped while the call talks on in Asterisk: the row stays open
        # until the next start adopts the call or reads its end from Asterisk's CEL.
        await ctx.note("service_stopped")
        await ctx.save()
        ctx.log.info("call left talking in Asterisk", desk=record.desk_answered)
        return
    if ctx.handed_over:
        # The fallback dialplan has the caller now; its CEL trail closes the row.
        await ctx.note("to_fallback", outcome=str(record.outcome))
        await ctx.save()
        ctx.log.info("call handed to the fallback dialplan")
        return
    await ctx.note("ended", outcome=str(record.outcome), hangup_by=record.hangup_by,
                   cause=record.hangup_cause)
    record.ended_at = ctx.clock.now()
    await ctx.save()
    ctx.log.info("call ended", outcome=str(record.outcome), branch=record.branch_key,
                 desk=record.desk_answered, hangup_by=record.hangup_by)


async def _service_stopping(ctx: CallContext) -> None:
    """Our service stops: a caller not yet bridged goes to the fallback dialplan, one
    waiting in a queue stays (with its music) for the next start to take back."""
    if ctx.record.bridged_at is None and not _left_waiting(ctx):
        ctx.record.outcome = ctx.record.outcome or Outcome.FAILED
        ctx.record.hangup_by = "system"
        await _to_fallback(ctx)


def _left_waiting(ctx: CallContext) -> bool:
    return ctx.queue is not None and ctx.record.call_id in ctx.queue.left_waiting


async def answer(ctx: CallContext) -> None:
    await ctx.ari.answer(ctx.channel_id)
    ctx.record.answered_at = ctx.clock.now()
    await ctx.save()
    await ctx.note("answered")


def _hotline_closed(ctx: CallContext) -> OpenState | None:
    """The hotline's own closed state when no branch at all takes calls now."""
    now = ctx.clock.now()
    if any(open_state(ctx.config.calendar(b), now).open for b in ctx.config.branches):
        return None
    return open_state(ctx.config.calendar(), now)


async def _closed(ctx: CallContext, state: OpenState) -> None:
    ctx.record.outcome = Outcome.CLOSED
    await ctx.note("closed", reason=state.reason, holiday=state.holiday)
    await take_message(ctx, Prompt.HOLIDAY if state.reason == "holiday" else Prompt.CLOSED)


async def _choose(ctx: CallContext, greeted: bool) -> Branch | None:
    selection = await choose_branch(ctx, greeted)
    if selection is None:
        return None
    branch, by_default = selection
    ctx.record.branch_key = branch.key
    ctx.record.branch_name = branch.name
    ctx.record.agency = branch.agency
    await ctx.save()
    await ctx.note("branch", key=branch.key, agency=branch.agency,
                   chosen="default" if by_default else "caller")
    return branch


async def say_goodbye(ctx: CallContext, prompt: Prompt) -> None:
    """Play a last message to the end, then hang up."""
    await play_and_collect(ctx, [prompt], timeout=0.5)
    ctx.record.hangup_by = "system"
    await ctx.ari.hangup(ctx.channel_id)


def _caller_hung_up(ctx: CallContext, exc: Exception) -> None:
    record = ctx.record
    if isinstance(exc, CallerHungUp) and exc.cause is not None and record.hangup_cause is None:
        record.hangup_cause = exc.cause
    if record.hangup_by is None:
        record.hangup_by = "caller"
    if record.outcome is not None:
        return
    if record.bridged_at is not None:
        record.outcome = Outcome.CONNECTED
    elif record.desk_dialled is not None:
        record.outcome = Outcome.ABANDONED_WHILE_RINGING
    else:
        record.outcome = Outcome.ABANDONED_IN_MENU


async def _safety_net(ctx: CallContext) -> None:
    ctx.log.exception("call failed; sending the caller to the fallback dialplan")
    ctx.record.outcome = Outcome.FAILED
    ctx.record.hangup_by = "system"
    await _to_fallback(ctx)


async def _to_fallback(ctx: CallContext) -> None:
    try:
        await ctx.ari.continue_in_dialplan(ctx.channel_id, context=ctx.fallback_context,
                                           extension="s", priority=1)
        ctx.handed_over = True
    except AriError:
        ctx.log.warning("could not send the caller to the fallback dialplan")
