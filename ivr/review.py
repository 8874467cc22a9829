"""Recording for quality review (branches with `record_calls: true`): the caller is
told before the desk is rung, and the bridge (both sides, mixed) is recorded into
Asterisk's recording spool as `review-<call>.wav`, named in the call's timeline.
A recording Asterisk refuses never costs the conversation: it is noted and the call
goes on unrecorded."""

from __future__ import annotations

from ivr.ari.errors import AriError, ChannelGone
from ivr.context import CallContext
from ivr.menu import play_and_collect
from ivr.prompts import Prompt

REVIEW_PREFIX = "review-"


def review_recording_name(call_id: str) -> str:
    return REVIEW_PREFIX + call_id.replace(".", "-")


async def recording_notice(ctx: CallContext) -> None:
    """"This call may be recorded", played to its end before any desk rings."""
    await ctx.note("recording_notice")
    await play_and_collect(ctx, [Prompt.RECORDING_NOTICE], timeout=0.1)


async def record_bridge(ctx: CallContext, bridge_id: str) -> None:
    name = review_recording_name(ctx.record.call_id)
    try:
        await ctx.ari.record_bridge(bridge_id, name)
    except ChannelGone:
        raise
    except AriError as exc:
        ctx.log.warning("call not recorded for review", error=str(exc))
        await ctx.note("review_recording_failed", name=name, error=str(exc)[:200])
        return
    await ctx.note("review_recording", name=name)
