"""One citizen's call, top to bottom: answer, menu, ring the branch's desks,
talk, wrap up. Every path ends with a defined outcome in the call log."""

from __future__ import annotations

from calllog.model import Outcome
from ivr.ari.errors import AriError, ChannelGone
from ivr.context import CallContext
from ivr.desk import ring_branch, talk
from ivr.menu import choose_branch, play_and_collect
from ivr.prompts import Prompt
from ivr.session import CallerHungUp
from routing.config import Branch


async def handle_call(ctx: CallContext) -> None:
    record = ctx.record
    ctx.log.info("call started", caller=record.caller_number)
    await ctx.save()
    try:
        await answer(ctx)
        branch = await _choose(ctx)
        if branch is None:
            record.outcome = Outcome.NO_SELECTION
            await say_goodbye(ctx, Prompt.GOODBYE)
            return
        leg = await ring_branch(ctx, branch)
        if leg is None:
            record.outcome = Outcome.DESK_UNREACHABLE
            await say_goodbye(ctx, Prompt.DESK_UNREACHABLE)
            return
        record.outcome = Outcome.CONNECTED
        record.hangup_by = await talk(ctx, leg)
    except (CallerHungUp, ChannelGone) as exc:
        _caller_hung_up(ctx, exc)
    except Exception:
        ctx.log.exception("call failed; sending the caller to the fallback dialplan")
        record.outcome = Outcome.FAILED
        record.hangup_by = "system"
        await _to_fallback(ctx)
    finally:
        await ctx.note("ended", outcome=str(record.outcome), hangup_by=record.hangup_by,
                       cause=record.hangup_cause)
        record.ended_at = ctx.clock()
        await ctx.save()
        ctx.log.info("call ended", outcome=str(record.outcome), branch=record.branch_key,
                     desk=record.desk_answered, hangup_by=record.hangup_by)


async def answer(ctx: CallContext) -> None:
    await ctx.ari.answer(ctx.channel_id)
    ctx.record.answered_at = ctx.clock()
    await ctx.save()
    await ctx.note("answered")


async def _choose(ctx: CallContext) -> Branch | None:
    branch = await choose_branch(ctx)
    if branch is not None:
        ctx.record.branch_key = branch.key
        ctx.record.branch_name = branch.name
        ctx.record.agency = branch.agency
        await ctx.save()
        await ctx.note("branch", key=branch.key, agency=branch.agency)
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


async def _to_fallback(ctx: CallContext) -> None:
    try:
        await ctx.ari.continue_in_dialplan(ctx.channel_id, context=ctx.fallback_context,
                                           extension="s", priority=1)
    except AriError:
        ctx.log.warning("could not send the caller to the fallback dialplan")
