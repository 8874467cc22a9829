"""Nobody can take the call: say so honestly and let the caller leave a message.

The message is recorded by Asterisk into its recording spool (`<name>.wav`,
bounded length, `#` or silence ends it) and linked to the call row; the call
goes on the call-back list either way, since the caller's number is known.
"""

from __future__ import annotations

from ivr.ari.models import RecordingFailed, RecordingFinished
from ivr.context import CallContext
from ivr.menu import play_and_collect
from ivr.prompts import Prompt

# Margin over the configured maximum before we stop waiting for Asterisk.
RECORDING_GUARD_SECONDS = 5.0


def recording_name(call_id: str) -> str:
    return "vm-" + call_id.replace(".", "-")


async def take_message(ctx: CallContext, reason: Prompt) -> None:
    """Explain why (`reason`), record a message, thank the caller and hang up."""
    ctx.record.callback = "pending"
    await ctx.save()
    await play_and_collect(ctx, [reason, Prompt.LEAVE_MESSAGE], timeout=0.1)
    name = recording_name(ctx.record.call_id)
    voicemail = ctx.config.voicemail
    ctx.record.recording = name
    await ctx.save()
    await ctx.note("recording", name=name)
    await ctx.ari.record(
        ctx.channel_id, name, max_duration_seconds=voicemail.max_seconds,
        max_silence_seconds=voicemail.max_silence_seconds, beep=True, terminate_on="#",
    )
    seconds = await _wait_recording(ctx, name, voicemail.max_seconds + RECORDING_GUARD_SECONDS)
    ctx.record.recording_seconds = seconds
    await ctx.save()
    await ctx.note("recorded", name=name, seconds=seconds)
    await play_and_collect(ctx, [Prompt.MESSAGE_SAVED], timeout=0.1)
    ctx.record.hangup_by = "system"
    await ctx.ari.hangup(ctx.channel_id)


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
            ctx.log.warning("voice message not recorded", cause=event.recording.cause)
            ctx.record.recording = None
            return None
