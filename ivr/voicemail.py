"""Nobody can take the call: say so honestly and let the caller leave a message.

The message is recorded by Asterisk into its recording spool (`<name>.wav`,
bounded length, `#` or silence ends it) and linked to the call row; the call
goes on the call-back list either way when the caller's number is known
(`calllog.callers.callback_for`). When Asterisk cannot record (the request fails,
or the recording fails), the caller is told so and that the hotline will call
back; the row keeps its outcome, with the failure in its timeline.
"""

from __future__ import annotations

from calllog.callers import callback_for
from calllog.model import Callback
from ivr.ari.errors import AriError, ChannelGone
from ivr.ari.models import RecordingFailed, RecordingFinished
from ivr.context import CallContext
from ivr.menu import play_and_collect
from ivr.prompts import Prompt
from routing.trail import RECORDING_PREFIX

# Margin over the configured maximum before we stop waiting for Asterisk.
RECORDING_GUARD_SECONDS = 5.0


class RecordingNotTaken(Exception):
    """Asterisk did not record the message (why: the exception's message)."""


def recording_name(call_id: str) -> str:
    return RECORDING_PREFIX + call_id.replace(".", "-")


async def take_message(ctx: CallContext, reason: Prompt | None) -> None:
    """Explain why (`reason`; None: the caller was told already), record a message,
    thank the caller and hang up."""
    ctx.step("message")
    ctx.record.callback = callback_for(ctx.record.caller_number)
    await ctx.save()
    await play_and_collect(ctx, [*([reason] if reason else []), Prompt.LEAVE_MESSAGE],
                           timeout=0.1)
    name = recording_name(ctx.record.call_id)
    ctx.record.recording = name
    await ctx.save()
    await ctx.note("recording", name=name)
    try:
        seconds = await _record(ctx, name)
    except RecordingNotTaken as exc:
        ctx.log.warning("voice message not recorded", error=str(exc))
        ctx.record.recording = None
        await ctx.save()
        await ctx.note("recording_failed", name=name, error=str(exc)[:200])
        await say_and_hang_up(ctx, Prompt.MESSAGE_FAILED
                              if ctx.record.callback == Callback.PENDING
                              else Prompt.MESSAGE_FAILED_NO_NUMBER)
        return
    ctx.record.recording_seconds = seconds
    await ctx.save()
    await ctx.note("recorded", name=name, seconds=seconds)
    await say_and_hang_up(ctx, Prompt.MESSAGE_SAVED)


async def say_and_hang_up(ctx: CallContext, prompt: Prompt) -> None:
    await play_and_collect(ctx, [prompt], timeout=0.1)
    ctx.record.hangup_by = "system"
    await ctx.ari.hangup(ctx.channel_id)


async def _record(ctx: CallContext, name: str) -> int | None:
    """Record the caller's message; its length in s (None: not known)."""
    voicemail = ctx.config.voicemail
    try:
        await ctx.ari.record(
            ctx.channel_id, name, max_duration_seconds=voicemail.max_seconds,
            max_silence_seconds=voicemail.max_silence_seconds, beep=True, terminate_on="#",
        )
    except ChannelGone:
        raise
    except AriError as exc:  # e.g. 500: Asterisk cannot write its recording spool
        raise RecordingNotTaken(str(exc)) from exc
    return await _wait_recording(ctx, name, voicemail.max_seconds + RECORDING_GUARD_SECONDS)


async def _wait_recording(ctx: CallContext, name: str, limit: float) -> int | None:
    deadline = ctx.clock.monotonic() + limit
    while True:
        event = await ctx.session.events_until(deadline)
        if event is None:
            await ctx.ari.stop_recording(name)
            return None
        if isinstance(event, RecordingFinished) and event.recording.name == name:
            return event.recording.duration
        if isinstance(event, RecordingFailed) and event.recording.name == name:
            raise RecordingNotTaken(event.recording.cause or "recording failed")
