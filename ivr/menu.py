"""The voice menu: play with barge-in, collect one key, re-prompt a bounded number of times."""

from __future__ import annotations

from ivr.ari.models import ChannelDtmfReceived, PlaybackFinished
from ivr.context import CallContext
from ivr.prompts import Prompt
from routing.config import Branch
from routing.menu import GiveUp, Reprompt, SelectBranch, decide_menu

MAX_REPEATS = 5
REPROMPT_PREFIX = {"invalid": Prompt.INVALID, "no_input": Prompt.NO_INPUT}


async def choose_branch(ctx: CallContext, greeted: bool = False) -> tuple[Branch, bool] | None:
    """Run the menu until a branch is chosen: (branch, by_default), or None when
    every attempt is used up and no default branch is configured. `greeted`: the
    caller heard the greeting already (before an announcement)."""
    ctx.step("menu")
    prompts = [Prompt.MENU] if greeted else [Prompt.GREETING, Prompt.MENU]
    attempt = repeats = 0
    while True:
        attempt += 1
        digit = await play_and_collect(ctx, prompts, ctx.config.menu.digit_timeout_seconds)
        await ctx.note("digit", digit=digit, attempt=attempt)
        decision = decide_menu(ctx.config, digit, attempt, can_repeat=repeats < MAX_REPEATS)
        match decision:
            case SelectBranch(branch, by_default):
                return branch, by_default
            case Reprompt("repeat"):
                # "*" replays the menu without using up an attempt (bounded).
                attempt -= 1
                repeats += 1
                prompts = [Prompt.MENU]
            case Reprompt(reason):
                prompts = [REPROMPT_PREFIX[reason], Prompt.MENU]
            case GiveUp():
                return None


async def play_and_collect(ctx: CallContext, prompts: list[Prompt], timeout: float) -> str | None:
    """Play `prompts`; the first key stops them. Wait `timeout` s after they end for a key."""
    playback_id = await ctx.play("menu", prompts)
    deadline: float | None = None
    while True:
        event = await ctx.session.events_until(deadline)
        if event is None:
            return None
        if isinstance(event, ChannelDtmfReceived) and event.channel.id == ctx.channel_id:
            if deadline is None:
                await ctx.ari.stop_playback(playback_id)
                await ctx.note("prompt_end", playback=playback_id, reason="digit")
            return event.digit
        if isinstance(event, PlaybackFinished) and event.playback.id == playback_id:
            await ctx.note("prompt_end", playback=playback_id, reason="finished")
            deadline = ctx.clock.monotonic() + timeout
